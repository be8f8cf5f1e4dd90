import { randomUUID } from 'node:crypto';
import type { DatabaseIdentity } from '../../format/source.ts';

type Run = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

/**
 * The schema of the database's identity: outside every schema Prisma manages, so never part of a
 * backup, a restore or a drift check. A schema of its own, not the scheduler's `_prisma_guard`: each
 * is created by whichever role needs it first, and neither then needs CREATE on the other's.
 */
export const IDENTITY_SCHEMA = '_prisma_guard_identity';

/**
 * Reads (and with `create`, stores) the database's fingerprint: a random id in
 * `_prisma_guard_identity.identity`, kept with the oid of the database it was made in. A copy of the database
 * (CREATE DATABASE … TEMPLATE, pg_dump of the whole database) carries the row but not the oid: it is
 * another database, so the copied id does not count, and its first backup gives it one of its own.
 * `adopt` stores that fingerprint instead of a new one when none is stored (a database recreated
 * from its own backup keeps its identity). Returns null when none is stored and nothing may be written.
 */
export async function postgresIdentity(run: Run, options: { create?: boolean; adopt?: string } = {}): Promise<DatabaseIdentity | null> {
  const [{ oid }] = await run<{ oid: string }>(`SELECT oid::text AS oid FROM pg_database WHERE datname = current_database()`);
  // Readable by every role (granted to PUBLIC when created); a role that still cannot read it gets
  // the derived fingerprint from the caller.
  const readable = await run<{ ok: boolean }>(
    `SELECT to_regclass('${IDENTITY_SCHEMA}.identity') IS NOT NULL AND has_schema_privilege('${IDENTITY_SCHEMA}', 'USAGE') AND has_table_privilege('${IDENTITY_SCHEMA}.identity', 'SELECT') AS ok`,
  ).catch(() => [{ ok: false }]);
  if (readable[0]?.ok) {
    const rows = await run<{ id: string; db_oid: string }>(`SELECT id, db_oid::text AS db_oid FROM ${IDENTITY_SCHEMA}.identity ORDER BY created_at LIMIT 1`).catch(() => []);
    if (rows[0] && rows[0].db_oid === oid) return { fingerprint: rows[0].id, method: 'stored' };
  }
  if (!options.create && !options.adopt) return null;
  const id = options.adopt ?? `pg-${randomUUID()}`;
  try {
    await run('BEGIN');
    // Two first backups at once must agree on one id.
    await run(`SELECT pg_advisory_xact_lock(hashtext('prisma-guard-identity'))`);
    await run(`CREATE SCHEMA IF NOT EXISTS ${IDENTITY_SCHEMA}`);
    await run(`CREATE TABLE IF NOT EXISTS ${IDENTITY_SCHEMA}.identity (id text PRIMARY KEY, db_oid oid NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
    const again = await run<{ id: string }>(`SELECT id FROM ${IDENTITY_SCHEMA}.identity WHERE db_oid = $1::oid ORDER BY created_at LIMIT 1`, [oid]);
    if (again[0]) {
      await run('COMMIT');
      return { fingerprint: again[0].id, method: 'stored' };
    }
    await run(`DELETE FROM ${IDENTITY_SCHEMA}.identity`);
    await run(`INSERT INTO ${IDENTITY_SCHEMA}.identity (id, db_oid) VALUES ($1, $2::oid)`, [id, oid]);
    await run(`GRANT USAGE ON SCHEMA ${IDENTITY_SCHEMA} TO PUBLIC`);
    await run(`GRANT SELECT ON ${IDENTITY_SCHEMA}.identity TO PUBLIC`);
    await run(`COMMENT ON SCHEMA ${IDENTITY_SCHEMA} IS 'prisma-guard: the identity of this database for its backups (do not copy between databases)'`);
    await run('COMMIT');
    return { fingerprint: id, method: 'stored' };
  } catch {
    // No CREATE privilege (a read-only role, a managed database): the caller falls back to a
    // fingerprint derived from the location.
    await run('ROLLBACK').catch(() => {});
    return null;
  }
}
