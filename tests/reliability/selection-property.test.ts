/**
 * Promise: whatever happens in a backup folder shared by two databases, `latest` for each database
 * is its newest full backup, and no database ever loses its newest (verified) full backup to
 * retention.
 *
 * Random sequences (seeded, replayable with RELIABILITY_SEED) of: full backups, `--tables` backups,
 * schema-only backups, restores of `latest`, restores of the other database's backup (a copy to
 * staging), the two snapshots migrate-safe takes (pre-migration, pinned; post-migration), verifies,
 * data changes and prunes, on a clock that moves hours to days per step. The oracle is the test's
 * own log of what it took (database, kind, scope), never prisma-guard's manifests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../lib/core/clock.ts';
import { isGuardError } from '../../lib/core/errors.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext, type OpsContext } from '../../lib/ops/context.ts';
import { prune } from '../../lib/ops/prune.ts';
import { restore } from '../../lib/ops/restore.ts';
import { chooseLatest } from '../../lib/ops/select.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { DIALECTS, freshDatabase, rawQueryable, tempDir, type FreshDatabase, type TestDialect } from '../helpers/db.ts';
import { describeSeed, random, SEED, trials } from './helpers.ts';

type Db = 'A' | 'B';
interface Taken {
  file: string;
  db: Db;
  kind: 'manual' | 'pre-restore' | 'pre-migration' | 'post-migration';
  scope: 'full' | 'tables' | 'schema-only';
  at: number;
  verified: boolean;
}

const STEPS: Record<TestDialect, number> = { sqlite: trials(200, 2000), postgres: trials(80, 600) };
const HOUR = 3_600_000;

for (const dialect of DIALECTS) {
  describe(`backup selection under random histories on ${dialect}`, () => {
    const dbs = {} as Record<Db, FreshDatabase>;
    const tmp = tempDir('prisma-guard-select-prop-');
    const dir = path.join(tmp.dir, 'backups');
    const clock = new FakeClock('2026-01-05T00:00:00Z');
    const ctx = (db: Db): OpsContext => resolveContext({ url: dbs[db].url, backupDir: dir, clock });

    beforeAll(async () => {
      for (const db of ['A', 'B'] as const) {
        dbs[db] = await freshDatabase(dialect);
        const q = await rawQueryable(dbs[db].url);
        const int = dialect === 'sqlite' ? 'INTEGER' : 'integer';
        await q.exec(`CREATE TABLE "Item" ("id" ${int} PRIMARY KEY, "v" ${int} NOT NULL)`);
        await q.exec(`CREATE TABLE "Post" ("id" ${int} PRIMARY KEY, "title" text NOT NULL)`);
        await q.exec(`INSERT INTO "Item" VALUES (1, 1)`);
        await q.exec(`INSERT INTO "Post" VALUES (1, '${db}')`);
        await q.close();
      }
    });
    afterAll(async () => {
      for (const db of Object.values(dbs)) await db?.drop();
      tmp.remove();
    });

    it(`${STEPS[dialect]} steps keep latest right and every database's newest full backup`, { timeout: 900_000 }, async () => {
      const rnd = random(SEED + (dialect === 'sqlite' ? 0 : 1));
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
      const log: Taken[] = [];
      let nextId = 2;
      const exists = (t: Taken) => fs.existsSync(path.join(dir, t.file));
      const newestFull = (db: Db, verifiedOnly = false) =>
        log.filter((t) => t.db === db && t.scope === 'full' && t.kind !== 'pre-restore' && (!verifiedOnly || t.verified) && exists(t)).sort((a, b) => b.at - a.at)[0];
      const record = (db: Db, file: string, kind: Taken['kind'], scope: Taken['scope']) => log.push({ file, db, kind, scope, at: clock.now().getTime(), verified: false });
      const history: string[] = [];

      for (let step = 0; step < STEPS[dialect]; step++) {
        clock.advance(Math.floor(HOUR / 2 + rnd() * 30 * HOUR));
        const db = pick(['A', 'B'] as const);
        const other: Db = db === 'A' ? 'B' : 'A';
        const action = pick(['backup', 'backup', 'backup', 'tables', 'schema-only', 'restore-latest', 'restore-other', 'migrate', 'verify', 'change', 'change', 'prune', 'prune'] as const);
        history.push(`${step}: ${action} ${db}`);
        const where = () => `${describeSeed(`step ${step}`)}\n${history.slice(-8).join('\n')}`;
        if (action === 'backup') {
          record(db, (await backup(ctx(db), { reason: 'scheduled' })).manifest.file, 'manual', 'full');
        } else if (action === 'tables') {
          record(db, (await backup(ctx(db), { tables: ['Post'] })).manifest.file, 'manual', 'tables');
        } else if (action === 'schema-only') {
          record(db, (await backup(ctx(db), { schemaOnly: true })).manifest.file, 'manual', 'schema-only');
        } else if (action === 'migrate') {
          // The two snapshots migrate-safe takes around `prisma migrate deploy`.
          record(db, (await backup(ctx(db), { reason: 'pre-migration-x', kind: 'pre-migration', pinned: true })).manifest.file, 'pre-migration', 'full');
          clock.advance(1000);
          record(db, (await backup(ctx(db), { reason: 'post-migration-x', kind: 'post-migration' })).manifest.file, 'post-migration', 'full');
        } else if (action === 'restore-latest' || action === 'restore-other') {
          const wanted = action === 'restore-latest' ? newestFull(db) : newestFull(other);
          if (!wanted) {
            if (action === 'restore-latest') await expect(restore(ctx(db), { backup: 'latest', yes: true }), where()).rejects.toThrow(/no full backup/);
            continue;
          }
          const r = await restore(ctx(db), { backup: action === 'restore-latest' ? 'latest' : wanted.file, yes: true });
          expect(r.plan.backup.file, where()).toBe(wanted.file);
          expect(Boolean(r.plan.otherDatabase), where()).toBe(action === 'restore-other');
          wanted.verified = true; // a restore verifies what it loads
          if (r.safetyBackup) record(db, path.basename(r.safetyBackup), 'pre-restore', 'full');
        } else if (action === 'verify') {
          const existing = log.filter(exists);
          if (!existing.length) continue;
          const t = pick(existing);
          const v = await verifyBackup(ctx(db), t.file);
          expect(v.ok, where()).toBe(true);
          t.verified = true;
        } else if (action === 'change') {
          const q = await rawQueryable(dbs[db].url);
          await q.exec(rnd() < 0.5 ? `INSERT INTO "Item" VALUES (${nextId++}, ${step})` : `UPDATE "Item" SET "v" = ${step}`);
          await q.close();
        } else {
          const protectedFiles = (['A', 'B'] as const).flatMap((d) => [newestFull(d), newestFull(d, true)]).filter((t): t is Taken => Boolean(t));
          const r = await prune(ctx(db));
          for (const t of protectedFiles) expect(exists(t), `${where()}\nprune removed ${t.file} (newest${t.verified ? ' verified' : ''} full backup of ${t.db})`).toBe(true);
          expect(r.failed, where()).toEqual([]);
        }
        // After every step: latest for each database is its newest full backup, by the log.
        for (const d of ['A', 'B'] as const) {
          const expected = newestFull(d);
          if (expected) expect((await chooseLatest(ctx(d))).file, `${where()}\nlatest of ${d}`).toBe(expected.file);
          else await expect(chooseLatest(ctx(d)), where()).rejects.toSatisfy((e: unknown) => isGuardError(e) && e.code === 'BACKUP_NOT_FOUND');
        }
      }
      // The run did exercise retention and both kinds of restore.
      expect(history.some((h) => h.includes('prune'))).toBe(true);
      expect(log.some((t) => !exists(t)), 'prune removed something over the run').toBe(true);
    });
  });
}
