/**
 * The storage contract (lib/storage/contract.ts), one suite run against every backend: memory, a
 * local folder, and S3 through a real S3-compatible server (s3rver) on 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startS3, type TestS3 } from '../helpers/s3.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGuardError } from '../../lib/core/errors.ts';
import type { StorageBackend } from '../../lib/storage/contract.ts';
import { LocalStorage } from '../../lib/storage/local/local-storage.ts';
import { openStorage } from '../../lib/storage/registry.ts';

async function bytesOf(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function* slowly(parts: Buffer[], failAfter?: number): AsyncIterable<Uint8Array> {
  for (const [i, p] of parts.entries()) {
    if (failAfter !== undefined && i === failAfter) throw new Error('the source broke');
    yield p;
    await new Promise((r) => setImmediate(r));
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let s3: TestS3;
let endpoint: string;
let localDir: string;

beforeAll(async () => {
  localDir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-local-storage-'));
  s3 = await startS3(['guard-test']);
  endpoint = s3.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
}, 30_000);

afterAll(async () => {
  await s3?.close();
  rmSync(localDir, { recursive: true, force: true });
});

const backends: { name: string; open: () => StorageBackend }[] = [
  { name: 'memory', open: () => openStorage(`memory:contract-${Math.random()}`) },
  { name: 'local folder', open: () => openStorage(mkdtempSync(path.join(localDir, 'b-'))) },
  { name: 's3 (s3rver)', open: () => openStorage(`s3://guard-test/p${Math.random().toString(36).slice(2)}/backups`, { s3Endpoint: endpoint }) },
];

for (const b of backends) {
  describe(`storage contract: ${b.name}`, () => {
    it('writes, stats, lists, reads whole and by range, replaces and removes', async () => {
      const st = b.open();
      expect(await st.list()).toEqual([]);
      expect(await st.stat('a.jsonl.gz')).toBeNull();
      const body = Buffer.from('0123456789'.repeat(1000));
      const w = await st.write('a.jsonl.gz', slowly([body.subarray(0, 3000), body.subarray(3000)]));
      expect(w).toEqual({ size: body.length, sha256: sha(body) });
      await st.write('b.manifest.json', Buffer.from('{}'));
      expect((await st.list()).map((o) => [o.name, o.size, o.kind])).toEqual([
        ['a.jsonl.gz', 10000, 'object'],
        ['b.manifest.json', 2, 'object'],
      ]);
      expect((await st.stat('a.jsonl.gz'))?.size).toBe(10000);
      expect(await bytesOf(await st.read('a.jsonl.gz'))).toEqual(body);
      expect((await bytesOf(await st.read('a.jsonl.gz', { start: 5, end: 15 }))).toString()).toBe('5678901234');
      expect((await bytesOf(await st.read('a.jsonl.gz', { start: 9995 }))).toString()).toBe('56789');
      await st.write('a.jsonl.gz', Buffer.from('new'));
      expect((await bytesOf(await st.read('a.jsonl.gz'))).toString()).toBe('new');
      await st.remove('a.jsonl.gz');
      await st.remove('a.jsonl.gz'); // a missing object is not an error
      expect((await st.list()).map((o) => o.name)).toEqual(['b.manifest.json']);
    }, 60_000);

    it('a write that fails or is aborted leaves nothing under the name, and the old object intact', async () => {
      const st = b.open();
      await st.write('x.jsonl.gz', Buffer.from('old'));
      const broken = await st.write('x.jsonl.gz', slowly([Buffer.alloc(1000, 1), Buffer.alloc(1000, 2)], 1)).catch((e) => e);
      expect(isGuardError(broken) || broken instanceof Error).toBe(true);
      expect((await bytesOf(await st.read('x.jsonl.gz'))).toString()).toBe('old');
      const ac = new AbortController();
      const aborted = st.write('y.jsonl.gz', (async function* () {
        yield Buffer.alloc(100);
        ac.abort();
        yield Buffer.alloc(100);
      })(), { signal: ac.signal }).catch((e) => e);
      expect(await aborted).toBeInstanceOf(Error);
      expect(await st.stat('y.jsonl.gz')).toBeNull();
      expect((await st.list()).map((o) => o.name)).toEqual(['x.jsonl.gz']);
    }, 60_000);

    it('noOverwrite refuses an existing name; names are plain file names', async () => {
      const st = b.open();
      await st.write('k', Buffer.from('1'), { noOverwrite: true });
      const again = await st.write('k', Buffer.from('2'), { noOverwrite: true }).catch((e) => e);
      expect(isGuardError(again) && again.code).toBe('WRITE_FAILED');
      expect((await bytesOf(await st.read('k'))).toString()).toBe('1');
      for (const bad of ['../etc/passwd', 'a/b', '..', '', 'x\u0000y']) {
        const e = await st.read(bad).catch((err) => err);
        expect(isGuardError(e) && e.code, bad).toBe('PATH_OUTSIDE_BACKUP_DIR');
      }
      const missing = await st.read('nope').catch((e) => e);
      expect(isGuardError(missing) && missing.code).toBe('BACKUP_NOT_FOUND');
    }, 60_000);
  });
}

describe('local folder specifics', () => {
  it('files are 0600 in a 0700 folder; no temporary file is left; symlinks and FIFOs are listed as other and never read', async () => {
    const dir = path.join(mkdtempSync(path.join(localDir, 'spec-')), 'backups');
    const st = new LocalStorage(dir);
    await st.write('a.jsonl.gz', Buffer.from('a'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'a.jsonl.gz')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['a.jsonl.gz']);
    writeFileSync(path.join(localDir, 'outside.txt'), 'secret');
    symlinkSync(path.join(localDir, 'outside.txt'), path.join(dir, 'link.jsonl.gz'));
    execFileSync('mkfifo', [path.join(dir, 'fifo.jsonl.gz')]);
    mkdirSync(path.join(dir, 'folder.jsonl.gz'));
    const listed = Object.fromEntries((await st.list()).map((o) => [o.name, o.kind]));
    expect(listed).toEqual({ 'a.jsonl.gz': 'object', 'fifo.jsonl.gz': 'other', 'folder.jsonl.gz': 'other', 'link.jsonl.gz': 'other' });
    for (const n of ['link.jsonl.gz', 'fifo.jsonl.gz', 'folder.jsonl.gz']) {
      const e = await st.read(n).catch((err) => err);
      expect(isGuardError(e) && e.message, n).toMatch(/never read/);
    }
    expect(lstatSync(path.join(dir, 'link.jsonl.gz')).isSymbolicLink()).toBe(true);
    expect(await st.freeSpace()).toBeGreaterThan(0);
  });
});

describe('S3 errors', () => {
  it('a missing bucket and a dead endpoint are STORAGE_FAILED (exit 14) naming the location, never the secret', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    const missing = await openStorage('s3://no-such-bucket-here/x', { s3Endpoint: endpoint }).list().catch((e) => e);
    expect(isGuardError(missing) && missing.code).toBe('STORAGE_FAILED');
    expect(missing.exitCode).toBe(14);
    expect(missing.message).toMatch(/s3:\/\/no-such-bucket-here\/x/);
    const dead = await openStorage('s3://guard-test/x', { s3Endpoint: 'http://127.0.0.1:9' }).list().catch((e) => e);
    expect(isGuardError(dead) && dead.code).toBe('STORAGE_FAILED');
    expect(`${dead.message} ${dead.hint}`).not.toMatch(/S3RVER/);
  }, 60_000);
});
