import type Database from 'better-sqlite3';
import { GuardError, messageOf } from '../../core/errors.ts';
import { rowColumns, type DbSchema, type TableSchema } from '../../core/types.ts';
import { canonicalRowError, checkCanonicalRun, rowsOfRun, type EncodedRow, type LoadOptions, type LoadResult } from '../dialect.ts';
import { isInternalTable, liveRowidName } from './sqlite-introspector.ts';
import { quoteSqlite } from './sqlite-quote.ts';
import { ReferenceTracker, rowidReferences } from './sqlite-references.ts';
import { decodeSqliteValue, sqliteCanonicalRules } from './sqlite-values.ts';
import type { Queryable } from '../../core/types.ts';


/**
 * The page cache during a load (KiB, negative as SQLite takes it): better-sqlite3's default 16 MiB
 * instead of the connection's 4 MiB. A table that keeps its rowids is written in rowid order, so the
 * index of a key in another order (a random text id) takes its entries out of order; with 4 MiB its
 * dirty pages spill to the file and are read back over and over (400k uuid rows: system time
 * 1.1 s -> 0.2 s, load 3.4 s -> 2.1 s; about 10 MB more peak RSS).
 */
const LOAD_CACHE_SIZE = -16000;

/** Rows per INSERT statement during a load (see loadSqlite). */
const INSERT_ROWS = 64;
/** Bound parameters per statement, well below SQLite's limit (32766 since 3.32; 999 before). */
const MAX_PARAMETERS = 999;

/**
 * All-or-nothing load in one IMMEDIATE transaction. Foreign keys are switched off for the load
 * (a PRAGMA that only works outside a transaction) and checked with `foreign_key_check` before
 * COMMIT, so self-references and cycles load in any order and a broken reference rolls back.
 */
export async function loadSqlite(db: Database.Database, queryable: Queryable, options: LoadOptions): Promise<LoadResult> {
  const fkWasOn = (db.pragma('foreign_keys', { simple: true }) as number) === 1;
  db.pragma('foreign_keys = OFF');
  const cacheWas = db.pragma('cache_size', { simple: true }) as number;
  db.pragma(`cache_size = ${LOAD_CACHE_SIZE}`);
  const rowsByTable: Record<string, number> = {};
  let current = '';
  let rowNo = 0;
  let deferredIndexes: string[] = [];
  try {
    db.exec('BEGIN IMMEDIATE');
    const wanted = new Set(options.tables);
    if (options.mode === 'full') {
      dropEverything(db);
      for (const stmt of options.schema.ddl) db.exec(stmt);
    } else if (!options.keepExisting) {
      for (const t of options.schema.tables) if (wanted.has(t.name)) db.exec(`DELETE FROM ${quoteSqlite(t.name)}`);
      deferredIndexes = dropIndexesForLoad(db, wanted);
    }
    // Full mode, or data mode into emptied tables: the rows themselves settle most foreign keys.
    const tracker = options.keepExisting ? undefined : new ReferenceTracker(db, wanted);
    for await (const section of options.data) {
      const table = section.table;
      if (!wanted.has(table.name)) {
        for await (const _ of section.lines ?? section.rows) void _;
        continue;
      }
      current = table.name;
      rowNo = 0;
      checkRowidTarget(db, table);
      // The columns, then the hidden rowid when the backup kept it (rowColumns): it is inserted as given.
      const cols = rowColumns(table).map((c) => quoteSqlite(c.name));
      const width = cols.length;
      const tuple = `(${cols.map(() => '?').join(', ')})`;
      const into = `INSERT INTO ${quoteSqlite(table.name)} (${cols.join(', ')}) VALUES `;
      const insert = db.prepare(into + tuple);
      // Rows go in INSERT_ROWS at a time, one statement of that many tuples: the same rows in the
      // same order (rowids are given or assigned in order), with a fraction of the per-statement
      // cost (one call into SQLite, one bind, one step per row instead of each per row).
      const perStatement = Math.max(1, Math.min(INSERT_ROWS, Math.floor(MAX_PARAMETERS / width)));
      const insertMany = perStatement > 1 ? db.prepare(into + Array(perStatement).fill(tuple).join(', ')) : null;
      // One parameter array for every statement; with `lines`, each row is parsed just before it is
      // bound, so no batch of row objects lives long enough to be copied by the garbage collector
      // (the memory of a 4M-row restore stays flat).
      const params: unknown[] = new Array(width * perStatement);
      let pending = 0;
      const flush = () => {
        if (pending === 0) return;
        const first = rowNo - pending; // rows before this statement's first
        if (pending === perStatement && insertMany) {
          try {
            insertMany.run(params);
          } catch (e) {
            // SQLite undid the statement (the transaction stays, unless SQLite itself ended it):
            // row by row, so the error names the row that fails.
            if (!db.inTransaction) throw e;
            insertOneByOne(first, pending);
            throw e;
          }
        } else {
          insertOneByOne(first, pending);
        }
        pending = 0;
      };
      const one: unknown[] = new Array(width);
      const insertOneByOne = (first: number, count: number) => {
        for (let r = 0; r < count; r++) {
          for (let i = 0; i < width; i++) one[i] = params[r * width + i];
          rowNo = first + r + 1;
          insert.run(one);
        }
        rowNo = first + count;
      };
      const track = tracker?.rowHook(table.name, rowColumns(table).map((c) => c.name));
      const insertRow = (row: EncodedRow) => {
        rowNo++;
        if (track) track(row);
        const base = pending * width;
        for (let i = 0; i < width; i++) params[base + i] = decodeSqliteValue(row[i]);
        if (++pending === perStatement) flush();
      };
      // The canonical check (as verify's) before any row of a run goes in: a file swapped after it was
      // verified, or never verified, still cannot commit a row the proof would then find changed.
      const rules = sqliteCanonicalRules(table);
      if (section.lines) {
        for await (const run of section.lines) {
          checkCanonicalRun(run, rules);
          for (const row of rowsOfRun(run, width)) insertRow(row);
          options.onProgress?.(table.name, rowNo);
        }
        flush();
      } else {
        for await (const batch of section.rows) {
          for (const row of batch) {
            const why = canonicalRowError(row, rules);
            if (why) throw new GuardError('BACKUP_CORRUPT', `The backup's table "${table.name}", row ${rowNo + 1}, ${why}.`, { hint: 'Use another backup (`prisma-guard list`); `prisma-guard verify` checks them all.' });
            insertRow(row);
          }
          options.onProgress?.(table.name, rowNo);
        }
        flush();
      }
      rowsByTable[table.name] = rowNo;
    }
    current = '';
    if (options.mode === 'full') for (const stmt of options.schema.postDdl) db.exec(stmt);
    for (const stmt of deferredIndexes) db.exec(stmt); // a duplicate key fails here: rolled back
    if (options.mode === 'full') resetSequences(db, options.schema);
    else restoreSequences(db, options.schema, wanted);
    const broken = foreignKeyViolations(db, tracker?.cleared());
    if (broken.length) {
      const sample = broken.slice(0, 5).map((b) => `${b.table} (rowid ${b.rowid}) -> ${b.parent}`).join(', ');
      throw new GuardError('RESTORE_FAILED', `The restored rows break ${broken.length} foreign key reference(s), e.g. ${sample}.`, {
        hint: 'Restore the referenced tables too (or run a full restore).',
        details: { violations: broken.length },
      });
    }
    if (options.beforeCommit) await options.beforeCommit(queryable);
    db.exec('COMMIT');
    return { rowsByTable };
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    if (e instanceof GuardError && e.code !== 'RESTORE_FAILED' && e.code !== 'SCHEMA_MISMATCH') {
      throw new GuardError(e.code, `${e.message} The restore was rolled back; the database is unchanged.`, { hint: e.hint, cause: e, exitCode: e.exitCode });
    }
    if (e instanceof GuardError) throw e;
    const where = current ? ` while loading table "${current}" (row ${rowNo})` : '';
    throw new GuardError('RESTORE_FAILED', `The restore failed${where}: ${messageOf(e)}. It was rolled back; the database is unchanged.`, {
      hint: 'Check the message above; `prisma-guard verify <backup>` tells whether the backup is sound.',
      cause: e,
    });
  } finally {
    if (fkWasOn) db.pragma('foreign_keys = ON');
    db.pragma(`cache_size = ${cacheWas}`);
  }
}

export interface ForeignKeyViolation {
  table: string;
  rowid: number;
  parent: string;
}

/**
 * What `PRAGMA foreign_key_check` reports, table by table, deciding the common case faster: a table
 * is passed over without the PRAGMA when every foreign key of it is one column of INTEGER affinity
 * referencing its parent's INTEGER PRIMARY KEY (the rowid, as Prisma's Int ids are) and a query
 * finds, for every non-NULL value, the parent row with that id. The PRAGMA looks each value up as a
 * rowid (OP_SeekRowid: numeric affinity, then an integer or a miss); in an INTEGER-affinity column
 * a value equals an integer id exactly when it is that integer or the same number as a real, which
 * the lookup finds too. So a table the query finds clean is one the PRAGMA finds clean, and any
 * other table (a miss, another kind of key) goes to the PRAGMA, which reports it as before.
 * Why: the PRAGMA walks the child table in rowid order, so its lookups land on the parent's pages at
 * random; the query walks the child's index on the column where there is one, in key order, and
 * reads each parent page once (scale 0.5: 2.3-4.8 s against 0.9-1.6 s, mostly the parent's pages
 * read back from the file over and over with a page cache smaller than the parent).
 */
export function foreignKeyViolations(db: Database.Database, cleared: Set<string> = new Set()): ForeignKeyViolation[] {
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((t) => t.name).filter((n) => !isInternalTable(n));
  const broken: ForeignKeyViolation[] = [];
  for (const table of tables) {
    if (cleared.has(table)) continue;
    const keys = db.prepare(`SELECT 1 FROM pragma_foreign_key_list(?, 'main')`).all(table);
    if (keys.length === 0) continue;
    if (!allReferencesFound(db, table)) broken.push(...(db.prepare(`PRAGMA foreign_key_check(${quoteSqlite(table)})`).all() as ForeignKeyViolation[]));
  }
  return broken;
}

/** Whether the fast query of foreignKeyViolations applies to every key of `table` and finds every referenced row. */
function allReferencesFound(db: Database.Database, table: string): boolean {
  const refs = rowidReferences(db, table);
  if (!refs) return false;
  // Not a partial index: INDEXED BY one that does not hold every row would fail the query.
  const indexes = db.prepare(`SELECT name FROM pragma_index_list(?, 'main') WHERE partial = 0`).all(table) as { name: string }[];
  return refs.every((key) => {
    // The child's index that starts with the column, if any: the walk in key order.
    const ordered = indexes.find((i) => (db.prepare(`SELECT name FROM pragma_index_info(?, 'main') WHERE seqno = 0`).get(i.name) as { name: string | null } | undefined)?.name === key.column);
    const c = quoteSqlite(key.column);
    // main.: the tables the PRAGMA checks, never a temp table of the same name.
    const sql = `SELECT 1 FROM main.${quoteSqlite(table)} AS c${ordered ? ` INDEXED BY ${quoteSqlite(ordered.name)}` : ''} WHERE c.${c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM main.${quoteSqlite(key.parent)} AS p WHERE p.${quoteSqlite(key.id)} = c.${c}) LIMIT 1`;
    return db.prepare(sql).get() === undefined;
  });
}

function dropEverything(db: Database.Database): void {
  // Not `NOT LIKE 'sqlite_%'`: LIKE ignores case and `_` matches any character (a table `sqliteX` would stay).
  const objects = (db.prepare(`SELECT type, name FROM sqlite_master`).all() as { type: string; name: string }[]).filter((o) => !isInternalTable(o.name));
  for (const kind of ['trigger', 'view', 'index', 'table']) {
    for (const o of objects.filter((x) => x.type === kind)) {
      if (kind === 'index' && isAutoIndex(o.name)) continue;
      db.exec(`DROP ${kind.toUpperCase()} IF EXISTS ${quoteSqlite(o.name)}`);
    }
  }
  const hasSeq = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'`).get();
  if (hasSeq) db.exec('DELETE FROM sqlite_sequence');
}

/**
 * Data mode: the explicit indexes (CREATE [UNIQUE] INDEX, which is how Prisma makes @unique and
 * @@index) of the emptied tables are dropped inside the transaction and created again from their
 * own SQL after the rows are in: one sorted build each instead of maintaining them row by row, as
 * the full mode does with postDdl. Indexes SQLite makes for PRIMARY KEY/UNIQUE constraints (no SQL)
 * stay.
 */
function dropIndexesForLoad(db: Database.Database, tables: Set<string>): string[] {
  const indexes = (db.prepare(`SELECT name, tbl_name AS tbl, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`).all() as { name: string; tbl: string; sql: string }[]).filter((i) => tables.has(i.tbl));
  for (const i of indexes) db.exec(`DROP INDEX ${quoteSqlite(i.name)}`);
  return indexes.map((i) => i.sql);
}

function isAutoIndex(name: string): boolean {
  return name.startsWith('sqlite_autoindex_');
}

/**
 * A backup that kept a table's hidden rowids (TableSchema.rowid) puts them back through the same
 * name: the target table must reach its rowid by it (not WITHOUT ROWID, no INTEGER PRIMARY KEY
 * alias, no column shadowing the name), or the rows would not come back as they were.
 */
function checkRowidTarget(db: Database.Database, table: TableSchema): void {
  if (!table.rowid) return;
  const live = liveRowidName(db, table.name);
  if (live === table.rowid) return;
  throw new GuardError('SCHEMA_MISMATCH', `The backup keeps the hidden rowids of table "${table.name}" (as ${table.rowid}), but the target table ${live ? `reaches its rowid as ${live}` : 'has none to put them in (WITHOUT ROWID, or an INTEGER PRIMARY KEY that is the rowid)'}.`, {
    hint: 'Run a full restore (`--mode full`) to bring back the backup\'s schema with its rows.',
  });
}

/**
 * Full mode: `sqlite_sequence` becomes exactly the backup's (no counter of the target survives, none
 * the load created is left). SQLite creates that table with the first AUTOINCREMENT table and never
 * drops it: a target that had one keeps it, empty when the backup has no counters.
 */
function resetSequences(db: Database.Database, schema: DbSchema): void {
  const hasSeq = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'`).get();
  if (!hasSeq) return;
  db.exec('DELETE FROM sqlite_sequence');
  const insert = db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)');
  for (const s of schema.sequences) insert.run(s.name, s.lastValue === null ? null : /^-?\d+$/.test(s.lastValue) ? BigInt(s.lastValue) : s.lastValue);
}

/** Data mode: AUTOINCREMENT counters continue after the backup's counter and after the highest restored id. */
function restoreSequences(db: Database.Database, schema: DbSchema, only: Set<string>): void {
  const hasSeq = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'`).get();
  if (!hasSeq) return;
  for (const s of schema.sequences) {
    if (!only.has(s.name)) continue;
    if (isInternalTable(s.name)) continue;
    const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type='table' AND name=?`).get(s.name);
    if (!exists) continue;
    const max = (db.prepare(`SELECT max(rowid) AS m FROM ${quoteSqlite(s.name)}`).safeIntegers(true).get() as { m: bigint | null }).m ?? 0n;
    const fromBackup = s.lastValue === null ? 0n : BigInt(s.lastValue);
    const seq = max > fromBackup ? max : fromBackup;
    db.prepare('DELETE FROM sqlite_sequence WHERE name = ?').run(s.name);
    db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(s.name, seq);
  }
}
