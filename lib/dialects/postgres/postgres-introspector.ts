import type {
  ColumnSchema,
  DbSchema,
  EnumSchema,
  ForeignKeySchema,
  IndexSchema,
  Queryable,
  SequenceSchema,
  TableSchema,
  ValueKind,
} from '../../core/types.ts';
import type { Namespaces } from './postgres-names.ts';
import { qualify, quoteIdent, quoteLiteral } from './postgres-sql.ts';

/**
 * Reads one PostgreSQL schema (namespace) from the system catalogs into a DbSchema, with the DDL
 * that recreates it.
 *
 * Must run inside a transaction: it switches `search_path` to `pg_catalog` for the transaction
 * (and restores it afterwards) so that every name PostgreSQL prints (format_type, pg_get_expr,
 * pg_get_constraintdef, pg_get_indexdef) is schema-qualified and the DDL does not depend on the
 * search_path of whoever runs it later.
 *
 * Recreated: enum types, sequences (serial and identity), tables with columns, defaults, collations,
 * NOT NULL, generated columns and primary keys, unique/check/exclusion constraints, indexes, foreign
 * keys, views, materialized views and triggers (the trigger functions themselves are not dropped or
 * recreated). Not recreated: domains, composite types, functions, policies, comments, grants,
 * partitioning and inheritance.
 */
export async function introspectPostgres(q: Queryable, namespace: string | Namespaces): Promise<DbSchema> {
  const [{ search_path: previousSearchPath }] = await q.query<{ search_path: string }>(
    `SELECT current_setting('search_path') AS search_path`,
  );
  await q.query(`SELECT set_config('search_path', 'pg_catalog', true)`);
  try {
    if (typeof namespace === 'string' || !namespace.multi) return await readSchema(q, typeof namespace === 'string' ? namespace : namespace.list[0], (_, name) => name);
    const parts: DbSchema[] = [];
    for (const ns of namespace.list) parts.push(await readSchema(q, ns, (schema, name) => (namespace.list.includes(schema) ? namespace.key(schema, name) : `${schema}.${name}`)));
    return mergeSchemas(parts, namespace);
  } finally {
    await q.query(`SELECT set_config('search_path', $1, true)`, [previousSearchPath]);
  }
}

/** Which of the introspector's pre-data statements run first: types, then sequences, tables, ownerships. */
const DDL_RANK: [RegExp, number][] = [
  [/^CREATE TYPE /, 0],
  [/^CREATE SEQUENCE /, 1],
  [/^CREATE TABLE /, 2],
];

/**
 * One DbSchema of several schemas read one by one (in the same snapshot): objects keyed
 * `schema.name`, and the DDL of all of them in an order that lets one schema's objects use
 * another's: every type, sequence and table before any ownership, every index and constraint before
 * any foreign key (a foreign key may reference a unique constraint of another schema).
 */
function mergeSchemas(parts: DbSchema[], namespaces: Namespaces): DbSchema {
  const rank = (s: string) => DDL_RANK.find(([re]) => re.test(s))?.[1] ?? 3;
  const ddl = parts.flatMap((p) => p.ddl.map((statement, i) => ({ statement, rank: rank(statement), i })));
  ddl.sort((a, b) => a.rank - b.rank); // stable: each schema's own order within a rank
  const before: string[] = [];
  const foreignKeys: string[] = [];
  for (const p of parts) {
    // readSchema puts the foreign keys last, one statement per key.
    const n = p.tables.reduce((sum, t) => sum + t.foreignKeys.length, 0);
    before.push(...p.postDdl.slice(0, p.postDdl.length - n));
    foreignKeys.push(...p.postDdl.slice(p.postDdl.length - n));
  }
  return {
    dialect: 'postgres',
    namespace: namespaces.primary,
    namespaces: [...namespaces.list],
    tables: parts.flatMap((p) => p.tables).sort((a, b) => compareNames(a.name, b.name)),
    enums: parts.flatMap((p) => p.enums).sort((a, b) => compareNames(a.name, b.name)),
    sequences: parts.flatMap((p) => p.sequences).sort((a, b) => compareNames(a.name, b.name)),
    ddl: ddl.map((d) => d.statement),
    postDdl: [...before, ...foreignKeys],
  };
}

/** Objects that belong to an extension are the extension's business, not the schema's. */
const NOT_EXTENSION_MEMBER = (cls: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${cls}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

interface ColumnRow {
  table_name: string;
  name: string;
  type: string;
  not_null: boolean;
  identity: string;
  generated: string;
  default_expr: string | null;
  base_type: string;
  base_typtype: string;
  base_category: string;
  collation: string | null;
}

interface SequenceRow {
  name: string;
  data_type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  table_name: string | null;
  column_name: string | null;
  deptype: string | null;
}

/** `key(schema, name)`: how objects are named in the DbSchema (bare, or `schema.name` for several schemas). */
async function readSchema(q: Queryable, ns: string, key: (schema: string, name: string) => string): Promise<DbSchema> {
  const tableRows = await q.query<{ name: string }>(
    `SELECT c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}`,
    [ns],
  );
  const tableNames = tableRows.map((r) => r.name).sort(compareNames);

  const columnRows = await q.query<ColumnRow>(
    `SELECT c.relname AS table_name, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null, a.attidentity::text AS identity, a.attgenerated::text AS generated,
            pg_get_expr(ad.adbin, ad.adrelid) AS default_expr,
            bt.typname AS base_type, bt.typtype::text AS base_typtype, bt.typcategory::text AS base_category,
            CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                 THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
       LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
       LEFT JOIN pg_collation co ON co.oid = a.attcollation
       LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [ns],
  );

  const constraintRows = await q.query<{
    table_name: string;
    name: string;
    type: string;
    columns: string[];
    ref_table: string | null;
    ref_schema: string | null;
    ref_columns: string[] | null;
    on_delete: string;
    on_update: string;
    definition: string;
  }>(
    `SELECT c.relname AS table_name, k.conname AS name, k.contype::text AS type,
            ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord) AS columns,
            rc.relname AS ref_table, rn.nspname AS ref_schema,
            ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord) AS ref_columns,
            k.confdeltype::text AS on_delete, k.confupdtype::text AS on_update,
            pg_get_constraintdef(k.oid) AS definition
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_class rc ON rc.oid = k.confrelid
       LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND k.contype IN ('p', 'u', 'f', 'c', 'x')
        AND k.conislocal
      ORDER BY c.relname, k.conname`,
    [ns],
  );

  // Indexes that are not the implementation of a constraint (those come back as constraints).
  const indexRows = await q.query<{ table_name: string; name: string; unique: boolean; columns: string[]; definition: string }>(
    `SELECT c.relname AS table_name, i.relname AS name, x.indisunique AS unique,
            ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY u(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.attnum ORDER BY u.ord) AS columns,
            pg_get_indexdef(x.indexrelid) AS definition
       FROM pg_index x
       JOIN pg_class c ON c.oid = x.indrelid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
        AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                         WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))
      ORDER BY c.relname, i.relname`,
    [ns],
  );

  const enumRows = await q.query<{ name: string; values: string[] }>(
    `SELECT t.typname AS name,
            ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS values
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = $1 AND t.typtype = 'e' AND ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}`,
    [ns],
  );

  const sequenceRows = await q.query<SequenceRow>(
    `SELECT c.relname AS name, format_type(s.seqtypid, NULL) AS data_type,
            s.seqstart::text AS start, s.seqincrement::text AS increment, s.seqmin::text AS min,
            s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle,
            oc.relname AS table_name, oa.attname AS column_name, d.deptype::text AS deptype
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_sequence s ON s.seqrelid = c.oid
       LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
       LEFT JOIN pg_class oc ON oc.oid = d.refobjid AND oc.relnamespace = c.relnamespace
       LEFT JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid
      WHERE n.nspname = $1 AND c.relkind = 'S' AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}`,
    [ns],
  );
  sequenceRows.sort((a, b) => compareNames(a.name, b.name));

  const viewRows = await q.query<{ name: string; kind: string; definition: string }>(
    `SELECT c.relname AS name, c.relkind::text AS kind, pg_get_viewdef(c.oid) AS definition
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('v', 'm') AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
      ORDER BY c.oid`, // creation order, so a view comes after the views it reads
    [ns],
  );

  const triggerRows = await q.query<{ definition: string }>(
    `SELECT pg_get_triggerdef(t.oid) AS definition
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND NOT t.tgisinternal
        AND t.tgparentid = 0 -- a partition's copy of its parent's trigger comes back with the parent's
        AND NOT c.relispartition
      ORDER BY c.relname, t.tgname`,
    [ns],
  );

  // Sequence positions. Sequences are not transactional: inside a snapshot this is the value at the
  // time of reading, never lower than at snapshot time, which is what a restore needs.
  const sequences: SequenceSchema[] = [];
  for (const s of sequenceRows) {
    const [pos] = await q.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${qualify(ns, s.name)}`,
    );
    const seq: SequenceSchema = { name: key(ns, s.name), lastValue: pos?.last_value ?? null, isCalled: pos?.is_called ?? false };
    if (s.table_name && s.column_name) {
      seq.table = key(ns, s.table_name);
      seq.column = s.column_name;
    }
    sequences.push(seq);
  }
  const identitySequence = new Map<string, SequenceRow>(); // "table\0column" -> its identity sequence
  for (const s of sequenceRows) {
    if (s.deptype === 'i' && s.table_name && s.column_name) identitySequence.set(s.table_name + '\0' + s.column_name, s);
  }

  const enums: EnumSchema[] = enumRows
    .map((e) => ({ name: key(ns, e.name), values: e.values }))
    .sort((a, b) => compareNames(a.name, b.name));

  const ddl: string[] = [];
  const postDdl: string[] = [];
  for (const e of enumRows.sort((a, b) => compareNames(a.name, b.name))) {
    ddl.push(`CREATE TYPE ${qualify(ns, e.name)} AS ENUM (${e.values.map(quoteLiteral).join(', ')})`);
  }
  for (const s of sequenceRows) {
    if (s.deptype === 'i') continue; // created by the identity column itself
    ddl.push(`CREATE SEQUENCE ${qualify(ns, s.name)} AS ${s.data_type} ${sequenceOptions(s)}`);
  }

  const constraintsOf = groupBy(constraintRows, (r) => r.table_name);
  const indexesOf = groupBy(indexRows, (r) => r.table_name);
  const columnsOf = groupBy(columnRows, (r) => r.table_name);
  const postConstraints: string[] = [];
  const postIndexes: string[] = [];
  const postForeignKeys: string[] = [];

  const tables: TableSchema[] = [];
  for (const name of tableNames) {
    const qt = qualify(ns, name);
    const cols = columnsOf.get(name) ?? [];
    const cons = constraintsOf.get(name) ?? [];
    const pk = cons.find((c) => c.type === 'p');

    const columns: ColumnSchema[] = cols.map((c) => {
      const isSerial = c.default_expr !== null && /^nextval\(/.test(c.default_expr);
      const column: ColumnSchema = {
        name: c.name,
        type: c.type,
        kind: valueKind(c),
        nullable: !c.not_null,
        default: c.generated === 's' ? null : c.default_expr,
      };
      if (c.identity !== '' || isSerial || c.generated === 's') column.generated = true;
      return column;
    });

    const columnDefs = cols.map((c) => {
      let def = `${quoteIdent(c.name)} ${c.type}`;
      if (c.collation) def += ` COLLATE ${c.collation}`;
      if (c.generated === 's') def += ` GENERATED ALWAYS AS (${c.default_expr}) STORED`;
      else if (c.identity !== '') {
        const seq = identitySequence.get(name + '\0' + c.name);
        def += ` GENERATED ${c.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`;
        if (seq) def += ` (SEQUENCE NAME ${qualify(ns, seq.name)} ${sequenceOptions(seq)})`;
      } else if (c.default_expr !== null) def += ` DEFAULT ${c.default_expr}`;
      if (c.not_null) def += ' NOT NULL';
      return def;
    });
    if (pk) columnDefs.push(`CONSTRAINT ${quoteIdent(pk.name)} ${pk.definition}`);
    ddl.push(`CREATE TABLE ${qt} (\n  ${columnDefs.join(',\n  ')}\n)`);

    const foreignKeys: ForeignKeySchema[] = [];
    const indexes: IndexSchema[] = [];
    for (const k of cons) {
      const statement = `ALTER TABLE ${qt} ADD CONSTRAINT ${quoteIdent(k.name)} ${k.definition}`;
      if (k.type === 'f') {
        foreignKeys.push({
          name: k.name,
          columns: k.columns,
          refTable: k.ref_table === null ? '' : key(k.ref_schema ?? ns, k.ref_table),
          refColumns: k.ref_columns ?? [],
          onDelete: FK_ACTION[k.on_delete] ?? k.on_delete,
          onUpdate: FK_ACTION[k.on_update] ?? k.on_update,
          definition: k.definition,
        });
        postForeignKeys.push(statement);
      } else if (k.type === 'u' || k.type === 'x') {
        indexes.push({ name: k.name, columns: k.columns, unique: k.type === 'u', definition: statement });
        postConstraints.push(statement);
      } else if (k.type === 'c') {
        postConstraints.push(statement);
      }
    }
    for (const i of indexesOf.get(name) ?? []) {
      indexes.push({ name: i.name, columns: i.columns, unique: i.unique, definition: i.definition });
      postIndexes.push(i.definition);
    }
    indexes.sort((a, b) => compareNames(a.name, b.name));
    foreignKeys.sort((a, b) => compareNames(a.name, b.name));

    tables.push({ name: key(ns, name), columns, primaryKey: pk ? pk.columns : [], foreignKeys, indexes });
  }

  for (const s of sequenceRows) {
    if (s.deptype === 'a' && s.table_name && s.column_name) {
      ddl.push(`ALTER SEQUENCE ${qualify(ns, s.name)} OWNED BY ${qualify(ns, s.table_name)}.${quoteIdent(s.column_name)}`);
    }
  }

  postDdl.push(...postConstraints, ...postIndexes);
  for (const v of viewRows) {
    const body = v.definition.trim().replace(/;\s*$/, '');
    postDdl.push(
      v.kind === 'm'
        ? `CREATE MATERIALIZED VIEW ${qualify(ns, v.name)} AS ${body} WITH DATA`
        : `CREATE VIEW ${qualify(ns, v.name)} AS ${body}`,
    );
  }
  postDdl.push(...triggerRows.map((t) => t.definition));
  postDdl.push(...postForeignKeys); // last: every referenced row is in place by then

  return { dialect: 'postgres', namespace: ns, tables, enums, sequences, ddl, postDdl };
}

const FK_ACTION: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

function sequenceOptions(s: SequenceRow): string {
  return (
    `START WITH ${s.start} INCREMENT BY ${s.increment} MINVALUE ${s.min} MAXVALUE ${s.max} ` +
    `CACHE ${s.cache}${s.cycle ? ' CYCLE' : ' NO CYCLE'}`
  );
}

const KIND_BY_TYPE: Record<string, ValueKind> = {
  int2: 'int',
  int4: 'int',
  int8: 'bigint',
  float4: 'float',
  float8: 'float',
  numeric: 'decimal',
  bool: 'boolean',
  text: 'text',
  varchar: 'text',
  bpchar: 'text',
  char: 'text',
  name: 'text',
  citext: 'text',
  timestamp: 'datetime',
  timestamptz: 'datetime',
  date: 'date',
  time: 'time',
  timetz: 'time',
  json: 'json',
  jsonb: 'json',
  bytea: 'bytes',
  uuid: 'uuid',
};

function valueKind(c: ColumnRow): ValueKind {
  if (c.base_category === 'A') return 'array';
  if (c.base_typtype === 'e') return 'enum';
  return KIND_BY_TYPE[c.base_type] ?? 'other';
}

/** Deterministic, locale-independent name order (code unit order). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function groupBy<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = map.get(k);
    if (list) list.push(row);
    else map.set(k, [row]);
  }
  return map;
}
