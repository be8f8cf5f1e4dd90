/**
 * migrate-safe's risk checks on a 1M-row table, and the whole dry run on the demo.
 *
 *   npm run bench:guard -- [--rows 1000000] [--runs 3] [--dialects postgres,sqlite] [--pg-admin URL] [--no-demo]
 *
 * Each risk check is one migration analyzed and measured (checkRisks: read the schema, analyze,
 * run the read-only counting queries) on a table of `--rows` rows; the time is the median of
 * `--runs`. The demo dry run is `prisma-guard migrate-safe --dry-run` through the compiled CLI on
 * the seeded demo database with one risky pending migration, next to `prisma validate` alone (which
 * the dry run runs first). Target (issue 18): each check <= 2 s; the dry run <= 1 s plus validate.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseDatabaseUrl } from '../lib/core/url.ts';
import { connect } from '../lib/dialects/index.ts';
import { checkRisks } from '../lib/guard/check.ts';
import { runPrisma } from '../lib/prisma/cli.ts';
import { DEMO_SCHEMAS, PROJECT_ROOT } from '../prisma/adapter.ts';
import { seed } from '../prisma/seed.ts';
import { runCli } from '../tests/helpers/cli.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    dialects: { type: 'string', default: 'postgres,sqlite' },
    'pg-admin': { type: 'string', default: process.env.PG_BENCH_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    'no-demo': { type: 'boolean' },
  },
});
const ROWS = Number(values.rows);
const RUNS = Number(values.runs);
const ADMIN = values['pg-admin']!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Check {
  rule: string;
  sql: string;
  only?: 'postgres' | 'sqlite';
}

const rebuild = `PRAGMA foreign_keys=OFF;
CREATE TABLE "new_big" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT NOT NULL, "bio" TEXT, "nick" TEXT, "age" TEXT, "price" DECIMAL(10,2) NOT NULL, "score" INTEGER NOT NULL CHECK ("score" < 500000000), "author_id" INTEGER NOT NULL, CONSTRAINT "big_nick_key" UNIQUE ("nick"), CONSTRAINT "big_author_fkey" FOREIGN KEY ("author_id") REFERENCES "parent" ("id"));
INSERT INTO "new_big" ("id", "email", "name", "bio", "nick", "age", "price", "score", "author_id") SELECT "id", "email", "name", "bio", "nick", "age", "price", "score", "author_id" FROM "big";
DROP TABLE "big";
ALTER TABLE "new_big" RENAME TO "big";
PRAGMA foreign_keys=ON;`;

const CHECKS: Check[] = [
  { rule: 'drop-column', sql: 'ALTER TABLE "big" DROP COLUMN "bio";' },
  { rule: 'unique-duplicates', sql: 'CREATE UNIQUE INDEX "big_nick_key" ON "big"("nick");' },
  { rule: 'delete-rows', sql: 'DELETE FROM "big" WHERE "score" % 7 = 0;' },
  { rule: 'update-rows', sql: `UPDATE "big" SET "name" = 'x' WHERE "name" IS NULL;` },
  { rule: 'rename + drop-column', sql: 'ALTER TABLE "big" RENAME COLUMN "bio" TO "about";\nALTER TABLE "big" DROP COLUMN "about";' },
  { rule: 'set-not-null', sql: 'ALTER TABLE "big" ALTER COLUMN "name" SET NOT NULL;', only: 'postgres' },
  { rule: 'fk-orphans', sql: 'ALTER TABLE "big" ADD CONSTRAINT "big_author_fkey" FOREIGN KEY ("author_id") REFERENCES "parent"("id");', only: 'postgres' },
  { rule: 'check-violations', sql: 'ALTER TABLE "big" ADD CONSTRAINT "score_max" CHECK ("score" < 500000000);', only: 'postgres' },
  { rule: 'type-change text -> integer USING', sql: 'ALTER TABLE "big" ALTER COLUMN "age" SET DATA TYPE INTEGER USING ("age"::integer);', only: 'postgres' },
  { rule: 'type-change numeric scale lowered', sql: 'ALTER TABLE "big" ALTER COLUMN "price" SET DATA TYPE DECIMAL(10,1);', only: 'postgres' },
  { rule: 'type-change integer -> smallint', sql: 'ALTER TABLE "big" ALTER COLUMN "score" SET DATA TYPE SMALLINT;', only: 'postgres' },
  { rule: 'type-change text -> varchar(8)', sql: 'ALTER TABLE "big" ALTER COLUMN "email" SET DATA TYPE VARCHAR(8);', only: 'postgres' },
  { rule: 'index-without-concurrently (table size)', sql: 'CREATE INDEX "big_email_idx" ON "big"("email");', only: 'postgres' },
  { rule: 'rebuild: NOT NULL, CHECK, UNIQUE, FOREIGN KEY', sql: rebuild, only: 'sqlite' },
  { rule: 'type-change (rebuild TEXT -> INTEGER)', sql: rebuild.replace('"age" TEXT', '"age" INTEGER').replace(/ CHECK \([^)]*\)/, '').replace(/, CONSTRAINT "big_nick_key"[^;]*\)\);/, ');'), only: 'sqlite' },
];

/** The 1M-row table: nulls, duplicates, bad numbers and orphans spread through it. */
function tableSql(dialect: 'postgres' | 'sqlite'): string {
  const cols = (i: string) => `${i} AS id, 'u' || ${i} || '@example.com' AS email, CASE WHEN ${i} % 5 = 0 THEN NULL ELSE 'name' || ${i} END AS name, CASE WHEN ${i} % 2 = 0 THEN 'bio ' || ${i} END AS bio, CASE WHEN ${i} % 3 = 0 THEN 'nick' || (${i} % 1000) ELSE 'nick' || ${i} END AS nick, CASE WHEN ${i} % 100 = 0 THEN 'n/a' ELSE CAST(${i} % 90 AS TEXT) END AS age, ${i} * 0.25 AS price, ${i} * 1000 AS score, CASE WHEN ${i} % 1000 = 0 THEN ${i} + ${ROWS} ELSE ${i} % ${Math.floor(ROWS / 10)} + 1 END AS author_id`;
  if (dialect === 'postgres') {
    return `CREATE TABLE "big" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT, "bio" TEXT, "nick" TEXT, "age" TEXT, "price" NUMERIC(10,2) NOT NULL, "score" BIGINT NOT NULL, "author_id" INTEGER NOT NULL);
INSERT INTO "big" SELECT ${cols('i')} FROM generate_series(1, ${ROWS}) AS s(i);
CREATE TABLE "parent" ("id" INTEGER NOT NULL PRIMARY KEY);
INSERT INTO "parent" SELECT i FROM generate_series(1, ${Math.floor(ROWS / 10)}) AS s(i);
ANALYZE;`;
  }
  return `CREATE TABLE "big" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT, "bio" TEXT, "nick" TEXT, "age" TEXT, "price" DECIMAL(10,2) NOT NULL, "score" INTEGER NOT NULL, "author_id" INTEGER NOT NULL);
INSERT INTO "big" WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${ROWS}) SELECT ${cols('i')} FROM s;
CREATE TABLE "parent" ("id" INTEGER NOT NULL PRIMARY KEY);
INSERT INTO "parent" WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${Math.floor(ROWS / 10)}) SELECT i FROM s;`;
}

async function makeDatabase(dialect: 'postgres' | 'sqlite', name: string): Promise<{ url: string; exec(sql: string): Promise<void>; drop(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prisma-guard-bench-guard-'));
    const file = path.join(dir, `${name}.db`);
    return {
      url: `file:${file}`,
      exec: async (sql) => {
        const db = new Database(file);
        db.exec(sql);
        db.close();
      },
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const u = new URL(ADMIN);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    exec: async (sql) => {
      const c = new pg.Client({ connectionString: u.toString() });
      await c.connect();
      await c.query(sql);
      await c.end();
    },
    drop: async () => {
      const a = new pg.Client({ connectionString: ADMIN });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}

async function benchChecks(dialect: 'postgres' | 'sqlite'): Promise<string[]> {
  const db = await makeDatabase(dialect, 'prisma_guard_bench_guard');
  const lines: string[] = [];
  try {
    const t0 = Date.now();
    await db.exec(tableSql(dialect));
    console.error(`${dialect}: ${ROWS} rows generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const conn = await connect(parseDatabaseUrl(db.url, PROJECT_ROOT));
    try {
      for (const c of CHECKS.filter((x) => !x.only || x.only === dialect)) {
        const times: number[] = [];
        let summary = '';
        for (let r = 0; r < RUNS; r++) {
          const s = performance.now();
          const findings = await checkRisks(conn, [{ name: 'bench', sql: c.sql }], { largeTableRows: 100_000 });
          times.push(performance.now() - s);
          summary = findings.map((f) => `${f.rule} ${f.severity} ${f.measured ?? '-'}`).join('; ');
        }
        const ms = median(times);
        lines.push(`| ${dialect} | ${c.rule} | ${(ms / 1000).toFixed(2)} s | ${ms <= 2000 ? 'yes' : '**no**'} | ${summary} |`);
        console.error(lines[lines.length - 1]);
      }
    } finally {
      await conn.close();
    }
  } finally {
    await db.drop();
  }
  return lines;
}

async function benchDemo(dialect: 'postgres' | 'sqlite'): Promise<string> {
  const db = await makeDatabase(dialect, 'prisma_guard_bench_guard_demo');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prisma-guard-bench-demo-'));
  try {
    const schema = path.join(dir, 'prisma', 'schema.prisma');
    fs.mkdirSync(path.dirname(schema), { recursive: true });
    fs.copyFileSync(path.join(PROJECT_ROOT, DEMO_SCHEMAS[dialect]), schema);
    fs.cpSync(path.join(path.dirname(path.join(PROJECT_ROOT, DEMO_SCHEMAS[dialect])), 'migrations'), path.join(dir, 'prisma', 'migrations'), { recursive: true });
    const env = { DATABASE_URL: db.url, PRISMA_GUARD_SCHEMA: schema };
    const deploy = await runPrisma(['migrate', 'deploy'], { cwd: PROJECT_ROOT, env });
    if (deploy.code !== 0) throw new Error(deploy.stdout + deploy.stderr);
    await seed(db.url);
    fs.mkdirSync(path.join(dir, 'prisma', 'migrations', '20260101000000_risky'));
    fs.writeFileSync(
      path.join(dir, 'prisma', 'migrations', '20260101000000_risky', 'migration.sql'),
      'ALTER TABLE "users" RENAME COLUMN "bio" TO "about";\nALTER TABLE "users" DROP COLUMN "about";\nDELETE FROM "comments" WHERE "id" % 3 = 0;\nCREATE UNIQUE INDEX "users_name_key" ON "users"("name");\n',
    );
    // migrate-safe reports how long its own `prisma validate` took (result.timings): the rest is
    // everything else (Node start-up, config, connection, lock, schema, risk check), from the same run.
    const wall: number[] = [];
    const validate: number[] = [];
    const check: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const s = performance.now();
      const d = await runCli(['migrate-safe', '--dry-run', '--json', '--backup-dir', path.join(dir, 'backups')], env);
      wall.push(performance.now() - s);
      if (d.code !== 0) throw new Error(d.stdout + d.stderr);
      const result = JSON.parse(d.stdout) as { timings: { validateMs: number; riskCheckMs: number } };
      validate.push(result.timings.validateMs);
      check.push(result.timings.riskCheckMs);
    }
    const rest = wall.map((w, i) => w - validate[i]);
    const [t, v, x, c] = [median(wall), median(validate), median(rest), median(check)];
    return `| ${dialect} | ${(t / 1000).toFixed(2)} s | ${(v / 1000).toFixed(2)} s | ${(x / 1000).toFixed(2)} s | ${(c / 1000).toFixed(3)} s | ${x <= 1000 ? 'yes' : '**no**'} |`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await db.drop();
  }
}

// The demo dry run runs the compiled CLI: rebuild dist/ first when a source changed (outside the timing).
if (!values['no-demo'] && spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin/build.mjs'), '--if-stale'], { stdio: 'inherit' }).status !== 0) throw new Error('build failed');
const dialects = values.dialects!.split(',') as ('postgres' | 'sqlite')[];
const out = [`Risk checks on a ${ROWS.toLocaleString('en')}-row table (median of ${RUNS}; ${os.cpus().length} cores):`, '', '| database | rule | time | <= 2 s | findings (rule severity measured) |', '|---|---|---|---|---|'];
for (const d of dialects) out.push(...(await benchChecks(d)));
if (!values['no-demo']) {
  out.push('', `The dry run on the seeded demo with one risky migration (median of ${RUNS}):`, '', '| database | migrate-safe --dry-run (wall) | its prisma validate | the rest | of which the risk check | rest <= 1 s |', '|---|---|---|---|---|---|');
  for (const d of dialects) out.push(await benchDemo(d));
}
console.log(out.join('\n'));
