import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { GuardError, messageOf } from '../core/errors.ts';
import { sha256File, sha256OfStream } from '../core/hash-file.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { backupNamesOfManifest, isSectionName, MANIFEST_SUFFIX, manifestFileName, parseBackupFileName } from '../format/naming.ts';
import { openBackupFile, type BackupFile } from '../format/reader.ts';
import { validateManifest } from '../format/validate.ts';
import { openStorageBackupFile } from '../storage/backup-file.ts';
import type { StorageBackend } from '../storage/contract.ts';
import { LocalStorage } from '../storage/local/local-storage.ts';
import type { OpsContext } from './context.ts';
import { copyBackup, readAll, type OffsiteCopy } from './offsite.ts';
import { listBackups, readManifest, resolveBackup, writeManifest, type BackupListing, type ManifestCache, type StrayFile } from './store.ts';
import { damagedSection } from '../format/sections.ts';
import type { SectionRef } from '../format/writer.ts';

/**
 * Where backups live. BACKUP_DIR is a folder (today's behaviour: every helper here is the folder's
 * own code path), or object storage (`s3://bucket/prefix`: `ctx.primary`). With object storage:
 *
 * - a backup is written to the local working folder (`ctx.backupDir`, BACKUP_CACHE_DIR) exactly as
 *   to a backup folder (atomic, checksummed), uploaded with copyBackup (read back from the bucket
 *   and hashed against its manifest), then its working copy is removed (uploadNewBackup);
 * - a backup whose upload failed stays in the working folder, is listed as `pending` (not
 *   uploaded), is still restorable from there, and is uploaded again by the next backup;
 * - everything that reads a backup (restore, verify, diff, drill, migrate-safe) reads it straight
 *   from the bucket, streaming, through a storage-backed BackupFile (lib/storage/backup-file.ts):
 *   nothing is downloaded to disk;
 * - a backup is named by a "path" as everywhere else: `s3://bucket/prefix/<file>` for one in the
 *   bucket, a path in the working folder for a pending one (backupPathAt, remoteNameOf).
 *
 * Folder-only state (scheduler and notifier state, drill history, the dashboard's folder,
 * migrate-safe reports) stays in the working folder.
 */

/** How users see where backups live: the bucket location, or the folder. */
export function backupsLocation(ctx: OpsContext): string {
  return ctx.primary?.location ?? ctx.backupDir;
}

/** The object name a path of the primary location names (`s3://bucket/prefix/<name>`), else null. */
export function remoteNameOf(ctx: OpsContext, p: string): string | null {
  const primary = ctx.primary;
  if (!primary) return null;
  const prefix = primary.location + '/';
  if (!p.startsWith(prefix)) return null;
  const name = p.slice(prefix.length);
  return name && !name.includes('/') ? name : null;
}

/** The path of `file` where it lives: the working folder for a pending one, else the primary location. */
export function backupPathAt(ctx: OpsContext, file: string): string {
  const local = path.join(path.resolve(ctx.backupDir), file);
  if (!ctx.primary || existsSync(local)) return local;
  return `${ctx.primary.location}/${file}`;
}

/** Opens a backup by its path (see backupPathAt): a file on disk, or an object read by ranges. The caller closes it. */
export async function openBackupAt(ctx: OpsContext, p: string, displayName: string): Promise<BackupFile> {
  const name = remoteNameOf(ctx, p);
  return name ? openStorageBackupFile(ctx.primary!, name, displayName) : openBackupFile(p, displayName);
}

/** The manifest beside a backup (by its path); null when there is none; throws when it is not a valid manifest. */
export async function readManifestBeside(ctx: OpsContext, p: string, file: string): Promise<BackupManifest | null> {
  const mName = manifestFileName(file);
  if (!remoteNameOf(ctx, p)) {
    const mPath = path.join(path.dirname(p), mName);
    return existsSync(mPath) ? readManifest(mPath) : null;
  }
  const storage = ctx.primary!;
  if (!(await storage.stat(mName))) return null;
  return parseManifest(await readAll(await storage.read(mName)), mName);
}

/**
 * Writes a backup's manifest where the backup is: replaced in one step in the primary location, or
 * (a backup in the folder) written atomically in the backup folder as writeManifest does.
 */
export async function writeManifestBeside(ctx: OpsContext, p: string, manifest: BackupManifest): Promise<void> {
  if (!remoteNameOf(ctx, p)) return writeManifest(ctx.backupDir, manifest);
  const mName = manifestFileName(manifest.file);
  validateManifest(manifest, mName);
  await ctx.primary!.write(mName, Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));
}

/** Whether a path is one of the managed backups (the backup folder, or the primary location): only those get manifests written. */
export function isManagedPath(ctx: OpsContext, p: string): boolean {
  return remoteNameOf(ctx, p) !== null || path.dirname(p) === path.resolve(ctx.backupDir);
}

/**
 * Whether a manifest's recorded verification still stands for the bytes at `p`. A file on disk is
 * hashed (cheap, local). An object in the primary location is not read for this: its size must
 * match, and whatever reads it next (a restore) hashes the bytes it loads and compares them with
 * the manifest before COMMIT, so the backup is read once.
 */
export async function recordedVerificationHolds(ctx: OpsContext, p: string, m: BackupManifest): Promise<boolean> {
  const name = remoteNameOf(ctx, p);
  if (!name) return (await sha256File(p).catch(() => '')) === m.sha256;
  const st = await ctx.primary!.stat(name).catch(() => null);
  return st !== null && st.size === m.sizeBytes;
}

/** A listing of where backups live, with where each one is. */
export interface PrimaryListing extends BackupListing {
  /** Where backups live (the bucket location, or the folder). */
  location: string;
  /** Backups whose only copy is in the working folder: their upload has not succeeded yet (always empty for a folder). */
  pending: string[];
  /** The path of a listed backup (see backupPathAt). */
  pathOf(file: string): string;
  /** Opens a listed backup (a stray without manifest too) for reading its header. */
  open(file: string): Promise<BackupFile>;
}

/** Every backup where backups live (the folder, or the primary location plus pending uploads), newest first. */
export async function primaryListing(ctx: OpsContext, options: { cache?: ManifestCache } = {}): Promise<PrimaryListing> {
  const dir = path.resolve(ctx.backupDir);
  const primary = ctx.primary;
  if (!primary) {
    const l = await listBackups(ctx.backupDir, options);
    return { ...l, location: ctx.backupDir, pending: [], pathOf: (f) => path.join(dir, f), open: (f) => openBackupFile(path.join(dir, f), f) };
  }
  const [remote, local] = await Promise.all([storageListing(primary), listBackups(ctx.backupDir)]);
  const there = new Set(remote.backups.map((m) => m.file));
  const pending = local.backups.filter((m) => !there.has(m.file));
  const backups = [...remote.backups, ...pending].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.file < b.file ? 1 : -1));
  const localStray = local.stray.map((s) => ({ ...s, detail: `in the working folder ${dir}${s.detail ? `: ${s.detail}` : ''}` }));
  const pendingSet = new Set(pending.map((m) => m.file).concat(local.stray.map((s) => s.file)));
  const pathOf = (f: string) => (pendingSet.has(f) ? path.join(dir, f) : `${primary.location}/${f}`);
  return {
    backups,
    stray: [...remote.stray, ...localStray].sort((a, b) => (a.file < b.file ? -1 : 1)),
    location: primary.location,
    pending: pending.map((m) => m.file),
    pathOf,
    open: (f) => openBackupAt(ctx, pathOf(f), f),
  };
}

/**
 * The backups of a storage location as listBackups reports a folder's: valid manifests, and the
 * objects that are not complete backups (a backup without manifest, a manifest without backup, a
 * manifest that does not validate). Manifests are read a few at a time (one request each).
 */
async function storageListing(storage: StorageBackend): Promise<BackupListing> {
  const objects = (await storage.list()).filter((o) => o.kind === 'object');
  const names = new Set(objects.map((o) => o.name));
  const backups: BackupManifest[] = [];
  const stray: StrayFile[] = [];
  const todo: string[] = [];
  for (const name of names) {
    if (name.endsWith(MANIFEST_SUFFIX)) {
      const candidates = backupNamesOfManifest(name);
      if (!candidates.some((c) => names.has(c))) stray.push({ file: name, problem: 'orphan-manifest', detail: `its backup ${candidates[0]} is missing` });
      continue;
    }
    if (!parseBackupFileName(name)) continue;
    if (!names.has(manifestFileName(name))) stray.push({ file: name, problem: 'no-manifest', detail: 'run `prisma-guard verify` on it to rebuild the manifest' });
    else todo.push(name);
  }
  const worker = async () => {
    for (let name = todo.shift(); name !== undefined; name = todo.shift()) {
      try {
        const m = parseManifest(await readAll(await storage.read(manifestFileName(name))), manifestFileName(name));
        if (m.file !== name) throw new Error(`it describes ${m.file}`);
        backups.push(m);
      } catch (e) {
        stray.push({ file: name, problem: 'bad-manifest', detail: messageOf(e) });
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  backups.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.file < b.file ? 1 : -1));
  return { backups, stray };
}

function parseManifest(bytes: Buffer, name: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new GuardError('BACKUP_CORRUPT', `The manifest ${name} is not valid JSON.`, { hint: 'Run `prisma-guard verify` on its backup to rewrite it.' });
  }
  return validateManifest(value, name);
}

/**
 * What a command argument names where backups live (`latest` is resolved by select.ts): a pending
 * backup in the working folder, else an object of the primary location (by its file name or its
 * full `s3://...` path). A folder BACKUP_DIR: store.ts resolveBackup.
 */
export async function resolveAtPrimary(ctx: OpsContext, given: string): Promise<{ path: string; file: string }> {
  const primary = ctx.primary;
  if (!primary) return resolveBackup(ctx.backupDir, given);
  const name = remoteNameOf(ctx, given) ?? given;
  if (name.includes('/') || !parseBackupFileName(name)) return resolveBackup(ctx.backupDir, given);
  if (existsSync(path.join(ctx.backupDir, name))) return resolveBackup(ctx.backupDir, name);
  if (!(await primary.stat(name))) {
    throw new GuardError('BACKUP_NOT_FOUND', `The backup "${name}" does not exist in ${primary.location}.`, { hint: 'Run `prisma-guard list` to see the available backups.' });
  }
  return { path: `${primary.location}/${name}`, file: name };
}

/**
 * A backup just written to the working folder goes to the primary location: uploaded and read back
 * (copyBackup: the backup first, checked against its manifest, the manifest last), then its working
 * copy is removed. Failure: STORAGE_FAILED (exit 14) naming the kept working copy; nothing partial
 * is left under the backup's name in the bucket (a failed multipart upload is aborted).
 * Then any earlier pending upload is tried again (a failure there is a warning).
 */
export async function uploadNewBackup(ctx: OpsContext, file: string): Promise<{ path: string; upload: OffsiteCopy }> {
  const primary = ctx.primary!;
  let upload: OffsiteCopy;
  try {
    upload = await copyBackup(ctx, file, primary, new LocalStorage(ctx.backupDir));
  } catch (e) {
    const kept = path.join(ctx.backupDir, file);
    throw new GuardError('STORAGE_FAILED', `The backup ${file} was written and checked in the working folder, but uploading it to ${primary.location} failed: ${messageOf(e)} It is kept at ${kept}: \`prisma-guard list\` shows it as not uploaded, restores can use it, and the next backup uploads it again.`, {
      hint: `Check BACKUP_S3_ENDPOINT, the credentials and that the server is running; to upload it now: prisma-guard copy ${file} --from ${ctx.backupDir} --to ${primary.location}`,
      cause: e,
      details: { kept },
    });
  }
  await removeWorkingCopy(ctx, file);
  ctx.reporter.info(`Uploaded to ${primary.location} and read back: SHA-256 matches (${upload.durationMs} ms)`);
  await uploadPending(ctx, file);
  return { path: `${primary.location}/${file}`, upload };
}

/** Earlier backups whose upload failed (still in the working folder) are uploaded now; failures are warnings. */
async function uploadPending(ctx: OpsContext, except: string): Promise<void> {
  const primary = ctx.primary!;
  const local = await listBackups(ctx.backupDir).catch(() => ({ backups: [] as BackupManifest[] }));
  for (const m of local.backups) {
    if (m.file === except) continue;
    try {
      await copyBackup(ctx, m.file, primary, new LocalStorage(ctx.backupDir));
      await removeWorkingCopy(ctx, m.file);
      ctx.reporter.info(`Uploaded the pending backup ${m.file} to ${primary.location}.`);
    } catch (e) {
      ctx.reporter.warn(`The pending backup ${m.file} is still not uploaded to ${primary.location}: ${messageOf(e)}`);
    }
  }
}

/**
 * Removes the working copy of an uploaded backup: the backup and its manifest. Section objects
 * (incremental backups reference them) are removed too, but only those the primary location
 * holds with the same size: the working folder is a place to write, not a cache, so it does not
 * grow with every backup (nothing would ever prune it), and a section the bucket does not hold
 * (an upload that stopped before it) stays until an upload takes it.
 */
async function removeWorkingCopy(ctx: OpsContext, file: string): Promise<void> {
  const dir = ctx.backupDir;
  await fs.rm(path.join(dir, file), { force: true });
  await fs.rm(path.join(dir, manifestFileName(file)), { force: true });
  const sections = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => isSectionName(n));
  if (!sections.length) return;
  const there = new Map((await ctx.primary!.list()).map((o) => [o.name, o.size]));
  for (const name of sections) {
    const st = await fs.stat(path.join(dir, name)).catch(() => null);
    if (st && there.get(name) === st.size) await fs.rm(path.join(dir, name), { force: true });
  }
}

/**
 * Deletes one backup where it lives (the dashboard's delete): in the folder as prune's
 * deleteBackup does; in the primary location the same way (manifest re-read, a pinned one is kept,
 * the backup before its manifest). A pending backup is deleted from the working folder.
 */
export async function deleteBackupAt(ctx: OpsContext, file: string, deleteLocal: (dir: string, file: string) => Promise<void>): Promise<void> {
  const primary = ctx.primary;
  if (!primary || existsSync(path.join(ctx.backupDir, file))) return deleteLocal(ctx.backupDir, file);
  if (!parseBackupFileName(file) || path.basename(file) !== file) throw new Error(`${file} is not a backup file name`);
  const m = parseManifest(await readAll(await primary.read(manifestFileName(file))), manifestFileName(file));
  if (m.pinned) throw new Error('pinned since the location was read; kept');
  await primary.remove(file);
  await primary.remove(manifestFileName(file));
}

/** The storage and object name of a section beside the backup at `p` (the folder it is in, or the primary location). */
function sectionsStorage(ctx: OpsContext, p: string): StorageBackend {
  return remoteNameOf(ctx, p) ? ctx.primary! : new LocalStorage(path.dirname(p));
}

/**
 * format/sections.ts damagedSection for the backup at `p`: in its folder as there, in the primary
 * location by stat (size) and, with `hash`, by reading the object.
 */
export async function damagedSectionAt(ctx: OpsContext, p: string, refs: readonly SectionRef[], options: { hash: boolean }): Promise<{ object: string; why: string } | null> {
  if (!remoteNameOf(ctx, p)) return damagedSection(path.dirname(p), refs, options);
  const storage = ctx.primary!;
  for (const ref of refs) {
    const name = path.basename(ref.object);
    const st = await storage.stat(name);
    if (!st) return { object: ref.object, why: 'is missing' };
    if (st.size !== ref.size) return { object: ref.object, why: `has ${st.size} bytes, not the ${ref.size} its manifest recorded` };
    if (options.hash && (await sha256Of(storage, name)) !== ref.sha256) return { object: ref.object, why: 'does not match the checksum its manifest recorded' };
  }
  return null;
}

/** The manifest record of sections a verified backup refers to, from their bytes as stored now (beside the backup at `p`). */
export async function sectionRefsAt(ctx: OpsContext, p: string, names: readonly string[]): Promise<SectionRef[]> {
  const storage = sectionsStorage(ctx, p);
  const out: SectionRef[] = [];
  for (const object of names) {
    const st = await storage.stat(object);
    if (!st) throw new GuardError('BACKUP_CORRUPT', `The section ${object} is missing from ${storage.location}.`, { hint: 'Use another backup (`prisma-guard list`).' });
    out.push({ object, size: st.size, sha256: await sha256Of(storage, object) });
  }
  return out;
}

async function sha256Of(storage: StorageBackend, name: string): Promise<string> {
  return sha256OfStream(await storage.read(name));
}

/**
 * For an incremental backup into an s3 BACKUP_DIR: a section listed by a manifest there is reused
 * when the bucket holds it with the recorded size (it was read back and hashed when it was
 * uploaded; every restore checks its rows). A section reused this way is not in the working folder:
 * the upload finds it in the bucket already.
 */
export function storedAt(primary: StorageBackend): (ref: SectionRef) => Promise<boolean> {
  return async (ref) => {
    const st = await primary.stat(ref.object).catch(() => null);
    return Boolean(st && st.kind === 'object' && st.size === ref.size);
  };
}
