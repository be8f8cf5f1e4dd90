/**
 * The I/O timeout of every PostgreSQL connection prisma-guard opens.
 *
 * A connection that is waiting for the server (a query, a COPY) and sees no byte move in either
 * direction for half the timeout asks the server, on a new short-lived connection, what its session
 * is doing (pg_stat_activity):
 *  - working (running the statement, waiting for a lock, reading disk): the server is answering,
 *    only slowly; the clock starts again. A long CREATE INDEX never trips the timeout.
 *  - waiting for us, with our side holding no unsent or unread bytes either: our own side is slow
 *    (a full disk under the backup, a slow backup file): the clock starts again.
 *  - anything else (the new connection cannot be made, the session is gone, the server waits to send
 *    while we receive nothing, or waits for data we sent long ago, or sits idle while we wait for
 *    its answer): the path between us is stalled. When the whole timeout has passed without a byte,
 *    the connection is destroyed with DATABASE_UNREACHABLE (exit code 4), which fails the operation
 *    at once (the caller rolls back and releases its lock), and, when the new connection could be
 *    made, the stalled server session is ended with pg_terminate_backend so it releases its
 *    transaction and locks on the server too.
 *
 * TCP keepalive (client and, through session settings, server side) covers the case where the
 * other host disappears; it cannot see a middlebox that keeps the TCP connection open but forwards
 * nothing, which is what the probe is for.
 */
import type { Socket } from 'node:net';
import type pg from 'pg';
import { GuardError } from '../../core/errors.ts';

/** The I/O timeout when BACKUP_IO_TIMEOUT is not set. */
export const DEFAULT_IO_TIMEOUT_MS = 60_000;

/** pg.Client internals the watchdog reads (pg 8): whether a query is in flight, the socket. */
interface ClientInternals {
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
  _ended?: boolean;
  processID: number | null;
  connection: { stream: Socket };
}

type Verdict = 'working' | 'ours' | 'stalled' | 'unreachable';

export interface WatchOptions {
  timeoutMs: number;
  /** `host:port/database`, for the error message. */
  endpoint: string;
  /** A new connection to the same server, given up after `budgetMs` (connect and each query). */
  openProbe(budgetMs: number): Promise<pg.Client>;
  /** Called once when the connection is declared stalled, with the error it was destroyed with. */
  onStall?(error: GuardError): void;
  /** Server pids of the operation's other sessions, ended along with this one's (see ConnectionGroup). */
  otherSessions?(): number[];
}

export interface Watch {
  /** Stops watching (the connection is closing normally). */
  stop(): void;
  /** Destroys the connection at once with `error` (used when another connection of the operation stalled). */
  abandon(error: GuardError): void;
}

/** Starts the I/O timeout of `client` (connected). A timeout of 0 watches nothing. */
export function watchClient(client: pg.Client, options: WatchOptions): Watch {
  const c = client as unknown as ClientInternals;
  const socket = c.connection.stream;
  const timeoutMs = options.timeoutMs;
  let stalled: GuardError | null = null;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let verdict: { kind: Verdict; probe: pg.Client | null } | null = null;
  const dropVerdict = () => {
    void verdict?.probe?.end().catch(() => {});
    verdict = null;
  };
  const stop = () => {
    stopped = true;
    if (timer) clearInterval(timer);
    timer = undefined;
    // A probe connection kept for the verdict would hold the process open.
    dropVerdict();
  };
  const watch: Watch = {
    stop,
    abandon(error) {
      stop();
      if (!socket.destroyed) socket.destroy(error);
    },
  };
  if (!(timeoutMs > 0)) return watch;

  let seen = socket.bytesRead + socket.bytesWritten;
  let quietSince = Date.now();
  let probing = false;
  let round = 0;

  const waitingForServer = () => Boolean(c._activeQuery) || (c._queryQueue?.length ?? 0) > 0;

  const tick = () => {
    if (c._ended || socket.destroyed) return stop();
    const now = Date.now();
    const moved = socket.bytesRead + socket.bytesWritten;
    if (moved !== seen || !waitingForServer()) {
      // Bytes moved, or nobody waits for the server (an idle connection never times out).
      seen = moved;
      quietSince = now;
      round++;
      dropVerdict();
      return;
    }
    const quiet = now - quietSince;
    if (!verdict && !probing && quiet >= timeoutMs / 2) {
      probing = true;
      const mine = round;
      void probe(c, socket, options, Math.max(100, timeoutMs - quiet)).then((v) => {
        probing = false;
        if (mine !== round || stalled || stopped) {
          void v.probe?.end().catch(() => {});
          return;
        }
        if (v.kind === 'working' || v.kind === 'ours') {
          // The server is busy or we are the slow side: count from now again.
          void v.probe?.end().catch(() => {});
          quietSince = Date.now();
          return;
        }
        verdict = v;
      });
    }
    if (verdict && quiet >= timeoutMs) {
      const v = verdict;
      verdict = null;
      stop(); // (the verdict's probe is handed over, not dropped)
      void declareStalled(c, socket, options, v);
    }
  };

  const declareStalled = async (internals: ClientInternals, sock: Socket, opts: WatchOptions, v: { kind: Verdict; probe: pg.Client | null }) => {
    const seconds = formatSeconds(opts.timeoutMs);
    const pid = internals.processID;
    let ended = false;
    if (v.probe && pid) {
      // The server cannot tell that nobody is listening any more: end its session (and the
      // operation's others: its lock, snapshot forks) so the transaction rolls back and the locks go
      // now, not when the TCP connections finally fail.
      const pids = [pid, ...(opts.otherSessions?.() ?? []).filter((p) => p !== pid)];
      try {
        await v.probe.query('SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p', [pids]);
        ended = true;
      } catch {
        /* the server may refuse (another role): the hint says how */
      }
      await v.probe.end().catch(() => {});
    }
    const why = v.kind === 'unreachable' ? 'and a new connection could not be made either' : 'although the server is up (a new connection worked)';
    stalled = new GuardError(
      'DATABASE_UNREACHABLE',
      `PostgreSQL at ${opts.endpoint} stopped answering: nothing moved on the connection for ${seconds} s while prisma-guard waited for the server, ${why}. The operation was stopped; whatever it had not committed is rolled back.`,
      {
        hint:
          'Check the network between this machine and the server (proxies, load balancers, VPN, firewall) and that the server is not frozen (pg_isready -h HOST -p PORT), then retry. ' +
          `If the server is only slow, raise BACKUP_IO_TIMEOUT (now ${seconds} s).` +
          (ended || !pid ? '' : ` The server may keep the stalled session (pid ${pid}) until its TCP connection fails; to end it now: SELECT pg_terminate_backend(${pid});`),
        details: { endpoint: opts.endpoint, timeoutSeconds: opts.timeoutMs / 1000, backendPid: pid ?? undefined, sessionEnded: ended },
      },
    );
    if (!sock.destroyed) sock.destroy(stalled);
    opts.onStall?.(stalled);
  };

  timer = setInterval(tick, Math.min(1000, Math.max(50, timeoutMs / 10)));
  timer.unref();
  return watch;
}

/** What the server says our session is doing, asked on a new connection within `budgetMs`. */
async function probe(c: ClientInternals, socket: Socket, options: WatchOptions, budgetMs: number): Promise<{ kind: Verdict; probe: pg.Client | null }> {
  let client: pg.Client;
  try {
    client = await options.openProbe(budgetMs);
  } catch {
    return { kind: 'unreachable', probe: null };
  }
  try {
    const { rows } = await client.query<{ state: string | null; wait_event: string | null }>(
      'SELECT state, wait_event FROM pg_stat_activity WHERE pid = $1',
      [c.processID],
    );
    const row = rows[0];
    let kind: Verdict;
    if (!row) kind = 'stalled'; // the session is gone, yet our socket did not hear of it
    else if (row.state === 'active' && row.wait_event === 'ClientWrite') kind = socket.readableLength > 0 ? 'ours' : 'stalled';
    else if (row.state === 'active' && row.wait_event === 'ClientRead') kind = socket.writableLength === 0 && producing(c._activeQuery) ? 'ours' : 'stalled';
    else if (row.state === 'active') kind = 'working';
    else kind = 'stalled'; // idle while we wait for its answer: the answer (or our request) is lost on the way
    return { kind, probe: client };
  } catch {
    await client.end().catch(() => {});
    return { kind: 'unreachable', probe: null };
  }
}

/**
 * Whether the query in flight is a COPY FROM STDIN we are still feeding (pg-copy-streams' Writable,
 * not yet ended): then a server waiting to read is waiting for our data source, not for the network.
 */
function producing(query: unknown): boolean {
  const w = query as { writableEnded?: boolean } | null | undefined;
  return typeof w?.writableEnded === 'boolean' && !w.writableEnded;
}

function formatSeconds(ms: number): string {
  return Number.isInteger(ms / 1000) ? String(ms / 1000) : (ms / 1000).toFixed(1);
}

/**
 * Server-side session settings derived from the timeout: TCP keepalive and tcp_user_timeout, so the
 * server notices a client host or network that is gone within about the timeout and ends the
 * session (rolling back, releasing locks). Ignored on Unix sockets; each is applied on its own so an
 * older server that lacks one still gets the others.
 */
export function serverTcpSettings(timeoutMs: number): string[] {
  if (!(timeoutMs > 0)) return [];
  const idle = Math.max(1, Math.round(timeoutMs / 3000));
  const interval = Math.max(1, Math.round(timeoutMs / 9000));
  return [`SET tcp_keepalives_idle = ${idle}`, `SET tcp_keepalives_interval = ${interval}`, 'SET tcp_keepalives_count = 3', `SET tcp_user_timeout = ${Math.round(timeoutMs)}`];
}

/**
 * The connections of one operation (work connection, lock, snapshot forks): when one stalls, the
 * others are destroyed with the same error, so the operation fails at once everywhere instead of
 * waiting for each connection's own timeout (the lock's release would otherwise wait for a server it
 * can no longer reach).
 */
export class ConnectionGroup {
  private readonly members = new Map<pg.Client, Watch>();
  /** The error the first stalled connection was destroyed with. */
  failure: GuardError | null = null;

  add(client: pg.Client, watch: Watch): void {
    this.members.set(client, watch);
    client.once('end', () => this.members.delete(client));
  }

  /** Server pids of the members. */
  pids(): number[] {
    return [...this.members.keys()].map((c) => (c as unknown as ClientInternals).processID).filter((p): p is number => typeof p === 'number');
  }

  /** Destroys every member with `error` (the first failure wins). */
  fail(error: GuardError): void {
    if (this.failure) return;
    this.failure = error;
    for (const watch of this.members.values()) watch.abandon(error);
  }
}
