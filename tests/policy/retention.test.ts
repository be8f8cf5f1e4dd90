import { readFileSync, writeFileSync } from 'node:fs';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import { backupFileName, manifestFileName } from '../../lib/format/naming.ts';
import type { BackupManifest } from '../../lib/format/manifest.ts';
import {
  applyPolicy,
  candidatesFromManifests,
  DEFAULT_POLICY,
  parseDuration,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionPolicy,
} from '../../lib/policy/retention.ts';
import { seededRandom } from '../../lib/core/random.ts';
import { kindFromReason } from '../../lib/format/source.ts';

const LONDON = 'Europe/London';
const HOUR = 3600_000;
const DAY = 24 * HOUR;

function backup(at: string | number | Date, extra: Partial<RetentionCandidate> = {}): RetentionCandidate {
  const createdAt = new Date(at);
  const reason = extra.reason ?? 'scheduled';
  return { file: backupFileName(createdAt, reason), createdAt, reason, pinned: false, pinnedUntil: null, verified: null, status: 'ok', ...extra };
}

function hourly(from: string, to: string, extra: (t: number) => Partial<RetentionCandidate> = () => ({})): RetentionCandidate[] {
  const out: RetentionCandidate[] = [];
  for (let t = Date.parse(from); t <= Date.parse(to); t += HOUR) out.push(backup(t, extra(t)));
  return out;
}

const keptFiles = (d: RetentionDecision) => d.keep.map((k) => k.candidate.file);
const reasonsOf = (d: RetentionDecision, at: string) => d.keep.find((k) => k.candidate.createdAt?.toISOString() === new Date(at).toISOString())?.reasons;

describe('parseDuration', () => {
  it('reads restic style and ISO 8601 durations', () => {
    expect(parseDuration('7d')).toEqual({ years: 0, months: 0, weeks: 0, days: 7, hours: 0 });
    expect(parseDuration('3m')).toEqual({ years: 0, months: 3, weeks: 0, days: 0, hours: 0 });
    expect(parseDuration('1y')).toEqual({ years: 1, months: 0, weeks: 0, days: 0, hours: 0 });
    expect(parseDuration('1y2m3d4h')).toEqual({ years: 1, months: 2, weeks: 0, days: 3, hours: 4 });
    expect(parseDuration('2w')).toEqual({ years: 0, months: 0, weeks: 2, days: 0, hours: 0 });
    expect(parseDuration(' P30D ')).toEqual({ years: 0, months: 0, weeks: 0, days: 30, hours: 0, minutes: 0 });
    expect(parseDuration('pt12h')).toEqual({ years: 0, months: 0, weeks: 0, days: 0, hours: 12, minutes: 0 });
    expect(parseDuration('P1Y6M')).toMatchObject({ years: 1, months: 6 });
  });

  it('treats 0, empty and null as a disabled rule', () => {
    for (const s of ['0', '', '  ', null, undefined, '0d', 'P0D']) expect(parseDuration(s)).toBeNull();
  });

  it('rejects anything else with a GuardError', () => {
    for (const s of ['7', 'd7', '7 days', '-7d', '1.5d', '3mo', 'P', 'PT5S', '7d3y']) {
      expect(() => parseDuration(s), s).toThrow(GuardError);
      try {
        parseDuration(s);
      } catch (e) {
        expect((e as GuardError).code).toBe('POLICY_INVALID');
        expect((e as GuardError).exitCode).toBe(2);
        expect((e as GuardError).hint).toMatch(/7d/);
      }
    }
  });
});

describe('applyPolicy', () => {
  it('keeps the newest backup of each bucket within each window, measured from the newest backup', () => {
    // Hourly backups for 3 days, newest at 2024-06-10T23:00Z; `now` is much later: windows do not move.
    const backups = hourly('2024-06-08T00:00:00Z', '2024-06-10T23:00:00Z');
    const policy: RetentionPolicy = { ...DEFAULT_POLICY, hourly: '12h', daily: '2d', weekly: null, monthly: null };
    const d = applyPolicy(backups, policy, new Date('2024-09-01T00:00:00Z'));
    expect(d.anchor?.toISOString()).toBe('2024-06-10T23:00:00.000Z');
    // Hourly: strictly after 10T11:00Z -> 12:00Z..23:00Z. Daily: cutoff 08T23:00Z; London days
    // (BST) end at 23:00Z, so the newest of the 9th is 09T22:00Z, of the 10th is 10T22:00Z, and
    // the 11th (London) started at 10T23:00Z.
    const kept = d.keep.map((k) => `${k.candidate.createdAt?.toISOString().slice(5, 16)} ${k.reasons.join(', ')}`);
    expect(kept).toEqual([
      '06-10T23:00 newest backup, hourly within 12h, daily within 2d',
      '06-10T22:00 hourly within 12h, daily within 2d',
      ...[21, 20, 19, 18, 17, 16, 15, 14, 13, 12].map((h) => `06-10T${h}:00 hourly within 12h`),
      '06-09T22:00 daily within 2d',
    ]);
    expect(d.remove).toHaveLength(backups.length - kept.length);
    expect(d.report).toEqual([]);
  });

  it('uses wall-clock buckets in the policy zone: the repeated autumn hour is one bucket', () => {
    const backups = [
      backup('2024-10-26T20:00:00Z'), // the oldest: kept inside the window whatever its bucket (restic)
      backup('2024-10-27T00:30:00Z'), // 01:30 BST
      backup('2024-10-27T01:30:00Z'), // 01:30 GMT, same wall hour
      backup('2024-10-27T02:30:00Z'), // 02:30 GMT
    ];
    const policy: RetentionPolicy = { ...DEFAULT_POLICY, daily: null, weekly: null, monthly: null };
    const d = applyPolicy(backups, policy, new Date('2024-10-28T00:00:00Z'));
    expect(d.keep.map((k) => k.candidate.createdAt?.toISOString())).toEqual(['2024-10-27T02:30:00.000Z', '2024-10-27T01:30:00.000Z', '2024-10-26T20:00:00.000Z']);
    expect(d.remove.map((c) => c.createdAt?.toISOString())).toEqual(['2024-10-27T00:30:00.000Z']);
    // In UTC they are four different hours.
    const utc = applyPolicy(backups, { ...policy, timeZone: 'UTC' }, new Date('2024-10-28T00:00:00Z'));
    expect(utc.keep).toHaveLength(4);
  });

  it('counts days and ISO weeks (Monday first) in the policy zone, not in UTC', () => {
    // Sunday 2024-06-16 23:30 BST = 22:30Z and Monday 2024-06-17 00:30 BST = 23:30Z (still Sunday in UTC).
    const sun = backup('2024-06-16T22:30:00Z');
    const mon = backup('2024-06-16T23:30:00Z');
    const earlierSun = backup('2024-06-16T10:00:00Z');
    // The oldest backup is kept inside the window whatever its bucket (restic); it is here so that
    // earlierSun shows the bucket rule.
    const saturday = backup('2024-06-15T09:00:00Z');
    const weekly: RetentionPolicy = { ...DEFAULT_POLICY, hourly: null, daily: null, monthly: null };
    const london = applyPolicy([saturday, earlierSun, sun, mon], weekly, new Date('2024-06-20T00:00:00Z'));
    expect(london.keep.map((k) => [k.candidate.createdAt?.toISOString(), k.reasons])).toEqual([
      ['2024-06-16T23:30:00.000Z', ['newest backup', 'weekly within 3m']],
      ['2024-06-16T22:30:00.000Z', ['weekly within 3m']],
      ['2024-06-15T09:00:00.000Z', ['weekly within 3m']],
    ]);
    const utc = applyPolicy([saturday, earlierSun, sun, mon], { ...weekly, timeZone: 'UTC' }, new Date('2024-06-20T00:00:00Z'));
    expect(utc.keep.map((k) => k.candidate.createdAt?.toISOString())).toEqual(['2024-06-16T23:30:00.000Z', '2024-06-15T09:00:00.000Z']);
  });

  it('measures months with calendar arithmetic and keeps only backups strictly after the cutoff', () => {
    const policy: RetentionPolicy = { ...DEFAULT_POLICY, hourly: null, daily: null, weekly: null, monthly: '1m' };
    // Newest 2024-03-31T12:00 BST; one month back is 2024-02-29T12:00 GMT (leap day, clamped).
    const backups = [backup('2024-03-31T11:00:00Z'), backup('2024-02-29T12:00:00Z'), backup('2024-02-29T12:00:00.001Z')];
    const d = applyPolicy(backups, policy, new Date('2024-04-01T00:00:00Z'));
    expect(keptFiles(d)).toEqual([backups[0].file, backups[2].file]);
  });

  it('never removes pinned backups while their pin lasts; pins expire by `now`', () => {
    const now = new Date('2024-06-30T00:00:00Z');
    const newest = backup('2024-06-29T12:00:00Z');
    const userPin = backup('2022-01-01T00:00:00Z', { pinned: true });
    const preMigration = backup('2022-02-01T00:00:00Z', { reason: 'pre-migration-20220201_add_users' });
    const pinnedUntilFuture = backup('2022-03-01T00:00:00Z', { pinned: true, pinnedUntil: new Date('2024-07-01T00:00:00Z') });
    const pinnedUntilPast = backup('2022-04-01T00:00:00Z', { pinned: true, pinnedUntil: new Date('2024-06-29T00:00:00Z') });
    const preRestoreRecent = backup('2024-06-10T00:00:00Z', { reason: 'pre-restore' });
    const preRestoreOld = backup('2024-05-01T00:00:00Z', { reason: 'pre-restore' });
    const preRestoreExplicit = backup('2024-05-02T00:00:00Z', { reason: 'pre-restore', pinned: true, pinnedUntil: new Date('2024-07-02T00:00:00Z') });
    const all = [newest, userPin, preMigration, pinnedUntilFuture, pinnedUntilPast, preRestoreRecent, preRestoreOld, preRestoreExplicit];
    const policy: RetentionPolicy = { ...DEFAULT_POLICY, hourly: null, daily: null, weekly: null, monthly: null, preRestorePin: '30d' };
    // Only `newest backup` and the pins keep anything (no empty-policy rule: daily '1h' is set).
    const d = applyPolicy(all, { ...policy, hourly: '1h' }, now);
    const reasons = Object.fromEntries(d.keep.map((k) => [k.candidate.file, k.reasons]));
    expect(reasons).toEqual({
      [newest.file]: ['newest backup', 'hourly within 1h'],
      [userPin.file]: ['pinned'],
      [preMigration.file]: ['pinned (pre-migration)'],
      [pinnedUntilFuture.file]: ['pinned until 2024-07-01T00:00:00.000Z'],
      [preRestoreRecent.file]: ['pinned (pre-restore) until 2024-07-10T00:00:00.000Z'],
      [preRestoreExplicit.file]: ['pinned (pre-restore) until 2024-07-02T00:00:00.000Z'],
    });
    expect(d.remove.map((c) => c.file).sort()).toEqual([pinnedUntilPast.file, preRestoreOld.file].sort());
    // A pre-restore pin of 0 turns the default pin off.
    const off = applyPolicy(all, { ...policy, hourly: '1h', preRestorePin: '0' }, now);
    expect(off.remove.map((c) => c.file)).toContain(preRestoreRecent.file);
  });

  it('keeps the newest verified backup and the newest backup whatever the rules', () => {
    const verified = backup('2023-01-01T00:00:00Z', { verified: true });
    const olderVerified = backup('2022-01-01T00:00:00Z', { verified: true });
    const failedLater = backup('2023-06-01T00:00:00Z', { verified: false });
    const newest = backup('2024-06-01T00:00:00Z');
    const policy: RetentionPolicy = { ...DEFAULT_POLICY, hourly: '1h', daily: null, weekly: null, monthly: null };
    const d = applyPolicy([olderVerified, verified, failedLater, newest], policy, new Date('2024-06-02T00:00:00Z'));
    expect(d.keep.map((k) => [k.candidate.file, k.reasons])).toEqual([
      [newest.file, ['newest backup', 'hourly within 1h']],
      [verified.file, ['newest verified backup']],
    ]);
    // A verified: false candidate with status ok is still a backup: removable by policy.
    expect(d.remove.map((c) => c.file)).toEqual([failedLater.file, olderVerified.file]);
  });

  it('reports corrupt, unfinished and foreign files and never removes them', () => {
    const ok = backup('2024-06-01T00:00:00Z');
    const corrupt = backup('2020-01-01T00:00:00Z', { status: 'corrupt', detail: 'checksum mismatch' });
    const unfinished = backup('2020-01-02T00:00:00Z', { status: 'unfinished' });
    const foreign: RetentionCandidate = { file: 'notes.txt', createdAt: null, reason: null, pinned: false, pinnedUntil: null, verified: null, status: 'foreign' };
    const undated: RetentionCandidate = { ...foreign, file: 'weird', status: 'ok' };
    const d = applyPolicy([ok, corrupt, unfinished, foreign, undated], DEFAULT_POLICY, new Date('2024-06-02T00:00:00Z'));
    expect(keptFiles(d)).toEqual([ok.file]);
    expect(d.remove).toEqual([]);
    expect(d.report.map((r) => [r.candidate.file, r.problem])).toEqual([
      [corrupt.file, expect.stringMatching(/^corrupt backup .*; checksum mismatch$/)],
      [unfinished.file, expect.stringMatching(/^unfinished backup/)],
      ['notes.txt', 'not a prisma-guard backup: left alone'],
      ['weird', 'backup without a valid creation time: left alone'],
    ]);
  });

  it('keeps everything when every rule is disabled (restic: "policy is empty")', () => {
    const backups = hourly('2024-06-01T00:00:00Z', '2024-06-01T05:00:00Z');
    const d = applyPolicy(backups, { ...DEFAULT_POLICY, hourly: null, daily: '0', weekly: '', monthly: null }, new Date('2025-01-01T00:00:00Z'));
    expect(d.keep).toHaveLength(6);
    expect(d.keep.every((k) => k.reasons.includes('policy is empty'))).toBe(true);
  });

  it('does not anchor windows on backups dated in the future, and keeps those', () => {
    const backups = [...hourly('2024-06-01T00:00:00Z', '2024-06-10T00:00:00Z'), backup('2030-01-01T00:00:00Z')];
    const now = new Date('2024-06-10T00:30:00Z');
    const d = applyPolicy(backups, { ...DEFAULT_POLICY, daily: null, weekly: null, monthly: null, hourly: '1d' }, now);
    expect(d.anchor?.toISOString()).toBe('2024-06-10T00:00:00.000Z');
    expect(d.keep.map((k) => k.candidate.createdAt?.toISOString().slice(0, 13))).toEqual([
      '2030-01-01T00',
      ...Array.from({ length: 24 }, (_, i) => new Date(Date.parse('2024-06-10T00:00:00Z') - i * HOUR).toISOString().slice(0, 13)),
    ]);
    expect(reasonsOf(d, '2030-01-01T00:00:00Z')).toEqual(['newest backup', 'hourly within 1d']);
  });

  it('rejects an invalid policy', () => {
    expect(() => applyPolicy([], { ...DEFAULT_POLICY, timeZone: 'Nowhere/Land' }, new Date())).toThrow(/time zone/);
    expect(() => applyPolicy([], { ...DEFAULT_POLICY, daily: 'often' }, new Date())).toThrow(GuardError);
  });
});

describe('candidatesFromManifests', () => {
  function manifest(createdAt: string, reason: string, extra: Partial<BackupManifest> = {}): BackupManifest {
    return {
      format: 'prisma-guard-manifest',
      formatVersion: 1,
      file: backupFileName(new Date(createdAt), reason),
      createdAt,
      reason,
      dialect: 'sqlite',
      database: 'dev.db',
      toolVersion: '0.1.0',
      sizeBytes: 100,
      sha256: 'a'.repeat(64),
      durationMs: 5,
      rowsTotal: 1,
      tables: {},
      schemaPrismaHash: null,
      migrations: { count: 0, latest: null },
      pinned: false,
      kind: kindFromReason(reason),
      scope: { type: 'full' },
      source: { dialect: 'sqlite', host: null, port: null, database: '/srv/dev.db', schemas: ['main'], fingerprint: 'sqlite-70000001', fingerprintMethod: 'stored' },
      ...extra,
    };
  }

  it('derives candidates from manifests and classifies stray files', () => {
    const a = manifest('2024-06-01T02:00:00.000Z', 'scheduled-daily', { verification: { at: '2024-06-01T03:00:00.000Z', ok: true } });
    const b = manifest('2024-06-02T02:00:00.000Z', 'pre-restore', { pinned: true, pinnedUntil: '2024-07-02T02:00:00.000Z' });
    const c = manifest('2024-06-03T02:00:00.000Z', 'manual', { verification: { at: '2024-06-03T03:00:00.000Z', ok: false, error: 'table users: checksum mismatch' } });
    const orphan = backupFileName(new Date('2024-06-04T02:00:00Z'), 'manual');
    const badManifest = manifestFileName(backupFileName(new Date('2024-06-05T02:00:00Z'), 'manual'));
    const tmp = `.${orphan}.tmp-123-abcdef`;
    const listing = [a.file, manifestFileName(a.file), b.file, manifestFileName(b.file), c.file, manifestFileName(c.file), orphan, badManifest, tmp, 'README.md'];
    const got = candidatesFromManifests([a, b, c], listing);
    expect(got.map((x) => [x.file, x.status, x.createdAt?.toISOString() ?? null, x.pinned, x.pinnedUntil?.toISOString() ?? null, x.verified])).toEqual([
      [a.file, 'ok', '2024-06-01T02:00:00.000Z', false, null, true],
      [b.file, 'ok', '2024-06-02T02:00:00.000Z', true, '2024-07-02T02:00:00.000Z', null],
      [c.file, 'corrupt', '2024-06-03T02:00:00.000Z', false, null, false],
      [orphan, 'unfinished', '2024-06-04T02:00:00.000Z', false, null, null],
      [badManifest, 'corrupt', '2024-06-05T02:00:00.000Z', false, null, null],
      [tmp, 'unfinished', null, false, null, null],
      ['README.md', 'foreign', null, false, null, null],
    ]);
    expect(got[2].detail).toMatch(/checksum mismatch/);
    // Fed to the policy: nothing but ok backups can be removed.
    const d = applyPolicy(got, DEFAULT_POLICY, new Date('2024-06-10T00:00:00Z'));
    expect(d.report.map((r) => r.candidate.file)).toEqual([c.file, orphan, badManifest, tmp, 'README.md']);
    expect(keptFiles(d)).toEqual([b.file, a.file]);
  });
});

describe('invariants (seeded random folders)', () => {
  const zones = ['Europe/London', 'UTC', 'America/New_York', 'Australia/Lord_Howe'];
  const durations = [null, '0', '6h', '3d', '7d', '2w', '30d', '3m', '1y', 'P10D'];
  const statuses = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'corrupt', 'unfinished', 'foreign'] as const;

  it('hold for 300 random folders and policies', { timeout: 120_000 }, async () => {
    const rnd = seededRandom(20240229);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    for (let round = 0; round < 300; round++) {
      // Yield now and then so vitest's worker RPC is not starved on a busy machine.
      if (round % 10 === 0) await new Promise<void>((r) => setImmediate(r));
      const base = Date.parse('2023-01-01T00:00:00Z') + Math.floor(rnd() * 730) * DAY;
      const n = Math.floor(rnd() * 120);
      const spread = pick([6 * HOUR, 3 * DAY, 60 * DAY, 500 * DAY]);
      const backups: RetentionCandidate[] = [];
      for (let i = 0; i < n; i++) {
        // Minute-rounded times, some duplicated, to exercise ties.
        const t = base + Math.floor((rnd() * spread) / 60000) * 60000;
        const status = pick(statuses);
        const pinned = rnd() < 0.05;
        backups.push({
          ...backup(t, { reason: pick(['scheduled', 'manual', 'pre-restore', 'pre-migration', 'scheduled']) }),
          file: `f${round}-${i}`,
          pinned,
          pinnedUntil: pinned && rnd() < 0.5 ? new Date(t + Math.floor(rnd() * 90) * DAY) : null,
          verified: pick([null, null, true, false]),
          status,
          createdAt: status === 'foreign' ? null : new Date(t),
        });
      }
      const policy: RetentionPolicy = {
        hourly: pick(durations),
        daily: pick(durations),
        weekly: pick(durations),
        monthly: pick(durations),
        timeZone: pick(zones),
        preRestorePin: pick(['0', '7d', '30d']),
      };
      const now = new Date(base + Math.floor(rnd() * (spread + 120 * DAY)));
      const ctx = JSON.stringify({ round, policy, now });
      const d = applyPolicy(backups, policy, now);

      // keep + remove + report = all, each exactly once; report = exactly the non-ok ones.
      const files = [...d.keep.map((k) => k.candidate.file), ...d.remove.map((c) => c.file), ...d.report.map((r) => r.candidate.file)];
      expect(files.slice().sort(), ctx).toEqual(backups.map((b) => b.file).sort());
      expect(new Set(d.report.map((r) => r.candidate.file)), ctx).toEqual(new Set(backups.filter((b) => b.status !== 'ok').map((b) => b.file)));
      const valid = backups.filter((b) => b.status === 'ok');
      // Never empty while a valid backup exists; the newest valid and newest verified are kept.
      if (valid.length > 0) expect(d.keep.length, ctx).toBeGreaterThan(0);
      const newestFirst = valid.slice().sort((a, b) => b.createdAt!.getTime() - a.createdAt!.getTime() || (a.file < b.file ? 1 : -1));
      if (newestFirst[0]) expect(d.keep[0].candidate, ctx).toBe(newestFirst[0]);
      // The newest whole backup (what `latest` restores) and the newest verified one are kept.
      const whole = newestFirst.filter((b) => !/^pre-(restore|delete)/.test(b.reason ?? ''));
      const nv = whole.find((b) => b.verified === true);
      if (nv) expect(d.keep.some((k) => k.candidate === nv), ctx).toBe(true);
      if (whole[0]) expect(d.keep.some((k) => k.candidate === whole[0]), ctx).toBe(true);
      // Every kept backup says why.
      for (const k of d.keep) expect(k.reasons.length, ctx).toBeGreaterThan(0);
      // Pins still in force are never removed.
      for (const c of d.remove) {
        expect(c.pinned && (c.pinnedUntil === null || c.pinnedUntil > now), ctx).toBe(false);
        expect(/^pre-migration/.test(c.reason ?? ''), ctx).toBe(false);
      }
      // Oracle for the bucket rules (quadratic, written differently): a backup is kept by rule R
      // iff it is strictly after the cutoff and no other valid backup in its bucket is newer
      // (ties: the larger file name counts as newer).
      // Only full backups of the regular kinds fill buckets and anchor the windows; the oldest of
      // them is kept inside a window whatever its bucket (restic).
      const members = newestFirst.filter((b) => !/^pre-(restore|delete|migrat)/.test(b.reason ?? ''));
      const oldest = members[members.length - 1];
      const notFuture = (b: RetentionCandidate) => b.createdAt!.getTime() <= now.getTime();
      const anchor = (members.find(notFuture) ?? newestFirst.find(notFuture))?.createdAt;
      const rules: Array<[string, string | null, string]> = [
        ['hourly', policy.hourly, "yyyy-MM-dd HH"],
        ['daily', policy.daily, 'yyyy-MM-dd'],
        ['weekly', policy.weekly, "kkkk WW"],
        ['monthly', policy.monthly, 'yyyy-MM'],
      ];
      for (const [name, within, fmt] of rules) {
        const dur = parseDuration(within);
        if (!dur) continue;
        const cutoff = anchor ? DateTime.fromJSDate(anchor, { zone: policy.timeZone }).minus(dur).toMillis() : -Infinity;
        const keys = new Map(valid.map((b) => [b, DateTime.fromJSDate(b.createdAt!, { zone: policy.timeZone }).toFormat(fmt)]));
        const key = (b: RetentionCandidate) => keys.get(b);
        for (const b of valid) {
          const newer = members.some((o) => o !== b && key(o) === key(b) && (o.createdAt!.getTime() > b.createdAt!.getTime() || (o.createdAt!.getTime() === b.createdAt!.getTime() && o.file > b.file)));
          const expected = members.includes(b) && b.createdAt!.getTime() > cutoff && (!newer || b === oldest);
          const got = d.keep.find((k) => k.candidate === b)?.reasons.some((r) => r.startsWith(`${name} within`)) ?? false;
          expect(got, `${ctx} ${name} ${b.file} ${b.createdAt!.toISOString()}`).toBe(expected);
        }
      }
      // Idempotent: applied again to what is left, nothing more goes and the same reasons come out.
      const again = applyPolicy([...d.keep.map((k) => k.candidate), ...d.report.map((r) => r.candidate)], policy, now);
      expect(again.remove, ctx).toEqual([]);
      // (The same backups; reasons may differ only for the new oldest one, which restic's rule now reaches.)
      expect(again.keep.map((k) => k.candidate), ctx).toEqual(d.keep.map((k) => k.candidate));
      // Input order does not matter.
      const shuffled = backups.slice().sort(() => rnd() - 0.5);
      expect(applyPolicy(shuffled, policy, now).keep, ctx).toEqual(d.keep);
    }
  });
});

/*
 * Golden: a leap year (2024) of hourly backups in UK time, cut at four "newest backup" instants
 * chosen to put DST days and the leap day inside the windows, plus one scenario with the
 * default schedule's real slots. Regenerate with UPDATE_GOLDEN=1 and review the diff by hand.
 */
const GOLDEN = new URL('./golden/retention-2024.txt', import.meta.url);

function yearOfHourly(until: string): RetentionCandidate[] {
  return hourly('2024-01-01T00:00:00Z', until, (t) => ({ reason: 'scheduled', verified: new Date(t).getUTCHours() === 3 && t < Date.parse('2024-12-01T00:00:00Z') ? true : null }));
}

function renderScenario(name: string, backups: RetentionCandidate[], now: string, policy: RetentionPolicy = DEFAULT_POLICY): string {
  const d = applyPolicy(backups, policy, new Date(now));
  const lines = [
    `## ${name}`,
    `now ${now}  anchor ${d.anchor?.toISOString()}  policy ${JSON.stringify(policy)}`,
    `total ${backups.length}  keep ${d.keep.length}  remove ${d.remove.length}  report ${d.report.length}`,
  ];
  for (const k of d.keep) {
    const l = DateTime.fromJSDate(k.candidate.createdAt!, { zone: policy.timeZone });
    lines.push(`keep ${k.candidate.createdAt!.toISOString()}  ${l.toFormat("ccc yyyy-MM-dd HH:mm ZZ 'W'WW")}  ${k.reasons.join(', ')}`);
  }
  for (const r of d.report) lines.push(`report ${r.candidate.file}  ${r.problem}`);
  return lines.join('\n') + '\n';
}

function goldenText(): string {
  const parts: string[] = [
    '# Golden output of applyPolicy (tests/policy/retention.test.ts). Regenerate: UPDATE_GOLDEN=1 npx vitest run tests/policy\n',
  ];
  // Leap day: daily window (30d back from 2024-03-05T10:00Z) covers 2024-02-29.
  parts.push(renderScenario('leap-day (hourly backups to 2024-03-05T10:00Z)', yearOfHourly('2024-03-05T10:00:00Z'), '2024-03-05T10:20:00Z'));
  // Spring forward 2024-03-31: the hourly window holds a 23-hour London day with no 01:xx bucket.
  parts.push(renderScenario('spring-forward (to 2024-04-02T23:00Z)', yearOfHourly('2024-04-02T23:00:00Z'), '2024-04-03T00:00:00Z'));
  // Fall back 2024-10-27: the repeated 01:xx hour is one bucket, so one of its two backups goes.
  parts.push(renderScenario('fall-back (to 2024-10-29T12:00Z)', yearOfHourly('2024-10-29T12:00:00Z'), '2024-10-29T12:30:00Z'));
  // Year end, with pins, a pre-restore safety backup, and files that are not valid backups.
  const extras: RetentionCandidate[] = [
    backup('2024-02-15T09:17:00Z', { reason: 'pre-migration-20240215_add_orders', pinned: true }),
    backup('2024-12-20T14:00:00Z', { reason: 'pre-restore' }),
    backup('2024-11-01T14:00:00Z', { reason: 'pre-restore' }),
    backup('2024-05-05T05:05:00Z', { reason: 'manual', pinned: true, pinnedUntil: new Date('2025-05-05T00:00:00Z') }),
    backup('2024-05-06T05:05:00Z', { reason: 'manual', pinned: true, pinnedUntil: new Date('2024-12-01T00:00:00Z') }),
    backup('2024-12-30T12:30:00Z', { reason: 'manual', status: 'corrupt', verified: false, detail: 'verification failed: table users: checksum mismatch' }),
    backup('2024-03-01T00:00:00Z', { reason: 'manual', status: 'unfinished', detail: 'backup file without a valid manifest' }),
    { file: 'notes.txt', createdAt: null, reason: null, pinned: false, pinnedUntil: null, verified: null, status: 'foreign' },
  ];
  parts.push(renderScenario('year-end with pins and strays (to 2024-12-31T23:00Z)', [...yearOfHourly('2024-12-31T23:00:00Z'), ...extras], '2025-01-01T00:10:00Z'));
  return parts.join('\n');
}

describe('golden: a year of backups', () => {
  it('matches tests/policy/golden/retention-2024.txt', { timeout: 120_000 }, () => {
    const text = goldenText();
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, text);
    expect(text).toBe(readFileSync(GOLDEN, 'utf8'));
  });
});
