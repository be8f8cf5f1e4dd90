import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OPERATION_LOCK, resolveContext } from '../../lib/ops/context.ts';
import { connect } from '../../lib/dialects/index.ts';
import { ExitCode } from '../../lib/core/errors.ts';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { MigrateExitCode } from '../../lib/guard/plan.ts';
import type { MigrateSafeResult } from '../../lib/guard/run.ts';
import { ROOT, runCli, type CliResult } from '../helpers/cli.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { demoMigrationsDir, demoSchemaPath, DIALECTS, freshDatabase, migrateDemo, rawQueryable, seedDemo, tempDir, type FreshDatabase, type TestDialect } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';

/**
 * migrate-safe end to end, with the real prisma CLI (offline JS engine) on SQLite and PostgreSQL:
 * each test gets a copy of the demo schema + migrations folder (so it can add migrations), a fresh
 * seeded database and its own backup folder.
 */

const ENTRY = 'bin/prisma-guard.ts';

// A real webhook receiver: migrate-safe's alerts (blocked, rolled back) reach it.
let receiver: Receiver;
let hookUrl = '';
const alerts = () => receiver.json<{ event: string }>('/hook');
beforeAll(async () => {
  receiver = await startReceiver();
  hookUrl = `${receiver.base}/hook`;
});
afterAll(() => receiver.close());
const TSX = createRequire(import.meta.url).resolve('tsx/cli');

interface Project {
  dialect: TestDialect;
  db: FreshDatabase;
  schema: string;
  migrations: string;
  backups: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function project(dialect: TestDialect): Promise<Project> {
  const t = tempDir('prisma-guard-ms-');
  const schema = path.join(t.dir, 'prisma', 'schema.prisma');
  fs.mkdirSync(path.dirname(schema), { recursive: true });
  fs.copyFileSync(demoSchemaPath(dialect), schema);
  fs.cpSync(demoMigrationsDir(dialect), path.join(t.dir, 'prisma', 'migrations'), { recursive: true });
  const db = await freshDatabase(dialect);
  const p: Project = {
    dialect,
    db,
    schema,
    migrations: path.join(t.dir, 'prisma', 'migrations'),
    backups: path.join(t.dir, 'backups'),
    // prisma.config.ts takes the schema (and the migrations folder beside it) from PRISMA_GUARD_SCHEMA.
    env: { DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: schema },
    cleanup: async () => {
      await db.drop();
      t.remove();
    },
  };
  cleanups.push(p.cleanup);
  await migrateDemo(db.url, { schema });
  await seedDemo(db.url);
  return p;
}

function addMigration(p: Project, name: string, sql: string): void {
  fs.mkdirSync(path.join(p.migrations, name), { recursive: true });
  fs.writeFileSync(path.join(p.migrations, name, 'migration.sql'), sql);
}

async function migrateSafe(p: Project, args: string[] = []): Promise<CliResult & { json: MigrateSafeResult }> {
  const r = await runCli(['migrate-safe', '--json', '--backup-dir', p.backups, ...args], p.env, ENTRY);
  let json: MigrateSafeResult;
  try {
    json = JSON.parse(r.stdout) as MigrateSafeResult;
  } catch {
    throw new Error(`migrate-safe printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ...r, json };
}

function migrateSafeAsync(p: Project, args: string[] = []): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TSX, path.join(ROOT, ENTRY), 'migrate-safe', '--json', '--backup-dir', p.backups, ...args], { cwd: ROOT, env: { ...process.env, CI: 'true', ...p.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function scalar(url: string, sql: string): Promise<number> {
  const q = await rawQueryable(url);
  try {
    const rows = await q.query<Record<string, unknown>>(sql);
    return Number(Object.values(rows[0] ?? {})[0] ?? 0);
  } finally {
    await q.close();
  }
}

async function exec(url: string, sql: string): Promise<void> {
  const q = await rawQueryable(url);
  try {
    await q.exec(sql);
  } finally {
    await q.close();
  }
}

const backupFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl.gz')) : []);

for (const dialect of DIALECTS) {
  describe(`migrate-safe on ${dialect}`, { timeout: 300_000 }, () => {
    it('applies a clean migration with verified pre/post snapshots and a report', async () => {
      const p = await project(dialect);
      const users = await scalar(p.db.url, 'SELECT count(*) FROM users');
      addMigration(p, '20250401000000_add_nickname', '-- AlterTable\nALTER TABLE "users" ADD COLUMN "nickname" TEXT;\n');
      const r = await migrateSafe(p);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.status).toBe('applied');
      expect(r.json.plan.pending).toEqual(['20250401000000_add_nickname']);
      expect(r.json.plan.counts.block).toBe(0);
      expect(r.stderr).toContain('All migrations have been successfully applied'); // Prisma's own output, streamed
      const ctx = resolveContext({ url: p.db.url, backupDir: p.backups, env: {} });
      const pre = r.json.preMigrationBackup!;
      const post = r.json.postMigrationBackup!;
      expect(pre.file).toMatch(/-pre-migration-20250401000000_add_nickname\.jsonl\.gz$/);
      expect(post.file).toMatch(/-post-migration-20250401000000_add_nickname\.jsonl\.gz$/);
      expect((await verifyBackup(ctx, pre.file)).ok).toBe(true);
      expect((await verifyBackup(ctx, post.file)).ok).toBe(true);
      const listing = await listBackups(p.backups);
      expect(listing.backups.map((b) => b.file).sort()).toEqual([pre.file, post.file].sort());
      expect(listing.backups.find((b) => b.file === pre.file)!.pinned).toBe(true);
      expect(listing.stray).toEqual([]); // the saved report is not mistaken for a backup
      const report = r.json.report!;
      expect(report.schemaChanges.filter((d) => d.kind === 'column-added').map((d) => `${d.table}.${d.column}`)).toEqual(['users.nickname']);
      expect(report.rowCounts.find((c) => c.table === 'users')).toMatchObject({ before: users, after: users, change: 0 });
      expect(report.rowCounts.find((c) => c.table === '_prisma_migrations')!.change).toBe(1);
      expect(report.valuesLost).toEqual([]);
      const saved = JSON.parse(fs.readFileSync(r.json.reportFile!, 'utf8')) as MigrateSafeResult;
      expect(saved.status).toBe('applied');
      expect(path.dirname(r.json.reportFile!)).toBe(p.backups);
      // A second run has nothing to do.
      const again = await migrateSafe(p);
      expect(again.code).toBe(0);
      expect(again.json.status).toBe('up-to-date');
    });

    it('blocks a column drop that loses data, changes nothing, and with --accept-data-loss reports the values lost', async () => {
      const p = await project(dialect);
      const nonNull = await scalar(p.db.url, 'SELECT count(bio) FROM users');
      expect(nonNull).toBeGreaterThan(0);
      addMigration(p, '20250401000000_drop_bio', '/*\n  Warnings:\n\n  - You are about to drop the column `bio` on the `users` table. All the data in the column will be lost.\n\n*/\n-- AlterTable\nALTER TABLE "users" DROP COLUMN "bio";\n');
      const before = oracleDump(p.db.url);
      const n = alerts().length;
      p.env.BACKUP_NOTIFY_WEBHOOK_URL = hookUrl;
      const blocked = await migrateSafe(p);
      delete p.env.BACKUP_NOTIFY_WEBHOOK_URL;
      expect(blocked.code).toBe(MigrateExitCode.BLOCKED);
      expect(alerts().slice(n).map((a) => a.event)).toEqual(['migrate-safe.blocked']);
      expect(blocked.json.status).toBe('blocked');
      const f = blocked.json.plan.findings.find((x) => x.rule === 'drop-column')!;
      expect(f).toMatchObject({ severity: 'block', table: 'users', column: 'bio', measured: nonNull, source: 'both' });
      expect(f.message).toContain(`${nonNull} non-null values would be lost`);
      expect(oracleDump(p.db.url)).toBe(before);
      expect(backupFiles(p.backups)).toEqual([]);
      // Human output says the same.
      const human = await runCli(['migrate-safe', '--backup-dir', p.backups], p.env, ENTRY);
      expect(human.code).toBe(MigrateExitCode.BLOCKED);
      expect(human.stdout).toContain(`${nonNull} non-null values would be lost`);
      expect(human.stdout).toContain('--accept-data-loss');

      const applied = await migrateSafe(p, ['--accept-data-loss']);
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.json.status).toBe('applied');
      const lost = applied.json.report!.valuesLost;
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ table: 'users', column: 'bio', nonNull });
      expect(lost[0].sample.length).toBe(Math.min(5, nonNull));
      expect(lost[0].sample[0].key).toHaveProperty('id');
      expect(await scalar(p.db.url, `SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20250401000000_drop_bio' AND finished_at IS NOT NULL`)).toBe(1);
    });

    it('blocks a unique index over duplicates with the number of duplicate groups', async () => {
      const p = await project(dialect);
      await exec(p.db.url, `UPDATE users SET name = 'dup-' || CAST(id % 3 AS TEXT) WHERE id <= 9`);
      const groups = await scalar(p.db.url, 'SELECT count(*) FROM (SELECT name FROM users WHERE name IS NOT NULL GROUP BY name HAVING count(*) > 1) d');
      expect(groups).toBeGreaterThanOrEqual(3);
      addMigration(p, '20250401000000_unique_name', '-- CreateIndex\nCREATE UNIQUE INDEX "users_name_key" ON "users"("name");\n');
      const before = oracleDump(p.db.url);
      const r = await migrateSafe(p);
      expect(r.code).toBe(MigrateExitCode.BLOCKED);
      const f = r.json.plan.findings.find((x) => x.rule === 'unique-duplicates')!;
      expect(f).toMatchObject({ severity: 'block', table: 'users', measured: groups });
      expect(f.message).toContain(`${groups} groups of duplicate values`);
      expect(oracleDump(p.db.url)).toBe(before);
      // --dry-run shows the same plan and exits 0.
      const dry = await migrateSafe(p, ['--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.json.status).toBe('dry-run');
      expect(dry.json.plan.findings.find((x) => x.rule === 'unique-duplicates')!.measured).toBe(groups);
    });

    const failing = '-- AlterTable\nALTER TABLE "users" ADD COLUMN "nickname" TEXT;\n\n-- fails: a tag that already exists (primary key)\nINSERT INTO "tags" ("id", "name") SELECT "id", "name" FROM "tags" WHERE "id" = (SELECT min("id") FROM "tags");\n';

    it('on a failing migration prints the recovery commands, and the printed restore puts everything back', async () => {
      const p = await project(dialect);
      addMigration(p, '20250401000000_fails', failing);
      const before = oracleDump(p.db.url);
      const r = await migrateSafe(p);
      expect(r.code).toBe(MigrateExitCode.FAILED_NOT_ROLLED_BACK);
      expect(r.json.status).toBe('failed-not-rolled-back');
      const failure = r.json.failure!;
      expect(failure.migration).toBe('20250401000000_fails');
      const pre = r.json.preMigrationBackup!.file;
      expect(failure.commands.restore).toBe(`prisma-guard restore ${pre} --mode full --yes --backup-dir ${p.backups}`);
      expect(failure.commands.resolveRolledBack).toBe('npx prisma migrate resolve --rolled-back 20250401000000_fails');
      expect(failure.commands.resolveApplied).toBe('npx prisma migrate resolve --applied 20250401000000_fails');
      expect(failure.statements.map((s) => s.outcome)).toHaveLength(2);
      expect(failure.statements[1].outcome).toBe('unknown');
      if (dialect === 'postgres') {
        // No transaction around the script: the first statement stayed applied.
        expect(failure.statements[0]).toMatchObject({ outcome: 'applied' });
        expect(failure.logs ?? '').toMatch(/duplicate key|unique/i);
      }
      expect(await scalar(p.db.url, `SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20250401000000_fails' AND finished_at IS NULL AND rolled_back_at IS NULL`)).toBe(1);
      // Human output names the exact commands.
      const human = await runCli(['migrate-safe', '--backup-dir', p.backups], p.env, ENTRY);
      expect(human.code).toBe(MigrateExitCode.PREFLIGHT); // the failed row now blocks any further deploy (P3009)
      expect(human.stderr).toContain('20250401000000_fails');
      // The printed restore command, run as printed, brings back schema, data and migration history.
      const [, ...restoreArgs] = failure.commands.restore!.split(' ');
      const restored = await runCli(restoreArgs, { DATABASE_URL: p.db.url });
      expect(restored.code, restored.stderr).toBe(0);
      expect(oracleDump(p.db.url)).toBe(before);
    });

    it('with --auto-rollback restores the pre-migration state exactly (oracle dump) and needs no migrate resolve', async () => {
      const p = await project(dialect);
      addMigration(p, '20250401000000_fails', failing);
      const before = oracleDump(p.db.url);
      const n = alerts().length;
      p.env.BACKUP_NOTIFY_WEBHOOK_URL = hookUrl;
      const r = await migrateSafe(p, ['--auto-rollback']);
      delete p.env.BACKUP_NOTIFY_WEBHOOK_URL;
      expect(r.code, r.stderr).toBe(MigrateExitCode.FAILED_ROLLED_BACK);
      expect(alerts().slice(n).map((a) => a.event)).toContain('migrate-safe.rolled-back');
      expect(r.json.status).toBe('failed-rolled-back');
      const rb = r.json.failure!.rollback!;
      expect(rb).toMatchObject({ restored: true, dataMatches: true, schemaDifferences: [], migrationsMatch: true, failedRowGone: true });
      expect(oracleDump(p.db.url)).toBe(before);
      expect(await scalar(p.db.url, `SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20250401000000_fails'`)).toBe(0);
      // The failed state was kept (restore's safety backup) next to the pre-migration backup.
      expect(backupFiles(p.backups).some((f) => f.includes('pre-restore'))).toBe(true);
      // Fixed migration: the next run applies it (no `migrate resolve` was needed).
      addMigration(p, '20250401000000_fails', '-- AlterTable\nALTER TABLE "users" ADD COLUMN "nickname" TEXT;\n');
      const next = await migrateSafe(p);
      expect(next.code, next.stderr).toBe(0);
      expect(next.json.status).toBe('applied');
    });

    it.runIf(dialect === 'sqlite')('measures what a SQLite redefine-table migration loses instead of reporting a table drop', async () => {
      const p = await project(dialect);
      const bio = await scalar(p.db.url, 'SELECT count(bio) FROM users');
      const nullNames = await scalar(p.db.url, 'SELECT count(*) FROM users WHERE name IS NULL');
      expect(nullNames).toBeGreaterThan(0);
      // What Prisma writes for "drop bio, make name required" on SQLite: rebuild the table.
      const create = (fs.readFileSync(path.join(p.migrations, '20250101090000_init', 'migration.sql'), 'utf8').match(/CREATE TABLE "users" \(([\s\S]*?)\n\);/) ?? [])[1]!;
      const columns = create.replace(/\n    "bio" TEXT,/, '').replace('"name" TEXT,', '"name" TEXT NOT NULL,');
      const copied = ['id', 'email', 'name', 'role', 'is_active', 'karma', 'balance_cents', 'rating', 'credit', 'birth_date', 'created_at', 'updated_at', 'preferences', 'avatar', 'invited_by_id', 'last_login_at'].map((c) => `"${c}"`).join(', ');
      addMigration(p, '20250401000000_redefine_users', `-- RedefineTables\nPRAGMA defer_foreign_keys=ON;\nPRAGMA foreign_keys=OFF;\nCREATE TABLE "new_users" (${columns},\n    "last_login_at" DATETIME\n);\nINSERT INTO "new_users" (${copied}) SELECT ${copied} FROM "users";\nDROP TABLE "users";\nALTER TABLE "new_users" RENAME TO "users";\nCREATE UNIQUE INDEX "users_email_key" ON "users"("email");\nCREATE INDEX "users_invited_by_id_idx" ON "users"("invited_by_id");\nPRAGMA foreign_keys=ON;\nPRAGMA defer_foreign_keys=OFF;\n`);
      const r = await migrateSafe(p, ['--dry-run']);
      expect(r.code, r.stderr).toBe(0);
      const findings = r.json.plan.findings.filter((f) => f.severity === 'block');
      expect(findings.map((f) => [f.rule, f.column, f.measured])).toEqual([
        ['drop-column', 'bio', bio],
        ['set-not-null', 'name', nullNames],
      ]);
      expect(r.json.plan.findings.some((f) => f.rule === 'drop-table')).toBe(false);
    });

    it('two runs at once: the second waits for the lock, then finds nothing to do', async () => {
      const p = await project(dialect);
      addMigration(p, '20250401000000_add_nickname', '-- AlterTable\nALTER TABLE "users" ADD COLUMN "nickname" TEXT;\n');
      const [a, b] = await Promise.all([migrateSafeAsync(p), migrateSafeAsync(p)]);
      const results = [a, b].map((x) => ({ code: x.code, json: JSON.parse(x.stdout) as MigrateSafeResult }));
      expect(results.map((x) => x.code)).toEqual([0, 0]);
      expect(results.map((x) => x.json.status).sort()).toEqual(['applied', 'up-to-date']);
      expect(await scalar(p.db.url, `SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20250401000000_add_nickname' AND finished_at IS NOT NULL`)).toBe(1);
      expect(backupFiles(p.backups).filter((f) => f.includes('pre-migration'))).toHaveLength(1);
      const ctx = resolveContext({ url: p.db.url, backupDir: p.backups, env: {} });
      for (const f of backupFiles(p.backups)) expect((await verifyBackup(ctx, f)).ok).toBe(true);
      // While another operation holds the lock, --lock-wait 0 refuses clearly (exit 8) and changes nothing.
      addMigration(p, '20250402000000_add_motto', '-- AlterTable\nALTER TABLE "users" ADD COLUMN "motto" TEXT;\n');
      const conn = await connect(parseDatabaseUrl(p.db.url));
      const lock = await conn.lock(OPERATION_LOCK, 0);
      try {
        const dumpBefore = oracleDump(p.db.url);
        const refused = await runCli(['migrate-safe', '--lock-wait', '0', '--backup-dir', p.backups], p.env, ENTRY);
        expect(refused.code).toBe(ExitCode.LOCKED);
        expect(refused.stderr).toMatch(/busy|lock/i);
        expect(oracleDump(p.db.url)).toBe(dumpBefore);
      } finally {
        await lock.release();
        await conn.close();
      }
    });
  });
}
