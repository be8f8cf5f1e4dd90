import { createHash } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { GuardError, messageOf } from '../core/errors.ts';
import { rowColumns, type TableSchema } from '../core/types.ts';
import { rowsOfRun, type EncodedRow, type RowLineItem, type RowLines } from '../dialects/dialect.ts';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, SECTIONS_FORMAT_VERSION, type BackupHeader, type TrailerLine } from './header.ts';
import { isEncryptedName, isSectionName } from './naming.ts';
import { inferV1 } from './source.ts';
import { validateHeader } from './validate.ts';
import { decryptStream, isAgeFile, AGE_MAGIC, type DecryptionKeys } from '../pipeline/age.ts';

/** Longest line accepted (a row with large binary values); longer means corrupt, not an OOM. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

/**
 * Row lines longer than this (one large value) are handed out in pieces to the consumers that take
 * them (BackupSection.pieces), instead of whole: memory stays bounded by a piece, and a loader can
 * send the first bytes of a value while the rest is still being decompressed.
 */
export const LONG_LINE_BYTES = 1 << 20;

/** A part of a long row line as LineSource hands it out. */
interface LinePiece {
  piece: Buffer;
  first: boolean;
  last: boolean;
  /** The line's number (1-based). */
  line: number;
}

type RawRun = { bytes: Buffer; rows: number; firstLine: number };

const NL = 0x0a;
const OPEN_BRACKET = 0x5b;

/**
 * The decompressed bytes of a gzip file, chunk by chunk. gzip errors become GuardErrors that say
 * whether the file is truncated, corrupt or not gzip at all.
 *
 * Each chunk is copied into one of two buffers used in turn, so a yielded chunk stays valid until
 * the second chunk after it is yielded (LineSource never holds more than the current chunk and the
 * next). zlib's own output buffers then die young: kept while a slow consumer (a SQLite insert per
 * row) works through them, they would outlive the young generation and pile up as old-space
 * garbage until a full collection (about 60 MB more peak memory in a 4M-row SQLite restore).
 */
async function* gunzipChunks(file: BackupFile, displayName: string, onCompressed?: (chunk: Buffer) => void, keys?: DecryptionKeys | null): AsyncGenerator<Buffer> {
  const raw = file.stream();
  if (onCompressed) raw.on('data', onCompressed);
  // An age file: the decrypt stage sits between the file's bytes (hashed as they are on disk) and gunzip.
  const compressed = file.encrypted ? decryptStream(raw, displayName, keys) : raw;
  const stream = compressed.pipe(zlib.createGunzip({ chunkSize: 1 << 18 }));
  compressed.once('error', (e) => stream.destroy(e));
  const ring = [Buffer.alloc(0), Buffer.alloc(0)];
  let turn = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      turn ^= 1;
      if (ring[turn].length < chunk.length) ring[turn] = Buffer.allocUnsafe(Math.max(chunk.length, 1 << 18));
      chunk.copy(ring[turn]);
      yield ring[turn].subarray(0, chunk.length);
    }
  } catch (e) {
    if (e instanceof GuardError) throw e;
    throw classifyGzipError(e, displayName);
  } finally {
    stream.destroy();
    if (compressed !== raw) compressed.destroy();
    raw.destroy();
  }
}

/**
 * Splits decompressed chunks into lines without copying them: a line is a view into its chunk,
 * except one that straddles two chunks, which is joined on its own. Memory is bounded by a chunk
 * plus the longest line (MAX_LINE_BYTES). Holds views into the newest chunk only (and hands out
 * views valid until the next call), as gunzipChunks requires.
 */
class LineSource {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private queued: Buffer | null = null;
  private ended = false;
  /** Number of the last line handed out (1-based). */
  lineNo = 0;

  constructor(
    private readonly chunks: AsyncGenerator<Buffer>,
    private readonly displayName: string,
  ) {}

  /**
   * Makes sure buf[pos..] holds at least one complete line; false at a clean end of file. A file
   * that ends in the middle of a line is truncated (our writer ends every line).
   */
  private async ensureLine(): Promise<boolean> {
    if (this.buf.indexOf(NL, this.pos) >= 0) return true;
    // The unfinished line is copied (it is short), and so is a chunk without a newline: chunks are
    // reused two turns later (gunzipChunks), so only the newest one may be held as a view.
    const pieces: Buffer[] = this.pos < this.buf.length ? [Buffer.from(this.buf.subarray(this.pos))] : [];
    let size = pieces.length ? pieces[0].length : 0;
    for (;;) {
      const chunk = await this.nextChunk();
      if (chunk === undefined) {
        this.buf = Buffer.alloc(0);
        this.pos = 0;
        if (size > 0) throw this.truncatedLine();
        return false;
      }
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        pieces.push(Buffer.from(chunk));
        size += chunk.length;
        if (size > MAX_LINE_BYTES) throw this.tooLong();
        continue;
      }
      if (pieces.length === 0) {
        this.buf = chunk;
        this.pos = 0;
        return true;
      }
      pieces.push(chunk.subarray(0, nl + 1));
      this.buf = Buffer.concat(pieces);
      this.pos = 0;
      this.queued = nl + 1 < chunk.length ? chunk.subarray(nl + 1) : null;
      return true;
    }
  }

  private async nextChunk(): Promise<Buffer | undefined> {
    if (this.queued) {
      const q = this.queued;
      this.queued = null;
      return q;
    }
    if (this.ended) return undefined;
    const r = await this.chunks.next();
    if (r.done) {
      this.ended = true;
      return undefined;
    }
    return r.value;
  }

  /** The next line including its "\n", or undefined at the end of the file. */
  async line(): Promise<Buffer | undefined> {
    if (!(await this.ensureLine())) return undefined;
    const nl = this.buf.indexOf(NL, this.pos);
    const line = this.buf.subarray(this.pos, nl + 1);
    this.pos = nl + 1;
    this.lineNo++;
    return line;
  }

  /**
   * If the next line is a row (starts with "["), the longest run of consecutive complete row lines
   * available without reading further, each with its "\n"; otherwise undefined (the line stays).
   */
  async rowRun(): Promise<RawRun | undefined> {
    if (!(await this.ensureLine())) return undefined;
    return this.takeRun();
  }

  /** The run of complete row lines at buf[pos..] (ensureLine made sure one line is complete). */
  private takeRun(): RawRun | undefined {
    const buf = this.buf;
    if (buf[this.pos] !== OPEN_BRACKET) return undefined;
    const start = this.pos;
    let p = start;
    let rows = 0;
    while (p < buf.length && buf[p] === OPEN_BRACKET) {
      const nl = buf.indexOf(NL, p);
      if (nl < 0) break;
      rows++;
      p = nl + 1;
    }
    this.pos = p;
    const firstLine = this.lineNo + 1;
    this.lineNo += rows;
    return { bytes: buf.subarray(start, p), rows, firstLine };
  }

  /** Bytes of the long line being handed out in pieces, or -1 when there is none. */
  private longBytes = -1;

  /**
   * Like rowRun, except that a row line longer than LONG_LINE_BYTES comes in pieces (the first
   * holds its first LONG_LINE_BYTES or more, each next one a chunk, the last ends with the "\n"),
   * each valid until the next call. undefined when the next line is not a row (it stays).
   */
  async rowItem(): Promise<RawRun | LinePiece | undefined> {
    if (this.longBytes >= 0) return this.nextPiece();
    while (this.pos >= this.buf.length) {
      const chunk = await this.nextChunk();
      if (chunk === undefined) {
        this.buf = Buffer.alloc(0);
        this.pos = 0;
        return undefined; // the caller's line() reports the end
      }
      this.buf = chunk;
      this.pos = 0;
    }
    if (this.buf[this.pos] !== OPEN_BRACKET) return undefined;
    if (this.buf.indexOf(NL, this.pos) >= 0) return this.takeRun();
    // An unfinished row line: gathered whole up to LONG_LINE_BYTES (copies, as in ensureLine),
    // handed out in pieces past that.
    const pieces: Buffer[] = [Buffer.from(this.buf.subarray(this.pos))];
    let size = pieces[0].length;
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    for (;;) {
      const chunk = await this.nextChunk();
      if (chunk === undefined) throw this.truncatedLine();
      const nl = chunk.indexOf(NL);
      if (nl >= 0) {
        pieces.push(chunk.subarray(0, nl + 1));
        this.buf = Buffer.concat(pieces);
        this.queued = nl + 1 < chunk.length ? chunk.subarray(nl + 1) : null;
        return this.takeRun();
      }
      pieces.push(Buffer.from(chunk));
      size += chunk.length;
      if (size >= LONG_LINE_BYTES) {
        this.longBytes = size;
        return { piece: Buffer.concat(pieces, size), first: true, last: false, line: this.lineNo + 1 };
      }
    }
  }

  private async nextPiece(): Promise<LinePiece> {
    const chunk = await this.nextChunk();
    if (chunk === undefined) throw this.truncatedLine();
    const line = this.lineNo + 1;
    const nl = chunk.indexOf(NL);
    this.longBytes += nl < 0 ? chunk.length : nl + 1;
    if (this.longBytes > MAX_LINE_BYTES) throw this.tooLong();
    if (nl < 0) return { piece: chunk, first: false, last: false, line };
    this.longBytes = -1;
    this.lineNo++;
    // The rest of the chunk holds the next lines (a view of the newest chunk, as gunzipChunks allows).
    this.buf = chunk;
    this.pos = nl + 1;
    return { piece: chunk.subarray(0, nl + 1), first: false, last: true, line };
  }

  private truncatedLine(): GuardError {
    return new GuardError('BACKUP_TRUNCATED', `${this.displayName} ends in the middle of a line: the file is truncated.`, { hint: 'Use another backup (`prisma-guard list`); this one was cut off while being copied or written.' });
  }

  private tooLong(): GuardError {
    return new GuardError('BACKUP_CORRUPT', `${this.displayName} holds a line longer than ${MAX_LINE_BYTES} bytes.`, { hint: 'The file is damaged or not a prisma-guard backup; use another backup.' });
  }

  async close(): Promise<void> {
    await this.chunks.return(undefined);
  }
}

function classifyGzipError(e: unknown, name: string): GuardError {
  const err = e as NodeJS.ErrnoException;
  const msg = messageOf(e);
  if (err?.code === 'ENOENT') {
    return new GuardError('BACKUP_NOT_FOUND', `${name} does not exist.`, { hint: 'Run `prisma-guard list` to see the available backups.', cause: e });
  }
  if (err?.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(msg)) {
    return new GuardError('BACKUP_TRUNCATED', `${name} is truncated: the gzip stream ends early.`, { hint: 'Use another backup (`prisma-guard list`).', cause: e });
  }
  if (/incorrect header check|not in gzip format|unknown compression method/i.test(msg)) {
    return new GuardError('BACKUP_NOT_OURS', `${name} is not a gzip file, so not a prisma-guard backup.`, { hint: 'Pass a backup-<timestamp>-<reason>.jsonl.gz file written by prisma-guard.', cause: e });
  }
  return new GuardError('BACKUP_CORRUPT', `${name} is corrupt: ${msg}.`, { hint: 'The compressed data is damaged; use another backup (`prisma-guard list`).', cause: e });
}

/**
 * A backup file opened once (added for issue 12, open-once restores). Every read goes through this
 * one handle, by position, so whatever happens to the path afterwards (a file renamed over it, a
 * symlink swapped in) cannot change the bytes that are read: a restore that checked these bytes
 * loads these bytes.
 */
export interface BackupFile {
  /** The path it was opened at (for messages and the manifest beside it). */
  readonly path: string;
  readonly displayName: string;
  /** Size when opened (fstat). */
  readonly size: number;
  /** An age-encrypted file (it starts with the age header); read through the decrypt stage. */
  readonly encrypted: boolean;
  /** A stream of the file's bytes from `start` (positional reads: streams do not disturb each other). */
  stream(start?: number): Readable;
  /**
   * Opens another object of the same location by its plain name (the section objects an
   * incremental backup references); the caller closes it. Absent: references cannot be followed.
   */
  sibling?(name: string): Promise<BackupFile>;
  close(): Promise<void>;
}

/**
 * The file's bytes from `start`, read by position (pread) through `handle`, 256 KiB at a time (a
 * quarter of the reads 64 KiB took, for the same bytes). Not handle.createReadStream: destroying
 * such a stream closes the handle even with autoClose off.
 */
function positionalStream(handle: FileHandle, start: number, chunkBytes = 1 << 18): Readable {
  let position = start;
  return new Readable({
    highWaterMark: chunkBytes,
    read() {
      const buffer = Buffer.allocUnsafe(chunkBytes);
      handle.read(buffer, 0, chunkBytes, position).then(
        ({ bytesRead }) => {
          position += bytesRead;
          this.push(bytesRead > 0 ? buffer.subarray(0, bytesRead) : null);
        },
        (e: unknown) => this.destroy(e as Error),
      );
    },
  });
}

/**
 * Opens a backup file for reading once. Refuses anything that is not a regular file: the last path
 * component is not followed if it is a symlink (O_NOFOLLOW), FIFOs and devices are opened without
 * blocking (O_NONBLOCK) and refused after fstat, so naming one never hangs.
 */
export async function openBackupFile(filePath: string, displayName = filePath): Promise<BackupFile> {
  let handle: FileHandle;
  try {
    handle = await fs.open(filePath, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') {
      throw new GuardError('BACKUP_NOT_FOUND', `${displayName} is a symbolic link; prisma-guard only reads backups that are regular files.`, { hint: 'Copy the backup itself into the backup folder.', cause: e });
    }
    throw classifyGzipError(e, displayName);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new GuardError('BACKUP_NOT_FOUND', `${displayName} is not a regular file.`, { hint: 'Pass a backup file.' });
    if (st.size === 0) throw new GuardError('BACKUP_TRUNCATED', `${displayName} is empty (0 bytes).`, { hint: 'Use another backup (`prisma-guard list`).' });
    const magic = Buffer.alloc(AGE_MAGIC.length);
    const { bytesRead } = await handle.read(magic, 0, magic.length, 0);
    return {
      path: filePath,
      displayName,
      size: st.size,
      encrypted: isAgeFile(magic.subarray(0, bytesRead)),
      stream: (start = 0) => positionalStream(handle, start),
      // A plain name only (the reader checks it is a section name): never a path out of the folder.
      sibling: (name: string) => openBackupFile(path.join(path.dirname(filePath), path.basename(name)), name),
      close: () => handle.close(),
    };
  } catch (e) {
    await handle.close().catch(() => {});
    throw e;
  }
}

/** A run of row lines as the reader hands it out (the bytes are a view into a decompressed chunk). */
type BufferRun = RowLines & { bytes: Buffer };

export interface BackupSection {
  table: TableSchema;
  /**
   * Row batches, each row parsed and checked to be an array of one value per column. The table's
   * count and checksum are checked when the section ends (after the last batch was handed out).
   */
  readonly rows: AsyncIterable<EncodedRow[]>;
  /**
   * The same rows as their raw canonical lines (checksummed, counted, not parsed): for consumers
   * that translate the bytes themselves. Read one of `rows`, `lines` and `pieces`.
   */
  readonly lines: AsyncIterable<RowLines>;
  /**
   * The same as `lines`, except that a line longer than LONG_LINE_BYTES comes as RowLinePiece items
   * (hashed and counted like the others): for consumers that check and translate a long line as it
   * streams (verify, the PostgreSQL loader), so memory stays bounded by a piece.
   */
  readonly pieces: AsyncIterable<RowLineItem>;
}

export interface OpenedBackup {
  header: BackupHeader;
  /**
   * The table sections in file order. Each section must be read to its end before the next (a
   * section left unread is drained). Throws BACKUP_CORRUPT/TRUNCATED as soon as the file disagrees
   * with its own counts and checksums; the trailer is checked after the last section.
   */
  sections(): AsyncGenerator<BackupSection>;
  /** Set once sections() finished and everything checked out. */
  trailer?: TrailerLine;
  /**
   * Set with `trailer`: the SHA-256 of the compressed file's bytes exactly as this reader read them
   * (to the last byte), for comparing with the checksum a restore checked before it began.
   */
  fileSha256?: string;
  /** The section objects the tables read so far were stored in (incremental backups), in file order. */
  readonly referencedSections: readonly string[];
  close(): Promise<void>;
}

/**
 * Reads and validates the header, then exposes the rest as a checked stream. `source` is a path
 * (opened here, closed by close()) or a BackupFile the caller opened and closes itself: every
 * section, header and trailer then comes from that handle's bytes.
 */
export interface ReadOptions {
  /** The keys that open age-encrypted backups (BACKUP_AGE_IDENTITY / BACKUP_AGE_PASSPHRASE). */
  keys?: DecryptionKeys | null;
}

export async function openBackup(source: string | BackupFile, displayName = typeof source === 'string' ? source : source.displayName, options: ReadOptions = {}): Promise<OpenedBackup> {
  const file = typeof source === 'string' ? await openBackupFile(source, displayName) : source;
  const ownsFile = typeof source === 'string';
  const fileHash = createHash('sha256');
  let chunks: AsyncGenerator<Buffer>;
  try {
    chunks = gunzipChunks(file, displayName, (chunk) => fileHash.update(chunk), options.keys);
  } catch (e) {
    if (ownsFile) await file.close().catch(() => {});
    throw e;
  }
  const source_ = linesOf(new LineSource(chunks, displayName), async () => {
    if (ownsFile) await file.close();
  });
  /** A referenced section's row lines, read like the file itself (decrypted, decompressed, in lines). */
  const openSection = async (name: string): Promise<Lines> => {
    if (!file.sibling) throw new GuardError('BACKUP_NOT_FOUND', `${displayName} keeps table rows in ${name}, which cannot be opened from here.`, { hint: 'Read the backup from its backup folder, beside its section objects.' });
    let sec: BackupFile;
    try {
      sec = await file.sibling(name);
    } catch (e) {
      throw new GuardError('BACKUP_CORRUPT', `${displayName} is incomplete: it keeps table rows in the section ${name}, which cannot be read (${messageOf(e)}).`, {
        hint: 'The section object was deleted, or never copied here. Use another backup (`prisma-guard list`), or copy this one again from its offsite location (`prisma-guard copy`).',
        cause: e,
      });
    }
    return linesOf(new LineSource(gunzipChunks(sec, name, undefined, options.keys), name), () => sec.close());
  };
  try {
    return await readOpened(source_, displayName, () => fileHash.digest('hex'), openSection, file.encrypted);
  } catch (e) {
    await source_.close().catch(() => {});
    throw e;
  }
}

/** The Lines of a LineSource; close() closes it once, then runs `after` (the file it reads). */
function linesOf(lines: LineSource, after: () => Promise<void>): Lines {
  let closed = false;
  return {
    line: () => lines.line(),
    rowRun: () => lines.rowRun(),
    rowItem: () => lines.rowItem(),
    get lineNo() {
      return lines.lineNo;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await lines.close();
      } finally {
        await after();
      }
    },
  };
}

interface Lines {
  line(): Promise<Buffer | undefined>;
  rowRun(): Promise<RawRun | undefined>;
  rowItem(): Promise<RawRun | LinePiece | undefined>;
  readonly lineNo: number;
  close(): Promise<void>;
}

async function readOpened(source: Lines, displayName: string, fileDigest: () => string, openSection: (name: string) => Promise<Lines>, encrypted: boolean): Promise<OpenedBackup> {
  const whole = createHash('sha256');
  const firstBytes = await source.line();
  if (firstBytes === undefined) throw new GuardError('BACKUP_TRUNCATED', `${displayName} holds no data.`, { hint: 'Use another backup.' });
  const first = firstBytes.toString('utf8', 0, firstBytes.length - 1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(first);
  } catch {
    await source.close();
    // Our header starts like this: a damaged header of one of our backups is corruption, not a foreign file.
    if (first.startsWith(`{"type":"header","format":"${BACKUP_FORMAT}"`)) {
      throw new GuardError('BACKUP_CORRUPT', `${displayName} is corrupt: its header (line 1) is damaged and is no longer valid JSON.`, { hint: 'Use another backup (`prisma-guard list`); `prisma-guard verify` checks them all.' });
    }
    throw new GuardError('BACKUP_NOT_OURS', `${displayName} does not start with a prisma-guard header (line 1 is not JSON).`, { hint: 'Pass a backup written by prisma-guard.' });
  }
  const p = parsed as Partial<BackupHeader>;
  if (!p || typeof p !== 'object' || p.format !== BACKUP_FORMAT) {
    await source.close();
    throw new GuardError('BACKUP_NOT_OURS', `${displayName} is not a prisma-guard backup (its first line has no "format": "${BACKUP_FORMAT}").`, { hint: 'Pass a backup written by prisma-guard.' });
  }
  if (typeof p.formatVersion === 'number' && p.formatVersion > BACKUP_FORMAT_VERSION) {
    await source.close();
    throw new GuardError('BACKUP_VERSION', `${displayName} uses backup format version ${p.formatVersion}; this prisma-guard reads up to version ${BACKUP_FORMAT_VERSION}.`, { hint: 'Upgrade prisma-guard to restore this backup.' });
  }
  let header: BackupHeader;
  try {
    header = validateHeader(parsed, displayName);
  } catch (e) {
    await source.close();
    throw e;
  }
  // Version 1 predates kind, scope and source: infer them so every caller sees typed fields.
  if (header.formatVersion < 2) header = { ...header, ...inferV1(header) };
  whole.update(firstBytes);
  const byName = new Map(header.schema.tables.map((t) => [t.name, t]));
  const corrupt = (why: string) => new GuardError('BACKUP_CORRUPT', `${displayName} is corrupt: ${why}.`, { hint: 'Use another backup (`prisma-guard list`); `prisma-guard verify` checks them all.' });
  // A kept rowid is one extra value after the columns, named by what no column is called.
  const shadowed = header.schema.tables.find((t) => t.rowid && t.columns.some((c) => c.name.toLowerCase() === t.rowid));
  if (shadowed) {
    await source.close();
    throw corrupt(`the header keeps the rowid of table "${shadowed.name}" as ${shadowed.rowid}, which is also one of its columns`);
  }
  /** A control line (header, table start/end, trailer) as parsed JSON. */
  const controlLine = (bytes: Buffer, what: () => string): Record<string, unknown> => {
    try {
      return JSON.parse(bytes.toString('utf8', 0, bytes.length - 1));
    } catch {
      throw corrupt(what());
    }
  };

  const sections: string[] = [];
  const opened: OpenedBackup = {
    header,
    referencedSections: sections,
    async *sections() {
      const seen = new Set<string>();
      const tables: TrailerLine['tables'] = {};
      let rowsTotal = 0;
      for (;;) {
        const line = await source.line();
        if (line === undefined) throw new GuardError('BACKUP_TRUNCATED', `${displayName} is truncated: it ends after ${seen.size} table(s) without its trailer.`, { hint: 'Use another backup (`prisma-guard list`).' });
        const obj = controlLine(line, () => `line ${source.lineNo} is not valid JSON`) as { type?: string; name?: string; columns?: string[]; section?: unknown } & Partial<TrailerLine>;
        if (obj?.type === 'trailer') {
          const trailer = obj as TrailerLine;
          const expected = whole.digest('hex');
          if (trailer.sha256 !== expected) throw corrupt('the trailer checksum over the whole file does not match (the header or a table marker was changed)');
          if (trailer.rowsTotal !== rowsTotal) throw corrupt(`the trailer counts ${trailer.rowsTotal} rows but the file holds ${rowsTotal}`);
          for (const [name, t] of Object.entries(tables)) {
            const tt = trailer.tables?.[name];
            if (!tt || tt.rows !== t.rows || tt.sha256 !== t.sha256) throw corrupt(`the trailer disagrees with table "${name}"`);
          }
          if (Object.keys(trailer.tables ?? {}).length !== Object.keys(tables).length) throw corrupt('the trailer lists tables the file does not hold');
          const missing = header.schema.tables.filter((t) => !seen.has(t.name)).map((t) => t.name);
          if (missing.length) throw corrupt(`tables in the header have no data: ${missing.join(', ')}`);
          const extra = await source.line();
          if (extra !== undefined) throw corrupt(`data follows the trailer (line ${source.lineNo})`);
          opened.trailer = trailer;
          opened.fileSha256 = fileDigest();
          return;
        }
        if (obj?.type !== 'table' || typeof obj.name !== 'string') throw corrupt(`line ${source.lineNo} should start a table or be the trailer`);
        const table = byName.get(obj.name);
        if (!table) throw corrupt(`table "${obj.name}" is not in the header's schema`);
        if (seen.has(obj.name)) throw corrupt(`table "${obj.name}" appears twice`);
        const cols = table.columns.map((c) => c.name);
        if (!Array.isArray(obj.columns) || obj.columns.join('\u0000') !== cols.join('\u0000')) throw corrupt(`the columns of "${obj.name}" differ from the header`);
        seen.add(obj.name);
        whole.update(line);
        const hash = createHash('sha256');
        const tableName = obj.name;
        let count = 0;
        let done = false;
        // Incremental backups: the rows come from a section object; the end line follows in this file.
        let rowsFrom: Lines = source;
        let sectionLines: Lines | null = null;
        if (obj.section !== undefined) {
          const name = obj.section;
          if (header.formatVersion < SECTIONS_FORMAT_VERSION) throw corrupt(`table "${tableName}" refers to a section object, which format version ${header.formatVersion} does not have`);
          if (typeof name !== 'string' || !isSectionName(name)) throw corrupt(`table "${tableName}" refers to "${String(name).slice(0, 100)}", which is not a section object name`);
          if (isEncryptedName(name) !== encrypted) throw corrupt(`table "${tableName}" refers to ${encrypted ? 'a plain' : 'an encrypted'} section in ${encrypted ? 'an encrypted' : 'a plain'} backup`);
          sections.push(name);
          rowsFrom = sectionLines = await openSection(name);
        }
        /** A section object holds row lines only, to its end. */
        const endOfSection = async (): Promise<void> => {
          if (!sectionLines) return;
          const extra = await sectionLines.line();
          if (extra !== undefined) throw corrupt(`the section of table "${tableName}" holds a line that is not a row (line ${sectionLines.lineNo})`);
          await sectionLines.close();
          sectionLines = null;
        };

        /**
         * The next run of row lines, hashed and counted; undefined after the table's end line, whose
         * count and checksum are checked here. Not a generator, so a consumer that stops early
         * cannot close it and the section can still be drained.
         */
        const nextRun = async (): Promise<BufferRun | undefined> => {
          if (done) return undefined;
          const run = await rowsFrom.rowRun();
          return run ? takeRun(run) : finish();
        };
        /** Like nextRun, with long lines in pieces (BackupSection.pieces). */
        const nextItem = async (): Promise<RowLineItem | undefined> => {
          if (done) return undefined;
          const item = await rowsFrom.rowItem();
          if (!item) return finish();
          if (!('piece' in item)) return takeRun(item);
          // Hashed and counted like any row line; the checksum is checked at the table's end.
          hash.update(item.piece);
          if (!sectionLines) whole.update(item.piece);
          if (item.last) count++;
          const line = item.line;
          return { piece: true, bytes: item.piece, first: item.first, last: item.last, invalid: (why: string) => corrupt(`row line ${line} of table "${tableName}" ${why}`) };
        };
        const takeRun = (run: { bytes: Buffer; rows: number; firstLine: number }): BufferRun => {
          hash.update(run.bytes);
          // The trailer's checksum is over this file's bytes: a section's rows are checked by the end line.
          if (!sectionLines) whole.update(run.bytes);
          count += run.rows;
          const firstLine = run.firstLine;
          return { bytes: run.bytes, rows: run.rows, invalid: (index, why) => corrupt(`row line ${firstLine + index} of table "${tableName}" ${why}`) };
        };
        /** The table's end line: its count and checksum are checked here. */
        const finish = async (): Promise<undefined> => {
          await endOfSection();
          const l = await source.line();
          if (l === undefined) throw new GuardError('BACKUP_TRUNCATED', `${displayName} is truncated inside table "${tableName}" after ${count} rows.`, { hint: 'Use another backup (`prisma-guard list`).' });
          const end = controlLine(l, () => `line ${source.lineNo} in table "${tableName}" is not valid JSON`) as { type?: string; name?: string; rows?: number; sha256?: string };
          if (end?.type !== 'table-end' || end.name !== tableName) throw corrupt(`line ${source.lineNo} in table "${tableName}" is neither a row nor the table's end`);
          const digest = hash.digest('hex');
          if (end.rows !== count) throw corrupt(`table "${tableName}" should hold ${end.rows} rows but holds ${count}`);
          if (end.sha256 !== digest) throw corrupt(`the checksum of table "${tableName}" does not match its rows (a row was changed)`);
          whole.update(l);
          tables[tableName] = { rows: count, sha256: digest };
          rowsTotal += count;
          done = true;
          return undefined;
        };
        // Each row: the columns' values, then the hidden rowid when the table keeps it (rowColumns).
        const width = rowColumns(table).length;
        const section: BackupSection = {
          table,
          get lines() {
            return (async function* () {
              for (let run = await nextRun(); run; run = await nextRun()) yield run;
            })();
          },
          get pieces() {
            return (async function* () {
              for (let item = await nextItem(); item; item = await nextItem()) yield item;
            })();
          },
          get rows() {
            return (async function* () {
              for (let run = await nextRun(); run; run = await nextRun()) yield Array.from(rowsOfRun(run, width));
            })();
          },
        };
        try {
          yield section;
          // The consumer skipped (part of) the section: read it to its end so the checks still run
          // (in pieces: a consumer may have stopped inside a long line).
          while (await nextItem()) {
            /* drain */
          }
        } finally {
          await (sectionLines as Lines | null)?.close();
        }
      }
    },
    async close() {
      await source.close();
    },
  };
  return opened;
}
