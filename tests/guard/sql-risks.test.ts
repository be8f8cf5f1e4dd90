import { describe, expect, it } from 'vitest';
import type { DbSchema } from '../../lib/core/types.ts';
import { buildPlan, decide, statementEffects } from '../../lib/guard/plan.ts';
import { analyzeMigrations, binaryWidening, judge, parseDml, type RiskQuestion } from '../../lib/guard/risks.ts';
import { prismaWarnings, splitStatements } from '../../lib/guard/sql.ts';
import { migrationState } from '../../lib/prisma/migrations.ts';
import { dialectFor } from '../../lib/dialects/index.ts';

/** Each database's traits, as its dialect declares them. */
const T = { postgres: (await dialectFor('postgres')).riskTraits, sqlite: (await dialectFor('sqlite')).riskTraits };

describe('splitStatements', () => {
  it('splits at top-level semicolons only, ignoring strings, identifiers, comments and dollar quotes', () => {
    const sql = [
      "-- a comment; with a semicolon",
      "INSERT INTO t VALUES ('a;b', 'it''s; fine');",
      'SELECT "x;y" FROM "we""ird;";',
      '/* block; /* nested; */ still comment; */ UPDATE t SET a = 1;',
      "CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN RETURN NEW; END; $body$ LANGUAGE plpgsql;",
      "DO $$ BEGIN PERFORM 1; END $$;",
      "SELECT E'back\\'slash;';",
      'CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 2; DELETE FROM u; END;',
      '  ;  ; -- only comments here',
    ].join('\n');
    const s = splitStatements(sql);
    expect(s.map((x) => x.normalized)).toEqual([
      "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
      'SELECT "x;y" FROM "we""ird;"',
      'UPDATE t SET a = 1',
      'CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN RETURN NEW; END; $body$ LANGUAGE plpgsql',
      'DO $$ BEGIN PERFORM 1; END $$',
      "SELECT E'back\\'slash;'",
      'CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 2; DELETE FROM u; END',
    ]);
    expect(s.map((x) => x.line)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    // The statement text drops leading comments but keeps the statement as written.
    expect(s[2].text).toBe('UPDATE t SET a = 1');
  });

  it("reads Prisma's Warnings header", () => {
    const w = prismaWarnings(`/*
  Warnings:

  - You are about to drop the column \`bio\` on the \`users\` table. All the data in the column will be lost.
  - A unique constraint covering the columns \`[name,email]\` on the table \`users\` will be added. If there are existing duplicate values, this will fail.
  - Added the required column \`nick\` to the \`users\` table without a default value. This is not possible if the table is not empty.
  - The values [ADMIN] on the enum \`Role\` will be removed. If these variants are still used in the database, this will fail.
  - You are about to drop the \`tags\` table. If the table is not empty, all the data it contains will be lost.
  - Made the column \`name\` on table \`users\` required, but there are existing NULL values.

*/
SELECT 1;`);
    expect(w.map((x) => [x.kind, x.table ?? x.enumName, x.column ?? x.columns ?? x.values])).toEqual([
      ['drop-column', 'users', 'bio'],
      ['unique', 'users', ['name', 'email']],
      ['required-column', 'users', 'nick'],
      ['enum-values', 'Role', ['ADMIN']],
      ['drop-table', 'tags', undefined],
      ['set-not-null', 'users', 'name'],
    ]);
  });
});

describe("every warning wording of Prisma's schema engine (6.19 / 7.x, from its destructive-change checker)", () => {
  // Each line as the engine writes it (strings of node_modules/prisma/build/schema_engine_bg.wasm).
  const WORDINGS: [string, string, string | undefined, string | undefined][] = [
    ['drop-table', 'You are about to drop the `tags` table, which is not empty (3 rows).', 'tags', undefined],
    ['drop-table', 'You are about to drop the `tags` table. If the table is not empty, all the data it contains will be lost.', 'tags', undefined],
    ['drop-column', 'You are about to drop the column `bio` on the `users` table, which still contains 29 non-null values.', 'users', 'bio'],
    ['drop-column', 'You are about to drop the column `bio` on the `users` table. All the data in the column will be lost.', 'users', 'bio'],
    ['drop-recreate', 'The `bio` column on the `users` table would be dropped and recreated. This will lead to data loss if there is data in the column.', 'users', 'bio'],
    ['drop-recreate', 'The `bio` column on the `users` table would be dropped and recreated. This will lead to data loss.', 'users', 'bio'],
    ['drop-recreate-required', 'Changed the type of `karma` on the `users` table. No cast exists, the column would be dropped and recreated, which cannot be done if there is data, since the column is required.', 'users', 'karma'],
    ['drop-recreate-required', 'Changed the type of `karma` on the `users` table. No cast exists, the column would be dropped and recreated, which cannot be done since the column is required and there is data in the table.', 'users', 'karma'],
    ['required-column', 'Added the required column `nick` to the `users` table without a default value. There are 50 rows in this table, it is not possible to execute this step.', 'users', 'nick'],
    ['required-column', 'Added the required column `nick` to the `users` table without a default value. This is not possible if the table is not empty.', 'users', 'nick'],
    ['required-column', 'The required column `slug` was added to the `posts` table with a prisma-level default value. There are 60 rows in this table, it is not possible to execute this step. Please add this column as optional, then populate it before making it required.', 'posts', 'slug'],
    ['set-not-null', 'Made the column `name` on table `users` required, but there are 10 existing NULL values.', 'users', 'name'],
    ['set-not-null', 'Made the column `name` on table `users` required. This step will fail if there are existing NULL values in that column.', 'users', 'name'],
    ['scalar-to-list', 'Changed the column `bio` on the `users` table from a scalar field to a list field. There are 25 existing non-null values in that column, this step cannot be executed.', 'users', 'bio'],
    ['scalar-to-list', 'Changed the column `bio` on the `users` table from a scalar field to a list field. If there are non-null values in that column, this step will fail.', 'users', 'bio'],
    ['type-change', 'You are about to alter the column `age` on the `users` table, which contains 50 non-null values. The data in that column will be cast from `String` to `Int`. This cast may fail. Please make sure the data in the column can be cast.', 'users', 'age'],
    ['type-change', 'You are about to alter the column `age` on the `users` table. The data in that column could be lost. The data in that column will be cast from `String` to `Int`.', 'users', 'age'],
    ['primary-key', 'The primary key for the `comments` table will be changed. If it partially fails, the table could be left without primary key constraint.', 'comments', undefined],
    ['unique', 'A unique constraint covering the columns `[name,email]` on the table `users` will be added. If there are existing duplicate values, this will fail.', 'users', undefined],
    ['enum-values', 'The values [ADMIN] on the enum `Role` will be removed. If these variants are still used in the database, this will fail.', undefined, undefined],
  ];
  it.each(WORDINGS)('%s: %s', (kind, text, table, column) => {
    const [w] = prismaWarnings(`/*\n  Warnings:\n\n  - ${text}\n\n*/\nSELECT 1;`);
    expect(w).toMatchObject({ kind, text });
    if (table) expect(w.table).toBe(table);
    if (column) expect(w.column).toBe(column);
  });
  it('a cast warning names the target type', () => {
    expect(prismaWarnings(`/*\n  Warnings:\n\n  - ${WORDINGS[15][1]}\n*/`)[0].toType).toBe('Int');
  });
});

describe('DELETE / UPDATE parsing', () => {
  it('reads table, alias, FROM/USING and WHERE at top level only', () => {
    expect(parseDml('DELETE FROM "posts" WHERE "author_id" > 50')).toEqual({ verb: 'DELETE', table: 'posts', alias: undefined, from: undefined, where: '"author_id" > 50' });
    expect(parseDml('DELETE FROM "public"."posts" AS p USING "users" u WHERE u.id = p.author_id RETURNING p.id')).toEqual({ verb: 'DELETE', table: 'posts', alias: 'p', from: '"users" u', where: 'u.id = p.author_id' });
    expect(parseDml(`UPDATE "users" SET "name" = (SELECT 'x' FROM t WHERE a = 1) WHERE "id" IN (SELECT id FROM s WHERE b = 2)`)).toEqual({ verb: 'UPDATE', table: 'users', alias: undefined, from: undefined, where: '"id" IN (SELECT id FROM s WHERE b = 2)' });
    expect(parseDml(`UPDATE "users" SET "where" = 'WHERE x' FROM "posts" WHERE "posts"."author_id" = "users"."id"`)).toMatchObject({ from: '"posts"', where: '"posts"."author_id" = "users"."id"' });
    expect(parseDml('UPDATE "users" SET "karma" = 0')).toMatchObject({ table: 'users', where: undefined });
  });
});

const col = (name: string, type: string, nullable = true) => ({ name, type, kind: 'text' as const, nullable, default: null });
const schema = (dialect: 'sqlite' | 'postgres'): DbSchema => ({
  dialect,
  namespace: dialect === 'postgres' ? 'public' : undefined,
  tables: [
    { name: 'users', primaryKey: ['id'], foreignKeys: [], indexes: [{ name: 'users_email_key', columns: ['email'], unique: true, definition: '' }], columns: [col('id', 'INTEGER', false), col('email', 'TEXT', false), col('name', 'TEXT'), col('bio', 'TEXT'), col('role', dialect === 'postgres' ? '"Role"' : 'TEXT', false)] },
    { name: 'posts', primaryKey: ['id'], foreignKeys: [{ name: 'posts_author_fkey', columns: ['author_id'], refTable: 'users', refColumns: ['id'], onDelete: 'RESTRICT', onUpdate: 'CASCADE', definition: '' }], indexes: [], columns: [col('id', 'INTEGER', false), col('author_id', 'INTEGER', false), col('title', 'TEXT', false)] },
    { name: 'comments', primaryKey: ['id'], foreignKeys: [{ name: 'c_fkey', columns: ['post_id'], refTable: 'posts', refColumns: ['id'], onDelete: 'CASCADE', onUpdate: 'CASCADE', definition: '' }], indexes: [], columns: [col('id', 'INTEGER', false), col('post_id', 'INTEGER', false)] },
  ],
  enums: dialect === 'postgres' ? [{ name: 'Role', values: ['READER', 'AUTHOR', 'ADMIN'] }] : [],
  sequences: [],
  ddl: [],
  postDdl: [],
});

const brief = (qs: RiskQuestion[]) => qs.map((q) => ({ rule: q.rule, table: q.table, column: q.column, measure: q.measure }));

describe('risk rules', () => {
  it('PostgreSQL: multi-action ALTER TABLE, unique index, SET NOT NULL, type change, enum removal, truncate cascade, index/constraint locking', () => {
    const sql = `ALTER TABLE "users" DROP COLUMN "bio",
ADD COLUMN     "nick" TEXT NOT NULL,
ADD COLUMN     "score" INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX "users_name_key" ON "users"("name");
ALTER TABLE "users" ALTER COLUMN "name" SET NOT NULL;
ALTER TABLE "posts" ALTER COLUMN "title" SET DATA TYPE VARCHAR(20);
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('READER', 'AUTHOR');
ALTER TABLE "users" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
COMMIT;
TRUNCATE "posts" CASCADE;
CREATE INDEX "posts_title_idx" ON "posts"("title");
ALTER TABLE "posts" ADD CONSTRAINT "title_len" CHECK (length("title") > 0);`;
    const qs = analyzeMigrations([{ name: 'm', sql }], schema('postgres'), { traits: T.postgres });
    expect(brief(qs)).toEqual([
      { rule: 'drop-column', table: 'users', column: 'bio', measure: { kind: 'non-null', table: 'users', column: 'bio' } },
      { rule: 'required-column', table: 'users', column: 'nick', measure: { kind: 'rows', table: 'users' } },
      { rule: 'unique-duplicates', table: 'users', column: 'name', measure: { kind: 'duplicate-groups', table: 'users', columns: ['"name"'], where: undefined, nullsDistinct: true } },
      { rule: 'index-without-concurrently', table: 'users', column: undefined, measure: { kind: 'table-size', table: 'users' } },
      { rule: 'set-not-null', table: 'users', column: 'name', measure: { kind: 'nulls', table: 'users', columns: ['name'] } },
      { rule: 'set-not-null-scan', table: 'users', column: 'name', measure: { kind: 'table-size', table: 'users' } },
      { rule: 'type-change-rewrite', table: 'posts', column: 'title', measure: { kind: 'table-size', table: 'posts' } },
      { rule: 'type-change', table: 'posts', column: 'title', measure: { kind: 'cast', table: 'posts', column: 'title', fromType: 'TEXT', toType: 'VARCHAR(20)', using: undefined } },
      { rule: 'enum-value-removed', table: 'users', column: 'role', measure: { kind: 'values-not-in', table: 'users', column: 'role', values: ['READER', 'AUTHOR'] } },
      { rule: 'truncate', table: 'posts', column: undefined, measure: { kind: 'rows', table: 'posts' } },
      { rule: 'truncate', table: 'comments', column: undefined, measure: { kind: 'rows', table: 'comments' } },
      { rule: 'index-without-concurrently', table: 'posts', column: undefined, measure: { kind: 'table-size', table: 'posts' } },
      { rule: 'check-violations', table: 'posts', column: undefined, measure: { kind: 'check-violations', table: 'posts', expression: 'length("title") > 0' } },
      { rule: 'constraint-without-not-valid', table: 'posts', column: undefined, measure: { kind: 'table-size', table: 'posts' } },
      // bio dropped and nick added in one migration: maybe a rename
      { rule: 'rename-as-drop-add', table: 'users', column: 'bio', measure: { kind: 'non-null', table: 'users', column: 'bio' } },
    ]);
    expect(qs.find((q) => q.rule === 'enum-value-removed')!.what).toContain('removing ADMIN');
  });

  it('SQLite: recognises the redefine-table pattern and measures what it loses instead of reporting a table drop', () => {
    const sql = `-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_users" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" INTEGER NOT NULL,
    "motto" TEXT
);
INSERT INTO "new_users" ("email", "id", "name", "role") SELECT "email", "id", "name", "role" FROM "users";
DROP TABLE "users";
ALTER TABLE "new_users" RENAME TO "users";
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;`;
    const qs = analyzeMigrations([{ name: 'm', sql }], schema('sqlite'), { traits: T.sqlite });
    expect(qs.some((q) => q.rule === 'drop-table')).toBe(false);
    expect(brief(qs)).toEqual([
      { rule: 'drop-column', table: 'users', column: 'bio', measure: { kind: 'non-null', table: 'users', column: 'bio' } },
      { rule: 'set-not-null', table: 'users', column: 'name', measure: { kind: 'nulls', table: 'users', columns: ['name'] } },
      { rule: 'type-change', table: 'users', column: 'role', measure: { kind: 'cast', table: 'users', column: 'role', fromType: 'TEXT', toType: 'INTEGER' } },
      // the index is built on the rebuilt table, which holds the old rows: measured on "users"
      { rule: 'unique-duplicates', table: 'users', column: 'email', measure: { kind: 'duplicate-groups', table: 'users', columns: ['"email"'], where: undefined, nullsDistinct: true } },
      { rule: 'rename-as-drop-add', table: 'users', column: 'bio', measure: { kind: 'non-null', table: 'users', column: 'bio' } },
    ]);
  });

  it('a table dropped and recreated under another name is flagged as a possible rename; tables created by the deployment are not measured', () => {
    const sql = `CREATE TABLE "articles" ("id" INTEGER NOT NULL, "author_id" INTEGER NOT NULL, "title" TEXT NOT NULL);
DROP TABLE "posts";
ALTER TABLE "articles" ADD COLUMN "x" TEXT NOT NULL;
CREATE UNIQUE INDEX "a_t" ON "articles"("title");`;
    const qs = analyzeMigrations([{ name: 'm', sql }], schema('sqlite'), { traits: T.sqlite });
    expect(qs.map((q) => q.rule)).toEqual(['drop-table', 'rename-as-drop-add']);
    expect(qs[1].advice).toContain('ALTER TABLE "posts" RENAME TO "articles"');
  });

  it('follows renames across the migrations of one deployment: a later drop is measured on the original column and table', () => {
    const qs = analyzeMigrations(
      [
        { name: 'a', sql: 'ALTER TABLE "users" RENAME COLUMN "bio" TO "about";\nALTER TABLE "posts" RENAME TO "articles";' },
        { name: 'b', sql: 'ALTER TABLE "users" DROP COLUMN "about";\nDROP TABLE "articles";\nALTER TABLE "users" DROP COLUMN "bio";' },
      ],
      schema('postgres'),
      { traits: T.postgres },
    );
    expect(qs.map((q) => [q.migration, q.rule, q.table, q.column, q.measure])).toEqual([
      ['a', 'rename-column', 'users', 'bio', { kind: 'rows', table: 'users' }],
      ['a', 'rename-table', 'posts', undefined, { kind: 'rows', table: 'posts' }],
      ['b', 'drop-column', 'users', 'bio', { kind: 'non-null', table: 'users', column: 'bio' }],
      ['b', 'drop-table', 'posts', undefined, { kind: 'rows', table: 'posts' }],
      // "bio" no longer exists under that name: nothing to measure.
    ]);
    expect(qs[2].what).toContain('renamed from "bio"');
    expect(qs[3].what).toContain('renamed from "posts"');
  });

  it('DROP DATABASE is always a block; binary-compatible widenings are no rewrite', () => {
    const [q] = analyzeMigrations([{ name: 'm', sql: 'DROP DATABASE "prod";' }], schema('postgres'), { traits: T.postgres });
    expect(judge(q, { value: null })).toMatchObject({ rule: 'drop-database', severity: 'block' });
    expect([binaryWidening('character varying(20)', 'VARCHAR(200)'), binaryWidening('text', 'TEXT'), binaryWidening('numeric(10,2)', 'DECIMAL(12,2)'), binaryWidening('varchar(20)', 'text')]).toEqual([true, true, true, true]);
    expect([binaryWidening('integer', 'BIGINT'), binaryWidening('numeric(10,2)', 'DECIMAL(10,1)'), binaryWidening('character varying(20)', 'VARCHAR(10)')]).toEqual([false, false, false]);
  });

  it('a Prisma warning no rule recognises is a prisma-warning finding (warn), never "unknown-table"', () => {
    const qs = analyzeMigrations([{ name: 'm', sql: '/*\n  Warnings:\n\n  - Something new that Prisma 8 might say about `users`.\n\n*/\nALTER TABLE "users" ADD COLUMN "x" TEXT;' }], schema('postgres'), { traits: T.postgres });
    expect(qs.map((q) => [q.rule, q.source])).toEqual([['prisma-warning', 'prisma-warning']]);
    expect(judge(qs[0], { value: null })).toMatchObject({ severity: 'warn', rule: 'prisma-warning' });
  });

  it('judges severity from the measured number', () => {
    const [q] = analyzeMigrations([{ name: 'm', sql: 'DROP TABLE "posts";' }], schema('sqlite'), { traits: T.sqlite });
    expect(judge(q, { value: 12 })).toMatchObject({ severity: 'block', measured: 12, message: 'drops table "posts": 12 rows would be lost.' });
    expect(judge(q, { value: 0 })!.severity).toBe('info');
    expect(judge(q, { value: null, error: 'boom' })).toMatchObject({ severity: 'warn' });
    const [idx] = analyzeMigrations([{ name: 'm', sql: 'CREATE INDEX "i" ON "posts"("title");' }], schema('postgres'), { traits: T.postgres, largeTableRows: 1000 });
    expect(judge(idx, { value: 999 })).toBeNull();
    expect(judge(idx, { value: 1000 })!.severity).toBe('warn');
  });

  it('a Prisma warning the SQL rules did not see is still measured', () => {
    const sql = `/*
  Warnings:

  - The values [ADMIN] on the enum \`Role\` will be removed. If these variants are still used in the database, this will fail.

*/
SELECT 1;`;
    const qs = analyzeMigrations([{ name: 'm', sql }], schema('postgres'), { traits: T.postgres });
    expect(qs).toHaveLength(1);
    expect(qs[0]).toMatchObject({ rule: 'enum-value-removed', source: 'prisma-warning', measure: { kind: 'values-in', table: 'users', column: 'role', values: ['ADMIN'] } });
  });
});

describe('plan decisions', () => {
  const local = [{ name: 'a', sql: 'x', checksum: 'c' }, { name: 'b', sql: 'y', checksum: 'd' }];
  it('nothing pending, dry run, blocked, accepted, confirm', () => {
    const none = buildPlan(migrationState([], []), []);
    expect(decide(none, {})).toBe('nothing-to-do');
    const state = migrationState(local, []);
    const block = { migration: 'a', severity: 'block' as const, rule: 'drop-table' as const, effect: 'data-loss' as const, statement: '', statementIndex: 0, line: 1, measured: 3, message: '', advice: '', source: 'sql' as const };
    const blocked = buildPlan(state, [block]);
    expect(blocked.blocked).toBe(true);
    expect(decide(blocked, {})).toBe('blocked');
    expect(decide(blocked, { dryRun: true })).toBe('dry-run');
    expect(decide(blocked, { acceptDataLoss: true })).toBe('proceed');
    expect(decide(blocked, { interactive: true })).toBe('confirm');
    expect(decide(buildPlan(state, [{ ...block, severity: 'warn' }]), {})).toBe('proceed');
  });

  it('works out which statements of a failed migration took effect', () => {
    const before = schema('postgres');
    const after: DbSchema = { ...before, tables: before.tables.map((t) => (t.name === 'users' ? { ...t, columns: [...t.columns, col('nick', 'text')] } : t)) };
    const effects = statementEffects('ALTER TABLE "users" ADD COLUMN "nick" TEXT;\nCREATE UNIQUE INDEX "u_n" ON "users"("name");\nINSERT INTO "users" VALUES (1);', before, after);
    expect(effects.map((e) => e.outcome)).toEqual(['applied', 'not-applied', 'unknown']);
  });

  it('claims "applied" only from visible effects: a SQLite table rebuild that changed nothing reports no applied statement', () => {
    const before = schema('sqlite');
    const users = before.tables.find((t) => t.name === 'users')!;
    const rebuild = [
      'PRAGMA foreign_keys=OFF;',
      'CREATE TABLE "new_users" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT NOT NULL);',
      'INSERT INTO "new_users" ("id", "email") SELECT "id", "email" FROM "users";',
      'DROP TABLE "users";',
      'ALTER TABLE "new_users" RENAME TO "users";',
      ...users.indexes.map((i) => `CREATE UNIQUE INDEX "${i.name}" ON "users"("email");`),
      'PRAGMA foreign_keys=ON;',
    ].join('\n');
    // Nothing took effect (the engine failed first, or SQLite rolled the script back).
    const unchanged = statementEffects(rebuild, before, before);
    expect(unchanged.filter((e) => e.outcome === 'applied')).toEqual([]);
    // Each object existed before or is changed again later in the script: no evidence either way.
    expect(unchanged.slice(1, 5).map((e) => e.outcome)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    // The whole rebuild took effect: users has the new columns, so the rename is visibly applied.
    const rebuilt: DbSchema = { ...before, tables: before.tables.map((t) => (t.name === 'users' ? { ...t, columns: t.columns.filter((c) => ['id', 'email'].includes(c.name)) } : t)) };
    const done = statementEffects(rebuild, before, rebuilt);
    expect(done[4]).toMatchObject({ outcome: 'applied', evidence: 'table users exists now and new_users does not' });
    // Stopped after CREATE TABLE: new_users exists now, so that statement is applied and the rename is not.
    const half: DbSchema = { ...before, tables: [...before.tables, { ...users, name: 'new_users', indexes: [] }] };
    const partial = statementEffects(rebuild, before, half);
    expect(partial[1].outcome).toBe('applied');
    expect(partial[4]).toMatchObject({ outcome: 'not-applied' });
  });
});
