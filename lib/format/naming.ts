import { GuardError } from '../core/errors.ts';

/**
 * Backup files are `backup-<UTC timestamp>-<reason>.jsonl.gz`, e.g.
 * `backup-2026-11-23T14-23-00-123Z-manual.jsonl.gz`; encrypted ones (age) add `.age`.
 */
export const BACKUP_SUFFIX = '.jsonl.gz';
export const ENCRYPTED_SUFFIX = '.jsonl.gz.age';
export const MANIFEST_SUFFIX = '.manifest.json';
const NAME_RE = /^backup-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)-([a-z0-9][a-z0-9._-]{0,120})\.jsonl\.gz(\.age)?$/;

/** Turns any text into a reason usable in a file name (lower case, [a-z0-9._-]). */
export function sanitizeReason(reason: string): string {
  const r = reason
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 120)
    .replace(/-+$/, '');
  return r || 'manual';
}

function stamp(d: Date): string {
  return d.toISOString().replace(/:/g, '-').replace('.', '-');
}

/** The file name of a backup taken at `createdAt` for `reason` (`.age` when encrypted). */
export function backupFileName(createdAt: Date, reason: string, options: { encrypted?: boolean } = {}): string {
  return `backup-${stamp(createdAt)}-${sanitizeReason(reason)}${options.encrypted ? ENCRYPTED_SUFFIX : BACKUP_SUFFIX}`;
}

/** The backup name without its suffix (what its manifest is named after). */
function stem(backupFile: string): string {
  if (backupFile.endsWith(ENCRYPTED_SUFFIX)) return backupFile.slice(0, -ENCRYPTED_SUFFIX.length);
  if (backupFile.endsWith(BACKUP_SUFFIX)) return backupFile.slice(0, -BACKUP_SUFFIX.length);
  return backupFile;
}

/** The sidecar manifest name for a backup file name. */
export function manifestFileName(backupFile: string): string {
  return stem(backupFile) + MANIFEST_SUFFIX;
}

/** The backup names a manifest name may belong to (plain, encrypted). */
export function backupNamesOfManifest(manifestFile: string): string[] {
  const base = manifestFile.slice(0, -MANIFEST_SUFFIX.length);
  return [base + BACKUP_SUFFIX, base + ENCRYPTED_SUFFIX];
}

/** Whether a backup name is of an encrypted (age) backup. */
export function isEncryptedName(name: string): boolean {
  return name.endsWith(ENCRYPTED_SUFFIX);
}

export interface ParsedBackupName {
  createdAt: Date;
  reason: string;
}

/** Parses a backup file name; null when it is not one of ours. */
export function parseBackupFileName(name: string): ParsedBackupName | null {
  const m = NAME_RE.exec(name);
  if (!m) return null;
  const iso = m[1].replace(/^(\d{4}-\d{2}-\d{2}T)(\d{2})-(\d{2})-(\d{2})-(\d{3})Z$/, '$1$2:$3:$4.$5Z');
  const createdAt = new Date(iso);
  if (Number.isNaN(createdAt.getTime())) return null;
  return { createdAt, reason: m[2] };
}

/** True for names of temporary files a writer uses before the atomic rename. */
export function isTemporaryName(name: string): boolean {
  return (name.startsWith('.backup-') || name.startsWith('.section-')) && name.includes('.tmp');
}

/**
 * Incremental backups (format version 5) store a large table's rows once, as a content-addressed
 * section object beside the backups: `section-<64 hex>.jsonl.gz` (`.age` when encrypted), where the
 * hex is the table's SHA-256 over its row lines (plain), or a keyed hash of it (encrypted: see
 * lib/format/sections.ts). A section holds only row lines: `zcat section-….jsonl.gz | jq` works.
 */
const SECTION_RE = /^section-([0-9a-f]{64})\.jsonl\.gz(\.age)?$/;

export function isSectionName(name: string): boolean {
  return SECTION_RE.test(name);
}

export function sectionFileName(key: string, options: { encrypted?: boolean } = {}): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new GuardError('INTERNAL', `A section key must be 64 hex digits, not "${key.slice(0, 80)}".`, { hint: 'This is a bug in prisma-guard; please report it.' });
  return `section-${key}${options.encrypted ? ENCRYPTED_SUFFIX : BACKUP_SUFFIX}`;
}

/** Temporary name used while writing `finalName` (hidden, never matches a backup name). */
export function temporaryName(finalName: string): string {
  return `.${finalName}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export function assertBackupName(name: string): ParsedBackupName {
  const parsed = parseBackupFileName(name);
  if (!parsed) {
    throw new GuardError('BACKUP_NOT_FOUND', `"${name}" is not a prisma-guard backup file name.`, {
      hint: 'Backup files are named backup-<timestamp>-<reason>.jsonl.gz (.age when encrypted); run `prisma-guard list` to see them.',
    });
  }
  return parsed;
}
