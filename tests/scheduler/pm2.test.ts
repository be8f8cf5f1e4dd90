/**
 * The scheduler under real PM2 (its own daemon, PM2_HOME in a temp folder; `pm2 kill` in afterAll):
 * the ecosystem file starts it, it takes verified backups on a short test schedule (cron with
 * seconds), `pm2 stop` during a backup leaves no partial file and the process exits 0 on its own,
 * and every line of the out log is JSON.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTemporaryName } from '../../lib/format/naming.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { testScheduleEnv } from './test-schedule-env.ts';

const PM2 = path.join(ROOT, 'node_modules/.bin/pm2');
const ECOSYSTEM = path.join(ROOT, 'ecosystem.config.cjs');
const APP = 'backup-scheduler';

const tmp = tempDir('prisma-guard-pm2-');
const PM2_HOME = path.join(tmp.dir, 'pm2');
const BACKUP_DIR = path.join(tmp.dir, 'backups');
const DB_FILE = path.join(tmp.dir, 'big.db');

const appEnv = {
  DATABASE_URL: `file:${DB_FILE}`,
  BACKUP_DIR,
  // A slot every 5 seconds; no daily job; retention off (this test counts backups).
  ...testScheduleEnv(5),
};

function pm2(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(PM2, args, { cwd: ROOT, env: { ...process.env, PM2_HOME, ...appEnv }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

interface Pm2Process {
  name: string;
  pid: number;
  pm2_env: { status: string; pm_out_log_path: string; pm_err_log_path: string; restart_time: number; exit_code?: number; unstable_restarts?: number };
}

function jlist(): Pm2Process[] {
  const r = pm2(['jlist']);
  expect(r.code, r.stderr).toBe(0);
  // pm2 may print a banner before the JSON on first use of a PM2_HOME.
  return JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as Pm2Process[];
}

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function backupFiles(): string[] {
  return fs.existsSync(BACKUP_DIR) ? fs.readdirSync(BACKUP_DIR) : [];
}

beforeAll(() => {
  // Big enough that a backup takes a few seconds, so `pm2 stop` can land in the middle of one.
  const db = new Database(DB_FILE);
  db.exec('CREATE TABLE item (id INTEGER PRIMARY KEY, label TEXT NOT NULL, score REAL)');
  const ins = db.prepare('INSERT INTO item (label, score) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < 400_000; i++) ins.run(randomBytes(24).toString('hex'), i / 7);
  })();
  db.close();
});

afterAll(() => {
  // Always: no daemon may outlive the test run.
  pm2(['kill']);
  tmp.remove();
});

describe('backup scheduler under PM2', () => {
  it('runs from ecosystem.config.cjs, backs up on schedule, stops cleanly mid-backup, logs JSON lines', async () => {
    const start = pm2(['start', ECOSYSTEM]);
    expect(start.code, start.stdout + start.stderr).toBe(0);

    const proc = await until('the app to be online', () => jlist().find((p) => p.name === APP && p.pm2_env.status === 'online'), 20_000, 200);
    const outLog = proc.pm2_env.pm_out_log_path;

    // A complete, verified backup appears when its slot comes.
    const first = await until('a first scheduled backup', () => backupFiles().find((f) => f.endsWith('.manifest.json')), 40_000, 100);
    expect(first).toMatch(/-scheduled-interval\.manifest\.json$/);

    // Wait for the next backup to be in progress (the temporary file of its data, not of a
    // manifest, exists and is growing), then stop PM2's app.
    const dataTemp = (f: string) => isTemporaryName(f) && f.includes('.jsonl.gz.tmp-');
    await until('a backup in progress', () => backupFiles().some(dataTemp), 30_000, 20);
    expect(backupFiles().some(dataTemp), 'stop lands during the backup').toBe(true);
    const t0 = Date.now();
    const stop = pm2(['stop', APP]);
    const stopMs = Date.now() - t0;
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    // Exited on its own, long before the ecosystem's kill_timeout (20 s) would SIGKILL it.
    expect(stopMs).toBeLessThan(10_000);

    const after = jlist().find((p) => p.name === APP)!;
    expect(after.pm2_env.status).toBe('stopped');
    expect(after.pm2_env.restart_time).toBe(0);

    // No partial file: only complete backups, each with its manifest, each verifying.
    const files = backupFiles();
    expect(files.filter((f) => isTemporaryName(f))).toEqual([]);
    const listing = await listBackups(BACKUP_DIR);
    expect(listing.stray).toEqual([]);
    expect(listing.backups.length).toBeGreaterThanOrEqual(1);
    const ctx = resolveContext({ backupDir: BACKUP_DIR, projectDir: ROOT });
    for (const m of listing.backups) {
      const v = await verifyBackup(ctx, m.file, { record: false });
      expect(v.ok, v.error?.message).toBe(true);
      expect(v.rowsTotal).toBe(400_000);
    }

    // Every line PM2 collected is a JSON event; the story is all there.
    const lines = fs.readFileSync(outLog, 'utf8').split('\n').filter((l) => l.length > 0);
    const events = lines.map((l) => {
      try {
        return JSON.parse(l) as { event: string; time: string; [k: string]: unknown };
      } catch {
        throw new Error(`Not a JSON line in ${outLog}: ${l}`);
      }
    });
    const names = events.map((e) => e.event);
    for (const e of events) expect(typeof e.time).toBe('string');
    expect(names[0]).toBe('scheduler.config');
    expect(names).toContain('scheduler.started');
    expect(names).toContain('backup.written');
    expect(names).toContain('verify.done');
    expect(names).toContain('prune.done');
    expect(names).toContain('backup.succeeded');
    expect(names).toContain('backup.aborting');
    const failed = events.filter((e) => e.event === 'backup.failed');
    expect(failed.at(-1)?.aborted).toBe(true);
    expect(names.at(-1)).toBe('scheduler.stopped');
    const written = events.find((e) => e.event === 'backup.written')!;
    expect(written).toMatchObject({ rowsTotal: 400_000, tables: 1 });
    expect(written.sizeBytes).toBeGreaterThan(1000);
    expect(written.durationMs).toBeGreaterThan(0);
    // The error log holds nothing alarming (warnings go to stdout as JSON).
    expect(fs.readFileSync(after.pm2_env.pm_err_log_path, 'utf8')).toBe('');

    // The state file records the aborted run; status does not count a stop as a failure.
    const state = JSON.parse(fs.readFileSync(path.join(BACKUP_DIR, '.scheduler-state.json'), 'utf8'));
    expect(state.lastRun.outcome).toBe('aborted');
    expect(state.lastSuccess.outcome).toBe('succeeded');
  });
});
