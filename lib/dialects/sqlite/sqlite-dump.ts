import type Database from 'better-sqlite3';
import type { TableSchema } from '../../core/types.ts';
import type { EncodedRow, SnapshotReader } from '../dialect.ts';
import { introspectSqlite } from './sqlite-introspector.ts';
import { quoteSqlite } from './sqlite-quote.ts';
import { encodeSqliteValue } from './sqlite-values.ts';

/** ORDER BY that makes row order canonical: the primary key, else every column. */
export function canonicalOrder(table: TableSchema): string {
  const cols = table.primaryKey.length ? table.primaryKey : table.columns.map((c) => c.name);
  return cols.map(quoteSqlite).join(', ');
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
    };
    const result = await fn(reader);
    db.exec('COMMIT');
    return result;
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

async function* streamRows(db: Database.Database, table: TableSchema, batchSize: number): AsyncGenerator<EncodedRow[]> {
  const cols = table.columns.map((c) => quoteSqlite(c.name)).join(', ');
  const stmt = db.prepare(`SELECT ${cols} FROM ${quoteSqlite(table.name)} ORDER BY ${canonicalOrder(table)}`).raw(true).safeIntegers(true);
  const it = stmt.iterate() as IterableIterator<unknown[]>;
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
