import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TableSchema } from '../../lib/core/types.ts';
import { checkCanonicalRun } from '../../lib/dialects/dialect.ts';
import { sqliteCanonicalRules } from '../../lib/dialects/sqlite/sqlite-values.ts';
import { manifestFileName } from '../../lib/format/naming.ts';
import { backupRowsBeforeDelete } from '../../lib/ops/backup-before-delete.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { runCli } from '../helpers/cli.ts';

/*
 * Issue 13, SQLite: a backup brings back the file as `sqlite3 .dump` prints it, hidden rowids and
 * sqlite_sequence included. Real files, loaded by the sqlite3 CLI; every backup, restore and diff
 * through the compiled CLI; judged by sqlite3 itself (an oracle without prisma-guard code).
 */

const CHINOOK = '/work/shared/data/chinook/Chinook_Sqlite.sql';

/** Runs SQL through the sqlite3 CLI (the script in one transaction when `tx`). */
function sqlite3(file: string, sql: string, args: string[] = []): string {
  return execFileSync('sqlite3', [...args, file], { input: sql, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}
const dump = (file: string) => execFileSync('sqlite3', [file, '.dump'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });

/** Every user table's rows with their rowids (`SELECT rowid, *`; WITHOUT ROWID tables `SELECT *`), as sqlite3 prints them. */
function rowsWithRowids(file: string): Record<string, string> {
  const tables = sqlite3(file, `SELECT name || '|' || wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;`)
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'));
  const out: Record<string, string> = {};
  for (const [name, wr] of tables) {
    const q = `"${name.replaceAll('"', '""')}"`;
    out[name] = sqlite3(file, wr === '1' ? `SELECT * FROM ${q} ORDER BY 1, 2;` : `SELECT _rowid_, * FROM ${q} ORDER BY _rowid_;`, ['-json']);
  }
  return out;
}

/** sqlite_sequence as sqlite3 prints it ('' when the file has none). */
function sequences(file: string): string {
  const has = sqlite3(file, `SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence';`).trim() === '1';
  return has ? sqlite3(file, 'SELECT name, seq, typeof(seq) FROM sqlite_sequence ORDER BY name, seq;') : '';
}

function expectSameFile(restored: string, source: string): void {
  expect(rowsWithRowids(restored)).toEqual(rowsWithRowids(source));
  expect(sequences(restored)).toBe(sequences(source));
  expect(dump(restored)).toBe(dump(source));
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'prisma-guard-sqlite-fidelity-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const env = (file: string, dir: string) => ({ DATABASE_URL: `file:${file}`, BACKUP_DIR: dir });

async function backupOf(file: string, dir: string): Promise<string> {
  const r = await runCli(['backup', '--json'], env(file, dir));
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).manifest.file as string;
}

async function restoreInto(file: string, dir: string, backup: string, mode: 'full' | 'data'): Promise<void> {
  const r = await runCli(['restore', backup, '--mode', mode, '--yes', '--no-safety-backup', '--json'], env(file, dir));
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out.proof.matches).toBe(true);
}

async function diffLive(file: string, dir: string, backup: string) {
  const r = await runCli(['diff', backup, '--live', '--json'], env(file, dir));
  expect([0, 1]).toContain(r.code);
  return JSON.parse(r.stdout) as { equal: boolean; tables: { table: string; key: string[]; keyed: boolean; changed: number; added: number; removed: number; changedColumns: Record<string, number> }[] };
}

function header(dir: string, backup: string) {
  return JSON.parse(gunzipSync(readFileSync(path.join(dir, backup))).toString('utf8').split('\n')[0]);
}

describe('chinook on SQLite: a backup brings back .dump, rowids and sqlite_sequence', () => {
  let dir: string;
  let source: string;
  let backup: string;

  beforeAll(async () => {
    dir = path.join(work, 'chinook-backups');
    source = path.join(work, 'chinook.db');
    sqlite3(source, `BEGIN;\n.read ${CHINOOK}\nCOMMIT;\n`);
    // Gaps and an order the primary key does not give: what a renumbering rowid would lose.
    sqlite3(source, 'DELETE FROM PlaylistTrack WHERE PlaylistId = 5 AND TrackId % 3 = 0; UPDATE PlaylistTrack SET rowid = rowid + 100000 WHERE PlaylistId = 8 AND TrackId < 100;');
    backup = await backupOf(source, dir);
  }, 60_000);

  test('the source is a case that can fail: PlaylistTrack rowids are neither dense nor in key order', () => {
    const rowids = sqlite3(source, 'SELECT rowid FROM PlaylistTrack ORDER BY PlaylistId, TrackId;').split('\n').filter(Boolean).map(Number);
    expect(rowids.some((r, i) => i > 0 && r < rowids[i - 1])).toBe(true);
    expect(Math.max(...rowids)).toBeGreaterThan(rowids.length);
  });

  test('the header keeps the rowid of the table without an INTEGER PRIMARY KEY, and only of it', () => {
    const h = header(dir, backup);
    expect(h.formatVersion).toBe(3);
    const kept = h.schema.tables.filter((t: { rowid?: string }) => t.rowid).map((t: { name: string; rowid: string }) => `${t.name}:${t.rowid}`);
    expect(kept).toEqual(['PlaylistTrack:rowid']);
  });

  test('full mode into an empty file', async () => {
    const target = path.join(work, 'chinook-empty.db');
    await restoreInto(target, dir, backup, 'full');
    expectSameFile(target, source);
    expect((await diffLive(target, dir, backup)).equal).toBe(true);
  }, 60_000);

  test('full mode into a file holding a different, older copy', async () => {
    const target = path.join(work, 'chinook-older.db');
    sqlite3(target, `BEGIN;\n.read ${CHINOOK}\nCOMMIT;\n`);
    sqlite3(target, `DELETE FROM PlaylistTrack WHERE PlaylistId IN (1, 8); INSERT INTO PlaylistTrack VALUES (8, 1), (1, 5); UPDATE Track SET Name = 'renamed' WHERE TrackId < 50;
      CREATE TABLE Scratch (note TEXT); INSERT INTO Scratch VALUES ('only in the target');`);
    sqlite3(target, 'VACUUM;'); // may renumber the rowids of tables without an INTEGER PRIMARY KEY
    expect(dump(target)).not.toBe(dump(source));
    await restoreInto(target, dir, backup, 'full');
    expectSameFile(target, source);
  }, 60_000);

  test('data mode into a copy whose rows and rowids differ, and diff sees a moved rowid', async () => {
    const target = path.join(work, 'chinook-data.db');
    sqlite3(target, `BEGIN;\n.read ${CHINOOK}\nCOMMIT;\n`);
    // Same rows of PlaylistTrack in another physical order: every rowid differs.
    sqlite3(target, 'CREATE TEMP TABLE keep AS SELECT * FROM PlaylistTrack ORDER BY TrackId DESC; DELETE FROM PlaylistTrack; INSERT INTO PlaylistTrack SELECT * FROM keep; DELETE FROM Invoice WHERE InvoiceId > 400;');
    const before = await diffLive(target, dir, backup);
    const pt = before.tables.find((t) => t.table === 'PlaylistTrack')!;
    // Rows are matched on the kept rowid: at nearly every rowid the target holds another row.
    expect(pt).toMatchObject({ key: ['rowid'], keyed: true });
    expect(pt.changed).toBeGreaterThan(8000);
    await restoreInto(target, dir, backup, 'data');
    expectSameFile(target, source);
    expect((await diffLive(target, dir, backup)).equal).toBe(true);
    sqlite3(target, 'UPDATE PlaylistTrack SET rowid = 999999 WHERE PlaylistId = 1 AND TrackId = 3402;');
    const moved = (await diffLive(target, dir, backup)).tables.find((t) => t.table === 'PlaylistTrack')!;
    expect(moved).toMatchObject({ key: ['rowid'], changed: 0, added: 1, removed: 1 });
  }, 60_000);
});

describe('SQLite rowids and sqlite_sequence, case by case', () => {
  const SCHEMA = `
    CREATE TABLE tag (name TEXT PRIMARY KEY, note TEXT);
    CREATE TABLE pair (a INTEGER, b TEXT, note TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
    CREATE TABLE counter (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
    CREATE TABLE nokey (x, y);
    CREATE TABLE shadow (rowid TEXT, v INTEGER);
    CREATE TABLE desckey (id INTEGER PRIMARY KEY DESC, v TEXT);`;
  const ROWS = `
    INSERT INTO tag VALUES ('a', '1'), ('b', '2'), ('c', '3'), ('d', '4'), ('e', '5'), ('f', '6');
    DELETE FROM tag WHERE name IN ('b', 'e');
    UPDATE tag SET rowid = 1000 WHERE name = 'a';
    INSERT INTO tag VALUES ('0 first by key', 'last by rowid');
    INSERT INTO pair VALUES (2, 'x', 'p'), (1, 'y', 'q'), (1, 'x', NULL);
    INSERT INTO counter (v) VALUES ('one'), ('two'), ('three'); DELETE FROM counter WHERE id = 3;
    INSERT INTO nokey VALUES (1, 1), (1, 1), (2, NULL), (1, 1), ('t', x'00ff'); DELETE FROM nokey WHERE rowid = 1;
    INSERT INTO shadow VALUES ('not the rowid', 1), ('nor this', 2); UPDATE shadow SET _rowid_ = 77 WHERE v = 1;
    INSERT INTO desckey VALUES ('text id', 'not an alias'), (5, 'int'); DELETE FROM desckey WHERE v = 'int';`;
  let dir: string;
  let source: string;
  let backup: string;

  beforeAll(async () => {
    dir = path.join(work, 'cases-backups');
    source = path.join(work, 'cases.db');
    sqlite3(source, SCHEMA + ROWS);
    backup = await backupOf(source, dir);
  }, 60_000);

  test('each table keeps exactly what SQLite gives it: a rowid through a name no column shadows, none without one', () => {
    const kept = Object.fromEntries(header(dir, backup).schema.tables.map((t: { name: string; rowid?: string }) => [t.name, t.rowid ?? null]));
    expect(kept).toEqual({ counter: null, desckey: 'rowid', nokey: 'rowid', pair: null, shadow: '_rowid_', tag: 'rowid' });
  });

  test('full mode into an empty file', async () => {
    const target = path.join(work, 'cases-empty.db');
    await restoreInto(target, dir, backup, 'full');
    expectSameFile(target, source);
  }, 60_000);

  test('full mode resets sqlite_sequence to the backup: a higher counter and a table absent from the backup do not survive', async () => {
    const target = path.join(work, 'cases-older.db');
    sqlite3(target, SCHEMA);
    sqlite3(target, `INSERT INTO counter (v) VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f'), ('g'); DELETE FROM counter;
      INSERT INTO tag VALUES ('z', 'older');
      CREATE TABLE gone (id INTEGER PRIMARY KEY AUTOINCREMENT); INSERT INTO gone VALUES (77);
      CREATE TABLE sqliteXtra (a); INSERT INTO sqliteXtra VALUES ('a user table whose name LIKE sqlite_% matches');`);
    expect(sequences(target)).toBe('counter|7|integer\ngone|77|integer\n');
    await restoreInto(target, dir, backup, 'full');
    expect(sequences(target)).toBe('counter|3|integer\n');
    expectSameFile(target, source);
    // The next id continues after the backup's counter, not after the target's old one.
    sqlite3(target, "INSERT INTO counter (v) VALUES ('next');");
    expect(sqlite3(target, "SELECT id FROM counter WHERE v = 'next';").trim()).toBe('4');
  }, 60_000);

  test('data mode puts the rowids back into a copy whose rowids and counter differ', async () => {
    const target = path.join(work, 'cases-data.db');
    sqlite3(target, SCHEMA);
    sqlite3(target, `INSERT INTO tag VALUES ('f', '6'), ('d', '4'), ('c', '3'), ('a', '1'), ('0 first by key', 'last by rowid');
      INSERT INTO counter (v) VALUES ('a'), ('b'), ('c'), ('d'), ('e'); DELETE FROM counter WHERE id > 2;
      INSERT INTO nokey VALUES (1, 1);`);
    await restoreInto(target, dir, backup, 'data');
    expectSameFile(target, source);
  }, 60_000);

  test('data mode refuses a target table that has no rowid to take the kept ones, before changing anything', async () => {
    const target = path.join(work, 'cases-withoutrowid.db');
    sqlite3(target, SCHEMA.replace('CREATE TABLE tag (name TEXT PRIMARY KEY, note TEXT);', 'CREATE TABLE tag (name TEXT PRIMARY KEY, note TEXT) WITHOUT ROWID;'));
    sqlite3(target, "INSERT INTO tag VALUES ('kept', 'as it was');");
    const before = dump(target);
    const r = await runCli(['restore', backup, '--mode', 'data', '--yes', '--no-safety-backup'], env(target, dir));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/hidden rowids of table "tag".*has none/);
    expect(dump(target)).toBe(before);
  }, 60_000);

  test('a backup written before rowids were kept (format version 2) still verifies, restores in both modes and diffs equal', async () => {
    const oldDir = path.join(work, 'cases-v2');
    // Without desckey: version 2 could not tell `INTEGER PRIMARY KEY DESC` (not the rowid) from the
    // rowid alias, and refused its text id (as it always did); version 3 knows from the rowid it keeps.
    const oldSource = path.join(work, 'cases-v2-source.db');
    sqlite3(oldSource, SCHEMA + ROWS + 'DROP TABLE desckey;');
    const oldBackup = await backupOf(oldSource, oldDir);
    toVersion2(oldDir, oldBackup);
    expect(header(oldDir, oldBackup).schema.tables.some((t: { rowid?: string }) => t.rowid)).toBe(false);
    const v = await runCli(['verify', oldBackup, '--json'], env(oldSource, oldDir));
    expect(v.code, v.stderr + v.stdout).toBe(0);
    const full = path.join(work, 'cases-v2-full.db');
    await restoreInto(full, oldDir, oldBackup, 'full');
    // As before: the rows come back, and tables without an INTEGER PRIMARY KEY get new rowids.
    expect(sqlite3(full, 'SELECT * FROM tag ORDER BY name;')).toBe(sqlite3(oldSource, 'SELECT * FROM tag ORDER BY name;'));
    expect(sqlite3(full, 'SELECT rowid FROM tag ORDER BY rowid;')).toBe('1\n2\n3\n4\n5\n');
    expect((await diffLive(full, oldDir, oldBackup)).equal).toBe(true);
    const data = path.join(work, 'cases-v2-data.db');
    sqlite3(data, SCHEMA + 'DROP TABLE desckey;');
    await restoreInto(data, oldDir, oldBackup, 'data');
    expect((await diffLive(data, oldDir, oldBackup)).equal).toBe(true);
  }, 60_000);

  test('a header that names a kept rowid by one of the table\'s columns is refused as corrupt', async () => {
    const forged = path.join(work, 'cases-forged');
    const file = await backupOf(source, forged);
    rewriteBackup(forged, file, (h) => {
      h.schema.tables.find((t: { name: string }) => t.name === 'shadow').rowid = 'rowid';
    });
    const v = await runCli(['verify', file], env(source, forged));
    expect(v.code).toBe(3);
    expect(v.stdout + v.stderr).toMatch(/keeps the rowid of table "shadow" as rowid, which is also one of its columns/);
  }, 60_000);
});

describe('the canonical row check of a kept rowid', () => {
  const table: TableSchema = { name: 'tag', columns: [{ name: 'name', type: 'TEXT', kind: 'any', nullable: false, default: null }], primaryKey: ['name'], foreignKeys: [], indexes: [], rowid: 'rowid' };
  const check = (line: string) => {
    const run = { bytes: Buffer.from(line + '\n'), rows: 1, invalid: (_: number, why: string) => new Error(why) };
    try {
      checkCanonicalRun(run, sqliteCanonicalRules(table));
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  };
  test('takes the integers the dumper writes and nothing else', () => {
    expect(check('["a",1]')).toBeNull();
    expect(check('["a",-9007199254740991]')).toBeNull();
    expect(check('["a",{"$int":"9223372036854775807"}]')).toBeNull();
    expect(check('["a",null]')).toMatch(/null as the rowid/);
    expect(check('["a",1.5]')).toMatch(/as the rowid, which holds only integers/);
    expect(check('["a","1"]')).toMatch(/as the rowid, which holds only integers/);
    expect(check('["a",{"$real":"1"}]')).toMatch(/as the rowid, which holds only integers/);
    expect(check('["a",{"$int":"5"}]')).toMatch(/writes as the JSON number 5/);
    expect(check('["a"]')).toMatch(/does not have 2 values/);
    expect(check('["a",1,2]')).toMatch(/does not have 2 values/);
  });
});

describe('SQLite rowids and backup-before-delete', () => {
  test('deleted rows come back beside the live ones even when their old rowid went to a new row', async () => {
    const file = path.join(work, 'pre-delete.db');
    sqlite3(file, `CREATE TABLE tag (name TEXT PRIMARY KEY, note TEXT); INSERT INTO tag VALUES ('a', '1'), ('b', '2'), ('c', '3');`);
    const ctx = resolveContext({ url: `file:${file}`, backupDir: path.join(work, 'pre-delete-backups'), env: {} });
    const made = await backupRowsBeforeDelete(ctx, { table: 'tag', filter: { columns: ['name'], values: [['c']] }, reason: 'pre-delete-tag' });
    expect(made.rows).toEqual({ tag: 1 });
    sqlite3(file, "DELETE FROM tag WHERE name = 'c'; INSERT INTO tag VALUES ('d', 'took rowid 3');");
    expect(sqlite3(file, "SELECT rowid FROM tag WHERE name = 'd';").trim()).toBe('3');
    const r = await restore(ctx, { backup: made.manifest.file, yes: true, safetyBackup: false });
    expect(r.proof?.matches).toBe(true);
    expect(sqlite3(file, 'SELECT name, note FROM tag ORDER BY name;')).toBe('a|1\nb|2\nc|3\nd|took rowid 3\n');
  }, 60_000);
});

/**
 * Rewrites a backup and its manifest as prisma-guard wrote them before hidden rowids were kept
 * (format version 2: no `rowid` on tables, rows of the columns only), checksums recomputed.
 */
function toVersion2(dir: string, file: string): void {
  let kept = new Set<string>();
  rewriteBackup(
    dir,
    file,
    (header) => {
      kept = new Set(header.schema.tables.filter((t: { rowid?: string }) => t.rowid).map((t: { name: string }) => t.name));
      for (const t of header.schema.tables) delete t.rowid;
      header.formatVersion = 2;
    },
    (table, row) => (kept.has(table) ? row.slice(0, -1) : row),
  );
}

/** Rewrites a backup's header (and rows) in place, with every checksum (tables, trailer, manifest) recomputed. */
function rewriteBackup(dir: string, file: string, editHeader: (header: any) => void, editRow: (table: string, row: unknown[]) => unknown[] = (_, r) => r): void {
  const p = path.join(dir, file);
  const lines = gunzipSync(readFileSync(p)).toString('utf8').split('\n');
  const header = JSON.parse(lines[0]);
  editHeader(header);
  lines[0] = JSON.stringify(header);
  const tables: Record<string, { rows: number; sha256: string }> = {};
  let current: string | null = null;
  let hash = createHash('sha256');
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith('{"type":"table",')) {
      current = JSON.parse(l).name;
      hash = createHash('sha256');
    } else if (l.startsWith('{"type":"table-end"')) {
      const end = JSON.parse(l);
      end.sha256 = hash.digest('hex');
      tables[end.name] = { rows: end.rows, sha256: end.sha256 };
      lines[i] = JSON.stringify(end);
      current = null;
    } else if (current && l.startsWith('[')) {
      lines[i] = JSON.stringify(editRow(current, JSON.parse(l)));
      hash.update(lines[i] + '\n');
    }
  }
  const trailerAt = lines.findIndex((l) => l.startsWith('{"type":"trailer"'));
  const trailer = JSON.parse(lines[trailerAt]);
  trailer.tables = tables;
  trailer.sha256 = createHash('sha256').update(lines.slice(0, trailerAt).join('\n') + '\n').digest('hex');
  lines[trailerAt] = JSON.stringify(trailer);
  const bytes = gzipSync(Buffer.from(lines.join('\n')));
  writeFileSync(p, bytes);
  const mp = path.join(dir, manifestFileName(file));
  expect(existsSync(mp)).toBe(true);
  const m = JSON.parse(readFileSync(mp, 'utf8'));
  m.tables = tables;
  m.sizeBytes = bytes.length;
  m.sha256 = createHash('sha256').update(bytes).digest('hex');
  m.contentSha256 = trailer.sha256;
  m.verification = null;
  writeFileSync(mp, JSON.stringify(m));
}
