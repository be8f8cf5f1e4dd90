/**
 * Tiered retention: which backups to keep and which to remove. Pure: the caller passes the list,
 * the policy and `now`; nothing here reads the disk or the clock.
 *
 * The model is restic's `forget --keep-within-hourly 7d --keep-within-daily 30d
 * --keep-within-weekly 3m --keep-within-monthly 1y` (internal/restic/snapshot_policy.go):
 * - Each rule cuts time into natural calendar buckets in the policy's time zone: the wall-clock
 *   hour, the day, the ISO week (Monday to Sunday) and the month.
 * - Within a rule's window, the newest backup of each bucket is kept. Rules combine by OR; a
 *   backup kept by several rules lists every reason.
 * - Windows are measured back from the NEWEST backup (not from `now`), with calendar arithmetic
 *   in the policy's time zone, and a backup is inside when strictly after the cutoff, as restic
 *   does. So if backups stop being taken, retention stops eating the last ones: a broken backup
 *   job never leads to everything being pruned. Backups dated after `now` (a skewed clock) do not
 *   anchor the windows, as in restic.
 * - Pins are the only thing measured from `now`: a pin with an expiry protects until that instant.
 *
 * - Like restic's groups (host + paths), the policy runs once per source database: backups of one
 *   database never make retention remove a backup of another. Only full backups of the regular
 *   kinds (manual, scheduled, post-migration, drill) fill the hour/day/week/month buckets and anchor
 *   the windows; a safety copy or a partial backup can never take a real backup's bucket.
 * - As restic does (snapshot_policy.go: `nr == len(list)-1`), the oldest bucketed backup of a
 *   database is kept by every rule whose window it lies in, even when a newer backup holds its
 *   bucket: the history reaches as far back as the policy allows.
 * - Month arithmetic clamps (31 March minus 1 month is 29 February), where restic's Go
 *   `AddDate` rolls over (to 2 March): the clamped cutoff is earlier, so the window is longer and
 *   keeps more. We keep ours: it is the safer side.
 * - Kinds with rules of their own: pre-migration snapshots are pinned for ever; pre-restore safety
 *   copies for `preRestorePin`; pre-delete, `--tables` and schema-only backups are kept for
 *   `partial`, measured back from the database's newest backup like the windows.
 *
 * On top of restic, some backups are never removed:
 * - pinned backups (pre-migration snapshots, user pins; pre-restore backups for
 *   `policy.preRestorePin` unless their manifest says until when),
 * - per database: the newest full backup that passed verification, the newest full backup and
 *   the newest backup of any kind (so no database loses the backup `latest` would restore),
 * - anything that is not a valid backup of ours (status corrupt, unfinished or foreign): those are
 *   reported for a human to look at, never deleted by retention.
 * And like restic, an empty policy (every rule disabled) keeps everything.
 */
import { DateTime, Duration, IANAZone } from 'luxon';
import { ExitCode, GuardError } from '../core/errors.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { backupNamesOfManifest, isTemporaryName, MANIFEST_SUFFIX, manifestFileName, parseBackupFileName } from '../format/naming.ts';
import { describeLocation, kindFromReason, sameLocation, type BackupKind, type BackupScope } from '../format/source.ts';

/** A calendar duration; the units luxon's `minus` understands. */
export interface RetentionDuration {
  years?: number;
  months?: number;
  weeks?: number;
  days?: number;
  hours?: number;
  minutes?: number;
}

/**
 * Retention settings. Durations are strings: restic style (`7d`, `3m` = three months, `1y`,
 * `12h`, combinations such as `1y6m`) or ISO 8601 (`P7D`, `P3M`, `PT12H`). `null` or `'0'`
 * disables a rule.
 */
export interface RetentionPolicy {
  /** Keep the newest backup of each hour for this long (default `7d`). */
  hourly: string | null;
  /** Keep the newest backup of each day for this long (default `30d`). */
  daily: string | null;
  /** Keep the newest backup of each ISO week for this long (default `3m`). */
  weekly: string | null;
  /** Keep the newest backup of each month for this long (default `1y`). */
  monthly: string | null;
  /** IANA zone in which hours, days, weeks and months are counted (default `Europe/London`). */
  timeZone: string;
  /** How long a pre-restore safety backup stays pinned when its manifest does not say (default `30d`). */
  preRestorePin: string;
  /** How long pre-delete, `--tables` and schema-only backups are kept (default `30d`; null/`0`: only while newest). */
  partial?: string | null;
}

/** The default: hourly 7 days, daily 30 days, weekly 3 months, monthly 1 year, UK time. */
export const DEFAULT_POLICY: Readonly<RetentionPolicy> = Object.freeze({
  hourly: '7d',
  daily: '30d',
  weekly: '3m',
  monthly: '1y',
  timeZone: 'Europe/London',
  preRestorePin: '30d',
  partial: '30d',
});

/** What retention knows about one file of the backup folder. */
export type CandidateStatus = 'ok' | 'corrupt' | 'unfinished' | 'foreign';

export interface RetentionCandidate {
  /** File name (no directory). */
  file: string;
  /** When the backup was taken; null when unknown (foreign files). */
  createdAt: Date | null;
  /** The backup's reason (`scheduled-daily`, `pre-migration`, `manual`...); null when unknown. */
  reason: string | null;
  /**
   * Pinned by its manifest (user pin, pre-restore backup). Whatever this says, a backup whose
   * reason is pre-migration is pinned for ever, and an unpinned pre-restore backup is pinned
   * until `pinnedUntil` or for `policy.preRestorePin` after `createdAt`.
   */
  pinned: boolean;
  /** End of the pin; null means for ever when `pinned`. */
  pinnedUntil: Date | null;
  /** Result of the last verification: true passed, false failed, null never verified. */
  verified: boolean | null;
  status: CandidateStatus;
  /** Why the status is not `ok`, for the report. */
  detail?: string;
  /** Its kind (manifest); default: implied by `reason`. */
  kind?: BackupKind | null;
  /** What it holds (manifest); default full. */
  scope?: BackupScope['type'] | null;
  /** The source database it belongs to (a fingerprint or a location key); retention runs per database. Default: one shared group. */
  database?: string | null;
  /** A readable name of that database, for reports. */
  databaseLabel?: string;
}

/** The kind of a candidate: its own, else the one its reason implies. */
function kindOf(c: RetentionCandidate): BackupKind {
  return c.kind ?? (c.reason ? kindFromReason(c.reason) : 'manual');
}

/** A full backup of a regular kind: the backups that the buckets are about. */
function isBucketed(c: RetentionCandidate): boolean {
  const kind = kindOf(c);
  return (c.scope ?? 'full') === 'full' && kind !== 'pre-restore' && kind !== 'pre-delete' && kind !== 'pre-migration';
}

/** A backup `latest` may restore: full scope, not a safety copy (pre-migration snapshots are whole databases). */
function isWhole(c: RetentionCandidate): boolean {
  const kind = kindOf(c);
  return (c.scope ?? 'full') === 'full' && kind !== 'pre-restore' && kind !== 'pre-delete';
}

export interface KeptBackup {
  candidate: RetentionCandidate;
  /** Every reason it is kept, e.g. `daily within 30d`, `pinned`, `newest verified backup`. */
  reasons: string[];
}

export interface ReportedFile {
  candidate: RetentionCandidate;
  /** What is wrong, for a human to act on. */
  problem: string;
}

/**
 * The decision. Every candidate is in exactly one list; `keep` and `remove` are newest first,
 * `report` holds every candidate whose status is not `ok` (never removed).
 */
export interface RetentionDecision {
  keep: KeptBackup[];
  remove: RetentionCandidate[];
  report: ReportedFile[];
  /** The newest of the databases' anchors (see `groups`), or null. */
  anchor: Date | null;
  /** Per source database: the instant its windows are measured from (its newest bucketed backup not after `now`). */
  groups: { database: string; label: string; anchor: Date | null; backups: number }[];
}

const RESTIC_DURATION_RE = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$/;

/**
 * Parses a retention duration: restic style (`7d`, `3m` months, `1y`, `12h`, `2w`, combined as
 * `1y2m3d4h`) or ISO 8601 (`P7D`, `P1Y`, `PT12H`). Returns null for a disabled rule (`0`,
 * empty, or null).
 * @throws GuardError `POLICY_INVALID` (exit code USAGE)
 */
/** A positive duration (`9h`, `1d`, `30m`) in ms; throws an Error naming `name` otherwise. */
export function durationMsOf(text: string, name: string): number {
  const d = parseDuration(text);
  if (!d) throw new Error(`${name} must be a positive duration such as 9h or 1d`);
  return Duration.fromObject(d).as('milliseconds');
}

export function parseDuration(text: string | null | undefined): RetentionDuration | null {
  const s = (text ?? '').trim();
  if (s === '' || s === '0') return null;
  let d: RetentionDuration | null = null;
  const m = RESTIC_DURATION_RE.exec(s);
  if (m && m.slice(1).some((x) => x !== undefined)) {
    const [, y, mo, w, dd, h] = m.map((x) => (x === undefined ? 0 : Number(x)));
    d = { years: y, months: mo, weeks: w, days: dd, hours: h };
  } else if (/^P/i.test(s) && /\d/.test(s)) {
    const iso = Duration.fromISO(s.toUpperCase());
    if (iso.isValid) {
      const o = iso.toObject();
      if ((o.seconds ?? 0) === 0 && (o.milliseconds ?? 0) === 0 && (o.quarters ?? 0) === 0) {
        d = { years: o.years ?? 0, months: o.months ?? 0, weeks: o.weeks ?? 0, days: o.days ?? 0, hours: o.hours ?? 0, minutes: o.minutes ?? 0 };
      }
    }
  }
  if (!d || Object.values(d).some((v) => !Number.isInteger(v) || v < 0)) {
    throw new GuardError('POLICY_INVALID', `"${s}" is not a retention duration.`, {
      exitCode: ExitCode.USAGE,
      hint: 'Use e.g. 12h, 7d, 2w, 3m (months), 1y, 1y6m, or ISO 8601 such as P30D; 0 disables the rule.',
    });
  }
  if (Object.values(d).every((v) => v === 0)) return null;
  return d;
}

/** The duration as restic prints it (`7d`, `3m`, `1y2m`), for keep reasons. */
function formatDuration(d: RetentionDuration): string {
  const parts: Array<[number | undefined, string]> = [
    [d.years, 'y'],
    [d.months, 'm'],
    [d.weeks, 'w'],
    [d.days, 'd'],
    [d.hours, 'h'],
    [d.minutes, 'min'],
  ];
  return parts.filter(([n]) => n).map(([n, u]) => `${n}${u}`).join('');
}

/** One retention rule: a bucket function over wall-clock time and how far back it reaches. */
interface BucketRule {
  name: 'hourly' | 'daily' | 'weekly' | 'monthly';
  bucket: (t: DateTime) => string;
}

// Bucket keys are readable wall-clock labels in the policy zone (restic uses YYYYMMDDHH integers).
// In the autumn fold the repeated hour is one bucket (two real hours), in spring the skipped
// hour has no bucket: natural calendar semantics.
const RULES: readonly BucketRule[] = [
  { name: 'hourly', bucket: (t) => t.toFormat("yyyy-MM-dd'T'HH") },
  { name: 'daily', bucket: (t) => t.toFormat('yyyy-MM-dd') },
  { name: 'weekly', bucket: (t) => t.toFormat("kkkk-'W'WW") },
  { name: 'monthly', bucket: (t) => t.toFormat('yyyy-MM') },
];

/** Validates a policy and parses its durations once. */
function compilePolicy(policy: RetentionPolicy) {
  if (!IANAZone.isValidZone(policy.timeZone)) {
    throw new GuardError('POLICY_INVALID', `The retention time zone "${policy.timeZone}" is not an IANA time zone.`, {
      exitCode: ExitCode.USAGE,
      hint: 'Use a zone name such as Europe/London or UTC.',
    });
  }
  const rules = RULES.map((r) => ({ ...r, within: parseDuration(policy[r.name]) }));
  const preRestorePin = parseDuration(policy.preRestorePin);
  const partial = parseDuration(policy.partial === undefined ? DEFAULT_POLICY.partial : policy.partial);
  return { rules, preRestorePin, partial };
}

function byNewest(a: RetentionCandidate, b: RetentionCandidate): number {
  const d = (b.createdAt as Date).getTime() - (a.createdAt as Date).getTime();
  // Ties broken by name so the result does not depend on input order.
  return d !== 0 ? d : a.file < b.file ? 1 : a.file > b.file ? -1 : 0;
}

/** Why a non-ok candidate is reported. */
function problemOf(c: RetentionCandidate): string {
  const base =
    c.status === 'corrupt'
      ? 'corrupt backup (failed verification or unreadable manifest): inspect it with `prisma-guard verify`, then delete it by hand'
      : c.status === 'unfinished'
        ? 'unfinished backup (interrupted write or missing manifest): check no backup is running, then delete it by hand'
        : 'not a prisma-guard backup: left alone';
  return c.detail ? `${base}; ${c.detail}` : base;
}

/**
 * Decides what to keep and remove (see the module comment for the semantics).
 * @param backups every file of the backup folder, as candidates (see {@link candidatesFromManifests})
 * @param policy the retention policy
 * @param now the current time: decides only whether pins have expired and which backups are in the future
 * @throws GuardError `POLICY_INVALID` for an invalid policy
 */
export function applyPolicy(backups: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionDecision {
  const compiled = compilePolicy(policy);
  const report: ReportedFile[] = [];
  const groups = new Map<string, RetentionCandidate[]>();
  for (const c of backups) {
    if (c.status === 'ok' && c.createdAt && !Number.isNaN(c.createdAt.getTime())) {
      const key = c.database ?? '';
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(c);
    } else if (c.status === 'ok') report.push({ candidate: c, problem: 'backup without a valid creation time: left alone' });
    else report.push({ candidate: c, problem: problemOf(c) });
  }
  const keep: KeptBackup[] = [];
  const remove: RetentionCandidate[] = [];
  const summary: RetentionDecision['groups'] = [];
  for (const [database, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const d = decideGroup(list, compiled, policy.timeZone, now);
    keep.push(...d.keep);
    remove.push(...d.remove);
    summary.push({ database, label: list.find((c) => c.databaseLabel)?.databaseLabel ?? (database || 'all backups'), anchor: d.anchor, backups: list.length });
  }
  keep.sort((a, b) => byNewest(a.candidate, b.candidate));
  remove.sort(byNewest);
  const anchors = summary.map((g) => g.anchor).filter((a): a is Date => a !== null);
  const anchor = anchors.length ? new Date(Math.max(...anchors.map((a) => a.getTime()))) : null;
  return { keep, remove, report, anchor, groups: summary };
}

/** The policy over the backups of one database. */
function decideGroup(list: RetentionCandidate[], compiled: ReturnType<typeof compilePolicy>, zone: string, now: Date): { keep: KeptBackup[]; remove: RetentionCandidate[]; anchor: Date | null } {
  const { rules, preRestorePin, partial } = compiled;
  const nowMs = now.getTime();
  const valid = [...list].sort(byNewest);
  const bucketed = valid.filter(isBucketed);
  const anchorOf = (cs: RetentionCandidate[]) => cs.find((c) => (c.createdAt as Date).getTime() <= nowMs)?.createdAt ?? null;
  // Windows are measured from the newest real backup; a database with only side backups measures from its newest backup.
  const anchor = anchorOf(bucketed) ?? anchorOf(valid);
  const anchorDt = anchor ? DateTime.fromJSDate(anchor, { zone }) : null;
  const active = rules
    .filter((r) => r.within !== null)
    .map((r) => ({
      ...r,
      // No anchor (every backup in the future): no cutoff, the safe side.
      cutoff: anchorDt ? anchorDt.minus(r.within as RetentionDuration).toMillis() : -Infinity,
      reason: `${r.name} within ${formatDuration(r.within as RetentionDuration)}`,
      seen: new Set<string>(),
    }));
  const partialCutoff = partial && anchorDt ? anchorDt.minus(partial).toMillis() : partial ? -Infinity : Infinity;
  const policyEmpty = active.length === 0;
  const newestWhole = valid.find(isWhole);
  const newestVerifiedWhole = valid.find((c) => isWhole(c) && c.verified === true);
  const oldestBucketed = bucketed[bucketed.length - 1];

  const keep: KeptBackup[] = [];
  const remove: RetentionCandidate[] = [];
  valid.forEach((c, index) => {
    const t = (c.createdAt as Date).getTime();
    const reasons: string[] = [];
    const pin = pinReason(c, now, preRestorePin, zone);
    if (pin) reasons.push(pin);
    if (index === 0) reasons.push('newest backup');
    if (c === newestWhole && index !== 0) reasons.push('newest full backup');
    if (c === newestVerifiedWhole) reasons.push('newest verified backup');
    if (policyEmpty) reasons.push('policy is empty');
    if (isBucketed(c)) {
      const local = DateTime.fromJSDate(c.createdAt as Date, { zone });
      for (const r of active) {
        if (t <= r.cutoff) continue;
        const key = r.bucket(local);
        // Newest first, so the first backup seen in a bucket is its newest; the oldest is kept too (restic).
        if (r.seen.has(key) && c !== oldestBucketed) continue;
        r.seen.add(key);
        reasons.push(r.reason);
      }
    } else if (kindOf(c) !== 'pre-restore' && kindOf(c) !== 'pre-migration' && t > partialCutoff) {
      reasons.push(`${describeKind(c)} within ${formatDuration(partial!)}`);
    }
    if (reasons.length > 0) keep.push({ candidate: c, reasons });
    else remove.push(c);
  });
  return { keep, remove, anchor };
}

function describeKind(c: RetentionCandidate): string {
  const scope = c.scope ?? 'full';
  return scope === 'full' ? kindOf(c) : scope;
}

/** The pin protecting `c` at `now`, as a keep reason, or null. */
function pinReason(c: RetentionCandidate, now: Date, preRestorePin: RetentionDuration | null, zone: string): string | null {
  let until: Date | null;
  let label: string;
  if (kindOf(c) === 'pre-migration') {
    // The state before a migration is the one backup that cannot be re-taken: for ever.
    return 'pinned (pre-migration)';
  } else if (c.pinned) {
    // The manifest's pin wins: null pinnedUntil means for ever (manifest.ts).
    until = c.pinnedUntil;
    label = kindOf(c) === 'pre-restore' ? 'pinned (pre-restore)' : 'pinned';
  } else if (kindOf(c) === 'pre-restore') {
    if (!c.pinnedUntil && !preRestorePin) return null;
    until = c.pinnedUntil ?? DateTime.fromJSDate(c.createdAt as Date, { zone }).plus(preRestorePin as RetentionDuration).toJSDate();
    label = 'pinned (pre-restore)';
  } else {
    return null;
  }
  if (!until) return label;
  if (until.getTime() <= now.getTime()) return null;
  return `${label} until ${until.toISOString()}`;
}

/**
 * Turns what is in a backup folder into retention candidates.
 * @param manifests the valid manifests read from the folder (each describing a backup file that exists)
 * @param strayFiles names of the other entries of the folder; names of the manifests' backups and
 *   of their manifest files are ignored, so passing the whole listing is fine
 *
 * A manifest whose verification failed is `corrupt`. Among stray files: temporary writer files and
 * backup files without a manifest are `unfinished`, manifest files not among `manifests`
 * (unreadable, invalid, or orphaned) are `corrupt`, anything else is `foreign`.
 */
export function candidatesFromManifests(manifests: readonly BackupManifest[], strayFiles: readonly string[]): RetentionCandidate[] {
  const out: RetentionCandidate[] = [];
  const known = new Set<string>();
  const databaseOf = databaseKeys(manifests);
  for (const m of manifests) {
    known.add(m.file);
    if (parseBackupFileName(m.file)) known.add(manifestFileName(m.file));
    const createdAt = new Date(m.createdAt);
    const failed = m.verification?.ok === false;
    const pinnedUntil = m.pinnedUntil ? new Date(m.pinnedUntil) : null;
    out.push({
      file: m.file,
      createdAt: Number.isNaN(createdAt.getTime()) ? null : createdAt,
      reason: m.reason,
      pinned: m.pinned,
      pinnedUntil: pinnedUntil && !Number.isNaN(pinnedUntil.getTime()) ? pinnedUntil : null,
      verified: m.verification ? m.verification.ok : null,
      status: failed ? 'corrupt' : 'ok',
      detail: failed ? `verification at ${m.verification?.at} failed: ${m.verification?.error ?? 'no detail'}` : undefined,
      kind: m.kind,
      scope: m.scope.type,
      database: databaseOf(m),
      databaseLabel: describeLocation(m.source),
    });
  }
  for (const name of strayFiles) {
    if (known.has(name)) continue;
    known.add(name);
    const parsed = parseBackupFileName(name);
    const base = { file: name, pinned: false, pinnedUntil: null, verified: null };
    if (isTemporaryName(name)) {
      out.push({ ...base, createdAt: null, reason: null, status: 'unfinished', detail: 'temporary file left by an interrupted backup' });
    } else if (parsed) {
      out.push({ ...base, createdAt: parsed.createdAt, reason: parsed.reason, status: 'unfinished', detail: 'backup file without a valid manifest' });
    } else if (name.endsWith(MANIFEST_SUFFIX) && parseBackupFileName(backupNamesOfManifest(name)[0])) {
      const p = parseBackupFileName(backupNamesOfManifest(name)[0]);
      out.push({ ...base, createdAt: p?.createdAt ?? null, reason: p?.reason ?? null, status: 'corrupt', detail: 'manifest that could not be read or validated, or whose backup file is missing' });
    } else {
      out.push({ ...base, createdAt: null, reason: null, status: 'foreign' });
    }
  }
  return out;
}

/**
 * The retention group of each manifest: its source fingerprint. A version-1 backup (no fingerprint)
 * joins the database found at the same location when there is exactly one, else a group of its
 * location: it is never pooled with another database's backups.
 */
export function databaseKeys(manifests: readonly Pick<BackupManifest, 'source'>[]): (m: Pick<BackupManifest, 'source'>) => string {
  const fingerprinted = manifests.filter((m) => m.source.fingerprint);
  return (m) => {
    if (m.source.fingerprint) return m.source.fingerprint;
    const there = [...new Set(fingerprinted.filter((o) => sameLocation(o.source, m.source)).map((o) => o.source.fingerprint!))];
    return there.length === 1 ? there[0] : `location:${describeLocation(m.source)}`;
  };
}
