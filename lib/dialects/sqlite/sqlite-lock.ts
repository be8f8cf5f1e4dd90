import Database from 'better-sqlite3';
import { closeSync, openSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GuardError, messageOf } from '../../core/errors.ts';
import type { Lock } from '../dialect.ts';

/** Who holds the lock, as the holder recorded it in the lock database. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The lock's name (what the holder is doing, e.g. prisma-guard-operation). */
  name: string;
  /** The holder's command (`prisma-guard.js restore`), without its arguments (they may hold secrets). */
  command: string;
  /** When the holder took the lock (ISO 8601). */
  since: string;
}

/** Path of the lock database for a SQLite database file. */
export function lockPath(dbFile: string): string {
  return `${dbFile}.prisma-guard.lock`;
}

/**
 * How long one attempt waits inside SQLite's busy handler (which blocks the event loop) before
 * the wait yields, so that an abort, a signal handler or the deadline is seen within this time.
 */
const SLICE_MS = 25;

const HOLDER_TABLE = `CREATE TABLE IF NOT EXISTS holder (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  token TEXT, pid INTEGER, host TEXT, name TEXT, command TEXT, since TEXT
)`;

/**
 * Takes the lock of a SQLite database: the write lock (RESERVED) of a small lock database beside
 * it, held by an open `BEGIN IMMEDIATE` transaction. The operating system grants that lock (an
 * fcntl lock) to one process at a time and drops it when the holder's process ends in any way,
 * kill -9 included, so there is no stale lock to detect or take over.
 *
 * A writer cannot publish who it is while holding the lock (its writes are not visible until it
 * commits, which releases the lock). So whoever takes the write lock and does not find its own
 * token in the holder row writes it, commits and takes the lock again at once; it holds the lock
 * only when it takes it and finds its own token there. Nobody else can write while it holds the
 * lock, so the row names the holder for the whole hold, and readers (waiters) may read it at any
 * time (RESERVED lets readers in).
 *
 * Waits up to `waitMs` in slices of SLICE_MS; `signal` ends the wait early. Throws GuardError
 * LOCKED naming the holder.
 */
export async function acquireFileLock(dbFile: string, name: string, waitMs: number, signal?: AbortSignal): Promise<Lock> {
  const file = lockPath(dbFile);
  const db = openLockDatabase(file);
  const token = `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const deadline = Date.now() + Math.max(0, waitMs);
  let since = '';
  // Set when the holder record cannot be written (a full disk, a file-size limit): the lock is then
  // held without naming its holder; the operation itself reports the write failure it meets.
  let unrecorded = false;
  try {
    for (;;) {
      if (signal?.aborted) throw new GuardError('LOCKED', 'Stopped while waiting for the prisma-guard lock (the connection was closed).');
      if (tryBegin(db, file)) {
        if (unrecorded) return heldLock(db);
        try {
          db.exec(HOLDER_TABLE);
          const row = db.prepare('SELECT token FROM holder WHERE id = 1').get() as { token: string | null } | undefined;
          if (row?.token === token) return heldLock(db);
          since ||= new Date().toISOString();
          db.prepare('INSERT OR REPLACE INTO holder (id, token, pid, host, name, command, since) VALUES (1, ?, ?, ?, ?, ?, ?)').run(token, process.pid, os.hostname(), name, ownCommand(), since);
          db.exec('COMMIT');
        } catch (e) {
          if (db.inTransaction) db.exec('ROLLBACK');
          if (isBusy(e)) continue; // the commit waited too long for a reader: try again
          if (isWriteFailure(e)) {
            unrecorded = true;
            continue;
          }
          throw e;
        }
        continue; // take the lock again at once: the waiters are asleep in their busy handlers
      }
      if (Date.now() >= deadline) {
        const holder = readHolder(db);
        const who = holder ? `"${holder.name}" (${holder.command ? `${holder.command}, ` : ''}pid ${holder.pid} on ${holder.host} since ${holder.since})` : 'another process';
        throw new GuardError('LOCKED', `The database is busy: ${who} holds the prisma-guard lock.`, {
          hint: 'Wait for it to finish and run the command again (or give it a longer lock wait). The lock is released when that process ends, however it ends.',
          details: holder ? { holder } : undefined,
        });
      }
      await sleep(0); // let timers, signals and aborts run between slices
    }
  } catch (e) {
    if (db.open) db.close();
    throw e;
  }
}

/** The lock as held by the open transaction on `db`; releasing clears the holder row and commits. */
function heldLock(db: Database.Database): Lock {
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      try {
        db.prepare('UPDATE holder SET token = NULL, pid = NULL, host = NULL, name = NULL, command = NULL, since = NULL WHERE id = 1').run();
        db.exec('COMMIT');
      } catch {
        // Could not clear the row (disk full): rolling back releases the lock all the same.
        if (db.inTransaction) db.exec('ROLLBACK');
      } finally {
        db.close();
      }
    },
  };
}

/**
 * Who holds the lock of `dbFile` right now, or null when nobody does (the lock database is
 * probed for a moment with a write lock that is never used).
 */
export function lockHolder(dbFile: string): LockHolder | null {
  const file = lockPath(dbFile);
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch {
    return null;
  }
  try {
    db.pragma(`busy_timeout = ${SLICE_MS}`);
    try {
      db.exec('BEGIN IMMEDIATE');
      db.exec('ROLLBACK');
      return null;
    } catch (e) {
      if (!isBusy(e)) throw e;
    }
    return readHolder(db) ?? { pid: 0, host: '', name: '', command: '', since: '' };
  } finally {
    db.close();
  }
}

function readHolder(db: Database.Database): LockHolder | null {
  try {
    const row = db.prepare('SELECT pid, host, name, command, since FROM holder WHERE id = 1 AND token IS NOT NULL').get() as LockHolder | undefined;
    return row ?? null;
  } catch {
    return null; // no holder table yet, or a publisher is committing right now
  }
}

/** Tries to take the write lock for one slice; false when another connection holds it. */
function tryBegin(db: Database.Database, file: string): boolean {
  try {
    db.exec('BEGIN IMMEDIATE');
    return true;
  } catch (e) {
    if (isBusy(e)) return false;
    throw lockFileError(file, e);
  }
}

/** SQLite could not write (disk full, I/O error such as EFBIG under a file-size limit). */
function isWriteFailure(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR');
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED';
}

/**
 * Opens (creating, mode 0600) the lock database. A file there that is not a SQLite database is
 * refused rather than replaced: replacing a file another process may have open would give two
 * processes two different locks. The lock file of prisma-guard versions before the lock database
 * (JSON) is recognised and named.
 */
function openLockDatabase(file: string): Database.Database {
  try {
    closeSync(openSync(file, 'a', 0o600));
  } catch (e) {
    throw lockFileError(file, e);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    db.pragma(`busy_timeout = ${SLICE_MS}`);
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (e) {
    if (db?.open) db.close();
    if ((e as { code?: string }).code === 'SQLITE_NOTADB') throw notALockDatabase(file);
    throw lockFileError(file, e);
  }
}

function notALockDatabase(file: string): GuardError {
  let old: { pid?: number; host?: string; name?: string; since?: string } | null = null;
  try {
    old = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    old = null;
  }
  if (old && typeof old.pid === 'number') {
    return new GuardError('LOCKED', `The database is busy or was left locked: ${file} is the lock file of an older prisma-guard ("${old.name}", pid ${old.pid} on ${old.host} since ${old.since}).`, {
      hint: `If that process no longer runs, delete ${file} and run the command again; this version replaces it with a lock the operating system releases by itself.`,
      details: { holder: old },
    });
  }
  return new GuardError('DATABASE_ERROR', `Cannot take the prisma-guard lock: ${file} exists but is not a prisma-guard lock database.`, {
    hint: `Move that file away (it is not used by prisma-guard for anything else) and run the command again.`,
  });
}

function lockFileError(file: string, e: unknown): GuardError {
  return new GuardError('DATABASE_ERROR', `Cannot take the prisma-guard lock in ${file}: ${messageOf(e)}.`, {
    hint: `prisma-guard needs to create and write ${path.basename(file)} beside the database: check the folder's permissions and free space.`,
    cause: e,
  });
}

/** `prisma-guard.js restore`: the script and its verb, never the arguments (which may hold a URL). */
function ownCommand(): string {
  const script = process.argv[1] ? path.basename(process.argv[1]) : 'node';
  const verb = process.argv[2];
  return verb && /^[a-z][a-z-]{0,30}$/.test(verb) ? `${script} ${verb}` : script;
}
