/**
 * node-schedule (the runner's timers) and the pure slot computation (lib/scheduler/schedule.ts,
 * used by `status` and the runner's checks) agree on every slot over two years of Europe/London
 * clock changes, on fake timers: raw `scheduleJob({ rule, tz })` firings per job, and the
 * SchedulerRunner's backups, against runsBetween.
 */
import { createRequire } from 'node:module';
import { DateTime } from 'luxon';
import schedule from 'node-schedule';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchedulerRunner } from '../../lib/scheduler/runner.ts';
import { runsBetween, type ScheduledSlot, type ScheduleJob } from '../../lib/scheduler/schedule.ts';
import { installFakeTime } from './fake-timers.ts';
import { memoiseCronParserZoneOffsets } from './luxon-offset-memo.ts';

const LONDON = 'Europe/London';
const JOBS: ScheduleJob[] = [
  { name: 'daily', cron: '0 2 * * *', timeZone: LONDON },
  { name: 'interval', cron: '0 */6 * * *', timeZone: LONDON },
  // 01:30 does not exist on the last Sunday of March and happens twice on the last Sunday of October.
  { name: 'early', cron: '30 1 * * *', timeZone: LONDON },
];
const FROM = DateTime.fromObject({ year: 2024, month: 1, day: 1 }, { zone: LONDON }).toJSDate();
const TO = DateTime.fromObject({ year: 2026, month: 1, day: 1 }, { zone: LONDON }).toJSDate();

// cron-parser (inside node-schedule, and in the pure computation) is slow in zones: see the memo's comment.
let restoreOffset = () => {};
beforeAll(() => {
  restoreOffset = memoiseCronParserZoneOffsets();
});
afterAll(() => restoreOffset());

describe('node-schedule and the pure slot computation', () => {
  it('use one cron-parser: the one this package declares', () => {
    const fromNodeSchedule = createRequire(createRequire(import.meta.url).resolve('node-schedule')).resolve('cron-parser');
    expect(fromNodeSchedule).toBe(createRequire(import.meta.url).resolve('cron-parser'));
  });

  it('agree on every slot of 2024 and 2025 in Europe/London (both defaults and a 01:30 job)', { timeout: 900_000 }, async () => {
    const t0 = performance.now();
    // Start 1 ms before the first slot: slots before start are not caught up.
    const time = installFakeTime(FROM.getTime() - 1);
    const fired: Record<string, Array<{ fireDate: number; at: number }>> = {};
    const raw = JOBS.map((j) => {
      fired[j.name] = [];
      return schedule.scheduleJob({ rule: j.cron, tz: j.timeZone }, (fireDate: Date) => {
        fired[j.name].push({ fireDate: fireDate.getTime(), at: Date.now() });
      });
    });
    const runs: Array<{ slot: ScheduledSlot; at: number }> = [];
    const ignored: unknown[] = [];
    const runner = new SchedulerRunner({
      jobs: JOBS,
      // Only node-schedule's firings here; the watchdog has its own test (runner.test.ts).
      watchdogMs: 0,
      reporter: { info() {}, warn() {}, progress() {}, event: (name, fields) => (name === 'schedule.fire-ignored' ? ignored.push(fields) : undefined) },
      runBackup: async (slot) => {
        runs.push({ slot, at: Date.now() });
      },
    });
    runner.start();
    try {
      await time.advanceTo(TO.getTime() - 1);
      await runner.stop();
      for (const r of raw) r?.cancel();
      expect(time.pending).toBe(0);
    } finally {
      time.uninstall();
    }
    const simulatedMs = performance.now() - t0;

    // The runner's slots are the pure computation's (slotsAfter, the generator behind runsBetween),
    // walked once from the start; a second walk here would only cost time. The first and last
    // are checked against runsBetween directly.
    const slots = runs.map((r) => ({ at: r.slot.at.getTime(), jobs: r.slot.jobs }));
    const plain = (xs: ScheduledSlot[]) => xs.map((s) => ({ at: s.at.getTime(), jobs: s.jobs }));
    const firstDay = plain(runsBetween(JOBS, FROM, new Date(FROM.getTime() + 86_400_000)));
    const lastDay = plain(runsBetween(JOBS, new Date(TO.getTime() - 86_400_000), TO));
    expect(firstDay).toHaveLength(6);
    expect(slots.slice(0, 6)).toEqual(firstDay);
    expect(slots.slice(-6)).toEqual(lastDay);
    // 731 days: each job once a day (interval four times), no two on the same instant.
    expect(slots).toHaveLength(731 * 6);
    for (let i = 1; i < slots.length; i++) expect(slots[i].at).toBeGreaterThan(slots[i - 1].at);
    for (const job of JOBS) {
      // Each job on its own: node-schedule fired exactly the pure slots that carry its name.
      const own = slots.filter((s) => s.jobs.includes(job.name)).map((s) => s.at);
      expect(fired[job.name].map((f) => f.fireDate), job.name).toEqual(own);
      // On time: node-schedule re-checks the clock and re-arms with a 0 ms timeout, which Node runs after 1 ms.
      expect(fired[job.name].filter((f) => f.at - f.fireDate > 1 || f.at < f.fireDate).map((f) => [new Date(f.fireDate).toISOString(), new Date(f.at).toISOString()]), `${job.name} fired late`).toEqual([]);
    }
    // The runner: one backup per slot, at its instant, no firing ignored.
    expect(runs.filter((r) => r.at - r.slot.at.getTime() > 1 || r.at < r.slot.at.getTime())).toEqual([]);
    expect(ignored).toEqual([]);
    // Every London day: 02:00, 01:30 and 00/06/12/18 local.
    const perDay = new Map<string, string[]>();
    for (const s of slots) {
      const l = DateTime.fromMillis(s.at, { zone: LONDON });
      const day = l.toISODate() as string;
      perDay.set(day, [...(perDay.get(day) ?? []), l.toFormat('HH:mm')]);
    }
    expect(perDay.size).toBe(731);
    const usual = ['00:00', '01:30', '02:00', '06:00', '12:00', '18:00'].join(' ');
    const unusual = [...perDay].filter(([, times]) => times.join(' ') !== usual);
    // Only the spring days differ: 01:30 moved forward to 02:30 (after the 02:00 run).
    expect(unusual).toEqual([
      ['2024-03-31', ['00:00', '02:00', '02:30', '06:00', '12:00', '18:00']],
      ['2025-03-30', ['00:00', '02:00', '02:30', '06:00', '12:00', '18:00']],
    ]);

    // The documented DST rules, on the transition days themselves.
    const localTimes = (name: string, day: string) =>
      fired[name].map((f) => DateTime.fromMillis(f.fireDate, { zone: LONDON })).filter((d) => d.toISODate() === day).map((d) => d.toFormat('HH:mm ZZ'));
    for (const [spring, autumn] of [['2024-03-31', '2024-10-27'], ['2025-03-30', '2025-10-26']]) {
      // 01:30 GMT does not exist: once, moved forward by the gap (02:30 BST).
      expect(localTimes('early', spring)).toEqual(['02:30 +01:00']);
      // 01:30 happens twice: once, the first time (BST).
      expect(localTimes('early', autumn)).toEqual(['01:30 +01:00']);
      expect(localTimes('daily', spring)).toEqual(['02:00 +01:00']);
      expect(localTimes('daily', autumn)).toEqual(['02:00 +00:00']);
      expect(localTimes('interval', spring)).toEqual(['00:00 +00:00', '06:00 +01:00', '12:00 +01:00', '18:00 +01:00']);
      expect(localTimes('interval', autumn)).toEqual(['00:00 +01:00', '06:00 +00:00', '12:00 +00:00', '18:00 +00:00']);
    }
    console.log(`two simulated years: ${(simulatedMs / 1000).toFixed(1)} s on fake time, ${((performance.now() - t0) / 1000).toFixed(1)} s in all`);
  });
});
