/**
 * prisma-guard's public API: `import { backup, restore, ... } from 'prisma-guard'`.
 *
 * Every operation takes an {@link OpsContext} from {@link resolveContext} (the database URL, the
 * backup folder, a reporter), exactly what the CLI builds from `--url` / `--backup-dir` / the
 * environment, and fails with a {@link GuardError} (stable `code`, `exitCode`, `hint`).
 * Importing this module loads no database driver: better-sqlite3 or pg is loaded on the first
 * connection, for the dialect of the URL. Anything not exported here is internal and may change.
 *
 * @example
 * import { resolveContext, backup, verifyBackup } from 'prisma-guard';
 * const ctx = resolveContext({ url: 'file:./prisma/dev.db', backupDir: './backups' });
 * const { file } = await backup(ctx, { reason: 'before-import' });
 * await verifyBackup(ctx, file);
 */

// Errors and exit codes.
export { ExitCode, GuardError, isGuardError, type ErrorCode, type ExitCodeValue, type GuardErrorOptions } from './core/errors.ts';

// Context: where the database and the backups are, how progress is reported.
export { resolveContext, type ContextInput, type OpsContext } from './ops/context.ts';
export { consoleReporter, jsonLinesReporter, silentReporter, type Reporter } from './core/logger.ts';
export { systemClock, type Clock } from './core/clock.ts';
export { parseDatabaseUrl, redactSecrets, type DatabaseTarget, type DialectName } from './core/url.ts';

// Backups: write, verify, list, restore.
export { backup, type BackupOptions, type BackupResult } from './ops/backup.ts';
export { verifyBackup, type VerifyResult } from './ops/verify.ts';
export { listBackups, readManifest, type BackupListing } from './ops/store.ts';
export { restore, type RestoreMode, type RestoreOptions, type RestorePlan, type RestoreResult } from './ops/restore.ts';
export { emergencyRestore, type EmergencyOptions, type EmergencyResult } from './ops/emergency.ts';
export { setPinned, type PinOptions } from './ops/pin.ts';
export type { BackupManifest } from './format/manifest.ts';

// Compare and check.
export { diffBackups, diffWithLive } from './ops/diff-sources.ts';
export type { DiffOptions, DiffReport, TableDiff } from './ops/diff.ts';
export { checkDatabase, formatCheck, type CheckReport } from './ops/check.ts';

// Guarded migrations and deletes.
export { migrateSafe, MigrateExitCode, type MigrateSafeOptions, type MigrateSafeResult, type MigrateStatus } from './guard/run.ts';
export { withBackupBeforeDelete, backupRowsBeforeDelete, type BackupBeforeDeleteOptions, type DeleteBackupResult, type PrismaClientLike } from './ops/backup-before-delete.ts';

// Retention, the scheduler, health.
export {
  applyPolicy,
  candidatesFromManifests,
  DEFAULT_POLICY,
  parseDuration,
  type RetentionCandidate,
  type RetentionDecision,
  type RetentionDuration,
  type RetentionPolicy,
} from './policy/retention.ts';
export { prune, retentionPolicyFromEnv, type PruneOptions, type PruneResult } from './ops/prune.ts';
export { startScheduler, type LiveScheduler, type StartSchedulerOptions } from './ops/schedule.ts';
export { nextRuns, parseScheduleConfig, type ScheduleConfig, type ScheduleJob, type ScheduledSlot } from './scheduler/schedule.ts';
export { getStatus, HEALTH_EXIT_CODE, type Health, type StatusOptions, type StatusReport } from './ops/status.ts';

/** prisma-guard's version (recorded in every backup's header). */
// Encryption at rest (age) and other locations (offsite copies).
export { generateAgeKeys, type DecryptionKeys, type EncryptionSettings } from './pipeline/age.ts';
export { copyBackup, listLocation, type OffsiteCopy } from './ops/offsite.ts';
export { openStorage } from './storage/registry.ts';
export type { StorageBackend } from './storage/contract.ts';

export { TOOL_VERSION as version } from './ops/version.ts';
