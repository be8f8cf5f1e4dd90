/**
 * Deterministic benchmark dataset with a scale factor, for PostgreSQL and SQLite.
 *
 * Scale 1 is the reference dataset: a Prisma-style schema with quoted CamelCase tables
 *   User (100k), Post (300k, ~500-char body), Comment (1M, bigserial id, ~200-char body),
 *   Tag (1k), and the implicit many-to-many table _PostToTag (600k links)
 * i.e. about 2M rows. Rows are generated inside the database (generate_series on PostgreSQL, a
 * recursive CTE on SQLite) from a fixed vocabulary, so the same scale always gives the same bytes
 * and text compresses like prose (not like repeated filler).
 *
 *   tsx bench/dataset.ts --url postgresql://postgres@127.0.0.1:5432/bench --scale 0.1
 *   tsx bench/dataset.ts --url file:/tmp/bench.db --scale 0.1
 */
import Database from 'better-sqlite3';
import { existsSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseDatabaseUrl } from '../lib/core/url.ts';
import { seededRandom } from '../lib/core/random.ts';

export interface DatasetCounts {
  users: number;
  posts: number;
  comments: number;
  tags: number;
  /** Rows of _PostToTag: two tags per post. */
  links: number;
}

/** Row counts at a scale (scale 1 = the reference dataset). */
export function datasetCounts(scale: number): DatasetCounts {
  if (!(scale > 0)) throw new Error(`scale must be > 0, not ${scale}`);
  const n = (base: number, min: number) => Math.max(min, Math.round(base * scale));
  const posts = n(300_000, 10);
  return { users: n(100_000, 5), posts, comments: n(1_000_000, 20), tags: n(1_000, 5), links: 2 * posts };
}

export function totalRows(c: DatasetCounts): number {
  return c.users + c.posts + c.comments + c.tags + c.links;
}

/** Number of distinct sentences texts are built from (a power of two keeps the SQL simple). */
const SENTENCES = 4096;

// prettier-ignore
const WORDS = ('the of and to in is was for on that with as by at from his her it an were are which this be have had not but one they their all ' +
  'there been has when who more will would no out so said what up its about into than them can only other new some could time these two may ' +
  'then first any like now my such make over our even most made after also did many before must through back years where much your way well down ' +
  'should because each just those people how too little state good very world still own see men work long here get both between life being under ' +
  'never day same another know while last might us great old year off come since against go came right used take three database backup restore ' +
  'schema migration table column index query transaction snapshot checksum stream compress verify server client release deploy rollback commit ' +
  'prisma postgres sqlite record user post comment author title body tag price views published profile email name created updated value memory ' +
  'latency throughput replica primary foreign unique constraint sequence trigger journal page buffer cache vacuum analyze planner cost estimate ' +
  'morning evening garden river mountain window kitchen letter music story picture country village market station harbour forest winter summer ' +
  'quickly slowly carefully quietly happily rarely often always sometimes yesterday tomorrow together alone nearly almost perhaps certainly').split(' ');

/** 32-bit multiplicative hash of a row number, in SQL (64-bit integer arithmetic on both dialects). */
const hSql = (expr: string) => `((${expr}) * 2654435761 % 4294967296)`;

/** The fixed sentences (about 100 characters each) that bodies and titles are cut from. */
export function sentences(): string[] {
  const rnd = seededRandom(20261123);
  const out: string[] = [];
  for (let k = 0; k < SENTENCES; k++) {
    const len = 12 + Math.floor(rnd() * 6);
    const words: string[] = [];
    for (let j = 0; j < len; j++) words.push(WORDS[Math.floor(rnd() * WORDS.length)]);
    const s = words.join(' ');
    out.push(s[0].toUpperCase() + s.slice(1) + '.');
  }
  return out;
}

/** Statements creating the schema (as `prisma migrate` would), without the secondary indexes and foreign keys. */
export const POSTGRES_TABLES = [
  `CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, "name" TEXT, "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "profile" JSONB, CONSTRAINT "User_pkey" PRIMARY KEY ("id"))`,
  `CREATE TABLE "Post" ("id" SERIAL NOT NULL, "authorId" INTEGER NOT NULL, "title" TEXT NOT NULL, "body" TEXT NOT NULL, "published" BOOLEAN NOT NULL DEFAULT false, "views" INTEGER NOT NULL DEFAULT 0, "price" DECIMAL(10,2), "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"))`,
  `CREATE TABLE "Comment" ("id" BIGSERIAL NOT NULL, "postId" INTEGER NOT NULL, "authorId" INTEGER NOT NULL, "body" TEXT NOT NULL, "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT "Comment_pkey" PRIMARY KEY ("id"))`,
  `CREATE TABLE "Tag" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, CONSTRAINT "Tag_pkey" PRIMARY KEY ("id"))`,
  `CREATE TABLE "_PostToTag" ("A" INTEGER NOT NULL, "B" INTEGER NOT NULL, CONSTRAINT "_PostToTag_AB_pkey" PRIMARY KEY ("A","B"))`,
];

export const POSTGRES_CONSTRAINTS = [
  `CREATE UNIQUE INDEX "User_email_key" ON "User"("email")`,
  `CREATE INDEX "Post_authorId_idx" ON "Post"("authorId")`,
  `CREATE INDEX "Comment_postId_idx" ON "Comment"("postId")`,
  `CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name")`,
  `CREATE INDEX "_PostToTag_B_index" ON "_PostToTag"("B")`,
  `ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE`,
  `ALTER TABLE "Comment" ADD CONSTRAINT "Comment_postId_fkey" FOREIGN KEY ("postId") REFERENCES "Post"("id") ON DELETE RESTRICT ON UPDATE CASCADE`,
  `ALTER TABLE "Comment" ADD CONSTRAINT "Comment_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE`,
  `ALTER TABLE "_PostToTag" ADD CONSTRAINT "_PostToTag_A_fkey" FOREIGN KEY ("A") REFERENCES "Post"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
  `ALTER TABLE "_PostToTag" ADD CONSTRAINT "_PostToTag_B_fkey" FOREIGN KEY ("B") REFERENCES "Tag"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
];

export const SQLITE_SCHEMA = [
  `CREATE TABLE "User" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "email" TEXT NOT NULL, "name" TEXT, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "profile" JSONB)`,
  `CREATE TABLE "Post" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "authorId" INTEGER NOT NULL, "title" TEXT NOT NULL, "body" TEXT NOT NULL, "published" BOOLEAN NOT NULL DEFAULT false, "views" INTEGER NOT NULL DEFAULT 0, "price" DECIMAL, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE)`,
  `CREATE TABLE "Comment" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "postId" INTEGER NOT NULL, "authorId" INTEGER NOT NULL, "body" TEXT NOT NULL, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT "Comment_postId_fkey" FOREIGN KEY ("postId") REFERENCES "Post" ("id") ON DELETE RESTRICT ON UPDATE CASCADE, CONSTRAINT "Comment_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE)`,
  `CREATE TABLE "Tag" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "name" TEXT NOT NULL)`,
  `CREATE TABLE "_PostToTag" ("A" INTEGER NOT NULL, "B" INTEGER NOT NULL, CONSTRAINT "_PostToTag_A_fkey" FOREIGN KEY ("A") REFERENCES "Post" ("id") ON DELETE CASCADE ON UPDATE CASCADE, CONSTRAINT "_PostToTag_B_fkey" FOREIGN KEY ("B") REFERENCES "Tag" ("id") ON DELETE CASCADE ON UPDATE CASCADE)`,
];

export const SQLITE_INDEXES = [
  `CREATE UNIQUE INDEX "User_email_key" ON "User"("email")`,
  `CREATE INDEX "Post_authorId_idx" ON "Post"("authorId")`,
  `CREATE INDEX "Comment_postId_idx" ON "Comment"("postId")`,
  `CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name")`,
  `CREATE UNIQUE INDEX "_PostToTag_AB_unique" ON "_PostToTag"("A", "B")`,
  `CREATE INDEX "_PostToTag_B_index" ON "_PostToTag"("B")`,
];

/**
 * The INSERT ... SELECT statements, shared by both dialects. `series(n)` is the dialect's row source
 * yielding column `i` = 1..n; `ts(ms)` turns milliseconds after 2024-01-01 into the dialect's DateTime.
 */
function insertStatements(c: DatasetCounts, d: { series: (n: number) => string; ts: (msExpr: string) => string; json: (expr: string) => string; price: (expr: string) => string; bool: (expr: string) => string; concat: (parts: string[]) => string }): string[] {
  const S = `bench_sentence`;
  const sent = (alias: string, expr: string) => `JOIN ${S} ${alias} ON ${alias}.k = ${hSql(expr)} % ${SENTENCES}`;
  return [
    `INSERT INTO "Tag" ("id", "name") SELECT i, ${d.concat([`'tag-'`, 'i', `'-'`, `substr(s.t, 1, 12)`])} FROM ${d.series(c.tags)} ${sent('s', 'i')}`,
    `INSERT INTO "User" ("id", "email", "name", "createdAt", "profile")
       SELECT i, ${d.concat([`'user'`, 'i', `'@example.com'`])}, substr(s1.t, 1, 24), ${d.ts(`i * 60000 + ${hSql('i')} % 1000`)},
              ${d.json(d.concat([`'{"bio":"'`, 's2.t', `'","age":'`, `(18 + ${hSql('i + 1')} % 60)`, `',"newsletter":'`, `(CASE WHEN ${hSql('i + 2')} % 2 = 0 THEN 'true' ELSE 'false' END)`, `',"theme":"'`, `(CASE WHEN ${hSql('i + 3')} % 3 = 0 THEN 'dark' ELSE 'light' END)`, `'"}'`]))}
         FROM ${d.series(c.users)} ${sent('s1', 'i * 3')} ${sent('s2', 'i * 3 + 1')}`,
    `INSERT INTO "Post" ("id", "authorId", "title", "body", "published", "views", "price", "createdAt")
       SELECT i, 1 + ${hSql('i + 11')} % ${c.users}, substr(s1.t, 1, 60), ${d.concat(['s1.t', `' '`, 's2.t', `' '`, 's3.t', `' '`, 's4.t', `' '`, 's5.t'])},
              ${d.bool(`${hSql('i + 5')} % 3 <> 0`)}, ${hSql('i + 7')} % 100000, ${d.price(`${hSql('i + 9')} % 1000000`)}, ${d.ts(`i * 1000 + ${hSql('i + 13')} % 1000`)}
         FROM ${d.series(c.posts)} ${sent('s1', 'i * 5')} ${sent('s2', 'i * 5 + 1')} ${sent('s3', 'i * 5 + 2')} ${sent('s4', 'i * 5 + 3')} ${sent('s5', 'i * 5 + 4')}`,
    `INSERT INTO "Comment" ("id", "postId", "authorId", "body", "createdAt")
       SELECT i, 1 + ${hSql('i + 17')} % ${c.posts}, 1 + ${hSql('i + 19')} % ${c.users}, ${d.concat(['s1.t', `' '`, 's2.t'])}, ${d.ts(`i * 300 + ${hSql('i + 23')} % 300`)}
         FROM ${d.series(c.comments)} ${sent('s1', 'i * 2')} ${sent('s2', 'i * 2 + 1')}`,
    // Two distinct tags per post: the second is offset by a non-multiple of the tag count.
    `INSERT INTO "_PostToTag" ("A", "B") SELECT i, 1 + (i * 7) % ${c.tags} FROM ${d.series(c.posts)}`,
    `INSERT INTO "_PostToTag" ("A", "B") SELECT i, 1 + (i * 7 + ${c.tags > 131 ? 131 : Math.max(1, Math.floor(c.tags / 2))}) % ${c.tags} FROM ${d.series(c.posts)}`,
  ];
}

export interface GenerateOptions {
  /** Create the tables (with all indexes and foreign keys) but insert no rows. */
  schemaOnly?: boolean;
  log?: (line: string) => void;
}

/** Where Postgres `url` points, minus Prisma's `?schema=`. */
function pgUrl(url: string): string {
  const u = new URL(url);
  u.searchParams.delete('schema');
  return u.toString();
}

/**
 * (Re)creates the dataset in the PostgreSQL database at `url` (schema public), replacing the
 * tables if they exist. Rows are generated server-side; indexes and foreign keys are added after
 * the data, then VACUUM (FREEZE, ANALYZE) so every reader meets the same settled pages.
 */
export async function generatePostgres(url: string, scale: number, options: GenerateOptions = {}): Promise<DatasetCounts> {
  const c = datasetCounts(scale);
  const log = options.log ?? (() => {});
  const client = new pg.Client({ connectionString: pgUrl(url) });
  await client.connect();
  try {
    await client.query(`SET client_min_messages = warning`);
    await client.query(`DROP TABLE IF EXISTS "_PostToTag", "Comment", "Post", "Tag", "User", bench_sentence CASCADE`);
    for (const s of POSTGRES_TABLES) await client.query(s);
    if (!options.schemaOnly) {
      await client.query(`CREATE TEMP TABLE bench_sentence (k int PRIMARY KEY, t text NOT NULL)`);
      const all = sentences();
      await client.query(`INSERT INTO bench_sentence (k, t) SELECT * FROM unnest($1::int[], $2::text[])`, [all.map((_, k) => k), all]);
      await client.query('ANALYZE bench_sentence');
      const statements = insertStatements(c, {
        series: (n) => `generate_series(1::bigint, ${n}) AS g(i)`,
        ts: (ms) => `(TIMESTAMP '2024-01-01 00:00:00' + ((${ms})::bigint) * INTERVAL '1 millisecond')`,
        json: (e) => `(${e})::jsonb`,
        price: (e) => `((${e}) / 100.0)::numeric(10,2)`,
        bool: (e) => `(${e})`,
        concat: (parts) => `(${parts.map((p) => `(${p})::text`).join(' || ')})`,
      });
      for (const s of statements) {
        const t0 = Date.now();
        await client.query(s);
        log(`  ${s.slice(0, 40).replace(/\s+/g, ' ')}... ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
    for (const s of POSTGRES_CONSTRAINTS) await client.query(s);
    // Sequences continue after the generated ids, as they would in a real database.
    for (const t of ['User', 'Post', 'Comment', 'Tag']) {
      await client.query(`SELECT setval(pg_get_serial_sequence('"${t}"', 'id'), COALESCE((SELECT max(id) FROM "${t}"), 0) + 1, false)`);
    }
    if (!options.schemaOnly) {
      const t0 = Date.now();
      await client.query('VACUUM (FREEZE, ANALYZE)');
      log(`  VACUUM (FREEZE, ANALYZE) ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await client.end();
  }
  return c;
}

/** (Re)creates the dataset as a new SQLite file (WAL off: the file is the whole database). */
export function generateSqlite(file: string, scale: number, options: GenerateOptions = {}): DatasetCounts {
  const c = datasetCounts(scale);
  const log = options.log ?? (() => {});
  for (const suffix of ['', '-journal', '-wal', '-shm']) if (existsSync(file + suffix)) rmSync(file + suffix);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = DELETE');
    db.pragma('synchronous = OFF');
    db.exec('BEGIN');
    for (const s of SQLITE_SCHEMA) db.exec(s);
    if (!options.schemaOnly) {
      db.exec(`CREATE TEMP TABLE bench_sentence (k INTEGER PRIMARY KEY, t TEXT NOT NULL)`);
      const ins = db.prepare('INSERT INTO bench_sentence (k, t) VALUES (?, ?)');
      sentences().forEach((t, k) => ins.run(k, t));
      const statements = insertStatements(c, {
        series: (n) => `(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ${n}) SELECT i FROM g) AS g`,
        // Prisma stores SQLite DateTime as milliseconds since the epoch.
        ts: (ms) => `(1704067200000 + (${ms}))`,
        json: (e) => e,
        price: (e) => `round((${e}) / 100.0, 2)`,
        bool: (e) => `(CASE WHEN ${e} THEN 1 ELSE 0 END)`,
        concat: (parts) => `(${parts.join(' || ')})`,
      });
      for (const s of statements) {
        const t0 = Date.now();
        db.exec(s);
        log(`  ${s.slice(0, 40).replace(/\s+/g, ' ')}... ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      db.exec('DROP TABLE temp.bench_sentence');
    }
    for (const s of SQLITE_INDEXES) db.exec(s);
    // No ANALYZE: its sqlite_stat tables would make `sqlite3 .dump` output that sqlite3 cannot load back.
    db.exec('COMMIT');
  } finally {
    db.close();
  }
  return c;
}

/** Creates the dataset at `url` (a postgresql:// or file: URL). */
export async function generate(url: string, scale: number, options: GenerateOptions = {}): Promise<DatasetCounts> {
  const target = parseDatabaseUrl(url);
  if (target.dialect === 'sqlite') return generateSqlite(target.file!, scale, options);
  return generatePostgres(url, scale, options);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' }, scale: { type: 'string', default: '1' }, 'schema-only': { type: 'boolean' } } });
  if (!values.url) throw new Error('usage: tsx bench/dataset.ts --url URL [--scale 1] [--schema-only]');
  const scale = Number(values.scale);
  const t0 = Date.now();
  const c = await generate(values.url, scale, { schemaOnly: values['schema-only'], log: (l) => process.stderr.write(l + '\n') });
  process.stderr.write(`scale ${scale}: ${totalRows(c).toLocaleString('en-GB')} rows ${JSON.stringify(c)} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((e) => {
    process.stderr.write(String(e?.stack ?? e) + '\n');
    process.exitCode = 1;
  });
}
