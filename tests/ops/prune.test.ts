/**
 * prune on a real folder of real backups (taken on a FakeClock at chosen times): it deletes exactly
 * what the pure applyPolicy decides, backup and manifest together, never the newest verified
 * backup, never a pinned one, and only reports corrupt, unfinished and foreign files.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../lib/core/clock.ts';
import { manifestFileName } from '../../lib/format/naming.ts';
import { backup } from '../../lib/ops/backup.ts';
import type { BackupKind } from '../../lib/format/source.ts';
import { resolveContext, type OpsContext } from '../../lib/ops/context.ts';
import { setPinned } from '../../lib/ops/pin.ts';
import { prune, retentionPolicyFromEnv } from '../../lib/ops/prune.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { applyPolicy, candidatesFromManifests, DEFAULT_POLICY } from '../../lib/policy/retention.ts';
import { ROOT, runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const HOUR = 3_600_000;
const NOW = new Date('2026-06-15T12:50:00Z');
const tmp = tempDir('prisma-guard-prune-');
const DB = path.join(tmp.dir, 'app.db');
const DIR = path.join(tmp.dir, 'backups');
const clock = new FakeClock(NOW);
let ctx: OpsContext;

/** A real backup taken at `at`. */
async function backupAt(at: Date, options: { reason?: string; pinned?: boolean; kind?: BackupKind } = {}): Promise<string> {
  clock.set(at);
  return (await backup(ctx, { reason: options.reason ?? 'scheduled-interval', kind: options.kind ?? 'scheduled', pinned: options.pinned })).manifest.file;
}

const files = () => fs.readdirSync(DIR).sort();

let newestVerified: string;
let sameHourOlder: string;
let corrupt: string;
let pinnedOld: string;
let preMigration: string;
let unpinLater: string;

beforeAll(async () => {
  const db = new Database(DB);
  db.exec(`CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO note (body) VALUES ('a'), ('b'), ('c');`);
  db.close();
  ctx = resolveContext({ url: `file:${DB}`, backupDir: DIR, projectDir: ROOT, clock, env: {} });

  // Every 7 hours for 12 days, then every 5 days back to ~5 months: all tiers have work to do.
  for (let k = 1; k <= 40; k++) await backupAt(new Date(NOW.getTime() - k * 7 * HOUR));
  for (let k = 3; k <= 30; k++) await backupAt(new Date(NOW.getTime() - k * 5 * 24 * HOUR));
  // Three in the newest hour: the newest unverified, the middle one verified, the oldest nothing.
  sameHourOlder = await backupAt(new Date('2026-06-15T12:20:00Z'));
  newestVerified = await backupAt(new Date('2026-06-15T12:30:00Z'));
  await backupAt(new Date('2026-06-15T12:40:00Z'));
  clock.set(NOW);
  expect((await verifyBackup(ctx, newestVerified)).ok).toBe(true);

  // Old ones no rule keeps, protected otherwise.
  pinnedOld = await backupAt(new Date(NOW.getTime() - 400 * 24 * HOUR), { pinned: true });
  preMigration = await backupAt(new Date(NOW.getTime() - 380 * 24 * HOUR), { reason: 'pre-migration', kind: 'pre-migration' });
  unpinLater = await backupAt(new Date(NOW.getTime() - 390 * 24 * HOUR));
  clock.set(NOW);
  await setPinned(ctx, unpinLater, { pinned: true });

  // A backup that fails verification (a flipped byte), an interrupted write, a foreign file.
  corrupt = await backupAt(new Date(NOW.getTime() - 200 * 24 * HOUR));
  clock.set(NOW);
  const p = path.join(DIR, corrupt);
  const bytes = fs.readFileSync(p);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(p, bytes);
  expect((await verifyBackup(ctx, corrupt)).ok).toBe(false);
  fs.writeFileSync(path.join(DIR, '.backup-2026-06-15T12-45-00-000Z-manual.jsonl.gz.tmp-123-abc'), 'partial');
  fs.writeFileSync(path.join(DIR, 'notes.txt'), 'not a backup');
  fs.writeFileSync(path.join(DIR, '.scheduler-state.json'), '{"format":"prisma-guard-scheduler-state"}');
});

afterAll(() => tmp.remove());

/** The decision computed independently from the folder, the way the pure policy sees it. */
async function expectedDecision(now: Date) {
  const listing = await listBackups(DIR);
  const names = fs.readdirSync(DIR).filter((n) => n !== '.scheduler-state.json');
  return applyPolicy(candidatesFromManifests(listing.backups, names), DEFAULT_POLICY, now);
}

describe('prune', () => {
  it('--dry-run reports the pure decision and deletes nothing', async () => {
    const before = files();
    const expected = await expectedDecision(NOW);
    const r = await prune(ctx, { dryRun: true, policy: DEFAULT_POLICY });
    expect(files()).toEqual(before);
    expect(r.removed).toEqual([]);
    expect(r.entries.filter((e) => e.action === 'remove').map((e) => e.file)).toEqual(expected.remove.map((c) => c.file));
    expect(r.entries.filter((e) => e.action === 'keep').map((e) => e.file)).toEqual(expected.keep.map((k) => k.candidate.file));
    expect(expected.remove.length).toBeGreaterThan(10);

    const why = (f: string) => r.entries.find((e) => e.file === f)!;
    expect(why(newestVerified)).toMatchObject({ action: 'keep' });
    expect(why(newestVerified).why).toContain('newest verified backup');
    expect(why(sameHourOlder).action).toBe('remove');
    expect(why(pinnedOld).why).toContain('pinned');
    expect(why(unpinLater).why).toContain('pinned');
    expect(why(preMigration).why).toContain('pinned (pre-migration)');
    expect(why(corrupt).action).toBe('report');
    expect(why('notes.txt').action).toBe('report');
    expect(r.entries.find((e) => e.file.startsWith('.backup-'))?.action).toBe('report');
    // The scheduler's own state file is neither a backup nor foreign.
    expect(r.entries.some((e) => e.file === '.scheduler-state.json')).toBe(false);
  });

  it('the CLI shows the same decision as JSON and in words', async () => {
    const env = { DATABASE_URL: `file:${DB}`, BACKUP_DIR: DIR };
    const json = await runCli(['prune', '--dry-run', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out.dryRun).toBe(true);
    expect(out.removed).toEqual([]);
    const words = await runCli(['prune', '--dry-run'], env);
    expect(words.code).toBe(0);
    expect(words.stdout).toContain(`would remove  ${sameHourOlder}`);
    expect(words.stdout).toMatch(new RegExp(`keep +${newestVerified.replace(/\./g, '\\.')} +\\(.*newest verified backup`));
    expect(words.stdout).toContain('REPORT  notes.txt');
  });

  it('pin and unpin through the CLI change what prune keeps', async () => {
    const env = { DATABASE_URL: `file:${DB}`, BACKUP_DIR: DIR };
    const unpin = await runCli(['unpin', unpinLater, '--json'], env);
    expect(unpin.code, unpin.stderr).toBe(0);
    expect(JSON.parse(unpin.stdout)).toMatchObject({ ok: true, pinned: false });
    const pin = await runCli(['pin', sameHourOlder, '--until', '2099-01-01'], env);
    expect(pin.code, pin.stderr).toBe(0);
    const r = await prune(ctx, { dryRun: true, policy: DEFAULT_POLICY });
    expect(r.entries.find((e) => e.file === unpinLater)?.action).toBe('remove');
    expect(r.entries.find((e) => e.file === sameHourOlder)?.why[0]).toMatch(/^pinned until 2099-01-01/);
    // Back to how the other tests expect it.
    await setPinned(ctx, sameHourOlder, { pinned: false });
  });

  it('deletes exactly what the policy removes (backup and manifest), keeps the rest', async () => {
    const expected = await expectedDecision(NOW);
    const before = files();
    const r = await prune(ctx, { policy: DEFAULT_POLICY });
    expect(r.failed).toEqual([]);
    expect(r.removed).toEqual(expected.remove.map((c) => c.file));
    expect(r.removed).toContain(unpinLater);
    const gone = new Set(r.removed.flatMap((f) => [f, manifestFileName(f)]));
    expect(files()).toEqual(before.filter((f) => !gone.has(f)));
    for (const k of expected.keep) {
      expect(fs.existsSync(path.join(DIR, k.candidate.file))).toBe(true);
      expect(fs.existsSync(path.join(DIR, manifestFileName(k.candidate.file)))).toBe(true);
    }
    for (const f of [newestVerified, pinnedOld, preMigration, corrupt, 'notes.txt']) expect(files()).toContain(f);
    // Nothing left to do: a second prune removes nothing.
    expect((await prune(ctx, { policy: DEFAULT_POLICY })).removed).toEqual([]);
  });

  it('with every rule disabled keeps everything; a bad setting is refused', async () => {
    const keepAll = retentionPolicyFromEnv({ BACKUP_KEEP_HOURLY: '0', BACKUP_KEEP_DAILY: '0', BACKUP_KEEP_WEEKLY: '0', BACKUP_KEEP_MONTHLY: '0' });
    const r = await prune(ctx, { dryRun: true, policy: keepAll });
    expect(r.entries.filter((e) => e.action === 'remove')).toEqual([]);
    expect(() => retentionPolicyFromEnv({ BACKUP_KEEP_DAILY: 'forever' })).toThrow(/not a retention duration/);
    const cli = await runCli(['prune', '--dry-run'], { BACKUP_DIR: DIR, BACKUP_RETENTION_TZ: 'Mars/Olympus' });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('Mars/Olympus');
  });

  it('never deletes the last good backup, even when an aggressive policy would', async () => {
    const dir = path.join(tmp.dir, 'only-old');
    const c2 = resolveContext({ url: `file:${DB}`, backupDir: dir, projectDir: ROOT, clock, env: {} });
    clock.set('2026-01-01T10:00:00Z');
    const good = (await backup(c2, { reason: 'manual' })).manifest.file;
    expect((await verifyBackup(c2, good)).ok).toBe(true);
    clock.set('2026-01-01T10:30:00Z');
    const newer = (await backup(c2, { reason: 'manual' })).manifest.file;
    clock.set(NOW);
    const tiny = { ...DEFAULT_POLICY, hourly: '1h', daily: null, weekly: null, monthly: null };
    const r = await prune(c2, { policy: tiny });
    expect(r.removed).toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl.gz')).sort()).toEqual([good, newer].sort());
  });
});
