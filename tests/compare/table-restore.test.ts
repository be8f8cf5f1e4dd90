import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS, rawQueryable, type FreshDatabase, demoDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';

const APP_TABLES = ['users', 'posts', 'tags', '_PostToTag', 'comments', 'products', 'orders', 'order_items'];

for (const dialect of DIALECTS) {
  describe(`table restore and dry-run plan on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let file: string;
    let original: string;
    const ctx = () => resolveContext({ url: db.url, backupDir: dir, env: {} });

    beforeAll(async () => {
      db = await demoDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-tables-'));
      file = (await backup(ctx(), { reason: 'before' })).manifest.file;
      original = oracleDump(db.url, { dataOnly: true });
      const q = await rawQueryable(db.url);
      try {
        await q.query(`UPDATE users SET name = 'Renamed' WHERE id IN (10, 11)`);
        await q.query(`DELETE FROM comments WHERE id = (SELECT max(id) FROM comments)`);
        await q.query(`INSERT INTO tags (id, name) VALUES (100001, 'new-tag')`);
        await q.query(`DELETE FROM "_PostToTag" WHERE "A" = (SELECT max("A") FROM "_PostToTag")`);
      } finally {
        await q.close();
      }
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('a dry run shows per table the rows that would be deleted, inserted and updated', async () => {
      const q = await rawQueryable(db.url);
      const links = Number((await q.query<{ n: number }>(`SELECT count(*) AS n FROM "_PostToTag"`))[0].n);
      await q.close();
      const r = await restore(ctx(), { backup: file, dryRun: true });
      expect(r.executed).toBe(false);
      const rows = Object.fromEntries(r.plan.tables.map((t) => [t.name, t.rows]));
      expect(rows.users).toMatchObject({ delete: 0, insert: 0, update: 2 });
      expect(rows.comments).toMatchObject({ delete: 0, insert: 1, update: 0 });
      expect(rows.tags).toMatchObject({ delete: 1, insert: 0, update: 0 });
      expect(rows._PostToTag!.insert).toBeGreaterThan(0);
      expect(rows._PostToTag!.delete).toBe(0);
      expect(rows._PostToTag!.unchanged).toBe(links);
      expect(rows.products).toMatchObject({ delete: 0, insert: 0, update: 0 });
      // Unchanged + update + insert = the backup's rows for every table.
      for (const t of r.plan.tables) expect(t.rows!.unchanged + t.rows!.update + t.rows!.insert).toBe(t.insert);
      expect(oracleDump(db.url, { dataOnly: true })).not.toBe(original);

      const cli = await runCli(['restore', file, '--dry-run'], { DATABASE_URL: db.url, BACKUP_DIR: dir });
      expect(cli.code).toBe(0);
      expect(cli.stdout).toMatch(/delete\s+insert\s+update\s+unchanged/);
      expect(cli.stdout).toMatch(/users\s+\d+\s+\d+\s+0\s+0\s+2\s+\d+/);
    });

    it('refuses --tables that would break foreign keys, naming the tables to add', async () => {
      const e = await restore(ctx(), { backup: file, tables: ['comments'], yes: true }).catch((x) => x);
      expect(e).toBeInstanceOf(GuardError);
      expect(e.code).toBe('USAGE');
      expect(e.details.tables.sort()).toEqual(['posts', 'users']);
      expect(e.hint).toContain('--tables comments,');
      const cli = await runCli(['restore', file, '--tables', 'comments', '--yes'], { DATABASE_URL: db.url, BACKUP_DIR: dir });
      expect(cli.code).toBe(2);
      expect(cli.stderr).toContain('posts');
      expect(oracleDump(db.url, { dataOnly: true })).not.toBe(original);
    });

    it('restores the named tables exactly and leaves the others alone', async () => {
      const q = await rawQueryable(db.url);
      await q.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ('extra', 'x', 'zz_not_in_backup', ${dialect === 'postgres' ? 'now()' : `'2030-01-01'`}, 0)`);
      await q.close();
      const r = await restore(ctx(), { backup: file, tables: APP_TABLES, yes: true });
      expect(r.executed).toBe(true);
      expect(r.proof?.matches).toBe(true);
      expect(Object.keys(r.proof!.tables).sort()).toEqual([...APP_TABLES].sort());
      const now = oracleDump(db.url, { dataOnly: true });
      // Every app row is back; the extra migration row (table not restored) is still there.
      expect(now.split('\n').filter((l) => !l.includes('zz_not_in_backup')).join('\n')).toBe(original);
      expect(now).toContain('zz_not_in_backup');
    });
  });
}
