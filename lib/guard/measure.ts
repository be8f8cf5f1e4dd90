/**
 * Answers the risk questions of lib/guard/risks.ts with read-only queries on the live database.
 * PostgreSQL: everything runs in one REPEATABLE READ READ ONLY transaction that is rolled back, so
 * even an expression taken from a migration file (USING, CHECK) cannot change anything; a query
 * that fails only rolls back to its savepoint. SQLite: plain SELECTs.
 */
import type { DbSchema } from '../core/types.ts';
import { messageOf } from '../core/errors.ts';
import type { Connection } from '../dialects/dialect.ts';
import { dq, type Measure, type Measured, type RiskQuestion } from './risks.ts';

/** At most this many queries to count rows whose cast fails (bisection); beyond it the count is a lower bound. */
const CAST_QUERY_BUDGET = 1000;

const lit = (v: string) => `'${v.replaceAll("'", "''")}'`;

/** Measures each question; answers come back in the same order. Never writes. */
export async function measureQuestions(conn: Connection, schema: DbSchema, questions: RiskQuestion[]): Promise<Measured[]> {
  const pg = conn.dialect.name === 'postgres';
  const table = (name: string) => (schema.namespace ? `${dq(schema.namespace)}.${dq(name)}` : dq(name));
  const cache = new Map<string, Measured>();
  const out: Measured[] = [];
  if (pg) await conn.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let sp = 0;
  // Runs one query; on PostgreSQL inside a savepoint so a failure does not end the transaction.
  const run = async <T>(sql: string): Promise<T[]> => {
    if (!pg) return conn.query<T>(sql);
    const name = `guard_${++sp}`;
    await conn.query(`SAVEPOINT ${name}`);
    try {
      const rows = await conn.query<T>(sql);
      await conn.query(`RELEASE SAVEPOINT ${name}`);
      return rows;
    } catch (e) {
      await conn.query(`ROLLBACK TO SAVEPOINT ${name}`);
      throw e;
    }
  };
  const count = async (sql: string) => Number((await run<{ n: unknown }>(sql))[0]?.n ?? 0);
  try {
    for (const q of questions) {
      const key = JSON.stringify(q.measure);
      let answer = cache.get(key);
      if (!answer) {
        try {
          answer = await measureOne(q.measure, { pg, table, count, run });
        } catch (e) {
          answer = { value: null, error: messageOf(e).split('\n')[0] };
        }
        cache.set(key, answer);
      }
      out.push(answer);
    }
  } finally {
    if (pg) await conn.query('ROLLBACK').catch(() => {});
  }
  return out;
}

interface Tools {
  pg: boolean;
  table: (name: string) => string;
  count: (sql: string) => Promise<number>;
  run: <T>(sql: string) => Promise<T[]>;
}

async function measureOne(m: Measure, t: Tools): Promise<Measured> {
  const text = (c: string) => `CAST(${c} AS TEXT)`;
  switch (m.kind) {
    case 'none':
      return { value: null };
    case 'rows':
      return { value: await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)}`) };
    case 'non-null':
      return { value: await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)} WHERE ${dq(m.column)} IS NOT NULL`) };
    case 'nulls':
      return { value: await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)} WHERE ${m.columns.map((c) => `${dq(c)} IS NULL`).join(' OR ')}`) };
    case 'duplicate-groups': {
      const cols = m.columns.join(', ');
      const conditions = [...(m.nullsDistinct ? m.columns.map((c) => `(${c}) IS NOT NULL`) : []), ...(m.where ? [`(${m.where})`] : [])];
      const rows = await t.run<{ n: unknown; r: unknown }>(
        `SELECT count(*) AS n, coalesce(sum(k), 0) AS r FROM (SELECT count(*) AS k FROM ${t.table(m.table)}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} GROUP BY ${cols} HAVING count(*) > 1) d`,
      );
      const groups = Number(rows[0]?.n ?? 0);
      return { value: groups, detail: groups ? `${Number(rows[0]?.r ?? 0)} rows in them` : undefined };
    }
    case 'values-in':
    case 'values-not-in': {
      const list = m.values.map(lit).join(', ') || 'NULL';
      const op = m.kind === 'values-in' ? 'IN' : 'NOT IN';
      const rows = await t.run<{ v: unknown; n: unknown }>(
        `SELECT ${text(dq(m.column))} AS v, count(*) AS n FROM ${t.table(m.table)} WHERE ${dq(m.column)} IS NOT NULL AND ${text(dq(m.column))} ${op} (${list}) GROUP BY ${text(dq(m.column))} ORDER BY 1`,
      );
      const total = rows.reduce((s, r) => s + Number(r.n), 0);
      return { value: total, detail: rows.length ? rows.map((r) => `${String(r.v)}: ${Number(r.n)}`).join(', ') : undefined };
    }
    case 'check-violations':
      return { value: await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)} WHERE NOT (${m.expression})`) };
    case 'cast':
      return t.pg ? castPostgres(m, t) : castSqlite(m, t);
  }
}

/**
 * SQLite never fails a conversion: a value that does not fit the new column's type is kept as it
 * is (or silently truncated by CAST). Count the values whose text changes through the new type.
 */
async function castSqlite(m: Extract<Measure, { kind: 'cast' }>, t: Tools): Promise<Measured> {
  const c = dq(m.column);
  const value = await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)} WHERE ${c} IS NOT NULL AND CAST(CAST(${c} AS ${m.toType}) AS TEXT) IS NOT CAST(${c} AS TEXT)`);
  return { value };
}

/**
 * PostgreSQL: rows whose conversion raises an error (the migration would fail), counted by
 * bisection over the table in ctid order; when none fails, rows whose value does not survive the
 * round trip back to the old type (data changed: truncated, rounded). With USING only failures count.
 */
async function castPostgres(m: Extract<Measure, { kind: 'cast' }>, t: Tools): Promise<Measured> {
  const c = dq(m.column);
  const converted = m.using ? `CAST((${m.using}) AS ${m.toType})` : `CAST(${c} AS ${m.toType})`;
  const total = await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)} WHERE ${c} IS NOT NULL`);
  let budget = CAST_QUERY_BUDGET;
  let firstError: string | undefined;
  let bounded = false;
  // The conversion sits in the outer query so the planner cannot drop it as an unused output.
  const fails = async (offset: number, limit: number): Promise<number> => {
    if (budget-- <= 0) {
      bounded = true;
      return 0;
    }
    try {
      await t.run(`SELECT count(${converted}) AS n FROM (SELECT * FROM ${t.table(m.table)} WHERE ${c} IS NOT NULL ORDER BY ctid OFFSET ${offset} LIMIT ${limit}) s`);
      return 0;
    } catch (e) {
      firstError ??= messageOf(e).split('\n')[0];
      if (limit === 1) return 1;
      const half = Math.ceil(limit / 2);
      return (await fails(offset, half)) + (await fails(offset + half, limit - half));
    }
  };
  const failed = total ? await fails(0, total) : 0;
  if (failed > 0) return { value: failed, lowerBound: bounded, detail: `fail to convert: ${firstError}` };
  if (m.using) return { value: 0 };
  const changed = await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)} WHERE ${c} IS NOT NULL AND CAST(${converted} AS ${m.fromType}) IS DISTINCT FROM ${c}`);
  return { value: changed, detail: changed ? 'change value in the conversion' : undefined };
}
