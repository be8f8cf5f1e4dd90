import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { isTemporaryName, manifestFileName, parseBackupFileName } from '../../lib/format/naming.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { DIALECTS, freshDatabase, type FreshDatabase } from '../helpers/db.ts';
import { cli, describeSeed, fingerprint, killDuring, random, SEED, trials } from './helpers.ts';

/**
 * Promise: killing a backup with SIGKILL at any moment never leaves an incomplete file under a
 * backup name: every file named backup-*.jsonl.gz passes `verify` (with or without its manifest),
 * an unfinished backup is only ever a hidden temporary file (`list` reports it as unfinished),
 * earlier backups and their manifests are byte-for-byte untouched, and the database is unchanged.
 *
 * Trials per dialect: 15 in CI (30 in all), 150 with RELIABILITY_LONG=1. The kill moment is uniform
 * over the whole run (start-up, snapshot, streaming, fsync/rename, manifest).
 */
const TRIALS = trials(15, 150);
/** bench/dataset.ts scale: ~20k rows, a backup of about half a second after start-up. */
const SCALE = 0.01;

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

for (const dialect of DIALECTS) {
  describe(`SIGKILL during backup on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      await generate(db.url, SCALE);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-kill-backup-'));
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(`leaves only complete, verifiable backups after ${TRIALS} kills at random moments`, async () => {
      const rnd = random(SEED + (dialect === 'sqlite' ? 1 : 2));
      const ctx = resolveContext({ url: db.url, backupDir: dir, env: {} });
      const before = await fingerprint(db.url);
      const first = await cli(['backup', '--reason', 'earlier'], env);
      expect(first.code, first.stderr).toBe(0);
      // The length of an uninterrupted backup, which the kill moments are drawn against: the shortest
      // seen so far (a first run slowed by a busy machine would put most kills after the end).
      let fullMs = first.ms;
      // Every backup file seen so far, with the checksums of the file and its manifest.
      const known = new Map<string, { file: string; manifest: string | null }>();
      const outcomes = { killed: 0, finished: 0, withoutManifest: 0, temporaries: 0 };
      const check = async (trial: string) => {
        for (const name of readdirSync(dir)) {
          if (!parseBackupFileName(name)) continue;
          const mPath = path.join(dir, manifestFileName(name));
          const prior = known.get(name);
          if (prior) {
            expect(sha(path.join(dir, name)), `${name} changed after ${trial} ${describeSeed()}`).toBe(prior.file);
            if (prior.manifest) expect(sha(mPath), `manifest of ${name} changed after ${trial} ${describeSeed()}`).toBe(prior.manifest);
            continue;
          }
          const v = await verifyBackup(ctx, name, { record: false });
          expect(v.ok, `${name} is under a backup name but does not verify after ${trial}: ${v.error?.message} ${describeSeed()}`).toBe(true);
          if (!existsSync(mPath)) outcomes.withoutManifest++;
          known.set(name, { file: sha(path.join(dir, name)), manifest: existsSync(mPath) ? sha(mPath) : null });
        }
      };
      await check('the first backup');
      for (let i = 0; i < TRIALS; i++) {
        const delay = Math.round(fullMs * (0.1 + rnd()));
        const r = await killDuring(['backup', '--reason', `trial-${i}`], env, delay);
        if (r.killed) outcomes.killed++;
        else {
          expect(r.code, `trial ${i} ended by itself but failed: ${r.stderr} ${describeSeed()}`).toBe(0);
          outcomes.finished++;
          fullMs = Math.min(fullMs, r.ms);
        }
        await check(`trial ${i} (kill after ${delay} ms)`);
      }
      outcomes.temporaries = readdirSync(dir).filter(isTemporaryName).length;
      // `list` sees the leftovers as unfinished temporaries or backups without manifest, never as backups.
      const list = await cli(['list', '--json'], env);
      expect(list.code, list.stderr).toBe(0);
      const listing = JSON.parse(list.stdout) as { backups: { file: string }[]; stray: { file: string; problem: string }[] };
      for (const s of listing.stray) expect(['unfinished', 'no-manifest'], `${s.file}: ${s.problem}`).toContain(s.problem);
      expect(listing.stray.filter((s) => s.problem === 'unfinished').length).toBe(outcomes.temporaries);
      for (const b of listing.backups) expect(known.has(b.file)).toBe(true);
      expect(await fingerprint(db.url), 'the database changed').toBe(before);
      // The trials must really have interrupted backups, or they prove nothing.
      expect(outcomes.killed, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(Math.floor(TRIALS / 3));
      console.log(`kill-backup ${dialect}: ${TRIALS} trials ${JSON.stringify(outcomes)} full run ${fullMs} ms ${describeSeed()}`);
    });
  });
}
