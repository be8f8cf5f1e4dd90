import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { ExitCode, isGuardError } from '../../lib/core/errors.ts';
import { manifestFileName } from '../../lib/format/naming.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext, type OpsContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { freshDatabase, type FreshDatabase } from '../helpers/db.ts';
import { cli, describeSeed, fingerprint, random, SEED, trials } from './helpers.ts';

/**
 * Promise: a damaged or substituted backup is always rejected by `verify` with a clear reason
 * (a BACKUP_* code, a message saying what is wrong, a hint) and refused by `restore` (exit 3,
 * database unchanged), and no input makes prisma-guard crash or leave an unhandled exception.
 *
 * Cases (CI; RELIABILITY_LONG=1 multiplies the random ones by 10):
 *   random bit flips with the manifest present (100), bit flips without manifest (30: rejected
 *   unless the flip hit a gzip header byte that changes no data, which is then asserted),
 *   truncations (40), swapped lines (25), an edited row (25), a row removed or duplicated with its
 *   table count, the trailer's count and total fixed up (20), an edited header (10), a valid backup
 *   of another database put under this backup's name (5), a forgery with every checksum recomputed
 *   (5, caught by the manifest's file checksum).
 * Content edits are checked without the manifest, so the file's own checksums are what catch them.
 */
const K = trials(1, 10);
const CODES = ['BACKUP_CORRUPT', 'BACKUP_TRUNCATED', 'BACKUP_NOT_OURS', 'BACKUP_VERSION'];

interface Case {
  kind: string;
  bytes: Buffer;
  /** Keep the genuine manifest beside the damaged file. */
  withManifest: boolean;
}

describe('corrupt and substituted backups', () => {
  let db: FreshDatabase;
  let other: FreshDatabase;
  let dir: string;
  let ctx: OpsContext;
  let goodFile: string;
  let good: Buffer;
  let manifest: string;
  let otherBytes: Buffer;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    db = await freshDatabase('sqlite');
    await generate(db.url, 0.0005);
    other = await freshDatabase('sqlite');
    await generate(other.url, 0.001);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-corrupt-'));
    ctx = resolveContext({ url: db.url, backupDir: dir, env: {} });
    const b = await backup(ctx, { reason: 'good' });
    goodFile = b.manifest.file;
    good = readFileSync(b.path);
    manifest = readFileSync(path.join(dir, manifestFileName(goodFile)), 'utf8');
    const otherDir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-corrupt-other-'));
    const ob = await backup(resolveContext({ url: other.url, backupDir: otherDir, env: {} }), { reason: 'other' });
    otherBytes = readFileSync(ob.path);
    rmSync(otherDir, { recursive: true, force: true });
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    await db?.drop();
    await other?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function cases(): Case[] {
    const rnd = random(SEED + 5);
    const int = (n: number) => Math.floor(rnd() * n);
    const plain = zlib.gunzipSync(good).toString('utf8');
    const lines = plain.split('\n').slice(0, -1);
    const gz = (ls: string[]) => zlib.gzipSync(ls.join('\n') + '\n', { level: 1 });
    const rowIdx = lines.map((l, i) => (l.startsWith('[') ? i : -1)).filter((i) => i >= 0);
    const out: Case[] = [];
    const flip = (withManifest: boolean) => {
      const c = Buffer.from(good);
      const at = int(c.length);
      c[at] ^= 1 << int(8);
      out.push({ kind: `bit flip at byte ${at}${withManifest ? '' : ' (no manifest)'}`, bytes: c, withManifest });
    };
    for (let i = 0; i < 100 * K; i++) flip(true);
    for (let i = 0; i < 30 * K; i++) flip(false);
    for (let i = 0; i < 40 * K; i++) {
      const len = int(good.length);
      out.push({ kind: `truncated to ${len} of ${good.length} bytes`, bytes: good.subarray(0, len), withManifest: true });
    }
    for (let i = 0; i < 25 * K; i++) {
      let a = int(lines.length);
      let b = int(lines.length);
      while (lines[a] === lines[b]) b = int(lines.length);
      const ls = [...lines];
      [ls[a], ls[b]] = [ls[b], ls[a]];
      out.push({ kind: `lines ${a + 1} and ${b + 1} swapped`, bytes: gz(ls), withManifest: false });
    }
    for (let i = 0; i < 25 * K; i++) {
      const at = rowIdx[int(rowIdx.length)];
      const ls = [...lines];
      const row = JSON.parse(ls[at]) as unknown[];
      const col = int(row.length);
      row[col] = typeof row[col] === 'number' ? (row[col] as number) + 1 : typeof row[col] === 'string' ? (row[col] as string) + 'x' : 'edited';
      ls[at] = JSON.stringify(row);
      out.push({ kind: `row on line ${at + 1} edited (column ${col})`, bytes: gz(ls), withManifest: false });
    }
    for (let i = 0; i < 20 * K; i++) {
      const at = rowIdx[int(rowIdx.length)];
      const ls = [...lines];
      const dup = i % 2 === 1;
      if (dup) ls.splice(at, 0, ls[at]);
      else ls.splice(at, 1);
      const delta = dup ? 1 : -1;
      // Fix up the counts the way a careless editor would: the table's end line, the trailer's table and total.
      const endAt = ls.findIndex((l, j) => j > at - 1 && l.startsWith('{"type":"table-end"'));
      const end = JSON.parse(ls[endAt]);
      end.rows += delta;
      ls[endAt] = JSON.stringify(end);
      const trailer = JSON.parse(ls[ls.length - 1]);
      trailer.tables[end.name].rows += delta;
      trailer.rowsTotal += delta;
      ls[ls.length - 1] = JSON.stringify(trailer);
      out.push({ kind: `row on line ${at + 1} ${dup ? 'duplicated' : 'removed'} with counts fixed up`, bytes: gz(ls), withManifest: false });
    }
    for (let i = 0; i < 10 * K; i++) {
      const ls = [...lines];
      const header = JSON.parse(ls[0]);
      const edits = [
        () => (header.reason = 'edited'),
        () => (header.database = 'file:/elsewhere.db'),
        () => (header.schema.tables[0].columns[0].type = 'TEXT'),
        () => header.schema.ddl.push('DROP TABLE "User"'),
        () => (header.createdAt = '2020-01-01T00:00:00.000Z'),
      ];
      edits[i % edits.length]();
      ls[0] = JSON.stringify(header);
      out.push({ kind: `header edited (${i % edits.length})`, bytes: gz(ls), withManifest: false });
    }
    for (let i = 0; i < 5; i++) out.push({ kind: 'a valid backup of another database under this name', bytes: otherBytes, withManifest: true });
    for (let i = 0; i < 5 * K; i++) {
      // A forgery: change a row and recompute every checksum, as only a deliberate attacker would.
      const ls = [...lines];
      const at = rowIdx[int(rowIdx.length)];
      const row = JSON.parse(ls[at]) as unknown[];
      row[row.length - 1] = 'forged';
      ls[at] = JSON.stringify(row);
      const recompute = () => {
        let whole = createHash('sha256');
        let table = createHash('sha256');
        const tables: Record<string, { rows: number; sha256: string }> = {};
        let total = 0;
        for (let j = 0; j < ls.length - 1; j++) {
          const l = ls[j];
          if (l.startsWith('{"type":"table-end"')) {
            const end = JSON.parse(l);
            end.sha256 = table.digest('hex');
            ls[j] = JSON.stringify(end);
            tables[end.name] = { rows: end.rows, sha256: end.sha256 };
            total += end.rows;
            table = createHash('sha256');
          } else if (l.startsWith('[')) table.update(l + '\n');
          whole.update(ls[j] + '\n');
        }
        const trailer = JSON.parse(ls[ls.length - 1]);
        Object.assign(trailer, { tables, rowsTotal: total, sha256: whole.digest('hex') });
        ls[ls.length - 1] = JSON.stringify(trailer);
        whole = createHash('sha256');
      };
      recompute();
      out.push({ kind: 'forgery with every checksum recomputed (manifest present)', bytes: gz(ls), withManifest: true });
    }
    return out;
  }

  it('verify rejects every case with a clear reason, without crashing', async () => {
    const all = cases();
    expect(all.length).toBeGreaterThanOrEqual(200);
    const byCode: Record<string, number> = {};
    let harmless = 0;
    const original = zlib.gunzipSync(good);
    for (const [i, c] of all.entries()) {
      const name = goodFile.replace('-good.jsonl.gz', `-case${i}.jsonl.gz`);
      writeFileSync(path.join(dir, name), c.bytes);
      if (c.withManifest) writeFileSync(path.join(dir, manifestFileName(name)), manifest.replace(goodFile, name));
      else rmSync(path.join(dir, manifestFileName(name)), { force: true });
      let v;
      try {
        v = await verifyBackup(ctx, name, { record: false });
      } catch (e) {
        throw new Error(`verify threw on "${c.kind}" instead of reporting: ${e} ${describeSeed()}`);
      }
      if (v.ok) {
        // Only possible without a manifest, for a flip in gzip header fields that carry no data (MTIME, XFL, OS).
        let same = false;
        try {
          same = !c.withManifest && zlib.gunzipSync(c.bytes).equals(original);
        } catch {
          same = false;
        }
        expect(same, `verify accepted "${c.kind}" ${describeSeed()}`).toBe(true);
        harmless++;
      } else {
        expect(CODES, `${c.kind}: ${v.error?.code}`).toContain(v.error!.code);
        expect(v.error!.message.length, c.kind).toBeGreaterThan(20);
        expect(v.error!.message, c.kind).toMatch(/corrupt|truncated|not a|gzip|checksum|manifest|empty|no data|version|schema/i);
        expect(v.error!.hint, c.kind).toBeTruthy();
        byCode[v.error!.code] = (byCode[v.error!.code] ?? 0) + 1;
      }
      rmSync(path.join(dir, name), { force: true });
      rmSync(path.join(dir, manifestFileName(name)), { force: true });
    }
    expect(unhandled).toEqual([]);
    console.log(`corruption: ${all.length} cases, rejected ${JSON.stringify(byCode)}, harmless gzip-header flips accepted without manifest: ${harmless} ${describeSeed()}`);
  });

  it('restore refuses a damaged backup of every kind and leaves the database unchanged', async () => {
    const seen = new Set<string>();
    const sample = cases().filter((c) => {
      const kind = c.kind.replace(/[0-9]+/g, '#');
      if (seen.has(kind)) return false;
      seen.add(kind);
      return true;
    });
    const before = await fingerprint(db.url);
    for (const [i, c] of sample.entries()) {
      const name = goodFile.replace('-good.jsonl.gz', `-restore${i}.jsonl.gz`);
      writeFileSync(path.join(dir, name), c.bytes);
      if (c.withManifest) writeFileSync(path.join(dir, manifestFileName(name)), manifest.replace(goodFile, name));
      let refused: unknown = null;
      try {
        await restore(ctx, { backup: name, mode: i % 2 ? 'full' : 'data', yes: true, safetyBackup: false });
      } catch (e) {
        refused = e;
      }
      if (refused === null) {
        // Only the harmless flips (identical data, no manifest) may restore; anything else is a failure.
        expect(zlib.gunzipSync(c.bytes).equals(zlib.gunzipSync(good)), `restore accepted "${c.kind}"`).toBe(true);
        continue;
      }
      expect(isGuardError(refused), `${c.kind}: ${refused}`).toBe(true);
      expect((refused as { exitCode: number }).exitCode, c.kind).toBe(ExitCode.INVALID_BACKUP);
      expect(await fingerprint(db.url), `database changed by refused "${c.kind}"`).toBe(before);
      rmSync(path.join(dir, name), { force: true });
      rmSync(path.join(dir, manifestFileName(name)), { force: true });
    }
    expect(unhandled).toEqual([]);
  });

  it('the CLI exits 3 with error and hint for damaged files', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)] ^= 0x40;
    const damaged: [string, Buffer][] = [
      ['flip', flipped],
      ['cut', good.subarray(0, Math.floor(good.length * 0.7))],
      ['other', otherBytes],
    ];
    const before = await fingerprint(db.url);
    for (const [what, bytes] of damaged) {
      const name = goodFile.replace('-good.jsonl.gz', `-cli-${what}.jsonl.gz`);
      writeFileSync(path.join(dir, name), bytes);
      writeFileSync(path.join(dir, manifestFileName(name)), manifest.replace(goodFile, name));
      const v = await cli(['verify', name], env);
      expect(v.code, what).toBe(ExitCode.INVALID_BACKUP);
      expect(v.stdout, what).toMatch(/^FAILED /m);
      const r = await cli(['restore', name, '--yes'], env);
      expect(r.code, what).toBe(ExitCode.INVALID_BACKUP);
      expect(r.stderr, what).toMatch(/^error: Refusing to restore: /m);
      expect(r.stderr, what).toMatch(/^hint: /m);
      expect(r.stderr, what).not.toMatch(/at .*\.ts:\d+/); // no stack trace: not a crash
    }
    expect(await fingerprint(db.url)).toBe(before);
    expect((await verifyBackup(ctx, goodFile, { record: false })).ok).toBe(true);
  });
});
