import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../lib/core/clock.ts';
import { GuardError } from '../../lib/core/errors.ts';
import type { Reporter } from '../../lib/core/logger.ts';
import { realTimers, SchedulerRunner } from '../../lib/scheduler/runner.ts';
import { parseScheduleConfig, runsBetween, type ScheduledSlot, type ScheduleJob } from '../../lib/scheduler/schedule.ts';
import { FakeTimers, flush } from './fake-timers.ts';

const LONDON = 'Europe/London';
const HOUR = 3600_000;
const jobs = parseScheduleConfig({}).jobs;

interface Event {
  name: string;
  fields: Record<string, unknown>;
  at: string;
}

function recorder(clock: FakeClock) {
  const events: Event[] = [];
  const warnings: string[] = [];
  const reporter: Reporter = {
    info() {},
    warn(m) {
      warnings.push(m);
    },
    progress() {},
    event(name, fields = {}) {
      events.push({ name, fields, at: clock.now().toISOString() });
    },
  };
  const named = (n: string) => events.filter((e) => e.name === n);
  return { events, warnings, reporter, named };
}

function setup(start: string, opts: { jobs?: ScheduleJob[]; maxSleepMs?: number; run?: (slot: ScheduledSlot, signal: AbortSignal, t: FakeTimers) => Promise<unknown> } = {}) {
  const clock = new FakeClock(start);
  const timers = new FakeTimers(clock);
  const rec = recorder(clock);
  const runs: Array<{ slot: ScheduledSlot; startedAt: string }> = [];
  const runner = new SchedulerRunner({
    jobs: opts.jobs ?? jobs,
    clock,
    timers,
    reporter: rec.reporter,
    maxSleepMs: opts.maxSleepMs,
    runBackup: async (slot, signal) => {
      runs.push({ slot, startedAt: clock.now().toISOString() });
      return opts.run ? opts.run(slot, signal, timers) : { file: `backup-${slot.at.toISOString()}` };
    },
    describeResult: (r) => (typeof r === 'object' && r !== null ? { ...(r as object) } : {}),
  });
  return { clock, timers, runner, runs, ...rec };
}

describe('SchedulerRunner on a fake clock', () => {
  it('runs a simulated leap year of the default schedule exactly once per slot, on time', { timeout: 600_000 }, async () => {
    const from = DateTime.fromObject({ year: 2024, month: 1, day: 1 }, { zone: LONDON }).toJSDate();
    const to = DateTime.fromObject({ year: 2025, month: 1, day: 1 }, { zone: LONDON }).toJSDate();
    // Start 1 ms before the first slot (slots before start are not caught up).
    const t = setup(new Date(from.getTime() - 1).toISOString(), { maxSleepMs: 2 ** 31 - 1 });
    t.runner.start();
    await t.timers.advanceTo(new Date(to.getTime() - 1));
    await t.runner.stop();

    // 366 days x (1 daily + 4 six-hourly), checked per London day below; that pins the whole set.
    expect(t.runs).toHaveLength(366 * 5);
    for (let i = 1; i < t.runs.length; i++) expect(t.runs[i].slot.at.getTime()).toBeGreaterThan(t.runs[i - 1].slot.at.getTime());
    // Each backup started at its slot's instant, not later.
    for (const r of t.runs) expect(r.startedAt).toBe(r.slot.at.toISOString());

    const daily = t.runs.filter((r) => r.slot.jobs.includes('daily'));
    expect(daily).toHaveLength(366);
    const days = new Set(daily.map((r) => DateTime.fromJSDate(r.slot.at, { zone: LONDON }).toFormat('yyyy-MM-dd HH:mm')));
    expect(days.size).toBe(366);
    expect([...days].every((d) => d.endsWith(' 02:00'))).toBe(true);
    expect(daily.find((r) => r.startedAt.startsWith('2024-03-31'))?.startedAt).toBe('2024-03-31T01:00:00.000Z');
    expect(daily.find((r) => r.startedAt.startsWith('2024-10-27'))?.startedAt).toBe('2024-10-27T02:00:00.000Z');
    expect(daily.find((r) => r.startedAt.startsWith('2024-02-29'))?.startedAt).toBe('2024-02-29T02:00:00.000Z');

    const sixHourly = new Map<string, string[]>();
    for (const r of t.runs.filter((x) => x.slot.jobs.includes('interval'))) {
      const l = DateTime.fromJSDate(r.slot.at, { zone: LONDON });
      const d = l.toISODate() as string;
      sixHourly.set(d, [...(sixHourly.get(d) ?? []), l.toFormat('HH:mm')]);
    }
    expect(sixHourly.size).toBe(366);
    expect([...sixHourly.values()].every((v) => v.join(' ') === '00:00 06:00 12:00 18:00')).toBe(true);
    expect(t.runs.every((r) => r.slot.jobs.length === 1)).toBe(true);

    expect(t.named('backup.succeeded')).toHaveLength(366 * 5);
    expect(t.named('backup.skipped')).toHaveLength(0);
    expect(t.named('schedule.missed')).toHaveLength(0);
    expect(t.named('scheduler.stopped')).toHaveLength(1);
    expect(t.timers.size).toBe(0);
  });

  it('wakes every maxSleepMs and still runs each slot of the DST weeks exactly once', { timeout: 300_000 }, async () => {
    for (const [start, end] of [
      ['2024-03-28T00:00:00Z', '2024-04-03T00:00:00Z'],
      ['2024-10-24T00:00:00Z', '2024-10-30T00:00:00Z'],
    ]) {
      const t = setup(start, { maxSleepMs: 7 * 60_000 });
      t.runner.start();
      await t.timers.advanceTo(end);
      await t.runner.stop();
      // Slots strictly after the start, up to and including `end` (advanceTo fires timers due at `end`).
      expect(t.runs.map((r) => r.slot)).toEqual(runsBetween(jobs, new Date(new Date(start).getTime() + 1), new Date(new Date(end).getTime() + 1)));
      for (const r of t.runs) expect(r.startedAt).toBe(r.slot.at.toISOString());
      expect(t.timers.fired).toBeGreaterThan(6 * 24 * 8);
    }
  });

  it('never overlaps: a slot due while a backup runs is skipped and logged, and the next slot runs', async () => {
    // Every backup takes 7 hours: longer than the six-hour gap.
    const t = setup('2024-06-01T00:30:00Z', { run: (_s, _sig, timers) => timers.sleep(7 * HOUR).then(() => ({ ok: true })) });
    t.runner.start();
    await t.timers.advanceTo('2024-06-02T00:30:00Z');
    // Slots (London BST): 02:00=01Z daily, 05Z, 11Z, 17Z, 23Z interval.
    expect(t.runs.map((r) => r.slot.at.toISOString())).toEqual(['2024-06-01T01:00:00.000Z', '2024-06-01T11:00:00.000Z', '2024-06-01T23:00:00.000Z']);
    expect(t.named('backup.skipped').map((e) => [e.fields.slot, e.fields.runningSlot, e.fields.reason])).toEqual([
      ['2024-06-01T05:00:00.000Z', '2024-06-01T01:00:00.000Z', 'previous backup still running'],
      ['2024-06-01T17:00:00.000Z', '2024-06-01T11:00:00.000Z', 'previous backup still running'],
    ]);
    expect(t.warnings.some((w) => w.includes('Skipped the backup due at 2024-06-01T05:00:00.000Z'))).toBe(true);
    expect(t.runner.state().running?.at.toISOString()).toBe('2024-06-01T23:00:00.000Z');
    const stopped = t.runner.stop();
    await t.timers.advanceTo('2024-06-02T07:00:00Z');
    await stopped;
    expect(t.runs).toHaveLength(3);
    expect(t.named('backup.succeeded').map((e) => [e.fields.slot, e.fields.durationMs, e.fields.ok])).toEqual([
      ['2024-06-01T01:00:00.000Z', 7 * HOUR, true],
      ['2024-06-01T11:00:00.000Z', 7 * HOUR, true],
      ['2024-06-01T23:00:00.000Z', 7 * HOUR, true],
    ]);
  });

  it('logs a failed run (rejection or synchronous throw) and runs again at the next slot', async () => {
    let n = 0;
    const t = setup('2024-06-01T00:30:00Z', {
      run: async (slot) => {
        n++;
        if (n === 1) throw new GuardError('DATABASE_UNREACHABLE', 'connection refused');
        if (n === 2) return Promise.reject(new Error('disk full'));
        return { file: slot.at.toISOString() };
      },
    });
    t.runner.start();
    await t.timers.advanceTo('2024-06-01T12:00:00Z');
    expect(t.runs).toHaveLength(3);
    expect(t.named('backup.failed').map((e) => [e.fields.slot, e.fields.error, e.fields.code, e.fields.retryAt])).toEqual([
      ['2024-06-01T01:00:00.000Z', 'connection refused', 'DATABASE_UNREACHABLE', '2024-06-01T05:00:00.000Z'],
      ['2024-06-01T05:00:00.000Z', 'disk full', undefined, '2024-06-01T11:00:00.000Z'],
    ]);
    expect(t.named('backup.succeeded').map((e) => e.fields.slot)).toEqual(['2024-06-01T11:00:00.000Z']);
    expect(t.warnings.filter((w) => w.includes('failed'))).toHaveLength(2);
    expect(t.runner.state().next?.at.toISOString()).toBe('2024-06-01T17:00:00.000Z');
    await t.runner.stop();
  });

  it('a runBackup that throws synchronously does not break the loop', async () => {
    const clock = new FakeClock('2024-06-01T00:30:00Z');
    const timers = new FakeTimers(clock);
    const rec = recorder(clock);
    let calls = 0;
    const runner = new SchedulerRunner({
      jobs,
      clock,
      timers,
      reporter: rec.reporter,
      runBackup: (() => {
        calls++;
        throw new Error('sync boom');
      }) as () => Promise<never>,
    });
    runner.start();
    await timers.advanceTo('2024-06-01T06:00:00Z');
    expect(calls).toBe(2);
    expect(rec.named('backup.failed').map((e) => e.fields.error)).toEqual(['sync boom', 'sync boom']);
    await runner.stop();
  });

  it('stop() stops taking slots and waits for the running backup; stop({abort}) aborts it', async () => {
    const t = setup('2024-06-01T00:30:00Z', {
      run: (_s, signal, timers) =>
        new Promise((resolve, reject) => {
          void timers.sleep(3 * HOUR).then(() => resolve('done'));
          signal.addEventListener('abort', () => reject(new Error(`aborted: ${(signal.reason as Error).message}`)));
        }),
    });
    t.runner.start();
    await t.timers.advanceTo('2024-06-01T02:00:00Z');
    expect(t.runner.state().running).not.toBeNull();
    let stopped = false;
    const stopping = t.runner.stop().then(() => {
      stopped = true;
    });
    await flush();
    expect(stopped).toBe(false);
    expect(t.runner.state().stopping).toBe(true);
    await t.timers.advanceTo('2024-06-02T00:00:00Z');
    await stopping;
    expect(stopped).toBe(true);
    expect(t.runs).toHaveLength(1);
    expect(t.named('backup.succeeded')).toHaveLength(1);
    expect(t.events.at(-1)?.name).toBe('scheduler.stopped');

    const a = setup('2024-06-01T00:30:00Z', {
      run: (_s, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
    });
    a.runner.start();
    await a.timers.advanceTo('2024-06-01T02:00:00Z');
    await a.runner.stop({ abort: true });
    expect(a.named('backup.aborting')).toHaveLength(1);
    expect(a.named('backup.failed').map((e) => [e.fields.error, e.fields.aborted])).toEqual([['aborted', true]]);
    expect(a.runner.state()).toEqual({ started: true, stopping: true, running: null, next: null });
    await a.timers.advanceTo('2024-06-03T00:00:00Z');
    expect(a.runs).toHaveLength(1);
    expect(a.timers.size).toBe(0);
  });

  it('coalesces slots missed while asleep into one backup tagged with every missed job', async () => {
    const t = setup('2024-06-01T00:30:00Z', { maxSleepMs: 2 ** 31 - 1 });
    t.runner.start();
    // The machine sleeps: the timer for 01:00Z fires only at 12:30Z.
    t.clock.set('2024-06-01T12:30:00Z');
    await t.timers.advanceTo('2024-06-01T12:30:00Z');
    expect(t.runs.map((r) => [r.slot.at.toISOString(), r.slot.jobs, r.startedAt])).toEqual([
      ['2024-06-01T11:00:00.000Z', ['daily', 'interval'], '2024-06-01T12:30:00.000Z'],
    ]);
    expect(t.named('schedule.missed').map((e) => e.fields.slots)).toEqual([['2024-06-01T01:00:00.000Z', '2024-06-01T05:00:00.000Z']]);
    expect(t.runner.state().next?.at.toISOString()).toBe('2024-06-01T17:00:00.000Z');
    await t.runner.stop();
  });

  it('does not repeat a slot when the wall clock steps backwards', async () => {
    const t = setup('2024-06-01T00:30:00Z');
    t.runner.start();
    await t.timers.advanceTo('2024-06-01T01:00:30Z');
    expect(t.runs).toHaveLength(1);
    t.clock.set('2024-06-01T00:55:00Z'); // NTP steps the clock back 5.5 minutes
    await t.timers.advanceTo('2024-06-01T05:00:00Z');
    expect(t.runs.map((r) => r.slot.at.toISOString())).toEqual(['2024-06-01T01:00:00.000Z', '2024-06-01T05:00:00.000Z']);
    await t.runner.stop();
  });

  it('with no jobs it starts, has nothing to do, and stops', async () => {
    const t = setup('2024-06-01T00:00:00Z', { jobs: [] });
    t.runner.start();
    await t.timers.advanceTo('2024-07-01T00:00:00Z');
    expect(t.runs).toHaveLength(0);
    expect(t.named('scheduler.started')[0].fields.next).toBeNull();
    await t.runner.stop();
  });
});

describe('realTimers', () => {
  it('fires after the delay and can be cleared', async () => {
    let fired = 0;
    const h = realTimers.setTimer(() => fired++, 5);
    const cleared = realTimers.setTimer(() => fired += 100, 5);
    realTimers.clearTimer(cleared);
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(1);
    realTimers.clearTimer(h);
  });

  it('drives the runner with the system clock', async () => {
    const ran: ScheduledSlot[] = [];
    // Every second, so a live run happens within the test.
    const runner = new SchedulerRunner({
      jobs: [{ name: 'interval', cron: '* * * * * *', timeZone: 'UTC' }],
      runBackup: async (slot) => {
        ran.push(slot);
      },
    });
    runner.start();
    await new Promise((r) => setTimeout(r, 2300));
    await runner.stop();
    expect(ran.length).toBeGreaterThanOrEqual(1);
    expect(ran.length).toBeLessThanOrEqual(3);
    for (const s of ran) expect(s.at.getUTCMilliseconds()).toBe(0);
  });
});
