import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import { foreignKeyViolations } from '../../lib/dialects/sqlite/sqlite-load.ts';

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
