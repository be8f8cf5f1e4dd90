/**
 * BACKUP_DIR=s3://bucket/prefix: a real S3-compatible server (s3rver on 127.0.0.1) as the primary
 * location of backups, through the compiled CLI, on real SQLite and PostgreSQL, plain and
 * encrypted: backup, list, verify, restore (latest and by name), diff, pin, prune, status,
 * emergency-restore; no backup left on local disk after a backup or during a restore; a server that
 * stops mid-upload gives a clear error, no object under the backup's name, and a kept local copy
 * that the next backup uploads.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveContext } from '../../lib/ops/context.ts';
import { S3Storage } from '../../lib/storage/s3/s3-storage.ts';
import { runCli } from '../helpers/cli.ts';
import { startCli } from '../reliability/helpers.ts';
import { addToken } from '../../lib/server/auth.ts';
import { startServer } from '../../lib/server/serve.ts';
import { backupNow, Client } from '../server/helpers.ts';
import { DIALECTS, demoDatabase, demoMigrationsDir, demoSchemaPath, freshDatabase, migrateDemo, rawQueryable, seedDemo, type FreshDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

let s3: TestS3;
let work: string;
let identity: { file: string; recipient: string };

const BACKUP_NAME = /^backup-.*\.jsonl\.gz(\.age)?$/;
const backupsIn = (dir: string): string[] => {
  try {
    return readdirSync(dir).filter((f) => BACKUP_NAME.test(f) || f.endsWith('.manifest.json'));
  } catch {
    return [];
  }
};

function bucket(prefix: string): S3Storage {
  return new S3Storage({ bucket: 'primary', prefix, endpoint: s3.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
}

/** A fresh SQLite database whose one table holds `rows` random (incompressible) blobs of 100 kB. */
async function blobDatabase(rows: number): Promise<FreshDatabase> {
  const db = await freshDatabase('sqlite');
  try {
    const q = await rawQueryable(db.url);
    await q.exec('CREATE TABLE "blobs" ("id" INTEGER PRIMARY KEY, "v" BLOB NOT NULL)');
    await q.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) INSERT INTO "blobs" SELECT i, randomblob(100000) FROM n`);
    await q.close();
    return db;
  } catch (e) {
    // Not returned, so no afterAll would drop it.
    await db.drop();
    throw e;
  }
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-s3dir-'));
  s3 = await startS3(['primary', 'copies']);
  const r = await runCli(['keygen', '--age', '--out', path.join(work, 'keys'), '--name', 's3dir', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout);
  identity = { file: out.identityFile, recipient: out.recipient };
}, 120_000);

afterAll(async () => {
  await s3?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the working folder', () => {
  it('defaults to <project>/.prisma-guard/cache/<hash of the location>; BACKUP_CACHE_DIR overrides it', () => {
    const ctx = resolveContext({ projectDir: '/srv/app', env: { BACKUP_DIR: 's3://primary/app' } });
    expect(ctx.primary?.location).toBe('s3://primary/app');
    expect(ctx.backupDir).toMatch(/^\/srv\/app\/\.prisma-guard\/cache\/[0-9a-f]{12}$/);
    const other = resolveContext({ projectDir: '/srv/app', env: { BACKUP_DIR: 's3://primary/other' } });
    expect(other.backupDir).not.toBe(ctx.backupDir);
    expect(resolveContext({ projectDir: '/srv/app', env: { BACKUP_DIR: 's3://primary/app', BACKUP_CACHE_DIR: 'work' } }).backupDir).toBe('/srv/app/work');
    expect(resolveContext({ projectDir: '/srv/app', env: { BACKUP_DIR: 'backups' } }).primary).toBeNull();
  });
});

for (const dialect of DIALECTS) {
  for (const encrypted of [false, true]) {
    describe(`${dialect}${encrypted ? ', encrypted' : ''}: BACKUP_DIR=s3://`, () => {
      let db: FreshDatabase;
      const prefix = `${dialect}-${encrypted ? 'age' : 'plain'}`;
      const cache = () => path.join(work, `cache-${prefix}`);
      const env = () => ({
        DATABASE_URL: db.url,
        BACKUP_DIR: `s3://primary/${prefix}`,
        BACKUP_CACHE_DIR: cache(),
        ...s3.env,
        ...(encrypted ? { BACKUP_AGE_RECIPIENTS: identity.recipient, BACKUP_AGE_IDENTITY: identity.file } : {}),
      });

      beforeAll(async () => {
        db = await demoDatabase(dialect, { users: 20 });
      }, 120_000);
      afterAll(async () => {
        await db?.drop();
      });

      it('backup, list, verify, diff, pin, restore (latest and by name), prune, status, emergency-restore', async () => {
        const first = await runCli(['backup', '--reason', 'one', '--json'], env());
        expect(first.code, first.stdout + first.stderr).toBe(0);
        const one = JSON.parse(first.stdout);
        expect(one.path).toBe(`s3://primary/${prefix}/${one.manifest.file}`);
        expect(one.manifest.file).toMatch(encrypted ? /\.age$/ : /\.jsonl\.gz$/);
        // The bucket holds it; the working folder does not.
        const objects = (await bucket(prefix).list()).map((o) => o.name);
        expect(objects).toContain(one.manifest.file);
        expect(objects).toContain(one.manifest.file.replace(/\.jsonl\.gz(\.age)?$/, '.manifest.json'));
        expect(backupsIn(cache())).toEqual([]);

        const q = await rawQueryable(db.url);
        await q.exec(`DELETE FROM "comments" WHERE "id" IN (SELECT "id" FROM "comments" ORDER BY "id" LIMIT 3)`);
        await q.close();
        const second = await runCli(['backup', '--reason', 'two', '--json'], env());
        expect(second.code, second.stderr).toBe(0);
        const two = JSON.parse(second.stdout);
        const before = oracleDump(db.url);

        const listed = await runCli(['list', '--json'], env());
        expect(listed.code, listed.stderr).toBe(0);
        const l = JSON.parse(listed.stdout);
        expect(l.location).toBe(`s3://primary/${prefix}`);
        expect(l.backups.map((m: { file: string }) => m.file)).toEqual([two.manifest.file, one.manifest.file]);
        expect(l.pending).toEqual([]);
        expect(l.stray).toEqual([]);
        const human = await runCli(['list'], env());
        expect(human.stdout).toContain(two.manifest.file);
        expect(human.stdout).not.toMatch(/NOT UPLOADED/);

        const v = await runCli(['verify', 'latest', '--json'], env());
        expect(v.code, v.stdout + v.stderr).toBe(0);
        expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, file: two.manifest.file });
        const afterVerify = JSON.parse((await runCli(['list', '--json'], env())).stdout);
        expect(afterVerify.backups[0].verification).toMatchObject({ ok: true });

        const drill = await runCli(['drill', '--json'], env());
        expect(drill.code, drill.stdout + drill.stderr).toBe(0);
        expect(JSON.parse(drill.stdout)).toMatchObject({ ok: true });

        const d = await runCli(['diff', one.manifest.file, two.manifest.file, '--json'], env());
        expect(d.code, d.stdout + d.stderr).toBe(1);
        expect(d.stdout).toMatch(/comments/);

        const pin = await runCli(['pin', one.manifest.file], env());
        expect(pin.code, pin.stdout + pin.stderr).toBe(0);
        expect(JSON.parse((await runCli(['list', '--json'], env())).stdout).backups[1].pinned).toBe(true);

        // Lose data, restore latest straight from the bucket: nothing is downloaded to disk.
        const q2 = await rawQueryable(db.url);
        await q2.exec('DELETE FROM "comments"');
        await q2.close();
        const seen = new Set<string>();
        const watch = setInterval(() => backupsIn(cache()).forEach((f) => seen.add(f)), 10);
        const r = await runCli(['restore', 'latest', '--yes', '--no-safety-backup', '--json'], env()).finally(() => clearInterval(watch));
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(oracleDump(db.url)).toBe(before);
        expect([...seen]).toEqual([]);
        expect(backupsIn(cache())).toEqual([]);

        // By name, the older one, with a safety backup (which goes to the bucket too).
        const byName = await runCli(['restore', one.manifest.file, '--yes', '--json'], env());
        expect(byName.code, byName.stdout + byName.stderr).toBe(0);
        const safety = JSON.parse(byName.stdout).safetyBackup as string;
        expect(safety).toMatch(new RegExp(`^s3://primary/${prefix}/backup-`));
        expect(oracleDump(db.url)).not.toBe(before);
        expect(backupsIn(cache())).toEqual([]);

        // Prune applies the policy to the bucket (one per hour; the pinned one and the newest verified one stay).
        for (const reason of ['three', 'four']) {
          const more = await runCli(['backup', '--reason', reason], env());
          expect(more.code, more.stderr).toBe(0);
          expect(more.stdout + more.stderr).toMatch(new RegExp(`Uploaded to s3://primary/${prefix} and read back`));
        }
        const plan = JSON.parse((await runCli(['prune', '--dry-run', '--json'], env())).stdout);
        const pr = await runCli(['prune', '--json'], env());
        expect(pr.code, pr.stdout + pr.stderr).toBe(0);
        const removed: string[] = JSON.parse(pr.stdout).removed;
        expect(removed.length).toBeGreaterThan(0);
        expect(removed.sort()).toEqual(plan.entries.filter((e: { action: string }) => e.action === 'remove').map((e: { file: string }) => e.file).sort());
        const left = (await bucket(prefix).list()).map((o) => o.name);
        for (const f of removed) expect(left).not.toContain(f);
        expect(left).toContain(one.manifest.file);

        const st = await runCli(['status', '--json'], env());
        expect(st.stdout).toBeTruthy();
        expect(JSON.parse(st.stdout).backups.count).toBe(5 - removed.length);

        // emergency-restore: the newest verified full backup, from the bucket alone.
        const q3 = await rawQueryable(db.url);
        await q3.exec('DELETE FROM "comments"');
        await q3.close();
        rmSync(cache(), { recursive: true, force: true });
        const latestFull = JSON.parse((await runCli(['list', '--json'], env())).stdout).backups.find((m: { kind: string }) => m.kind === 'manual' || m.kind === 'pre-restore');
        const e = await runCli(['emergency-restore', '--yes', '--json'], env());
        expect(e.code, e.stdout + e.stderr).toBe(0);
        expect(e.stdout + e.stderr).toContain(latestFull.file);
        expect(backupsIn(cache())).toEqual([]);
      }, 300_000);
    });
  }
}

/**
 * A TCP proxy in front of the storage server that cuts every connection, and stops listening,
 * after `limit` bytes went upstream: the server "stops" in the middle of an upload.
 */
async function cuttingProxy(target: string, limit: number): Promise<TcpProxy> {
  let sent = 0;
  return tcpProxy(Number(new URL(target).port), {
    up(chunk, _conn, control) {
      sent += chunk.length;
      if (sent <= limit) return;
      control.cutAll();
      return 'drop';
    },
  });
}

describe('a storage server that stops mid-upload', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    // About 12 MB of incompressible data: a multipart upload of several parts.
    db = await blobDatabase(120);
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('fails the backup with a clear error (exit 14), leaves no object under its name, keeps the local copy; the next backup uploads it', async () => {
    const proxy = await cuttingProxy(s3.endpoint, 7 * 1024 * 1024);
    const cache = path.join(work, 'cache-cut');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: 's3://primary/cut', BACKUP_CACHE_DIR: cache, ...s3.env };
    const b = await runCli(['backup', '--json'], { ...env, BACKUP_S3_ENDPOINT: proxy.endpoint });
    proxy.close();
    expect(b.code, b.stdout + b.stderr).toBe(14);
    const err = JSON.parse(b.stdout).error;
    expect(err.code).toBe('STORAGE_FAILED');
    expect(err.message).toMatch(/uploading it to s3:\/\/primary\/cut failed/);
    expect(err.message).toContain(cache);
    const kept = backupsIn(cache).filter((f) => BACKUP_NAME.test(f));
    expect(kept).toHaveLength(1);
    // Nothing under the backup's name (nor its manifest) in the bucket.
    expect((await bucket('cut').list()).map((o) => o.name)).toEqual([]);

    // The server is back: `list` says the backup is only in the working folder; it can be restored from there.
    const listed = await runCli(['list', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).pending).toEqual(kept);
    expect((await runCli(['list'], env)).stdout).toMatch(/NOT UPLOADED/);
    const v = await runCli(['verify', kept[0]], env);
    expect(v.code, v.stdout + v.stderr).toBe(0);

    // The next backup uploads both.
    const next = await runCli(['backup'], env);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(next.stdout + next.stderr).toMatch(new RegExp(`Uploaded the pending backup ${kept[0].replace(/\./g, '\\.')}`));
    expect(backupsIn(cache)).toEqual([]);
    const after = JSON.parse((await runCli(['list', '--json'], env)).stdout);
    expect(after.pending).toEqual([]);
    expect(after.backups).toHaveLength(2);
  }, 180_000);
});

/** A TCP proxy that passes request bytes upstream at about `bytesPerSecond` (a slow uplink). */
async function slowProxy(target: string, bytesPerSecond: number): Promise<TcpProxy> {
  return tcpProxy(Number(new URL(target).port), {
    up(chunk, { client }) {
      client.pause();
      setTimeout(() => client.resume(), Math.ceil((chunk.length / bytesPerSecond) * 1000));
    },
  });
}

describe('kill -9 during the upload', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await blobDatabase(80);
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('leaves no object under the backup name; the local copy is kept and the next backup uploads it', async () => {
    const proxy = await slowProxy(s3.endpoint, 2 * 1024 * 1024);
    const cache = path.join(work, 'cache-kill');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: 's3://primary/kill', BACKUP_CACHE_DIR: cache, ...s3.env };
    try {
      const run = startCli(['backup', '--json'], { ...env, BACKUP_S3_ENDPOINT: proxy.endpoint });
      let exited = false;
      void run.done.then(() => (exited = true));
      // The backup and its manifest are complete in the working folder: the upload has begun.
      while (!exited && backupsIn(cache).length < 2) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 1500));
      expect(exited, 'the backup finished before it could be killed').toBe(false);
      run.child.kill('SIGKILL');
      await run.done;
    } finally {
      proxy.close();
    }
    expect((await bucket('kill').list()).map((o) => o.name)).toEqual([]);
    const kept = backupsIn(cache).filter((f) => BACKUP_NAME.test(f));
    expect(kept).toHaveLength(1);
    expect(JSON.parse((await runCli(['list', '--json'], env)).stdout).pending).toEqual(kept);
    const next = await runCli(['backup'], env);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(backupsIn(cache)).toEqual([]);
    expect((await bucket('kill').list()).map((o) => o.name)).toContain(kept[0]);
  }, 180_000);
});

describe('BACKUP_COPY_TO beside an s3 BACKUP_DIR', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await demoDatabase('sqlite', { users: 5 });
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('copies each new backup from the bucket to the other location and checks it', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_DIR: 's3://primary/with-copy', BACKUP_CACHE_DIR: path.join(work, 'cache-copy'), BACKUP_COPY_TO: 's3://copies/app', ...s3.env };
    const b = await runCli(['backup', '--json'], env);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const out = JSON.parse(b.stdout);
    expect(out.offsite).toMatchObject({ location: 's3://copies/app', sha256: out.manifest.sha256 });
    const listed = JSON.parse((await runCli(['list', '--location', 'offsite', '--json'], env)).stdout);
    expect(listed.backups.map((m: { file: string }) => m.file)).toEqual([out.manifest.file]);
  }, 120_000);
});

describe('an object replaced in the bucket while a restore reads it', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await demoDatabase('sqlite', { users: 10 });
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('is refused (the version seen at open is the only one read) and nothing changes', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_DIR: 's3://primary/swap', BACKUP_CACHE_DIR: path.join(work, 'cache-swap'), ...s3.env };
    const a = JSON.parse((await runCli(['backup', '--reason', 'a', '--json'], env)).stdout).manifest.file as string;
    expect((await runCli(['verify', a], env)).code).toBe(0); // a verified manifest: the restore reads the object once
    const q = await rawQueryable(db.url);
    await q.exec('DELETE FROM "comments"');
    await q.close();
    const b = JSON.parse((await runCli(['backup', '--reason', 'b', '--json'], env)).stdout).manifest.file as string;
    const live = oracleDump(db.url);

    const pause = path.join(work, 'swap.pause');
    writeFileSync(pause, '');
    const run = startCli(['restore', a, '--yes', '--no-safety-backup'], { ...env, PRISMA_GUARD_TEST_PAUSE: `after-check:${pause}` });
    let exited = false;
    void run.done.then(() => (exited = true));
    while (!exited && !existsSync(pause + '.reached')) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(pause + '.reached')).toBe(true);
    // Another backup's bytes under the name of the one being restored.
    const store = bucket('swap');
    const chunks: Buffer[] = [];
    for await (const c of await store.read(b)) chunks.push(c as Buffer);
    await store.write(a, Buffer.concat(chunks));
    rmSync(pause, { force: true });
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/replaced while it was being read/);
    expect(oracleDump(db.url)).toBe(live);
  }, 120_000);
});

describe('migrate-safe with an s3 BACKUP_DIR', () => {
  let db: FreshDatabase;
  afterAll(async () => {
    await db?.drop();
  });

  it('takes its pre/post snapshots in the bucket and reads the values a dropped column loses from there', async () => {
    const dir = path.join(work, 'ms-project');
    const schema = path.join(dir, 'prisma', 'schema.prisma');
    mkdirSync(path.dirname(schema), { recursive: true });
    copyFileSync(demoSchemaPath('sqlite'), schema);
    cpSync(demoMigrationsDir('sqlite'), path.join(dir, 'prisma', 'migrations'), { recursive: true });
    db = await freshDatabase('sqlite');
    await migrateDemo(db.url, { schema });
    await seedDemo(db.url);
    const name = '20250401000000_drop_bio';
    mkdirSync(path.join(dir, 'prisma', 'migrations', name), { recursive: true });
    writeFileSync(path.join(dir, 'prisma', 'migrations', name, 'migration.sql'), 'ALTER TABLE "users" DROP COLUMN "bio";\n');
    const cache = path.join(work, 'cache-ms');
    const env = { DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: schema, BACKUP_CACHE_DIR: cache, ...s3.env };
    const r = await runCli(['migrate-safe', '--json', '--accept-data-loss', '--backup-dir', 's3://primary/ms'], env, 'bin/prisma-guard.ts');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.status).toBe('applied');
    expect(out.preMigrationBackup.path).toBe(`s3://primary/ms/${out.preMigrationBackup.file}`);
    expect(out.report.valuesLost[0]).toMatchObject({ table: 'users', column: 'bio' });
    expect(out.report.valuesLost[0].nonNull).toBeGreaterThan(0);
    const objects = (await bucket('ms').list()).map((o) => o.name);
    expect(objects).toContain(out.preMigrationBackup.file);
    expect(objects).toContain(out.postMigrationBackup.file);
    // The working folder keeps the report, and no backup.
    expect(backupsIn(cache)).toEqual([]);
    expect(path.dirname(out.reportFile)).toBe(cache);
    const listed = JSON.parse((await runCli(['list', '--json', '--backup-dir', 's3://primary/ms'], env)).stdout);
    expect(listed.backups.find((m: { file: string }) => m.file === out.preMigrationBackup.file).pinned).toBe(true);
  }, 240_000);
});

/** A TCP proxy that breaks the first connection whose responses pass `limit` bytes, once; every other connection goes through. */
async function breakOnceProxy(target: string, limit: number): Promise<TcpProxy & { breaks(): number }> {
  let broken = 0;
  const proxy = await tcpProxy(Number(new URL(target).port), {
    down(chunk, conn) {
      if (broken || conn.down + chunk.length <= limit) return;
      broken++;
      conn.client.destroy();
      conn.upstream.destroy();
      return 'drop';
    },
  });
  return { ...proxy, breaks: () => broken };
}

describe('a connection that breaks while a restore reads from the bucket', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await blobDatabase(30);
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('is resumed from the next byte of the same object: the restore succeeds and is exact', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_DIR: 's3://primary/resume', BACKUP_CACHE_DIR: path.join(work, 'cache-resume'), ...s3.env };
    const b = await runCli(['backup', '--json'], env);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const file = JSON.parse(b.stdout).manifest.file as string;
    expect((await runCli(['verify', file], env)).code).toBe(0);
    const before = oracleDump(db.url);
    const q = await rawQueryable(db.url);
    await q.exec('DELETE FROM "blobs" WHERE "id" > 10');
    await q.close();
    const proxy = await breakOnceProxy(s3.endpoint, 1024 * 1024);
    try {
      const r = await runCli(['restore', file, '--yes', '--no-safety-backup'], { ...env, BACKUP_S3_ENDPOINT: proxy.endpoint });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(proxy.breaks()).toBe(1);
    } finally {
      proxy.close();
    }
    expect(oracleDump(db.url)).toBe(before);
  }, 120_000);
});

describe('the dashboard on an s3 BACKUP_DIR', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await demoDatabase('sqlite', { users: 5 });
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('backs up into the bucket, lists, verifies and deletes there; its own state stays in the working folder', async () => {
    const cache = path.join(work, 'cache-dash');
    // In-process: the S3 SDK takes credentials from this process's environment (its usual chain).
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = s3.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = s3.env.AWS_SECRET_ACCESS_KEY;
    const admin = (await addToken(cache, 'admin-script', 'admin', new Date())).token;
    const server = await startServer({ url: db.url, backupDir: 's3://primary/dash', port: 0, lockWaitMs: 300, env: { ...s3.env, BACKUP_CACHE_DIR: cache, BACKUP_MIN_FREE_MB: '0' } });
    try {
      const c = new Client(server.url, admin);
      const first = await backupNow(c, { reason: 'one' });
      const second = await backupNow(c, { reason: 'two' });
      expect((await bucket('dash').list()).map((o) => o.name)).toEqual(expect.arrayContaining([first, second]));
      expect(backupsIn(cache)).toEqual([]);
      const listed = await c.get('/api/backups');
      expect(listed.status).toBe(200);
      expect(listed.body.backups.map((m: { file: string }) => m.file)).toEqual([second, first]);
      const v = await c.post(`/api/backups/${second}/verify?wait=true`);
      expect(v.body.job.result).toMatchObject({ ok: true, file: second, manifest: 'ok' });
      const one = await c.get(`/api/backups/${first}`);
      expect(one.body.manifest.file).toBe(first);
      const del = await c.call('DELETE', `/api/backups/${first}`);
      expect(del.status, del.text).toBe(200);
      expect((await bucket('dash').list()).map((o) => o.name)).not.toContain(first);
      expect(readdirSync(cache)).toContain('.prisma-guard-server');
    } finally {
      await server.close();
      for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }, 120_000);
});

describe('incremental backups in an s3 BACKUP_DIR', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await freshDatabase('sqlite');
    const q = await rawQueryable(db.url);
    await q.exec('CREATE TABLE "blobs" ("id" INTEGER PRIMARY KEY, "v" BLOB NOT NULL)');
    await q.exec('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) INSERT INTO "blobs" SELECT i, randomblob(50000) FROM n');
    await q.exec('CREATE TABLE "notes" ("id" INTEGER PRIMARY KEY, "t" TEXT NOT NULL)');
    await q.exec(`INSERT INTO "notes" ("t") VALUES ('one')`);
    await q.close();
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('sections go to the bucket once; backups that refer to them verify and restore exactly from there', async () => {
    const cache = path.join(work, 'cache-incr');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: 's3://primary/incr', BACKUP_CACHE_DIR: cache, BACKUP_INCREMENTAL: 'true', ...s3.env };
    const sectionsThere = async () => (await bucket('incr').list()).filter((o) => o.name.startsWith('section-'));
    const b1 = await runCli(['backup', '--reason', 'one', '--json'], env);
    expect(b1.code, b1.stdout + b1.stderr).toBe(0);
    const first = JSON.parse(b1.stdout).manifest.file as string;
    const state1 = oracleDump(db.url);
    const after1 = await sectionsThere();
    expect(after1).toHaveLength(1); // the blobs table; notes is small enough to stay inline
    expect(readdirSync(cache).filter((n) => n.startsWith('section-') || BACKUP_NAME.test(n))).toEqual([]);

    const q = await rawQueryable(db.url);
    await q.exec(`INSERT INTO "notes" ("t") VALUES ('two')`);
    await q.close();
    const b2 = await runCli(['backup', '--reason', 'two', '--json'], env);
    expect(b2.code, b2.stdout + b2.stderr).toBe(0);
    const second = JSON.parse(b2.stdout).manifest.file as string;
    // Known from the bucket's manifests: the unchanged table is hashed, found there, and not written again.
    expect(JSON.parse(b2.stdout).incremental).toMatchObject({ written: 0, reused: 1 });
    const state2 = oracleDump(db.url);
    // The unchanged table's section is the same object, stored once.
    expect((await sectionsThere()).map((o) => [o.name, o.size])).toEqual(after1.map((o) => [o.name, o.size]));
    expect(readdirSync(cache).filter((n) => n.startsWith('section-') || BACKUP_NAME.test(n))).toEqual([]);

    const v = await runCli(['verify', second, '--json'], env);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).sections).toEqual(after1.map((o) => o.name));
    const r1 = await runCli(['restore', first, '--yes', '--no-safety-backup'], env);
    expect(r1.code, r1.stdout + r1.stderr).toBe(0);
    expect(oracleDump(db.url)).toBe(state1);
    const r2 = await runCli(['restore', second, '--yes', '--no-safety-backup'], env);
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    expect(oracleDump(db.url)).toBe(state2);
    expect(backupsIn(cache)).toEqual([]);
  }, 180_000);
});
