import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { datasourceSchemas, findPrismaProject, findPrismaProjectSync, schemaHash } from '../../lib/prisma/project.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { demoSchemaFor } from '../../prisma/adapter.ts';
import { PROJECT_ROOT, tempDir } from '../helpers/db.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const T = 60_000;

function project(files: Record<string, string>) {
  const t = tempDir('prisma-guard-project-');
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(t.dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(t.dir, rel), content);
  }
  return t;
}

/** A maker of temporary projects for one describe block, removed after it. */
function projects(): (files: Record<string, string>) => string {
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((c) => c()));
  return (files) => {
    const t = project(files);
    cleanups.push(t.remove);
    return t.dir;
  };
}

describe('findPrismaProject', () => {
  const make = projects();

  it('this repo: evaluates prisma.config.ts with Prisma\'s own loader (from a subfolder too)', async () => {
    const p = await findPrismaProject(path.join(PROJECT_ROOT, 'lib', 'prisma'));
    const expected = path.join(PROJECT_ROOT, demoSchemaFor(process.env.DATABASE_URL));
    expect(p).toMatchObject({
      root: PROJECT_ROOT,
      configPath: path.join(PROJECT_ROOT, 'prisma.config.ts'),
      source: 'prisma.config',
      schemaPath: expected,
      migrationsDir: path.join(path.dirname(expected), 'migrations'),
    });
    expect(p.configWarning).toBeUndefined();
  }, T);

  it('package.json "prisma.schema", relative to package.json; migrations beside the schema', async () => {
    const dir = make({ 'package.json': JSON.stringify({ name: 'x', prisma: { schema: 'db/app.prisma' } }), 'db/app.prisma': '// schema\n' });
    const p = await findPrismaProject(path.join(dir));
    expect(p).toMatchObject({ root: dir, source: 'package.json', schemaPath: path.join(dir, 'db/app.prisma'), migrationsDir: path.join(dir, 'db/migrations'), configPath: null });
  });

  it("Prisma's default locations: schema.prisma, then prisma/schema.prisma, then a prisma/schema/ folder", async () => {
    let dir = make({ 'package.json': '{}', 'prisma/schema.prisma': '//\n' });
    expect(await findPrismaProject(dir)).toMatchObject({ source: 'default', schemaPath: path.join(dir, 'prisma/schema.prisma'), migrationsDir: path.join(dir, 'prisma/migrations') });
    dir = make({ 'package.json': '{}', 'schema.prisma': '//\n', 'prisma/schema.prisma': '//\n' });
    expect((await findPrismaProject(dir)).schemaPath).toBe(path.join(dir, 'schema.prisma'));
    dir = make({ 'package.json': '{}', 'prisma/schema/base.prisma': '//\n', 'prisma/schema/user.prisma': '//\n' });
    expect(await findPrismaProject(dir)).toMatchObject({ schemaPath: path.join(dir, 'prisma/schema'), migrationsDir: path.join(dir, 'prisma/schema/migrations') });
  });

  it('no schema anywhere: source none', async () => {
    const dir = make({ 'package.json': '{}' });
    expect(await findPrismaProject(dir)).toMatchObject({ root: dir, source: 'none', schemaPath: null, migrationsDir: null });
  });

  it("Prisma 7's config form (datasource.url from env(), computed paths) is evaluated with the project's loader", async () => {
    const dir = make({
      'package.json': '{ "type": "module" }',
      'prisma.config.ts': `import path from 'node:path';\nimport { defineConfig, env } from 'prisma/config';\n\nexport default defineConfig({\n  schema: path.join('db', 'app.prisma'),\n  migrations: { path: path.join('db', 'history') },\n  datasource: { url: env('DATABASE_URL') },\n});\n`,
      'db/app.prisma': 'datasource db {\n  provider = "sqlite"\n}\n',
      'prisma/schema.prisma': '// not this one\n',
    });
    // The project's own prisma (here: this repo's) loads it, as the CLI would.
    fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = 'file:./dev.db';
    try {
      const p = await findPrismaProject(dir);
      expect(p).toMatchObject({ source: 'prisma.config', schemaPath: path.join(dir, 'db/app.prisma'), migrationsDir: path.join(dir, 'db/history') });
      expect(p.configWarning).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  }, T);

  it('a config that cannot be evaluated (no Prisma installed): its string literals are read, with a warning', async () => {
    const dir = make({
      'package.json': '{}',
      'prisma.config.ts': `import { defineConfig } from 'prisma/config'\nexport default defineConfig({\n  schema: "custom/app.prisma",\n  migrations: { seed: 'tsx seed.ts', path: 'custom/history' },\n})\n`,
      'prisma/schema.prisma': '// not this one\n',
    });
    const p = await findPrismaProject(dir);
    expect(p).toMatchObject({
      source: 'prisma.config',
      configPath: path.join(dir, 'prisma.config.ts'),
      schemaPath: path.join(dir, 'custom/app.prisma'),
      migrationsDir: path.join(dir, 'custom/history'),
    });
    expect(p.configWarning).toMatch(/Could not evaluate prisma\.config\.ts/);
  });
});

describe('schemaHash', () => {
  const t = project({
    'package.json': '{}',
    'prisma/schema.prisma': 'model A { id Int @id }\n',
    'multi/schema/a.prisma': 'model A { id Int @id }\n',
    'multi/schema/sub/b.prisma': 'model B { id Int @id }\n',
    'multi/schema/migrations/1_x/migration.sql': 'SELECT 1;\n',
  });
  afterAll(() => t.remove());

  it('is the sha256 of the schema file bytes (default location or explicit path)', async () => {
    const expected = sha(fs.readFileSync(path.join(t.dir, 'prisma/schema.prisma')));
    expect(await schemaHash(t.dir)).toBe(expected);
    expect(await schemaHash(t.dir, 'prisma/schema.prisma')).toBe(expected);
    expect(await schemaHash('/', path.join(t.dir, 'prisma/schema.prisma'))).toBe(expected);
  });

  it('this repo: the demo schema', async () => {
    expect(await schemaHash(PROJECT_ROOT, 'prisma/schema.prisma')).toBe(sha(fs.readFileSync(path.join(PROJECT_ROOT, 'prisma/schema.prisma'))));
  });

  it('is null when there is no schema', async () => {
    expect(await schemaHash(t.dir, 'nope.prisma')).toBeNull();
    const empty = project({ 'package.json': '{}' });
    try {
      expect(await schemaHash(empty.dir)).toBeNull();
    } finally {
      empty.remove();
    }
  });

  it('covers every .prisma file of a multi-file schema folder (not its migrations)', async () => {
    const h1 = await schemaHash(t.dir, 'multi/schema');
    expect(h1).toMatch(/^[0-9a-f]{64}$/);
    fs.writeFileSync(path.join(t.dir, 'multi/schema/migrations/1_x/migration.sql'), 'SELECT 2;\n');
    expect(await schemaHash(t.dir, 'multi/schema')).toBe(h1);
    fs.writeFileSync(path.join(t.dir, 'multi/schema/sub/b.prisma'), 'model B { id Int @id\n name String }\n');
    expect(await schemaHash(t.dir, 'multi/schema')).not.toBe(h1);
    // Moving content between files changes the hash too (paths are part of it).
    const h2 = await schemaHash(t.dir, 'multi/schema');
    fs.renameSync(path.join(t.dir, 'multi/schema/sub/b.prisma'), path.join(t.dir, 'multi/schema/c.prisma'));
    expect(await schemaHash(t.dir, 'multi/schema')).not.toBe(h2);
  });
});

describe('the datasource schemas (multiSchema) and the schemas of a context', () => {
  const make = projects();
  const datasource = (body: string) => `generator client {\n  provider = "prisma-client-js"\n}\n\ndatasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n${body}}\n`;
  const url = 'postgresql://u@localhost:5432/app';

  it('reads `schemas = [...]` of the datasource, not a commented-out one or another block\'s', () => {
    const dir = make({ 'package.json': '{}', 'prisma/schema.prisma': `model X {\n  id Int @id\n  // schemas = ["no"]\n}\n` + datasource('  // schemas = ["old"]\n  schemas  = ["billing", "auth"] // the two\n') });
    expect(datasourceSchemas(findPrismaProjectSync(dir).schemaPath)).toEqual(['billing', 'auth']);
    expect(datasourceSchemas(path.join(dir, 'missing.prisma'))).toBeNull();
    expect(datasourceSchemas(null)).toBeNull();
  });

  it('a multi-file schema folder: the datasource is in one of its files', () => {
    const dir = make({ 'package.json': '{}', 'prisma/schema/models.prisma': 'model X {\n  id Int @id\n}\n', 'prisma/schema/main.prisma': datasource('  schemas = ["a","b"]\n') });
    expect(datasourceSchemas(findPrismaProjectSync(dir).schemaPath)).toEqual(['a', 'b']);
  });

  it('precedence: --schemas, then the datasource list with the URL schema, then ?schema=', () => {
    const multi = make({ 'package.json': '{}', 'prisma/schema.prisma': datasource('  schemas = ["b", "a"]\n') });
    const single = make({ 'package.json': '{}', 'prisma/schema.prisma': datasource('') });
    const target = (u: string, schemas?: string[], dir = multi) => resolveContext({ url: u, schemas, projectDir: dir, env: {} }).target;
    expect(target(url)).toMatchObject({ schema: 'public', schemas: ['a', 'b', 'public'] });
    expect(target(`${url}?schema=a`)).toMatchObject({ schema: 'a', schemas: ['a', 'b'] });
    expect(target(url, ['c', 'b'])).toMatchObject({ schema: 'b', schemas: ['b', 'c'] });
    expect(target(url, ['c'])).toMatchObject({ schema: 'c' });
    expect(target(url, ['c']).schemas).toBeUndefined();
    expect(target(`${url}?schema=app`, undefined, single)).toMatchObject({ schema: 'app' });
    expect(target(`${url}?schema=app`, undefined, single).schemas).toBeUndefined();
    expect(() => target('file:./dev.db', ['a'])).toThrow(/--schemas applies to PostgreSQL only: SQLite has no schemas/);
    expect(target('file:./dev.db').schemas).toBeUndefined(); // a SQLite project ignores a datasource list
    // migrate-safe's context: the URL's schema only (its risk checks look tables up by bare name).
    expect(resolveContext({ url, projectDir: multi, env: {}, datasourceSchemas: false }).target.schemas).toBeUndefined();
  });
});
