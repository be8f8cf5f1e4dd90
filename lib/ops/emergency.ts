import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { connect } from '../dialects/index.ts';
import type { OpsContext } from './context.ts';
import { restore, type RestorePlan, type RestoreResult } from './restore.ts';
import { chooseLatest } from './select.ts';
import { verifyBackup } from './verify.ts';

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
  /** Backups not considered, with the reason: other databases, safety copies, partial and schema-only backups. */
  ignored: { file: string; why: string }[];
  /** How the choice was found to be of this database: fingerprint, or location (database gone). */
  matchedBy: 'fingerprint' | 'location';
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
  /** As RestoreOptions: create the backup's functions without a trusted signature; leave owners / grants out. */
  allowCode?: boolean;
  noOwner?: boolean;
  noPrivileges?: boolean;
}

/**
 * The newest full backup of the target database that passes full verification (chooseLatest with
 * verification): newer ones that fail are reported (and marked so in their manifests), and every
 * backup that is not a full backup of this database is listed as ignored with the reason. When the
 * database is gone there is no fingerprint to read, so backups are matched on their location.
 */
export async function findRestorableBackup(ctx: OpsContext): Promise<{ choice: EmergencyChoice; skipped: EmergencyResult['skipped']; ignored: EmergencyResult['ignored']; matchedBy: 'fingerprint' | 'location' }> {
  const latest = await chooseLatest(ctx, { verify: true, fetchOffsite: true });
  const v = await verifyBackup(ctx, latest.file, { record: false });
  if (!v.ok || !v.header || !v.tables) {
    throw new GuardError('BACKUP_CORRUPT', `${latest.file} changed while it was being chosen: ${v.error?.message ?? 'verification failed'}`, { hint: 'Run emergency-restore again.' });
  }
  if (latest.matchedBy === 'location') ctx.reporter.info(`The database has no identity to compare (gone, or never backed up by this version): ${latest.file} was matched on its location (${latest.target}).`);
  return {
    choice: {
      file: latest.file,
      createdAt: v.header.createdAt,
      reason: v.header.reason,
      ageMs: ctx.clock.now().getTime() - new Date(v.header.createdAt).getTime(),
      rowsTotal: v.rowsTotal ?? 0,
      tables: v.tables,
    },
    skipped: latest.failed,
    ignored: latest.skipped.map((s) => ({ file: s.file, why: s.why })),
    matchedBy: latest.matchedBy,
  };
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
  const { choice, skipped, ignored, matchedBy } = await findRestorableBackup(ctx);
  const live = await probeLive(ctx);
  if (!live.reachable) ctx.reporter.warn(`The database cannot be opened (${live.error}); no safety backup is possible, the restore will recreate it.`);
  else if (!live.tables) ctx.reporter.info('The database has no tables: nothing to keep in a safety backup.');
  const base: EmergencyResult = { choice, skipped, ignored, live, matchedBy };
  const result = await restore(ctx, {
    backup: choice.file,
    mode: 'full',
    dryRun: options.dryRun,
    yes: options.yes,
    lockWaitMs: options.lockWaitMs,
    allowCode: options.allowCode,
    noOwner: options.noOwner,
    noPrivileges: options.noPrivileges,
    confirm: options.confirm ? (plan) => options.confirm!({ choice, skipped, live, plan }) : undefined,
  });
  if (result.executed) {
    await ctx.notifier?.notify('emergency-restore.run', ctx.target.display, `emergency-restore replaced ${ctx.target.display} with ${choice.file} (newest full backup that verifies${skipped.length ? `; ${skipped.length} newer passed over` : ''}).`, { file: choice.file, skipped: skipped.length });
  }
  return { ...base, restore: result };
}
