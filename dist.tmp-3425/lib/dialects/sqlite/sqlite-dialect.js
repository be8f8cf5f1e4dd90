import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { GuardError, messageOf } from "../../core/errors.js";
import { introspectSqlite } from "./sqlite-introspector.js";
import { sqliteSnapshot } from "./sqlite-dump.js";
import { loadSqlite } from "./sqlite-load.js";
import { acquireFileLock } from "./sqlite-lock.js";
import { quoteSqlite } from "./sqlite-quote.js";
export const sqliteDialect = {
    name: 'sqlite',
    capabilities: { transactionalDdl: true, advisoryLocks: false, scalarLists: false },
    quote: quoteSqlite,
    async connect(target, options = {}) {
        const file = target.file;
        if (!options.create && !existsSync(file)) {
            throw new GuardError('DATABASE_UNREACHABLE', `The SQLite database file ${file} does not exist.`, {
                hint: 'Check DATABASE_URL (relative file: paths are resolved from the current folder), or run a full restore to recreate it.',
            });
        }
        let db;
        try {
            db = new Database(file, { fileMustExist: !options.create });
            db.pragma('busy_timeout = 5000');
            // Every prisma-guard operation reads or writes tables front to back (snapshots, bulk loads in key
            // order, index builds through the sorter): a 4 MB page cache is as fast as better-sqlite3's
            // default 16 MB and keeps memory flat (BENCHMARKS.md, round 3).
            db.pragma('cache_size = -4000');
            // Reading the schema proves the file is a SQLite database.
            db.prepare('SELECT count(*) FROM sqlite_master').get();
        }
        catch (e) {
            throw new GuardError('DATABASE_UNREACHABLE', `Cannot open the SQLite database ${file}: ${messageOf(e)}.`, {
                hint: 'Check that DATABASE_URL points at a SQLite database file you can read and write.',
                cause: e,
            });
        }
        return new SqliteConnection(db, target);
    },
};
class SqliteConnection {
    db;
    target;
    dialect = sqliteDialect;
    locks = new Set();
    constructor(db, target) {
        this.db = db;
        this.target = target;
    }
    async query(sql, params = []) {
        const stmt = this.db.prepare(sql);
        if (stmt.reader)
            return stmt.all(...params);
        stmt.run(...params);
        return [];
    }
    async introspect() {
        return introspectSqlite(this.db);
    }
    snapshot(fn) {
        return sqliteSnapshot(this.db, fn);
    }
    load(options) {
        return loadSqlite(this.db, this, options);
    }
    async lock(name, waitMs = 0) {
        const inner = await acquireFileLock(this.target.file, name, waitMs);
        const lock = {
            release: async () => {
                this.locks.delete(lock);
                await inner.release();
            },
        };
        this.locks.add(lock);
        return lock;
    }
    async close() {
        for (const l of [...this.locks])
            await l.release();
        if (this.db.open)
            this.db.close();
    }
}
