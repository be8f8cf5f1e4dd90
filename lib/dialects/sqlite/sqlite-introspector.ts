import type Database from 'better-sqlite3';
import { ROWID_NAMES, type ColumnSchema, type DbSchema, type ForeignKeySchema, type IndexSchema, type RowidName, type SequenceSchema, type TableSchema } from '../../core/types.ts';
import { quoteSqlite } from './sqlite-quote.ts';

interface MasterRow {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

/** Tables SQLite manages itself; never dumped or dropped as user tables. */
export function isInternalTable(name: string): boolean {
  return name.startsWith('sqlite_');
}

/** Reads the structure of a SQLite database (must be called inside the snapshot for a consistent view). */
export function introspectSqlite(db: Database.Database): DbSchema {
  const master = db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid`).all() as MasterRow[];
  const tableRows = master.filter((m) => m.type === 'table' && !isInternalTable(m.name));
  const tables: TableSchema[] = tableRows
    .map((t) => introspectTable(db, t.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const ddl = tableRows.filter((t) => t.sql).map((t) => t.sql!);
  // Indexes SQLite creates for UNIQUE/PRIMARY KEY constraints have no sql and come back with the table.
  const postDdl = [
    ...master.filter((m) => m.type === 'index' && m.sql && !isInternalTable(m.tbl_name)).map((m) => m.sql!),
    ...master.filter((m) => m.type === 'view' && m.sql).map((m) => m.sql!),
    ...master.filter((m) => m.type === 'trigger' && m.sql).map((m) => m.sql!),
  ];
  const sequences: SequenceSchema[] = [];
  if (master.some((m) => m.name === 'sqlite_sequence')) {
    const seqRows = db.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').safeIntegers(true).all() as { name: string; seq: bigint | null }[];
    for (const r of seqRows) {
      const table = tables.find((t) => t.name === r.name);
      sequences.push({ name: r.name, table: r.name, column: table?.primaryKey[0], lastValue: r.seq === null ? null : r.seq.toString() });
    }
  }
  return { dialect: 'sqlite', tables, enums: [], sequences, ddl, postDdl };
}

function introspectTable(db: Database.Database, name: string): TableSchema {
  const q = quoteSqlite(name);
  const cols = db.prepare(`PRAGMA table_xinfo(${q})`).all() as { name: string; type: string; notnull: number; dflt_value: string | null; pk: number; hidden: number }[];
  const visible = cols.filter((c) => c.hidden === 0);
  const autoincrement = /\bAUTOINCREMENT\b/i.test(
    (db.prepare(`SELECT sql FROM sqlite_master WHERE type='table' AND name=?`).get(name) as { sql: string | null } | undefined)?.sql ?? '',
  );
  const columns: ColumnSchema[] = visible.map((c) => ({
    name: c.name,
    type: c.type,
    kind: 'any',
    nullable: c.notnull === 0 && c.pk === 0,
    default: c.dflt_value,
    ...(c.pk > 0 && autoincrement ? { generated: true } : {}),
  }));
  const primaryKey = visible
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
  const fkRows = db.prepare(`PRAGMA foreign_key_list(${q})`).all() as { id: number; seq: number; table: string; from: string; to: string | null; on_update: string; on_delete: string }[];
  const byId = new Map<number, typeof fkRows>();
  for (const r of fkRows) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  const foreignKeys: ForeignKeySchema[] = [...byId.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, rows]) => {
      const sorted = rows.sort((a, b) => a.seq - b.seq);
      const columns = sorted.map((r) => r.from);
      const refColumns = sorted.map((r) => r.to ?? '');
      const refTable = sorted[0].table;
      return {
        name: `${name}_fk_${id}`,
        columns,
        refTable,
        refColumns,
        onDelete: sorted[0].on_delete,
        onUpdate: sorted[0].on_update,
        definition: `FOREIGN KEY (${columns.map(quoteSqlite).join(', ')}) REFERENCES ${quoteSqlite(refTable)} (${refColumns.map(quoteSqlite).join(', ')}) ON DELETE ${sorted[0].on_delete} ON UPDATE ${sorted[0].on_update}`,
      };
    });
  const idxList = db.prepare(`PRAGMA index_list(${q})`).all() as { name: string; unique: number; origin: string }[];
  const indexes: IndexSchema[] = idxList
    .filter((i) => i.origin !== 'pk')
    .map((i) => {
      const info = db.prepare(`PRAGMA index_info(${quoteSqlite(i.name)})`).all() as { seqno: number; name: string | null }[];
      const sql = (db.prepare(`SELECT sql FROM sqlite_master WHERE type='index' AND name=?`).get(i.name) as { sql: string | null } | undefined)?.sql;
      const columns = info.sort((a, b) => a.seqno - b.seqno).map((c) => c.name ?? '<expr>');
      return {
        name: i.name,
        columns,
        unique: i.unique === 1,
        definition: sql ?? `UNIQUE (${columns.map(quoteSqlite).join(', ')}) /* table constraint */`,
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const rowid = hiddenRowid(db, name, cols.map((c) => c.name), primaryKey.length, idxList);
  return { name, columns, primaryKey, foreignKeys, indexes, ...(rowid ? { rowid } : {}) };
}

/**
 * The name through which a backup reads and writes the table's hidden rowid (TableSchema.rowid), or
 * undefined when its rows need none: a WITHOUT ROWID table has no rowid, a virtual table's is its
 * module's, and an INTEGER PRIMARY KEY column is the rowid (then no index of origin `pk` exists,
 * which also tells apart `INTEGER PRIMARY KEY DESC`, not an alias). Undefined as well when columns
 * shadow all three names (README: such a table's rowids are renumbered).
 */
function hiddenRowid(db: Database.Database, name: string, columnNames: string[], pkColumns: number, indexes: { origin: string }[]): RowidName | undefined {
  const info = (db.prepare(`PRAGMA table_list(${quoteSqlite(name)})`).all() as { schema: string; type: string; wr: number }[]).find((t) => t.schema === 'main');
  if (!info || info.type !== 'table' || info.wr === 1) return undefined;
  if (pkColumns === 1 && !indexes.some((i) => i.origin === 'pk')) return undefined;
  const taken = new Set(columnNames.map((c) => c.toLowerCase()));
  return ROWID_NAMES.find((n) => !taken.has(n));
}

/** The name by which the live table `name` reaches its hidden rowid, as introspectSqlite records it (TableSchema.rowid). */
export function liveRowidName(db: Database.Database, name: string): RowidName | undefined {
  return introspectTable(db, name).rowid;
}

/** The INTEGER PRIMARY KEY column (the rowid's alias) of table `name`, or undefined (none, another key, no such table). */
export function integerPrimaryKey(db: Database.Database, name: string): string | undefined {
  const info = (db.prepare(`SELECT schema, type, wr FROM pragma_table_list(?)`).all(name) as { schema: string; type: string; wr: number }[]).find((t) => t.schema === 'main');
  if (!info || info.type !== 'table' || info.wr === 1) return undefined;
  const pk = db.prepare(`SELECT name, type FROM pragma_table_info(?, 'main') WHERE pk > 0`).all(name) as { name: string; type: string }[];
  if (pk.length !== 1 || pk[0].type.toUpperCase() !== 'INTEGER') return undefined;
  // `INTEGER PRIMARY KEY DESC` is no alias: SQLite then builds an index for it (origin pk).
  if ((db.prepare(`SELECT 1 FROM pragma_index_list(?, 'main') WHERE origin = 'pk'`).all(name) as unknown[]).length > 0) return undefined;
  return pk[0].name;
}
