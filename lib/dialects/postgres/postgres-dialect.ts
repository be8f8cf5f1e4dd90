import pg from 'pg';
import { GuardError, isGuardError, messageOf } from '../../core/errors.ts';
import type { DbSchema, Queryable } from '../../core/types.ts';
import { parseDatabaseUrl, redactSecrets, type DatabaseTarget } from '../../core/url.ts';
import { SCRATCH_PREFIX, type Connection, type Dialect, type LoadOptions, type LoadResult, type Lock, type SnapshotOptions, type SnapshotReader } from '../dialect.ts';
import { postgresIdentity } from './postgres-identity.ts';
import { checkPostgresBackupSql } from './postgres-ddl-check.ts';
import { definesCode } from './postgres-dump-ddl-check.ts';
import { introspectPostgres } from './postgres-introspector.ts';
import { runSnapshot } from './postgres-dump.ts';
import { loadPostgres } from './postgres-load.ts';
import { Namespaces } from './postgres-names.ts';
import { acquireAdvisoryLock } from './postgres-lock.ts';
import { withFullSchema, type LibpqConnection } from './postgres-schema-dump.ts';
import { quoteIdent } from './postgres-sql.ts';
import { ConnectionGroup, DEFAULT_IO_TIMEOUT_MS, serverTcpSettings, watchClient } from './postgres-watchdog.ts';
import { postgresRiskProbes } from './postgres-risk-probes.ts';

/**
 * Query parameters that only Prisma understands. pg would either ignore them or, worse, send them
 * to the server as startup parameters, so they are removed before the URL reaches pg.
 */
const PRISMA_ONLY_PARAMS = [
  'schema',
  'connection_limit',
  'pool_timeout',
  'pgbouncer',
  'socket_timeout',
  'statement_cache_size',
  'sslaccept',
  'sslidentity',
  'sslpassword',
  'connect_timeout',
  'max_connection_lifetime',
  'max_idle_connection_lifetime',
];

/** Session settings that make every value print exactly and the same way on every server. */
const SESSION_SETTINGS = [
  `SET TimeZone = 'UTC'`,
  `SET DateStyle = 'ISO'`,
  `SET IntervalStyle = 'postgres'`,
  `SET extra_float_digits = 3`,
  `SET bytea_output = 'hex'`,
  `SET client_encoding = 'UTF8'`,
  // Backup DDL is checked by a tokenizer that reads '...' literals this way (postgres-ddl-check.ts).
  `SET standard_conforming_strings = on`,
];

const CONNECT_TIMEOUT_MS = 10_000;

/** The I/O timeout of connections to `target` (BACKUP_IO_TIMEOUT, see postgres-watchdog.ts); 0 = none. */
export function ioTimeoutOf(target: DatabaseTarget): number {
  return target.ioTimeoutMs ?? DEFAULT_IO_TIMEOUT_MS;
}

/** Where a URL points, without credentials: `host:port/database`. */
export function describeEndpoint(target: DatabaseTarget): string {
  try {
    const u = new URL(target.url);
    const socketHost = u.searchParams.get('host');
    const host = u.hostname || socketHost || 'localhost';
    return `${host}:${u.port || '5432'}/${target.database}`;
  } catch {
    return redactSecrets(target.display);
  }
}

/** The connection string pg gets: Prisma-only parameters removed. */
export function pgConnectionString(url: string, database?: string): string {
  const u = new URL(url);
  for (const p of PRISMA_ONLY_PARAMS) u.searchParams.delete(p);
  // libpq's sslmode=prefer means "TLS if the server offers it"; pg cannot fall back and would
  // insist on TLS, breaking the many local servers without it. Prisma's default is prefer too.
  if (u.searchParams.get('sslmode') === 'prefer') u.searchParams.delete('sslmode');
  if (database !== undefined) u.pathname = '/' + encodeURIComponent(database);
  return u.toString();
}

/**
 * How a libpq tool (pg_dump) reaches `target`: the URI without its password, which goes into
 * PGPASSWORD so that it never shows on a command line.
 */
export function libpqConnection(target: DatabaseTarget): LibpqConnection {
  const u = new URL(pgConnectionString(target.url));
  const password = passwordOf(target.url);
  u.password = '';
  u.searchParams.delete('ssl'); // the node driver's; libpq refuses parameters it does not know
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'prisma-guard' };
  delete env.PGPASSWORD;
  delete env.PGSERVICE;
  if (password) env.PGPASSWORD = password;
  return { uri: u.toString(), env, ioTimeoutMs: ioTimeoutOf(target), endpoint: describeEndpoint(target) };
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

/** Removes the URL's password from any text, URL-shaped or not. */
function scrub(text: string, target: DatabaseTarget): string {
  let out = redactSecrets(text);
  const pw = passwordOf(target.url);
  if (pw.length >= 3) out = out.split(pw).join('***');
  return out;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

function unreachable(target: DatabaseTarget, cause: unknown): GuardError {
  const endpoint = describeEndpoint(target);
  const code = (cause as { code?: string })?.code ?? '';
  const reason = scrub(messageOf(cause), target);
  let why: string;
  let hint: string;
  if (code === '3D000') {
    why = `the database "${target.database}" does not exist`;
    hint = `Create it (createdb -h HOST -U USER ${target.database}) or fix the database name in DATABASE_URL.`;
  } else if (code === '28P01' || code === '28000') {
    why = `authentication failed (${reason})`;
    hint = 'Check the user name and password in DATABASE_URL (URL-encode special characters) and pg_hba.conf.';
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    why = `the host name cannot be resolved (${reason})`;
    hint = 'Check the host in DATABASE_URL and your DNS/network.';
  } else if (NETWORK_CODES.has(code) || /timeout/i.test(reason)) {
    why = `the server does not answer (${reason})`;
    hint = 'Check that PostgreSQL is running and listening on that host and port (pg_isready -h HOST -p PORT), and any firewall in between.';
  } else if (code === '57P03') {
    why = `the server is starting up or shutting down (${reason})`;
    hint = 'Wait a moment and try again.';
  } else {
    why = reason;
    hint = 'Check DATABASE_URL and that the server accepts connections (pg_isready -h HOST -p PORT).';
  }
  return new GuardError('DATABASE_UNREACHABLE', `Cannot connect to PostgreSQL at ${endpoint}: ${why}.`, {
    hint,
    cause: new Error(reason),
    details: { endpoint, code: code || undefined },
  });
}

/**
 * Opens one pg client with our session settings, TCP keepalive and the I/O timeout (see
 * postgres-watchdog.ts); failures become DATABASE_UNREACHABLE. When `group` is given the client
 * joins it: if any member stalls, all are destroyed.
 */
export async function openClient(target: DatabaseTarget, database?: string, group?: ConnectionGroup): Promise<pg.Client> {
  const timeoutMs = ioTimeoutOf(target);
  let client: pg.Client;
  try {
    client = new pg.Client({
      connectionString: pgConnectionString(target.url, database),
      connectionTimeoutMillis: timeoutMs > 0 ? Math.min(CONNECT_TIMEOUT_MS, timeoutMs) : CONNECT_TIMEOUT_MS,
      fallback_application_name: 'prisma-guard',
      keepAlive: true,
      keepAliveInitialDelayMillis: timeoutMs > 0 ? Math.max(1000, Math.round(timeoutMs / 3)) : 10_000,
    });
  } catch (cause) {
    throw new GuardError('DATABASE_URL_INVALID', `The PostgreSQL URL ${target.display} cannot be used: ${scrub(messageOf(cause), target)}`, {
      hint: 'Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE?schema=public',
    });
  }
  // Without a listener, a connection dropped by the server would crash the process; the next query
  // on the client fails with a clear error instead.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (cause) {
    await client.end().catch(() => {});
    throw unreachable(target, cause);
  }
  const watch = watchClient(client, {
    timeoutMs,
    endpoint: describeEndpoint(target),
    openProbe: (budgetMs) => openProbe(target, database, budgetMs),
    onStall: (error) => group?.fail(error),
    otherSessions: () => group?.pids() ?? [],
  });
  client.once('end', () => watch.stop());
  group?.add(client, watch);
  try {
    await client.query(SESSION_SETTINGS.join('; '));
    const tcp = serverTcpSettings(timeoutMs);
    // Best effort, in one round trip; a server lacking one (tcp_user_timeout needs PostgreSQL 12)
    // rejects the whole string, then each is tried alone.
    if (tcp.length) {
      await client.query(tcp.join('; ')).catch(async () => {
        for (const setting of tcp) await client.query(setting).catch(() => {});
      });
    }
  } catch (cause) {
    await client.end().catch(() => {});
    if (isGuardError(cause)) throw cause; // the I/O timeout's DATABASE_UNREACHABLE
    throw new GuardError('DATABASE_ERROR', `Cannot configure the session on ${describeEndpoint(target)}: ${scrub(messageOf(cause), target)}`, {
      cause,
    });
  }
  return client;
}

/**
 * A bare connection for the watchdog's question to the server (no watchdog of its own): it gives up
 * after `budgetMs`, connecting or querying.
 */
async function openProbe(target: DatabaseTarget, database: string | undefined, budgetMs: number): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: pgConnectionString(target.url, database),
    connectionTimeoutMillis: Math.max(100, Math.round(budgetMs)),
    query_timeout: Math.max(100, Math.round(budgetMs)),
    fallback_application_name: 'prisma-guard probe',
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
  return client;
}

/** A live connection to one PostgreSQL database and its schemas (target.schemas, else target.schema, default public). */
export class PostgresConnection implements Connection {
  readonly dialect: Dialect = postgresDialect;
  readonly namespace: string;
  /** The schemas backed up and restored together (see postgres-names.ts). */
  readonly namespaces: Namespaces;
  private readonly locks = new Set<Lock>();
  private busy: string | null = null;
  private closed = false;

  constructor(
    readonly target: DatabaseTarget,
    private readonly client: pg.Client,
    /** This connection's clients (work, locks, forks): one stalls, all stop. */
    private readonly group: ConnectionGroup = new ConnectionGroup(),
  ) {
    this.namespaces = Namespaces.of(target);
    this.namespace = this.namespaces.primary;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    try {
      const result = await this.client.query(sql, params as unknown[] | undefined);
      return result.rows as T[];
    } catch (cause) {
      throw databaseError(cause, this.target);
    }
  }

  async introspect(): Promise<DbSchema> {
    return this.exclusive('introspect', async () => {
      await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const schema = await introspectPostgres(this.rawQueryable(), this.namespaces);
        await this.client.query('COMMIT');
        return schema;
      } catch (e) {
        await this.client.query('ROLLBACK').catch(() => {});
        throw isGuardError(e) ? e : databaseError(e, this.target);
      }
    });
  }

  snapshot<T>(fn: (reader: SnapshotReader) => Promise<T>, options: SnapshotOptions = {}): Promise<T> {
    return this.exclusive('snapshot', async () => {
      try {
        const complete = options.fullSchema
          ? (q: Queryable, schema: DbSchema) => withFullSchema(q, schema, this.namespaces, this.target.pgDump, libpqConnection(this.target))
          : undefined;
        return await runSnapshot(this.client, this.namespaces, fn, () => openClient(this.target, undefined, this.group), complete);
      } catch (e) {
        // The server or the connection failed mid-snapshot (restart, pg_terminate_backend, network):
        // a DATABASE_ERROR naming the server, not an "unexpected error". Other errors pass unchanged.
        throw isServerFailure(e) ? databaseError(e, this.target) : e;
      }
    });
  }

  load(options: LoadOptions): Promise<LoadResult> {
    return this.exclusive('load', () => loadPostgres(this.client, this.target, this.namespaces, options));
  }

  async lock(name: string, waitMs = 0): Promise<Lock> {
    // One lock per schema, taken in name order (no two runs wait on each other crosswise): a run on
    // schemas a,b and a run on schema b alone never overlap.
    const held: Lock[] = [];
    try {
      for (const schema of this.namespaces.list) held.push(await this.lockSchema(schema, name, waitMs));
    } catch (e) {
      for (const l of held.reverse()) await l.release().catch(() => {});
      throw e;
    }
    if (held.length === 1) return held[0];
    return {
      release: async () => {
        for (const l of [...held].reverse()) await l.release();
      },
    };
  }

  private async lockSchema(schema: string, name: string, waitMs: number): Promise<Lock> {
    const lock = await acquireAdvisoryLock(() => openClient(this.target, undefined, this.group), this.target, schema, name, waitMs, {
      timeoutMs: ioTimeoutOf(this.target),
      // The lock's session ended under us (ended by an administrator, or by idle_session_timeout
      // when this process could not keep it alive): another run may take the lock now, so stop.
      onLost: (cause) =>
        this.group.fail(
          new GuardError('DATABASE_UNREACHABLE', `The session holding the prisma-guard lock "${name}" on ${describeEndpoint(this.target)} ended (${scrub(messageOf(cause), this.target)}); the operation was stopped so it cannot overlap another one; whatever it had not committed is rolled back.`, {
            hint: 'Check the connection to the server and retry.',
          }),
        ),
    });
    const tracked: Lock = {
      release: async () => {
        this.locks.delete(tracked);
        await lock.release();
      },
    };
    this.locks.add(tracked);
    return tracked;
  }

  async exists(): Promise<boolean> {
    // Every schema: a backup of several schemas is refused while one of them is missing.
    const rows = await this.query<{ ok: boolean }>('SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1::text[])) = $2 AS ok', [this.namespaces.list, this.namespaces.list.length]);
    return rows[0]?.ok === true;
  }

  identity(options: { create?: boolean; adopt?: string } = {}) {
    return this.exclusive('identity', () => postgresIdentity(this.rawQueryable().query, options));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const lock of [...this.locks]) await lock.release().catch(() => {});
    await this.client.end().catch(() => {});
  }

  /** Queries on the raw client (errors unwrapped), for code that handles pg errors itself. */
  private rawQueryable() {
    return {
      query: async <T>(sql: string, params?: unknown[]): Promise<T[]> => (await this.client.query(sql, params)).rows as T[],
    };
  }

  /**
   * Snapshots, loads and introspection each own the session's transaction state; two at once on one
   * connection would interleave their statements inside one transaction.
   */
  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy) {
      throw new GuardError('INTERNAL', `Cannot start ${what} while ${this.busy} is running on the same connection.`, {
        hint: 'Open a second connection for concurrent work.',
      });
    }
    this.busy = what;
    try {
      return await fn();
    } finally {
      this.busy = null;
    }
  }
}

/** An error raised by the server or the pg client's connection (not by the caller's own code). */
function isServerFailure(e: unknown): boolean {
  if (isGuardError(e)) return false;
  if (e instanceof pg.DatabaseError) return true;
  const code = (e as { code?: string })?.code ?? '';
  return NETWORK_CODES.has(code) || /Connection terminated|connection error and is not queryable|Client was closed/i.test(messageOf(e));
}

function databaseError(cause: unknown, target: DatabaseTarget): GuardError {
  if (isGuardError(cause)) return cause;
  const e = cause as { code?: string; detail?: string };
  const detail = e?.detail ? ` (${e.detail})` : '';
  return new GuardError('DATABASE_ERROR', `PostgreSQL error on ${describeEndpoint(target)}: ${scrub(messageOf(cause), target)}${detail}`, {
    cause,
    details: { sqlstate: e?.code },
  });
}

async function connectPostgres(target: DatabaseTarget, options: { create?: boolean } = {}): Promise<Connection> {
  if (target.dialect !== 'postgres') {
    throw new GuardError('DATABASE_URL_INVALID', `The PostgreSQL dialect cannot open ${target.display}.`, {
      hint: 'Use a postgresql:// URL.',
    });
  }
  const group = new ConnectionGroup();
  let client: pg.Client;
  try {
    client = await openClient(target, undefined, group);
  } catch (e) {
    if (!options.create || !isGuardError(e) || e.details?.code !== '3D000') throw e;
    await createDatabase(target);
    client = await openClient(target, undefined, group);
  }
  try {
    // Plain query() calls see the target schema first, like Prisma does with ?schema= (then the other schemas).
    await client.query(`SET search_path TO ${Namespaces.of(target).searchPath().map(quoteIdent).join(', ')}`);
  } catch (cause) {
    await client.end().catch(() => {});
    throw databaseError(cause, target);
  }
  return new PostgresConnection(target, client, group);
}

/** Full restore onto a server that lost the database: create it from the maintenance database. */
async function createDatabase(target: DatabaseTarget): Promise<void> {
  const admin = await openClient(target, 'postgres');
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(target.database)}`);
  } catch (cause) {
    if ((cause as { code?: string }).code !== '42P04') throw databaseError(cause, target); // 42P04: created meanwhile
  } finally {
    await admin.end().catch(() => {});
  }
}

/** The PostgreSQL dialect. */
export const postgresDialect: Dialect = {
  name: 'postgres',
  capabilities: { transactionalDdl: true, advisoryLocks: true, scalarLists: true },
  riskTraits: { maxIdentifierBytes: 63, tableLocks: true },
  riskProbes: postgresRiskProbes,
  connect: connectPostgres,
  quote: quoteIdent,
  checkBackupSql: checkPostgresBackupSql,
  definedCode: definesCode,
  scratchTarget(source: DatabaseTarget, id: string): DatabaseTarget {
    const u = new URL(source.url);
    u.pathname = '/' + SCRATCH_PREFIX + id.replace(/[^a-z0-9]/g, '');
    // The same server, role and settings; only the database differs (display rebuilt, no password).
    return { ...source, ...parseDatabaseUrl(u.toString()) };
  },
  async dropScratch(target: DatabaseTarget): Promise<void> {
    if (!target.database.startsWith(SCRATCH_PREFIX)) throw new Error(`refusing to drop ${target.database}: not a drill's scratch database`);
    const admin = await openClient(target, 'postgres');
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(target.database)} WITH (FORCE)`);
    } catch (cause) {
      throw databaseError(cause, target);
    } finally {
      await admin.end().catch(() => {});
    }
  },
};
