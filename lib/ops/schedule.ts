/**
 * The live backup scheduler: the runner (lib/scheduler/runner.ts: node-schedule timers checked
 * against the pure slot computation of lib/scheduler/schedule.ts) with the real work of a slot:
 * claim the slot (lib/ops/slot-ledger.ts), back up, verify, prune, record the run.
 */
import { hostname } from 'node:os';
import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import type { RetentionPolicy } from '../policy/retention.ts';
import type { NotifyEventName } from '../notify/events.ts';
import { SchedulerRunner } from '../scheduler/runner.ts';
import { describeSlot, parseScheduleConfig, type ScheduleConfig, type ScheduledSlot } from '../scheduler/schedule.ts';
import { connect } from '../dialects/index.ts';
import { backupWithConnection } from './backup.ts';
import { DEFAULT_LOCK_WAIT_MS, interval, type OpsContext } from './context.ts';
import { prune, retentionPolicyFromEnv } from './prune.ts';
import { recordRun, type RunRecord } from './scheduler-state.ts';
import { claimSlot, type SlotClaim } from './slot-ledger.ts';
import { verifyBackup } from './verify.ts';
import { getStatus } from './status.ts';
import { drill, drillHistory, drillInterval } from './drill.ts';
import { readSchedulesFileSync, toScheduleConfig } from './schedule-file.ts';

export interface ScheduledRunOptions {
  policy: RetentionPolicy;
  /** How long to wait for a running restore/migration before failing the slot. */
  lockWaitMs?: number;
  compressionLevel?: number;
}

/** What one slot did (the runner logs it with `backup.succeeded`). */
export interface ScheduledRunResult {
  outcome: 'succeeded' | 'taken-elsewhere';
  takenBy?: string;
  file?: string;
  sizeBytes?: number;
  rowsTotal?: number | null;
  backupMs?: number;
  verified?: boolean;
  pruned?: string[];
}

/** The reason recorded in a scheduled backup's name and manifest: `scheduled-daily`, `scheduled-interval`... */
export function scheduledReason(slot: ScheduledSlot): string {
  return `scheduled-${slot.jobs.join('-') || 'slot'}`;
}

/**
 * Handles one slot: claim it (or skip it when another process on the same database has it), back
 * up, verify the file, apply retention, and record the run in the folder's scheduler state.
 * Rejects when the slot produced no verified backup (the runner logs it and carries on).
 */
export async function runScheduledBackup(ctx: OpsContext, slot: ScheduledSlot, signal: AbortSignal, options: ScheduledRunOptions): Promise<ScheduledRunResult> {
  const startedAt = ctx.clock.now();
  const base = { slot: slot.at.toISOString(), jobs: slot.jobs, startedAt: startedAt.toISOString() };
  const writer = `${hostname()} pid ${process.pid}`;
  const finish = async (run: Omit<RunRecord, 'slot' | 'jobs' | 'startedAt' | 'finishedAt'>) => {
    try {
      await recordRun(ctx.backupDir, { ...base, finishedAt: ctx.clock.now().toISOString(), ...run }, writer, ctx.clock.now());
    } catch (e) {
      ctx.reporter.event('state.write-failed', { error: messageOf(e) });
    }
  };
  let file: string | undefined;
  const notify = ctx.notifier;
  const db = ctx.target.display;
  await notify?.notify('backup.started', db, `Scheduled backup of ${db} started (slot ${base.slot}).`, { slot: base.slot, jobs: slot.jobs });
  let verifyFailed = false;
  try {
    if (signal.aborted) throw new GuardError('WRITE_FAILED', 'The scheduler is stopping; the backup was not started.');
    const conn = await connect(ctx.target);
    let written;
    try {
      const claim = await untilAborted(claimSlot(conn, slot.at, { lockWaitMs: options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, backupDir: ctx.backupDir }), signal);
      if (claim.status === 'taken') {
        ctx.reporter.event('slot.taken-elsewhere', { slot: base.slot, jobs: slot.jobs, takenBy: claim.by });
        await finish({ outcome: 'taken-elsewhere', takenBy: claim.by });
        return { outcome: 'taken-elsewhere', takenBy: claim.by };
      }
      try {
        written = await backupWithConnection(ctx, conn, { reason: scheduledReason(slot), kind: 'scheduled', signal, compressionLevel: options.compressionLevel });
        await claim.record(written.manifest.file);
      } finally {
        await claim.release();
      }
    } finally {
      await conn.close();
    }
    const m = written.manifest;
    file = m.file;
    ctx.reporter.event('backup.written', { slot: base.slot, file: m.file, sizeBytes: m.sizeBytes, durationMs: m.durationMs, rowsTotal: m.rowsTotal, tables: Object.keys(m.tables).length, sha256: m.sha256 });

    const v = await verifyBackup(ctx, m.file);
    ctx.reporter.event('verify.done', { file: m.file, ok: v.ok, durationMs: v.durationMs, rowsTotal: v.rowsTotal ?? null, ...(v.error ? { error: v.error.message } : {}) });
    if (!v.ok) {
      verifyFailed = true;
      throw new GuardError('BACKUP_CORRUPT', `The scheduled backup ${m.file} failed verification: ${v.error?.message ?? 'unknown error'}.`, {
        hint: 'Check the disk of the backup folder; the next slot takes a new backup.',
      });
    }

    let pruned: string[] = [];
    let pruneError: string | undefined;
    if (!signal.aborted) {
      try {
        const p = await prune(ctx, { policy: options.policy });
        pruned = p.removed;
        ctx.reporter.event('prune.done', {
          kept: p.entries.filter((e) => e.action === 'keep').map((e) => ({ file: e.file, why: e.why })),
          removed: p.removed,
          reported: p.entries.filter((e) => e.action === 'report').map((e) => ({ file: e.file, why: e.why })),
          failed: p.failed,
          freedBytes: p.freedBytes,
        });
        // The offsite copy keeps to the same policy (BACKUP_COPY_TO); a failure there is reported, not fatal.
        if (ctx.copyTo) {
          try {
            const remote = await prune(ctx, { policy: options.policy, location: ctx.copyTo });
            ctx.reporter.event('prune.done', { location: ctx.copyTo.location, removed: remote.removed, failed: remote.failed, freedBytes: remote.freedBytes });
          } catch (e) {
            ctx.reporter.event('prune.failed', { location: ctx.copyTo.location, error: messageOf(e), code: isGuardError(e) ? e.code : undefined });
          }
        }
      } catch (e) {
        // The backup is good; a retention problem must not turn the run into a failure.
        pruneError = messageOf(e);
        ctx.reporter.event('prune.failed', { error: pruneError, code: isGuardError(e) ? e.code : undefined });
        await notify?.notify('prune.failed', db, `Retention (prune) failed after the scheduled backup ${m.file}: ${pruneError}`, { file: m.file });
      }
    }
    await notify?.notify('backup.succeeded', db, `Scheduled backup ${m.file} of ${db}: ${m.rowsTotal} rows, ${m.sizeBytes} bytes, verified.`, { file: m.file, sizeBytes: m.sizeBytes, rowsTotal: m.rowsTotal, durationMs: m.durationMs });
    await finish({ outcome: 'succeeded', file: m.file, sizeBytes: m.sizeBytes, rowsTotal: m.rowsTotal, durationMs: m.durationMs, verified: true, pruned, ...(pruneError ? { pruneError } : {}) });
    return { outcome: 'succeeded', file: m.file, sizeBytes: m.sizeBytes, rowsTotal: m.rowsTotal, backupMs: m.durationMs, verified: true, pruned };
  } catch (e) {
    if (!signal.aborted) {
      await notify?.notify(verifyFailed ? 'verify.failed' : 'backup.failed', db, `The scheduled backup of ${db} (slot ${base.slot}) failed: ${messageOf(e)}`, { slot: base.slot, code: isGuardError(e) ? e.code : undefined, ...(file ? { file } : {}) });
      // The healthcheck's dead-man's switch hears of every failure, verification failures too.
      if (verifyFailed) await notify?.notify('backup.failed', db, `The scheduled backup of ${db} failed verification.`, { slot: base.slot }, 'healthcheck');
    }
    await finish({
      outcome: signal.aborted ? 'aborted' : 'failed',
      error: messageOf(e),
      code: isGuardError(e) ? e.code : undefined,
      ...(file ? { file } : {}),
    });
    throw e;
  }
}

/**
 * Waits for a slot claim, but gives up as soon as the scheduler is stopped: waiting for a long
 * migration's lock must not outlast PM2's kill_timeout. A claim that succeeds after giving up is
 * released at once.
 */
function untilAborted(claim: Promise<SlotClaim>, signal: AbortSignal): Promise<SlotClaim> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(new GuardError('WRITE_FAILED', 'The scheduler is stopping; the backup was not started.'));
      claim.then((c) => (c.status === 'claimed' ? c.release() : undefined)).catch(() => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    claim.then(
      (c) => {
        signal.removeEventListener('abort', onAbort);
        resolve(c);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export interface StartSchedulerOptions {
  /** Where BACKUP_SCHEDULE_* and BACKUP_KEEP_* are read (default process.env). */
  env?: Record<string, string | undefined>;
  /** Overrides the schedule read from env. */
  schedule?: ScheduleConfig;
  /** Overrides the retention policy read from env. */
  policy?: RetentionPolicy;
  lockWaitMs?: number;
  /**
   * How often the schedules saved by the dashboard (lib/ops/schedule-file.ts) are re-read, in ms
   * (default 10 s; 0: never). A change takes effect between backups, without a restart. Not used
   * when `schedule` is given.
   */
  reloadMs?: number;
}

export interface LiveScheduler {
  /** The runner of the schedule in effect (replaced when the saved schedules change). */
  readonly runner: SchedulerRunner<ScheduledRunResult>;
  readonly schedule: ScheduleConfig;
  policy: RetentionPolicy;
  /**
   * Stops taking slots; aborts the running backup (its temporary file is removed, nothing partial
   * is left) and resolves once it has settled.
   */
  stop(): Promise<void>;
}

/**
 * Starts the scheduler (node-schedule timers, the system clock). Events go to `ctx.reporter` (the CLI gives
 * a JSON-lines reporter on stdout, which `pm2 logs` shows).
 * @throws GuardError SCHEDULE_INVALID / POLICY_INVALID for bad settings, USAGE when every job is disabled
 */
export function startScheduler(ctx: OpsContext, options: StartSchedulerOptions = {}): LiveScheduler {
  const env = options.env ?? process.env;
  // The dashboard's saved schedules, when there are any, replace the environment's (its defaults).
  const saved = (): ScheduleConfig | null => {
    const file = readSchedulesFileSync(ctx.backupDir); // an unreadable file stops the start, and is reported on reload
    return file ? toScheduleConfig(file) : null;
  };
  const fromFile = options.schedule ? null : saved();
  let schedule = options.schedule ?? fromFile ?? parseScheduleConfig(env);
  const policy = options.policy ?? retentionPolicyFromEnv(env);
  if (schedule.jobs.length === 0 && !fromFile) {
    throw new GuardError('USAGE', 'Every scheduled job is disabled (BACKUP_SCHEDULE_DISABLE), so the scheduler has nothing to do.', {
      hint: 'Unset BACKUP_SCHEDULE_DISABLE or enable at least one of daily, interval.',
    });
  }
  // Fail at start, not at 02:00: the URL must parse.
  const target = ctx.target;
  const makeRunner = (jobs: ScheduleConfig['jobs']) =>
    new SchedulerRunner<ScheduledRunResult>({
      jobs,
      reporter: ctx.reporter,
      runBackup: (slot, signal) => runScheduledBackup(ctx, slot, signal, { policy, lockWaitMs: options.lockWaitMs }),
      describeResult: (r) => ({ ...r }),
    });
  let runner = makeRunner(schedule.jobs);
  ctx.reporter.event('scheduler.config', {
    database: target.display,
    dialect: target.dialect,
    backupDir: ctx.backupDir,
    pid: process.pid,
    policy,
  });
  runner.start();
  const first = runner.state().next;
  if (first) ctx.reporter.event('schedule.next', describeSlot(first, schedule.jobs));
  // Between slots too: a backup that is too old, a failed verification, a filling disk, a lagging
  // offsite copy are told to someone (the notifier's dedupe interval keeps it to one alert).
  // Restore drills (BACKUP_DRILL_EVERY, e.g. 7d; off unless set): checked on the same timer.
  const drillEveryMs = drillInterval(env.BACKUP_DRILL_EVERY);
  let drilling = false;
  const dueDrill = async () => {
    if (drillEveryMs === null || drilling || runner.state().running) return;
    const last = (await drillHistory(ctx.backupDir))[0];
    if (last && ctx.clock.now().getTime() - Date.parse(last.startedAt) < drillEveryMs) return;
    drilling = true;
    try {
      const r = await drill(ctx, { drillUrl: env.BACKUP_DRILL_URL?.trim() || undefined });
      ctx.reporter.event('drill.passed', { backup: r.backup, rtoMs: r.rtoMs, rpoMs: r.rpoMs, rows: r.rows });
    } catch (e) {
      ctx.reporter.event('drill.failed', { error: messageOf(e) });
    } finally {
      drilling = false;
    }
  };
  // Saved schedules changed (the dashboard): a new runner for them, between backups, never during one.
  let reload: NodeJS.Timeout | undefined;
  let stopped = false;
  const key = (c: ScheduleConfig) => JSON.stringify(c.jobs);
  const reloadMs = options.schedule ? 0 : (options.reloadMs ?? 10_000);
  if (reloadMs > 0) {
    let swapping = false;
    reload = setInterval(() => {
      if (swapping || stopped || runner.state().running) return;
      let next: ScheduleConfig;
      try {
        next = saved() ?? parseScheduleConfig(env);
      } catch (e) {
        ctx.reporter.event('schedule.reload-failed', { error: messageOf(e) });
        return;
      }
      if (key(next) === key(schedule)) return;
      swapping = true;
      const old = runner;
      void old.stop().then(() => {
        if (stopped) return;
        schedule = next;
        runner = makeRunner(next.jobs);
        ctx.reporter.event('schedule.reloaded', { jobs: next.jobs });
        runner.start();
      }).finally(() => {
        swapping = false;
      });
    }, reloadMs);
    reload.unref();
  }
  let health: NodeJS.Timeout | undefined;
  if (ctx.notifier?.enabled || drillEveryMs !== null) {
    const every = env.BACKUP_NOTIFY_CHECK_EVERY?.trim() ? interval(env.BACKUP_NOTIFY_CHECK_EVERY, 'BACKUP_NOTIFY_CHECK_EVERY') : 15 * 60 * 1000;
    health = setInterval(() => {
      void notifyHealth(ctx, { env, schedule, policy })
        .then((sent) => ctx.reporter.event('health.checked', { alerts: sent }))
        .catch((e) => ctx.reporter.event('notify.check-failed', { error: messageOf(e) }));
      void dueDrill();
    }, every);
    health.unref();
  }
  return {
    get runner() {
      return runner;
    },
    get schedule() {
      return schedule;
    },
    policy,
    stop: () => {
      stopped = true;
      clearInterval(health);
      clearInterval(reload);
      return runner.stop({ abort: true });
    },
  };
}

/** The health reasons (lib/ops/status.ts) that become alerts, and as which event. */
const ALERT_FOR: Record<string, NotifyEventName> = {
  'no-backup': 'backup.stale',
  stale: 'backup.stale',
  'verify-failed': 'verify.failed',
  'disk-low': 'disk.low',
  'offsite-missing': 'offsite.lagging',
  'offsite-lag': 'offsite.lagging',
  'offsite-unreachable': 'offsite.lagging',
  'drill-overdue': 'drill.failed',
};

/**
 * Reads the status (as `prisma-guard status` does) and sends an alert for each reason that
 * deserves one. Run by the scheduler every BACKUP_NOTIFY_CHECK_EVERY (15 minutes), whether or not a
 * slot ran, so a backup that is too old is noticed even when the slots themselves stopped.
 */
export async function notifyHealth(ctx: OpsContext, options: { env?: Record<string, string | undefined>; schedule?: ScheduleConfig; policy?: RetentionPolicy } = {}): Promise<string[]> {
  const notifier = ctx.notifier;
  if (!notifier?.enabled) return [];
  const report = await getStatus(ctx, { env: options.env, schedule: options.schedule, policy: options.policy });
  const sent: string[] = [];
  for (const r of report.reasons) {
    const event = ALERT_FOR[r.code];
    if (!event) continue;
    await notifier.notify(event, ctx.target.display, r.message, { code: r.code, health: report.health });
    sent.push(event);
  }
  return sent;
}
