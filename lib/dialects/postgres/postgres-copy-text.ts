/**
 * The PostgreSQL COPY text format (https://www.postgresql.org/docs/current/sql-copy.html, "Text Format"):
 * one row per line ending in `\n`, columns separated by a tab, `\N` for NULL and backslash escapes for
 * backslash, tab, newline and the other control characters. This file turns COPY TO output into
 * decoded column texts, incrementally and chunk by chunk, and encodes values back into COPY FROM lines.
 */

import { isUtf8 } from 'node:buffer';
import { checkCanonicalLine, checkCanonicalRun, parseRowLine, PLAIN_BOOLEAN, PLAIN_INT, PLAIN_NULL, PLAIN_STRING, PLAIN_TEXT, PLAIN_WORD, type CanonicalRules, type RowLines } from '../dialect.ts';
import { firstSpecial, LONG_RUN, PLAIN_STRING_BYTE, ValueBytes } from '../long-line.ts';

export { firstSpecial };

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
  private readonly tail = new LineTail();

  /** Parses every complete line of `chunk` (plus the tail kept from the previous chunk). */
  push(chunk: Buffer): (string | null)[][] {
    const rows: (string | null)[][] = [];
    let start = 0;
    if (this.tail.length > 0) {
      // Only the line split across chunks is joined, once, when its newline arrives.
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.tail.add(chunk);
        return rows;
      }
      const joined = this.tail.join(chunk.subarray(0, nl + 1));
      rows.push(parseLine(joined, 0, joined.length - 1));
      start = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) break;
      rows.push(parseLine(chunk, start, nl));
      start = nl + 1;
    }
    if (start < chunk.length) this.tail.add(Buffer.from(chunk.subarray(start))); // copy: do not pin the whole chunk
    return rows;
  }

  /** Call at the end of the stream: COPY output always ends with a newline, so a tail means truncation. */
  end(): void {
    if (this.tail.length > 0) {
      throw new Error(`COPY output ended in the middle of a row (${this.tail.length} bytes without a newline)`);
    }
  }

  /** Bytes currently held for an unfinished line. */
  get pendingBytes(): number {
    return this.tail.length;
  }
}

/**
 * The unfinished last line of a chunked stream, kept as its pieces and joined once, when its newline
 * arrives. Joining the pieces again at every chunk made one large value (a 50 MB bytea is a 100 MB
 * line) cost time quadratic in its size.
 */
export class LineTail {
  private pieces: Buffer[] = [];
  /** Bytes held. */
  length = 0;

  /** Keeps `piece` (not copied: the caller passes a buffer nothing else will overwrite). */
  add(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.length += piece.length;
  }

  /** The held pieces followed by `last`, as one buffer; the tail is empty afterwards. */
  join(last: Buffer): Buffer {
    const joined = Buffer.concat([...this.pieces, last], this.length + last.length);
    this.pieces = [];
    this.length = 0;
    return joined;
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
 * One value as a COPY FROM text field. Strings are escaped (backslash and the control characters
 * COPY TO escapes: backspace, form feed, newline, carriage return, tab, vertical tab);
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

const NEEDS_ESCAPE = /[\\\b\f\n\r\t\v]/;
const ESCAPES = /[\\\b\f\n\r\t\v]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };

/**
 * Escapes text for a COPY text-format field exactly as COPY TO prints it (the other control
 * characters travel raw both ways), so that the text the loader sends can equal the text the
 * server sends back (the restore proof compares their digests).
 */
export function escapeCopyText(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(ESCAPES, (ch) => ESCAPED[ch]);
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
 * true/false from booleans, strings otherwise). A text field without quotes, raw control characters
 * or escapes other than \\ \b \f \n \r \t is copied as raw bytes between quotes, which is exactly
 * what JSON.stringify prints for it (PostgreSQL sends valid UTF-8, so no lone surrogates, and those
 * six escapes are spelled the same in JSON); any other field goes through
 * the decoder and JSON.stringify. Chunks may split lines anywhere; only whole lines are returned.
 */
export class CopyToJsonLines {
  private readonly tail = new LineTail();
  private out: Buffer = Buffer.allocUnsafe(1 << 16);
  private o = 0;
  rows = 0;

  constructor(private readonly kinds: readonly CopyJsonKind[], private readonly tableName: string) {}

  /** Converts every complete line of `chunk` (plus the kept tail); the result is valid until the next call. */
  push(chunk: Buffer): Buffer {
    this.o = 0;
    this.reserve(chunk.length + (chunk.length >> 1) + 64);
    let start = 0;
    if (this.tail.length > 0) {
      // Only the line split across chunks is joined (no copy of the whole chunk), once.
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.tail.add(chunk);
        return this.out.subarray(0, 0);
      }
      const joined = this.tail.join(chunk.subarray(0, nl + 1));
      this.reserve(joined.length + 64);
      this.line(joined, 0, joined.length - 1);
      start = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) break;
      this.line(chunk, start, nl);
      start = nl + 1;
    }
    if (start < chunk.length) this.tail.add(Buffer.from(chunk.subarray(start)));
    return this.out.subarray(0, this.o);
  }

  /** COPY output always ends with a newline, so a tail means truncation. */
  end(): void {
    if (this.tail.length > 0) {
      throw new Error(`COPY output ended in the middle of a row (${this.tail.length} bytes without a newline)`);
    }
  }

  private reserve(extra: number): void {
    if (this.o + extra <= this.out.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.o + extra));
    this.out.copy(next, 0, 0, this.o);
    this.out = next;
  }

  /**
   * One COPY line buf[start..end) (without its "\n") in a single pass: a plain text field is copied
   * byte by byte while it is scanned, up to its tab; anything unusual (an escape, a quote, a control
   * byte, \N, a number that is not a plain decimal) goes through slowField.
   */
  private line(buf: Buffer, start: number, end: number): void {
    const kinds = this.kinds;
    const width = kinds.length;
    this.rows++;
    // Worst case without fallbacks: the raw bytes plus, per field, quotes or "false" for "f" and a
    // comma (slowField reserves its own room).
    this.reserve(end - start + 6 * width + 8);
    let out = this.out;
    let o = this.o;
    out[o++] = 0x5b; // [
    let i = start;
    for (let f = 0; f < width; f++) {
      if (f > 0) {
        if (i >= end) throw new Error(`COPY of table "${this.tableName}" returned ${f} columns on row ${this.rows}, expected ${width}`);
        i++; // the tab
        out[o++] = 0x2c; // ,
      }
      const kind = kinds[f];
      if (kind === 'string') {
        const mark = o;
        out[o++] = QUOTE;
        let j = i;
        let plain = 0;
        let fieldEnd = -1;
        for (; j < end; j++) {
          const b = buf[j];
          if (++plain > LONG_RUN) {
            // A long value: native scans find the next special byte, one memcpy moves the text.
            if (fieldEnd < 0) {
              fieldEnd = buf.indexOf(TAB, j);
              if (fieldEnd < 0 || fieldEnd > end) fieldEnd = end;
            }
            const stop = firstSpecial(buf, j, fieldEnd);
            o += buf.copy(out, o, j, stop);
            plain = 0;
            j = stop - 1;
            continue;
          }
          if (b === BACKSLASH) {
            // COPY's \\ \b \f \n \r \t are JSON's escapes for the same characters, byte for byte
            // (a bytea prints as \\x..., so a large one stays on this path); \v, octal and hex do not map.
            const e = buf[j + 1];
            if (j + 1 < end && (e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74)) {
              out[o++] = BACKSLASH;
              out[o++] = e;
              j++;
              continue;
            }
            break;
          }
          if (b === QUOTE) {
            // JSON's \" for a quote: one byte more than the line's reservation counted, so make room.
            this.o = o;
            this.reserve(end - j + 6 * (width - f) + 9);
            out = this.out;
            o = this.o;
            out[o++] = BACKSLASH;
            out[o++] = QUOTE;
            continue;
          }
          if (b < 0x20) break;
          out[o++] = b;
        }
        if (j === end || buf[j] === TAB) {
          out[o++] = QUOTE;
          i = j;
          continue;
        }
        o = mark;
      } else if (kind === 'number') {
        // int2/int4 print as canonical decimals ("-12", "0"): the same text JSON.stringify gives.
        let j = i;
        if (buf[j] === 0x2d) j++;
        const d = j;
        while (j < end && buf[j] >= 0x30 && buf[j] <= 0x39) j++;
        const digits = j - d;
        if ((j === end || buf[j] === TAB) && digits > 0 && digits <= 15 && !(buf[d] === 0x30 && (digits > 1 || d > i))) {
          while (i < j) out[o++] = buf[i++]; // a byte loop beats Buffer#copy for a few bytes
          continue;
        }
      } else {
        const b = buf[i];
        const e = i + 1;
        if ((b === 0x74 || b === 0x66) && (e === end || buf[e] === TAB)) {
          o += out.write(b === 0x74 ? 'true' : 'false', o, 'latin1');
          i = e;
          continue;
        }
      }
      // The rest of this field goes through the decoder.
      let fe = buf.indexOf(TAB, i);
      if (fe < 0 || fe > end) fe = end;
      this.o = o;
      this.slowField(buf, i, fe, kind, end - fe + 6 * (width - f) + 8);
      out = this.out; // may have grown
      o = this.o;
      i = fe;
    }
    if (i !== end) throw new Error(`COPY of table "${this.tableName}" returned more than ${width} columns on row ${this.rows}`);
    out[o++] = 0x5d; // ]
    out[o++] = NL;
    this.o = o;
  }

  /** NULL, and fields with escapes or JSON-special characters: exactly as the row decoder + JSON.stringify. */
  private slowField(buf: Buffer, start: number, end: number, kind: CopyJsonKind, restOfLine: number): void {
    if (end - start === 2 && buf[start] === BACKSLASH && buf[start + 1] === 0x4e) {
      this.reserve(4 + restOfLine);
      this.o += this.out.write('null', this.o, 'latin1');
      return;
    }
    const text = decodeField(buf, start, end) as string;
    const json = kind === 'number' ? JSON.stringify(Number(text)) : kind === 'boolean' ? String(text === 't') : JSON.stringify(text);
    const bytes = Buffer.byteLength(json);
    // Room for this field and the worst case of the rest of the line.
    this.reserve(bytes + restOfLine);
    this.o += this.out.write(json, this.o);
  }
}

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

/**
 * The COPY FROM line (with its newline) for the `include`d values of a parsed row; a value no
 * PostgreSQL column takes throws CopyValueError naming the column and `rowNumber`.
 */
export function encodeCopyRow(row: readonly unknown[], include: readonly number[], columnName: (index: number) => string, rowNumber: number): string {
  let line = '';
  for (let k = 0; k < include.length; k++) {
    if (k > 0) line += '\t';
    const index = include[k];
    try {
      line += encodeCopyField(row[index]);
    } catch (e) {
      throw new CopyValueError(rowNumber, `column "${columnName(index)}": ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return line + '\n';
}

/** A well-formed row with a value no PostgreSQL column takes (a tagged SQLite value, say). */
export class CopyValueError extends Error {
  constructor(
    /** The row's number in its table (1-based). */
    readonly row: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The inverse of CopyToJsonLines: turns canonical backup lines (`JSON.stringify(row) + "\n"`, a JSON
 * array of null, true/false, integers and strings per row) straight into COPY FROM text lines,
 * without building row objects. What JSON.stringify prints maps byte for byte: null -> \N,
 * true/false -> t/f, an integer's digits as they are, and a string as its raw UTF-8 bytes between
 * the quotes, its escapes \\ \b \f \n \r \t kept as they are (COPY spells them the same) and \" \/
 * as the bare character. Any line outside that shape (a string with \u escapes, another number
 * form, a tagged value) goes through JSON.parse and encodeCopyField, exactly like the row path, so
 * every line gives the same COPY text either way. Columns not in `include` (generated columns) are
 * skipped.
 */
export class JsonLinesToCopy {
  private readonly keep: boolean[];
  /** Rows converted so far (for error messages and progress). */
  rows = 0;

  constructor(
    private readonly width: number,
    private readonly include: readonly number[],
    private readonly columnName: (index: number) => string,
  ) {
    this.keep = Array.from({ length: width }, (_, i) => include.includes(i));
  }

  /**
   * Converts `rows` whole lines. Returns a new buffer each time (the COPY stream may still hold the
   * previous one). `invalid(i, why)` builds the error for the i-th line of this call.
   */
  convert(bytes: Uint8Array, rows: number, invalid: (index: number, why: string) => Error): Buffer {
    const src = bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // COPY text is never longer than the JSON it comes from (quotes and brackets go, escapes shrink),
    // except through the fallback, which grows the buffer when it must.
    let out: Buffer = Buffer.allocUnsafe(src.length + 64);
    let o = 0;
    let start = 0;
    for (let r = 0; r < rows; r++) {
      const nl = src.indexOf(NL, start);
      this.rows++;
      const fast = this.fastLine(src, start, nl, out, o);
      if (fast >= 0) {
        o = fast;
      } else {
        [out, o] = this.appendLine(out, o, src, start, nl, (why) => invalid(r, why));
      }
      start = nl + 1;
    }
    return out.subarray(0, o);
  }

  /**
   * checkCanonicalRun(run, rules) and then convert(run), in one pass over the bytes of the common
   * lines: the same verdict (the same error for the first line that is not canonical) and the same
   * COPY text. A line is decided here only when each of its values is a token `rules.plain` lets
   * through on its bytes alone AND one fastLine translates (a string without \u escapes, null,
   * true/false, an integer of at most `rules.intDigits` digits): exactly the tests isPlainCanonical
   * makes, so such a line is canonical. Any other line is checked the whole way
   * (checkCanonicalLine) and then converted as convert() does. Restore time of a 2M-row table:
   * the check was a second scan of every byte (see BENCHMARKS.md, "Restore: one pass").
   */
  convertCanonical(run: RowLines, rules: CanonicalRules): Buffer {
    const src = run.bytes instanceof Buffer ? run.bytes : Buffer.from(run.bytes.buffer, run.bytes.byteOffset, run.bytes.byteLength);
    // Bytes that are not UTF-8 (rare: a damaged file): the separate check names the line.
    if (!isUtf8(src)) {
      checkCanonicalRun(run, rules);
      return this.convert(src, run.rows, run.invalid);
    }
    let out: Buffer = Buffer.allocUnsafe(src.length + 64);
    let o = 0;
    let start = 0;
    for (let r = 0; r < run.rows; r++) {
      const nl = src.indexOf(NL, start);
      this.rows++;
      const fast = this.checkedLine(src, start, nl, out, o, rules);
      if (fast >= 0) {
        o = fast;
      } else {
        const invalid = (why: string) => run.invalid(r, why);
        checkCanonicalLine(src, start, nl, rules, invalid);
        const converted = this.fastLine(src, start, nl, out, o);
        if (converted >= 0) {
          o = converted;
        } else {
          [out, o] = this.appendLine(out, o, src, start, nl, invalid);
        }
      }
      start = nl + 1;
    }
    return out.subarray(0, o);
  }

  /**
   * fastLine with isPlainCanonical's tests (lib/dialects/dialect.ts) on every value: src[start..end)
   * (valid UTF-8, without its "\n") into out at o; the new end, or -1 when the line is not decided
   * here (nothing written that matters: the caller rewrites at o).
   */
  private checkedLine(src: Buffer, start: number, end: number, out: Buffer, o: number, rules: CanonicalRules): number {
    if (src[start] !== OPEN_BRACKET || src[end - 1] !== CLOSE_BRACKET || end - start < 3) return -1;
    const keep = this.keep;
    const plain = rules.plain;
    const width = this.width;
    let i = start + 1;
    let col = 0;
    let written = 0;
    for (;;) {
      if (col >= width) return -1;
      const allowed = plain[col];
      const k = keep[col];
      if (k && written > 0) out[o++] = TAB;
      const b = src[i];
      if (b === QUOTE) {
        if ((allowed & (PLAIN_STRING | PLAIN_WORD | PLAIN_TEXT)) === 0) return -1;
        // PLAIN_WORD and PLAIN_TEXT strings hold no escapes; only PLAIN_STRING ones may.
        const escapes = (allowed & PLAIN_STRING) !== 0;
        if (!escapes && (allowed & PLAIN_WORD) !== 0) {
          const f = src[i + 1];
          if (f === 0x20 || f === 0x2b || f === 0x2d || f === 0x2e || (f >= 0x30 && f <= 0x39)) return -1;
        }
        i++;
        const from = i;
        for (;;) {
          // The common bytes (not a quote, a backslash or a control character), copied as they are.
          if (k) {
            while (i < end && PLAIN_STRING_BYTE[src[i]] === 1) out[o++] = src[i++];
          } else {
            while (i < end && PLAIN_STRING_BYTE[src[i]] === 1) i++;
          }
          const c = src[i];
          if (c !== BACKSLASH) break;
          if (!escapes) return -1;
          // The escapes JSON.stringify writes: \" \\ \b \f \n \r \t. COPY spells \\ \b \f \n \r \t
          // the same (escapeCopyText), \" is the bare quote; \u escapes and \/ are decided the long way.
          const e = src[i + 1];
          if (e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
            if (k) {
              out[o++] = BACKSLASH;
              out[o++] = e;
            }
          } else if (e === QUOTE) {
            if (k) out[o++] = QUOTE;
          } else {
            return -1;
          }
          i += 2;
        }
        if (i >= end || src[i] !== QUOTE) return -1; // a control byte or the line's end
        if ((allowed & PLAIN_TEXT) !== 0 && !rules.plainText!(col, src.toString('latin1', from, i))) return -1;
        i++;
      } else if (b === 0x6e /* n */) {
        if ((allowed & PLAIN_NULL) === 0 || src[i + 1] !== 0x75 || src[i + 2] !== 0x6c || src[i + 3] !== 0x6c) return -1;
        if (k) {
          out[o++] = BACKSLASH;
          out[o++] = 0x4e; // N
        }
        i += 4;
      } else if (b === 0x74 /* t */) {
        if ((allowed & PLAIN_BOOLEAN) === 0 || src[i + 1] !== 0x72 || src[i + 2] !== 0x75 || src[i + 3] !== 0x65) return -1;
        if (k) out[o++] = 0x74;
        i += 4;
      } else if (b === 0x66 /* f */) {
        if ((allowed & PLAIN_BOOLEAN) === 0 || src[i + 1] !== 0x61 || src[i + 2] !== 0x6c || src[i + 3] !== 0x73 || src[i + 4] !== 0x65) return -1;
        if (k) out[o++] = 0x66;
        i += 5;
      } else {
        // An integer -?(0|[1-9][0-9]*) of at most intDigits digits (no real: those go the long way).
        if ((allowed & PLAIN_INT) === 0) return -1;
        const s = i;
        if (src[i] === 0x2d) i++;
        const d = i;
        while (src[i] >= 0x30 && src[i] <= 0x39) i++;
        const digits = i - d;
        if (digits === 0 || digits > rules.intDigits[col] || digits > 15 || (src[d] === 0x30 && (digits > 1 || d > s))) return -1;
        if (k) for (let x = s; x < i; x++) out[o++] = src[x];
      }
      if (k) written++;
      const sep = src[i];
      if (sep === COMMA) {
        i++;
        col++;
        continue;
      }
      if (sep === CLOSE_BRACKET && i === end - 1 && col + 1 === width) break;
      return -1;
    }
    out[o++] = NL;
    return o;
  }

  /**
   * Converts one line src[start..end) (without its "\n") into out at o; returns the new end, or -1
   * when the line is not in the simple shape (nothing written that matters: the caller rewrites at o).
   */
  private fastLine(src: Buffer, start: number, end: number, out: Buffer, o: number): number {
    if (src[start] !== OPEN_BRACKET || src[end - 1] !== CLOSE_BRACKET) return -1;
    const keep = this.keep;
    let i = start + 1;
    let col = 0;
    let written = 0;
    if (i === end - 1) return -1; // [] : no values
    for (;;) {
      if (col >= this.width) return -1;
      const k = keep[col];
      if (k && written > 0) out[o++] = TAB;
      const b = src[i];
      if (b === QUOTE) {
        // Copy while scanning (cheaper than scanning, then Buffer#copy); the slow path rewrites at o.
        i++;
        if (k) {
          let plain = 0;
          for (; i < end; i++) {
            const c = src[i];
            if (++plain > LONG_RUN) {
              // A long string: native scans find its next special byte, one memcpy moves the text.
              const stop = firstSpecial(src, i, end);
              o += src.copy(out, o, i, stop);
              plain = 0;
              i = stop - 1;
              continue;
            }
            if (c === BACKSLASH) {
              // JSON's \\ \b \f \n \r \t are COPY's escapes for the same characters (see
              // escapeCopyText); \" and \/ stand for the bare character. \u escapes: slow path.
              const e = src[i + 1];
              if (e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
                out[o++] = BACKSLASH;
                out[o++] = e;
              } else if (e === QUOTE || e === 0x2f) {
                out[o++] = e;
              } else {
                return -1;
              }
              i++;
              continue;
            }
            if (c === QUOTE || c < 0x20) break;
            out[o++] = c;
          }
        } else {
          let plain = 0;
          for (; i < end; i++) {
            const c = src[i];
            if (++plain > LONG_RUN) {
              plain = 0;
              i = firstSpecial(src, i, end) - 1;
              continue;
            }
            if (c === BACKSLASH) {
              const e = src[i + 1];
              if (e === BACKSLASH || e === QUOTE || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
                i++;
                continue;
              }
              return -1;
            }
            if (c === QUOTE || c < 0x20) break;
          }
        }
        if (i >= end || src[i] !== QUOTE) return -1; // a control byte or the line's end: slow path
        i++;
      } else if (b === 0x6e /* n */) {
        if (src[i + 1] !== 0x75 || src[i + 2] !== 0x6c || src[i + 3] !== 0x6c) return -1;
        if (k) {
          out[o++] = BACKSLASH;
          out[o++] = 0x4e; // N
        }
        i += 4;
      } else if (b === 0x74 /* t */) {
        if (src[i + 1] !== 0x72 || src[i + 2] !== 0x75 || src[i + 3] !== 0x65) return -1;
        if (k) out[o++] = 0x74;
        i += 4;
      } else if (b === 0x66 /* f */) {
        if (src[i + 1] !== 0x61 || src[i + 2] !== 0x6c || src[i + 3] !== 0x73 || src[i + 4] !== 0x65) return -1;
        if (k) out[o++] = 0x66;
        i += 5;
      } else {
        // An integer exactly as JSON.stringify prints one: -?(0|[1-9][0-9]*), at most 15 digits.
        const s = i;
        if (src[i] === 0x2d) i++;
        const d = i;
        while (i < end && src[i] >= 0x30 && src[i] <= 0x39) i++;
        const digits = i - d;
        if (digits === 0 || digits > 15 || (src[d] === 0x30 && (digits > 1 || d > s))) return -1;
        if (k) for (let x = s; x < i; x++) out[o++] = src[x];
      }
      if (k) written++;
      col++;
      const sep = src[i];
      if (sep === COMMA) {
        i++;
        continue;
      }
      if (sep === CLOSE_BRACKET && i === end - 1) break;
      return -1;
    }
    if (col !== this.width) return -1;
    out[o++] = NL;
    return o;
  }

  /**
   * Converts one piece of a long line (RowLinePiece): the COPY text of these bytes, as far as they
   * go; the piece with `last` ends the COPY line. Pieces of one line are converted in order; the
   * line must already have passed LongLineCheck up to the end of the piece (as the loader does), so
   * only the forms that check lets through need converting (anything else throws `invalid`).
   * Gives the same bytes as convert() gives for the whole line. Returns a new buffer each time.
   */
  convertPiece(bytes: Buffer, first: boolean, last: boolean, invalid: (why: string) => Error): Buffer {
    if (first) {
      this.rows++;
      this.long = new LongLineToCopy(this.width, this.keep, this.include, this.columnName, this.rows, invalid);
    }
    const long = this.long;
    if (!long) throw new Error('JsonLinesToCopy: a piece that does not follow the first piece of its line');
    const out = long.push(bytes);
    if (last) {
      long.end();
      this.long = null;
    }
    return out;
  }

  private long: LongLineToCopy | null = null;

  /**
   * Line src[start..end) the fast paths left alone, through slowLine, written into out at o. This
   * is the one case where COPY text can be longer than its JSON, so out is replaced by a bigger
   * copy when the line does not fit: returns the buffer that now holds the output, and its end.
   */
  private appendLine(out: Buffer, o: number, src: Buffer, start: number, end: number, invalid: (why: string) => Error): [Buffer, number] {
    const line = this.slowLine(src.toString('utf8', start, end), invalid);
    const need = Buffer.byteLength(line);
    if (o + need > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, o + need + 64));
      out.copy(bigger, 0, 0, o);
      out = bigger;
    }
    return [out, o + out.write(line, o)];
  }

  /** The general path: parse the line, then encode the kept values like any parsed row. */
  private slowLine(text: string, invalid: (why: string) => Error): string {
    return encodeCopyRow(parseRowLine(text, this.width, invalid), this.include, this.columnName, this.rows);
  }
}

const OPEN = 0;
const VALUE = 1;
const SEPARATOR = 2;
const END = 3;
const DONE = 4;

/** The COPY text of one canonical line handed over in pieces (JsonLinesToCopy.convertPiece). */
class LongLineToCopy {
  private phase = OPEN;
  private col = 0;
  private written = 0;
  private inString = false;
  /** An escape cut by the end of a piece (`\`, then `u` and hex digits): its bytes so far. */
  private readonly escape = new Uint8Array(6);
  private escapeLength = 0;
  private held: ValueBytes | null = null;
  private out: Buffer = Buffer.alloc(0);
  private o = 0;

  constructor(
    private readonly width: number,
    private readonly keep: readonly boolean[],
    private readonly include: readonly number[],
    private readonly columnName: (index: number) => string,
    private readonly row: number,
    private readonly invalid: (why: string) => Error,
  ) {}

  private reserve(extra: number): void {
    if (this.o + extra <= this.out.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.o + extra, 1024));
    this.out.copy(next, 0, 0, this.o);
    this.out = next;
  }

  push(piece: Buffer): Buffer {
    // COPY text is never longer than the canonical JSON it comes from, except a held value's
    // text, which reserves its own room.
    this.out = Buffer.allocUnsafe(piece.length + 64);
    this.o = 0;
    const n = piece.length;
    let i = 0;
    while (i < n) {
      if (this.inString) {
        i = this.string(piece, i);
        continue;
      }
      if (this.held) {
        i = this.heldValue(piece, i);
        continue;
      }
      const b = piece[i];
      if (this.phase === OPEN) {
        if (b !== OPEN_BRACKET) throw this.invalid('is not a JSON array of values');
        this.phase = VALUE;
        i++;
      } else if (this.phase === VALUE) {
        if (this.col >= this.width) throw this.invalid(`does not have ${this.width} values`);
        if (this.keep[this.col] && this.written > 0) this.put(TAB);
        if (b === QUOTE) {
          this.inString = true;
          this.escapeLength = 0;
          i++;
        } else {
          this.held = new ValueBytes();
        }
      } else if (this.phase === SEPARATOR) {
        if (b === COMMA) {
          this.col++;
          this.phase = VALUE;
        } else if (b === CLOSE_BRACKET && this.col + 1 === this.width) {
          this.phase = END;
        } else {
          throw this.invalid(`does not have ${this.width} values`);
        }
        i++;
      } else if (this.phase === END) {
        if (b !== NL || i !== n - 1) throw this.invalid('is not valid JSON');
        this.put(NL);
        this.phase = DONE;
        i++;
      } else {
        throw this.invalid('goes on after its end');
      }
    }
    return this.out.subarray(0, this.o);
  }

  end(): void {
    if (this.phase !== DONE) throw this.invalid('ends before its last value');
  }

  private put(b: number): void {
    this.reserve(1);
    this.out[this.o++] = b;
  }

  private valueDone(): void {
    if (this.keep[this.col]) this.written++;
    this.phase = SEPARATOR;
  }

  /** String bytes from piece[i..): raw text copied, JSON escapes turned into COPY's. */
  private string(piece: Buffer, i: number): number {
    const n = piece.length;
    const k = this.keep[this.col];
    // At most one byte out per byte in (escapes are two bytes either way, or shrink).
    this.reserve(n - i);
    let out = this.out;
    let o = this.o;
    let j = i;
    while (j < n) {
      if (this.escapeLength > 0) {
        this.o = o;
        j = this.escapeBytes(piece, j, k);
        out = this.out;
        o = this.o;
        continue;
      }
      const limit = Math.min(n, j + LONG_RUN);
      if (k) while (j < limit && PLAIN_STRING_BYTE[piece[j]] === 1) out[o++] = piece[j++];
      else while (j < limit && PLAIN_STRING_BYTE[piece[j]] === 1) j++;
      if (j === limit) {
        if (j < n) {
          // A long plain run: native scans find its end, one memcpy moves it. The line passed
          // LongLineCheck, so no raw control byte can end it: a quote or a backslash does.
          let stop = piece.indexOf(BACKSLASH, j);
          if (stop < 0) stop = n;
          const q = piece.subarray(j, stop).indexOf(QUOTE);
          if (q >= 0) stop = j + q;
          if (k) o += piece.copy(out, o, j, stop);
          j = stop;
        }
        continue;
      }
      const c = piece[j];
      if (c === QUOTE) {
        this.o = o;
        this.inString = false;
        this.valueDone();
        return j + 1;
      }
      if (c === BACKSLASH) {
        // The common case at once (as in fastLine); \u escapes and escapes cut by the piece's end
        // byte by byte.
        const e = piece[j + 1];
        if (j + 1 < n && (e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74)) {
          if (k) {
            out[o++] = BACKSLASH;
            out[o++] = e;
          }
          j += 2;
          continue;
        }
        if (j + 1 < n && (e === QUOTE || e === 0x2f)) {
          if (k) out[o++] = e;
          j += 2;
          continue;
        }
        this.escape[0] = BACKSLASH;
        this.escapeLength = 1;
        j++;
        continue;
      }
      throw this.invalid('is not valid JSON (a raw control character in a string)');
    }
    this.o = o;
    return n;
  }

  /** Escape bytes from piece[j..); writes the COPY form once the escape is complete. */
  private escapeBytes(piece: Buffer, j: number, k: boolean): number {
    const n = piece.length;
    const esc = this.escape;
    while (j < n) {
      esc[this.escapeLength++] = piece[j++];
      if (this.escapeLength === 2) {
        const e = esc[1];
        if (e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          // JSON's \\ \b \f \n \r \t are COPY's escapes for the same characters.
          if (k) {
            this.reserve(2);
            this.out[this.o++] = BACKSLASH;
            this.out[this.o++] = e;
          }
          this.escapeLength = 0;
          return j;
        }
        if (e === QUOTE || e === 0x2f) {
          if (k) this.put(e);
          this.escapeLength = 0;
          return j;
        }
        if (e !== 0x75) throw this.invalid('is not valid JSON (an unknown escape in a string)');
      } else if (this.escapeLength === 6) {
        const digits = String.fromCharCode(esc[2], esc[3], esc[4], esc[5]);
        if (!/^[0-9a-fA-F]{4}$/.test(digits)) throw this.invalid('is not valid JSON (a bad \\u escape)');
        const code = Number.parseInt(digits, 16);
        // Only what LongLineCheck lets through comes here; a surrogate would need its pair.
        if (code >= 0xd800 && code <= 0xdfff) throw this.invalid('has a \\u escape for a surrogate in a long value');
        if (k) {
          const text = escapeCopyText(String.fromCharCode(code));
          this.reserve(4);
          this.o += this.out.write(text, this.o);
        }
        this.escapeLength = 0;
        return j;
      }
    }
    return j;
  }

  /** Any value but a string: held until it ends, then encoded like the row path does. */
  private heldValue(piece: Buffer, i: number): number {
    const end = this.held!.take(piece, i);
    if (end < 0) return piece.length;
    const text = this.held!.bytes().toString('utf8');
    this.held = null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw this.invalid('is not valid JSON');
    }
    if (this.keep[this.col]) {
      let field: string;
      try {
        field = encodeCopyField(value);
      } catch (e) {
        throw new CopyValueError(this.row, `column "${this.columnName(this.col)}": ${e instanceof Error ? e.message : String(e)}`);
      }
      this.reserve(Buffer.byteLength(field));
      this.o += this.out.write(field, this.o);
    }
    this.valueDone();
    return end;
  }
}
