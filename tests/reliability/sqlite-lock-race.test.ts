import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireFileLock, lockHolder, lockPath } from '../../lib/dialects/sqlite/sqlite-lock.ts';
import { GuardError } from '../../lib/core/errors.ts';
import { ROOT } from '../helpers/cli.ts';
import { describeSeed, random, SEED } from './helpers.ts';

/**
 * Promise: the SQLite lock has at most one holder at any moment, also after its holder was
 * killed with SIGKILL (the operating system releases it; nothing is taken over), and every waiter
 * eventually gets it.
 *
 * A first process takes the lock and holds it; 8 more processes (real child processes) start
 * waiting; the holder is killed -9. Then the 8 take the lock one after another, each appending
 * `enter`/`leave` with wall-clock times to a shared log; two of them (chosen by the seed) are
 * killed -9 while they hold it. The test replays the log: the hold intervals never overlap (a
 * killed holder's interval ends when the kill was sent, so a successor entering earlier is an
 * overlap), all 8 entered, and the lock passed on after each kill.
 */
const CONTENDERS = 8;
const VICTIMS = 2;

const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-lock-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Child {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function contender(dbFile: string, logFile: string, hold: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'tests/reliability/fixtures/lock-contender.ts'), dbFile, logFile, hold], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('close', (code, signal) => {
      if (code) console.error(`contender ${proc.pid} failed: ${stderr}`);
      resolve({ code, signal });
    }),
  );
  return { proc, exited };
}

interface Event {
  kind: string;
  pid: number;
  t: number;
}

function readLog(file: string): Event[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [kind, pid, t] = l.split(' ');
      return { kind, pid: Number(pid), t: Number(t) };
    });
}

const wallNow = () => performance.timeOrigin + performance.now();

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} ${describeSeed()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('SQLite lock race (8 processes, kill -9 of holders)', () => {
  it('has exactly one holder at every moment, hands over on kill -9, and lets every waiter in', async () => {
    const rnd = random(SEED + 12);
    const dbFile = path.join(dir, 'race.db');
    writeFileSync(dbFile, '');
    const logFile = path.join(dir, 'race.log');
    const kills = new Map<number, number>(); // pid -> wall-clock time the SIGKILL was sent

    const first = contender(dbFile, logFile, 'forever');
    await until('the first holder', () => readLog(logFile).some((e) => e.kind === 'enter' && e.pid === first.proc.pid));

    // While it holds the lock, a waiter with a short wait is refused and told who holds it.
    const refused = await acquireFileLock(dbFile, 'probe', 300).catch((e) => e as GuardError);
    expect(refused).toBeInstanceOf(GuardError);
    expect((refused as GuardError).code).toBe('LOCKED');
    expect((refused as GuardError).message).toContain(`pid ${first.proc.pid} `);
    expect((refused as GuardError).message).toMatch(/"race" \(lock-contender\.ts, pid \d+ on .+ since \d{4}-\d\d-\d\dT/);
    expect(lockHolder(dbFile)?.pid).toBe(first.proc.pid);

    const children = Array.from({ length: CONTENDERS }, () => contender(dbFile, logFile, String(20 + Math.floor(rnd() * 30))));
    const pids = children.map((c) => c.proc.pid!);
    const victims = new Set<number>();
    while (victims.size < VICTIMS) victims.add(pids[Math.floor(rnd() * CONTENDERS)]);
    await until('all contenders waiting', () => readLog(logFile).filter((e) => e.kind === 'waiting' && pids.includes(e.pid)).length === CONTENDERS);
    await new Promise((r) => setTimeout(r, 100)); // they are inside their lock waits now

    kills.set(first.proc.pid!, wallNow());
    first.proc.kill('SIGKILL');
    // Kill each victim as soon as it holds the lock.
    const killer = (async () => {
      const pending = new Set(victims);
      while (pending.size) {
        for (const e of readLog(logFile)) {
          if (e.kind === 'enter' && pending.has(e.pid)) {
            kills.set(e.pid, wallNow());
            process.kill(e.pid, 'SIGKILL');
            pending.delete(e.pid);
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const results = await Promise.all(children.map((c) => c.exited));
    await killer;
    await first.exited;

    const events = readLog(logFile);
    const intervals = [first.proc.pid!, ...pids].map((pid) => {
      const enter = events.find((e) => e.kind === 'enter' && e.pid === pid);
      const leave = events.find((e) => e.kind === 'leave' && e.pid === pid);
      return { pid, enter: enter?.t, end: kills.get(pid) ?? leave?.t };
    });
    const context = `${describeSeed()}\n${events.map((e) => `${e.kind} ${e.pid} ${e.t}`).join('\n')}`;
    for (const iv of intervals) {
      expect(iv.enter, `process ${iv.pid} never got the lock\n${context}`).toBeDefined();
      expect(iv.end, `process ${iv.pid} has no end\n${context}`).toBeDefined();
    }
    const sorted = [...intervals].sort((a, b) => a.enter! - b.enter!);
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i].enter!, `process ${sorted[i].pid} entered while ${sorted[i - 1].pid} held the lock\n${context}`).toBeGreaterThanOrEqual(sorted[i - 1].end!);
    }
    // Every kill handed the lock on: each victim has a successor (or all others were done before).
    for (const v of victims) {
      const at = sorted.findIndex((iv) => iv.pid === v);
      if (at < sorted.length - 1) expect(sorted[at + 1].enter!).toBeGreaterThan(kills.get(v)!);
    }
    results.forEach((r, i) => {
      if (victims.has(pids[i])) expect(r.signal).toBe('SIGKILL');
      else expect(r.code, `contender ${pids[i]}\n${context}`).toBe(0);
    });
    // Nobody holds it now, and the lock database stayed in place (never deleted or replaced).
    expect(lockHolder(dbFile)).toBeNull();
    expect(existsSync(lockPath(dbFile))).toBe(true);
    const again = await acquireFileLock(dbFile, 'after', 0);
    await again.release();
  }, 60_000);
});
