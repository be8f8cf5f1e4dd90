/**
 * The dashboard's HTTP routes (Hono): a REST API over the same use cases as the CLI (lib/ops),
 * returning the objects the CLI prints with --json, and the page at `/`. Every /api route and
 * /metrics needs a user session (cookie) or an API token (Bearer); the role decides what it may do:
 * viewer reads, operator also backs up, verifies and pins, admin also restores and deletes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { ExitCode, GuardError, isGuardError, messageOf } from '../core/errors.ts';
import type { Reporter } from '../core/logger.ts';
import { silentReporter } from '../core/logger.ts';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { toRedactedJson } from '../core/url.ts';
import { parseBackupFileName } from '../format/naming.ts';
import { describeScope } from '../format/source.ts';
import { backup } from '../ops/backup.ts';
import { checkDatabase } from '../ops/check.ts';
import { resolveContext, type OpsContext } from '../ops/context.ts';
import { diffBackups, diffWithLive } from '../ops/diff-sources.ts';
import { setPinned } from '../ops/pin.ts';
import { deleteBackup, prune, retentionPolicyFromEnv } from '../ops/prune.ts';
import { restore } from '../ops/restore.ts';
import { resolveGiven } from '../ops/select.ts';
import { getStatus, HEALTH_EXIT_CODE } from '../ops/status.ts';
import { deleteBackupAt, readManifestBeside } from '../ops/primary.ts';
import { BodyCache, ListingCache } from './listing.ts';
import { verifyBackup } from '../ops/verify.ts';
import { AuditLog, type AuditEntry } from './audit.ts';
import { allows, checkPassword, dummyPasswordHash, LoginLimiter, principalForToken, readUsers, SessionStore, type Principal, type Role } from './auth.ts';
import { JobRunner, type Job } from './jobs.ts';
import { liveDigest, planDigest, PlanStore, type StoredPlan } from './plans.ts';
import { renderMetrics } from './metrics.ts';
import { ScheduleStore, scheduleRoutes } from './schedules.ts';

export interface ServerOptions {
  url?: string;
  backupDir?: string;
  projectDir?: string;
  env?: NodeJS.ProcessEnv;
  /** How long a job waits for the operation lock (a CLI backup or restore) before failing with LOCKED; default 5 s. */
  lockWaitMs?: number;
  /** Mark the session cookie Secure: the dashboard sits behind a TLS-terminating proxy (it speaks plain http itself). */
  secureCookies?: boolean;
  clock?: Clock;
  /**
   * Host names the Host header may carry (a DNS-rebinding page reaches 127.0.0.1 under its own
   * name); undefined: any. startServer sets the loopback names when it listens on loopback.
   */
  allowedHosts?: string[];
  /** The in-memory limits (tests shorten them). */
  loginAttempts?: number;
  loginWindowMs?: number;
}

export const SESSION_COOKIE = 'pg_session';
const MAX_BODY = 64 * 1024;

type Env = { Variables: { principal: Principal; from: string } };

/** HTTP status for a GuardError code: the same error the CLI reports, as the web says it. */
export function httpStatus(code: string): number {
  const by: Record<string, number> = {
    USAGE: 400,
    PATH_OUTSIDE_BACKUP_DIR: 400,
    BAD_REQUEST: 400,
    SCHEDULE_INVALID: 400,
    POLICY_INVALID: 400,
    NOT_CONFIRMED: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    CSRF: 403,
    BACKUP_NOT_FOUND: 404,
    NOT_FOUND: 404,
    LOCKED: 409,
    BUSY: 409,
    PLAN_STALE: 409,
    PLAN_USED: 409,
    PROTECTED: 409,
    SCHEMA_MISMATCH: 409,
    PAYLOAD_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    BACKUP_CORRUPT: 422,
    BACKUP_TRUNCATED: 422,
    BACKUP_NOT_OURS: 422,
    BACKUP_VERSION: 422,
    BACKUP_UNSAFE_SQL: 422,
    BACKUP_UNTRUSTED: 422,
    BACKUP_CODE_UNTRUSTED: 422,
    NOTHING_TO_BACK_UP: 422,
    RATE_LIMITED: 429,
    DATABASE_UNREACHABLE: 503,
    DATABASE_URL_INVALID: 503,
    DATABASE_ERROR: 503,
    STORAGE_FAILED: 503,
  };
  return by[code] ?? 500;
}

/** An error of the HTTP layer (no exit code of its own: the server is not a CLI run). */
export function httpError(code: string, message: string, hint?: string, details?: Record<string, unknown>): GuardError {
  return new GuardError(code, message, { hint, exitCode: ExitCode.USAGE, details });
}

function json(c: Context, value: unknown, status = 200): Response {
  return c.body(toRedactedJson(value), status as 200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
}

const PAGE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page');
const PAGE_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
};
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** A backup named in a URL: a file name of the folder or `latest`, never a path. */
function backupParam(name: string): string {
  if (name === 'latest') return name;
  if (name.includes('/') || name.includes('\\') || name.includes('\0') || !parseBackupFileName(name)) {
    throw httpError('BAD_REQUEST', `"${name}" is not a backup file name.`, 'Use a name from GET /api/backups (backup-<time>-<reason>.jsonl.gz) or `latest`.');
  }
  return name;
}

function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !x)) throw httpError('BAD_REQUEST', `${what} must be a list of names.`);
  return v.length ? (v as string[]) : undefined;
}

function int(v: string | undefined, def: number, min: number, max: number, what: string): number {
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw httpError('BAD_REQUEST', `${what} must be a whole number from ${min} to ${max}, not "${v}".`);
  return n;
}

/** The name a confirm must type: the PostgreSQL database's name, or the SQLite file's name. */
export function confirmName(ctx: OpsContext): string {
  return ctx.target.dialect === 'sqlite' ? path.basename(ctx.target.database) : ctx.target.database;
}

/** Builds the app. `state` is exposed for the serve command and tests. */
export function createApp(options: ServerOptions = {}) {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const lockWaitMs = options.lockWaitMs ?? 5000;
  const contextFor = (reporter: Reporter = silentReporter): OpsContext => resolveContext({ url: options.url, backupDir: options.backupDir, projectDir: options.projectDir, reporter, env, clock });
  const base = contextFor();
  const backupDir = base.backupDir;
  const audit = new AuditLog(backupDir);
  const sessions = new SessionStore();
  const limiter = new LoginLimiter(options.loginAttempts ?? 5, options.loginWindowMs ?? 15 * 60_000);
  const jobs = new JobRunner();
  const plans = new PlanStore();
  const listings = new ListingCache(base);
  const bodies = new BodyCache();
  const schedules = new ScheduleStore(backupDir, env);
  const app = new Hono<Env>();

  const record = (c: Context<Env>, e: Omit<AuditEntry, 'time' | 'actor' | 'role' | 'from'>) => {
    const p = c.get('principal');
    return audit.write({ actor: p?.name ?? 'anonymous', role: p?.role ?? null, from: c.get('from') ?? 'unknown', ...e });
  };

  app.onError((e, c) => {
    const err = isGuardError(e) ? e : new GuardError('INTERNAL', `Unexpected error: ${messageOf(e)}`, { hint: 'This is a bug in prisma-guard; please report it.' });
    return json(c, { ok: false, error: err.toJSON() }, httpStatus(err.code));
  });
  app.notFound((c) => json(c, { ok: false, error: httpError('NOT_FOUND', `No route ${c.req.method} ${c.req.path}.`, 'See the README section "The dashboard" for the API.').toJSON() }, 404));

  app.use('*', async (c, next) => {
    c.set('from', remoteAddress(c));
    if (options.allowedHosts) {
      const host = (c.req.header('host') ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
      if (!options.allowedHosts.includes(host)) throw httpError('FORBIDDEN', `The Host "${host}" is not this dashboard's.`, 'Open it as http://127.0.0.1:<port>/ or http://localhost:<port>/, or start it with --host for other names.');
    }
    await next();
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('x-frame-options', 'DENY');
  });
  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY,
      onError: () => {
        throw httpError('PAYLOAD_TOO_LARGE', `The request body is larger than ${MAX_BODY / 1024} KiB.`, 'Send a smaller JSON body.');
      },
    }),
  );

  // A body must be declared JSON: a cross-site form (text/plain, urlencoded) cannot send one
  // without a CORS preflight, which this server never grants (a second CSRF guard, login included).
  app.use('/api/*', async (c, next) => {
    if (!['GET', 'HEAD'].includes(c.req.method) && c.req.header('content-length') !== '0' && (c.req.header('content-length') || c.req.header('transfer-encoding'))) {
      if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) throw httpError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON (Content-Type: application/json).');
    }
    await next();
  });

  // The page: static files shipped in the package (no build step).
  for (const [route, file] of Object.entries(PAGE_FILES)) {
    app.get(route, async (c) => {
      const body = await readFile(path.join(PAGE_DIR, file));
      return c.body(body, 200, {
        'content-type': TYPES[path.extname(file)],
        'cache-control': 'no-cache',
        'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
      });
    });
  }

  // Forwarded headers are not trusted (anyone can send them): the operator says there is TLS in front.
  const secure = (c: Context) => Boolean(options.secureCookies) || new URL(c.req.url).protocol === 'https:';

  // Login: a user name and password give a session cookie and its CSRF token.
  app.post('/api/login', async (c) => {
    const body = await readJson(c);
    const user = typeof body.user === 'string' ? body.user : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const now = clock.now().getTime();
    const keys = [`ip:${c.get('from')}`, `user:${user}`];
    const users = await readUsers(backupDir);
    const found = users.users.find((u) => u.name === user);
    const wait = limiter.retryAfter(keys, now);
    if (wait > 0) {
      await audit.write({ actor: found ? found.name : 'unknown user', role: null, from: c.get('from'), action: 'login', result: 'refused', detail: { why: 'rate-limited' } });
      c.header('retry-after', String(Math.ceil(wait / 1000)));
      throw httpError('RATE_LIMITED', 'Too many failed logins; wait before trying again.', `Try again in ${Math.ceil(wait / 1000)} s.`);
    }
    const ok = await checkPassword(password, found?.password ?? (await dummyPasswordHash()));
    if (!found || !ok) {
      limiter.fail(keys, now);
      // An unknown name is not logged: it is often a password typed into the wrong field.
      await audit.write({ actor: found ? found.name : 'unknown user', role: null, from: c.get('from'), action: 'login', result: 'refused', detail: { why: 'wrong user name or password' } });
      throw httpError('UNAUTHORIZED', 'Wrong user name or password.', 'An admin sets passwords with `prisma-guard user passwd NAME`.');
    }
    limiter.succeed([`user:${user}`]);
    const s = sessions.create(found.name, found.role, now);
    setCookie(c, SESSION_COOKIE, s.id, { httpOnly: true, sameSite: 'Strict', secure: secure(c), path: '/' });
    await audit.write({ actor: found.name, role: found.role, from: c.get('from'), action: 'login', result: 'ok' });
    return json(c, { ok: true, user: found.name, role: found.role, csrf: s.csrf });
  });

  // Everything else under /api and /metrics: a session (with CSRF token on changes) or a Bearer token.
  const authenticate = async (c: Context<Env>, next: () => Promise<void>) => {
    const auth = c.req.header('authorization');
    let principal: Principal | null = null;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      principal = m ? principalForToken(await readUsers(backupDir), m[1]) : null;
      if (!principal) throw httpError('UNAUTHORIZED', 'The API token is not valid.', 'Create one with `prisma-guard token add NAME --role viewer` and send `Authorization: Bearer <token>`.');
    } else {
      const s = sessions.get(getCookie(c, SESSION_COOKIE), clock.now().getTime());
      if (!s) throw httpError('UNAUTHORIZED', 'Log in first (or send an API token).', 'POST /api/login with {user, password}, or send `Authorization: Bearer <token>`.');
      // A user removed or demoted since logging in loses the session.
      const current = (await readUsers(backupDir)).users.find((u) => u.name === s.user);
      if (!current) {
        sessions.dropUser(s.user);
        throw httpError('UNAUTHORIZED', 'This user no longer exists.', 'Ask an admin.');
      }
      s.role = current.role;
      if (!['GET', 'HEAD'].includes(c.req.method) && c.req.header('x-csrf-token') !== s.csrf) {
        throw httpError('CSRF', 'The request has no valid CSRF token (X-CSRF-Token header).', 'Reload the page; scripts use an API token instead of a session.');
      }
      principal = { name: s.user, role: s.role, via: 'session' };
    }
    c.set('principal', principal);
    await next();
  };
  app.use('/api/*', authenticate);
  app.use('/metrics', authenticate);

  const need = (c: Context<Env>, role: Role, action: string) => {
    const p = c.get('principal');
    if (!allows(p.role, role)) {
      void record(c, { action, result: 'refused', detail: { why: `needs role ${role}` } });
      throw httpError('FORBIDDEN', `${p.name} (${p.role}) may not do this: it needs the role ${role}.`, 'Ask an admin for a user or token with that role.');
    }
  };

  app.get('/api/session', (c) => {
    const p = c.get('principal');
    const s = sessions.get(getCookie(c, SESSION_COOKIE), clock.now().getTime());
    return json(c, { ok: true, user: p.name, role: p.role, via: p.via, csrf: p.via === 'session' ? s?.csrf : undefined, database: confirmName(base), target: safeTarget(base) });
  });

  app.post('/api/logout', (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    if (id) sessions.delete(id);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return json(c, { ok: true });
  });

  // Backups
  app.get('/api/backups', async (c) => {
    const q = c.req.query();
    const offset = int(q.offset, 0, 0, 1e9, 'offset');
    const limit = int(q.limit, 100, 1, 1000, 'limit');
    const listing = await listings.get(q.database || undefined);
    // The same query of the same listing gives the same bytes: rendered once.
    const body = bodies.get(listing, JSON.stringify([q.kind, q.scope, offset, limit]), () => {
      const filtered = listing.backups.filter((m) => (!q.kind || m.kind === q.kind) && (!q.scope || m.scope.type === q.scope));
      return toRedactedJson({
        backups: filtered.slice(offset, offset + limit),
        total: filtered.length,
        offset,
        limit,
        stray: listing.stray,
        databases: listing.databases.map((g) => ({ database: g.database, label: g.label, backups: g.backups.map((m) => m.file) })),
      });
    });
    return c.body(body, 200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  });

  app.get('/api/backups/:name', async (c) => {
    const given = backupParam(c.req.param('name'));
    const { path: p, file } = await resolveGiven(base, given);
    const manifest = await manifestAt(base, p, file);
    return json(c, { ok: true, manifest, scope: describeScope(manifest.scope) });
  });

  const startJob = (c: Context<Env>, kind: string, extra: Omit<AuditEntry, 'time' | 'actor' | 'role' | 'from' | 'action' | 'result'>, work: (ctx: OpsContext) => Promise<unknown>, onDone?: (job: Job) => Record<string, unknown>) => {
    const p = c.get('principal');
    const job = jobs.start(kind, p.name, (reporter) => work(contextFor(reporter)), async (j) => {
      await record(c, { action: kind, ...extra, job: j.id, result: j.state === 'succeeded' ? 'ok' : 'failed', detail: j.state === 'succeeded' ? onDone?.(j) : { code: j.error?.code, message: j.error?.message } });
    });
    return job;
  };

  /** `?wait=true`: answer when the job has finished (scripts); else 202 with the job at once. */
  const jobResponse = async (c: Context<Env>, job: Job) => {
    if (c.req.query('wait') === 'true') {
      await jobs.settled(job.id);
      return json(c, { ok: job.state === 'succeeded', job }, 200);
    }
    return json(c, { ok: true, job }, 202);
  };

  app.post('/api/backups', async (c) => {
    need(c, 'operator', 'backup.create');
    const body = await readJson(c);
    const reason = body.reason === undefined ? 'dashboard' : body.reason;
    if (typeof reason !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9-]{0,40}$/.test(reason)) throw httpError('BAD_REQUEST', 'reason must be 1-41 letters, digits or dashes.');
    const tables = strings(body.tables, 'tables');
    const pin = body.pin === true;
    const job = startJob(c, 'backup.create', {}, (ctx) => backup(ctx, { reason, tables, pinned: pin, lockWaitMs }).then((r) => ({ ok: true, path: r.path, manifest: r.manifest, warnings: r.warnings, ...(r.offsite ? { offsite: r.offsite } : {}) })), (j) => ({ file: (j.result as { manifest: { file: string } }).manifest.file }));
    return jobResponse(c, job);
  });

  app.post('/api/backups/:name/verify', async (c) => {
    need(c, 'operator', 'backup.verify');
    const given = backupParam(c.req.param('name'));
    await resolveGiven(base, given); // unknown names: 404 now, not a failed job
    const job = startJob(c, 'backup.verify', { backup: given }, (ctx) => verifyBackup(ctx, given), (j) => ({ verified: (j.result as { ok: boolean }).ok }));
    return jobResponse(c, job);
  });

  for (const action of ['pin', 'unpin'] as const) {
    app.post(`/api/backups/:name/${action}`, async (c) => {
      need(c, 'operator', `backup.${action}`);
      const given = backupParam(c.req.param('name'));
      const body = await readJson(c);
      let until: Date | null = null;
      if (action === 'pin' && body.until !== undefined && body.until !== null) {
        until = new Date(String(body.until));
        if (Number.isNaN(until.getTime())) throw httpError('BAD_REQUEST', `until "${String(body.until)}" is not a date.`, 'Use an ISO date such as 2027-01-01.');
      }
      try {
        const m = await setPinned(base, given, { pinned: action === 'pin', until });
        await record(c, { action: `backup.${action}`, backup: m.file, result: 'ok', detail: m.pinnedUntil ? { until: m.pinnedUntil } : undefined });
        return json(c, { ok: true, file: m.file, pinned: m.pinned, pinnedUntil: m.pinnedUntil ?? null });
      } catch (e) {
        await record(c, { action: `backup.${action}`, backup: given, result: 'failed', detail: { code: isGuardError(e) ? e.code : 'INTERNAL' } });
        throw e;
      }
    });
  }

  app.delete('/api/backups/:name', async (c) => {
    need(c, 'admin', 'backup.delete');
    const given = backupParam(c.req.param('name'));
    if (given === 'latest') throw httpError('BAD_REQUEST', 'Name the backup to delete; `latest` is not accepted here.');
    const { file } = await resolveGiven(base, given);
    // What retention would do with it: kept for a protection (a pin, the newest verified backup...) means no.
    const decision = await prune(base, { dryRun: true, policy: retentionPolicyFromEnv(env) });
    const entry = decision.entries.find((e) => e.file === file);
    const protections = (entry?.action === 'keep' ? entry.why : []).filter((w) => /^(pinned|newest|policy is empty)/.test(w));
    if (protections.length) {
      await record(c, { action: 'backup.delete', backup: file, result: 'refused', detail: { why: protections } });
      throw httpError('PROTECTED', `${file} is protected by retention (${protections.join(', ')}), so it is not deleted.`, 'Unpin it first, or take a newer verified backup; retention decides the rest (prisma-guard prune).', { why: protections });
    }
    await deleteBackupAt(base, file, deleteBackup);
    listings.clear();
    await record(c, { action: 'backup.delete', backup: file, result: 'ok' });
    return json(c, { ok: true, file, deleted: true });
  });

  // Restores: a dry run makes a plan; the confirm runs exactly that plan.
  app.post('/api/restores', async (c) => {
    need(c, 'admin', 'restore.plan');
    const body = await readJson(c);
    if (body.dryRun !== true) throw httpError('BAD_REQUEST', 'A restore starts with a plan: send dryRun: true, then confirm the plan.', 'POST /api/restores {backup, mode, tables, dryRun: true}, then POST /api/restores/<planId>/confirm.');
    if (typeof body.backup !== 'string') throw httpError('BAD_REQUEST', 'backup must be a backup file name or `latest`.');
    const given = backupParam(body.backup);
    const mode = body.mode === undefined || body.mode === null ? undefined : body.mode;
    if (mode !== undefined && mode !== 'data' && mode !== 'full') throw httpError('BAD_REQUEST', `mode must be data or full, not "${String(mode)}".`);
    const tables = strings(body.tables, 'tables');
    if (jobs.running('restore.run').length) throw httpError('BUSY', 'A restore is running; wait for it to finish before planning another.');
    try {
      // `latest` is resolved now: the plan, and its confirm, are of that one file.
      const { path: p, file, latest } = await resolveGiven(base, given, { verify: given === 'latest' });
      const manifest = await manifestAt(base, p, file);
      const result = await restore(base, { backup: file, mode, tables, dryRun: true, lockWaitMs });
      if (latest) result.plan.selection = { latest: true, matchedBy: latest.matchedBy, skipped: latest.skipped, failed: latest.failed };
      const live = liveDigest(await checkDatabase(base));
      const stored = plans.add({ backup: file, mode, tables, plan: result.plan, backupSha256: manifest.sha256, backupSize: manifest.sizeBytes, digest: planDigest(result.plan), live, createdBy: c.get('principal').name }, clock.now().getTime());
      await record(c, { action: 'restore.plan', backup: file, plan: stored.id, result: 'ok', detail: { mode: result.plan.mode, tables: result.plan.tables.length } });
      return json(c, { ok: true, planId: stored.id, expiresAt: new Date(stored.expiresAt).toISOString(), confirm: { database: confirmName(base) }, plan: result.plan });
    } catch (e) {
      await record(c, { action: 'restore.plan', backup: given, result: 'failed', detail: { code: isGuardError(e) ? e.code : 'INTERNAL' } });
      throw e;
    }
  });

  app.get('/api/restores/:planId', (c) => {
    const p = plans.get(c.req.param('planId'));
    if (!p) throw httpError('NOT_FOUND', `There is no restore plan ${c.req.param('planId')}.`);
    return json(c, { ok: true, planId: p.id, state: p.state, expiresAt: new Date(p.expiresAt).toISOString(), plan: p.plan });
  });

  app.post('/api/restores/:planId/confirm', async (c) => {
    need(c, 'admin', 'restore.confirm');
    const planId = c.req.param('planId');
    const body = await readJson(c);
    const principal = c.get('principal');
    // Re-authentication: the user's password again, or the database's name typed out.
    const typed = typeof body.database === 'string' ? body.database : undefined;
    const password = typeof body.password === 'string' ? body.password : undefined;
    let confirmed = false;
    if (typed !== undefined) confirmed = typed === confirmName(base);
    else if (password !== undefined && principal.via === 'session') {
      const now = clock.now().getTime();
      const keys = [`user:${principal.name}`];
      if (limiter.retryAfter(keys, now) > 0) throw httpError('RATE_LIMITED', 'Too many wrong passwords; wait before trying again.');
      const u = (await readUsers(backupDir)).users.find((x) => x.name === principal.name);
      confirmed = Boolean(u && (await checkPassword(password, u.password)));
      if (!confirmed) limiter.fail(keys, now);
    }
    if (!confirmed) {
      await record(c, { action: 'restore.confirm', plan: planId, result: 'refused', detail: { why: 'confirmation missing or wrong' } });
      throw httpError('FORBIDDEN', `The restore was not confirmed: ${typed !== undefined ? `"${typed}" is not the database name` : password !== undefined ? 'wrong password' : 'send your password, or the database name'}.`, `Type the database name (${confirmName(base)}) or your password.`);
    }
    if (jobs.running('restore.run').length || jobs.running('backup.create').length) {
      throw httpError('BUSY', 'Another backup or restore started from this dashboard is running; nothing was changed.', 'Wait for it to finish, then make a new plan.');
    }
    let stored: StoredPlan;
    try {
      stored = plans.take(planId, clock.now().getTime());
    } catch (e) {
      await record(c, { action: 'restore.confirm', plan: planId, result: 'refused', detail: { code: isGuardError(e) ? e.code : 'INTERNAL' } });
      throw e;
    }
    const job = startJob(c, 'restore.run', { backup: stored.backup, plan: stored.id }, async (ctx) => {
      try {
        // The backup must still be the one planned: same manifest SHA-256 and size (the restore then checks the bytes against it).
        const { path: p, file } = await resolveGiven(ctx, stored.backup);
        const m = await manifestAt(ctx, p, file).catch(() => null);
        if (!m || m.sha256 !== stored.backupSha256 || m.sizeBytes !== stored.backupSize) {
          throw new GuardError('PLAN_STALE', `${stored.backup} changed since the plan was made; nothing was restored.`, { hint: 'Make a new plan and review it.' });
        }
        const result = await restore(ctx, {
          backup: stored.backup,
          mode: stored.mode,
          tables: stored.tables,
          lockWaitMs,
          // Called under the operation lock with the plan recomputed from the live database now.
          confirm: async (plan) => {
            if (planDigest(plan) !== stored.digest) {
              throw new GuardError('PLAN_STALE', 'The database changed since the plan was made (row counts, schema or migrations differ); nothing was restored.', { hint: 'Make a new plan and review it.', details: { now: plan.tables.map((t) => ({ name: t.name, remove: t.remove, insert: t.insert })) } });
            }
            if (liveDigest(await checkDatabase(ctx)) !== stored.live) {
              throw new GuardError('PLAN_STALE', 'The data changed since the plan was made (a table checksum differs); nothing was restored.', { hint: 'Make a new plan and review it.' });
            }
            return true;
          },
        });
        listings.clear();
        return { ok: true, ...result };
      } finally {
        plans.finish(stored);
      }
    }, (j) => ({ safetyBackup: (j.result as { safetyBackup?: string }).safetyBackup ? path.basename((j.result as { safetyBackup: string }).safetyBackup) : null }));
    return jobResponse(c, job);
  });

  app.get('/api/diff', async (c) => {
    const q = c.req.query();
    if (!q.a) throw httpError('BAD_REQUEST', 'diff needs a= (a backup) and b= (another) or live=true.');
    const a = backupParam(q.a);
    const live = q.live === 'true';
    if (live === Boolean(q.b)) throw httpError('BAD_REQUEST', 'Give either b= or live=true.');
    const tables = q.tables ? q.tables.split(',').filter(Boolean) : undefined;
    const limit = int(q.limit, 10, 0, 1000, 'limit');
    const report = live ? await diffWithLive(base, a, { tables, limit }) : await diffBackups(base, a, backupParam(q.b!), { tables, limit });
    return json(c, { ok: true, ...report });
  });

  app.get('/api/status', async (c) => {
    const s = await getStatus(base, { env, database: c.req.query('database') || undefined });
    return json(c, { ...s, exitCode: HEALTH_EXIT_CODE[s.health], meaning: { 0: 'healthy', 1: 'warning', 2: 'critical' }[HEALTH_EXIT_CODE[s.health]] });
  });

  app.get('/metrics', async (c) => {
    const s = await getStatus(base, { env });
    return c.body(renderMetrics(s, jobs.list()), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
  });

  // Jobs
  app.get('/api/jobs', (c) => json(c, { jobs: jobs.list().map((j) => ({ ...j, events: undefined })) }));
  app.get('/api/jobs/:id', (c) => {
    const job = jobs.get(c.req.param('id'));
    if (!job) throw httpError('NOT_FOUND', `There is no job ${c.req.param('id')}.`, 'Jobs are kept in memory until the server restarts.');
    return json(c, { ok: true, job });
  });
  app.get('/api/jobs/:id/events', (c) => {
    const job = jobs.get(c.req.param('id'));
    if (!job) throw httpError('NOT_FOUND', `There is no job ${c.req.param('id')}.`);
    return streamSSE(c, async (stream) => {
      const queue = [...job.events];
      let wake: (() => void) | null = null;
      const off = job.state === 'running' ? jobs.subscribe(job.id, (e) => {
        queue.push(e);
        wake?.();
      }) : () => {};
      stream.onAbort(() => {
        off();
        wake?.();
      });
      try {
        for (;;) {
          while (queue.length) {
            const e = queue.shift()!;
            await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e) });
            if (e.type === 'done') return;
          }
          if (stream.aborted || job.state !== 'running') {
            if (!job.events.some((e) => e.type === 'done')) return;
            if (!queue.length) return;
          }
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
      } finally {
        off();
      }
    });
  });

  app.get('/api/audit', async (c) => {
    const limit = int(c.req.query('limit'), 200, 1, 5000, 'limit');
    return json(c, { entries: await audit.tail(limit) });
  });

  scheduleRoutes(app, { schedules, need, record, json, httpError });

  return { app, state: { jobs, plans, sessions, audit, schedules, listings, backupDir, context: base } };
}

async function readJson(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw httpError('BAD_REQUEST', 'The request body is not valid JSON.');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw httpError('BAD_REQUEST', 'The request body must be a JSON object.');
  return v as Record<string, unknown>;
}

function remoteAddress(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}

function safeTarget(ctx: OpsContext): { dialect: string; display: string } | null {
  try {
    return { dialect: ctx.target.dialect, display: ctx.target.display };
  } catch {
    return null;
  }
}


/** The manifest of a backup where it lives (the folder or an object-storage BACKUP_DIR); BACKUP_NOT_FOUND when it has none. */
async function manifestAt(ctx: OpsContext, p: string, file: string) {
  const m = await readManifestBeside(ctx, p, file);
  if (!m) throw new GuardError('BACKUP_NOT_FOUND', `${file} has no manifest.`, { hint: `Run \`prisma-guard verify ${file}\` to check it and rebuild its manifest.` });
  return m;
}
