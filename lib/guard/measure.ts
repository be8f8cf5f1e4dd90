/**
 * Answers the risk questions of lib/guard/risks.ts with read-only queries on the live database.
 * PostgreSQL: everything runs in one REPEATABLE READ READ ONLY transaction that is rolled back, so
 * even an expression taken from a migration file (USING, CHECK) cannot change anything; a query
 * that fails only rolls back to its savepoint. SQLite: plain SELECTs.
 *
 * Every question is one counting query (a type change: one catalog lookup and one scan), never a
 * row-by-row search: the numbers are exact, and a check on a 1M-row table takes one table scan.
 */
import type { DbSchema } from '../core/types.ts';
import { messageOf } from '../core/errors.ts';
import type { Connection } from '../dialects/dialect.ts';
import { dq, type Measure, type Measured, type Projection, type RiskQuestion } from './risks.ts';

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
      if (!t.pg) return { value: await t.count(`SELECT count(*) AS n FROM ${t.table(m.table)}`) };
      // The count is a full scan: its time is a measured lower bound of how long the lock is held.
      const started = performance.now();
      const [r] = await t.run<{ n: unknown; b: unknown }>(`SELECT (SELECT count(*) FROM ${t.table(m.table)}) AS n, pg_total_relation_size(${lit(t.table(m.table))}::regclass) AS b`);
      const scan = (performance.now() - started) / 1000;
      return { value: Number(r.n), detail: `${sizeOf(Number(r.b))} with indexes; one scan of it took ${scan < 0.01 ? '< 0.01' : scan.toFixed(2)} s here, and the statement holds its lock at least that long` };
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
      const rels = await t.run<{ t: string; k: string }>(
        `SELECT format('%I.%I', n.nspname, c.relname) AS t, c.relkind::text AS k FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${lit(m.schema)} AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition ORDER BY 1`,
      );
      const [objects] = await t.run<{ n: unknown; e: unknown }>(
        `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${lit(m.schema)} AND c.relkind IN ('r', 'p', 'm', 'v', 'S', 'f')) + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ${lit(m.schema)}) + (SELECT count(*) FROM pg_type y JOIN pg_namespace n ON n.oid = y.typnamespace WHERE n.nspname = ${lit(m.schema)} AND y.typtype IN ('e', 'd', 'c') AND y.typrelid = 0) AS n, EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${lit(m.schema)}) AS e`,
      );
      if (!objects.e) return { value: 0, detail: 'the schema does not exist' };
      let rows = 0;
      for (const r of rels) rows += await t.count(`SELECT count(*) AS n FROM ${r.t}`);
      return { value: rows, detail: `${rels.length} table(s) and materialized view(s), ${Number(objects.n)} object(s) in all` };
    }
    case 'sequence': {
      const [r] = await t.run<{ v: unknown; c: unknown }>(`SELECT last_value AS v, is_called AS c FROM ${t.table(m.sequence)}`);
      return { value: m.users, detail: `last value ${r.c ? String(r.v) : 'none yet'}` };
    }
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

interface TypeInfo {
  same: boolean;
  /** pg_cast context of the direct cast (e: explicit, a: assignment, i: implicit), null when there is none. */
  ctx: string | null;
  from_cat: string;
  to_cat: string;
  to_typtype: string;
  to_name: string;
  to_oid: number;
}

const INT_RANGE: Record<string, [string, string]> = { int2: ['-32768', '32767'], int4: ['-2147483648', '2147483647'], int8: ['-9223372036854775808', '9223372036854775807'] };
const NUMERIC_TEXT = String.raw`^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$`;
const INT_TEXT = String.raw`^\s*[+-]?[0-9]+\s*$`;
const BOOL_TEXT = String.raw`^\s*(t|tr|tru|true|y|ye|yes|on|1|f|fa|fal|fals|false|n|no|of|off|0)\s*$`;
const UUID_TEXT = String.raw`^\s*\{?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}\}?\s*$`;

/**
 * PostgreSQL, one scan per column: `fails` (the conversion raises an error, so the migration would
 * fail) and `changes` (it succeeds with another value: rounded, truncated) are predicates written
 * for the target type, counted together with FILTER. A cast PostgreSQL does not do in ALTER COLUMN
 * TYPE without USING (no assignment cast: text -> integer, text -> enum...) fails on any table,
 * even an empty one: `alwaysFails`. Conversions without a predicate are tried once on the whole
 * column: no error means none fails; an error means at least one does (a lower bound).
 */
async function castPostgres(m: Extract<Measure, { kind: 'cast' }>, t: Tools): Promise<Measured> {
  const c = dq(m.column);
  const tbl = t.table(m.table);
  const [info] = await t.run<TypeInfo>(
    `SELECT f.oid = x.oid AS same, (SELECT castcontext::text FROM pg_cast WHERE castsource = f.oid AND casttarget = x.oid) AS ctx, f.typcategory::text AS from_cat, x.typcategory::text AS to_cat, x.typtype::text AS to_typtype, x.typname::text AS to_name, x.oid::int AS to_oid FROM pg_type f, pg_type x WHERE f.oid = ${lit(m.fromType)}::regtype AND x.oid = ${lit(m.toType)}::regtype`,
  );
  // USING that only casts the column (maybe through text) is the explicit cast itself.
  const col = m.column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const simpleUsing = m.using !== undefined && new RegExp(`^\\(?\\s*(?:"${col}"|${col})\\s*(?:::\\s*text\\s*)?::\\s*[^()]+\\)?$|^CAST\\s*\\(\\s*(?:"${col}"|${col})\\s+AS\\s+[^()]+\\)$`, 'i').test(m.using.trim());
  const nonNull = () => t.count(`SELECT count(*) AS n FROM ${tbl} WHERE ${c} IS NOT NULL`);
  if (!m.using && info && !info.same && !(info.ctx === 'a' || info.ctx === 'i') && !(info.ctx === null && info.to_cat === 'S')) {
    return { value: await nonNull(), alwaysFails: `PostgreSQL has no automatic cast from ${m.fromType} to ${m.toType}, so ALTER COLUMN ... TYPE fails on any table without a USING clause` };
  }
  if (m.using && !simpleUsing) return probe(m, t, `(${m.using})`);
  const v = info?.from_cat === 'S' ? `${c}::text` : c;
  let fails: string | null = null;
  let changes: string | null = null;
  const typmod = /\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)/.exec(m.toType);
  if (!info) return probe(m, t, c);
  if (INT_RANGE[info.to_name]) {
    const [lo, hi] = INT_RANGE[info.to_name];
    if (info.from_cat === 'N') {
      fails = `(${c})::numeric IN ('NaN', 'Infinity', '-Infinity') OR round((${c})::numeric) NOT BETWEEN ${lo} AND ${hi}`;
      changes = `(${c})::numeric <> round((${c})::numeric)`;
    } else if (info.from_cat === 'S') {
      fails = `CASE WHEN ${v} ~ '${INT_TEXT}' THEN btrim(${v}, E' \\t\\n\\r\\f\\v')::numeric NOT BETWEEN ${lo} AND ${hi} ELSE true END`;
    }
  } else if (info.to_name === 'numeric') {
    const p = typmod ? Number(typmod[1]) : null;
    const s = typmod?.[2] !== undefined ? Number(typmod[2]) : 0;
    const num = info.from_cat === 'S' ? `btrim(${v}, E' \\t\\n\\r\\f\\v')::numeric` : `(${c})::numeric`;
    const valid = info.from_cat === 'S' ? `${v} ~ '${NUMERIC_TEXT}'` : info.from_cat === 'N' ? 'true' : null;
    if (valid !== null) {
      const overflow = p === null ? 'false' : `abs(round(${num}, ${s})) >= 1e${p - s}`;
      fails = `CASE WHEN ${valid} THEN ${overflow} ELSE true END`;
      changes = p === null ? null : `CASE WHEN ${valid} THEN ${num} <> round(${num}, ${s}) ELSE false END`;
    }
  } else if ((info.to_name === 'varchar' || info.to_name === 'bpchar') && typmod) {
    const n = Number(typmod[1]);
    // Assignment to varchar(n)/char(n) fails on a longer value unless the excess is spaces (then it is cut).
    fails = `char_length(${c}::text) > ${n} AND substr(${c}::text, ${n + 1}) !~ '^ *$'`;
    changes = `char_length(${c}::text) > ${n}`;
  } else if (info.to_cat === 'S') {
    fails = 'false';
  } else if (info.to_name === 'bool' && info.from_cat === 'S') {
    fails = `${v} !~* '${BOOL_TEXT}'`;
  } else if (info.to_name === 'uuid' && info.from_cat === 'S') {
    fails = `${v} !~* '${UUID_TEXT}'`;
  } else if (info.to_typtype === 'e') {
    fails = `${c}::text NOT IN (SELECT enumlabel::text FROM pg_enum WHERE enumtypid = ${info.to_oid})`;
  }
  if (fails === null) return probe(m, t, c);
  // Without a written `changes`, the value changes when it does not come back the same (e.g. '007' -> 7).
  const roundTrip = `CAST(CAST(${c} AS ${m.toType}) AS ${m.fromType}) IS DISTINCT FROM ${c}`;
  const changed = changes ?? (fails === 'false' ? roundTrip : `CASE WHEN ${fails} THEN false ELSE ${roundTrip} END`);
  const [r] = await t.run<{ f: unknown; ch: unknown }>(`SELECT count(*) FILTER (WHERE ${fails}) AS f, count(*) FILTER (WHERE NOT (${fails}) AND (${changed})) AS ch FROM ${tbl} WHERE ${c} IS NOT NULL`);
  const failed = Number(r.f);
  const ch = Number(r.ch);
  if (failed > 0) return { value: failed, detail: `they fail to convert, so the migration would fail${ch ? `; ${ch} more would change value` : ''}` };
  if (m.using) return { value: 0 };
  return { value: ch, detail: ch ? 'change value in the conversion' : undefined };
}

/** A conversion with no predicate: tried once over the whole column. */
async function probe(m: Extract<Measure, { kind: 'cast' }>, t: Tools, expr: string): Promise<Measured> {
  const c = dq(m.column);
  const converted = `CAST(${expr} AS ${m.toType})`;
  try {
    // The conversion sits in an aggregate so the planner cannot drop it as an unused output.
    const changed = m.using ? '' : `, count(*) FILTER (WHERE CAST(${converted} AS ${m.fromType}) IS DISTINCT FROM ${c}) AS ch`;
    const [r] = await t.run<{ n: unknown; ch: unknown }>(`SELECT count(${converted}) AS n${changed} FROM ${t.table(m.table)} WHERE ${c} IS NOT NULL`);
    const ch = m.using ? 0 : Number(r.ch);
    return { value: ch, detail: ch ? 'change value in the conversion' : undefined };
  } catch (e) {
    return { value: 1, lowerBound: true, detail: `the conversion fails on this data, so the migration would fail: ${messageOf(e).split('\n')[0]}` };
  }
}
