import { rowColumns, type TableSchema } from '../../core/types.ts';
import { hasLoneSurrogate, PLAIN_INT, PLAIN_NULL, PLAIN_REAL, PLAIN_STRING, PLAIN_WORD, type CanonicalRules, type EncodedValue } from '../dialect.ts';

/**
 * SQLite is dynamically typed, so each value says what it is (see EncodedRow in dialect.ts):
 * the storage class survives the round trip exactly (INTEGER beyond 2^53, integral REALs, BLOBs).
 */
export function encodeSqliteValue(v: unknown): EncodedValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : { $int: v.toString() };
  if (typeof v === 'number') {
    if (Number.isInteger(v) || !Number.isFinite(v)) return { $real: Object.is(v, -0) ? '-0' : String(v) };
    return v;
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $b64: Buffer.from(v).toString('base64') };
  throw new Error(`Unexpected SQLite value of type ${typeof v}`);
}

/**
 * The canonical line of a row as SQLite gives it (raw values, safeIntegers), without its newline:
 * JSON.stringify of the encoded values. `row` may be passed to be reused.
 */
export function sqliteLine(raw: readonly unknown[], row: EncodedValue[] = new Array(raw.length)): string {
  for (let i = 0; i < raw.length; i++) row[i] = encodeSqliteValue(raw[i]);
  return JSON.stringify(row);
}

/** Inverse of encodeSqliteValue, giving what better-sqlite3 binds to the same storage class. */
export function decodeSqliteValue(v: EncodedValue): null | string | number | bigint | Buffer {
  if (v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'object') {
    if (typeof v.$int === 'string') return BigInt(v.$int);
    if (typeof v.$real === 'string') return Number(v.$real);
    if (typeof v.$b64 === 'string') return Buffer.from(v.$b64, 'base64');
  }
  throw new Error(`Unrecognised encoded SQLite value ${JSON.stringify(v)}`);
}

/** SQLite's type affinity of a declared column type (https://sqlite.org/datatype3.html, 3.1). */
export type SqliteAffinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC';

/**
 * The affinity rules of SQLite, in their order. `ANY` is taken as BLOB: in a STRICT table it keeps
 * every value as given (in an ordinary table it would be NUMERIC, which only makes the check looser).
 */
export function sqliteAffinity(declared: string): SqliteAffinity {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t.includes('BLOB') || t.trim() === '' || t.trim() === 'ANY') return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

/**
 * Text SQLite turns into a number when it is stored in a column of INTEGER, REAL or NUMERIC
 * affinity: a decimal integer or real literal, with optional sign and surrounding white space
 * (tests/dialects/sqlite-canonical.test.ts checks this against SQLite itself).
 */
const NUMERIC_TEXT = /^[ \t\n\v\f\r]*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[ \t\n\v\f\r]*$/;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The canonical check of SQLite rows (CanonicalRules): each value exactly as encodeSqliteValue
 * writes what SQLite stores for it. Besides the encoding itself (no booleans, integers beyond 2^53
 * only as `{"$int"}`, integral REALs only as `{"$real"}`, canonical digits and base64), a value
 * must survive being stored in its column unchanged: the column's affinity would turn a number
 * into TEXT, numeric-looking text into a number, an integer into a REAL or an integral REAL into
 * an INTEGER; a NULL primary key of INTEGER type becomes a new rowid, and a NOT NULL column
 * never holds NULL. A dumper reading the
 * database back could never have written such a value.
 */
export function sqliteCanonicalRules(table: TableSchema): CanonicalRules {
  // The row's values: its columns, then the hidden rowid when the backup keeps it (an integer, never null).
  const columns = rowColumns(table);
  const affinities = columns.map((c) => sqliteAffinity(c.type));
  const rowid = table.rowid ?? (table.primaryKey.length === 1 && table.columns.find((c) => c.name === table.primaryKey[0])?.type.trim().toUpperCase() === 'INTEGER' ? table.primaryKey[0] : null);
  // NOT NULL is enforced on every insert, so a dump never has a null there. The header's `nullable`
  // is false for primary key columns too, which (except the rowid) SQLite lets hold NULL.
  const nullOk = columns.map((c) => c.name !== rowid && (c.nullable || table.primaryKey.includes(c.name)));
  const plain = new Uint8Array(columns.length);
  const intDigits = new Uint8Array(columns.length);
  columns.forEach((c, i) => {
    const a = affinities[i];
    let bits = nullOk[i] ? PLAIN_NULL : 0;
    bits |= a === 'TEXT' || a === 'BLOB' ? PLAIN_STRING : PLAIN_WORD;
    if (a === 'INTEGER' || a === 'NUMERIC' || a === 'BLOB') {
      bits |= PLAIN_INT;
      intDigits[i] = 15;
    }
    if (a !== 'TEXT') bits |= PLAIN_REAL;
    plain[i] = c.name === rowid ? PLAIN_INT : bits;
  });
  return {
    columns: columns.map((c) => c.name),
    plain,
    intDigits,
    valueError(v, i) {
      const a = affinities[i];
      if (v === null) {
        if (columns[i].name === rowid) return table.rowid ? 'is null as the rowid (SQLite would store a new one)' : 'is null in the INTEGER PRIMARY KEY (SQLite would store a new rowid)';
        return nullOk[i] ? null : 'is null, but the column is NOT NULL';
      }
      if (typeof v === 'boolean') return `is ${v}, which SQLite has no type for (the backup writes integers)`;
      if (columns[i].name === rowid && !(typeof v === 'number' && Number.isInteger(v)) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && '$int' in v)) {
        return `is ${JSON.stringify(v)} ${table.rowid ? 'as the rowid' : 'in the INTEGER PRIMARY KEY'}, which holds only integers`;
      }
      if (typeof v === 'number') {
        if (Number.isInteger(v)) {
          if (!Number.isSafeInteger(v)) return 'is an integer beyond 2^53 written as a JSON number (the backup writes {"$int":"…"} or {"$real":"…"})';
          if (a === 'TEXT') return 'is an integer in a column of TEXT affinity (SQLite would store it as text)';
          if (a === 'REAL') return 'is an integer in a column of REAL affinity (SQLite would store a REAL, which the backup writes {"$real":"…"})';
          return null;
        }
        if (a === 'TEXT') return 'is a number in a column of TEXT affinity (SQLite would store it as text)';
        return null;
      }
      if (typeof v === 'string') {
        if (hasLoneSurrogate(v)) return 'is a string with a lone surrogate (not valid Unicode; SQLite would store a replacement character)';
        if (a !== 'TEXT' && a !== 'BLOB' && NUMERIC_TEXT.test(v)) return `is the text ${JSON.stringify(v)} in a column of ${a} affinity (SQLite would store it as a number)`;
        return null;
      }
      if (typeof v !== 'object' || Array.isArray(v)) return 'is not a SQLite value';
      const keys = Object.keys(v);
      if (keys.length !== 1 || typeof v[keys[0]] !== 'string') return 'is an object that is not one of {"$int"}, {"$real"}, {"$b64"}';
      const s = v[keys[0]];
      if (keys[0] === '$int') {
        if (!/^-?(0|[1-9][0-9]*)$/.test(s) || s === '-0') return `is {"$int":${JSON.stringify(s)}}, not canonical integer digits`;
        const n = BigInt(s);
        if (n < INT64_MIN || n > INT64_MAX) return `is {"$int":"${s}"}, outside SQLite's 64-bit integers`;
        if (n >= -9007199254740991n && n <= 9007199254740991n) return `is {"$int":"${s}"}, which the backup writes as the JSON number ${s}`;
        if (a === 'TEXT' || a === 'REAL') return `is an integer in a column of ${a} affinity (SQLite would store it as ${a === 'TEXT' ? 'text' : 'a REAL'})`;
        return null;
      }
      if (keys[0] === '$real') {
        const x = Number(s);
        const canonical = Object.is(x, -0) ? '-0' : String(x);
        if (Number.isNaN(x)) return `is {"$real":${JSON.stringify(s)}}, not a number SQLite stores (NaN becomes NULL)`;
        if (s !== canonical) return `is {"$real":${JSON.stringify(s)}}, which the backup writes {"$real":"${canonical}"}`;
        if (Number.isFinite(x) && !Number.isInteger(x)) return `is {"$real":"${s}"}, which the backup writes as the JSON number ${s}`;
        if (a === 'TEXT') return 'is a REAL in a column of TEXT affinity (SQLite would store it as text)';
        // SQLite keeps integral REALs of REAL columns as integers on disk, which reads back as 0.0.
        if (a === 'REAL' && Object.is(x, -0)) return 'is the REAL -0 in a column of REAL affinity (SQLite would store 0)';
        if ((a === 'INTEGER' || a === 'NUMERIC') && Number.isFinite(x) && x >= -(2 ** 63) && x < 2 ** 63) return `is the integral REAL ${s} in a column of ${a} affinity (SQLite would store an INTEGER)`;
        return null;
      }
      if (keys[0] === '$b64') {
        if (Buffer.from(s, 'base64').toString('base64') !== s) return `is {"$b64":…} with base64 that is not canonical`;
        return null;
      }
      return `is an object with the unknown tag ${JSON.stringify(keys[0])}`;
    },
  };
}
