import type { DbSchema, PrismaMigrationRow } from '../core/types.ts';
import type { DialectName } from '../core/url.ts';
import type { BackupKind, BackupScope, BackupSource } from './source.ts';

export const BACKUP_FORMAT = 'prisma-guard-backup';
/**
 * Bumped on any incompatible change of the line format; readers refuse newer versions.
 * 2: the header records `kind`, `scope` and `source` (version 1 files stay readable; the reader
 * infers those fields, see lib/format/source.ts inferV1).
 * 3: a table may keep its hidden rowid (TableSchema.rowid): its rows then hold one value more than
 * it has columns. Only backups with such a table are written as version 3 (formatVersionFor), so
 * every other backup stays readable by readers of version 2.
 * 4: a PostgreSQL backup of several schemas (DbSchema.namespaces): its tables, enums and sequences
 * are named `schema.name`. Only such backups are written as version 4, so a reader of an older
 * version refuses them ("upgrade") instead of taking `a.User` for a table of that name.
 * 5: incremental backups: a table's rows may be stored in a section object beside the backup
 * (TableStartLine.section) instead of inline. Only incremental backups are written as version 5.
 */
export const BACKUP_FORMAT_VERSION = 5;

/** The first format version whose tables may be stored as section objects (incremental backups). */
export const SECTIONS_FORMAT_VERSION = 5;

/** The first format version whose rows may carry a table's hidden rowid. */
export const ROWID_FORMAT_VERSION = 3;

/** The format version a backup of `schema` is written in: the oldest that holds everything it has. */
export function formatVersionFor(schema: DbSchema): number {
  if (schema.namespaces) return MULTI_SCHEMA_FORMAT_VERSION;
  return schema.tables.some((t) => t.rowid) ? ROWID_FORMAT_VERSION : 2;
}

/** The first format version whose tables may come from several schemas (DbSchema.namespaces). */
export const MULTI_SCHEMA_FORMAT_VERSION = 4;

/** Line 1 of every backup. */
export interface BackupHeader {
  type: 'header';
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  toolVersion: string;
  createdAt: string;
  reason: string;
  dialect: DialectName;
  /** Database identity without password. */
  database: string;
  /** Full structure: tables, columns, keys, indexes, enums, sequences and the DDL to recreate it. */
  schema: DbSchema;
  /** `_prisma_migrations` rows at snapshot time (also present as table data). */
  prismaMigrations: PrismaMigrationRow[];
  /** SHA-256 of prisma/schema.prisma at backup time, when known. */
  schemaPrismaHash: string | null;
  /** Why it was taken (decides how `latest` and retention treat it); the free-text `reason` is only a label. */
  kind: BackupKind;
  /** What it holds: every table, some tables, or the schema without rows. */
  scope: BackupScope;
  /** The database it is of (no password). */
  source: BackupSource;
}

/** Starts a table's rows. */
export interface TableStartLine {
  type: 'table';
  name: string;
  columns: string[];
  /**
   * Incremental backups: the rows are not inline but in this section object (a plain name, see
   * lib/format/naming.ts sectionFileName) of the same location; the end line follows at once and
   * its count and SHA-256 are checked against the section's row lines.
   */
  section?: string;
}

/** Ends a table's rows: count and SHA-256 over its row lines (each JSON text + "\n"). */
export interface TableEndLine {
  type: 'table-end';
  name: string;
  rows: number;
  sha256: string;
}

/** Last line: totals and a SHA-256 over every byte (uncompressed) before this line. */
export interface TrailerLine {
  type: 'trailer';
  tables: Record<string, { rows: number; sha256: string }>;
  rowsTotal: number;
  sha256: string;
  completedAt: string;
}
