import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../lib/dialects/index.ts';
import { openBackup } from '../../lib/format/reader.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { ROOT } from '../helpers/cli.ts';
import { DIALECTS, freshDatabase, type FreshDatabase } from '../helpers/db.ts';

/**
 * Promise: a backup is one consistent snapshot while the application keeps writing. A writer
 * process inserts the same id into two tables in one transaction, again and again; tables are
 * read one after the other, so without a snapshot the second table would hold ids the first lacks.
 */
const WRITER = {
  sqlite: `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]); db.pragma('busy_timeout = 10000');
    const a = db.prepare('INSERT INTO pair_a (id, v) VALUES (?, ?)'), b = db.prepare('INSERT INTO pair_b (id, v) VALUES (?, ?)');
    let id = 1000000; const tx = db.transaction((n) => { for (let i = 0; i < n; i++) { id++; a.run(id, 'x'); b.run(id, 'x'); } });
    process.stdout.write('ready\\n');
    const loop = () => { tx(50); setImmediate(loop); }; loop();`,
  postgres: `
    const { Client } = require('pg');
    const c = new Client({ connectionString: process.argv[1] });
    (async () => { await c.connect(); let id = 1000000; process.stdout.write('ready\\n');
      for (;;) { await c.query('BEGIN'); for (let i = 0; i < 20; i++) { id++; await c.query('INSERT INTO pair_a (id, v) VALUES ($1, $2)', [id, 'x']); await c.query('INSERT INTO pair_b (id, v) VALUES ($1, $2)', [id, 'x']); } await c.query('COMMIT'); } })();`,
};

for (const dialect of DIALECTS) {
  describe(`consistency on ${dialect}`, () => {
    let db: FreshDatabase;
    let dir: string;
    let writer: ChildProcess | undefined;

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-cons-'));
      const conn = await connect(resolveContext({ url: db.url, env: {} }).target, { create: true });
      if (dialect === 'sqlite') await conn.query('PRAGMA journal_mode = WAL');
      for (const t of ['pair_a', 'pair_b']) await conn.query(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, v TEXT NOT NULL)`);
      // Enough rows that reading them takes a while, so the writer gets in between.
      const values = Array.from({ length: 1000 }, (_, i) => `(${i + 1}, 'seed')`).join(',');
      for (let k = 0; k < 60; k++) {
        const shifted = values.replace(/\((\d+),/g, (_m, n) => `(${Number(n) + k * 1000},`);
        await conn.query(`INSERT INTO pair_a (id, v) VALUES ${shifted}`);
        await conn.query(`INSERT INTO pair_b (id, v) VALUES ${shifted}`);
      }
      await conn.close();
    });
    afterAll(async () => {
      writer?.kill('SIGKILL');
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('sees every table at the same instant while a writer commits', async () => {
      const arg = dialect === 'sqlite' ? resolveContext({ url: db.url, env: {} }).target.file! : db.url;
      writer = spawn(process.execPath, ['-e', WRITER[dialect], arg], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => writer!.stdout!.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 300));
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await backup(resolveContext({ url: db.url, backupDir: dir, env: {} }), { reason: `during-writes-${i}` }));
      writer.kill('SIGKILL');
      writer = undefined;
      let grew = 0;
      for (const r of results) {
        const ids: Record<string, string> = {};
        const opened = await openBackup(r.path);
        for await (const s of opened.sections()) {
          const list: string[] = [];
          for await (const batch of s.rows) for (const row of batch) list.push(String(row[0]));
          ids[s.table.name] = list.join(',');
        }
        expect(ids.pair_a.length).toBeGreaterThan(0);
        expect(ids.pair_b).toBe(ids.pair_a);
        grew = Math.max(grew, r.manifest.tables.pair_a.rows);
      }
      // The writer really wrote during the backups.
      expect(grew).toBeGreaterThan(60000);
    });
  });
}
