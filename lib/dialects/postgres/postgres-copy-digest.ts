/**
 * The digest of a table's COPY text as the wire carries it, for the restore proof (LoadReceipt).
 *
 * PostgreSQL sends `COPY ... TO STDOUT` as one CopyData message per row: `d`, a 4-byte big-endian
 * length (itself included), the row's text with its newline
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY). The framing is a
 * function of the rows, so the digest of the framed messages can be computed from both ends:
 *  - CopyFrameHasher frames the COPY text the loader sends and hashes it;
 *  - copyOutDigest hashes the CopyData messages straight from the socket chunks, in runs, without
 *    cutting the rows out of the chunks (pg-copy-streams slices and re-joins every row, which made
 *    it the proof's main client cost and garbage).
 * A row longer than LONG_ROW_BYTES (one large value) is hashed as `L` and the SHA-256 of its text
 * instead of its framed message: the loader sends such a row in pieces before it knows its length,
 * and the reader sees its length first, so both can hash it without holding it.
 */
import { createHash, type Hash } from 'node:crypto';
import type pg from 'pg';

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'
const NL = 0x0a;
const LONG_ROW = Buffer.from('L');

/** Rows whose COPY text (newline included) is longer than this are hashed as `L` + SHA-256 of the text. */
export const LONG_ROW_BYTES = 1 << 20;

/** Hashes COPY text (whole rows, each ending in a newline) framed as PostgreSQL frames its output. */
export class CopyFrameHasher {
  private readonly hash = createHash('sha256');
  private readonly header = Buffer.from([COPY_DATA, 0, 0, 0, 0]);
  /** The row being added in pieces (addPiece): its first LONG_ROW_BYTES, then its own hash. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private rowHash: Hash | null = null;
  rows = 0;

  /** Where update() frames a chunk's rows, to hash them in one call (reused: hashed, never kept). */
  private framed = Buffer.alloc(0);

  /** `text`: whole rows only (a chunk never ends inside a row). */
  update(text: Buffer): void {
    if (this.pendingBytes > 0 || this.rowHash) throw new Error('CopyFrameHasher: update() inside a row added in pieces');
    // The rows framed into one buffer and hashed at once: two hash calls per row (header, text)
    // cost more than copying the row (about 1 s of a 2M-row restore).
    const room = Math.min(text.length + (text.length >> 2) + 1024, 1 << 20);
    if (this.framed.length < room) this.framed = Buffer.allocUnsafe(room);
    let out = this.framed;
    let o = 0;
    let start = 0;
    for (;;) {
      const nl = text.indexOf(NL, start);
      if (nl < 0) break;
      const length = nl + 1 - start;
      if (length > LONG_ROW_BYTES) {
        if (o > 0) this.hash.update(out.subarray(0, o));
        o = 0;
        this.row(text.subarray(start, nl + 1));
      } else {
        if (o + length + 5 > out.length) {
          this.hash.update(out.subarray(0, o));
          o = 0;
          if (length + 5 > out.length) out = this.framed = Buffer.allocUnsafe(length + 5);
        }
        out[o] = COPY_DATA;
        out.writeUInt32BE(length + 4, o + 1);
        o += 5 + text.copy(out, o + 5, start, nl + 1);
        this.rows++;
      }
      start = nl + 1;
    }
    if (o > 0) this.hash.update(out.subarray(0, o));
    if (start !== text.length) throw new Error('CopyFrameHasher: a chunk ended inside a row');
  }

  private row(row: Buffer): void {
    if (row.length > LONG_ROW_BYTES) {
      this.hash.update(LONG_ROW);
      this.hash.update(createHash('sha256').update(row).digest());
    } else {
      this.header.writeUInt32BE(row.length + 4, 1);
      this.hash.update(this.header);
      this.hash.update(row);
    }
    this.rows++;
  }

  /**
   * Adds part of one row; `last` when `text` ends the row (with its newline). Holds at most
   * LONG_ROW_BYTES: past that the row can only be a long one, hashed on its own as it comes.
   */
  addPiece(text: Buffer, last: boolean): void {
    if (this.rowHash) this.rowHash.update(text);
    else if (this.pendingBytes + text.length > LONG_ROW_BYTES) {
      this.rowHash = createHash('sha256');
      for (const p of this.pending) this.rowHash.update(p);
      this.rowHash.update(text);
      this.pending = [];
      this.pendingBytes = 0;
    } else if (text.length > 0) {
      this.pending.push(Buffer.from(text));
      this.pendingBytes += text.length;
    }
    if (!last) return;
    if (this.rowHash) {
      this.hash.update(LONG_ROW);
      this.hash.update(this.rowHash.digest());
      this.rowHash = null;
      this.rows++;
    } else {
      const row = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.row(row);
    }
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

// Where the parser is in the message stream.
const TYPE = 0;
const LENGTH = 1;
const BODY = 2;

type DataListener = (chunk: Buffer) => void;
interface PgConnection {
  stream: NodeJS.ReadableStream & { listeners(event: 'data'): DataListener[] };
  query(text: string): void;
}

/**
 * A pg Submittable running `COPY (...) TO STDOUT` and hashing its CopyData messages (framing
 * included, long rows as CopyFrameHasher hashes them) as they arrive. Like pg-copy-streams, it takes the socket's data from pg's parser
 * during the COPY and hands the rest back after CopyDone; an ErrorResponse is handed back
 * unread, so pg reports it and the connection stays usable.
 */
export class CopyOutDigest {
  private readonly hash: Hash = createHash('sha256');
  private connection?: PgConnection;
  private pgListener?: DataListener;
  private readonly onData: DataListener = (chunk) => this.parse(chunk);
  private state = TYPE;
  private type = 0;
  private lengthBytes = 0;
  private length = 0;
  private remaining = 0;
  private rows = 0;
  /** The start of a CopyData message cut by the end of a chunk, not hashed yet. */
  private heldHeader: Buffer | null = null;
  /** The body of a long row being read. */
  private rowHash: Hash | null = null;
  private result?: { rows: number; sha256: string };
  private settle!: { resolve: (r: { rows: number; sha256: string }) => void; reject: (e: unknown) => void };
  readonly done = new Promise<{ rows: number; sha256: string }>((resolve, reject) => (this.settle = { resolve, reject }));

  constructor(private readonly text: string) {}

  submit(connection: PgConnection): void {
    this.connection = connection;
    const listeners = connection.stream.listeners('data');
    if (listeners.length !== 1) throw new Error(`copyOutDigest: expected pg's one data listener on the socket, found ${listeners.length}`);
    this.pgListener = listeners[0];
    connection.stream.removeListener('data', this.pgListener);
    connection.stream.on('data', this.onData);
    connection.query(this.text);
  }

  private parse(chunk: Buffer): void {
    const n = chunk.length;
    // The bytes of CopyData messages are hashed in runs: from `run` up to the next other message or
    // long row (LONG_ROW_BYTES), whose body goes to its own hash. A CopyData header cut by the end
    // of a chunk is held back until its length says which of the two its message is.
    let run = this.state !== TYPE && this.type === COPY_DATA && !this.rowHash ? 0 : -1;
    let header = -1; // where the current message starts in this chunk (-1: in an earlier one)
    let i = 0;
    while (i < n) {
      if (this.state === TYPE) {
        const type = chunk[i];
        if (type === ERROR_RESPONSE) {
          this.detach(chunk.subarray(i));
          return;
        }
        if (type === COPY_DATA) {
          if (run < 0) run = i;
        } else if (run >= 0) {
          this.hash.update(chunk.subarray(run, i));
          run = -1;
        }
        header = i;
        this.type = type;
        this.state = LENGTH;
        this.lengthBytes = 0;
        this.length = 0;
        i++;
      } else if (this.state === LENGTH) {
        while (this.lengthBytes < 4 && i < n) {
          this.length = this.length * 256 + chunk[i++];
          this.lengthBytes++;
        }
        if (this.lengthBytes === 4) {
          this.remaining = this.length - 4;
          this.state = BODY;
          if (this.type === COPY_DATA && this.remaining > LONG_ROW_BYTES) {
            // None of this message's header is hashed yet (see the end of this function).
            const start = header >= 0 ? header : 0;
            if (run >= 0 && run < start) this.hash.update(chunk.subarray(run, start));
            run = -1;
            this.heldHeader = null;
            this.rowHash = createHash('sha256');
          } else if (this.heldHeader) {
            this.hash.update(this.heldHeader);
            this.heldHeader = null;
          }
        }
      } else {
        const take = Math.min(this.remaining, n - i);
        if (this.rowHash) this.rowHash.update(chunk.subarray(i, i + take));
        i += take;
        this.remaining -= take;
      }
      if (this.state === BODY && this.remaining === 0) {
        this.state = TYPE;
        if (this.type === COPY_DATA) {
          this.rows++;
          if (this.rowHash) {
            this.hash.update(LONG_ROW);
            this.hash.update(this.rowHash.digest());
            this.rowHash = null;
          }
        } else if (this.type === COPY_DONE) {
          // The run, if any, was hashed when this message's type byte was seen.
          this.result = { rows: this.rows, sha256: this.hash.digest('hex') };
          this.detach(chunk.subarray(i));
          return;
        }
      }
    }
    if (run < 0) return;
    if (this.state === LENGTH && this.type === COPY_DATA) {
      const start = header >= 0 ? header : 0;
      this.hash.update(chunk.subarray(run, start));
      const cut = chunk.subarray(start, n);
      this.heldHeader = this.heldHeader ? Buffer.concat([this.heldHeader, cut]) : Buffer.from(cut);
    } else {
      this.hash.update(chunk.subarray(run, n));
    }
  }

  /** Gives the socket back to pg, with the bytes it has not seen yet (CommandComplete, ReadyForQuery, or the error). */
  private detach(rest: Buffer): void {
    const stream = this.connection!.stream;
    stream.removeListener('data', this.onData);
    stream.on('data', this.pgListener!);
    if (rest.length > 0) this.pgListener!(rest);
  }

  handleError(err: unknown): void {
    this.result = undefined;
    this.settle.reject(err);
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    if (this.result) this.settle.resolve(this.result);
    else this.settle.reject(new Error('COPY TO ended without CopyDone'));
  }
}

/** Runs `sql` (a `COPY ... TO STDOUT`) on `client` and returns the digest of its framed rows (CopyFrameHasher's). */
export async function copyOutDigest(client: pg.Client, sql: string): Promise<{ rows: number; sha256: string }> {
  const query = new CopyOutDigest(sql);
  client.query(query as unknown as pg.Submittable);
  return query.done;
}
