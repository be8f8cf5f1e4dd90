import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { lockHolder } from '../../lib/dialects/sqlite/sqlite-lock.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { DIALECTS, freshDatabase, rawQueryable, type FreshDatabase } from '../helpers/db.ts';
import { cli, describeSeed, fingerprint, killDuring, killWhen, pgLockHeld, random, SEED, trials, waitForNoOtherSessions } from './helpers.ts';

/**
 * Promise: a restore killed with SIGKILL at any moment leaves the database either exactly as it
 * was before the restore or exactly as the backup, never a mix (checked with an independent
 * fingerprint: structure, sequences, every row). On SQLite the killed process's lock is gone the
 * moment it dies (the operating system releases it), so it never blocks the next run.
 *
 * Two states A and B differ in rows of every table and, for full-mode trials, in structure (B has
 * an extra table and column). Each trial restores the backup of the state the database is not in,
 * so every trial has two distinct acceptable outcomes. Modes alternate data/full; one trial in
 * three takes the pre-restore safety backup first. Kill moments: odd trials at a blind random
 * delay over the whole run (start-up, checks, safety backup, load, proof); even trials a random
 * delay after the process took the operation lock (so inside the load, where it matters most).
 * Trials per dialect: 10 in CI (20 in all), 100 with RELIABILITY_LONG=1.
 */
const TRIALS = trials(10, 100);
const SCALE = 0.01;

/** Changes every table's rows (state B data) and, with `structure`, the schema too. */
async function mutate(url: string, structure: boolean): Promise<void> {
  const q = await rawQueryable(url);
  try {
    await q.query(`INSERT INTO "Tag" ("name") VALUES ('added-in-state-b${structure ? '-extra' : ''}')`);
    await q.query(`UPDATE "Post" SET "title" = 'changed ' || "title", "views" = "views" + 1 WHERE "id" % 7 = 0`);
    await q.query(`DELETE FROM "_PostToTag" WHERE "A" % 11 = 0`);
    await q.query(`DELETE FROM "Comment" WHERE "id" % 13 = 0`);
    await q.query(`UPDATE "User" SET "name" = 'renamed' WHERE "id" % 5 = 0`);
    if (structure) {
      await q.query(`CREATE TABLE "Extra" ("id" INTEGER NOT NULL PRIMARY KEY, "note" TEXT)`);
      await q.query(`INSERT INTO "Extra" ("id", "note") VALUES (1, 'only in state b'), (2, 'also')`);
      await q.query(`ALTER TABLE "Tag" ADD COLUMN "color" TEXT`);
    }
  } finally {
    await q.close();
  }
}

for (const dialect of DIALECTS) {
  describe(`SIGKILL during restore on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-kill-restore-'));
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(`ends in the state before or the backup's state, never a mix, over ${TRIALS} kills`, async () => {
      const rnd = random(SEED + (dialect === 'sqlite' ? 3 : 4));
      const ctx = resolveContext({ url: db.url, backupDir: dir, env: {} });
      // Four states: A, B (rows differ), A with structure and B with structure for full mode.
      await generate(db.url, SCALE);
      const a = await backup(ctx, { reason: 'state-a' });
      const fpA = await fingerprint(db.url);
      await mutate(db.url, false);
      const b = await backup(ctx, { reason: 'state-b' });
      const fpB = await fingerprint(db.url);
      await mutate(db.url, true);
      const bx = await backup(ctx, { reason: 'state-b-extra' });
      const fpBx = await fingerprint(db.url);
      // Back to A by an uninterrupted full restore, timed to aim the kills.
      const locked0 = dialect === 'sqlite' ? () => lockHolder(db.name) !== null : () => pgLockHeld(db.url);
      const t = await killWhen(['restore', a.manifest.file, '--mode', 'full', '--yes', '--no-safety-backup'], env, locked0, 1e9);
      expect(t.code, t.stderr).toBe(0);
      expect(await fingerprint(db.url)).toBe(fpA);
      const fullMs = t.ms;
      // How long the lock (and so the load) lasts in an uninterrupted run.
      const lockedMs = Math.max(200, fullMs - (t.readyAfterMs ?? 0));
      const states: Record<string, string> = { [fpA]: 'A', [fpB]: 'B', [fpBx]: 'B+structure' };
      const files: Record<string, string> = { A: a.manifest.file, B: b.manifest.file, 'B+structure': bx.manifest.file };
      let current = 'A';
      const outcomes = { killed: 0, finished: 0, stayed: 0, switched: 0 };
      for (let i = 0; i < TRIALS; i++) {
        const mode = i % 2 === 0 ? 'data' : 'full';
        // Data mode needs the same structure: A <-> B. Full mode: A <-> B+structure.
        const wanted = current === 'A' ? (mode === 'data' ? 'B' : 'B+structure') : 'A';
        const effectiveMode = current === 'B+structure' ? 'full' : mode;
        const args = ['restore', files[wanted], '--mode', effectiveMode, '--yes'];
        if (i % 3 !== 0) args.push('--no-safety-backup');
        const aimed = i % 2 === 0;
        const delay = aimed ? Math.round(lockedMs * 1.1 * rnd()) : Math.round(fullMs * (0.1 + rnd()));
        const locked = dialect === 'sqlite' ? () => lockHolder(db.name) !== null : () => pgLockHeld(db.url);
        const r = aimed ? await killWhen(args, env, locked, delay) : await killDuring(args, env, delay);
        const trial = `trial ${i} (${effectiveMode} restore ${current} -> ${wanted}, kill ${delay} ms after ${aimed ? 'the lock was taken' : 'start'})`;
        if (r.killed) outcomes.killed++;
        else {
          expect(r.code, `${trial} ended by itself but failed: ${r.stderr} ${describeSeed()}`).toBe(0);
          outcomes.finished++;
        }
        if (dialect === 'postgres') await waitForNoOtherSessions(db.url);
        // The process is gone, and so is its lock: nothing is left to take over.
        if (dialect === 'sqlite') expect(lockHolder(db.name), `${trial}: the lock is still held after its holder died`).toBeNull();
        const fp = await fingerprint(db.url);
        const now = states[fp];
        expect(now === current || now === wanted, `${trial}: the database is neither ${current} nor ${wanted} (${now ?? 'a mix'}) ${describeSeed()}`).toBe(true);
        if (!r.killed) expect(now, `${trial} exited 0 but did not restore`).toBe(wanted);
        if (now === current) outcomes.stayed++;
        else outcomes.switched++;
        current = now;
      }
      // After all the kills, a normal restore still runs at once.
      const last = await cli(['restore', files.A, '--mode', 'full', '--yes', '--no-safety-backup'], env);
      expect(last.code, last.stderr).toBe(0);
      expect(await fingerprint(db.url)).toBe(fpA);
      if (dialect === 'sqlite') expect(lockHolder(db.name)).toBeNull();
      expect(outcomes.killed, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(Math.floor(TRIALS / 3));
      console.log(`kill-restore ${dialect}: ${TRIALS} trials ${JSON.stringify(outcomes)} full run ${fullMs} ms ${describeSeed()}`);
    });
  });
}
