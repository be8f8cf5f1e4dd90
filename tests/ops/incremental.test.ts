/**
 * Incremental backups (BACKUP_INCREMENTAL / --incremental, format version 5): a large table's rows
 * are stored once as a content-addressed section object, later backups with the same rows refer to
 * it. Through the compiled CLI against real SQLite and PostgreSQL: ten backups where one table of
 * five changes each time store each table state once; every backup restores exactly (oracle:
 * sqlite3 .dump / pg_dump); deleting backups in any order and pruning never breaks a kept one;
 * missing, damaged or forged sections are refused with nothing changed; encryption and offsite
 * copies (a real S3 server) carry the sections.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteBackup } from '../../lib/ops/prune.ts';
import { S3Storage } from '../../lib/storage/s3/s3-storage.ts';
import { runCli } from '../helpers/cli.ts';
import { freshDatabase, rawQueryable, type FreshDatabase, type TestDialect } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

let work: string;
const dbs: FreshDatabase[] = [];

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-incremental-'));
});

afterAll(async () => {
  for (const d of dbs) await d.drop();
  rmSync(work, { recursive: true, force: true });
});

async function fresh(dialect: TestDialect): Promise<FreshDatabase> {
  const d = await freshDatabase(dialect);
  dbs.push(d);
  return d;
}

const TABLES = ['t1', 't2', 't3', 't4', 't5'];

/** Five tables of ~2500 rows each (well over the inline limit of 64 KiB of row lines). */
async function fiveTables(url: string): Promise<void> {
  const q = await rawQueryable(url);
  try {
    for (const t of TABLES) {
      await q.exec(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, label TEXT NOT NULL, n INTEGER NOT NULL)`);
      const values = Array.from({ length: 2500 }, (_, i) => `(${i + 1}, 'row ${i + 1} of ${t} with some padding text', ${i * 7})`).join(',');
      await q.exec(`INSERT INTO ${t} (id, label, n) VALUES ${values}`);
    }
    // A small table stays inline.
    await q.exec(`CREATE TABLE tiny (id INTEGER PRIMARY KEY, v TEXT)`);
    await q.exec(`INSERT INTO tiny VALUES (1, 'a'), (2, 'b')`);
  } finally {
    await q.close();
  }
}

async function change(url: string, table: string, round: number): Promise<void> {
  const q = await rawQueryable(url);
  try {
    await q.exec(`UPDATE ${table} SET n = n + ${round} WHERE id = ${round}`);
  } finally {
    await q.close();
  }
}

const sectionsIn = (dir: string) => readdirSync(dir).filter((f) => /^section-[0-9a-f]{64}\.jsonl\.gz(\.age)?$/.test(f)).sort();
const backupsIn = (dir: string) => readdirSync(dir).filter((f) => /^backup-.*\.jsonl\.gz(\.age)?$/.test(f)).sort();

function ageSections(dir: string): void {
  const old = new Date(Date.now() - 3 * 24 * 3600_000);
  for (const s of sectionsIn(dir)) utimesSync(path.join(dir, s), old, old);
}

/** A deterministic shuffle (mulberry32), so a failure can be replayed. */
function shuffled<T>(items: T[], seed: number): T[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function restoreInto(dialect: TestDialect, backupDir: string, file: string, extra: Record<string, string> = {}): Promise<string> {
  const target = await fresh(dialect);
  const r = await runCli(['restore', file, '--mode', 'full', '--yes', '--json'], { DATABASE_URL: target.url, BACKUP_DIR: backupDir, ...extra });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const dump = oracleDump(target.url);
  await target.drop();
  return dump;
}

describe.each(['sqlite', 'postgres'] as const)('incremental backups on %s', (dialect) => {
  let db: FreshDatabase;
  let dir: string;
  const taken: Array<{ file: string; dump: string }> = [];

  beforeAll(async () => {
    db = await fresh(dialect);
    await fiveTables(db.url);
    dir = path.join(work, `${dialect}-backups`);
  }, 120_000);

  it('ten backups where one table of five changes each time store each table state once', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_INCREMENTAL: 'true' };
    const written: number[] = [];
    for (let round = 0; round < 10; round++) {
      if (round > 0) await change(db.url, TABLES[round % 5], round);
      const r = await runCli(['backup', '--reason', `r${round}`, '--json'], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      taken.push({ file: out.manifest.file, dump: oracleDump(db.url) });
      expect(out.manifest.sections).toHaveLength(5);
      expect(out.incremental).toMatchObject(round === 0 ? { written: 5, reused: 0 } : { written: 1, reused: 4 });
      written.push(out.manifest.sizeBytes + out.incremental.writtenBytes);
    }
    // 5 first states and one new state per later round: each stored once.
    expect(sectionsIn(dir)).toHaveLength(5 + 9);
    // A later backup writes its small file and one table's section: a fraction of the first.
    for (const w of written.slice(1)) expect(w).toBeLessThan(written[0] / 3);
    // A section is plain row lines: zcat | jq works on it.
    const one = sectionsIn(dir)[0];
    const first = zlib.gunzipSync(readFileSync(path.join(dir, one))).toString('utf8').split('\n')[0];
    expect(JSON.parse(first)).toBeInstanceOf(Array);
    // The file refers to its sections by name; format version 5.
    const main = zlib.gunzipSync(readFileSync(path.join(dir, taken[9].file))).toString('utf8').split('\n');
    expect(JSON.parse(main[0]).formatVersion).toBe(5);
    expect(main.filter((l) => l.includes('"section":"section-')).length).toBe(5);
    expect(main.some((l) => l.startsWith('{"type":"table","name":"tiny"') && !l.includes('"section"'))).toBe(true);
  }, 180_000);

  it('every backup verifies and restores exactly', async () => {
    for (const t of taken) {
      const v = await runCli(['verify', t.file, '--json'], { BACKUP_DIR: dir });
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(JSON.parse(v.stdout).sections).toHaveLength(5);
    }
    for (const t of [taken[0], taken[4], taken[9]]) expect(await restoreInto(dialect, dir, t.file)).toBe(t.dump);
  }, 240_000);

  it('backups deleted in any order and pruned: no kept backup breaks, no section outlives its last backup', async () => {
    const copy = path.join(work, `${dialect}-prune`);
    execFileSync('cp', ['-a', dir, copy]);
    const order = shuffled(taken.map((t) => t.file), dialect === 'sqlite' ? 7 : 11);
    const kept = new Set(taken.map((t) => t.file));
    // All ten are taken within a minute, where retention keeps one an hour: pinned, prune keeps them
    // all and only collects sections; each is unpinned just before it is deleted.
    const manifestOf = (f: string) => path.join(copy, f.replace(/\.jsonl\.gz$/, '.manifest.json'));
    const setPinned = (f: string, pinned: boolean) => writeFileSync(manifestOf(f), JSON.stringify({ ...JSON.parse(readFileSync(manifestOf(f), 'utf8')), pinned }, null, 2));
    for (const f of kept) setPinned(f, true);
    for (const file of order.slice(0, 8)) {
      setPinned(file, false);
      await deleteBackup(copy, file);
      kept.delete(file);
      // Young unreferenced sections are kept (a backup running now may be about to list them).
      const now = new Date();
      for (const s of sectionsIn(copy)) utimesSync(path.join(copy, s), now, now);
      const young = await runCli(['prune', '--json'], { BACKUP_DIR: copy });
      expect(young.code, young.stdout + young.stderr).toBe(0);
      expect(JSON.parse(young.stdout).sections.removed).toEqual([]);
      ageSections(copy);
      const r = await runCli(['prune', '--json'], { BACKUP_DIR: copy });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const listedByKept = new Set<string>();
      for (const f of kept) {
        const m = JSON.parse(readFileSync(manifestOf(f), 'utf8'));
        for (const s of m.sections) listedByKept.add(s.object);
      }
      expect(sectionsIn(copy)).toEqual([...listedByKept].sort());
      for (const f of kept) {
        const v = await runCli(['verify', f], { BACKUP_DIR: copy });
        expect(v.code, `${f} after deleting ${file}: ${v.stdout}${v.stderr}`).toBe(0);
      }
    }
    expect(backupsIn(copy)).toEqual([...kept].sort());
    for (const f of kept) expect(await restoreInto(dialect, copy, f)).toBe(taken.find((t) => t.file === f)!.dump);
  }, 300_000);

  it('a missing or damaged section: restore refuses and changes nothing; `latest` takes the newest complete backup', async () => {
    const broken = path.join(work, `${dialect}-broken`);
    execFileSync('cp', ['-a', dir, broken]);
    const newest = JSON.parse(readFileSync(path.join(broken, taken[9].file.replace(/\.jsonl\.gz$/, '.manifest.json')), 'utf8'));
    const previous = JSON.parse(readFileSync(path.join(broken, taken[8].file.replace(/\.jsonl\.gz$/, '.manifest.json')), 'utf8'));
    const own = newest.sections.map((s: { object: string }) => s.object).filter((o: string) => !previous.sections.some((p: { object: string }) => p.object === o));
    expect(own).toHaveLength(1); // the table changed last
    const target = await fresh(dialect);
    await fiveTables(target.url);
    await change(target.url, 't1', 99);
    const before = oracleDump(target.url);
    rmSync(path.join(broken, own[0]));
    const r = await runCli(['restore', taken[9].file, '--yes'], { DATABASE_URL: target.url, BACKUP_DIR: broken });
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`incomplete: it keeps table rows in the section ${own[0]}, which is missing`));
    expect(oracleDump(target.url)).toBe(before);
    const v = await runCli(['verify', taken[9].file], { BACKUP_DIR: broken });
    expect(v.code).toBe(3);

    // `latest` for the source database passes over it to backup 9 of 10, which is whole.
    const plan = await runCli(['restore', 'latest', '--dry-run', '--json'], { DATABASE_URL: db.url, BACKUP_DIR: broken });
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).plan.backup.file).toBe(taken[8].file);

    // A flipped byte inside a section: the load fails on the table's checksum and rolls back.
    const shared = previous.sections[0].object;
    const bytes = readFileSync(path.join(broken, shared));
    const raw = zlib.gunzipSync(bytes);
    raw[Math.floor(raw.length / 2)] ^= 0x01;
    writeFileSync(path.join(broken, shared), zlib.gzipSync(raw, { level: 1 }));
    const bad = await runCli(['restore', taken[8].file, '--yes'], { DATABASE_URL: target.url, BACKUP_DIR: broken });
    expect(bad.code, bad.stdout + bad.stderr).toBe(3);
    expect(oracleDump(target.url)).toBe(before);
    await target.drop();
  }, 240_000);

  it('a forged reference (a path, not a section name) is refused before anything is read from it', async () => {
    const forged = path.join(work, `${dialect}-forged`);
    execFileSync('cp', ['-a', dir, forged]);
    const file = taken[9].file;
    const lines = zlib.gunzipSync(readFileSync(path.join(forged, file))).toString('utf8').split('\n').slice(0, -1);
    const i = lines.findIndex((l) => l.includes('"section":"section-'));
    const start = JSON.parse(lines[i]);
    start.section = '../../../etc/passwd';
    lines[i] = JSON.stringify(start);
    const whole = createHash('sha256');
    for (const l of lines.slice(0, -1)) whole.update(l + '\n');
    const trailer = JSON.parse(lines[lines.length - 1]);
    trailer.sha256 = whole.digest('hex');
    lines[lines.length - 1] = JSON.stringify(trailer);
    writeFileSync(path.join(forged, file), zlib.gzipSync(lines.join('\n') + '\n'));
    rmSync(path.join(forged, file.replace(/\.jsonl\.gz$/, '.manifest.json')));
    const v = await runCli(['verify', file, '--json'], { BACKUP_DIR: forged });
    expect(v.code).toBe(3);
    expect(JSON.parse(v.stdout).error.message).toMatch(/refers to "..\/..\/..\/etc\/passwd", which is not a section object name/);
  }, 60_000);
});

describe('incremental backups with encryption and an offsite copy', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3(['inc']);
  }, 60_000);
  afterAll(async () => {
    await s3?.close();
  });

  it('sections are age files named by a keyed hash; each crosses to S3 once; the bucket alone restores every backup', async () => {
    const db = await fresh('sqlite');
    await fiveTables(db.url);
    const keys = path.join(work, 'keys');
    const k = await runCli(['keygen', '--age', '--out', keys, '--name', 'inc', '--json']);
    expect(k.code, k.stderr).toBe(0);
    const { identityFile, recipient } = JSON.parse(k.stdout);
    const dir = path.join(work, 'enc-backups');
    const env = { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_INCREMENTAL: 'true', BACKUP_AGE_RECIPIENTS: recipient, BACKUP_COPY_TO: 's3://inc/app', ...s3.env };
    const files: Array<{ file: string; dump: string }> = [];
    for (let round = 0; round < 3; round++) {
      if (round > 0) await change(db.url, 't2', round);
      const r = await runCli(['backup', '--json'], env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.offsite.error).toBeUndefined();
      files.push({ file: out.manifest.file, dump: oracleDump(db.url) });
    }
    const sections = sectionsIn(dir);
    expect(sections).toHaveLength(5 + 2);
    for (const s of sections) {
      expect(s.endsWith('.jsonl.gz.age')).toBe(true);
      expect(readFileSync(path.join(dir, s)).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    }
    // The names are not the tables' checksums (those stay inside the encrypted files).
    const plainNames = new Set(sections.map((s) => s.slice(8, 72)));
    const t1 = execFileSync('sqlite3', [db.url.slice(5), 'SELECT id, label, n FROM t1 ORDER BY id'], { encoding: 'utf8' });
    expect(t1.length).toBeGreaterThan(0);
    const decrypted = execFileSync('sh', ['-c', `age -d -i '${identityFile}' '${path.join(dir, sections[0])}' | zcat | head -1`], { encoding: 'utf8' });
    expect(JSON.parse(decrypted)).toBeInstanceOf(Array);
    const rowsSha = createHash('sha256').update(execFileSync('sh', ['-c', `age -d -i '${identityFile}' '${path.join(dir, sections[0])}' | zcat`])).digest('hex');
    expect(plainNames.has(rowsSha)).toBe(false);

    // Key-less verify checks the sections' bytes too.
    const keyless = await runCli(['verify', files[2].file, '--json'], { BACKUP_DIR: dir });
    expect(keyless.code, keyless.stdout).toBe(0);
    expect(JSON.parse(keyless.stdout)).toMatchObject({ depth: 'ciphertext', sections: expect.any(Array) });

    // The bucket holds the three backups and each section once.
    const remote = await runCli(['list', '--location', 'offsite', '--json'], env);
    expect(JSON.parse(remote.stdout).backups).toHaveLength(3);
    const bucket = new S3Storage({ bucket: 'inc', prefix: 'app', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const objects = (await bucket.list()).map((o) => o.name);
    expect(objects.filter((n) => n.startsWith('section-')).sort()).toEqual(sections);

    // Retention on the bucket collects the sections only the deleted backup listed (grace 0 here).
    await bucket.remove(files[0].file);
    await bucket.remove(files[0].file.replace(/\.jsonl\.gz\.age$/, '.manifest.json'));
    const pruned = await runCli(['prune', '--location', 'offsite', '--json'], { ...env, BACKUP_SECTION_GRACE: '0s' });
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout).sections).toMatchObject({ removed: [expect.stringMatching(/^section-/)], referenced: 6 });
    expect((await bucket.list()).filter((o) => o.name.startsWith('section-'))).toHaveLength(6);
    files.shift();

    // The disk dies: the bucket alone brings every backup back, each exactly.
    rmSync(dir, { recursive: true, force: true });
    for (const f of files) {
      const target = await fresh('sqlite');
      const r = await runCli(['restore', f.file, '--mode', 'full', '--yes'], { ...env, DATABASE_URL: target.url, BACKUP_AGE_IDENTITY: identityFile });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(oracleDump(target.url)).toBe(f.dump);
      await target.drop();
    }
    expect(sectionsIn(dir)).toHaveLength(6);
    // Key-less verify of a damaged encrypted section fails.
    const listed = JSON.parse(readFileSync(path.join(dir, files[1].file.replace(/\.jsonl\.gz\.age$/, '.manifest.json')), 'utf8'));
    const victim = path.join(dir, listed.sections[0].object);
    const b = readFileSync(victim);
    b[b.length - 100] ^= 0x01;
    writeFileSync(victim, b);
    const damaged = await runCli(['verify', files[1].file, '--json'], { BACKUP_DIR: dir });
    expect(damaged.code).toBe(3);
    expect(statSync(victim).size).toBe(b.length);
  }, 240_000);
});
