/**
 * Shared pieces of the reliability suite (tests/reliability): trial counts for CI and release
 * runs, the real CLI as a killable child process, and independent fingerprints of a database that
 * do not use any prisma-guard code (so a bug in prisma-guard cannot hide itself).
 *
 * CI runs the short mode (the whole suite in a few minutes on 2 cores); RELIABILITY_LONG=1 runs
 * ten times more trials for a release. RELIABILITY_SEED=<n> replays the random choices of a run
 * (every failure message prints the seed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import path from 'node:path';
import pg from 'pg';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import { ROOT } from '../helpers/cli.ts';
import { seededRandom } from '../../lib/core/random.ts';

/** True in release mode (RELIABILITY_LONG=1). */
export const LONG = process.env.RELIABILITY_LONG === '1';

/** `ci` trials normally, `long` with RELIABILITY_LONG=1. */
export function trials(ci: number, long: number): number {
  return LONG ? long : ci;
}

/** The seed of this run's random choices (print it with every failure). */
export const SEED = Number(process.env.RELIABILITY_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** A seeded PRNG (mulberry32) returning [0, 1). */
export function random(seed: number = SEED): () => number {
  return seededRandom(seed);
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunningCli {
  child: ChildProcess;
  done: Promise<ChildResult>;
}

/**
 * Starts the installed CLI entry point (node bin/prisma-guard.js, one process: tsx is registered
 * in-process) so that SIGKILL hits the process doing the work. `shell` wraps it in `bash -c` (for
 * `ulimit`), with the command line available as "$@".
 */
export function startCli(args: string[], env: Record<string, string | undefined> = {}, options: { shellPrefix?: string } = {}): RunningCli {
  const cmd = [process.execPath, path.join(ROOT, 'bin/prisma-guard.js'), ...args];
  const child = options.shellPrefix
    ? spawn('bash', ['-c', `${options.shellPrefix}; exec "$@"`, 'bash', ...cmd], { cwd: ROOT, env: { ...process.env, CI: 'true', ...env } })
    : spawn(cmd[0], cmd.slice(1), { cwd: ROOT, env: { ...process.env, CI: 'true', ...env } });
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
  return { child, done };
}

/** Runs the CLI to completion. */
export function cli(args: string[], env: Record<string, string | undefined> = {}, options: { shellPrefix?: string } = {}): Promise<ChildResult> {
  return startCli(args, env, options).done;
}

/** Starts the CLI and SIGKILLs it after `afterMs` (if still running). */
export async function killDuring(args: string[], env: Record<string, string | undefined>, afterMs: number): Promise<ChildResult & { killed: boolean }> {
  const run = startCli(args, env);
  let killed = false;
  const timer = setTimeout(() => {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      killed = run.child.kill('SIGKILL');
    }
  }, afterMs);
  const r = await run.done;
  clearTimeout(timer);
  return { ...r, killed: killed && r.signal === 'SIGKILL' };
}

/**
 * Starts the CLI, waits until `ready()` says the interesting phase began (polled every 20 ms),
 * then SIGKILLs it `extraMs` later. Lets trials aim at a phase (the load inside the lock) that a
 * blind delay would mostly miss behind start-up time.
 */
export async function killWhen(args: string[], env: Record<string, string | undefined>, ready: () => Promise<boolean> | boolean, extraMs: number): Promise<ChildResult & { killed: boolean; readyAfterMs: number | null }> {
  const run = startCli(args, env);
  const started = Date.now();
  let killed = false;
  let readyAfterMs: number | null = null;
  let exited = false;
  void run.done.then(() => (exited = true));
  while (!exited) {
    if (await ready()) {
      readyAfterMs = Date.now() - started;
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!exited) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((r) => (timer = setTimeout(r, extraMs))), run.done]);
    clearTimeout(timer);
    if (run.child.exitCode === null && run.child.signalCode === null) killed = run.child.kill('SIGKILL');
  }
  const r = await run.done;
  return { ...r, killed: killed && r.signal === 'SIGKILL', readyAfterMs };
}

/** True while a prisma-guard process holds its advisory lock on the PostgreSQL database of `url`. */
export async function pgLockHeld(url: string): Promise<boolean> {
  const db = parseDatabaseUrl(url).database;
  return withPg(url, async (c) => {
    const r = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'prisma-guard lock%'`, [db]);
    return r.rows[0].n > 0;
  });
}

function pgClientUrl(url: string): string {
  const u = new URL(url);
  u.searchParams.delete('schema');
  return u.toString();
}

/** Runs `fn` with a plain pg client on `url` (no prisma-guard code). */
export async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: pgClientUrl(url) });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Waits until no session other than our own is connected to the PostgreSQL database of `url`
 * (a SIGKILLed client's backend needs a moment to notice, roll back and exit).
 */
export async function waitForNoOtherSessions(url: string, timeoutMs = 15_000): Promise<void> {
  const db = parseDatabaseUrl(url).database;
  const deadline = Date.now() + timeoutMs;
  await withPg(url, async (c) => {
    for (;;) {
      const r = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [db]);
      if (r.rows[0].n === 0) return;
      if (Date.now() > deadline) throw new Error(`sessions still connected to ${db} after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 50));
    }
  });
}

/**
 * An independent fingerprint of a whole database: structure (columns, indexes, constraints,
 * sequence positions) and, per table, the row count and a hash of every row's text in a total
 * order. Computed with the drivers directly, never with prisma-guard.
 */
export async function fingerprint(url: string): Promise<string> {
  const target = parseDatabaseUrl(url);
  const h = createHash('sha256');
  const parts: string[] = [];
  if (target.dialect === 'sqlite') {
    const db = new Database(target.file!, { fileMustExist: true });
    try {
      const master = db.prepare(`SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name`).all() as { type: string; name: string; sql: string | null }[];
      for (const m of master) parts.push(`${m.type} ${m.name}: ${m.sql}`);
      for (const t of master.filter((m) => m.type === 'table')) {
        const rows = db.prepare(`SELECT * FROM "${t.name.replaceAll('"', '""')}"`).raw(true).safeIntegers(true).all() as unknown[][];
        const lines = rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? `b64:${v.toString('base64')}` : v))).sort();
        parts.push(`rows ${t.name}: ${rows.length} ${createHash('sha256').update(lines.join('\n')).digest('hex')}`);
      }
    } finally {
      db.close();
    }
  } else {
    await withPg(url, async (c) => {
      const ns = target.schema ?? 'public';
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const cols = await c.query(`SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`, [ns]);
      for (const r of cols.rows) parts.push(`column ${r.table_name}.${r.column_name} ${r.data_type} ${r.is_nullable} ${r.column_default}`);
      const idx = await c.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname`, [ns]);
      for (const r of idx.rows) parts.push(`index ${r.indexdef}`);
      const cons = await c.query(`SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE connamespace = $1::regnamespace ORDER BY 1, 2`, [ns]);
      for (const r of cons.rows) parts.push(`constraint ${r.t}.${r.conname} ${r.d}`);
      const seqs = await c.query(`SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = $1 ORDER BY 1`, [ns]);
      for (const r of seqs.rows) parts.push(`sequence ${r.sequencename} ${r.last_value}`);
      const tables = await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [ns]);
      for (const { tablename } of tables.rows) {
        const q = `"${ns.replaceAll('"', '""')}"."${tablename.replaceAll('"', '""')}"`;
        const r = await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS h FROM ${q} t`);
        parts.push(`rows ${tablename}: ${r.rows[0].n} ${r.rows[0].h}`);
      }
      await c.query('COMMIT');
    });
  }
  for (const p of parts) h.update(p + '\n');
  return h.digest('hex');
}

/** Names the seed in a failure message, so the failing run can be replayed. */
export function describeSeed(extra = ''): string {
  return `(seed ${SEED}${extra ? ', ' + extra : ''}; replay with RELIABILITY_SEED=${SEED})`;
}
