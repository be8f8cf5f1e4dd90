/**
 * What a user does: `npm pack`, then in a fresh project with its own Prisma 6.19 (SQLite, one
 * migration, prisma.config.ts with the JS engine and the better-sqlite3 adapter) install the
 * tarball and Prisma from the registry, `npx prisma-guard init`, apply the migration with the
 * project's prisma, then run the npm scripts init added (backup, verify, restore, status, check),
 * the PM2 ecosystem file init wrote (a scheduled backup lands in the project's ./backups), and the
 * public API from plain node. One project is installed for the whole file (the install is the slow
 * part: see BENCHMARKS.md "The package as installed").
 *
 * Only registry traffic: `npm install --prefer-offline` reuses npm's cache. Install scripts are
 * skipped (`--ignore-scripts`): prisma-guard has none (tests/package/pack.test.ts), Prisma's would
 * download engines from a host that is unreachable here (the env placeholders below replace them,
 * as lib/prisma/cli.ts does), and better-sqlite3's compiles SQLite for ~2 minutes: the project gets
 * the addon this repo's `npm install` already compiled, for the very same better-sqlite3 version.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const tmp = tempDir('prisma-guard-install-');
const APP = path.join(tmp.dir, 'app');
const PM2_HOME = path.join(tmp.dir, 'pm2');
const PM2 = path.join(ROOT, 'node_modules/.bin/pm2');
const PRISMA_VERSION = '6.19.3';
const SQLITE_DRIVER_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version;

/** The environment of a user's shell: none of the npm_* variables of the `npm test` running us. */
const userEnv: Record<string, string> = Object.fromEntries(
  Object.entries({ ...process.env, CI: 'true', CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1', npm_config_update_notifier: 'false' }).filter(
    (e): e is [string, string] => e[1] !== undefined && !(/^npm_/i.test(e[0]) && e[0] !== 'npm_config_update_notifier'),
  ),
);
delete userEnv.DATABASE_URL;
delete userEnv.BACKUP_DIR;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command in the project (asynchronously: a blocked worker cannot answer vitest, see tests/helpers/cli.ts). */
function run(cmd: string, args: string[], env: Record<string, string> = {}, cwd = APP): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...userEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }));
  });
}
const npmRun = (script: string, ...args: string[]) => run('npm', ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])]);

/** Runs JavaScript in the project with plain node (its own node_modules); returns stdout parsed as JSON. */
async function nodeInApp(file: string, source: string): Promise<unknown> {
  fs.writeFileSync(path.join(APP, file), source);
  const r = await run(process.execPath, [file]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const rowsScript = (body: string) => `import Database from 'better-sqlite3';
const db = new Database('./dev.db');
${body}
console.log(JSON.stringify({ users: db.prepare('SELECT id, email, name FROM "User" ORDER BY id').all(), posts: db.prepare('SELECT id, title, "authorId" FROM "Post" ORDER BY id').all() }));
db.close();
`;

const timings: Record<string, number> = {};

const PROJECT_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'guarded-app', version: '1.0.0', private: true, scripts: { start: 'node server.js' } }, null, 2) + '\n',
  '.gitignore': 'node_modules/\n',
  // Prisma 6 does not read .env when a prisma.config.ts exists; prisma-guard reads it (as Prisma without a config would).
  '.env': 'DATABASE_URL="file:./dev.db"\n',
  'prisma/schema.prisma': `datasource db {
  provider = "sqlite"
  url      = env("DATABASE_URL")
}

model User {
  id    Int     @id @default(autoincrement())
  email String  @unique
  name  String?
  posts Post[]
}

model Post {
  id       Int    @id @default(autoincrement())
  title    String
  authorId Int
  author   User   @relation(fields: [authorId], references: [id], onDelete: Cascade)
}
`,
  'prisma/migrations/migration_lock.toml': 'provider = "sqlite"\n',
  'prisma/migrations/20250101000000_init/migration.sql': `CREATE TABLE "User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL,
    "name" TEXT
);
CREATE TABLE "Post" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "title" TEXT NOT NULL,
    "authorId" INTEGER NOT NULL,
    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
`,
  // The offline form of ../shared/notes/prisma-offline.md: the JS schema engine through the adapter.
  'prisma.config.ts': `import { defineConfig } from 'prisma/config';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  adapter: async () => new PrismaBetterSQLite3({ url: process.env.DATABASE_URL! }),
});
`,
};

beforeAll(async () => {
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.dir], {}, ROOT);
  expect(packed.code, packed.stderr).toBe(0);
  timings.pack = packed.ms;
  const tarball = path.join(tmp.dir, (JSON.parse(packed.stdout) as { filename: string }[])[0].filename);

  for (const [f, text] of Object.entries(PROJECT_FILES)) {
    fs.mkdirSync(path.dirname(path.join(APP, f)), { recursive: true });
    fs.writeFileSync(path.join(APP, f), text);
  }
  const installed = await run('npm', [
    'install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts',
    tarball, `prisma@${PRISMA_VERSION}`, `@prisma/client@${PRISMA_VERSION}`, `@prisma/adapter-better-sqlite3@${PRISMA_VERSION}`, `better-sqlite3@${SQLITE_DRIVER_VERSION}`,
  ]);
  expect(installed.code, installed.stderr).toBe(0);
  timings.install = installed.ms;
  const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
  fs.mkdirSync(path.dirname(path.join(APP, addon)), { recursive: true });
  fs.copyFileSync(path.join(ROOT, addon), path.join(APP, addon));

  // Prisma's engine check wants files to exist; with engine: 'js' migrate deploy never runs them.
  const engines = path.join(tmp.dir, 'engines');
  fs.mkdirSync(engines);
  fs.writeFileSync(path.join(engines, 'schema-engine'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  fs.writeFileSync(path.join(engines, 'libquery-engine.js'), 'throw new Error("no native query engine offline");\n');
  const migrated = await run(process.execPath, ['node_modules/prisma/build/index.js', 'migrate', 'deploy'], {
    DATABASE_URL: 'file:./dev.db',
    PRISMA_SCHEMA_ENGINE_BINARY: path.join(engines, 'schema-engine'),
    PRISMA_QUERY_ENGINE_LIBRARY: path.join(engines, 'libquery-engine.js'),
  });
  expect(migrated.code, migrated.stdout + migrated.stderr).toBe(0);
  timings.migrate = migrated.ms;
}, 300_000);

afterAll(async () => {
  if (fs.existsSync(PM2_HOME)) spawnSync(PM2, ['kill'], { env: { ...userEnv, PM2_HOME }, timeout: 30_000 });
  process.stderr.write(`tests/package/install.test.ts timings (ms): ${JSON.stringify(timings)}\n`);
  tmp.remove();
});

describe('prisma-guard installed from its tarball into a Prisma 6.19 SQLite project', () => {
  test('the installed package is compiled JavaScript only: no TypeScript sources, no tsx, no Prisma or drivers of its own', () => {
    const pkgDir = path.join(APP, 'node_modules/prisma-guard');
    const all = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? all(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    expect(all(pkgDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(fs.existsSync(path.join(pkgDir, 'node_modules'))).toBe(false);
    expect(fs.existsSync(path.join(APP, 'node_modules/tsx'))).toBe(false);
    expect(fs.existsSync(path.join(APP, 'node_modules/pg'))).toBe(false);
  });

  test('npx prisma-guard init adds the scripts, the ecosystem file and the .gitignore line; a second run changes nothing', async () => {
    const r = await run('npx', ['--no', 'prisma-guard', 'init']);
    expect(r.code, r.stderr).toBe(0);
    timings.init = r.ms;
    const pkg = JSON.parse(fs.readFileSync(path.join(APP, 'package.json'), 'utf8'));
    expect(pkg.scripts).toMatchObject({ start: 'node server.js', 'db:backup': 'prisma-guard backup', 'db:restore': 'prisma-guard restore', 'db:backup-schedule': 'prisma-guard schedule' });
    expect(pkg.dependencies['prisma-guard']).toMatch(/prisma-guard-0\.\d+\.\d+\.tgz$/);
    expect(fs.readFileSync(path.join(APP, '.gitignore'), 'utf8')).toBe('node_modules/\nbackups/\n');
    const before = fs.readFileSync(path.join(APP, 'package.json'), 'utf8');
    const again = await run('npx', ['--no', 'prisma-guard', 'init']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Nothing to change');
    expect(fs.readFileSync(path.join(APP, 'package.json'), 'utf8')).toBe(before);
  });

  test('npm run db:backup, db:verify, db:restore (rows deleted, then back), db:status --json, db:check', async () => {
    const seeded = await nodeInApp('seed.mjs', rowsScript(`
const addUser = db.prepare('INSERT INTO "User" (email, name) VALUES (?, ?)');
const addPost = db.prepare('INSERT INTO "Post" (title, "authorId") VALUES (?, ?)');
db.transaction(() => {
  for (let i = 1; i <= 50; i++) {
    const id = addUser.run(\`user\${i}@example.com\`, i % 7 ? \`User \${i}\` : null).lastInsertRowid;
    for (let j = 0; j < i % 4; j++) addPost.run(\`Post \${j} of \${i}: ünïcødé ✓\`, id);
  }
})();`));
    const backedUp = await npmRun('db:backup');
    expect(backedUp.code, backedUp.stderr).toBe(0);
    timings.backup = backedUp.ms;
    const files = fs.readdirSync(path.join(APP, 'backups')).filter((f) => f.endsWith('.jsonl.gz'));
    expect(files).toHaveLength(1);
    expect(fs.existsSync(path.join(APP, 'node_modules/prisma-guard/backups'))).toBe(false);

    const verified = await npmRun('db:verify', 'latest');
    expect(verified.code, verified.stderr).toBe(0);

    const damaged = await nodeInApp('delete.mjs', rowsScript(`db.prepare('DELETE FROM "User" WHERE id > 10').run();`)) as { users: unknown[] };
    expect(damaged.users).toHaveLength(10);
    const restored = await npmRun('db:restore', 'latest', '--yes');
    expect(restored.code, restored.stderr).toBe(0);
    timings.restore = restored.ms;
    expect(await nodeInApp('rows.mjs', rowsScript(''))).toEqual(seeded);

    const status = await npmRun('db:status', '--json');
    expect([0, 1], status.stderr).toContain(status.code);
    const report = JSON.parse(status.stdout);
    expect(report.health).toMatch(/^(HEALTHY|WARNING)$/);

    const checked = await npmRun('db:check');
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toMatch(/User\b.*\b50\b/);
    expect(checked.stdout).toMatch(/Post\b/);
  });

  test('a PostgreSQL URL without pg installed: exit 4 naming the package to install', async () => {
    const r = await run('npx', ['--no', 'prisma-guard', 'backup'], { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stderr).toContain('"pg" package, which is not installed');
    expect(r.stderr).toContain('hint: Install it in your project: npm install pg');
  });

  test('pm2 start ecosystem.config.cjs: scheduled backups land in the project\'s ./backups', async () => {
    const scheduled = () => fs.readdirSync(path.join(APP, 'backups')).filter((f) => /-scheduled-interval\.jsonl\.gz$/.test(f));
    expect(scheduled()).toEqual([]);
    // The schedule fires every 2 seconds; DATABASE_URL comes from the project's .env (cwd = the project root).
    const env = { PM2_HOME, BACKUP_SCHEDULE_INTERVAL: '*/2 * * * * *', BACKUP_SCHEDULE_DISABLE: 'daily', BACKUP_SCHEDULE_TZ: 'UTC', BACKUP_KEEP_HOURLY: '0', BACKUP_KEEP_DAILY: '0', BACKUP_KEEP_WEEKLY: '0', BACKUP_KEEP_MONTHLY: '0' };
    const started = await run(PM2, ['start', 'ecosystem.config.cjs'], env);
    expect(started.code, started.stdout + started.stderr).toBe(0);
    try {
      const deadline = Date.now() + 60_000;
      while (scheduled().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const list = await run(PM2, ['jlist'], env);
      const apps = JSON.parse(list.stdout.slice(list.stdout.indexOf('['))) as { name: string; pm2_env: { status: string; pm_out_log_path: string; pm_cwd: string } }[];
      const app = apps.find((a) => a.name === 'backup-scheduler')!;
      const log = fs.existsSync(app.pm2_env.pm_out_log_path) ? fs.readFileSync(app.pm2_env.pm_out_log_path, 'utf8') : '';
      expect(scheduled().length, `no scheduled backup in ${APP}/backups; pm2 out log:\n${log}`).toBeGreaterThan(0);
      expect(app.pm2_env.status).toBe('online');
      expect(fs.realpathSync(app.pm2_env.pm_cwd)).toBe(fs.realpathSync(APP));
      expect(fs.existsSync(path.join(APP, 'node_modules/prisma-guard/backups'))).toBe(false);
      const lines = log.trim().split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      expect(lines.some((l) => JSON.parse(l).event === 'backup.succeeded')).toBe(true);
    } finally {
      await run(PM2, ['kill'], env);
    }
  });

  test('the dashboard from the installed package: prisma-guard serve serves the page, and a token lists the backups', async () => {
    const token = await run('npx', ['--no', 'prisma-guard', 'token', 'add', 'install-test', '--role', 'viewer', '--json']);
    expect(token.code, token.stderr).toBe(0);
    // The installed bin run by node itself (not through npx), so the signal below reaches the server.
    const child = spawn(process.execPath, [path.join(APP, 'node_modules/.bin/prisma-guard'), 'serve', '--port', '0'], { cwd: APP, env: userEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          const line = out.split('\n').find((l) => l.includes('serve.listening'));
          if (line) resolve(JSON.parse(line).url);
        });
        child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const page = await fetch(url + '/');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<script src="/app.js"');
      expect((await fetch(url + '/app.js')).status).toBe(200);
      expect((await fetch(url + '/api/backups')).status).toBe(401);
      const listed = await fetch(url + '/api/backups', { headers: { authorization: `Bearer ${JSON.parse(token.stdout).token}` } });
      expect(listed.status).toBe(200);
      expect(((await listed.json()) as { total: number }).total).toBeGreaterThan(0);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('the public API from plain node: backup, verify, GuardError with its code and exit code', async () => {
    const out = await nodeInApp('api.mjs', `import { createRequire } from 'node:module';
import * as guard from 'prisma-guard';
import { resolveContext, backup, verifyBackup, restore, listBackups, GuardError, ExitCode, applyPolicy, DEFAULT_POLICY, withBackupBeforeDelete, version } from 'prisma-guard';
const ctx = resolveContext({ url: 'file:./dev.db', backupDir: './backups' });
const made = await backup(ctx, { reason: 'from-the-api' });
const verified = await verifyBackup(ctx, made.manifest.file);
let error;
try { await verifyBackup(ctx, 'no-such-backup.jsonl.gz'); } catch (e) { error = e; }
const restored = await restore(ctx, { backup: made.manifest.file, yes: true, safetyBackup: false });
const { backups } = await listBackups(ctx.backupDir);
const decision = applyPolicy([], DEFAULT_POLICY, new Date());
console.log(JSON.stringify({
  exports: Object.keys(guard).sort(),
  file: made.manifest.file,
  verified: verified.ok,
  restored: restored.executed && restored.proof.matches,
  listed: backups.some((b) => b.file === made.manifest.file),
  error: { isGuardError: error instanceof GuardError, code: error.code, exitCode: error.exitCode, notFound: ExitCode.NOT_FOUND },
  keeps: Array.isArray(decision.keep),
  wrapper: typeof withBackupBeforeDelete,
  version,
  packageVersion: createRequire(import.meta.url)('prisma-guard/package.json').version,
}));
`) as Record<string, any>;
    expect(out.exports).toEqual(expect.arrayContaining(['backup', 'restore', 'verifyBackup', 'diffBackups', 'diffWithLive', 'checkDatabase', 'migrateSafe', 'withBackupBeforeDelete', 'applyPolicy', 'startScheduler', 'GuardError', 'ExitCode', 'resolveContext']));
    expect(out.file).toMatch(/-from-the-api\.jsonl\.gz$/);
    expect(out.verified).toBe(true);
    expect(out.restored).toBe(true);
    expect(out.listed).toBe(true);
    expect(out.error).toEqual({ isGuardError: true, code: 'BACKUP_NOT_FOUND', exitCode: 7, notFound: 7 });
    expect(out.keeps).toBe(true);
    expect(out.wrapper).toBe('function');
    expect(out.version).toBe(out.packageVersion);
  });
});
