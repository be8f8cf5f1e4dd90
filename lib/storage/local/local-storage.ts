import { constants, createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GuardError, messageOf } from '../../core/errors.ts';
import { hashTap } from '../../core/hash-tap.ts';
import { isTemporaryName, temporaryName } from '../../format/naming.ts';
import { syncDir, trackTemporary, untrackTemporary } from '../../format/writer.ts';
import { checkObjectName, exists, notFound, type ByteRange, type ObjectInfo, type StorageBackend, type WriteOptions, type WriteResult } from '../contract.ts';

/**
 * A folder on this machine (BACKUP_DIR): objects are files, mode 0600, in a folder created 0700.
 * A write goes to a hidden temporary file, is fsynced, renamed over the name and the folder is
 * fsynced; a failure or abort removes the temporary file (and a process exit does too). Reads
 * refuse anything that is not a regular file, and never follow a symlink.
 */
export class LocalStorage implements StorageBackend {
  readonly features = { atomicReplace: true, rangeReads: true, freeSpace: true };
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = dir;
  }

  async list(): Promise<ObjectInfo[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: ObjectInfo[] = [];
    for (const name of names.sort()) {
      if (isTemporaryName(name)) continue;
      const info = await this.lstat(name);
      if (info) out.push(info);
    }
    return out;
  }

  async stat(name: string): Promise<ObjectInfo | null> {
    checkObjectName(name, this.location);
    return this.lstat(name);
  }

  private async lstat(name: string): Promise<ObjectInfo | null> {
    try {
      const st = await fs.lstat(path.join(this.dir, name));
      return { name, size: st.size, modifiedAt: st.mtime, kind: st.isFile() ? 'object' : 'other' };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async read(name: string, range?: ByteRange): Promise<Readable> {
    checkObjectName(name, this.location);
    const file = path.join(this.dir, name);
    let handle: fs.FileHandle;
    try {
      // O_NOFOLLOW: a symlink under the name is refused, not followed; O_NONBLOCK: a FIFO does not hang the open.
      handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw notFound(name, this.location);
      if (code === 'ELOOP') throw notRegular(name, this.location, 'a symbolic link');
      throw e;
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw notRegular(name, this.location, st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a folder' : 'not a regular file');
    }
    return createReadStream('', { fd: handle, start: range?.start, end: range?.end !== undefined ? range.end - 1 : undefined, highWaterMark: 1 << 18 });
  }

  async write(name: string, body: AsyncIterable<Uint8Array> | Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    checkObjectName(name, this.location);
    const finalPath = path.join(this.dir, name);
    const tmpPath = path.join(this.dir, temporaryName(name));
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 }).catch((e) => {
      throw new GuardError('WRITE_FAILED', `Cannot create the backup folder ${this.dir}: ${messageOf(e)}.`, { hint: 'Set BACKUP_DIR to a writable folder.', cause: e });
    });
    if (options.noOverwrite && (await this.lstat(name))) throw exists(name, this.location);
    trackTemporary(tmpPath);
    try {
      const tap = hashTap();
      const source = body instanceof Uint8Array ? Readable.from([Buffer.from(body)]) : Readable.from(body, { objectMode: false });
      await pipeline(source, tap.stream, createWriteStream(tmpPath, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }), { signal: options.signal });
      const handle = await fs.open(tmpPath, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (options.signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
      if (options.noOverwrite) {
        // link() fails when the name exists: no window in which another writer's object is replaced.
        await fs.link(tmpPath, finalPath).catch((e) => {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw exists(name, this.location);
          throw e;
        });
        await fs.rm(tmpPath, { force: true });
      } else await fs.rename(tmpPath, finalPath);
      untrackTemporary(tmpPath);
      await syncDir(this.dir);
      return { size: tap.size(), sha256: tap.sha256() };
    } catch (e) {
      await fs.rm(tmpPath, { force: true }).catch(() => {});
      untrackTemporary(tmpPath);
      if (e instanceof GuardError) throw e;
      const err = e as NodeJS.ErrnoException;
      if (err?.name === 'AbortError') throw new GuardError('WRITE_FAILED', `Writing ${name} was aborted; the partial file was removed.`, { cause: e });
      throw new GuardError('WRITE_FAILED', `Could not write ${name} in ${this.dir}: ${messageOf(e)}${err?.code ? ` (${err.code})` : ''}. The partial file was removed; other files are untouched.`, {
        hint: err?.code === 'ENOSPC' || err?.code === 'EDQUOT' || err?.code === 'EFBIG' ? 'Free disk space (or run `prisma-guard prune`) and try again.' : `Check that ${this.dir} exists and is writable by this user.`,
        cause: e,
      });
    }
  }

  async remove(name: string): Promise<void> {
    checkObjectName(name, this.location);
    await fs.rm(path.join(this.dir, name), { force: true });
    await syncDir(this.dir);
  }

  async freeSpace(): Promise<number | null> {
    try {
      const s = await fs.statfs(this.dir);
      return s.bavail * s.bsize;
    } catch {
      return null;
    }
  }
}

function notRegular(name: string, location: string, what: string): GuardError {
  return new GuardError('BACKUP_NOT_FOUND', `${name} in ${location} is ${what}, not a backup file; it is never read.`, {
    hint: 'Remove it from the backup folder, or name the file it points to.',
  });
}
