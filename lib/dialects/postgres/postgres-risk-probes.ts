/**
 * migrate-safe's read-only measurements on PostgreSQL (RiskProbes, issue 18): one REPEATABLE READ
 * READ ONLY transaction that is rolled back, with a savepoint per query so a failing one (a USING or
 * CHECK expression taken from a migration) does not end it; catalog lookups for sizes, schemas and
 * sequences; and type changes counted in one scan.
 */
import { messageOf } from '../../core/errors.ts';
import type { CastCount, CastProbe, ProbeQuery, RiskProbes } from '../dialect.ts';
import { keySql } from './postgres-names.ts';

const lit = (v: string) => `'${v.replaceAll("'", "''")}'`;

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
 * One scan per column: `fails` (the conversion raises an error, so the migration would fail) and
 * `changes` (it succeeds with another value: rounded, truncated) are predicates written for the
 * target type, counted together with FILTER. A cast PostgreSQL does not do in ALTER COLUMN TYPE
 * without USING (no assignment cast: text -> integer, text -> enum...) fails on any table, even an
 * empty one: `alwaysFails`. Conversions without a predicate are tried once on the whole column: no
 * error means none fails; an error means at least one does (a lower bound).
 */
async function castCount(query: ProbeQuery, m: CastProbe): Promise<CastCount> {
  const c = m.column;
  const [info] = await query<TypeInfo>(
    `SELECT f.oid = x.oid AS same, (SELECT castcontext::text FROM pg_cast WHERE castsource = f.oid AND casttarget = x.oid) AS ctx, f.typcategory::text AS from_cat, x.typcategory::text AS to_cat, x.typtype::text AS to_typtype, x.typname::text AS to_name, x.oid::int AS to_oid FROM pg_type f, pg_type x WHERE f.oid = ${lit(m.fromType)}::regtype AND x.oid = ${lit(m.toType)}::regtype`,
  );
  // USING that only casts the column (maybe through text) is the explicit cast itself.
  const bare = c.replace(/^"(.*)"$/, '$1').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const simpleUsing = m.using !== undefined && new RegExp(`^\\(?\\s*(?:"${bare}"|${bare})\\s*(?:::\\s*text\\s*)?::\\s*[^()]+\\)?$|^CAST\\s*\\(\\s*(?:"${bare}"|${bare})\\s+AS\\s+[^()]+\\)$`, 'i').test(m.using.trim());
  if (!m.using && info && !info.same && !(info.ctx === 'a' || info.ctx === 'i') && !(info.ctx === null && info.to_cat === 'S')) {
    const [r] = await query<{ n: unknown }>(`SELECT count(*) AS n FROM ${m.table} WHERE ${c} IS NOT NULL`);
    return { value: Number(r.n), alwaysFails: `PostgreSQL has no automatic cast from ${m.fromType} to ${m.toType}, so ALTER COLUMN ... TYPE fails on any table without a USING clause` };
  }
  if (!info || (m.using && !simpleUsing)) return tryOnce(query, m, m.using ? `(${m.using})` : c);
  const v = info.from_cat === 'S' ? `${c}::text` : c;
  let fails: string | null = null;
  let changes: string | null = null;
  const typmod = /\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)/.exec(m.toType);
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
      // Rounded to the new scale first, then checked against the digits left of the point: no overflow in the check itself.
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
  if (fails === null) return tryOnce(query, m, c);
  // Without a written `changes`, the value changes when it does not come back the same (e.g. '007' -> 7).
  const roundTrip = `CAST(CAST(${c} AS ${m.toType}) AS ${m.fromType}) IS DISTINCT FROM ${c}`;
  const changed = changes ?? (fails === 'false' ? roundTrip : `CASE WHEN ${fails} THEN false ELSE ${roundTrip} END`);
  const [r] = await query<{ f: unknown; ch: unknown }>(`SELECT count(*) FILTER (WHERE ${fails}) AS f, count(*) FILTER (WHERE NOT (${fails}) AND (${changed})) AS ch FROM ${m.table} WHERE ${c} IS NOT NULL`);
  const failed = Number(r.f);
  const ch = Number(r.ch);
  if (failed > 0) return { value: failed, detail: `they fail to convert, so the migration would fail${ch ? `; ${ch} more would change value` : ''}` };
  if (m.using) return { value: 0 };
  return { value: ch, detail: ch ? 'change value in the conversion' : undefined };
}

/** A conversion with no predicate: tried once over the whole column. */
async function tryOnce(query: ProbeQuery, m: CastProbe, expr: string): Promise<CastCount> {
  const converted = `CAST(${expr} AS ${m.toType})`;
  try {
    // The conversion sits in an aggregate so the planner cannot drop it as an unused output.
    const changed = m.using ? '' : `, count(*) FILTER (WHERE CAST(${converted} AS ${m.fromType}) IS DISTINCT FROM ${m.column}) AS ch`;
    const [r] = await query<{ n: unknown; ch: unknown }>(`SELECT count(${converted}) AS n${changed} FROM ${m.table} WHERE ${m.column} IS NOT NULL`);
    const ch = m.using ? 0 : Number(r.ch);
    return { value: ch, detail: ch ? 'change value in the conversion' : undefined };
  } catch (e) {
    return { value: 1, lowerBound: true, detail: `the conversion fails on this data, so the migration would fail: ${messageOf(e).split('\n')[0]}` };
  }
}

export const postgresRiskProbes: RiskProbes = {
  tableRef: keySql,
  async readOnly(q, fn) {
    await q.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let sp = 0;
    const query: ProbeQuery = async <T>(sql: string) => {
      const name = `guard_${++sp}`;
      await q.query(`SAVEPOINT ${name}`);
      try {
        const rows = await q.query<T>(sql);
        await q.query(`RELEASE SAVEPOINT ${name}`);
        return rows;
      } catch (e) {
        await q.query(`ROLLBACK TO SAVEPOINT ${name}`);
        throw e;
      }
    };
    try {
      return await fn(query);
    } finally {
      await q.query('ROLLBACK').catch(() => {});
    }
  },
  async tableBytes(query, table) {
    const [r] = await query<{ b: unknown }>(`SELECT pg_total_relation_size(${lit(table)}::regclass) AS b`);
    return Number(r.b);
  },
  async schemaContents(query, schema) {
    const [head] = await query<{ n: unknown; e: unknown }>(
      `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${lit(schema)} AND c.relkind IN ('r', 'p', 'm', 'v', 'S', 'f')) + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ${lit(schema)}) + (SELECT count(*) FROM pg_type y JOIN pg_namespace n ON n.oid = y.typnamespace WHERE n.nspname = ${lit(schema)} AND y.typtype IN ('e', 'd', 'c') AND y.typrelid = 0) AS n, EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${lit(schema)}) AS e`,
    );
    if (!head.e) return null;
    // A partitioned table counts the rows of its partitions, so partitions are not listed again.
    const rels = await query<{ t: string }>(`SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ${lit(schema)} AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition ORDER BY 1`);
    return { relations: rels.map((r) => r.t), objects: Number(head.n) };
  },
  async sequenceLastValue(query, sequence) {
    const [r] = await query<{ v: unknown; c: unknown }>(`SELECT last_value AS v, is_called AS c FROM ${sequence}`);
    return r.c ? String(r.v) : null;
  },
  cast: castCount,
};
