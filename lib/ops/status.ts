import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Duration } from 'luxon';
import type { BackupManifest } from '../format/manifest.ts';
import { parseDuration, type RetentionPolicy } from '../policy/retention.ts';
import { describeSlot, nextRuns, parseScheduleConfig, runsBetween, type ScheduleConfig, type ScheduleJob } from '../scheduler/schedule.ts';
import type { OpsContext } from './context.ts';
import { backupDirExposure, describeExposure } from './folder-mode.ts';
import { prune, retentionPolicyFromEnv } from './prune.ts';
import { readSchedulerState, type SchedulerState } from './scheduler-state.ts';
import { listBackups, type StrayFile } from './store.ts';

export type Health = 'HEALTHY' | 'WARNING' | 'CRITICAL';

/** Exit codes of `prisma-guard status`, for monitoring (Nagios-style). */
export const HEALTH_EXIT_CODE: Record<Health, number> = { HEALTHY: 0, WARNING: 1, CRITICAL: 2 };

export interface HealthReason {
  level: Exclude<Health, 'HEALTHY'>;
  /** Stable identifier: no-backup, stale, last-run-failed, verify-failed, old-verify-failed, prune-failed, stray-files, disk-low, state-unreadable, backup-dir-open. */
  code: string;
  message: string;
}

export interface BackupSummary {
  file: string;
  createdAt: string;
  ageMs: number;
  reason: string;
  sizeBytes: number;
  durationMs: number;
  rowsTotal: number;
  verified: boolean | null;
  pinned: boolean;
}

export interface StatusReport {
  health: Health;
  /** Why the health is not HEALTHY, worst first. */
  reasons: HealthReason[];
  now: string;
  backupDir: string;
  backups: { count: number; totalBytes: number; verified: number; failedVerification: number; pinned: number };
  last: BackupSummary | null;
  lastVerified: BackupSummary | null;
  /** Newest backup must be younger than this (from the schedule or BACKUP_MAX_AGE). */
  maxAgeMs: number;
  scheduler: { state: SchedulerState | null; problem?: string };
  schedule: { jobs: ScheduleJob[]; nextRuns: Array<Record<string, unknown>> };
  /**
   * How many backups each retention rule keeps (`hourly`, `daily`, `weekly`, `monthly`, `pinned`,
   * `newest`, `newest-verified`); a backup kept by several rules counts in each. `remove`: how many
   * the next prune deletes; `report`: files retention leaves for a human.
   */
  tiers: Record<string, number>;
  stray: StrayFile[];
  disk: { freeBytes: number; totalBytes: number; minFreeBytes: number } | null;
}

export interface StatusOptions {
  env?: Record<string, string | undefined>;
  schedule?: ScheduleConfig;
  policy?: RetentionPolicy;
  /** Newest backup older than this is WARNING (default: BACKUP_MAX_AGE, else 1.5 × the longest gap between scheduled slots). */
  maxAgeMs?: number;
  /** Free space under this is WARNING (default: BACKUP_MIN_FREE_MB, else 1024 MiB). */
  minFreeBytes?: number;
}

/** Environment variables read by `status` (besides the schedule's and retention's). */
export const STATUS_ENV = {
  maxAge: 'BACKUP_MAX_AGE',
  minFreeMb: 'BACKUP_MIN_FREE_MB',
} as const;

const HOUR = 3_600_000;
/** A temporary backup file younger than this may belong to a running backup: not a problem yet. */
const UNFINISHED_GRACE_MS = HOUR;

/**
 * Longest time between two consecutive slots of the schedule (over the next 8 days, which covers
 * weekly patterns); 25 h when nothing is scheduled.
 */
export function longestScheduleGapMs(jobs: readonly ScheduleJob[], now: Date): number {
  if (jobs.length === 0) return 25 * HOUR;
  let slots = runsBetween(jobs, now, new Date(now.getTime() + 8 * 24 * HOUR));
  if (slots.length < 3) slots = nextRuns(jobs, now, 3);
  let gap = 0;
  for (let i = 1; i < slots.length; i++) gap = Math.max(gap, slots[i].at.getTime() - slots[i - 1].at.getTime());
  return gap || 25 * HOUR;
}

function durationMs(text: string, name: string): number {
  const d = parseDuration(text);
  if (!d) throw new Error(`${name} must be a positive duration such as 9h or 1d`);
  return Duration.fromObject(d).as('milliseconds');
}

function summary(m: BackupManifest, now: Date): BackupSummary {
  return {
    file: m.file,
    createdAt: m.createdAt,
    ageMs: now.getTime() - Date.parse(m.createdAt),
    reason: m.reason,
    sizeBytes: m.sizeBytes,
    durationMs: m.durationMs,
    rowsTotal: m.rowsTotal,
    verified: m.verification ? m.verification.ok : null,
    pinned: m.pinned,
  };
}

function ago(ms: number): string {
  const h = ms / HOUR;
  return h >= 48 ? `${(h / 24).toFixed(1)} days` : h >= 1 ? `${h.toFixed(1)} h` : `${Math.round(ms / 60_000)} min`;
}

async function diskOf(dir: string): Promise<{ freeBytes: number; totalBytes: number } | null> {
  // The folder may not exist yet: measure the nearest existing parent (the same filesystem it will be on).
  let p = path.resolve(dir);
  for (;;) {
    try {
      const s = await fs.statfs(p);
      return { freeBytes: Number(s.bavail) * Number(s.bsize), totalBytes: Number(s.blocks) * Number(s.bsize) };
    } catch (e) {
      const parent = path.dirname(p);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) return null;
      p = parent;
    }
  }
}

/**
 * The health of the backups in `ctx.backupDir`, for humans and monitoring. Reads manifests, the
 * scheduler's state file and the filesystem; never the database, never a backup's contents.
 *
 * CRITICAL: no backup at all; the scheduler's last run failed; the newest backup failed
 * verification; free space below 1.2 × the newest backup (the next one would not fit).
 * WARNING: the newest backup is older than the expected interval; an older backup failed
 * verification; the last prune failed; stray files (no/bad manifest, unfinished writes older than
 * an hour); free space under the threshold or under 3 × the newest backup; a backup folder that
 * group or others can read, write or enter.
 */
export async function getStatus(ctx: OpsContext, options: StatusOptions = {}): Promise<StatusReport> {
  const env = options.env ?? process.env;
  const now = ctx.clock.now();
  const schedule = options.schedule ?? parseScheduleConfig(env);
  const policy = options.policy ?? retentionPolicyFromEnv(env);
  const maxAgeMs = options.maxAgeMs ?? (env[STATUS_ENV.maxAge]?.trim() ? durationMs(env[STATUS_ENV.maxAge]!.trim(), STATUS_ENV.maxAge) : Math.round(1.5 * longestScheduleGapMs(schedule.jobs, now)));
  const minFreeMb = env[STATUS_ENV.minFreeMb]?.trim() ? Number(env[STATUS_ENV.minFreeMb]) : 1024;
  const minFreeBytes = options.minFreeBytes ?? (Number.isFinite(minFreeMb) && minFreeMb >= 0 ? minFreeMb * 1024 * 1024 : 1024 * 1024 * 1024);

  const listing = await listBackups(ctx.backupDir);
  const plan = await prune(ctx, { policy, dryRun: true });
  const scheduler = await readSchedulerState(ctx.backupDir);
  const disk = await diskOf(ctx.backupDir);
  const reasons: HealthReason[] = [];
  const crit = (code: string, message: string) => reasons.push({ level: 'CRITICAL', code, message });
  const warn = (code: string, message: string) => reasons.push({ level: 'WARNING', code, message });

  const backups = listing.backups;
  const usable = backups.filter((m) => m.verification?.ok !== false);
  const newest = usable[0] ?? null;
  const lastVerified = backups.find((m) => m.verification?.ok === true) ?? null;

  if (!newest) {
    crit('no-backup', backups.length ? `None of the ${backups.length} backups in ${ctx.backupDir} passed verification.` : `There is no backup in ${ctx.backupDir}.`);
  } else {
    const age = now.getTime() - Date.parse(newest.createdAt);
    if (age > maxAgeMs) warn('stale', `The newest backup (${newest.file}) is ${ago(age)} old; one is expected at least every ${ago(maxAgeMs)}.`);
  }
  const latest = backups[0];
  if (latest && latest.verification?.ok === false) {
    crit('verify-failed', `The newest backup ${latest.file} failed verification at ${latest.verification.at}: ${latest.verification.error ?? 'no detail'}.`);
  }
  const olderFailed = backups.slice(1).filter((m) => m.verification?.ok === false);
  if (olderFailed.length) warn('old-verify-failed', `${olderFailed.length} older backup(s) failed verification: ${olderFailed.map((m) => m.file).join(', ')}.`);

  const state = scheduler.state;
  if (scheduler.problem) warn('state-unreadable', `The scheduler state cannot be read: ${scheduler.problem}.`);
  if (state?.lastRun?.outcome === 'failed') {
    crit('last-run-failed', `The last scheduled run (slot ${state.lastRun.slot}, ${state.consecutiveFailures} failure(s) in a row) failed: ${state.lastRun.error ?? 'no detail'}.`);
  } else if (state?.lastRun?.pruneError) {
    warn('prune-failed', `The last prune failed: ${state.lastRun.pruneError}.`);
  }

  const strayNow: StrayFile[] = [];
  for (const s of listing.stray) {
    if (s.problem === 'unfinished') {
      try {
        const st = await fs.stat(path.join(ctx.backupDir, s.file));
        if (now.getTime() - st.mtimeMs < UNFINISHED_GRACE_MS) continue;
      } catch {
        continue; // gone meanwhile: the backup finished or was cleaned up
      }
    }
    strayNow.push(s);
  }
  if (strayNow.length) warn('stray-files', `${strayNow.length} file(s) in the backup folder are not complete backups: ${strayNow.map((s) => `${s.file} (${s.problem})`).join(', ')}.`);

  if (disk) {
    const size = newest?.sizeBytes ?? 0;
    if (size > 0 && disk.freeBytes < 1.2 * size) {
      crit('disk-low', `Only ${disk.freeBytes} bytes are free for backups; the newest backup took ${size}, so the next one will not fit.`);
    } else if (disk.freeBytes < Math.max(minFreeBytes, 3 * size)) {
      warn('disk-low', `Only ${disk.freeBytes} bytes are free on the backup folder's filesystem (threshold ${Math.max(minFreeBytes, 3 * size)}).`);
    }
  }

  const exposure = await backupDirExposure(ctx.backupDir);
  if (exposure) warn('backup-dir-open', describeExposure(exposure));

  const tiers: Record<string, number> = { hourly: 0, daily: 0, weekly: 0, monthly: 0, pinned: 0, newest: 0, 'newest-verified': 0, remove: 0, report: 0 };
  for (const e of plan.entries) {
    if (e.action !== 'keep') {
      tiers[e.action]++;
      continue;
    }
    for (const why of e.why) {
      const key = why.startsWith('pinned') ? 'pinned' : why === 'newest backup' ? 'newest' : why === 'newest verified backup' ? 'newest-verified' : why.split(' ')[0];
      tiers[key] = (tiers[key] ?? 0) + 1;
    }
  }

  reasons.sort((a, b) => (a.level === b.level ? 0 : a.level === 'CRITICAL' ? -1 : 1));
  const health: Health = reasons.some((r) => r.level === 'CRITICAL') ? 'CRITICAL' : reasons.length ? 'WARNING' : 'HEALTHY';
  const nextRunsOut = nextRuns(schedule.jobs, now, 5).map((s) => describeSlot(s, schedule.jobs));
  return {
    health,
    reasons,
    now: now.toISOString(),
    backupDir: ctx.backupDir,
    backups: {
      count: backups.length,
      totalBytes: backups.reduce((n, m) => n + m.sizeBytes, 0),
      verified: backups.filter((m) => m.verification?.ok === true).length,
      failedVerification: backups.filter((m) => m.verification?.ok === false).length,
      pinned: backups.filter((m) => m.pinned).length,
    },
    last: newest ? summary(newest, now) : null,
    lastVerified: lastVerified ? summary(lastVerified, now) : null,
    maxAgeMs,
    scheduler,
    schedule: { jobs: schedule.jobs, nextRuns: nextRunsOut },
    tiers,
    stray: strayNow,
    disk: disk ? { ...disk, minFreeBytes } : null,
  };
}
