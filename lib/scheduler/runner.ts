/**
 * Runs a backup at every slot of a schedule (./schedule.ts), with the clock and the timers
 * injected so the whole behaviour can be driven on a fake clock in tests.
 *
 * Guarantees:
 * - Each slot is handled once: the next slot is always computed from the last handled slot,
 *   never from "now", so a timer that fires early, or a wall clock stepped backwards, cannot
 *   repeat a slot.
 * - No overlap: a slot that falls due while a backup is still running is skipped and reported
 *   (`backup.skipped`), never queued.
 * - Failures never stop the scheduler: a failed (rejected) run is reported (`backup.failed`) and
 *   the next slot runs as usual.
 * - Missed slots (the process was suspended, the event loop blocked, the clock stepped forward)
 *   are coalesced: one backup runs for the latest of them, tagged with every missed job, and the
 *   older ones are reported (`schedule.missed`). After a long sleep there is one backup, not a burst.
 * - Slots before `start()` are not caught up: the first slot is the first one strictly after it.
 */
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { isGuardError, messageOf } from '../core/errors.ts';
import type { Reporter } from '../core/logger.ts';
import { silentReporter } from '../core/logger.ts';
import { nextRun, type ScheduledSlot, type ScheduleJob } from './schedule.ts';

/** Timer functions, injected so tests can use fake timers tied to a FakeClock. */
export interface TimerFunctions {
  /** Calls `callback` once after about `delayMs` milliseconds; returns a handle for clearTimer. */
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

/** Node's timers. Delays are capped by the runner (see `maxSleepMs`), so setTimeout's 24.8-day limit never applies. */
export const realTimers: TimerFunctions = {
  setTimer(callback, delayMs) {
    const t = setTimeout(callback, Math.max(0, delayMs));
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/**
 * Runs one backup for a slot. Resolve on success (the value is passed to `describeResult`),
 * reject on failure. `signal` is aborted when the scheduler is stopped with `{ abort: true }`:
 * the backup should stop and clean up (the backup writer never leaves a partial file).
 */
export type RunBackup<R> = (slot: ScheduledSlot, signal: AbortSignal) => Promise<R>;

export interface SchedulerRunnerOptions<R> {
  jobs: readonly ScheduleJob[];
  runBackup: RunBackup<R>;
  clock?: Clock;
  timers?: TimerFunctions;
  reporter?: Reporter;
  /**
   * Longest single timer wait. The runner wakes at least this often and re-reads the clock,
   * which keeps it correct across system sleep and wall-clock adjustments, and keeps real
   * delays below setTimeout's limit. Default 10 minutes.
   */
  maxSleepMs?: number;
  /** Extra fields for the `backup.succeeded` event (e.g. file name, size). Never put secrets here. */
  describeResult?: (result: R) => Record<string, unknown>;
}

export const DEFAULT_MAX_SLEEP_MS = 10 * 60 * 1000;
// setTimeout's largest delay; longer ones fire immediately in Node.
const MAX_TIMER_MS = 2 ** 31 - 1;

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

/**
 * The backup scheduler loop. Wire it live with `realTimers` and `systemClock` (the defaults);
 * drive it in tests with a FakeClock and fake timers.
 */
export class SchedulerRunner<R = unknown> {
  private readonly jobs: readonly ScheduleJob[];
  private readonly runBackup: RunBackup<R>;
  private readonly clock: Clock;
  private readonly timers: TimerFunctions;
  private readonly reporter: Reporter;
  private readonly maxSleepMs: number;
  private readonly describeResult?: (result: R) => Record<string, unknown>;

  private started = false;
  private stopping = false;
  /** The next slot; always computed from the previous slot (strictly after it), never from "now". */
  private next: ScheduledSlot | null = null;
  private timer: unknown = null;
  private running: { slot: ScheduledSlot; controller: AbortController; done: Promise<void> } | null = null;

  constructor(options: SchedulerRunnerOptions<R>) {
    this.jobs = options.jobs;
    this.runBackup = options.runBackup;
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? realTimers;
    this.reporter = options.reporter ?? silentReporter;
    this.maxSleepMs = Math.min(Math.max(1, options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS), MAX_TIMER_MS);
    this.describeResult = options.describeResult;
  }

  /** Starts waiting for the first slot strictly after the clock's current time. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.next = nextRun(this.jobs, this.clock.now());
    this.reporter.event('scheduler.started', {
      jobs: this.jobs.map((j) => ({ name: j.name, cron: j.cron, timeZone: j.timeZone })),
      next: this.next ? slotFields(this.next) : null,
    });
    this.arm();
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
    if (this.timer !== null) {
      this.timers.clearTimer(this.timer);
      this.timer = null;
    }
    const running = this.running;
    if (running && options.abort && !running.controller.signal.aborted) {
      this.reporter.event('backup.aborting', slotFields(running.slot));
      running.controller.abort(new Error('The scheduler is stopping.'));
    }
    if (running) await running.done;
    if (first) this.reporter.event('scheduler.stopped', {});
  }

  /** Sets the timer for the next slot, or handles it when due. */
  private arm(): void {
    if (this.stopping || this.next === null) return;
    const now = this.clock.now().getTime();
    const wait = this.next.at.getTime() - now;
    if (wait > 0) {
      this.timer = this.timers.setTimer(() => {
        this.timer = null;
        this.arm();
      }, Math.min(wait, this.maxSleepMs));
      return;
    }
    this.handleDue(now);
    this.arm();
  }

  /** Handles every slot due by `now`: runs the latest, reports older ones as missed. */
  private handleDue(now: number): void {
    let slot = this.next as ScheduledSlot;
    const missed: ScheduledSlot[] = [];
    let following = nextRun(this.jobs, slot.at);
    while (following && following.at.getTime() <= now) {
      missed.push(slot);
      slot = following;
      following = nextRun(this.jobs, slot.at);
    }
    this.next = following;
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
    const startedAt = this.clock.now().getTime();
    this.reporter.event('backup.started', slotFields(slot));
    const done = Promise.resolve()
      .then(() => this.runBackup(slot, controller.signal))
      .then(
        (result) => {
          this.reporter.event('backup.succeeded', {
            ...slotFields(slot),
            durationMs: this.clock.now().getTime() - startedAt,
            ...(this.describeResult ? this.describeResult(result) : {}),
          });
        },
        (error: unknown) => {
          this.reporter.event('backup.failed', {
            ...slotFields(slot),
            durationMs: this.clock.now().getTime() - startedAt,
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
