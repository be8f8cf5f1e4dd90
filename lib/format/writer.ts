import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { GuardError, messageOf } from '../core/errors.ts';
import type { TableSchema } from '../core/types.ts';
import type { EncodedRow } from '../dialects/dialect.ts';
import type { BackupHeader, TableEndLine, TableStartLine, TrailerLine } from './header.ts';
import { temporaryName } from './naming.ts';
import { hashTap } from '../core/hash-tap.ts';
import { encryptStage, type EncryptionSettings } from '../pipeline/age.ts';

/** Default gzip level: 1 is several times faster than 6 for ~15% larger files (see BENCHMARKS.md). */
export const DEFAULT_COMPRESSION_LEVEL = 1;

export interface TableSection {
  table: TableSchema;
  rows: AsyncIterable<EncodedRow[]>;
  /**
   * Optional: the same rows already as canonical line bytes (SnapshotReader.canonicalLines); when
   * present the encoder writes these instead of encoding `rows`, and reads only one of the two.
   */
  lines?: AsyncIterable<Uint8Array>;
}

export interface EncodeResult {
  trailer?: TrailerLine;
}

/** The canonical text of a row: the basis of every checksum. */
export function rowLine(row: EncodedRow): string {
  return JSON.stringify(row);
}

/**
 * Computes per-table row counts and checksums exactly as backups and `verify` do: SHA-256 over each
 * row's canonical line followed by "\n".
 */
export class TableHasher {
  private hash = createHash('sha256');
  rows = 0;
  /** Adds a batch and returns its text (lines joined, each ending in "\n"). */
  add(rows: EncodedRow[]): string {
    if (rows.length === 0) return '';
    let text = '';
    for (const r of rows) text += rowLine(r) + '\n';
    this.hash.update(text);
    this.rows += rows.length;
    return text;
  }
  /** Adds rows that are already canonical line bytes (whole lines). */
  addLines(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.rows += countLines(chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Number of "\n" in a chunk of whole lines. */
export function countLines(chunk: Uint8Array): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Produces the lines of a backup: header, then per table a start line, row lines and an end line
 * with count and checksum, then the trailer. `result.trailer` is set once the stream is complete.
 */
export async function* encodeBackup(header: BackupHeader, sections: AsyncIterable<TableSection>, result: EncodeResult, onRows?: (table: string, rows: number) => void): AsyncGenerator<string | Buffer> {
  const whole = createHash('sha256');
  const emit = <T extends string | Buffer>(text: T): T => {
    whole.update(text);
    return text;
  };
  yield emit(JSON.stringify(header) + '\n');
  const tables: TrailerLine['tables'] = {};
  let rowsTotal = 0;
  for await (const section of sections) {
    const start: TableStartLine = { type: 'table', name: section.table.name, columns: section.table.columns.map((c) => c.name) };
    yield emit(JSON.stringify(start) + '\n');
    const hasher = new TableHasher();
    if (section.lines) {
      for await (const chunk of section.lines) {
        // A copy: the reader may reuse its buffer while gzip still holds this one.
        const bytes = Buffer.from(chunk);
        hasher.addLines(bytes);
        yield emit(bytes);
        onRows?.(section.table.name, hasher.rows);
      }
    } else {
      for await (const batch of section.rows) {
        const text = hasher.add(batch);
        if (text) yield emit(text);
        onRows?.(section.table.name, hasher.rows);
      }
    }
    const end: TableEndLine = { type: 'table-end', name: section.table.name, rows: hasher.rows, sha256: hasher.digest() };
    tables[end.name] = { rows: end.rows, sha256: end.sha256 };
    rowsTotal += end.rows;
    yield emit(JSON.stringify(end) + '\n');
  }
  const trailer: TrailerLine = { type: 'trailer', tables, rowsTotal, sha256: whole.digest('hex'), completedAt: new Date().toISOString() };
  result.trailer = trailer;
  yield JSON.stringify(trailer) + '\n';
}

/**
 * The same chunks, with a turn of the event loop after each. gzip compresses on the thread pool but
 * starts on its next piece only from a callback on this thread, which a producer that never waits
 * (a SQLite read is synchronous) holds back until the pipeline stalls; with a turn per chunk the
 * compression of one chunk overlaps the encoding of the next.
 */
async function* withTurns<T>(chunks: AsyncIterable<T>): AsyncGenerator<T> {
  for await (const c of chunks) {
    yield c;
    await new Promise<void>((r) => setImmediate(r));
  }
}

/** Temporary files this process is writing right now (removed on exit if still there). */
const temporaries = new Set<string>();
let exitHookInstalled = false;

/**
 * Registers a temporary file for removal should the process exit while writing it: a signal
 * (bin/cli.ts ends the process at once on SIGINT/SIGTERM) or any process.exit. The normal paths
 * rename or remove the file themselves and untrack it.
 */
export function trackTemporary(file: string): void {
  temporaries.add(file);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', removeTemporaryFilesNow);
  }
}

/** Removes, synchronously, every temporary file this process is still writing. */
export function removeTemporaryFilesNow(): void {
  for (const file of temporaries) {
    try {
      rmSync(file, { force: true });
    } catch {
      /* exiting anyway: `list` reports a leftover as unfinished */
    }
  }
  temporaries.clear();
}

export interface WrittenFile {
  path: string;
  sizeBytes: number;
  /** SHA-256 of the compressed bytes. */
  sha256: string;
}

/**
 * Writes `lines` to `dir/fileName` atomically through the file pipeline: compress (gzip), then
 * encrypt (age, when `encryption` is given), then hash, each a stage; into a hidden temporary file
 * (mode 0600), fsync, rename, fsync of the folder. With encryption no plaintext byte reaches the
 * disk, not even in the temporary file. On any error or abort the temporary file is removed and no
 * file appears under `fileName`. `sha256` and `sizeBytes` are those of the bytes on disk.
 */
export async function writeFileAtomically(dir: string, fileName: string, lines: AsyncIterable<string | Uint8Array>, options: { compressionLevel?: number; signal?: AbortSignal; encryption?: EncryptionSettings | null } = {}): Promise<WrittenFile> {
  const finalPath = path.join(dir, fileName);
  const tmpPath = path.join(dir, temporaryName(fileName));
  trackTemporary(tmpPath);
  try {
    const tap = hashTap();
    const out = createWriteStream(tmpPath, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
    const gzip = zlib.createGzip({ level: options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL, chunkSize: 1 << 16 });
    const source = Readable.from(withTurns(lines), { objectMode: false, highWaterMark: 1 << 16 });
    if (options.encryption) await pipeline(source, gzip, encryptStage(options.encryption), tap.stream, out, { signal: options.signal });
    else await pipeline(source, gzip, tap.stream, out, { signal: options.signal });
    // fsync flushes the file whichever descriptor asks, so the data is on disk before the rename.
    const handle = await fs.open(tmpPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    // An abort that arrived after the last byte still leaves no file under the backup's name.
    if (options.signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    await fs.rename(tmpPath, finalPath);
    temporaries.delete(tmpPath);
    await syncDir(dir);
    return { path: finalPath, sizeBytes: tap.size(), sha256: tap.sha256() };
  } catch (e) {
    await fs.rm(tmpPath, { force: true }).catch(() => {});
    temporaries.delete(tmpPath);
    if (e instanceof GuardError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err?.name === 'AbortError') {
      throw new GuardError('WRITE_FAILED', `Writing ${fileName} was aborted; the partial file was removed.`, { cause: e });
    }
    if (err?.code === 'ENOSPC' || err?.code === 'EFBIG' || err?.code === 'EDQUOT' || err?.code === 'EACCES' || err?.code === 'EROFS' || err?.code === 'ENOENT' || err?.code === 'EPERM') {
      throw new GuardError('WRITE_FAILED', `Could not write ${fileName} in ${dir}: ${messageOf(e)} (${err.code}). The partial file was removed; earlier backups are untouched.`, {
        hint: err.code === 'ENOSPC' || err.code === 'EFBIG' || err.code === 'EDQUOT' ? 'Free disk space (or run `prisma-guard prune`) and run the backup again.' : `Check that ${dir} exists and is writable by this user.`,
        cause: e,
      });
    }
    throw e;
  }
}

/** Writes a small file (manifest, report) atomically with mode 0600. */
export async function writeSmallFileAtomically(filePath: string, content: string): Promise<void> {
  const dir = path.dirname(filePath);
  const tmp = path.join(dir, temporaryName(path.basename(filePath)));
  trackTemporary(tmp);
  try {
    const h = await fs.open(tmp, 'wx', 0o600);
    try {
      await h.writeFile(content);
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.rename(tmp, filePath);
    temporaries.delete(tmp);
    await syncDir(dir);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    temporaries.delete(tmp);
    const err = e as NodeJS.ErrnoException;
    throw new GuardError('WRITE_FAILED', `Could not write ${filePath}: ${messageOf(e)}.`, { cause: e, hint: err?.code === 'ENOSPC' ? 'Free disk space and try again.' : `Check that ${dir} is writable.` });
  }
}

export async function syncDir(dir: string): Promise<void> {
  try {
    const d = await fs.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/** The temporary file is gone (renamed into place or removed): no longer removed at exit. */
export function untrackTemporary(file: string): void {
  temporaries.delete(file);
}
