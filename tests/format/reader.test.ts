import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import { openBackup } from '../../lib/format/reader.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { tempDir, tempSqliteUrl } from '../helpers/db.ts';

/**
 * A backup several megabytes long whose text hardly compresses, so its gzip stream spans many read
 * chunks and gunzip hands out chunks of every size, some only a few bytes, often in the middle of a
 * line. The reader reuses its chunk buffers; every line must still come out whole and unchanged.
 */
describe('reading a backup whose lines straddle gunzip chunks of every size', () => {
  const source = tempSqliteUrl('source.db');
  const target = tempSqliteUrl('target.db');
  const dir = tempDir();
  let file = '';
  const expected: string[] = [];

  beforeAll(async () => {
    const db = new Database(source.file);
    db.exec('CREATE TABLE "Blob" (id INTEGER PRIMARY KEY, s TEXT NOT NULL, r REAL, b BLOB)');
    const random = seededRandom(3);
    const insert = db.prepare('INSERT INTO "Blob" (id, s, r, b) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let id = 1; id <= 12_000; id++) {
        // Lengths from 1 to ~1500 characters, lines end anywhere in a chunk; every 600th line is
        // longer than a whole chunk (256 KiB), so some chunks hold no line end at all.
        const length = id % 600 === 0 ? 200_000 + Math.floor(random() * 400_000) : 1 + Math.floor(random() ** 3 * 1100);
        const bytes = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
        const s = bytes.toString('base64');
        const r = random() < 0.1 ? null : random() * 1e6;
        const b = random() < 0.5 ? null : bytes.subarray(0, 1 + Math.floor(random() * 40));
        insert.run(id, s, r, b);
        expected.push(JSON.stringify([id, s, r === null ? null : r, b === null ? null : { $b64: b.toString('base64') }]));
      }
    })();
    db.close();
    const result = await backup(resolveContext({ url: source.url, backupDir: dir.dir, env: {} }), { reason: 'chunks' });
    file = result.path;
  });
  afterAll(() => {
    source.remove();
    target.remove();
    dir.remove();
  });

  test('lines and rows come out whole, verify accepts the file, and a restore reproduces the database', async () => {
    const read = async (view: 'lines' | 'rows') => {
      const opened = await openBackup(file);
      const out: string[] = [];
      for await (const section of opened.sections()) {
        if (view === 'lines') {
          for await (const run of section.lines) out.push(...Buffer.from(run.bytes).toString('utf8').split('\n').slice(0, run.rows));
        } else {
          for await (const batch of section.rows) out.push(...batch.map((row) => JSON.stringify(row)));
        }
      }
      await opened.close();
      expect(opened.trailer?.rowsTotal).toBe(expected.length);
      return out;
    };
    expect(await read('lines')).toEqual(expected);
    expect(await read('rows')).toEqual(expected);

    const v = await verifyBackup(resolveContext({ backupDir: dir.dir, env: {} }), file, { record: false });
    expect(v.ok).toBe(true);

    const r = await restore(resolveContext({ url: target.url, backupDir: dir.dir, env: {} }), { backup: file, yes: true, mode: 'full' });
    expect(r.proof?.matches).toBe(true);
    const dump = (f: string) => execFileSync('sqlite3', [f, '.dump'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(dump(target.file)).toBe(dump(source.file));
  });
});
