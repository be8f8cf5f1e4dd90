import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

/**
 * A restore's proof reads SQLite tables on two threads (SnapshotReader.shareTables: a worker with
 * its own connection takes tables from the same queue). Run through the compiled dist/, where the
 * worker exists: the digests must be those of one thread, table by table, whichever thread read a
 * table; a table that does not match what was expected is read again in canonical order; and a
 * worker that cannot open the database leaves its tables to the caller.
 */

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs checksumTables of dist/ on `file`, with the tables shared or on one thread; `expected` as a proof passes it. */
function checksums(file: string, expected: Record<string, { rows: number; sha256: string }> | null, share: boolean, unlink = false) {
  const dump = pathToFileURL(path.join(root, 'dist/lib/dialects/sqlite/sqlite-dump.js')).href;
  const tables = pathToFileURL(path.join(root, 'dist/lib/ops/snapshot-tables.js')).href;
  const script = `
    import Database from 'better-sqlite3';
    import { sqliteSnapshot } from ${JSON.stringify(dump)};
    import { checksumTables } from ${JSON.stringify(tables)};
    const db = new Database(${JSON.stringify(file)}, { readonly: true });
    let shared = 0;
    let theirs = null;
    const out = await sqliteSnapshot(db, async (reader) => {
      const real = reader.shareTables;
      if (${share}) reader.shareTables = (t, o, r) => {
        const s = real(t, o, r);
        if (s) {
          shared++;
          s.theirs.then((done) => (theirs = Object.keys(done).length), (e) => (theirs = e.message));
        }
        return s;
      };
      else delete reader.shareTables;
      // The file gone once this connection holds it open: the worker cannot open it.
      ${unlink ? `(await import('node:fs')).unlinkSync(${JSON.stringify(file)});` : ''}
      return checksumTables(reader, reader.schema.tables, ${expected ? `{ expected: ${JSON.stringify(expected)} }` : '{}'});
    });
    console.log(JSON.stringify({ out, shared, theirs }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { out: Record<string, { rows: number; sha256: string }>; shared: number; theirs: number | string | null };
}

describe('the proof reads SQLite tables on two threads', () => {
  const file = path.join(dir, 'many.db');
  const db = new Database(file);
  // Rowid tables (lines built in SQL), a text key, a WITHOUT ROWID table and a kept rowid (JavaScript).
  db.exec(`CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT, r REAL);
    CREATE TABLE b (id INTEGER PRIMARY KEY, w BLOB);
    CREATE TABLE c (k TEXT PRIMARY KEY, n INTEGER);
    CREATE TABLE d (x INTEGER, y INTEGER, PRIMARY KEY (x, y)) WITHOUT ROWID;
    CREATE TABLE e (p, q);
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 30000)
    INSERT INTO a SELECT i, 'v' || i || char(10) || '"', i / 7.0 FROM s;
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000) INSERT INTO b SELECT i, randomblob(i % 40) FROM s;
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 15000) INSERT INTO c SELECT 'k' || i, i * 3 FROM s;
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10000) INSERT INTO d SELECT i % 97, i FROM s;
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000) INSERT INTO e (rowid, p, q) SELECT i * 1000 - 2500000, i, 'q' || i FROM s;`);
  db.close();

  test('the digests are those of one thread, and a mismatch is read again in canonical order', () => {
    const alone = checksums(file, null, false);
    expect(Object.keys(alone.out).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    const proof = checksums(file, alone.out, true);
    expect(proof.shared).toBe(1);
    expect(proof.theirs).toBeGreaterThan(0); // the worker read some of the tables
    expect(proof.out).toEqual(alone.out);
    // Wrong expectations: whichever thread read the table, the result is its true checksum.
    const wrong = Object.fromEntries(Object.entries(alone.out).map(([k, v]) => [k, k === 'a' || k === 'd' ? { ...v, sha256: '0'.repeat(64) } : v]));
    expect(checksums(file, wrong, true).out).toEqual(alone.out);
  });

  test('a worker that cannot open the database leaves every table to the caller', async () => {
    const copy = path.join(dir, 'gone.db');
    const { copyFileSync } = await import('node:fs');
    copyFileSync(file, copy);
    const alone = checksums(file, null, false);
    const proof = checksums(copy, alone.out, true, true);
    expect(proof.shared).toBe(1);
    expect(proof.theirs).toMatch(/unable to open|no such file/i);
    expect(proof.out).toEqual(alone.out);
  });

  test('below the threshold no thread is started', () => {
    const small = path.join(dir, 'small.db');
    const s = new Database(small);
    s.exec('CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (id INTEGER PRIMARY KEY); INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)');
    s.close();
    const alone = checksums(small, null, false);
    const proof = checksums(small, alone.out, true);
    expect(proof.shared).toBe(0);
    expect(proof.out).toEqual(alone.out);
  });
});
