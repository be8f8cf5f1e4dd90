import { createHash } from 'node:crypto';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import type { BackupHeader } from '../format/header.ts';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, type BackupManifest } from '../format/manifest.ts';
import { manifestFileName, parseBackupFileName } from '../format/naming.ts';
import { checkCanonicalRun } from '../dialects/dialect.ts';
import { canonicalRulesFor } from '../dialects/index.ts';
import { openBackup } from '../format/reader.ts';
import type { OpsContext } from './context.ts';
import { readManifest, resolveBackup, writeManifest } from './store.ts';

export interface VerifyResult {
  ok: boolean;
  file: string;
  path: string;
  sizeBytes: number;
  sha256: string;
  /** What went wrong, when not ok. */
  error?: { code: string; message: string; hint?: string };
  header?: Pick<BackupHeader, 'formatVersion' | 'toolVersion' | 'createdAt' | 'reason' | 'dialect' | 'database'> & { migrations: number };
  tables?: Record<string, { rows: number; sha256: string }>;
  rowsTotal?: number;
  /** ok: present and agrees; rebuilt: was missing and was written from the verified backup. */
  manifest: 'ok' | 'missing' | 'rebuilt' | 'mismatch' | 'invalid';
  durationMs: number;
}

/** SHA-256 of a file's bytes (the compressed backup, compared with the manifest). */
export async function sha256File(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Checks a backup end to end: gzip stream, header JSON Schema, every table's row count and
 * checksum, the trailer, and agreement with the manifest. Records the result in the manifest
 * (rebuilding a missing one from a backup that checks out).
 */
export async function verifyBackup(ctx: OpsContext, given: string, options: { record?: boolean } = {}): Promise<VerifyResult> {
  const started = Date.now();
  const { path: filePath, file } = await resolveBackup(ctx.backupDir, given);
  const st = await fs.stat(filePath);
  const result: VerifyResult = { ok: false, file, path: filePath, sizeBytes: st.size, sha256: '', manifest: 'missing', durationMs: 0 };
  let manifest: BackupManifest | null = null;
  const mPath = path.join(path.dirname(filePath), manifestFileName(file));
  if (parseBackupFileName(file) && existsSync(mPath)) {
    try {
      manifest = await readManifest(mPath);
      result.manifest = 'ok';
    } catch {
      result.manifest = 'invalid';
    }
  }
  try {
    const [sha, checked] = await Promise.all([sha256File(filePath), readWholeBackup(filePath, file, ctx)]);
    result.sha256 = sha;
    result.header = checked.header;
    result.tables = checked.tables;
    result.rowsTotal = checked.rowsTotal;
    if (manifest) {
      const tablesAgree = JSON.stringify(sortKeys(manifest.tables)) === JSON.stringify(sortKeys(checked.tables));
      if (manifest.sha256 !== sha || !tablesAgree || manifest.file !== file) {
        result.manifest = 'mismatch';
        throw new GuardError('BACKUP_CORRUPT', `${file} is internally consistent but does not match its manifest (${manifest.sha256 !== sha ? 'file checksum differs' : 'table checksums differ'}): one of them was changed after the backup was written.`, {
          hint: 'Do not trust this backup; use another one (`prisma-guard list`).',
        });
      }
    }
    result.ok = true;
  } catch (e) {
    const err = isGuardError(e) ? e : new GuardError('BACKUP_CORRUPT', `${file} cannot be read: ${messageOf(e)}.`, { cause: e });
    result.error = { code: err.code, message: err.message, hint: err.hint };
  }
  result.durationMs = Date.now() - started;
  if (options.record !== false) await record(ctx, result, manifest, filePath);
  return result;
}

interface Checked {
  header: NonNullable<VerifyResult['header']>;
  tables: Record<string, { rows: number; sha256: string }>;
  rowsTotal: number;
  full: BackupHeader;
}

async function readWholeBackup(filePath: string, file: string, ctx: OpsContext): Promise<Checked> {
  const opened = await openBackup(filePath, file);
  try {
    const h = opened.header;
    const total = Object.keys(h.schema.tables).length;
    const rulesFor = await canonicalRulesFor(h.dialect);
    let n = 0;
    for await (const section of opened.sections()) {
      let rows = 0;
      // The same canonical check as the restore's load: a row the dumper could not have written
      // would load, commit and then fail the restore's proof.
      const rules = rulesFor(section.table);
      for await (const run of section.lines) {
        checkCanonicalRun(run, rules);
        rows += run.rows;
        ctx.reporter.progress(`verify ${section.table.name} (${n + 1}/${total})`, rows);
      }
      n++;
    }
    const trailer = opened.trailer!;
    return {
      header: { formatVersion: h.formatVersion, toolVersion: h.toolVersion, createdAt: h.createdAt, reason: h.reason, dialect: h.dialect, database: h.database, migrations: h.prismaMigrations.length },
      tables: trailer.tables,
      rowsTotal: trailer.rowsTotal,
      full: h,
    };
  } finally {
    await opened.close();
  }
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

async function record(ctx: OpsContext, result: VerifyResult, manifest: BackupManifest | null, filePath: string): Promise<void> {
  // Only backups in the managed folder under our naming get manifests.
  if (!parseBackupFileName(result.file) || path.dirname(filePath) !== path.resolve(ctx.backupDir)) return;
  const verification = { at: ctx.clock.now().toISOString(), ok: result.ok, ...(result.error ? { error: result.error.message } : {}) };
  try {
    if (manifest && result.manifest === 'ok') {
      await writeManifest(ctx.backupDir, { ...manifest, verification });
    } else if (manifest && result.manifest === 'mismatch') {
      await writeManifest(ctx.backupDir, { ...manifest, verification });
    } else if (!manifest && result.ok && result.header && result.tables) {
      const opened = await openBackup(filePath, result.file);
      const h = opened.header;
      await opened.close();
      const applied = h.prismaMigrations.filter((m) => m.finished_at !== null && m.rolled_back_at === null);
      const rebuilt: BackupManifest = {
        format: MANIFEST_FORMAT,
        formatVersion: MANIFEST_FORMAT_VERSION,
        file: result.file,
        createdAt: h.createdAt,
        reason: h.reason,
        dialect: h.dialect,
        database: h.database,
        toolVersion: h.toolVersion,
        sizeBytes: result.sizeBytes,
        sha256: result.sha256,
        durationMs: 0,
        rowsTotal: result.rowsTotal ?? 0,
        tables: result.tables,
        schemaPrismaHash: h.schemaPrismaHash,
        migrations: { count: applied.length, latest: applied.length ? applied[applied.length - 1].migration_name : null },
        pinned: false,
        pinnedUntil: null,
        verification,
      };
      await writeManifest(ctx.backupDir, rebuilt);
      result.manifest = 'rebuilt';
    }
  } catch (e) {
    ctx.reporter.warn(`Could not record the verification in the manifest: ${messageOf(e)}`);
  }
}
