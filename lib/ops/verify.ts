import path from 'node:path';
import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { sha256OfStream } from '../core/hash-file.ts';
import type { BackupHeader } from '../format/header.ts';
import { encryptedManifest, MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, type BackupManifest } from '../format/manifest.ts';
import { parseBackupFileName } from '../format/naming.ts';
import { CanonicalItemCheck } from '../dialects/long-line.ts';
import { canonicalRulesFor, dialectFor } from '../dialects/index.ts';
import { openBackup, type BackupFile } from '../format/reader.ts';
import { resolveGiven } from './select.ts';
import type { OpsContext } from './context.ts';
import { trustOf, untrusted } from './trust.ts';
import { describeAgeHeader, isKeyProblem, type EncryptionRecord } from '../pipeline/age.ts';
import type { SignatureState } from '../format/signature.ts';
import { damagedSectionAt, isManagedPath, openBackupAt, readManifestBeside, sectionRefsAt, writeManifestBeside } from './primary.ts';

export interface VerifyResult {
  ok: boolean;
  file: string;
  path: string;
  sizeBytes: number;
  sha256: string;
  /** What went wrong, when not ok. */
  error?: { code: string; message: string; hint?: string };
  header?: Pick<BackupHeader, 'formatVersion' | 'toolVersion' | 'createdAt' | 'reason' | 'dialect' | 'database' | 'kind' | 'scope' | 'source'> & { migrations: number };
  tables?: Record<string, { rows: number; sha256: string }>;
  rowsTotal?: number;
  /** The trailer's SHA-256 over the uncompressed content. */
  contentSha256?: string;
  /** ok: present and agrees; rebuilt: was missing and was written from the verified backup. */
  manifest: 'ok' | 'missing' | 'rebuilt' | 'mismatch' | 'invalid';
  /** With BACKUP_VERIFY_KEY set, what the signature check found; else `not-checked`. */
  signature?: SignatureState | 'not-checked';
  /** Set for an age-encrypted backup. */
  encrypted?: boolean;
  /**
   * `full`: every byte decrypted, decompressed and checked. `ciphertext`: an encrypted backup where
   * no key is set (a machine that only backs up): its bytes match the manifest's SHA-256 and size;
   * its content is checked where a key is (BACKUP_AGE_IDENTITY).
   */
  depth?: 'full' | 'ciphertext';
  /** Incremental backups: the section objects it refers to (checked with it). */
  sections?: string[];
  durationMs: number;
}

/**
 * Checks a backup end to end: gzip stream, header JSON Schema, every table's row count and
 * checksum, the trailer, agreement with the manifest, and that its SQL is of the kinds backups
 * store (Dialect.checkBackupSql: a file edited to run other SQL fails with BACKUP_UNSAFE_SQL).
 * Records the result in the manifest (rebuilding a missing one from a backup that checks out).
 * `file`: an already opened backup (a restore's one handle); it is read by position, not closed.
 */
export async function verifyBackup(ctx: OpsContext, given: string, options: { record?: boolean; file?: BackupFile } = {}): Promise<VerifyResult> {
  const started = Date.now();
  const { path: filePath, file } = options.file ? { path: options.file.path, file: path.basename(options.file.path) } : await resolveGiven(ctx, given);
  const result: VerifyResult = { ok: false, file, path: filePath, sizeBytes: options.file?.size ?? 0, sha256: '', manifest: 'missing', durationMs: 0 };
  let manifest: BackupManifest | null = null;
  if (parseBackupFileName(file)) {
    try {
      manifest = await readManifestBeside(ctx, filePath, file);
      if (manifest) result.manifest = 'ok';
    } catch {
      result.manifest = 'invalid';
    }
  }
  let opened: BackupFile | undefined = options.file;
  let full: BackupHeader | undefined;
  let ageHeader: EncryptionRecord | null = null;
  try {
    opened ??= await openBackupAt(ctx, filePath, file);
    result.sizeBytes = opened.size;
    result.encrypted = opened.encrypted;
    if (opened.encrypted && !ctx.encryption?.keys) await verifyCiphertext(ctx, opened, file, manifest, result);
    else {
      full = await verifyContent(ctx, opened, file, manifest, result);
      result.ok = true;
      // A manifest rebuilt for an encrypted backup records its recipients, read from these bytes.
      if (opened.encrypted && !manifest) ageHeader = describeAgeHeader(await firstBytes(opened, 1 << 16));
    }
  } catch (e) {
    const err = isGuardError(e) ? e : new GuardError('BACKUP_CORRUPT', `${file} cannot be read: ${messageOf(e)}.`, { cause: e });
    result.error = { code: err.code, message: err.message, hint: err.hint };
  } finally {
    if (opened && !options.file) await opened.close();
    result.durationMs = Date.now() - started;
  }
  if (options.record !== false) await record(ctx, result, manifest, filePath, full, ageHeader);
  return result;
}

/** Reads and checks the whole content (decrypting an encrypted backup), against the manifest when there is one. */
async function verifyContent(ctx: OpsContext, opened: BackupFile, file: string, manifest: BackupManifest | null, result: VerifyResult): Promise<BackupHeader> {
  result.depth = 'full';
  // One read: the reader hashes the compressed bytes as it decompresses them.
  const checked = await readWholeBackup(opened, file, ctx);
  const sha = checked.fileSha256;
  result.sha256 = sha;
  result.header = checked.header;
  result.tables = checked.tables;
  result.rowsTotal = checked.rowsTotal;
  result.contentSha256 = checked.contentSha256;
  result.sections = checked.referenced;
  if (manifest) {
    const listed = [...new Set((manifest.sections ?? []).map((r) => r.object))].sort();
    if (listed.join('\n') !== checked.referenced.join('\n')) {
      result.manifest = 'mismatch';
      throw new GuardError('BACKUP_CORRUPT', `${file} refers to ${checked.referenced.length} section object(s) but its manifest lists ${listed.length} other(s): the manifest was changed, or belongs to another backup.`, {
        hint: 'Do not trust this backup; use another one (`prisma-guard list`).',
      });
    }
  }
  if (manifest) {
    // An encrypted backup's manifest holds no table checksums: the content checksum stands for them.
    const tablesAgree = manifest.encryption ? manifest.contentSha256 === checked.contentSha256 : JSON.stringify(sortKeys(manifest.tables)) === JSON.stringify(sortKeys(checked.tables));
    if (manifest.sha256 !== sha || !tablesAgree || manifest.file !== file) {
      result.manifest = 'mismatch';
      throw new GuardError('BACKUP_CORRUPT', `${file} is internally consistent but does not match its manifest (${manifest.sha256 !== sha ? 'file checksum differs' : 'table checksums differ'}): one of them was changed after the backup was written.`, {
        hint: 'Do not trust this backup; use another one (`prisma-guard list`).',
      });
    }
  }
  // Last: a file that is not intact is reported as such, whatever SQL it holds.
  const refusal = (await dialectFor(checked.full.dialect)).checkBackupSql(checked.full.schema, { partial: isPartialBackup(checked.full) });
  if (refusal) throw refusal.toError(file);
  // With BACKUP_VERIFY_KEY set, a backup must also be signed by a trusted key, over these bytes.
  const state = trustOf(ctx, manifest);
  result.signature = state ?? 'not-checked';
  if (state && state !== 'valid') throw untrusted(state, file);
  if (state && manifest!.contentSha256 !== checked.contentSha256) throw untrusted('invalid', file);
  return checked.full;
}

/**
 * An encrypted backup where no key is set: the bytes are compared with the manifest's SHA-256 and
 * size (what the writer hashed as it wrote them), which catches a damaged or replaced file. The
 * content (every table checksum) can only be checked where a key is.
 */
async function verifyCiphertext(ctx: OpsContext, opened: BackupFile, file: string, manifest: BackupManifest | null, result: VerifyResult): Promise<void> {
  result.depth = 'ciphertext';
  if (!manifest) {
    result.error = {
      code: 'BACKUP_KEY_MISSING',
      message: `${file} is encrypted and has no manifest, so without a key there is nothing to check it against.`,
      hint: 'Set BACKUP_AGE_IDENTITY (or BACKUP_AGE_PASSPHRASE) and verify again: that checks the whole content and rebuilds the manifest.',
    };
    return;
  }
  const sha = await sha256OfStream(opened.stream(0));
  result.sha256 = sha;
  if (sha !== manifest.sha256 || opened.size !== manifest.sizeBytes) {
    result.manifest = 'mismatch';
    result.error = {
      code: 'BACKUP_CORRUPT',
      message: `${file} does not match its manifest (${sha !== manifest.sha256 ? 'the SHA-256 of its bytes differs' : 'its size differs'}): it was damaged or replaced after it was written.`,
      hint: 'Do not trust this backup; use another one (`prisma-guard list`).',
    };
    return;
  }
  // The sections it refers to cannot be read without the key either: their bytes are checked the same way.
  const bad = await damagedSectionAt(ctx, opened.path, manifest.sections ?? [], { hash: true });
  if (bad) {
    result.error = { code: 'BACKUP_CORRUPT', message: `${file} is incomplete: its section ${bad.object} ${bad.why}.`, hint: 'Use another backup (`prisma-guard list`), or copy this one again from its offsite location.' };
    return;
  }
  result.sections = (manifest.sections ?? []).map((r) => r.object).sort();
  const state = trustOf(ctx, manifest);
  result.signature = state ?? 'not-checked';
  if (state && state !== 'valid') {
    const err = untrusted(state, file);
    result.error = { code: err.code, message: err.message, hint: err.hint };
    return;
  }
  result.ok = true;
}

/**
 * Whether a backup holds only some tables (its DDL still creates every table, so the SQL check lets
 * it name tables the header does not list; a full restore, which runs that DDL, never treats a
 * backup as partial). Format 2 headers say so in `scope`; before that only backup-before-delete
 * backups (reason `pre-delete-*`, see PRE_DELETE_REASON_PREFIX in restore.ts) were partial.
 */
export function isPartialBackup(header: BackupHeader): boolean {
  const scope = (header as { scope?: { type?: string } }).scope;
  return scope?.type === 'tables' || header.reason.startsWith('pre-delete-');
}

interface Checked {
  header: NonNullable<VerifyResult['header']>;
  tables: Record<string, { rows: number; sha256: string }>;
  rowsTotal: number;
  contentSha256: string;
  full: BackupHeader;
  /** SHA-256 of the compressed file. */
  fileSha256: string;
  /** The section objects the backup refers to (incremental backups), sorted. */
  referenced: string[];
}

async function readWholeBackup(source: BackupFile, file: string, ctx: OpsContext): Promise<Checked> {
  const opened = await openBackup(source, file, { keys: ctx.encryption?.keys });
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
      // A long line (one large value) is checked piece by piece as it streams past.
      const check = new CanonicalItemCheck(rules);
      for await (const item of section.pieces) {
        const completed = check.check(item);
        if (completed === 0) continue;
        rows += completed;
        ctx.reporter.progress(`verify ${section.table.name} (${n + 1}/${total})`, rows);
      }
      n++;
    }
    const trailer = opened.trailer!;
    return {
      header: { formatVersion: h.formatVersion, toolVersion: h.toolVersion, createdAt: h.createdAt, reason: h.reason, dialect: h.dialect, database: h.database, kind: h.kind, scope: h.scope, source: h.source, migrations: h.prismaMigrations.length },
      tables: trailer.tables,
      rowsTotal: trailer.rowsTotal,
      contentSha256: trailer.sha256,
      full: h,
      fileSha256: opened.fileSha256!,
      referenced: [...new Set(opened.referencedSections)].sort(),
    };
  } finally {
    await opened.close();
  }
}

/** The first `n` bytes (or fewer) of an opened backup, read through its own handle. */
async function firstBytes(file: BackupFile, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = file.stream(0);
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= n) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

async function record(ctx: OpsContext, result: VerifyResult, manifest: BackupManifest | null, filePath: string, h: BackupHeader | undefined, ageHeader: EncryptionRecord | null): Promise<void> {
  // Only backups in the managed folder under our naming get manifests.
  if (!parseBackupFileName(result.file) || !isManagedPath(ctx, filePath)) return;
  // Not trusted is not corrupt, and neither is a backup this machine has no key for: the manifest
  // keeps its verdict on the bytes (a failed verdict would let retention treat it as corrupt).
  if (result.error?.code === 'BACKUP_UNTRUSTED' || isKeyProblem(result.error?.code)) return;
  // A check without the key never overwrites a full check's verdict with a shallower one.
  if (result.depth === 'ciphertext' && result.ok && manifest?.verification?.ok && !manifest.verification.depth) return;
  const verification = { at: ctx.clock.now().toISOString(), ok: result.ok, ...(result.error ? { error: result.error.message } : {}), ...(result.depth === 'ciphertext' ? { depth: 'ciphertext' as const } : {}) };
  try {
    if (manifest && result.manifest === 'ok') {
      await writeManifestBeside(ctx, filePath, { ...manifest, verification });
    } else if (manifest && result.manifest === 'mismatch') {
      await writeManifestBeside(ctx, filePath, { ...manifest, verification });
    } else if (!manifest && result.ok && result.header && result.tables && h) {
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
        kind: h.kind,
        scope: h.scope,
        source: h.source,
        contentSha256: result.contentSha256,
        ...(result.sections?.length ? { sections: await sectionRefsAt(ctx, filePath, result.sections) } : {}),
      };
      await writeManifestBeside(ctx, filePath, result.encrypted && ageHeader ? encryptedManifest(rebuilt, ageHeader) : rebuilt);
      result.manifest = 'rebuilt';
    }
  } catch (e) {
    ctx.reporter.warn(`Could not record the verification in the manifest: ${messageOf(e)}`);
  }
}
