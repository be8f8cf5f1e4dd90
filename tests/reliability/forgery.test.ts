import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ColumnSchema, TableSchema } from '../../lib/core/types.ts';
import type { BackupHeader } from '../../lib/format/header.ts';
import { manifestFileName } from '../../lib/format/naming.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { generate } from '../../bench/dataset.ts';
import { dialectFor } from '../../lib/dialects/index.ts';
import { classifyPostgresStatement } from '../../lib/dialects/postgres/postgres-ddl-check.ts';
import { classifySqliteStatement } from '../../lib/dialects/sqlite/sqlite-ddl-check.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { ROOT } from '../helpers/cli.ts';
import { demoDatabase, DIALECTS, freshDatabase, type FreshDatabase, type TestDialect } from '../helpers/db.ts';
import { cli, fingerprint } from './helpers.ts';
import { forge } from '../helpers/forge.ts';

/**
 * Promise (issue 12): a backup is untrusted input. A file edited by hand, with every checksum
 * recomputed and the manifest dropped, is reported by `verify` as unsafe (exit 3,
 * BACKUP_UNSAFE_SQL, naming the statement and the refused class) when its SQL is anything but the
 * schema DDL backups store, and `restore --mode full --yes` refuses it (exit 3) before anything
 * changes: no safety backup, the database unchanged (an independent fingerprint), and the
 * program of a COPY ... TO PROGRAM never ran.
 *
 * Each forgery starts from a real backup of the demo database, decompresses it, edits the
 * header's ddl / postDdl / default / definition fields, recomputes every table checksum and the
 * trailer, and recompresses it, as a deliberate attacker would.
 */

interface Forgery {
  /** The refused class the message must name. */
  refused: RegExp;
  what: string;
  edit(h: BackupHeader, marker: string): void;
  /** A file the forged SQL would create if it ran (checked not to exist). */
  marker?: boolean;
  /** Keep a forged manifest that claims a successful verification of exactly these bytes. */
  forgedManifest?: boolean;
}

const firstTable = (h: BackupHeader) => h.schema.ddl.findIndex((s) => /^CREATE TABLE/i.test(s));
const tableNamed = (h: BackupHeader, name: string) => h.schema.tables.find((t) => t.name === name)!;

const POSTGRES_FORGERIES: Forgery[] = [
  { what: 'COPY ... TO PROGRAM in postDdl (the attack of issue 12)', refused: /COPY/, marker: true, edit: (h, m) => h.schema.postDdl.push(`COPY (SELECT 'owned') TO PROGRAM 'id > ${m}'`) },
  { what: 'COPY ... TO PROGRAM with a forged manifest that claims verification', refused: /COPY/, marker: true, forgedManifest: true, edit: (h, m) => h.schema.ddl.unshift(`COPY (SELECT 'owned') TO PROGRAM 'id > ${m}'`) },
  { what: 'COPY FROM a server file', refused: /COPY/, edit: (h) => h.schema.postDdl.push(`COPY "public"."users" FROM '/etc/passwd'`) },
  { what: 'a second statement after a real CREATE TABLE', refused: /more than one statement/, marker: true, edit: (h, m) => (h.schema.ddl[firstTable(h)] += `; COPY (SELECT 1) TO PROGRAM 'id > ${m}'`) },
  { what: 'a second statement after a dollar-quoted default holding a semicolon', refused: /more than one statement/, marker: true, edit: (h, m) => (h.schema.ddl[firstTable(h)] = h.schema.ddl[firstTable(h)].replace(/\)$/, `, "x" text DEFAULT $q$;$q$); COPY (SELECT 1) TO PROGRAM 'id > ${m}'`)) },
  { what: 'a server file function in a column default (ddl and header field)', refused: /pg_read_file/, edit: (h) => {
    h.schema.ddl[firstTable(h)] = h.schema.ddl[firstTable(h)].replace(/\)$/, `, "leak" text DEFAULT pg_read_file('/etc/passwd'))`);
  } },
  { what: 'a server file function in a column default field only', refused: /pg_read_binary_file/, edit: (h) => (tableNamed(h, 'users').columns[1].default = `pg_catalog.pg_read_binary_file('/etc/passwd')`) },
  { what: 'lo_import in a CHECK constraint', refused: /lo_import/, edit: (h) => h.schema.postDdl.push(`ALTER TABLE "public"."users" ADD CONSTRAINT "users_forged_check" CHECK (lo_import('/etc/passwd') > 0)`) },
  { what: 'dblink in an index expression (postDdl and the index definition)', refused: /dblink/, edit: (h) => {
    const t = tableNamed(h, 'users');
    const stmt = `CREATE INDEX "users_forged_idx" ON public."users" USING btree ((dblink_exec('host=127.0.0.1', 'DROP TABLE x')))`;
    t.indexes.push({ name: 'users_forged_idx', columns: ['<expr>'], unique: false, definition: stmt });
    h.schema.postDdl.push(stmt);
  } },
  { what: 'pg_ls_dir in a view body', refused: /pg_ls_dir/, edit: (h) => h.schema.postDdl.push(`CREATE VIEW "public"."forged" AS SELECT pg_ls_dir('/') AS f`) },
  { what: 'a view exposing pg_authid', refused: /pg_authid/, edit: (h) => h.schema.postDdl.push(`CREATE VIEW "public"."forged" AS SELECT rolname, rolpassword FROM pg_catalog.pg_authid`) },
  { what: 'ALTER SYSTEM', refused: /ALTER SYSTEM/, edit: (h) => h.schema.ddl.unshift(`ALTER SYSTEM SET log_statement = 'none'`) },
  { what: 'CREATE ROLE', refused: /CREATE ROLE/, edit: (h) => h.schema.ddl.unshift(`CREATE ROLE forged_admin SUPERUSER LOGIN PASSWORD 'x'`) },
  { what: 'ALTER USER', refused: /ALTER USER/, edit: (h) => h.schema.postDdl.push(`ALTER USER postgres PASSWORD 'forged'`) },
  { what: 'GRANT of a role', refused: /GRANT/, edit: (h) => h.schema.postDdl.push(`GRANT pg_execute_server_program TO PUBLIC`) },
  { what: 'REVOKE', refused: /REVOKE/, edit: (h) => h.schema.postDdl.push(`REVOKE ALL ON SCHEMA public FROM PUBLIC`) },
  { what: 'a DO block', refused: /^DO$/, edit: (h) => h.schema.ddl.unshift(`DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''true'''; END $$`) },
  { what: 'CREATE FUNCTION', refused: /CREATE FUNCTION/, edit: (h) => h.schema.ddl.unshift(`CREATE FUNCTION public.forged() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$`) },
  { what: 'CREATE PROCEDURE', refused: /CREATE PROCEDURE/, edit: (h) => h.schema.ddl.unshift(`CREATE PROCEDURE public.forged() LANGUAGE sql AS $$ SELECT 1 $$`) },
  { what: 'CREATE RULE', refused: /CREATE RULE/, edit: (h) => h.schema.postDdl.push(`CREATE RULE forged AS ON INSERT TO public."users" DO INSTEAD NOTHING`) },
  { what: 'CREATE EXTENSION', refused: /CREATE EXTENSION/, edit: (h) => h.schema.ddl.unshift(`CREATE EXTENSION IF NOT EXISTS dblink`) },
  { what: 'CREATE EVENT TRIGGER', refused: /CREATE EVENT TRIGGER/, edit: (h) => h.schema.postDdl.push(`CREATE EVENT TRIGGER forged ON ddl_command_start EXECUTE FUNCTION public.f()`) },
  { what: 'CREATE TRIGGER calling a large-object function', refused: /lo_manage/, edit: (h) => h.schema.postDdl.push(`CREATE TRIGGER forged BEFORE UPDATE ON public."users" FOR EACH ROW EXECUTE FUNCTION lo_manage('x')`) },
  { what: 'SET', refused: /^SET$/, edit: (h) => h.schema.ddl.unshift(`SET session_replication_role = replica`) },
  { what: 'RESET', refused: /RESET/, edit: (h) => h.schema.ddl.unshift(`RESET ALL`) },
  { what: 'SELECT setval in the ddl', refused: /SELECT/, edit: (h) => h.schema.postDdl.push(`SELECT setval('public."users_id_seq"', 1)`) },
  { what: 'a CREATE TABLE of a table the header does not list', refused: /CREATE TABLE/, edit: (h) => h.schema.ddl.push(`CREATE TABLE "public"."Forged" ("id" integer NOT NULL)`) },
  { what: 'a CREATE TABLE in another schema', refused: /CREATE TABLE/, edit: (h) => (h.schema.ddl[firstTable(h)] = h.schema.ddl[firstTable(h)].replace('"public".', '"pg_catalog".')) },
  { what: 'an unrecognised statement', refused: /unrecognised statement/, edit: (h) => h.schema.postDdl.push(`CHECKPOINTX`) },
];

const SQLITE_FORGERIES: Forgery[] = [
  { what: 'an extra CREATE TABLE the header does not list (the attack of issue 12)', refused: /CREATE TABLE/, edit: (h) => h.schema.ddl.push(`CREATE TABLE "Forged" ("id" INTEGER NOT NULL PRIMARY KEY)`) },
  { what: 'an extra CREATE TABLE with a forged manifest that claims verification', refused: /CREATE TABLE/, forgedManifest: true, edit: (h) => h.schema.ddl.push(`CREATE TABLE "Forged" ("id" INTEGER NOT NULL PRIMARY KEY)`) },
  { what: 'ATTACH of another file', refused: /ATTACH/, marker: true, edit: (h, m) => h.schema.ddl.unshift(`ATTACH DATABASE '${m}' AS forged`) },
  { what: 'VACUUM INTO a file', refused: /VACUUM/, marker: true, edit: (h, m) => h.schema.postDdl.push(`VACUUM INTO '${m}'`) },
  { what: 'a second statement after a real CREATE TABLE', refused: /more than one statement/, marker: true, edit: (h, m) => (h.schema.ddl[0] += `; ATTACH DATABASE '${m}' AS forged`) },
  { what: 'a statement after the END of a real-looking trigger', refused: /more than one statement/, marker: true, edit: (h, m) => h.schema.postDdl.push(`CREATE TRIGGER "forged" AFTER INSERT ON "users" BEGIN SELECT 1; END; ATTACH DATABASE '${m}' AS forged`) },
  { what: 'PRAGMA', refused: /PRAGMA/, edit: (h) => h.schema.ddl.unshift(`PRAGMA writable_schema = ON`) },
  { what: 'load_extension in a view', refused: /load_extension/, edit: (h) => h.schema.postDdl.push(`CREATE VIEW "forged" AS SELECT load_extension('/tmp/evil.so') AS x`) },
  { what: 'writefile in a column default (ddl and header field)', refused: /writefile/, marker: true, edit: (h, m) => {
    h.schema.ddl[0] = h.schema.ddl[0].replace(/\)\s*$/, `, "x" TEXT DEFAULT (writefile('${m}', 'owned')))`);
  } },
  { what: 'readfile in a column default field only', refused: /readfile/, edit: (h) => (tableNamed(h, 'users').columns[1].default = `readfile('/etc/passwd')`) },
  { what: 'an INSERT', refused: /INSERT/, edit: (h) => h.schema.postDdl.push(`INSERT INTO "users" ("email", "name") VALUES ('forged@x', 'forged')`) },
  { what: 'a DROP', refused: /DROP/, edit: (h) => h.schema.postDdl.push(`DROP TABLE "posts"`) },
  { what: 'CREATE TABLE ... AS SELECT', refused: /CREATE TABLE/, edit: (h) => (h.schema.ddl[0] = h.schema.ddl[0].replace(/\(.*$/s, 'AS SELECT 1 AS id')) },
  { what: 'an index the header does not list', refused: /CREATE INDEX/, edit: (h) => h.schema.postDdl.push(`CREATE INDEX "forged_idx" ON "users" ("name")`) },
];

/**
 * The same attacks on DDL written by pg_dump (schema.ddlSource = 'pg_dump'), which the check judges
 * by statement class and object (postgres-dump-ddl-check.ts). `gated`: the check lets the statement
 * through (pg_dump writes such statements) and the trust rule refuses it: code from a backup no
 * trusted key signed is created only with --allow-code (exit 13 BACKUP_CODE_UNTRUSTED).
 */
const firstDumpTable = (h: BackupHeader) => h.schema.ddl.findIndex((s) => /^CREATE TABLE public\./.test(s));
const PG_DUMP_FORGERIES: (Forgery & { gated?: boolean })[] = [
  { what: 'COPY ... TO PROGRAM', refused: /unrecognised statement \(COPY/, marker: true, edit: (h, m) => h.schema.ddl.unshift(`COPY (SELECT 'owned') TO PROGRAM 'id > ${m}'`) },
  { what: 'COPY ... TO PROGRAM with a forged manifest that claims verification', refused: /COPY/, marker: true, forgedManifest: true, edit: (h, m) => h.schema.postDdl.push(`COPY (SELECT 'owned') TO PROGRAM 'id > ${m}'`) },
  { what: 'a second statement after a real CREATE TABLE', refused: /more than one statement/, marker: true, edit: (h, m) => (h.schema.ddl[firstDumpTable(h)] += `; COPY (SELECT 1) TO PROGRAM 'id > ${m}'`) },
  { what: 'a server file function in a column default', refused: /pg_read_file/, edit: (h) => (h.schema.ddl[firstDumpTable(h)] = h.schema.ddl[firstDumpTable(h)].replace(/\n\)$/, `,\n    leak text DEFAULT pg_read_file('/etc/passwd')\n)`)) },
  { what: 'a view reading pg_authid', refused: /pg_authid/, edit: (h) => h.schema.postDdl.push(`CREATE VIEW public.pw AS SELECT rolpassword FROM pg_catalog.pg_authid`) },
  { what: 'ALTER SYSTEM', refused: /ALTER SYSTEM/, edit: (h) => h.schema.ddl.unshift(`ALTER SYSTEM SET log_statement = 'none'`) },
  { what: 'CREATE ROLE', refused: /CREATE ROLE/, edit: (h) => h.schema.ddl.unshift(`CREATE ROLE forged_admin SUPERUSER LOGIN PASSWORD 'x'`) },
  { what: 'GRANT of a role', refused: /GRANT/, edit: (h) => h.schema.postDdl.push(`GRANT pg_execute_server_program TO PUBLIC`) },
  { what: 'GRANT on another schema', refused: /GRANT/, edit: (h) => h.schema.postDdl.push(`GRANT ALL ON TABLE other.secrets TO PUBLIC`) },
  { what: 'a DO block', refused: /unrecognised statement \(DO/, edit: (h) => h.schema.ddl.unshift(`DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''true'''; END $$`) },
  { what: 'SET', refused: /unrecognised statement \(SET/, edit: (h) => h.schema.ddl.unshift(`SET session_replication_role = replica`) },
  { what: 'SELECT setval', refused: /unrecognised statement \(SELECT/, edit: (h) => h.schema.postDdl.push(`SELECT setval('public.users_id_seq', 1)`) },
  { what: 'CREATE TABLE in another schema', refused: /CREATE TABLE/, edit: (h) => h.schema.ddl.push(`CREATE TABLE pg_catalog.forged (id integer)`) },
  { what: 'ALTER TABLE of another schema', refused: /ALTER TABLE/, edit: (h) => h.schema.postDdl.push(`ALTER TABLE ONLY other.t ADD CONSTRAINT c CHECK (true)`) },
  { what: 'a function in C (loads a shared library)', refused: /LANGUAGE c/, edit: (h) => h.schema.ddl.push(`CREATE FUNCTION public.forged() RETURNS integer LANGUAGE c AS '/tmp/forged.so', 'forged'`) },
  { what: 'an event trigger', refused: /EVENT TRIGGER/, edit: (h) => h.schema.postDdl.push(`CREATE EVENT TRIGGER forged ON ddl_command_start EXECUTE FUNCTION public.f()`) },
  { what: 'CREATE EXTENSION dblink', refused: /./, gated: true, edit: (h) => h.schema.ddl.splice(1, 0, `CREATE EXTENSION IF NOT EXISTS dblink WITH SCHEMA public`) },
  { what: 'a plpgsql function whose body runs a program, called by a CHECK', refused: /./, gated: true, marker: true, edit: (h, m) => {
    h.schema.ddl.push(`CREATE FUNCTION public.forged() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id > ${m}'''; RETURN true; END $$`);
    h.schema.postDdl.push(`ALTER TABLE ONLY public.users ADD CONSTRAINT forged CHECK (public.forged())`);
  } },
];

const FLAVORS: { dialect: TestDialect; ddl: 'introspector' | 'pg_dump' }[] = [
  { dialect: 'sqlite', ddl: 'introspector' },
  { dialect: 'postgres', ddl: 'introspector' },
  { dialect: 'postgres', ddl: 'pg_dump' },
];

for (const { dialect, ddl } of FLAVORS) {
  describe(`forged backup SQL on ${dialect} (${ddl} DDL)`, () => {
    let db: FreshDatabase;
    let dir: string;
    let env: Record<string, string>;
    let goodFile: string;
    let good: Buffer;
    let goodManifest: Record<string, unknown>;
    const forgeries: (Forgery & { gated?: boolean })[] = dialect === 'sqlite' ? SQLITE_FORGERIES : ddl === 'pg_dump' ? PG_DUMP_FORGERIES : POSTGRES_FORGERIES;

    beforeAll(async () => {
      db = await demoDatabase(dialect as TestDialect, { users: 20 });
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-forgery-'));
      env = { DATABASE_URL: db.url, BACKUP_DIR: dir };
      const b = await backup(resolveContext({ url: db.url, backupDir: dir, env: ddl === 'introspector' ? { BACKUP_PG_DUMP: 'off' } : {} }), { reason: 'genuine' });
      expect(b.manifest.file).toMatch(/genuine/);
      const header = JSON.parse(zlib.gunzipSync(readFileSync(b.path)).toString('utf8').split('\n', 1)[0]) as BackupHeader;
      if (dialect === 'postgres') expect(header.schema.ddlSource).toBe(ddl);
      goodFile = b.manifest.file;
      good = readFileSync(b.path);
      goodManifest = JSON.parse(readFileSync(path.join(dir, manifestFileName(goodFile)), 'utf8'));
    }, 120_000);
    afterAll(async () => {
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the genuine backup verifies and passes the SQL check (no false positive)', async () => {
      const v = await cli(['verify', goodFile, '--json'], env);
      expect(v.code, v.stdout + v.stderr).toBe(0);
    });

    it(`refuses ${forgeries.length} forgeries in verify and in a full restore, changing nothing`, async () => {
      const before = await fingerprint(db.url);
      for (const [i, f] of forgeries.entries()) {
        // Where the forged SQL would write if it ran: a fresh name in the shared temp folder (the
        // PostgreSQL server's own user must be able to create it, so not inside our 0700 folder).
        const marker = path.join(os.tmpdir(), `pg-guard-forgery-${randomBytes(6).toString('hex')}`);
        const bytes = forge(good, (h) => f.edit(h, marker));
        const name = goodFile.replace('-genuine.jsonl.gz', `-forged${i}.jsonl.gz`);
        writeFileSync(path.join(dir, name), bytes);
        if (f.forgedManifest) {
          const sha256 = createHash('sha256').update(bytes).digest('hex');
          writeFileSync(path.join(dir, manifestFileName(name)), JSON.stringify({ ...goodManifest, file: name, sha256, sizeBytes: bytes.length, verification: { at: new Date().toISOString(), ok: true } }, null, 2));
        }
        const filesBefore = readdirSync(dir).sort();

        // Both at once (they only read the file; verify records nothing for a file without a manifest).
        const [restored, v] = await Promise.all([cli(['restore', name, '--mode', 'full', '--yes', '--json'], env), cli(['verify', name, '--json'], env)]);
        const what = `${dialect} ${ddl} forgery ${i} (${f.what})`;
        expect(restored.code, `${what}: restore ${restored.stdout} ${restored.stderr}`).toBe(f.gated ? 13 : 3);
        // The message too: a code other than the expected one (seen once under load) says why.
        expect(JSON.parse(restored.stdout).error.code, `${what}: ${JSON.parse(restored.stdout).error.message}`).toBe(f.gated ? 'BACKUP_CODE_UNTRUSTED' : 'BACKUP_UNSAFE_SQL');
        expect(await fingerprint(db.url), `${what}: the database changed`).toBe(before);
        // (verify records a manifest for a sound file that had none: the gated forgeries are sound files)
        const written = readdirSync(dir).filter((n) => !(f.gated && n === manifestFileName(name)));
        expect(written.sort(), `${what}: a file was written (a safety backup?)`).toEqual(filesBefore);
        if (f.marker) expect(existsSync(marker), `${what}: the forged SQL ran`).toBe(false);
        if (f.gated) {
          // The check passes it (pg_dump writes functions); only trust decides. Verify says the file is sound.
          expect(v.code, `${what}: verify ${v.stdout} ${v.stderr}`).toBe(0);
          expect(JSON.parse(restored.stdout).error.message, what).toMatch(/--allow-code|function/);
          rmSync(path.join(dir, name), { force: true });
          rmSync(path.join(dir, manifestFileName(name)), { force: true });
          continue;
        }

        expect(v.code, `${what}: verify ${v.stdout} ${v.stderr}`).toBe(3);
        const err = JSON.parse(v.stdout).error as { code: string; message: string; hint: string };
        expect(err.code, what).toBe('BACKUP_UNSAFE_SQL');
        expect(err.message, what).toMatch(/statement schema\.(ddl|postDdl)\[\d+\]|statement schema\.tables\[/);
        const refusedClass = /is refused \((.*?): /s.exec(err.message)?.[1] ?? '';
        expect(refusedClass, `${what}: ${err.message}`).toMatch(f.refused);
        expect(err.hint, what).toMatch(/edited outside prisma-guard.*another backup/);
        rmSync(path.join(dir, name), { force: true });
        rmSync(path.join(dir, manifestFileName(name)), { force: true });
      }
      expect(await fingerprint(db.url)).toBe(before);
    }, 300_000);
  });
}

/** Runs SQL text with the database's own client (psql / sqlite3), independent of prisma-guard. */
function runSql(db: FreshDatabase, text: string): void {
  if (db.dialect === 'sqlite') execFileSync('sqlite3', [db.name], { input: text, stdio: ['pipe', 'ignore', 'pipe'] });
  else execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db.url], { input: text, stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
}

const SHARED_DATA = path.join(ROOT, '..', 'shared', 'data');

/** The PostgreSQL fixture of tests/dialects/postgres.test.ts, read from that file so the two stay one. */
function postgresDialectFixture(): string {
  const text = readFileSync(path.join(ROOT, 'tests/dialects/postgres.test.ts'), 'utf8');
  const m = /const FIXTURE = String\.raw`([\s\S]*?)`;/.exec(text);
  if (!m) throw new Error('tests/dialects/postgres.test.ts no longer has its FIXTURE');
  return m[1];
}

/** Everything else postgres-introspector.ts writes DDL for, with text that is easy to mis-tokenize. */
const POSTGRES_EXTRA = String.raw`
CREATE DOMAIN "posint" AS integer CHECK (VALUE > 0);
CREATE TYPE "Mood" AS ENUM ('ok', 'it''s; fine', 'back\slash', '$$');
CREATE TABLE "we""ird tab" (
  "select" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "semi" text DEFAULT 'a;b -- not a comment /* nor this */' NOT NULL,
  "esc" text DEFAULT E'back\\slash\nnewline',
  "dollar" text DEFAULT $$it's; $tag$ fine$$,
  "c" text COLLATE "C",
  "mood" "Mood" DEFAULT 'it''s; fine',
  "num" serial,
  "n" posint,
  "area" box,
  "email" text,
  "flags" integer[] DEFAULT '{1,2}',
  "at" timestamptz DEFAULT (now() AT TIME ZONE 'utc'),
  "len" integer GENERATED ALWAYS AS (length("semi") + 1) STORED,
  CONSTRAINT "positive" CHECK ("select" > 0 AND "semi" <> ';'),
  CONSTRAINT "no_overlap" EXCLUDE USING gist ("area" WITH &&),
  CONSTRAINT "semi_key" UNIQUE NULLS NOT DISTINCT ("semi") INCLUDE ("c")
);
CREATE INDEX "lower_email" ON "we""ird tab" (lower("email")) WHERE "email" IS NOT NULL AND "email" <> ';';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW."semi" := NEW."semi" || ';'; RETURN NEW; END $$;
CREATE TRIGGER "touch it" BEFORE INSERT OR UPDATE OF "semi" ON "we""ird tab" FOR EACH ROW WHEN (NEW."semi" IS DISTINCT FROM 'x;y') EXECUTE FUNCTION touch();
CREATE MATERIALIZED VIEW "semis" AS WITH s AS (SELECT "semi", count(*) AS n FROM "we""ird tab" GROUP BY 1) SELECT * FROM s WHERE "semi" LIKE '%;%';
CREATE VIEW "quoted view" AS SELECT "select" AS "from", 'x;y' AS lit, current_setting('TimeZone') AS tz FROM "we""ird tab";
INSERT INTO "we""ird tab" ("semi", "c", "n", "area", "email") VALUES ('p;q', 'c', 1, '((0,0),(1,1))', 'A@x');
`;

const SQLITE_EXTRA = `
CREATE TABLE [br acket] (id INTEGER PRIMARY KEY AUTOINCREMENT, "semi" TEXT DEFAULT 'a;b -- no /* no */' CHECK ("semi" <> ';'), at TEXT DEFAULT (datetime('now')), ts TEXT DEFAULT CURRENT_TIMESTAMP, n INTEGER, twice INTEGER GENERATED ALWAYS AS (n * 2) VIRTUAL);
CREATE TABLE \`back tick\` (k TEXT NOT NULL, v BLOB DEFAULT x'00ff', PRIMARY KEY (k)) WITHOUT ROWID;
CREATE TABLE 'strict one' (id INTEGER PRIMARY KEY, r REAL, parent INTEGER REFERENCES [br acket](id) ON DELETE CASCADE) STRICT;
CREATE UNIQUE INDEX "semi_idx" ON [br acket] (lower("semi")) WHERE "semi" IS NOT NULL AND "semi" <> ';';
CREATE VIEW "v;iew" (a, b) AS SELECT id, CASE WHEN n > 1 THEN 'big;' ELSE 'small' END FROM [br acket];
CREATE TRIGGER "audit" AFTER UPDATE OF "semi" ON [br acket] FOR EACH ROW WHEN NEW."semi" <> ';' BEGIN
  UPDATE [br acket] SET n = CASE WHEN n IS NULL THEN 1 ELSE n + 1 END WHERE id = NEW.id; -- a comment; with a semicolon
  INSERT INTO \`back tick\` (k) VALUES ('end;' || NEW.id) ON CONFLICT DO NOTHING;
END;
CREATE VIRTUAL TABLE "docs" USING fts5(title, body);
INSERT INTO [br acket] ("semi", n) VALUES ('x;y', 1), ('z', 2);
`;

/** Statement kinds the PostgreSQL fixtures must produce (so the check is shown to accept each). */
const PG_KINDS = [/^CREATE TYPE .* AS ENUM/, /^CREATE SEQUENCE/, /^ALTER SEQUENCE .* OWNED BY/, /^CREATE TABLE/, /GENERATED ALWAYS AS IDENTITY/, /ADD CONSTRAINT .* CHECK/, /ADD CONSTRAINT .* EXCLUDE/, /ADD CONSTRAINT .* UNIQUE NULLS NOT DISTINCT/, /^CREATE INDEX .* WHERE/, /^CREATE MATERIALIZED VIEW [\s\S]* WITH DATA$/, /^CREATE VIEW/, /^CREATE TRIGGER [\s\S]* WHEN/];

describe('real backups pass the SQL check (no false positives)', () => {
  const cases: { name: string; dialect: TestDialect; setup: (db: FreshDatabase) => Promise<void>; namespace?: string; holds?: RegExp[]; env?: Record<string, string> }[] = [
    { name: 'the fixture of tests/dialects/postgres.test.ts and every other kind of object the introspector writes', dialect: 'postgres', env: { BACKUP_PG_DUMP: 'off' }, setup: async (db) => runSql(db, postgresDialectFixture() + POSTGRES_EXTRA), holds: PG_KINDS },
    { name: 'the same in a schema other than public', dialect: 'postgres', namespace: 'app', env: { BACKUP_PG_DUMP: 'off' }, setup: async (db) => runSql(db, `CREATE SCHEMA app; SET search_path = app, public;\n${POSTGRES_EXTRA}`), holds: PG_KINDS },
    { name: 'the same fixture with DDL written by pg_dump', dialect: 'postgres', setup: async (db) => runSql(db, postgresDialectFixture() + POSTGRES_EXTRA), holds: [/^CREATE DOMAIN/, /^CREATE FUNCTION/, /^CREATE TRIGGER/, /^CREATE MATERIALIZED VIEW/, /^REFRESH MATERIALIZED VIEW/] },
    { name: 'the same fixture with DDL written by pg_dump, in a schema other than public', dialect: 'postgres', namespace: 'app', setup: async (db) => runSql(db, `CREATE SCHEMA app; SET search_path = app, public;\n${POSTGRES_EXTRA}`), holds: [/^CREATE SCHEMA app$/, /^CREATE FUNCTION app\./] },
    { name: 'the benchmark dataset (PostgreSQL)', dialect: 'postgres', setup: async (db) => void (await generate(db.url, 0.0005)) },
    { name: 'the benchmark dataset (SQLite)', dialect: 'sqlite', setup: async (db) => void (await generate(db.url, 0.0005)) },
    { name: 'SQLite: tables, indexes, views, triggers and a virtual table with awkward quoting', dialect: 'sqlite', setup: async (db) => runSql(db, SQLITE_EXTRA), holds: [/^CREATE TABLE \[/, /^CREATE TABLE `/, /^CREATE TABLE '/, /^CREATE UNIQUE INDEX/, /^CREATE VIEW/, /^CREATE TRIGGER[\s\S]*END$/, /^CREATE VIRTUAL TABLE/] },
  ];
  if (existsSync(path.join(SHARED_DATA, 'pagila'))) {
    cases.push({ name: 'pagila (domains, enums, partitions, views, a materialized view, triggers, full-text search)', dialect: 'postgres', setup: async (db) => {
      runSql(db, readFileSync(path.join(SHARED_DATA, 'pagila/pagila-schema.sql'), 'utf8'));
      runSql(db, readFileSync(path.join(SHARED_DATA, 'pagila/pagila-data.sql'), 'utf8'));
    } });
  }
  if (existsSync(path.join(SHARED_DATA, 'chinook'))) {
    cases.push({ name: 'chinook (PostgreSQL)', dialect: 'postgres', setup: async (db) => runSql(db, readFileSync(path.join(SHARED_DATA, 'chinook/Chinook_PostgreSql_SerialPKs.sql'), 'utf8').split(/^\\c chinook_serial;$/m)[1]) });
    cases.push({ name: 'chinook (SQLite)', dialect: 'sqlite', setup: async (db) => runSql(db, readFileSync(path.join(SHARED_DATA, 'chinook/Chinook_Sqlite.sql'), 'utf8')) });
  }

  for (const c of cases) {
    it(c.name, async () => {
      const db = await freshDatabase(c.dialect);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-no-false-positive-'));
      try {
        if (c.dialect === 'sqlite') writeFileSync(db.name, '');
        await c.setup(db);
        const url = c.namespace ? `${db.url}?schema=${c.namespace}` : db.url;
        const ctx = resolveContext({ url, backupDir: dir, env: c.env ?? {} });
        const b = await backup(ctx, { reason: 'real' });
        const header = JSON.parse(zlib.gunzipSync(readFileSync(b.path)).toString('utf8').split('\n', 1)[0]) as BackupHeader;
        expect(header.schema.ddl.length + header.schema.postDdl.length).toBeGreaterThan(1);
        const all = [...header.schema.ddl, ...header.schema.postDdl];
        for (const kind of c.holds ?? []) expect(all.some((s) => kind.test(s)), `no statement matches ${kind}:\n${all.join('\n')}`).toBe(true);
        const refusal = (await dialectFor(c.dialect)).checkBackupSql(header.schema);
        expect(refusal?.toError(b.manifest.file).message ?? null).toBeNull();
        const v = await verifyBackup(ctx, b.manifest.file);
        expect(v.error ?? null).toBeNull();
      } finally {
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }
});

describe('the SQL check reads statements as the database does', () => {
  const column = (name: string): ColumnSchema => ({ name, type: 'text', kind: 'text', nullable: true, default: null });
  const table = (name: string, indexes: string[] = []): TableSchema => ({ name, columns: [column('a')], primaryKey: [], foreignKeys: [], indexes: indexes.map((i) => ({ name: i, columns: ['a'], unique: false, definition: '' })) });
  const pg = (statement: string) =>
    classifyPostgresStatement(statement, { partial: false, namespaces: ['public'], tables: new Map([['t', table('t', ['i'])]]), enums: new Map(), sequences: new Set() })?.refusedClass ?? null;
  const lite = (statement: string) => classifySqliteStatement(statement, { partial: false, tables: new Map([['t', table('t', ['i'])], ['t;x', table('t;x')]]) })?.refusedClass ?? null;

  it('PostgreSQL: semicolons, keywords and calls inside literals, quoted names and comments are not code', () => {
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT 'x;y COPY pg_read_file(1)', "b" text DEFAULT E'\\';', "c" text DEFAULT $$;$$, "d" text DEFAULT $q$ $$ ; $$ $q$)`)).toBeNull();
    expect(pg(`CREATE TABLE "public"."t" ("a;b" text /* ; COPY */ -- ; COPY\n)`)).toBeNull();
    expect(pg(`CREATE VIEW "public"."v" AS SELECT 1 /* nested /* ; */ still a comment ; */`)).toBeNull();
    expect(pg(`CREATE INDEX i ON public.t USING btree (lower(a)) WHERE (a <> ';'::text)`)).toBeNull();
  });

  it('PostgreSQL: a second statement, a denied call or an unterminated literal is refused however it is written', () => {
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT 'a\\'); COPY t FROM PROGRAM 'id'; --')`)).toBe('more than one statement in one entry');
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT E'\\\\'); COPY t FROM PROGRAM 'id'; --')`)).toBe('more than one statement in one entry');
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT $x$ $y$); COPY t TO PROGRAM 'id'; --$x$)`)).toBeNull();
    expect(pg(`CREATE TABLE "public"."t" ("a" int) /* unterminated`)).toBe('unreadable SQL');
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT 'unterminated)`)).toBe('unreadable SQL');
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT "pg_read_file"('/etc/passwd'))`)).toBe('a call of pg_read_file()');
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT pg_catalog . PG_READ_FILE ('/etc/passwd'))`)).toBe('a call of pg_read_file()');
    expect(pg(`CREATE TABLE "public"."t" ("a" text DEFAULT U&'\\0041')`)).toBe('unreadable SQL');
    expect(pg(`CREATE VIEW "public"."v" AS SELECT $1`)).toBe('a parameter marker');
    expect(pg(`CREATE INDEX i ON public.t USING btree ((lo_import(a)))`)).toBe('a call of lo_import()');
    expect(pg(`CREATE INDEX i ON public.t USING btree (a); COPY t TO PROGRAM 'id'`)).toBe('more than one statement in one entry');
    expect(pg(`ALTER TABLE "public"."t" ADD CONSTRAINT c CHECK (a <> ''), DROP COLUMN a`)).toBe('ALTER TABLE ... ADD CONSTRAINT');
    expect(pg(`CREATE TABLE "public"."t" ("a" text) INHERITS ("public"."x")`)).toBe('CREATE TABLE');
    expect(pg(`CREATE TABLE "public"."t" AS SELECT pg_read_file('/etc/passwd')`)).toBe('CREATE TABLE');
    expect(pg(`copy t to program 'id'`)).toBe('COPY');
    expect(pg(`  /* hidden */ Copy t to program 'id'`)).toBe('COPY');
  });

  it('SQLite: trigger bodies end where SQLite ends them; literals and bracketed names are not code', () => {
    expect(lite(`CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN a IS NULL THEN 'end;' ELSE a END; SELECT 1; END`)).toBeNull();
    expect(lite(`CREATE TABLE t(a DEFAULT 'x'';ATTACH')`)).toBeNull();
    expect(lite(`CREATE TABLE [t;x](a)`)).toBeNull();
    expect(lite(`CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; ATTACH 'x' AS y`)).toBe('more than one statement in one entry');
    expect(lite(`CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT CASE WHEN 1 THEN 1 END; END; END`)).toBe('more than one statement in one entry');
    expect(lite(`CREATE TABLE t(a); ATTACH 'x' AS y`)).toBe('more than one statement in one entry');
    expect(lite(`CREATE TABLE main.t(a)`)).toBe('CREATE TABLE');
    expect(lite(`CREATE TABLE t(a DEFAULT (load_extension('x')))`)).toBe('a call of load_extension()');
    expect(lite(`CREATE VIEW v AS SELECT ?1`)).toBe('a parameter marker');
    expect(lite(`attach database 'x' as y`)).toBe('ATTACH');
  });
});
