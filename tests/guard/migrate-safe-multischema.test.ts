/**
 * migrate-safe on a Prisma multiSchema project (PostgreSQL, `schemas = ["a", "b"]`): the risk check
 * resolves `"b"."User"` to b's table, not to the same-named a."User", and measures it by its real
 * schema; the pre-migration snapshot and a rollback cover every schema. Judged independently:
 * counts by psql, `pg_dump -n a -n b -n public` compared as sorted lines.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import { connect } from '../../lib/dialects/index.ts';
import { checkRisks } from '../../lib/guard/check.ts';
import { MigrateExitCode } from '../../lib/guard/plan.ts';
import type { MigrateSafeResult } from '../../lib/guard/run.ts';
import type { RiskFinding } from '../../lib/guard/risks.ts';
import { runCli } from '../helpers/cli.ts';
import { createPgDatabase, tempDir, type FreshDatabase } from '../helpers/db.ts';

const ENTRY = 'bin/prisma-guard.ts';

const SCHEMA = `datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
  schemas  = ["a", "b"]
}

model AUser {
  id   Int     @id
  name String
  bio  String?
  @@map("User")
  @@schema("a")
}

model Post {
  id     Int @id
  userId Int
  @@schema("a")
}

model BUser {
  id    Int     @id
  email String
  bio   String?
  code  String?
  @@map("User")
  @@schema("b")
}
`;

const INIT = `-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "a";

-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "b";

-- CreateTable
CREATE TABLE "a"."User" ("id" INTEGER NOT NULL, "name" TEXT NOT NULL, "bio" TEXT, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));

-- CreateTable
CREATE TABLE "a"."Post" ("id" INTEGER NOT NULL, "userId" INTEGER NOT NULL, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));

-- CreateTable
CREATE TABLE "b"."User" ("id" INTEGER NOT NULL, "email" TEXT NOT NULL, "bio" TEXT, "code" TEXT, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
`;

// a."User": 30 rows, 15 bios. b."User": 12 rows, 4 bios, codes that are numbers but 3.
// a."Post": 20 rows whose userId is 1..20: every one has an a."User", 8 have no b."User".
const SEED = `
INSERT INTO a."User" SELECT i, 'name ' || i, CASE WHEN i % 2 = 0 THEN 'bio ' || i END FROM generate_series(1, 30) i;
INSERT INTO b."User" SELECT i, 'u' || i || '@example.com', CASE WHEN i % 3 = 0 THEN 'bio ' || i END, CASE WHEN i % 4 = 0 THEN 'x' || i ELSE i::text END FROM generate_series(1, 12) i;
INSERT INTO a."Post" SELECT i, i FROM generate_series(1, 20) i;
`;

function psql(url: string, text: string): void {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url], { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
}

function query(url: string, sql: string): string {
  return execFileSync('psql', ['-X', '-q', '-At', '-d', url, '-c', sql], { encoding: 'utf8' }).trim();
}

/** Every schema of the project (and public, where Prisma keeps _prisma_migrations) as sorted pg_dump lines. */
function dump(url: string): string {
  return execFileSync('pg_dump', ['-d', url, '--no-owner', '--no-privileges', '--inserts', '-n', 'a', '-n', 'b', '-n', 'public'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('--') && !/^\\(un)?restrict /.test(l))
    .sort()
    .join('\n');
}

let db: FreshDatabase;
let project: ReturnType<typeof tempDir>;
let schemaPath: string;
let migrations: string;
let backups: string;
const env = () => ({ DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: schemaPath });

function addMigration(name: string, sql: string): void {
  fs.mkdirSync(path.join(migrations, name), { recursive: true });
  fs.writeFileSync(path.join(migrations, name, 'migration.sql'), sql);
}

async function migrateSafe(args: string[] = []): Promise<{ code: number; stderr: string; json: MigrateSafeResult }> {
  const r = await runCli(['migrate-safe', '--json', '--backup-dir', backups, ...args], env(), ENTRY);
  try {
    return { code: r.code, stderr: r.stderr, json: JSON.parse(r.stdout) as MigrateSafeResult };
  } catch {
    throw new Error(`migrate-safe printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

beforeAll(async () => {
  db = await createPgDatabase();
  project = tempDir('prisma-guard-ms-multi-');
  schemaPath = path.join(project.dir, 'prisma', 'schema.prisma');
  migrations = path.join(project.dir, 'prisma', 'migrations');
  backups = path.join(project.dir, 'backups');
  fs.mkdirSync(migrations, { recursive: true });
  fs.writeFileSync(schemaPath, SCHEMA);
  fs.writeFileSync(path.join(migrations, 'migration_lock.toml'), 'provider = "postgresql"\n');
  addMigration('20250101000000_init', INIT);
  // The first deploy, through migrate-safe itself: the database has no tables yet, nothing to back up.
  const first = await migrateSafe();
  expect(first.code, first.stderr).toBe(0);
  expect(first.json.status).toBe('applied');
  psql(db.url, SEED);
}, 120_000);

afterAll(async () => {
  await db?.drop();
  project?.remove();
});

/** The risk check of one migration on a connection over the project's schemas (primary: `schema`). */
async function risks(sql: string, schema = 'public'): Promise<RiskFinding[]> {
  const conn = await connect({ ...parseDatabaseUrl(db.url), schema, schemas: ['a', 'b', 'public'] });
  try {
    // Every table is "large" from one row: the locking rules report their measured size too.
    return await checkRisks(conn, [{ name: 'm', sql }], { largeTableRows: 1 });
  } finally {
    await conn.close();
  }
}

const finding = (fs0: RiskFinding[], rule: string, table: string) => {
  const f = fs0.find((x) => x.rule === rule && x.table === table);
  expect(f, `${rule} on ${table} in ${JSON.stringify(fs0.map((x) => [x.rule, x.table, x.measured, x.message]))}`).toBeDefined();
  return f!;
};

describe('the risk check over two schemas with same-named tables', () => {
  it('DROP TABLE "b"."User" counts b\'s rows, not a\'s', async () => {
    expect(query(db.url, `SELECT (SELECT count(*) FROM b."User") || ',' || (SELECT count(*) FROM a."User")`)).toBe('12,30');
    const f = finding(await risks('DROP TABLE "b"."User";'), 'drop-table', 'b.User');
    expect(f).toMatchObject({ severity: 'block', measured: 12 });
    expect(f.message).toContain('12 rows would be lost');
  });

  it('an unqualified name is the search path\'s: the URL\'s schema first', async () => {
    expect(finding(await risks('DROP TABLE "User";', 'a'), 'drop-table', 'a.User').measured).toBe(30);
    // public (the URL's schema here) has no "User": nothing to measure, and b's is not taken for it.
    expect((await risks('DROP TABLE "User";', 'public')).filter((f) => f.rule === 'drop-table')).toEqual([]);
  });

  it('DROP COLUMN, type change, index and SET NOT NULL measure b."User" by its real schema', async () => {
    const found = await risks(
      ['ALTER TABLE "b"."User" DROP COLUMN "bio";', 'ALTER TABLE "b"."User" ALTER COLUMN "code" SET DATA TYPE INTEGER USING "code"::integer;', 'CREATE INDEX "User_email_idx" ON "b"."User"("email");', 'ALTER TABLE "b"."User" ALTER COLUMN "bio" SET NOT NULL;'].join('\n'),
    );
    const bioB = Number(query(db.url, `SELECT count(bio) FROM b."User"`));
    expect(bioB).toBe(4);
    expect(Number(query(db.url, `SELECT count(bio) FROM a."User"`))).toBe(15);
    expect(finding(found, 'drop-column', 'b.User')).toMatchObject({ severity: 'block', column: 'bio', measured: bioB });
    expect(finding(found, 'type-change', 'b.User')).toMatchObject({ severity: 'block', measured: 3 });
    const size = finding(found, 'index-without-concurrently', 'b.User');
    expect(size.measured).toBe(12);
    expect(size.detail).toMatch(/KiB with indexes/);
    // Messages name the table as SQL does.
    expect(finding(found, 'drop-column', 'b.User').message).toContain('"b"."User"."bio"');
  });

  it('a foreign key from a to b counts the rows with no b."User" (a."User" has them all)', async () => {
    const orphans = Number(query(db.url, `SELECT count(*) FROM a."Post" p WHERE NOT EXISTS (SELECT 1 FROM b."User" u WHERE u.id = p."userId")`));
    expect(orphans).toBe(8);
    const toB = finding(await risks('ALTER TABLE "a"."Post" ADD CONSTRAINT "Post_userId_fkey" FOREIGN KEY ("userId") REFERENCES "b"."User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;'), 'fk-orphans', 'a.Post');
    expect(toB).toMatchObject({ severity: 'block', measured: orphans });
    // To a."User" nothing is orphaned: no fk-orphans finding, though the statement was read (its lock is reported).
    const toA = await risks('ALTER TABLE "a"."Post" ADD CONSTRAINT "Post_userId_fkey" FOREIGN KEY ("userId") REFERENCES "a"."User"("id");');
    expect(toA.map((f) => [f.rule, f.table])).toEqual([['constraint-without-not-valid', 'a.Post']]);
  });

  it('migrate-safe --dry-run finds the datasource\'s schemas by itself', async () => {
    addMigration('20250201000000_drop_b_user', '-- DropTable\nDROP TABLE "b"."User";\n');
    try {
      const r = await migrateSafe(['--dry-run']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.warnings.filter((w) => /schemas/.test(w))).toEqual([]);
      expect(r.json.plan.findings.map((f) => [f.rule, f.table, f.measured])).toEqual([['drop-table', 'b.User', 12]]);
      const blocked = await migrateSafe();
      expect(blocked.code).toBe(MigrateExitCode.BLOCKED);
    } finally {
      fs.rmSync(path.join(migrations, '20250201000000_drop_b_user'), { recursive: true });
    }
  }, 120_000);

  it('migrate-safe --dry-run --against a backup of both schemas measures b\'s rows in the restored copy, never the live database', async () => {
    const snapshots = path.join(project.dir, 'snapshots');
    // (This repo's prisma.config.ts names the schema through PRISMA_GUARD_SCHEMA, which only an evaluated
    // config follows, as migrate-safe's is; backup reads config files without running them: --schemas.)
    const taken = await runCli(['backup', '--schemas', 'a,b,public', '--backup-dir', snapshots, '--json'], env(), ENTRY);
    expect(taken.code, taken.stderr).toBe(0);
    expect(JSON.parse(taken.stdout).manifest.source.schemas).toEqual(['a', 'b', 'public']);
    // After the backup the live b."User" changes: the copy, not the live table, is measured.
    psql(db.url, `INSERT INTO b."User" (id, email) VALUES (100, 'late@example.com');`);
    addMigration('20250201000000_drop_b_user', '-- DropTable\nDROP TABLE "b"."User";\n');
    try {
      const before = dump(db.url);
      const r = await migrateSafe(['--dry-run', '--against', 'latest', '--backup-dir', snapshots]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.against?.backup).toBe(JSON.parse(taken.stdout).manifest.file);
      expect(r.json.plan.findings.map((f) => [f.rule, f.table, f.measured])).toEqual([['drop-table', 'b.User', 12]]);
      expect(dump(db.url)).toBe(before);
    } finally {
      fs.rmSync(path.join(migrations, '20250201000000_drop_b_user'), { recursive: true });
      psql(db.url, `DELETE FROM b."User" WHERE id = 100;`);
    }
  }, 180_000);
});

describe('a failing deployment over both schemas', () => {
  const failing = `-- AlterTable
ALTER TABLE "b"."User" ADD COLUMN "nickname" TEXT;

-- AlterTable
ALTER TABLE "a"."User" DROP COLUMN "bio";

-- fails: b."User" already has id 1
INSERT INTO "b"."User" ("id", "email") VALUES (1, 'again@example.com');
`;

  it('is judged statement by statement in both schemas, and the printed restore brings both back; --auto-rollback too', async () => {
    addMigration('20250301000000_fails', failing);
    const before = dump(db.url);
    const r = await migrateSafe(['--accept-data-loss']);
    expect(r.code, r.stderr).toBe(MigrateExitCode.FAILED_NOT_ROLLED_BACK);
    const failure = r.json.failure!;
    expect(failure.statements.map((s) => s.outcome)).toEqual(['applied', 'applied', 'unknown']);
    expect(failure.statements[0].evidence).toContain('b.User.nickname exists');
    // The pre-migration snapshot holds every schema.
    const pre = r.json.preMigrationBackup!;
    const header = JSON.parse(zlib.gunzipSync(fs.readFileSync(pre.path)).toString('utf8').split('\n', 1)[0]);
    expect(header.schema.namespaces).toEqual(['a', 'b', 'public']);
    expect(header.schema.tables.map((t: { name: string }) => t.name)).toEqual(['a.Post', 'a.User', 'b.User', 'public._prisma_migrations']);
    expect(pre.rowsTotal).toBe(30 + 20 + 12 + 1);
    expect(dump(db.url)).not.toBe(before);
    const [, ...restoreArgs] = failure.commands.restore!.split(' ');
    const restored = await runCli(restoreArgs, { DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: schemaPath }, ENTRY);
    expect(restored.code, restored.stderr).toBe(0);
    expect(dump(db.url)).toBe(before);

    const rolled = await migrateSafe(['--accept-data-loss', '--auto-rollback']);
    expect(rolled.code, rolled.stderr).toBe(MigrateExitCode.FAILED_ROLLED_BACK);
    expect(rolled.json.failure!.rollback).toMatchObject({ restored: true, dataMatches: true, schemaDifferences: [], migrationsMatch: true, failedRowGone: true });
    expect(dump(db.url)).toBe(before);
  }, 180_000);
});
