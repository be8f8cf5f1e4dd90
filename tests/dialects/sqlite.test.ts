import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, test } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import type { EncodedRow, TableData } from '../../lib/dialects/dialect.ts';
import { sqliteDialect } from '../../lib/dialects/sqlite/index.ts';
import { tempSqliteUrl } from '../helpers/db.ts';

const SCHEMA = `CREATE TABLE "User" (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);
  CREATE UNIQUE INDEX "User_email_key" ON "User"(email);
  CREATE INDEX "User_name_idx" ON "User"(name) WHERE name IS NOT NULL;
  INSERT INTO "User" VALUES (1, 'a@x', 'A'), (2, 'b@x', NULL);`;

/** The schema and rows as sqlite3 itself prints them (an oracle without prisma-guard code). */
const dump = (file: string) => execFileSync('sqlite3', [file, '.dump'], { encoding: 'utf8' });

describe('SQLite data-mode load', () => {
  let db: ReturnType<typeof tempSqliteUrl> | undefined;
  afterEach(() => db?.remove());

  const load = async (rows: EncodedRow[]) => {
    const conn = await sqliteDialect.connect(parseDatabaseUrl(db!.url));
    try {
      const schema = await conn.introspect();
      const table = schema.tables.find((t) => t.name === 'User')!;
      const data = (async function* (): AsyncGenerator<TableData> {
        yield { table, rows: (async function* () { yield rows; })() };
      })();
      return await conn.load({ mode: 'data', schema, tables: ['User'], data });
    } finally {
      await conn.close();
    }
  };

  test('rebuilds the explicit indexes after the rows, exactly as they were', async () => {
    db = tempSqliteUrl();
    new Database(db.file).exec(SCHEMA);
    const before = dump(db.file);
    await load([[1, 'a@x', 'A'], [2, 'b@x', null]]);
    expect(dump(db.file)).toBe(before);
  });

  test('a duplicate key fails when the unique index is built, and the rollback keeps rows and indexes', async () => {
    db = tempSqliteUrl();
    new Database(db.file).exec(SCHEMA);
    const before = dump(db.file);
    const err = await load([[1, 'same@x', 'A'], [2, 'same@x', 'B']]).then(() => null, (e) => e);
    expect(err).toBeInstanceOf(GuardError);
    expect((err as GuardError).code).toBe('RESTORE_FAILED');
    expect((err as GuardError).message).toMatch(/UNIQUE constraint failed: User\.email/);
    expect(dump(db.file)).toBe(before);
  });
});
