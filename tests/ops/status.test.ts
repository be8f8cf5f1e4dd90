/**
 * `status` health and exit codes on real backup folders, and the scheduled run's records it reads:
 * 0 healthy, 1 warning (stale), 2 critical (last run failed, newest backup corrupt, no backup).
 * Scheduled runs are the real runScheduledBackup on SQLite (slot claims, verify, state file).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../lib/core/clock.ts';
import { silentReporter, type Reporter } from '../../lib/core/logger.ts';
import { backup } from '../../lib/ops/backup.ts';
import { connect } from '../../lib/dialects/index.ts';
import { OPERATION_LOCK, resolveContext } from '../../lib/ops/context.ts';
import { runScheduledBackup } from '../../lib/ops/schedule.ts';
import { readSchedulerState } from '../../lib/ops/scheduler-state.ts';
import { sqliteRecordPath } from '../../lib/ops/slot-ledger.ts';
import { getStatus, longestScheduleGapMs } from '../../lib/ops/status.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { DEFAULT_POLICY } from '../../lib/policy/retention.ts';
import { parseScheduleConfig } from '../../lib/scheduler/schedule.ts';
import { ROOT, runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const HOUR = 3_600_000;
const tmp = tempDir('prisma-guard-status-');
const DB = path.join(tmp.dir, 'app.db');
const URL = `file:${DB}`;
// Free-space thresholds off: the disk of the test machine is not what these tests are about.
const ENV = { DATABASE_URL: URL, BACKUP_MIN_FREE_MB: '0' };
const never = new AbortController().signal;

function events(): { reporter: Reporter; list: Array<{ name: string; fields: Record<string, unknown> }> } {
  const list: Array<{ name: string; fields: Record<string, unknown> }> = [];
  return {
    list,
    reporter: { ...silentReporter, event: (name, fields = {}) => void list.push({ name, fields }) },
  };
}

function dir(name: string): string {
  return path.join(tmp.dir, name);
}

async function status(backupDir: string, extra: Record<string, string> = {}) {
  const r = await runCli(['status', '--json'], { ...ENV, BACKUP_DIR: backupDir, ...extra });
  return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr };
}

beforeAll(() => {
  const db = new Database(DB);
  db.exec(`CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO note (body) VALUES ('a'), ('b');`);
  db.close();
});
afterAll(() => tmp.remove());

describe('scheduled runs', () => {
  it('a slot is backed up, verified, pruned and recorded; the same slot again is taken elsewhere', async () => {
    const ev = events();
    const ctx = resolveContext({ url: URL, backupDir: dir('a'), projectDir: ROOT, reporter: ev.reporter, env: {} });
    const slot = { at: new Date(Math.floor(Date.now() / HOUR) * HOUR), jobs: ['interval'] };
    const r = await runScheduledBackup(ctx, slot, never, { policy: DEFAULT_POLICY });
    expect(r).toMatchObject({ outcome: 'succeeded', verified: true, rowsTotal: 2 });
    expect(r.file).toMatch(/-scheduled-interval\.jsonl\.gz$/);
    expect(ev.list.map((e) => e.name)).toEqual(['backup.written', 'verify.done', 'prune.done']);
    const { state } = await readSchedulerState(dir('a'));
    expect(state?.lastRun).toMatchObject({ outcome: 'succeeded', file: r.file, slot: slot.at.toISOString(), verified: true });

    // A second process (another BACKUP_DIR, same SQLite database) at the same slot does nothing.
    const ev2 = events();
    const ctx2 = resolveContext({ url: URL, backupDir: dir('a2'), projectDir: ROOT, reporter: ev2.reporter, env: {} });
    const again = await runScheduledBackup(ctx2, slot, never, { policy: DEFAULT_POLICY });
    expect(again.outcome).toBe('taken-elsewhere');
    expect(again.takenBy).toContain(r.file!);
    expect((await readSchedulerState(dir('a2'))).state?.lastRun?.outcome).toBe('taken-elsewhere');
    expect(fs.readdirSync(dir('a2')).filter((f) => f.endsWith('.gz'))).toEqual([]);
    expect(JSON.parse(fs.readFileSync(sqliteRecordPath(DB), 'utf8')).slots[slot.at.toISOString()].file).toBe(r.file);

    // Healthy: fresh verified backup, last run succeeded.
    const s = await status(dir('a'));
    expect(s.code, JSON.stringify(s.report.reasons)).toBe(0);
    expect(s.report.health).toBe('HEALTHY');
    expect(s.report.last).toMatchObject({ file: r.file, rowsTotal: 2, verified: true });
    expect(s.report.backups).toMatchObject({ count: 1, verified: 1 });
    expect(s.report.schedule.nextRuns).toHaveLength(5);
    expect(s.report.tiers).toMatchObject({ hourly: 1, daily: 1, weekly: 1, monthly: 1, newest: 1, 'newest-verified': 1, remove: 0 });
    const words = await runCli(['status'], { ...ENV, BACKUP_DIR: dir('a') });
    expect(words.code).toBe(0);
    expect(words.stdout).toMatch(/^HEALTHY/);
    expect(words.stdout).toContain('Next runs:');
  });

  it('a failed run is recorded with its reason and makes status CRITICAL (exit 2) until a run succeeds', async () => {
    const d = dir('b');
    const ctxOk = resolveContext({ url: URL, backupDir: d, projectDir: ROOT, env: {} });
    await runScheduledBackup(ctxOk, { at: new Date(Date.now() - 60_000), jobs: ['interval'] }, never, { policy: DEFAULT_POLICY });
    // The database vanished (wrong path): the run fails, the scheduler would try again next slot.
    const bad = resolveContext({ url: `file:${path.join(tmp.dir, 'missing', 'gone.db')}`, backupDir: d, projectDir: ROOT, env: {} });
    await expect(runScheduledBackup(bad, { at: new Date(), jobs: ['daily'] }, never, { policy: DEFAULT_POLICY })).rejects.toThrow();
    const { state } = await readSchedulerState(d);
    expect(state?.lastRun?.outcome).toBe('failed');
    expect(state?.lastRun?.error).toBeTruthy();
    expect(state?.consecutiveFailures).toBe(1);
    expect(state?.lastSuccess?.outcome).toBe('succeeded');

    const s = await status(d);
    expect(s.code).toBe(2);
    expect(s.report.health).toBe('CRITICAL');
    expect(s.report.reasons.map((x: { code: string }) => x.code)).toEqual(['last-run-failed']);
    expect(s.report.reasons[0].message).toContain(state!.lastRun!.error!.slice(0, 40));

    await runScheduledBackup(ctxOk, { at: new Date(Date.now() + 1000), jobs: ['interval'] }, never, { policy: DEFAULT_POLICY });
    expect((await status(d)).code).toBe(0);
  });

  it('an aborted run leaves no file and is not a failure', async () => {
    const d = dir('c');
    const ctx = resolveContext({ url: URL, backupDir: d, projectDir: ROOT, env: {} });
    const ac = new AbortController();
    ac.abort(new Error('stopping'));
    await expect(runScheduledBackup(ctx, { at: new Date(), jobs: ['interval'] }, ac.signal, { policy: DEFAULT_POLICY })).rejects.toThrow();
    expect((await readSchedulerState(d)).state?.lastRun?.outcome).toBe('aborted');
    expect(fs.readdirSync(d).filter((f) => f !== '.scheduler-state.json')).toEqual([]);
  });

  it('a stop while waiting for another operation (a migration holding the lock) ends the wait at once', async () => {
    const d = dir('waiting');
    const ctx = resolveContext({ url: URL, backupDir: d, projectDir: ROOT, env: {} });
    const conn = await connect(ctx.target);
    const held = await conn.lock(OPERATION_LOCK, 0);
    try {
      const ac = new AbortController();
      const t0 = Date.now();
      const run = runScheduledBackup(ctx, { at: new Date(), jobs: ['interval'] }, ac.signal, { policy: DEFAULT_POLICY, lockWaitMs: 60_000 });
      setTimeout(() => ac.abort(), 500);
      await expect(run).rejects.toThrow(/stopping/);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect((await readSchedulerState(d)).state?.lastRun?.outcome).toBe('aborted');
      expect(fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.gz')) : []).toEqual([]);
    } finally {
      await held.release();
      await conn.close();
    }
  });
});

describe('status health', () => {
  it('WARNING (exit 1) when the newest backup is older than the schedule allows', async () => {
    const d = dir('stale');
    const clock = new FakeClock(Date.now() - 10 * HOUR);
    const ctx = resolveContext({ url: URL, backupDir: d, projectDir: ROOT, clock, env: {} });
    const f = (await backup(ctx, { reason: 'scheduled-interval' })).manifest.file;
    expect((await verifyBackup(ctx, f)).ok).toBe(true);
    // Default schedule: every 6 h plus 02:00, so the limit is 1.5 x 6 h = 9 h.
    const s = await status(d);
    expect(s.code).toBe(1);
    expect(s.report.health).toBe('WARNING');
    expect(s.report.maxAgeMs).toBe(9 * HOUR);
    expect(s.report.reasons.map((x: { code: string }) => x.code)).toEqual(['stale']);
    // A looser BACKUP_MAX_AGE makes the same folder healthy.
    expect((await status(d, { BACKUP_MAX_AGE: '1d' })).code).toBe(0);
  });

  it('CRITICAL (exit 2) when the newest backup fails verification, or there is none', async () => {
    const d = dir('corrupt');
    const ctx = resolveContext({ url: URL, backupDir: d, projectDir: ROOT, env: {} });
    const f = (await backup(ctx, { reason: 'manual' })).manifest.file;
    const p = path.join(d, f);
    const bytes = fs.readFileSync(p);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(p, bytes);
    expect((await verifyBackup(ctx, f)).ok).toBe(false);
    const s = await status(d);
    expect(s.code).toBe(2);
    expect(s.report.reasons.map((x: { code: string }) => x.code).sort()).toEqual(['no-backup', 'verify-failed']);

    const empty = await status(dir('empty'));
    expect(empty.code).toBe(2);
    expect(empty.report.reasons.map((x: { code: string }) => x.code)).toEqual(['no-backup']);
  });

  it('reports low disk space, stray files and the expected interval of any schedule', async () => {
    const d = dir('a');
    const s = await getStatus(resolveContext({ url: URL, backupDir: d, projectDir: ROOT, env: {} }), { env: {}, minFreeBytes: Number.MAX_SAFE_INTEGER });
    expect(s.health).toBe('WARNING');
    expect(s.reasons.map((r) => r.code)).toEqual(['disk-low']);
    expect(s.disk!.freeBytes).toBeGreaterThan(0);

    const orphan = 'backup-2020-01-01T00-00-00-000Z-manual.manifest.json';
    fs.writeFileSync(path.join(d, orphan), '{}');
    const s2 = await getStatus(resolveContext({ url: URL, backupDir: d, projectDir: ROOT, env: {} }), { env: {}, minFreeBytes: 0 });
    expect(s2.reasons.map((r) => r.code)).toEqual(['stray-files']);
    fs.rmSync(path.join(d, orphan));

    const now = new Date('2026-03-02T12:00:00Z');
    expect(longestScheduleGapMs(parseScheduleConfig({}).jobs, now)).toBe(6 * HOUR);
    expect(longestScheduleGapMs(parseScheduleConfig({ BACKUP_SCHEDULE_DISABLE: 'interval' }).jobs, now)).toBe(24 * HOUR);
    expect(longestScheduleGapMs(parseScheduleConfig({ BACKUP_SCHEDULE_DISABLE: 'daily', BACKUP_SCHEDULE_INTERVAL: '0 3 * * 1' }).jobs, now)).toBe(7 * 24 * HOUR);
  });
});
