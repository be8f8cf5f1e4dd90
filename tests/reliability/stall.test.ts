import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { createPgDatabase, type FreshDatabase } from '../helpers/db.ts';
import { cli, fingerprint, startCli, withPg } from './helpers.ts';

/**
 * Promise: a connection that goes silent (a proxy between prisma-guard and PostgreSQL that stops
 * forwarding in both directions, as when it is SIGSTOPped) ends the command within the I/O timeout
 * with exit code 4 and a message saying the server stopped answering; nothing is committed; the
 * prisma-guard lock is released on the server too (idle_session_timeout on the lock's session, or
 * pg_terminate_backend when a new connection can be made); and a new backup on the direct URL then
 * takes the lock and succeeds.
 *
 * The proxy is a real TCP proxy written here with node:net on 127.0.0.1, forwarding to the test
 * server; "frozen" means it stops reading and writing on every connection (the kernel keeps the TCP
 * connections open, as for a stopped process) and, in mode "all", also forwards nothing for new
 * connections.
 */
const TIMEOUT_S = 3;
/** How much later than the timeout the command may end (probe, cleanup, process exit). */
const SLACK_MS = 3000;

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  frozen: boolean;
}

class FreezableProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly pairs = new Set<Pair>();
  private readonly held = new Set<net.Socket>();
  /** Bytes forwarded from the client to PostgreSQL (up) and back (down). */
  up = 0;
  down = 0;
  frozenAt: number | null = null;
  private newConnections: 'freeze' | 'pass' = 'freeze';
  private trigger: { dir: 'up' | 'down'; bytes: number; mode: 'freeze' | 'pass' } | null = null;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Freezes once `bytes` more have been forwarded in direction `dir`. */
  freezeAfter(dir: 'up' | 'down', bytes: number, mode: 'freeze' | 'pass' = 'freeze'): void {
    this.trigger = { dir, bytes: (dir === 'up' ? this.up : this.down) + bytes, mode };
  }

  /** Stops forwarding on every connection; `mode` says what happens to new ones. */
  freeze(mode: 'freeze' | 'pass'): void {
    if (this.frozenAt !== null) return;
    this.frozenAt = Date.now();
    this.newConnections = mode;
    for (const p of this.pairs) {
      p.frozen = true;
      p.client.pause();
      p.upstream.pause();
    }
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {});
    if (this.frozenAt !== null && this.newConnections === 'freeze') {
      // Accepted by the kernel, never answered: what a stopped proxy does.
      client.pause();
      this.held.add(client);
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: Pair = { client, upstream, frozen: false };
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket, dir: 'up' | 'down') => {
      from.on('data', (d: Buffer) => {
        if (dir === 'up') this.up += d.length;
        else this.down += d.length;
        if (!to.write(d)) from.pause();
        const t = this.trigger;
        if (t && t.dir === dir && (dir === 'up' ? this.up : this.down) >= t.bytes) {
          this.trigger = null;
          this.freeze(t.mode);
        }
      });
      to.on('drain', () => {
        if (!pair.frozen) from.resume();
      });
      from.on('end', () => {
        if (!pair.frozen) to.end();
      });
      from.on('close', () => {
        if (!pair.frozen) to.destroy();
      });
    };
    forward(client, upstream, 'up');
    forward(upstream, client, 'down');
  }

  /** Ends every connection and stops listening. */
  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    for (const s of this.held) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The URL of `url` through the proxy on `port`. */
function viaProxy(url: string, port: number): string {
  const u = new URL(url);
  u.port = String(port);
  return u.toString();
}

/** Polls until no session holds an advisory lock on the database; returns the ms it took. */
async function waitForAdvisoryLocksGone(url: string, limitMs: number): Promise<number> {
  const started = Date.now();
  return withPg(url, async (c) => {
    for (;;) {
      const r = await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      if (r.rows[0].n === 0) return Date.now() - started;
      if (Date.now() - started > limitMs) throw new Error(`an advisory lock is still held ${limitMs} ms later`);
      await new Promise((res) => setTimeout(res, 100));
    }
  });
}

describe('a PostgreSQL connection that goes silent (frozen TCP proxy)', () => {
  let db: FreshDatabase;
  let dir: string;
  let upstream: { host: string; port: number };
  const env = () => ({ BACKUP_DIR: dir, BACKUP_IO_TIMEOUT: String(TIMEOUT_S) });

  beforeAll(async () => {
    db = await createPgDatabase();
    // ~20k rows: several MB of COPY text, so the freeze lands in the middle of a COPY.
    await generate(db.url, 0.01);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-stall-'));
    const u = new URL(db.url);
    upstream = { host: u.hostname, port: Number(u.port || 5432) };
  }, 120_000);

  afterAll(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the CLI through a proxy that freezes after `bytes` in `dir`; returns the result and the proxy. */
  async function runFrozen(args: string[], dirOf: 'up' | 'down', bytes: number, mode: 'freeze' | 'pass') {
    const proxy = new FreezableProxy(upstream);
    await proxy.start();
    proxy.freezeAfter(dirOf, bytes, mode);
    const run = startCli([...args, '--url', viaProxy(db.url, proxy.port), '--json'], env());
    const r = await run.done;
    return { r, proxy, endedAt: Date.now() };
  }

  const checkStallError = (r: { code: number | null; stdout: string }, proxy: FreezableProxy, endedAt: number) => {
    expect(proxy.frozenAt, 'the proxy never froze: the trigger is past the end of the traffic').not.toBeNull();
    expect(r.code, r.stdout).toBe(4);
    const err = JSON.parse(r.stdout).error;
    expect(err.code).toBe('DATABASE_UNREACHABLE');
    expect(err.message).toMatch(new RegExp(`stopped answering: nothing moved on the connection for ${TIMEOUT_S} s`));
    expect(err.hint).toMatch(/BACKUP_IO_TIMEOUT/);
    expect(endedAt - proxy.frozenAt!, 'the command did not end within the timeout').toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
    expect(endedAt - proxy.frozenAt!).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 200);
  };

  const noTemporaryFiles = () => expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);

  it('a BACKUP_IO_TIMEOUT that is not a number of seconds is a usage error (exit 2) naming the variable', async () => {
    const r = await cli(['backup', '--url', db.url, '--json'], { BACKUP_DIR: dir, BACKUP_IO_TIMEOUT: 'soon' });
    expect(r.code, r.stdout).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(/BACKUP_IO_TIMEOUT must be a number of seconds/);
    noTemporaryFiles();
  });

  it('a backup frozen mid-COPY ends with exit 4; the server releases the lock while the proxy stays frozen; a direct backup then succeeds', async () => {
    const before = readdirSync(dir);
    const { r, proxy, endedAt } = await runFrozen(['backup'], 'down', 1 << 20, 'freeze');
    try {
      checkStallError(r, proxy, endedAt);
      noTemporaryFiles();
      expect(readdirSync(dir)).toEqual(before); // no backup-named file either
      // No new connection can pass the proxy, so the lock's session is ended by the server's
      // idle_session_timeout (the heartbeat stopped with the process).
      await waitForAdvisoryLocksGone(db.url, TIMEOUT_S * 1000 + SLACK_MS);
      const direct = await cli(['backup', '--url', db.url, '--json'], { BACKUP_DIR: dir });
      expect(direct.code, direct.stdout + direct.stderr).toBe(0);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  for (const mode of ['freeze', 'pass'] as const) {
    it(`a data-mode restore frozen mid-COPY FROM (new connections: ${mode === 'freeze' ? 'frozen too' : 'let through'}) ends with exit 4 and changes nothing`, async () => {
      const first = await cli(['backup', '--url', db.url, '--json'], { BACKUP_DIR: dir });
      expect(first.code, first.stderr).toBe(0);
      const file = path.basename(JSON.parse(first.stdout).path);
      // Make the restore a real change, so "unchanged" means something.
      await withPg(db.url, (c) => c.query(`DELETE FROM "Comment" WHERE id IN (SELECT id FROM "Comment" ORDER BY id LIMIT 100)`));
      const before = await fingerprint(db.url);
      const { r, proxy, endedAt } = await runFrozen(['restore', file, '--yes', '--no-safety-backup'], 'up', 1 << 20, mode);
      try {
        checkStallError(r, proxy, endedAt);
        if (mode === 'pass') {
          // A new connection could be made: the stalled sessions were ended on the server at once,
          // so the tables are readable and the lock free while the proxy is still frozen.
          expect(JSON.parse(r.stdout).error.details.sessionEnded).toBe(true);
          await waitForAdvisoryLocksGone(db.url, 2000);
        } else {
          await waitForAdvisoryLocksGone(db.url, TIMEOUT_S * 1000 + SLACK_MS);
        }
      } finally {
        // In mode "freeze" the server session stuck in COPY FROM holds its table locks until its
        // TCP connection ends: closing the proxy is that end.
        await proxy.close();
      }
      expect(await fingerprint(db.url)).toBe(before);
      const started = Date.now();
      const direct = await cli(['backup', '--url', db.url, '--json'], { BACKUP_DIR: dir, BACKUP_IO_TIMEOUT: String(TIMEOUT_S) });
      expect(direct.code, direct.stdout + direct.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan(15_000);
      noTemporaryFiles();
    }, 60_000);
  }
});
