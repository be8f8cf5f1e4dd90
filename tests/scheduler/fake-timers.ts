/**
 * Fake time for the scheduler tests: replaces the global setTimeout/setInterval (and their clear
 * functions) and `Date.now`, which is all node-schedule, cron-parser (through luxon's Settings.now)
 * and the runner read. Lighter than vitest's fake timers, which also replace the Date constructor:
 * cron-parser builds many Dates, and two simulated years spent most of their time there.
 *
 * Two clocks, as on a real machine: timers run on a monotonic clock, `Date.now()` is the wall clock.
 * `jumpWall` moves only the wall clock (a suspended laptop waking up, an NTP step), so timers armed
 * before it fire late or early in wall time, exactly as Node's do.
 */

type Callback = (...args: unknown[]) => void;
interface Timer {
  id: number;
  due: number;
  callback: Callback;
  args: unknown[];
  repeat: number | null;
}

/** Lets pending promise callbacks (a backup's `then`, the runner's bookkeeping) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface FakeTime {
  /** Wall-clock now (what Date.now() returns). */
  now(): number;
  /** Advances both clocks to wall time `to`, firing every timer due on the way, in order. */
  advanceTo(to: Date | string | number): Promise<void>;
  advance(ms: number): Promise<void>;
  /** Moves only the wall clock by `ms` (negative: backwards). Timers keep their monotonic due times. */
  jumpWall(ms: number): void;
  /** Timers pending. */
  readonly pending: number;
  /** Puts the real timers and Date.now back. */
  uninstall(): void;
}

/** Installs fake time starting at wall time `start`. Call `uninstall()` (e.g. in afterEach). */
export function installFakeTime(start: Date | string | number): FakeTime {
  const real = { setTimeout, clearTimeout, setInterval, clearInterval, now: Date.now };
  let mono = 0;
  let skew = new Date(start).getTime();
  let seq = 0;
  const timers = new Map<number, Timer>();
  const handle = (id: number) => ({ id, ref() { return this; }, unref() { return this; }, hasRef: () => true, [Symbol.toPrimitive]: () => id });
  const add = (callback: Callback, delay: unknown, args: unknown[], repeat: boolean) => {
    // Node runs a timeout of less than 1 ms after 1 ms.
    const ms = Math.max(1, Number(delay) || 0);
    const id = ++seq;
    timers.set(id, { id, due: mono + ms, callback, args, repeat: repeat ? ms : null });
    return handle(id);
  };
  const clear = (h: unknown) => {
    if (h && typeof h === 'object' && 'id' in h) timers.delete((h as { id: number }).id);
    else if (typeof h === 'number') timers.delete(h);
  };
  const g = globalThis as unknown as Record<string, unknown>;
  g.setTimeout = (cb: Callback, delay?: number, ...args: unknown[]) => add(cb, delay, args, false);
  g.setInterval = (cb: Callback, delay?: number, ...args: unknown[]) => add(cb, delay, args, true);
  g.clearTimeout = clear;
  g.clearInterval = clear;
  Date.now = () => mono + skew;

  const nextDue = (limit: number): Timer | null => {
    let best: Timer | null = null;
    for (const t of timers.values()) if (t.due <= limit && (!best || t.due < best.due || (t.due === best.due && t.id < best.id))) best = t;
    return best;
  };
  const fake: FakeTime = {
    now: () => mono + skew,
    async advanceTo(to) {
      const target = new Date(to).getTime() - skew;
      await flush();
      for (let t = nextDue(target); t; t = nextDue(target)) {
        mono = Math.max(mono, t.due);
        if (t.repeat === null) timers.delete(t.id);
        else t.due += t.repeat;
        t.callback(...t.args);
        await flush();
      }
      mono = Math.max(mono, target);
      await flush();
    },
    advance(ms) {
      return fake.advanceTo(mono + skew + ms);
    },
    jumpWall(ms) {
      skew += ms;
    },
    get pending() {
      return timers.size;
    },
    uninstall() {
      Object.assign(g, { setTimeout: real.setTimeout, clearTimeout: real.clearTimeout, setInterval: real.setInterval, clearInterval: real.clearInterval });
      Date.now = real.now;
    },
  };
  return fake;
}
