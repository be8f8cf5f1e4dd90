import { rowColumns, type ColumnSchema, type DbSchema, type TableSchema } from '../core/types.ts';
import type { EncodedRow, EncodedValue } from '../dialects/dialect.ts';
import type { DialectName } from '../core/url.ts';

/**
 * Row order used by the diff merge-join (and to sort small row sets canonically).
 *
 * Snapshot readers and backups yield rows in the database's ORDER BY order (SQLite's hidden rowid
 * where rows carry it, else the primary key, else every column). This comparator reproduces that order for the common cases (integers, decimals, text in
 * byte order, ISO timestamps, uuids, enums in declaration order, SQLite's storage-class order), but
 * nothing depends on it being exact: the merge checks every adjacent pair it reads and falls back to
 * an order-free method when a stream is not sorted by it. What the merge does depend on is that
 * this is a total order in which two keys compare equal only when their encodings are identical;
 * every comparator below ends with a tie-break on the canonical JSON text to guarantee that.
 */
export interface RowOrder {
  /** Column positions (in the row) of the key: the primary key, or every compared column. */
  keyIndexes: number[];
  /** Compares two rows by their keys. */
  compare(a: EncodedRow, b: EncodedRow): number;
}

type ValueCompare = (a: EncodedValue, b: EncodedValue) => number;

/** Compares strings by Unicode code point, i.e. by their UTF-8 bytes (PostgreSQL COLLATE "C", SQLite BINARY). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only between surrogates (U+D800-DFFF, which
    // encode code points above U+FFFF) and U+E000-FFFF: move the latter below the surrogates.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

const cmp = <T>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);
const json = (v: unknown): string => JSON.stringify(v);
const tieBreak = (a: unknown, b: unknown): number => compareCodePoints(json(a), json(b));

const INTEGER_RE = /^-?\d+$/;
const DECIMAL_RE = /^-?\d+(\.\d+)?$/;

/** Compares two decimal strings numerically (exact, any length); NaN (PostgreSQL) sorts last. */
export function compareDecimalStrings(a: string, b: string): number {
  const aNaN = !DECIMAL_RE.test(a);
  const bNaN = !DECIMAL_RE.test(b);
  if (aNaN || bNaN) return aNaN && bNaN ? cmp(a, b) : aNaN ? 1 : -1;
  const na = a.startsWith('-');
  const nb = b.startsWith('-');
  if (na !== nb) return isZero(a) && isZero(b) ? 0 : na ? -1 : 1;
  const mag = compareMagnitudes(na ? a.slice(1) : a, nb ? b.slice(1) : b);
  return na ? -mag : mag;
}

function isZero(s: string): boolean {
  return /^-?0+(\.0+)?$/.test(s);
}

function compareMagnitudes(a: string, b: string): number {
  let [ia, fa = ''] = a.split('.');
  let [ib, fb = ''] = b.split('.');
  ia = ia.replace(/^0+(?=\d)/, '');
  ib = ib.replace(/^0+(?=\d)/, '');
  if (ia.length !== ib.length) return ia.length < ib.length ? -1 : 1;
  if (ia !== ib) return ia < ib ? -1 : 1;
  const len = Math.max(fa.length, fb.length);
  fa = fa.padEnd(len, '0');
  fb = fb.padEnd(len, '0');
  return cmp(fa, fb);
}

/** Exact comparison of an integer with a double. */
function compareBigWithDouble(i: bigint, d: number): number {
  if (Number.isNaN(d)) return -1;
  if (d === Infinity) return -1;
  if (d === -Infinity) return 1;
  const f = Math.floor(d);
  const bf = BigInt(f);
  if (i < bf) return -1;
  if (i > bf) return 1;
  return d > f ? -1 : 0;
}

// ---------------------------------------------------------------- SQLite: storage-class order

type SqliteNum = { int: bigint } | { real: number };

function sqliteClass(v: EncodedValue): number {
  if (v === null) return 0;
  if (typeof v === 'number' || typeof v === 'boolean') return 1;
  if (typeof v === 'string') return 2;
  if ('$int' in v || '$real' in v) return 1;
  return 3; // $b64
}

function sqliteNumber(v: EncodedValue): SqliteNum {
  if (typeof v === 'number') return Number.isInteger(v) ? { int: BigInt(v) } : { real: v };
  if (typeof v === 'boolean') return { int: v ? 1n : 0n };
  const o = v as Record<string, string>;
  if (o.$int !== undefined) return { int: BigInt(o.$int) };
  return { real: Number(o.$real) };
}

function compareSqliteNumbers(a: SqliteNum, b: SqliteNum): number {
  if ('int' in a && 'int' in b) return cmp(a.int, b.int);
  if ('real' in a && 'real' in b) return cmp(a.real, b.real);
  if ('int' in a) return compareBigWithDouble(a.int, (b as { real: number }).real);
  return -compareBigWithDouble((b as { int: bigint }).int, a.real);
}

/** SQLite's ORDER BY: NULL < numbers (INTEGER and REAL together) < TEXT (bytes) < BLOB (bytes). */
const sqliteCompare: ValueCompare = (a, b) => {
  const ca = sqliteClass(a);
  const cb = sqliteClass(b);
  if (ca !== cb) return ca - cb;
  let r = 0;
  if (ca === 1) r = compareSqliteNumbers(sqliteNumber(a), sqliteNumber(b));
  else if (ca === 2) r = compareCodePoints(a as string, b as string);
  else if (ca === 3) r = Buffer.compare(Buffer.from((a as Record<string, string>).$b64, 'base64'), Buffer.from((b as Record<string, string>).$b64, 'base64'));
  return r;
};

// ---------------------------------------------------------------- PostgreSQL

/** The text PostgreSQL prints for a value (`::text`), from its encoding. */
function pgText(v: EncodedValue): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  return json(v);
}

const nullsLast =
  (inner: ValueCompare): ValueCompare =>
  (a, b) => {
    if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
    return inner(a, b);
  };

function pgFloat(s: EncodedValue): number {
  if (typeof s === 'number') return s;
  if (s === 'NaN') return NaN;
  return Number(s);
}

function pgColumnCompare(column: ColumnSchema | undefined, schema: DbSchema): ValueCompare {
  switch (column?.kind) {
    case 'int':
      return nullsLast((a, b) => cmp(Number(a), Number(b)));
    case 'bigint':
      return nullsLast((a, b) => (INTEGER_RE.test(String(a)) && INTEGER_RE.test(String(b)) ? cmp(BigInt(String(a)), BigInt(String(b))) : 0));
    case 'decimal':
      return nullsLast((a, b) => compareDecimalStrings(String(a), String(b)));
    case 'float':
      return nullsLast((a, b) => {
        const x = pgFloat(a);
        const y = pgFloat(b);
        // PostgreSQL sorts NaN above every number.
        if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) === Number.isNaN(y) ? 0 : Number.isNaN(x) ? 1 : -1;
        return cmp(x, y);
      });
    case 'boolean':
      return nullsLast((a, b) => cmp(a === true ? 1 : 0, b === true ? 1 : 0));
    case 'enum': {
      const name = column.type.replace(/^.*\./, '').replace(/^"|"$/g, '').replaceAll('""', '"');
      const values = schema.enums.find((e) => e.name === name)?.values;
      if (values) {
        const rank = new Map(values.map((v, i) => [v, i]));
        return nullsLast((a, b) => cmp(rank.get(String(a)) ?? -1, rank.get(String(b)) ?? -1));
      }
      return nullsLast((a, b) => compareCodePoints(pgText(a), pgText(b)));
    }
    default:
      // text (COLLATE "C"), ISO timestamps/dates/times, uuid, bytea hex, and everything ordered by its text.
      return nullsLast((a, b) => compareCodePoints(pgText(a), pgText(b)));
  }
}

/** Without a primary key PostgreSQL backups order by every column's text in byte order (NULLs last). */
const pgTextCompare: ValueCompare = nullsLast((a, b) => compareCodePoints(pgText(a), pgText(b)));

/**
 * The order of a table's rows. `keyColumns` are the key's column names (default: the hidden rowid
 * when rows carry it, TableSchema.rowid, else the primary key, else every column); `columns` are the
 * row's values in row order (default: rowColumns).
 */
export function rowOrder(schema: Pick<DbSchema, 'dialect' | 'enums'>, table: TableSchema, keyColumns?: string[], columns: ColumnSchema[] = rowColumns(table)): RowOrder {
  const dialect: DialectName = schema.dialect;
  const keyed = keyColumns ?? (table.rowid ? [table.rowid] : table.primaryKey.length ? table.primaryKey : table.columns.map((c) => c.name));
  const byName = new Map(columns.map((c, i) => [c.name, i]));
  const keyIndexes = keyed.map((name) => {
    const i = byName.get(name);
    if (i === undefined) throw new Error(`Key column "${name}" is not a column of "${table.name}"`);
    return i;
  });
  const usesPrimaryKey = table.primaryKey.length > 0 && keyed.join('\u0000') === table.primaryKey.join('\u0000');
  const comparers: ValueCompare[] = keyIndexes.map((i) => {
    if (dialect === 'sqlite') return sqliteCompare;
    return usesPrimaryKey ? pgColumnCompare(columns[i], schema as DbSchema) : pgTextCompare;
  });
  return {
    keyIndexes,
    compare(a, b) {
      for (let k = 0; k < keyIndexes.length; k++) {
        const i = keyIndexes[k];
        const r = comparers[k](a[i], b[i]);
        if (r !== 0) return r;
      }
      for (const i of keyIndexes) {
        const r = tieBreak(a[i], b[i]);
        if (r !== 0) return r;
      }
      return 0;
    },
  };
}
