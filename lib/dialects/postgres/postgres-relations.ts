import type { Queryable } from '../../core/types.ts';
import { Namespaces } from './postgres-names.ts';

/**
 * How the rows of one backed-up table are named in SQL.
 *
 * A backup keeps each table's own rows: an inheritance parent read with a plain `FROM parent` also
 * returns the rows of its children (listed as tables of their own), so they would be stored, counted
 * and digested twice; `FROM ONLY parent` reads the parent's own rows. A partitioned table is the
 * opposite: it stores nothing itself, its partitions are not listed as tables, and its rows are
 * those of its partitions, so it is read without ONLY (and `TRUNCATE ONLY` refuses it).
 */
export interface TableRelations {
  /** `ONLY "ns"."t"`, or `"ns"."t"` for a partitioned table: for SELECT and TRUNCATE. */
  own(name: string): string;
  partitioned(name: string): boolean;
}

/** Reads which tables of the schemas are partitioned (one catalog query). Names are the DbSchema's keys (Namespaces). */
export async function readTableRelations(q: Queryable, namespaces: string | Namespaces): Promise<TableRelations> {
  const ns = typeof namespaces === 'string' ? new Namespaces([namespaces]) : namespaces;
  const rows = await q.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'p'`,
    [ns.list],
  );
  return tableRelations(ns, new Set(rows.map((r) => ns.key(r.schema, r.name))));
}

/** TableRelations over a known set of partitioned table keys. */
export function tableRelations(namespaces: string | Namespaces, partitioned: ReadonlySet<string>): TableRelations {
  const ns = typeof namespaces === 'string' ? new Namespaces([namespaces]) : namespaces;
  return {
    own: (name) => (partitioned.has(name) ? ns.sql(name) : `ONLY ${ns.sql(name)}`),
    partitioned: (name) => partitioned.has(name),
  };
}
