/**
 * Uploads that do not finish: the CLI killed with SIGKILL in the middle of a multipart upload, and a
 * storage server whose connections are cut mid-upload. A TCP proxy of the test's own sits between
 * prisma-guard and a real S3-compatible server (s3rver on 127.0.0.1) and counts the bytes going up,
 * so the failure lands in the middle of the upload every time, not by timing luck.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../lib/storage/registry.ts';
import { CLI_ENTRY, runCli } from '../helpers/cli.ts';
import { tcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

let s3: TestS3;
let work: string;
let dbFile: string;
let local: string;
let backupFile: string;

/** A TCP proxy to `port` that calls `onBytes` with the running count of bytes sent upstream. */
function proxy(port: number, onBytes: (total: number, cut: () => void) => void): Promise<TcpProxy> {
  let total = 0;
  return tcpProxy(port, {
    up(chunk, _conn, control) {
      total += chunk.length;
      // The chunk goes upstream first, then the test may cut (as the bytes were counted once sent).
      setImmediate(() => onBytes(total, () => control.cutAll()));
    },
  });
}

async function objectsIn(prefix: string): Promise<string[]> {
  const st = openStorage(`s3://fail/${prefix}`, { s3Endpoint: s3.endpoint, s3Region: 'us-east-1', s3ForcePathStyle: true });
  return (await st.list()).map((o) => o.name);
}

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  work = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-upload-'));
  s3 = await startS3(['fail']);
  dbFile = path.join(work, 'big.db');
  // About 24 MB of backup that does not compress: several multipart parts.
  execFileSync('sqlite3', [dbFile, 'CREATE TABLE blobs(id INTEGER PRIMARY KEY, v BLOB NOT NULL); INSERT INTO blobs(v) SELECT randomblob(4096) FROM generate_series(1, 4500);']);
  local = path.join(work, 'backups');
  const b = await runCli(['backup', '--json'], { DATABASE_URL: `file:${dbFile}`, BACKUP_DIR: local });
  expect(b.code, b.stderr).toBe(0);
  backupFile = JSON.parse(b.stdout).manifest.file;
}, 120_000);

afterAll(async () => {
  await s3?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('uploads that do not finish', () => {
  it('kill -9 in the middle of a multipart upload leaves no object under the backup name; the next copy completes', async () => {
    const port = new URL(s3.endpoint).port;
    let child: ReturnType<typeof spawn> | undefined;
    let killedAt = 0;
    const p = await proxy(Number(port), (total) => {
      if (!killedAt && total > 9 << 20) {
        killedAt = total;
        child?.kill('SIGKILL');
      }
    });
    try {
      const env = { ...process.env, CI: 'true', BACKUP_DIR: local, ...s3.env, BACKUP_S3_ENDPOINT: `http://127.0.0.1:${p.port}` };
      child = spawn(process.execPath, [CLI_ENTRY, 'copy', backupFile, '--to', 's3://fail/killed'], { env, stdio: 'ignore' });
      const code = await new Promise<number | null>((r) => child!.on('close', (c, signal) => r(signal === 'SIGKILL' ? -9 : c)));
      expect(code).toBe(-9);
      expect(killedAt).toBeGreaterThan(9 << 20);
      const names = await objectsIn('killed');
      expect(names).not.toContain(backupFile);
      expect(names.filter((n) => n.endsWith('.manifest.json'))).toEqual([]);
    } finally {
      await p.close();
    }
    // Nothing half-written blocks the next attempt, which is complete and checked.
    const again = await runCli(['copy', backupFile, '--to', 's3://fail/killed', '--json'], { BACKUP_DIR: local, ...s3.env });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).copies?.[0] ?? JSON.parse(again.stdout)).toMatchObject({ alreadyThere: false });
    expect(await objectsIn('killed')).toContain(backupFile);
  }, 120_000);

  it('a server that drops its connections mid-upload: exit 14 naming the location, nothing under the name, the local backup kept', async () => {
    const port = new URL(s3.endpoint).port;
    const p = await proxy(Number(port), (total, cut) => {
      if (total > 7 << 20) cut();
    });
    try {
      const env = { BACKUP_DIR: local, ...s3.env, BACKUP_S3_ENDPOINT: `http://127.0.0.1:${p.port}`, AWS_SECRET_ACCESS_KEY: 'S3RVER' };
      const r = await runCli(['copy', backupFile, '--to', 's3://fail/cut', '--json'], env);
      expect(r.code, r.stdout + r.stderr).toBe(14);
      expect(r.stdout + r.stderr).toMatch(/s3:\/\/fail\/cut/);
      expect(await objectsIn('cut')).not.toContain(backupFile);
      // A backup with BACKUP_COPY_TO through the dead server still succeeds, with a warning.
      const b = await runCli(['backup', '--json'], { ...env, DATABASE_URL: `file:${dbFile}`, BACKUP_COPY_TO: 's3://fail/cut' });
      expect(b.code, b.stdout + b.stderr).toBe(0);
      expect(JSON.parse(b.stdout).offsite.error).toMatch(/s3:\/\/fail\/cut/);
    } finally {
      await p.close();
    }
    const v = await runCli(['verify', backupFile], { BACKUP_DIR: local });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(readdirSync(local).filter((n) => n.endsWith('.jsonl.gz'))).toHaveLength(2);
  }, 120_000);
});
