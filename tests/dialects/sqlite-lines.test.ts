import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import { jsLines, sqliteSnapshot } from '../../lib/dialects/sqlite/sqlite-dump.ts';
import { introspectSqlite } from '../../lib/dialects/sqlite/sqlite-introspector.ts';
import { sqlLines, sqlLinesRowid, sqlLinesWork } from '../../lib/dialects/sqlite/sqlite-lines.ts';

/**
 * Backups and the restore's proof read a rowid-ordered SQLite table as lines SQLite builds itself
 * (lib/dialects/sqlite/sqlite-lines.ts). Those lines are the backup's bytes, so they must be exactly
 * the bytes of the JavaScript path (each value read, encoded, JSON.stringify): random tables with
 * every storage class in untyped columns (integers at the 2^53 and 64-bit edges, reals from random
 * bits, -0, integral reals, text with every ASCII character, non-BMP characters, NUL and text that is
 * not UTF-8, blobs), rowids anywhere in the 64-bit range, and values large enough to split chunks.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const CHARS = [...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)), '\u00e9', '\u20ac', '\u2028', '\ufeff', '\ufffd', '\u{1f600}', '\u{10ffff}'];

async function bytesOf(lines: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of lines) parts.push(Buffer.from(c)); // copied: a chunk may be a reused buffer
  return Buffer.concat(parts);
}

function randomValue(random: () => number, big: boolean): unknown {
  const r = random();
  if (r < 0.15) return null;
  if (r < 0.3) return BigInt(Math.floor(random() * 2000) - 1000);
  if (r < 0.36) return [2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n) + 1n, -(2n ** 53n), INT64_MIN, INT64_MAX][Math.floor(random() * 6)];
  if (r < 0.46) {
    const bits = Buffer.alloc(8);
    for (let i = 0; i < 8; i++) bits[i] = Math.floor(random() * 256);
    const d = bits.readDoubleLE(0);
    return Number.isNaN(d) ? 0.5 : d;
  }
  if (r < 0.52) return [-0, 5, 1e21, 1e300, 1e-300, 5e-324, 0.1, 1234.5678, 2 ** 53][Math.floor(random() * 9)];
  if (r < 0.85) {
    let s = '';
    for (let i = Math.floor(random() * 40); i > 0; i--) s += CHARS[Math.floor(random() * CHARS.length)];
    // A large value now and then (200-700 KB): chunks of rows are cut by size.
    return big && random() < 0.3 ? `${s}|`.repeat(Math.ceil((200_000 + random() * 500_000) / (s.length + 1))) : s;
  }
  const blob = Buffer.alloc(Math.floor(random() * 20));
  for (let i = 0; i < blob.length; i++) blob[i] = Math.floor(random() * 256);
  return blob;
}

describe('SQLite lines built in SQL', () => {
  test('this SQLite builds lines as JavaScript does', () => {
    const db = new Database(':memory:');
    expect(sqlLinesWork(db)).toBe(true);
    db.close();
  });

  test('the same bytes as the JavaScript path, on 40 random tables', async () => {
    const random = seededRandom(20261201);
    for (let round = 0; round < 40; round++) {
      const db = new Database(':memory:');
      const alias = round % 2 === 0;
      db.exec(alias ? 'CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c)' : 'CREATE TABLE t (a, b, c)');
      const rows = 1 + Math.floor(random() * (round % 10 === 0 ? 3000 : 300));
      const big = round % 7 === 3;
      const insert = db.prepare(alias ? 'INSERT INTO t (id, a, b, c) VALUES (?, ?, ?, ?)' : 'INSERT INTO t (rowid, a, b, c) VALUES (?, ?, ?, ?)');
      const used = new Set<bigint>();
      for (let i = 0; i < rows; i++) {
        let id: bigint;
        do {
          const r = random();
          id = r < 0.02 ? INT64_MIN : r < 0.04 ? INT64_MAX : BigInt(Math.floor(random() * 2 ** 40) - 2 ** 39);
        } while (used.has(id));
        used.add(id);
        insert.run(id, randomValue(random, big), randomValue(random, big), randomValue(random, big));
      }
      // Text that is not UTF-8, which JavaScript reads with replacement characters.
      if (round % 5 === 1) db.exec(`INSERT INTO t (a, b, c) VALUES (CAST(x'41ff42' AS TEXT), CAST(x'eda080' AS TEXT), 1)`);
      const [table] = introspectSqlite(db).tables;
      const rowid = sqlLinesRowid(db, table);
      expect(rowid).toBe(alias ? 'id' : 'rowid');
      const fast = await bytesOf(sqlLines(db, table, rowid!));
      const slow = await bytesOf(jsLines(db, table, 'canonical'));
      expect(fast.length).toBe(slow.length);
      expect(fast.equals(slow)).toBe(true);
      // The snapshot reader takes the fast path in both orders.
      await sqliteSnapshot(db, async (reader) => {
        expect((await bytesOf(reader.canonicalLines!(reader.schema.tables[0], 'stored'))).equals(slow)).toBe(true);
      });
      db.close();
    }
  });

  test('other tables, and databases in UTF-16, take the JavaScript path', () => {
    const db = new Database(':memory:');
    db.exec(`CREATE TABLE d (id INTEGER PRIMARY KEY DESC, v); CREATE TABLE i (id INT PRIMARY KEY, v); CREATE TABLE w (id INTEGER PRIMARY KEY, v) WITHOUT ROWID; CREATE TABLE s (id TEXT PRIMARY KEY, v); CREATE TABLE c (a INTEGER, b INTEGER, PRIMARY KEY (a, b))`);
    for (const table of introspectSqlite(db).tables) {
      // A table with a kept rowid (the ones with other keys) is rowid-ordered; the rest are not.
      expect(sqlLinesRowid(db, table)).toBe(table.rowid);
    }
    // Wider than one SQL expression may be deep: the JavaScript path, the same lines.
    db.exec(`CREATE TABLE wide (id INTEGER PRIMARY KEY, ${Array.from({ length: 600 }, (_, i) => `c${i}`).join(', ')}); INSERT INTO wide (id, c0, c599) VALUES (1, 'x', 2.5)`);
    const wide = introspectSqlite(db).tables.find((t) => t.name === 'wide')!;
    expect(sqlLinesRowid(db, wide)).toBeUndefined();
    // A kept rowid named by a column (never so from introspection): not read as a rowid range.
    db.exec('CREATE TABLE shadow ("rowid" TEXT, v)');
    const shadow = introspectSqlite(db).tables.find((t) => t.name === 'shadow')!;
    expect(shadow.rowid).toBe('_rowid_');
    expect(sqlLinesRowid(db, shadow)).toBe('_rowid_');
    expect(sqlLinesRowid(db, { ...shadow, rowid: 'rowid' })).toBeUndefined();
    db.close();
    const utf16 = new Database(':memory:');
    utf16.pragma("encoding = 'UTF-16le'");
    utf16.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    expect(sqlLinesWork(utf16)).toBe(false);
    expect(sqlLinesRowid(utf16, introspectSqlite(utf16).tables[0])).toBeUndefined();
    utf16.close();
  });
});
