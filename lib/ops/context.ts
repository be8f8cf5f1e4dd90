import path from 'node:path';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { GuardError } from '../core/errors.ts';
import { silentReporter, type Reporter } from '../core/logger.ts';
import { parseDatabaseUrl, type DatabaseTarget } from '../core/url.ts';
import { datasourceSchemas, findPrismaProjectSync } from '../prisma/project.ts';
import { createHash, type KeyObject } from 'node:crypto';
import { loadSigningKey, loadVerifyKeys, type TrustedKey } from '../format/signature.ts';
import type { StorageBackend } from '../storage/contract.ts';
import { openStorage } from '../storage/registry.ts';
import { channelsFromEnv } from '../notify/channels.ts';
import { Notifier } from '../notify/notifier.ts';
import { shortDurationMs } from '../notify/events.ts';
import { parseIdentities, parseRecipients, type DecryptionKeys, type EncryptionSettings } from '../pipeline/age.ts';

/** Where the notifier remembers which alerts it sent (the dedupe interval), inside the backup folder. */
export const NOTIFY_STATE_FILE = '.prisma-guard-notify.json';
/** The dashboard's folder inside the backup folder (users, audit log, schedules: lib/server), mode 0700. */
export const SERVER_STATE_DIR = '.prisma-guard-server';

/** BACKUP_NOTIFY_DEDUPE and the like: `90s`, `15min`, `1h`, `2d`. */
export function interval(value: string, name: string): number {
  const ms = shortDurationMs(value);
  if (ms === null) throw new GuardError('USAGE', `${name} must be an interval such as 90s, 15min, 1h or 2d, not "${value}".`, { hint: `For example ${name}=1h.` });
  return ms;
}

function seconds(value: string, name: string): number {
  const n = Number(value.trim().replace(/s$/i, ''));
  if (!Number.isFinite(n) || n <= 0) throw new GuardError('USAGE', `${name} must be a number of seconds, not "${value}".`, { hint: `For example ${name}=10.` });
  return Math.round(n * 1000);
}

/** What every use case needs: where the database is, where backups live, how to report. */
export interface OpsContext {
  target: DatabaseTarget;
  /**
   * The backup folder. With an object-storage BACKUP_DIR (`primary` set) it is the local working
   * folder instead (BACKUP_CACHE_DIR): where a backup is written before its upload, and where the
   * folder-only state files live (scheduler, notifier, drills, the dashboard's folder).
   */
  backupDir: string;
  /**
   * Where backups live when BACKUP_DIR is not a folder (`s3://bucket/prefix`): every use case reads
   * and writes backups there (lib/ops/primary.ts). Absent or null: the folder `backupDir` is it.
   */
  readonly primary?: StorageBackend | null;
  /** The Prisma project root (holds prisma/schema.prisma). */
  projectDir: string;
  reporter: Reporter;
  clock: Clock;
  /**
   * Signing (BACKUP_SIGNING_KEY: sign every backup) and trust (BACKUP_VERIFY_KEY: accept only
   * backups signed by these keys). Read on first use: a bad key file fails the command that needs it.
   */
  readonly keys?: { signing: KeyObject | null; trusted: TrustedKey[] | null };
  /** BACKUP_COPY_TO: the offsite location every new backup is copied to (see offsite.ts), or null. */
  readonly copyTo?: StorageBackend | null;
  /** Opens another location (`copy --to`, `list --location`) with the environment's S3 settings. */
  openLocation?(location: string): StorageBackend;
  /** The notification channels BACKUP_NOTIFY_* configure (lib/notify); none configured: sends nothing. */
  readonly notifier?: Notifier;
  /**
   * Encryption at rest (lib/pipeline/age.ts): what new backups are encrypted to (BACKUP_AGE_RECIPIENTS
   * or BACKUP_AGE_PASSPHRASE; null: plain backups) and what opens encrypted ones (BACKUP_AGE_IDENTITY
   * and/or BACKUP_AGE_PASSPHRASE). Read on first use: a bad key fails the command that needs it.
   */
  readonly encryption?: { encryptTo: EncryptionSettings | null; keys: DecryptionKeys | null };
  /**
   * BACKUP_INCREMENTAL=true: backups store each large table's rows once, as a section object, and
   * later backups with the same rows refer to it (lib/format/sections.ts). Default false.
   */
  readonly incremental?: boolean;
  /** BACKUP_SECTION_GRACE: how long prune keeps a section no backup lists (default SECTION_GRACE_MS, a day). */
  readonly sectionGraceMs?: number;
}

export interface ContextInput {
  url?: string;
  /**
   * PostgreSQL: the schemas to back up and restore together (`--schemas a,b`). Unset: the Prisma
   * datasource's `schemas` (multiSchema) with the URL's `?schema=`, else `?schema=` alone (see projectSchemas).
   */
  schemas?: string[];
  /** Whether the Prisma datasource's `schemas` count (default true; see projectSchemas). */
  datasourceSchemas?: boolean;
  backupDir?: string;
  projectDir?: string;
  reporter?: Reporter;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

/** Builds a context from explicit options, then DATABASE_URL / BACKUP_DIR, then defaults (`./backups`). */
export function resolveContext(input: ContextInput = {}): OpsContext {
  const env = input.env ?? process.env;
  const projectDir = path.resolve(input.projectDir ?? process.cwd());
  let target: DatabaseTarget | undefined;
  let keys: OpsContext['keys'];
  let copyTo: StorageBackend | null | undefined;
  let notifier: Notifier | undefined;
  let encryption: OpsContext['encryption'];
  const storageSettings = {
    s3Endpoint: env.BACKUP_S3_ENDPOINT?.trim() || undefined,
    s3Region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || undefined,
    s3ForcePathStyle: env.BACKUP_S3_FORCE_PATH_STYLE?.trim() ? env.BACKUP_S3_FORCE_PATH_STYLE.trim().toLowerCase() === 'true' : undefined,
    baseDir: projectDir,
  };
  const openLocation = (location: string) => openStorage(location, storageSettings);
  const dirText = (input.backupDir ?? env.BACKUP_DIR ?? 'backups').trim() || 'backups';
  const primary = isStorageLocation(dirText) ? openLocation(dirText) : null;
  return {
    // Parsed on first use: listing and verifying backups need no database.
    get target() {
      if (target) return target;
      const parsed = parseDatabaseUrl(input.url ?? env.DATABASE_URL, projectDir);
      return (target = { ...parsed, ...projectSchemas(parsed, input.schemas, input.datasourceSchemas === false ? null : projectDir), ...ioTimeout(env.BACKUP_IO_TIMEOUT), ...(env.BACKUP_PG_DUMP ? { pgDump: env.BACKUP_PG_DUMP } : {}) });
    },
    backupDir: primary ? workingFolder(projectDir, primary.location, env.BACKUP_CACHE_DIR) : path.resolve(projectDir, dirText),
    primary,
    get incremental() {
      return booleanEnv(env.BACKUP_INCREMENTAL, 'BACKUP_INCREMENTAL');
    },
    get sectionGraceMs() {
      const v = env.BACKUP_SECTION_GRACE?.trim();
      return v ? (/^0+[a-z]*$/i.test(v) ? 0 : interval(v, 'BACKUP_SECTION_GRACE')) : undefined;
    },
    projectDir,
    reporter: input.reporter ?? silentReporter,
    clock: input.clock ?? systemClock,
    get copyTo() {
      if (copyTo === undefined) copyTo = env.BACKUP_COPY_TO?.trim() ? openLocation(env.BACKUP_COPY_TO.trim()) : null;
      return copyTo;
    },
    openLocation,
    get notifier() {
      return (notifier ??= new Notifier(channelsFromEnv(env), {
        reporter: this.reporter,
        clock: this.clock,
        stateFile: path.join(this.backupDir, NOTIFY_STATE_FILE),
        dedupeMs: env.BACKUP_NOTIFY_DEDUPE?.trim() ? interval(env.BACKUP_NOTIFY_DEDUPE, 'BACKUP_NOTIFY_DEDUPE') : undefined,
        timeoutMs: env.BACKUP_NOTIFY_TIMEOUT?.trim() ? seconds(env.BACKUP_NOTIFY_TIMEOUT, 'BACKUP_NOTIFY_TIMEOUT') : undefined,
      }));
    },
    get encryption() {
      return (encryption ??= encryptionFromEnv(env, projectDir));
    },
    get keys() {
      return (keys ??= {
        signing: env.BACKUP_SIGNING_KEY?.trim() ? loadSigningKey(path.resolve(projectDir, env.BACKUP_SIGNING_KEY.trim())) : null,
        trusted: env.BACKUP_VERIFY_KEY?.trim() ? loadVerifyKeys(env.BACKUP_VERIFY_KEY.trim().split(',').map((k) => (k.trim().startsWith('ed25519:') ? k.trim() : path.resolve(projectDir, k.trim()))).join(',')) : null,
      });
    },
  };
}

/** A BACKUP_DIR that names object storage (`s3://...`, or `memory:NAME` in tests) rather than a folder. */
export function isStorageLocation(text: string): boolean {
  return /^s3:\/\//.test(text) || text.startsWith('memory:');
}

/**
 * The local working folder of an object-storage BACKUP_DIR: BACKUP_CACHE_DIR, else
 * `<project>/.prisma-guard/cache/<12 hex of the location's SHA-256>` (one per location, so two
 * buckets never share pending uploads or state files). Created with mode 0700 when first written.
 */
export function workingFolder(projectDir: string, location: string, cacheDir?: string): string {
  if (cacheDir?.trim()) return path.resolve(projectDir, cacheDir.trim());
  return path.join(projectDir, '.prisma-guard', 'cache', createHash('sha256').update(location).digest('hex').slice(0, 12));
}

/** BACKUP_AGE_RECIPIENTS / BACKUP_AGE_PASSPHRASE / BACKUP_AGE_IDENTITY as settings and keys. */
function encryptionFromEnv(env: NodeJS.ProcessEnv, projectDir: string): NonNullable<OpsContext['encryption']> {
  const recipients = env.BACKUP_AGE_RECIPIENTS?.trim() ? parseRecipients(env.BACKUP_AGE_RECIPIENTS) : [];
  // A passphrase is taken as it is (spaces included); only an empty value means unset.
  const passphrase = env.BACKUP_AGE_PASSPHRASE ? env.BACKUP_AGE_PASSPHRASE : undefined;
  if (recipients.length && passphrase) {
    throw new GuardError('USAGE', 'BACKUP_AGE_RECIPIENTS and BACKUP_AGE_PASSPHRASE are both set; an age file is encrypted either to public keys or to a passphrase, not both.', {
      hint: 'Keep BACKUP_AGE_RECIPIENTS (recommended: machines that only back up then hold no secret) and unset BACKUP_AGE_PASSPHRASE, or the reverse.',
    });
  }
  const identities = env.BACKUP_AGE_IDENTITY?.trim() ? parseIdentities(env.BACKUP_AGE_IDENTITY, (p) => path.resolve(projectDir, p)) : [];
  const scryptLogN = env.BACKUP_AGE_SCRYPT_WORK_FACTOR?.trim() ? Number(env.BACKUP_AGE_SCRYPT_WORK_FACTOR) : undefined;
  if (scryptLogN !== undefined && !(Number.isInteger(scryptLogN) && scryptLogN >= 10 && scryptLogN <= 22)) {
    throw new GuardError('USAGE', `BACKUP_AGE_SCRYPT_WORK_FACTOR must be a whole number from 10 to 22 (log2 of scrypt's N; age uses 18), not "${env.BACKUP_AGE_SCRYPT_WORK_FACTOR}".`, { hint: 'Unset it to use the age default, 18.' });
  }
  return {
    encryptTo: recipients.length ? { recipients } : passphrase ? { recipients: [], passphrase, ...(scryptLogN ? { scryptLogN } : {}) } : null,
    keys: identities.length || passphrase ? { identities, ...(passphrase ? { passphrase } : {}) } : null,
  };
}

/** A true/false variable (also 1/0, yes/no, on/off); unset or empty: false. */
export function booleanEnv(value: string | undefined, name: string): boolean {
  const v = value?.trim().toLowerCase();
  if (!v) return false;
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new GuardError('USAGE', `${name} must be true or false, not "${value}".`, { hint: `For example ${name}=true.` });
}

/** BACKUP_IO_TIMEOUT: seconds (decimals allowed) a database connection may go silent; 0 turns it off. */
function ioTimeout(value: string | undefined): { ioTimeoutMs?: number } {
  if (value === undefined || value.trim() === '') return {};
  const seconds = Number(value.trim().replace(/s$/i, ''));
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new GuardError('USAGE', `BACKUP_IO_TIMEOUT must be a number of seconds (for example 60), not "${value}".`, {
      hint: 'Set BACKUP_IO_TIMEOUT=60 (the default), a larger value for a slow network, or 0 to turn the timeout off.',
    });
  }
  return { ioTimeoutMs: Math.round(seconds * 1000) };
}

/** The name of the lock every backup, restore and migration takes, so they never interleave. */
export const OPERATION_LOCK = 'prisma-guard-operation';
/** How long a backup or restore waits for another one to finish before giving up. */
export const DEFAULT_LOCK_WAIT_MS = 120_000;

/**
 * The schemas of the project (PostgreSQL), first that applies:
 *  1. `explicit` (`--schemas a,b`): exactly these; the URL's `?schema=` stays the primary schema
 *     (where `_prisma_migrations` is looked for) when it is one of them, else the first one is;
 *  2. the Prisma datasource's `schemas = [...]` (multiSchema), plus the URL's `?schema=` (default
 *     `public`), where Prisma Migrate keeps `_prisma_migrations`;
 *  3. the URL's `?schema=` alone (default `public`).
 * One schema is the single-schema case as before (`schema` set, `schemas` absent). SQLite has no
 * schemas: `explicit` there is a usage error, and a datasource list is ignored (Prisma refuses it).
 * `projectDir` null: the datasource list is not read (step 2 skipped).
 */
export function projectSchemas(target: DatabaseTarget, explicit: string[] | undefined, projectDir: string | null): Pick<DatabaseTarget, 'schema' | 'schemas'> {
  if (explicit !== undefined && target.dialect !== 'postgres') {
    throw new GuardError('USAGE', `--schemas applies to PostgreSQL only: ${target.dialect === 'sqlite' ? 'SQLite has no schemas (a database is one file)' : `${target.dialect} has no schemas`}.`, {
      hint: 'Leave out --schemas: the whole SQLite database is backed up and restored.',
    });
  }
  if (target.dialect !== 'postgres') return {};
  const primary = target.schema ?? 'public';
  let list: string[];
  if (explicit !== undefined) {
    if (explicit.length === 0) throw new GuardError('USAGE', '--schemas needs at least one schema name.', { hint: 'For example --schemas public,audit' });
    list = explicit;
  } else {
    const fromPrisma = projectDir === null ? null : datasourceSchemas(findPrismaProjectSync(projectDir).schemaPath);
    if (!fromPrisma) return {};
    list = [...fromPrisma, primary];
  }
  const sorted = [...new Set(list)].sort();
  if (sorted.length === 1) return { schema: sorted[0] };
  return { schema: sorted.includes(primary) ? primary : sorted[0], schemas: sorted };
}
