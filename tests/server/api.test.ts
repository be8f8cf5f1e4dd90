/**
 * The dashboard's REST API over real HTTP (a real server on 127.0.0.1), against a real SQLite file
 * and a real PostgreSQL database: access (401 anonymous, 403 per role, CSRF, tokens), every
 * endpoint, restore plans (run exactly once, stale after a change of the data or the backup), and a
 * CLI restore holding the operation lock (the dashboard gets LOCKED and changes nothing).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/core/errors.ts';
import { addUser } from '../../lib/server/auth.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS } from '../helpers/db.ts';
import { as, backupNow, Client, PASSWORD, startDashboard, type Dashboard } from './helpers.ts';

async function waitFor(file: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!fs.existsSync(file)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${file}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const dialect of DIALECTS) {
  describe(`dashboard API on ${dialect}`, () => {
    let d: Dashboard;
    let viewer: Client;
    let operator: Client;
    let admin: Client;
    let first: string;
    const dbName = () => (dialect === 'sqlite' ? path.basename(d.db.name) : d.db.name);
    const titles = async () => (await d.query<{ title: string }>('SELECT title FROM book ORDER BY id')).map((r) => r.title);

    beforeAll(async () => {
      d = await startDashboard(dialect);
      [viewer, operator, admin] = await Promise.all([as(d, 'viewer'), as(d, 'operator'), as(d, 'admin')]);
      first = await backupNow(operator, { reason: 'first' });
    });
    afterAll(async () => d?.close());

    it('no anonymous access: every API route and /metrics answer 401; the page shell holds no data', async () => {
      const anon = new Client(d.url);
      const routes: Array<[string, string]> = [
        ['GET', '/api/backups'],
        ['GET', `/api/backups/${first}`],
        ['POST', '/api/backups'],
        ['POST', `/api/backups/${first}/verify`],
        ['POST', `/api/backups/${first}/pin`],
        ['POST', `/api/backups/${first}/unpin`],
        ['DELETE', `/api/backups/${first}`],
        ['POST', '/api/restores'],
        ['POST', '/api/restores/abc/confirm'],
        ['GET', `/api/diff?a=${first}&live=true`],
        ['GET', '/api/status'],
        ['GET', '/api/jobs/x'],
        ['GET', '/api/audit'],
        ['GET', '/api/schedules'],
        ['POST', '/api/schedules'],
        ['GET', '/api/session'],
        ['GET', '/metrics'],
      ];
      for (const [method, route] of routes) {
        const r = await anon.call(method, route, method === 'GET' ? undefined : {});
        expect(r.status, `${method} ${route}`).toBe(401);
        expect(r.body.error.code).toBe('UNAUTHORIZED');
      }
      const bad = new Client(d.url, 'pgt_000000000000_not-a-real-token-at-all');
      expect((await bad.get('/api/backups')).status).toBe(401);
        // A page of another name that resolves to 127.0.0.1 (DNS rebinding) is not served.
      const rebound = await new Promise<number>((resolve, reject) => {
        const u = new URL(d.url);
        http.get({ host: u.hostname, port: u.port, path: '/api/login', headers: { host: `evil.example:${u.port}` } }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
      });
      expect(rebound).toBe(403);
    const page = await anon.get('/');
      expect(page.status).toBe(200);
      expect(page.text).not.toContain(first);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    });

    it('roles: viewer reads only, operator backs up/verifies/pins, admin restores and deletes', async () => {
      expect((await viewer.get('/api/backups')).status).toBe(200);
      for (const [c, method, route, body] of [
        [viewer, 'POST', '/api/backups', {}],
        [viewer, 'POST', `/api/backups/${first}/verify`, {}],
        [viewer, 'POST', `/api/backups/${first}/pin`, {}],
        [viewer, 'POST', '/api/restores', { backup: first, dryRun: true }],
        [viewer, 'DELETE', `/api/backups/${first}`, undefined],
        [viewer, 'POST', '/api/schedules', { name: 'x', cron: '0 3 * * *', timeZone: 'UTC' }],
        [operator, 'POST', '/api/restores', { backup: first, dryRun: true }],
        [operator, 'POST', '/api/restores/whatever/confirm', { database: 'x' }],
        [operator, 'DELETE', `/api/backups/${first}`, undefined],
        [operator, 'PUT', '/api/schedules/daily', { enabled: false }],
      ] as const) {
        const r = await (c as Client).call(method, route, body);
        expect(r.status, `${method} ${route}`).toBe(403);
        expect(r.body.error.code).toBe('FORBIDDEN');
      }
      const v = await operator.post(`/api/backups/${first}/verify?wait=true`);
      expect(v.status).toBe(200);
      expect(v.body.job.result).toMatchObject({ ok: true, file: first, manifest: 'ok' });
      // Tokens carry their role the same way, and need no CSRF token.
      expect((await new Client(d.url, d.tokens.viewer).post('/api/backups')).status).toBe(403);
      const viaToken = await new Client(d.url, d.tokens.operator).post(`/api/backups/${first}/pin`, {});
      expect(viaToken.status).toBe(200);
      expect(viaToken.body).toMatchObject({ ok: true, file: first, pinned: true });
      expect((await new Client(d.url, d.tokens.operator).post(`/api/backups/${first}/unpin`, {})).body.pinned).toBe(false);
    });

    it('a cookie session needs the CSRF token for every change', async () => {
      const c = await as(d, 'admin');
      const token = c.csrf;
      c.csrf = null;
      const r = await c.post('/api/backups', {});
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('CSRF');
      c.csrf = 'wrong';
      expect((await c.post(`/api/backups/${first}/pin`, {})).status).toBe(403);
      c.csrf = token;
      expect((await c.get('/api/session')).body).toMatchObject({ user: 'admin', role: 'admin', via: 'session', csrf: token, database: dbName() });
    });

    it('lists backups with filters and paging, as `list --json` does', async () => {
      await backupNow(operator, { reason: 'only-books', tables: ['book', 'author'] });
      const all = await viewer.get('/api/backups');
      expect(all.body.total).toBe(2);
      expect(all.body.databases).toHaveLength(1);
      expect((await viewer.get('/api/backups?scope=tables')).body.backups.map((m: { reason: string }) => m.reason)).toEqual(['only-books']);
      expect((await viewer.get('/api/backups?kind=manual&scope=full')).body.backups.map((m: { file: string }) => m.file)).toEqual([first]);
      const page = await viewer.get('/api/backups?limit=1&offset=1');
      expect(page.body).toMatchObject({ total: 2, offset: 1, limit: 1 });
      expect(page.body.backups[0].file).toBe(first);
      expect((await viewer.get('/api/backups?database=no-such-db')).body.total).toBe(0);
      const cli = await runCli(['list', '--json'], { DATABASE_URL: d.db.url, BACKUP_DIR: d.backupDir });
      expect(JSON.parse(cli.stdout).backups).toEqual(all.body.backups);
      expect((await viewer.get('/api/backups?limit=0')).status).toBe(400);
    });

    it('one backup by name; names with ../ or unknown names change nothing', async () => {
      const one = await viewer.get(`/api/backups/${first}`);
      expect(one.status).toBe(200);
      expect(one.body.manifest.file).toBe(first);
      expect((await viewer.get(`/api/backups/${encodeURIComponent('../users.json')}`)).status).toBe(400);
      expect((await operator.post(`/api/backups/${encodeURIComponent('../../etc/passwd')}/verify`)).status).toBe(400);
      const missing = await viewer.get('/api/backups/backup-2020-01-01T00-00-00-000Z-nothing.jsonl.gz');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('BACKUP_NOT_FOUND');
      expect((await admin.post('/api/restores', { backup: '/etc/passwd', dryRun: true })).status).toBe(400);
      expect((await operator.post('/api/backups', 'not json')).status).toBe(400);
      expect((await operator.post('/api/backups', { reason: 'x'.repeat(70 * 1024) })).status).toBe(413);
      expect((await operator.post('/api/backups', { reason: '../x' })).status).toBe(400);
    });

    it('jobs: the state, and progress as Server-Sent Events ending with done', async () => {
      const r = await operator.post(`/api/backups/${first}/verify`);
      expect(r.status).toBe(202);
      const id = r.body.job.id;
      const sse = await operator.get(`/api/jobs/${id}/events`);
      expect(sse.headers.get('content-type')).toContain('text/event-stream');
      expect(sse.text).toMatch(/event: done\n/);
      const job = await viewer.get(`/api/jobs/${id}`);
      expect(job.body.job).toMatchObject({ id, kind: 'backup.verify', state: 'succeeded', actor: 'operator' });
      expect((await viewer.get('/api/jobs/nope')).status).toBe(404);
      const all = await viewer.get('/api/jobs');
      expect(all.body.jobs.map((j: { id: string }) => j.id)).toContain(id);
      expect(all.body.jobs[0].events).toBeUndefined();
    });

    it('delete: refused with the reason for what retention protects, done for the rest', async () => {
      const pinned = await backupNow(operator, { reason: 'keep-me', pin: true });
      const refused = await admin.call('DELETE', `/api/backups/${pinned}`);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: 'PROTECTED' });
      expect(refused.body.error.details.why).toContain('pinned');
      // The newest verified full backup of the database is never deleted either.
      const newest = await backupNow(operator, { reason: 'newest' });
      await operator.post(`/api/backups/${newest}/verify?wait=true`);
      const r2 = await admin.call('DELETE', `/api/backups/${newest}`);
      expect(r2.status).toBe(409);
      expect(r2.body.error.details.why.join()).toMatch(/newest/);
      // An unpinned, older backup kept only by a time window can go.
      await backupNow(operator, { reason: 'spare' });
      await operator.post(`/api/backups/${pinned}/unpin`);
      const ok = await admin.call('DELETE', `/api/backups/${pinned}`);
      expect(ok.status, ok.text).toBe(200);
      expect(fs.existsSync(path.join(d.backupDir, pinned))).toBe(false);
      expect((await viewer.get(`/api/backups/${pinned}`)).status).toBe(404);
    });

    it('restore: the dry-run plan, a confirm that must name the database, run once, audited', async () => {
      await d.exec(`INSERT INTO book (id, title, author_id) VALUES (4, 'Later', 2)`);
      await d.exec(`UPDATE book SET title = 'Changed' WHERE id = 1`);
      const planned = await admin.post('/api/restores', { backup: first, dryRun: true });
      expect(planned.status, planned.text).toBe(200);
      const book = planned.body.plan.tables.find((t: { name: string }) => t.name === 'book');
      expect(book).toMatchObject({ insert: 3, remove: 4, rows: { delete: 1, update: 1, insert: 0, unchanged: 2 } });
      expect(planned.body.confirm.database).toBe(dbName());
      const id = planned.body.planId;
      const shown = await viewer.get(`/api/restores/${id}`);
      expect(shown.body).toMatchObject({ planId: id, state: 'open', plan: { backup: { file: first } } });
      expect((await viewer.get('/api/restores/nope')).status).toBe(404);
      // `latest` is resolved when the plan is made: the plan names the file it will restore.
      const latest = await admin.post('/api/restores', { backup: 'latest', dryRun: true });
      expect(latest.status, latest.text).toBe(200);
      expect(latest.body.plan.backup.file).toMatch(/^backup-.*\.jsonl\.gz$/);
      expect(latest.body.plan.selection).toMatchObject({ latest: true });
      expect((await admin.post('/api/restores', { backup: first })).status).toBe(400); // dryRun: true is required
      const wrong = await admin.post(`/api/restores/${id}/confirm`, { database: 'not-it' });
      expect(wrong.status).toBe(403);
      expect(await titles()).toEqual(['Changed', 'Compilers', 'Engines', 'Later']);
      const wrongPassword = await admin.post(`/api/restores/${id}/confirm`, { password: 'nope nope nope' });
      expect(wrongPassword.status).toBe(403);
      const ran = await admin.post(`/api/restores/${id}/confirm?wait=true`, { password: PASSWORD });
      expect(ran.status, ran.text).toBe(200);
      expect(ran.body.job.state, JSON.stringify(ran.body.job.error)).toBe('succeeded');
      expect(ran.body.job.result).toMatchObject({ ok: true, executed: true, proof: { matches: true } });
      expect(await titles()).toEqual(['Notes', 'Compilers', 'Engines']);
      const replay = await admin.post(`/api/restores/${id}/confirm?wait=true`, { database: dbName() });
      expect(replay.status).toBe(409);
      expect(replay.body.error).toMatchObject({ code: 'PLAN_USED', exitCode: ExitCode.PLAN_REFUSED });
      const audit = (await viewer.get('/api/audit')).body.entries as Array<Record<string, unknown>>;
      const run = audit.find((e) => e.action === 'restore.run');
      expect(run).toMatchObject({ actor: 'admin', role: 'admin', from: '127.0.0.1', backup: first, plan: id, result: 'ok' });
      expect(audit.find((e) => e.action === 'restore.confirm' && e.result === 'refused')).toBeTruthy();
    });

    it('a plan goes stale when the data changes, even with the same row counts', async () => {
      const planned = await admin.post('/api/restores', { backup: first, dryRun: true });
      await d.exec(`UPDATE author SET name = 'Someone else' WHERE id = 2`);
      const r = await admin.post(`/api/restores/${planned.body.planId}/confirm?wait=true`, { database: dbName() });
      expect(r.body.job.state).toBe('failed');
      expect(r.body.job.error).toMatchObject({ code: 'PLAN_STALE', exitCode: ExitCode.PLAN_REFUSED });
      expect((await d.query<{ name: string }>('SELECT name FROM author WHERE id = 2'))[0].name).toBe('Someone else');
      // ...and when rows were added (the recomputed plan differs).
      const again = await admin.post('/api/restores', { backup: first, dryRun: true });
      await d.exec(`INSERT INTO author (id, name) VALUES (3, 'New')`);
      const r2 = await admin.post(`/api/restores/${again.body.planId}/confirm?wait=true`, { database: dbName() });
      expect(r2.body.job.error.code).toBe('PLAN_STALE');
      expect((await d.query('SELECT id FROM author')).length).toBe(3);
    });

    it('a plan goes stale when its backup changed', async () => {
      const planned = await admin.post('/api/restores', { backup: first, dryRun: true });
      const mPath = path.join(d.backupDir, first.replace(/\.jsonl\.gz$/, '.manifest.json'));
      const m = JSON.parse(fs.readFileSync(mPath, 'utf8'));
      const original = fs.readFileSync(mPath, 'utf8');
      m.sha256 = (m.sha256[0] === 'a' ? 'b' : 'a') + m.sha256.slice(1);
      fs.writeFileSync(mPath, JSON.stringify(m, null, 2));
      try {
        const r = await admin.post(`/api/restores/${planned.body.planId}/confirm?wait=true`, { database: dbName() });
        expect(r.body.job.error.code).toBe('PLAN_STALE');
        expect((await d.query('SELECT id FROM author')).length).toBe(3);
      } finally {
        fs.writeFileSync(mPath, original);
      }
    });

    it('a CLI restore holding the lock: the dashboard gets LOCKED and changes nothing', async () => {
      const hold = path.join(d.backupDir, '..', `hold-${dialect}`);
      fs.writeFileSync(hold, '');
      const planned = await admin.post('/api/restores', { backup: first, dryRun: true });
      const cli = runCli(['restore', first, '--yes', '--json', '--no-safety-backup'], { DATABASE_URL: d.db.url, BACKUP_DIR: d.backupDir, PRISMA_GUARD_TEST_PAUSE: `after-plan:${hold}` });
      try {
        await waitFor(`${hold}.reached`);
        const b = await operator.post('/api/backups?wait=true', { reason: 'during-cli' });
        expect(b.body.job.state).toBe('failed');
        expect(b.body.job.error.code).toBe('LOCKED');
        const r = await admin.post(`/api/restores/${planned.body.planId}/confirm?wait=true`, { database: dbName() });
        expect(r.body.job.error.code).toBe('LOCKED');
        expect((await d.query('SELECT id FROM author')).length).toBe(3); // the dashboard restored nothing
      } finally {
        fs.rmSync(hold, { force: true });
      }
      const done = await cli;
      expect(done.code, done.stderr).toBe(0);
      expect((await d.query('SELECT id FROM author')).length).toBe(2);
      expect((await viewer.get('/api/backups')).body.backups.some((m: { reason: string }) => m.reason === 'during-cli')).toBe(false);
    });

    it('a confirm while a restore runs is BUSY (the same plan or another), a CLI restore LOCKED; the plan that ran is PLAN_USED after', async () => {
      const hold = path.join(d.backupDir, '..', `hold-server-${dialect}`);
      const one = await admin.post('/api/restores', { backup: first, dryRun: true });
      const two = await admin.post('/api/restores', { backup: first, dryRun: true });
      fs.writeFileSync(hold, '');
      process.env.PRISMA_GUARD_TEST_PAUSE = `after-plan:${hold}`; // this process runs the server: its restore waits there
      try {
        const started = await admin.post(`/api/restores/${one.body.planId}/confirm`, { database: dbName() });
        expect(started.status).toBe(202);
        await waitFor(`${hold}.reached`);
        const again = await admin.post(`/api/restores/${one.body.planId}/confirm`, { database: dbName() });
        expect(again.status).toBe(409);
        expect(again.body.error.code).toBe('BUSY');
        const other = await admin.post(`/api/restores/${two.body.planId}/confirm`, { database: dbName() });
        expect(other.status).toBe(409);
        expect(other.body.error.code).toBe('BUSY');
        expect((await admin.post('/api/restores', { backup: first, dryRun: true })).body.error.code).toBe('BUSY');
        // A CLI restore meanwhile waits for the lock, then gives up: LOCKED (exit 8), nothing changed.
        const cli = await runCli(['restore', first, '--yes', '--json', '--lock-wait', '1'], { DATABASE_URL: d.db.url, BACKUP_DIR: d.backupDir, PRISMA_GUARD_TEST_PAUSE: '' });
        expect(cli.code, cli.stdout + cli.stderr).toBe(ExitCode.LOCKED);
        expect(JSON.parse(cli.stdout).error.code).toBe('LOCKED');
        fs.rmSync(hold);
        const job = await viewer.get(`/api/jobs/${started.body.job.id}`);
        const done = (await operator.get(`/api/jobs/${started.body.job.id}/events`)).text;
        expect(done).toMatch(/event: done/);
        expect(job.body.job.kind).toBe('restore.run');
        expect((await viewer.get(`/api/jobs/${started.body.job.id}`)).body.job.state).toBe('succeeded');
        // The first plan ran; confirming it again now is PLAN_USED.
        const replay = await admin.post(`/api/restores/${one.body.planId}/confirm`, { database: dbName() });
        expect(replay.body.error.code).toBe('PLAN_USED');
      } finally {
        delete process.env.PRISMA_GUARD_TEST_PAUSE;
        fs.rmSync(hold, { force: true });
      }
    });

    it('after a schema change: a data-mode plan is refused (409, naming full mode), a full-mode plan brings the schema back', async () => {
      await d.exec(`ALTER TABLE author ADD COLUMN born INTEGER`);
      const data = await admin.post('/api/restores', { backup: first, dryRun: true });
      expect(data.status).toBe(409);
      expect(data.body.error.code).toBe('SCHEMA_MISMATCH');
      expect(data.body.error.hint).toContain('--mode full');
      const full = await admin.post('/api/restores', { backup: first, mode: 'full', dryRun: true });
      expect(full.status, full.text).toBe(200);
      expect(full.body.plan.mode).toBe('full');
      expect(full.body.plan.schemaDifferences.map((x: { text: string }) => x.text).join()).toContain('born');
      const ran = await admin.post(`/api/restores/${full.body.planId}/confirm?wait=true`, { database: dbName(), });
      expect(ran.body.job.state, JSON.stringify(ran.body.job.error)).toBe('succeeded');
      const cols = dialect === 'sqlite' ? (await d.query<{ name: string }>(`SELECT name FROM pragma_table_info('author')`)).map((r) => r.name) : (await d.query<{ name: string }>(`SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'author' ORDER BY ordinal_position`)).map((r) => r.name);
      expect(cols).toEqual(['id', 'name']);
    });

    it('diff, status and metrics', async () => {
      const later = await backupNow(operator, { reason: 'for-diff' });
      await d.exec(`DELETE FROM book WHERE id = 3`);
      const live = await viewer.get(`/api/diff?a=${later}&live=true`);
      expect(live.status, live.text).toBe(200);
      expect(live.body.ok).toBe(true);
      expect(live.body.tables.find((t: { table: string }) => t.table === 'book')).toMatchObject({ removed: 1 });
      const two = await viewer.get(`/api/diff?a=${first}&b=${later}`);
      expect(two.status).toBe(200);
      expect((await viewer.get(`/api/diff?a=${first}`)).status).toBe(400);
      const s = await viewer.get('/api/status');
      expect(s.status).toBe(200);
      expect(['HEALTHY', 'WARNING', 'CRITICAL']).toContain(s.body.health);
      expect(s.body.exitCode).toBe({ HEALTHY: 0, WARNING: 1, CRITICAL: 2 }[s.body.health as 'HEALTHY']);
      const m = await new Client(d.url, d.tokens.viewer).get('/metrics');
      expect(m.headers.get('content-type')).toContain('text/plain');
      expect(m.text).toMatch(/^prisma_guard_backups \d+$/m);
      expect(m.text).toMatch(/^prisma_guard_last_backup_age_seconds\{database="[^"]+",label="[^"]+"\} \d+$/m);
      expect(m.text).toMatch(/^# TYPE prisma_guard_health gauge$/m);
    });
  });
}

describe('dashboard API: logins, schedules, users and tokens (SQLite)', () => {
  let d: Dashboard;
  beforeAll(async () => {
    d = await startDashboard('sqlite');
  });
  afterAll(async () => d?.close());

  it('login is rate-limited; wrong passwords never reach the audit log', async () => {
    await addUser(d.backupDir, 'victim', 'viewer', PASSWORD, new Date());
    const c = new Client(d.url);
    for (let i = 0; i < 3; i++) expect((await c.login('victim', `wrong password ${i}`)).status).toBe(401);
    const limited = await c.login('victim'); // the right password, too late
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await c.login('my secret password')).status).toBe(401); // a password typed as the name
    // A cross-site form cannot log in (nor change anything): the body must be declared JSON.
    const form = await fetch(d.url + '/api/login', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ user: 'admin', password: PASSWORD }) });
    expect(form.status).toBe(415);
    expect(form.headers.get('set-cookie')).toBeNull();
    const admin = await as(d, 'admin');
    const entries = (await admin.get('/api/audit')).body.entries as Array<Record<string, unknown>>;
    expect(entries.filter((e) => e.action === 'login' && e.result === 'refused').length).toBeGreaterThanOrEqual(4);
    const file = fs.readFileSync(path.join(d.backupDir, '.prisma-guard-server', 'audit.jsonl'), 'utf8');
    expect(file).not.toContain('wrong password');
    expect(file).not.toContain('my secret password');
    expect(file).toContain('"actor":"unknown user"');
    expect(file).not.toContain(PASSWORD);
    expect(fs.statSync(path.join(d.backupDir, '.prisma-guard-server', 'audit.jsonl')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(d.backupDir, '.prisma-guard-server', 'users.json')).mode & 0o777).toBe(0o600);
  });

  it('session cookie: HttpOnly, SameSite=Strict, and logout ends it', async () => {
    const r = await fetch(d.url + '/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'operator', password: PASSWORD }) });
    const cookie = r.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/); // plain http on loopback; https or --secure-cookies add it
    const c = await as(d, 'operator');
    expect((await c.post('/api/logout')).status).toBe(200);
    expect((await c.get('/api/backups')).status).toBe(401);
  });

  it('schedules: the environment is the default; admin edits are saved and show the next runs', async () => {
    const admin = await as(d, 'admin');
    const viewer = await as(d, 'viewer');
    const start = await viewer.get('/api/schedules');
    expect(start.body.source).toBe('environment');
    expect(start.body.schedules.map((s: { name: string }) => s.name)).toEqual(['daily', 'interval']);
    const created = await admin.post('/api/schedules', { name: 'nightly', cron: '30 3 * * *', timeZone: 'UTC' });
    expect(created.status, created.text).toBe(200);
    const nightly = created.body.schedules.find((s: { name: string }) => s.name === 'nightly');
    expect(nightly.nextRuns[0]).toMatch(/T03:30:00\.000Z$/);
    expect(created.body.source).toBe('file');
    const off = await admin.call('PUT', '/api/schedules/interval', { enabled: false });
    expect(off.body.schedules.find((s: { name: string }) => s.name === 'interval')).toMatchObject({ enabled: false, nextRuns: [] });
    const changed = await admin.call('PUT', '/api/schedules/nightly', { cron: '0 4 * * *' });
    expect(changed.body.schedules.find((s: { name: string }) => s.name === 'nightly').nextRuns[0]).toMatch(/T04:00:00\.000Z$/);
    const bad = await admin.post('/api/schedules', { name: 'broken', cron: 'every day', timeZone: 'UTC' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('SCHEDULE_INVALID');
    expect((await admin.post('/api/schedules', { name: 'z', cron: '0 1 * * *', timeZone: 'Mars/Olympus' })).status).toBe(400);
    expect((await admin.call('DELETE', '/api/schedules/daily')).status).toBe(200);
    const saved = JSON.parse(fs.readFileSync(path.join(d.backupDir, '.prisma-guard-server', 'schedules.json'), 'utf8'));
    expect(saved.schedules.map((s: { name: string; enabled: boolean }) => [s.name, s.enabled])).toEqual([
      ['interval', false],
      ['nightly', true],
    ]);
    const audit = (await admin.get('/api/audit')).body.entries.map((e: { action: string }) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['schedule.create', 'schedule.update', 'schedule.delete']));
  });

  it('the cached listing: a CLI change shows at once, a manifest edited in place within about a second', async () => {
    const operator = new Client(d.url, d.tokens.operator);
    const file = await backupNow(operator, { reason: 'cached' });
    const pinned = async () => ((await operator.get('/api/backups')).body.backups as Array<{ file: string; pinned: boolean }>).find((m) => m.file === file)?.pinned;
    expect(await pinned()).toBe(false);
    const env = { BACKUP_DIR: d.backupDir, DATABASE_URL: d.db.url };
    expect((await runCli(['pin', file], env)).code).toBe(0); // a rename in the folder
    expect(await pinned()).toBe(true);
    const mPath = path.join(d.backupDir, file.replace(/\.jsonl\.gz$/, '.manifest.json'));
    const m = JSON.parse(fs.readFileSync(mPath, 'utf8'));
    fs.writeFileSync(mPath, JSON.stringify({ ...m, pinned: false }, null, 2)); // in place: the folder's times do not change
    const until = Date.now() + 5000;
    while ((await pinned()) !== false && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await pinned()).toBe(false);
    expect(Date.now()).toBeLessThan(until);
    // A deleted backup disappears at once.
    fs.rmSync(path.join(d.backupDir, file));
    fs.rmSync(mPath);
    expect(await pinned()).toBeUndefined();
  });

  it('user and token commands: the token is printed once and stored hashed; a removed user loses the session', async () => {
    const env = { BACKUP_DIR: d.backupDir, DATABASE_URL: d.db.url };
    const noPassword = await runCli(['user', 'add', 'erin', '--role', 'viewer'], env);
    expect(noPassword.code).toBe(ExitCode.USAGE);
    expect((await runCli(['user', 'add', 'erin', '--role', 'root'], { ...env, PRISMA_GUARD_PASSWORD: 'long enough pass' })).code).toBe(ExitCode.USAGE);
    expect((await runCli(['user', 'add', 'erin', '--role', 'viewer'], { ...env, PRISMA_GUARD_PASSWORD: 'short' })).code).toBe(ExitCode.USAGE);
    const add = await runCli(['user', 'add', 'erin', '--role', 'operator'], { ...env, PRISMA_GUARD_PASSWORD: 'erin password 1' });
    expect(add.code, add.stderr).toBe(0);
    const t = await runCli(['token', 'add', 'backup-bot', '--role', 'operator', '--json'], env);
    expect(t.code, t.stderr).toBe(0);
    const token = JSON.parse(t.stdout).token as string;
    const stored = fs.readFileSync(path.join(d.backupDir, '.prisma-guard-server', 'users.json'), 'utf8');
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(token.split('_')[2]);
    expect(stored).not.toContain('erin password 1');
    expect(stored).toMatch(/"password": "scrypt\$/);
    expect((await new Client(d.url, token).get('/api/backups')).status).toBe(200);
    const erin = new Client(d.url);
    expect((await erin.login('erin', 'erin password 1')).status).toBe(200);
    const list = await runCli(['user', 'list', '--json'], env);
    expect(JSON.parse(list.stdout).users.map((u: { name: string }) => u.name)).toContain('erin');
    expect(list.stdout).not.toContain('scrypt');
    expect((await runCli(['user', 'passwd', 'erin'], { ...env, PRISMA_GUARD_PASSWORD: 'erin password 2' })).code).toBe(0);
    expect((await new Client(d.url).login('erin', 'erin password 1')).status).toBe(401);
    expect((await runCli(['user', 'remove', 'erin'], env)).code).toBe(0);
    expect((await erin.get('/api/backups')).status).toBe(401);
    expect((await runCli(['token', 'remove', 'backup-bot'], env)).code).toBe(0);
    expect((await new Client(d.url, token).get('/api/backups')).status).toBe(401);
    // Every user and token change is in the audit log, without the password or the token.
    const entries = (await (await as(d, 'admin')).get('/api/audit')).body.entries as Array<{ action: string; actor: string; from: string }>;
    expect(entries.filter((e) => /^(user|token)\./.test(e.action)).map((e) => e.action).reverse()).toEqual(['user.add', 'token.add', 'user.passwd', 'user.remove', 'token.remove']);
    expect(entries.find((e) => e.action === 'user.add')).toMatchObject({ actor: expect.stringMatching(/^cli:/), from: 'local' });
    const log = fs.readFileSync(path.join(d.backupDir, '.prisma-guard-server', 'audit.jsonl'), 'utf8');
    expect(log).not.toContain(token.split('_')[2]);
    expect(log).not.toContain('erin password');
  });
});
