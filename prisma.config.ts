/**
 * Prisma CLI configuration for the prisma-guard demo app, made to work offline: Prisma 6.19's
 * JavaScript schema engine (`engine: 'js'`) talks to the database through a driver adapter, so
 * `migrate deploy`/`migrate status`/`generate` need no native engine download. (The CLI still
 * insists that engine files exist: run it through `tsx prisma/prisma-offline.ts ...` or
 * lib/prisma/cli.ts#runPrisma, which point PRISMA_SCHEMA_ENGINE_BINARY/PRISMA_QUERY_ENGINE_LIBRARY
 * at placeholder files when the native engines are absent.)
 *
 * Schema selection. There are two demo schemas because a datasource provider cannot come from an
 * environment variable:
 *   - prisma/schema.prisma           SQLite (default)      migrations: prisma/migrations
 *   - prisma/postgres/schema.prisma  PostgreSQL            migrations: prisma/postgres/migrations
 * The schema is PRISMA_GUARD_SCHEMA when set (a path relative to this file), otherwise derived
 * from DATABASE_URL's scheme: postgres:// or postgresql:// -> the PostgreSQL schema, anything else
 * (file:, unset) -> the SQLite schema. The migrations folder is always `migrations` beside the schema.
 *
 * Adapter: `file:` -> PrismaBetterSQLite3, `postgres(ql)://` -> PrismaPg with the workaround for
 * https://github.com/prisma/prisma/issues/27403 (see prisma/adapter.ts).
 */
import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { createAdapter, demoSchemaFor } from './prisma/adapter.ts';

const schema = process.env.PRISMA_GUARD_SCHEMA || demoSchemaFor(process.env.DATABASE_URL);

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema,
  migrations: {
    path: path.join(path.dirname(schema), 'migrations'),
    // `prisma db seed` runs this (the seed reads DATABASE_URL).
    seed: 'tsx prisma/seed.ts',
  },
  adapter: async () => createAdapter(process.env.DATABASE_URL),
});
