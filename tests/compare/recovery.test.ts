import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS, rawQueryable, type FreshDatabase, demoDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';

/** Lines of `b` that are not in `a`. */
function changedLines(a: string, b: string): string[] {
  const set = new Set(a.split('\n'));
  return b.split('\n').filter((l) => !set.has(l));
}

for (const dialect of DIALECTS) {
  describe(`recovery procedures on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    const ctx = () => resolveContext({ url: db.url, backupDir: dir, env: {} });
    const env = () => ({ DATABASE_URL: db.url, BACKUP_DIR: dir });
    const check = (...args: string[]) => runCli(args, env(), 'check-users.ts');
    const verb = (args: string[]) => runCli(args, env());

    beforeAll(async () => {
      db = await demoDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-recovery-'));
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('check-users: same output after a full restore, the edited table shows after a one-row edit', async () => {
      const b = await backup(ctx(), { reason: 'monthly' });
      const before = await check();
      expect(before.stderr).toBe('');
      expect(before.code).toBe(0);
      expect(before.stdout).toMatch(/^users\s+\d+\s+[0-9a-f]{64}$/m);
      expect(before.stdout).toContain('Users (table users):');
      expect((await check()).stdout).toBe(before.stdout); // deterministic

      // The JSON form carries the same checksums verify records in the manifest.
      const json = JSON.parse((await check('--json')).stdout);
      expect(json.tables).toEqual(b.manifest.tables);

      const q = await rawQueryable(db.url);
      await q.query(`UPDATE users SET name = 'Edited Name' WHERE id = 3`);
      await q.close();
      const edited = await check();
      expect(edited.code).toBe(0);
      const lines = changedLines(before.stdout, edited.stdout);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^users\s/);

      const r = await runCli(['restore', b.manifest.file, '--mode', 'full', '--yes'], env());
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      const after = await check();
      expect(after.stdout).toBe(before.stdout);
    });

    it('emergency-restore after DROP TABLE of every table: skips a corrupted newer backup, brings the data back', async () => {
      const oracle = oracleDump(db.url);
      const good = await backup(ctx(), { reason: 'nightly' });
      await new Promise((r) => setTimeout(r, 5));
      const newer = await backup(ctx(), { reason: 'nightly' });
      // Damage the newest backup: its bytes no longer match (as after a bad copy or disk error).
      truncateSync(newer.path, Math.floor(statSync(newer.path).size / 2));

      const q = await rawQueryable(db.url);
      const tables =
        dialect === 'postgres'
          ? (await q.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'`)).map((x) => x.t)
          : (await q.query<{ t: string }>(`SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)).map((x) => x.t);
      expect(tables.length).toBeGreaterThan(5);
      if (dialect === 'sqlite') await q.exec('PRAGMA foreign_keys = OFF');
      for (const t of tables) await q.exec(`DROP TABLE "${t}"${dialect === 'postgres' ? ' CASCADE' : ''}`);
      await q.close();
      expect(oracleDump(db.url)).not.toBe(oracle);

      // Not confirmed (no TTY, no --yes): refused, nothing changes.
      const refused = await verb(['emergency-restore']);
      expect(refused.code).toBe(6);

      const r = await verb(['emergency-restore', '--yes']);
      expect(r.stderr).not.toMatch(/^error/m);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Skipped ${newer.manifest.file}`);
      expect(r.stdout).toContain(`Newest backup that verifies: ${good.manifest.file}`);
      expect(r.stdout).toContain('no safety backup needed');
      expect(oracleDump(db.url)).toBe(oracle);
      // The corrupted backup is marked as such in its manifest.
      const listed = (await listBackups(dir)).backups.find((m) => m.file === newer.manifest.file)!;
      expect(listed.verification?.ok).toBe(false);
      rmSync(newer.path);
      rmSync(newer.path.replace('.jsonl.gz', '.manifest.json'));
    });

    it('emergency-restore on an emptied database keeps a safety backup first', async () => {
      const oracle = oracleDump(db.url);
      const q = await rawQueryable(db.url);
      if (dialect === 'sqlite') {
        await q.exec('PRAGMA foreign_keys = OFF');
        for (const t of ['order_items', 'orders', '_PostToTag', 'comments', 'posts', 'tags', 'products', 'users']) await q.exec(`DELETE FROM "${t}"`);
      } else {
        await q.exec(`TRUNCATE order_items, orders, "_PostToTag", comments, posts, tags, products, users`);
      }
      await q.close();
      const r = await verb(['emergency-restore', '--yes', '--json']);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.live.reachable).toBe(true);
      expect(out.restore.safetyBackup).toBeTruthy();
      expect(existsSync(out.restore.safetyBackup)).toBe(true);
      expect(oracleDump(db.url)).toBe(oracle);
      // Its own safety copy (of the emptied tables) is never what a later emergency restore picks.
      const again = JSON.parse((await verb(['emergency-restore', '--dry-run', '--json'])).stdout);
      expect(again.choice.file).not.toBe(path.basename(out.restore.safetyBackup));
      expect(again.ignored.map((i: { file: string }) => i.file)).toContain(path.basename(out.restore.safetyBackup));
    });

    if (dialect === 'sqlite') {
      it('emergency-restore when the SQLite file is gone recreates it', async () => {
        const oracle = oracleDump(db.url);
        await backup(ctx(), { reason: 'hourly' });
        const file = parseDatabaseUrl(db.url).file!;
        copyFileSync(file, file + '.bak');
        unlinkSync(file);
        expect(existsSync(file)).toBe(false);
        const r = await verb(['emergency-restore', '--yes']);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain('cannot be opened');
        expect(oracleDump(db.url)).toBe(oracle);
        expect(readFileSync(file).length).toBeGreaterThan(0);
      });
    }
  });
}
