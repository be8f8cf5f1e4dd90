import type { DbSchema, PrismaMigrationRow } from '../core/types.ts';
import type { DialectName } from '../core/url.ts';

export const BACKUP_FORMAT = 'prisma-guard-backup';
/** Bumped on any incompatible change of the line format; readers refuse newer versions. */
export const BACKUP_FORMAT_VERSION = 1;

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
}

/** Starts a table's rows. */
export interface TableStartLine {
  type: 'table';
  name: string;
  columns: string[];
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
