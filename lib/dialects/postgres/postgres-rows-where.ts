import type { TableSchema } from '../../core/types.ts';
import type { RowFilter } from '../dialect.ts';
import type { TableRelations } from './postgres-relations.ts';
import { quoteIdent, quoteLiteral } from './postgres-sql.ts';

/** Tuples per COPY statement: keeps each statement a few hundred kilobytes at most. */
const TUPLES_PER_STATEMENT = 5000;

/**
 * A filter value as an untyped SQL literal. COPY takes no bind parameters, so values are inlined;
 * an untyped literal ('42', '2024-01-01 08:00:00') takes the type of the column it is compared
 * with, and the encoded values are exactly the text PostgreSQL prints, so it reads them back as is.
 */
function literal(v: RowFilter['values'][number][number]): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' || typeof v === 'bigint') return quoteLiteral(String(v));
  if (typeof v === 'string') return quoteLiteral(v);
  throw new Error(`Unexpected encoded PostgreSQL value ${JSON.stringify(v)}`);
}

/** `COPY (SELECT ... WHERE (cols) IN (...) ORDER BY ...) TO STDOUT` statements, one per chunk of tuples. */
export function copyOutWhereSql(relations: TableRelations, table: TableSchema, filter: RowFilter, orderBy: string): string[] {
  const width = filter.columns.length;
  if (width === 0) throw new Error('rowsWhere needs at least one column');
  const cols = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const target = width === 1 ? quoteIdent(filter.columns[0]) : `(${filter.columns.map(quoteIdent).join(', ')})`;
  const out: string[] = [];
  for (let i = 0; i < filter.values.length; i += TUPLES_PER_STATEMENT) {
    const chunk = filter.values.slice(i, i + TUPLES_PER_STATEMENT);
    const list = chunk.map((t) => (width === 1 ? literal(t[0]) : `(${t.map(literal).join(', ')})`)).join(', ');
    out.push(`COPY (SELECT ${cols} FROM ${relations.own(table.name)} WHERE ${target} IN (${list}) ORDER BY ${orderBy}) TO STDOUT`);
  }
  return out;
}
