/**
 * Answers the risk questions of lib/guard/risks.ts with read-only queries on the live database.
 * Everything runs inside the dialect's read-only snapshot (Dialect.riskProbes.readOnly; PostgreSQL:
 * one REPEATABLE READ READ ONLY transaction that is rolled back, so even an expression taken from a
 * migration file (USING, CHECK) cannot change anything, and a query that fails only rolls back to
 * its savepoint). The SQL here is what both databases accept; what differs (sizes, schemas,
 * sequences, casts) is the dialect's riskProbes.
 *
 * Every question is one counting query (a type change: one catalog lookup and one scan), never a
 * row-by-row search: the numbers are exact, and a check on a 1M-row table takes one table scan.
 */
import type { DbSchema } from '../core/types.ts';
import { messageOf } from '../core/errors.ts';
import type { Connection, ProbeQuery, RiskProbes } from '../dialects/dialect.ts';
import { dq, type Measure, type Measured, type Projection, type RiskQuestion } from './risks.ts';

const lit = (v: string) => `'${v.replaceAll("'", "''")}'`;

/** Measures each question; answers come back in the same order. Never writes. */
export async function measureQuestions(conn: Connection, schema: DbSchema, questions: RiskQuestion[]): Promise<Measured[]> {
  const probes = conn.dialect.riskProbes;
  // The table's real schema and name (a key of several schemas is `schema.table`): the dialect's to say.
  const table = (key: string) => probes.tableRef(schema, key);
  const cache = new Map<string, Measured>();
  const out: Measured[] = [];
  return probes.readOnly(conn, async (run) => {
    const count = async (sql: string) => Number((await run<{ n: unknown }>(sql))[0]?.n ?? 0);
    for (const q of questions) {
      const key = JSON.stringify(q.measure);
      let answer = cache.get(key);
      if (!answer) {
        try {
          answer = await measureOne(q.measure, { probes, table, count, run });
        } catch (e) {
          answer = { value: null, error: messageOf(e).split('\n')[0] };
        }
        cache.set(key, answer);
      }
      out.push(answer);
    }
    return out;
  });
}

interface Tools {
  probes: RiskProbes;
  table: (name: string) => string;
  count: (sql: string) => Promise<number>;
  run: ProbeQuery;
}

const sizeOf = (bytes: number) => (bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${Math.round(bytes / 1024)} KiB`);

async function measureOne(m: Measure, t: Tools): Promise<Measured> {
  const text = (c: string) => `CAST(${c} AS TEXT)`;
  /** The rows to count: the table, or the rows a rebuild's INSERT ... SELECT would copy from it. */
  const from = (table: string, source?: Projection, alias = 'src') => (source ? `(SELECT ${source.select.map((x) => `${x.expr} AS ${dq(x.as)}`).join(', ')} FROM ${t.table(table)}) AS ${alias}` : `${t.table(table)} AS ${alias}`);
  switch (m.kind) {
    case 'none':
      return { value: null };
    case 'known':
      return { value: m.value };
    case 'rows':
      return { value: await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)}`) };
    case 'table-size': {
      // The count is a full scan: its time is a measured lower bound of how long the lock is held.
      const started = performance.now();
      const rows = await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)}`);
      const scan = (performance.now() - started) / 1000;
      const bytes = await t.probes.tableBytes(t.run, t.table(m.table));
      return { value: rows, detail: `${bytes === null ? '' : `${sizeOf(bytes)} with indexes; `}one scan of it took ${scan < 0.01 ? '< 0.01' : scan.toFixed(2)} s here, and the statement holds its lock at least that long` };
    }
    case 'non-null':
      return { value: await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)} WHERE ${dq(m.column)} IS NOT NULL`) };
    case 'nulls':
      return { value: await t.count(`SELECT count(*) AS n FROM ${from(m.table, m.source)} WHERE ${m.columns.map((c) => `${dq(c)} IS NULL`).join(' OR ')}`) };
    case 'duplicate-groups': {
      const cols = m.columns.join(', ');
      const conditions = [...(m.nullsDistinct ? m.columns.map((c) => `(${c}) IS NOT NULL`) : []), ...(m.where ? [`(${m.where})`] : [])];
      const rows = await t.run<{ n: unknown; r: unknown }>(
        `SELECT count(*) AS n, coalesce(sum(k), 0) AS r FROM (SELECT count(*) AS k FROM ${from(m.table, m.source)}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} GROUP BY ${cols} HAVING count(*) > 1) d`,
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
      return { value: await t.count(`SELECT count(*) AS n FROM ${from(m.table, m.source)} WHERE NOT (${m.expression})`) };
    case 'orphans': {
      const keyed = m.columns.map((c) => `c.${dq(c)} IS NOT NULL`).join(' AND ');
      const match = m.columns.map((c, i) => `p.${dq(m.refColumns[i] ?? c)} = c.${dq(c)}`).join(' AND ');
      const missing = m.refEmpty ? '' : ` AND NOT EXISTS (SELECT 1 FROM ${t.table(m.refTable)} AS p WHERE ${match})`;
      const rows = await t.run<{ n: unknown; k: unknown }>(`SELECT count(*) AS n, count(DISTINCT ${m.columns.length === 1 ? `c.${dq(m.columns[0])}` : text(`c.${dq(m.columns[0])}`)}) AS k FROM ${from(m.table, m.source, 'c')} WHERE ${keyed}${missing}`);
      const n = Number(rows[0]?.n ?? 0);
      return { value: n, detail: n ? `${Number(rows[0]?.k ?? 0)} distinct missing key(s)` : undefined };
    }
    case 'where': {
      const self = `${t.table(m.table)}${m.alias ? ` AS ${dq(m.alias)}` : ''}`;
      const cond = m.from ? `EXISTS (SELECT 1 FROM ${m.from}${m.where ? ` WHERE ${m.where}` : ''})` : (m.where ?? '1 = 1');
      return { value: await t.count(`SELECT count(*) AS n FROM ${self} WHERE ${cond}`) };
    }
    case 'schema-contents': {
      const contents = await t.probes.schemaContents(t.run, m.schema);
      if (!contents) return { value: 0, detail: 'the schema does not exist' };
      let rows = 0;
      for (const r of contents.relations) rows += await t.count(`SELECT count(*) AS n FROM ${r}`);
      return { value: rows, detail: `${contents.relations.length} table(s) and materialized view(s), ${contents.objects} object(s) in all` };
    }
    case 'sequence': {
      const last = await t.probes.sequenceLastValue(t.run, t.table(m.sequence));
      return { value: m.users, detail: `last value ${last ?? 'none yet'}` };
    }
    case 'cast': {
      const r = await t.probes.cast(t.run, { table: t.table(m.table), column: dq(m.column), fromType: m.fromType, toType: m.toType, using: m.using });
      return { value: r.value, lowerBound: r.lowerBound, detail: r.detail, alwaysFails: r.alwaysFails };
    }
  }
}

