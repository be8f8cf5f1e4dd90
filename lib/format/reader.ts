import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import zlib from 'node:zlib';
import { GuardError, messageOf } from '../core/errors.ts';
import type { TableSchema } from '../core/types.ts';
import type { EncodedRow } from '../dialects/dialect.ts';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, type BackupHeader, type TrailerLine } from './header.ts';
import { validateHeader } from './validate.ts';

/** Longest line accepted (a row with large binary values); longer means corrupt, not an OOM. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;
const BATCH = 1000;

/**
 * Yields the lines of a gzip file without their "\n", with bounded memory. gzip errors become
 * GuardErrors that say whether the file is truncated, corrupt or not gzip at all.
 */
export async function* gzipLines(filePath: string, displayName: string): AsyncGenerator<string> {
  const stream = createReadStream(filePath, { highWaterMark: 1 << 20 }).pipe(zlib.createGunzip({ chunkSize: 1 << 16 }));
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      let nl = chunk.indexOf(10, start);
      if (nl === -1) {
        pending.push(chunk);
        pendingBytes += chunk.length;
      } else {
        // First line of this chunk completes the pending part.
        const first = pending.length ? Buffer.concat([...pending, chunk.subarray(0, nl)]) : chunk.subarray(0, nl);
        pending = [];
        pendingBytes = 0;
        yield first.toString('utf8');
        start = nl + 1;
        const last = chunk.lastIndexOf(10);
        if (last >= start) {
          const text = chunk.toString('utf8', start, last);
          for (const line of text.split('\n')) yield line;
          start = last + 1;
        }
        if (start < chunk.length) {
          pending.push(chunk.subarray(start));
          pendingBytes = chunk.length - start;
        }
      }
      if (pendingBytes > MAX_LINE_BYTES) {
        throw new GuardError('BACKUP_CORRUPT', `${displayName} holds a line longer than ${MAX_LINE_BYTES} bytes.`, { hint: 'The file is damaged or not a prisma-guard backup; use another backup.' });
      }
    }
  } catch (e) {
    stream.destroy();
    if (e instanceof GuardError) throw e;
    throw classifyGzipError(e, displayName);
  }
  if (pendingBytes > 0) {
    // A final line without "\n": our writer always ends lines, so the file was cut.
    throw new GuardError('BACKUP_TRUNCATED', `${displayName} ends in the middle of a line: the file is truncated.`, { hint: 'Use another backup (`prisma-guard list`); this one was cut off while being copied or written.' });
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

export interface BackupSection {
  table: TableSchema;
  /** Row batches; the table's count and checksum are checked when the section ends. */
  rows: AsyncIterable<EncodedRow[]>;
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
  close(): Promise<void>;
}

/** Reads and validates the header, then exposes the rest as a checked stream. */
export async function openBackup(filePath: string, displayName = filePath): Promise<OpenedBackup> {
  try {
    const st = await fs.stat(filePath);
    if (!st.isFile()) throw new GuardError('BACKUP_NOT_FOUND', `${displayName} is not a file.`, { hint: 'Pass a backup file.' });
    if (st.size === 0) throw new GuardError('BACKUP_TRUNCATED', `${displayName} is empty (0 bytes).`, { hint: 'Use another backup (`prisma-guard list`).' });
  } catch (e) {
    if (e instanceof GuardError) throw e;
    throw classifyGzipError(e, displayName);
  }
  const lines = gzipLines(filePath, displayName);
  const whole = createHash('sha256');
  let lineNo = 0;
  const next = async (): Promise<string | undefined> => {
    const r = await lines.next();
    if (r.done) return undefined;
    lineNo++;
    return r.value;
  };
  const first = await next();
  if (first === undefined) throw new GuardError('BACKUP_TRUNCATED', `${displayName} holds no data.`, { hint: 'Use another backup.' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(first);
  } catch {
    await lines.return(undefined);
    // Our header starts like this: a damaged header of one of our backups is corruption, not a foreign file.
    if (first.startsWith(`{"type":"header","format":"${BACKUP_FORMAT}"`)) {
      throw new GuardError('BACKUP_CORRUPT', `${displayName} is corrupt: its header (line 1) is damaged and is no longer valid JSON.`, { hint: 'Use another backup (`prisma-guard list`); `prisma-guard verify` checks them all.' });
    }
    throw new GuardError('BACKUP_NOT_OURS', `${displayName} does not start with a prisma-guard header (line 1 is not JSON).`, { hint: 'Pass a backup written by prisma-guard.' });
  }
  const p = parsed as Partial<BackupHeader>;
  if (!p || typeof p !== 'object' || p.format !== BACKUP_FORMAT) {
    await lines.return(undefined);
    throw new GuardError('BACKUP_NOT_OURS', `${displayName} is not a prisma-guard backup (its first line has no "format": "${BACKUP_FORMAT}").`, { hint: 'Pass a backup written by prisma-guard.' });
  }
  if (typeof p.formatVersion === 'number' && p.formatVersion > BACKUP_FORMAT_VERSION) {
    await lines.return(undefined);
    throw new GuardError('BACKUP_VERSION', `${displayName} uses backup format version ${p.formatVersion}; this prisma-guard reads up to version ${BACKUP_FORMAT_VERSION}.`, { hint: 'Upgrade prisma-guard to restore this backup.' });
  }
  let header: BackupHeader;
  try {
    header = validateHeader(parsed, displayName);
  } catch (e) {
    await lines.return(undefined);
    throw e;
  }
  whole.update(first + '\n');
  const byName = new Map(header.schema.tables.map((t) => [t.name, t]));
  const corrupt = (why: string) => new GuardError('BACKUP_CORRUPT', `${displayName} is corrupt: ${why}.`, { hint: 'Use another backup (`prisma-guard list`); `prisma-guard verify` checks them all.' });

  const opened: OpenedBackup = {
    header,
    async *sections() {
      const seen = new Set<string>();
      const tables: TrailerLine['tables'] = {};
      let rowsTotal = 0;
      for (;;) {
        const line = await next();
        if (line === undefined) throw new GuardError('BACKUP_TRUNCATED', `${displayName} is truncated: it ends after ${seen.size} table(s) without its trailer.`, { hint: 'Use another backup (`prisma-guard list`).' });
        let obj: { type?: string; name?: string; columns?: string[] } & Partial<TrailerLine>;
        try {
          obj = JSON.parse(line);
        } catch {
          throw corrupt(`line ${lineNo} is not valid JSON`);
        }
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
          const extra = await next();
          if (extra !== undefined) throw corrupt(`data follows the trailer (line ${lineNo})`);
          opened.trailer = trailer;
          return;
        }
        if (obj?.type !== 'table' || typeof obj.name !== 'string') throw corrupt(`line ${lineNo} should start a table or be the trailer`);
        const table = byName.get(obj.name);
        if (!table) throw corrupt(`table "${obj.name}" is not in the header's schema`);
        if (seen.has(obj.name)) throw corrupt(`table "${obj.name}" appears twice`);
        const cols = table.columns.map((c) => c.name);
        if (!Array.isArray(obj.columns) || obj.columns.join('\u0000') !== cols.join('\u0000')) throw corrupt(`the columns of "${obj.name}" differ from the header`);
        seen.add(obj.name);
        whole.update(line + '\n');
        const hash = createHash('sha256');
        let count = 0;
        let done = false;
        const width = cols.length;
        const tableName = obj.name;
        const rows = async function* (): AsyncGenerator<EncodedRow[]> {
          let batch: EncodedRow[] = [];
          let text = '';
          for (;;) {
            const l = await next();
            if (l === undefined) throw new GuardError('BACKUP_TRUNCATED', `${displayName} is truncated inside table "${tableName}" after ${count} rows.`, { hint: 'Use another backup (`prisma-guard list`).' });
            if (l.charCodeAt(0) !== 91 /* [ */) {
              let end: { type?: string; name?: string; rows?: number; sha256?: string };
              try {
                end = JSON.parse(l);
              } catch {
                throw corrupt(`line ${lineNo} in table "${tableName}" is not valid JSON`);
              }
              if (end?.type !== 'table-end' || end.name !== tableName) throw corrupt(`line ${lineNo} in table "${tableName}" is neither a row nor the table's end`);
              if (text) hash.update(text);
              whole.update(text);
              const digest = hash.digest('hex');
              if (end.rows !== count + batch.length) throw corrupt(`table "${tableName}" should hold ${end.rows} rows but holds ${count + batch.length}`);
              if (end.sha256 !== digest) throw corrupt(`the checksum of table "${tableName}" does not match its rows (a row was changed)`);
              count += batch.length;
              if (batch.length) yield batch;
              whole.update(l + '\n');
              tables[tableName] = { rows: count, sha256: digest };
              rowsTotal += count;
              done = true;
              return;
            }
            let row: unknown;
            try {
              row = JSON.parse(l);
            } catch {
              throw corrupt(`row line ${lineNo} of table "${tableName}" is not valid JSON`);
            }
            if (!Array.isArray(row) || row.length !== width) throw corrupt(`row line ${lineNo} of table "${tableName}" does not have ${width} values`);
            batch.push(row as EncodedRow);
            text += l + '\n';
            if (batch.length >= BATCH) {
              hash.update(text);
              whole.update(text);
              text = '';
              count += batch.length;
              const out = batch;
              batch = [];
              yield out;
            }
          }
        };
        const gen = rows();
        yield { table, rows: gen };
        if (!done) {
          // The consumer skipped (part of) the section: read it to its end so checks still run.
          for await (const _ of gen) void _;
        }
      }
    },
    async close() {
      await lines.return(undefined);
    },
  };
  return opened;
}
