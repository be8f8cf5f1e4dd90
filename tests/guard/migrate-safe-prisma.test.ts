/**
 * migrate-safe when Prisma itself fails, and on a database that does not exist yet, with the real
 * prisma CLI (6.19 here) on SQLite and PostgreSQL:
 * - the CLI or its engine fails before recording any migration: exit 11 with Prisma's message,
 *   no per-statement status, no `migrate resolve` advice, nothing changed;
 * - a migration that really fails mid-way: still exit 22, statement status only from evidence;
 * - a missing database: created as `prisma migrate deploy` does, no pre-migration backup.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MigrateExitCode } from '../../lib/guard/plan.ts';
import type { MigrateSafeResult } from '../../lib/guard/run.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { ROOT, runNode, type CliResult } from '../helpers/cli.ts';
import { createPgDatabase, demoMigrationsDir, demoSchemaPath, DIALECTS, freshDatabase, migrateDemo, PG_ADMIN_URL, rawQueryable, seedDemo, tempDir, type TestDialect } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';

const TSX = createRequire(import.meta.url).resolve('tsx/cli');
const T = 300_000;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Runs the CLI in `cwd` (the project whose prisma.config.ts and node_modules Prisma uses). */
function cli(args: string[], cwd: string, env: Record<string, string>): Promise<CliResult> {
  return runNode([TSX, path.join(ROOT, 'bin/prisma-guard.ts'), ...args], { cwd, env: { CI: 'true', ...env } });
}

/**
 * A project folder of its own: the demo schema and migrations of `dialect`, the given
 * prisma.config.ts, and this repo's node_modules (so its prisma 6.19 and adapters resolve).
 */
function projectWithConfig(dialect: TestDialect, config: string) {
  const t = tempDir('prisma-guard-cfg-');
  cleanups.push(t.remove);
  fs.mkdirSync(path.join(t.dir, 'prisma'));
  fs.copyFileSync(demoSchemaPath(dialect), path.join(t.dir, 'prisma', 'schema.prisma'));
  fs.cpSync(demoMigrationsDir(dialect), path.join(t.dir, 'prisma', 'migrations'), { recursive: true });
  fs.writeFileSync(path.join(t.dir, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
  fs.writeFileSync(path.join(t.dir, 'prisma.config.ts'), config);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(t.dir, 'node_modules'));
  return { dir: t.dir, backups: path.join(t.dir, 'backups'), migrations: path.join(t.dir, 'prisma', 'migrations') };
}

function addMigration(migrations: string, name: string, sql: string): void {
  fs.mkdirSync(path.join(migrations, name), { recursive: true });
  fs.writeFileSync(path.join(migrations, name, 'migration.sql'), sql);
}

async function migrationRows(url: string): Promise<unknown[]> {
  const q = await rawQueryable(url);
  try {
    return await q.query('SELECT id, migration_name, checksum, finished_at, rolled_back_at, applied_steps_count, logs FROM _prisma_migrations ORDER BY migration_name');
  } finally {
    await q.close();
  }
}

/** The outcome the evidence supports for "column users.nickname was added". */
async function hasColumn(url: string, table: string, column: string): Promise<boolean> {
  const q = await rawQueryable(url);
  try {
    const rows = url.startsWith('file:')
      ? await q.query<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
      : await q.query<{ name: string }>(`SELECT column_name AS name FROM information_schema.columns WHERE table_name = '${table}' AND table_schema = current_schema()`);
    return rows.some((r) => r.name === column);
  } finally {
    await q.close();
  }
}

const NICKNAME = '20250401000000_add_nickname';

function expectPrismaCliFailure(r: CliResult, pattern: RegExp) {
  expect(r.code, r.stdout + r.stderr).toBe(11);
  const json = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string; hint: string; exitCode: number } };
  expect(json.ok).toBe(false);
  expect(json.error.code).toBe('PRISMA_CLI_FAILED');
  expect(json.error.exitCode).toBe(11);
  expect(json.error.message).toMatch(/failed before applying any migration: _prisma_migrations records nothing new and the schema is unchanged/);
  // Prisma's own message, and no invented statement status or migrate resolve advice.
  expect(json.error.message).toMatch(pattern);
  expect(r.stdout).not.toMatch(/\[applied|migrate resolve|"statements"/);
  return json.error;
}

describe('migrate-safe: Prisma fails before applying anything', { timeout: T }, () => {
  it('PostgreSQL adapter without the oid-19 workaround (real "Column type \'name\' could not be deserialized"): exit 11, nothing changed', async () => {
    const db = await createPgDatabase();
    cleanups.push(() => db.drop());
    const p = projectWithConfig(
      'postgres',
      `import { defineConfig } from 'prisma/config';\nimport { PrismaPg } from '@prisma/adapter-pg';\n\nexport default defineConfig({\n  experimental: { adapter: true },\n  engine: 'js',\n  schema: 'prisma/schema.prisma',\n  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL }),\n});\n`,
    );
    await migrateDemo(db.url);
    await seedDemo(db.url, { users: 20 });
    addMigration(p.migrations, NICKNAME, '-- AlterTable\nALTER TABLE "users" ADD COLUMN "nickname" TEXT;\n');
    const rowsBefore = await migrationRows(db.url);
    const dumpBefore = oracleDump(db.url);
    // A password in the URL (trust auth ignores it) must not reach the output.
    const withPassword = new URL(db.url);
    withPassword.password = 'pw-s3cret-91';
    const r = await cli(['migrate-safe', '--json', '--backup-dir', p.backups], p.dir, { DATABASE_URL: withPassword.toString() });
    expect(r.stdout + r.stderr).not.toContain('pw-s3cret-91');
    const error = expectPrismaCliFailure(r, /Column type 'name' could not be deserialized/);
    expect(error.message).toMatch(/prisma\/prisma#27403/);
    expect(error.hint).toMatch(/oid 25|as text/);
    expect(await migrationRows(db.url)).toEqual(rowsBefore);
    expect(oracleDump(db.url)).toBe(dumpBefore);
    // The pre-migration backup was taken (before the deploy) and stays, pinned, as the hint says.
    const listing = await listBackups(p.backups);
    expect(listing.backups.map((b) => [b.file.includes(`pre-migration-${NICKNAME}`), b.pinned])).toEqual([[true, true]]);
    expect(error.hint).toContain(listing.backups[0].file);
  });

  for (const dialect of DIALECTS) {
    it(`${dialect}: a native schema engine that cannot run (the offline placeholder): exit 11 saying the engine is not installed`, async () => {
      const db = await freshDatabase(dialect);
      cleanups.push(() => db.drop());
      // engine 'classic' makes Prisma 6.19 run its native schema engine, which is not installed here.
      const p = projectWithConfig(dialect, `import { defineConfig } from 'prisma/config';\n\nexport default defineConfig({\n  engine: 'classic',\n  datasource: { url: process.env.DATABASE_URL! },\n  schema: 'prisma/schema.prisma',\n});\n`);
      await migrateDemo(db.url);
      addMigration(p.migrations, NICKNAME, '-- AlterTable\nALTER TABLE "users" ADD COLUMN "nickname" TEXT;\n');
      const rowsBefore = await migrationRows(db.url);
      const r = await cli(['migrate-safe', '--json', '--backup-dir', p.backups], p.dir, { DATABASE_URL: db.url });
      // What Prisma says when its engine answers with the placeholder's explanation instead of JSON.
      const error = expectPrismaCliFailure(r, /Could not parse schema engine response/);
      expect(error.message).toMatch(/needs its native schema engine for this command, and the engine is not installed here \(it could not be downloaded\)/);
      expect(error.hint).toMatch(/PRISMA_SCHEMA_ENGINE_BINARY/);
      expect(await migrationRows(db.url)).toEqual(rowsBefore);
      expect(await hasColumn(db.url, 'users', 'nickname')).toBe(false);
      // Human output: the same error, no recovery section.
      const human = await cli(['migrate-safe', '--backup-dir', p.backups], p.dir, { DATABASE_URL: db.url });
      expect(human.code).toBe(11);
      expect(human.stderr).toMatch(/^error: prisma migrate deploy \(prisma 6\.19\.\d+\) failed before applying any migration/m);
      expect(human.stdout + human.stderr).not.toMatch(/To recover|migrate resolve/);
    });
  }
});

describe('migrate-safe: a migration that really fails mid-way', { timeout: T }, () => {
  for (const dialect of DIALECTS) {
    it(`${dialect}: exit 22, and each statement's status is what the live schema shows`, async () => {
      const db = await freshDatabase(dialect);
      cleanups.push(() => db.drop());
      const t = tempDir('prisma-guard-midway-');
      cleanups.push(t.remove);
      const schema = path.join(t.dir, 'prisma', 'schema.prisma');
      fs.mkdirSync(path.dirname(schema), { recursive: true });
      fs.copyFileSync(demoSchemaPath(dialect), schema);
      const migrations = path.join(t.dir, 'prisma', 'migrations');
      fs.cpSync(demoMigrationsDir(dialect), migrations, { recursive: true });
      await migrateDemo(db.url, { schema });
      await seedDemo(db.url, { users: 20 });
      // Statement 1 adds a column, statement 2 adds an index, statement 3 fails (duplicate primary key), statement 4 never runs.
      addMigration(
        migrations,
        '20250401000000_fails',
        '-- AlterTable\nALTER TABLE "users" ADD COLUMN "nickname" TEXT;\n\n-- CreateIndex\nCREATE INDEX "users_nickname_idx" ON "users"("nickname");\n\n-- fails\nINSERT INTO "tags" ("id", "name") SELECT "id", "name" FROM "tags" WHERE "id" = (SELECT min("id") FROM "tags");\n\n-- CreateTable\nCREATE TABLE "never" ("id" INTEGER NOT NULL PRIMARY KEY);\n',
      );
      const backups = path.join(t.dir, 'backups');
      const r = await cli(['migrate-safe', '--json', '--backup-dir', backups], ROOT, { DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: schema });
      expect(r.code, r.stderr).toBe(MigrateExitCode.FAILED_NOT_ROLLED_BACK);
      const json = JSON.parse(r.stdout) as MigrateSafeResult;
      const s = json.failure!.statements;
      expect(s.map((x) => x.line)).toEqual([2, 5, 8, 11]);
      // Evidence: what the database holds now.
      const added = await hasColumn(db.url, 'users', 'nickname');
      if (dialect === 'postgres') expect(added).toBe(true); // no transaction around the script
      expect(s[0].outcome).toBe(added ? 'applied' : 'not-applied');
      expect(s[1].outcome).toBe(added ? 'applied' : 'not-applied');
      expect(s[2]).toMatchObject({ outcome: 'unknown' });
      expect(s[3]).toMatchObject({ outcome: 'not-applied', evidence: 'table never does not exist now' });
      expect(json.failure!.commands.restore).toMatch(/^prisma-guard restore .*pre-migration-20250401000000_fails.* --mode full --yes/);
      expect(json.failure!.logs ?? '').toMatch(/unique|duplicate/i);
    });
  }
});

describe('migrate-safe on a database that does not exist yet', { timeout: T }, () => {
  for (const dialect of DIALECTS) {
    it(`${dialect}: creates it as prisma migrate deploy does, applies every migration, takes no pre-migration backup`, async () => {
      const t = tempDir('prisma-guard-newdb-');
      cleanups.push(t.remove);
      const schema = path.join(t.dir, 'prisma', 'schema.prisma');
      fs.mkdirSync(path.dirname(schema), { recursive: true });
      fs.copyFileSync(demoSchemaPath(dialect), schema);
      fs.cpSync(demoMigrationsDir(dialect), path.join(t.dir, 'prisma', 'migrations'), { recursive: true });
      let url: string;
      let exists: () => Promise<boolean>;
      if (dialect === 'sqlite') {
        const file = path.join(t.dir, 'data', 'new.db'); // its folder does not exist either
        url = `file:${file}`;
        exists = async () => fs.existsSync(file);
      } else {
        // A name no database has: createPgDatabase makes one, we take its name and drop it first.
        const probe = await createPgDatabase();
        await probe.drop();
        url = probe.url;
        const admin = await rawQueryable(PG_ADMIN_URL);
        cleanups.push(async () => {
          const a = await rawQueryable(PG_ADMIN_URL);
          await a.exec(`DROP DATABASE IF EXISTS "${probe.name}" WITH (FORCE)`);
          await a.close();
        });
        exists = async () => (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_database WHERE datname = '${probe.name}'`))[0].n === 1;
        cleanups.push(() => admin.close());
      }
      const env = { DATABASE_URL: url, PRISMA_GUARD_SCHEMA: schema };
      const backups = path.join(t.dir, 'backups');
      expect(await exists()).toBe(false);

      // A dry run plans every migration and creates nothing.
      const dry = await cli(['migrate-safe', '--json', '--dry-run', '--backup-dir', backups], ROOT, env);
      expect(dry.code, dry.stderr).toBe(0);
      const dryJson = JSON.parse(dry.stdout) as MigrateSafeResult;
      expect(dryJson.status).toBe('dry-run');
      expect(dryJson.plan.pending).toEqual(['20250101090000_init', '20250301120000_add_last_login_and_post_published_index']);
      expect(dryJson.warnings.join('\n')).toMatch(/does not exist yet; a real run creates it/);
      expect(await exists()).toBe(false);

      const r = await cli(['migrate-safe', '--json', '--backup-dir', backups], ROOT, env);
      expect(r.code, r.stderr).toBe(0);
      const json = JSON.parse(r.stdout) as MigrateSafeResult;
      expect(json.status).toBe('applied');
      expect(json.createdDatabase).toBe(true);
      expect(json.preMigrationBackup).toBeUndefined();
      expect(json.warnings.join('\n')).toMatch(/did not exist; migrate-safe created it, as prisma migrate deploy does\. It held nothing, so there is no pre-migration backup/);
      expect(await exists()).toBe(true);
      expect((await migrationRows(url)).length).toBe(2);
      // The post-migration snapshot, verified; the report counts every table from nothing.
      const post = json.postMigrationBackup!;
      expect(post.file).toMatch(/-post-migration-20250301120000_add_last_login_and_post_published_index\.jsonl\.gz$/);
      expect((await verifyBackup(resolveContext({ url, backupDir: backups, env: {} }), post.file)).ok).toBe(true);
      expect((await listBackups(backups)).backups.map((b) => b.file)).toEqual([post.file]);
      expect(json.report!.rowCounts.find((c) => c.table === 'users')).toMatchObject({ before: null, after: 0 });
      expect(json.report!.schemaChanges.some((d) => d.kind === 'table-added' && d.table === 'users')).toBe(true);

      // A second run: the database exists now, nothing pending.
      const again = await cli(['migrate-safe', '--backup-dir', backups], ROOT, env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/Nothing to migrate/);
    });
  }
});
