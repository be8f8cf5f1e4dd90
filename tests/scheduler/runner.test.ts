import { describe, expect, it } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import type { Reporter } from '../../lib/core/logger.ts';
import { SchedulerRunner, type SchedulerRunnerOptions } from '../../lib/scheduler/runner.ts';
import { parseScheduleConfig, runsBetween, type ScheduledSlot, type ScheduleJob } from '../../lib/scheduler/schedule.ts';
import { flush, installFakeTime, type FakeTime } from './fake-timers.ts';

const HOUR = 3600_000;
const jobs = parseScheduleConfig({}).jobs;

interface Event {
  name: string;
  fields: Record<string, unknown>;
  at: string;
}

function recorder() {
  const events: Event[] = [];
  const warnings: string[] = [];
  const reporter: Reporter = {
    info() {},
    warn(m) {
      warnings.push(m);
    },
    progress() {},
    event(name, fields = {}) {
      events.push({ name, fields, at: new Date(Date.now()).toISOString() });
    },
  };
  const named = (n: string) => events.filter((e) => e.name === n);
  return { events, warnings, reporter, named };
}

/** Fake time from `start`, a runner on node-schedule, and what it did. Always ends with `done()`. */
function setup(start: string, opts: { jobs?: ScheduleJob[]; watchdogMs?: number; run?: (slot: ScheduledSlot, signal: AbortSignal, time: FakeTime) => Promise<unknown> } & Partial<SchedulerRunnerOptions<unknown>> = {}) {
  const time = installFakeTime(start);
  const rec = recorder();
  const runs: Array<{ slot: ScheduledSlot; startedAt: string }> = [];
  const runner = new SchedulerRunner({
    jobs: opts.jobs ?? jobs,
    reporter: rec.reporter,
    watchdogMs: opts.watchdogMs,
    runBackup: async (slot, signal) => {
      runs.push({ slot, startedAt: new Date(Date.now()).toISOString() });
      return opts.run ? opts.run(slot, signal, time) : { file: `backup-${slot.at.toISOString()}` };
    },
    describeResult: (r) => (typeof r === 'object' && r !== null ? { ...(r as object) } : {}),
  });
  const done = async () => {
    try {
      await runner.stop({ abort: true });
      await flush();
      expect(time.pending, 'timers left behind').toBe(0);
    } finally {
      time.uninstall();
    }
  };
  return { time, runner, runs, done, ...rec };
}

/** A promise that settles after `ms` of fake time. */
const sleep = (time: FakeTime, ms: number) => new Promise<void>((r) => setTimeout(r, ms)).then(() => undefined) as Promise<void> & { time?: FakeTime };

describe('SchedulerRunner on node-schedule (fake time)', () => {
  it('runs each slot of the DST weeks exactly once, on time, with the watchdog waking every 7 minutes', { timeout: 120_000 }, async () => {
    for (const [start, end] of [
      ['2024-03-28T00:00:00Z', '2024-04-03T00:00:00Z'],
      ['2024-10-24T00:00:00Z', '2024-10-30T00:00:00Z'],
    ]) {
      const t = setup(start, { watchdogMs: 7 * 60_000 });
      try {
        t.runner.start();
        await t.time.advanceTo(end);
        // Slots strictly after the start, up to and including `end`.
        expect(t.runs.map((r) => r.slot)).toEqual(runsBetween(jobs, new Date(new Date(start).getTime() + 1), new Date(new Date(end).getTime() + 1)));
        for (const r of t.runs) expect(Date.parse(r.startedAt) - r.slot.at.getTime()).toBeLessThanOrEqual(1);
        expect(t.named('schedule.missed')).toEqual([]);
        expect(t.named('schedule.fire-ignored')).toEqual([]);
      } finally {
        await t.done();
      }
    }
  });

  it('never overlaps: a slot due while a backup runs is skipped and logged, and the next slot runs', async () => {
    // Every backup takes 7 hours: longer than the six-hour gap.
    const t = setup('2024-06-01T00:30:00Z', { run: (_s, _sig, time) => sleep(time, 7 * HOUR).then(() => ({ ok: true })) });
    try {
      t.runner.start();
      await t.time.advanceTo('2024-06-02T00:30:00Z');
      // Slots (London BST): 02:00=01Z daily, 05Z, 11Z, 17Z, 23Z interval.
      expect(t.runs.map((r) => r.slot.at.toISOString())).toEqual(['2024-06-01T01:00:00.000Z', '2024-06-01T11:00:00.000Z', '2024-06-01T23:00:00.000Z']);
      expect(t.named('backup.skipped').map((e) => [e.fields.slot, e.fields.runningSlot, e.fields.reason])).toEqual([
        ['2024-06-01T05:00:00.000Z', '2024-06-01T01:00:00.000Z', 'previous backup still running'],
        ['2024-06-01T17:00:00.000Z', '2024-06-01T11:00:00.000Z', 'previous backup still running'],
      ]);
      expect(t.warnings.some((w) => w.includes('Skipped the backup due at 2024-06-01T05:00:00.000Z'))).toBe(true);
      expect(t.runner.state().running?.at.toISOString()).toBe('2024-06-01T23:00:00.000Z');
      const stopped = t.runner.stop();
      await t.time.advanceTo('2024-06-02T07:00:00Z');
      await stopped;
      expect(t.runs).toHaveLength(3);
      expect(t.named('backup.succeeded').map((e) => [e.fields.slot, e.fields.durationMs, e.fields.ok])).toEqual([
        ['2024-06-01T01:00:00.000Z', 7 * HOUR, true],
        ['2024-06-01T11:00:00.000Z', 7 * HOUR, true],
        ['2024-06-01T23:00:00.000Z', 7 * HOUR, true],
      ]);
    } finally {
      await t.done();
    }
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
    try {
      t.runner.start();
      await t.time.advanceTo('2024-06-01T12:00:00Z');
      expect(t.runs).toHaveLength(3);
      expect(t.named('backup.failed').map((e) => [e.fields.slot, e.fields.error, e.fields.code, e.fields.retryAt])).toEqual([
        ['2024-06-01T01:00:00.000Z', 'connection refused', 'DATABASE_UNREACHABLE', '2024-06-01T05:00:00.000Z'],
        ['2024-06-01T05:00:00.000Z', 'disk full', undefined, '2024-06-01T11:00:00.000Z'],
      ]);
      expect(t.named('backup.succeeded').map((e) => e.fields.slot)).toEqual(['2024-06-01T11:00:00.000Z']);
      expect(t.warnings.filter((w) => w.includes('failed'))).toHaveLength(2);
      expect(t.runner.state().next?.at.toISOString()).toBe('2024-06-01T17:00:00.000Z');
    } finally {
      await t.done();
    }
  });

  it('a runBackup that throws synchronously does not break the loop', async () => {
    const time = installFakeTime('2024-06-01T00:30:00Z');
    const rec = recorder();
    let calls = 0;
    const runner = new SchedulerRunner({
      jobs,
      reporter: rec.reporter,
      runBackup: (() => {
        calls++;
        throw new Error('sync boom');
      }) as () => Promise<never>,
    });
    try {
      runner.start();
      await time.advanceTo('2024-06-01T06:00:00Z');
      expect(calls).toBe(2);
      expect(rec.named('backup.failed').map((e) => e.fields.error)).toEqual(['sync boom', 'sync boom']);
    } finally {
      await runner.stop();
      time.uninstall();
    }
  });

  it('stop() stops taking slots and waits for the running backup; stop({abort}) aborts it', async () => {
    const t = setup('2024-06-01T00:30:00Z', {
      run: (_s, signal, time) =>
        new Promise((resolve, reject) => {
          void sleep(time, 3 * HOUR).then(() => resolve('done'));
          signal.addEventListener('abort', () => reject(new Error(`aborted: ${(signal.reason as Error).message}`)));
        }),
    });
    try {
      t.runner.start();
      await t.time.advanceTo('2024-06-01T02:00:00Z');
      expect(t.runner.state().running).not.toBeNull();
      let stopped = false;
      const stopping = t.runner.stop().then(() => {
        stopped = true;
      });
      await flush();
      expect(stopped).toBe(false);
      expect(t.runner.state().stopping).toBe(true);
      await t.time.advanceTo('2024-06-02T00:00:00Z');
      await stopping;
      expect(stopped).toBe(true);
      expect(t.runs).toHaveLength(1);
      expect(t.named('backup.succeeded')).toHaveLength(1);
      expect(t.events.at(-1)?.name).toBe('scheduler.stopped');
    } finally {
      await t.done();
    }

    const a = setup('2024-06-01T00:30:00Z', {
      run: (_s, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
    });
    try {
      a.runner.start();
      await a.time.advanceTo('2024-06-01T02:00:00Z');
      await a.runner.stop({ abort: true });
      expect(a.named('backup.aborting')).toHaveLength(1);
      expect(a.named('backup.failed').map((e) => [e.fields.error, e.fields.aborted])).toEqual([['aborted', true]]);
      expect(a.runner.state()).toEqual({ started: true, stopping: true, running: null, next: null });
      // node-schedule's jobs are cancelled: nothing is left to fire.
      expect(a.time.pending).toBe(0);
      await a.time.advanceTo('2024-06-03T00:00:00Z');
      expect(a.runs).toHaveLength(1);
    } finally {
      await a.done();
    }
  });

  it('after a suspend: the watchdog runs one backup for the missed slots, node-schedule\'s late firings are ignored', async () => {
    const t = setup('2024-06-01T00:30:00Z');
    try {
      t.runner.start();
      // The laptop sleeps 12 hours: the wall clock jumps, the timers (monotonic) do not.
      t.time.jumpWall(12 * HOUR);
      await t.time.advance(15 * 60_000);
      // The watchdog (every 10 minutes) noticed at 12:40Z: one backup for the latest slot, tagged with both jobs.
      expect(t.runs.map((r) => [r.slot.at.toISOString(), r.slot.jobs, r.startedAt])).toEqual([['2024-06-01T11:00:00.000Z', ['daily', 'interval'], '2024-06-01T12:40:00.000Z']]);
      expect(t.named('schedule.missed').map((e) => e.fields.slots)).toEqual([['2024-06-01T01:00:00.000Z', '2024-06-01T05:00:00.000Z']]);
      expect(t.runner.state().next?.at.toISOString()).toBe('2024-06-01T17:00:00.000Z');
      // node-schedule's one timer (for 01:00Z) fires at 13:00Z, 30 monotonic minutes after the start,
      // then it fires every past recurrence at once: all already handled, none runs a backup.
      await t.time.advanceTo('2024-06-01T13:30:00Z');
      expect(t.named('schedule.fire-ignored').map((e) => [e.fields.job, e.fields.fireDate, e.fields.reason, e.at.slice(0, 19)])).toEqual([
        ['daily', '2024-06-01T01:00:00.000Z', 'slot already handled', '2024-06-01T13:00:00'],
        ['interval', '2024-06-01T05:00:00.000Z', 'slot already handled', '2024-06-01T13:00:00'],
        ['interval', '2024-06-01T11:00:00.000Z', 'slot already handled', '2024-06-01T13:00:00'],
      ]);
      expect(t.runs).toHaveLength(1);
      await t.time.advanceTo('2024-06-02T01:30:00Z');
      // Then every slot once more, on time (17Z and 23Z interval, 01Z daily).
      expect(t.runs.slice(1).map((r) => [r.slot.at.toISOString(), r.startedAt.slice(0, 19)])).toEqual([
        ['2024-06-01T17:00:00.000Z', '2024-06-01T17:00:00'],
        ['2024-06-01T23:00:00.000Z', '2024-06-01T23:00:00'],
        ['2024-06-02T01:00:00.000Z', '2024-06-02T01:00:00'],
      ]);
    } finally {
      await t.done();
    }
  });

  it('without the watchdog, node-schedule\'s late firing coalesces the missed slots into one backup', async () => {
    const t = setup('2024-06-01T00:30:00Z', { watchdogMs: 0 });
    try {
      t.runner.start();
      t.time.jumpWall(12 * HOUR);
      await t.time.advanceTo('2024-06-01T13:00:00Z');
      expect(t.runs.map((r) => [r.slot.at.toISOString(), r.slot.jobs, r.startedAt])).toEqual([['2024-06-01T11:00:00.000Z', ['daily', 'interval'], '2024-06-01T13:00:00.000Z']]);
      expect(t.named('schedule.missed').map((e) => e.fields.slots)).toEqual([['2024-06-01T01:00:00.000Z', '2024-06-01T05:00:00.000Z']]);
    } finally {
      await t.done();
    }
  });

  it('does not repeat a slot when the wall clock steps backwards', async () => {
    const t = setup('2024-06-01T00:30:00Z');
    try {
      t.runner.start();
      await t.time.advanceTo('2024-06-01T01:00:30Z');
      expect(t.runs).toHaveLength(1);
      t.time.jumpWall(-5.5 * 60_000); // NTP steps the clock back to 00:55Z
      await t.time.advanceTo('2024-06-01T05:00:00Z');
      expect(t.runs.map((r) => [r.slot.at.toISOString(), r.startedAt.slice(0, 19)])).toEqual([
        ['2024-06-01T01:00:00.000Z', '2024-06-01T01:00:00'],
        ['2024-06-01T05:00:00.000Z', '2024-06-01T05:00:00'],
      ]);
    } finally {
      await t.done();
    }
  });

  it('runs a fixed time once where node-schedule fires it twice (Australia/Lord_Howe\'s repeated half hour)', async () => {
    // 2024-04-07 02:00 +11:00 -> 01:30 +10:30: 01:45 happens twice; cron-parser (so node-schedule) fires both.
    const t = setup('2024-04-06T12:00:00Z', { jobs: [{ name: 'daily', cron: '45 1 * * *', timeZone: 'Australia/Lord_Howe' }] });
    try {
      t.runner.start();
      await t.time.advanceTo('2024-04-07T12:00:00Z');
      // 01:45 +11:00 = 14:45Z the day before; the second 01:45 (+10:30) = 15:15Z is not a slot.
      expect(t.runs.map((r) => r.slot.at.toISOString())).toEqual(['2024-04-06T14:45:00.000Z']);
      expect(t.named('schedule.fire-ignored').map((e) => [e.fields.fireDate, e.fields.reason])).toEqual([['2024-04-06T15:15:00.000Z', 'not a slot of the schedule']]);
    } finally {
      await t.done();
    }
  });

  it('with no jobs it starts, has nothing to do, and stops', async () => {
    const t = setup('2024-06-01T00:00:00Z', { jobs: [] });
    try {
      t.runner.start();
      expect(t.time.pending).toBe(0);
      await t.time.advanceTo('2024-07-01T00:00:00Z');
      expect(t.runs).toHaveLength(0);
      expect(t.named('scheduler.started')[0].fields.next).toBeNull();
    } finally {
      await t.done();
    }
  });
});

describe('SchedulerRunner on real time', () => {
  it('node-schedule drives the runner with the system clock', async () => {
    const ran: Array<{ slot: ScheduledSlot; at: number }> = [];
    // Every second, so a live run happens within the test.
    const runner = new SchedulerRunner({
      jobs: [{ name: 'interval', cron: '* * * * * *', timeZone: 'UTC' }],
      runBackup: async (slot) => {
        ran.push({ slot, at: Date.now() });
      },
    });
    runner.start();
    await new Promise((r) => setTimeout(r, 2300));
    await runner.stop();
    expect(ran.length).toBeGreaterThanOrEqual(1);
    expect(ran.length).toBeLessThanOrEqual(3);
    for (const r of ran) {
      expect(r.slot.at.getUTCMilliseconds()).toBe(0);
      expect(r.at).toBeGreaterThanOrEqual(r.slot.at.getTime());
    }
  });
});
