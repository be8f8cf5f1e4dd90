import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GuardError, messageOf } from '../core/errors.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { isSectionName, manifestFileName, parseBackupFileName } from '../format/naming.ts';
import { sectionsOf } from '../format/sections.ts';
import { applyPolicy, candidatesFromManifests, databaseKeys, DEFAULT_POLICY, type RetentionDecision, type RetentionPolicy } from '../policy/retention.ts';
import { SERVER_STATE_DIR, type OpsContext } from './context.ts';
import { describeScope } from '../format/source.ts';
import { isSchedulerStateName } from './scheduler-state.ts';
import { listBackups, readManifest } from './store.ts';
import { listLocation, readAll } from './offsite.ts';
import type { StorageBackend } from '../storage/contract.ts';
import { validateManifest } from '../format/validate.ts';

/** Environment variables of the retention policy (unset or empty: the default). */
export const RETENTION_ENV = {
  hourly: 'BACKUP_KEEP_HOURLY',
  daily: 'BACKUP_KEEP_DAILY',
  weekly: 'BACKUP_KEEP_WEEKLY',
  monthly: 'BACKUP_KEEP_MONTHLY',
  /** Zone of the hour/day/week/month buckets; falls back to BACKUP_SCHEDULE_TZ, then Europe/London. */
  timeZone: 'BACKUP_RETENTION_TZ',
  preRestorePin: 'BACKUP_PRE_RESTORE_PIN',
  /** How long pre-delete, --tables and schema-only backups are kept. */
  partial: 'BACKUP_KEEP_PARTIAL',
} as const;

function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/**
 * The retention policy from the environment, over {@link DEFAULT_POLICY} (hourly 7d, daily 30d,
 * weekly 3m, monthly 1y, Europe/London). Validated: a bad duration or zone throws POLICY_INVALID.
 */
export function retentionPolicyFromEnv(env: Record<string, string | undefined>): RetentionPolicy {
  const policy: RetentionPolicy = {
    hourly: envValue(env, RETENTION_ENV.hourly) ?? DEFAULT_POLICY.hourly,
    daily: envValue(env, RETENTION_ENV.daily) ?? DEFAULT_POLICY.daily,
    weekly: envValue(env, RETENTION_ENV.weekly) ?? DEFAULT_POLICY.weekly,
    monthly: envValue(env, RETENTION_ENV.monthly) ?? DEFAULT_POLICY.monthly,
    timeZone: envValue(env, RETENTION_ENV.timeZone) ?? envValue(env, 'BACKUP_SCHEDULE_TZ') ?? DEFAULT_POLICY.timeZone,
    preRestorePin: envValue(env, RETENTION_ENV.preRestorePin) ?? DEFAULT_POLICY.preRestorePin,
    partial: envValue(env, RETENTION_ENV.partial) ?? DEFAULT_POLICY.partial,
  };
  applyPolicy([], policy, new Date()); // validates durations and zone now, not at the first prune
  return policy;
}

/** One file of the backup folder and what retention does with it. */
export interface PruneEntry {
  file: string;
  createdAt: string | null;
  reason: string | null;
  /** Kind, scope and source database (label) from the manifest; null for reported files. */
  kind: string | null;
  scope: string | null;
  database: string | null;
  /** keep: retained (see `why`); remove: deleted (or would be, with --dry-run); report: not a valid backup, left for a human. */
  action: 'keep' | 'remove' | 'report';
  /** Keep reasons (`daily within 30d`, `pinned`, `newest verified backup`...) or the problem of a reported file. */
  why: string[];
  sizeBytes: number | null;
  verified: boolean | null;
}

export interface PruneResult {
  dryRun: boolean;
  now: string;
  policy: RetentionPolicy;
  /** The newest backup the windows are measured back from. */
  anchor: string | null;
  /** Every file, newest first within keep/remove, then reported ones. */
  entries: PruneEntry[];
  /** Files actually deleted (backup and its manifest); empty on a dry run. */
  removed: string[];
  /** Deletions that failed, or were skipped because the manifest changed meanwhile (pinned). */
  failed: Array<{ file: string; error: string }>;
  /** Bytes freed (or that would be). */
  freedBytes: number;
  decision: RetentionDecision;
  /** Incremental backups' section objects (collectSections). */
  sections: SectionCollection;
}

/**
 * How long a section no kept backup lists stays anyway (BACKUP_SECTION_GRACE overrides it): a
 * backup running now may have written it (its manifest comes last) or chosen to refer to it (it
 * touches the section first), and a backup that failed leaves its new sections for the next one to
 * replace.
 */
export const SECTION_GRACE_MS = 24 * 3600_000;

export interface SectionCollection {
  /** Section objects deleted (or that would be, on a dry run): no remaining backup lists them. */
  removed: string[];
  /** Sections kept because a remaining backup lists them. */
  referenced: number;
  /** Unlisted sections younger than SECTION_GRACE_MS, kept for now. */
  young: number;
  freedBytes: number;
  failed: Array<{ file: string; error: string }>;
  /** Why no section was deleted at all (a backup whose references cannot be known). */
  skipped?: string;
}

export interface PruneOptions {
  policy?: RetentionPolicy;
  /** Only report what would be deleted. */
  dryRun?: boolean;
  /**
   * Prune another location (an offsite copy, BACKUP_COPY_TO) instead of the backup folder, with the
   * same policy and the same guarantees: what the decision keeps and the newest verified full backup
   * of each database stay.
   */
  location?: StorageBackend;
}

/** What prune sees of a place that holds backups, and how it deletes one. */
interface PruneView {
  manifests: BackupManifest[];
  /** Every name there (for unfinished, orphaned and foreign files, which are only reported). */
  names: string[];
  deleteBackup(file: string): Promise<void>;
  /** The section objects there (regular files / stored objects only). */
  sections(): Promise<Array<{ name: string; size: number; modifiedAt: Date }>>;
  removeSection(name: string): Promise<void>;
}

async function folderView(backupDir: string): Promise<PruneView> {
  const listing = await listBackups(backupDir);
  let names: string[] = [];
  try {
    names = await fs.readdir(backupDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return {
    manifests: listing.backups,
    names,
    deleteBackup: (file) => deleteBackup(backupDir, file),
    async sections() {
      const out: Array<{ name: string; size: number; modifiedAt: Date }> = [];
      for (const name of names.filter(isSectionName)) {
        const st = await fs.lstat(path.join(backupDir, name)).catch(() => null);
        if (st?.isFile()) out.push({ name, size: st.size, modifiedAt: st.mtime });
      }
      return out;
    },
    removeSection: (name) => fs.rm(path.join(backupDir, path.basename(name))),
  };
}

async function locationView(remote: StorageBackend): Promise<PruneView> {
  const manifests = await listLocation(remote);
  const names = (await remote.list()).map((o) => o.name);
  return {
    manifests,
    names,
    async deleteBackup(file) {
      if (!parseBackupFileName(file) || path.basename(file) !== file) throw new Error(`${file} is not a backup file name`);
      // Re-read the manifest: a copy pinned since the listing is kept. The backup goes first (see deleteBackup).
      const m = JSON.parse((await readAll(await remote.read(manifestFileName(file)))).toString('utf8')) as BackupManifest;
      validateManifest(m, manifestFileName(file));
      if (m.pinned) throw new Error('pinned since the location was read; kept');
      await remote.remove(file);
      await remote.remove(manifestFileName(file));
    },
    async sections() {
      return (await remote.list()).filter((o) => o.kind === 'object' && isSectionName(o.name)).map((o) => ({ name: o.name, size: o.size, modifiedAt: o.modifiedAt }));
    },
    removeSection: (name) => remote.remove(name),
  };
}

/**
 * Deletes the section objects that no remaining backup lists, once SECTION_GRACE_MS old. Nothing is
 * deleted while the location holds a backup file without a valid manifest: its references are not
 * known (`verify` rebuilds its manifest, and the next prune collects).
 */
async function collectSections(ctx: OpsContext, view: PruneView, remaining: readonly BackupManifest[], dryRun: boolean, location?: string): Promise<SectionCollection> {
  const out: SectionCollection = { removed: [], referenced: 0, young: 0, freedBytes: 0, failed: [] };
  const stored = await view.sections();
  if (!stored.length) return out;
  const listed = new Set(view.manifests.map((m) => m.file));
  const unknown = view.names.filter((n) => parseBackupFileName(n) && !listed.has(n));
  if (unknown.length) {
    out.skipped = `${unknown[0]}${unknown.length > 1 ? ` and ${unknown.length - 1} other backup(s)` : ''} has no valid manifest, so the sections it refers to are not known; run \`prisma-guard verify\` on it (or remove it)`;
    out.referenced = stored.length;
    return out;
  }
  const referenced = sectionsOf(remaining);
  const cutoff = ctx.clock.now().getTime() - (ctx.sectionGraceMs ?? SECTION_GRACE_MS);
  for (const s of stored) {
    if (referenced.has(s.name)) out.referenced++;
    else if (s.modifiedAt.getTime() > cutoff) out.young++;
    else if (dryRun) {
      out.removed.push(s.name);
      out.freedBytes += s.size;
    } else {
      try {
        await view.removeSection(s.name);
        out.removed.push(s.name);
        out.freedBytes += s.size;
        ctx.reporter.event('prune.section-removed', { ...(location ? { location } : {}), file: s.name, sizeBytes: s.size });
      } catch (e) {
        out.failed.push({ file: s.name, error: messageOf(e) });
      }
    }
  }
  return out;
}


/**
 * Applies the retention policy to the backup folder: the pure decision is
 * `applyPolicy` (lib/policy/retention.ts); this reads the folder, then deletes each removed backup
 * together with its manifest. It never deletes what the decision keeps, nor the newest verified
 * backup, nor a backup pinned since the folder was read; corrupt, unfinished and foreign files are
 * only reported.
 */
export async function prune(ctx: OpsContext, options: PruneOptions = {}): Promise<PruneResult> {
  const policy = options.policy ?? DEFAULT_POLICY;
  const now = ctx.clock.now();
  // An object-storage BACKUP_DIR is pruned where the backups are (pending uploads in the working folder are not touched).
  const where = options.location ?? ctx.primary;
  const view = where ? await locationView(where) : await folderView(ctx.backupDir);
  const listing = { backups: view.manifests };
  const candidates = candidatesFromManifests(
    listing.backups,
    // prisma-guard's own files in the folder (run state, the dashboard's folder, migrate-safe reports) and a repository's
    // .gitkeep are neither backups nor strays worth reporting.
    // Section objects are collected below, by what the remaining backups refer to.
    view.names.filter((n) => !isSchedulerStateName(n) && n !== '.gitkeep' && n !== SERVER_STATE_DIR && !/^migrate-report-.*\.json$/.test(n) && !isSectionName(n)),
  );
  const decision = applyPolicy(candidates, policy, now);
  const byFile = new Map<string, BackupManifest>(listing.backups.map((m) => [m.file, m]));

  // Belt and braces over the pure policy: the newest verified full backup of every database is
  // never a deletion candidate (listing.backups is newest first).
  const databaseOf = databaseKeys(listing.backups);
  const protectedFiles = new Map<string, string>();
  for (const m of listing.backups) {
    const key = databaseOf(m);
    if (!protectedFiles.has(key) && m.verification?.ok === true && m.scope.type === 'full' && m.kind !== 'pre-restore' && m.kind !== 'pre-delete') protectedFiles.set(key, m.file);
  }
  const wrong = decision.remove.find((c) => [...protectedFiles.values()].includes(c.file));
  if (wrong) {
    throw new GuardError('INTERNAL', `Retention chose to delete ${wrong.file}, the newest verified backup of its database; nothing was deleted.`, {
      hint: 'This is a bug in prisma-guard; please report it with `prisma-guard prune --dry-run --json`.',
    });
  }

  const entries: PruneEntry[] = [
    ...decision.keep.map((k) => entry(k.candidate, 'keep', k.reasons, byFile)),
    ...decision.remove.map((c) => entry(c, 'remove', [], byFile)),
    ...decision.report.map((r) => entry(r.candidate, 'report', [r.problem], byFile)),
  ];
  const removed: string[] = [];
  const failed: PruneResult['failed'] = [];
  let freedBytes = 0;
  for (const c of decision.remove) {
    const size = byFile.get(c.file)?.sizeBytes ?? 0;
    if (options.dryRun) {
      freedBytes += size;
      continue;
    }
    try {
      await view.deleteBackup(c.file);
      removed.push(c.file);
      freedBytes += size;
      ctx.reporter.event('prune.removed', { ...(options.location ? { location: options.location.location } : {}), file: c.file, createdAt: c.createdAt?.toISOString() ?? null, sizeBytes: size });
    } catch (e) {
      failed.push({ file: c.file, error: messageOf(e) });
      ctx.reporter.event('prune.failed', { file: c.file, error: messageOf(e) });
    }
  }
  // A backup whose deletion failed still counts as remaining, and so do its sections.
  const gone = new Set(options.dryRun ? decision.remove.map((c) => c.file) : removed);
  const sections = await collectSections(ctx, view, listing.backups.filter((m) => !gone.has(m.file)), Boolean(options.dryRun), options.location?.location);
  freedBytes += sections.freedBytes;
  return {
    dryRun: Boolean(options.dryRun),
    sections,
    now: now.toISOString(),
    policy,
    anchor: decision.anchor?.toISOString() ?? null,
    entries,
    removed,
    failed,
    freedBytes,
    decision,
  };
}

function entry(c: RetentionDecision['remove'][number], action: PruneEntry['action'], why: string[], byFile: Map<string, BackupManifest>): PruneEntry {
  const m = byFile.get(c.file);
  return { file: c.file, createdAt: c.createdAt?.toISOString() ?? null, reason: c.reason, kind: m?.kind ?? null, scope: m ? describeScope(m.scope) : null, database: c.databaseLabel ?? null, action, why, sizeBytes: m?.sizeBytes ?? null, verified: c.verified };
}

/**
 * Deletes one backup and its manifest. The manifest is re-read first: a backup pinned (or whose
 * manifest vanished) since the folder was listed is left alone. The backup file goes first, so an
 * interruption leaves at worst an orphan manifest (reported by `list`), never a manifest-less backup
 * that looks unfinished.
 */
export async function deleteBackup(backupDir: string, file: string): Promise<void> {
  if (!parseBackupFileName(file) || path.basename(file) !== file) throw new Error(`${file} is not a backup file name`);
  const mPath = path.join(backupDir, manifestFileName(file));
  const current = await readManifest(mPath);
  if (current.pinned) throw new Error('pinned since the folder was read; kept');
  await fs.rm(path.join(backupDir, file));
  await fs.rm(mPath, { force: true });
}
