/**
 * The real prisma CLI (through runPrisma, offline-capable) on real databases: migrate deploy and
 * status on both dialects, our migrationState before/after, checksum equality with Prisma's, a
 * failing migration recorded as failed, and Prisma's own verdict on modified/CRLF/missing scripts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../lib/core/types.ts';
import { migrationChecksum, migrationState, readAppliedMigrations, readMigrationsFolder } from '../../lib/prisma/migrations.ts';
import {
  DIALECTS,
  demoMigrationsDir,
  demoSchemaPath,
  freshDatabase,
  migrateDemo,
  prismaDemo,
  rawQueryable,
  tempDir,
  type FreshDatabase,
} from '../helpers/db.ts';

const T = 300_000;

/**
 * What Prisma's schema engine itself concludes (its diagnoseMigrationHistory result, which
 * `migrate status`/`migrate dev` act on), read from the CLI's debug log: the oracle our
 * migrationState is checked against.
 */
async function prismaDiagnosis(url: string, schema: string) {
  const r = await prismaDemo(['migrate', 'status'], url, { schema, env: { DEBUG: 'prisma:schemaEngine:wasm:stdout' } });
  const text = r.stdout + r.stderr;
  const marker = '[diagnoseMigrationHistory] result: ';
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`No schema engine diagnosis in prisma's output:\n${text}`);
  const rest = text.slice(at + marker.length);
  // debug prints util.inspect(JSON text): single-quoted pieces joined by "+", then "+<n>ms".
  const chunk = rest.slice(0, rest.search(/' \+\d+(ms|s|m|h|d)\b/) + 1);
  const json = [...chunk.matchAll(/'((?:[^'\\]|\\.)*)'/g)]
    .map((m) => m[1].replace(/\\(.)/g, (_: string, c: string) => (c === 'n' ? '\n' : c)))
    .join('');
  const d = JSON.parse(json) as {
    editedMigrationNames: string[];
    failedMigrationNames: string[];
    history: null | { diagnostic: string; unappliedMigrationNames?: string[]; unpersistedMigrationNames?: string[] };
  };
  return {
    edited: d.editedMigrationNames,
    failed: d.failedMigrationNames,
    unapplied: d.history?.unappliedMigrationNames ?? [],
    unpersisted: d.history?.unpersistedMigrationNames ?? [],
  };
}

/** A copy of the demo schema and migrations in a temp folder, to alter the history freely. */
function copyDemoProject(dialect: (typeof DIALECTS)[number]) {
  const t = tempDir('prisma-guard-history-');
  fs.copyFileSync(demoSchemaPath(dialect), path.join(t.dir, 'schema.prisma'));
  fs.cpSync(demoMigrationsDir(dialect), path.join(t.dir, 'migrations'), { recursive: true });
  return { ...t, schema: path.join(t.dir, 'schema.prisma'), migrations: path.join(t.dir, 'migrations') };
}

for (const dialect of DIALECTS) {
  describe(`prisma migrate on ${dialect}`, () => {
    let db: FreshDatabase;
    let q: Queryable & { close(): Promise<void> };
    const cleanups: (() => unknown)[] = [];

    beforeAll(async () => {
      db = await freshDatabase(dialect);
    }, T);
    afterAll(async () => {
      await q?.close();
      for (const c of cleanups) await c();
      await db?.drop();
    }, T);

    it('before deploy: no _prisma_migrations table, every local migration pending', async () => {
      if (dialect === 'sqlite') fs.writeFileSync(db.name, ''); // an empty SQLite file is an empty database
      q = await rawQueryable(db.url);
      const folder = await readMigrationsFolder(demoMigrationsDir(dialect));
      expect(folder.map((m) => m.name)).toEqual(['20250101090000_init', '20250301120000_add_last_login_and_post_published_index']);
      expect(await readAppliedMigrations(q, dialect)).toEqual([]);
      const s = migrationState(folder, []);
      expect(s.pending.map((m) => m.name)).toEqual(folder.map((m) => m.name));
      expect(s.upToDate).toBe(false);
    }, T);

    it('migrate deploy applies both; state is up to date and checksums equal what Prisma recorded', async () => {
      const out = await migrateDemo(db.url);
      expect(out.stdout + out.stderr).toContain('All migrations have been successfully applied');
      const folder = await readMigrationsFolder(demoMigrationsDir(dialect));
      const applied = await readAppliedMigrations(q, dialect);
      expect(applied.map((r) => r.migration_name)).toEqual(folder.map((m) => m.name));
      for (const r of applied) {
        expect(r.finished_at).not.toBeNull();
        expect(r.rolled_back_at).toBeNull();
        expect(r.applied_steps_count).toBe(1);
        expect(Number.isNaN(Date.parse(r.started_at!))).toBe(false);
      }
      // Our checksum is byte-for-byte Prisma's.
      expect(applied.map((r) => r.checksum)).toEqual(folder.map((m) => m.checksum));
      expect(applied[0].checksum).toBe(migrationChecksum(fs.readFileSync(path.join(demoMigrationsDir(dialect), '20250101090000_init', 'migration.sql'))));
      const s = migrationState(folder, applied);
      expect(s).toMatchObject({ pending: [], failed: [], modified: [], missingLocally: [], upToDate: true });
      expect(s.applied).toEqual(folder.map((m) => m.name));

      const status = await prismaDemo(['migrate', 'status'], db.url);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain('Database schema is up to date');
      // The demo tables exist with their @@map names.
      const tables = await q.query<{ name: string }>(
        dialect === 'sqlite'
          ? `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
          : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
      );
      expect(tables.map((t) => t.name).sort()).toEqual(
        ['_PostToTag', '_prisma_migrations', 'comments', 'order_items', 'orders', 'posts', 'products', 'tags', 'users'].sort(),
      );
    }, T);

    it("agrees with Prisma's own diagnosis: CRLF is no change, an edit is, a deleted folder is missing", async () => {
      const copy = copyDemoProject(dialect);
      cleanups.push(copy.remove);
      const second = path.join(copy.migrations, '20250301120000_add_last_login_and_post_published_index', 'migration.sql');
      const original = fs.readFileSync(second, 'utf8');
      const ours = async () => {
        const s = migrationState(await readMigrationsFolder(copy.migrations), await readAppliedMigrations(q, dialect));
        return {
          edited: s.modified.map((m) => m.name),
          failed: s.failed.map((r) => r.migration_name),
          unapplied: s.pending.map((m) => m.name),
          unpersisted: s.missingLocally.map((r) => r.migration_name),
        };
      };

      // 1. CRLF line endings: not a modification (Prisma's checksum comparison ignores them).
      fs.writeFileSync(second, original.replaceAll('\n', '\r\n'));
      let prisma = await prismaDiagnosis(db.url, copy.schema);
      expect(prisma).toEqual({ edited: [], failed: [], unapplied: [], unpersisted: [] });
      expect(await ours()).toEqual(prisma);

      // 2. An edited script.
      fs.writeFileSync(second, original + '\n-- edited after it was applied\n');
      prisma = await prismaDiagnosis(db.url, copy.schema);
      expect(prisma.edited).toEqual(['20250301120000_add_last_login_and_post_published_index']);
      expect(await ours()).toEqual(prisma);

      // 3. The folder deleted: applied but missing locally.
      fs.rmSync(path.dirname(second), { recursive: true });
      prisma = await prismaDiagnosis(db.url, copy.schema);
      expect(prisma.unpersisted).toEqual(['20250301120000_add_last_login_and_post_published_index']);
      expect(await ours()).toEqual(prisma);
      // (Seen with Prisma 6.19, JS engine: `prisma migrate status` prints "Database schema is up to
      // date!" and exits 0 in cases 2 and 3; only the engine's diagnosis above reports them.)
    }, T);

    it('agrees with Prisma on pending migrations', async () => {
      const copy = copyDemoProject(dialect);
      cleanups.push(copy.remove);
      const dir = path.join(copy.migrations, '20250501000000_add_coupon');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'migration.sql'), 'CREATE TABLE "coupons" ("code" TEXT NOT NULL PRIMARY KEY);\n');
      const prisma = await prismaDiagnosis(db.url, copy.schema);
      expect(prisma.unapplied).toEqual(['20250501000000_add_coupon']);
      const s = migrationState(await readMigrationsFolder(copy.migrations), await readAppliedMigrations(q, dialect));
      expect(s.pending.map((m) => m.name)).toEqual(prisma.unapplied);
      expect(s.upToDate).toBe(false);
    }, T);
  });

  describe(`a failing migration on ${dialect}`, () => {
    let db: FreshDatabase;
    let q: (Queryable & { close(): Promise<void> }) | undefined;
    let copy: ReturnType<typeof copyDemoProject>;

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      copy = copyDemoProject(dialect);
      const dir = path.join(copy.migrations, '20250401000000_broken');
      fs.mkdirSync(dir);
      // First statement succeeds, second fails: Prisma does not wrap the script in a transaction.
      fs.writeFileSync(
        path.join(dir, 'migration.sql'),
        'CREATE TABLE "partial_marker" ("id" INTEGER NOT NULL);\n\nINSERT INTO "no_such_table" ("id") VALUES (1);\n',
      );
    }, T);
    afterAll(async () => {
      await q?.close();
      copy?.remove();
      await db?.drop();
    }, T);

    it('is recorded as failed (finished_at NULL, logs set) and blocks later deploys (P3009)', async () => {
      const deploy = await prismaDemo(['migrate', 'deploy'], db.url, { schema: copy.schema });
      expect(deploy.code).not.toBe(0);
      expect(deploy.stdout + deploy.stderr).toContain('no_such_table');

      q = await rawQueryable(db.url);
      const applied = await readAppliedMigrations(q, dialect);
      expect(applied.map((r) => r.migration_name)).toEqual(['20250101090000_init', '20250301120000_add_last_login_and_post_published_index', '20250401000000_broken']);
      const broken = applied[2];
      expect(broken.finished_at).toBeNull();
      expect(broken.rolled_back_at).toBeNull();
      expect(broken.applied_steps_count).toBe(0);
      expect(broken.logs).toMatch(/no_such_table/);

      const s = migrationState(await readMigrationsFolder(copy.migrations), applied);
      expect(s.failed.map((r) => r.migration_name)).toEqual(['20250401000000_broken']);
      expect(s.pending).toEqual([]);
      expect(s.applied).toEqual(['20250101090000_init', '20250301120000_add_last_login_and_post_published_index']);
      expect(s.upToDate).toBe(false);

      expect(await prismaDiagnosis(db.url, copy.schema)).toMatchObject({ failed: ['20250401000000_broken'], edited: [] });
      // Prisma itself refuses to go on.
      const again = await prismaDemo(['migrate', 'deploy'], db.url, { schema: copy.schema });
      expect(again.code).not.toBe(0);
      expect(again.stdout + again.stderr).toContain('P3009');
    }, T);

    it('leaves the statements before the failure applied (no transaction around the script)', async () => {
      const marker = await q!.query(
        dialect === 'sqlite'
          ? `SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'partial_marker'`
          : `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'partial_marker'`,
      );
      expect(marker).toHaveLength(1);
    }, T);
  });
}
