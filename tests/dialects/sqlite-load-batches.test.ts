import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import type { TableSchema } from '../../lib/core/types.ts';
import type { LoadOptions } from '../../lib/dialects/dialect.ts';
import { loadSqlite } from '../../lib/dialects/sqlite/sqlite-load.ts';

/**
 * The SQLite loader inserts rows many to a statement: the rows must go in as given, in order, and a
 * row the database refuses must still be named by its number, wherever it falls in a statement.
 */

const table: TableSchema = {
  name: 't',
  columns: [
    { name: 'id', type: 'INTEGER', kind: 'any', nullable: false, default: null },
    { name: 'v', type: 'TEXT', kind: 'any', nullable: false, default: null },
  ],
  primaryKey: ['id'],
  foreignKeys: [],
  indexes: [],
};

function load(db: Database.Database, rows: unknown[][]) {
  const options = {
    mode: 'data',
    tables: ['t'],
    schema: { tables: [table], sequences: [], ddl: [], postDdl: [] },
    data: (async function* () {
      yield { table, rows: (async function* () { yield rows; })() };
    })(),
  } as unknown as LoadOptions;
  return loadSqlite(db, { query: async () => [] as never[] }, options);
}

describe('SQLite load in multi-row statements', () => {
  test('every row goes in, in order, for any count around the statement size', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    for (const count of [0, 1, 63, 64, 65, 128, 131]) {
      const rows = Array.from({ length: count }, (_, i) => [i + 1, `v${i}`]);
      const result = await load(db, rows);
      expect(result.rowsByTable.t).toBe(count);
      expect(db.prepare('SELECT id, v FROM t ORDER BY rowid').raw(true).all()).toEqual(rows);
    }
  });

  test('a row the database refuses is named by its number and nothing stays', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    for (const bad of [3, 64, 65, 100, 128, 129, 131]) {
      // Row `bad` repeats the id of row 2.
      const rows = Array.from({ length: 131 }, (_, i) => [i + 1 === bad ? 2 : i + 1, 'x']);
      await expect(load(db, rows)).rejects.toThrow(new RegExp(`\\(row ${bad}\\): UNIQUE constraint failed`));
      expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    }
  });
});
