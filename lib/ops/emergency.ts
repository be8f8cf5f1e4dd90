import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { connect } from '../dialects/index.ts';
import { parseBackupFileName } from '../format/naming.ts';
import type { OpsContext } from './context.ts';
import { PRE_DELETE_REASON_PREFIX, restore, type RestorePlan, type RestoreResult } from './restore.ts';
import { listBackups } from './store.ts';
import { verifyBackup } from './verify.ts';

/** Reasons of backups that hold only some rows (backup-before-delete): never a whole database. */
export const PARTIAL_BACKUP_REASON_PREFIX = PRE_DELETE_REASON_PREFIX;
/**
 * Safety copies a restore takes of the state it replaces. After an accident that state is usually
 * the broken one (an emptied database), so they are not picked; restore one by name if needed.
 */
export const SAFETY_BACKUP_REASON = 'pre-restore';

function notWhole(reason: string): string | null {
  if (reason.startsWith(PARTIAL_BACKUP_REASON_PREFIX)) return 'holds only the rows of one delete';
  if (reason === SAFETY_BACKUP_REASON) return 'a safety copy of the state a restore replaced (restore it by name if that is the one you want)';
  return null;
}

export interface EmergencyCandidate {
  file: string;
  createdAt: string;
  reason: string;
  /** From its manifest, or `no-manifest` for a backup file whose manifest is missing. */
  source: 'manifest' | 'no-manifest';
}

export interface EmergencyChoice {
  file: string;
  createdAt: string;
  reason: string;
  /** How old the backup is, at `ctx.clock.now()`. */
  ageMs: number;
  rowsTotal: number;
  tables: Record<string, { rows: number; sha256: string }>;
}

export interface LiveState {
  reachable: boolean;
  /** Tables in the live database (when reachable). */
  tables?: number;
  /** Why it could not be reached. */
  error?: string;
}

export interface EmergencyResult {
  choice: EmergencyChoice;
  /** Newer backups that failed verification, newest first. */
  skipped: { file: string; error: string }[];
  /** Backups not considered (other database kind, partial backups). */
  ignored: { file: string; why: string }[];
  live: LiveState;
  /** Set when the restore ran. */
  restore?: RestoreResult;
}

export interface EmergencyOptions {
  yes?: boolean;
  /** Asked with the choice and the plan when `yes` is not set; without it the restore is refused. */
  confirm?: (info: { choice: EmergencyChoice; skipped: EmergencyResult['skipped']; live: LiveState; plan: RestorePlan }) => Promise<boolean>;
  /** Find and verify only; restore nothing. */
  dryRun?: boolean;
  lockWaitMs?: number;
}

/**
 * Every backup that could bring back the whole database, newest first: valid manifests of the
 * target's database kind, plus backup files whose manifest is missing (ordered by the time in their
 * name). Partial backups (backup-before-delete) and restore's safety copies are listed as ignored.
 */
export async function emergencyCandidates(ctx: OpsContext): Promise<{ candidates: EmergencyCandidate[]; ignored: EmergencyResult['ignored'] }> {
  const listing = await listBackups(ctx.backupDir);
  const ignored: EmergencyResult['ignored'] = [];
  const candidates: EmergencyCandidate[] = [];
  for (const m of listing.backups) {
    if (m.dialect !== ctx.target.dialect) ignored.push({ file: m.file, why: `a ${m.dialect} backup` });
    else if (notWhole(m.reason)) ignored.push({ file: m.file, why: notWhole(m.reason)! });
    else candidates.push({ file: m.file, createdAt: m.createdAt, reason: m.reason, source: 'manifest' });
  }
  for (const s of listing.stray) {
    const parsed = s.problem === 'no-manifest' || s.problem === 'bad-manifest' ? parseBackupFileName(s.file) : null;
    if (!parsed) continue;
    if (notWhole(parsed.reason)) ignored.push({ file: s.file, why: notWhole(parsed.reason)! });
    else candidates.push({ file: s.file, createdAt: parsed.createdAt.toISOString(), reason: parsed.reason, source: 'no-manifest' });
  }
  candidates.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.file < b.file ? 1 : -1));
  return { candidates, ignored };
}

/** The newest backup that passes full verification; corrupted newer ones are reported (and marked so in their manifests). */
export async function findRestorableBackup(ctx: OpsContext): Promise<{ choice: EmergencyChoice; skipped: EmergencyResult['skipped']; ignored: EmergencyResult['ignored'] }> {
  const { candidates, ignored } = await emergencyCandidates(ctx);
  const skipped: EmergencyResult['skipped'] = [];
  for (const c of candidates) {
    ctx.reporter.info(`Verifying ${c.file}...`);
    const v = await verifyBackup(ctx, c.file);
    if (!v.ok || !v.header || !v.tables) {
      skipped.push({ file: c.file, error: v.error?.message ?? 'verification failed' });
      ctx.reporter.warn(`Skipping ${c.file}: ${v.error?.message ?? 'verification failed'}`);
      continue;
    }
    if (v.header.dialect !== ctx.target.dialect) {
      ignored.push({ file: c.file, why: `a ${v.header.dialect} backup` });
      continue;
    }
    return {
      choice: {
        file: c.file,
        createdAt: v.header.createdAt,
        reason: v.header.reason,
        ageMs: ctx.clock.now().getTime() - new Date(v.header.createdAt).getTime(),
        rowsTotal: v.rowsTotal ?? 0,
        tables: v.tables,
      },
      skipped,
      ignored,
    };
  }
  throw new GuardError('BACKUP_NOT_FOUND', candidates.length ? `None of the ${candidates.length} backup(s) in ${ctx.backupDir} passes verification:\n${skipped.map((s) => `  - ${s.file}: ${s.error}`).join('\n')}` : `There is no ${ctx.target.dialect} backup of a whole database in ${ctx.backupDir}.`, {
    hint: 'Check BACKUP_DIR / --backup-dir (copies of the backup folder elsewhere?), then run again.',
    details: { skipped, ignored },
  });
}

/** Whether the database answers, and how many tables it has (nothing is changed). */
export async function probeLive(ctx: OpsContext): Promise<LiveState> {
  try {
    const conn = await connect(ctx.target);
    try {
      const schema = await conn.introspect();
      return { reachable: true, tables: schema.tables.length };
    } finally {
      await conn.close();
    }
  } catch (e) {
    if (isGuardError(e) && (e.code === 'DATABASE_UNREACHABLE' || e.code === 'DATABASE_ERROR')) return { reachable: false, error: e.message };
    throw new GuardError('DATABASE_ERROR', `Cannot inspect the database: ${messageOf(e)}`, { cause: e });
  }
}

/**
 * The recovery of last resort: finds the newest backup that verifies, shows it, keeps a safety
 * backup of whatever the database still holds (restore's `pre-restore` backup, taken only when the
 * database is reachable and has tables), then restores it in full mode (recreating a dropped
 * schema, an emptied database, or a lost SQLite file) and proves the data matches.
 */
export async function emergencyRestore(ctx: OpsContext, options: EmergencyOptions = {}): Promise<EmergencyResult> {
  const { choice, skipped, ignored } = await findRestorableBackup(ctx);
  const live = await probeLive(ctx);
  if (!live.reachable) ctx.reporter.warn(`The database cannot be opened (${live.error}); no safety backup is possible, the restore will recreate it.`);
  else if (!live.tables) ctx.reporter.info('The database has no tables: nothing to keep in a safety backup.');
  const base: EmergencyResult = { choice, skipped, ignored, live };
  const result = await restore(ctx, {
    backup: choice.file,
    mode: 'full',
    dryRun: options.dryRun,
    yes: options.yes,
    lockWaitMs: options.lockWaitMs,
    confirm: options.confirm ? (plan) => options.confirm!({ choice, skipped, live, plan }) : undefined,
  });
  return { ...base, restore: result };
}
