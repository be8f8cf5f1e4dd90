/**
 * Pure computation of backup slot times: which instants the scheduler runs a backup at.
 *
 * Cron semantics are exactly those of node-schedule, whose timers the runner (./runner.ts) uses:
 * node-schedule hands a cron string and a `tz` to `cron-parser` (`parseExpression(spec, {
 * currentDate, tz })` then `next()`), and so do we, with the same cron-parser (a declared dependency
 * here, deduplicated with node-schedule's). tests/scheduler/node-schedule-agreement.test.ts shows
 * node-schedule's firings and these slots agree over two years of Europe/London; where
 * node-schedule fires something that is not a slot (Lord_Howe's repeated half hour, below) the
 * runner ignores it.
 *
 * Daylight-saving semantics (what cron-parser does, checked against an independent luxon reference
 * around every 2024 transition of several zones in tests/scheduler/schedule.test.ts; the same rules as Vixie cron for fixed-hour jobs):
 * - A wall-clock time that exists once runs once, at that instant.
 * - A fixed-hour job (hour field not `*`) whose wall time does not exist (spring forward, e.g.
 *   01:30 in London on the last Sunday of March) runs once, shifted forward by the gap
 *   (01:30 GMT does not exist, so it runs at 02:30 BST, the instant 01:30Z).
 * - A fixed-hour job whose wall time occurs twice (fall back, e.g. 01:30 in London on the last
 *   Sunday of October) runs once, at the first occurrence (01:30 BST = 00:30Z).
 * - A job with `*` in the hour field runs on real elapsed time: the skipped hour has no runs, a
 *   repeated hour runs in both of its occurrences.
 * Australia/Lord_Howe, the one zone whose clocks move by 30 minutes, is handled only in part:
 * cron-parser runs a fixed time in its repeated half hour twice (we drop the second run, see
 * jobTimes), and skips, for that day, a fixed time inside its spring half-hour gap (known
 * limitation, pinned by a test).
 * With the defaults (02:00 and 00/06/12/18 in Europe/London) no slot touches a transition:
 * 02:00 London exists exactly once on every day of the year (in March clocks jump from
 * 01:00 GMT to 02:00 BST; in October from 02:00 BST back to 01:00 GMT, so 02:00 GMT is unique).
 */
import cronParser from 'cron-parser';
import { DateTime, IANAZone } from 'luxon';
import { ExitCode, GuardError, messageOf } from '../core/errors.ts';

/** One named recurring schedule. */
export interface ScheduleJob {
  /** Stable name, used in logs and to tag slots (`daily`, `interval`). */
  name: string;
  /** A cron expression as node-schedule accepts it: 5 fields, or 6 with seconds first. */
  cron: string;
  /** IANA time zone the expression is read in (e.g. `Europe/London`). */
  timeZone: string;
}

/** One instant at which a backup runs, with every job that asked for it. */
export interface ScheduledSlot {
  at: Date;
  /** Names of the jobs due at this instant, in configuration order. Two jobs falling on the same
   * instant produce one slot (one backup) tagged with both names. */
  jobs: string[];
}

export interface ScheduleConfig {
  /** Enabled jobs, in configuration order (may be empty when everything is disabled). */
  jobs: ScheduleJob[];
}

/** The UK: the issue asks for the daily backup at 02:00 UK time. */
export const DEFAULT_TIME_ZONE = 'Europe/London';
export const DEFAULT_DAILY_CRON = '0 2 * * *';
export const DEFAULT_INTERVAL_CRON = '0 */6 * * *';

/** Environment variables read by {@link parseScheduleConfig}. */
export const SCHEDULE_ENV = {
  /** Cron of the daily job (default `0 2 * * *`). */
  daily: 'BACKUP_SCHEDULE_DAILY',
  /** Time zone of the daily job (default: BACKUP_SCHEDULE_TZ). */
  dailyTz: 'BACKUP_SCHEDULE_DAILY_TZ',
  /** Cron of the interval job (default `0 *\/6 * * *`). */
  interval: 'BACKUP_SCHEDULE_INTERVAL',
  /** Time zone of the interval job (default: BACKUP_SCHEDULE_TZ). */
  intervalTz: 'BACKUP_SCHEDULE_INTERVAL_TZ',
  /** Time zone of every job without its own (default `Europe/London`). */
  tz: 'BACKUP_SCHEDULE_TZ',
  /** Comma-separated job names to disable (`daily`, `interval`), or `all`. */
  disable: 'BACKUP_SCHEDULE_DISABLE',
} as const;

const JOB_NAMES = ['daily', 'interval'] as const;

function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  // `X=` in an env file means "not set", not "an empty cron expression".
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/**
 * Reads the schedule from environment variables (see {@link SCHEDULE_ENV}); unset or empty
 * variables take the defaults: `daily` at `0 2 * * *` and `interval` at `0 *\/6 * * *`, both in
 * Europe/London. Every job is validated (cron syntax and time zone).
 * @throws GuardError `SCHEDULE_INVALID` (exit code USAGE) naming the variable at fault.
 */
export function parseScheduleConfig(env: Record<string, string | undefined>): ScheduleConfig {
  const baseTz = envValue(env, SCHEDULE_ENV.tz) ?? DEFAULT_TIME_ZONE;
  const disabled = new Set(
    (envValue(env, SCHEDULE_ENV.disable) ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const name of disabled) {
    if (name !== 'all' && !(JOB_NAMES as readonly string[]).includes(name)) {
      throw new GuardError('SCHEDULE_INVALID', `${SCHEDULE_ENV.disable} names an unknown job "${name}".`, {
        exitCode: ExitCode.USAGE,
        hint: `Use a comma-separated list of ${JOB_NAMES.join(', ')}, or "all".`,
      });
    }
  }
  const DEFAULT_CRON = { daily: DEFAULT_DAILY_CRON, interval: DEFAULT_INTERVAL_CRON } as const;
  const candidates: Array<{ job: ScheduleJob; cronVar: string; tzVar: string }> = JOB_NAMES.map((name) => {
    const cronVar = SCHEDULE_ENV[name];
    const ownTzVar = SCHEDULE_ENV[`${name}Tz`];
    return {
      job: { name, cron: envValue(env, cronVar) ?? DEFAULT_CRON[name], timeZone: envValue(env, ownTzVar) ?? baseTz },
      cronVar,
      tzVar: envValue(env, ownTzVar) ? ownTzVar : SCHEDULE_ENV.tz,
    };
  });
  const jobs: ScheduleJob[] = [];
  for (const c of candidates) {
    if (disabled.has('all') || disabled.has(c.job.name)) continue;
    jobs.push(validateJob(c.job, { cronVar: c.cronVar, tzVar: c.tzVar }));
  }
  return { jobs };
}

/**
 * Checks a job's time zone and cron expression; returns it unchanged when valid.
 * `where` names the settings at fault in the error message (defaults to the job name).
 * @throws GuardError `SCHEDULE_INVALID`
 */
export function validateJob(job: ScheduleJob, where: { cronVar?: string; tzVar?: string } = {}): ScheduleJob {
  if (!IANAZone.isValidZone(job.timeZone)) {
    throw new GuardError('SCHEDULE_INVALID', `${where.tzVar ?? `The time zone of job "${job.name}"`} is "${job.timeZone}", which is not an IANA time zone.`, {
      exitCode: ExitCode.USAGE,
      hint: 'Use a zone name such as Europe/London, UTC or America/New_York.',
    });
  }
  try {
    // next() as well as parse: some errors (impossible dates such as `0 0 30 2 *`) only show then.
    expressionFor(job, new Date(0)).next();
  } catch (cause) {
    throw new GuardError('SCHEDULE_INVALID', `${where.cronVar ?? `The cron expression of job "${job.name}"`} is "${job.cron}", which is not a valid cron expression: ${messageOf(cause)}.`, {
      exitCode: ExitCode.USAGE,
      hint: 'Use 5 fields "minute hour day-of-month month day-of-week", e.g. "0 2 * * *" for 02:00 every day.',
      cause,
    });
  }
  return job;
}

function expressionFor(job: ScheduleJob, after: Date) {
  // The same call node-schedule makes (lib/Job.js: parseExpression(spec, { currentDate, tz })).
  return cronParser.parseExpression(job.cron, { currentDate: after, tz: job.timeZone });
}

/**
 * True when the wall-clock time of `t` in `zone` already happened earlier (the second pass through
 * a fall-back fold). Stateless, so chained one-slot look-ups agree with a single iteration.
 */
function isRepeatedWallTime(t: number, zone: string): boolean {
  const offset = DateTime.fromMillis(t, { zone }).offset;
  const before = DateTime.fromMillis(t - 3 * 3600_000, { zone }).offset;
  if (before <= offset) return false;
  // The same wall time under the earlier (larger) offset, if that instant really had it.
  const earlier = t - (before - offset) * 60_000;
  return DateTime.fromMillis(earlier, { zone }).offset === before;
}

/** Iterates one job's fire times strictly after `after`, as node-schedule would fire them. */
function* jobTimes(job: ScheduleJob, after: Date): Generator<number> {
  const expr = expressionFor(job, after);
  // cron-parser's own test for "the hour is specified" (it then runs a repeated hour once).
  const fixedHour = expr.fields.hour.length !== 24;
  let last = after.getTime();
  for (;;) {
    const t = expr.next().toDate().getTime();
    // Guard against a library regression looping on the same instant around a DST change.
    if (t <= last) throw new GuardError('INTERNAL', `Cron "${job.cron}" (${job.timeZone}) did not advance after ${new Date(last).toISOString()}.`);
    last = t;
    // cron-parser detects a fold only when the clocks go back a whole hour; with a 30-minute
    // change (Australia/Lord_Howe) it fires a fixed time in the repeated half hour twice.
    // Enforce "first occurrence only" ourselves. (node-schedule alone would run it twice.)
    if (fixedHour && isRepeatedWallTime(t, job.timeZone)) continue;
    yield t;
  }
}

/**
 * Every slot strictly after `after`, in time order, without end: each job's fire times merged, one
 * slot per instant (jobs due at the same instant share it). One cron-parser iterator per job, as
 * node-schedule keeps one per job, so walking it costs one step per firing.
 */
export function* slotsAfter(jobs: readonly ScheduleJob[], after: Date): Generator<ScheduledSlot> {
  const iters = jobs.map((j) => jobTimes(j, after));
  const heads = iters.map((it) => it.next().value as number);
  if (jobs.length === 0) return;
  for (;;) {
    let min = Infinity;
    for (const h of heads) if (h < min) min = h;
    const names: string[] = [];
    for (let i = 0; i < jobs.length; i++) {
      if (heads[i] === min) {
        names.push(jobs[i].name);
        heads[i] = iters[i].next().value as number;
      }
    }
    yield { at: new Date(min), jobs: names };
  }
}

/** The next `count` slots strictly after `after`, in time order. */
export function nextRuns(jobs: readonly ScheduleJob[], after: Date, count: number): ScheduledSlot[] {
  const out: ScheduledSlot[] = [];
  if (count <= 0) return out;
  for (const slot of slotsAfter(jobs, after)) {
    out.push(slot);
    if (out.length >= count) break;
  }
  return out;
}

/** The slot following `after` (strictly later), or null when no job is configured. */
export function nextRun(jobs: readonly ScheduleJob[], after: Date): ScheduledSlot | null {
  return nextRuns(jobs, after, 1)[0] ?? null;
}

/** Every slot `at` with `from <= at < to` (half-open, so consecutive ranges never share a slot). */
export function runsBetween(jobs: readonly ScheduleJob[], from: Date, to: Date): ScheduledSlot[] {
  const out: ScheduledSlot[] = [];
  if (to.getTime() <= from.getTime()) return out;
  for (const slot of slotsAfter(jobs, new Date(from.getTime() - 1))) {
    if (slot.at.getTime() >= to.getTime()) break;
    out.push(slot);
  }
  return out;
}

/** A slot described for logs: the instant in UTC and in each job's zone (with its offset). */
export function describeSlot(slot: ScheduledSlot, jobs: readonly ScheduleJob[]): Record<string, unknown> {
  const zones = new Set(jobs.filter((j) => slot.jobs.includes(j.name)).map((j) => j.timeZone));
  const local: Record<string, string> = {};
  for (const z of zones) local[z] = DateTime.fromJSDate(slot.at, { zone: z }).toISO() ?? '';
  return { at: slot.at.toISOString(), jobs: slot.jobs, local };
}
