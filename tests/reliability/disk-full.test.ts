import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { ExitCode } from '../../lib/core/errors.ts';
import { isTemporaryName, parseBackupFileName } from '../../lib/format/naming.ts';
import { DIALECTS, freshDatabase, type FreshDatabase } from '../helpers/db.ts';
import { cli, fingerprint } from './helpers.ts';

/**
 * Promise: when the disk fills up mid-backup, the backup fails with a clear WRITE_FAILED error
 * (exit 10), the partial file is removed, older backups and manifests are byte-for-byte intact
 * and the database is untouched.
 *
 * The full disk is a file-size limit on the CLI process (`ulimit -f`), which makes write() fail
 * with EFBIG once the backup passes the limit. The kernel also sends SIGXFSZ, whose default action
 * kills the process without any cleanup; Node ignores SIGXFSZ, and this test proves the process is
 * not killed by it (exit 10, not a signal) and cleans up.
 */
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

for (const dialect of DIALECTS) {
  describe(`disk full during a backup on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      await generate(db.url, 0.005); // a backup of about 700 KB compressed
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-diskfull-'));
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('fails with exit 10, removes the partial file, keeps older backups and the database intact', async () => {
      const older = await cli(['backup', '--reason', 'older'], env);
      expect(older.code, older.stderr).toBe(0);
      const before = Object.fromEntries(readdirSync(dir).map((n) => [n, sha(path.join(dir, n))]));
      const dbBefore = await fingerprint(db.url);
      for (const limitKb of [1, 64, 256]) {
        const r = await cli(['backup', '--reason', `full-${limitKb}`], env, { shellPrefix: `ulimit -f ${limitKb}` });
        expect(r.signal, `killed by ${r.signal} at ulimit -f ${limitKb}`).toBeNull();
        expect(r.code, r.stderr).toBe(ExitCode.WRITE_FAILED);
        expect(r.stderr).toMatch(/^error: Could not write backup-.*EFBIG.*The partial file was removed; earlier backups are untouched\./m);
        expect(r.stderr).toMatch(/^hint: Free disk space/m);
        const now = readdirSync(dir);
        expect(now.filter(isTemporaryName), 'partial temporary file left').toEqual([]);
        expect(now.filter((n) => parseBackupFileName(n)).length).toBe(1);
        for (const [n, h] of Object.entries(before)) expect(sha(path.join(dir, n)), n).toBe(h);
        expect(now.sort()).toEqual(Object.keys(before).sort());
      }
      expect(await fingerprint(db.url)).toBe(dbBefore);
    });
  });
}
