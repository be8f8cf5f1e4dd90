import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GuardError, messageOf } from '../core/errors.ts';
import type { DbSchema } from '../core/types.ts';
import type { Connection, EncodedRow, SnapshotReader } from '../dialects/dialect.ts';
import { connect } from '../dialects/index.ts';
import { BACKUP_FORMAT, formatVersionFor, SECTIONS_FORMAT_VERSION, type BackupHeader } from '../format/header.ts';
import { FolderSections, sectionsOf } from '../format/sections.ts';
import { encryptedManifest, MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, type BackupManifest } from '../format/manifest.ts';
import { backupFileName, manifestFileName, sanitizeReason } from '../format/naming.ts';
import { encodeBackup, writeFileAtomically, type EncodeResult, type TableSection } from '../format/writer.ts';
import { DEFAULT_LOCK_WAIT_MS, OPERATION_LOCK, type OpsContext } from './context.ts';
import { backupDirExposure, describeExposure } from './folder-mode.ts';
import { readPrismaMigrations, tableSections } from './snapshot-tables.ts';
import { copyBackup, type OffsiteCopy } from './offsite.ts';
import { ensureBackupDir, writeManifest } from './store.ts';
import { primaryListing, storedAt, uploadNewBackup } from './primary.ts';
import { TOOL_VERSION } from './version.ts';
import { schemaHash } from '../prisma/project.ts';
import { derivedFingerprint, targetLocation, type BackupKind, type BackupScope, type BackupSource } from '../format/source.ts';
import { migrationsTableKey, rowColumns } from '../core/types.ts';
import { rowOrder } from './diff-order.ts';
import { signManifest } from '../format/signature.ts';
import { encryptionFor, encryptionRecord, sealSummary } from '../pipeline/age.ts';

export interface BackupOptions {
  /** A label for the file name (`manual`, `scheduled-daily`, `pre-migration-<name>`...); free text. */
  reason?: string;
  /** Why it was taken, as a typed field (default `manual`): `latest` and retention go by this, never by the reason. */
  kind?: BackupKind;
  /** The schema, sequences and `_prisma_migrations` only: no rows of the other tables. */
  schemaOnly?: boolean;
  /** Write a backup of a database that has no tables (refused otherwise: usually a wrong URL). */
  allowEmpty?: boolean;
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
  /**
   * Incremental (format version 5): a table whose rows are already stored in the folder as a
   * section object is referenced instead of written again (lib/format/sections.ts). Default:
   * BACKUP_INCREMENTAL (ctx.incremental); false writes a self-contained backup.
   */
  incremental?: boolean;
}

export interface BackupResult {
  path: string;
  manifest: BackupManifest;
  /** Problems worth a human's attention that did not stop the backup (also sent to the reporter). */
  warnings: string[];
  /** BACKUP_COPY_TO: the verified offsite copy, or why it failed (the backup itself stands). */
  offsite?: OffsiteCopy | { location: string; error: string };
  /**
   * What the backup holds, as the writer counted it. The same as the manifest's fields for a plain
   * backup; for an encrypted one the manifest leaves them out (they stay inside the file).
   */
  content: { rowsTotal: number; tables: BackupManifest['tables'] };
  /** Incremental backups: the section objects written anew and those referenced as they were. */
  incremental?: { written: number; writtenBytes: number; reused: number; reusedBytes: number };
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
    // Rows read with a rowid the backup does not keep (see backupWithConnection) lose it, and take
    // the order of the table without it.
    const width = rowColumns(table).length;
    const given = selected.get(table.name)!;
    const rows = given.some((r) => r.length > width) ? given.map((r) => r.slice(0, width)).sort(rowOrder(schema, table).compare) : given;
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
  // A bad key file fails here, before anything is written.
  const signingKey = ctx.keys?.signing ?? null;
  // So does a bad BACKUP_AGE_RECIPIENTS: never a plaintext backup when encryption was asked for.
  const encryptTo = await encryptionFor(ctx.encryption?.encryptTo ?? null, ctx.encryption?.keys ?? null);
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
  const file = backupFileName(createdAt, reason, { encrypted: Boolean(encryptTo) });
  const schemaPrismaHash = await schemaHash(ctx.projectDir, undefined, { evaluateConfig: false }).catch(() => null);
  if (options.schemaOnly && (options.tables || options.selectRows)) {
    throw new GuardError('USAGE', 'A schema-only backup holds every table without rows; it cannot be limited to some tables.', { hint: 'Drop --tables or --schema-only.' });
  }
  // A schema that does not exist is a wrong URL: refuse before anything is written (the identity).
  if (!(await conn.exists())) throw await nothingToBackUp(conn);
  const source = await backupSource(conn);
  const result: EncodeResult & { header?: BackupHeader } = {};
  // Incremental: the folder's listed sections are what may be referenced (never one no manifest lists).
  const sink = (options.incremental ?? ctx.incremental ?? false)
    ? new FolderSections(ctx.backupDir, sectionsOf((await primaryListing(ctx)).backups), { encryption: encryptTo, compressionLevel: options.compressionLevel, signal: options.signal, stored: ctx.primary ? storedAt(ctx.primary) : undefined })
    : undefined;
  const written = await conn.snapshot(async (reader) => {
    if (!reader.schema.tables.length && !options.allowEmpty) throw await nothingToBackUp(conn);
    const lost = reader.schema.unreproducible ?? [];
    if (lost.length) {
      const message =
        `A full-mode restore of this backup cannot bring back ${lost.length} object(s), so it will refuse: ` +
        lost.slice(0, 8).map((u) => `${u.kind} ${u.name} (${u.why})`).join('; ') + (lost.length > 8 ? `; and ${lost.length - 8} more` : '') +
        (reader.schema.ddlNote ? `. The DDL was read by the built-in reader because ${reader.schema.ddlNote}` : '') +
        '. Data-mode restores are not affected.' +
        (reader.schema.ddlSource === 'introspector' ? ' Install a pg_dump at least as new as the server (postgresql-client) to back up every object.' : '');
      warnings.push(message);
      ctx.reporter.warn(message);
    }
    const selected = options.selectRows ? await options.selectRows(reader) : null;
    const only = selected ? new Set(selected.keys()) : options.tables ? new Set(options.tables) : undefined;
    const kept = only ? { ...reader.schema, tables: reader.schema.tables.filter((t) => only.has(t.name)) } : reader.schema;
    // Backup-before-delete rows come back beside the live ones (a merge), where their old rowids may
    // have gone to new rows since: they keep their columns only (selectedSections).
    const schema = selected ? { ...kept, tables: kept.tables.map(({ rowid: _, ...t }) => t) } : kept;
    if (only) {
      const missing = [...only].filter((t) => !schema.tables.some((s) => s.name === t));
      if (missing.length) throw new GuardError('USAGE', `No such table(s): ${missing.join(', ')}.`, { hint: `Tables are: ${reader.schema.tables.map((t) => t.name).join(', ')}` });
    }
    const scope: BackupScope = options.schemaOnly ? { type: 'schema-only' } : only ? { type: 'tables', tables: schema.tables.map((t) => t.name) } : { type: 'full' };
    // Rows a schema-only backup keeps: Prisma's migration history, so a restore knows which migrations the empty schema has.
    const rowsOf = (name: string) => !options.schemaOnly || name === migrationsTableKey(schema);
    const prismaMigrations = await readPrismaMigrations(reader);
    const totals = new Map<string, number>();
    let expected = 0;
    for (const t of schema.tables) {
      const n = selected ? selected.get(t.name)!.length : rowsOf(t.name) ? await reader.count(t) : 0;
      totals.set(t.name, n);
      expected += n;
    }
    const header: BackupHeader = {
      type: 'header',
      format: BACKUP_FORMAT,
      formatVersion: sink ? SECTIONS_FORMAT_VERSION : formatVersionFor(schema),
      toolVersion: TOOL_VERSION,
      createdAt: createdAt.toISOString(),
      reason,
      dialect: ctx.target.dialect,
      database: ctx.target.display,
      schema,
      prismaMigrations,
      schemaPrismaHash,
      kind: options.kind ?? 'manual',
      scope,
      source,
    };
    result.header = header;
    let before = 0;
    let current = '';
    // Backup-before-delete: only the selected rows; otherwise whole tables streamed from the snapshot.
    const sections = selected ? selectedSections(schema, selected) : options.schemaOnly ? schemaOnlySections(reader, rowsOf) : tableSections(reader, only);
    const lines = encodeBackup(header, sections, result, (table, rows) => {
      if (table !== current) {
        if (current) before += totals.get(current) ?? 0;
        current = table;
      }
      ctx.reporter.progress(`backup ${table}`, before + rows, expected);
    }, sink);
    return writeFileAtomically(ctx.backupDir, file, lines, { compressionLevel: options.compressionLevel, signal: options.signal, encryption: encryptTo });
  }, { fullSchema: !(options.tables || options.selectRows) });
  const trailer = result.trailer!;
  const applied = result.header!.prismaMigrations.filter((m) => m.finished_at !== null && m.rolled_back_at === null);
  let manifest: BackupManifest = {
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
    kind: result.header!.kind,
    scope: result.header!.scope,
    source: result.header!.source,
    contentSha256: trailer.sha256,
    ...(result.sections ? { sections: result.sections } : {}),
  };
  // Only what listing, selection and retention need: the rest stays inside the encrypted file.
  if (encryptTo) {
    const summary = await sealSummary(encryptTo, { rowsTotal: trailer.rowsTotal, tables: trailer.tables, migrations: manifest.migrations });
    manifest = encryptedManifest(manifest, { ...encryptionRecord(encryptTo), ...(summary ? { summary } : {}) });
  }
  const content = { rowsTotal: trailer.rowsTotal, tables: trailer.tables };
  const incremental = sink ? { written: sink.written.length, writtenBytes: sum(sink.written), reused: sink.reused.length, reusedBytes: sum(sink.reused) } : undefined;
  if (signingKey) manifest.signature = signManifest(manifest, signingKey);
  try {
    await writeManifest(ctx.backupDir, manifest);
  } catch (e) {
    // A backup without its manifest is invisible to `list`, `latest` and retention: a success that
    // nobody can use. Remove it and fail, as for any other write failure.
    await fs.rm(written.path, { force: true }).catch(() => {});
    await fs.rm(path.join(ctx.backupDir, manifestFileName(file)), { force: true }).catch(() => {});
    throw new GuardError('WRITE_FAILED', `The backup ${file} was written but its manifest ${manifestFileName(file)} could not be (${messageOf(e)}), so the backup was removed: without a manifest nothing would find it.`, {
      hint: `Free space or fix the permissions of ${ctx.backupDir}, then back up again.`,
      cause: e,
    });
  }
  ctx.reporter.info(`Backup written: ${written.path} (${trailer.rowsTotal} rows, ${written.sizeBytes} bytes${incremental ? `; ${incremental.written} new section(s) of ${incremental.writtenBytes} bytes, ${incremental.reused} unchanged` : ''})`);
  // An object-storage BACKUP_DIR: the backup counts once it is uploaded and read back (lib/ops/primary.ts).
  const at = ctx.primary ? (await uploadNewBackup(ctx, file)).path : written.path;
  const remote = ctx.copyTo;
  if (!remote) return { path: at, manifest, warnings, content, incremental };
  // The offsite copy never undoes or fails the backup: a failure is a warning (and `status` shows the lag).
  try {
    const offsite = await copyBackup(ctx, file, remote, ctx.primary ?? undefined);
    ctx.reporter.info(`Copied to ${offsite.location} and read back: SHA-256 matches (${offsite.durationMs} ms)`);
    return { path: at, manifest, warnings, offsite, content, incremental };
  } catch (e) {
    const message = `The backup is safe here, but copying it to ${remote.location} failed: ${messageOf(e)}`;
    warnings.push(message);
    ctx.reporter.warn(message);
    return { path: at, manifest, warnings, offsite: { location: remote.location, error: messageOf(e) }, content, incremental };
  }
}

function sum(refs: { size: number }[]): number {
  return refs.reduce((n, r) => n + r.size, 0);
}

/** Whole tables with no rows, except the ones `rowsOf` keeps (schema-only backups). */
async function* schemaOnlySections(reader: SnapshotReader, rowsOf: (table: string) => boolean): AsyncGenerator<TableSection> {
  for (const table of reader.schema.tables) {
    if (rowsOf(table.name)) yield { table, rows: reader.rows(table), lines: reader.canonicalLines?.(table) };
    else yield { table, rows: (async function* () {})() };
  }
}

/**
 * The source fields of a backup of `conn`'s database: its location and its fingerprint, stored in
 * the database on the first backup (Connection.identity), else derived from the location.
 */
export async function backupSource(conn: Connection): Promise<BackupSource> {
  const location = targetLocation(conn.target);
  const id = await conn.identity({ create: true });
  return { ...location, fingerprint: id?.fingerprint ?? derivedFingerprint(location), fingerprintMethod: id?.method ?? 'derived' };
}

/** The error for a database with no tables: a schema that does not exist, or an empty database. */
async function nothingToBackUp(conn: Connection): Promise<GuardError> {
  const several = conn.target.schemas && conn.target.schemas.length > 1 ? conn.target.schemas : null;
  const where = several
    ? `the schemas ${several.map((s) => `"${s}"`).join(', ')} of ${conn.target.display}`
    : conn.target.schema ? `the schema "${conn.target.schema}" of ${conn.target.display}` : conn.target.display;
  if (!(await conn.exists())) {
    return new GuardError('NOTHING_TO_BACK_UP', `There is nothing to back up: ${several ? `one of ${where}` : where} does not exist.`, {
      hint: several
        ? 'Check --schemas, the `schemas` of the Prisma datasource and ?schema= in DATABASE_URL (prisma-guard backs up all of them together).'
        : 'Check ?schema= in DATABASE_URL (prisma-guard backs up the schema the URL names, default public).',
    });
  }
  return new GuardError('NOTHING_TO_BACK_UP', `There is nothing to back up: ${where} has no tables.`, {
    hint: 'Check DATABASE_URL points at the right database (has `prisma migrate deploy` run?); pass --allow-empty to back up an empty database anyway.',
  });
}
