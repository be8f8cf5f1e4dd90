/**
 * Encryption at rest (age): backups written with BACKUP_AGE_RECIPIENTS or BACKUP_AGE_PASSPHRASE,
 * read with BACKUP_AGE_IDENTITY, through the compiled CLI against real SQLite and PostgreSQL, with
 * Debian's `age` CLI as the independent reader. Wrong, missing and rotated keys, a changed
 * ciphertext byte, the folder watched for plaintext during a backup, minimal manifests, secrets.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ENTRY, runCli } from '../helpers/cli.ts';
import { demoDatabase, rawQueryable, type FreshDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

const AGE_MAGIC = 'age-encryption.org/v1\n';
const hasAgeCli = (() => {
  try {
    execFileSync('age', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let work: string;
let keyA: { file: string; recipient: string };
let keyB: { file: string; recipient: string };

async function keygen(name: string): Promise<{ file: string; recipient: string }> {
  const r = await runCli(['keygen', '--age', '--out', path.join(work, 'keys'), '--name', name, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout);
  return { file: out.identityFile, recipient: out.recipient };
}

function backupsIn(dir: string): string[] {
  return readdirSync(dir).filter((f) => /^backup-.*\.jsonl\.gz(\.age)?$/.test(f)).sort();
}

function manifestOf(dir: string, file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(dir, file.replace(/\.jsonl\.gz(\.age)?$/, '.manifest.json')), 'utf8'));
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-age-'));
  keyA = await keygen('a');
  keyB = await keygen('b');
}, 60_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('age keys', () => {
  it('keygen --age writes an identity file age-keygen would (mode 0600) and never overwrites it', async () => {
    expect(statSync(keyA.file).mode & 0o777).toBe(0o600);
    const text = readFileSync(keyA.file, 'utf8');
    expect(text).toMatch(/^# created: .*\n# public key: age1[0-9a-z]{58}\nAGE-SECRET-KEY-1[0-9A-Z]{58}\n$/);
    expect(keyA.recipient).not.toBe(keyB.recipient);
    if (hasAgeCli) expect(execFileSync('age-keygen', ['-y', keyA.file], { encoding: 'utf8' }).trim()).toBe(keyA.recipient);
    const again = await runCli(['keygen', '--age', '--out', path.join(work, 'keys'), '--name', 'a']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    expect(again.stderr + again.stdout).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{20}/);
  });

  it('a secret key pasted into BACKUP_AGE_RECIPIENTS is refused, and not echoed', async () => {
    const secret = readFileSync(keyA.file, 'utf8').trim().split('\n').pop()!;
    const db = await demoDatabase('sqlite', { users: 4 });
    try {
      const r = await runCli(['backup'], { DATABASE_URL: db.url, BACKUP_DIR: path.join(work, 'pasted'), BACKUP_AGE_RECIPIENTS: secret });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/BACKUP_AGE_RECIPIENTS: it holds an AGE-SECRET-KEY-1\.\.\. \(a secret key\), not a public key/);
      expect(r.stderr + r.stdout).not.toContain(secret.slice(16, 40));
      expect(existsSync(path.join(work, 'pasted')) ? backupsIn(path.join(work, 'pasted')) : []).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});

describe.each(['sqlite', 'postgres'] as const)('encrypted backups on %s', (dialect) => {
  let db: FreshDatabase;
  let dir: string;
  let file: string;
  let before: string;
  beforeAll(async () => {
    db = await demoDatabase(dialect, { users: 40 });
    dir = path.join(work, `${dialect}-backups`);
    const r = await runCli(['backup', '--json'], { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_RECIPIENTS: `${keyA.recipient},${keyB.recipient}` });
    expect(r.code, r.stderr).toBe(0);
    file = JSON.parse(r.stdout).manifest.file;
    before = oracleDump(db.url);
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('writes a standard age file whose manifest holds no table names, counts or migration names', () => {
    expect(file).toMatch(/\.jsonl\.gz\.age$/);
    const bytes = readFileSync(path.join(dir, file));
    expect(bytes.subarray(0, AGE_MAGIC.length).toString('latin1')).toBe(AGE_MAGIC);
    expect(bytes.toString('latin1')).toMatch(/^-> X25519 /m);
    const m = manifestOf(dir, file);
    expect(m).toMatchObject({ rowsTotal: null, tables: {}, migrations: null, encryption: { format: 'age', recipients: 2, passphrase: false }, scope: { type: 'full' }, kind: 'manual' });
    const text = JSON.stringify(m);
    for (const name of ['users', 'posts', '_prisma_migrations', 'email']) expect(text).not.toContain(name);
  });

  it.runIf(hasAgeCli || process.env.CI)('the age CLI decrypts it: age -d -i key | zcat | head -1 is the JSON header', () => {
    const header = execFileSync('sh', ['-c', `age -d -i "${keyB.file}" "${path.join(dir, file)}" | zcat | head -1`], { encoding: 'utf8' });
    const h = JSON.parse(header);
    expect(h).toMatchObject({ type: 'header', format: 'prisma-guard-backup', dialect });
    expect(h.schema.tables.map((t: { name: string }) => t.name)).toContain('users');
  });

  it('verify without a key checks the ciphertext only and says so; with a key it checks every table', async () => {
    const plain = await runCli(['verify', file, '--json'], { BACKUP_DIR: dir });
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ ok: true, depth: 'ciphertext', encrypted: true });
    expect((manifestOf(dir, file).verification as { depth?: string }).depth).toBe('ciphertext');
    const full = await runCli(['verify', file, '--json'], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyA.file });
    expect(full.code, full.stdout + full.stderr).toBe(0);
    const v = JSON.parse(full.stdout);
    expect(v).toMatchObject({ ok: true, depth: 'full' });
    expect(v.tables.users.rows).toBe(40);
    // A deep check is kept; a later key-less check does not overwrite it with a shallower one.
    expect((manifestOf(dir, file).verification as { depth?: string }).depth).toBeUndefined();
    await runCli(['verify', file], { BACKUP_DIR: dir });
    expect((manifestOf(dir, file).verification as { depth?: string }).depth).toBeUndefined();
  });

  it('wrong or missing key: exit 17, the database untouched, the backup not marked bad', async () => {
    const q = await rawQueryable(db.url);
    await q.exec(`DELETE FROM "posts"`);
    await q.close();
    const changed = oracleDump(db.url);
    const stray = mkdtempSync(path.join(work, 'stray-'));
    const other = await runCli(['keygen', '--age', '--out', stray, '--json']);
    const wrongKey = JSON.parse(other.stdout).identityFile;
    for (const env of [{}, { BACKUP_AGE_IDENTITY: wrongKey }]) {
      // (verify without any key is the ciphertext check, which passes: see above)
      for (const args of [['restore', file, '--yes'], ['restore', 'latest', '--yes'], ...(Object.keys(env).length ? [['verify', file]] : [])]) {
        const r = await runCli(args, { DATABASE_URL: db.url, BACKUP_DIR: dir, ...env });
        expect(r.code, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stdout}${r.stderr}`).toBe(17);
        expect(r.stderr + r.stdout).toMatch(/BACKUP_AGE_IDENTITY/);
      }
    }
    expect(oracleDump(db.url)).toBe(changed);
    expect((manifestOf(dir, file).verification as { ok: boolean }).ok).toBe(true);
    expect(backupsIn(dir)).toEqual([file]);
  });

  it('a verified encrypted backup plans from its sealed summary: the dry run shows the rows without a key-less read', async () => {
    const m = manifestOf(dir, file) as { encryption: { summary?: string } };
    expect(m.encryption.summary).toMatch(/^[A-Za-z0-9+/]+=*$/);
    // The summary is itself an age file for the same recipients.
    if (hasAgeCli) expect(JSON.parse(execFileSync('age', ['-d', '-i', keyA.file], { input: Buffer.from(m.encryption.summary!, 'base64'), encoding: 'utf8' })).tables.users.rows).toBe(40);
    const plan = await runCli(['restore', file, '--dry-run', '--json'], { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyA.file });
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout);
    expect((p.plan ?? p).tables.find((t: { name: string }) => t.name === 'users').insert).toBe(40);
  });

  it('restore with either identity brings the data back exactly; its safety backup is encrypted too', async () => {
    const r = await runCli(['restore', 'latest', '--yes', '--json'], { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyB.file });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(oracleDump(db.url)).toBe(before);
    const safety = backupsIn(dir).filter((f) => f.includes('pre-restore'));
    expect(safety).toHaveLength(1);
    expect(safety[0]).toMatch(/\.age$/);
    expect(readFileSync(path.join(dir, safety[0])).subarray(0, AGE_MAGIC.length).toString('latin1')).toBe(AGE_MAGIC);
  });

  it('diff and drill read encrypted backups with the identity, and say which key is missing without it', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
    const d = await runCli(['diff', file, '--live', '--json'], { ...env, BACKUP_AGE_IDENTITY: keyA.file });
    expect(d.code, d.stdout + d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).equal).toBe(true);
    const noKey = await runCli(['diff', file, '--live'], env);
    expect(noKey.code).toBe(17);
    const drill = await runCli(['drill', '--json'], { ...env, BACKUP_AGE_IDENTITY: keyA.file });
    expect(drill.code, drill.stdout + drill.stderr).toBe(0);
    const drillNoKey = await runCli(['drill'], env);
    expect(drillNoKey.code).not.toBe(0);
    expect(drillNoKey.stdout + drillNoKey.stderr).toMatch(/BACKUP_AGE_IDENTITY/);
  });

  it('the disk dies: emergency-restore fetches the encrypted backup from S3 and restores it with the identity; prune there keeps it', async () => {
    const s3 = await startS3(['vault']);
    try {
      const local = path.join(work, `${dialect}-dies`);
      const env = { DATABASE_URL: db.url, BACKUP_DIR: local, BACKUP_COPY_TO: 's3://vault/app', BACKUP_AGE_RECIPIENTS: keyA.recipient, ...s3.env };
      const b = await runCli(['backup', '--json'], env);
      expect(b.code, b.stderr).toBe(0);
      expect(JSON.parse(b.stdout).offsite.sha256).toBe(JSON.parse(b.stdout).manifest.sha256);
      const before = oracleDump(db.url);
      rmSync(local, { recursive: true, force: true });
      const q = await rawQueryable(db.url);
      await q.exec(`DELETE FROM "comments"`);
      await q.close();
      const e = await runCli(['emergency-restore', '--yes'], { ...env, BACKUP_AGE_IDENTITY: keyA.file });
      expect(e.code, e.stdout + e.stderr).toBe(0);
      expect(oracleDump(db.url)).toBe(before);
      const p = await runCli(['prune', '--location', 'offsite', '--json'], env);
      expect(p.code, p.stderr).toBe(0);
      expect(JSON.parse(p.stdout).removed).toEqual([]);
      const listed = JSON.parse((await runCli(['list', '--location', 'remote', '--json'], env)).stdout);
      expect(listed.backups.map((m: { file: string }) => m.file)).toContain(JSON.parse(b.stdout).manifest.file);
    } finally {
      await s3.close();
    }
  });

  it('one flipped ciphertext byte: restore refused (exit 3) before anything changes; verify exit 3 with or without a key', async () => {
    const copyDir = path.join(work, `${dialect}-flipped`);
    rmSync(copyDir, { recursive: true, force: true });
    execFileSync('cp', ['-r', dir, copyDir]);
    const target = path.join(copyDir, file);
    const bytes = readFileSync(target);
    const at = Math.floor(bytes.length * 0.6);
    bytes[at] ^= 0x01;
    writeFileSync(target, bytes);
    chmodSync(target, 0o600);
    const q = await rawQueryable(db.url);
    await q.exec(`DELETE FROM "posts"`);
    await q.close();
    const changed = oracleDump(db.url);
    const r = await runCli(['restore', file, '--yes'], { DATABASE_URL: db.url, BACKUP_DIR: copyDir, BACKUP_AGE_IDENTITY: keyA.file });
    expect(r.code, r.stdout + r.stderr).toBe(3);
    expect(oracleDump(db.url)).toBe(changed);
    for (const env of [{}, { BACKUP_AGE_IDENTITY: keyA.file }]) {
      const v = await runCli(['verify', file], { BACKUP_DIR: copyDir, ...env });
      expect(v.code, v.stdout + v.stderr).toBe(3);
    }
    // Without the manifest's checksum to compare with, the authentication of the chunk still refuses it.
    rmSync(path.join(copyDir, file.replace(/\.jsonl\.gz\.age$/, '.manifest.json')));
    const v = await runCli(['verify', file], { BACKUP_DIR: copyDir, BACKUP_AGE_IDENTITY: keyA.file });
    expect(v.code).toBe(3);
    expect(v.stdout + v.stderr).toMatch(/authentication|corrupt/i);
    // Put the data back for the next case.
    const back = await runCli(['restore', file, '--yes'], { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyA.file });
    expect(back.code, back.stderr).toBe(0);
  });
});

describe('passphrase mode, key rotation, the folder during a backup, offsite', () => {
  let db: FreshDatabase;
  beforeAll(async () => {
    db = await demoDatabase('sqlite', { users: 300 });
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  it('a passphrase encrypts and decrypts; a wrong one is exit 17; it never appears in any output or file', async () => {
    const dir = path.join(work, 'passphrase');
    const passphrase = 'c0rrect horse: "battery" /staple@';
    const env = { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_PASSPHRASE: passphrase, BACKUP_AGE_SCRYPT_WORK_FACTOR: '12' };
    const b = await runCli(['backup', '--json'], env);
    expect(b.code, b.stderr).toBe(0);
    const file = JSON.parse(b.stdout).manifest.file;
    expect(readFileSync(path.join(dir, file)).toString('latin1')).toMatch(/^-> scrypt /m);
    expect(manifestOf(dir, file).encryption).toEqual({ format: 'age', recipients: 0, passphrase: true });
    const wrong = await runCli(['verify', file], { ...env, BACKUP_AGE_PASSPHRASE: 'not it' });
    expect(wrong.code).toBe(17);
    const before = oracleDump(db.url);
    const q = await rawQueryable(db.url);
    await q.exec(`DELETE FROM "comments"`);
    await q.close();
    const r = await runCli(['restore', 'latest', '--yes', '--json'], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(oracleDump(db.url)).toBe(before);
    const outputs = [b, wrong, r].map((x) => x.stdout + x.stderr).join('\n');
    expect(outputs).not.toContain(passphrase);
    for (const f of readdirSync(dir)) expect(readFileSync(path.join(dir, f)).toString('latin1')).not.toContain(passphrase);
    const both = await runCli(['backup'], { ...env, BACKUP_AGE_RECIPIENTS: keyA.recipient });
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/both set/);
  });

  it('signed and encrypted: the signature binds the ciphertext and the content; verify checks it with and without the identity', async () => {
    const dir = path.join(work, 'signed');
    const keys = path.join(work, 'signing');
    const g = await runCli(['keygen', '--out', keys, '--json']);
    expect(g.code, g.stderr).toBe(0);
    const { privateKey, verifyKey } = JSON.parse(g.stdout);
    const b = await runCli(['backup', '--json'], { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_RECIPIENTS: keyA.recipient, BACKUP_SIGNING_KEY: privateKey });
    expect(b.code, b.stderr).toBe(0);
    const file = JSON.parse(b.stdout).manifest.file;
    for (const extra of [{}, { BACKUP_AGE_IDENTITY: keyA.file }]) {
      const v = await runCli(['verify', file, '--json'], { BACKUP_DIR: dir, BACKUP_VERIFY_KEY: verifyKey, ...extra });
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(JSON.parse(v.stdout).signature).toBe('valid');
    }
    // A manifest edited to claim other content. Without the identity only the signature can tell:
    // it no longer matches (exit 13). With it, the decrypted content disagrees with the manifest
    // before the signature is even looked at (exit 3, as for a plain backup).
    const mPath = path.join(dir, file.replace(/\.jsonl\.gz\.age$/, '.manifest.json'));
    const m = JSON.parse(readFileSync(mPath, 'utf8'));
    writeFileSync(mPath, JSON.stringify({ ...m, contentSha256: 'f'.repeat(64) }, null, 2));
    const noKey = await runCli(['verify', file], { BACKUP_DIR: dir, BACKUP_VERIFY_KEY: verifyKey });
    expect(noKey.code, noKey.stdout + noKey.stderr).toBe(13);
    const withKey = await runCli(['verify', file], { BACKUP_DIR: dir, BACKUP_VERIFY_KEY: verifyKey, BACKUP_AGE_IDENTITY: keyA.file });
    expect(withKey.code, withKey.stdout + withKey.stderr).toBe(3);
    expect(withKey.stdout).toMatch(/does not match its manifest/);
  });

  it('key rotation: old backups open with the old identity line kept in the file; without it, exit 17', async () => {
    const dir = path.join(work, 'rotation');
    const old = await runCli(['backup', '--reason', 'old', '--json'], { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_RECIPIENTS: keyA.recipient });
    const neu = await runCli(['backup', '--reason', 'new', '--json'], { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_RECIPIENTS: keyB.recipient });
    const oldFile = JSON.parse(old.stdout).manifest.file;
    const newFile = JSON.parse(neu.stdout).manifest.file;
    const ring = path.join(work, 'keys', 'ring.txt');
    writeFileSync(ring, readFileSync(keyB.file, 'utf8') + readFileSync(keyA.file, 'utf8'), { mode: 0o600 });
    for (const f of [oldFile, newFile]) expect((await runCli(['verify', f], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: ring })).code).toBe(0);
    expect((await runCli(['verify', newFile], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyB.file })).code).toBe(0);
    expect((await runCli(['verify', oldFile], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyB.file })).code).toBe(17);
    // The identity string itself works as well as a file.
    const secretA = readFileSync(keyA.file, 'utf8').trim().split('\n').pop()!;
    expect((await runCli(['verify', oldFile], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: secretA })).code).toBe(0);
    // A lost manifest is rebuilt from the decrypted backup, as minimal as the one the backup wrote.
    const written = manifestOf(dir, newFile);
    rmSync(path.join(dir, newFile.replace(/\.jsonl\.gz\.age$/, '.manifest.json')));
    const rebuilt = await runCli(['verify', newFile, '--json'], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: ring });
    expect(JSON.parse(rebuilt.stdout).manifest).toBe('rebuilt');
    const m = manifestOf(dir, newFile);
    expect(m).toMatchObject({ tables: {}, rowsTotal: null, migrations: null, encryption: { format: 'age', recipients: 1, passphrase: false }, sha256: written.sha256, contentSha256: written.contentSha256 });
    expect(JSON.stringify(m)).not.toContain('users');
  });

  it('no plaintext byte reaches the folder at any moment of a backup (temporary file included)', async () => {
    const dir = path.join(work, 'watched');
    const seen = new Map<string, string>();
    const child = spawn(process.execPath, [CLI_ENTRY, 'backup', '--level', '9'], { env: { ...process.env, CI: 'true', DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_AGE_RECIPIENTS: keyA.recipient }, stdio: 'ignore' });
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    let finished = false;
    void done.then(() => (finished = true));
    const head = Buffer.alloc(64);
    while (!finished) {
      for (const name of existsSync(dir) ? readdirSync(dir) : []) {
        if (name.endsWith('.manifest.json') || name.includes('manifest.json.tmp') || name.startsWith('.prisma-guard')) continue;
        let fd: number;
        try {
          fd = openSync(path.join(dir, name), 'r');
        } catch {
          continue; // renamed or removed between readdir and open
        }
        const n = readSync(fd, head, 0, head.length, 0);
        closeSync(fd);
        const first = head.subarray(0, n).toString('latin1');
        // Empty, or the beginning of an age header: never a gzip stream (0x1f 0x8b) or JSON.
        expect(AGE_MAGIC.startsWith(first) || first.startsWith(AGE_MAGIC), `${name} starts with ${JSON.stringify(first.slice(0, 24))}`).toBe(true);
        seen.set(name, first);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await done).toBe(0);
    expect([...seen.keys()].some((n) => n.includes('.tmp'))).toBe(true);
    expect(backupsIn(dir)).toHaveLength(1);
  });

  it('a backup of many MiB (many read chunks) decrypts whole: verify and restore read every byte', async () => {
    const dir = path.join(work, 'large');
    const file = path.join(work, 'large.db');
    execFileSync('sqlite3', [file, "CREATE TABLE blobs(id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO blobs(v) SELECT hex(randomblob(64)) FROM generate_series(1, 60000);"]);
    const env = { DATABASE_URL: `file:${file}`, BACKUP_DIR: dir, BACKUP_AGE_RECIPIENTS: keyA.recipient };
    const b = await runCli(['backup', '--json'], env);
    expect(b.code, b.stderr).toBe(0);
    const name = JSON.parse(b.stdout).manifest.file;
    expect(statSync(path.join(dir, name)).size).toBeGreaterThan(4 << 20);
    const v = await runCli(['verify', name, '--json'], { ...env, BACKUP_AGE_IDENTITY: keyA.file });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).tables.blobs.rows).toBe(60000);
    const before = oracleDump(`file:${file}`);
    execFileSync('sqlite3', [file, 'DELETE FROM blobs WHERE id % 2 = 0']);
    const r = await runCli(['restore', name, '--yes', '--no-safety-backup'], { ...env, BACKUP_AGE_IDENTITY: keyA.file });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(oracleDump(`file:${file}`)).toBe(before);
  });

  it.runIf(hasAgeCli || process.env.CI)('reads what the age CLI writes, and refuses a file cut at a chunk boundary or extended', async () => {
    const dir = path.join(work, 'interop');
    const file = path.join(work, 'large.db');
    const plain = await runCli(['backup', '--json'], { DATABASE_URL: `file:${file}`, BACKUP_DIR: dir });
    expect(plain.code, plain.stderr).toBe(0);
    const plainName = JSON.parse(plain.stdout).manifest.file;
    const encName = plainName.replace('-manual.jsonl.gz', '-byagecli.jsonl.gz.age');
    execFileSync('age', ['-r', keyB.recipient, '-o', path.join(dir, encName), path.join(dir, plainName)]);
    chmodSync(path.join(dir, encName), 0o600);
    const v = await runCli(['verify', encName, '--json'], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyB.file });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, depth: 'full', manifest: 'rebuilt' });
    expect(JSON.parse(v.stdout).tables.blobs.rows).toBe(60000);
    // Cut exactly after a whole chunk (its last-chunk flag is then wrong), or with bytes appended.
    const bytes = readFileSync(path.join(dir, encName));
    const headerEnd = bytes.indexOf('\n--- ') + 1;
    const payloadStart = bytes.indexOf(0x0a, headerEnd) + 1 + 16;
    const variants: Record<string, Buffer> = {
      cut: bytes.subarray(0, payloadStart + 3 * (65536 + 16)),
      extended: Buffer.concat([bytes, Buffer.from('more')]),
    };
    for (const [what, b] of Object.entries(variants)) {
      const name = encName.replace('byagecli', what);
      writeFileSync(path.join(dir, name), b, { mode: 0o600 });
      const r = await runCli(['verify', name], { BACKUP_DIR: dir, BACKUP_AGE_IDENTITY: keyB.file });
      expect(r.code, `${what}: ${r.stdout}${r.stderr}`).toBe(3);
    }
  });

  describe('offsite', () => {
    let s3: TestS3;
    beforeAll(async () => {
      s3 = await startS3(['vault']);
    });
    afterAll(async () => {
      await s3?.close();
    });
    it('the offsite copy is the ciphertext, checked by its SHA-256; the bucket alone restores with the identity', async () => {
      const dir = path.join(work, 'offsite-local');
      const env = { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_COPY_TO: 's3://vault/enc', BACKUP_AGE_RECIPIENTS: keyA.recipient, ...s3.env };
      const b = await runCli(['backup', '--json'], env);
      expect(b.code, b.stderr).toBe(0);
      const out = JSON.parse(b.stdout);
      expect(out.offsite).toMatchObject({ sha256: out.manifest.sha256 });
      const listed = await runCli(['list', '--location', 's3://vault/enc', '--json'], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(out.manifest.file);
      const before = oracleDump(db.url);
      rmSync(dir, { recursive: true, force: true });
      const fetched = path.join(work, 'offsite-fetched');
      const c = await runCli(['copy', '--all', '--from', 's3://vault/enc', '--to', fetched], env);
      expect(c.code, c.stdout + c.stderr).toBe(0);
      const q = await rawQueryable(db.url);
      await q.exec(`DELETE FROM "posts"`);
      await q.close();
      const r = await runCli(['restore', 'latest', '--yes'], { ...env, BACKUP_DIR: fetched, BACKUP_COPY_TO: '', BACKUP_AGE_IDENTITY: keyA.file });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(oracleDump(db.url)).toBe(before);
    });
  });
});
