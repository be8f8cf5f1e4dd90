import type Database from 'better-sqlite3';
import type { EncodedRow } from '../dialect.ts';
import { integerPrimaryKey } from './sqlite-introspector.ts';
import { quoteSqlite } from './sqlite-quote.ts';
import { sqliteAffinity } from './sqlite-values.ts';

/**
 * A foreign key the restore can decide quickly: one column of INTEGER affinity referencing the
 * INTEGER PRIMARY KEY (the rowid's alias, as Prisma's Int ids are) of its parent.
 */
export interface RowidReference {
  column: string;
  parent: string;
  /** The parent's INTEGER PRIMARY KEY column. */
  id: string;
}

/** Every foreign key of `table` as a RowidReference, or undefined when any key is of another kind. */
export function rowidReferences(db: Database.Database, table: string): RowidReference[] | undefined {
  const keys = db.prepare(`SELECT id, "table" AS parent, "from" AS col, "to" AS ref FROM pragma_foreign_key_list(?, 'main')`).all(table) as { id: number; parent: string; col: string; ref: string | null }[];
  const columns = db.prepare(`SELECT name, type FROM pragma_table_info(?, 'main')`).all(table) as { name: string; type: string }[];
  const out: RowidReference[] = [];
  for (const key of keys) {
    if (keys.filter((k) => k.id === key.id).length !== 1) return undefined; // a composite key
    const column = columns.find((c) => c.name === key.col);
    if (!column || sqliteAffinity(column.type) !== 'INTEGER') return undefined;
    const id = integerPrimaryKey(db, key.parent);
    if (!id || (key.ref !== null && key.ref.toLowerCase() !== id.toLowerCase())) return undefined;
    out.push({ column: key.col, parent: key.parent, id });
  }
  return out;
}

/** Values below this go into the bitmap of an IdSet (8 MiB at most); others into a list. */
const BITMAP_LIMIT = 1 << 26;

/** A set of integers: a growing bitmap for small non-negative ones, a list for the rest. */
class IdSet {
  private bits = new Uint32Array(1024);
  private others: number[] = [];
  private sorted = true;
  private size = 0;
  private repeated = false;
  /** Set when a value that is not an integer inside +-2^53 was met: the set then decides nothing. */
  unknown = false;

  add(v: unknown): void {
    // An integer inside +-2^53 (the encoding writes larger ones as {"$int"}).
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.unknown = true;
      return;
    }
    if (v >= 0 && v < BITMAP_LIMIT) {
      const w = v >>> 5;
      if (w >= this.bits.length) {
        const grown = new Uint32Array(Math.min(BITMAP_LIMIT >>> 5, Math.max(w + 1, this.bits.length * 2)));
        grown.set(this.bits);
        this.bits = grown;
      }
      const bit = 1 << (v & 31);
      if (this.bits[w] & bit) this.repeated = true;
      else this.size++;
      this.bits[w] |= bit;
    } else {
      this.sorted = false;
      this.others.push(v);
      this.size++;
    }
  }

  private settle(): void {
    if (this.sorted) return;
    this.others.sort((a, b) => a - b);
    for (let i = 1; i < this.others.length; i++) if (this.others[i] === this.others[i - 1]) this.repeated = true;
    this.sorted = true;
  }

  private has(v: number): boolean {
    if (v >= 0 && v < BITMAP_LIMIT) {
      const w = v >>> 5;
      return w < this.bits.length && (this.bits[w] & (1 << (v & 31))) !== 0;
    }
    this.settle();
    let lo = 0;
    let hi = this.others.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const x = this.others[mid];
      if (x === v) return true;
      if (x < v) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** Whether every value of `other` is in this set (false when either met an unknown value). */
  holdsAll(other: IdSet): boolean {
    if (this.unknown || other.unknown) return false;
    const mine = this.bits;
    const theirs = other.bits;
    for (let w = 0; w < theirs.length; w++) if (theirs[w] !== 0 && (w >= mine.length || (theirs[w] & ~mine[w]) !== 0)) return false;
    return other.others.every((v) => this.has(v));
  }

  /** How many distinct values were added, when each was added once and all were known. */
  distinct(): number | undefined {
    this.settle();
    return this.repeated || this.unknown ? undefined : this.size;
  }
}

/**
 * The foreign keys of a load, settled from the rows as they are inserted instead of by querying
 * the database afterwards (scale 0.5: the queries of foreignKeyViolations took 1.6-1.9 s of a
 * 10 s restore). A child table is cleared when each of its keys is a RowidReference into a parent
 * this load filled from empty, and every non-NULL value bound to the key column is an integer
 * among the ids bound to the parent's key. That is what SQLite finds when the parent holds exactly
 * the rows bound to it: so the tracker works only while no trigger exists (none fires during the
 * load), and a parent counts only when its table, counted after the load, holds as many rows as
 * distinct ids were bound (an ON CONFLICT REPLACE that deleted a row is seen). A value of another
 * kind (a real, text, a blob, an integer past 2^53) leaves its table to foreignKeyViolations, as
 * does any table the tracker cannot judge; so the tracker only ever clears tables SQLite would.
 */
export class ReferenceTracker {
  /** Per child table the tracker can judge: its keys, and the values bound to each once filled. */
  private readonly children = new Map<string, { refs: RowidReference[]; values?: IdSet[] }>();
  /** Per parent: its key column, and the ids bound to it once filled. */
  private readonly parents = new Map<string, { id: string; ids?: IdSet }>();
  private readonly spoiled = new Set<string>();

  /** `tables`: the tables this load empties and fills; the database as it is before the first row. */
  constructor(
    private readonly db: Database.Database,
    tables: Iterable<string>,
  ) {
    if (db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'trigger'`).get()) return;
    const loaded = new Set(tables);
    for (const table of loaded) {
      const refs = rowidReferences(db, table);
      if (!refs || refs.length === 0 || refs.some((r) => !loaded.has(r.parent))) continue;
      this.children.set(table, { refs });
      for (const r of refs) this.parents.set(r.parent, { id: r.id });
    }
  }

  /**
   * The per-row hook for `table`, whose rows hold `columns` (by name, in row order), or undefined
   * when nothing of this table is tracked. Asked once per table, before its first row.
   */
  rowHook(table: string, columns: string[]): ((row: EncodedRow) => void) | undefined {
    const taps: { at: number; into: IdSet }[] = [];
    const child = this.children.get(table);
    const parent = this.parents.get(table);
    if ((child?.values || parent?.ids) ?? false) this.spoiled.add(table); // a second section of one table
    if (child) {
      child.values = child.refs.map(() => new IdSet());
      child.refs.forEach((r, i) => taps.push({ at: columns.indexOf(r.column), into: child.values![i] }));
    }
    if (parent) {
      parent.ids = new IdSet();
      taps.push({ at: columns.indexOf(parent.id), into: parent.ids });
    }
    if (taps.some((t) => t.at === -1)) this.spoiled.add(table);
    if (taps.length === 0 || this.spoiled.has(table)) return undefined;
    return (row) => {
      for (let i = 0; i < taps.length; i++) {
        const v = row[taps[i].at];
        if (v !== null) taps[i].into.add(v);
      }
    };
  }

  /** The tables whose foreign keys the rows settled: every referenced row is there. Asked once, after the last row. */
  cleared(): Set<string> {
    const out = new Set<string>();
    const whole = new Map<string, boolean>();
    const parentIds = (name: string): IdSet | undefined => {
      const p = this.parents.get(name)!;
      let ok = whole.get(name);
      if (ok === undefined) {
        const distinct = p.ids?.distinct();
        ok = !this.spoiled.has(name) && distinct !== undefined && Number((this.db.prepare(`SELECT count(*) AS n FROM main.${quoteSqlite(name)}`).get() as { n: number }).n) === distinct;
        whole.set(name, ok);
      }
      return ok ? p.ids : undefined;
    };
    for (const [table, child] of this.children) {
      if (this.spoiled.has(table) || !child.values) continue;
      if (child.refs.every((r, i) => parentIds(r.parent)?.holdsAll(child.values![i]) ?? false)) out.add(table);
    }
    return out;
  }
}
