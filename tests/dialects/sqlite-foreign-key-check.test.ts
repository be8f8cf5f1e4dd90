import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import type { DbSchema } from '../../lib/core/types.ts';
import type { EncodedRow, LoadOptions } from '../../lib/dialects/dialect.ts';
import { sqliteSnapshot } from '../../lib/dialects/sqlite/sqlite-dump.ts';
import { foreignKeyViolations, loadSqlite } from '../../lib/dialects/sqlite/sqlite-load.ts';
import { ReferenceTracker } from '../../lib/dialects/sqlite/sqlite-references.ts';

/**
 * The restore's foreign key check (foreignKeyViolations) must report exactly what
 * `PRAGMA foreign_key_check` reports: it decides the common case (an INTEGER column referencing an
 * INTEGER PRIMARY KEY) with its own query and leaves every other table to the PRAGMA. Random
 * databases with every kind of value in the child columns (integers, integral and other reals,
 * numeric and other text, blobs, NULL, ids that exist and ids that do not) and every kind of key.
 */

const PARENTS = [
  'CREATE TABLE p1 (id INTEGER PRIMARY KEY, v TEXT)', // the rowid: the fast case
  'CREATE TABLE p2 (id INTEGER PRIMARY KEY DESC, v TEXT)', // not an alias of the rowid
  'CREATE TABLE p3 (id INT PRIMARY KEY, v TEXT)', // INT: not an alias either
  'CREATE TABLE p4 (id TEXT PRIMARY KEY, v TEXT)',
  'CREATE TABLE p5 (id INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID',
  'CREATE TABLE p6 (a INTEGER, b INTEGER, PRIMARY KEY (a, b))',
];
const CHILD_TYPES = ['INTEGER', 'INT', 'BIGINT', 'TEXT', 'NUMERIC', 'REAL', ''];

function value(random: () => number): unknown {
  const r = random();
  const id = 1 + Math.floor(random() * 12); // parents hold ids 1..8
  if (r < 0.45) return id;
  if (r < 0.55) return null;
  if (r < 0.62) return id + 0.0; // an integral real (a JS number: bound as a REAL when it has no fraction? SQLite stores it by affinity)
  if (r < 0.67) return id + 0.5;
  if (r < 0.75) return String(id);
  if (r < 0.8) return ` ${id} `;
  if (r < 0.84) return `${id}.0`;
  if (r < 0.88) return 'abc';
  if (r < 0.92) return Buffer.from(String(id));
  if (r < 0.96) return 2 ** 53 + 1;
  return -id;
}

describe('foreignKeyViolations agrees with PRAGMA foreign_key_check', () => {
  test('random schemas and values', () => {
    const random = seededRandom(2026);
    let violations = 0;
    let clean = 0;
    for (let n = 0; n < 300; n++) {
      const db = new Database(':memory:');
      db.pragma('foreign_keys = OFF'); // as during a load: rows that break references go in
      for (const p of PARENTS) db.exec(p);
      for (let id = 1; id <= 8; id++) {
        for (const t of ['p1', 'p2', 'p3', 'p5']) db.prepare(`INSERT INTO ${t} (id, v) VALUES (?, 'x')`).run(id);
        db.prepare(`INSERT INTO p4 (id, v) VALUES (?, 'x')`).run(String(id));
        db.prepare(`INSERT INTO p6 (a, b) VALUES (?, ?)`).run(id, id);
      }
      const children = 1 + Math.floor(random() * 3);
      for (let c = 0; c < children; c++) {
        const type = CHILD_TYPES[Math.floor(random() * CHILD_TYPES.length)];
        const parent = 1 + Math.floor(random() * 6);
        const twoKeys = random() < 0.4;
        const ref = parent === 6 ? 'FOREIGN KEY (x, y) REFERENCES p6 (a, b)' : `FOREIGN KEY (x) REFERENCES p${parent}${random() < 0.5 ? ' (id)' : ''}`;
        db.exec(`CREATE TABLE c${c} (id INTEGER PRIMARY KEY, x ${type}, y ${type}, ${ref}${twoKeys ? ', FOREIGN KEY (y) REFERENCES p1' : ''})`);
        const index = random();
        if (index < 0.4) db.exec(`CREATE INDEX c${c}_x ON c${c} (x)`);
        else if (index < 0.5) db.exec(`CREATE INDEX c${c}_x ON c${c} (x) WHERE x > 3`);
        const rows = Math.floor(random() * 20);
        for (let r = 0; r < rows; r++) {
          // Mostly rows that are fine, so that clean tables are common.
          const fine = random() < 0.9;
          db.prepare(`INSERT INTO c${c} (x, y) VALUES (?, ?)`).run(fine ? 1 + Math.floor(random() * 8) : value(random), fine ? 1 + Math.floor(random() * 8) : value(random));
        }
      }
      const pragma = db.prepare('PRAGMA foreign_key_check').all();
      const ours = foreignKeyViolations(db);
      const key = (v: { table: string; rowid: number; parent: string }) => `${v.table}/${v.rowid}/${v.parent}`;
      expect(ours.map(key).sort()).toEqual((pragma as { table: string; rowid: number; parent: string }[]).map(key).sort());
      if (pragma.length) violations++;
      else clean++;
      db.close();
    }
    expect(violations).toBeGreaterThan(50);
    expect(clean).toBeGreaterThan(50);
  });
});

/** Every table of `source` as a full-mode load reads it from a backup: its schema and its rows, encoded. */
async function backupOf(source: Database.Database): Promise<{ schema: DbSchema; rows: Map<string, EncodedRow[]> }> {
  return sqliteSnapshot(source, async (reader) => {
    const rows = new Map<string, EncodedRow[]>();
    for (const t of reader.schema.tables) {
      const all: EncodedRow[] = [];
      for await (const batch of reader.rows(t)) all.push(...batch);
      rows.set(t.name, all);
    }
    return { schema: reader.schema, rows };
  });
}

function loadFull(target: Database.Database, backup: { schema: DbSchema; rows: Map<string, EncodedRow[]> }, mode: 'full' | 'data' = 'full') {
  const options = {
    mode,
    tables: backup.schema.tables.map((t) => t.name),
    schema: backup.schema,
    data: (async function* () {
      for (const table of backup.schema.tables) yield { table, rows: (async function* () { yield backup.rows.get(table.name)!; })() };
    })(),
  } as unknown as LoadOptions;
  return loadSqlite(target, { query: async () => [] as never[] }, options);
}

describe('a full restore settles foreign keys from its rows exactly as SQLite would', () => {
  test('random schemas and values: the load fails exactly when PRAGMA foreign_key_check finds a violation, with its count', async () => {
    const random = seededRandom(7070);
    let failed = 0;
    let passed = 0;
    for (let n = 0; n < 150; n++) {
      const db = new Database(':memory:');
      db.pragma('foreign_keys = OFF');
      db.exec('CREATE TABLE p1 (id INTEGER PRIMARY KEY, v TEXT)');
      db.exec('CREATE TABLE p4 (id TEXT PRIMARY KEY, v TEXT)');
      const ids = 1 + Math.floor(random() * 8);
      for (let id = 1; id <= ids; id++) {
        db.prepare(`INSERT INTO p1 (id, v) VALUES (?, 'x')`).run(random() < 0.1 ? id + 2 ** 40 : id);
        db.prepare(`INSERT INTO p4 (id, v) VALUES (?, 'x')`).run(String(id));
      }
      const children = 1 + Math.floor(random() * 3);
      for (let c = 0; c < children; c++) {
        const type = CHILD_TYPES[Math.floor(random() * CHILD_TYPES.length)];
        const parent = random() < 0.8 ? 'p1' : random() < 0.5 ? 'p4' : `c${c}`; // a self-reference now and then
        db.exec(`CREATE TABLE c${c} (id INTEGER PRIMARY KEY, x ${type}, y ${type}, FOREIGN KEY (x) REFERENCES ${parent}${random() < 0.3 ? ', FOREIGN KEY (y) REFERENCES p1' : ''})`);
        const rows = Math.floor(random() * 20);
        for (let r = 0; r < rows; r++) {
          const fine = random() < 0.93;
          db.prepare(`INSERT INTO c${c} (x, y) VALUES (?, ?)`).run(fine ? 1 + Math.floor(random() * ids) : value(random), fine ? 1 + Math.floor(random() * ids) : value(random));
        }
      }
      const expected = (db.prepare('PRAGMA foreign_key_check').all() as unknown[]).length;
      const backup = await backupOf(db);
      const target = new Database(':memory:');
      const outcome = await loadFull(target, backup).then(
        () => 0,
        (e: Error) => Number(/break (\d+) foreign key/.exec(e.message)?.[1] ?? -1),
      );
      expect(outcome).toBe(expected);
      if (expected) failed++;
      else passed++;
      db.close();
      target.close();
    }
    expect(failed).toBeGreaterThan(20);
    expect(passed).toBeGreaterThan(20);
  });

  test('the rows settle the keys of a Prisma-like schema without asking SQLite', async () => {
    const db = new Database(':memory:');
    db.exec(`CREATE TABLE "User" (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
      CREATE TABLE "Post" (id INTEGER PRIMARY KEY, "authorId" INTEGER NOT NULL REFERENCES "User" (id), "parentId" INTEGER REFERENCES "Post" (id));
      CREATE TABLE "Tag" (id INTEGER PRIMARY KEY);
      CREATE TABLE "_PostToTag" ("A" INTEGER NOT NULL REFERENCES "Post" (id), "B" INTEGER NOT NULL REFERENCES "Tag" (id))`);
    const tracker = new ReferenceTracker(db, ['Post', 'Tag', 'User', '_PostToTag']);
    const rows: Record<string, unknown[][]> = {
      User: [[1, 'a'], [2, 'b'], [2 ** 40, 'c']],
      Post: [[1, 2, null], [2, 2 ** 40, 1], [3, 1, 3]],
      Tag: [[7], [9]],
      _PostToTag: [[1, 7], [3, 9]],
    };
    for (const [table, list] of Object.entries(rows)) {
      const columns = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).map((c) => c.name);
      const hook = tracker.rowHook(table, columns)!;
      const insert = db.prepare(`INSERT INTO "${table}" VALUES (${columns.map(() => '?').join(', ')})`);
      for (const row of list) {
        hook(row as EncodedRow);
        insert.run(...row);
      }
    }
    expect([...tracker.cleared()].sort()).toEqual(['Post', '_PostToTag']);
  });

  test('a parent row lost to ON CONFLICT REPLACE, or a trigger during the load, leaves the check to SQLite', async () => {
    // A forged backup: two parents with one unique name, the second replaces the first.
    const source = new Database(':memory:');
    source.exec(`CREATE TABLE p (id INTEGER PRIMARY KEY, u TEXT UNIQUE ON CONFLICT REPLACE); CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id))`);
    source.exec(`INSERT INTO p VALUES (1, 'x'), (2, 'y'); INSERT INTO c VALUES (1, 1)`);
    const backup = await backupOf(source);
    backup.rows.set('p', [[1, 'x'], [2, 'x']]);
    await expect(loadFull(new Database(':memory:'), backup)).rejects.toThrow(/break 1 foreign key reference/);

    // Data mode into a database whose trigger swaps a parent for another as the rows come in (the
    // parent's count stays right: only the trigger rule keeps the tracker out).
    const target = new Database(':memory:');
    target.exec(`CREATE TABLE p (id INTEGER PRIMARY KEY, u TEXT UNIQUE ON CONFLICT REPLACE); CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p (id));
      CREATE TRIGGER swap AFTER INSERT ON p WHEN NEW.id = 2 BEGIN DELETE FROM p WHERE id = 1; INSERT INTO p VALUES (3, 'z'); END`);
    const clean = await backupOf(source);
    await expect(loadFull(target, clean, 'data')).rejects.toThrow(/break 1 foreign key reference/);
  });
});
