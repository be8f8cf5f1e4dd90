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
  /**
   * Incremental backups: reads the same rows again, from the start (the same snapshot), for a
   * table whose rows were first only hashed to learn whether a section of them is already stored.
   */
  again?: () => Pick<TableSection, 'rows' | 'lines'>;
}

export interface EncodeResult {
  trailer?: TrailerLine;
  /** Incremental backups: the section objects the backup references, in table order. */
  sections?: SectionRef[];
}

/**
 * Where an incremental backup keeps the rows of its large tables (lib/format/sections.ts): once per
 * content, as a section object named after the rows' SHA-256.
 */
export interface SectionSink {
  /** Whether any section is stored already (else there is nothing to reuse, and no table is hashed first). */
  readonly hasSections: boolean;
  /** The stored section with exactly these rows (their SHA-256), checked intact; null when there is none. */
  reuse(rowsSha256: string): Promise<SectionRef | null>;
  /**
   * Stores row lines as a new section, named once every line was written after `rowsSha256()`, the
   * SHA-256 the caller computed over those lines as it handed them out.
   */
  write(lines: AsyncIterable<Buffer>, rowsSha256: () => string): Promise<SectionRef>;
}

/** A stored section object: its name and the size and SHA-256 of its stored (compressed, maybe encrypted) bytes. */
export interface SectionRef {
  object: string;
  size: number;
  sha256: string;
}

/** Tables whose row lines stay under this many bytes are written inline even in an incremental backup. */
export const INLINE_SECTION_BYTES = 64 * 1024;

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
export async function* encodeBackup(header: BackupHeader, sections: AsyncIterable<TableSection>, result: EncodeResult, onRows?: (table: string, rows: number) => void, sink?: SectionSink): AsyncGenerator<string | Buffer> {
  const whole = createHash('sha256');
  const emit = <T extends string | Buffer>(text: T): T => {
    whole.update(text);
    return text;
  };
  yield emit(JSON.stringify(header) + '\n');
  const tables: TrailerLine['tables'] = {};
  let rowsTotal = 0;
  if (sink) result.sections = [];
  for await (const section of sections) {
    const start: TableStartLine = { type: 'table', name: section.table.name, columns: section.table.columns.map((c) => c.name) };
    if (sink) {
      const stored = await storeSection(section, sink, (rows) => onRows?.(section.table.name, rows));
      if (stored.inline) {
        yield emit(JSON.stringify(start) + '\n');
        for (const chunk of stored.inline) yield emit(chunk);
      } else {
        yield emit(JSON.stringify({ ...start, section: stored.ref.object } satisfies TableStartLine) + '\n');
        if (!result.sections!.some((r) => r.object === stored.ref.object)) result.sections!.push(stored.ref);
      }
      const end: TableEndLine = { type: 'table-end', name: section.table.name, rows: stored.rows, sha256: stored.sha256 };
      tables[end.name] = { rows: end.rows, sha256: end.sha256 };
      rowsTotal += end.rows;
      yield emit(JSON.stringify(end) + '\n');
      continue;
    }
    yield emit(JSON.stringify(start) + '\n');
    const hasher = new TableHasher();
    if (section.lines) {
      const hashed = (async function* (lines) {
        for await (const chunk of lines) {
          hasher.addLines(chunk);
          onRows?.(section.table.name, hasher.rows);
          yield chunk;
        }
      })(section.lines);
      for await (const piece of joined(hashed)) yield emit(piece);
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

/** Bytes per piece that joined() hands to gzip. */
const PIECE_BYTES = 1 << 20;

/**
 * Chunks of whole lines joined into pieces of about PIECE_BYTES, each a copy the caller may keep
 * (a reader may reuse its buffer once asked for more). gzip compresses a piece on the thread pool
 * in one go and comes back to this thread once per piece: with the readers' 100-250 KiB chunks it
 * came back several times per chunk, each time waiting for a turn of a thread busy reading rows,
 * and the two took turns instead of overlapping (scale 0.5 SQLite backup: 4.9-6.7 s -> 4.4-4.6 s).
 */
async function* joined(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  let piece = Buffer.allocUnsafe(PIECE_BYTES);
  let o = 0;
  for await (const chunk of chunks) {
    if (o > 0 && o + chunk.length > piece.length) {
      yield piece.subarray(0, o);
      piece = Buffer.allocUnsafe(PIECE_BYTES);
      o = 0;
    }
    if (chunk.length > piece.length) piece = Buffer.allocUnsafe(chunk.length);
    piece.set(chunk, o);
    o += chunk.length;
  }
  if (o > 0) yield piece.subarray(0, o);
}

/** A section's rows as canonical line bytes (whole lines, in pieces the caller may keep). */
async function* lineChunks(section: Pick<TableSection, 'rows' | 'lines'>): AsyncGenerator<Buffer> {
  if (section.lines) {
    yield* joined(section.lines);
    return;
  }
  for await (const batch of section.rows) {
    let text = '';
    for (const r of batch) text += rowLine(r) + '\n';
    if (text) yield Buffer.from(text);
  }
}

type StoredSection = { rows: number; sha256: string } & ({ inline: Buffer[]; ref?: undefined } | { inline?: undefined; ref: SectionRef });

/**
 * An incremental backup's table: inline when its row lines stay under INLINE_SECTION_BYTES; else a
 * section reference. With sections stored already, the rows are first only hashed (no compression,
 * nothing written): an unchanged table then costs one read and no byte of storage; a changed one is
 * read a second time (TableSection.again) and written as a new section. Without any stored section
 * (the first backup of a folder) the rows are written as they are hashed, in one read.
 */
async function storeSection(section: TableSection, sink: SectionSink, onRows: (rows: number) => void): Promise<StoredSection> {
  const hasher = new TableHasher();
  const head: Buffer[] = [];
  let headBytes = 0;
  const it = lineChunks(section)[Symbol.asyncIterator]();
  let next = await it.next();
  while (!next.done && headBytes < INLINE_SECTION_BYTES) {
    hasher.addLines(next.value);
    head.push(next.value);
    headBytes += next.value.length;
    onRows(hasher.rows);
    next = await it.next();
  }
  if (next.done && headBytes < INLINE_SECTION_BYTES) return { inline: head, rows: hasher.rows, sha256: hasher.digest() };
  let digest: string | undefined;
  /** The lines after the head (none when the head ended the table). */
  const rest = async function* (n: IteratorResult<Buffer>) {
    for (; !n.done; n = await it.next()) yield n.value;
  };
  if (!sink.hasSections || !section.again) {
    const ref = await sink.write((async function* () {
      yield* head;
      for await (const chunk of rest(next)) {
        hasher.addLines(chunk);
        onRows(hasher.rows);
        yield chunk;
      }
    })(), () => (digest ??= hasher.digest()));
    return { ref, rows: hasher.rows, sha256: digest ?? hasher.digest() };
  }
  head.length = 0; // only hashed from here on
  for await (const chunk of rest(next)) {
    hasher.addLines(chunk);
    onRows(hasher.rows);
  }
  const sha256 = hasher.digest();
  const rows = hasher.rows;
  const reused = await sink.reuse(sha256);
  if (reused) return { ref: reused, rows, sha256 };
  const second = new TableHasher();
  let secondSha: string | undefined;
  const ref = await sink.write((async function* () {
    for await (const chunk of lineChunks(section.again!())) {
      second.addLines(chunk);
      yield chunk;
    }
  })(), () => {
    secondSha ??= second.digest();
    // One snapshot reads the same rows twice; anything else is a bug, never a backup of other rows.
    if (secondSha !== sha256 || second.rows !== rows) {
      throw new GuardError('INTERNAL', `Table "${section.table.name}" read twice in one snapshot gave different rows (${rows} then ${second.rows}).`, { hint: 'This is a bug in prisma-guard; please report it. Back up with --self-contained meanwhile.' });
    }
    return secondSha;
  });
  return { ref, rows, sha256 };
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
 * `name` may be a function asked once every byte is written (a section is named after its rows);
 * when it answers null the bytes are not kept (path '').
 */
export async function writeFileAtomically(dir: string, name: string | (() => Promise<string | null>), lines: AsyncIterable<string | Uint8Array>, options: { compressionLevel?: number; signal?: AbortSignal; encryption?: EncryptionSettings | null } = {}): Promise<WrittenFile> {
  // A name known only once every byte was written (a section, named after its rows) is asked for then.
  let fileName = typeof name === 'string' ? name : 'section-pending';
  const tmpPath = path.join(dir, temporaryName(fileName));
  trackTemporary(tmpPath);
  try {
    const tap = hashTap();
    const out = createWriteStream(tmpPath, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 });
    // Output pieces as large as the input pieces (joined): one trip to the thread pool per piece.
    const gzip = zlib.createGzip({ level: options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL, chunkSize: 1 << 20 });
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
    if (typeof name !== 'string') {
      const chosen = await name();
      // null: the same bytes are stored under that name already; these are not kept.
      if (chosen === null) {
        await fs.rm(tmpPath, { force: true });
        temporaries.delete(tmpPath);
        return { path: '', sizeBytes: tap.size(), sha256: tap.sha256() };
      }
      fileName = chosen;
    }
    const finalPath = path.join(dir, fileName);
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
