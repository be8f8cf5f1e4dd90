/**
 * Restore drills (issue 17) through the compiled CLI, on SQLite and PostgreSQL: a good backup
 * passes and is timed, a corrupted one fails (exit 16, alert sent), the scratch target is gone
 * afterwards in both cases and after a killed drill, and the live database is never touched.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRATCH_PREFIX } from '../../lib/dialects/dialect.ts';
import { spawn } from 'node:child_process';
import { CLI_ENTRY, runCli } from '../helpers/cli.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { demoDatabase, DIALECTS, PG_ADMIN_URL, tempDir, type FreshDatabase } from '../helpers/db.ts';
import { fingerprint } from '../reliability/helpers.ts';

let receiver: Receiver;
let hook: string;
const alerts = () => receiver.json<{ event: string; message: string }>('/hook');

beforeAll(async () => {
  receiver = await startReceiver();
  hook = `${receiver.base}/hook`;
});
afterAll(() => receiver.close());

async function scratchLeft(dialect: string): Promise<string[]> {
  if (dialect === 'sqlite') return readdirSync(os.tmpdir()).filter((n) => n.startsWith(SCRATCH_PREFIX));
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return (await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE '${SCRATCH_PREFIX}%'`)).rows.map((r) => r.datname);
  } finally {
    await c.end();
  }
}

for (const dialect of DIALECTS) {
  describe(`restore drills on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: ReturnType<typeof tempDir>;
    let env: Record<string, string>;
    beforeAll(async () => {
      db = await demoDatabase(dialect, { users: 20 });
      dir = tempDir('prisma-guard-drill-test-');
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir.dir, BACKUP_NOTIFY_WEBHOOK_URL: hook };
      const b = await runCli(['backup'], env);
      expect(b.code, b.stderr).toBe(0);
    }, 180_000);
    afterAll(async () => {
      await db?.drop();
      dir?.remove();
    });

    it('a good backup passes: restored into a scratch target, proved, timed, the scratch dropped, the live database untouched', async () => {
      const before = await fingerprint(db.url);
      const leftBefore = await scratchLeft(dialect);
      const r = await runCli(['drill', '--json'], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const d = JSON.parse(r.stdout).drill;
      expect(d).toMatchObject({ ok: true });
      expect(d.rtoMs).toBeGreaterThan(0);
      expect(d.rpoMs).toBeGreaterThanOrEqual(0);
      expect(d.rows).toBeGreaterThan(20);
      expect(d.scratch).toContain(SCRATCH_PREFIX);
      expect(await scratchLeft(dialect)).toEqual(leftBefore);
      expect(await fingerprint(db.url)).toBe(before);
      const h = await runCli(['drill', '--history', '--json'], env);
      expect(JSON.parse(h.stdout).drills[0].ok).toBe(true);
    }, 120_000);

    it('kill -9 in the middle of a drill: the next drill drops the scratch target it left', async () => {
      const pause = path.join(dir.dir, 'pause-drill');
      writeFileSync(pause, '');
      const before = await scratchLeft(dialect);
      const child = spawn(process.execPath, [CLI_ENTRY, 'drill'], { env: { ...process.env, ...env, CI: 'true', PRISMA_GUARD_TEST_PAUSE: `mid-load:${pause}` }, stdio: 'ignore' });
      const until = Date.now() + 60_000;
      while (!existsSync(pause + '.reached') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(pause + '.reached'), 'the drill reached the middle of its load').toBe(true);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const left = (await scratchLeft(dialect)).filter((n) => !before.includes(n));
      expect(left.length, 'the killed drill left its scratch target').toBe(1);
      const r = await runCli(['drill'], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await scratchLeft(dialect)).toEqual(before);
    }, 120_000);

    it('the scratch target of a killed drill is dropped by the next one', async () => {
      const state = path.join(dir.dir, '.prisma-guard-drills.json');
      const s = JSON.parse(readFileSync(state, 'utf8'));
      // As a drill killed mid-restore leaves it: running, and its scratch target made.
      s.running = { id: 'deadbeef0001', scratch: 'left over', pid: 999999, startedAt: new Date().toISOString() };
      writeFileSync(state, JSON.stringify(s));
      if (dialect === 'postgres') {
        const c = new pg.Client({ connectionString: PG_ADMIN_URL });
        await c.connect();
        await c.query(`CREATE DATABASE ${SCRATCH_PREFIX}deadbeef0001`);
        await c.end();
      } else {
        const f = path.join(os.tmpdir(), `${SCRATCH_PREFIX}deadbeef0001`);
        readdirSync(os.tmpdir()); // (the folder below is what a killed drill leaves)
        await import('node:fs').then((fs) => fs.mkdirSync(f, { recursive: true }));
        writeFileSync(path.join(f, 'drill.db'), 'half a database');
      }
      expect(await scratchLeft(dialect)).toContain(dialect === 'postgres' ? `${SCRATCH_PREFIX}deadbeef0001` : `${SCRATCH_PREFIX}deadbeef0001`);
      const r = await runCli(['drill'], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await scratchLeft(dialect)).not.toContain(`${SCRATCH_PREFIX}deadbeef0001`);
    }, 120_000);

    it('a corrupted backup fails the drill (exit 16) with one alert; the scratch target is gone; BACKUP_DRILL_URL may not be the live database', async () => {
      const same = await runCli(['drill', '--json'], { ...env, BACKUP_DRILL_URL: db.url });
      expect(same.code, same.stdout).toBe(2);
      expect(JSON.parse(same.stdout).error.message).toMatch(/live database itself/);

      const file = readdirSync(dir.dir).find((n) => n.endsWith('.jsonl.gz'))!;
      const bytes = readFileSync(path.join(dir.dir, file));
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(path.join(dir.dir, file), bytes);
      const leftBefore = await scratchLeft(dialect);
      const n = alerts().length;
      const r = await runCli(['drill', '--json'], env);
      expect(r.code, r.stdout + r.stderr).toBe(16);
      expect(JSON.parse(r.stdout).error.code).toBe('DRILL_FAILED');
      expect(alerts().slice(n).map((a) => a.event)).toEqual(['drill.failed']);
      expect(await scratchLeft(dialect)).toEqual(leftBefore);
      expect(existsSync(path.join(dir.dir, file))).toBe(true);
      const st = JSON.parse((await runCli(['status', '--json'], { ...env, BACKUP_MIN_FREE_MB: '0' })).stdout);
      expect(st.reasons.map((x: { code: string }) => x.code)).toContain('drill-failed');
      expect(st.drills.last.ok).toBe(false);
      expect(st.drills.lastPassed.ok).toBe(true);
      expect(st.drills.rtoTrendMs.length).toBeGreaterThanOrEqual(2);
    }, 120_000);
  });
}
