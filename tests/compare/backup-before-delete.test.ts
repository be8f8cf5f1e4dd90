import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import { withBackupBeforeDelete } from '../../lib/ops/backup-before-delete.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { createAdapter } from '../../prisma/adapter.ts';
import type { PrismaClient } from '../../prisma/generated/sqlite/client.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS, rawQueryable, type FreshDatabase, demoDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';

async function client(dialect: string, url: string): Promise<PrismaClient> {
  // Both generated clients share the API used here (typed against the SQLite one, as prisma/seed.ts does).
  const mod = (dialect === 'sqlite' ? await import('../../prisma/generated/sqlite/client.ts') : await import('../../prisma/generated/postgres/client.ts')) as typeof import('../../prisma/generated/sqlite/client.ts');
  return new mod.PrismaClient({ adapter: createAdapter(url) });
}

async function count(url: string, sql: string): Promise<number> {
  const q = await rawQueryable(url);
  try {
    return Number((await q.query<{ n: number }>(sql))[0].n);
  } finally {
    await q.close();
  }
}

for (const dialect of DIALECTS) {
  describe(`backup-before-delete on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let prisma: PrismaClient;
    const ctx = () => resolveContext({ url: db.url, backupDir: dir, env: {} });

    beforeAll(async () => {
      db = await demoDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-bbd-'));
      prisma = await client(dialect, db.url);
    });
    afterAll(async () => {
      await prisma?.$disconnect();
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('deleteMany with cascades writes a verifiable backup first; restore brings back exactly the rows', async () => {
      const original = oracleDump(db.url, { dataOnly: true });
      const authors = [1, 2, 3, 5, 8];
      const inList = authors.join(', ');
      const posts = await count(db.url, `SELECT count(*) AS n FROM posts WHERE author_id IN (${inList})`);
      const comments = await count(db.url, `SELECT count(*) AS n FROM comments WHERE post_id IN (SELECT id FROM posts WHERE author_id IN (${inList}))`);
      const links = await count(db.url, `SELECT count(*) AS n FROM "_PostToTag" WHERE "A" IN (SELECT id FROM posts WHERE author_id IN (${inList}))`);
      expect(posts).toBeGreaterThan(0);
      expect(comments).toBeGreaterThan(0);
      expect(links).toBeGreaterThan(0);

      const backups: string[] = [];
      const guarded = withBackupBeforeDelete(prisma, { models: ['Post', 'Order'], url: db.url, backupDir: dir, onBackup: (b) => backups.push(b.path) });
      const deleted = await guarded.post.deleteMany({ where: { authorId: { in: authors } } });
      expect(deleted.count).toBe(posts);
      expect(await count(db.url, `SELECT count(*) AS n FROM posts WHERE author_id IN (${inList})`)).toBe(0);
      expect(backups).toHaveLength(1);

      const file = path.basename(backups[0]);
      expect(file).toMatch(/-pre-delete-post\.jsonl\.gz$/);
      const v = await verifyBackup(ctx(), file);
      expect(v.ok).toBe(true);
      expect(v.tables!.posts.rows).toBe(posts);
      expect(v.tables!.comments.rows).toBe(comments);
      expect(v.tables!._PostToTag.rows).toBe(links);
      expect(Object.keys(v.tables!).sort()).toEqual(['_PostToTag', 'comments', 'posts']);

      // A plain `restore <file> --yes` merges: the rows come back, every other row stays.
      const r = await runCli(['restore', file, '--yes', '--no-safety-backup'], { DATABASE_URL: db.url, BACKUP_DIR: dir });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(oracleDump(db.url, { dataOnly: true })).toBe(original);
    });

    it('delete of one row backs up its cascaded children too', async () => {
      const original = oracleDump(db.url, { dataOnly: true });
      const orderId = Number((await count(db.url, `SELECT min(order_id) AS n FROM order_items`)));
      const items = await count(db.url, `SELECT count(*) AS n FROM order_items WHERE order_id = ${orderId}`);
      expect(items).toBeGreaterThan(0);
      const guarded = withBackupBeforeDelete(prisma, { models: ['Order'], url: db.url, backupDir: dir, reason: 'test' });
      await guarded.order.delete({ where: { id: orderId } });
      expect(await count(db.url, `SELECT count(*) AS n FROM order_items WHERE order_id = ${orderId}`)).toBe(0);
      const m = (await listBackups(dir)).backups.find((b) => b.reason === 'pre-delete-order-test')!;
      expect(m.tables.orders.rows).toBe(1);
      expect(m.tables.order_items.rows).toBe(items);
      const res = await restore(ctx(), { backup: m.file, yes: true, tables: ['orders', 'order_items'] });
      expect(res.plan.merge).toBe(true);
      expect(res.proof?.matches).toBe(true);
      expect(oracleDump(db.url, { dataOnly: true })).toBe(original);
    });

    it('when the backup cannot be written nothing is deleted and the error says why', async () => {
      const before = oracleDump(db.url, { dataOnly: true });
      const blocked = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-ro-'));
      let backupDir: string;
      if (process.getuid?.() === 0) {
        // root ignores permissions: make the "folder" a regular file, which no backup can go into.
        backupDir = path.join(blocked, 'backups');
        writeFileSync(backupDir, 'not a folder');
      } else {
        chmodSync(blocked, 0o500);
        backupDir = blocked;
      }
      try {
        const guarded = withBackupBeforeDelete(prisma, { models: ['Post'], url: db.url, backupDir });
        const e = await guarded.post.deleteMany({ where: { authorId: { in: [4, 6, 7] } } }).catch((x) => x);
        expect(e).toBeInstanceOf(GuardError);
        expect(e.code).toBe('WRITE_FAILED');
        expect(e.message).toMatch(/^Nothing was deleted: the backup of the \d+ Post row\(s\)/);
        expect(oracleDump(db.url, { dataOnly: true })).toBe(before);
      } finally {
        chmodSync(blocked, 0o700);
        rmSync(blocked, { recursive: true, force: true });
      }
      expect(readdirSync(dir).some((f) => f.includes('.tmp'))).toBe(false);
    });
  });
}
