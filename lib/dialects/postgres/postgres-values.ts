import type { ColumnSchema, TableSchema } from '../../core/types.ts';
import { hasLoneSurrogate, PLAIN_BOOLEAN, PLAIN_INT, PLAIN_NULL, PLAIN_STRING, PLAIN_TEXT, type CanonicalRules } from '../dialect.ts';

/**
 * The canonical check of PostgreSQL rows (CanonicalRules), after what the dumper writes
 * (postgres-dump.ts decoderFor, postgres-copy-text.ts CopyToJsonLines): int2/int4 columns hold
 * JSON integers in their range, boolean columns true/false, every other column a string, and null
 * only where the column is nullable. A string is the text PostgreSQL prints for the value, so it
 * never holds a NUL or a lone surrogate, and for the types whose printed form is simple to state it
 * must be that form: bigint (canonical digits in range), numeric (its digits, with exactly the
 * column's scale when it has one), uuid (lower-case), bytea (`\x` and lower-case hex) and jsonb
 * (keys sorted and de-duplicated, `, ` and `: ` separators, numbers as numeric prints them), and
 * arrays (their punctuation and quoting; the elements of integer arrays as digits), since
 * PostgreSQL would store `012`, `{"a":1}`, `{a, b}` or an upper-case uuid and print them back
 * differently. The text of other types (timestamps, floats, enums...) is passed on as it is: the server
 * refuses what it cannot read (the load rolls back), and the restore's proof compares the rest.
 */
export function postgresCanonicalRules(table: TableSchema): CanonicalRules {
  const n = table.columns.length;
  const plain = new Uint8Array(n);
  const intDigits = new Uint8Array(n);
  const hexText = new Uint8Array(n);
  const ranges: ([number, number] | null)[] = [];
  const texts: (TextForm | null)[] = [];
  table.columns.forEach((c, i) => {
    let bits = c.nullable ? PLAIN_NULL : 0;
    const form = textForm(c);
    texts.push(form);
    if (c.kind === 'int') {
      const small = /^(smallint|int2)$/i.test(c.type.trim());
      ranges.push(small ? [-32768, 32767] : [-2147483648, 2147483647]);
      bits |= PLAIN_INT;
      intDigits[i] = small ? 4 : 9; // always in range on the fast path; longer ones get the range check
    } else {
      ranges.push(null);
      if (c.kind === 'boolean') bits |= PLAIN_BOOLEAN;
      else if (!form) bits |= PLAIN_STRING;
      else if (form.plain) bits |= PLAIN_TEXT;
      if (form === BYTEA_FORM) hexText[i] = 1;
    }
    plain[i] = bits;
  });
  return {
    columns: table.columns.map((c) => c.name),
    plain,
    intDigits,
    hexText,
    plainText: (i, text) => texts[i]!.plain!(text),
    valueError(v, i) {
      const column = table.columns[i];
      if (v === null) return column.nullable ? null : 'is null, but the column is NOT NULL';
      const range = ranges[i];
      if (range) {
        if (typeof v !== 'number' || !Number.isInteger(v)) return `is ${JSON.stringify(v)}, but the backup writes ${column.type} values as JSON integers`;
        if (v < range[0] || v > range[1]) return `is ${v}, outside the range of ${column.type}`;
        return null;
      }
      if (column.kind === 'boolean') return typeof v === 'boolean' ? null : `is ${JSON.stringify(v)}, but the backup writes booleans as true/false`;
      if (typeof v !== 'string') return `is ${JSON.stringify(v)}, but the backup writes ${column.type} values as strings`;
      if (v.includes('\u0000')) return 'is a string with a NUL character, which PostgreSQL text cannot hold';
      if (hasLoneSurrogate(v)) return 'is a string with a lone surrogate (not valid Unicode)';
      const form = texts[i];
      return form ? form.error(v) : null;
    },
  };
}

interface TextForm {
  /** Why `text` is not how PostgreSQL prints a value of the type, or null. */
  error(text: string): string | null;
  /** The same decision for a string without JSON escapes, given as its raw text (the fast path). */
  plain?: (text: string) => boolean;
}

const DIGITS = /^-?(0|[1-9][0-9]*)$/;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BYTEA = /^\\x(?:[0-9a-f]{2})*$/;

const BYTEA_FORM: TextForm = {
  plain: (t) => BYTEA.test(t),
  error: (t) => (BYTEA.test(t) ? null : `is not a bytea as PostgreSQL prints it (\\x and lower-case hex digits)`),
};

/** The printed form a column's text must have, for the types where it is checked. */
function textForm(c: ColumnSchema): TextForm | null {
  const type = c.type.trim().toLowerCase();
  if (c.kind === 'bigint' && type === 'bigint') {
    // Up to 18 digits is always in range: BigInt only for the long ones.
    const ok = (t: string) => DIGITS.test(t) && t !== '-0' && (t.length <= 18 || (t.length <= 20 && BigInt(t) >= INT8_MIN && BigInt(t) <= INT8_MAX));
    return { plain: ok, error: (t) => (ok(t) ? null : `is ${JSON.stringify(t)}, which is not how PostgreSQL prints a bigint`) };
  }
  if (c.kind === 'decimal' && /^numeric(\(\d+(,\s*-?\d+)?\))?$/.test(type)) {
    const m = /^numeric\((\d+)(?:,\s*(-?\d+))?\)$/.exec(type);
    const scale = m ? Number(m[2] ?? 0) : null;
    const ok = (t: string) => isNumericText(t, scale);
    return { plain: ok, error: (t) => (ok(t) ? null : `is ${JSON.stringify(t)}, which is not how PostgreSQL prints a ${c.type}`) };
  }
  if (c.kind === 'uuid' && type === 'uuid') {
    const ok = (t: string) => UUID.test(t);
    return { plain: ok, error: (t) => (ok(t) ? null : `is ${JSON.stringify(t)}, which is not how PostgreSQL prints a uuid (lower-case, with hyphens)`) };
  }
  if (c.kind === 'bytes' && type === 'bytea') return BYTEA_FORM;
  if (c.kind === 'array' && type.endsWith('[]')) {
    const element = type.replace(/(\[\])+$/, '');
    const limit = element === 'smallint' ? 32767 : element === 'integer' ? 2147483647 : element === 'bigint' ? null : undefined;
    const elementOk =
      limit === undefined
        ? null
        : (t: string) => DIGITS.test(t) && t !== '-0' && (limit === null ? t.length <= 18 || (t.length <= 20 && BigInt(t) >= INT8_MIN && BigInt(t) <= INT8_MAX) : Number(t) >= -limit - 1 && Number(t) <= limit);
    return {
      error: (t) => (isCanonicalArray(t, elementOk) ? null : `is ${clip(t)}, which is not how PostgreSQL prints a ${c.type} (elements separated by "," alone, quoted only where needed)`),
    };
  }
  if (c.kind === 'json' && type === 'jsonb') {
    return {
      error(t) {
        if (isCanonicalJsonb(t)) return null;
        let canonical: string;
        try {
          canonical = canonicalJsonb(t);
        } catch (e) {
          return `is not jsonb PostgreSQL reads (${(e as Error).message})`;
        }
        return canonical === t ? null : `is jsonb text written ${clip(t)} where PostgreSQL prints ${clip(canonical)}`;
      },
    };
  }
  return null;
}

function clip(s: string): string {
  return '`' + (s.length > 60 ? s.slice(0, 57) + '...' : s) + '`';
}

/** Whitespace as array_in skips it (array_isspace). */
function isArraySpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
}

/**
 * Whether `text` is an array as array_out prints it: `{}` or `{e,e,...}` (nested for more
 * dimensions), an element `NULL`, or its text bare when it needs no quotes, else in double quotes
 * with `"` and `\` escaped; it needs quotes when it is empty, reads as NULL, or holds a brace, a
 * comma, a quote, a backslash or white space. `elementOk` checks the element text of number types.
 * Arrays with explicit bounds (`[0:1]={...}`) are not modelled and pass.
 */
export function isCanonicalArray(text: string, elementOk: ((t: string) => boolean) | null): boolean {
  if (text.startsWith('[')) return true;
  let i = 0;
  const n = text.length;
  // Per depth: how many items each array there holds, and whether they are arrays (PostgreSQL
  // refuses ragged or mixed arrays).
  const lengths: number[] = [];
  const nested: boolean[] = [];
  const array = (depth: number): boolean => {
    if (text.charCodeAt(i) !== 0x7b) return false;
    i++;
    if (text.charCodeAt(i) === 0x7d) {
      i++;
      return depth === 0;
    }
    let count = 0;
    for (;;) {
      const c = text.charCodeAt(i);
      count++;
      if ((nested[depth] ??= c === 0x7b) !== (c === 0x7b)) return false;
      if (c === 0x7b) {
        if (!array(depth + 1)) return false;
      } else if (c === 0x22) {
        let value = '';
        let j = i + 1;
        for (; j < n && text.charCodeAt(j) !== 0x22; j++) {
          if (text.charCodeAt(j) === 0x5c) {
            const e = text.charCodeAt(j + 1);
            if (e !== 0x22 && e !== 0x5c) return false; // array_out escapes only these two
            j++;
          }
          value += text[j];
        }
        if (j >= n) return false;
        i = j + 1;
        if (!needsQuotes(value)) return false;
        if (elementOk && !elementOk(value)) return false;
      } else {
        let j = i;
        for (; j < n; j++) {
          const x = text.charCodeAt(j);
          if (x === 0x2c || x === 0x7d) break;
          if (x === 0x7b || x === 0x22 || x === 0x5c || isArraySpace(x)) return false;
        }
        const value = text.slice(i, j);
        if (value === '') return false;
        if (value.toUpperCase() === 'NULL' && value !== 'NULL') return false;
        if (value !== 'NULL' && elementOk && !elementOk(value)) return false;
        i = j;
      }
      const sep = text.charCodeAt(i);
      if (sep === 0x7d) {
        i++;
        if ((lengths[depth] ??= count) !== count) return false;
        return true;
      }
      if (sep !== 0x2c) return false;
      i++;
    }
  };
  return array(0) && i === n;
}

function needsQuotes(value: string): boolean {
  if (value === '' || value.toUpperCase() === 'NULL') return true;
  for (let k = 0; k < value.length; k++) {
    const x = value.charCodeAt(k);
    if (x === 0x7b || x === 0x7d || x === 0x2c || x === 0x22 || x === 0x5c || isArraySpace(x)) return true;
  }
  return false;
}

/** numeric_out: `NaN`, `±Infinity`, or digits without a redundant sign or leading zero, with exactly `scale` decimals when the type has one. */
function isNumericText(t: string, scale: number | null): boolean {
  if (t === 'NaN') return true;
  if (t === 'Infinity' || t === '-Infinity') return scale === null;
  const m = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?$/.exec(t);
  if (!m) return false;
  if (m[1] && /^[0.]*$/.test(m[2] + (m[3] ?? ''))) return false; // -0 prints as 0
  if (scale !== null && (m[3]?.length ?? 0) !== Math.max(0, scale)) return false;
  return true;
}

/**
 * The text PostgreSQL prints for jsonb `text` (jsonb_out): objects with their keys de-duplicated
 * (the last wins) and sorted by length, then bytes; `, ` and `: ` separators; strings escaped as
 * JSON.stringify escapes them; numbers as numeric prints them (scale kept, exponent expanded).
 * Throws for text jsonb does not accept.
 */
export function canonicalJsonb(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at character ${i + 1}`);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) fail('a control character in a string');
      i++;
    }
    if (i >= text.length) fail('an unterminated string');
    i++;
    const s = JSON.parse(text.slice(start, i)) as string;
    if (s.includes('\u0000') || hasLoneSurrogate(s)) fail('a string jsonb cannot hold');
    return s;
  };
  const value = (): string => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const pairs = new Map<string, string>();
      ws();
      if (text[i] === '}') {
        i++;
        return '{}';
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a key that is not a string');
        const key = str();
        ws();
        if (text[i] !== ':') fail('a missing ":"');
        i++;
        const v = value();
        pairs.delete(key);
        pairs.set(key, v);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          break;
        }
        fail('a missing "," or "}"');
      }
      const keys = [...pairs.keys()].sort((a, b) => {
        const ab = Buffer.from(a);
        const bb = Buffer.from(b);
        return ab.length - bb.length || Buffer.compare(ab, bb);
      });
      return '{' + keys.map((k) => `${JSON.stringify(k)}: ${pairs.get(k)}`).join(', ') + '}';
    }
    if (ch === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          break;
        }
        fail('a missing "," or "]"');
      }
      return '[' + items.join(', ') + ']';
    }
    if (ch === '"') return JSON.stringify(str());
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return lit;
      }
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail('an unexpected character');
    i += m[0].length;
    return numericOfJson(m[0]);
  };
  const out = value();
  ws();
  if (i !== text.length) fail('text after the value');
  return out;
}

/**
 * Whether `text` is already exactly what jsonb_out prints (canonicalJsonb(text) === text), decided
 * in one pass without building anything: no whitespace but the `, ` and `: ` separators, object
 * keys strictly ascending (by UTF-8 length, then bytes: this also rules out duplicates), strings
 * escaped only where JSON.stringify escapes, numbers without exponent or negative zero. Keys with
 * escapes or characters beyond ASCII are left to canonicalJsonb (false here).
 */
export function isCanonicalJsonb(text: string): boolean {
  jt = text;
  ji = 0;
  return canonicalValue() && ji === text.length;
}

// The scanner's state (isCanonicalJsonb): module variables rather than closures, which would be
// allocated for every value checked.
let jt = '';
let ji = 0;
const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?/y;
const NEGATIVE_ZERO = /^-[0.]*$/;
const CONTROL_ESCAPE = /^[01][0-9a-f]$/;

/** End of the canonical string starting at ji (a quote), or -1. */
function canonicalString(): number {
  const text = jt;
  const n = text.length;
  for (let j = ji + 1; j < n; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c < 0x20) return -1;
    if (c === 0x5c) {
      const e = text.charCodeAt(j + 1);
      if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        j++;
        continue;
      }
      // Only control characters without a short form are written \u00xx (lower-case); \u0000 is refused.
      if (e !== 0x75 || text.charCodeAt(j + 2) !== 0x30 || text.charCodeAt(j + 3) !== 0x30) return -1;
      const h = text.slice(j + 4, j + 6);
      if (!CONTROL_ESCAPE.test(h) || h === '00' || h === '08' || h === '09' || h === '0a' || h === '0c' || h === '0d') return -1;
      j += 5;
    }
  }
  return -1;
}

function canonicalValue(): boolean {
  const text = jt;
  const c = text.charCodeAt(ji);
  if (c === 0x7b /* { */) {
    ji++;
    if (text.charCodeAt(ji) === 0x7d) {
      ji++;
      return true;
    }
    let prevStart = -1;
    let prevEnd = -1;
    for (;;) {
      if (text.charCodeAt(ji) !== 0x22) return false;
      const end = canonicalString();
      if (end < 0) return false;
      for (let k = ji + 1; k < end - 1; k++) {
        const x = text.charCodeAt(k);
        if (x > 0x7e || x === 0x5c) return false; // left to canonicalJsonb
      }
      if (prevStart >= 0) {
        const a = prevEnd - prevStart;
        const b = end - ji;
        if (a > b) return false;
        if (a === b) {
          let k = 1;
          while (k < a && text.charCodeAt(prevStart + k) === text.charCodeAt(ji + k)) k++;
          if (k >= a - 1 || text.charCodeAt(prevStart + k) > text.charCodeAt(ji + k)) return false;
        }
      }
      prevStart = ji;
      prevEnd = end;
      ji = end;
      if (text.charCodeAt(ji) !== 0x3a || text.charCodeAt(ji + 1) !== 0x20) return false;
      ji += 2;
      if (!canonicalValue()) return false;
      if (text.charCodeAt(ji) === 0x7d) {
        ji++;
        return true;
      }
      if (text.charCodeAt(ji) !== 0x2c || text.charCodeAt(ji + 1) !== 0x20) return false;
      ji += 2;
    }
  }
  if (c === 0x5b /* [ */) {
    ji++;
    if (text.charCodeAt(ji) === 0x5d) {
      ji++;
      return true;
    }
    for (;;) {
      if (!canonicalValue()) return false;
      if (text.charCodeAt(ji) === 0x5d) {
        ji++;
        return true;
      }
      if (text.charCodeAt(ji) !== 0x2c || text.charCodeAt(ji + 1) !== 0x20) return false;
      ji += 2;
    }
  }
  if (c === 0x22) {
    const end = canonicalString();
    if (end < 0) return false;
    ji = end;
    return true;
  }
  if (c === 0x74 && text.startsWith('true', ji)) return (ji += 4), true;
  if (c === 0x66 && text.startsWith('false', ji)) return (ji += 5), true;
  if (c === 0x6e && text.startsWith('null', ji)) return (ji += 4), true;
  JSON_NUMBER.lastIndex = ji;
  const m = JSON_NUMBER.exec(text);
  if (!m) return false;
  const e = text.charCodeAt(ji + m[0].length);
  if (e === 0x65 || e === 0x45) return false; // an exponent: numeric prints the digits
  if (c === 0x2d && NEGATIVE_ZERO.test(m[0])) return false; // -0 prints as 0
  ji += m[0].length;
  return true;
}

/** numeric_in then numeric_out of a JSON number: the scale is the decimals less the exponent, at least 0. */
function numericOfJson(t: string): string {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(t)!;
  const frac = m[3] ?? '';
  const exp = Number(m[4] ?? 0);
  if (Math.abs(exp) > 1000) throw new Error('a number beyond what this check expands');
  const e = exp - frac.length;
  let digits = BigInt(m[2] + frac);
  if (e >= 0) digits *= 10n ** BigInt(e);
  const scale = Math.max(0, -e);
  let s = digits.toString();
  if (scale > 0) {
    s = s.padStart(scale + 1, '0');
    s = `${s.slice(0, -scale)}.${s.slice(-scale)}`;
  }
  return digits === 0n || !m[1] ? s : `-${s}`;
}
