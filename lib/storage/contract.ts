import type { Readable } from 'node:stream';
import { GuardError } from '../core/errors.ts';

/**
 * Where backups live: the storage contract (after restic's internal/backend/backend.go). Every
 * backend stores flat, named objects (a backup, its manifest, a state file); names are plain file
 * names, never paths. What each backend guarantees:
 *
 * - `write` makes an object visible under its name only when every byte is stored (local: temp file,
 *   fsync, rename; S3: a multipart upload completes or nothing is there; memory: one assignment).
 *   A failed or aborted write leaves nothing under the name and the old object, if any, untouched.
 * - `read` streams the object, or a byte range of it; `stat` says whether it is there, its size and
 *   whether it is a plain object (a local folder may hold symlinks, FIFOs, directories: they are
 *   listed with kind `other` and never read).
 * - `remove` of a missing object is not an error.
 *
 * Backends: local/ (a folder, today's behaviour), s3/ (S3-compatible object storage), memory/ (a
 * real implementation for tests). `openStorage` (registry.ts) picks one from a location string.
 */
export interface StorageBackend {
  /** The location as it may be printed (no credentials). */
  readonly location: string;
  readonly features: StorageFeatures;
  /** Every object, sorted by name. */
  list(): Promise<ObjectInfo[]>;
  stat(name: string): Promise<ObjectInfo | null>;
  /**
   * The object's bytes (or `range`: from `start`, up to and excluding `end`). Throws OBJECT_NOT_FOUND.
   * `options.ifMatch`: only while the object is still the version `stat` saw (its `version`); a
   * replaced object fails with BACKUP_CORRUPT instead of mixing two versions' bytes.
   */
  read(name: string, range?: ByteRange, options?: ReadOptions): Promise<Readable>;
  /** Stores `body` under `name`, visible only when complete; returns what was stored. */
  write(name: string, body: AsyncIterable<Uint8Array> | Uint8Array, options?: WriteOptions): Promise<WriteResult>;
  remove(name: string): Promise<void>;
  /** Bytes free for new objects, when the backend can tell (features.freeSpace). */
  freeSpace?(): Promise<number | null>;
}

export interface StorageFeatures {
  /** A write replaces an existing object in one step (local rename, S3 PUT): readers see old or new. */
  atomicReplace: boolean;
  /** `read` honours byte ranges without reading what comes before. */
  rangeReads: boolean;
  /** `freeSpace()` answers. */
  freeSpace: boolean;
}

export interface ObjectInfo {
  name: string;
  size: number;
  modifiedAt: Date;
  /** `object`: a stored object. `other`: something else under that name (a symlink, a FIFO, a folder). */
  kind: 'object' | 'other';
  /** What identifies this version of the object, where the backend has it (S3: the ETag). */
  version?: string;
}

export interface ReadOptions {
  /** Read only this version (ObjectInfo.version); ignored by backends without versions. */
  ifMatch?: string;
}

export interface ByteRange {
  start: number;
  end?: number;
}

export interface WriteOptions {
  /** Stop the write: the partial object is discarded. */
  signal?: AbortSignal;
  /** Refuse to replace an existing object (GuardError OBJECT_EXISTS). */
  noOverwrite?: boolean;
}

export interface WriteResult {
  size: number;
  /** SHA-256 of the stored bytes, hex. */
  sha256: string;
}

/** Object names are plain file names: no path separators, no `.`/`..`, no control characters. */
export function checkObjectName(name: string, location: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\\u0000-\u001f]/.test(name) || name.length > 255) {
    throw new GuardError('PATH_OUTSIDE_BACKUP_DIR', `"${name.replace(/[\u0000-\u001f]/g, '?')}" is not a plain object name in ${location}.`, {
      hint: 'Name a backup by its file name, as `prisma-guard list` prints it.',
    });
  }
}

export function notFound(name: string, location: string): GuardError {
  return new GuardError('BACKUP_NOT_FOUND', `${name} does not exist in ${location}.`, { hint: 'Run `prisma-guard list` to see the backups there.' });
}

export function exists(name: string, location: string): GuardError {
  return new GuardError('WRITE_FAILED', `${name} already exists in ${location}; it is never overwritten.`, { hint: 'Choose another name.' });
}
