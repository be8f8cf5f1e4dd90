import { createHash } from 'node:crypto';
import { GuardError, messageOf } from '../core/errors.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { isSectionName, manifestFileName, parseBackupFileName } from '../format/naming.ts';
import type { SectionRef } from '../format/writer.ts';
import { validateManifest } from '../format/validate.ts';
import type { StorageBackend } from '../storage/contract.ts';
import { LocalStorage } from '../storage/local/local-storage.ts';
import type { OpsContext } from './context.ts';

/**
 * Offsite copies (3-2-1: the local folder for fast restores, another location for disasters):
 * a backup and its manifest copied byte for byte to another storage backend (BACKUP_COPY_TO, or
 * `prisma-guard copy --to`), the backup first, then read back from there and hashed: the copy
 * counts only when its SHA-256 equals the manifest's, and the manifest goes last, so a location
 * never lists a backup whose bytes are not all there. The manifest is copied unchanged (its
 * signature stays valid).
 */
export interface OffsiteCopy {
  file: string;
  location: string;
  sizeBytes: number;
  sha256: string;
  /** The backup was already there with the same checksum: nothing was written. */
  alreadyThere: boolean;
  durationMs: number;
}

export async function copyBackup(ctx: OpsContext, file: string, remote: StorageBackend, from: StorageBackend = new LocalStorage(ctx.backupDir)): Promise<OffsiteCopy> {
  const started = ctx.clock.now().getTime();
  if (!parseBackupFileName(file)) throw new GuardError('USAGE', `${file} is not a backup file name.`, { hint: 'Name it as `prisma-guard list` prints it.' });
  const local = from;
  const manifestName = manifestFileName(file);
  const manifestBytes = await readAll(await local.read(manifestName).catch((e) => {
    throw new GuardError('BACKUP_NOT_FOUND', `${file} has no manifest in ${local.location}, so it is not copied (a copy must be checkable): ${messageOf(e)}`, { hint: 'Run `prisma-guard verify` on it first.' });
  }));
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as BackupManifest;
  validateManifest(manifest, manifestName);
  if (manifest.file !== file) throw new GuardError('BACKUP_CORRUPT', `${manifestName} describes ${manifest.file}, not ${file}.`, { hint: 'Run `prisma-guard verify` on it.' });

  // Incremental backups: the sections it refers to go first, so a listed copy is complete.
  for (const ref of manifest.sections ?? []) await copySection(local, remote, ref, file);
  const there = await remote.stat(file);
  if (there && there.size === manifest.sizeBytes && (await sha256Of(remote, file)) === manifest.sha256) {
    if (!(await remote.stat(manifestName))) await remote.write(manifestName, manifestBytes);
    return { file, location: remote.location, sizeBytes: manifest.sizeBytes, sha256: manifest.sha256, alreadyThere: true, durationMs: ctx.clock.now().getTime() - started };
  }
  const written = await remote.write(file, await local.read(file));
  if (written.sha256 !== manifest.sha256) {
    await remote.remove(file).catch(() => {});
    throw new GuardError('BACKUP_CORRUPT', `${file} in ${local.location} does not match its manifest (SHA-256 ${written.sha256} read, ${manifest.sha256} recorded); it was not copied to ${remote.location}.`, {
      hint: 'Run `prisma-guard verify` on it; copy a backup that verifies.',
    });
  }
  // Read back from the location itself: what counts is what it stores.
  const stored = await sha256Of(remote, file);
  if (stored !== manifest.sha256) {
    await remote.remove(file).catch(() => {});
    throw new GuardError('STORAGE_FAILED', `The copy of ${file} in ${remote.location} reads back with another checksum (${stored}); it was removed.`, {
      hint: 'Check the storage server, then run `prisma-guard copy` again.',
    });
  }
  await remote.write(manifestName, manifestBytes);
  return { file, location: remote.location, sizeBytes: written.size, sha256: written.sha256, alreadyThere: false, durationMs: ctx.clock.now().getTime() - started };
}

/**
 * Copies one section object unless the location holds it already with the recorded size (sections
 * are named after their content, and each was read back when it was first copied there: a section
 * shared by many backups crosses the network once). A new copy is read back and hashed.
 */
async function copySection(from: StorageBackend, to: StorageBackend, ref: SectionRef, file: string): Promise<void> {
  if (!isSectionName(ref.object)) throw new GuardError('BACKUP_CORRUPT', `The manifest of ${file} lists "${ref.object.slice(0, 100)}", which is not a section object name.`, { hint: 'Run `prisma-guard verify` on it.' });
  const there = await to.stat(ref.object);
  if (there && there.kind === 'object' && there.size === ref.size) return;
  const source = await from.stat(ref.object);
  if (!source || source.kind !== 'object') {
    throw new GuardError('BACKUP_CORRUPT', `${file} refers to the section ${ref.object}, which ${from.location} does not hold, so it is not copied (the copy would be incomplete).`, { hint: 'Run `prisma-guard verify` on it; copy a backup that verifies.' });
  }
  const written = await to.write(ref.object, await from.read(ref.object));
  const stored = written.sha256 === ref.sha256 ? await sha256Of(to, ref.object) : written.sha256;
  if (stored !== ref.sha256) {
    await to.remove(ref.object).catch(() => {});
    throw new GuardError('BACKUP_CORRUPT', `The section ${ref.object} of ${file} does not match its manifest (SHA-256 ${stored}, recorded ${ref.sha256}); it was not copied to ${to.location}.`, { hint: 'Run `prisma-guard verify` on the backup; copy a backup that verifies.' });
  }
}

/** The backups (with a manifest) a location holds, newest first. Manifests that do not validate are skipped. */
export async function listLocation(remote: StorageBackend): Promise<BackupManifest[]> {
  const objects = await remote.list();
  const names = new Set(objects.filter((o) => o.kind === 'object').map((o) => o.name));
  const out: BackupManifest[] = [];
  for (const name of names) {
    if (!parseBackupFileName(name) || !names.has(manifestFileName(name))) continue;
    try {
      const m = JSON.parse((await readAll(await remote.read(manifestFileName(name)))).toString('utf8')) as BackupManifest;
      validateManifest(m, manifestFileName(name));
      if (m.file === name) out.push(m);
    } catch {
      /* not a manifest we can trust: not listed */
    }
  }
  return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
}

async function sha256Of(st: StorageBackend, name: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of await st.read(name)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Every byte of a stream, as one buffer (manifests: small). */
export async function readAll(r: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}
