import type Database from 'better-sqlite3';
import { rowColumns, type TableSchema } from '../../core/types.ts';
import type { EncodedRow, RowFilter, SnapshotReader } from '../dialect.ts';
import { introspectSqlite } from './sqlite-introspector.ts';
import { shareSqliteTables } from './sqlite-digest.ts';
import { sqlLines, sqlLinesRowid } from './sqlite-lines.ts';
import { quoteSqlite } from './sqlite-quote.ts';
import { decodeSqliteValue, encodeSqliteValue, sqliteLine } from './sqlite-values.ts';

/**
 * ORDER BY that makes row order canonical: the hidden rowid when rows carry it (TableSchema.rowid:
 * unique, and the table's own order, so a backup reads and a restore writes the table front to back
 * and the proof's stored-order read is already canonical); else the primary key, else every column.
 */
export function canonicalOrder(table: TableSchema): string {
  if (table.rowid) return quoteSqlite(table.rowid);
  const cols = table.primaryKey.length ? table.primaryKey : table.columns.map((c) => c.name);
  return cols.map(quoteSqlite).join(', ');
}

/** The SELECT list of a table's row values (rowColumns: the columns, then the hidden rowid if kept). */
function selectList(table: TableSchema): string {
  return rowColumns(table)
    .map((c) => quoteSqlite(c.name))
    .join(', ');
}

/**
 * Runs `fn` inside one read transaction: every table is read from the same database state while
 * other connections keep writing (in WAL mode they are not blocked; in rollback-journal mode they
 * wait for the snapshot to end).
 */
export async function sqliteSnapshot<T>(db: Database.Database, fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
  db.exec('BEGIN DEFERRED');
  try {
    // The first read starts the read transaction; everything after sees that state.
    const schema = introspectSqlite(db);
    const reader: SnapshotReader = {
      schema,
      count: async (table) => Number((db.prepare(`SELECT count(*) AS n FROM ${quoteSqlite(table.name)}`).get() as { n: number }).n),
      rows: (table, batchSize = 1000) => streamRows(db, table, batchSize),
      rowsWhere: (table, filter, batchSize = 1000) => streamRowsWhere(db, table, filter, batchSize),
      canonicalLines: (table, order = 'canonical') => streamLines(db, table, order),
      shareTables: (tables, order, rows) => (db.memory ? undefined : shareSqliteTables(db.name, tables, order, rows)),
    };
    const result = await fn(reader);
    db.exec('COMMIT');
    return result;
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

/** Bound parameters per statement, well below SQLite's default limit of 32766. */
const MAX_FILTER_PARAMS = 30_000;

/** Rows matching a filter, in chunks of at most MAX_FILTER_PARAMS bound values (canonical order within a chunk). */
async function* streamRowsWhere(db: Database.Database, table: TableSchema, filter: RowFilter, batchSize: number): AsyncGenerator<EncodedRow[]> {
  const width = filter.columns.length;
  if (width === 0) throw new Error('rowsWhere needs at least one column');
  const per = Math.max(1, Math.floor(MAX_FILTER_PARAMS / width));
  const target = width === 1 ? quoteSqlite(filter.columns[0]) : `(${filter.columns.map(quoteSqlite).join(', ')})`;
  const tuple = width === 1 ? '?' : `(${filter.columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < filter.values.length; i += per) {
    const chunk = filter.values.slice(i, i + per);
    const list = width === 1 ? chunk.map(() => tuple).join(', ') : `VALUES ${chunk.map(() => tuple).join(', ')}`;
    const params = chunk.flat().map((v) => (typeof v === 'bigint' ? v : decodeSqliteValue(v)));
    yield* streamRows(db, table, batchSize, `WHERE ${target} IN (${list})`, params);
  }
}

/** Bytes of lines gathered before a chunk is handed out. */
const LINES_CHUNK = 256 * 1024;

/**
 * The canonical lines of a table (SnapshotReader.canonicalLines): each row encoded and turned into
 * its line as it comes from SQLite, into one reused buffer, so that no batch of row objects or
 * strings outlives its row. Stored order is the table b-tree's (rowid, or the primary key of a
 * WITHOUT ROWID table), never a covering index's: NOT INDEXED.
 */
async function* streamLines(db: Database.Database, table: TableSchema, order: 'canonical' | 'stored'): AsyncGenerator<Uint8Array> {
  // A rowid-ordered table (the common case: Int ids, kept rowids): SQLite builds the lines itself,
  // the same bytes (tests/dialects/sqlite-lines.test.ts).
  const rowid = sqlLinesRowid(db, table);
  if (rowid) yield* sqlLines(db, table, rowid);
  else yield* jsLines(db, table, order);
}

/** streamLines in JavaScript: each row read and turned into its line (sqliteLine). */
export async function* jsLines(db: Database.Database, table: TableSchema, order: 'canonical' | 'stored'): AsyncGenerator<Uint8Array> {
  const cols = selectList(table);
  const from = quoteSqlite(table.name);
  const sql = order === 'stored' ? `SELECT ${cols} FROM ${from} NOT INDEXED` : `SELECT ${cols} FROM ${from} ORDER BY ${canonicalOrder(table)}`;
  const it = db.prepare(sql).raw(true).safeIntegers(true).iterate() as IterableIterator<unknown[]>;
  const row: EncodedRow = new Array(rowColumns(table).length);
  let buf = Buffer.allocUnsafe(LINES_CHUNK);
  let o = 0;
  try {
    for (const raw of it) {
      const line = sqliteLine(raw, row); // the canonical line (SnapshotReader.canonicalLines)
      const most = line.length * 3 + 1; // UTF-8 bytes at most, and the newline
      if (o + most > buf.length) {
        if (o > 0) {
          yield buf.subarray(0, o); // valid until the consumer asks for more: the buffer is reused
          o = 0;
        }
        if (most > buf.length) buf = Buffer.allocUnsafe(most);
      }
      o += buf.write(line, o);
      buf[o++] = 0x0a;
    }
    if (o > 0) yield buf.subarray(0, o);
  } finally {
    it.return?.();
  }
}

async function* streamRows(db: Database.Database, table: TableSchema, batchSize: number, where = '', params: unknown[] = []): AsyncGenerator<EncodedRow[]> {
  const cols = selectList(table);
  const stmt = db.prepare(`SELECT ${cols} FROM ${quoteSqlite(table.name)} ${where} ORDER BY ${canonicalOrder(table)}`).raw(true).safeIntegers(true);
  const it = stmt.iterate(...params) as IterableIterator<unknown[]>;
  try {
    let batch: EncodedRow[] = [];
    for (const raw of it) {
      const row = new Array(raw.length) as EncodedRow;
      for (let i = 0; i < raw.length; i++) row[i] = encodeSqliteValue(raw[i]);
      batch.push(row);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  } finally {
    it.return?.();
  }
}
