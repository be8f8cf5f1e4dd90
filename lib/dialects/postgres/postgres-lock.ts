import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import { GuardError } from '../../core/errors.ts';
import type { DatabaseTarget } from '../../core/url.ts';
import type { Lock } from '../dialect.ts';

const POLL_MS = 200;

/**
 * The advisory lock key of a named lock on one database and schema: the first 8 bytes of
 * SHA-256("prisma-guard\0name\0database\0schema") as a signed bigint, as a decimal string.
 * Two processes guarding the same database and schema compute the same key.
 */
export function advisoryLockKey(name: string, database: string, schema: string): string {
  const digest = createHash('sha256').update(`prisma-guard\0${name}\0${database}\0${schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}

export interface LockSessionOptions {
  /**
   * The I/O timeout (ms; 0 = none). While the lock is held its session runs a trivial query every
   * third of it and has idle_session_timeout set to it (PostgreSQL 14+), so the server ends the
   * session, and the lock with it, within about the timeout once this process stops answering:
   * frozen, or cut off behind a proxy that keeps the TCP connection open.
   */
  timeoutMs?: number;
  /** Called once if the lock's session fails while the lock is held (the lock is then lost). */
  onLost?(cause: unknown): void;
}

/**
 * Takes a session-level advisory lock on its own connection (opened by `open`), so it is
 * independent of the transactions of the work connection and disappears if the process dies
 * (the server drops the session). Tries at once, then every 200 ms until `waitMs` has passed.
 */
export async function acquireAdvisoryLock(
  open: () => Promise<pg.Client>,
  target: DatabaseTarget,
  schema: string,
  name: string,
  waitMs = 0,
  session: LockSessionOptions = {},
): Promise<Lock> {
  const key = advisoryLockKey(name, target.database, schema);
  const client = await open();
  const deadline = Date.now() + Math.max(0, waitMs);
  try {
    for (;;) {
      const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key]);
      if (res.rows[0].ok) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        const holder = await describeHolder(client, key);
        throw new GuardError(
          'LOCKED',
          `The prisma-guard lock "${name}" on ${target.database} (schema ${schema}) is held by another process${holder ? ` (${holder})` : ''}.`,
          {
            hint: 'Wait for the other backup/restore/migration to finish and retry, or pass a longer lock wait. ' +
              'If that process is stuck, ending its session releases the lock (SELECT pg_terminate_backend(<pid>)).',
            details: { lock: name, key },
          },
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, left)));
    }
    // Shows up in pg_stat_activity, so a waiting process can tell who holds the lock.
    await client.query(`SELECT set_config('application_name', $1, false)`, [
      `prisma-guard lock ${name} pid ${process.pid}@${hostname()}`.slice(0, 63),
    ]);
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
  let released = false;
  const timeoutMs = session.timeoutMs ?? 0;
  let heartbeat: NodeJS.Timeout | undefined;
  if (timeoutMs > 0) {
    // Not every server has idle_session_timeout (PostgreSQL 14+): then only the process's exit or
    // the TCP keepalive ends the session.
    await client.query(`SET idle_session_timeout = ${Math.round(timeoutMs)}`).catch(() => {});
    let beating = false;
    let lost = false;
    heartbeat = setInterval(() => {
      if (beating || released || lost) return;
      beating = true;
      client.query('SELECT 1').then(
        () => (beating = false),
        (cause) => {
          beating = false;
          if (released || lost) return;
          lost = true;
          clearInterval(heartbeat);
          session.onLost?.(cause);
        },
      );
    }, Math.max(50, Math.round(timeoutMs / 3)));
    heartbeat.unref();
  }
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      try {
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
      } catch {
        // The lock's session is gone (server restarted, pg_terminate_backend): the server released
        // the lock with it. Throwing here would also hide the error that ended the operation.
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}

/** "pid 123, prisma-guard lock backup pid 99@host, since ..." for the session holding the key. */
async function describeHolder(client: pg.Client, key: string): Promise<string | null> {
  const k = BigInt.asUintN(64, BigInt(key));
  const classid = (k >> 32n).toString();
  const objid = (k & 0xffffffffn).toString();
  try {
    const res = await client.query<{ pid: number; application_name: string; client_addr: string | null; since: string | null }>(
      `SELECT a.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start::text AS since
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [classid, objid],
    );
    const h = res.rows[0];
    if (!h) return null;
    return [`pid ${h.pid}`, h.application_name || null, h.client_addr ? `from ${h.client_addr}` : null, h.since ? `connected since ${h.since}` : null]
      .filter(Boolean)
      .join(', ');
  } catch {
    return null; // pg_stat_activity may be restricted; the lock error is still accurate
  }
}
