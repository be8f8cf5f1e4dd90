import { promises as fs, realpathSync } from 'node:fs';
import path from 'node:path';
import { GuardError, messageOf } from '../core/errors.ts';
import type { BackupManifest } from '../format/manifest.ts';
import { backupNamesOfManifest, isTemporaryName, MANIFEST_SUFFIX, manifestFileName, parseBackupFileName } from '../format/naming.ts';
import { validateManifest } from '../format/validate.ts';
import { writeSmallFileAtomically } from '../format/writer.ts';
import { openBackup } from '../format/reader.ts';
import { inferV1 } from '../format/source.ts';

/** Creates the backup folder (mode 0700) if needed. */
export async function ensureBackupDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new GuardError('WRITE_FAILED', `Cannot create the backup folder ${dir}: ${messageOf(e)}.`, { hint: 'Set BACKUP_DIR to a writable folder.', cause: e });
  }
}

function inside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' ? false : !rel.startsWith('..') && !path.isAbsolute(rel);
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * Resolves what the user typed (a file name, `latest`, or a path inside the backup folder) to a
 * file in the backup folder. Anything outside it (`../x`, absolute paths elsewhere, symlinks that
 * lead out) is refused: restores only read from the folder prisma-guard manages.
 */
export async function resolveBackup(backupDir: string, given: string): Promise<{ path: string; file: string }> {
  if (!given || !given.trim()) {
    throw new GuardError('USAGE', 'No backup given.', { hint: 'Pass a backup file name or `latest`; `prisma-guard list` shows them.' });
  }
  const dir = real(path.resolve(backupDir));
  if (given === 'latest') {
    // `latest` depends on the target database: lib/ops/select.ts resolves it (resolveGiven).
    throw new GuardError('INTERNAL', '`latest` must be resolved against a target database (resolveGiven).', { hint: 'This is a bug in prisma-guard; please report it.' });
  }
  const candidates = [path.resolve(given), path.resolve(dir, given)];
  const within = candidates.map((c) => real(c)).find((c) => inside(dir, c));
  if (!within) {
    throw new GuardError('PATH_OUTSIDE_BACKUP_DIR', `"${given}" is outside the backup folder ${dir}; prisma-guard only reads backups from there.`, {
      hint: `Copy the file into ${dir} and pass its name (see \`prisma-guard list\`).`,
    });
  }
  try {
    const st = await fs.stat(within);
    if (!st.isFile()) throw new Error('not a regular file');
  } catch {
    throw new GuardError('BACKUP_NOT_FOUND', `The backup "${given}" does not exist in ${dir}.`, { hint: 'Run `prisma-guard list` to see the available backups.' });
  }
  return { path: within, file: path.basename(within) };
}

export interface StrayFile {
  file: string;
  problem: 'unfinished' | 'no-manifest' | 'bad-manifest' | 'orphan-manifest' | 'not-a-file';
  detail?: string;
}

export interface BackupListing {
  /** Valid manifests, newest first. */
  backups: BackupManifest[];
  /** Files that are not complete backups of ours: reported, never deleted silently. */
  stray: StrayFile[];
}

/**
 * Manifests already read and validated, by path, with the file's identity when it was read
 * (inode, size, modification and change times). Manifests are replaced by rename, so any rewrite
 * gives a new inode: an entry is used only while all four still match (the dashboard's listing).
 */
export type ManifestCache = Map<string, { key: string; manifest: BackupManifest }>;

async function readManifestCached(manifestPath: string, cache: ManifestCache | undefined): Promise<BackupManifest> {
  if (!cache) return readManifest(manifestPath);
  const st = await fs.stat(manifestPath);
  const key = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  const hit = cache.get(manifestPath);
  if (hit && hit.key === key) return hit.manifest;
  const manifest = await readManifest(manifestPath);
  cache.set(manifestPath, { key, manifest });
  return manifest;
}

/** Reads every manifest in the folder without decompressing any backup (`cache`: see ManifestCache). */
export async function listBackups(backupDir: string, options: { cache?: ManifestCache } = {}): Promise<BackupListing> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(backupDir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { backups: [], stray: [] };
    throw e;
  }
  const backups: BackupManifest[] = [];
  const stray: StrayFile[] = [];
  // Only regular files are ever opened: a symlink (it may lead out of the folder), a FIFO (a read
  // would hang) or a device under a backup or manifest name is reported, never followed or read.
  const names: string[] = [];
  for (const d of entries) {
    const ours = parseBackupFileName(d.name) || d.name.endsWith(MANIFEST_SUFFIX);
    if (d.isFile() || !ours) names.push(d.name);
    else stray.push({ file: d.name, problem: 'not-a-file', detail: `a ${d.isSymbolicLink() ? 'symbolic link' : d.isDirectory() ? 'directory' : d.isFIFO() ? 'FIFO' : 'special file'}, not a regular file: never opened; remove it or replace it with the real file` });
  }
  const set = new Set(names);
  for (const name of names) {
    if (isTemporaryName(name)) {
      stray.push({ file: name, problem: 'unfinished', detail: 'temporary file of a backup that did not finish' });
      continue;
    }
    if (name.endsWith('.manifest.json')) {
      const candidates = backupNamesOfManifest(name);
      if (!candidates.some((c) => set.has(c))) stray.push({ file: name, problem: 'orphan-manifest', detail: `its backup ${candidates[0]} is missing` });
      continue;
    }
    if (!parseBackupFileName(name)) continue;
    const mf = manifestFileName(name);
    if (!set.has(mf)) {
      stray.push({ file: name, problem: 'no-manifest', detail: 'run `prisma-guard verify` on it to rebuild the manifest' });
      continue;
    }
    try {
      const m = await readManifestCached(path.join(backupDir, mf), options.cache);
      if (m.file !== name) throw new Error(`it describes ${m.file}`);
      backups.push(m);
    } catch (e) {
      stray.push({ file: name, problem: 'bad-manifest', detail: messageOf(e) });
    }
  }
  backups.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.file < b.file ? 1 : -1));
  stray.sort((a, b) => (a.file < b.file ? -1 : 1));
  return { backups, stray };
}

export async function readManifest(manifestPath: string): Promise<BackupManifest> {
  const text = await fs.readFile(manifestPath, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new GuardError('BACKUP_CORRUPT', `The manifest ${path.basename(manifestPath)} is not valid JSON.`, { hint: 'Run `prisma-guard verify` on its backup to rewrite it.' });
  }
  const m = validateManifest(value, path.basename(manifestPath));
  return m.formatVersion < 2 ? withV1Identity(m, path.join(path.dirname(manifestPath), m.file)) : m;
}

/**
 * A version-1 manifest has no kind, scope or source: take them from its backup's header (the reader
 * infers them for version-1 headers, see lib/format/source.ts), or from the manifest's own fields
 * when the header cannot be read.
 */
async function withV1Identity(m: BackupManifest, backupPath: string): Promise<BackupManifest> {
  try {
    const opened = await openBackup(backupPath, m.file);
    await opened.close();
    return { ...m, kind: opened.header.kind, scope: opened.header.scope, source: opened.header.source };
  } catch {
    const tables = Object.keys(m.tables);
    return { ...m, ...inferV1({ reason: m.reason, dialect: m.dialect, database: m.database, schema: { tables: tables.map((name) => ({ name })), ddl: [] } }) };
  }
}

/** Validates then writes a manifest atomically beside its backup. */
export async function writeManifest(backupDir: string, manifest: BackupManifest): Promise<void> {
  validateManifest(manifest, manifestFileName(manifest.file));
  await writeSmallFileAtomically(path.join(backupDir, manifestFileName(manifest.file)), JSON.stringify(manifest, null, 2) + '\n');
}
