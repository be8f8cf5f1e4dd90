/**
 * Every failure a user can meet is a GuardError: a stable `code`, the exit code the CLI returns,
 * a message that says what happened and why, and a `hint` with the next thing to do.
 * Only bin/ turns these into process exit codes.
 */

/** Stable process exit codes (documented in the README). Commands with their own codes say so. */
export const ExitCode = {
  OK: 0,
  /** An unexpected internal error (a bug): please report it. */
  INTERNAL: 1,
  /** Wrong command-line usage. */
  USAGE: 2,
  /** The backup file is corrupt, truncated, not ours, of an unsupported version, or holds SQL a restore must not run. */
  INVALID_BACKUP: 3,
  /** The database cannot be reached, or the URL is wrong. */
  DATABASE: 4,
  /** The live schema does not match the backup (data-mode restore). */
  SCHEMA_MISMATCH: 5,
  /** A destructive action was not confirmed (no --yes, no TTY). */
  NOT_CONFIRMED: 6,
  /** The named backup does not exist or lies outside the backup folder. */
  NOT_FOUND: 7,
  /** Another backup/restore/migration holds the lock. */
  LOCKED: 8,
  /** The restore (or backup) failed and was rolled back; nothing changed. */
  ROLLED_BACK: 9,
  /** Writing the backup failed (disk full, permissions); no partial file was left. */
  WRITE_FAILED: 10,
  /** The project's prisma CLI is missing, failed, or its migrations/client cannot be read. */
  PRISMA: 11,
  /** Nothing to back up: the URL's schema does not exist, or the database has no tables (without --allow-empty). */
  NOTHING_TO_BACK_UP: 12,
  /**
   * BACKUP_VERIFY_KEY is set and the backup is unsigned, signed by another key, or its signature does
   * not match; or a full restore would create stored code (functions) from a backup no trusted key
   * signed, without --allow-code.
   */
  UNTRUSTED_BACKUP: 13,
  /** The backup location (an S3 bucket) cannot be reached, refuses the credentials, or does not exist. */
  STORAGE: 14,
  /** `notify test`: a notification channel did not take the message. */
  NOTIFY: 15,
  /** A restore drill failed: the newest full backup did not restore and prove in a scratch target. */
  DRILL: 16,
  /**
   * An encrypted (age) backup cannot be opened here: no key is set (BACKUP_AGE_IDENTITY /
   * BACKUP_AGE_PASSPHRASE), or none of the keys set is one it was encrypted to. A changed byte in an
   * encrypted backup is corruption (3), not this.
   */
  ENCRYPTION: 17,
  /** `serve`: a restore plan was confirmed after the backup or the database changed since the dry run, or a second time; nothing changed. */
  PLAN_REFUSED: 18,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'USAGE'
  | 'BACKUP_CORRUPT'
  | 'BACKUP_TRUNCATED'
  | 'BACKUP_NOT_OURS'
  | 'BACKUP_VERSION'
  /** The backup holds SQL a restore must not run (edited outside prisma-guard). */
  | 'BACKUP_UNSAFE_SQL'
  | 'BACKUP_NOT_FOUND'
  | 'PATH_OUTSIDE_BACKUP_DIR'
  | 'DATABASE_UNREACHABLE'
  | 'DATABASE_URL_INVALID'
  | 'DATABASE_ERROR'
  | 'SCHEMA_MISMATCH'
  | 'NOT_CONFIRMED'
  | 'LOCKED'
  | 'RESTORE_FAILED'
  | 'WRITE_FAILED'
  | 'INTERNAL'
  | (string & {});

const EXIT_FOR: Record<string, ExitCodeValue> = {
  USAGE: ExitCode.USAGE,
  BACKUP_CORRUPT: ExitCode.INVALID_BACKUP,
  BACKUP_TRUNCATED: ExitCode.INVALID_BACKUP,
  BACKUP_NOT_OURS: ExitCode.INVALID_BACKUP,
  BACKUP_VERSION: ExitCode.INVALID_BACKUP,
  BACKUP_UNSAFE_SQL: ExitCode.INVALID_BACKUP,
  BACKUP_NOT_FOUND: ExitCode.NOT_FOUND,
  PATH_OUTSIDE_BACKUP_DIR: ExitCode.NOT_FOUND,
  DATABASE_UNREACHABLE: ExitCode.DATABASE,
  DATABASE_URL_INVALID: ExitCode.DATABASE,
  DATABASE_ERROR: ExitCode.DATABASE,
  SCHEMA_MISMATCH: ExitCode.SCHEMA_MISMATCH,
  NOT_CONFIRMED: ExitCode.NOT_CONFIRMED,
  LOCKED: ExitCode.LOCKED,
  RESTORE_FAILED: ExitCode.ROLLED_BACK,
  WRITE_FAILED: ExitCode.WRITE_FAILED,
  INTERNAL: ExitCode.INTERNAL,
  PRISMA_NOT_INSTALLED: ExitCode.PRISMA,
  PRISMA_CLI_FAILED: ExitCode.PRISMA,
  PRISMA_MIGRATIONS_UNREADABLE: ExitCode.PRISMA,
  PRISMA_CLIENT_NOT_GENERATED: ExitCode.PRISMA,
  SEED_NOT_EMPTY: ExitCode.USAGE,
  NOTHING_TO_BACK_UP: ExitCode.NOTHING_TO_BACK_UP,
  BACKUP_UNTRUSTED: ExitCode.UNTRUSTED_BACKUP,
  BACKUP_CODE_UNTRUSTED: ExitCode.UNTRUSTED_BACKUP,
  FULL_RESTORE_INCOMPLETE: ExitCode.ROLLED_BACK,
  STORAGE_FAILED: ExitCode.STORAGE,
  NOTIFY_FAILED: ExitCode.NOTIFY,
  DRILL_FAILED: ExitCode.DRILL,
  KEY_INVALID: ExitCode.USAGE,
  BACKUP_KEY_MISSING: ExitCode.ENCRYPTION,
  BACKUP_KEY_WRONG: ExitCode.ENCRYPTION,
  ENCRYPTION_NOT_INSTALLED: ExitCode.ENCRYPTION,
  PLAN_STALE: ExitCode.PLAN_REFUSED,
  PLAN_USED: ExitCode.PLAN_REFUSED,
};

export interface GuardErrorOptions {
  /** The next thing the user should do. */
  hint?: string;
  cause?: unknown;
  /** Overrides the exit code derived from `code`. */
  exitCode?: number;
  /** Structured details for --json output (never secrets). */
  details?: Record<string, unknown>;
}

/** The one error type of prisma-guard. */
export class GuardError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly exitCode: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: GuardErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GuardError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_FOR[code] ?? ExitCode.INTERNAL;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, exitCode: this.exitCode, details: this.details };
  }
}

export function isGuardError(e: unknown): e is GuardError {
  return e instanceof GuardError;
}

/** A readable message from anything thrown. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
