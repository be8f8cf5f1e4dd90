import { GuardError } from '../core/errors.ts';
import type { DbSchema, Queryable, TableSchema } from '../core/types.ts';
import { isUtf8 } from 'node:buffer';
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
 * What migrate-safe's risk rules (lib/guard/rules.ts) need to know about a database, so that no
 * rule tests a dialect name. Added for issue 18.
 */
export interface RiskTraits {
  /** Identifiers longer than this many bytes are silently truncated (PostgreSQL: 63); null: no such limit. */
  maxIdentifierBytes: number | null;
  /**
   * DDL takes table locks that stop reads and writes while a table is scanned, rewritten or
   * indexed, so the locking rules apply (PostgreSQL). SQLite locks the whole file for any write anyway.
   */
  tableLocks: boolean;
}

/** One read-only query of a risk measurement (see RiskProbes). */
export type ProbeQuery = <T>(sql: string) => Promise<T[]>;

/** A column type change to measure: `table` qualified and `column` quoted for SQL, types as written. */
export interface CastProbe {
  table: string;
  column: string;
  fromType: string;
  toType: string;
  /** PostgreSQL's USING expression, as written. */
  using?: string;
}

/** What a type change does to a column's non-null values, counted in one scan. */
export interface CastCount {
  /** Values whose conversion fails (then the statement fails), or else values it changes (rounded, cut). */
  value: number;
  /** `value` is only a lower bound (the conversion was tried once and failed). */
  lowerBound?: boolean;
  detail?: string;
  /** The statement fails on any data, even an empty table (e.g. no automatic cast without USING). */
  alwaysFails?: string;
}

/**
 * The read-only SQL of migrate-safe's measurements that differs between databases (added for
 * issue 18; lib/guard/measure.ts holds the SQL both accept). Nothing here may write.
 */
export interface RiskProbes {
  /**
   * The SQL reference of the table (or sequence, materialized view) keyed `key` in `schema`: its
   * real schema and name, each quoted (PostgreSQL `"b"."User"` for the key `b.User` of a DbSchema of
   * several schemas, `"public"."User"` for one), never the key as one identifier.
   */
  tableRef(schema: Pick<DbSchema, 'namespace' | 'namespaces'>, key: string): string;
  /** Runs `fn` inside one read-only snapshot; a query that fails must not end it (PostgreSQL: a savepoint each). */
  readOnly<T>(q: Queryable, fn: (query: ProbeQuery) => Promise<T>): Promise<T>;
  /** Bytes a table takes with its indexes (null: the database does not say cheaply). */
  tableBytes(query: ProbeQuery, table: string): Promise<number | null>;
  /** The tables and materialized views of a schema (qualified) and its number of objects; null when it does not exist or schemas do not. */
  schemaContents(query: ProbeQuery, schema: string): Promise<{ relations: string[]; objects: number } | null>;
  /** The last value a sequence handed out (null: none yet, or no sequences). */
  sequenceLastValue(query: ProbeQuery, sequence: string): Promise<string | null>;
  /** One scan of the column: values whose conversion fails, or (when none does) changes. */
  cast(query: ProbeQuery, c: CastProbe): Promise<CastCount>;
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
  /**
   * Optional (SQLite, added for the restore proof): shares the reading of `tables` (biggest first)
   * with a second thread on its own read-only connection, which digests the canonical lines (as
   * canonicalLines in `order` yields them) of each table it takes while the caller reads the ones it
   * takes. That connection sees the database as committed when it reads, not this snapshot: for the
   * proof after a restore's COMMIT only. `rows`: how many rows in all (a thread is not worth it for
   * a few). Undefined when no second thread can be used.
   */
  shareTables?(tables: TableSchema[], order: 'canonical' | 'stored', rows: number): SharedTables | undefined;
}

/** Tables shared out by SnapshotReader.shareTables: both sides take the next table from one queue. */
export interface SharedTables {
  /** The next table for the caller to read, or undefined once every table is taken. */
  take(): TableSchema | undefined;
  /** The other thread's digests (count and SHA-256 of the canonical lines) of every table it took. */
  theirs: Promise<Record<string, { rows: number; sha256: string }>>;
  /** Ends the other thread now (the caller failed). */
  stop(): Promise<void>;
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
 * Part of one row line too long to hand out whole (longer than the reader's LONG_LINE_BYTES: one
 * large value), in order: `first` opens the line, `last` ends with its "\n". The reader has hashed
 * and counted these bytes like any row line; the table's checksum is checked after its last run.
 * `bytes` is valid until the next item is asked for.
 */
export interface RowLinePiece {
  readonly piece: true;
  bytes: Buffer;
  first: boolean;
  last: boolean;
  /** The error to throw when the line is not a valid row. */
  invalid(why: string): Error;
}

/** What TableData.pieces yields: runs of whole lines, and long lines in pieces. */
export type RowLineItem = RowLines | RowLinePiece;

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

/** A token CanonicalRules.plain lets through on its bytes alone (bits, per column). */
export const PLAIN_NULL = 1;
/** `true` / `false`. */
export const PLAIN_BOOLEAN = 2;
/** An integer -?(0|[1-9][0-9]*) of at most CanonicalRules.intDigits digits, never `-0`. */
export const PLAIN_INT = 4;
/**
 * Any string, escaped exactly as JSON.stringify escapes it, whatever its content. Whether a string
 * is valid in such a column depends on each of its characters alone (never on the whole text), so
 * a long string can be judged as it streams past (LongLineCheck, lib/dialects/long-line.ts).
 */
export const PLAIN_STRING = 8;
/** A string without escapes whose first character is not a space, sign, dot or digit (or that is empty). */
export const PLAIN_WORD = 16;
/** A string without escapes that CanonicalRules.plainText accepts. */
export const PLAIN_TEXT = 32;
/** A finite number that is not an integer, written as JSON.stringify writes it. */
export const PLAIN_REAL = 64;

/**
 * What a dialect's dumper writes into a table's row lines, for the canonical check
 * (checkCanonicalRun): a line is valid only if it is exactly the bytes the dumper would write for
 * the values it parses to. The restore's proof recomputes each table's checksum from the rows as
 * the database stores them, so a row line the dumper could not have written (`45.0`, `true` for
 * an integer, an escaped emoji, a space) would load, commit, and then fail the proof.
 */
export interface CanonicalRules {
  /** Column names, for messages. */
  readonly columns: readonly string[];
  /** Per column, the PLAIN_* tokens that are canonical on their bytes alone (the fast path). */
  readonly plain: Uint8Array;
  /** Per column, the most digits a PLAIN_INT token may have. */
  readonly intDigits: Uint8Array;
  /**
   * Optional, per column: 1 when a string is canonical exactly when it is `\\x` followed by pairs of
   * lower-case hex digits (a PostgreSQL bytea), so a long one is checked as it streams past.
   */
  readonly hexText?: Uint8Array;
  /** For PLAIN_TEXT columns: whether the raw text of a string without escapes is canonical. */
  plainText?(index: number, text: string): boolean;
  /**
   * Why `value` (parsed from a line already known to be exactly JSON.stringify of its row) is not
   * what the dumper writes for column `index`, or null when it is. Must agree with `plain`.
   */
  valueError(value: EncodedValue, index: number): string | null;
}

const NL = 0x0a;

/**
 * The canonical check of a run of row lines (see CanonicalRules); throws `run.invalid` naming the
 * line, the column and what is wrong. Lines made only of tokens `rules.plain` allows are decided on
 * their bytes (with one UTF-8 validation of the whole run); the others are parsed, printed again
 * with JSON.stringify and compared, and each value is judged by `rules.valueError`.
 */
export function checkCanonicalRun(run: RowLines, rules: CanonicalRules): void {
  const bytes = asBuffer(run.bytes);
  const utf8 = isUtf8(bytes);
  let start = 0;
  for (let i = 0; i < run.rows; i++) {
    const nl = bytes.indexOf(NL, start);
    if (!utf8 || !isPlainCanonical(bytes, start, nl, rules)) checkCanonicalLine(bytes, start, nl, rules, (why) => run.invalid(i, why));
    start = nl + 1;
  }
}

/**
 * The canonical check of one line, bytes[start..end) without its newline, the whole way (UTF-8,
 * JSON.parse, JSON.stringify, the values): for a line the byte-level fast path did not decide.
 * Throws `invalid(why)`. Exported for loaders that decide the common lines in their own pass over
 * the bytes (JsonLinesToCopy.convertCanonical) and must judge the others exactly as checkCanonicalRun does.
 */
export function checkCanonicalLine(bytes: Buffer, start: number, end: number, rules: CanonicalRules, invalid: (why: string) => Error): void {
  // Decoding would turn bytes that are not UTF-8 into U+FFFD, which JSON.stringify prints back.
  if (!isUtf8(bytes.subarray(start, end))) throw invalid('is not valid UTF-8 text');
  const text = bytes.toString('utf8', start, end);
  const why = canonicalLineError(text, parseRowLine(text, rules.columns.length, invalid), rules);
  if (why) throw invalid(why);
}

/** Why a parsed row is not canonical (value by value; no bytes to compare), or null. For loaders fed rows. */
export function canonicalRowError(row: EncodedRow, rules: CanonicalRules): string | null {
  if (!Array.isArray(row) || row.length !== rules.columns.length) return `does not have ${rules.columns.length} values`;
  for (let c = 0; c < row.length; c++) {
    const why = rules.valueError(row[c], c);
    if (why) return `has a value for column "${rules.columns[c]}" that ${why}`;
  }
  return null;
}

/** Why `text` (which parses to `row`) is not the canonical line of `row`, or null. */
function canonicalLineError(text: string, row: EncodedRow, rules: CanonicalRules): string | null {
  const canonical = JSON.stringify(row);
  if (canonical !== text) {
    // Locate the first value whose text differs: the lines agree up to its start.
    let at = 0;
    while (at < text.length && text.charCodeAt(at) === canonical.charCodeAt(at)) at++;
    let c = 0;
    let end = 1;
    for (; c < row.length; c++) {
      const next = end + JSON.stringify(row[c]).length + 1;
      if (next > at) break;
      end = next;
    }
    if (c >= row.length) return 'is not written the way the backup writes rows (extra characters after the last value)';
    const found = text.slice(end, valueEnd(text, end));
    const expected = JSON.stringify(row[c]);
    return `has a value for column "${rules.columns[c]}" written ${clip(found)} where the backup writes ${clip(expected)} (not the canonical form: a changed or hand-edited row)`;
  }
  return canonicalRowError(row, rules);
}

/** End of the JSON value (with surrounding spaces) that starts at `i`: the next top-level `,` or `]`. */
function valueEnd(text: string, i: number): number {
  let depth = 0;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (ch === '[' || ch === '{') depth++;
    else if ((ch === ']' || ch === '}') && depth > 0) depth--;
    else if ((ch === ',' || ch === ']') && depth === 0) return i;
  }
  return text.length;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `s` holds a UTF-16 surrogate without its pair (text no database stores: not Unicode). */
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

function clip(s: string): string {
  return '`' + (s.length > 60 ? s.slice(0, 57) + '...' : s) + '`';
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

/** Whether b[start..end) is `[v,...]` with one token per column, each one `rules.plain` lets through. */
function isPlainCanonical(b: Buffer, start: number, end: number, rules: CanonicalRules): boolean {
  const width = rules.columns.length;
  const plain = rules.plain;
  if (b[start] !== 0x5b || b[end - 1] !== 0x5d || end - start < 3) return false;
  let i = start + 1;
  for (let col = 0; ; col++) {
    if (col >= width) return false;
    const allowed = plain[col];
    const c = b[i];
    if (c === 0x22) {
      if ((allowed & PLAIN_STRING) === 0) {
        if ((allowed & (PLAIN_WORD | PLAIN_TEXT)) === 0) return false;
        const f = b[i + 1];
        if ((allowed & PLAIN_WORD) !== 0 && (f === 0x20 || f === 0x2b || f === 0x2d || f === 0x2e || (f >= 0x30 && f <= 0x39))) return false;
      }
      const from = i + 1;
      // Any string goes in a PLAIN_STRING column, escaped exactly as JSON.stringify escapes it.
      const escapes = (allowed & PLAIN_STRING) !== 0;
      for (i++; i < end; i++) {
        const x = b[i];
        if (x === 0x22 || x < 0x20) break;
        if (x === 0x5c) {
          const e = b[i + 1];
          if (!escapes) break;
          if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
            i++;
            continue;
          }
          // \u00xx only for the control characters without a short form; \u0000 goes the slow way.
          if (e !== 0x75 || b[i + 2] !== 0x30 || b[i + 3] !== 0x30) break;
          const h = b[i + 4];
          const l = b[i + 5];
          if ((h !== 0x30 && h !== 0x31) || !((l >= 0x30 && l <= 0x39) || (l >= 0x61 && l <= 0x66))) break;
          if (h === 0x30 && (l === 0x30 || l === 0x38 || l === 0x39 || l === 0x61 || l === 0x63 || l === 0x64)) break;
          i += 5;
        }
      }
      if (b[i] !== 0x22) return false;
      if ((allowed & PLAIN_TEXT) !== 0 && !rules.plainText!(col, b.toString('latin1', from, i))) return false;
      i++;
    } else if (c === 0x6e) {
      if ((allowed & PLAIN_NULL) === 0 || b[i + 1] !== 0x75 || b[i + 2] !== 0x6c || b[i + 3] !== 0x6c) return false;
      i += 4;
    } else if (c === 0x74) {
      if ((allowed & PLAIN_BOOLEAN) === 0 || b[i + 1] !== 0x72 || b[i + 2] !== 0x75 || b[i + 3] !== 0x65) return false;
      i += 4;
    } else if (c === 0x66) {
      if ((allowed & PLAIN_BOOLEAN) === 0 || b[i + 1] !== 0x61 || b[i + 2] !== 0x6c || b[i + 3] !== 0x73 || b[i + 4] !== 0x65) return false;
      i += 5;
    } else {
      const s = i;
      if (b[i] === 0x2d) i++;
      const d = i;
      while (b[i] >= 0x30 && b[i] <= 0x39) i++;
      const digits = i - d;
      const t = b[i];
      if (t === 0x2e || t === 0x65 || t === 0x45) {
        // A real: canonical when it is what String() prints for the number it denotes.
        if ((allowed & PLAIN_REAL) === 0) return false;
        while ((b[i] >= 0x30 && b[i] <= 0x39) || b[i] === 0x2e || b[i] === 0x65 || b[i] === 0x45 || b[i] === 0x2b || b[i] === 0x2d) i++;
        const text = b.toString('latin1', s, i);
        const x = Number(text);
        if (Number.isInteger(x) || !Number.isFinite(x) || String(x) !== text) return false;
      } else {
        if ((allowed & PLAIN_INT) === 0) return false;
        if (digits === 0 || digits > rules.intDigits[col] || (b[d] === 0x30 && (digits > 1 || d > s))) return false;
      }
    }
    const sep = b[i];
    if (sep === 0x2c) {
      i++;
      continue;
    }
    return sep === 0x5d && i === end - 1 && col + 1 === width;
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
  /**
   * Optional (added for one large value): the same as `lines`, except that a line too long to hold
   * whole comes as RowLinePiece items, so memory stays bounded by a piece. Read exactly one of
   * `rows`, `lines` and `pieces`.
   */
  pieces?: AsyncIterable<RowLineItem>;
}

export interface LoadOptions {
  /**
   * data: the target schema already matches `schema`; replace the rows of the given tables.
   * full: drop every table/type/sequence of the target and recreate `schema` before loading.
   */
  mode: 'data' | 'full';
  /**
   * Full mode, DDL with owners and grants (PostgreSQL pg_dump DDL): skip the ownership statements
   * (the restoring role owns everything) and/or the GRANT/REVOKE statements, as pg_restore's
   * --no-owner / --no-privileges do. The proof then leaves owners / privileges out.
   */
  noOwner?: boolean;
  noPrivileges?: boolean;
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

export interface SnapshotOptions {
  /**
   * Read everything a full restore needs to recreate the schema exactly, in the same snapshot
   * (PostgreSQL: pg_dump's DDL and the object catalog, see postgres-schema-dump.ts). Backups ask for
   * it; diff, check and proofs do not need it.
   */
  fullSchema?: boolean;
}

export interface Connection extends Queryable {
  readonly dialect: Dialect;
  readonly target: DatabaseTarget;
  /** Reads the live schema (outside any snapshot). */
  introspect(): Promise<DbSchema>;
  /** Runs `fn` inside one consistent read-only snapshot of the whole database. */
  snapshot<T>(fn: (reader: SnapshotReader) => Promise<T>, options?: SnapshotOptions): Promise<T>;
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
  /** migrate-safe's risk rules: see RiskTraits. */
  readonly riskTraits: RiskTraits;
  /** migrate-safe's measurements: see RiskProbes. */
  readonly riskProbes: RiskProbes;
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
  /**
   * The stored code a full restore of `schema` would create (PostgreSQL: functions, procedures and
   * aggregates in pg_dump DDL), named. Code runs later as whoever calls it, so a restore creates it
   * only from a backup whose signature verifies or when told to (--allow-code). Pure: read from the
   * DDL itself, never from a list the header could leave out.
   */
  definedCode(schema: DbSchema): string[];
  /**
   * Restore drills: a scratch target beside `source` that nothing else uses (PostgreSQL: a new
   * database `prisma_guard_drill_<id>` on the same server; SQLite: a file in a new temp folder),
   * named with `id`. The restore creates it; `dropScratch` removes it (safe to call twice, and for
   * a scratch target left by a killed drill).
   */
  scratchTarget(source: DatabaseTarget, id: string): DatabaseTarget;
  dropScratch(target: DatabaseTarget): Promise<void>;
}

/** Every scratch target's name starts with this: a drill cleans up only what it made. */
export const SCRATCH_PREFIX = 'prisma_guard_drill_';

/**
 * The refusal of a full restore whose backup records objects its DDL cannot recreate
 * (DbSchema.unreproducible): raised before anything changes.
 */
export function unreproducibleError(file: string, lost: { kind: string; name: string; why: string }[]): GuardError {
  return new GuardError(
    'FULL_RESTORE_INCOMPLETE',
    `A full restore of ${file} would lose ${lost.length} object(s) its DDL cannot recreate: ${lost
      .slice(0, 10)
      .map((u) => `${u.kind} ${u.name} (${u.why})`)
      .join('; ')}${lost.length > 10 ? `; and ${lost.length - 10} more` : ''}. Nothing was changed.`,
    {
      hint: 'Restore the rows only (--mode data) into a schema made by `prisma migrate deploy` or by pg_dump, or take a new backup on a machine with a pg_dump at least as new as the server (the backup then records every object).',
      details: { unreproducible: lost },
    },
  );
}
