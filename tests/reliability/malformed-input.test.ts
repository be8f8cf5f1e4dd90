import { BACKUP_FORMAT_VERSION } from '../../lib/format/header.ts';
import { copyFileSync, createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { ExitCode } from '../../lib/core/errors.ts';
import { isTemporaryName, manifestFileName, parseBackupFileName } from '../../lib/format/naming.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { freshDatabase, rawQueryable, type FreshDatabase } from '../helpers/db.ts';
import { cli, fingerprint, pgLockHeld, startCli, waitForNoOtherSessions, withPg } from './helpers.ts';

/**
 * Promise: malformed input (empty file, not gzip, gzip of garbage, a future format version, a
 * header that fails the JSON Schema, a line too long to be real, names escaping the backup folder,
 * a wrong DATABASE_URL, the database going away mid-run) gets a clear error and a documented exit
 * code, and changes nothing: no file under a backup name, no change to the database.
 * Also: a valid backup of ANOTHER database is never restored silently: the plan names the source
 * database and flags it, and a data-mode restore into a different schema is refused (exit 5).
 */
describe('malformed backup files', () => {
  let db: FreshDatabase;
  let dir: string;
  let env: Record<string, string>;
  let good: string;
  let header: Record<string, unknown>;

  beforeAll(async () => {
    db = await freshDatabase('sqlite');
    await generate(db.url, 0.0005);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-malformed-'));
    env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    good = (await backup(resolveContext({ url: db.url, backupDir: dir, env: {} }), { reason: 'good' })).manifest.file;
    header = JSON.parse(zlib.gunzipSync(readFileSync(path.join(dir, good))).toString('utf8').split('\n')[0]);
  });
  afterAll(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const named = (reason: string) => good.replace('-good.jsonl.gz', `-${reason}.jsonl.gz`);
  const cases: [string, () => Buffer, string, RegExp][] = [
    ['empty file', () => Buffer.alloc(0), 'BACKUP_TRUNCATED', /empty/],
    ['not gzip', () => Buffer.from('id,email\n1,a@b.c\n'), 'BACKUP_NOT_OURS', /not a gzip/],
    ['gzip of garbage', () => zlib.gzipSync(Buffer.from('\x00\x01garbage that is not json\n')), 'BACKUP_NOT_OURS', /not start with a prisma-guard header/],
    ['gzip of another JSON file', () => zlib.gzipSync('{"name":"package.json"}\n'), 'BACKUP_NOT_OURS', /not a prisma-guard backup/],
    ['future format version', () => zlib.gzipSync(JSON.stringify({ ...header, formatVersion: BACKUP_FORMAT_VERSION + 1 }) + '\n'), 'BACKUP_VERSION', new RegExp(`version ${BACKUP_FORMAT_VERSION + 1}.*up to version ${BACKUP_FORMAT_VERSION}`)],
    ['header failing the JSON Schema', () => zlib.gzipSync(JSON.stringify({ ...header, schema: { tables: 'none' } }) + '\n'), 'BACKUP_CORRUPT', /JSON Schema/],
    ['header only', () => zlib.gzipSync(JSON.stringify(header) + '\n'), 'BACKUP_TRUNCATED', /truncated/],
  ];

  for (const [what, bytes, code, message] of cases) {
    it(`${what}: verify says ${code}, restore exits 3, nothing changes`, async () => {
      const name = named(what.replace(/[^a-z]+/g, '-'));
      writeFileSync(path.join(dir, name), bytes());
      const v = await verifyBackup(resolveContext({ url: db.url, backupDir: dir, env: {} }), name, { record: false });
      expect(v.ok).toBe(false);
      expect(v.error!.code).toBe(code);
      expect(v.error!.message).toMatch(message);
      expect(v.error!.hint).toBeTruthy();
      const before = await fingerprint(db.url);
      const r = await cli(['restore', name, '--yes', '--json'], env);
      expect(r.code).toBe(ExitCode.INVALID_BACKUP);
      expect(JSON.parse(r.stdout).error.code).toBe(code);
      expect(await fingerprint(db.url)).toBe(before);
    });
  }

  it('a line longer than any real row is rejected as corrupt without exhausting memory', async () => {
    const name = named('huge-line');
    // 300 MB of one line (more than MAX_LINE_BYTES), streamed so the test itself stays small.
    const chunk = Buffer.alloc(1 << 20, 0x61);
    let n = 0;
    const source = Readable.from((function* () {
      yield Buffer.from(JSON.stringify(header) + '\n{"type":"table","name":"User","columns":' + JSON.stringify((header.schema as { tables: { name: string; columns: { name: string }[] }[] }).tables.find((t) => t.name === 'User')!.columns.map((c) => c.name)) + '}\n["');
      while (n++ < 300) yield chunk;
    })());
    await pipeline(source, zlib.createGzip({ level: 1 }), createWriteStream(path.join(dir, name)));
    const r = await cli(['verify', name, '--json'], env);
    expect(r.code).toBe(ExitCode.INVALID_BACKUP);
    expect(JSON.parse(r.stdout).error.message).toMatch(/longer than/);
  });

  it('names that escape the backup folder are refused with exit 7', async () => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-outside-'));
    try {
      copyFileSync(path.join(dir, good), path.join(outside, good));
      symlinkSync(path.join(outside, good), path.join(dir, named('symlink-out')));
      for (const given of [`../${path.basename(outside)}/${good}`, path.join(outside, good), named('symlink-out'), `../../../../etc/passwd`]) {
        const r = await cli(['restore', given, '--yes'], env);
        expect(r.code, given).toBe(ExitCode.NOT_FOUND);
        expect(r.stderr, given).toMatch(/outside the backup folder|does not exist/);
        if (given.startsWith('..')) {
          const v = await cli(['verify', given], env);
          expect(v.code, given).toBe(ExitCode.NOT_FOUND);
        }
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('wrong database URLs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-badurl-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const urls: [string, string | undefined, RegExp][] = [
    ['unset', undefined, /DATABASE_URL is not set/],
    ['empty', '', /DATABASE_URL is not set/],
    ['unknown scheme', 'mongodb://localhost/db', /Unrecognised database URL/],
    ['mysql', 'mysql://root@localhost/db', /not supported/],
    ['unparseable postgres', 'postgresql://user@[bad/db', /cannot be parsed/],
    ['missing database', 'postgresql://postgres@127.0.0.1:5432/pg_guard_does_not_exist', /does not exist/],
    ['nothing listening', 'postgresql://postgres@127.0.0.1:1/db', /does not answer|Cannot connect/],
    ['missing SQLite file', 'file:/nonexistent/dir/dev.db', /does not exist/],
  ];
  for (const [what, url, message] of urls) {
    it(`${what}: exit 4, a clear message, no backup file`, async () => {
      const r = await cli(['backup', '--json'], { DATABASE_URL: url, BACKUP_DIR: dir });
      expect(r.code, r.stdout + r.stderr).toBe(ExitCode.DATABASE);
      const err = JSON.parse(r.stdout).error;
      expect(err.message).toMatch(message);
      expect(err.hint).toBeTruthy();
      expect(readdirSync(dir).filter((n) => parseBackupFileName(n) || isTemporaryName(n))).toEqual([]);
    });
  }
});

describe('PostgreSQL going away mid-run (pg_terminate_backend)', () => {
  let db: FreshDatabase;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await freshDatabase('postgres');
    await generate(db.url, 0.02);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-terminate-'));
    env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
  });
  afterAll(async () => {
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Terminates every session of the test database (the CLI's work and lock connections). */
  const terminateAll = () => withPg(db.url, (c) => c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [db.name]));

  it('a backup whose connection is terminated fails with exit 4 and leaves no file', async () => {
    const before = await fingerprint(db.url);
    const run = startCli(['backup', '--json'], env);
    const deadline = Date.now() + 60_000;
    while (!(await pgLockHeld(db.url)) && Date.now() < deadline && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 150));
    await terminateAll();
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(ExitCode.DATABASE);
    const err = JSON.parse(r.stdout).error;
    expect(err.message).toMatch(/PostgreSQL|connection|terminat/i);
    expect(readdirSync(dir).filter((n) => parseBackupFileName(n) || isTemporaryName(n))).toEqual([]);
    await waitForNoOtherSessions(db.url);
    expect(await fingerprint(db.url)).toBe(before);
  });

  it('a restore whose connection is terminated fails with a documented code and changes nothing', async () => {
    const ctx = resolveContext({ url: db.url, backupDir: dir, env: {} });
    const b = await backup(ctx, { reason: 'before-change' });
    const q = await rawQueryable(db.url);
    await q.query(`UPDATE "Post" SET "views" = "views" + 1`);
    await q.close();
    const before = await fingerprint(db.url);
    const run = startCli(['restore', b.manifest.file, '--yes', '--no-safety-backup', '--json'], env);
    // Terminate while rows are being loaded (a COPY into the database is running), not after COMMIT.
    const loading = () => withPg(db.url, async (c) => (await c.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY % FROM STDIN%' AND state = 'active'`, [db.name])).rowCount! > 0);
    while (!(await loading()) && run.child.exitCode === null) await new Promise((res) => setTimeout(res, 5));
    await terminateAll();
    const out = await run.done;
    expect([ExitCode.DATABASE, ExitCode.ROLLED_BACK], out.stdout + out.stderr).toContain(out.code);
    expect(JSON.parse(out.stdout).error.message.length).toBeGreaterThan(20);
    await waitForNoOtherSessions(db.url);
    expect(await fingerprint(db.url)).toBe(before);
    expect(existsSync(path.join(dir, manifestFileName(b.manifest.file)))).toBe(true);
  });
});

const json_otherDatabase = (r: { stdout: string }) => JSON.parse(r.stdout).plan.otherDatabase;

describe('a valid backup of another database', () => {
  let target: FreshDatabase;
  let sameSchema: FreshDatabase;
  let otherSchema: FreshDatabase;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    target = await freshDatabase('sqlite');
    await generate(target.url, 0.0005);
    sameSchema = await freshDatabase('sqlite');
    await generate(sameSchema.url, 0.001);
    otherSchema = await freshDatabase('sqlite');
    const q = await rawQueryable(otherSchema.url);
    await q.exec(`CREATE TABLE "Invoice" ("id" INTEGER NOT NULL PRIMARY KEY, "total" DECIMAL NOT NULL); INSERT INTO "Invoice" VALUES (1, 9.5);`);
    await q.close();
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-otherdb-'));
    env = { DATABASE_URL: target.url, BACKUP_DIR: dir };
  });
  afterAll(async () => {
    for (const d of [target, sameSchema, otherSchema]) await d?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Backs up `from` into the target's backup folder (as if copied over with its manifest). */
  const backupOf = async (from: FreshDatabase, reason: string) => (await backup(resolveContext({ url: from.url, backupDir: dir, env: {} }), { reason })).manifest.file;

  it('verify accepts it (it is a sound backup), and the restore plan names the source database and flags it', async () => {
    const own = await backupOf(target, 'own');
    const foreign = await backupOf(sameSchema, 'foreign');
    expect((await cli(['verify', foreign], env)).code).toBe(ExitCode.OK);
    const plan = await cli(['restore', foreign, '--dry-run'], env);
    expect(plan.code, plan.stderr).toBe(ExitCode.OK);
    expect(plan.stdout).toContain(`of file:${sameSchema.name}\n`);
    expect(plan.stdout).toContain(`!!! ANOTHER DATABASE: this is a backup of sqlite ${sameSchema.name},`);
    expect(json_otherDatabase(await cli(['restore', foreign, '--dry-run', '--json'], env))).toMatchObject({ backup: `sqlite ${sameSchema.name}`, target: `sqlite ${target.name}` });
    const json = JSON.parse((await cli(['restore', foreign, '--dry-run', '--json'], env)).stdout);
    expect(json.plan.backup.database).toBe(`file:${sameSchema.name}`);
    expect(json.plan.target).toBe(`file:${target.name}`);
    const ownPlan = await cli(['restore', own, '--dry-run'], env);
    expect(ownPlan.stdout).toContain(`of file:${target.name}\n`);
    expect(ownPlan.stdout).not.toContain('ANOTHER DATABASE');
  });

  it('a data-mode restore of a database with another schema is refused (exit 5) and changes nothing', async () => {
    const foreign = await backupOf(otherSchema, 'other-schema');
    const before = await fingerprint(target.url);
    const r = await cli(['restore', foreign, '--yes', '--no-safety-backup'], env);
    expect(r.code, r.stderr).toBe(ExitCode.SCHEMA_MISMATCH);
    expect(r.stderr).toMatch(/does not match the backup/);
    expect(r.stderr).toMatch(/--mode full/);
    expect(await fingerprint(target.url)).toBe(before);
  });
});
