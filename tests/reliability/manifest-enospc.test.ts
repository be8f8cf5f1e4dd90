/**
 * Promise: when the disk fills up exactly after the backup's data and before its manifest (a real
 * size-limited tmpfs, ENOSPC), the backup fails with exit 10 and leaves no backup-named file: a
 * backup nothing can find (no manifest: invisible to list, latest and retention) is not a success.
 * Older backups stay intact.
 *
 * Needs root to mount a tmpfs; where mounting is not allowed the test says so and is skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupFileName } from '../../lib/format/naming.ts';
import { freshDatabase, rawQueryable, tempDir, type FreshDatabase } from '../helpers/db.ts';
import { cli } from './helpers.ts';

const tmp = tempDir('prisma-guard-enospc-');
const mnt = path.join(tmp.dir, 'mnt');
fs.mkdirSync(mnt);
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]).status === 0;
if (!mounted) console.warn(`manifest-enospc: skipped, this machine does not allow mounting a tmpfs at ${mnt} (needs root).`);
const PAGE = 4096;
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe.skipIf(!mounted)('ENOSPC while writing the manifest (real tmpfs)', () => {
  let db: FreshDatabase;
  const dir = path.join(mnt, 'backups');
  beforeAll(async () => {
    db = await freshDatabase('sqlite');
    const q = await rawQueryable(db.url);
    await q.exec('CREATE TABLE "T" ("id" INTEGER PRIMARY KEY, "v" TEXT NOT NULL)');
    // About 200 KB of incompressible text: the data file spans many pages.
    for (let i = 0; i < 400; i++) await q.query('INSERT INTO "T" VALUES (?, ?)', [i, createHash('sha512').update(String(i)).digest('hex').repeat(4)]);
    await q.close();
  });
  afterAll(async () => {
    await db?.drop();
    if (mounted) execFileSync('umount', [mnt]);
    tmp.remove();
  });

  it('fails with exit 10 and leaves no backup-named file; the older backup is intact', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    const first = await cli(['backup', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const older = JSON.parse(first.stdout).path as string;
    const olderSha = sha(older);
    const size = fs.statSync(older).size;
    const filler = path.join(mnt, 'filler');
    // Leave room for the data file (page-rounded, give or take a page) but not for the manifest:
    // try the few fillings around that point until the manifest write is the one that fails.
    let seen = '';
    for (let extraPages = -1; extraPages <= 3 && !/manifest/.test(seen); extraPages++) {
      fs.rmSync(filler, { force: true });
      const free = Number(fs.statfsSync(mnt).bavail) * PAGE;
      const keep = (Math.ceil(size / PAGE) + extraPages) * PAGE;
      if (free > keep) execFileSync('fallocate', ['-l', String(free - keep), filler]);
      const r = await cli(['backup'], env);
      seen = r.stderr;
      if (r.code === 0) {
        // It fitted after all: remove it (and its manifest) and give less room.
        for (const f of fs.readdirSync(dir)) if (f !== path.basename(older) && !f.startsWith(path.basename(older).replace('.jsonl.gz', ''))) fs.rmSync(path.join(dir, f));
        continue;
      }
      expect(r.code, r.stderr).toBe(10);
      // Whatever failed (data or manifest), no new backup-named file is left, nor a temp file.
      const names = fs.readdirSync(dir);
      expect(names.filter((n) => parseBackupFileName(n)).map((n) => path.join(dir, n))).toEqual([older]);
      expect(names.filter((n) => n.includes('.tmp'))).toEqual([]);
    }
    expect(seen, 'the manifest write was never the one to fail').toMatch(/its manifest .* could not be/);
    expect(seen).toMatch(/the backup was removed/);
    expect(sha(older)).toBe(olderSha);
    fs.rmSync(filler, { force: true });
  });
});
