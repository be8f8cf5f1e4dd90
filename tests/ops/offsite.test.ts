/**
 * Offsite copies (BACKUP_COPY_TO, `copy`, `list --location`) to a real S3-compatible server
 * (s3rver on 127.0.0.1), through the compiled CLI: every backup copied and read back, the disk that
 * dies, recovery from the bucket alone, and a storage server that is down.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { demoDatabase, rawQueryable, type FreshDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

let s3: TestS3;
let db: FreshDatabase;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-offsite-'));
  s3 = await startS3(['offsite']);
  db = await demoDatabase('sqlite', { users: 30 });
}, 120_000);

afterAll(async () => {
  await s3?.close();
  await db?.drop();
  rmSync(work, { recursive: true, force: true });
});

const s3Env = () => s3.env;

describe('offsite copies to S3', () => {
  it('every backup is copied and checked; after the local folder is lost the bucket alone restores the database', async () => {
    const local = path.join(work, 'backups');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: local, BACKUP_COPY_TO: 's3://offsite/app/prod', ...s3Env() };
    const first = await runCli(['backup', '--reason', 'one', '--json'], env);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const result = JSON.parse(first.stdout);
    expect(result.offsite).toMatchObject({ location: 's3://offsite/app/prod', sha256: result.manifest.sha256, alreadyThere: false });
    const second = await runCli(['backup', '--reason', 'two'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr + second.stdout).toMatch(/Copied to s3:\/\/offsite\/app\/prod and read back/);

    const listed = await runCli(['list', '--location', 'offsite', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const remote = JSON.parse(listed.stdout);
    expect(remote.backups.map((m: { reason: string }) => m.reason).sort()).toEqual(['one', 'two']);

    const st = await runCli(['status', '--json'], env);
    const report = JSON.parse(st.stdout);
    expect(report.offsite).toMatchObject({ location: 's3://offsite/app/prod', count: 2 });
    expect(second.stdout).toContain(report.offsite.newest.file);
    expect(report.reasons.map((r: { code: string }) => r.code)).not.toContain('offsite-missing');

    // copy --all: both are there already, nothing is written again.
    const again = await runCli(['copy', '--all', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).copies.map((c: { alreadyThere: boolean }) => c.alreadyThere)).toEqual([true, true]);

    // The disk dies: the folder is gone. Bring the backups back from the bucket, then restore.
    rmSync(local, { recursive: true, force: true });
    await runCli(['backup', '--reason', 'unused'], { DATABASE_URL: db.url, BACKUP_DIR: path.join(work, 'elsewhere') }); // (an unrelated folder)
    const back = await runCli(['copy', '--all', '--from', 's3://offsite/app/prod', '--to', local, '--json'], { ...env, BACKUP_COPY_TO: '' });
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(readdirSync(local).sort().filter((n) => n.endsWith('.jsonl.gz')).length).toBe(2);
    const v = await runCli(['verify', 'latest'], { ...env, BACKUP_COPY_TO: '' });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const r = await runCli(['restore', 'latest', '--mode', 'full', '--yes', '--no-safety-backup'], { ...env, BACKUP_COPY_TO: '' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 180_000);

  it('restore and emergency-restore fetch from BACKUP_COPY_TO when the local folder has lost the backups', async () => {
    const local = path.join(work, 'lost');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: local, BACKUP_COPY_TO: 's3://offsite/lost', ...s3Env() };
    const older = await runCli(['backup', '--reason', 'older', '--json'], env);
    expect(older.code, older.stderr).toBe(0);
    const newer = await runCli(['backup', '--reason', 'newer', '--json'], env);
    expect(newer.code, newer.stderr).toBe(0);
    const newest = JSON.parse(newer.stdout).manifest.file;
    const before = oracleDump(db.url);
    const q = await rawQueryable(db.url);
    await q.exec('DELETE FROM "comments"');
    await q.close();
    // The disk died: the folder is gone. `restore latest` fetches the newest backup of this database.
    rmSync(local, { recursive: true, force: true });
    const r = await runCli(['restore', 'latest', '--yes', '--no-safety-backup'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`fetching ${newest.replace(/\./g, '\\.')} from s3://offsite/lost`));
    expect(oracleDump(db.url)).toBe(before);
    expect(readdirSync(local).filter((n) => n.endsWith('.jsonl.gz'))).toEqual([newest]);
    // A named backup that is only offsite is fetched too.
    const olderFile = JSON.parse(older.stdout).manifest.file;
    const named = await runCli(['restore', olderFile, '--dry-run', '--json'], env);
    expect(named.code, named.stdout + named.stderr).toBe(0);
    expect(readdirSync(local)).toContain(olderFile);
    // emergency-restore from the bucket alone.
    rmSync(local, { recursive: true, force: true });
    const q2 = await rawQueryable(db.url);
    await q2.exec('DELETE FROM "comments"');
    await q2.close();
    const e = await runCli(['emergency-restore', '--yes'], env);
    expect(e.code, e.stdout + e.stderr).toBe(0);
    expect(oracleDump(db.url)).toBe(before);
    // Without BACKUP_COPY_TO nothing is fetched: the usual "no backup" error.
    rmSync(local, { recursive: true, force: true });
    const none = await runCli(['restore', 'latest', '--yes'], { ...env, BACKUP_COPY_TO: '' });
    expect(none.code).toBe(7);
  }, 180_000);

  it('prune --location applies the same retention to the offsite copy, and leaves the local folder alone', async () => {
    const local = path.join(work, 'retention');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: local, BACKUP_COPY_TO: 's3://offsite/retention', ...s3Env() };
    for (const reason of ['a', 'b', 'c']) expect((await runCli(['backup', '--reason', reason], env)).code).toBe(0);
    const localPlan = JSON.parse((await runCli(['prune', '--dry-run', '--json'], env)).stdout);
    const remotePlan = await runCli(['prune', '--location', 'offsite', '--dry-run', '--json'], env);
    expect(remotePlan.code, remotePlan.stderr).toBe(0);
    const actions = (p: { entries: { file: string; action: string }[] }) => p.entries.map((e) => `${e.file} ${e.action}`).sort();
    expect(actions(JSON.parse(remotePlan.stdout))).toEqual(actions(localPlan));
    const toRemove = localPlan.entries.filter((e: { action: string }) => e.action === 'remove').map((e: { file: string }) => e.file);
    expect(toRemove.length).toBeGreaterThan(0);
    const done = await runCli(['prune', '--location', 'remote', '--json'], env);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).removed.sort()).toEqual([...toRemove].sort());
    const left = JSON.parse((await runCli(['list', '--location', 'offsite', '--json'], env)).stdout).backups.map((m: { file: string }) => m.file);
    expect(left).toHaveLength(3 - toRemove.length);
    for (const f of toRemove) expect(left).not.toContain(f);
    expect(readdirSync(local).filter((n) => n.endsWith('.jsonl.gz'))).toHaveLength(3);
  }, 120_000);

  it('a storage server that is down: the backup still succeeds, with a warning naming the location and no secret', async () => {
    const local = path.join(work, 'down');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: local, BACKUP_COPY_TO: 's3://offsite/x', ...s3Env(), BACKUP_S3_ENDPOINT: 'http://127.0.0.1:9', AWS_SECRET_ACCESS_KEY: 'sEcReT-Value-123' };
    const b = await runCli(['backup', '--json'], env);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const out = JSON.parse(b.stdout);
    expect(out.offsite.error).toMatch(/s3:\/\/offsite\/x/);
    expect(b.stderr).toMatch(/copying it to s3:\/\/offsite\/x failed/);
    expect(b.stdout + b.stderr).not.toMatch(/sEcReT-Value-123/);
    expect(readdirSync(local).filter((n) => n.endsWith('.jsonl.gz')).length).toBe(1);
    const c = await runCli(['copy', out.manifest.file, '--json'], env);
    expect(c.code).toBe(14);
    expect(JSON.parse(c.stdout).error.code).toBe('STORAGE_FAILED');
    const st = await runCli(['status', '--json'], env);
    expect(JSON.parse(st.stdout).reasons.map((r: { code: string }) => r.code)).toContain('offsite-unreachable');
    // Reachable again, but the backup was never copied: status says so.
    const missing = await runCli(['status', '--json'], { ...env, ...s3Env(), BACKUP_COPY_TO: 's3://offsite/never' });
    expect(JSON.parse(missing.stdout).reasons.map((r: { code: string }) => r.code)).toContain('offsite-missing');
  }, 120_000);
});
