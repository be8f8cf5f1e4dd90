import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/core/errors.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS, type FreshDatabase, demoDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';

/**
 * Promise: bad input (corrupt, truncated or foreign files, names escaping the backup folder, a
 * missing file, a database that is down, a wrong URL) gets a clear message and a documented exit
 * code, and never changes the database.
 */
for (const dialect of DIALECTS) {
  describe(`bad input on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let good: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      db = await demoDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-bad-'));
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
      good = (await backup(resolveContext({ url: db.url, backupDir: dir, env: {} }), { reason: 'good' })).manifest.file;
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Writes a damaged copy of the good backup under a valid backup name. */
    function damaged(reason: string, damage: (bytes: Buffer) => Buffer): string {
      const name = good.replace('-good.jsonl.gz', `-${reason}.jsonl.gz`);
      writeFileSync(path.join(dir, name), damage(readFileSync(path.join(dir, good))));
      return name;
    }
    const plain = () => zlib.gunzipSync(readFileSync(path.join(dir, good))).toString('utf8');

    const cases: [string, () => string, number][] = [
      ['truncated', () => damaged('truncated', (b) => b.subarray(0, Math.floor(b.length / 2))), ExitCode.INVALID_BACKUP],
      ['bit flip', () => damaged('bitflip', (b) => { const c = Buffer.from(b); c[Math.floor(c.length * 0.6)] ^= 0x10; return c; }), ExitCode.INVALID_BACKUP],
      ['not gzip', () => damaged('notgzip', () => Buffer.from('hello, I am not a backup\n')), ExitCode.INVALID_BACKUP],
      ['empty', () => damaged('empty', () => Buffer.alloc(0)), ExitCode.INVALID_BACKUP],
      ['gzip of garbage', () => damaged('garbage', () => zlib.gzipSync(Buffer.from('{"a":1}\n[1,2]\n'))), ExitCode.INVALID_BACKUP],
      ['edited row', () => damaged('edited', () => {
        const lines = plain().split('\n');
        const i = lines.findIndex((l) => l.startsWith('[') && l.includes('"'));
        lines[i] = lines[i].replace(/"([^"]*)"/, '"$1-edited"');
        return zlib.gzipSync(lines.join('\n'));
      }), ExitCode.INVALID_BACKUP],
      ['future version', () => damaged('future', () => {
        const lines = plain().split('\n');
        lines[0] = lines[0].replace(/"formatVersion":\d+/, '"formatVersion":99');
        return zlib.gzipSync(lines.join('\n'));
      }), ExitCode.INVALID_BACKUP],
    ];

    for (const [what, make, code] of cases) {
      it(`rejects a ${what} backup in verify and restore, database unchanged`, async () => {
        const name = make();
        const before = oracleDump(db.url);
        const v = await runCli(['verify', name, '--json'], env);
        expect(v.code).toBe(code);
        const report = JSON.parse(v.stdout);
        expect(report.ok).toBe(false);
        expect(report.error.message).toMatch(/truncated|corrupt|not a|version|checksum|empty|no data/i);
        const r = await runCli(['restore', name, '--yes'], env);
        expect(r.code).toBe(code);
        expect(r.stderr).toMatch(/^error: /m);
        expect(r.stderr).toMatch(/^hint: /m);
        expect(oracleDump(db.url)).toBe(before);
      });
    }

    it('refuses names that escape the backup folder, and missing files', async () => {
      copyFileSync(path.join(dir, good), path.join(os.tmpdir(), good));
      const out = await runCli(['restore', `../${good}`, '--yes'], env);
      expect(out.code).toBe(ExitCode.NOT_FOUND);
      expect(out.stderr).toMatch(/outside the backup folder/);
      const abs = await runCli(['verify', path.join(os.tmpdir(), good)], env);
      expect(abs.code).toBe(ExitCode.NOT_FOUND);
      rmSync(path.join(os.tmpdir(), good), { force: true });
      const missing = await runCli(['restore', 'backup-2020-01-01T00-00-00-000Z-nope.jsonl.gz', '--yes'], env);
      expect(missing.code).toBe(ExitCode.NOT_FOUND);
      expect(missing.stderr).toMatch(/does not exist/);
    });

    it('refuses to restore without --yes when not interactive', async () => {
      const before = oracleDump(db.url);
      const r = await runCli(['restore', good], env);
      expect(r.code).toBe(ExitCode.NOT_CONFIRMED);
      expect(oracleDump(db.url)).toBe(before);
    });

    it('reports a database that is down or a wrong URL with exit code 4', async () => {
      const down = dialect === 'sqlite' ? `file:${path.join(dir, 'no-such-dir', 'x.db')}` : 'postgresql://postgres:s3cret-pw@127.0.0.1:1/nope';
      const r = await runCli(['backup', '--url', down], env);
      expect(r.code).toBe(ExitCode.DATABASE);
      expect(r.stderr).toMatch(/hint: /);
      expect(r.stderr).not.toContain('s3cret-pw');
      const wrong = await runCli(['backup', '--url', 'mongodb://x'], env);
      expect(wrong.code).toBe(ExitCode.DATABASE);
      expect(wrong.stderr).toMatch(/Unrecognised database URL/);
    });
  });
}
