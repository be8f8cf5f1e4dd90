/**
 * Driver adapters for the demo app: one place that turns a DATABASE_URL into the Prisma driver
 * adapter factory, used by prisma.config.ts (the CLI's JS schema engine) and by the seed (the
 * generated client). Prisma 6.19 runs both without native engines when given an adapter.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { parseDatabaseUrl } from '../lib/core/url.ts';

/** The repository root: relative `file:` URLs are resolved from here, whatever the current directory. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The two demo schemas (a Prisma datasource provider cannot come from an environment variable). */
export const DEMO_SCHEMAS = {
  sqlite: 'prisma/schema.prisma',
  postgres: 'prisma/postgres/schema.prisma',
} as const;

/** Which demo schema belongs to a database URL (relative to the project root). */
export function demoSchemaFor(url: string | undefined): string {
  return url && /^postgres(ql)?:\/\//i.test(url.trim()) ? DEMO_SCHEMAS.postgres : DEMO_SCHEMAS.sqlite;
}

const PG_NAME_OID = 19;
const PG_TEXT_OID = 25;

function reportNameColumnsAsText<T>(result: T): T {
  for (const r of Array.isArray(result) ? result : [result]) {
    const fields = (r as { fields?: { dataTypeID: number }[] } | undefined)?.fields;
    if (Array.isArray(fields)) for (const f of fields) if (f.dataTypeID === PG_NAME_OID) f.dataTypeID = PG_TEXT_OID;
  }
  return result;
}

/**
 * Workaround for https://github.com/prisma/prisma/issues/27403: with @prisma/adapter-pg the JS
 * schema engine reads catalog columns of type `name` (oid 19), which the adapter cannot map
 * ("Column type 'name' could not be deserialized"), so `migrate deploy`/`migrate status` fail.
 * This pg Client reports such columns as `text` (oid 25); pg already returns their values as
 * strings, so nothing else changes. Covers the promise style (`await client.query(...)`) and the
 * callback style (what pg.Pool#query uses internally). Remove once the upstream issue is fixed.
 */
class NameAsTextClient extends pg.Client {}
const originalQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
(NameAsTextClient.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (
  this: pg.Client,
  ...args: unknown[]
) {
  const cbAt = args.findIndex((a) => typeof a === 'function');
  if (cbAt >= 0) {
    const cb = args[cbAt] as (err: Error | null, res: unknown) => void;
    args[cbAt] = (err: Error | null, res: unknown) => cb(err, err ? res : reportNameColumnsAsText(res));
    return originalQuery.apply(this, args);
  }
  const first = args[0] as { callback?: unknown } | undefined;
  if (first && typeof first === 'object' && typeof first.callback === 'function') {
    const cb = first.callback as (err: Error | null, res: unknown) => void;
    first.callback = (err: Error | null, res: unknown) => cb(err, err ? res : reportNameColumnsAsText(res));
    return originalQuery.apply(this, args);
  }
  const out = originalQuery.apply(this, args);
  // Submittables (cursors, COPY streams) are returned untouched; promises get their fields patched.
  if (out && typeof (out as Promise<unknown>).then === 'function') return (out as Promise<unknown>).then(reportNameColumnsAsText);
  return out;
};

/**
 * The driver adapter factory for a DATABASE_URL: `file:` -> better-sqlite3, `postgres(ql)://` -> pg.
 * Relative SQLite paths are resolved from the project root (as prisma-guard's parseDatabaseUrl does).
 */
export function createAdapter(url: string | undefined): PrismaBetterSQLite3 | PrismaPg {
  const target = parseDatabaseUrl(url, PROJECT_ROOT);
  if (target.dialect === 'sqlite') return new PrismaBetterSQLite3({ url: target.file! });
  const pool = new pg.Pool({
    connectionString: target.url,
    Client: NameAsTextClient,
    max: 4,
    // The Prisma CLI does not always dispose the adapter: without this, idle pooled connections
    // keep `prisma migrate status` alive for idleTimeoutMillis (10 s) after it has finished.
    allowExitOnIdle: true,
  });
  return new PrismaPg(pool, {
    schema: target.schema === 'public' ? undefined : target.schema,
    // The adapter owns the pool: close it with the adapter so CLI processes can exit.
    disposeExternalPool: true,
  });
}
