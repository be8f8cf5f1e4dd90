/**
 * Test helpers shared by every test file that needs a real database.
 *
 *   for (const dialect of DIALECTS) {
 *     const db = await freshDatabase(dialect);   // { dialect, url, drop() }
 *     await migrateDemo(db.url);                 // the demo app's migrations, via the real prisma CLI
 *     await seedDemo(db.url);                    // deterministic awkward demo data
 *     ...
 *     await db.drop();
 *   }
 *
 * SQLite databases are files in a fresh temp folder; PostgreSQL databases are
 * `pg_guard_t_<random>` on PG_TEST_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Queryable } from '../../lib/core/types.ts';
import { parseDatabaseUrl, redactSecrets, type DialectName } from '../../lib/core/url.ts';
import { runPrisma, type PrismaRunResult } from '../../lib/prisma/cli.ts';
import { DEMO_SCHEMAS, PROJECT_ROOT } from '../../prisma/adapter.ts';
import { seed, type SeedOptions, type SeedSummary } from '../../prisma/seed.ts';

/** Every dialect the tool supports: loop over it to run a test on each. */
export const DIALECTS = ['sqlite', 'postgres'] as const satisfies readonly DialectName[];
export type TestDialect = (typeof DIALECTS)[number];

/** Maintenance connection used to create and drop test databases. */
export const PG_ADMIN_URL = process.env.PG_TEST_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

/** Prefix of every test database name (handy to clean leftovers: `\l pg_guard_t_*`). */
export const PG_TEST_DB_PREFIX = 'pg_guard_t_';

/** The repository root (where package.json and prisma.config.ts live). */
export { PROJECT_ROOT };

export interface FreshDatabase {
  dialect: TestDialect;
  /** DATABASE_URL of the new, empty database. */
  url: string;
  /** SQLite: the database file. PostgreSQL: the database name. */
  name: string;
  /** Deletes the database (PostgreSQL: also ends its open connections). Safe to call twice. */
  drop(): Promise<void>;
}

/** A new temp folder (removed by the returned cleanup). */
export function tempDir(prefix = 'prisma-guard-test-'): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A `file:` URL for a not-yet-existing SQLite file in a new temp folder. */
export function tempSqliteUrl(fileName = 'test.db'): { url: string; file: string; remove(): void } {
  const t = tempDir('prisma-guard-sqlite-');
  const file = path.join(t.dir, fileName);
  return { url: `file:${file}`, file, remove: t.remove };
}

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty PostgreSQL database `pg_guard_t_<random>` and returns it. */
export async function createPgDatabase(): Promise<FreshDatabase> {
  const name = `${PG_TEST_DB_PREFIX}${randomBytes(6).toString('hex')}`;
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    dialect: 'postgres',
    url: url.toString(),
    name,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      // WITH (FORCE) (PostgreSQL 13+) ends connections a test forgot to close.
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/** An empty database of the given dialect. */
export async function freshDatabase(dialect: TestDialect): Promise<FreshDatabase> {
  if (dialect === 'postgres') return createPgDatabase();
  const t = tempSqliteUrl();
  return { dialect, url: t.url, name: t.file, drop: async () => t.remove() };
}

/** The demo schema file of a dialect (absolute). */
export function demoSchemaPath(dialect: TestDialect): string {
  return path.join(PROJECT_ROOT, DEMO_SCHEMAS[dialect]);
}

/** The demo migrations folder of a dialect (absolute). */
export function demoMigrationsDir(dialect: TestDialect): string {
  return path.join(path.dirname(demoSchemaPath(dialect)), 'migrations');
}

export interface PrismaDemoOptions {
  /**
   * Another schema file (absolute) to use instead of the demo schema for the URL's dialect; its
   * migrations are the `migrations` folder beside it. Lets a test run prisma on a copied, altered
   * migration history.
   */
  schema?: string;
  /** More environment variables for the prisma process (e.g. DEBUG). */
  env?: Record<string, string | undefined>;
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

/** Runs the real prisma CLI of this repo (offline-capable) against `url`, e.g. `['migrate', 'status']`. */
export function prismaDemo(args: string[], url: string, opts: PrismaDemoOptions = {}): Promise<PrismaRunResult> {
  return runPrisma(args, {
    cwd: PROJECT_ROOT,
    // PRISMA_GUARD_SCHEMA picks the schema in prisma.config.ts; unset, the URL's scheme decides.
    env: { ...opts.env, DATABASE_URL: url, PRISMA_GUARD_SCHEMA: opts.schema },
    onOutput: opts.onOutput,
  });
}

/** Throws when a dialect given alongside a URL is not the URL's (the URL alone decides everything). */
function checkDialect(url: string, dialect: TestDialect): void {
  const actual = parseDatabaseUrl(url, PROJECT_ROOT).dialect;
  if (actual !== dialect) throw new Error(`Test setup error: ${redactSecrets(url)} is a ${actual} URL, not ${dialect}.`);
}

/**
 * `prisma migrate deploy` of the demo migrations onto `url`; throws with Prisma's output when it
 * fails. The second argument may be the dialect (checked against the URL) or options.
 */
export async function migrateDemo(url: string, opts: PrismaDemoOptions | TestDialect = {}): Promise<PrismaRunResult> {
  if (typeof opts === 'string') {
    checkDialect(url, opts);
    opts = {};
  }
  const r = await prismaDemo(['migrate', 'deploy'], url, opts);
  if (r.code !== 0) {
    throw new Error(`prisma migrate deploy failed (exit ${r.code}) on ${redactSecrets(url)}:\n${redactSecrets(r.stdout + r.stderr)}`);
  }
  return r;
}

/**
 * Seeds the (migrated, empty) demo database at `url`: see prisma/seed.ts. The second argument may
 * be the dialect (checked against the URL) or seed options.
 */
export async function seedDemo(url: string, opts: SeedOptions | TestDialect = {}): Promise<SeedSummary> {
  if (typeof opts === 'string') {
    checkDialect(url, opts);
    opts = {};
  }
  return seed(url, opts);
}

/** A fresh database of `dialect` with the demo migrations applied (and seeded unless `seed: false`). */
export async function demoDatabase(dialect: TestDialect, opts: { seed?: boolean; users?: number } = {}): Promise<FreshDatabase & { summary?: SeedSummary }> {
  const db = await freshDatabase(dialect);
  try {
    await migrateDemo(db.url);
    const summary = opts.seed === false ? undefined : await seedDemo(db.url, { users: opts.users });
    return { ...db, summary };
  } catch (e) {
    await db.drop();
    throw e;
  }
}

/**
 * A minimal Queryable straight on the driver (better-sqlite3 / pg), independent of lib/dialects,
 * for tests that check what is really in a database. PostgreSQL uses the URL's `?schema=` as search_path.
 */
export async function rawQueryable(url: string): Promise<Queryable & { exec(sql: string): Promise<void>; close(): Promise<void> }> {
  const target = parseDatabaseUrl(url, PROJECT_ROOT);
  if (target.dialect === 'sqlite') {
    const db = new Database(target.file!);
    return {
      async query<T>(sql: string, params: unknown[] = []) {
        const stmt = db.prepare(sql);
        if (stmt.reader) return stmt.all(...params) as T[];
        stmt.run(...params);
        return [] as T[];
      },
      async exec(sql: string) {
        db.exec(sql);
      },
      async close() {
        db.close();
      },
    };
  }
  const u = new URL(target.url);
  u.searchParams.delete('schema');
  const client = new pg.Client({ connectionString: u.toString() });
  await client.connect();
  if (target.schema && target.schema !== 'public') await client.query(`SET search_path TO "${target.schema.replaceAll('"', '""')}"`);
  return {
    async query<T>(sql: string, params: unknown[] = []) {
      return (await client.query(sql, params)).rows as T[];
    },
    async exec(sql: string) {
      await client.query(sql);
    },
    async close() {
      await client.end();
    },
  };
}
