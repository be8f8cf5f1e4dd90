import { Readable } from 'node:stream';
import { GuardError, messageOf } from '../core/errors.ts';
import type { BackupFile } from '../format/reader.ts';
import { AGE_MAGIC, isAgeFile } from '../pipeline/age.ts';
import { notFound, type StorageBackend } from './contract.ts';

/** How often a stream that breaks mid-object (a dropped connection) picks up again from where it stopped. */
const RESUMES = 3;

/**
 * A backup read straight from a storage backend (an S3 BACKUP_DIR): what the reader
 * (lib/format/reader.ts openBackup) reads a local file through, over range reads. Nothing is
 * downloaded to disk: each stream is one ranged GET, read as the consumer pulls.
 *
 * The object is pinned at open: its size and version (S3 ETag) are taken once, and every read asks
 * for exactly that version (If-Match, and the version the server answers with is compared), so an
 * object replaced under the name while a restore runs fails the read instead of mixing two
 * versions' bytes. A stream that ends before the object's size is an error, never a short file.
 */
export async function openStorageBackupFile(storage: StorageBackend, name: string, displayName = name): Promise<BackupFile> {
  const info = await storage.stat(name);
  if (!info || info.kind !== 'object') throw notFound(name, storage.location);
  if (info.size === 0) throw new GuardError('BACKUP_TRUNCATED', `${displayName} in ${storage.location} is empty (0 bytes).`, { hint: 'Use another backup (`prisma-guard list`).' });
  const size = info.size;
  const version = info.version;
  const magic = await readRange(storage, name, 0, Math.min(AGE_MAGIC.length, size), version);
  let closed = false;
  return {
    path: `${storage.location}/${name}`,
    displayName,
    size,
    encrypted: isAgeFile(magic),
    stream(start = 0) {
      if (closed) throw new GuardError('INTERNAL', `${displayName} was read after it was closed.`, { hint: 'This is a bug in prisma-guard; please report it.' });
      return rangeStream(storage, name, displayName, start, size, version);
    },
    // Another object of the same location (the sections a backup references).
    sibling: (other: string) => openStorageBackupFile(storage, other),
    close: async () => {
      closed = true;
    },
  };
}

async function readRange(storage: StorageBackend, name: string, start: number, end: number, version: string | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await storage.read(name, { start, end }, { ifMatch: version })) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/**
 * The bytes from `start` to `size`, pulled from ranged reads as the consumer asks (back-pressure:
 * the underlying response is paused while the consumer is behind). A response that breaks is
 * resumed from the next byte (same version) up to RESUMES times.
 */
function rangeStream(storage: StorageBackend, name: string, displayName: string, start: number, size: number, version: string | undefined): Readable {
  let position = start;
  let source: Readable | null = null;
  let opening = false;
  let resumes = 0;
  const out = new Readable({
    highWaterMark: 1 << 18,
    read() {
      if (source) source.resume();
      else if (!opening) open();
    },
    destroy(err, callback) {
      source?.destroy();
      source = null;
      callback(err);
    },
  });
  const open = () => {
    if (position >= size) {
      out.push(null);
      return;
    }
    opening = true;
    storage.read(name, { start: position }, { ifMatch: version }).then(
      (s) => {
        opening = false;
        if (out.destroyed) {
          s.destroy();
          return;
        }
        source = s;
        s.on('data', (chunk: Buffer) => {
          position += chunk.length;
          if (position > size) {
            out.destroy(new GuardError('BACKUP_CORRUPT', `${displayName} in ${storage.location} grew while it was being read (more than its ${size} bytes).`, { hint: 'Make sure nothing else writes under that backup name, then run the command again.' }));
            return;
          }
          if (!out.push(chunk)) s.pause();
        });
        s.once('end', () => {
          source = null;
          if (position === size) out.push(null);
          else broken(new Error(`the response ended after ${position} of ${size} bytes`));
        });
        s.once('error', (e) => {
          source = null;
          broken(e);
        });
      },
      (e) => {
        opening = false;
        out.destroy(e instanceof Error ? e : new Error(String(e)));
      },
    );
  };
  const broken = (e: unknown) => {
    if (out.destroyed) return;
    if (e instanceof GuardError || resumes >= RESUMES) {
      out.destroy(
        e instanceof GuardError
          ? e
          : new GuardError('STORAGE_FAILED', `Reading ${displayName} from ${storage.location} broke off at byte ${position} of ${size}: ${messageOf(e)}.`, { hint: 'Check BACKUP_S3_ENDPOINT, the network, and that the server is running; then run the command again.', cause: e }),
      );
      return;
    }
    resumes++;
    open();
  };
  return out;
}
