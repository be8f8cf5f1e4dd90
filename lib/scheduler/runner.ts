/**
 * Runs a backup at every slot of a schedule (./schedule.ts). The timers are node-schedule's: one
 * `scheduleJob({ rule: cron, tz })` per job. node-schedule decides *when* to wake up; the pure slot
 * computation decides *what* a wake-up means. Every firing is checked against the next slot the
 * pure computation expects and against the run state, so node-schedule's own behaviour on odd days
 * cannot break the guarantees below (tests/scheduler/node-schedule-agreement.test.ts shows the two
 * agree on every slot of two years of Europe/London clock changes):
 *
 * - Each slot is handled once. Slots come from one walk of the pure computation that started at
 *   `start()`, never recomputed from "now", so a wall clock stepped backwards cannot repeat one. A firing with nothing due is ignored (`schedule.fire-ignored`): two jobs firing at
 *   the same instant (one slot, tagged with both), node-schedule re-firing past recurrences after a
 *   sleep, or a firing that is not a slot at all (cron-parser fires a fixed time twice in
 *   Australia/Lord_Howe's repeated half hour; the pure computation keeps the first).
 * - No overlap: a slot that falls due while a backup is still running is skipped and reported
 *   (`backup.skipped`), never queued.
 * - Failures never stop the scheduler: a failed (rejected) run is reported (`backup.failed`) and
 *   the next slot runs as usual.
 * - Missed slots (the process was suspended, the event loop blocked, the clock stepped forward) are
 *   coalesced: one backup runs for the latest of them, tagged with every missed job, and the older
 *   ones are reported (`schedule.missed`). After a long sleep there is one backup, not a burst.
 *   Timers do not count time spent suspended, so a watchdog re-reads the clock every `watchdogMs`
 *   and runs a slot node-schedule has not fired within `graceMs` of its time.
 * - Slots before `start()` are not caught up: the first slot is the first one strictly after it.
 *
 * node-schedule reads `Date.now()` and uses the global timers, so tests drive the runner with fake
 * time that replaces both (tests/scheduler/fake-timers.ts), not with an injected clock.
 */
import schedule from 'node-schedule';
import { isGuardError, messageOf } from '../core/errors.ts';
import type { Reporter } from '../core/logger.ts';
import { silentReporter } from '../core/logger.ts';
import { slotsAfter, type ScheduledSlot, type ScheduleJob } from './schedule.ts';

/**
 * Runs one backup for a slot. Resolve on success (the value is passed to `describeResult`),
 * reject on failure. `signal` is aborted when the scheduler is stopped with `{ abort: true }`:
 * the backup should stop and clean up (the backup writer never leaves a partial file).
 */
export type RunBackup<R> = (slot: ScheduledSlot, signal: AbortSignal) => Promise<R>;

export interface SchedulerRunnerOptions<R> {
  jobs: readonly ScheduleJob[];
  runBackup: RunBackup<R>;
  reporter?: Reporter;
  /** How often the watchdog re-reads the clock (see the module comment). Default 10 minutes; 0 turns it off. */
  watchdogMs?: number;
  /** How late a slot may be before the watchdog runs it instead of waiting for node-schedule. Default 30 s. */
  graceMs?: number;
  /** Extra fields for the `backup.succeeded` event (e.g. file name, size). Never put secrets here. */
  describeResult?: (result: R) => Record<string, unknown>;
}

export const DEFAULT_WATCHDOG_MS = 10 * 60 * 1000;
export const DEFAULT_GRACE_MS = 30 * 1000;

export interface RunnerState {
  started: boolean;
  stopping: boolean;
  /** The slot whose backup is running, if any. */
  running: ScheduledSlot | null;
  /** The next slot the runner waits for, if any. */
  next: ScheduledSlot | null;
}

/** Timestamps as ISO strings in events: JSON-lines logs stay readable. */
function slotFields(slot: ScheduledSlot): Record<string, unknown> {
  return { slot: slot.at.toISOString(), jobs: slot.jobs };
}

/** The backup scheduler: node-schedule timers, checked against the pure slot computation. */
export class SchedulerRunner<R = unknown> {
  private readonly jobs: readonly ScheduleJob[];
  private readonly runBackup: RunBackup<R>;
  private readonly reporter: Reporter;
  private readonly watchdogMs: number;
  private readonly graceMs: number;
  private readonly describeResult?: (result: R) => Record<string, unknown>;

  private started = false;
  private stopping = false;
  /** The pure computation's slots after the start; `next` is always its head. */
  private slots: Iterator<ScheduledSlot> | null = null;
  private next: ScheduledSlot | null = null;
  /** The instant of the last slot handled (run, skipped or coalesced), to tell repeats from strays. */
  private lastHandled = -Infinity;
  private scheduled: schedule.Job[] = [];
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private running: { slot: ScheduledSlot; controller: AbortController; done: Promise<void> } | null = null;

  constructor(options: SchedulerRunnerOptions<R>) {
    this.jobs = options.jobs;
    this.runBackup = options.runBackup;
    this.reporter = options.reporter ?? silentReporter;
    this.watchdogMs = Math.max(0, options.watchdogMs ?? DEFAULT_WATCHDOG_MS);
    this.graceMs = Math.max(0, options.graceMs ?? DEFAULT_GRACE_MS);
    this.describeResult = options.describeResult;
  }

  /** Starts waiting for the first slot strictly after the current time. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    // Date.now(), as node-schedule reads it (and fake time replaces it in tests).
    this.slots = slotsAfter(this.jobs, new Date(Date.now()));
    this.next = this.pullSlot();
    for (const job of this.jobs) {
      // node-schedule hands the cron string and zone to cron-parser, as the pure computation does.
      const handle = schedule.scheduleJob({ rule: job.cron, tz: job.timeZone }, (fireDate: Date) => this.onFire(job.name, fireDate));
      // null only for an expression with no future time, which validateJob already refused.
      if (handle) this.scheduled.push(handle);
    }
    if (this.watchdogMs > 0 && this.jobs.length > 0) this.watchdog = setInterval(() => this.onWatchdog(), this.watchdogMs);
    this.reporter.event('scheduler.started', {
      jobs: this.jobs.map((j) => ({ name: j.name, cron: j.cron, timeZone: j.timeZone })),
      next: this.next ? slotFields(this.next) : null,
    });
  }

  private pullSlot(): ScheduledSlot | null {
    const r = this.slots?.next();
    return r && !r.done ? r.value : null;
  }

  /** What the runner is doing now. */
  state(): RunnerState {
    return { started: this.started, stopping: this.stopping, running: this.running?.slot ?? null, next: this.next };
  }

  /**
   * Stops taking new slots and resolves once the running backup (if any) has settled.
   * With `{ abort: true }` the running backup's AbortSignal is aborted first.
   */
  async stop(options: { abort?: boolean } = {}): Promise<void> {
    const first = !this.stopping;
    this.stopping = true;
    this.next = null;
    for (const job of this.scheduled) job.cancel();
    this.scheduled = [];
    if (this.watchdog !== null) {
      clearInterval(this.watchdog);
      this.watchdog = null;
    }
    const running = this.running;
    if (running && options.abort && !running.controller.signal.aborted) {
      this.reporter.event('backup.aborting', slotFields(running.slot));
      running.controller.abort(new Error('The scheduler is stopping.'));
    }
    if (running) await running.done;
    if (first) this.reporter.event('scheduler.stopped', {});
  }

  private onFire(job: string, fireDate: Date): void {
    if (this.stopping || this.next === null) return;
    const now = Date.now();
    if (this.next.at.getTime() > now) {
      const fired = fireDate.getTime();
      this.reporter.event('schedule.fire-ignored', {
        job,
        fireDate: fireDate.toISOString(),
        reason: fired <= this.lastHandled ? 'slot already handled' : 'not a slot of the schedule',
        next: this.next.at.toISOString(),
      });
      return;
    }
    this.handleDue(now);
  }

  private onWatchdog(): void {
    if (this.stopping || this.next === null) return;
    const now = Date.now();
    // Within the grace period node-schedule's own timer is about to fire; leave the slot to it.
    if (now - this.next.at.getTime() < this.graceMs) return;
    this.handleDue(now);
  }

  /** Handles every slot due by `now`: runs the latest, reports older ones as missed. */
  private handleDue(now: number): void {
    let slot = this.next as ScheduledSlot;
    const missed: ScheduledSlot[] = [];
    let following = this.pullSlot();
    while (following && following.at.getTime() <= now) {
      missed.push(slot);
      slot = following;
      following = this.pullSlot();
    }
    this.next = following;
    this.lastHandled = slot.at.getTime();
    if (missed.length > 0) {
      this.reporter.event('schedule.missed', {
        slots: missed.map((s) => s.at.toISOString()),
        runningInstead: slot.at.toISOString(),
      });
      this.reporter.warn(`${missed.length} backup slot(s) were missed (the process was asleep or blocked); running one backup for ${slot.at.toISOString()} instead.`);
      // The one backup stands in for every missed job, so its tags keep them all.
      const jobs = [...new Set([...missed.flatMap((s) => s.jobs), ...slot.jobs])];
      slot = { at: slot.at, jobs: this.jobs.map((j) => j.name).filter((n) => jobs.includes(n)) };
    }
    this.dispatch(slot);
  }

  private dispatch(slot: ScheduledSlot): void {
    if (this.running) {
      this.reporter.event('backup.skipped', {
        ...slotFields(slot),
        reason: 'previous backup still running',
        runningSlot: this.running.slot.at.toISOString(),
        next: this.next ? this.next.at.toISOString() : null,
      });
      this.reporter.warn(`Skipped the backup due at ${slot.at.toISOString()}: the one started for ${this.running.slot.at.toISOString()} is still running.`);
      return;
    }
    const controller = new AbortController();
    const startedAt = Date.now();
    this.reporter.event('backup.started', slotFields(slot));
    const done = Promise.resolve()
      .then(() => this.runBackup(slot, controller.signal))
      .then(
        (result) => {
          this.reporter.event('backup.succeeded', {
            ...slotFields(slot),
            durationMs: Date.now() - startedAt,
            ...(this.describeResult ? this.describeResult(result) : {}),
          });
        },
        (error: unknown) => {
          this.reporter.event('backup.failed', {
            ...slotFields(slot),
            durationMs: Date.now() - startedAt,
            error: messageOf(error),
            code: isGuardError(error) ? error.code : undefined,
            aborted: controller.signal.aborted,
            retryAt: this.next ? this.next.at.toISOString() : null,
          });
          this.reporter.warn(`The backup for ${slot.at.toISOString()} failed: ${messageOf(error)}${this.next ? ` (next attempt at ${this.next.at.toISOString()})` : ''}.`);
        },
      )
      .catch((error: unknown) => {
        // Only a throwing reporter or describeResult gets here; the loop must survive it too.
        try {
          this.reporter.warn(`Scheduler bookkeeping failed: ${messageOf(error)}`);
        } catch {
          /* nothing left to report to */
        }
      })
      .finally(() => {
        if (this.running?.controller === controller) this.running = null;
      });
    this.running = { slot, controller, done };
  }
}
