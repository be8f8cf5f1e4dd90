import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/core/errors.ts';
import { openBackup } from '../../lib/format/reader.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { readManifest } from '../../lib/ops/store.ts';
import { manifestFileName } from '../../lib/format/naming.ts';
import { ROOT } from '../helpers/cli.ts';
import { DIALECTS, freshDatabase, rawQueryable, type FreshDatabase } from '../helpers/db.ts';
import { cli, describeSeed, startCli, trials } from './helpers.ts';

/**
 * Promise 1: a backup taken while 4 writers insert and update for the whole run is one consistent
 * snapshot. The writers move money between accounts (the total never changes) and log each
 * transfer, bumping both accounts' transfer counters in the same transaction; in every backup the
 * total is intact and the counters sum to twice the number of logged transfers, although the
 * tables are read one after the other while the writers keep committing.
 *
 * Promise 2: two backups and a restore started at the same moment never interleave: each ends
 * OK or refused as LOCKED, every backup equals exactly the state before or after the restore, and
 * the database ends exactly as the restored backup.
 *
 * Rounds: backups under load 2 per dialect in CI (30 with RELIABILITY_LONG=1); simultaneous
 * starts 1 per dialect in CI (20). Writers pause a few ms between transactions so that, on a
 * 2-core machine, they keep committing during the whole backup without starving it.
 */
const BACKUP_ROUNDS = trials(2, 30);
const RACE_ROUNDS = trials(1, 20);
const ACCOUNTS = 200;
const TOTAL = ACCOUNTS * 1000;

const WRITER = {
  sqlite: `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]); db.pragma('busy_timeout = 10000');
    const n = ${ACCOUNTS}; let i = 0;
    const move = db.prepare('UPDATE "Account" SET "balance" = "balance" + ?, "transfers" = "transfers" + 1 WHERE "id" = ?');
    const log = db.prepare('INSERT INTO "Transfer" ("src", "dst", "amount") VALUES (?, ?, ?)');
    const tx = db.transaction((a, b, x) => { move.run(-x, a); move.run(x, b); log.run(a, b, x); });
    process.stdout.write('ready\\n');
    const loop = () => { for (let k = 0; k < 20; k++) { i++; const a = 1 + (i * 7919) % n, b = 1 + (i * 104729 + 1) % n; if (a !== b) tx(a, b, 1 + i % 50); } setTimeout(loop, 5); }; loop();`,
  postgres: `
    const { Client } = require('pg');
    const c = new Client({ connectionString: process.argv[1] }); const n = ${ACCOUNTS};
    (async () => { await c.connect(); process.stdout.write('ready\\n'); let i = Number(process.argv[2]) * 1000003;
      for (;;) { i++; const a = 1 + (i * 7919) % n, b = 1 + (i * 104729 + 1) % n; if (a === b) continue; const x = 1 + i % 50;
        try { await c.query('BEGIN');
          // Lock in id order so writers never deadlock.
          for (const id of [Math.min(a, b), Math.max(a, b)]) await c.query('UPDATE "Account" SET "balance" = "balance" + $1, "transfers" = "transfers" + 1 WHERE "id" = $2', [id === a ? -x : x, id]);
          await c.query('INSERT INTO "Transfer" ("src", "dst", "amount") VALUES ($1, $2, $3)', [a, b, x]); await c.query('COMMIT'); await new Promise((r) => setTimeout(r, 2));
        } catch (e) { await c.query('ROLLBACK').catch(() => {}); } } })();`,
};

function startWriter(dialect: 'sqlite' | 'postgres', url: string, k: number): Promise<ChildProcess> {
  const arg = dialect === 'sqlite' ? url.replace(/^file:/, '') : url;
  const child = spawn(process.execPath, ['-e', WRITER[dialect], arg, String(k)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`writer exited with ${code}`)));
  });
}

/** Reads a backup file and checks the writers' invariants in it. */
async function invariants(file: string): Promise<{ total: number; transfers: number; counted: number }> {
  const opened = await openBackup(file);
  let total = 0;
  let counted = 0;
  let transfers = 0;
  try {
    for await (const section of opened.sections()) {
      const cols = section.table.columns.map((c) => c.name);
      for await (const batch of section.rows) {
        if (section.table.name === 'Account') {
          for (const row of batch) {
            total += Number(row[cols.indexOf('balance')]);
            counted += Number(row[cols.indexOf('transfers')]);
          }
        } else if (section.table.name === 'Transfer') transfers += batch.length;
      }
    }
  } finally {
    await opened.close();
  }
  return { total, transfers, counted };
}

for (const dialect of DIALECTS) {
  describe(`concurrency on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let env: Record<string, string>;
    let writers: ChildProcess[] = [];

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      const q = await rawQueryable(db.url);
      const id = dialect === 'sqlite' ? 'INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT' : 'SERIAL PRIMARY KEY';
      if (dialect === 'sqlite') await q.exec('PRAGMA journal_mode = WAL');
      await q.exec(`CREATE TABLE "Account" ("id" INTEGER NOT NULL PRIMARY KEY, "balance" INTEGER NOT NULL, "transfers" INTEGER NOT NULL DEFAULT 0)`);
      await q.exec(`CREATE TABLE "Transfer" ("id" ${id}, "src" INTEGER NOT NULL, "dst" INTEGER NOT NULL, "amount" INTEGER NOT NULL)`);
      for (let i = 1; i <= ACCOUNTS; i++) await q.query(`INSERT INTO "Account" ("id", "balance") VALUES (${i}, 1000)`);
      await q.close();
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-concurrency-'));
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    });
    afterAll(async () => {
      for (const w of writers) w.kill('SIGKILL');
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(`backups under 4 concurrent writers are consistent snapshots (${BACKUP_ROUNDS} rounds)`, async () => {
      writers = await Promise.all([0, 1, 2, 3].map((k) => startWriter(dialect, db.url, k)));
      try {
        let lastTransfers = -1;
        for (let round = 0; round < BACKUP_ROUNDS; round++) {
          const r = await cli(['backup', '--reason', `under-load-${round}`, '--json'], env);
          expect(r.code, r.stderr).toBe(0);
          const file = JSON.parse(r.stdout).path as string;
          const inv = await invariants(file);
          expect(inv.total, `round ${round}: money created or lost in the backup ${describeSeed()}`).toBe(TOTAL);
          expect(inv.counted, `round ${round}: counters and transfer log disagree`).toBe(2 * inv.transfers);
          expect(inv.transfers, 'the writers made no progress between backups').toBeGreaterThan(lastTransfers);
          lastTransfers = inv.transfers;
        }
      } finally {
        for (const w of writers) w.kill('SIGKILL');
        writers = [];
      }
    });

    it(`two backups and a restore started at once never interleave (${RACE_ROUNDS} rounds)`, async () => {
      const ctx = resolveContext({ url: db.url, backupDir: dir, env: {} });
      const checksums = async (file: string) => JSON.stringify((await readManifest(path.join(dir, manifestFileName(file)))).tables);
      for (let round = 0; round < RACE_ROUNDS; round++) {
        // State X (to restore) and state Y (current) differ in both tables.
        const x = await backup(ctx, { reason: `x-${round}` });
        const q = await rawQueryable(db.url);
        await q.query(`UPDATE "Account" SET "balance" = "balance" + 1 WHERE "id" = 1`);
        await q.query(`UPDATE "Account" SET "balance" = "balance" - 1 WHERE "id" = 2`);
        await q.query(`INSERT INTO "Transfer" ("src", "dst", "amount") VALUES (2, 1, 1)`);
        await q.close();
        const y = await backup(ctx, { reason: `y-${round}` });
        const allowed = new Set([await checksums(x.manifest.file), await checksums(y.manifest.file)]);
        const runs = [
          startCli(['backup', '--reason', `race-a-${round}`, '--json'], env),
          startCli(['restore', x.manifest.file, '--yes', '--json'], env),
          startCli(['backup', '--reason', `race-b-${round}`, '--json'], env),
        ];
        const results = await Promise.all(runs.map((r) => r.done));
        for (const r of results) expect([ExitCode.OK, ExitCode.LOCKED], r.stdout + r.stderr).toContain(r.code);
        for (const r of [results[0], results[2]]) {
          if (r.code !== ExitCode.OK) continue;
          const file = path.basename(JSON.parse(r.stdout).path);
          expect(allowed.has(await checksums(file)), `round ${round}: a concurrent backup is neither the state before nor after the restore`).toBe(true);
        }
        if (results[1].code === ExitCode.OK) {
          const after = await backup(ctx, { reason: `after-${round}` });
          expect(await checksums(after.manifest.file)).toBe(await checksums(x.manifest.file));
        }
      }
    });
  });
}
