/**
 * The right backup, every time: `latest`, emergency-restore and retention choose by the typed source,
 * scope and kind of each backup (format version 2), never by "newest file in the folder". Each case
 * is a way the code before version 2 picked the wrong backup, on real SQLite files and a real
 * PostgreSQL.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext, type OpsContext } from '../../lib/ops/context.ts';
import { prune } from '../../lib/ops/prune.ts';
import { chooseLatest } from '../../lib/ops/select.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { manifestFileName } from '../../lib/format/naming.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS, freshDatabase, rawQueryable, tempDir, type FreshDatabase, type TestDialect } from '../helpers/db.ts';

const SCHEMA: Record<TestDialect, string[]> = {
  sqlite: [
    'CREATE TABLE "Customer" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL)',
    'CREATE TABLE "Order" ("id" INTEGER PRIMARY KEY, "customerId" INTEGER NOT NULL REFERENCES "Customer"("id"), "total" INTEGER NOT NULL)',
    'CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "title" TEXT NOT NULL)',
  ],
  postgres: [
    'CREATE TABLE "Customer" ("id" integer PRIMARY KEY, "name" text NOT NULL)',
    'CREATE TABLE "Order" ("id" integer PRIMARY KEY, "customerId" integer NOT NULL REFERENCES "Customer"("id"), "total" integer NOT NULL)',
    'CREATE TABLE "Post" ("id" integer PRIMARY KEY, "title" text NOT NULL)',
  ],
};

async function fill(url: string, dialect: TestDialect, orders: number): Promise<void> {
  const q = await rawQueryable(url);
  try {
    for (const stmt of SCHEMA[dialect]) await q.exec(stmt);
    await q.exec(`INSERT INTO "Customer" VALUES (1, 'Ada'), (2, 'Grace')`);
    for (let i = 1; i <= orders; i++) await q.query(`INSERT INTO "Order" VALUES (${i}, ${1 + (i % 2)}, ${i * 10})`);
    await q.exec(`INSERT INTO "Post" VALUES (1, 'hello'), (2, 'world')`);
  } finally {
    await q.close();
  }
}

async function count(url: string, table: string): Promise<number> {
  const q = await rawQueryable(url);
  try {
    return Number((await q.query<{ n: number | string }>(`SELECT count(*) AS n FROM "${table}"`))[0].n);
  } finally {
    await q.close();
  }
}

async function exec(url: string, sql: string): Promise<void> {
  const q = await rawQueryable(url);
  try {
    await q.exec(sql);
  } finally {
    await q.close();
  }
}

for (const dialect of DIALECTS) {
  describe(`choosing the backup on ${dialect}`, () => {
    let a: FreshDatabase;
    let b: FreshDatabase;
    const tmp = tempDir('prisma-guard-select-');
    const dir = path.join(tmp.dir, 'backups');
    const env = (db: FreshDatabase) => ({ DATABASE_URL: db.url, BACKUP_DIR: dir });
    const ctx = (db: FreshDatabase): OpsContext => resolveContext({ url: db.url, backupDir: dir });

    beforeAll(async () => {
      a = await freshDatabase(dialect);
      b = await freshDatabase(dialect);
      await fill(a.url, dialect, 300);
      await fill(b.url, dialect, 5);
    });
    afterAll(async () => {
      await a?.drop();
      await b?.drop();
      tmp.remove();
    });

    it('restore latest twice does not undo the first restore (the safety copy is never latest)', async () => {
      const full = await backup(ctx(a), { reason: 'nightly' });
      await exec(a.url, 'DELETE FROM "Order"');
      const first = await runCli(['restore', 'latest', '--yes', '--json'], env(a));
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout).plan.backup.file).toBe(full.manifest.file);
      expect(await count(a.url, 'Order')).toBe(300);
      // The folder's newest file is now the pre-restore copy of the emptied table.
      const newest = (await listBackups(dir)).backups[0];
      expect(newest.kind).toBe('pre-restore');
      const second = await runCli(['restore', 'latest', '--yes', '--json'], env(a));
      expect(second.code, second.stderr).toBe(0);
      const plan = JSON.parse(second.stdout).plan;
      expect(plan.backup.file).toBe(full.manifest.file);
      expect(plan.selection.skipped.map((s: { file: string }) => s.file)).toContain(newest.file);
      expect(await count(a.url, 'Order')).toBe(300);
    });

    it('a --tables backup is never latest, and a full restore of it is refused', async () => {
      const full = await backup(ctx(a), { reason: 'nightly' });
      const partial = await runCli(['backup', '--tables', 'Post', '--json'], env(a));
      expect(partial.code, partial.stderr).toBe(0);
      const pm = JSON.parse(partial.stdout).manifest;
      expect(pm.scope).toEqual({ type: 'tables', tables: ['Post'] });
      const refused = await runCli(['restore', pm.file, '--mode', 'full', '--yes'], env(a));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/holds only the tables Post/);
      expect(await count(a.url, 'Order')).toBe(300);
      // Lose the data, then the recovery of last resort.
      await exec(a.url, 'DELETE FROM "Order"');
      const r = await runCli(['emergency-restore', '--yes', '--json'], env(a));
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.choice.file).toBe(full.manifest.file);
      expect(out.ignored).toContainEqual({ file: pm.file, why: 'not a full backup (tables: Post)' });
      expect(await count(a.url, 'Order')).toBe(300);
      expect(await count(a.url, 'Customer')).toBe(2);
    });

    it('a backup of another database is restored only when named, loudly, and retention keeps each database its own newest backup', async () => {
      // A folder with one real backup of A only (the earlier cases' files are gone).
      fs.rmSync(dir, { recursive: true, force: true });
      const onlyOfA = await backup(ctx(a), { reason: 'nightly' });
      // B has never been backed up: latest for B finds nothing and says what it passed over.
      const none = await runCli(['restore', 'latest', '--dry-run'], env(b));
      expect(none.code).toBe(7);
      expect(none.stderr).toMatch(/of another database/);
      // Copy A into B (staging), by name: allowed, and the plan says it is another database.
      const shown = await runCli(['restore', onlyOfA.manifest.file, '--dry-run'], env(b));
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(/!!! ANOTHER DATABASE/);
      const copy = await runCli(['restore', onlyOfA.manifest.file, '--yes', '--json'], env(b));
      expect(copy.code, copy.stderr).toBe(0);
      const plan = JSON.parse(copy.stdout).plan;
      // B has no identity yet (never backed up), so the locations tell them apart.
      expect(plan.otherDatabase.why).toMatch(/another location/);
      expect(await count(b.url, 'Order')).toBe(300);
      // The folder now holds B's pre-restore copy, newer than A's only backup. Retention with a
      // policy that keeps nothing by age still keeps A's backup (and B's safety copy by its pin).
      const r = await prune(ctx(a), { policy: { hourly: null, daily: null, weekly: null, monthly: '1h', timeZone: 'UTC', preRestorePin: '30d', partial: '0' } });
      expect(r.removed).toEqual([]);
      const files = (await listBackups(dir)).backups.map((m) => m.file);
      expect(files).toContain(onlyOfA.manifest.file);
      // And B's latest is still not A's backup nor B's safety copy.
      const again = await runCli(['restore', 'latest', '--dry-run'], env(b));
      expect(again.code).toBe(7);
      expect(again.stderr).toMatch(/a safety copy/);
      // list groups the folder by database.
      const list = JSON.parse((await runCli(['list', '--json'], env(a))).stdout);
      expect(list.databases).toHaveLength(2);
      const onlyA = JSON.parse((await runCli(['list', '--json', '--database', list.databases.find((d: { backups: string[] }) => d.backups.includes(onlyOfA.manifest.file)).database], env(a))).stdout);
      expect(onlyA.backups.map((m: { file: string }) => m.file)).toEqual([onlyOfA.manifest.file]);
    });

    it('records a stable fingerprint in the database, never a password, and matches on location when the database has none', async () => {
      const one = await backup(ctx(a), { reason: 'x' });
      const two = await backup(ctx(a), { reason: 'y' });
      expect(one.manifest.source.fingerprint).toBe(two.manifest.source.fingerprint);
      expect(one.manifest.source.fingerprintMethod).toBe('stored');
      const other = await backup(ctx(b), { reason: 'x' });
      expect(other.manifest.source.fingerprint).not.toBe(one.manifest.source.fingerprint);
      const latest = await chooseLatest(ctx(a));
      expect(latest.file).toBe(two.manifest.file);
      expect(latest.matchedBy).toBe('fingerprint');
    });

    it('a schema-only backup restores the empty schema (and is never latest)', async () => {
      const r = await runCli(['backup', '--schema-only', '--json'], env(a));
      expect(r.code, r.stderr).toBe(0);
      const m = JSON.parse(r.stdout).manifest;
      expect(m.scope).toEqual({ type: 'schema-only' });
      expect(m.rowsTotal).toBe(0);
      const fresh = await freshDatabase(dialect);
      try {
        const data = await runCli(['restore', m.file, '--mode', 'data', '--yes'], { DATABASE_URL: fresh.url, BACKUP_DIR: dir });
        expect(data.code).toBe(2);
        const full = await runCli(['restore', m.file, '--yes', '--json'], { DATABASE_URL: fresh.url, BACKUP_DIR: dir });
        expect(full.code, full.stderr).toBe(0);
        expect(JSON.parse(full.stdout).plan.mode).toBe('full');
        for (const t of ['Customer', 'Order', 'Post']) expect(await count(fresh.url, t), `${t}: ${full.stdout.slice(0, 3000)}`).toBe(0);
      } finally {
        await fresh.drop();
      }
      expect((await chooseLatest(ctx(a))).file).not.toBe(m.file);
    });

    it('refuses to back up nothing: an empty database, or a schema that does not exist', async () => {
      const empty = await freshDatabase(dialect);
      try {
        if (dialect === 'sqlite') new (await import('better-sqlite3')).default(empty.name).close();
        const r = await runCli(['backup'], { DATABASE_URL: empty.url, BACKUP_DIR: dir });
        expect(r.code).toBe(12);
        expect(r.stderr).toMatch(/has no tables/);
        expect(r.stderr).toMatch(/--allow-empty/);
        const ok = await runCli(['backup', '--allow-empty'], { DATABASE_URL: empty.url, BACKUP_DIR: dir });
        expect(ok.code, ok.stderr).toBe(0);
      } finally {
        await empty.drop();
      }
      if (dialect === 'postgres') {
        const u = new URL(a.url);
        u.searchParams.set('schema', 'nosuchschema');
        const before = fs.readdirSync(dir).length;
        const r = await runCli(['backup'], { DATABASE_URL: u.toString(), BACKUP_DIR: dir });
        expect(r.code).toBe(12);
        expect(r.stderr).toMatch(/"nosuchschema" .* does not exist/);
        expect(fs.readdirSync(dir).length).toBe(before);
      }
    });

    it('reads version-1 backups: kind from the reason, scope from the header, matched on location', async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      const v2 = await backup(ctx(a), { reason: 'pre-restore' , kind: 'pre-restore' });
      const full = await backup(ctx(a), { reason: 'nightly' });
      toVersion1(dir, v2.manifest.file);
      toVersion1(dir, full.manifest.file);
      const listed = (await listBackups(dir)).backups;
      expect(listed.map((m) => [m.kind, m.scope.type, m.source.inferred])).toEqual([
        ['manual', 'full', true],
        ['pre-restore', 'full', true],
      ]);
      const v = await runCli(['verify', full.manifest.file], env(a));
      expect(v.code, v.stderr).toBe(0);
      const latest = await chooseLatest(ctx(a), { verify: true });
      expect(latest.file).toBe(full.manifest.file);
      expect(latest.matchedBy).toBe('location');
      // Another database at another location does not claim them.
      await expect(chooseLatest(ctx(b))).rejects.toThrow(/no full backup/);
    });

    it('never opens a symlink or a FIFO named like a backup; latest skips them', async () => {
      const real = await backup(ctx(a), { reason: 'nightly' });
      const later = new Date(Date.now() + 3_600_000).toISOString().replace(/:/g, '-').replace('.', '-');
      const fifo = path.join(dir, `backup-${later}-fifo.jsonl.gz`);
      execFileSync('mkfifo', [fifo]);
      fs.symlinkSync('/dev/zero', path.join(dir, `backup-${later}-zero.jsonl.gz`));
      fs.symlinkSync('/dev/zero', path.join(dir, manifestFileName(`backup-${later}-zero.jsonl.gz`)));
      const list = await runCli(['list', '--json'], env(a));
      expect(list.code).toBe(0);
      const stray = JSON.parse(list.stdout).stray.filter((s: { problem: string }) => s.problem === 'not-a-file');
      expect(stray).toHaveLength(3);
      const v = await runCli(['verify', 'latest'], env(a));
      expect(v.code, v.stderr).toBe(0);
      expect((await chooseLatest(ctx(a), { verify: true })).file).toBe(real.manifest.file);
      const e = await runCli(['emergency-restore', '--dry-run', '--json'], env(a));
      expect(e.code, e.stderr).toBe(0);
      expect(JSON.parse(e.stdout).choice.file).toBe(real.manifest.file);
      fs.rmSync(fifo);
    });
  });
}

/**
 * Rewrites a backup and its manifest as prisma-guard 0.1 wrote them (format version 1: no kind, scope
 * or source), with every checksum recomputed, as an upgraded user's folder holds them.
 */
function toVersion1(dir: string, file: string): void {
  const p = path.join(dir, file);
  const lines = gunzipSync(fs.readFileSync(p)).toString('utf8').split('\n');
  const header = JSON.parse(lines[0]);
  delete header.kind;
  delete header.scope;
  delete header.source;
  header.formatVersion = 1;
  lines[0] = JSON.stringify(header);
  const trailerAt = lines.findIndex((l) => l.startsWith('{"type":"trailer"'));
  const trailer = JSON.parse(lines[trailerAt]);
  trailer.sha256 = createHash('sha256').update(lines.slice(0, trailerAt).join('\n') + '\n').digest('hex');
  lines[trailerAt] = JSON.stringify(trailer);
  const bytes = gzipSync(Buffer.from(lines.join('\n')));
  fs.writeFileSync(p, bytes);
  const mp = path.join(dir, manifestFileName(file));
  const m = JSON.parse(fs.readFileSync(mp, 'utf8'));
  delete m.kind;
  delete m.scope;
  delete m.source;
  m.formatVersion = 1;
  m.sizeBytes = bytes.length;
  m.sha256 = createHash('sha256').update(bytes).digest('hex');
  m.verification = null;
  fs.writeFileSync(mp, JSON.stringify(m));
}
