/**
 * The worker thread of shareTables (sqlite-digest.ts): opens the database read-only on its own
 * connection and, table after table as it claims them from the shared queue, hashes the canonical
 * lines exactly as the main thread would (streamLines, TableHasher), posting each result as it is done.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { TableSchema } from '../../core/types.ts';
import { TableHasher } from '../../format/writer.ts';
import { sqliteSnapshot } from './sqlite-dump.ts';
import type { DigestJob, DigestMessage } from './sqlite-digest.ts';

const job = workerData as DigestJob;
const post = (m: DigestMessage) => parentPort!.postMessage(m);

try {
  const db = new Database(job.file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('cache_size = -4000');
    await sqliteSnapshot(db, async (reader) => {
      for (let i = Atomics.add(job.next, 0, 1); i < job.tables.length; i = Atomics.add(job.next, 0, 1)) {
        const table: TableSchema = job.tables[i];
        // The table checksum as checksumTables computes it (TableHasher over the canonical lines).
        const hasher = new TableHasher();
        for await (const chunk of reader.canonicalLines!(table, job.order)) hasher.addLines(chunk);
        post({ table: table.name, rows: hasher.rows, sha256: hasher.digest() });
      }
    });
  } finally {
    db.close();
  }
  post({ done: true });
} catch (e) {
  post({ error: e instanceof Error ? e.message : String(e) });
}
