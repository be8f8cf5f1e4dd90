/**
 * Promise: with BACKUP_VERIFY_KEY set, only backups signed by a trusted key are verified, restored or
 * chosen as `latest`: unsigned files, files signed by another key, files edited after signing (every
 * checksum recomputed) and damaged signatures are refused with exit 13 and nothing changes. Key
 * rotation: several verify keys are accepted. Pinning keeps a signature valid.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestFileName } from '../../lib/format/naming.ts';
import { runCli } from '../helpers/cli.ts';
import { DIALECTS, freshDatabase, rawQueryable, tempDir, type FreshDatabase } from '../helpers/db.ts';
import { fingerprint } from './helpers.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Edits one row of the first table with rows and recomputes every checksum (table, trailer, manifest) but not the signature. */
function forgeRow(dir: string, file: string): void {
  const p = path.join(dir, file);
  const lines = gunzipSync(fs.readFileSync(p)).toString('utf8').split('\n');
  const start = lines.findIndex((l, i) => l.startsWith('{"type":"table"') && lines[i + 1] && !lines[i + 1].startsWith('{"type":"table-end"'));
  const row = JSON.parse(lines[start + 1]);
  row[row.length - 1] = typeof row[row.length - 1] === 'number' ? row[row.length - 1] + 1 : 'forged';
  lines[start + 1] = JSON.stringify(row);
  const endAt = lines.findIndex((l, i) => i > start && l.startsWith('{"type":"table-end"'));
  const end = JSON.parse(lines[endAt]);
  end.sha256 = sha(lines.slice(start + 1, endAt).join('\n') + '\n');
  lines[endAt] = JSON.stringify(end);
  const trailerAt = lines.findIndex((l) => l.startsWith('{"type":"trailer"'));
  const trailer = JSON.parse(lines[trailerAt]);
  trailer.tables[end.name].sha256 = end.sha256;
  trailer.sha256 = sha(lines.slice(0, trailerAt).join('\n') + '\n');
  lines[trailerAt] = JSON.stringify(trailer);
  const bytes = gzipSync(Buffer.from(lines.join('\n')));
  fs.writeFileSync(p, bytes);
  const mp = path.join(dir, manifestFileName(file));
  const m = JSON.parse(fs.readFileSync(mp, 'utf8'));
  Object.assign(m, { sha256: sha(bytes), sizeBytes: bytes.length, contentSha256: trailer.sha256, tables: trailer.tables, verification: null });
  fs.writeFileSync(mp, JSON.stringify(m));
}

for (const dialect of DIALECTS) {
  describe(`signed backups on ${dialect}`, () => {
    let db: FreshDatabase;
    const tmp = tempDir('prisma-guard-sign-');
    const dir = path.join(tmp.dir, 'backups');
    const keys = path.join(tmp.dir, 'keys');
    let key1: { key: string; pub: string };
    let key2: { key: string; pub: string };
    const env = (extra: Record<string, string | undefined> = {}) => ({ DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_SIGNING_KEY: undefined, BACKUP_VERIFY_KEY: undefined, ...extra });
    const takeBackup = async (signWith?: string): Promise<string> => {
      const r = await runCli(['backup', '--json'], env({ BACKUP_SIGNING_KEY: signWith }));
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).manifest.file;
    };

    beforeAll(async () => {
      db = await freshDatabase(dialect);
      const q = await rawQueryable(db.url);
      await q.exec(`CREATE TABLE "Account" ("id" integer PRIMARY KEY, "balance" integer NOT NULL)`);
      await q.exec(`INSERT INTO "Account" VALUES (1, 100), (2, 250)`);
      await q.close();
      const made = [];
      for (const name of ['one', 'two']) {
        const r = await runCli(['keygen', '--out', keys, '--name', name, '--json']);
        expect(r.code, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout);
        expect(fs.statSync(out.privateKey).mode & 0o777).toBe(0o600);
        made.push({ key: out.privateKey as string, pub: out.verifyKey as string });
      }
      [key1, key2] = made;
    });
    afterAll(async () => {
      await db?.drop();
      tmp.remove();
    });

    it('refuses unsigned, foreign-key, edited and damaged backups (exit 13), nothing changes; accepts signed and rotated keys', async () => {
      const signed = await takeBackup(key1.key);
      const byKey2 = await takeBackup(key2.key);
      const edited = await takeBackup(key1.key);
      forgeRow(dir, edited);
      const damaged = await takeBackup(key1.key);
      const dm = path.join(dir, manifestFileName(damaged));
      const m = JSON.parse(fs.readFileSync(dm, 'utf8'));
      const sig = Buffer.from(m.signature.value, 'base64');
      sig[5] ^= 1;
      m.signature.value = sig.toString('base64');
      fs.writeFileSync(dm, JSON.stringify(m));
      const unsigned = await takeBackup();
      // A file dropped into the folder without any manifest.
      const orphan = await takeBackup();
      fs.rmSync(path.join(dir, manifestFileName(orphan)));

      const trust = env({ BACKUP_VERIFY_KEY: key1.pub });
      expect((await runCli(['verify', signed], trust)).code).toBe(0);
      // The live data now differs from every backup: a refused restore must leave it so.
      const q = await rawQueryable(db.url);
      await q.exec('UPDATE "Account" SET "balance" = 0');
      await q.close();
      const changed = await fingerprint(db.url);
      for (const [file, why] of [
        [byKey2, /not in BACKUP_VERIFY_KEY/],
        [edited, /does not match its contents/],
        [damaged, /does not match its contents/],
        [unsigned, /is not signed/],
        [orphan, /is not signed/],
      ] as const) {
        const v = await runCli(['verify', file], trust);
        expect(v.code, `${file} (${why}): ${v.stderr} ${v.stdout}`).toBe(13);
        expect(v.stdout + v.stderr).toMatch(why);
        const r = await runCli(['restore', file, '--yes'], trust);
        expect(r.code, `${file}: ${r.stderr}`).toBe(13);
        expect(await fingerprint(db.url)).toBe(changed);
      }
      const ok = await runCli(['restore', signed, '--yes'], trust);
      expect(ok.code, ok.stderr).toBe(0);
      expect(await fingerprint(db.url)).not.toBe(changed);
      // The rebuilt-manifest path does not launder a forged file.
      expect(fs.existsSync(path.join(dir, manifestFileName(orphan)))).toBe(false);
      // Key rotation: both public keys.
      expect((await runCli(['verify', byKey2], env({ BACKUP_VERIFY_KEY: `${key1.pub},${key2.pub}` }))).code).toBe(0);
      // Without keys configured, the same files are only checked for consistency.
      expect((await runCli(['verify', unsigned], env())).code).toBe(0);
    });

    it('latest and emergency-restore pass over unsigned backups; pinning keeps the signature; status warns', async () => {
      const signed = await takeBackup(key1.key);
      const newerUnsigned = await takeBackup();
      const trust = env({ BACKUP_VERIFY_KEY: key1.pub });
      const pin = await runCli(['pin', signed], trust);
      expect(pin.code, pin.stderr).toBe(0);
      expect((await runCli(['verify', signed], trust)).code).toBe(0);
      const plan = await runCli(['restore', 'latest', '--dry-run', '--json'], trust);
      expect(plan.code, plan.stderr).toBe(0);
      const p = JSON.parse(plan.stdout).plan;
      expect(p.backup.file).toBe(signed);
      expect(p.selection.skipped).toContainEqual({ file: newerUnsigned, why: 'not signed (BACKUP_VERIFY_KEY requires a signature)' });
      const e = await runCli(['emergency-restore', '--dry-run', '--json'], trust);
      expect(e.code, e.stderr).toBe(0);
      expect(JSON.parse(e.stdout).choice.file).toBe(signed);
      const s = await runCli(['status', '--json'], trust);
      expect(JSON.parse(s.stdout).reasons.map((r: { code: string }) => r.code)).toContain('unsigned');
      // A bad key configuration is a usage error before anything is written.
      const bad = await runCli(['backup'], env({ BACKUP_SIGNING_KEY: path.join(keys, 'one.pub') }));
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/BACKUP_SIGNING_KEY/);
    });
  });
}
