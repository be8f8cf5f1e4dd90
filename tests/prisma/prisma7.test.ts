/**
 * A real Prisma 7 project (prisma@7 installed from the npm registry into a temp folder, its
 * prisma.config.ts in 7's form, no url in the schema): migrate-safe finds the schema and migrations
 * from the config and runs Prisma 7's own CLI. Where Prisma 7's native schema engine cannot be
 * downloaded (as on the machine this was written on), it stops with exit 11 saying exactly that;
 * where it can, the migration is applied.
 *
 * RELIABILITY_LONG=1 only: the install takes about 70 s and 234 MB (measured with prisma 7.10.1,
 * npm 11, a loaded 2-core machine). The config parsing alone is tested on every run in
 * tests/prisma/project.test.ts.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { installedNativeEngines, resolvePrismaInstall } from '../../lib/prisma/cli.ts';
import { ROOT, runNode, type CliResult } from '../helpers/cli.ts';
import { rawQueryable, tempDir } from '../helpers/db.ts';

const TSX = createRequire(import.meta.url).resolve('tsx/cli');
const t = tempDir('prisma-guard-prisma7-');
afterAll(() => t.remove());

function cli(args: string[], cwd: string, env: Record<string, string>): Promise<CliResult> {
  return runNode([TSX, path.join(ROOT, 'bin/prisma-guard.ts'), ...args], { cwd, env: { CI: 'true', ...env } });
}

describe.runIf(process.env.RELIABILITY_LONG)('migrate-safe on a Prisma 7 project', () => {
  it('reads schema and migrations from the 7-form prisma.config.ts and runs Prisma 7', { timeout: 600_000 }, async () => {
    const dir = t.dir;
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "app7", "private": true, "type": "module" }\n');
    await promisify(execFile)('npm', ['install', '--no-audit', '--no-fund', 'prisma@7'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    const install = resolvePrismaInstall(dir);
    expect(install.version).toMatch(/^7\./);
    fs.mkdirSync(path.join(dir, 'db', 'history', '20250101000000_init'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'db', 'app.prisma'), 'datasource db {\n  provider = "sqlite"\n}\n\nmodel Note {\n  id    Int    @id @default(autoincrement())\n  title String\n}\n');
    fs.writeFileSync(path.join(dir, 'db', 'history', 'migration_lock.toml'), 'provider = "sqlite"\n');
    fs.writeFileSync(path.join(dir, 'db', 'history', '20250101000000_init', 'migration.sql'), '-- CreateTable\nCREATE TABLE "Note" (\n    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n    "title" TEXT NOT NULL\n);\n');
    fs.writeFileSync(path.join(dir, 'prisma.config.ts'), `import { defineConfig, env } from 'prisma/config';\n\nexport default defineConfig({\n  schema: 'db/app.prisma',\n  migrations: { path: 'db/history' },\n  datasource: { url: env('DATABASE_URL') },\n});\n`);
    const file = path.join(dir, 'app.db');
    const r = await cli(['migrate-safe', '--json', '--backup-dir', path.join(dir, 'backups')], dir, { DATABASE_URL: `file:${file}` });
    if (installedNativeEngines(install).schemaEngine) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'applied', schemaPath: path.join(dir, 'db/app.prisma'), migrationsDir: path.join(dir, 'db/history') });
      return;
    }
    expect(r.code, r.stdout + r.stderr).toBe(11);
    const error = (JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string } }).error;
    expect(error.code).toBe('PRISMA_CLI_FAILED');
    expect(error.message).toMatch(/prisma 7\.\d+\.\d+\) failed before applying any migration/);
    expect(error.message).toMatch(/Prisma 7\.\d+\.\d+ needs its native schema engine for this command, and the engine is not installed here \(it could not be downloaded\)/);
    expect(error.message).toMatch(/Could not parse schema engine response/);
    // Prisma 7 printed the schema it loaded: the one the config names.
    expect(error.message).toMatch(/Prisma schema loaded from db[/\\]app\.prisma/);
    expect(error.hint).toMatch(/PRISMA_SCHEMA_ENGINE_BINARY/);
    // The database was created (as migrate deploy would) and holds no migration.
    const q = await rawQueryable(`file:${file}`);
    try {
      expect(await q.query(`SELECT name FROM sqlite_master WHERE name = '_prisma_migrations' UNION ALL SELECT name FROM sqlite_master WHERE name = 'Note'`)).toEqual([]);
    } finally {
      await q.close();
    }
  });
});
