import Database from 'better-sqlite3';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GuardError, messageOf } from '../../core/errors.ts';
import type { DatabaseTarget } from '../../core/url.ts';
import { SCRATCH_PREFIX, type Connection, type Dialect, type Lock, type SnapshotReader } from '../dialect.ts';
import { checkSqliteBackupSql } from './sqlite-ddl-check.ts';
import { introspectSqlite } from './sqlite-introspector.ts';
import { sqliteSnapshot } from './sqlite-dump.ts';
import { loadSqlite } from './sqlite-load.ts';
import { sqliteIdentity } from './sqlite-identity.ts';
import { acquireFileLock } from './sqlite-lock.ts';
import { quoteSqlite } from './sqlite-quote.ts';
import { sqliteRiskProbes } from './sqlite-risk-probes.ts';

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  capabilities: { transactionalDdl: true, advisoryLocks: false, scalarLists: false },
  riskTraits: { maxIdentifierBytes: null, tableLocks: false },
  riskProbes: sqliteRiskProbes,
  quote: quoteSqlite,
  checkBackupSql: checkSqliteBackupSql,
  // SQLite stores no functions; its triggers are created after the rows are in (postDdl).
  definedCode: () => [],
  scratchTarget(source: DatabaseTarget, id: string): DatabaseTarget {
    const dir = path.join(os.tmpdir(), SCRATCH_PREFIX + id.replace(/[^a-z0-9]/g, ''));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'drill.db');
    return { ...source, url: `file:${file}`, display: `file:${file}`, database: file, file };
  },
  async dropScratch(target: DatabaseTarget): Promise<void> {
    const dir = path.dirname(target.file!);
    if (!path.basename(dir).startsWith(SCRATCH_PREFIX)) throw new Error(`refusing to remove ${dir}: not a drill's scratch folder`);
    rmSync(dir, { recursive: true, force: true });
  },
  async connect(target: DatabaseTarget, options: { create?: boolean } = {}): Promise<Connection> {
    const file = target.file!;
    if (!options.create && !existsSync(file)) {
      throw new GuardError('DATABASE_UNREACHABLE', `The SQLite database file ${file} does not exist.`, {
        hint: 'Check DATABASE_URL (relative file: paths are resolved from the current folder), or run a full restore to recreate it.',
      });
    }
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: !options.create });
      db.pragma('busy_timeout = 5000');
      // Every prisma-guard operation reads or writes tables front to back (snapshots, bulk loads in key
      // order, index builds through the sorter): a 4 MB page cache is as fast as better-sqlite3's
      // default 16 MB and keeps memory flat (BENCHMARKS.md, round 3).
      db.pragma('cache_size = -4000');
      // Reading the schema proves the file is a SQLite database.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (e) {
      throw new GuardError('DATABASE_UNREACHABLE', `Cannot open the SQLite database ${file}: ${messageOf(e)}.`, {
        hint: 'Check that DATABASE_URL points at a SQLite database file you can read and write.',
        cause: e,
      });
    }
    return new SqliteConnection(db, target);
  },
};

class SqliteConnection implements Connection {
  readonly dialect = sqliteDialect;
  private locks = new Set<Lock>();
  /** Ends lock waits still running when the connection closes. */
  private closing = new AbortController();
  constructor(
    private db: Database.Database,
    readonly target: DatabaseTarget,
  ) {}

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const stmt = this.db.prepare(sql);
    if (stmt.reader) return stmt.all(...params) as T[];
    stmt.run(...params);
    return [];
  }
  async introspect() {
    return introspectSqlite(this.db);
  }
  snapshot<T>(fn: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    return sqliteSnapshot(this.db, fn);
  }
  load(options: Parameters<Connection['load']>[0]) {
    return loadSqlite(this.db, this, options);
  }
  async lock(name: string, waitMs = 0): Promise<Lock> {
    const inner = await acquireFileLock(this.target.file!, name, waitMs, this.closing.signal);
    const lock: Lock = {
      release: async () => {
        this.locks.delete(lock);
        await inner.release();
      },
    };
    this.locks.add(lock);
    return lock;
  }
  async exists() {
    return true;
  }
  async identity(options: { create?: boolean; adopt?: string } = {}) {
    return sqliteIdentity(this.db, options);
  }
  async close(): Promise<void> {
    this.closing.abort();
    for (const l of [...this.locks]) await l.release();
    if (this.db.open) this.db.close();
  }
}
