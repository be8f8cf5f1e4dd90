import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { parseBackupFileName } from '../../lib/format/naming.ts';
import { DIALECTS, freshDatabase, type FreshDatabase } from '../helpers/db.ts';
import { cli, fingerprint, pgLockHeld, startCli, waitForNoOtherSessions, withPg, type ChildResult } from './helpers.ts';

/**
 * Promise: SIGINT and SIGTERM stop any command cleanly: a backup caught while its temporary file
 * exists leaves neither that file nor anything under a backup name; a restore caught during its load
 * leaves the database exactly as it was; the lock is free for the next run; the exit code is 130
 * (SIGINT) or 143 (SIGTERM) and the output says what happened.
 */
const EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
/** bench/dataset.ts scale: ~100k rows, a backup and a restore of a few seconds. */
const SCALE = 0.05;

/** Starts the CLI, sends `signal` as soon as `ready()` holds, and returns the result. */
async function signalWhen(args: string[], env: Record<string, string>, signal: NodeJS.Signals, ready: () => Promise<boolean> | boolean): Promise<ChildResult & { sent: boolean }> {
  const run = startCli(args, env);
  let exited = false;
  void run.done.then(() => (exited = true));
  let sent = false;
  while (!exited) {
    if (await ready()) {
      sent = run.child.kill(signal);
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { ...(await run.done), sent };
}

for (const dialect of DIALECTS) {
  describe(`SIGINT and SIGTERM on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let env: Record<string, string>;

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      await generate(db.url, SCALE);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-signals-'));
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    }, 180_000);
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const backupsIn = () => readdirSync(dir).filter((n) => parseBackupFileName(n) || n.endsWith('.manifest.json'));
    const temporaries = () => readdirSync(dir).filter((n) => n.includes('.tmp-'));

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${signal} of a backup while its temporary file exists leaves no temporary and no backup file`, async () => {
        const before = backupsIn();
        const r = await signalWhen(['backup', '--reason', `signal-${signal}`], env, signal, () => temporaries().length > 0);
        expect(r.sent, 'the temporary file never appeared').toBe(true);
        expect(r.code, r.stderr).toBe(EXIT[signal]);
        expect(r.stderr).toMatch(new RegExp(`stopped by ${signal}`));
        expect(temporaries()).toEqual([]);
        expect(backupsIn()).toEqual(before);
        // The lock is free: the next backup runs at once.
        if (dialect === 'postgres') await waitForNoOtherSessions(db.url, 5000);
        const next = await cli(['backup', '--reason', 'after-signal'], { ...env });
        expect(next.code, next.stderr).toBe(0);
      }, 120_000);
    }

    it('SIGTERM of a restore during its load leaves the database unchanged', async () => {
      const b = await cli(['backup', '--reason', 'to-restore', '--json'], env);
      expect(b.code, b.stderr).toBe(0);
      const file = path.basename(JSON.parse(b.stdout).path);
      // A real change for the restore to undo, so "unchanged" is not also "restored".
      if (dialect === 'postgres') await withPg(db.url, (c) => c.query(`DELETE FROM "Comment" WHERE id IN (SELECT id FROM "Comment" ORDER BY id LIMIT 500)`));
      else {
        const { default: Database } = await import('better-sqlite3');
        const d = new Database(db.name);
        d.exec(`DELETE FROM "Comment" WHERE id IN (SELECT id FROM "Comment" ORDER BY id LIMIT 500)`);
        d.close();
      }
      const before = await fingerprint(db.url);
      const inLoad =
        dialect === 'postgres'
          ? () => withPg(db.url, async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY %FROM STDIN%' AND state = 'active'`)).rows[0].n > 0)
          : // SQLite: the loader's write transaction has begun once the journal or WAL exists.
            () => existsSync(`${db.name}.prisma-guard.lock`) && (existsSync(`${db.name}-journal`) || existsSync(`${db.name}-wal`));
      const r = await signalWhen(['restore', file, '--yes', '--no-safety-backup'], env, 'SIGTERM', inLoad);
      expect(r.sent, `the load was never seen: ${r.stderr}`).toBe(true);
      expect(r.code, r.stderr).toBe(143);
      if (dialect === 'postgres') {
        await waitForNoOtherSessions(db.url, 5000);
        expect(await pgLockHeld(db.url)).toBe(false);
      }
      expect(await fingerprint(db.url)).toBe(before);
      expect(temporaries()).toEqual([]);
      // The next restore takes the lock and completes.
      const again = await cli(['restore', file, '--yes', '--no-safety-backup'], env);
      expect(again.code, again.stderr).toBe(0);
    }, 120_000);
  });
}
