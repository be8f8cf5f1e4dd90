/**
 * Notifications (issue 17) to a real HTTP receiver on 127.0.0.1: every channel's message shape,
 * the webhook's HMAC signature, one alert per failure per channel (dedupe), a receiver that is down
 * changing nothing, and the stale-backup check the scheduler runs between slots.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveContext } from '../../lib/ops/context.ts';
import { notifyHealth, runScheduledBackup, startScheduler } from '../../lib/ops/schedule.ts';
import { backup } from '../../lib/ops/backup.ts';
import { installFakeTime } from '../scheduler/fake-timers.ts';
import { retentionPolicyFromEnv } from '../../lib/ops/prune.ts';
import { runCli } from '../helpers/cli.ts';
import { startReceiver, type ReceivedCall, type Receiver } from '../helpers/receiver.ts';
import { tempDir, tempSqliteUrl } from '../helpers/db.ts';
import Database from 'better-sqlite3';
import { SMTPServer } from 'smtp-server';

let receiver: Receiver;
let base: string;
let calls: ReceivedCall[];
const SECRET = 'whsec-Very-Secret-42';
const TOKEN = '123456:TG-Token-Secret';

beforeAll(async () => {
  receiver = await startReceiver();
  base = receiver.base;
  calls = receiver.calls;
});
afterAll(() => receiver.close());

const channels = () => ({
  BACKUP_NOTIFY_WEBHOOK_URL: `${base}/hook/tok-abc`,
  BACKUP_NOTIFY_WEBHOOK_SECRET: SECRET,
  BACKUP_NOTIFY_SLACK_URL: `${base}/slack/T000/B000/XXXX`,
  BACKUP_NOTIFY_DISCORD_URL: `${base}/discord/api/webhooks/1/abc`,
  BACKUP_NOTIFY_TEAMS_URL: `${base}/teams/webhookb2/xyz`,
  BACKUP_NOTIFY_TELEGRAM_TOKEN: TOKEN,
  BACKUP_NOTIFY_TELEGRAM_CHAT_ID: '-1001',
  BACKUP_NOTIFY_TELEGRAM_API: `${base}/telegram`,
  BACKUP_NOTIFY_HEALTHCHECK_URL: `${base}/ping/uuid-1`,
});

const since = (n: number) => calls.slice(n);

describe('notify test', () => {
  it('reaches every channel in its own format; the webhook body is signed', async () => {
    const dir = tempDir();
    try {
      const n = calls.length;
      const r = await runCli(['notify', 'test', '--json'], { ...channels(), BACKUP_DIR: dir.dir });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const got = since(n);
      expect(got.map((c) => c.path.split('/')[1]).sort()).toEqual(['discord', 'hook', 'ping', 'slack', 'teams', 'telegram']);
      const hook = got.find((c) => c.path === '/hook/tok-abc')!;
      const body = JSON.parse(hook.body);
      expect(body).toMatchObject({ schema: 'prisma-guard.notification/v1', event: 'test', level: 'info' });
      expect(typeof body.time).toBe('string');
      expect(body).toHaveProperty('database');
      const ts = hook.headers['x-prisma-guard-timestamp'] as string;
      expect(hook.headers['x-prisma-guard-signature']).toBe('sha256=' + createHmac('sha256', SECRET).update(`${ts}.${hook.body}`).digest('hex'));
      expect(JSON.parse(got.find((c) => c.path.startsWith('/slack'))!.body).text).toMatch(/prisma-guard/);
      expect(JSON.parse(got.find((c) => c.path.startsWith('/discord'))!.body).embeds[0].title).toMatch(/test/);
      expect(JSON.parse(got.find((c) => c.path.startsWith('/teams'))!.body).attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
      const tg = got.find((c) => c.path.startsWith('/telegram'))!;
      expect(tg.path).toBe(`/telegram/bot${TOKEN}/sendMessage`);
      expect(JSON.parse(tg.body)).toMatchObject({ chat_id: '-1001' });
      // Nothing the command prints holds a token or the secret.
      expect(r.stdout + r.stderr).not.toMatch(/tok-abc|TG-Token-Secret|whsec|XXXX/);
    } finally {
      dir.remove();
    }
  });

  it('a channel that fails is named, the command exits 15, no token is printed', async () => {
    const dir = tempDir();
    try {
      const r = await runCli(['notify', 'test', '--json'], { BACKUP_DIR: dir.dir, BACKUP_NOTIFY_WEBHOOK_URL: `${base}/broken/tok-zzz`, BACKUP_NOTIFY_SLACK_URL: 'http://127.0.0.1:9/slack/T1/B1/SECRETPATH', BACKUP_NOTIFY_TIMEOUT: '2' });
      expect(r.code, r.stdout + r.stderr).toBe(15);
      const out = JSON.parse(r.stdout);
      expect(out.error.code).toBe('NOTIFY_FAILED');
      expect(out.error.details.deliveries.map((d: { channel: string; outcome: string }) => `${d.channel}:${d.outcome}`).sort()).toEqual(['slack:failed', 'webhook:failed']);
      expect(r.stdout + r.stderr).not.toMatch(/tok-zzz|SECRETPATH/);
    } finally {
      dir.remove();
    }
  }, 60_000);
});

describe('alerts from scheduled backups', () => {
  const slot = (at: string) => ({ at: new Date(at), jobs: ['interval'] });

  it('a failing backup sends one alert per channel; the same failure again is not re-sent within the dedupe interval; the healthcheck hears every start and failure', async () => {
    const dir = tempDir();
    try {
      const env = { BACKUP_NOTIFY_WEBHOOK_URL: `${base}/hook/fail-case`, BACKUP_NOTIFY_HEALTHCHECK_URL: `${base}/ping/fail-case` };
      const ctx = resolveContext({ url: `file:${path.join(dir.dir, 'missing-folder', 'x.db')}`, backupDir: path.join(dir.dir, 'backups'), env });
      const n = calls.length;
      for (const at of ['2026-12-01T06:00:00Z', '2026-12-01T12:00:00Z']) {
        await expect(runScheduledBackup(ctx, slot(at), new AbortController().signal, { policy: retentionPolicyFromEnv({}) })).rejects.toThrow();
      }
      const got = since(n);
      const hooks = got.filter((c) => c.path === '/hook/fail-case').map((c) => JSON.parse(c.body));
      expect(hooks.map((h) => h.event)).toEqual(['backup.failed']);
      expect(hooks[0].level).toBe('critical');
      expect(got.filter((c) => c.path.startsWith('/ping/fail-case')).map((c) => c.path)).toEqual(['/ping/fail-case/start', '/ping/fail-case/fail', '/ping/fail-case/start', '/ping/fail-case/fail']);
    } finally {
      dir.remove();
    }
  }, 60_000);

  it('a full disk (a real 256 KiB tmpfs) fails the scheduled backup with one alert per channel', async () => {
    const mnt = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-notify-full-'));
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', mnt]).status !== 0) {
      console.warn('notify: the disk-full case needs root to mount a tmpfs; skipped here.');
      rmSync(mnt, { recursive: true, force: true });
      return;
    }
    const db = tempSqliteUrl();
    try {
      const d = new Database(db.file);
      d.exec('CREATE TABLE blob (id INTEGER PRIMARY KEY, v BLOB)');
      const ins = d.prepare('INSERT INTO blob (v) VALUES (?)');
      for (let i = 0; i < 8; i++) ins.run(randomBytes(128 * 1024)); // 1 MiB that does not compress
      d.close();
      const env = { BACKUP_NOTIFY_WEBHOOK_URL: `${base}/hook/full`, BACKUP_NOTIFY_SLACK_URL: `${base}/slack/full`, BACKUP_MIN_FREE_MB: '0' };
      const ctx = resolveContext({ url: db.url, backupDir: mnt, env });
      const n = calls.length;
      const err = await runScheduledBackup(ctx, slot('2026-12-01T18:00:00Z'), new AbortController().signal, { policy: retentionPolicyFromEnv({}) }).catch((e) => e);
      expect(err.code).toBe('WRITE_FAILED');
      const got = since(n);
      expect(got.filter((c) => c.path === '/hook/full').map((c) => JSON.parse(c.body).event)).toEqual(['backup.failed']);
      expect(got.filter((c) => c.path === '/slack/full').length).toBe(1);
      expect(JSON.parse(got.find((c) => c.path === '/hook/full')!.body).message).toMatch(/No space left|ENOSPC|disk/i);
    } finally {
      execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
      db.remove();
    }
  }, 60_000);

  it('a receiver that is down does not fail or hold up a backup; a good backup pings success', async () => {
    const dir = tempDir();
    const db = tempSqliteUrl();
    try {
      const d = new Database(db.file);
      d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (1), (2);');
      d.close();
      const env = { BACKUP_NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9/down', BACKUP_NOTIFY_WEBHOOK_EVENTS: 'all', BACKUP_NOTIFY_HEALTHCHECK_URL: `${base}/ping/good` };
      const ctx = resolveContext({ url: db.url, backupDir: path.join(dir.dir, 'backups'), env });
      const n = calls.length;
      const started = Date.now();
      const r = await runScheduledBackup(ctx, slot('2026-12-01T02:00:00Z'), new AbortController().signal, { policy: retentionPolicyFromEnv({}) });
      expect(r.outcome).toBe('succeeded');
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(since(n).map((c) => c.path)).toEqual(['/ping/good/start', '/ping/good']);
    } finally {
      db.remove();
      dir.remove();
    }
  }, 60_000);

  it('the health check between slots sends a stale-backup alert once the newest backup is too old', async () => {
    const dir = tempDir();
    const db = tempSqliteUrl();
    try {
      const d = new Database(db.file);
      d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t DEFAULT VALUES;');
      d.close();
      const backupDir = path.join(dir.dir, 'backups');
      const env = { BACKUP_NOTIFY_WEBHOOK_URL: `${base}/hook/stale`, BACKUP_MAX_AGE: '9h', BACKUP_MIN_FREE_MB: '0' };
      const now = resolveContext({ url: db.url, backupDir, env });
      await runScheduledBackup(now, slot('2026-12-01T02:00:00Z'), new AbortController().signal, { policy: retentionPolicyFromEnv({}) });
      expect(await notifyHealth(now, { env })).not.toContain('backup.stale');
      const later = resolveContext({ url: db.url, backupDir, env, clock: { now: () => new Date(Date.now() + 10 * 3600 * 1000) } });
      const n = calls.length;
      expect(await notifyHealth(later, { env })).toContain('backup.stale');
      const alerts = since(n).filter((c) => c.path === '/hook/stale').map((c) => JSON.parse(c.body));
      expect(alerts.map((a) => a.event)).toEqual(['backup.stale']);
      expect(alerts[0].message).toMatch(/old/);
    } finally {
      db.remove();
      dir.remove();
    }
  }, 60_000);
});

describe('email through SMTP', () => {
  it('a real SMTP server receives the test message; the password never shows', async () => {
    const mails: { from: string; to: string[]; data: string; user?: string }[] = [];
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onAuth(auth, _session, cb) {
        cb(null, { user: auth.username });
      },
      onData(stream, session, cb) {
        let data = '';
        stream.on('data', (d: Buffer) => (data += d.toString()));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), data, user: session.user as string | undefined });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const port = (smtp.server.address() as AddressInfo).port;
    const dir = tempDir();
    try {
      const r = await runCli(['notify', 'test', '--channel', 'email', '--json'], {
        BACKUP_DIR: dir.dir,
        BACKUP_NOTIFY_SMTP_URL: `smtp://alerts:Pa%24%24-smtp-secret@127.0.0.1:${port}`,
        BACKUP_NOTIFY_EMAIL_TO: 'ops@example.test, oncall@example.test',
        BACKUP_NOTIFY_EMAIL_FROM: 'guard@example.test',
      });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(mails).toHaveLength(1);
      expect(mails[0].to.sort()).toEqual(['oncall@example.test', 'ops@example.test']);
      expect(mails[0].from).toBe('guard@example.test');
      expect(mails[0].user).toBe('alerts');
      expect(mails[0].data).toMatch(/Subject: \[prisma-guard OK\] test/);
      expect(r.stdout + r.stderr).not.toMatch(/smtp-secret/);
      expect(JSON.parse(r.stdout).deliveries[0].where).toBe(`smtp://127.0.0.1:${port}`);
    } finally {
      dir.remove();
      await new Promise<void>((r) => smtp.close(() => r()));
    }
  }, 60_000);
});

describe('a running scheduler', () => {
  it('sends a stale-backup alert between slots, on a fake clock, once', async () => {
    const dir = tempDir();
    const db = tempSqliteUrl();
    const d = new Database(db.file);
    d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t DEFAULT VALUES;');
    d.close();
    const backupDir = path.join(dir.dir, 'backups');
    const T0 = Date.parse('2026-06-01T10:00:00Z');
    await backup(resolveContext({ url: db.url, backupDir, env: {}, clock: { now: () => new Date(T0) } }), { reason: 'before' });
    const env = {
      BACKUP_NOTIFY_WEBHOOK_URL: `${base}/hook/scheduler-stale`,
      BACKUP_MAX_AGE: '1h',
      BACKUP_MIN_FREE_MB: '0',
      BACKUP_NOTIFY_CHECK_EVERY: '10min',
      BACKUP_SCHEDULE_DISABLE: 'interval', // only the 02:00 job: no slot between 10:00 and 11:30
    };
    const time = installFakeTime(T0 + 30_000);
    const events: string[] = [];
    const reporter = { info: () => {}, warn: (m: string) => events.push(`warn ${m}`), progress: () => {}, event: (n: string, f?: Record<string, unknown>) => events.push(`${n} ${JSON.stringify(f ?? {})}`) };
    const live = startScheduler(resolveContext({ url: db.url, backupDir, env, reporter, clock: { now: () => new Date(Date.now()) } }), { env });
    const stale = () => calls.filter((c) => c.path === '/hook/scheduler-stale').map((c) => JSON.parse(c.body).event);
    // Real I/O (the status read, the webhook) runs under fake timers: wait in real time, by setImmediate.
    const waitFor = async (cond: () => boolean, ms: number) => {
      const until = performance.now() + ms;
      while (!cond() && performance.now() < until) await new Promise((r) => setImmediate(r));
    };
    try {
      await time.advance(50 * 60_000); // 50 min: the backup is younger than BACKUP_MAX_AGE
      await waitFor(() => false, 1500);
      expect(stale()).toEqual([]);
      for (let m = 0; m < 4; m++) {
        await time.advance(10 * 60_000); // 60-90 min: too old at each check, alerted once (dedupe)
        await waitFor(() => false, 1500);
      }
      expect(stale(), events.join('\n')).toEqual(['backup.stale']);
    } finally {
      await live.stop();
      time.uninstall();
      db.remove();
      dir.remove();
    }
  }, 60_000);
});
