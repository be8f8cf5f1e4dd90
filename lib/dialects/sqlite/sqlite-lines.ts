import type Database from 'better-sqlite3';
import { rowColumns, type TableSchema } from '../../core/types.ts';
import { integerPrimaryKey } from './sqlite-introspector.ts';
import { quoteSqlite } from './sqlite-quote.ts';
import { encodeSqliteValue, sqliteLine } from './sqlite-values.ts';

/**
 * The canonical lines of a rowid-ordered table written by SQLite itself: each row's line built by a
 * SQL expression (`'[' || ... || ']'`), a chunk of rows joined into one string by group_concat, so
 * that JavaScript sees no row and no value, only the finished text of a chunk (scale 0.5, `Comment`,
 * 500k rows: 2.0 s of CPU to build the lines in JavaScript, 0.8-1.0 s this way).
 *
 * Exactly the bytes of the JavaScript path (`JSON.stringify` of encodeSqliteValue's values):
 * - an INTEGER is its decimal digits inside +-(2^53 - 1), else `{"$int":"<digits>"}`; NULL is `null`;
 * - TEXT is `json_quote`, which escapes what JSON.stringify escapes (`"`, `\`, the C0 controls, with
 *   the same short forms and lowercase hex), checked against JSON.stringify once per connection on
 *   every ASCII character and a set of others (sqlLinesWork); a chunk holding U+FFFD (text that is
 *   not UTF-8 reads as that) is built the JavaScript way;
 * - a REAL or a BLOB leaves one 0x00 byte in the line (json_quote escapes a NUL in text, so a raw
 *   0x00 byte is never anything else), and the chunk's REAL and BLOB values, read as values, are
 *   encoded in JavaScript and put in their place: the formatting of a floating point number is
 *   never SQLite's.
 * Used only where the canonical order is the rowid's (TableSchema.rowid, or an INTEGER PRIMARY KEY
 * that aliases it) in a UTF-8 database: chunks are rowid ranges, read in key order; in such a table
 * stored order and canonical order are one.
 */

/**
 * Columns at most: a line is one expression whose depth grows with the columns (two `||` each), and
 * SQLite refuses an expression deeper than 1000 (SQLITE_MAX_EXPR_DEPTH; about 490 columns). A
 * wider table takes the JavaScript path.
 */
const MAX_COLUMNS = 400;

/** Rows per chunk, at most. */
const CHUNK_ROWS = 1000;
/** Bytes of stored values per chunk, at most (a chunk of one row may hold more). */
const CHUNK_BYTES = 96 * 1024;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The rowid expression to read `table` by in chunks, or undefined when the fast path does not apply
 * (another order, a WITHOUT ROWID table, a database in UTF-16, an SQLite without what it needs).
 */
export function sqlLinesRowid(db: Database.Database, table: TableSchema): string | undefined {
  if (!sqlLinesWork(db) || rowColumns(table).length > MAX_COLUMNS) return undefined;
  if (table.rowid) {
    // A kept rowid, of a table that has rowids, read by a name no column shadows (introspectSqlite):
    // checked again here, as a range over a column's values could pass over rows.
    const info = db.prepare(`SELECT type, wr FROM pragma_table_list(?) WHERE schema = 'main'`).get(table.name) as { type: string; wr: number } | undefined;
    if (!info || info.type !== 'table' || info.wr === 1) return undefined;
    return db.prepare(`SELECT 1 FROM pragma_table_xinfo(?, 'main') WHERE lower(name) = lower(?)`).get(table.name, table.rowid) ? undefined : table.rowid;
  }
  // Else the one primary key column, when it is the rowid's alias.
  const id = table.primaryKey.length === 1 ? integerPrimaryKey(db, table.name) : undefined;
  return id !== undefined && id === table.primaryKey[0] ? id : undefined;
}

const working = new WeakMap<Database.Database, boolean>();

/** Strings whose JSON the probe compares: every ASCII character, and some that JSON.stringify leaves as they are. */
const PROBES = [...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)), 'a\u0000b', '\u00e9', '\u20ac', '\u2028\u2029', '\ufeff', '\ufffd', '\u{1f600}', '\u07ff\u0800\uffff\u{10000}\u{10ffff}', ''];

/**
 * Whether this connection's SQLite builds lines as JavaScript does: a UTF-8 database, the functions
 * used (octet_length: 3.43; an aggregate's ORDER BY: 3.44), and json_quote giving JSON.stringify's
 * bytes on the probes. Asked once
 * per connection; false sends every table to the JavaScript path.
 */
export function sqlLinesWork(db: Database.Database): boolean {
  let ok = working.get(db);
  if (ok !== undefined) return ok;
  try {
    const encoding = db.pragma('encoding', { simple: true }) as string;
    const quoted = db.prepare(`SELECT CAST(json_quote(value) AS BLOB) AS q, octet_length(value) AS n FROM json_each(?) ORDER BY key`).raw(true).all(JSON.stringify(PROBES)) as [Buffer, number][];
    // An aggregate's own ORDER BY (3.44): the order of a chunk's lines.
    const ordered = db.prepare(`SELECT group_concat(value, '' ORDER BY key DESC) FROM json_each('["b","a"]')`).pluck().get();
    ok = encoding === 'UTF-8' && ordered === 'ab' && quoted.length === PROBES.length && quoted.every(([q, n], i) => q.equals(Buffer.from(JSON.stringify(PROBES[i]))) && n === Buffer.byteLength(PROBES[i]));
  } catch {
    ok = false;
  }
  working.set(db, ok);
  return ok;
}

/** The SQL of one value as its canonical JSON (see above), or a 0x00 byte for a REAL or a BLOB. */
function valueSql(column: string): string {
  const c = quoteSqlite(column);
  return `CASE typeof(${c}) WHEN 'integer' THEN CASE WHEN ${c} BETWEEN -9007199254740991 AND 9007199254740991 THEN CAST(${c} AS TEXT) ELSE '{"$int":"' || CAST(${c} AS TEXT) || '"}' END WHEN 'text' THEN json_quote(${c}) WHEN 'null' THEN 'null' ELSE char(0) END`;
}

/**
 * The table's canonical lines, chunk by chunk, built by SQLite (see above). A chunk is whole lines
 * in a buffer that is reused: valid until the consumer asks for the next (as in streamLines).
 * SQLite hands a chunk over as a string, not a BLOB: a string is garbage the young generation
 * collects at once, where a fresh Buffer per chunk is memory outside the heap that piles up until a
 * full collection (scale 0.5 backup: 110-120 MB peak RSS that way, 85 MB this way, for 3% more CPU).
 */
export async function* sqlLines(db: Database.Database, table: TableSchema, rowid: string): AsyncGenerator<Uint8Array> {
  const columns = rowColumns(table).map((c) => c.name);
  const from = quoteSqlite(table.name);
  const r = quoteSqlite(rowid);
  const line = `'[' || ${columns.map(valueSql).join(` || ',' || `)} || ']' || char(10)`;
  const size = columns.map((c) => `coalesce(octet_length(${quoteSqlite(c)}), 0)`).join(' + ');
  // The next chunk: from rowid `from` on, at most `limit` rows and CHUNK_BYTES of stored values (one row at least).
  const nextRange = db.prepare(`SELECT max(r) AS last, count(*) AS n, sum(s) AS bytes FROM (SELECT ${r} AS r, ${size} AS s FROM ${from} WHERE ${r} >= ? ORDER BY ${r} LIMIT ?)`).safeIntegers(true);
  const inRange = `${r} >= ? AND ${r} <= ?`;
  const chunkLines = db.prepare(`SELECT group_concat(l, '' ORDER BY r) AS lines, count(*) AS n FROM (SELECT ${line} AS l, ${r} AS r FROM ${from} WHERE ${inRange} ORDER BY ${r})`).safeIntegers(true);
  const quoted = columns.map(quoteSqlite);
  const hardValues = db.prepare(`SELECT ${quoted.map((c) => `CASE WHEN typeof(${c}) IN ('real', 'blob') THEN ${c} END`).join(', ')} FROM ${from} WHERE ${inRange} AND (${quoted.map((c) => `typeof(${c}) IN ('real', 'blob')`).join(' OR ')}) ORDER BY ${r}`).raw(true).safeIntegers(true);
  let plainRows: Database.Statement | undefined;
  let buf = Buffer.allocUnsafe(1 << 20);
  const spliced = { buf: Buffer.allocUnsafe(1 << 20) };

  let start: bigint = INT64_MIN;
  let limit = CHUNK_ROWS;
  for (;;) {
    const range = nextRange.get(start, limit) as { last: bigint | null; n: bigint; bytes: bigint | null };
    if (range.n === 0n || range.last === null) return;
    const n = Number(range.n);
    const bytes = Number(range.bytes ?? 0n);
    // The next limit from these rows' size: as many rows as CHUNK_BYTES holds, at most CHUNK_ROWS.
    const fits = Math.max(1, Math.min(CHUNK_ROWS, Math.floor((n * CHUNK_BYTES) / Math.max(1, bytes))));
    if (n > 1 && bytes > CHUNK_BYTES) {
      limit = Math.min(fits, n - 1);
      continue;
    }
    const got = chunkLines.get(start, range.last) as { lines: string | null; n: bigint };
    if (got.n !== range.n || got.lines === null) throw changed(table.name);
    const text = got.lines;
    if (text.includes('\ufffd')) {
      // A replacement character: text that is not UTF-8 (which reading it as a string replaced), or
      // one stored as such. Built the JavaScript way, which reads each value as the other path does.
      plainRows ??= db.prepare(`SELECT ${quoted.join(', ')} FROM ${from} WHERE ${inRange} ORDER BY ${r}`).raw(true).safeIntegers(true);
      yield linesInJs(plainRows.iterate(start, range.last) as IterableIterator<unknown[]>);
    } else {
      if (text.length * 3 > buf.length) buf = Buffer.allocUnsafe(text.length * 3); // UTF-8 bytes at most
      const lines = buf.subarray(0, buf.write(text, 0));
      yield text.includes('\u0000') ? withHardValues(lines, hardValues.iterate(start, range.last) as IterableIterator<unknown[]>, table.name, spliced) : lines;
    }
    if (range.last === INT64_MAX) return;
    start = range.last + 1n;
    limit = fits;
  }
}

function changed(table: string): Error {
  return new Error(`table "${table}" changed inside the read transaction`);
}

/** `lines` with each 0x00 byte replaced by the JSON of the next REAL or BLOB value, in row then column order. */
function withHardValues(lines: Buffer, rows: IterableIterator<unknown[]>, table: string, into: { buf: Buffer }): Buffer {
  // The values' JSON is ASCII (numbers, `{"$real":...}`, base64): one byte per character.
  const values: string[] = [];
  let size = 0;
  for (const row of rows) {
    for (const v of row) {
      if (v === null) continue;
      const json = JSON.stringify(encodeSqliteValue(v));
      values.push(json);
      size += json.length - 1;
    }
  }
  if (into.buf.length < lines.length + size) into.buf = Buffer.allocUnsafe(lines.length + size);
  const out = into.buf;
  let o = 0;
  let from = 0;
  for (const json of values) {
    const at = lines.indexOf(0, from);
    if (at === -1) throw changed(table);
    o += lines.copy(out, o, from, at);
    o += out.write(json, o, 'latin1');
    from = at + 1;
  }
  if (lines.indexOf(0, from) !== -1) throw changed(table);
  o += lines.copy(out, o, from);
  return out.subarray(0, o);
}

/** The JavaScript path's lines of some rows (sqliteLine, as jsLines in sqlite-dump.ts builds them). */
function linesInJs(rows: IterableIterator<unknown[]>): Buffer {
  const out: string[] = [];
  for (const raw of rows) out.push(sqliteLine(raw) + '\n');
  return Buffer.from(out.join(''));
}
