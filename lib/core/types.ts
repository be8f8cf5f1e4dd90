import type { DialectName } from './url.ts';

/**
 * The logical kind of a column's values: decides how a value is encoded in a backup line.
 * Dialects map their native types to these.
 */
export type ValueKind =
  | 'int' // fits a JS number exactly (int2/int4, SQLite INTEGER values within 2^53)
  | 'bigint'
  | 'float'
  | 'decimal'
  | 'boolean'
  | 'text'
  | 'datetime'
  | 'date'
  | 'time'
  | 'json'
  | 'bytes'
  | 'enum'
  | 'uuid'
  | 'array'
  | 'other'
  | 'any' // SQLite: dynamic typing, each value self-describing
  | 'rowid'; // the hidden rowid as a pseudo-column (rowColumns), never a real column

export interface ColumnSchema {
  name: string;
  /** The declared type as the database prints it (e.g. `timestamp(3) without time zone`, `DATETIME`). */
  type: string;
  kind: ValueKind;
  nullable: boolean;
  /** Default expression as SQL text, or null. */
  default: string | null;
  /** True for identity / autoincrement columns. */
  generated?: boolean;
}

export interface ForeignKeySchema {
  name: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  onDelete: string;
  onUpdate: string;
  /** Full SQL definition (PostgreSQL `pg_get_constraintdef`, SQLite clause). */
  definition: string;
}

export interface IndexSchema {
  name: string;
  columns: string[];
  unique: boolean;
  /** The statement that recreates it. */
  definition: string;
}

export interface TableSchema {
  name: string;
  columns: ColumnSchema[];
  /** Primary key columns; empty when the table has none (rows are then ordered by every column). */
  primaryKey: string[];
  foreignKeys: ForeignKeySchema[];
  indexes: IndexSchema[];
  /**
   * Set when the table has a hidden row identity that is not one of its columns (a SQLite rowid
   * table whose rowid no INTEGER PRIMARY KEY column aliases): each row then carries that identity
   * as one extra value after the columns' values, and this is the name it is read and written by
   * (the first of SQLite's `rowid`, `_rowid_`, `oid` that no column shadows). Absent in backups
   * made before it existed: their rows hold the columns only (see rowColumns).
   */
  rowid?: RowidName;
}

/** The names by which SQLite reaches a rowid table's hidden rowid. */
export const ROWID_NAMES = ['rowid', '_rowid_', 'oid'] as const;
export type RowidName = (typeof ROWID_NAMES)[number];

/** The `kind` of the pseudo-column rowColumns adds for TableSchema.rowid. */
export const ROWID_KIND: ValueKind = 'rowid';

/**
 * The values of one of the table's rows, in row order: its columns, then its hidden rowid when the
 * table keeps one (TableSchema.rowid), as a pseudo-column of kind ROWID_KIND.
 */
export function rowColumns(table: TableSchema): ColumnSchema[] {
  if (!table.rowid) return table.columns;
  return [...table.columns, { name: table.rowid, type: 'INTEGER', kind: ROWID_KIND, nullable: false, default: null }];
}

export interface EnumSchema {
  name: string;
  values: string[];
}

export interface SequenceSchema {
  name: string;
  /** Owning table/column, when the sequence backs a serial/autoincrement column. */
  table?: string;
  column?: string;
  /** Value at snapshot time (PostgreSQL last_value / SQLite sqlite_sequence.seq). */
  lastValue: string | null;
  isCalled?: boolean;
}

/** Everything needed to recreate a database's structure. */
export interface DbSchema {
  dialect: DialectName;
  /** PostgreSQL schema name (namespace); absent for SQLite. With `namespaces`: the URL's schema (`_prisma_migrations`). */
  namespace?: string;
  /**
   * PostgreSQL, a backup of several schemas (Prisma multiSchema, `--schemas a,b`): every schema,
   * sorted. Its tables, enums and sequences are then keyed `schema.name` (tableKey); absent for one
   * schema, whose objects keep their bare names (as every backup before it).
   */
  namespaces?: string[];
  /** Tables sorted by name; `_prisma_migrations` included when present. */
  tables: TableSchema[];
  enums: EnumSchema[];
  sequences: SequenceSchema[];
  /** Statements that recreate the structure before data is loaded (types, sequences, tables with primary keys). */
  ddl: string[];
  /** Statements run after data is loaded (indexes, unique and foreign key constraints, triggers, views). */
  postDdl: string[];
  /**
   * Who wrote ddl/postDdl (PostgreSQL): `pg_dump` (its --schema-only output for the backed-up
   * schemas, taken in the backup's snapshot) or the built-in `introspector`. Absent: introspector.
   */
  ddlSource?: 'pg_dump' | 'introspector';
  /** The pg_dump that wrote the DDL, e.g. `15.20`. */
  pgDumpVersion?: string;
  /** Why the introspector wrote the DDL (no pg_dump, too old, BACKUP_PG_DUMP=off, pg_dump failed). */
  ddlNote?: string;
  /** The schema object by object, as the server prints it (see postgres-catalog.ts): the full-restore proof. */
  catalog?: CatalogEntry[];
  /** Objects the DDL does not bring back: the backup warns, a full restore refuses. */
  unreproducible?: { kind: string; name: string; why: string }[];
}

/** The schemas a DbSchema covers: `namespaces`, else its one `namespace` (none for SQLite). */
export function schemaNamespaces(schema: Pick<DbSchema, 'namespace' | 'namespaces'>): string[] {
  return schema.namespaces ?? (schema.namespace ? [schema.namespace] : []);
}

/** The key of object `name` of schema `namespace` in a DbSchema over `namespaces` (see DbSchema.namespaces). */
export function tableKey(namespaces: readonly string[], namespace: string, name: string): string {
  return namespaces.length > 1 ? `${namespace}.${name}` : name;
}

/**
 * The schema and bare name a key of a DbSchema over `namespaces` stands for (tableKey backwards; the
 * longest schema name that prefixes the key wins). Null when the key names none of the schemas.
 */
export function splitTableKey(namespaces: readonly string[], key: string): { namespace: string; name: string } | null {
  if (namespaces.length <= 1) return namespaces.length ? { namespace: namespaces[0], name: key } : null;
  let best: string | null = null;
  for (const n of namespaces) if (key.startsWith(n + '.') && (best === null || n.length > best.length)) best = n;
  return best === null ? null : { namespace: best, name: key.slice(best.length + 1) };
}

/** The key of the `_prisma_migrations` table in `schema` (in the URL's schema when there are several). */
export function migrationsTableKey(schema: Pick<DbSchema, 'namespace' | 'namespaces'>): string {
  return schema.namespaces && schema.namespace ? tableKey(schema.namespaces, schema.namespace, PRISMA_MIGRATIONS_TABLE) : PRISMA_MIGRATIONS_TABLE;
}

/** One object of a database's schema: kind (`table`, `policy`, ...), qualified name, definition. */
export interface CatalogEntry {
  kind: string;
  name: string;
  definition: string;
}

/** Anything that runs SQL and returns rows as plain objects. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** Name of the table in which Prisma records applied migrations. */
export const PRISMA_MIGRATIONS_TABLE = '_prisma_migrations';

/** A row of `_prisma_migrations`, as stored in a backup header. */
export interface PrismaMigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  started_at: string | null;
  finished_at: string | null;
  rolled_back_at: string | null;
  applied_steps_count: number;
  logs: string | null;
}
