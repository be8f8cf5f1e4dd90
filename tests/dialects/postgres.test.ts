import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import type { DbSchema, TableSchema } from '../../lib/core/types.ts';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import type { Connection, EncodedRow, LoadReceipt, TableData } from '../../lib/dialects/dialect.ts';
import { CopyTextParser, encodeCopyLine, pgConnectionString, postgresDialect } from '../../lib/dialects/postgres/index.ts';
import { CopyToJsonLines, CopyValueError, JsonLinesToCopy } from '../../lib/dialects/postgres/postgres-copy-text.ts';
import { CopyFrameHasher, CopyOutDigest, copyOutDigest } from '../../lib/dialects/postgres/postgres-copy-digest.ts';
import { EventEmitter } from 'node:events';
import { seededRandom } from '../../lib/core/random.ts';
import { checksumTables } from '../../lib/ops/snapshot-tables.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const HOST = '127.0.0.1';
const PORT = 5432;
const prefix = `pg_guard_t_${randomBytes(4).toString('hex')}`;
const created: string[] = [];
let admin: pg.Client;

function urlFor(db: string, extra = ''): string {
  // Prisma-only parameters on purpose: the dialect must strip them before pg sees the URL.
  return `postgresql://postgres@${HOST}:${PORT}/${db}?schema=public&connection_limit=1&pool_timeout=5${extra}`;
}

async function createDb(suffix: string): Promise<string> {
  const name = `${prefix}_${suffix}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  created.push(name);
  return name;
}

async function connect(db: string): Promise<Connection> {
  return postgresDialect.connect(parseDatabaseUrl(urlFor(db)));
}

async function sql(db: string, text: string): Promise<void> {
  const c = new pg.Client({ host: HOST, port: PORT, user: 'postgres', database: db });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** Independent oracle: what pg_dump sees, as sorted lines. */
function pgDump(db: string, ...args: string[]): string[] {
  const out = execFileSync('/usr/bin/pg_dump', ['-h', HOST, '-p', String(PORT), '-U', 'postgres', '--no-owner', '--no-privileges', ...args, db], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'], // pg_dump warns about our FK cycles on stderr: expected
  });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('--') && !l.startsWith('\\restrict') && !l.startsWith('\\unrestrict'))
    .sort();
}

const dataLines = (db: string) => pgDump(db, '--data-only', '--inserts').filter((l) => /^(INSERT|SELECT pg_catalog\.setval)/.test(l));

interface Dump {
  schema: DbSchema;
  tables: { table: TableSchema; rows: EncodedRow[]; count: number }[];
}

async function dump(conn: Connection, batchSize?: number): Promise<Dump> {
  return conn.snapshot(async (reader) => {
    const tables: Dump['tables'] = [];
    for (const table of reader.schema.tables) {
      const rows: EncodedRow[] = [];
      for await (const batch of reader.rows(table, batchSize)) rows.push(...batch);
      tables.push({ table, rows, count: await reader.count(table) });
    }
    return { schema: reader.schema, tables };
  });
}

/** Backup sections as the loader gets them, in batches of 7 rows (to exercise several batches). */
async function* sectionsOf(d: Dump, mutate?: (table: string, rows: EncodedRow[]) => EncodedRow[]): AsyncGenerator<TableData> {
  for (const t of d.tables) {
    const rows = mutate ? mutate(t.table.name, t.rows) : t.rows;
    yield {
      table: t.table,
      rows: (async function* () {
        for (let i = 0; i < rows.length; i += 7) yield rows.slice(i, i + 7);
      })(),
    };
  }
}

const rowsOf = (d: Dump, table: string) => d.tables.find((t) => t.table.name === table)!.rows;

const FIXTURE = String.raw`
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN', 'it''s "odd"');

CREATE TABLE "Awkward" (
  id serial PRIMARY KEY,
  t text,
  vc varchar(20),
  i2 smallint,
  i4 integer,
  i8 bigint,
  num numeric(65,30),
  f4 real,
  f8 double precision,
  ts timestamp(3),
  tstz timestamptz,
  d date,
  j jsonb,
  js json,
  b bytea,
  arr text[],
  iarr integer[],
  role "Role",
  roles "Role"[],
  u uuid,
  flag boolean,
  "Weird ""col"" name" text DEFAULT 'x',
  doubled bigint GENERATED ALWAYS AS (i4::bigint * 2) STORED
);
CREATE INDEX "Awkward_ts_idx" ON "Awkward" (ts DESC);
CREATE UNIQUE INDEX "Awkward_u_key" ON "Awkward" (u);

INSERT INTO "Awkward" (t, vc, i2, i4, i8, num, f4, f8, ts, tstz, d, j, js, b, arr, iarr, role, roles, u, flag) VALUES
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('', '', 0, 0, 0, 0, 0, 0, '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '1970-01-01', '{}', '[]', '', '{}', '{}', 'USER', '{}',
   '00000000-0000-0000-0000-000000000000', false),
  (E'h\u00e9llo \U0001F389 back\\slash\ttab\nnewline\rcr', E'tab\there', -32768, 2147483647, -9223372036854775808,
   '12345678901234567890123456789012345.123456789012345678901234567891', 'Infinity', 'NaN',
   '1969-07-20 20:17:40.123', '2024-03-01 12:34:56.789+05:30', '0001-01-01',
   '{"big": 123456789012345678901234567890, "f": 1.0000000000000000001, "s": "a\"b\\c\u00e9"}',
   '{"keep":  "spacing", "dup": 1, "dup": 2}',
   '\x00ff005c0a09', E'{"a b",NULL,"q\\"uote","back\\\\slash","","NULL",null}', '{1,NULL,-3}', E'it''s "odd"',
   E'{USER,"it''s \\"odd\\"",NULL}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true),
  (E'\\N', 'NULL', 32767, -2147483648, 9223372036854775807,
   '-0.000000000000000000000000000001', '-0', '-Infinity', '1900-01-01 00:00:00.001', '1901-12-13 20:45:52.5-03',
   '2024-02-29', '[1e400, -0, 0.1]', 'null', '\x', '{"\\."}', '{{1,2},{3,4}}', 'ADMIN', '{ADMIN,ADMIN}',
   'ffffffff-ffff-ffff-ffff-ffffffffffff', false),
  (E'\\.', E'\\', 1, 1, 1, '1e-30', '1e-38', 1e-300, '2038-01-19 03:14:07.999', 'infinity', 'infinity',
   '"just a string"', '1', '\xdeadbeef', '{"comma,inside","{brace}"," spaced "}', NULL, NULL, NULL, NULL, NULL),
  (E'line1\nline2', 'x', 2, 2, 2, '-99999999999999999999999999999999999.999999999999999999999999999999', '3.4028235e38', '-0', '-infinity',
   '-infinity', '-infinity', '{"nested": {"arr": [1, 2, {"x": null}]}}', '{"a":1}', '\x5c4e', '{"tab\there","new\nline"}', '{}', 'USER',
   '{}', NULL, true),
  ('4.9406564584124654e-324', 'f', 3, 3, 3, 'NaN', '1.17549435e-38', '4.9406564584124654e-324', '2000-02-29 23:59:59.999', '2000-01-01 00:00:00+14',
   '4713-01-01 BC', '{"k": "\u00e9"}', '{"\u0000": 1}', '\x00', '{NULL}', '{NULL}', NULL, '{NULL}', NULL, NULL);

CREATE TABLE "Employee" (
  id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  "managerId" integer REFERENCES "Employee"(id) ON DELETE SET NULL,
  CONSTRAINT "Employee_name_key" UNIQUE (name),
  CONSTRAINT "Employee_name_check" CHECK (name <> '')
);
INSERT INTO "Employee" (name, "managerId") VALUES ('boss', NULL), ('a', 1), ('b', 2);
INSERT INTO "Employee" (id, name, "managerId") VALUES (10, 'late boss', NULL);
UPDATE "Employee" SET "managerId" = 10 WHERE id = 1;

CREATE TABLE "A" (id bigserial PRIMARY KEY, label text NOT NULL, "bId" bigint);
CREATE TABLE "B" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "aId" bigint NOT NULL REFERENCES "A"(id));
ALTER TABLE "A" ADD CONSTRAINT "A_bId_fkey" FOREIGN KEY ("bId") REFERENCES "B"(id) ON UPDATE CASCADE ON DELETE RESTRICT;
INSERT INTO "A" (label) VALUES ('a1'), ('a2'), ('a3');
INSERT INTO "B" ("aId") VALUES (1), (2), (2);
UPDATE "A" SET "bId" = 3 WHERE id = 1;
UPDATE "A" SET "bId" = 1 WHERE id = 2;

CREATE TABLE "_AToEmployee" ("A" bigint NOT NULL REFERENCES "A"(id) ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "Employee"(id) ON DELETE CASCADE);
CREATE UNIQUE INDEX "_AToEmployee_AB_unique" ON "_AToEmployee"("A", "B");
CREATE INDEX "_AToEmployee_B_index" ON "_AToEmployee"("B");
INSERT INTO "_AToEmployee" VALUES (1, 1), (1, 2), (2, 1), (3, 10);

CREATE TABLE "NoKey" (x double precision, y text, j json);
INSERT INTO "NoKey" VALUES (0, 'same', '{}'), ('-0', 'same', '{}'), (NULL, NULL, NULL), (NULL, NULL, NULL), ('NaN', 'b', '[1]'), (1, 'a', '{"b":1}');

CREATE TABLE _prisma_migrations (
  id varchar(36) PRIMARY KEY NOT NULL, checksum varchar(64) NOT NULL, finished_at timestamptz, migration_name varchar(255) NOT NULL,
  logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0
);
INSERT INTO _prisma_migrations VALUES ('6f1c7a7e-0000-4000-8000-000000000001', 'abc', '2024-01-01 00:00:01.123456+00', '20240101000000_init', NULL, NULL, '2024-01-01 00:00:00+00', 1);

CREATE VIEW "EmployeeNames" AS SELECT id, name FROM "Employee" WHERE name <> '';
CREATE SEQUENCE "standalone_seq" START 100 INCREMENT 5;
SELECT nextval('standalone_seq'), nextval('standalone_seq');
`;

let source: string;
let sourceConn: Connection;
let sourceDump: Dump;

beforeAll(async () => {
  admin = new pg.Client({ host: HOST, port: PORT, user: 'postgres', database: 'postgres' });
  await admin.connect();
  source = await createDb('src');
  await sql(source, FIXTURE);
  sourceConn = await connect(source);
  sourceDump = await dump(sourceConn);
});

afterAll(async () => {
  await sourceConn?.close();
  for (const db of created) await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  await admin?.end();
});

describe('COPY text codec', () => {
  test('parses escapes, NULL and multi-byte characters split across chunks at every byte', () => {
    const line = encodeCopyLine(['a\tb\\c\nd\re', null, '\\N', 'h\u00e9 \u{1F389}', '']);
    const whole = Buffer.from(line + line);
    for (let cut = 0; cut <= whole.length; cut++) {
      const p = new CopyTextParser();
      const rows = [...p.push(whole.subarray(0, cut)), ...p.push(whole.subarray(cut))];
      p.end();
      expect(rows).toEqual([
        ['a\tb\\c\nd\re', null, '\\N', 'h\u00e9 \u{1F389}', ''],
        ['a\tb\\c\nd\re', null, '\\N', 'h\u00e9 \u{1F389}', ''],
      ]);
    }
  });

  test('decodes octal, hex and the other control escapes COPY may use', () => {
    const p = new CopyTextParser();
    expect(p.push(Buffer.from('\\101\\x42\\b\\f\\v\\x\\q\tz\n'))).toEqual([['AB\b\f\vxq', 'z']]);
  });

  test('a stream that ends mid-row is an error, not a silent loss', () => {
    const p = new CopyTextParser();
    p.push(Buffer.from('1\t2\n3\t'));
    expect(() => p.end()).toThrow(/middle of a row/);
  });

  test('backup lines become the same COPY text without parsing as through JSON.parse and encodeCopyLine', () => {
    const random = seededRandom(7);
    const pieces = ['a', 'Z', ' ', '\\', '"', '\t', '\n', '\r', '\b', '\u0001', '\u001f', '\u007f', '\u00e9', '\u{1F389}', '\ud800', 'N', '\\N', ',', ']', '[', 'null'];
    const value = (): string | number | boolean | null => {
      const k = Math.floor(random() * 7);
      if (k === 0) return null;
      if (k === 1) return random() < 0.5;
      if (k === 2) return Math.floor((random() - 0.5) * 2 ** Math.floor(random() * 53));
      if (k === 3) return [0, -0, -1, 2147483647, -2147483648, 9007199254740991, 1e21, 0.5][Math.floor(random() * 8)];
      let s = '';
      for (let n = Math.floor(random() * 6); n > 0; n--) s += pieces[Math.floor(random() * pieces.length)];
      return s;
    };
    const width = 5;
    const include = [0, 2, 3, 4]; // column 1 is generated: left out of the COPY
    const rows = Array.from({ length: 3000 }, () => Array.from({ length: width }, value));
    rows.push([null, null, null, null, null], ['', '', '', '', ''], [true, false, 0, -0, '\\N']);
    const lines = rows.map((r) => JSON.stringify(r) + '\n');
    const expected = rows.map((r) => encodeCopyLine(include.map((i) => r[i]))).join('');
    const converter = new JsonLinesToCopy(width, include, (i) => `c${i}`);
    const noError = () => new Error('unexpected');
    const got: Buffer[] = [];
    // Several runs of different sizes, as the reader hands them out.
    for (let at = 0; at < lines.length; ) {
      const n = Math.min(lines.length - at, 1 + Math.floor(random() * 50));
      got.push(converter.convert(Buffer.from(lines.slice(at, at + n).join('')), n, noError));
      at += n;
    }
    // Bytes, not strings: a lone surrogate goes to the server as U+FFFD on both paths.
    expect(Buffer.concat(got).equals(Buffer.from(expected))).toBe(true);
    expect(converter.rows).toBe(rows.length);
  });

  test('COPY output becomes the canonical line bytes of the decoded rows, however it is split', () => {
    const random = seededRandom(11);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    // Fields as PostgreSQL may print them: plain, escaped (\\b \\f \\v, octal, hex), raw control bytes, quotes, multi-byte.
    const textPieces = ['a', 'Z', ' ', '"', '\\\\', '\\t', '\\n', '\\r', '\\b', '\\f', '\\v', '\\101', '\\x42', '\u0001', '\u001f', '\u007f', '\u00e9', '\u{1F389}', ',', '['];
    const kinds = ['string', 'number', 'boolean', 'string', 'boolean', 'boolean', 'boolean', 'number'] as const;
    const field = (kind: (typeof kinds)[number]): string => {
      if (random() < 0.15) return '\\N';
      if (kind === 'number') return pick(['0', '-1', '42', '2147483647', '-2147483648', '-32768', '007', '1e3']);
      if (kind === 'boolean') return pick(['t', 'f']);
      let s = '';
      for (let n = Math.floor(random() * 8); n > 0; n--) s += pick(textPieces);
      return s;
    };
    const lines = Array.from({ length: 2000 }, () => kinds.map(field).join('\t') + '\n');
    const whole = Buffer.from(lines.join(''));
    const parser = new CopyTextParser();
    const expected = parser
      .push(whole)
      .map((fields) => JSON.stringify(fields.map((t, i) => (t === null ? null : kinds[i] === 'number' ? Number(t) : kinds[i] === 'boolean' ? t === 't' : t))) + '\n')
      .join('');
    for (let round = 0; round < 20; round++) {
      const converter = new CopyToJsonLines(kinds, 'T');
      const got: Buffer[] = [];
      for (let at = 0; at < whole.length; ) {
        const n = Math.min(whole.length - at, 1 + Math.floor(random() * 300));
        got.push(Buffer.from(converter.push(whole.subarray(at, at + n))));
        at += n;
      }
      converter.end();
      expect(Buffer.concat(got).toString('utf8')).toBe(expected);
    }
  });

  test('a line that is not a row of the table is refused with the reader\'s error, a value no column takes with its row number', () => {
    const converter = new JsonLinesToCopy(2, [0, 1], (i) => `c${i}`);
    const invalid = (index: number, why: string) => new Error(`line ${index} ${why}`);
    for (const [bad, why] of [['[1,2', 'is not valid JSON'], ['[1,2,3]', 'does not have 2 values'], ['{"a":1}', 'does not have 2 values'], ['[01,2]', 'is not valid JSON'], ['["a\tb",2]', 'is not valid JSON'], ['[1, 2]', '']] as const) {
      const run = Buffer.from(`[1,2]\n${bad}\n`);
      if (why === '') {
        expect(converter.convert(run, 2, invalid).toString()).toBe('1\t2\n1\t2\n'); // JSON with a space is still the same row
        continue;
      }
      expect(() => converter.convert(run, 2, invalid), bad).toThrow(`line 1 ${why}`);
    }
    const err = (() => {
      try {
        new JsonLinesToCopy(2, [0, 1], (i) => `c${i}`).convert(Buffer.from('[1,2]\n[{"$int":"1"},2]\n'), 2, invalid);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CopyValueError);
    expect((err as CopyValueError).row).toBe(2);
    expect((err as Error).message).toMatch(/column "c0"/);
  });

  test('the digest of COPY output read off the wire equals the digest of the COPY text framed, however the socket splits it', async () => {
    const message = (type: string, body: Buffer) => {
      const head = Buffer.alloc(5);
      head.write(type, 0, 'latin1');
      head.writeUInt32BE(body.length + 4, 1);
      return Buffer.concat([head, body]);
    };
    const rows = ['1\tä\\n\n', '2\t\\N\n', '3\t' + 'x'.repeat(300) + '\n'].map((r) => Buffer.from(r));
    const framed = new CopyFrameHasher();
    framed.update(Buffer.concat(rows));
    expect(framed.rows).toBe(3);
    const expected = framed.digest();
    const after = Buffer.concat([message('C', Buffer.from('COPY 3\0')), message('Z', Buffer.from('I'))]);
    // CopyOutResponse, the rows with a NoticeResponse between them (not hashed), CopyDone, then what pg must get back.
    const wire = Buffer.concat([message('H', Buffer.from([0, 0, 2, 0, 0, 0, 0])), message('d', rows[0]), message('N', Buffer.from('Snotice\0\0')), message('d', rows[1]), message('d', rows[2]), message('c', Buffer.alloc(0)), after]);
    const run = (cuts: number[]) => {
      const stream = new EventEmitter();
      const handedBack: Buffer[] = [];
      stream.on('data', (b: Buffer) => handedBack.push(Buffer.from(b)));
      const query = new CopyOutDigest('COPY x TO STDOUT');
      let sent = '';
      query.submit({ stream: stream as never, query: (text: string) => (sent = text) });
      expect(sent).toBe('COPY x TO STDOUT');
      let at = 0;
      for (const cut of [...cuts, wire.length]) {
        stream.emit('data', wire.subarray(at, cut));
        at = cut;
      }
      expect(Buffer.concat(handedBack)).toEqual(after); // pg sees CommandComplete and ReadyForQuery, nothing else
      query.handleReadyForQuery();
      return query.done;
    };
    for (let a = 1; a < wire.length; a++) {
      await expect(run([a])).resolves.toEqual({ rows: 3, sha256: expected });
      for (const b of [a + 1, a + 7]) if (b < wire.length) await expect(run([a, b])).resolves.toEqual({ rows: 3, sha256: expected });
    }
    // An error is handed to pg unread (pg then calls handleError): the digest never resolves to a value.
    const stream = new EventEmitter();
    const handedBack: Buffer[] = [];
    stream.on('data', (b: Buffer) => handedBack.push(Buffer.from(b)));
    const failing = new CopyOutDigest('COPY x TO STDOUT');
    failing.submit({ stream: stream as never, query: () => {} });
    const error = message('E', Buffer.from('SERROR\0\0'));
    stream.emit('data', Buffer.concat([message('d', rows[0]), error]));
    expect(Buffer.concat(handedBack)).toEqual(error);
    failing.handleError(new Error('server error'));
    await expect(failing.done).rejects.toThrow('server error');
  });

  test('a COPY that fails on the server rejects with its error and leaves the connection usable', async () => {
    const client = new pg.Client({ host: HOST, port: PORT, user: 'postgres', database: source });
    await client.connect();
    try {
      await expect(copyOutDigest(client, 'COPY (SELECT * FROM "NoSuchTable") TO STDOUT')).rejects.toThrow(/NoSuchTable/);
      await expect(copyOutDigest(client, 'COPY (SELECT 1/(3 - g) FROM generate_series(1, 5) g) TO STDOUT')).rejects.toThrow(/division by zero/);
      const ok = await copyOutDigest(client, `COPY (SELECT g, 'é' FROM generate_series(1, 3) g) TO STDOUT`);
      const framed = new CopyFrameHasher();
      framed.update(Buffer.from('1\té\n2\té\n3\té\n'));
      expect(ok).toEqual({ rows: 3, sha256: framed.digest() });
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  test('pg gets the URL without Prisma-only parameters', () => {
    const s = pgConnectionString('postgresql://u:p@h:5433/db?schema=x&connection_limit=1&pool_timeout=2&pgbouncer=true&sslmode=prefer&application_name=a');
    expect(s).toBe('postgresql://u:p@h:5433/db?application_name=a');
  });
});

describe('introspection', () => {
  test('reads tables, kinds, keys, indexes, enums and sequences', () => {
    const s = sourceDump.schema;
    expect(s.dialect).toBe('postgres');
    expect(s.namespace).toBe('public');
    expect(s.tables.map((t) => t.name)).toEqual(['A', 'Awkward', 'B', 'Employee', 'NoKey', '_AToEmployee', '_prisma_migrations']);
    const awk = s.tables.find((t) => t.name === 'Awkward')!;
    const kinds = Object.fromEntries(awk.columns.map((c) => [c.name, c.kind]));
    expect(kinds).toEqual({
      id: 'int', t: 'text', vc: 'text', i2: 'int', i4: 'int', i8: 'bigint', num: 'decimal', f4: 'float', f8: 'float',
      ts: 'datetime', tstz: 'datetime', d: 'date', j: 'json', js: 'json', b: 'bytes', arr: 'array', iarr: 'array',
      role: 'enum', roles: 'array', u: 'uuid', flag: 'boolean', 'Weird "col" name': 'text', doubled: 'bigint',
    });
    const col = (n: string) => awk.columns.find((c) => c.name === n)!;
    expect(col('id')).toMatchObject({ type: 'integer', nullable: false, generated: true, default: `nextval('public."Awkward_id_seq"'::regclass)` });
    expect(col('num').type).toBe('numeric(65,30)');
    expect(col('ts').type).toBe('timestamp(3) without time zone');
    expect(col('roles').type).toBe('public."Role"[]');
    expect(col('t')).toMatchObject({ nullable: true, default: null });
    expect(awk.primaryKey).toEqual(['id']);
    expect(awk.indexes.map((i) => [i.name, i.unique])).toEqual([['Awkward_ts_idx', false], ['Awkward_u_key', true]]);

    const emp = s.tables.find((t) => t.name === 'Employee')!;
    expect(emp.foreignKeys).toEqual([
      {
        name: 'Employee_managerId_fkey', columns: ['managerId'], refTable: 'Employee', refColumns: ['id'], onDelete: 'SET NULL', onUpdate: 'NO ACTION',
        definition: 'FOREIGN KEY ("managerId") REFERENCES public."Employee"(id) ON DELETE SET NULL',
      },
    ]);
    // A unique CONSTRAINT comes back as a constraint, not as a bare index.
    expect(emp.indexes).toEqual([
      { name: 'Employee_name_key', columns: ['name'], unique: true, definition: 'ALTER TABLE "public"."Employee" ADD CONSTRAINT "Employee_name_key" UNIQUE (name)' },
    ]);
    expect(s.tables.find((t) => t.name === '_AToEmployee')!.primaryKey).toEqual([]);
    expect(s.enums).toEqual([{ name: 'Role', values: ['USER', 'ADMIN', `it's "odd"`] }]);
    expect(s.sequences).toEqual([
      { name: 'A_id_seq', table: 'A', column: 'id', lastValue: '3', isCalled: true },
      { name: 'Awkward_id_seq', table: 'Awkward', column: 'id', lastValue: '7', isCalled: true },
      { name: 'B_id_seq', table: 'B', column: 'id', lastValue: '3', isCalled: true },
      { name: 'Employee_id_seq', table: 'Employee', column: 'id', lastValue: '3', isCalled: true },
      { name: 'standalone_seq', lastValue: '105', isCalled: true },
    ]);
    // Order of the DDL: types, sequences, tables, ownership; post: constraints, indexes, views, FKs last.
    const firstIndex = (re: RegExp, list: string[]) => list.findIndex((x) => re.test(x));
    expect(firstIndex(/^CREATE TYPE/, s.ddl)).toBe(0);
    expect(firstIndex(/^CREATE SEQUENCE/, s.ddl)).toBeLessThan(firstIndex(/^CREATE TABLE/, s.ddl));
    expect(firstIndex(/^ALTER SEQUENCE .* OWNED BY/, s.ddl)).toBeGreaterThan(firstIndex(/^CREATE TABLE "public"."_prisma_migrations"/, s.ddl));
    expect(s.postDdl.at(-1)).toMatch(/FOREIGN KEY/);
    expect(firstIndex(/FOREIGN KEY/, s.postDdl)).toBeGreaterThan(firstIndex(/^CREATE VIEW/, s.postDdl));
    expect(s.postDdl.some((x) => /CHECK \(\(name <> ''::text\)\)/.test(x))).toBe(true);
  });

  test('introspect() outside a snapshot gives the same schema', async () => {
    expect(await sourceConn.introspect()).toEqual(sourceDump.schema);
    // and the connection's own search path is back to the target schema
    expect(await sourceConn.query('SELECT count(*)::int AS n FROM "Awkward"')).toEqual([{ n: 7 }]);
  });
});

describe('snapshot encoding', () => {
  test('encodes every awkward value exactly as PostgreSQL prints it', () => {
    const rows = rowsOf(sourceDump, 'Awkward');
    expect(rows).toHaveLength(7);
    expect(rows[0]).toEqual([1, ...Array(20).fill(null), 'x', null]);
    expect(rows[1]).toEqual([2, '', '', 0, 0, '0', '0.000000000000000000000000000000', '0', '0', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00',
      '1970-01-01', '{}', '[]', '\\x', '{}', '{}', 'USER', '{}', '00000000-0000-0000-0000-000000000000', false, 'x', '0']);
    expect(rows[2]).toEqual([
      3, 'h\u00e9llo \u{1F389} back\\slash\ttab\nnewline\rcr', 'tab\there', -32768, 2147483647, '-9223372036854775808',
      '12345678901234567890123456789012345.123456789012345678901234567891', 'Infinity', 'NaN',
      '1969-07-20 20:17:40.123', '2024-03-01 07:04:56.789+00', '0001-01-01',
      '{"f": 1.0000000000000000001, "s": "a\\"b\\\\c\u00e9", "big": 123456789012345678901234567890}',
      '{"keep":  "spacing", "dup": 1, "dup": 2}', '\\x00ff005c0a09', '{"a b",NULL,"q\\"uote","back\\\\slash","","NULL",NULL}', '{1,NULL,-3}',
      `it's "odd"`, '{USER,"it\'s \\"odd\\"",NULL}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, 'x', '4294967294',
    ]);
    expect(rows[3].slice(1, 12)).toEqual(['\\N', 'NULL', 32767, -2147483648, '9223372036854775807', '-0.000000000000000000000000000001', '-0', '-Infinity',
      '1900-01-01 00:00:00.001', '1901-12-13 23:45:52.5+00', '2024-02-29']);
    expect(rows[3][14]).toBe('\\x');
    expect(rows[4].slice(1, 12)).toEqual(['\\.', '\\', 1, 1, '1', '0.000000000000000000000000000001', '1e-38', '1e-300', '2038-01-19 03:14:07.999', 'infinity', 'infinity']);
    expect(rows[6][8]).toBe('5e-324'); // shortest exact text (extra_float_digits=3)
    expect(rows[6][11]).toBe('4713-01-01 BC');
  });

  test('a table without a primary key is ordered by the printed text of every column', () => {
    expect(rowsOf(sourceDump, 'NoKey')).toEqual([
      ['-0', 'same', '{}'], ['0', 'same', '{}'], ['1', 'a', '{"b":1}'], ['NaN', 'b', '[1]'], [null, null, null], [null, null, null],
    ]);
  });

  test('count() matches the rows streamed', () => {
    for (const t of sourceDump.tables) expect(t.count).toBe(t.rows.length);
  });

  test('streams big tables in bounded batches and survives a consumer that stops early', async () => {
    const db = await createDb('big');
    await sql(db, `CREATE TABLE big (id int PRIMARY KEY, pad text); INSERT INTO big SELECT g, repeat('x', 200) || g FROM generate_series(1, 30000) g`);
    const conn = await connect(db);
    try {
      const result = await conn.snapshot(async (reader) => {
        const table = reader.schema.tables[0];
        let batches = 0;
        let rows = 0;
        let maxBatch = 0;
        let last = 0;
        for await (const batch of reader.rows(table, 500)) {
          batches++;
          rows += batch.length;
          maxBatch = Math.max(maxBatch, batch.length);
          for (const r of batch) {
            expect(r[0]).toBe(last + 1);
            last = r[0] as number;
          }
        }
        // Stop after the first batch: the connection must still work afterwards, in the same snapshot.
        for await (const batch of reader.rows(table, 100)) {
          expect(batch[0][0]).toBe(1);
          break;
        }
        return { batches, rows, maxBatch, count: await reader.count(table) };
      });
      expect(result).toEqual({ batches: 60, rows: 30000, maxBatch: 500, count: 30000 });
      expect(await conn.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await conn.close();
    }
  });

  test('checksums read in stored order count only when they match; otherwise the sorted read decides', async () => {
    const db = await createDb('stored');
    // Stored order 3,1,2 for "shuffled"; 1..500 in order for "ordered".
    await sql(db, `CREATE TABLE shuffled (id int PRIMARY KEY, v text); INSERT INTO shuffled VALUES (3, 'c'), (1, 'a'), (2, 'b');
      CREATE TABLE ordered (id int PRIMARY KEY, v text); INSERT INTO ordered SELECT g, 'v' || g FROM generate_series(1, 500) g`);
    const conn = await connect(db);
    try {
      await conn.snapshot(async (reader) => {
        const tables = reader.schema.tables;
        const canonical = await checksumTables(reader, tables);
        expect(canonical.shuffled.rows).toBe(3);
        // Right expectations: the same canonical checksums, whichever read produced them.
        expect(await checksumTables(reader, tables, { expected: canonical })).toEqual(canonical);
        // A wrong expectation never turns into a match: the result is still the canonical checksum.
        const wrong = { ...canonical, ordered: { rows: 500, sha256: '0'.repeat(64) } };
        expect(await checksumTables(reader, tables, { expected: wrong })).toEqual(canonical);
        // The stored order really differs for "shuffled" (so the first case did fall back).
        let stored = '';
        for await (const chunk of reader.canonicalLines!(tables.find((t) => t.name === 'shuffled')!, 'stored')) stored += Buffer.from(chunk).toString();
        expect(stored).toBe('[3,"c"]\n[1,"a"]\n[2,"b"]\n');
      });
    } finally {
      await conn.close();
    }
  });

  test('a snapshot never shows a row written after it started', async () => {
    const db = await createDb('snap');
    await sql(db, `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'old'), (2, 'old')`);
    const conn = await connect(db);
    const writer = await connect(db);
    try {
      const seen = await conn.snapshot(async (reader) => {
        const table = reader.schema.tables[0];
        await writer.query(`INSERT INTO t VALUES (3, 'new')`);
        await writer.query(`UPDATE t SET v = 'changed' WHERE id = 1`);
        await writer.query(`DELETE FROM t WHERE id = 2`);
        const rows: EncodedRow[] = [];
        for await (const b of reader.rows(table)) rows.push(...b);
        return { rows, count: await reader.count(table) };
      });
      expect(seen).toEqual({ rows: [[1, 'old'], [2, 'old']], count: 2 });
      expect(await conn.query('SELECT id, v FROM t ORDER BY id')).toEqual([{ id: 1, v: 'changed' }, { id: 3, v: 'new' }]);
    } finally {
      await writer.close();
      await conn.close();
    }
  });
});

describe('load', () => {
  test('full load into a fresh database reproduces the data exactly (our dump and pg_dump agree)', async () => {
    const db = await createDb('full');
    const conn = await connect(db);
    try {
      const progress: Record<string, number> = {};
      let checked = false;
      const result = await conn.load({
        mode: 'full',
        schema: sourceDump.schema,
        tables: sourceDump.schema.tables.map((t) => t.name),
        data: sectionsOf(sourceDump),
        onProgress: (table, n) => (progress[table] = n),
        beforeCommit: async (tx) => {
          const [r] = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM "Employee"');
          expect(r.n).toBe(4);
          checked = true;
        },
      });
      expect(checked).toBe(true);
      const expected = Object.fromEntries(sourceDump.tables.map((t) => [t.table.name, t.rows.length]));
      expect(result.rowsByTable).toEqual(expected);
      expect(progress).toEqual(Object.fromEntries(Object.entries(expected).filter(([, n]) => n > 0)));

      const again = await dump(conn);
      // The one intended difference: "Employee" had a hand-inserted id (10) above its identity
      // sequence (3); the restored sequence continues after the highest id so new rows never collide.
      const employeeSeq = (schema: DbSchema) => schema.sequences.find((s) => s.table === 'Employee')!;
      expect(employeeSeq(sourceDump.schema).lastValue).toBe('3');
      expect(employeeSeq(again.schema)).toMatchObject({ lastValue: '10', isCalled: true });
      const bumped = { ...sourceDump.schema, sequences: sourceDump.schema.sequences.map((s) => (s.table === 'Employee' ? { ...s, lastValue: '10', isCalled: true } : s)) };
      expect(again.schema).toEqual(bumped);
      expect(again.tables).toEqual(sourceDump.tables);
      const notEmployeeSeq = (lines: string[]) => lines.filter((l) => !/setval\('public\."?Employee_id_seq/.test(l));
      const oracle = dataLines(source);
      expect(oracle.length).toBeGreaterThan(30);
      expect(notEmployeeSeq(dataLines(db))).toEqual(notEmployeeSeq(oracle));
      // The structure too: pg_dump's schema of both databases is the same.
      expect(pgDump(db, '--schema-only')).toEqual(pgDump(source, '--schema-only'));

      // Sequences continue after the restored rows.
      const [a] = await conn.query<{ id: number }>(`INSERT INTO "Awkward" (t) VALUES ('after') RETURNING id`);
      expect(a.id).toBe(8);
      const [e] = await conn.query<{ id: number }>(`INSERT INTO "Employee" (name) VALUES ('new hire') RETURNING id`);
      expect(e.id).toBe(11); // identity at 3 in the backup, but 10 was inserted by hand: no collision
      const [b] = await conn.query<{ id: string }>(`INSERT INTO "B" ("aId") VALUES (1) RETURNING id`);
      expect(b.id).toBe('4');
      // A full load over a database that already holds the schema replaces it (second run).
      await conn.load({ mode: 'full', schema: sourceDump.schema, tables: sourceDump.schema.tables.map((t) => t.name), data: sectionsOf(sourceDump) });
      expect(notEmployeeSeq(dataLines(db))).toEqual(notEmployeeSeq(oracle));
    } finally {
      await conn.close();
    }
  });

  test('a load hands back receipts the tables match byte for byte, until a row changes (the proof without conversion)', async () => {
    const db = await createDb('receipts');
    const conn = await connect(db);
    try {
      const names = sourceDump.schema.tables.map((t) => t.name);
      const result = await conn.load({ mode: 'full', schema: sourceDump.schema, tables: names, data: sectionsOf(sourceDump) });
      const receipts = result.receipts!;
      // A table with a generated column is not written whole, so it gets no receipt.
      expect(Object.keys(receipts).sort()).toEqual(names.filter((n) => n !== 'Awkward').sort());
      expect(receipts.Employee.rows).toBe(4);
      const matches = (receiptOf: (name: string) => LoadReceipt) =>
        conn.snapshot(async (r) => {
          const out: Record<string, boolean> = {};
          for (const t of r.schema.tables) if (receipts[t.name]) out[t.name] = await r.matchesLoad!(t, receiptOf(t.name));
          return out;
        });
      const all = (v: boolean) => Object.fromEntries(Object.keys(receipts).map((n) => [n, v]));
      expect(await matches((n) => receipts[n])).toEqual(all(true));
      // A receipt for other bytes, or for the columns in another order, does not match.
      expect(await matches((n) => ({ ...receipts[n], sha256: '0'.repeat(64) }))).toEqual(all(false));
      expect(await matches((n) => ({ ...receipts[n], columns: [...receipts[n].columns].reverse() }))).toEqual(
        Object.fromEntries(Object.keys(receipts).map((n) => [n, receipts[n].columns.length === 1])),
      );
      // One changed value is seen, in that table only.
      await conn.query(`UPDATE "Employee" SET name = name || '!' WHERE id = 1`);
      expect(await matches((n) => receipts[n])).toEqual({ ...all(true), Employee: false });
      // A merge load (rows put beside existing ones) hands back no receipts.
      const merged = await conn.load({ mode: 'data', schema: sourceDump.schema, tables: ['NoKey'], keepExisting: true, data: sectionsOf(sourceDump) });
      expect(merged.rowsByTable).toEqual({ NoKey: 6 });
      expect(merged.receipts ?? {}).toEqual({});
    } finally {
      await conn.close();
    }
  });

  test('data load into a changed database restores exactly; sequences never collide', async () => {
    const db = await createDb('data');
    await sql(db, FIXTURE);
    await sql(db, `
      DELETE FROM "_AToEmployee" WHERE "A" = 1;
      UPDATE "Awkward" SET t = 'changed', j = '{"changed": true}' WHERE id = 3;
      DELETE FROM "Awkward" WHERE id IN (1, 5);
      INSERT INTO "Awkward" (t) SELECT 'extra ' || g FROM generate_series(1, 20) g;
      INSERT INTO "Employee" (name, "managerId") VALUES ('intruder', 3);
      UPDATE "A" SET label = 'renamed';
      INSERT INTO "NoKey" VALUES (42, 'extra', NULL);
      DELETE FROM _prisma_migrations;
      SELECT setval('"Employee_id_seq"', 1, false);
    `);
    const conn = await connect(db);
    try {
      const result = await conn.load({
        mode: 'data',
        schema: sourceDump.schema,
        tables: sourceDump.schema.tables.map((t) => t.name),
        data: sectionsOf(sourceDump),
      });
      expect(result.rowsByTable.Awkward).toBe(7);
      const again = await dump(conn);
      expect(again.tables.map((t) => t.rows)).toEqual(sourceDump.tables.map((t) => t.rows));
      // Awkward's sequence moved to 27 while the database was changed; the restore puts it back to
      // the backup's 7. Employee's is the exception (see below), so pg_dump agrees on all the rest.
      const withoutEmployeeSeq = (lines: string[]) => lines.filter((l) => !l.includes('Employee_id_seq'));
      expect(withoutEmployeeSeq(dataLines(db))).toEqual(withoutEmployeeSeq(dataLines(source)));
      const [a] = await conn.query<{ id: number }>(`INSERT INTO "Awkward" (t) VALUES ('after') RETURNING id`);
      expect(a.id).toBe(8);
      // Employee_id_seq was reset to 1 (not called) in the target; the backup says 3 but the table holds id 10.
      const [e] = await conn.query<{ id: number }>(`INSERT INTO "Employee" (name) VALUES ('new') RETURNING id`);
      expect(e.id).toBe(11);
      // Foreign keys are back and enforced.
      await expect(conn.query(`INSERT INTO "_AToEmployee" VALUES (999, 1)`)).rejects.toThrow(/foreign key/);
      const fks = await conn.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace`);
      expect(fks[0].n).toBe(5);
    } finally {
      await conn.close();
    }
  });

  test('a data load of some tables leaves the others alone and skips their sections', async () => {
    const db = await createDb('subset');
    await sql(db, FIXTURE);
    await sql(db, `UPDATE "Employee" SET name = name || '!'; UPDATE "A" SET label = 'kept'`);
    const conn = await connect(db);
    try {
      const result = await conn.load({ mode: 'data', schema: sourceDump.schema, tables: ['Employee'], data: sectionsOf(sourceDump) });
      expect(result.rowsByTable).toEqual({ Employee: 4 });
      expect(await conn.query('SELECT name FROM "Employee" ORDER BY id')).toEqual([{ name: 'boss' }, { name: 'a' }, { name: 'b' }, { name: 'late boss' }]);
      expect(await conn.query('SELECT DISTINCT label FROM "A"')).toEqual([{ label: 'kept' }]);
    } finally {
      await conn.close();
    }
  });

  test('a load that fails midway changes nothing (NOT NULL, foreign key, bad backup value)', async () => {
    const db = await createDb('fail');
    await sql(db, FIXTURE);
    await sql(db, `UPDATE "Employee" SET name = name || ' (live)'; INSERT INTO "A" (label) VALUES ('live only')`);
    const before = pgDump(db);
    const conn = await connect(db);
    const tables = sourceDump.schema.tables.map((t) => t.name);
    const attempt = async (mode: 'data' | 'full', mutate: (table: string, rows: EncodedRow[]) => EncodedRow[]) => {
      try {
        await conn.load({ mode, schema: sourceDump.schema, tables, data: sectionsOf(sourceDump, mutate) });
      } catch (e) {
        return e as GuardError;
      }
      throw new Error('the load should have failed');
    };
    try {
      // A null in a NOT NULL column on row 3 of Employee: no backup of this schema holds one, so the
      // canonical check refuses it as corrupt before the server sees it.
      const notNull = (table: string, rows: EncodedRow[]) =>
        table === 'Employee' ? rows.map((r, i) => (i === 2 ? [r[0], null, r[2]] : r)) : rows;
      for (const mode of ['data', 'full'] as const) {
        const err = await attempt(mode, notNull);
        expect(err).toBeInstanceOf(GuardError);
        expect(err.code).toBe('BACKUP_CORRUPT');
        expect(err.message).toMatch(/table "Employee", row 3, has a value for column "name" that is null, but the column is NOT NULL/);
        expect(pgDump(db)).toEqual(before);
      }
      // A reference to a missing row: found when the foreign keys come back.
      const dangling = (table: string, rows: EncodedRow[]) => (table === 'B' ? rows.map((r, i) => (i === 1 ? [r[0], '777'] : r)) : rows);
      for (const mode of ['data', 'full'] as const) {
        const err = await attempt(mode, dangling);
        expect(err.code).toBe('RESTORE_FAILED');
        expect(err.message).toMatch(/foreign key/);
        expect(err.message).toMatch(/\(aId\)=\(777\)/);
        expect(pgDump(db)).toEqual(before);
      }
      // A value the backup cannot hold for PostgreSQL, and a row of the wrong width.
      const badValue = (table: string, rows: EncodedRow[]) => (table === 'NoKey' ? [...rows, [{ $b64: 'AA==' }, 'x', null]] : rows);
      const err = await attempt('data', badValue);
      expect(err.message).toMatch(/table "NoKey", row 7.*column "x"/);
      const narrow = (table: string, rows: EncodedRow[]) => (table === 'A' ? [rows[0], rows[1].slice(0, 2)] : rows);
      expect((await attempt('full', narrow)).message).toMatch(/table "A", row 2: the row has 2 values, the table has 3 columns/);
      // beforeCommit throwing rolls back too.
      await expect(
        conn.load({
          mode: 'data', schema: sourceDump.schema, tables, data: sectionsOf(sourceDump),
          beforeCommit: async () => {
            throw new GuardError('SCHEMA_MISMATCH', 'last check failed');
          },
        }),
      ).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
      expect(pgDump(db)).toEqual(before);
      // and the connection is still fine for a good load afterwards
      await conn.load({ mode: 'data', schema: sourceDump.schema, tables, data: sectionsOf(sourceDump) });
      expect((await dump(conn)).tables.map((t) => t.rows)).toEqual(sourceDump.tables.map((t) => t.rows));
    } finally {
      await conn.close();
    }
  });

  test('a full restore refuses to cascade into objects of another schema', async () => {
    const db = await createDb('xschema');
    await sql(db, FIXTURE);
    await sql(db, `CREATE SCHEMA other; CREATE VIEW other.v AS SELECT * FROM public."A"`);
    const before = pgDump(db);
    const conn = await connect(db);
    try {
      const err = await conn
        .load({ mode: 'full', schema: sourceDump.schema, tables: sourceDump.schema.tables.map((t) => t.name), data: sectionsOf(sourceDump) })
        .catch((e) => e as GuardError);
      expect(err).toMatchObject({ code: 'RESTORE_FAILED' });
      expect((err as GuardError).message).toMatch(/view other\.v/);
      expect(pgDump(db)).toEqual(before);
    } finally {
      await conn.close();
    }
  });
});

describe('non-public schema', () => {
  test('?schema= selects the namespace: dump and full load into a schema that does not exist yet', async () => {
    const src = await createDb('appsrc');
    await sql(src, `
      CREATE TABLE public.decoy (id int PRIMARY KEY);
      CREATE SCHEMA app;
      CREATE TYPE app."Status" AS ENUM ('on', 'off');
      CREATE TABLE app."Item" (id serial PRIMARY KEY, status app."Status" NOT NULL DEFAULT 'on', tags app."Status"[]);
      CREATE TABLE app."Child" (id uuid PRIMARY KEY, "itemId" int NOT NULL REFERENCES app."Item"(id));
      INSERT INTO app."Item" (status, tags) VALUES ('off', '{on,off}'), ('on', NULL);
      INSERT INTO app."Child" VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 2);
    `);
    const dst = await createDb('appdst');
    const appUrl = (db: string) => `postgresql://postgres@${HOST}:${PORT}/${db}?schema=app`;
    const from = await postgresDialect.connect(parseDatabaseUrl(appUrl(src)));
    const to = await postgresDialect.connect(parseDatabaseUrl(appUrl(dst)));
    const toPublic = await connect(dst);
    try {
      const d = await dump(from);
      expect(d.schema.namespace).toBe('app');
      expect(d.schema.tables.map((t) => t.name)).toEqual(['Child', 'Item']);
      expect(rowsOf(d, 'Item')).toEqual([[1, 'off', '{on,off}'], [2, 'on', null]]);
      const tables = d.schema.tables.map((t) => t.name);
      // The backup's schema is "app": a full load into "public" would put objects elsewhere.
      await expect(toPublic.load({ mode: 'full', schema: d.schema, tables, data: sectionsOf(d) })).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
      await to.load({ mode: 'full', schema: d.schema, tables, data: sectionsOf(d) });
      expect((await dump(to)).tables).toEqual(d.tables);
      expect(dataLines(dst)).toEqual(dataLines(src).filter((l) => !l.includes('decoy')));
      const [item] = await to.query<{ id: number }>(`INSERT INTO "Item" DEFAULT VALUES RETURNING id`); // search_path is app
      expect(item.id).toBe(3);
    } finally {
      await from.close();
      await to.close();
      await toPublic.close();
    }
  });
});

describe('lock', () => {
  test('a held lock makes a second lock() fail with LOCKED, and works after release', async () => {
    const c1 = await connect(source);
    const c2 = await connect(source);
    try {
      const lock = await c1.lock('backup');
      const t0 = Date.now();
      const err = await c2.lock('backup', 600).catch((e) => e as GuardError);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
      expect(err).toBeInstanceOf(GuardError);
      expect(err).toMatchObject({ code: 'LOCKED', exitCode: 8 });
      expect((err as GuardError).message).toMatch(/prisma-guard lock backup pid/); // names the holder
      expect((err as GuardError).hint).toBeTruthy();
      // Another name is another lock; the work connection is not blocked by it.
      const other = await c2.lock('migrate');
      await other.release();
      expect(await c1.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      await lock.release();
      const again = await c2.lock('backup');
      await again.release();
      // A waiter gets the lock as soon as the holder lets go.
      const held = await c1.lock('backup');
      setTimeout(() => void held.release(), 300);
      const waited = await c2.lock('backup', 5000);
      await waited.release();
    } finally {
      await c1.close();
      await c2.close();
    }
  });

  test('closing the connection releases its locks', async () => {
    const c1 = await connect(source);
    await c1.lock('restore');
    await c1.close();
    const c2 = await connect(source);
    try {
      const lock = await c2.lock('restore');
      await lock.release();
    } finally {
      await c2.close();
    }
  });
});

describe('connect', () => {
  const secret = 'S3cr3t-Pa55w0rd';
  test('a down port gives DATABASE_UNREACHABLE naming host:port/db, never the password', async () => {
    const target = parseDatabaseUrl(`postgresql://postgres:${secret}@127.0.0.1:1/somedb?schema=public`);
    const err = (await postgresDialect.connect(target).catch((e) => e)) as GuardError;
    expect(err).toBeInstanceOf(GuardError);
    expect(err).toMatchObject({ code: 'DATABASE_UNREACHABLE', exitCode: 4 });
    expect(err.message).toContain('127.0.0.1:1/somedb');
    expect(JSON.stringify({ m: err.message, h: err.hint, d: err.details, c: String((err as Error).cause) })).not.toContain(secret);
    expect(err.hint).toMatch(/pg_isready/);
  });

  test('a missing database gives DATABASE_UNREACHABLE saying so, never the password', async () => {
    const target = parseDatabaseUrl(`postgresql://postgres:${secret}@${HOST}:${PORT}/${prefix}_missing`);
    const err = (await postgresDialect.connect(target).catch((e) => e)) as GuardError;
    expect(err).toMatchObject({ code: 'DATABASE_UNREACHABLE' });
    expect(err.message).toContain(`${HOST}:${PORT}/${prefix}_missing`);
    expect(err.message).toMatch(/does not exist/);
    expect(JSON.stringify({ m: err.message, h: err.hint, d: err.details, c: String((err as Error).cause) })).not.toContain(secret);
  });

  test('create: true creates a missing database (full restore onto an empty server)', async () => {
    const name = `${prefix}_created`;
    created.push(name);
    const conn = await postgresDialect.connect(parseDatabaseUrl(urlFor(name)), { create: true });
    try {
      expect(await conn.query('SELECT current_database() AS db')).toEqual([{ db: name }]);
      const [settings] = await conn.query<Record<string, string>>(
        `SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds, current_setting('extra_float_digits') AS efd,
                current_setting('bytea_output') AS bo, current_setting('IntervalStyle') AS ist, current_setting('search_path') AS sp`,
      );
      expect(settings).toEqual({ tz: 'UTC', ds: 'ISO, MDY', efd: '3', bo: 'hex', ist: 'postgres', sp: 'public' });
    } finally {
      await conn.close();
    }
  });

  test('dialect facts', () => {
    expect(postgresDialect.name).toBe('postgres');
    expect(postgresDialect.capabilities).toEqual({ transactionalDdl: true, advisoryLocks: true, scalarLists: true });
    expect(postgresDialect.quote('a"b')).toBe('"a""b"');
  });
});
