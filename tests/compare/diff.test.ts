import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { diffTable, type DiffReport, type RowSource } from '../../lib/ops/diff.ts';
import { BackupFileSide, diffBackups, diffWithLive } from '../../lib/ops/diff-sources.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS, rawQueryable, type FreshDatabase, demoDatabase } from '../helpers/db.ts';

/** Every column of `users` except the key and created_at: the update below changes each of them. */
const USER_COLUMNS_CHANGED = ['email', 'name', 'role', 'bio', 'is_active', 'karma', 'balance_cents', 'rating', 'credit', 'birth_date', 'updated_at', 'preferences', 'avatar', 'last_login_at'];

function changes(dialect: string): string[] {
  const pg = dialect === 'postgres';
  return [
    // One update touching every column type: text, enum, nullable text, boolean, int, bigint, float, decimal, datetimes, json, bytes.
    `UPDATE users SET email = 'changed@example.com', name = NULL, role = ${pg ? `(CASE WHEN role = 'ADMIN' THEN 'READER' ELSE 'ADMIN' END)::"Role"` : `CASE WHEN role = 'ADMIN' THEN 'READER' ELSE 'ADMIN' END`},
       bio = 'new bio ✓', is_active = ${pg ? 'NOT is_active' : '1 - is_active'}, karma = karma + 1, balance_cents = balance_cents - 7, rating = 0.1875,
       credit = credit + 1, birth_date = ${pg ? `'2001-02-03 04:05:06.789'` : `'2001-02-03T04:05:06.789+00:00'`}, updated_at = ${pg ? `'2030-01-01 00:00:00'` : `'2030-01-01T00:00:00.000+00:00'`},
       last_login_at = ${pg ? `'2031-01-01 00:00:00'` : `'2031-01-01T00:00:00.000+00:00'`}, preferences = '{"changed":true}', avatar = ${pg ? `'\\x010203'::bytea` : `X'010203'`}
     WHERE id = 10`,
    `INSERT INTO users (id, email, role, is_active, karma, balance_cents, credit, created_at, updated_at) VALUES (100000, 'new@example.com', 'READER', ${pg ? 'true' : '1'}, 0, 0, 0, ${pg ? `'2024-05-05 00:00:00'` : `'2024-05-05T00:00:00.000+00:00'`}, ${pg ? `'2024-05-05 00:00:00'` : `'2024-05-05T00:00:00.000+00:00'`})`,
    `INSERT INTO tags (id, name) VALUES (100000, 'brand-new')`,
    `DELETE FROM comments WHERE id = (SELECT min(id) FROM comments)`,
    `DELETE FROM order_items WHERE order_id = (SELECT min(order_id) FROM order_items) AND product_id = (SELECT min(product_id) FROM order_items WHERE order_id = (SELECT min(order_id) FROM order_items))`,
    `DELETE FROM "_PostToTag" WHERE "A" = (SELECT min("A") FROM "_PostToTag") AND "B" = (SELECT min("B") FROM "_PostToTag" WHERE "A" = (SELECT min("A") FROM "_PostToTag"))`,
  ];
}

function byTable(report: DiffReport) {
  return Object.fromEntries(report.tables.filter((t) => t.status !== 'same').map((t) => [t.table, { added: t.added, removed: t.removed, changed: t.changed }]));
}

for (const dialect of DIALECTS) {
  describe(`diff on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let before: string;
    let after: string;
    const ctx = () => resolveContext({ url: db.url, backupDir: dir, env: {} });
    const env = () => ({ DATABASE_URL: db.url, BACKUP_DIR: dir });
    const runVerb = (args: string[]) => runCli(args, env());

    beforeAll(async () => {
      db = await demoDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-diff-'));
      before = (await backup(ctx(), { reason: 'before' })).manifest.file;
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('finds no difference between a backup and itself, nor with the unchanged live database', async () => {
      const self = await diffBackups(ctx(), before, before);
      expect(self.equal).toBe(true);
      expect(self.schema).toEqual([]);
      expect(self.tables.length).toBeGreaterThan(5);
      expect(self.tables.every((t) => t.status === 'same' && t.method === 'merge' && t.leftRows === t.rightRows)).toBe(true);
      const live = await diffWithLive(ctx(), before);
      expect(live.equal).toBe(true);
      const cli = await runVerb(['diff', before, '--live']);
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      expect(cli.stdout).toContain('No differences.');
    });

    it('reports exactly the scripted inserts, updates (every column type) and deletes', async () => {
      const q = await rawQueryable(db.url);
      try {
        for (const sql of changes(dialect)) await q.query(sql);
      } finally {
        await q.close();
      }
      after = (await backup(ctx(), { reason: 'after' })).manifest.file;
      const expected = {
        users: { added: 1, removed: 0, changed: 1 },
        tags: { added: 1, removed: 0, changed: 0 },
        comments: { added: 0, removed: 1, changed: 0 },
        order_items: { added: 0, removed: 1, changed: 0 },
        _PostToTag: { added: 0, removed: 1, changed: 0 },
      };
      const report = await diffBackups(ctx(), before, after);
      expect(report.equal).toBe(false);
      expect(report.schema).toEqual([]);
      expect(byTable(report)).toEqual(expected);
      const users = report.tables.find((t) => t.table === 'users')!;
      expect(Object.keys(users.changedColumns).sort()).toEqual([...USER_COLUMNS_CHANGED].sort());
      expect(Object.values(users.changedColumns).every((n) => n === 1)).toBe(true);
      expect(users.samples.changed[0].key).toEqual({ id: 10 });
      const email = users.samples.changed[0].changes.find((c) => c.column === 'email')!;
      expect(email.after).toBe('changed@example.com');
      expect(users.samples.added[0].key).toEqual({ id: 100000 });
      // SQLite keeps the hidden rowids of a table whose rowid no INTEGER PRIMARY KEY aliases, and matches its rows on them.
      expect(report.tables.find((t) => t.table === 'order_items')!.key).toEqual(dialect === 'sqlite' ? ['rowid'] : ['order_id', 'product_id']);

      // The live database, read in its own snapshot, gives the same answer.
      const live = await diffWithLive(ctx(), before);
      expect(byTable(live)).toEqual(expected);
      expect(live.tables.map((t) => [t.table, t.changedColumns, t.samples])).toEqual(report.tables.map((t) => [t.table, t.changedColumns, t.samples]));

      const cli = await runVerb(['diff', before, after, '--table', 'users', '--limit', '5']);
      expect(cli.code).toBe(1);
      expect(cli.stdout).toMatch(/\* users\s+\d+\s+\d+\s+1\s+0\s+1/);
      expect(cli.stdout).toContain('email: "');
      expect(cli.stdout).toContain('-> "changed@example.com"');
      const json = await runVerb(['diff', before, '--live', '--json']);
      expect(json.code).toBe(1);
      expect(byTable(JSON.parse(json.stdout))).toEqual(expected);
    });

    it('gives the same result when the merge cannot rely on the order (partition fallback)', async () => {
      const a = await BackupFileSide.open(path.join(dir, before), before);
      const b = await BackupFileSide.open(path.join(dir, after), after);
      try {
        for (const name of ['users', 'order_items', '_PostToTag']) {
          const ta = a.header.schema.tables.find((t) => t.name === name)!;
          const tb = b.header.schema.tables.find((t) => t.name === name)!;
          const merged = await diffTable(a.header.schema, a.side().source(ta), b.side().source(tb));
          const split = await diffTable(a.header.schema, a.side().source(ta), b.side().source(tb), { forcePartition: true });
          expect(split.method).toBe('partition');
          expect({ ...split, method: 'merge' }).toEqual(merged);
          // Shuffled input: the merge detects the disorder and falls back by itself.
          const shuffled = (src: RowSource): RowSource => ({
            table: src.table,
            rows: async function* () {
              const all = [];
              for await (const batch of src.rows()) all.push(...batch);
              all.reverse();
              yield all;
            },
          });
          const fell = await diffTable(a.header.schema, shuffled(a.side().source(ta)), shuffled(b.side().source(tb)));
          expect(fell.method).toBe('partition');
          expect([fell.added, fell.removed, fell.changed, fell.unchanged]).toEqual([merged.added, merged.removed, merged.changed, merged.unchanged]);
        }
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('reports schema changes and still compares the shared columns', async () => {
      const q = await rawQueryable(db.url);
      try {
        await q.query(`ALTER TABLE tags ADD COLUMN color TEXT`);
      } finally {
        await q.close();
      }
      const report = await diffWithLive(ctx(), after);
      expect(report.schema.map((d) => [d.kind, d.table, d.column])).toEqual([['column-added', 'tags', 'color']]);
      const tags = report.tables.find((t) => t.table === 'tags')!;
      expect(tags.columns.onlyRight).toEqual(['color']);
      expect([tags.added, tags.removed, tags.changed]).toEqual([0, 0, 0]);
      expect(report.equal).toBe(false);
    });
  });
}
