import path from 'node:path';
import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { connect } from '../dialects/index.ts';
import { isKeyProblem, type DecryptionKeys } from '../pipeline/age.ts';
import { openBackup } from '../format/reader.ts';
import { describeLocation, targetLocation } from '../format/source.ts';
import { databaseKeys } from '../policy/retention.ts';
import { rankRestorable, type Candidate, type SelectionEntry, type SelectionTarget, type SkippedBackup } from '../policy/selection.ts';
import type { OpsContext } from './context.ts';
import { ensureBackupDir, listBackups, type BackupListing } from './store.ts';
import { copyBackup, listLocation } from './offsite.ts';
import { LocalStorage } from '../storage/local/local-storage.ts';
import type { StorageBackend } from '../storage/contract.ts';
import { parseBackupFileName } from '../format/naming.ts';
import { verifyBackup } from './verify.ts';
import { backupsLocation, damagedSectionAt, primaryListing, recordedVerificationHolds, resolveAtPrimary, type PrimaryListing } from './primary.ts';
import { trustOf } from './trust.ts';
import type { BackupManifest } from '../format/manifest.ts';

/** What `latest` resolved to, and what it passed over. */
export interface LatestChoice {
  file: string;
  path: string;
  createdAt: string;
  /** How the backup was found to be of the target: its fingerprint, or (no fingerprint to compare) its location. */
  matchedBy: 'fingerprint' | 'location';
  /** Backups that are not what `latest` means for this database, newest first, with the reason. */
  skipped: SkippedBackup[];
  /** Newer candidates that failed verification (only when verification was asked for). */
  failed: { file: string; error: string }[];
  /** The database `latest` was resolved for. */
  target: string;
  /** Set when the local folder had no backup of the target and this one was fetched from BACKUP_COPY_TO. */
  fetchedFrom?: string;
}

export interface ChooseOptions {
  /** Only a backup that verifies (a recorded verification of these bytes, else a full one now). */
  verify?: boolean;
  /**
   * When the local folder holds no backup the target could restore from (a disk that died), fetch
   * the newest one of the target from BACKUP_COPY_TO into the local folder (copied, then hashed
   * against its manifest) and choose from there. Restore and emergency-restore ask for this.
   */
  fetchOffsite?: boolean;
}

/** A manifest as selection sees it. */
function entryOf(m: BackupManifest, trust?: (m: BackupManifest | null) => SelectionEntry['trust']): SelectionEntry {
  return { file: m.file, createdAt: m.createdAt, kind: m.kind, scope: m.scope, source: m.source, verified: m.verification ? m.verification.ok : null, trust: trust?.(m) };
}

/**
 * Every backup in the folder as a selection entry: valid manifests, plus complete-looking backup
 * files whose manifest is missing or bad (their header says what they are; they count as never
 * verified). Non-regular files never get here (listBackups reports them).
 */
export async function selectionEntries(backupDir: string, listing?: BackupListing, trust?: (m: BackupManifest | null) => SelectionEntry['trust'], keys?: DecryptionKeys | null): Promise<{ entries: SelectionEntry[]; unreadable: SkippedBackup[] }> {
  const l = listing ?? (await listBackups(backupDir));
  const entries: SelectionEntry[] = l.backups.map((m) => entryOf(m, trust));
  const unreadable: SkippedBackup[] = [];
  for (const s of l.stray) {
    if (s.problem !== 'no-manifest' && s.problem !== 'bad-manifest') continue;
    try {
      // Where backups live decides how a stray is opened (a file here, an object in the bucket).
      const open = (l as Partial<PrimaryListing>).open;
      const source = open ? await open(s.file) : path.join(backupDir, s.file);
      let h: Awaited<ReturnType<typeof openBackup>>['header'];
      try {
        const opened = await openBackup(source, s.file, { keys });
        await opened.close();
        h = opened.header;
      } finally {
        if (typeof source !== 'string') await source.close();
      }
      entries.push({ file: s.file, createdAt: h.createdAt, kind: h.kind, scope: h.scope, source: h.source, verified: null, trust: trust?.(null) });
    } catch (e) {
      unreadable.push({ file: s.file, why: `its header cannot be read: ${messageOf(e)}` });
    }
  }
  return { entries, unreadable };
}

/**
 * The target as selection sees it: its location from the URL, and the fingerprint stored in the
 * database (read only: nothing is written). A database that is gone or unreachable has no
 * fingerprint to read; selection then matches on the location.
 */
export async function selectionTarget(ctx: OpsContext): Promise<SelectionTarget & { reachable: boolean }> {
  const target = ctx.target;
  const location = targetLocation(target);
  try {
    const conn = await connect(target);
    try {
      return { dialect: target.dialect, location, identity: await conn.identity(), reachable: true };
    } finally {
      await conn.close();
    }
  } catch (e) {
    if (isGuardError(e) && (e.code === 'DATABASE_UNREACHABLE' || e.code === 'DATABASE_ERROR')) return { dialect: target.dialect, location, identity: null, reachable: false };
    throw e;
  }
}

/**
 * Resolves `latest` for the context's database (README "What latest means"): the newest full backup
 * of that database; with `verify`, the newest one that also verifies (a manifest recording a
 * successful verification of exactly these bytes counts, else a full verification runs and is recorded).
 * Without a database URL, `latest` is allowed only while the folder holds backups of one database.
 */
export async function chooseLatest(ctx: OpsContext, options: ChooseOptions = {}): Promise<LatestChoice> {
  const listing = await primaryListing(ctx);
  const { entries, unreadable } = await selectionEntries(ctx.backupDir, listing, ctx.keys?.trusted ? (m) => trustOf(ctx, m) : undefined, ctx.encryption?.keys);
  let target: SelectionTarget;
  let label: string;
  if (hasUrl(ctx)) {
    target = await selectionTarget(ctx);
    label = describeLocation(target.location);
  } else {
    const key = databaseKeys(entries);
    const databases = [...new Map(entries.map((e) => [key(e), e])).values()];
    if (databases.length > 1) {
      throw new GuardError('USAGE', `The backup folder ${backupsLocation(ctx)} holds backups of ${databases.length} databases (${databases.map((e) => describeLocation(e.source)).join('; ')}), so \`latest\` needs to know which one.`, {
        hint: 'Set DATABASE_URL (or pass --url) to the database you mean, or name the backup file (`prisma-guard list`).',
      });
    }
    const only = databases[0];
    target = only ? { dialect: only.source.dialect, location: only.source, identity: only.source.fingerprint ? { fingerprint: only.source.fingerprint, method: 'stored' } : null } : { dialect: 'sqlite', location: { dialect: 'sqlite', host: null, port: null, database: '', schemas: ['main'] }, identity: null };
    label = only ? describeLocation(only.source) : 'any database';
  }
  const { candidates, skipped } = rankRestorable(entries, target, { reverify: options.verify });
  if (!candidates.length && options.fetchOffsite && ctx.copyTo) {
    const fetched = await fetchFromOffsite(ctx, target, ctx.copyTo, new Set([...listing.backups.map((b) => b.file), ...listing.stray.map((f) => f.file)]));
    if (fetched) return { ...(await chooseLatest(ctx, { verify: options.verify })), fetchedFrom: ctx.copyTo.location };
  }
  skipped.push(...unreadable);
  const failed: LatestChoice['failed'] = [];
  let keyProblem: { code: string; message: string; hint?: string } | null = null;
  for (const c of candidates) {
    if (options.verify) {
      const problem = await verificationProblem(ctx, c, listing);
      if (problem) {
        failed.push({ file: c.file, error: problem.message });
        if (isKeyProblem(problem.code)) keyProblem ??= problem;
        ctx.reporter.warn(`Skipping ${c.file}: ${problem.message}`);
        continue;
      }
    }
    return { file: c.file, path: listing.pathOf(c.file), createdAt: c.createdAt, matchedBy: c.matchedBy, skipped, failed, target: label };
  }
  // Every local candidate failed verification (a damaged disk): an intact copy offsite of a backup
  // the folder does not hold may still be there. Local files are never overwritten by a fetch.
  if (failed.length && options.fetchOffsite && ctx.copyTo && !keyProblem) {
    const fetched = await fetchFromOffsite(ctx, target, ctx.copyTo, new Set([...listing.backups.map((b) => b.file), ...listing.stray.map((f) => f.file)]));
    if (fetched) return { ...(await chooseLatest(ctx, { verify: options.verify })), fetchedFrom: ctx.copyTo.location };
  }
  // Backups that are fine but cannot be opened with the keys at hand: the missing key is the problem (exit 17), not the backups.
  if (keyProblem && failed.length === candidates.length) {
    throw new GuardError(keyProblem.code, `No backup of ${label} can be opened with the keys set here: ${keyProblem.message}`, { hint: keyProblem.hint, details: { skipped, failed } });
  }
  const others = skipped.length ? `\nNot used:\n${skipped.slice(0, 12).map((s) => `  - ${s.file}: ${s.why}`).join('\n')}${skipped.length > 12 ? `\n  ... and ${skipped.length - 12} more` : ''}` : '';
  const broken = failed.length ? `\nFailed verification:\n${failed.map((f) => `  - ${f.file}: ${f.error}`).join('\n')}` : '';
  throw new GuardError('BACKUP_NOT_FOUND', `There is no full backup of ${label} in ${backupsLocation(ctx)}${options.verify ? ' that verifies' : ''}.${broken}${others}`, {
    hint: skipped.length || failed.length ? 'To use one of the backups above anyway, name it: `prisma-guard restore <file>` (check it with `--dry-run` first).' : 'Run `prisma-guard backup` first, or check BACKUP_DIR / --backup-dir.',
    details: { skipped, failed },
  });
}

/** Null when `c` verifies; else why not. */
async function verificationProblem(ctx: OpsContext, c: Candidate, listing: PrimaryListing): Promise<{ code: string; message: string; hint?: string } | null> {
  const m = listing.backups.find((b) => b.file === c.file);
  const filePath = listing.pathOf(c.file);
  if (m?.verification?.ok && (await recordedVerificationHolds(ctx, filePath, m))) {
    // An incremental backup also needs its sections (a section deleted since is not a verified backup).
    const missing = await damagedSectionAt(ctx, filePath, m.sections ?? [], { hash: false });
    if (!missing) return null;
    return { code: 'BACKUP_CORRUPT', message: `it is incomplete: its section ${missing.object} ${missing.why}` };
  }
  ctx.reporter.info(`Verifying ${c.file}...`);
  const v = await verifyBackup(ctx, filePath);
  return v.ok ? null : { code: v.error?.code ?? 'BACKUP_CORRUPT', message: v.error?.message ?? 'verification failed', hint: v.error?.hint };
}

/** Whether a database URL was given at all (a URL that is given but wrong still throws). */
function hasUrl(ctx: OpsContext): boolean {
  try {
    void ctx.target;
    return true;
  } catch (e) {
    // parseDatabaseUrl's error for an absent URL (lib/core/url.ts).
    if (isGuardError(e) && e.code === 'DATABASE_URL_INVALID' && /^No database URL/.test(e.message)) return false;
    throw e;
  }
}

/**
 * What a command argument names: `latest` (see chooseLatest), else a file name or a path inside
 * the backup folder (store.ts resolveBackup).
 */
export async function resolveGiven(ctx: OpsContext, given: string, options: ChooseOptions = {}): Promise<{ path: string; file: string; latest?: LatestChoice }> {
  if (given === 'latest') {
    const latest = await chooseLatest(ctx, options);
    return { path: latest.path, file: latest.file, latest };
  }
  try {
    return await resolveAtPrimary(ctx, given);
  } catch (e) {
    // A backup named by its file name that is gone from the local folder, but kept offsite.
    if (!(options.fetchOffsite && ctx.copyTo && isGuardError(e) && e.code === 'BACKUP_NOT_FOUND' && parseBackupFileName(given))) throw e;
    const remote = ctx.copyTo;
    if (!(await remote.stat(given))) throw e;
    await ensureBackupDir(ctx.backupDir);
    ctx.reporter.info(`${given} is not in ${ctx.backupDir}; fetching it from ${remote.location}...`);
    await copyBackup(ctx, given, new LocalStorage(ctx.backupDir), remote);
    return resolveAtPrimary(ctx, given);
  }
}

/**
 * The local folder has no backup the target can restore from: copy the newest full backup of the
 * target that BACKUP_COPY_TO holds into it (each copy is hashed against its manifest; one that does
 * not match is not kept, and the next older one is tried). Null when the location has none.
 */
async function fetchFromOffsite(ctx: OpsContext, target: SelectionTarget, remote: StorageBackend, localFiles: ReadonlySet<string> = new Set()): Promise<string | null> {
  let manifests: BackupManifest[];
  try {
    manifests = await listLocation(remote);
  } catch (e) {
    ctx.reporter.warn(`The local folder has no backup of this database, and ${remote.location} cannot be listed: ${messageOf(e)}`);
    return null;
  }
  const entries: SelectionEntry[] = manifests.map((m) => entryOf(m, ctx.keys?.trusted ? (x) => trustOf(ctx, x) : undefined));
  const candidates = rankRestorable(entries, target, { reverify: true }).candidates.filter((c) => !localFiles.has(c.file));
  if (!candidates.length) return null;
  await ensureBackupDir(ctx.backupDir);
  for (const c of candidates) {
    ctx.reporter.info(`No backup of this database in ${ctx.backupDir}; fetching ${c.file} from ${remote.location}...`);
    try {
      await copyBackup(ctx, c.file, new LocalStorage(ctx.backupDir), remote);
      return c.file;
    } catch (e) {
      ctx.reporter.warn(`Could not fetch ${c.file} from ${remote.location}: ${messageOf(e)}`);
    }
  }
  return null;
}
