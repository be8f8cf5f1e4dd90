import type { DbSchema, Queryable, TableSchema } from '../core/types.ts';
import type { DatabaseTarget, DialectName } from '../core/url.ts';
import type { DatabaseIdentity } from '../format/source.ts';
import type { SqlRefusal } from './ddl-check.ts';

/**
 * A row as stored in a backup line: a JSON array, one encoded value per column in schema order.
 * Encoding is the dialect's and must be exact and deterministic:
 *  - PostgreSQL: null; int2/int4 as JSON numbers; booleans as true/false; everything else as the
 *    string PostgreSQL itself prints for the value (session TimeZone=UTC, DateStyle=ISO,
 *    IntervalStyle=postgres, extra_float_digits=3, bytea_output=hex), so it parses back exactly.
 *  - SQLite: self-describing per value (dynamic typing): null, string (TEXT), finite non-integral
 *    JSON number (REAL), safe-integer JSON number (INTEGER), {"$int":"digits"} (INTEGER beyond 2^53),
 *    {"$real":"text"} (integral or non-finite REAL), {"$b64":"..."} (BLOB).
 */
export type EncodedValue = null | boolean | number | string | { [tag: string]: string };
export type EncodedRow = EncodedValue[];

/** What a dialect can and cannot do; code branches on these, never on the dialect's name. */
export interface DialectCapabilities {
  /** DDL (CREATE/DROP/ALTER) can be rolled back inside a transaction. */
  transactionalDdl: boolean;
  /** Database-side advisory locks coordinate processes on different machines. */
  advisoryLocks: boolean;
  /** Scalar list columns exist. */
  scalarLists: boolean;
}

/**
 * Selects rows by value: those whose `columns` equal one of the `values` tuples. Values are in the
 * dialect's encoding (as read from another row, e.g. a parent's key to find its children), or a
 * bigint for integers.
 */
export interface RowFilter {
  columns: string[];
  values: (EncodedValue | bigint)[][];
}

export interface SnapshotReader {
  /** The schema as seen inside the snapshot (includes sequence values at snapshot time). */
  schema: DbSchema;
  /** Streams a table's rows in canonical order (primary key, else every column), in batches. */
  rows(table: TableSchema, batchSize?: number): AsyncIterable<EncodedRow[]>;
  /** Exact row count inside the snapshot (for progress and plans). */
  count(table: TableSchema): Promise<number>;
  /**
   * Streams the rows matching `filter`, encoded exactly as rows() encodes them (backup-before-delete
   * reads the rows a delete will remove). Large filters are split into several statements, so the
   * order across batches is not guaranteed: sort if order matters. Added for backup-before-delete.
   */
  rowsWhere(table: TableSchema, filter: RowFilter, batchSize?: number): AsyncIterable<EncodedRow[]>;
  /**
   * Optional fast path (added for the restore proof): the table's rows in canonical order as the
   * UTF-8 bytes of their canonical lines, each exactly `JSON.stringify(row) + "\n"` for the row
   * rows() would yield, in chunks of whole lines. Lets checksums skip building row objects. A chunk
   * may be reused by the reader once the consumer asks for the next one (hash it, do not keep it).
   * `order: 'stored'` (added for the restore proof) skips the sort and yields the rows in the order
   * the database stores them: the canonical order only for a table filled in that order since it
   * was emptied, which a consumer must check (compare the checksum, re-read canonically if it differs).
   */
  canonicalLines?(table: TableSchema, order?: 'canonical' | 'stored'): AsyncIterable<Uint8Array>;
  /**
   * Optional (added for the restore proof): whether the table, read in stored order, prints exactly
   * the bytes a loader wrote into it (LoadReceipt). True only on a byte-for-byte match; false means
   * "not shown this way", and the caller falls back to the checksum.
   */
  matchesLoad?(table: TableSchema, receipt: LoadReceipt): Promise<boolean>;
  /**
   * Optional (added for the restore proof): a second reader on its own connection that sees exactly
   * this snapshot (PostgreSQL exported snapshots, as `pg_dump -j` uses), so two tables can be read
   * at once. Valid while this reader's snapshot lasts; close it before the snapshot ends.
   */
  fork?(): Promise<SnapshotReader & { close(): Promise<void> }>;
}

/**
 * What a loader wrote into one emptied table (added for the restore proof): a SHA-256 of the exact
 * bytes the database was given in its own bulk-load format (PostgreSQL: the COPY text, framed one
 * message per row as the server frames COPY output), for these columns in this order. Those bytes are a deterministic translation of the backup's lines, which
 * the loader checked against the backup's checksum before COMMIT; a table that prints the same
 * bytes back (SnapshotReader.matchesLoad) holds exactly the backup's rows, without translating them
 * back into backup lines to recompute the checksum.
 */
export interface LoadReceipt {
  columns: string[];
  rows: number;
  sha256: string;
}

/**
 * A run of a table's rows as their canonical backup lines: UTF-8 bytes of whole lines, each
 * `JSON.stringify(row) + "\n"` as written by the backup. The reader has counted and hashed them but
 * not parsed them (the table's checksum is checked after its last run, before the load commits).
 */
export interface RowLines {
  bytes: Uint8Array;
  /** Number of lines in `bytes`. */
  rows: number;
  /** The error to throw for the `index`-th line of this run (0-based) when it is not a valid row. */
  invalid(index: number, why: string): Error;
}

/**
 * The one definition of a valid row line: JSON text of an array of `width` values. `invalid(why)`
 * builds the error (RowLines.invalid for the line). Used by the reader and by loaders that read lines.
 */
export function parseRowLine(text: string, width: number, invalid: (why: string) => Error): EncodedRow {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch {
    throw invalid('is not valid JSON');
  }
  if (!Array.isArray(row) || row.length !== width) throw invalid(`does not have ${width} values`);
  return row as EncodedRow;
}

/**
 * The rows of a run, each parsed (parseRowLine) only when it is asked for, so a consumer that handles
 * one row at a time never holds the run's rows at once. Errors name the row's line (RowLines.invalid).
 */
export function* rowsOfRun(run: RowLines, width: number): Generator<EncodedRow> {
  const bytes = Buffer.isBuffer(run.bytes) ? run.bytes : Buffer.from(run.bytes.buffer, run.bytes.byteOffset, run.bytes.length);
  let start = 0;
  for (let i = 0; i < run.rows; i++) {
    const nl = bytes.indexOf(0x0a, start);
    yield parseRowLine(bytes.toString('utf8', start, nl), width, (why) => run.invalid(i, why));
    start = nl + 1;
  }
}

export interface TableData {
  table: TableSchema;
  rows: AsyncIterable<EncodedRow[]>;
  /**
   * Optional fast path (added for restore speed): the same rows as unparsed canonical lines. A loader
   * that can translate lines itself reads `lines` instead of `rows`; it must read exactly one of them.
   */
  lines?: AsyncIterable<RowLines>;
}

export interface LoadOptions {
  /**
   * data: the target schema already matches `schema`; replace the rows of the given tables.
   * full: drop every table/type/sequence of the target and recreate `schema` before loading.
   */
  mode: 'data' | 'full';
  /** The backup's schema. */
  schema: DbSchema;
  /** Tables to restore (data mode may restore a subset). In data mode only these are emptied. */
  tables: string[];
  /**
   * Data mode only: do not empty the tables, insert the backup's rows beside the existing ones (the
   * rows of a backup-before-delete come back; a row that already exists fails the load). Added for
   * backup-before-delete.
   */
  keepExisting?: boolean;
  /** Table sections in backup order; the loader consumes each section fully before the next. */
  data: AsyncIterable<TableData>;
  /** Called before COMMIT, inside the transaction: a last check that may throw to roll back. */
  beforeCommit?: (tx: Queryable) => Promise<void>;
  onProgress?: (table: string, rows: number) => void;
}

export interface LoadResult {
  rowsByTable: Record<string, number>;
  /** Optional: per table emptied and loaded with every column, what was written (see LoadReceipt). */
  receipts?: Record<string, LoadReceipt>;
}

/** Held until released; released automatically when the connection closes. */
export interface Lock {
  release(): Promise<void>;
}

export interface Connection extends Queryable {
  readonly dialect: Dialect;
  readonly target: DatabaseTarget;
  /** Reads the live schema (outside any snapshot). */
  introspect(): Promise<DbSchema>;
  /** Runs `fn` inside one consistent read-only snapshot of the whole database. */
  snapshot<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T>;
  /** All-or-nothing load in a single transaction; on any error nothing is changed. */
  load(options: LoadOptions): Promise<LoadResult>;
  /**
   * Takes the named lock (PostgreSQL advisory lock; SQLite lock file beside the database).
   * Waits up to `waitMs` (0: try once) then throws GuardError LOCKED naming the holder if known.
   */
  lock(name: string, waitMs?: number): Promise<Lock>;
  /**
   * The database's fingerprint (BackupSource.fingerprint), kept in the database itself outside
   * every table Prisma manages. Reads never write: null when none is stored yet. `create` stores a
   * new random one (backups do); `adopt` stores the given one when none is stored (a database
   * recreated from its own backup). Null also when it cannot be stored (read-only): the caller then
   * derives one from the location.
   */
  identity(options?: { create?: boolean; adopt?: string }): Promise<DatabaseIdentity | null>;
  /** Whether what the URL names exists: PostgreSQL its `?schema=`; SQLite the open file (always). */
  exists(): Promise<boolean>;
  close(): Promise<void>;
}

export interface Dialect {
  readonly name: DialectName;
  readonly capabilities: DialectCapabilities;
  /**
   * Opens a connection; a server that is down or a bad URL becomes GuardError DATABASE_UNREACHABLE.
   * `create`: SQLite may create a missing database file (full restore onto a lost disk).
   */
  connect(target: DatabaseTarget, options?: { create?: boolean }): Promise<Connection>;
  /** Quotes an identifier for this dialect. */
  quote(identifier: string): string;
  /**
   * The backup SQL check (added for issue 12, "a backup file is untrusted input"): classifies every
   * statement of a backup header's `schema.ddl` / `schema.postDdl` (and the SQL-bearing fields:
   * index and foreign-key definitions, column defaults, sequence values) against the statement
   * classes this dialect's introspector produces. Returns the first refusal, or null when a restore
   * may run them. Pure: no connection. Each dialect folder holds it as `<dialect>-ddl-check.ts`.
   * `partial`: the backup holds only some tables (its DDL still creates all of them), so statements
   * may name tables the header does not list; never set it for a full restore, which runs the DDL.
   */
  checkBackupSql(schema: DbSchema, options?: { partial?: boolean }): SqlRefusal | null;
}
