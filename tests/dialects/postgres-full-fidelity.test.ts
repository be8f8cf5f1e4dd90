/**
 * Full mode brings back the whole PostgreSQL schema (issue 13), judged independently of
 * prisma-guard: `pg_dump --schema-only` of the source and of the restored database, compared as a
 * sorted list of lines (ordering-insensitive), and `pg_dump --data-only` compared the same way (it
 * holds every row and every sequence position). Real databases nobody here wrote (pagila, chinook)
 * and a corpus with one object of every class pg_dump reproduces; the compiled CLI, run as users run it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, PG_ADMIN_URL, type FreshDatabase } from '../helpers/db.ts';
import { ROOT, runCli } from '../helpers/cli.ts';
import { forge } from '../helpers/forge.ts';
import { compareCatalogs } from '../../lib/dialects/postgres/postgres-catalog.ts';
import type { BackupHeader } from '../../lib/format/header.ts';

const SHARED_DATA = path.join(ROOT, '..', 'shared', 'data');

function psql(url: string, text: string): void {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url], { input: text, stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
}

function query(url: string, sql: string): string {
  return execFileSync('psql', ['-X', '-q', '-At', '-d', url, '-c', sql], { encoding: 'utf8' }).trim();
}

/** pg_dump's output as sorted lines, without comments, blank lines and psql's \restrict guard. */
function dumpLines(db: FreshDatabase, args: string[]): string[] {
  const out = execFileSync('pg_dump', ['-d', db.url, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('--') && !/^\\(un)?restrict /.test(l))
    .sort();
}

function expectSameDatabase(source: FreshDatabase, restored: FreshDatabase, schema = 'public'): void {
  const a = dumpLines(source, ['--schema-only', '-n', schema]);
  const b = dumpLines(restored, ['--schema-only', '-n', schema]);
  expect(b.filter((l) => !a.includes(l)), 'schema lines only in the restored database').toEqual([]);
  expect(a.filter((l) => !b.includes(l)), 'schema lines lost by the restore').toEqual([]);
  expect(b).toEqual(a);
  const da = dumpLines(source, ['--data-only', '-n', schema]);
  const dbl = dumpLines(restored, ['--data-only', '-n', schema]);
  expect(dbl.length).toBe(da.length);
  expect(dbl).toEqual(da);
}

/** Every column filled by nextval() gets an id above every id in its table: the next insert cannot collide. */
function expectFreshIds(db: FreshDatabase, schema = 'public'): number {
  const rows = query(
    db.url,
    `SELECT format('%I.%I', n.nspname, c.relname) || '|' || quote_ident(a.attname) || '|' || (regexp_match(pg_get_expr(d.adbin, d.adrelid), $$nextval\\('([^']+)'$$))[1]
       FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
      WHERE n.nspname = '${schema}' AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%' AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
  )
    .split('\n')
    .filter(Boolean);
  for (const row of rows) {
    const [table, column, seq] = row.split('|');
    const ok = query(db.url, `SELECT nextval('${seq}') > coalesce((SELECT max(${column}) FROM ${table}), 0)`);
    expect(ok, `${table}.${column}: the next id from ${seq} collides`).toBe('t');
  }
  return rows.length;
}

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
const cli = (args: string[], url: string, env: Record<string, string> = {}): Promise<Cli> => runCli(args, { DATABASE_URL: url, BACKUP_DIR: dir, ...env });
const dbs: FreshDatabase[] = [];
async function fresh(): Promise<FreshDatabase> {
  const db = await createPgDatabase();
  dbs.push(db);
  return db;
}

async function backupOf(db: FreshDatabase, env: Record<string, string> = {}): Promise<{ file: string; stderr: string; header: BackupHeader }> {
  const b = await cli(['backup', '--json'], db.url, env);
  expect(b.code, b.stdout + b.stderr).toBe(0);
  const file = JSON.parse(b.stdout).manifest.file as string;
  const header = JSON.parse(zlib.gunzipSync(readFileSync(path.join(dir, file))).toString('utf8').split('\n', 1)[0]) as BackupHeader;
  return { file, stderr: b.stderr, header };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-fidelity-'));
});
afterAll(async () => {
  for (const db of dbs) await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

const hasPagila = existsSync(path.join(SHARED_DATA, 'pagila/pagila-schema.sql'));

describe.runIf(hasPagila)('pagila (domains, partitions, functions, an aggregate, triggers, views, a materialized view)', () => {
  let source: FreshDatabase;
  let file: string;
  beforeAll(async () => {
    source = await fresh();
    psql(source.url, readFileSync(path.join(SHARED_DATA, 'pagila/pagila-schema.sql'), 'utf8'));
    psql(source.url, readFileSync(path.join(SHARED_DATA, 'pagila/pagila-data.sql'), 'utf8'));
    const b = await backupOf(source);
    file = b.file;
    expect(b.header.schema.ddlSource).toBe('pg_dump');
    expect(b.header.schema.unreproducible).toEqual([]);
    expect(b.stderr).not.toMatch(/cannot bring back/);
  }, 180_000);

  it('full mode into an empty database: pg_dump equal line for line, every sequence ahead of its ids', async () => {
    const target = await fresh();
    const r = await cli(['restore', file, '--mode', 'full', '--yes', '--allow-code'], target.url);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSameDatabase(source, target);
    expect(expectFreshIds(target)).toBeGreaterThanOrEqual(12);
    // And a real insert: the partitioned payment table routes the row to a partition, with a fresh id.
    psql(target.url, `INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) SELECT customer_id, staff_id, rental_id, amount, '2022-03-15' FROM payment LIMIT 1`);
  }, 180_000);

  it('full mode into a database holding a different, older copy', async () => {
    const target = await fresh();
    psql(target.url, readFileSync(path.join(SHARED_DATA, 'pagila/pagila-schema.sql'), 'utf8'));
    psql(target.url, `DROP VIEW actor_info; ALTER TABLE actor ADD COLUMN extra text; DROP FUNCTION rewards_report(integer, numeric);
      CREATE TABLE stray (id int); CREATE FUNCTION stray_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
      INSERT INTO language (name) VALUES ('Klingon');`);
    const r = await cli(['restore', file, '--mode', 'full', '--yes', '--allow-code', '--no-safety-backup'], target.url);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSameDatabase(source, target);
    expect(query(target.url, `SELECT count(*) FROM pg_proc WHERE proname = 'stray_fn'`)).toBe('0');
  }, 180_000);

  it('refuses to create the functions of an unsigned backup without --allow-code, changing nothing', async () => {
    const target = await fresh();
    const r = await cli(['restore', file, '--mode', 'full', '--yes', '--json'], target.url);
    expect(r.code, r.stdout + r.stderr).toBe(13);
    const err = JSON.parse(r.stdout).error;
    expect(err.code).toBe('BACKUP_CODE_UNTRUSTED');
    expect(err.message).toMatch(/carries 10 function\(s\) or procedure\(s\) \(function public\./);
    expect(err.details.code).toContain('function public.rewards_report');
    expect(err.hint).toMatch(/--allow-code/);
    expect(query(target.url, `SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace`)).toBe('0');
  }, 60_000);

  it('a backup signed by a trusted key restores its functions without --allow-code', async () => {
    const keyDir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-keys-'));
    try {
      const k = await cli(['keygen', '--out', keyDir, '--json'], source.url);
      expect(k.code, k.stdout + k.stderr).toBe(0);
      const keys = JSON.parse(k.stdout) as { privateKey: string; verifyKey: string };
      const signed = await backupOf(source, { BACKUP_SIGNING_KEY: keys.privateKey });
      const target = await fresh();
      const r = await cli(['restore', signed.file, '--mode', 'full', '--yes', '--no-safety-backup'], target.url, { BACKUP_VERIFY_KEY: keys.verifyKey });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expectSameDatabase(source, target);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  }, 180_000);
});

const ROLE = `guard_test_role_${randomBytes(4).toString('hex')}`; // (names starting pg_ are reserved)

/** One object of every class `pg_dump --schema-only` reproduces for a schema. */
const CORPUS = String.raw`
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE address AS (street text, zip varchar(10));
CREATE DOMAIN posint AS integer NOT NULL DEFAULT 1 CONSTRAINT posint_check CHECK (VALUE > 0);
CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE SEQUENCE standalone_seq AS integer START WITH 100 INCREMENT BY 5 MINVALUE 100 MAXVALUE 100000 CACHE 3 CYCLE;
SELECT setval('standalone_seq', 135);
CREATE FUNCTION double_it(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$;
CREATE FUNCTION is_even(x integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT x % 2 = 0 $$;
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := now(); RETURN NEW; END $$;
CREATE PROCEDURE bump(n integer) LANGUAGE plpgsql AS $$ BEGIN UPDATE counter SET n = counter.n + bump.n; END $$;
CREATE FUNCTION sum_sq_step(acc bigint, x integer) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT acc + x * x $$;
CREATE AGGREGATE sum_sq(integer) (SFUNC = sum_sq_step, STYPE = bigint, INITCOND = '0');
CREATE TABLE person (
  id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  email citext NOT NULL UNIQUE,
  name text COLLATE ci,
  feeling mood DEFAULT 'ok',
  home address,
  age posint,
  doubled integer GENERATED ALWAYS AS (double_it(age)) STORED,
  code integer DEFAULT nextval('standalone_seq') NOT NULL,
  touched timestamptz,
  CONSTRAINT even_code CHECK (is_even(code)) NOT VALID,
  CONSTRAINT code_unique UNIQUE (code) DEFERRABLE INITIALLY DEFERRED
) WITH (fillfactor = 70);
CREATE TABLE booking (
  id bigserial PRIMARY KEY,
  person_id integer REFERENCES person (id) ON DELETE CASCADE,
  room integer NOT NULL,
  during floatrange NOT NULL,
  note text,
  EXCLUDE USING gist (room WITH =, during WITH &&)
);
CREATE INDEX booking_note_lower ON booking (lower(note)) WHERE note IS NOT NULL;
CREATE INDEX booking_room_incl ON booking (room) INCLUDE (note);
CREATE UNLOGGED TABLE scratch (k text PRIMARY KEY, v text);
CREATE TABLE measurement (id serial, at date NOT NULL, v numeric(8, 2), PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE measurement_2025 PARTITION OF measurement FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE measurement_2026 PARTITION OF measurement FOR VALUES FROM ('2026-01-01') TO ('2027-01-01') WITH (fillfactor = 80);
CREATE TABLE measurement_other PARTITION OF measurement DEFAULT;
CREATE INDEX measurement_v ON measurement (v);
CREATE TABLE animal (id serial PRIMARY KEY, name text);
CREATE TABLE dog (bark text) INHERITS (animal);
CREATE TABLE counter (n integer);
CREATE TABLE secret (id serial PRIMARY KEY, owner_name text NOT NULL, body text);
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret FORCE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON secret FOR SELECT TO PUBLIC USING (owner_name = current_user);
CREATE POLICY insert_any ON secret AS RESTRICTIVE FOR INSERT WITH CHECK (body IS NOT NULL);
CREATE TRIGGER person_stamp BEFORE INSERT OR UPDATE ON person FOR EACH ROW EXECUTE FUNCTION stamp();
CREATE RULE counter_no_delete AS ON DELETE TO counter DO INSTEAD NOTHING;
CREATE VIEW adults AS SELECT id, email, double_it(age) AS twice FROM person WHERE age >= 18;
CREATE MATERIALIZED VIEW person_count AS SELECT feeling, count(*) AS n FROM person GROUP BY feeling;
CREATE UNIQUE INDEX person_count_feeling ON person_count (feeling);
CREATE STATISTICS person_stats (dependencies) ON age, code FROM person;
COMMENT ON TABLE person IS 'people; with a semicolon';
COMMENT ON COLUMN person.email IS 'case-insensitive';
COMMENT ON FUNCTION double_it(integer) IS 'twice';
CREATE ROLE ${ROLE} NOLOGIN;
GRANT SELECT, INSERT ON person TO ${ROLE};
GRANT USAGE ON SEQUENCE standalone_seq TO ${ROLE};
GRANT EXECUTE ON FUNCTION double_it(integer) TO ${ROLE};
ALTER TABLE scratch OWNER TO ${ROLE};
INSERT INTO person (email, name, feeling, home, age, code) VALUES ('A@x.org', 'Ann', 'happy', ROW('Main St', '12345'), 30, 102), ('b@x.org', 'Bob', 'sad', NULL, 12, 104);
INSERT INTO booking (person_id, room, during, note) VALUES (1, 1, '[1.0,2.0)', 'Window'), (2, 1, '[2.0,3.0)', NULL);
INSERT INTO measurement (at, v) VALUES ('2025-05-01', 1.5), ('2026-02-01', 2.25), ('2030-01-01', 3);
INSERT INTO animal (name) VALUES ('generic');
INSERT INTO dog (name, bark) VALUES ('rex', 'woof');
INSERT INTO counter VALUES (1);
INSERT INTO scratch VALUES ('k', 'v');
INSERT INTO secret (owner_name, body) VALUES ('postgres', 'mine');
REFRESH MATERIALIZED VIEW person_count;
`;

describe('a corpus with one object of every class pg_dump reproduces', () => {
  let source: FreshDatabase;
  let file: string;
  let header: BackupHeader;
  beforeAll(async () => {
    source = await fresh();
    psql(source.url, CORPUS);
    const b = await backupOf(source);
    file = b.file;
    header = b.header;
  }, 120_000);
  afterAll(() => {
    try {
      psql(PG_ADMIN_URL, `DROP ROLE IF EXISTS ${ROLE}`);
    } catch {
      /* still owns objects in a database not yet dropped: dropped with the last one */
    }
  });

  it('the catalog records every class', () => {
    const kinds = new Set(header.schema.catalog!.map((e) => e.kind));
    for (const k of ['extension', 'type', 'collation', 'sequence', 'table', 'view', 'materialized view', 'constraint', 'index', 'function', 'procedure', 'aggregate', 'trigger', 'rule', 'policy', 'statistics object', 'comment', 'owner', 'acl']) {
      expect(kinds, k).toContain(k);
    }
    expect(header.schema.unreproducible).toEqual([]);
  });

  it('full mode into an empty database reproduces it object by object (pg_dump equal, sequences included)', async () => {
    const target = await fresh();
    const r = await cli(['restore', file, '--mode', 'full', '--yes', '--allow-code'], target.url);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSameDatabase(source, target);
    expect(query(target.url, `SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'public.secret'::regclass`)).toBe('t');
    expect(query(target.url, `SELECT count(*) FROM ONLY animal`)).toBe('1');
    expect(query(target.url, `SELECT n FROM person_count WHERE feeling = 'happy'`)).toBe('1');
    expectFreshIds(target);
  }, 120_000);

  it('--no-owner and --no-privileges leave ownership and grants out, as pg_restore does', async () => {
    const target = await fresh();
    const r = await cli(['restore', file, '--mode', 'full', '--yes', '--allow-code', '--no-owner', '--no-privileges', '--no-safety-backup'], target.url);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(query(target.url, `SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.scratch'::regclass`)).toBe('postgres');
    expect(query(target.url, `SELECT relacl IS NULL FROM pg_class WHERE oid = 'public.person'::regclass`)).toBe('t');
  }, 120_000);

  // A backup whose DDL lost one object (however: an old version, a bug, an edit) must fail its proof
  // before COMMIT, one class at a time.
  const losses: { what: string; statement: RegExp }[] = [
    { what: 'policy', statement: /^CREATE POLICY own_rows/ },
    { what: 'row level security', statement: /FORCE ROW LEVEL SECURITY$/ },
    { what: 'partition', statement: /^ALTER TABLE ONLY public\.measurement ATTACH PARTITION public\.measurement_2026 / },
    { what: 'acl', statement: /^GRANT SELECT,INSERT ON TABLE public\.person/ },
    { what: 'comment', statement: /^COMMENT ON COLUMN public\.person\.email/ },
    { what: 'rule', statement: /^CREATE RULE counter_no_delete/ },
    { what: 'statistics', statement: /^CREATE STATISTICS/ },
    { what: 'index', statement: /^CREATE INDEX booking_room_incl/ },
  ];
  it(`a backup whose DDL lost an object fails its proof and changes nothing (${losses.length} classes)`, async () => {
    const target = await fresh();
    psql(target.url, 'CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (7);');
    const good = readFileSync(path.join(dir, file));
    for (const loss of losses) {
      let removed = 0;
      const bytes = forge(good, (h) => {
        const before = h.schema.ddl.length + h.schema.postDdl.length;
        h.schema.ddl = h.schema.ddl.filter((s) => !loss.statement.test(s));
        h.schema.postDdl = h.schema.postDdl.filter((s) => !loss.statement.test(s));
        removed = before - (h.schema.ddl.length + h.schema.postDdl.length);
      });
      expect(removed, `${loss.what}: the statement is in the backup once`).toBe(1);
      const name = file.replace('.jsonl.gz', `-lost-${loss.what.replace(/\W/g, '')}.jsonl.gz`);
      writeFileSync(path.join(dir, name), bytes);
      const r = await cli(['restore', name, '--mode', 'full', '--yes', '--allow-code', '--no-safety-backup', '--json'], target.url);
      expect(r.code, `${loss.what}: ${r.stdout} ${r.stderr}`).toBe(9);
      // Caught by the proof, or earlier by the server (a partition's index cannot attach without its table).
      expect(JSON.parse(r.stdout).error.message, loss.what).toMatch(/does not match the backup's, object by object|Everything was rolled back/);
      expect(query(target.url, 'SELECT id FROM keep_me'), `${loss.what}: the database changed`).toBe('7');
      rmSync(path.join(dir, name));
    }
  }, 300_000);

  it('without a compatible pg_dump the backup names what full mode cannot bring back, and full mode refuses', async () => {
    const b = await backupOf(source, { BACKUP_PG_DUMP: 'off' });
    expect(b.header.schema.ddlSource).toBe('introspector');
    expect(b.stderr).toMatch(/cannot bring back \d+ object\(s\)/);
    expect(b.stderr).toMatch(/BACKUP_PG_DUMP=off/);
    const lost = b.header.schema.unreproducible!.map((u) => `${u.kind} ${u.name}`);
    for (const o of ['policy own_rows on public.secret', 'function public.double_it(integer)', 'type public.posint', 'table public.measurement', 'table public.dog', 'table public.scratch', 'rule counter_no_delete on public.counter', 'collation public.ci']) expect(lost, o).toContain(o);
    const target = await fresh();
    const r = await cli(['restore', b.file, '--mode', 'full', '--yes', '--json'], target.url);
    expect(r.code, r.stdout + r.stderr).toBe(9);
    const err = JSON.parse(r.stdout).error;
    expect(err.code).toBe('FULL_RESTORE_INCOMPLETE');
    expect(err.details.unreproducible.map((u: { name: string }) => u.name)).toContain('own_rows on public.secret');
    expect(query(target.url, `SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace`)).toBe('0');
    // Data mode into a copy of the schema still works.
    psql(target.url, CORPUS.replace(/CREATE ROLE .*;\n/, '').replace(/^INSERT INTO .*;$/gm, '').replace('REFRESH MATERIALIZED VIEW person_count;', ''));
    const d = await cli(['restore', b.file, '--mode', 'data', '--yes', '--no-safety-backup'], target.url);
    expect(d.code, d.stdout + d.stderr).toBe(0);
  }, 180_000);

  it('an object no per-schema DDL reproduces (an event trigger) warns at backup and full mode refuses, naming it', async () => {
    const db = await fresh();
    psql(db.url, `CREATE TABLE t (id serial PRIMARY KEY); INSERT INTO t DEFAULT VALUES;
      CREATE FUNCTION no_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'ddl'; END $$;
      CREATE EVENT TRIGGER guard_ddl ON ddl_command_start EXECUTE FUNCTION no_drops();`);
    try {
      const b = await backupOf(db);
      expect(b.stderr).toMatch(/event trigger guard_ddl/);
      const r = await cli(['restore', b.file, '--mode', 'full', '--yes', '--allow-code', '--json'], db.url);
      expect(r.code, r.stdout + r.stderr).toBe(9);
      expect(JSON.parse(r.stdout).error.message).toMatch(/event trigger guard_ddl/);
      expect(query(db.url, 'SELECT count(*) FROM t')).toBe('1');
    } finally {
      psql(db.url, 'DROP EVENT TRIGGER guard_ddl');
    }
  }, 120_000);
});

describe.runIf(existsSync(path.join(SHARED_DATA, 'chinook')))('chinook on PostgreSQL', () => {
  it('full mode into an empty database: pg_dump equal', async () => {
    const source = await fresh();
    psql(source.url, readFileSync(path.join(SHARED_DATA, 'chinook/Chinook_PostgreSql_SerialPKs.sql'), 'utf8').split(/^\\c chinook_serial;$/m)[1]);
    const { file } = await backupOf(source);
    const target = await fresh();
    const r = await cli(['restore', file, '--mode', 'full', '--yes'], target.url);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSameDatabase(source, target);
    expectFreshIds(target);
  }, 180_000);
});

// compareCatalogs' own rules, without a database.
describe('catalog comparison', () => {
  const e = (kind: string, name: string, definition: string) => ({ kind, name, definition });
  it('names what is missing, extra and changed; --no-owner compares privileges with the owner abstracted', () => {
    const want = [e('table', 'public.t', 'a int'), e('policy', 'p on public.t', 'x'), e('owner', 'table public.t', 'app'), e('acl', 'table public.t', '{app=arwdDxt/app,r=r/app}')];
    const have = [e('table', 'public.t', 'a bigint'), e('owner', 'table public.t', 'postgres'), e('acl', 'table public.t', '{postgres=arwdDxt/postgres,r=r/postgres}'), e('rule', 'r on public.t', 'y')];
    const d = compareCatalogs(want, have);
    expect(d.map((x) => `${x.change} ${x.kind}`).sort()).toEqual(['changed acl', 'changed owner', 'changed table', 'extra rule', 'missing policy']);
    const relaxed = compareCatalogs(want, have, { ignoreOwners: true });
    expect(relaxed.map((x) => `${x.change} ${x.kind}`).sort()).toEqual(['changed table', 'extra rule', 'missing policy']);
  });
});
