/**
 * Several app servers, each running the scheduler, one PostgreSQL database: each slot is backed up
 * once in total. Two real scheduler processes with separate BACKUP_DIRs (nothing shared but the
 * database) on the same 3-second schedule.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_SCHEMA, LEDGER_TABLE } from '../../lib/ops/slot-ledger.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { ROOT } from '../helpers/cli.ts';
import { createPgDatabase, rawQueryable, tempDir, type FreshDatabase } from '../helpers/db.ts';
import { testScheduleEnv } from './test-schedule-env.ts';

const SLOT_MS = 3000;
let db: FreshDatabase;
const tmp = tempDir('prisma-guard-multi-');

beforeAll(async () => {
  db = await createPgDatabase();
  const q = await rawQueryable(db.url);
  await q.exec(`CREATE TABLE account (id serial PRIMARY KEY, email text NOT NULL UNIQUE, created timestamptz NOT NULL DEFAULT now())`);
  await q.exec(`INSERT INTO account (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 20000) g`);
  await q.close();
});

afterAll(async () => {
  await db?.drop();
  tmp.remove();
});

interface Child {
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: () => string;
  kill: (s: NodeJS.Signals) => void;
}

function startScheduler(backupDir: string): Child {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/prisma-guard.js'), 'schedule'], {
    cwd: ROOT,
    env: {
      ...process.env,
      CI: 'true',
      DATABASE_URL: db.url,
      BACKUP_DIR: backupDir,
      ...testScheduleEnv(SLOT_MS / 1000),
    },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    done: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
    stdout: () => out,
    kill: (s) => child.kill(s),
  };
}

function events(out: string): Array<{ event: string; [k: string]: unknown }> {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('two scheduler processes on one PostgreSQL database', () => {
  it('take each slot once in total, and the slot record stays out of the backups', async () => {
    const dirA = path.join(tmp.dir, 'server-a');
    const dirB = path.join(tmp.dir, 'server-b');
    const a = startScheduler(dirA);
    const b = startScheduler(dirB);
    // Once both run (start-up time varies with load), let several slots pass; both fire at each.
    const deadline = Date.now() + 60_000;
    while (!(a.stdout().includes('"scheduler.started"') && b.stdout().includes('"scheduler.started"'))) {
      if (Date.now() > deadline) throw new Error(`schedulers did not start:\n${a.stdout()}\n${b.stdout()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 4 * SLOT_MS));
    // Stop between slots (a backup of this database takes well under a second), so normally no
    // backup is cut short; one that is is aborted cleanly and allowed for below.
    while (Date.now() % SLOT_MS < SLOT_MS / 2) await new Promise((r) => setTimeout(r, 20));
    a.kill('SIGTERM');
    b.kill('SIGINT');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra, a.stdout()).toEqual({ code: 0, signal: null });
    expect(rb, b.stdout()).toEqual({ code: 0, signal: null });

    const la = await listBackups(dirA);
    const lb = await listBackups(dirB);
    const all = [...la.backups.map((m) => ({ dir: 'a', m })), ...lb.backups.map((m) => ({ dir: 'b', m }))];
    expect(la.stray.concat(lb.stray)).toEqual([]);
    expect(all.length).toBeGreaterThanOrEqual(3);

    // Every slot that fired in both processes was handled by exactly one: the other logged it as taken.
    const ea = events(a.stdout());
    const eb = events(b.stdout());
    const handled = (ev: typeof ea) => ev.filter((e) => e.event === 'backup.succeeded').map((e) => e.slot as string);
    const takenA = ea.filter((e) => e.event === 'slot.taken-elsewhere').map((e) => e.slot as string);
    const takenB = eb.filter((e) => e.event === 'slot.taken-elsewhere').map((e) => e.slot as string);
    expect(takenA.length + takenB.length).toBeGreaterThanOrEqual(2);
    const written = [...ea, ...eb].filter((e) => e.event === 'backup.written');
    const backedUp = written.map((e) => e.slot as string);
    // One backup per slot in total, and every file on disk is one of them, taken after its slot.
    expect(new Set(backedUp).size, JSON.stringify(written)).toBe(backedUp.length);
    expect(written.map((e) => e.file).sort()).toEqual(all.map((x) => x.m.file).sort());
    for (const e of written) {
      const m = all.find((x) => x.m.file === e.file)!.m;
      expect(Date.parse(m.createdAt)).toBeGreaterThanOrEqual(Date.parse(e.slot as string));
    }
    // Only a backup cut short by the stop may fail, and it leaves no file.
    const failed = ea.concat(eb).filter((e) => e.event === 'backup.failed');
    for (const f of failed) expect(f.aborted, JSON.stringify(f)).toBe(true);
    const aborted = new Set(failed.map((f) => f.slot as string));
    for (const s of [...takenA, ...takenB]) if (!aborted.has(s)) expect(backedUp).toContain(s);
    expect(handled(ea).length + handled(eb).length).toBeGreaterThanOrEqual(backedUp.length);

    // The database record agrees: one row per backed-up slot, naming the file and its folder.
    const q = await rawQueryable(db.url);
    const rows = await q.query<{ slot: string; file: string; backup_dir: string }>(
      `SELECT to_char(slot AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS slot, file, backup_dir FROM "${LEDGER_SCHEMA}"."${LEDGER_TABLE}" ORDER BY slot`,
    );
    await q.close();
    expect(rows.map((r) => r.slot).sort()).toEqual([...backedUp].sort());
    for (const r of rows) {
      const dir = r.backup_dir === dirA ? dirA : dirB;
      expect([dirA, dirB]).toContain(r.backup_dir);
      expect(fs.existsSync(path.join(dir, r.file))).toBe(true);
    }

    // The bookkeeping table lives in its own schema: no backup contains it.
    for (const x of all) {
      expect(Object.keys(x.m.tables)).toEqual(['account']);
      expect(x.m.rowsTotal).toBe(20000);
    }
  });
});
