import { GuardError } from '../core/errors.ts';
import type { DbSchema } from '../core/types.ts';
import type { Connection, EncodedRow, SnapshotReader } from '../dialects/dialect.ts';
import { connect } from '../dialects/index.ts';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, type BackupHeader } from '../format/header.ts';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, type BackupManifest } from '../format/manifest.ts';
import { backupFileName, manifestFileName, sanitizeReason } from '../format/naming.ts';
import { encodeBackup, writeFileAtomically, type EncodeResult, type TableSection } from '../format/writer.ts';
import { DEFAULT_LOCK_WAIT_MS, OPERATION_LOCK, type OpsContext } from './context.ts';
import { backupDirExposure, describeExposure } from './folder-mode.ts';
import { readPrismaMigrations, tableSections } from './snapshot-tables.ts';
import { ensureBackupDir, writeManifest } from './store.ts';
import { TOOL_VERSION } from './version.ts';
import { schemaHash } from '../prisma/project.ts';

export interface BackupOptions {
  /** Why the backup was taken; part of the file name (`manual`, `scheduled`, `pre-restore`...). */
  reason?: string;
  /** Keep for ever (retention never removes it). */
  pinned?: boolean;
  /** Keep at least until this time (pre-restore safety backups). */
  pinnedUntil?: Date;
  /** gzip level 1-9. */
  compressionLevel?: number;
  signal?: AbortSignal;
  /** How long to wait for a running restore/migration to finish. */
  lockWaitMs?: number;
  /** Only these tables (backup-before-delete); default all. */
  tables?: string[];
  /**
   * Backup-before-delete: back up only the rows this returns (read inside the backup's snapshot,
   * per table name, in canonical order) instead of whole tables. The file is a normal backup.
   */
  selectRows?: (reader: SnapshotReader) => Promise<Map<string, EncodedRow[]>>;
}

export interface BackupResult {
  path: string;
  manifest: BackupManifest;
  /** Problems worth a human's attention that did not stop the backup (also sent to the reporter). */
  warnings: string[];
}

/** Takes a consistent, checksummed backup of the whole database into the backup folder. */
export async function backup(ctx: OpsContext, options: BackupOptions = {}): Promise<BackupResult> {
  const conn = await connect(ctx.target);
  try {
    const lock = await conn.lock(OPERATION_LOCK, options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS);
    try {
      return await backupWithConnection(ctx, conn, options);
    } finally {
      await lock.release();
    }
  } finally {
    await conn.close();
  }
}

/** Sections over rows already in memory (backup-before-delete), in batches like a snapshot's. */
async function* selectedSections(schema: DbSchema, selected: Map<string, EncodedRow[]>): AsyncGenerator<TableSection> {
  for (const table of schema.tables) {
    const rows = selected.get(table.name)!;
    yield {
      table,
      rows: (async function* () {
        for (let i = 0; i < rows.length; i += 1000) yield rows.slice(i, i + 1000);
      })(),
    };
  }
}

/**
 * The backup itself, on a connection the caller opened and locked (restore uses it for its safety
 * backup while holding the lock).
 */
export async function backupWithConnection(ctx: OpsContext, conn: Connection, options: BackupOptions = {}): Promise<BackupResult> {
  await ensureBackupDir(ctx.backupDir);
  const warnings: string[] = [];
  const exposure = await backupDirExposure(ctx.backupDir);
  if (exposure) {
    warnings.push(describeExposure(exposure));
    ctx.reporter.warn(describeExposure(exposure));
  }
  const started = Date.now();
  const createdAt = ctx.clock.now();
  const reason = sanitizeReason(options.reason ?? 'manual');
  const file = backupFileName(createdAt, reason);
  const schemaPrismaHash = await schemaHash(ctx.projectDir, undefined, { evaluateConfig: false }).catch(() => null);
  const result: EncodeResult & { header?: BackupHeader } = {};
  const written = await conn.snapshot(async (reader) => {
    const selected = options.selectRows ? await options.selectRows(reader) : null;
    const only = selected ? new Set(selected.keys()) : options.tables ? new Set(options.tables) : undefined;
    const schema = only ? { ...reader.schema, tables: reader.schema.tables.filter((t) => only.has(t.name)) } : reader.schema;
    if (only) {
      const missing = [...only].filter((t) => !schema.tables.some((s) => s.name === t));
      if (missing.length) throw new GuardError('USAGE', `No such table(s): ${missing.join(', ')}.`, { hint: `Tables are: ${reader.schema.tables.map((t) => t.name).join(', ')}` });
    }
    const prismaMigrations = await readPrismaMigrations(reader);
    const totals = new Map<string, number>();
    let expected = 0;
    for (const t of schema.tables) {
      const n = selected ? selected.get(t.name)!.length : await reader.count(t);
      totals.set(t.name, n);
      expected += n;
    }
    const header: BackupHeader = {
      type: 'header',
      format: BACKUP_FORMAT,
      formatVersion: BACKUP_FORMAT_VERSION,
      toolVersion: TOOL_VERSION,
      createdAt: createdAt.toISOString(),
      reason,
      dialect: ctx.target.dialect,
      database: ctx.target.display,
      schema,
      prismaMigrations,
      schemaPrismaHash,
    };
    result.header = header;
    let before = 0;
    let current = '';
    // Backup-before-delete: only the selected rows; otherwise whole tables streamed from the snapshot.
    const sections = selected ? selectedSections(schema, selected) : tableSections(reader, only);
    const lines = encodeBackup(header, sections, result, (table, rows) => {
      if (table !== current) {
        if (current) before += totals.get(current) ?? 0;
        current = table;
      }
      ctx.reporter.progress(`backup ${table}`, before + rows, expected);
    });
    return writeFileAtomically(ctx.backupDir, file, lines, { compressionLevel: options.compressionLevel, signal: options.signal });
  });
  const trailer = result.trailer!;
  const applied = result.header!.prismaMigrations.filter((m) => m.finished_at !== null && m.rolled_back_at === null);
  const manifest: BackupManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    file,
    createdAt: createdAt.toISOString(),
    reason,
    dialect: ctx.target.dialect,
    database: ctx.target.display,
    toolVersion: TOOL_VERSION,
    sizeBytes: written.sizeBytes,
    sha256: written.sha256,
    durationMs: Date.now() - started,
    rowsTotal: trailer.rowsTotal,
    tables: trailer.tables,
    schemaPrismaHash,
    migrations: { count: applied.length, latest: applied.length ? applied[applied.length - 1].migration_name : null },
    pinned: Boolean(options.pinned || options.pinnedUntil),
    pinnedUntil: options.pinnedUntil ? options.pinnedUntil.toISOString() : null,
    verification: null,
  };
  await writeManifest(ctx.backupDir, manifest).catch(async (e) => {
    // Without its manifest the backup is still complete and verifiable; say so rather than delete it.
    ctx.reporter.warn(`The backup ${file} was written but its manifest ${manifestFileName(file)} could not be: ${(e as Error).message}`);
  });
  ctx.reporter.info(`Backup written: ${written.path} (${trailer.rowsTotal} rows, ${written.sizeBytes} bytes)`);
  return { path: written.path, manifest, warnings };
}
