import type { FakeClock } from '../../lib/core/clock.ts';
import type { TimerFunctions } from '../../lib/scheduler/runner.ts';

/** Lets pending promise callbacks (a backup's `then`, the runner's bookkeeping) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * Timers driven by a FakeClock: a timer fires when `advanceTo` moves the clock past its due time,
 * in due order, with the clock set to that due time while it runs.
 */
export class FakeTimers implements TimerFunctions {
  private seq = 0;
  private pending = new Map<number, { due: number; callback: () => void; seq: number }>();
  /** Number of timers that fired, to check the runner does not spin. */
  fired = 0;

  constructor(readonly clock: FakeClock) {}

  setTimer(callback: () => void, delayMs: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { due: this.clock.now().getTime() + Math.max(0, delayMs), callback, seq: id });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolves after `ms` of fake time (for backups that take a while). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(resolve, ms));
  }

  /** Moves the clock to `to`, firing every timer due on the way. */
  async advanceTo(to: Date | string | number): Promise<void> {
    const target = new Date(to).getTime();
    await flush();
    for (;;) {
      let next: { id: number; due: number; callback: () => void; seq: number } | null = null;
      for (const [id, t] of this.pending) {
        if (t.due <= target && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = { id, ...t };
      }
      if (!next) break;
      this.pending.delete(next.id);
      if (next.due > this.clock.now().getTime()) this.clock.set(next.due);
      this.fired++;
      next.callback();
      await flush();
    }
    if (target > this.clock.now().getTime()) this.clock.set(target);
    await flush();
  }

  advance(ms: number): Promise<void> {
    return this.advanceTo(this.clock.now().getTime() + ms);
  }
}
