/**
 * The PostgreSQL COPY text format (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format"):
 * one row per line ending in `\n`, columns separated by a tab, `\N` for NULL and backslash escapes for
 * backslash, tab, newline and the other control characters. This file turns COPY TO output into
 * decoded column texts, incrementally and chunk by chunk, and encodes values back into COPY FROM lines.
 */

const TAB = 0x09;
const NL = 0x0a;
const BACKSLASH = 0x5c;

/**
 * Incremental parser of COPY TO text output. Feed it the chunks as they come (a chunk may end in the
 * middle of a row or of a UTF-8 character); it returns the complete rows seen so far as arrays of
 * decoded texts (null for SQL NULL) and keeps only the unfinished tail line in memory.
 * Splitting on bytes is safe because in UTF-8 the bytes of `\t`, `\n` and `\` never occur inside a
 * multi-byte character.
 */
export class CopyTextParser {
  private tail: Buffer | null = null;

  /** Parses every complete line of `chunk` (plus the tail kept from the previous chunk). */
  push(chunk: Buffer): (string | null)[][] {
    const buf = this.tail ? Buffer.concat([this.tail, chunk]) : chunk;
    this.tail = null;
    const rows: (string | null)[][] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NL, start);
      if (nl < 0) break;
      rows.push(parseLine(buf, start, nl));
      start = nl + 1;
    }
    if (start < buf.length) this.tail = Buffer.from(buf.subarray(start)); // copy: do not pin the whole chunk
    return rows;
  }

  /** Call at the end of the stream: COPY output always ends with a newline, so a tail means truncation. */
  end(): void {
    if (this.tail && this.tail.length > 0) {
      throw new Error(`COPY output ended in the middle of a row (${this.tail.length} bytes without a newline)`);
    }
  }

  /** Bytes currently held for an unfinished line. */
  get pendingBytes(): number {
    return this.tail?.length ?? 0;
  }
}

function parseLine(buf: Buffer, start: number, end: number): (string | null)[] {
  const fields: (string | null)[] = [];
  let fieldStart = start;
  for (let i = start; i <= end; i++) {
    if (i === end || buf[i] === TAB) {
      fields.push(decodeField(buf, fieldStart, i));
      fieldStart = i + 1;
    }
  }
  return fields;
}

/** Decodes one field of a COPY text line (bytes start..end, no separators): its text, or null for \\N. */
export function decodeField(buf: Buffer, start: number, end: number): string | null {
  if (end - start === 2 && buf[start] === BACKSLASH && buf[start + 1] === 0x4e /* N */) return null;
  const bs = buf.indexOf(BACKSLASH, start);
  if (bs < 0 || bs >= end) return buf.toString('utf8', start, end);
  // Unescape on bytes, then decode: octal/hex escapes denote bytes, which may form UTF-8 characters.
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b !== BACKSLASH || i + 1 >= end) {
      out[o++] = b;
      i++;
      continue;
    }
    const c = buf[i + 1];
    i += 2;
    switch (c) {
      case 0x62: out[o++] = 0x08; break; // \b
      case 0x66: out[o++] = 0x0c; break; // \f
      case 0x6e: out[o++] = 0x0a; break; // \n
      case 0x72: out[o++] = 0x0d; break; // \r
      case 0x74: out[o++] = 0x09; break; // \t
      case 0x76: out[o++] = 0x0b; break; // \v
      case 0x78: { // \xHH (one or two hex digits)
        let v = 0;
        let n = 0;
        while (n < 2 && i < end && isHex(buf[i])) {
          v = v * 16 + hexValue(buf[i]);
          i++;
          n++;
        }
        if (n === 0) out[o++] = 0x78; // a lone \x means the letter x
        else out[o++] = v;
        break;
      }
      default:
        if (c >= 0x30 && c <= 0x37) { // \d, \dd, \ddd octal
          let v = c - 0x30;
          let n = 1;
          while (n < 3 && i < end && buf[i] >= 0x30 && buf[i] <= 0x37) {
            v = v * 8 + (buf[i] - 0x30);
            i++;
            n++;
          }
          out[o++] = v & 0xff;
        } else {
          out[o++] = c; // any other escaped character stands for itself (\\ included)
        }
    }
  }
  return out.toString('utf8', 0, o);
}

function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

function hexValue(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10;
}

/**
 * One value as a COPY FROM text field. Strings are escaped (backslash, tab, newline, carriage return);
 * numbers and booleans become the text PostgreSQL reads back as the same value.
 */
export function encodeCopyField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'string') return escapeCopyText(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`a JSON number cannot be ${value}`);
    return String(value);
  }
  throw new Error(`unexpected value of type ${typeof value} (${JSON.stringify(value)}) for a PostgreSQL column`);
}

const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** Escapes text for a COPY text-format field. */
export function escapeCopyText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (ch) => (ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : '\\r'));
}

/** A whole COPY FROM line (with its newline) for a row of already-selected values. */
export function encodeCopyLine(values: readonly unknown[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += '\t';
    line += encodeCopyField(values[i]);
  }
  return line + '\n';
}

/** How a column's COPY text becomes its JSON value in a backup line (see EncodedValue). */
export type CopyJsonKind = 'number' | 'boolean' | 'string';

const QUOTE = 0x22;

/**
 * Turns COPY TO text output straight into canonical backup lines: for each row, the UTF-8 bytes of
 * `JSON.stringify(row) + "\n"` where `row` is what the row decoder builds (numbers from int columns,
 * true/false from booleans, strings otherwise). A text field without backslash escapes, quotes or
 * control characters is copied as raw bytes between quotes, which is exactly what JSON.stringify
 * prints for it (PostgreSQL sends valid UTF-8, so no lone surrogates); any other field goes through
 * the decoder and JSON.stringify. Chunks may split lines anywhere; only whole lines are returned.
 */
export class CopyToJsonLines {
  private tail: Buffer | null = null;
  private out: Buffer = Buffer.allocUnsafe(1 << 16);
  private o = 0;
  rows = 0;

  constructor(private readonly kinds: readonly CopyJsonKind[], private readonly tableName: string) {}

  /** Converts every complete line of `chunk` (plus the kept tail); the result is valid until the next call. */
  push(chunk: Buffer): Buffer {
    this.o = 0;
    this.reserve(chunk.length + (chunk.length >> 1) + 64);
    let buf = chunk;
    let start = 0;
    if (this.tail) {
      // Only the line split across chunks is joined (no copy of the whole chunk).
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.tail = Buffer.concat([this.tail, chunk]);
        return this.out.subarray(0, 0);
      }
      const joined = Buffer.concat([this.tail, chunk.subarray(0, nl + 1)]);
      this.tail = null;
      this.reserve(joined.length + 64);
      this.line(joined, 0, joined.length - 1);
      buf = chunk;
      start = nl + 1;
    }
    for (;;) {
      const nl = buf.indexOf(NL, start);
      if (nl < 0) break;
      this.line(buf, start, nl);
      start = nl + 1;
    }
    if (start < buf.length) this.tail = Buffer.from(buf.subarray(start));
    return this.out.subarray(0, this.o);
  }

  /** COPY output always ends with a newline, so a tail means truncation. */
  end(): void {
    if (this.tail && this.tail.length > 0) {
      throw new Error(`COPY output ended in the middle of a row (${this.tail.length} bytes without a newline)`);
    }
  }

  private reserve(extra: number): void {
    if (this.o + extra <= this.out.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.o + extra));
    this.out.copy(next, 0, 0, this.o);
    this.out = next;
  }

  private line(buf: Buffer, start: number, end: number): void {
    const kinds = this.kinds;
    const width = kinds.length;
    this.rows++;
    // Worst case without fallbacks: every field quoted plus separators.
    this.reserve(end - start + 3 * width + 8);
    let out = this.out;
    out[this.o++] = 0x5b; // [
    let field = 0;
    let fieldStart = start;
    for (let i = start; i <= end; i++) {
      if (i !== end && buf[i] !== TAB) continue;
      if (field >= width) throw new Error(`COPY of table "${this.tableName}" returned more than ${width} columns on row ${this.rows}`);
      if (field > 0) out[this.o++] = 0x2c; // ,
      this.field(buf, fieldStart, i, kinds[field]);
      out = this.out; // field() may have grown the buffer
      field++;
      fieldStart = i + 1;
    }
    if (field !== width) throw new Error(`COPY of table "${this.tableName}" returned ${field} columns on row ${this.rows}, expected ${width}`);
    this.reserve(2);
    this.out[this.o++] = 0x5d; // ]
    this.out[this.o++] = NL;
  }

  private field(buf: Buffer, start: number, end: number, kind: CopyJsonKind): void {
    const out = this.out;
    if (end - start === 2 && buf[start] === BACKSLASH && buf[start + 1] === 0x4e) {
      this.ascii('null');
      return;
    }
    if (kind === 'boolean') {
      this.ascii(end - start === 1 && buf[start] === 0x74 ? 'true' : 'false');
      return;
    }
    if (kind === 'string') {
      // Copy while scanning (byte loop: cheaper than Buffer#copy for short fields); undo on a special byte.
      let o = this.o;
      out[o++] = QUOTE;
      let i = start;
      for (; i < end; i++) {
        const b = buf[i];
        if (b < 0x20 || b === QUOTE || b === BACKSLASH) break;
        out[o++] = b;
      }
      if (i === end) {
        out[o++] = QUOTE;
        this.o = o;
        return;
      }
    }
    if (kind === 'number' && end - start > 0 && end - start <= 15) {
      // int2/int4 print as canonical decimals ("-12", "0"): the same text JSON.stringify gives.
      let digits = true;
      for (let i = start; i < end; i++) {
        const b = buf[i];
        if (!((b >= 0x30 && b <= 0x39) || (b === 0x2d && i === start))) {
          digits = false;
          break;
        }
      }
      if (digits && !(buf[start] === 0x30 && end - start > 1) && !(buf[start] === 0x2d && (end - start === 1 || buf[start + 1] === 0x30))) {
        let o = this.o;
        for (let i = start; i < end; i++) out[o++] = buf[i];
        this.o = o;
        return;
      }
    }
    // Numbers, and strings with escapes or JSON-special characters: exactly as the row decoder + JSON.stringify.
    const text = decodeField(buf, start, end) as string;
    const json = kind === 'number' ? JSON.stringify(Number(text)) : JSON.stringify(text);
    const bytes = Buffer.byteLength(json);
    this.reserve(bytes + 4);
    this.o += this.out.write(json, this.o);
  }

  private ascii(s: string): void {
    this.reserve(s.length + 4);
    this.o += this.out.write(s, this.o, 'latin1');
  }
}
