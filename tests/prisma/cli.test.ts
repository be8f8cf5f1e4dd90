import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isGuardError } from '../../lib/core/errors.ts';
import { ENGINE_OVERRIDE_VARS, installedNativeEngines, offlineEngineEnv, resolvePrismaInstall, runPrisma } from '../../lib/prisma/cli.ts';
import { PROJECT_ROOT, tempDir, tempSqliteUrl } from '../helpers/db.ts';

const T = 300_000;

/**
 * A project whose "prisma" package is a tiny script reporting its argv, cwd and the engine
 * variables it received: lets us check exactly what runPrisma hands to the CLI, including on a
 * machine where the native engines are installed.
 */
function fakePrismaProject(opts: { engines?: string[] } = {}) {
  const t = tempDir('prisma-guard-fakecli-');
  const pkg = path.join(t.dir, 'node_modules', 'prisma');
  fs.mkdirSync(path.join(pkg, 'build'), { recursive: true });
  fs.writeFileSync(path.join(t.dir, 'package.json'), '{"name":"app"}');
  fs.writeFileSync(path.join(pkg, 'package.json'), '{"name":"prisma","version":"7.0.0-fake"}');
  fs.writeFileSync(
    path.join(pkg, 'build', 'index.js'),
    `process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(),
      schema: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? null, query: process.env.PRISMA_QUERY_ENGINE_LIBRARY ?? null,
      extra: process.env.EXTRA ?? null, removed: process.env.TO_REMOVE ?? null }));
    process.stderr.write('warn line\\n');
    process.exitCode = process.argv.includes('--fail') ? 3 : 0;`,
  );
  const engines = path.join(t.dir, 'node_modules', '@prisma', 'engines');
  fs.mkdirSync(engines, { recursive: true });
  for (const e of opts.engines ?? []) fs.writeFileSync(path.join(engines, e), 'binary');
  return t;
}

describe('resolvePrismaInstall', () => {
  it("finds the repo's prisma (6.19.3) from the root and from a subfolder", () => {
    const a = resolvePrismaInstall(PROJECT_ROOT);
    expect(a.version).toBe('6.19.3');
    expect(a.cliPath).toBe(path.join(PROJECT_ROOT, 'node_modules', 'prisma', 'build', 'index.js'));
    expect(resolvePrismaInstall(path.join(PROJECT_ROOT, 'lib', 'prisma')).cliPath).toBe(a.cliPath);
  });

  it('throws PRISMA_NOT_INSTALLED with an install hint where there is none', () => {
    const t = tempDir();
    try {
      let err: unknown;
      try {
        resolvePrismaInstall(t.dir);
      } catch (e) {
        err = e;
      }
      expect(isGuardError(err) && err.code).toBe('PRISMA_NOT_INSTALLED');
      expect(isGuardError(err) && err.hint).toMatch(/npm install --save-dev prisma/);
    } finally {
      t.remove();
    }
  });
});

describe('offline engine variables', () => {
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((c) => c()));

  it('engines absent and variables unset: both point at existing placeholder files', () => {
    const p = fakePrismaProject();
    cleanups.push(p.remove);
    const env = offlineEngineEnv(p.dir, {});
    expect(Object.keys(env).sort()).toEqual([ENGINE_OVERRIDE_VARS.queryEngineLibrary, ENGINE_OVERRIDE_VARS.schemaEngine].sort());
    for (const f of Object.values(env)) {
      expect(fs.existsSync(f)).toBe(true);
      expect(f.startsWith(path.join(p.dir, 'node_modules', '.cache', 'prisma-guard'))).toBe(true);
    }
    // The schema engine placeholder explains itself if Prisma ever runs it.
    const run = spawnSync(env[ENGINE_OVERRIDE_VARS.schemaEngine], ['--version'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/needs the native schema engine/);
  });

  it('never overrides variables the user set, nor engines that are installed', () => {
    const p = fakePrismaProject({ engines: ['schema-engine-debian-openssl-3.0.x'] });
    cleanups.push(p.remove);
    expect(installedNativeEngines(resolvePrismaInstall(p.dir))).toEqual({ schemaEngine: true, queryEngineLibrary: false });
    expect(Object.keys(offlineEngineEnv(p.dir, {}))).toEqual([ENGINE_OVERRIDE_VARS.queryEngineLibrary]);
    expect(offlineEngineEnv(p.dir, { [ENGINE_OVERRIDE_VARS.queryEngineLibrary]: '/my/engine' })).toEqual({});
    const both = fakePrismaProject({ engines: ['schema-engine-debian-openssl-3.0.x', 'libquery_engine-debian-openssl-3.0.x.so.node'] });
    cleanups.push(both.remove);
    expect(offlineEngineEnv(both.dir, {})).toEqual({});
  });

  it('runPrisma passes args, cwd and env, streams output and returns the exit code', async () => {
    const p = fakePrismaProject({ engines: ['libquery_engine-debian-openssl-3.0.x.so.node'] });
    cleanups.push(p.remove);
    const chunks: [string, string][] = [];
    process.env.TO_REMOVE = 'x';
    try {
      const r = await runPrisma(['migrate', 'status', '--fail'], {
        cwd: p.dir,
        env: { EXTRA: 'yes', TO_REMOVE: undefined, PRISMA_SCHEMA_ENGINE_BINARY: undefined, PRISMA_QUERY_ENGINE_LIBRARY: undefined },
        onOutput: (c, s) => chunks.push([s, c]),
      });
      expect(r.code).toBe(3);
      expect(r.stderr).toBe('warn line\n');
      const seen = JSON.parse(r.stdout);
      expect(seen.argv).toEqual(['migrate', 'status', '--fail']);
      expect(fs.realpathSync(seen.cwd)).toBe(fs.realpathSync(p.dir));
      expect(seen.extra).toBe('yes');
      expect(seen.removed).toBeNull();
      expect(seen.schema).toMatch(/schema-engine-placeholder$/); // absent: placeholder
      expect(seen.query).toBeNull(); // installed: left to Prisma
      expect(chunks.map(([s]) => s).sort()).toEqual(['stderr', 'stdout']);
    } finally {
      delete process.env.TO_REMOVE;
    }
  });
});

describe('the real prisma CLI, offline', () => {
  const db = tempSqliteUrl();
  afterAll(() => db.remove());

  it('runPrisma runs --version and validate without any engine download', async () => {
    const env = { DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: undefined };
    const v = await runPrisma(['--version'], { cwd: PROJECT_ROOT, env });
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/prisma\s+: 6\.19\.3/);
    expect(v.stdout + v.stderr).not.toMatch(/ENOTFOUND|binaries\.prisma\.sh/);
    const ok = await runPrisma(['validate'], { cwd: PROJECT_ROOT, env });
    expect(ok.code).toBe(0);
    expect(ok.stdout + ok.stderr).toContain('is valid');
  }, T);

  it('prisma/prisma-offline.ts streams output and exits with prisma\'s code', () => {
    const tsx = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: db.url };
    delete env.PRISMA_GUARD_SCHEMA;
    const ok = spawnSync(tsx, ['prisma/prisma-offline.ts', 'validate'], { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout + ok.stderr).toContain('The schema at prisma/schema.prisma is valid');
    const bad = spawnSync(tsx, ['prisma/prisma-offline.ts', 'validate', '--schema', 'prisma/does-not-exist.prisma'], { cwd: PROJECT_ROOT, env, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(/does-not-exist/);
  }, T);
});
