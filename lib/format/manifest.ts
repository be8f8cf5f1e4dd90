import type { DialectName } from '../core/url.ts';
import type { BackupKind, BackupScope, BackupSource } from './source.ts';
import type { BackupSignature } from './signature.ts';
import type { EncryptionRecord } from '../pipeline/age.ts';
import type { SectionRef } from './writer.ts';

export const MANIFEST_FORMAT = 'prisma-guard-manifest';
/** 2: kind, scope and source (read from the backup's header for version-1 manifests). */
export const MANIFEST_FORMAT_VERSION = 2;

export interface TableSummary {
  rows: number;
  /** SHA-256 (hex) over the table's canonical row lines. */
  sha256: string;
}

export interface VerificationRecord {
  at: string;
  ok: boolean;
  error?: string;
  /**
   * `ciphertext`: an encrypted backup checked where no key to open it is set (a machine that only
   * backs up): its bytes match the manifest's SHA-256 and size, its content was not read.
   * Absent: the whole backup was read and checked.
   */
  depth?: 'ciphertext';
}

/**
 * The small JSON sidecar written beside each backup (`<name>.manifest.json`), validated against
 * lib/format/schemas/manifest.schema.json. Listing, status and retention read only these.
 */
export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  formatVersion: number;
  /** Backup file name (no directory). */
  file: string;
  createdAt: string;
  reason: string;
  dialect: DialectName;
  /** Database identity with no password (SQLite: file name; PostgreSQL: host/db/schema). */
  database: string;
  toolVersion: string;
  sizeBytes: number;
  /** SHA-256 of the compressed file. */
  sha256: string;
  durationMs: number;
  /** Null in an encrypted backup's manifest: counts stay inside the encrypted file. */
  rowsTotal: number | null;
  /** Empty in an encrypted backup's manifest: table names and checksums stay inside the encrypted file. */
  tables: Record<string, TableSummary>;
  schemaPrismaHash: string | null;
  /** Null in an encrypted backup's manifest (migration names describe the schema). */
  migrations: { count: number; latest: string | null } | null;
  /** Kept by retention whatever its age (pre-migration snapshots, user pins). */
  pinned: boolean;
  /** Pinned until this time (pre-restore safety backups); absent or null means for ever when pinned. */
  pinnedUntil?: string | null;
  /** Result of the last verification, when one ran. */
  verification?: VerificationRecord | null;
  /** As in the header (format version 2). listBackups fills them in for version-1 manifests. */
  kind: BackupKind;
  scope: BackupScope;
  source: BackupSource;
  /** The trailer's SHA-256 over the uncompressed content (what a signature binds besides the file's sha256). */
  contentSha256?: string;
  /**
   * Set when the backup file is encrypted (age). Such a manifest carries only what listing needs:
   * time, size, kind, scope type, source (never a secret), the checksums of the ciphertext and of
   * the content. Everything else is read from the decrypted header when a key is at hand.
   */
  encryption?: EncryptionRecord | null;
  /**
   * Incremental backups: the section objects (lib/format/sections.ts) the backup keeps table rows
   * in, with the size and SHA-256 of their stored bytes. Retention keeps every section a kept
   * backup lists; `sizeBytes` and `sha256` above are of the backup file alone.
   */
  sections?: SectionRef[];
  /** Ed25519 signature over the fields above that never change (lib/format/signature.ts); absent when unsigned. */
  signature?: BackupSignature | null;
}

/**
 * The manifest of an encrypted backup: only what listing, selection and retention need (time, size,
 * kind, scope type, source, checksums); table names, counts, migration names and the schema hash
 * stay inside the encrypted file.
 */
export function encryptedManifest(m: BackupManifest, encryption: EncryptionRecord): BackupManifest {
  return {
    ...m,
    rowsTotal: null,
    tables: {},
    migrations: null,
    schemaPrismaHash: null,
    scope: m.scope.type === 'tables' ? { type: 'tables', tables: [] } : m.scope,
    encryption,
  };
}
