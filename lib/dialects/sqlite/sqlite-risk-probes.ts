/**
 * migrate-safe's read-only measurements on SQLite (RiskProbes, issue 18): plain SELECTs (the
 * connection reads one consistent file), no schemas or sequences, and type changes as SQLite does
 * them: it never fails a conversion, it keeps or converts the value, so what counts is the values
 * whose text changes through the new type.
 */
import type { RiskProbes } from '../dialect.ts';
import { quoteSqlite } from './sqlite-quote.ts';

export const sqliteRiskProbes: RiskProbes = {
  // One database, no schemas: the key is the table's name.
  tableRef: (_schema, key) => quoteSqlite(key),
  readOnly: (q, fn) => fn((sql) => q.query(sql)),
  tableBytes: async () => null,
  schemaContents: async () => null,
  sequenceLastValue: async () => null,
  async cast(query, m) {
    const [r] = await query<{ n: unknown }>(`SELECT count(*) AS n FROM ${m.table} WHERE ${m.column} IS NOT NULL AND CAST(CAST(${m.column} AS ${m.toType}) AS TEXT) IS NOT CAST(${m.column} AS TEXT)`);
    return { value: Number(r.n) };
  },
};
