import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TableSchema } from '../../core/types.ts';
import type { SharedTables } from '../dialect.ts';

/** What the worker is given (sqlite-digest-worker.ts). */
export interface DigestJob {
  file: string;
  tables: TableSchema[];
  order: 'canonical' | 'stored';
  /** Int32Array over a SharedArrayBuffer: the index of the next table to claim, for both threads. */
  next: Int32Array;
}

export type DigestMessage = { table: string; rows: number; sha256: string } | { done: true } | { error: string };

/** Below this many rows in all, a worker's start (tens of milliseconds) is not worth it. */
const WORKER_ROWS = 50_000;

/**
 * SnapshotReader.shareTables for SQLite: a worker thread with its own read-only connection to
 * `file` digests the tables it claims while the caller reads the others, both taking the next table
 * from one queue (give the biggest first). Undefined where no worker can run: too few rows, or
 * these sources run untranslated (tsx, the tests' in-process imports), where the worker's compiled
 * file does not exist.
 */
export function shareSqliteTables(file: string, tables: TableSchema[], order: 'canonical' | 'stored', rows: number): SharedTables | undefined {
  const script = new URL('./sqlite-digest-worker.js', import.meta.url);
  if (tables.length < 2 || rows < WORKER_ROWS || script.protocol !== 'file:' || !existsSync(fileURLToPath(script))) return undefined;
  const next = new Int32Array(new SharedArrayBuffer(4));
  const job: DigestJob = { file, tables, order, next };
  // The process's flags, but not --input-type (for `node -e` code, which a worker's file is not).
  const worker = new Worker(script, { workerData: job, execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')) });
  const theirs = new Promise<Record<string, { rows: number; sha256: string }>>((resolve, reject) => {
    const out: Record<string, { rows: number; sha256: string }> = {};
    let settled = false;
    worker.on('message', (m: DigestMessage) => {
      if ('table' in m) out[m.table] = { rows: m.rows, sha256: m.sha256 };
      else if ('done' in m) {
        settled = true;
        resolve(out);
      } else {
        settled = true;
        reject(new Error(`reading tables on a second connection failed: ${m.error}`));
      }
    });
    worker.on('error', (e) => {
      settled = true;
      reject(e);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`the worker reading tables stopped (exit code ${code})`));
    });
  });
  return {
    take: () => {
      const i = Atomics.add(next, 0, 1);
      return i < tables.length ? tables[i] : undefined;
    },
    theirs,
    stop: async () => {
      theirs.catch(() => {});
      await worker.terminate();
    },
  };
}
