import { promises as fs } from 'node:fs';
import path from 'node:path';
import { messageOf } from '../core/errors.ts';
import { listLocation } from './offsite.ts';
import { drillHistory, drillInterval, type DrillRecord } from './drill.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { durationMsOf, type RetentionPolicy } from '../policy/retention.ts';
import { savedScheduleConfig } from './schedule-file.ts';
import { describeSlot, nextRuns, parseScheduleConfig, runsBetween, type ScheduleConfig, type ScheduleJob } from '../scheduler/schedule.ts';
import type { OpsContext } from './context.ts';
import { backupDirExposure, describeExposure } from './folder-mode.ts';
import { prune, retentionPolicyFromEnv } from './prune.ts';
import { readSchedulerState, type SchedulerState } from './scheduler-state.ts';
import { sectionsOf } from '../format/sections.ts';
import type { StrayFile } from './store.ts';
import { primaryListing } from './primary.ts';
import { createPublicKey } from 'node:crypto';
import { checkSignature, keyIdOf } from '../format/signature.ts';
import { groupByDatabase, matchesDatabase } from './list.ts';
import { describeLocation, describeScope, sameLocation, targetLocation, type SourceLocation } from '../format/source.ts';

export type Health = 'HEALTHY' | 'WARNING' | 'CRITICAL';

/** Exit codes of `prisma-guard status`, for monitoring (Nagios-style). */
export const HEALTH_EXIT_CODE: Record<Health, number> = { HEALTHY: 0, WARNING: 1, CRITICAL: 2 };

export interface HealthReason {
  level: Exclude<Health, 'HEALTHY'>;
  /** Stable identifier: no-backup, stale, last-run-failed, verify-failed, old-verify-failed, unsigned, prune-failed, stray-files, disk-low, state-unreadable, backup-dir-open, offsite-missing, offsite-lag, offsite-unreachable, drill-failed, drill-overdue. */
  code: string;
  message: string;
}

export interface BackupSummary {
  file: string;
  createdAt: string;
  ageMs: number;
  reason: string;
  kind: string;
  scope: string;
  database: string;
  sizeBytes: number;
  durationMs: number;
  rowsTotal: number | null;
  verified: boolean | null;
  pinned: boolean;
}

export interface StatusReport {
  health: Health;
  /** Why the health is not HEALTHY, worst first. */
  reasons: HealthReason[];
  now: string;
  /** The backup folder; with an object-storage BACKUP_DIR, its local working folder (see `location`). */
  backupDir: string;
  /** Where backups live: the folder, or the object-storage BACKUP_DIR (`s3://...`). */
  location: string;
  /** Backups written but not uploaded yet to an object-storage BACKUP_DIR (kept in the working folder). */
  pending: string[];
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
  /** Per source database in the folder; `watched` ones decide the health. */
  databases: DatabaseStatus[];
  /** The newest restore drills (lib/ops/drill.ts), newest first; `rtoTrendMs` the RTO of each, oldest first. */
  drills?: { last: DrillRecord | null; lastPassed: DrillRecord | null; everyMs: number | null; rtoTrendMs: number[] };
  /** BACKUP_COPY_TO: the newest copy there, and how far it lags the newest full backup here. */
  offsite?: { location: string; count: number; newest: BackupSummary | null; lagMs: number | null; error?: string };
}

export interface DatabaseStatus {
  database: string;
  label: string;
  /** Decides the health: the database DATABASE_URL names, or matches --database, or (neither given) has full backups. */
  watched: boolean;
  count: number;
  /** Full backups of regular kinds (what `latest` may restore). */
  full: number;
  last: BackupSummary | null;
  lastVerified: BackupSummary | null;
}

export interface StatusOptions {
  env?: Record<string, string | undefined>;
  schedule?: ScheduleConfig;
  policy?: RetentionPolicy;
  /** Newest backup older than this is WARNING (default: BACKUP_MAX_AGE, else 1.5 × the longest gap between scheduled slots). */
  maxAgeMs?: number;
  /** Free space under this is WARNING (default: BACKUP_MIN_FREE_MB, else 1024 MiB). */
  minFreeBytes?: number;
  /** Only the databases matching this (list.ts matchesDatabase). */
  database?: string;
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


/** A full backup of a regular kind: what `latest` may restore. */
function isWhole(m: BackupManifest): boolean {
  return m.scope.type === 'full' && m.kind !== 'pre-restore' && m.kind !== 'pre-delete';
}

/** The location the configured URL names, without connecting; null when no URL is set. */
function urlLocation(ctx: OpsContext): SourceLocation | null {
  try {
    return targetLocation(ctx.target);
  } catch {
    return null;
  }
}

function summary(m: BackupManifest, now: Date): BackupSummary {
  return {
    file: m.file,
    createdAt: m.createdAt,
    ageMs: now.getTime() - Date.parse(m.createdAt),
    reason: m.reason,
    kind: m.kind,
    scope: describeScope(m.scope),
    database: describeLocation(m.source),
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
  // The dashboard's saved schedules (lib/ops/schedule-file.ts), when there are any, are what runs.
  const schedule = options.schedule ?? savedScheduleConfig(ctx.backupDir) ?? parseScheduleConfig(env);
  const policy = options.policy ?? retentionPolicyFromEnv(env);
  const maxAgeMs = options.maxAgeMs ?? (env[STATUS_ENV.maxAge]?.trim() ? durationMsOf(env[STATUS_ENV.maxAge]!.trim(), STATUS_ENV.maxAge) : Math.round(1.5 * longestScheduleGapMs(schedule.jobs, now)));
  const minFreeMb = env[STATUS_ENV.minFreeMb]?.trim() ? Number(env[STATUS_ENV.minFreeMb]) : 1024;
  const minFreeBytes = options.minFreeBytes ?? (Number.isFinite(minFreeMb) && minFreeMb >= 0 ? minFreeMb * 1024 * 1024 : 1024 * 1024 * 1024);

  const listing = await primaryListing(ctx);
  const plan = await prune(ctx, { policy, dryRun: true });
  const scheduler = await readSchedulerState(ctx.backupDir);
  const disk = await diskOf(ctx.backupDir);
  const reasons: HealthReason[] = [];
  const crit = (code: string, message: string) => reasons.push({ level: 'CRITICAL', code, message });
  const warn = (code: string, message: string) => reasons.push({ level: 'WARNING', code, message });

  // Health is about the full backups (what `latest` restores) of each database that is watched:
  // the one DATABASE_URL names, or those matching --database, or else every database with a full
  // backup in the folder. Other databases' backups (a copy restored once) are listed, not judged.
  const groups = groupByDatabase(listing.backups).filter((g) => matchesDatabase(g, options.database));
  const targetAt = urlLocation(ctx);
  const watched = options.database ? groups : targetAt ? groups.filter((g) => g.backups.some((m) => sameLocation(m.source, targetAt))) : groups.filter((g) => g.backups.some(isWhole));
  const backups = watched.flatMap((g) => g.backups);
  const databases: DatabaseStatus[] = groups.map((g) => {
    const whole = g.backups.filter(isWhole);
    const newestWhole = whole.find((m) => m.verification?.ok !== false) ?? null;
    const verified = whole.find((m) => m.verification?.ok === true) ?? null;
    return { database: g.database, label: g.label, watched: watched.includes(g), count: g.backups.length, full: whole.length, last: newestWhole ? summary(newestWhole, now) : null, lastVerified: verified ? summary(verified, now) : null };
  });
  const watchedStatus = databases.filter((d) => d.watched);
  if (!watchedStatus.length) {
    const what = targetAt ? `of ${describeLocation(targetAt)} ` : options.database ? `of a database matching "${options.database}" ` : '';
    crit('no-backup', `There is no backup ${what}in ${listing.location}.`);
  }
  for (const g of watched) {
    const label = watched.length > 1 || targetAt ? ` of ${g.label}` : '';
    const whole = g.backups.filter(isWhole);
    const newestWhole = whole.find((m) => m.verification?.ok !== false);
    if (!newestWhole) {
      crit('no-backup', whole.length ? `None of the ${whole.length} full backups${label} in ${listing.location} passed verification.` : `There is no full backup${label} in ${listing.location} (only ${g.backups.map((m) => m.kind).join(', ')}).`);
    } else {
      const age = now.getTime() - Date.parse(newestWhole.createdAt);
      if (age > maxAgeMs) warn('stale', `The newest full backup${label} (${newestWhole.file}) is ${ago(age)} old; one is expected at least every ${ago(maxAgeMs)}.`);
    }
    if (whole[0] && whole[0].verification?.ok === false) {
      crit('verify-failed', `The newest full backup${label} ${whole[0].file} failed verification at ${whole[0].verification.at}: ${whole[0].verification.error ?? 'no detail'}.`);
    }
  }
  const newest = watchedStatus[0]?.last ?? null;
  const lastVerified = watchedStatus[0]?.lastVerified ?? null;
  const latestFailed = new Set(watched.map((g) => g.backups.find(isWhole)?.file));
  const olderFailed = backups.filter((m) => m.verification?.ok === false && !latestFailed.has(m.file));
  if (olderFailed.length) warn('old-verify-failed', `${olderFailed.length} older backup(s) failed verification: ${olderFailed.map((m) => m.file).join(', ')}.`);

  // Signing configured: every watched backup should carry a valid signature (restores refuse the others).
  const keys = ctx.keys;
  const trusted = keys?.trusted ?? (keys?.signing ? [{ keyId: keyIdOf(createPublicKey(keys.signing)), key: createPublicKey(keys.signing) }] : null);
  if (trusted) {
    const bad = backups.filter((m) => checkSignature(m, trusted) !== 'valid');
    if (bad.length) warn('unsigned', `${bad.length} backup(s) are not signed by a trusted key, so restores refuse them: ${bad.slice(0, 5).map((m) => `${m.file} (${checkSignature(m, trusted)})`).join(', ')}${bad.length > 5 ? ', …' : ''}.`);
  }

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
  if (listing.pending.length) warn('not-uploaded', `${listing.pending.length} backup(s) are only in the working folder ${ctx.backupDir}: their upload to ${listing.location} failed (${listing.pending.join(', ')}). The next backup uploads them again.`);
  if (strayNow.length) warn('stray-files', `${strayNow.length} file(s) in the backup folder are not complete backups: ${strayNow.map((s) => `${s.file} (${s.problem})`).join(', ')}.`);

  if (disk) {
    // An incremental backup's own file is small; the next one may have to write every section again.
    const size = newest ? newest.sizeBytes + (listing.backups.find((m) => m.file === newest.file)?.sections ?? []).reduce((n, r) => n + r.size, 0) : 0;
    if (size > 0 && disk.freeBytes < 1.2 * size) {
      crit('disk-low', `Only ${disk.freeBytes} bytes are free for backups; the newest backup took ${size}, so the next one will not fit.`);
    } else if (disk.freeBytes < Math.max(minFreeBytes, 3 * size)) {
      warn('disk-low', `Only ${disk.freeBytes} bytes are free on the backup folder's filesystem (threshold ${Math.max(minFreeBytes, 3 * size)}).`);
    }
  }

  // Offsite: the newest full backup here must also be there, within the schedule's allowance.
  let offsite: StatusReport['offsite'];
  if (ctx.copyTo) {
    const location = ctx.copyTo.location;
    try {
      const remote = (await listLocation(ctx.copyTo)).filter((m) => watched.some((g) => g.backups.some((b) => sameLocation(b.source, m.source))));
      const newestThere = remote.find(isWhole) ?? null;
      const newestHere = watched.flatMap((g) => g.backups.filter(isWhole)).sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
      const lagMs = newestHere ? (newestThere ? Math.max(0, Date.parse(newestHere.createdAt) - Date.parse(newestThere.createdAt)) : now.getTime() - Date.parse(newestHere.createdAt)) : null;
      offsite = { location, count: remote.length, newest: newestThere ? summary(newestThere, now) : null, lagMs };
      if (newestHere && !newestThere) warn('offsite-missing', `There is no copy of a full backup in ${location} (BACKUP_COPY_TO); run \`prisma-guard copy --all\`.`);
      else if (lagMs !== null && lagMs > maxAgeMs) warn('offsite-lag', `The newest copy in ${location} (${newestThere!.file}) is ${ago(lagMs)} older than the newest full backup here; run \`prisma-guard copy --all\`.`);
    } catch (e) {
      offsite = { location, count: 0, newest: null, lagMs: null, error: messageOf(e) };
      warn('offsite-unreachable', `The offsite location ${location} cannot be read: ${messageOf(e)}.`);
    }
  }

  // Drills: a failed last drill is a warning; so is none passing within BACKUP_DRILL_EVERY when set.
  const history = await drillHistory(ctx.backupDir);
  const drillEveryMs = drillInterval(env.BACKUP_DRILL_EVERY);
  const lastPassed = history.find((d) => d.ok) ?? null;
  if (history[0] && !history[0].ok) warn('drill-failed', `The last restore drill (${history[0].startedAt}) failed: ${history[0].error ?? 'no detail'}.`);
  else if (drillEveryMs !== null && (!lastPassed || now.getTime() - Date.parse(lastPassed.startedAt) > drillEveryMs * 1.5)) {
    warn('drill-overdue', lastPassed ? `No restore drill has passed since ${lastPassed.startedAt} (BACKUP_DRILL_EVERY is ${env.BACKUP_DRILL_EVERY}).` : `No restore drill has passed yet (BACKUP_DRILL_EVERY is ${env.BACKUP_DRILL_EVERY}); run \`prisma-guard drill\`.`);
  }
  const drills = { last: history[0] ?? null, lastPassed, everyMs: drillEveryMs, rtoTrendMs: history.filter((d) => d.ok && d.rtoMs !== null).map((d) => d.rtoMs!).reverse() };

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
    location: listing.location,
    pending: listing.pending,
    backups: {
      count: backups.length,
      // Sections shared by several incremental backups count once.
      totalBytes: backups.reduce((n, m) => n + m.sizeBytes, 0) + [...sectionsOf(backups).values()].reduce((n, r) => n + r.size, 0),
      verified: backups.filter((m) => m.verification?.ok === true).length,
      failedVerification: backups.filter((m) => m.verification?.ok === false).length,
      pinned: backups.filter((m) => m.pinned).length,
    },
    last: newest,
    lastVerified,
    databases,
    maxAgeMs,
    scheduler,
    schedule: { jobs: schedule.jobs, nextRuns: nextRunsOut },
    tiers,
    stray: strayNow,
    disk: disk ? { ...disk, minFreeBytes } : null,
    drills,
    ...(offsite ? { offsite } : {}),
  };
}
