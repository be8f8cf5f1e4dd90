import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import { connect, type Connection } from '../../lib/dialects/index.ts';
import { checkRisks } from '../../lib/guard/check.ts';
import type { RiskFinding, RiskRule, Severity } from '../../lib/guard/risks.ts';
import { DIALECTS, freshDatabase, PROJECT_ROOT, rawQueryable, type FreshDatabase, type TestDialect } from '../helpers/db.ts';

/**
 * The risk corpus: risky and safe migrations, each run against real data on SQLite and PostgreSQL.
 * Every case starts from the same small data set (below), laid out so each risk has a known count.
 * A risky case names the rule, the severity and an oracle: an SQL query written here, independently
 * of lib/guard, whose answer must equal the measured number. Where a case says the migration fails
 * (or, for a safe case, that it applies), the migration is run for real in a transaction that is
 * rolled back, so the claim is checked too. Safe cases must give no warn or block finding.
 *
 * One database per dialect for the whole file: PostgreSQL cases each get a schema of their own,
 * SQLite cases start from an emptied file.
 */

type Sql = string | ((d: TestDialect) => string);

interface Case {
  name: string;
  only?: TestDialect;
  /** Extra setup after the base data. */
  setup?: Sql;
  migration: Sql;
  /** Risky: the rule, severity and the oracle for the measured number (SQL returning one number `n`, or the number). */
  expect?: { rule: RiskRule; severity: Severity; oracle: Sql | number; column?: string };
  /** Running the migration for real: it fails / it applies. */
  applies?: boolean;
  largeTableRows?: number;
}

// The base data: 50 users, 60 posts (10 of them by authors that do not exist), an empty table.
// users: name NULL for id % 5 = 0 (10), bio set for even ids (25), nick duplicated in pairs for
// id <= 40 (20 groups), age 'abc' for id % 10 = 0 (5), price id * 1.25, score id * 1000.
const base = (d: TestDialect) => {
  const num = d === 'postgres' ? 'NUMERIC(10,2)' : 'DECIMAL(10,2)';
  const users = Array.from({ length: 50 }, (_, k) => {
    const i = k + 1;
    const q = (v: string | null) => (v === null ? 'NULL' : `'${v}'`);
    return `(${i}, 'u${i}@x', ${q(i % 5 === 0 ? null : `name${i}`)}, ${q(i % 2 === 0 ? `bio${i}` : null)}, ${q(i <= 40 ? `n${i % 20}` : null)}, ${q(i % 10 === 0 ? 'abc' : String(i))}, ${(i * 1.25).toFixed(2)}, ${i * 1000}, ${q(i % 3 === 0 ? 'ADMIN' : 'READER')})`;
  });
  const posts = Array.from({ length: 60 }, (_, k) => `(${k + 1}, ${k < 50 ? k + 1 : 100 + k}, 'title ${k + 1}')`);
  return [
    `CREATE TABLE "users" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT, "bio" TEXT, "nick" TEXT, "age" TEXT, "price" ${num} NOT NULL, "score" INTEGER NOT NULL, "role" TEXT NOT NULL)`,
    `INSERT INTO "users" VALUES ${users.join(', ')}`,
    `CREATE TABLE "posts" ("id" INTEGER NOT NULL PRIMARY KEY, "author_id" INTEGER NOT NULL, "title" TEXT NOT NULL)`,
    `INSERT INTO "posts" VALUES ${posts.join(', ')}`,
    `CREATE TABLE "tags" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL)`,
    `CREATE TABLE "comments" ("id" INTEGER NOT NULL PRIMARY KEY, "post_id" INTEGER NOT NULL)`,
    `INSERT INTO "comments" VALUES ${Array.from({ length: 30 }, (_, k) => `(${k + 1}, ${(k % 50) + 1})`).join(', ')}`,
  ].join(';\n');
};

/** A SQLite table rebuild as Prisma writes it. */
const rebuild = (table: string, create: string, columns: string, select = columns) => `PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_${table}" (${create});
INSERT INTO "new_${table}" (${columns}) SELECT ${select} FROM "${table}";
DROP TABLE "${table}";
ALTER TABLE "new_${table}" RENAME TO "${table}";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;`;
const USERS_COLS = '"id", "email", "name", "bio", "nick", "age", "price", "score", "role"';
const usersCreate = (over: Record<string, string> = {}, extra = '') =>
  [
    `"id" INTEGER NOT NULL PRIMARY KEY`,
    over.email ?? `"email" TEXT NOT NULL`,
    over.name ?? `"name" TEXT`,
    over.bio ?? `"bio" TEXT`,
    over.nick ?? `"nick" TEXT`,
    over.age ?? `"age" TEXT`,
    `"price" DECIMAL(10,2) NOT NULL`,
    over.score ?? `"score" INTEGER NOT NULL`,
    `"role" TEXT NOT NULL`,
  ].join(', ') + extra;
const warning = (text: string, sql = 'SELECT 1;') => `/*\n  Warnings:\n\n  - ${text}\n\n*/\n${sql}`;
/** A nullable column without NULLs. */
const CODE = `ALTER TABLE "users" ADD COLUMN "code" TEXT; UPDATE "users" SET "code" = 'c' || "id"`;
const LONG = 'users_' + 'x'.repeat(64) + '_idx';

const RISKY: Case[] = [
  { name: 'drop a table with rows', migration: 'DROP TABLE "users";', expect: { rule: 'drop-table', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users"' } },
  { name: 'drop a column with values', migration: 'ALTER TABLE "users" DROP COLUMN "bio";', expect: { rule: 'drop-column', severity: 'block', oracle: `SELECT count(*) AS n FROM "users" WHERE "bio" <> ''` } },
  { name: 'add a required column without a default', migration: 'ALTER TABLE "users" ADD COLUMN "nick2" TEXT NOT NULL;', expect: { rule: 'required-column', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users"' }, applies: false },
  { name: 'unique index over duplicates', migration: 'CREATE UNIQUE INDEX "users_nick_key" ON "users"("nick");', expect: { rule: 'unique-duplicates', severity: 'block', oracle: 'SELECT count(DISTINCT "nick") AS n FROM "users" u WHERE (SELECT count(*) FROM "users" v WHERE v."nick" = u."nick") > 1' }, applies: false },
  { name: 'a required column with a constant default, then a unique index on it', migration: `ALTER TABLE "users" ADD COLUMN "slug" TEXT NOT NULL DEFAULT '';\nCREATE UNIQUE INDEX "users_slug_key" ON "users"("slug");`, expect: { rule: 'unique-duplicates', severity: 'block', oracle: 'SELECT CASE WHEN count(*) > 1 THEN 1 ELSE 0 END AS n FROM "users"' }, applies: false },
  { name: 'rename a column, then drop it: the original data is lost', migration: 'ALTER TABLE "users" RENAME COLUMN "bio" TO "about";\nALTER TABLE "users" DROP COLUMN "about";', expect: { rule: 'drop-column', severity: 'block', oracle: `SELECT count(*) AS n FROM "users" WHERE length("bio") > 0` } },
  { name: 'rename a column (breaks the running app)', migration: 'ALTER TABLE "users" RENAME COLUMN "bio" TO "about";', expect: { rule: 'rename-column', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "users"' } },
  { name: 'rename a table (breaks the running app)', migration: 'ALTER TABLE "posts" RENAME TO "articles";', expect: { rule: 'rename-table', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "posts"' } },
  { name: 'rename a table, then drop it', migration: 'ALTER TABLE "posts" RENAME TO "articles";\nDROP TABLE "articles";', expect: { rule: 'drop-table', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts"' } },
  { name: 'DELETE with a WHERE', migration: 'DELETE FROM "posts" WHERE "author_id" > 50;', expect: { rule: 'delete-rows', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts" p WHERE NOT EXISTS (SELECT 1 FROM "users" u WHERE u."id" = p."author_id")' } },
  { name: 'DELETE of every row', migration: 'DELETE FROM "comments";', expect: { rule: 'delete-rows', severity: 'block', oracle: 'SELECT count(*) AS n FROM "comments"' } },
  { name: 'UPDATE with a WHERE', migration: `UPDATE "users" SET "name" = 'anonymous' WHERE "name" IS NULL;`, expect: { rule: 'update-rows', severity: 'warn', oracle: `SELECT count(*) AS n FROM "users" WHERE coalesce("name", '') = ''` } },
  { name: 'UPDATE ... FROM another table', migration: `UPDATE "posts" SET "title" = 'x' FROM "users" WHERE "users"."id" = "posts"."author_id" AND "users"."bio" IS NULL;`, expect: { rule: 'update-rows', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "posts" JOIN "users" ON "users"."id" = "posts"."author_id" WHERE "users"."bio" IS NULL' } },
  { name: 'a column dropped and another added: a rename written as drop + add', migration: 'ALTER TABLE "users" DROP COLUMN "bio";\nALTER TABLE "users" ADD COLUMN "about" TEXT;', expect: { rule: 'rename-as-drop-add', severity: 'warn', oracle: 'SELECT count("bio") AS n FROM "users"' } },
  { name: `Prisma: "would be dropped and recreated"`, migration: warning('The `bio` column on the `users` table would be dropped and recreated. This will lead to data loss if there is data in the column.'), expect: { rule: 'drop-column', severity: 'block', oracle: 'SELECT count("bio") AS n FROM "users"' } },
  { name: 'Prisma: "No cast exists" on a required column', migration: warning('Changed the type of `score` on the `users` table. No cast exists, the column would be dropped and recreated, which cannot be done if there is data, since the column is required.'), expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users"' } },
  { name: 'Prisma: "with a prisma-level default"', migration: warning('The required column `slug` was added to the `posts` table with a prisma-level default value. There are 60 rows in this table, it is not possible to execute this step. Please add this column as optional, then populate it before making it required.'), expect: { rule: 'required-column', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts"' } },
  { name: 'Prisma: the primary key changes', migration: warning('The primary key for the `comments` table will be changed. If it partially fails, the table could be left without primary key constraint.'), expect: { rule: 'primary-key-change', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "comments"' } },
  // PostgreSQL
  { name: 'SET NOT NULL over NULLs', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "name" SET NOT NULL;', expect: { rule: 'set-not-null', severity: 'block', oracle: 'SELECT count(*) - count("name") AS n FROM "users"' }, applies: false },
  { name: 'unique constraint over duplicates', only: 'postgres', migration: 'ALTER TABLE "users" ADD CONSTRAINT "users_nick_key" UNIQUE ("nick");', expect: { rule: 'unique-duplicates', severity: 'block', oracle: 'SELECT count(*) AS n FROM (SELECT "nick" FROM "users" WHERE "nick" IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d' }, applies: false },
  { name: 'foreign key over orphan rows', only: 'postgres', migration: 'ALTER TABLE "posts" ADD CONSTRAINT "posts_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;', expect: { rule: 'fk-orphans', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts" LEFT JOIN "users" ON "users"."id" = "posts"."author_id" WHERE "users"."id" IS NULL' }, applies: false },
  { name: 'foreign key on a renamed column over orphans', only: 'postgres', migration: 'ALTER TABLE "posts" RENAME COLUMN "author_id" TO "writer_id";\nALTER TABLE "posts" ADD CONSTRAINT "posts_writer_id_fkey" FOREIGN KEY ("writer_id") REFERENCES "users"("id");', expect: { rule: 'fk-orphans', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts" WHERE "author_id" NOT IN (SELECT "id" FROM "users")' }, applies: false },
  { name: 'DELETE ... USING', only: 'postgres', migration: 'DELETE FROM "posts" USING "users" WHERE "users"."id" = "posts"."author_id" AND "users"."name" IS NULL;', expect: { rule: 'delete-rows', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts" WHERE "author_id" IN (SELECT "id" FROM "users" WHERE "name" IS NULL)' } },
  { name: 'TRUNCATE', only: 'postgres', migration: 'TRUNCATE TABLE "posts";', expect: { rule: 'truncate', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts"' } },
  { name: 'CHECK violated by existing rows', only: 'postgres', migration: 'ALTER TABLE "users" ADD CONSTRAINT "score_max" CHECK ("score" < 30000);', expect: { rule: 'check-violations', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users" WHERE "score" >= 30000' }, applies: false },
  { name: 'DROP SCHEMA ... CASCADE', only: 'postgres', setup: 'CREATE SCHEMA "archive_x"; CREATE TABLE "archive_x"."a" AS SELECT generate_series(1, 7) AS i; CREATE TABLE "archive_x"."b" AS SELECT generate_series(1, 5) AS i;', migration: 'DROP SCHEMA "archive_x" CASCADE;', expect: { rule: 'drop-schema', severity: 'block', oracle: 'SELECT (SELECT count(*) FROM "archive_x"."a") + (SELECT count(*) FROM "archive_x"."b") AS n' } },
  { name: 'DROP MATERIALIZED VIEW', only: 'postgres', setup: 'CREATE MATERIALIZED VIEW "bios" AS SELECT "id", "bio" FROM "users" WHERE "bio" IS NOT NULL;', migration: 'DROP MATERIALIZED VIEW "bios";', expect: { rule: 'drop-materialized-view', severity: 'warn', oracle: 'SELECT count(*) FILTER (WHERE "bio" IS NOT NULL) AS n FROM "users"' } },
  { name: 'DROP SEQUENCE a column default uses', only: 'postgres', setup: `CREATE SEQUENCE "tag_ids"; ALTER TABLE "tags" ALTER COLUMN "id" SET DEFAULT nextval('tag_ids');`, migration: 'DROP SEQUENCE "tag_ids" CASCADE;', expect: { rule: 'drop-sequence', severity: 'block', oracle: `SELECT count(*) AS n FROM information_schema.columns WHERE column_default LIKE '%tag_ids%' AND table_schema = current_schema()` } },
  { name: 'text -> integer without USING never succeeds', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "age" SET DATA TYPE INTEGER;', expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count("age") AS n FROM "users"' }, applies: false },
  { name: 'text -> integer USING: values that do not parse', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "age" SET DATA TYPE INTEGER USING ("age"::integer);', expect: { rule: 'type-change', severity: 'block', oracle: `SELECT count(*) AS n FROM "users" WHERE "age" !~ '^[0-9]+$'` }, applies: false },
  { name: 'numeric scale lowered: values rounded', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "price" SET DATA TYPE DECIMAL(10,1);', expect: { rule: 'type-change', severity: 'block', oracle: `SELECT count(*) AS n FROM "users" WHERE ("price" * 100)::int % 10 <> 0` }, applies: true },
  { name: 'numeric precision lowered: values overflow', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "price" SET DATA TYPE DECIMAL(3,2);', expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users" WHERE "price" >= 9.995' }, applies: false },
  { name: 'integer -> smallint: values overflow', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "score" SET DATA TYPE SMALLINT;', expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users" WHERE "score" > 32767' }, applies: false },
  { name: 'text -> varchar(4): values too long', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "email" SET DATA TYPE VARCHAR(4);', expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users" WHERE length("email") > 4' }, applies: false },
  { name: 'numeric -> integer: values rounded', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "price" SET DATA TYPE INTEGER;', expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users" WHERE "price" <> trunc("price")' }, applies: true },
  { name: 'text -> boolean USING: values that do not parse', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "nick" SET DATA TYPE BOOLEAN USING ("nick"::boolean);', expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count("nick") AS n FROM "users"' }, applies: false },
  { name: 'enum value removed while rows use it', only: 'postgres', setup: `CREATE TYPE "Role" AS ENUM ('READER', 'ADMIN'); ALTER TABLE "users" ALTER COLUMN "role" TYPE "Role" USING ("role"::"Role");`, migration: `CREATE TYPE "Role_new" AS ENUM ('READER');\nALTER TABLE "users" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");`, expect: { rule: 'enum-value-removed', severity: 'block', oracle: `SELECT count(*) AS n FROM "users" WHERE "role"::text = 'ADMIN'` }, applies: false },
  { name: `Prisma: "You are about to alter the column ... cast"`, only: 'postgres', migration: warning('You are about to alter the column `age` on the `users` table, which contains 50 non-null values. The data in that column will be cast from `String` to `Int`. This cast may fail. Please make sure the data in the column can be cast.'), expect: { rule: 'type-change', severity: 'block', oracle: 'SELECT count("age") AS n FROM "users"' } },
  { name: 'Prisma: scalar field to a list field', only: 'postgres', migration: warning('Changed the column `bio` on the `users` table from a scalar field to a list field. There are 25 existing non-null values in that column, this step cannot be executed.'), expect: { rule: 'scalar-to-list', severity: 'block', oracle: 'SELECT count("bio") AS n FROM "users"' } },
  { name: 'an identifier over 63 bytes', only: 'postgres', migration: `CREATE INDEX "${LONG}" ON "users"("email");`, expect: { rule: 'identifier-too-long', severity: 'warn', oracle: Buffer.byteLength(LONG) } },
  { name: 'CREATE INDEX without CONCURRENTLY on a large table', only: 'postgres', largeTableRows: 40, migration: 'CREATE INDEX "users_email_idx" ON "users"("email");', expect: { rule: 'index-without-concurrently', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "users"' } },
  { name: 'ADD COLUMN with a volatile default rewrites the table', only: 'postgres', largeTableRows: 40, migration: 'ALTER TABLE "users" ADD COLUMN "token" UUID NOT NULL DEFAULT gen_random_uuid();', expect: { rule: 'volatile-default', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "users"' }, applies: true },
  { name: 'SET NOT NULL scans a large table under lock', only: 'postgres', largeTableRows: 40, setup: CODE, migration: 'ALTER TABLE "users" ALTER COLUMN "code" SET NOT NULL;', expect: { rule: 'set-not-null-scan', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "users"' } },
  { name: 'ADD UNIQUE without USING INDEX on a large table', only: 'postgres', largeTableRows: 40, migration: 'ALTER TABLE "users" ADD CONSTRAINT "users_email_key" UNIQUE ("email");', expect: { rule: 'unique-without-index', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "users"' }, applies: true },
  { name: 'ADD CHECK without NOT VALID on a large table', only: 'postgres', largeTableRows: 40, migration: 'ALTER TABLE "users" ADD CONSTRAINT "score_pos" CHECK ("score" > 0);', expect: { rule: 'constraint-without-not-valid', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "users"' }, applies: true },
  { name: 'integer -> bigint rewrites a large table', only: 'postgres', largeTableRows: 40, migration: 'ALTER TABLE "users" ALTER COLUMN "score" SET DATA TYPE BIGINT;', expect: { rule: 'type-change-rewrite', severity: 'warn', oracle: 'SELECT count(*) AS n FROM "users"' }, applies: true },
  // SQLite table rebuilds
  { name: 'rebuild adding a foreign key over orphans', only: 'sqlite', migration: rebuild('posts', `"id" INTEGER NOT NULL PRIMARY KEY, "author_id" INTEGER NOT NULL, "title" TEXT NOT NULL, CONSTRAINT "posts_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users" ("id") ON DELETE RESTRICT ON UPDATE CASCADE`, '"id", "author_id", "title"'), expect: { rule: 'fk-orphans', severity: 'block', oracle: 'SELECT count(*) AS n FROM "posts" WHERE "author_id" NOT IN (SELECT "id" FROM "users")' } },
  { name: 'rebuild adding a CHECK that rows violate', only: 'sqlite', migration: rebuild('users', usersCreate({ score: `"score" INTEGER NOT NULL CHECK ("score" < 30000)` }), USERS_COLS), expect: { rule: 'check-violations', severity: 'block', oracle: 'SELECT count(*) AS n FROM "users" WHERE "score" >= 30000' }, applies: false },
  { name: 'rebuild adding UNIQUE over duplicates', only: 'sqlite', migration: rebuild('users', usersCreate({}, ', CONSTRAINT "nick_unique" UNIQUE ("nick")'), USERS_COLS), expect: { rule: 'unique-duplicates', severity: 'block', oracle: 'SELECT count(*) AS n FROM (SELECT "nick" FROM "users" WHERE "nick" IS NOT NULL GROUP BY "nick" HAVING count(*) > 1)' }, applies: false },
  { name: 'rebuild making a column NOT NULL over NULLs', only: 'sqlite', migration: rebuild('users', usersCreate({ name: `"name" TEXT NOT NULL` }), USERS_COLS), expect: { rule: 'set-not-null', severity: 'block', oracle: 'SELECT count(*) - count("name") AS n FROM "users"' }, applies: false },
  { name: 'rebuild with a CHECK on a copied expression', only: 'sqlite', migration: rebuild('users', usersCreate({ age: `"age" INTEGER CHECK ("age" > 0)` }), USERS_COLS, '"id", "email", "name", "bio", "nick", CAST("age" AS INTEGER), "price", "score", "role"'), expect: { rule: 'check-violations', severity: 'block', oracle: `SELECT count(*) AS n FROM "users" WHERE "age" = 'abc'` }, applies: false },
  { name: 'rebuild changing TEXT to INTEGER', only: 'sqlite', migration: rebuild('users', usersCreate({ age: `"age" INTEGER` }), USERS_COLS), expect: { rule: 'type-change', severity: 'block', oracle: `SELECT count(*) AS n FROM "users" WHERE "age" GLOB '*[^0-9]*'` } },
  { name: 'rebuild that does not copy a column', only: 'sqlite', migration: rebuild('users', usersCreate({ bio: '' }).replace(', ,', ','), '"id", "email", "name", "nick", "age", "price", "score", "role"'), expect: { rule: 'drop-column', severity: 'block', oracle: 'SELECT count("bio") AS n FROM "users"' } },
];

const SAFE: Case[] = [
  { name: 'create a table', migration: 'CREATE TABLE "audit" ("id" INTEGER NOT NULL PRIMARY KEY, "what" TEXT NOT NULL);', applies: true },
  { name: 'add an optional column', migration: 'ALTER TABLE "users" ADD COLUMN "motto" TEXT;', applies: true },
  { name: 'add a required column with a constant default', migration: `ALTER TABLE "users" ADD COLUMN "level" INTEGER NOT NULL DEFAULT 0;`, applies: true },
  { name: 'index a new table', migration: 'CREATE TABLE "audit" ("id" INTEGER NOT NULL PRIMARY KEY, "what" TEXT NOT NULL);\nCREATE INDEX "audit_what_idx" ON "audit"("what");', applies: true },
  { name: 'unique index over unique values', migration: 'CREATE UNIQUE INDEX "users_email_key" ON "users"("email");', applies: true },
  { name: 'drop an empty table', migration: 'DROP TABLE "tags";', applies: true },
  { name: 'drop a column that holds only NULLs', setup: 'ALTER TABLE "users" ADD COLUMN "legacy" TEXT', migration: 'ALTER TABLE "users" DROP COLUMN "legacy";', applies: true },
  { name: 'UPDATE that matches nothing', migration: `UPDATE "users" SET "name" = 'x' WHERE "id" > 1000;`, applies: true },
  { name: 'DELETE that matches nothing', migration: 'DELETE FROM "posts" WHERE "author_id" < 0;', applies: true },
  { name: 'an optional column, then a unique index on it', migration: 'ALTER TABLE "users" ADD COLUMN "slug" TEXT;\nCREATE UNIQUE INDEX "users_slug_key" ON "users"("slug");', applies: true },
  { name: 'drop and recreate an index', setup: 'CREATE INDEX "posts_title_idx" ON "posts"("title")', migration: 'DROP INDEX "posts_title_idx";\nCREATE INDEX "posts_title_idx" ON "posts"("title");', applies: true },
  // PostgreSQL
  { name: 'SET NOT NULL where no row is NULL', only: 'postgres', setup: CODE, migration: 'ALTER TABLE "users" ALTER COLUMN "code" SET NOT NULL;', applies: true },
  { name: 'foreign key without orphans', only: 'postgres', migration: 'ALTER TABLE "comments" ADD CONSTRAINT "comments_post_id_fkey" FOREIGN KEY ("post_id") REFERENCES "posts"("id");', applies: true },
  { name: 'foreign key NOT VALID over orphans', only: 'postgres', migration: 'ALTER TABLE "posts" ADD CONSTRAINT "posts_author_id_fkey" FOREIGN KEY ("author_id") REFERENCES "users"("id") NOT VALID;', applies: true },
  { name: 'integer -> bigint', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "score" SET DATA TYPE BIGINT;', applies: true },
  { name: 'text -> varchar(100)', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "email" SET DATA TYPE VARCHAR(100);', applies: true },
  { name: 'numeric precision raised', only: 'postgres', migration: 'ALTER TABLE "users" ALTER COLUMN "price" SET DATA TYPE DECIMAL(12,2);', applies: true },
  { name: 'CHECK every row meets', only: 'postgres', migration: 'ALTER TABLE "users" ADD CONSTRAINT "score_pos" CHECK ("score" > 0);', applies: true },
  { name: 'a stable default on a large table does not rewrite it', only: 'postgres', largeTableRows: 40, migration: 'ALTER TABLE "users" ADD COLUMN "seen_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;', applies: true },
  { name: 'an enum and an optional enum column', only: 'postgres', migration: `CREATE TYPE "Mood" AS ENUM ('HAPPY', 'SAD');\nALTER TABLE "users" ADD COLUMN "mood" "Mood";`, applies: true },
  { name: 'CREATE INDEX CONCURRENTLY on a large table', only: 'postgres', largeTableRows: 40, migration: 'CREATE INDEX CONCURRENTLY "users_email_idx" ON "users"("email");' },
  { name: 'varchar lengthened on a large table (no rewrite)', only: 'postgres', largeTableRows: 40, setup: 'ALTER TABLE "users" ALTER COLUMN "email" TYPE VARCHAR(20)', migration: 'ALTER TABLE "users" ALTER COLUMN "email" SET DATA TYPE VARCHAR(200);', applies: true },
  { name: 'a new optional relation to a new table (Prisma)', only: 'postgres', migration: 'CREATE TABLE "categories" ("id" INTEGER NOT NULL, CONSTRAINT "categories_pkey" PRIMARY KEY ("id"));\nALTER TABLE "posts" ADD COLUMN "category_id" INTEGER;\nALTER TABLE "posts" ADD CONSTRAINT "posts_category_id_fkey" FOREIGN KEY ("category_id") REFERENCES "categories"("id") ON DELETE SET NULL ON UPDATE CASCADE;', applies: true },
  { name: 'a column with a random default, then a unique index on it', only: 'postgres', migration: 'ALTER TABLE "users" ADD COLUMN "token" UUID NOT NULL DEFAULT gen_random_uuid();\nCREATE UNIQUE INDEX "users_token_key" ON "users"("token");', applies: true },
  { name: 'rename an index', only: 'postgres', setup: 'CREATE INDEX "posts_title_idx" ON "posts"("title")', migration: 'ALTER INDEX "posts_title_idx" RENAME TO "posts_title_index";', applies: true },
  // SQLite
  { name: 'rebuild adding an optional column (Prisma)', only: 'sqlite', migration: rebuild('users', usersCreate({}, ', "motto" TEXT'), USERS_COLS), applies: true },
  { name: 'rebuild adding a foreign key without orphans', only: 'sqlite', migration: rebuild('comments', `"id" INTEGER NOT NULL PRIMARY KEY, "post_id" INTEGER NOT NULL, CONSTRAINT "comments_post_id_fkey" FOREIGN KEY ("post_id") REFERENCES "posts" ("id")`, '"id", "post_id"'), applies: true },
  { name: 'a new optional relation to a new table (Prisma rebuild)', only: 'sqlite', migration: 'CREATE TABLE "categories" ("id" INTEGER NOT NULL PRIMARY KEY);\n' + rebuild('posts', `"id" INTEGER NOT NULL PRIMARY KEY, "author_id" INTEGER NOT NULL, "title" TEXT NOT NULL, "category_id" INTEGER, CONSTRAINT "posts_category_id_fkey" FOREIGN KEY ("category_id") REFERENCES "categories" ("id") ON DELETE SET NULL ON UPDATE CASCADE`, '"id", "author_id", "title"'), applies: true },
  { name: 'rebuild adding a CHECK every row meets', only: 'sqlite', migration: rebuild('users', usersCreate({ score: `"score" INTEGER NOT NULL CHECK ("score" > 0)` }), USERS_COLS), applies: true },
];

for (const dialect of DIALECTS) {
  describe(`risk corpus on ${dialect}`, () => {
    let db: FreshDatabase;
    let n = 0;
    beforeAll(async () => {
      db = await freshDatabase(dialect);
      if (dialect === 'postgres') {
        const raw = await rawQueryable(db.url);
        await raw.exec('CREATE TABLE "_keep" ("id" INTEGER)');
        await raw.close();
      }
    });
    afterAll(() => db?.drop());

    /** A database holding the base data (and the case's setup): a new schema, or the emptied SQLite file. */
    async function prepare(c: Case): Promise<{ url: string; raw: Awaited<ReturnType<typeof rawQueryable>>; conn: Connection; done(): Promise<void> }> {
      const schema = `c${++n}`;
      let url = db.url;
      if (dialect === 'postgres') {
        const admin = await rawQueryable(db.url);
        await admin.exec(`CREATE SCHEMA "${schema}"`);
        await admin.close();
        url = `${db.url}?schema=${schema}`;
      }
      const raw = await rawQueryable(url);
      if (dialect === 'sqlite') {
        const objects = await raw.query<{ type: string; name: string }>(`SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'`);
        for (const o of objects) await raw.exec(`DROP ${o.type === 'view' ? 'VIEW' : 'TABLE'} IF EXISTS "${o.name}"`);
      }
      const text = (s: Sql | undefined) => (typeof s === 'function' ? s(dialect) : (s ?? ''));
      await raw.exec(base(dialect));
      if (c.setup) await raw.exec(text(c.setup).replaceAll('archive_x', `archive_${schema}`));
      const conn = await connect(parseDatabaseUrl(url, PROJECT_ROOT));
      return {
        url,
        raw,
        conn,
        async done() {
          await conn.close();
          await raw.close();
          if (dialect === 'postgres') {
            const admin = await rawQueryable(db.url);
            await admin.exec(`DROP SCHEMA "${schema}" CASCADE`);
            await admin.exec(`DROP SCHEMA IF EXISTS "archive_${schema}" CASCADE`);
            await admin.close();
          }
        },
      };
    }

    /** Runs the migration for real inside a transaction that is rolled back: did it apply? */
    async function applies(raw: Awaited<ReturnType<typeof rawQueryable>>, sql: string): Promise<boolean> {
      await raw.exec('BEGIN');
      try {
        await raw.exec(sql);
        return true;
      } catch {
        return false;
      } finally {
        await raw.exec('ROLLBACK');
      }
    }

    const sqlOf = (c: Case, schema: string) => (typeof c.migration === 'function' ? c.migration(dialect) : c.migration).replaceAll('archive_x', `archive_${schema}`);
    const mine = (cases: Case[]) => cases.filter((c) => !c.only || c.only === dialect);

    it.each(mine(RISKY).map((c) => [c.name, c] as const))('risky: %s', async (_, c) => {
      const p = await prepare(c);
      try {
        const sql = sqlOf(c, `c${n}`);
        const findings = await checkRisks(p.conn, [{ name: '20260101000000_case', sql }], { largeTableRows: c.largeTableRows });
        const oracle = c.expect!.oracle;
        const expected = typeof oracle === 'number' ? oracle : Number((await p.raw.query<{ n: unknown }>(typeof oracle === 'function' ? oracle(dialect) : oracle.replaceAll('archive_x', `archive_c${n}`)))[0].n);
        expect(expected).toBeGreaterThan(0);
        const f = findings.find((x) => x.rule === c.expect!.rule);
        expect(f, `no ${c.expect!.rule} finding in ${JSON.stringify(findings.map((x) => [x.rule, x.severity, x.measured, x.message]))}`).toBeDefined();
        expect({ rule: f!.rule, severity: f!.severity, measured: f!.measured }).toEqual({ rule: c.expect!.rule, severity: c.expect!.severity, measured: expected });
        if (c.applies !== undefined && !/CONCURRENTLY/i.test(sql)) expect(await applies(p.raw, sql)).toBe(c.applies);
      } finally {
        await p.done();
      }
    });

    it.each(mine(SAFE).map((c) => [c.name, c] as const))('safe: %s', async (_, c) => {
      const p = await prepare(c);
      try {
        const sql = sqlOf(c, `c${n}`);
        const findings = await checkRisks(p.conn, [{ name: '20260101000000_case', sql }], { largeTableRows: c.largeTableRows });
        expect(findings.filter((f: RiskFinding) => f.severity !== 'info').map((f) => f.message)).toEqual([]);
        if (c.applies) expect(await applies(p.raw, sql)).toBe(true);
      } finally {
        await p.done();
      }
    });
  });
}

it('the corpus has at least 40 risky and 20 safe migrations', () => {
  expect(RISKY.length).toBeGreaterThanOrEqual(40);
  expect(SAFE.length).toBeGreaterThanOrEqual(20);
});
