import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrateSafeResult } from '../../lib/guard/run.ts';
import { runCli } from '../helpers/cli.ts';
import { demoMigrationsDir, demoSchemaPath, DIALECTS, freshDatabase, migrateDemo, PG_ADMIN_URL, rawQueryable, seedDemo, tempDir, type FreshDatabase } from '../helpers/db.ts';

/**
 * migrate-safe in CI: `--format github|markdown|json`, and `--dry-run --against <backup>`, which
 * loads a backup into a scratch database and must find exactly what the live run finds. Real demo
 * project (its own copy of the schema and migrations), real prisma CLI, one seeded database per dialect.
 */

const MIGRATION = '20260101000000_risky';
const SQL = `-- A rename then a drop, data statements and a unique index over duplicates
ALTER TABLE "users" RENAME COLUMN "bio" TO "about";
ALTER TABLE "users" DROP COLUMN "about";
DELETE FROM "comments" WHERE "id" % 3 = 0;
UPDATE "users" SET "karma" = 0 WHERE "karma" > 10;
CREATE UNIQUE INDEX "users_name_key" ON "users"("name");
`;

const brief = (r: MigrateSafeResult) => r.plan.findings.map((f) => ({ rule: f.rule, severity: f.severity, measured: f.measured, line: f.line, message: f.message }));

for (const dialect of DIALECTS) {
  describe(`migrate-safe in CI on ${dialect}`, { timeout: 300_000 }, () => {
    let db: FreshDatabase;
    let dir: ReturnType<typeof tempDir>;
    let env: Record<string, string>;
    let backups: string;
    const cli = (args: string[], extra: Record<string, string> = {}) => runCli(['migrate-safe', '--backup-dir', backups, ...args], { ...env, ...extra });
    const json = async (args: string[]) => {
      const r = await cli(['--json', ...args]);
      try {
        return { ...r, json: JSON.parse(r.stdout) as MigrateSafeResult };
      } catch {
        throw new Error(`no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
      }
    };

    beforeAll(async () => {
      dir = tempDir('prisma-guard-ci-');
      const schema = path.join(dir.dir, 'prisma', 'schema.prisma');
      fs.mkdirSync(path.dirname(schema), { recursive: true });
      fs.copyFileSync(demoSchemaPath(dialect), schema);
      fs.cpSync(demoMigrationsDir(dialect), path.join(dir.dir, 'prisma', 'migrations'), { recursive: true });
      backups = path.join(dir.dir, 'backups');
      db = await freshDatabase(dialect);
      env = { DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: schema };
      await migrateDemo(db.url, { schema });
      await seedDemo(db.url);
      const b = await runCli(['backup', '--backup-dir', backups], env);
      expect(b.code, b.stderr).toBe(0);
      fs.mkdirSync(path.join(dir.dir, 'prisma', 'migrations', MIGRATION));
      fs.writeFileSync(path.join(dir.dir, 'prisma', 'migrations', MIGRATION, 'migration.sql'), SQL);
    });
    afterAll(async () => {
      await db?.drop();
      dir?.remove();
    });

    it('--dry-run --against a backup gives the same findings as the live run, and never opens the live database', async () => {
      const live = await json(['--dry-run']);
      expect(live.code, live.stderr).toBe(0);
      // The live numbers, independently.
      const q = await rawQueryable(db.url);
      const n = async (sql: string) => Number(Object.values((await q.query<Record<string, unknown>>(sql))[0])[0]);
      const bio = await n('SELECT count(bio) FROM users');
      const deleted = await n('SELECT count(*) FROM comments WHERE id % 3 = 0');
      const rewritten = await n('SELECT count(*) FROM users WHERE karma > 10');
      await q.close();
      const by = (rule: string) => live.json.plan.findings.find((f) => f.rule === rule);
      expect(by('drop-column')).toMatchObject({ severity: 'block', measured: bio, column: 'bio', line: 3 });
      expect(by('rename-column')).toMatchObject({ severity: 'warn', line: 2 });
      expect(by('delete-rows')).toMatchObject({ severity: 'block', measured: deleted, line: 4 });
      expect(by('update-rows')).toMatchObject({ severity: 'warn', measured: rewritten, line: 5 });
      expect(by('unique-duplicates')?.line).toBe(6);

      // Pointed at a database that does not exist, the --against run still works: only the backup is read.
      const u = new URL(PG_ADMIN_URL);
      u.pathname = `/pg_guard_t_nowhere_${process.pid}`;
      const nowhere = dialect === 'postgres' ? u.toString() : `file:${path.join(dir.dir, 'nowhere.db')}`;
      const against = await json(['--dry-run', '--url', nowhere, '--against', fs.readdirSync(backups).find((f) => f.endsWith('.jsonl.gz'))!]);
      expect(against.code, against.stderr).toBe(0);
      expect(against.json.status).toBe('dry-run');
      expect(against.json.against?.backup).toMatch(/\.jsonl\.gz$/);
      expect(brief(against.json)).toEqual(brief(live.json));
      expect(against.json.plan.pending).toEqual([MIGRATION]);
      if (dialect === 'sqlite') expect(fs.existsSync(path.join(dir.dir, 'nowhere.db'))).toBe(false);
      if (dialect === 'postgres') {
        const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
        await admin.connect();
        // Its own scratch database is gone (other test files make scratch databases on this server too).
        const scratch = decodeURIComponent(new URL(against.json.against!.scratch).pathname.slice(1));
        expect(scratch).toMatch(/^prisma_guard_drill_check/);
        const left = await admin.query(`SELECT datname FROM pg_database WHERE datname = $1`, [scratch]);
        await admin.end();
        expect(left.rows).toEqual([]);
      }
      const latest = await json(['--dry-run', '--against', 'latest']);
      expect(brief(latest.json)).toEqual(brief(live.json));
      // Without --dry-run it refuses: --against never applies anything.
      const refused = await json(['--against', 'latest']);
      expect(refused.code).toBe(2);
    });

    it('--format github: one annotation per finding on the migration file and line, and the step summary', async () => {
      const summary = path.join(dir.dir, 'summary.md');
      const r = await cli(['--dry-run', '--format', 'github'], { GITHUB_WORKSPACE: dir.dir, GITHUB_STEP_SUMMARY: summary });
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      const file = `prisma/migrations/${MIGRATION}/migration.sql`;
      expect(lines.find((l) => l.startsWith('::error ') && l.includes('title=migrate-safe drop-column'))).toMatch(new RegExp(`^::error file=${file.replaceAll('/', '\\/')},line=3,title=migrate-safe drop-column::.*non-null values would be lost`));
      expect(lines.find((l) => l.includes('delete-rows'))).toMatch(/^::error file=.*,line=4,/);
      expect(lines.find((l) => l.includes('rename-column'))).toMatch(/^::warning file=.*,line=2,/);
      expect(lines.filter((l) => l.startsWith('::')).every((l) => !l.slice(2).includes('\n'))).toBe(true);
      expect(lines[lines.length - 1]).toMatch(/^migrate-safe: 1 pending migration\(s\), \d+ blocking/);
      const md = fs.readFileSync(summary, 'utf8');
      expect(md).toContain(`| **block** | \`${file}:3\` | \`drop-column\` |`);
    });

    it('--format markdown and --format json', async () => {
      const md = await cli(['--dry-run', '--format', 'markdown']);
      expect(md.code, md.stderr).toBe(0);
      expect(md.stdout).toMatch(/^### migrate-safe: 1 pending migration\(s\)/);
      expect(md.stdout).toContain('| severity | where | rule | measured | finding | safer way |');
      const j = await cli(['--dry-run', '--format', 'json']);
      expect((JSON.parse(j.stdout) as MigrateSafeResult).plan.findings.length).toBeGreaterThan(3);
      const bad = await cli(['--dry-run', '--format', 'yaml']);
      expect(bad.code).toBe(2);
    });
  });
}
