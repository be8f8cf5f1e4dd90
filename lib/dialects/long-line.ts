/**
 * Row lines too long to hold whole (one large value: a 50 MB bytea is a 100 MB line). The backup
 * reader hands such a line out in pieces (RowLinePiece), and the checks here run on the pieces as
 * they pass, so memory stays bounded by a piece instead of growing with the value:
 *  - LongLineCheck: the canonical check of checkCanonicalRun, value by value. A line is canonical
 *    exactly when each of its values is (JSON.stringify of an array is `[`, the values' texts joined
 *    by `,`, `]`), so checking each value against its column decides the same as the whole line.
 *    Strings of PLAIN_STRING columns and bytea hex texts are checked as they stream past; any other
 *    value (a number, null, a jsonb text...) is short in practice and is held until it ends, then
 *    judged exactly as the whole-line check judges it (JSON.parse, JSON.stringify, valueError).
 *  - ValueBytes: finds where such a held value ends and keeps its bytes.
 *  - Utf8Stream: UTF-8 validation of bytes cut anywhere.
 */
import { isUtf8 } from 'node:buffer';
import { checkCanonicalRun, PLAIN_STRING, type CanonicalRules, type RowLineItem } from './dialect.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const CONTROL = /[\x00-\x1f]/;
const SCAN_PIECE = 1 << 16;
/** Plain bytes after which the byte loops switch to native scans (see firstSpecial). */
export const LONG_RUN = 256;

/**
 * The first byte of buf[from..to) that is a quote, a backslash or a control character (below
 * 0x20), or `to`. Native searches (memchr for two bytes, the regexp engine over latin1 slices for the
 * control characters), several times faster than a JavaScript loop over a large value; every search
 * stops at its first hit, so the cost is the distance to the byte found.
 */
export function firstSpecial(buf: Buffer, from: number, to: number): number {
  let stop = to;
  const bs = buf.subarray(from, stop).indexOf(BACKSLASH);
  if (bs >= 0) stop = from + bs;
  const q = buf.subarray(from, stop).indexOf(QUOTE);
  if (q >= 0) stop = from + q;
  for (let at = from; at < stop; at += SCAN_PIECE) {
    const k = buf.toString('latin1', at, Math.min(stop, at + SCAN_PIECE)).search(CONTROL);
    if (k >= 0) return at + k;
  }
  return stop;
}

/** 1 for the bytes a JSON string holds raw and that need no attention (not `"`, `\`, control). */
export const PLAIN_STRING_BYTE = new Uint8Array(256);
for (let b = 0x20; b < 256; b++) PLAIN_STRING_BYTE[b] = b === QUOTE || b === BACKSLASH ? 0 : 1;

const IS_LOWER_HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') IS_LOWER_HEX[c.charCodeAt(0)] = 1;

/**
 * Whether buf[from..to) holds only lower-case hex digits. Four bytes at a time (several times
 * faster than a regexp over a 100 MB bytea text): with every byte below 0x80, adding 0x50 sets a
 * byte's high bit exactly when it is >= 0x30 ("0"), 0x46 when >= 0x3a, 0x1f when >= 0x61 ("a") and
 * 0x19 when >= 0x67, and no sum carries into the next byte.
 */
export function isLowerHex(buf: Buffer, from: number, to: number): boolean {
  let i = from;
  while (i < to && ((buf.byteOffset + i) & 3) !== 0) if (IS_LOWER_HEX[buf[i++]] === 0) return false;
  const words = (to - i) >> 2;
  const w32 = new Int32Array(buf.buffer, buf.byteOffset + i, words);
  for (let k = 0; k < words; k++) {
    const w = w32[k];
    if ((w & 0x80808080) !== 0) return false;
    const digit = (w + 0x50505050) & ~(w + 0x46464646);
    const letter = (w + 0x1f1f1f1f) & ~(w + 0x19191919);
    if (((digit | letter) & 0x80808080) !== (0x80808080 | 0)) return false;
  }
  for (i += words * 4; i < to; i++) if (IS_LOWER_HEX[buf[i]] === 0) return false;
  return true;
}

/** Length of the UTF-8 sequence a lead byte starts (1 for bytes that start none: isUtf8 refuses them). */
function sequenceLength(b: number): number {
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 1;
}

/** UTF-8 validation of a byte stream handed over in cuts that may fall inside a character. */
export class Utf8Stream {
  private carry: number[] = [];

  /** Adds buf[from..to); false when the stream is not UTF-8. */
  push(buf: Buffer, from: number, to: number): boolean {
    if (this.carry.length > 0) {
      let need = sequenceLength(this.carry[0]) - this.carry.length;
      while (need > 0 && from < to) {
        this.carry.push(buf[from++]);
        need--;
      }
      if (need > 0) return true;
      if (!isUtf8(Buffer.from(this.carry))) return false;
      this.carry = [];
    }
    // Keep an unfinished character at the end for the next cut.
    let cut = to;
    for (let k = 1; k <= 3 && to - k >= from; k++) {
      const b = buf[to - k];
      if ((b & 0xc0) === 0x80) continue;
      if (sequenceLength(b) > k) cut = to - k;
      break;
    }
    if (cut > from && !isUtf8(buf.subarray(from, cut))) return false;
    for (let x = cut; x < to; x++) this.carry.push(buf[x]);
    return true;
  }

  /** Whether the bytes so far end on a character boundary. */
  get atBoundary(): boolean {
    return this.carry.length === 0;
  }
}

/**
 * The bytes of one JSON value of a row line that arrives in pieces, up to its end: a string's
 * closing quote (included), else the `,` or `]` after it at depth 0 (not included).
 */
export class ValueBytes {
  private parts: Buffer[] = [];
  private inString = false;
  private escaped = false;
  private depth = 0;
  private started = false;
  private isString = false;

  /** Takes bytes of piece[i..); returns where the value ended in `piece`, or -1 when it goes on. */
  take(piece: Buffer, i: number): number {
    const n = piece.length;
    let j = i;
    if (!this.started) {
      this.started = true;
      this.isString = piece[j] === QUOTE;
      if (this.isString) {
        this.inString = true;
        j++;
      }
    }
    for (; j < n; j++) {
      const b = piece[j];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) {
          this.inString = false;
          if (this.isString) {
            this.parts.push(Buffer.from(piece.subarray(i, j + 1)));
            return j + 1;
          }
        }
      } else if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACKET || b === OPEN_BRACE) this.depth++;
      else if ((b === CLOSE_BRACKET || b === CLOSE_BRACE) && this.depth > 0) this.depth--;
      else if ((b === COMMA || b === CLOSE_BRACKET || b === NL) && this.depth === 0) {
        this.parts.push(Buffer.from(piece.subarray(i, j)));
        return j;
      }
    }
    this.parts.push(Buffer.from(piece.subarray(i, n)));
    return -1;
  }

  bytes(): Buffer {
    return this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
  }
}

const OPEN = 0;
const VALUE = 1;
const SEPARATOR = 2;
const END = 3;
const DONE = 4;

const TEXT = 1;
const HEX = 2;
const HELD = 3;

/** `\"` `\\` `\b` `\f` `\n` `\r` `\t`: the short escapes JSON.stringify writes. */
function isShortEscape(e: number): boolean {
  return e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74;
}

function isLowerHexByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66);
}

function clip(s: string): string {
  return '`' + (s.length > 60 ? s.slice(0, 57) + '...' : s) + '`';
}

/**
 * The canonical check (checkCanonicalRun) of one row line handed over in pieces: push() each piece
 * in order (the last one ends with the line's "\n"), then end(). Throws `invalid(why)` (the line's
 * RowLines.invalid) at the first byte that decides the line is not canonical, so a loader that
 * checks each piece before it sends it never sends bytes of a line already known to be bad.
 */
export class LongLineCheck {
  private readonly width: number;
  private phase = OPEN;
  private col = 0;
  private mode = 0;
  /** TEXT: an escape cut by the end of a piece (`\`, then `u` and hex digits): its bytes so far. */
  private readonly escape = new Uint8Array(6);
  private escapeLength = 0;
  private utf8 = new Utf8Stream();
  /** HEX: bytes of the `\\x` prefix seen; then the number of hex digits. */
  private hexPrefix = 0;
  private hexDigits = 0;
  private held: ValueBytes | null = null;

  constructor(
    private readonly rules: CanonicalRules,
    private readonly invalid: (why: string) => Error,
  ) {
    this.width = rules.columns.length;
  }

  push(piece: Buffer): void {
    const n = piece.length;
    let i = 0;
    while (i < n) {
      if (this.mode === TEXT) i = this.text(piece, i);
      else if (this.mode === HEX) i = this.hex(piece, i);
      else if (this.mode === HELD) i = this.heldValue(piece, i);
      else {
        const b = piece[i];
        if (this.phase === OPEN) {
          if (b !== OPEN_BRACKET) throw this.invalid('is not a JSON array of values');
          this.phase = VALUE;
          i++;
        } else if (this.phase === VALUE) {
          if (this.col >= this.width) throw this.invalid(`does not have ${this.width} values`);
          i = this.startValue(piece, i);
        } else if (this.phase === SEPARATOR) {
          if (b === COMMA) {
            this.col++;
            this.phase = VALUE;
          } else if (b === CLOSE_BRACKET) {
            if (this.col + 1 !== this.width) throw this.invalid(`does not have ${this.width} values`);
            this.phase = END;
          } else {
            throw this.invalid(`is not written the way the backup writes rows (after the value for column "${this.rules.columns[this.col]}")`);
          }
          i++;
        } else if (this.phase === END) {
          if (b !== NL || i !== n - 1) throw this.invalid('is not written the way the backup writes rows (extra characters after the last value)');
          this.phase = DONE;
          i++;
        } else {
          throw this.invalid('goes on after its end');
        }
      }
    }
  }

  /** After the last piece: the line was complete. */
  end(): void {
    if (this.phase !== DONE) throw this.invalid('ends before its last value');
  }

  private startValue(piece: Buffer, i: number): number {
    const quote = piece[i] === QUOTE;
    if (quote && (this.rules.plain[this.col] & PLAIN_STRING) !== 0) {
      this.mode = TEXT;
      this.utf8 = new Utf8Stream();
      this.escapeLength = 0;
      return i + 1;
    }
    if (quote && this.rules.hexText?.[this.col]) {
      this.mode = HEX;
      this.hexPrefix = 0;
      this.hexDigits = 0;
      return i + 1;
    }
    this.mode = HELD;
    this.held = new ValueBytes();
    return i;
  }

  private valueDone(): void {
    this.mode = 0;
    this.phase = SEPARATOR;
  }

  private column(): string {
    return `column "${this.rules.columns[this.col]}"`;
  }

  private notCanonical(what: string): Error {
    return this.invalid(`has a value for ${this.column()} ${what} (not the canonical form: a changed or hand-edited row)`);
  }

  /**
   * A string of a PLAIN_STRING column: any text, escaped exactly as JSON.stringify escapes it (raw
   * UTF-8 except `"`, `\` and the control characters; the short escapes; `\u00xx` only for the
   * control characters without one). Whether such a string is valid in a PLAIN_STRING column depends
   * on each character alone (CanonicalRules.plain), so the one character that may be refused
   * (U+0000) is judged by valueError on its own.
   */
  private text(piece: Buffer, i: number): number {
    const n = piece.length;
    let j = i;
    const from = i;
    while (j < n) {
      if (this.escapeLength > 0) {
        j = this.escapeBytes(piece, j);
        continue;
      }
      const limit = Math.min(n, j + LONG_RUN);
      while (j < limit && PLAIN_STRING_BYTE[piece[j]] === 1) j++;
      if (j === limit) {
        if (j < n) j = firstSpecial(piece, j, n); // a long plain run: native scans
        continue;
      }
      const c = piece[j];
      if (c === QUOTE) {
        if (!this.utf8.push(piece, from, j) || !this.utf8.atBoundary) throw this.invalid('is not valid UTF-8 text');
        this.valueDone();
        return j + 1;
      }
      if (c === BACKSLASH) {
        // The common case at once; \u escapes and escapes cut by the piece's end byte by byte.
        if (j + 1 < n && isShortEscape(piece[j + 1])) {
          j += 2;
          continue;
        }
        this.escape[0] = BACKSLASH;
        this.escapeLength = 1;
        j++;
        continue;
      }
      throw this.notCanonical('with a raw control character (JSON.stringify escapes it)');
    }
    if (!this.utf8.push(piece, from, n)) throw this.invalid('is not valid UTF-8 text');
    return n;
  }

  /** Reads escape bytes from piece[j..) (this.escape holds those already read); returns where it stopped. */
  private escapeBytes(piece: Buffer, j: number): number {
    const n = piece.length;
    const esc = this.escape;
    const text = () => String.fromCharCode(...esc.subarray(0, this.escapeLength));
    while (j < n) {
      esc[this.escapeLength++] = piece[j++];
      if (this.escapeLength === 2) {
        if (isShortEscape(esc[1])) {
          this.escapeLength = 0;
          return j;
        }
        if (esc[1] !== 0x75) throw this.notCanonical(`with the escape ${clip(text())}, which JSON.stringify does not write`);
      } else if (this.escapeLength === 6) {
        const [, , a, b, h, l] = esc;
        // \u00xx only for the control characters without a short escape (lower-case hex).
        if (a !== 0x30 || b !== 0x30 || (h !== 0x30 && h !== 0x31) || !isLowerHexByte(l)) throw this.notCanonical(`with the escape ${clip(text())}, which JSON.stringify does not write`);
        if (h === 0x30 && (l === 0x38 || l === 0x39 || l === 0x61 || l === 0x63 || l === 0x64)) throw this.notCanonical(`with the escape ${clip(text())} where JSON.stringify writes a short one`);
        if (h === 0x30 && l === 0x30) {
          const why = this.rules.valueError('\u0000', this.col);
          if (why) throw this.invalid(`has a value for ${this.column()} that ${why}`);
        }
        this.escapeLength = 0;
        return j;
      }
    }
    return j;
  }

  /** A bytea's text as PostgreSQL prints it: `\x` (JSON `\\x`) and pairs of lower-case hex digits. */
  private hex(piece: Buffer, i: number): number {
    const n = piece.length;
    let j = i;
    const bad = () => this.invalid(`has a value for ${this.column()} that is not a bytea as PostgreSQL prints it (\\x and lower-case hex digits)`);
    while (this.hexPrefix < 3 && j < n) {
      const expected = this.hexPrefix < 2 ? BACKSLASH : 0x78;
      if (piece[j] !== expected) throw bad();
      this.hexPrefix++;
      j++;
    }
    if (j >= n) return n;
    const q = piece.indexOf(QUOTE, j);
    const stop = q < 0 ? n : q;
    if (!isLowerHex(piece, j, stop)) throw bad();
    this.hexDigits += stop - j;
    if (q < 0) return n;
    if (this.hexDigits % 2 !== 0) throw bad();
    this.valueDone();
    return q + 1;
  }

  /** Any other value: held until it ends, then judged as the whole-line check judges it. */
  private heldValue(piece: Buffer, i: number): number {
    const end = this.held!.take(piece, i);
    if (end < 0) return piece.length;
    const bytes = this.held!.bytes();
    this.held = null;
    if (!isUtf8(bytes)) throw this.invalid('is not valid UTF-8 text');
    const text = bytes.toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw this.invalid('is not valid JSON');
    }
    const canonical = JSON.stringify(value);
    if (canonical !== text) throw this.notCanonical(`written ${clip(text)} where the backup writes ${clip(canonical ?? '')}`);
    const why = this.rules.valueError(value as never, this.col);
    if (why) throw this.invalid(`has a value for ${this.column()} that ${why}`);
    this.valueDone();
    return end;
  }
}

/**
 * The canonical check of what BackupSection.pieces yields, for verify and the loaders: runs of
 * whole lines with checkCanonicalRun, long lines piece by piece with LongLineCheck.
 */
export class CanonicalItemCheck {
  private long: LongLineCheck | null = null;

  constructor(private readonly rules: CanonicalRules) {}

  /** Checks `item` (throws its `invalid` error); returns how many rows it completed (0 inside a long line). */
  check(item: RowLineItem): number {
    if (!('piece' in item)) {
      checkCanonicalRun(item, this.rules);
      return item.rows;
    }
    if (item.first) this.long = new LongLineCheck(this.rules, item.invalid);
    if (!this.long) throw item.invalid('is a piece of a line whose start was not read');
    this.long.push(item.bytes);
    if (!item.last) return 0;
    this.long.end();
    this.long = null;
    return 1;
  }
}
