import type { Queryable } from '../../core/types.ts';
import { qualify } from './postgres-sql.ts';

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

/** Reads which tables of `namespace` are partitioned (one catalog query). */
export async function readTableRelations(q: Queryable, namespace: string): Promise<TableRelations> {
  const rows = await q.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'p'`,
    [namespace],
  );
  return tableRelations(namespace, new Set(rows.map((r) => r.name)));
}

/** TableRelations over a known set of partitioned table names. */
export function tableRelations(namespace: string, partitioned: ReadonlySet<string>): TableRelations {
  return {
    own: (name) => (partitioned.has(name) ? qualify(namespace, name) : `ONLY ${qualify(namespace, name)}`),
    partitioned: (name) => partitioned.has(name),
  };
}
