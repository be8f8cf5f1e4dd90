import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { GuardError } from '../core/errors.ts';
import { rowColumns, type ColumnSchema, type DbSchema, type TableSchema } from '../core/types.ts';
import type { EncodedRow, EncodedValue } from '../dialects/dialect.ts';
import { rowLine } from '../format/writer.ts';
import { rowOrder, type RowOrder } from './diff-order.ts';
import { compareSchemas, type SchemaDifference } from './schema-compare.ts';
import { plainValue } from './snapshot-tables.ts';

/*
 * The diff engine. Pure merge logic over row streams (diffRowStreams), an order-free fallback that
 * spills to bounded on-disk partitions (diffByPartition), and diffTable that picks between them.
 * The sides (backup files, the live database) are opened by lib/ops/diff-sources.ts.
 */

/** A value as shown in a diff: the readable form of the encoded value, long text cut. */
export type DisplayValue = string | number | boolean | null;

/** How long displayed values may be before they are cut (JSON output; the CLI cuts shorter). */
export const DEFAULT_VALUE_WIDTH = 200;

/** A readable, length-limited form of an encoded value. */
export function displayValue(v: EncodedValue, width = DEFAULT_VALUE_WIDTH): DisplayValue {
  const p = plainValue(v);
  if (typeof p === 'string' && p.length > width) return `${p.slice(0, width)}… (${p.length} chars)`;
  return p;
}

export interface RowSample {
  /** Primary key values (every compared column for tables without one). */
  key: Record<string, DisplayValue>;
  values: Record<string, DisplayValue>;
}

export interface ChangedRowSample {
  key: Record<string, DisplayValue>;
  changes: { column: string; before: DisplayValue; after: DisplayValue }[];
}

/** Row-level differences of one table. "added" rows are only on the right (newer) side. */
export interface RowDiff {
  added: number;
  removed: number;
  /** Same key, other values (tables with a primary key, or whose hidden rowid both sides keep, only). */
  changed: number;
  unchanged: number;
  /** For changed rows: how many changed in each column. */
  changedColumns: Record<string, number>;
  /** The first `limit` rows of each kind. */
  samples: { added: RowSample[]; removed: RowSample[]; changed: ChangedRowSample[] };
}

export interface TableDiff extends RowDiff {
  table: string;
  status: 'same' | 'different' | 'only-left' | 'only-right';
  leftRows: number | null;
  rightRows: number | null;
  /** The key rows were matched on: the kept rowid, else the primary key, else every compared column (multiset compare). */
  key: string[];
  keyed: boolean;
  /** Columns compared (in both sides), and those only on one side (see the schema differences). */
  columns: { compared: string[]; onlyLeft: string[]; onlyRight: string[] };
  /** merge: streaming merge-join in key order; partition: order-free on-disk partitions. */
  method: 'merge' | 'partition';
}

/** How two versions of a table are compared: projections onto the shared columns and the key. */
export interface ComparePlan {
  table: string;
  columns: ColumnSchema[];
  leftIndexes: number[];
  rightIndexes: number[];
  onlyLeft: string[];
  onlyRight: string[];
  key: string[];
  keyed: boolean;
  order: RowOrder;
  /** Positions (in projected rows) of the non-key columns. */
  valueIndexes: number[];
}

/** Builds the comparison of `left` and `right` (either may be missing: the table is then only on one side). */
export function comparePlan(schema: Pick<DbSchema, 'dialect' | 'enums'>, left: TableSchema | undefined, right: TableSchema | undefined): ComparePlan {
  const base = (left ?? right)!;
  const other = right ?? left!;
  // Rows hold the columns, then the hidden rowid where it is kept (rowColumns; diffSides leaves it
  // out when one side does not keep it). Then it is what rows are matched on, as they are stored
  // and read (in rowid order): a row at another rowid is one row removed and one added, and a row
  // whose key changed but not its rowid is a changed row.
  const baseColumns = rowColumns(base);
  const otherColumns = rowColumns(other);
  const rightNames = new Set(otherColumns.map((c) => c.name));
  const leftNames = new Set(baseColumns.map((c) => c.name));
  const columns = baseColumns.filter((c) => rightNames.has(c.name));
  const leftIndexes = columns.map((c) => baseColumns.findIndex((x) => x.name === c.name));
  const rightIndexes = columns.map((c) => otherColumns.findIndex((x) => x.name === c.name));
  const sameRowid = base.rowid !== undefined && base.rowid === other.rowid;
  const samePk = base.primaryKey.length > 0 && base.primaryKey.join('\u0000') === other.primaryKey.join('\u0000') && base.primaryKey.every((k) => rightNames.has(k));
  const key = sameRowid ? [base.rowid!] : samePk ? base.primaryKey : columns.map((c) => c.name);
  const order = rowOrder(schema, { ...base, columns, primaryKey: samePk ? base.primaryKey : [] }, key, columns);
  const keySet = new Set(order.keyIndexes);
  return {
    table: base.name,
    columns,
    leftIndexes: left ? leftIndexes : rightIndexes,
    rightIndexes: right ? rightIndexes : leftIndexes,
    onlyLeft: left && right ? base.columns.filter((c) => !rightNames.has(c.name)).map((c) => c.name) : [],
    onlyRight: left && right ? other.columns.filter((c) => !leftNames.has(c.name)).map((c) => c.name) : [],
    key,
    keyed: sameRowid || samePk,
    order,
    valueIndexes: columns.map((_, i) => i).filter((i) => !keySet.has(i)),
  };
}

/** Collects counts and the first `limit` samples of each kind. */
export class DiffAccumulator implements RowDiff {
  added = 0;
  removed = 0;
  changed = 0;
  unchanged = 0;
  changedColumns: Record<string, number> = {};
  samples: RowDiff['samples'] = { added: [], removed: [], changed: [] };
  leftRows = 0;
  rightRows = 0;

  constructor(
    private plan: ComparePlan,
    private limit: number,
    private width = DEFAULT_VALUE_WIDTH,
  ) {}

  private keyOf(row: EncodedRow): Record<string, DisplayValue> {
    const out: Record<string, DisplayValue> = {};
    for (const i of this.plan.order.keyIndexes) out[this.plan.columns[i].name] = displayValue(row[i], this.width);
    return out;
  }

  private sample(row: EncodedRow): RowSample {
    const values: Record<string, DisplayValue> = {};
    this.plan.columns.forEach((c, i) => (values[c.name] = displayValue(row[i], this.width)));
    return { key: this.keyOf(row), values };
  }

  onAdded(row: EncodedRow): void {
    this.added++;
    if (this.samples.added.length < this.limit) this.samples.added.push(this.sample(row));
  }
  onRemoved(row: EncodedRow): void {
    this.removed++;
    if (this.samples.removed.length < this.limit) this.samples.removed.push(this.sample(row));
  }
  /** Same key on both sides: compares the other values. */
  onMatched(l: EncodedRow, r: EncodedRow): void {
    let changes: ChangedRowSample['changes'] | null = null;
    for (const i of this.plan.valueIndexes) {
      const a = l[i];
      const b = r[i];
      if (a === b || (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && rowLine([a]) === rowLine([b]))) continue;
      const column = this.plan.columns[i].name;
      this.changedColumns[column] = (this.changedColumns[column] ?? 0) + 1;
      (changes ??= []).push({ column, before: displayValue(a, this.width), after: displayValue(b, this.width) });
    }
    if (!changes) {
      this.unchanged++;
      return;
    }
    this.changed++;
    if (this.samples.changed.length < this.limit) this.samples.changed.push({ key: this.keyOf(l), changes });
  }
}

/** Reads rows one at a time from batches, projected onto the compared columns, checking their order. */
class Cursor {
  private it: AsyncIterator<EncodedRow[]>;
  private batch: EncodedRow[] = [];
  private pos = 0;
  private done = false;
  current: EncodedRow | undefined;
  count = 0;
  constructor(
    rows: AsyncIterable<EncodedRow[]>,
    private indexes: number[],
  ) {
    this.it = rows[Symbol.asyncIterator]();
  }
  /** Moves to the next row (undefined at the end). */
  async next(): Promise<EncodedRow | undefined> {
    while (this.pos >= this.batch.length) {
      if (this.done) return (this.current = undefined);
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return (this.current = undefined);
      }
      this.batch = r.value;
      this.pos = 0;
    }
    const raw = this.batch[this.pos++];
    this.count++;
    const row = new Array(this.indexes.length) as EncodedRow;
    for (let i = 0; i < this.indexes.length; i++) row[i] = raw[this.indexes[i]];
    return (this.current = row);
  }
  /** Stops early: lets the source clean up (a PostgreSQL COPY is drained, a SQLite statement reset). */
  async stop(): Promise<void> {
    if (!this.done) {
      this.done = true;
      await this.it.return?.();
    }
  }
}

export interface MergeOutcome {
  /** False when a side was not sorted by the plan's order: the counts are then meaningless. */
  sorted: boolean;
  inversion?: { side: 'left' | 'right'; row: number };
}

/**
 * Streaming merge-join of two row streams, both in the plan's key order: memory is one batch per
 * side. Feeds `acc` with added/removed/matched rows. Checks every adjacent pair; if a side is not
 * strictly ordered (non-decreasing for multisets) it stops and returns `sorted: false`, because a
 * merge over unsorted input would report matching rows as added and removed.
 */
export async function diffRowStreams(left: AsyncIterable<EncodedRow[]>, right: AsyncIterable<EncodedRow[]>, plan: ComparePlan, acc: DiffAccumulator): Promise<MergeOutcome> {
  const cmp = plan.order.compare;
  const L = new Cursor(left, plan.leftIndexes);
  const R = new Cursor(right, plan.rightIndexes);
  const ok = (prev: EncodedRow | undefined, next: EncodedRow | undefined) => {
    if (!prev || !next) return true;
    const c = cmp(prev, next);
    return plan.keyed ? c < 0 : c <= 0;
  };
  try {
    let l = await L.next();
    let r = await R.next();
    while (l || r) {
      const c = !l ? 1 : !r ? -1 : cmp(l, r);
      if (c < 0) {
        acc.onRemoved(l!);
        const n = await L.next();
        if (!ok(l, n)) return { sorted: false, inversion: { side: 'left', row: L.count } };
        l = n;
      } else if (c > 0) {
        acc.onAdded(r!);
        const n = await R.next();
        if (!ok(r, n)) return { sorted: false, inversion: { side: 'right', row: R.count } };
        r = n;
      } else {
        acc.onMatched(l!, r!);
        const nl = await L.next();
        if (!ok(l, nl)) return { sorted: false, inversion: { side: 'left', row: L.count } };
        const nr = await R.next();
        if (!ok(r, nr)) return { sorted: false, inversion: { side: 'right', row: R.count } };
        l = nl;
        r = nr;
      }
    }
    return { sorted: true };
  } finally {
    acc.leftRows = L.count - (L.current ? 1 : 0);
    acc.rightRows = R.count - (R.current ? 1 : 0);
    await L.stop();
    await R.stop();
  }
}

/** Rows per on-disk partition in the fallback: what one partition may hold in memory. */
export const ROWS_PER_PARTITION = 50_000;
const MAX_PARTITIONS = 4096;
const PARTITION_BUFFER_BYTES = 16 * 1024;

/**
 * Order-free comparison with bounded memory: both sides are hashed by key into N partition files
 * (N from the expected row count), then each partition is compared in memory (about
 * ROWS_PER_PARTITION rows at a time). Used when a stream is not in the order the merge expects.
 */
export async function diffByPartition(left: AsyncIterable<EncodedRow[]>, right: AsyncIterable<EncodedRow[]>, plan: ComparePlan, acc: DiffAccumulator, options: { expectedRows?: number; tmpDir?: string } = {}): Promise<void> {
  const n = Math.min(MAX_PARTITIONS, Math.max(1, Math.ceil((options.expectedRows ?? 0) / ROWS_PER_PARTITION)));
  const dir = await fs.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'prisma-guard-diff-'));
  try {
    const keyText = (row: EncodedRow) => (plan.keyed ? rowLine(plan.order.keyIndexes.map((i) => row[i])) : rowLine(row));
    const spill = async (rows: AsyncIterable<EncodedRow[]>, indexes: number[], prefix: string): Promise<number> => {
      const buffers: string[] = new Array(n).fill('');
      let count = 0;
      const flush = async (p: number) => {
        if (buffers[p]) await fs.appendFile(path.join(dir, `${prefix}${p}`), buffers[p]);
        buffers[p] = '';
      };
      for await (const batch of rows) {
        for (const raw of batch) {
          const row = indexes.map((i) => raw[i]);
          const p = n === 1 ? 0 : createHash('sha1').update(keyText(row)).digest().readUInt32BE(0) % n;
          buffers[p] += rowLine(row) + '\n';
          count++;
          if (buffers[p].length >= PARTITION_BUFFER_BYTES) await flush(p);
        }
      }
      for (let p = 0; p < n; p++) await flush(p);
      return count;
    };
    acc.leftRows = await spill(left, plan.leftIndexes, 'l');
    acc.rightRows = await spill(right, plan.rightIndexes, 'r');
    for (let p = 0; p < n; p++) {
      const held = new Map<string, { row: EncodedRow; count: number }>();
      for await (const row of readLines(path.join(dir, `l${p}`))) {
        const k = keyText(row);
        const entry = held.get(k);
        if (entry) entry.count++;
        else held.set(k, { row, count: 1 });
      }
      for await (const row of readLines(path.join(dir, `r${p}`))) {
        const entry = held.get(keyText(row));
        if (entry && entry.count > 0) {
          entry.count--;
          acc.onMatched(entry.row, row);
        } else acc.onAdded(row);
      }
      // Left-only rows in key order, so the samples are the same on every run.
      const rest = [...held.values()].filter((e) => e.count > 0).sort((a, b) => plan.order.compare(a.row, b.row));
      for (const e of rest) for (let i = 0; i < e.count; i++) acc.onRemoved(e.row);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function* readLines(file: string): AsyncGenerator<EncodedRow> {
  let stream;
  try {
    await fs.access(file);
    stream = createReadStream(file, { encoding: 'utf8' });
  } catch {
    return; // an empty partition has no file
  }
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) if (line) yield JSON.parse(line) as EncodedRow;
}

/** One side of a table: its rows can be read again from the start (the fallback reads twice). */
export interface RowSource {
  table: TableSchema;
  rows(): AsyncIterable<EncodedRow[]>;
  /** Expected row count when known cheaply (sizes the fallback's partitions). */
  count?(): Promise<number | null>;
}

export interface TableDiffOptions {
  /** Samples kept per kind (added/removed/changed). */
  limit?: number;
  /** Width of displayed values. */
  width?: number;
  tmpDir?: string;
  /** Skip the merge and go straight to the partition method (tests). */
  forcePartition?: boolean;
}

/** Compares one table between two sides (either may lack it). */
export async function diffTable(schema: Pick<DbSchema, 'dialect' | 'enums'>, left: RowSource | undefined, right: RowSource | undefined, options: TableDiffOptions = {}): Promise<TableDiff> {
  const plan = comparePlan(schema, left?.table, right?.table);
  const empty = async function* (): AsyncGenerator<EncodedRow[]> {};
  const leftRows = () => (left ? left.rows() : empty());
  const rightRows = () => (right ? right.rows() : empty());
  let acc = new DiffAccumulator(plan, options.limit ?? 10, options.width);
  let method: TableDiff['method'] = 'merge';
  const outcome = options.forcePartition ? { sorted: false } : await diffRowStreams(leftRows(), rightRows(), plan, acc);
  if (!outcome.sorted) {
    method = 'partition';
    acc = new DiffAccumulator(plan, options.limit ?? 10, options.width);
    const counts = await Promise.all([left?.count?.() ?? null, right?.count?.() ?? null]);
    const expected = Math.max(counts[0] ?? 0, counts[1] ?? 0) || (counts[0] === null && counts[1] === null ? ROWS_PER_PARTITION * 64 : 0);
    await diffByPartition(leftRows(), rightRows(), plan, acc, { expectedRows: expected, tmpDir: options.tmpDir });
  }
  const different = acc.added + acc.removed + acc.changed > 0 || plan.onlyLeft.length > 0 || plan.onlyRight.length > 0;
  return {
    table: plan.table,
    status: !left ? 'only-right' : !right ? 'only-left' : different ? 'different' : 'same',
    leftRows: left ? acc.leftRows : null,
    rightRows: right ? acc.rightRows : null,
    key: plan.key,
    keyed: plan.keyed,
    columns: { compared: plan.columns.map((c) => c.name), onlyLeft: plan.onlyLeft, onlyRight: plan.onlyRight },
    method,
    added: acc.added,
    removed: acc.removed,
    changed: acc.changed,
    unchanged: acc.unchanged,
    changedColumns: acc.changedColumns,
    samples: acc.samples,
  };
}

/**
 * The two versions of a table as they can be compared: a hidden rowid (TableSchema.rowid) only when
 * both keep it. A backup from before rowids were kept has none, and its rows were given new ones by
 * any restore: the other side is then read without it (a live table in primary-key order).
 */
export function comparableRowids(left: TableSchema | undefined, right: TableSchema | undefined): [TableSchema | undefined, TableSchema | undefined] {
  if (!left || !right || (left.rowid !== undefined && left.rowid === right.rowid)) return [left, right];
  const strip = (t: TableSchema): TableSchema => {
    const { rowid: _, ...columnsOnly } = t;
    return columnsOnly;
  };
  return [left.rowid ? strip(left) : left, right.rowid ? strip(right) : right];
}

/** Either side of a diff: a backup file or the live database. */
export interface DiffSide {
  kind: 'backup' | 'live';
  /** Backup file name, or the database (no password). */
  name: string;
  createdAt?: string;
  reason?: string;
  schema: DbSchema;
  source(table: TableSchema): RowSource;
}

export interface DiffReport {
  left: Omit<DiffSide, 'schema' | 'source'> & { dialect: string };
  right: Omit<DiffSide, 'schema' | 'source'> & { dialect: string };
  equal: boolean;
  /** Schema changes from left to right ("added" = only on the right). */
  schema: SchemaDifference[];
  tables: TableDiff[];
  totals: { tables: number; different: number; added: number; removed: number; changed: number };
}

export interface DiffOptions extends TableDiffOptions {
  /** Compare the rows of these tables only (the schema is always compared whole). */
  tables?: string[];
  onTable?: (table: string) => void;
}

/** Compares two sides: schema first, then every table's rows, one table at a time. */
export async function diffSides(left: DiffSide, right: DiffSide, options: DiffOptions = {}): Promise<DiffReport> {
  const schema = compareSchemas(left.schema, right.schema);
  const lt = new Map(left.schema.tables.map((t) => [t.name, t]));
  const rt = new Map(right.schema.tables.map((t) => [t.name, t]));
  let names = [...new Set([...lt.keys(), ...rt.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (options.tables?.length) {
    const unknown = options.tables.filter((t) => !lt.has(t) && !rt.has(t));
    if (unknown.length) {
      throw new GuardError('USAGE', `No table named ${unknown.join(', ')} on either side.`, { hint: `Tables are: ${names.join(', ')}` });
    }
    names = names.filter((n) => options.tables!.includes(n));
  }
  const tables: TableDiff[] = [];
  for (const name of names) {
    options.onTable?.(name);
    const [l, r] = comparableRowids(lt.get(name), rt.get(name));
    tables.push(await diffTable(left.schema, l && left.source(l), r && right.source(r), options));
  }
  const different = tables.filter((t) => t.status !== 'same');
  const info = (s: DiffSide) => ({ kind: s.kind, name: s.name, createdAt: s.createdAt, reason: s.reason, dialect: s.schema.dialect });
  return {
    left: info(left),
    right: info(right),
    equal: schema.length === 0 && different.length === 0,
    schema,
    tables,
    totals: {
      tables: tables.length,
      different: different.length,
      added: tables.reduce((s, t) => s + t.added, 0),
      removed: tables.reduce((s, t) => s + t.removed, 0),
      changed: tables.reduce((s, t) => s + t.changed, 0),
    },
  };
}
