import type { DbSchema, TableSchema } from '../core/types.ts';

export type SchemaDifferenceKind =
  | 'table-added'
  | 'table-removed'
  | 'column-added'
  | 'column-removed'
  | 'column-type'
  | 'column-nullable'
  | 'column-default'
  | 'primary-key'
  | 'index-added'
  | 'index-removed'
  | 'index-changed'
  | 'foreign-key-added'
  | 'foreign-key-removed'
  | 'enum-changed';

export interface SchemaDifference {
  kind: SchemaDifferenceKind;
  table?: string;
  column?: string;
  name?: string;
  /** In `from` (e.g. the backup). */
  before?: string;
  /** In `to` (e.g. the live database). */
  after?: string;
  /** Blocking differences make a data-mode restore impossible (rows would not fit). */
  blocking: boolean;
  text: string;
}

const byName = <T extends { name: string }>(xs: T[]) => new Map(xs.map((x) => [x.name, x]));

/**
 * Differences that turn schema `from` into schema `to` ("added" means present only in `to`).
 * Pure; used by data-mode restore (is the live schema the backup's?), diff and migrate-safe reports.
 */
export function compareSchemas(from: DbSchema, to: DbSchema): SchemaDifference[] {
  const out: SchemaDifference[] = [];
  const a = byName(from.tables);
  const b = byName(to.tables);
  for (const [name] of a) if (!b.has(name)) out.push({ kind: 'table-removed', table: name, blocking: true, text: `table "${name}" is only in the first schema` });
  for (const [name] of b) if (!a.has(name)) out.push({ kind: 'table-added', table: name, blocking: false, text: `table "${name}" is only in the second schema` });
  for (const [name, ta] of a) {
    const tb = b.get(name);
    if (tb) out.push(...compareTables(ta, tb));
  }
  const ea = byName(from.enums);
  const eb = byName(to.enums);
  for (const name of new Set([...ea.keys(), ...eb.keys()])) {
    const va = ea.get(name)?.values.join(',') ?? '(none)';
    const vb = eb.get(name)?.values.join(',') ?? '(none)';
    if (va !== vb) out.push({ kind: 'enum-changed', name, before: va, after: vb, blocking: true, text: `enum "${name}": ${va} -> ${vb}` });
  }
  return out;
}

function compareTables(ta: TableSchema, tb: TableSchema): SchemaDifference[] {
  const out: SchemaDifference[] = [];
  const t = ta.name;
  const ca = byName(ta.columns);
  const cb = byName(tb.columns);
  for (const [name, c] of ca) if (!cb.has(name)) out.push({ kind: 'column-removed', table: t, column: name, before: c.type, blocking: true, text: `column "${t}"."${name}" (${c.type}) is only in the first schema` });
  for (const [name, c] of cb) if (!ca.has(name)) out.push({ kind: 'column-added', table: t, column: name, after: c.type, blocking: true, text: `column "${t}"."${name}" (${c.type}) is only in the second schema` });
  for (const [name, c] of ca) {
    const d = cb.get(name);
    if (!d) continue;
    if (c.type.toLowerCase() !== d.type.toLowerCase()) out.push({ kind: 'column-type', table: t, column: name, before: c.type, after: d.type, blocking: true, text: `column "${t}"."${name}" type ${c.type} -> ${d.type}` });
    if (c.nullable !== d.nullable) out.push({ kind: 'column-nullable', table: t, column: name, before: c.nullable ? 'NULL' : 'NOT NULL', after: d.nullable ? 'NULL' : 'NOT NULL', blocking: !d.nullable, text: `column "${t}"."${name}" ${c.nullable ? 'NULL' : 'NOT NULL'} -> ${d.nullable ? 'NULL' : 'NOT NULL'}` });
    if ((c.default ?? null) !== (d.default ?? null)) out.push({ kind: 'column-default', table: t, column: name, before: c.default ?? 'none', after: d.default ?? 'none', blocking: false, text: `column "${t}"."${name}" default ${c.default ?? 'none'} -> ${d.default ?? 'none'}` });
  }
  const order = ta.columns.map((c) => c.name).filter((n) => cb.has(n)).join(',');
  const orderB = tb.columns.map((c) => c.name).filter((n) => ca.has(n)).join(',');
  if (order !== orderB) out.push({ kind: 'column-type', table: t, before: order, after: orderB, blocking: false, text: `columns of "${t}" are in a different order` });
  if (ta.primaryKey.join(',') !== tb.primaryKey.join(',')) out.push({ kind: 'primary-key', table: t, before: ta.primaryKey.join(','), after: tb.primaryKey.join(','), blocking: true, text: `primary key of "${t}": (${ta.primaryKey.join(', ')}) -> (${tb.primaryKey.join(', ')})` });
  const ia = new Map(ta.indexes.map((i) => [i.name, i]));
  const ib = new Map(tb.indexes.map((i) => [i.name, i]));
  for (const [name, i] of ia) if (!ib.has(name)) out.push({ kind: 'index-removed', table: t, name, before: i.columns.join(','), blocking: false, text: `${i.unique ? 'unique ' : ''}index "${name}" on "${t}" is only in the first schema` });
  for (const [name, i] of ib) if (!ia.has(name)) out.push({ kind: 'index-added', table: t, name, after: i.columns.join(','), blocking: false, text: `${i.unique ? 'unique ' : ''}index "${name}" on "${t}" is only in the second schema` });
  for (const [name, i] of ia) {
    const j = ib.get(name);
    if (j && (i.columns.join(',') !== j.columns.join(',') || i.unique !== j.unique)) out.push({ kind: 'index-changed', table: t, name, before: i.columns.join(','), after: j.columns.join(','), blocking: false, text: `index "${name}" on "${t}" changed` });
  }
  const fkKey = (f: TableSchema['foreignKeys'][number]) => `${f.columns.join(',')}->${f.refTable}(${f.refColumns.join(',')})`;
  const fa = new Set(ta.foreignKeys.map(fkKey));
  const fb = new Set(tb.foreignKeys.map(fkKey));
  for (const k of fa) if (!fb.has(k)) out.push({ kind: 'foreign-key-removed', table: t, name: k, blocking: false, text: `foreign key ${t}.${k} is only in the first schema` });
  for (const k of fb) if (!fa.has(k)) out.push({ kind: 'foreign-key-added', table: t, name: k, blocking: false, text: `foreign key ${t}.${k} is only in the second schema` });
  return out;
}
