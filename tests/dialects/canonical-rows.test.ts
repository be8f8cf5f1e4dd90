import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import type { TableSchema } from '../../lib/core/types.ts';
import { checkCanonicalRun, type CanonicalRules, type EncodedValue } from '../../lib/dialects/dialect.ts';
import { postgresCanonicalRules } from '../../lib/dialects/postgres/postgres-values.ts';
import { decodeSqliteValue, encodeSqliteValue, sqliteAffinity, sqliteCanonicalRules } from '../../lib/dialects/sqlite/sqlite-values.ts';
import { createPgDatabase, type FreshDatabase } from '../helpers/db.ts';

/**
 * The canonical check against the databases themselves: a row line is canonical exactly when
 * storing the values it parses to and reading them back as the dumper does gives the same bytes.
 * Random lines (values in many spellings, spaces, escapes, tags, wrong types) go both ways; the
 * check must agree with the round trip on every one.
 */

function accepts(line: string, rules: CanonicalRules): boolean {
  try {
    checkCanonicalRun({ bytes: Buffer.from(line + '\n'), rows: 1, invalid: (_i, why) => new Error(why) }, rules);
    return true;
  } catch {
    return false;
  }
}

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)];
}

/** Value spellings: canonical ones and near misses. */
const SPELLINGS = [
  'null', 'true', 'false', '0', '-0', '1', '45', '-45', '45.0', '4.5', '4.50', '45e0', '1e3', '1E3', '0.1', '1e+21', '9007199254740991', '9007199254740992', '9007199254740993',
  '"45"', '" 45"', '"45 "', '"+45"', '"4.5"', '".5"', '"1e3"', '"1e"', '"0x10"', '"abc"', '""', '" "', '"-"', '"\\u0041bc"', '"\\/"', '"a\\nb"', '"\\t45"', '"\u00e9"', '"\\u00e9"',
  '"\u{1f995}"', '"\\ud83e\\udd95"', '"\\ud83e"', '"a\\u0000b"', '"2024-01-05T12:00:00.577+00:00"', '"Infinity"',
  '{"$int":"9007199254740993"}', '{"$int":"-9007199254740993"}', '{"$int":"5"}', '{"$int":"09007199254740993"}', '{"$int":"9223372036854775807"}', '{"$int":"9223372036854775808"}', '{"$int":5}',
  '{"$real":"5"}', '{"$real":"-0"}', '{"$real":"5.0"}', '{"$real":"4.5"}', '{"$real":"1e+21"}', '{"$real":"1e21"}', '{"$real":"Infinity"}', '{"$real":"-Infinity"}', '{"$real":"NaN"}', '{"$real":"9223372036854775808"}',
  '{"$b64":"AAE="}', '{"$b64":"AAE"}', '{"$b64":"AA E="}', '{"$b64":""}', '{"$b64":"-_8="}', '{"$b64":"AAE=","x":"1"}', '{ "$b64":"AAE="}', '{"x":"1"}', '[1]', '{}',
];

describe('SQLite rows: canonical exactly when SQLite stores and gives back the same line', () => {
  const db = new Database(':memory:');
  const table: TableSchema = {
    name: 't',
    columns: [
      { name: 'id', type: 'INTEGER', kind: 'any', nullable: false, default: null },
      { name: 'i', type: 'INTEGER', kind: 'any', nullable: true, default: null },
      { name: 'n', type: 'DECIMAL', kind: 'any', nullable: true, default: null },
      { name: 'r', type: 'REAL', kind: 'any', nullable: true, default: null },
      { name: 'x', type: 'TEXT', kind: 'any', nullable: true, default: null },
      { name: 'b', type: 'BLOB', kind: 'any', nullable: true, default: null },
      { name: 'd', type: 'DATETIME', kind: 'any', nullable: true, default: null },
      { name: 'nn', type: 'TEXT', kind: 'any', nullable: false, default: null },
    ],
    primaryKey: ['id'],
    foreignKeys: [],
    indexes: [],
  };
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, n DECIMAL, r REAL, x TEXT, b BLOB, d DATETIME, nn TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const read = db.prepare('SELECT * FROM t').raw(true).safeIntegers(true);
  const rules = sqliteCanonicalRules(table);
  /** Per column, spellings that are mostly canonical there (so that both sides are reached). */
  const GOOD = [
    ['1', '2', '45', '{"$int":"9007199254740993"}'],
    ['1', '-45', 'null', '4.5', '{"$int":"9007199254740993"}', '{"$real":"Infinity"}', '{"$b64":"AAE="}', '"abc"'],
    ['1', '-45', 'null', '4.5', '{"$real":"1e+21"}', '"2024-01-05"'],
    ['4.5', '0.1', 'null', '{"$real":"5"}', '{"$real":"-Infinity"}', '"abc"'],
    ['"abc"', '""', '"45"', '" 45"', '"\\u00e9"', '"\u00e9"', '"\u{1f995}"', '"a\\nb"', 'null', '{"$b64":"AAE="}'],
    ['{"$b64":"AAE="}', '45', '"abc"', '"45"', '4.5', '{"$real":"-0"}', '{"$real":"5"}', '{"$int":"9007199254740993"}'],
    ['"2024-01-05T12:00:00.577+00:00"', '1704456000577', 'null'],
    ['"x"', '""'],
  ];

  /** The line the dumper writes after SQLite stored what `line` parses to, or null when it cannot be stored. */
  function roundTrip(line: string): string | null {
    let row: EncodedValue[];
    try {
      row = JSON.parse(line);
    } catch {
      return null;
    }
    if (!Array.isArray(row) || row.length !== table.columns.length) return null;
    db.exec('DELETE FROM t');
    try {
      insert.run(row.map((v) => decodeSqliteValue(v)));
    } catch {
      return null; // not a value SQLite takes (a decode error, a bigint beyond 64 bits, NOT NULL, a rowid that is not an integer)
    }
    const back = read.all() as unknown[][];
    return JSON.stringify(back[0].map(encodeSqliteValue));
  }

  test('the affinity of declared types follows SQLite', () => {
    expect(['INTEGER', 'BIGINT', 'TEXT', 'VARCHAR(10)', 'BLOB', '', 'REAL', 'DOUBLE', 'DECIMAL', 'DATETIME', 'BOOLEAN', 'JSONB'].map(sqliteAffinity)).toEqual([
      'INTEGER', 'INTEGER', 'TEXT', 'TEXT', 'BLOB', 'BLOB', 'REAL', 'REAL', 'NUMERIC', 'NUMERIC', 'NUMERIC', 'NUMERIC',
    ]);
  });

  test('numeric-looking text is exactly the text SQLite converts in a NUMERIC column', () => {
    const random = seededRandom(11);
    const alphabet = [' ', '\t', '\n', '+', '-', '.', 'e', 'E', '0', '1', '9', 'x', '\u00a0'];
    const probe = new Database(':memory:');
    probe.exec('CREATE TABLE p (v NUMERIC)');
    const ins = probe.prepare('INSERT INTO p VALUES (?)');
    const kind = probe.prepare('SELECT typeof(v) AS t FROM p');
    const numericRules = sqliteCanonicalRules({ ...table, columns: [{ name: 'v', type: 'NUMERIC', kind: 'any', nullable: true, default: null }], primaryKey: [] });
    for (let n = 0; n < 3000; n++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(random, alphabet)).join('');
      probe.exec('DELETE FROM p');
      ins.run(text);
      const staysText = (kind.get() as { t: string }).t === 'text';
      expect(accepts(JSON.stringify([text]), numericRules), JSON.stringify(text)).toBe(staysText);
    }
  });

  test('random lines: the check agrees with the round trip through SQLite', () => {
    const random = seededRandom(7);
    let canonical = 0;
    for (let n = 0; n < 6000; n++) {
      const values = table.columns.map((_, c) => (random() < 0.75 ? pick(random, GOOD[c]) : pick(random, SPELLINGS)));
      let line = '[' + values.join(',') + ']';
      if (random() < 0.05) line = line.replace(',', ', ');
      const back = roundTrip(line);
      const expected = back === line;
      if (expected) canonical++;
      expect(accepts(line, rules), `${line} (SQLite gives back ${back})`).toBe(expected);
    }
    expect(canonical).toBeGreaterThan(50); // the generator reaches both sides
  });
});

describe('PostgreSQL rows: canonical exactly when PostgreSQL stores and gives back the same line', () => {
  let fresh: FreshDatabase;
  let client: pg.Client;
  const table: TableSchema = {
    name: 't',
    columns: [
      { name: 'id', type: 'integer', kind: 'int', nullable: false, default: null },
      { name: 's', type: 'smallint', kind: 'int', nullable: true, default: null },
      { name: 'i', type: 'integer', kind: 'int', nullable: true, default: null },
      { name: 'ok', type: 'boolean', kind: 'boolean', nullable: true, default: null },
      { name: 'x', type: 'text', kind: 'text', nullable: true, default: null },
      { name: 'nn', type: 'text', kind: 'text', nullable: false, default: null },
      { name: 'big', type: 'bigint', kind: 'bigint', nullable: true, default: null },
      { name: 'num', type: 'numeric', kind: 'decimal', nullable: true, default: null },
      { name: 'money', type: 'numeric(10,2)', kind: 'decimal', nullable: true, default: null },
      { name: 'u', type: 'uuid', kind: 'uuid', nullable: true, default: null },
      { name: 'bin', type: 'bytea', kind: 'bytes', nullable: true, default: null },
      { name: 'doc', type: 'jsonb', kind: 'json', nullable: true, default: null },
      { name: 'tags', type: 'text[]', kind: 'array', nullable: true, default: null },
      { name: 'nums', type: 'integer[]', kind: 'array', nullable: true, default: null },
    ],
    primaryKey: ['id'],
    foreignKeys: [],
    indexes: [],
  };
  const rules = postgresCanonicalRules(table);
  beforeAll(async () => {
    fresh = await createPgDatabase();
    client = new pg.Client({ connectionString: fresh.url });
    await client.connect();
    await client.query('CREATE TABLE t (id integer NOT NULL, s smallint, i integer, ok boolean, x text, nn text NOT NULL, big bigint, num numeric, money numeric(10,2), u uuid, bin bytea, doc jsonb, tags text[], nums integer[])');
  });
  afterAll(async () => {
    await client?.end();
    await fresh?.drop();
  });

  /** What the dumper writes after PostgreSQL stored `line`'s values as text input, or null when it refuses them. */
  async function roundTrip(line: string): Promise<string | null> {
    let row: unknown[];
    try {
      row = JSON.parse(line);
    } catch {
      return null;
    }
    if (!Array.isArray(row) || row.length !== table.columns.length) return null;
    if (row.some((v) => v !== null && typeof v === 'object')) return null;
    await client.query('SAVEPOINT s');
    try {
      await client.query('DELETE FROM t');
      await client.query('INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)', row.map((v) => (v === null ? null : typeof v === 'boolean' ? (v ? 't' : 'f') : String(v))));
      const r = await client.query({ text: 'SELECT id::text, s::text, i::text, ok::text, x, nn, big::text, num::text, money::text, u::text, bin::text, doc::text, tags::text, nums::text FROM t', rowMode: 'array' });
      await client.query('RELEASE SAVEPOINT s');
      const kinds = table.columns.map((c) => c.kind);
      return JSON.stringify((r.rows[0] as (string | null)[]).map((t, c) => (t === null ? null : kinds[c] === 'int' ? Number(t) : kinds[c] === 'boolean' ? t === 'true' : t)));
    } catch {
      await client.query('ROLLBACK TO SAVEPOINT s');
      return null;
    }
  }

  test('random lines: the check agrees with the round trip through PostgreSQL', async () => {
    const random = seededRandom(9);
    const spellings = [...SPELLINGS, '32767', '32768', '-32768', '-32769', '2147483647', '2147483648', '"t"', '"true"', '"f"'];
    await client.query('BEGIN');
    let canonical = 0;
    /** Per column, its spellings, the first one canonical (the base row). */
    const good = [
      ['1', '7'], ['7', '-12', 'null', '32767', '-32768'], ['0', '2147483647', 'null', '-2147483648'], ['true', 'false', 'null'], ['"abc"', '"45"', 'null', '"\u{1f995}"', '"a\\tb"'], ['"x"', '""'],
      ['"12"', '"-9223372036854775808"', '"9223372036854775808"', '"012"', '"-0"', '" 1"', 'null', '"1.0"'],
      ['"1.5"', '"1.50"', '"0"', '"-0"', '"-0.0"', '"NaN"', '"Infinity"', '"1e3"', '"01"', '".5"', '"-1.25"', 'null'],
      ['"1.50"', '"1.5"', '"1"', '"-0.00"', '"12345678.90"', '"NaN"', '"Infinity"', 'null'],
      ['"0b1a6a3e-6f7b-4c9c-9a43-1a2b3c4d5e6f"', '"0B1A6A3E-6F7B-4C9C-9A43-1A2B3C4D5E6F"', '"0b1a6a3e6f7b4c9c9a431a2b3c4d5e6f"', '"{0b1a6a3e-6f7b-4c9c-9a43-1a2b3c4d5e6f}"', 'null'],
      ['"\\\\x00ff"', '"\\\\x00FF"', '"\\\\x"', '"\\\\x0"', '"abc"', 'null'],
      ['"{\\"a\\": 1}"', '"{\\"a\\":1}"', '"{\\"bb\\": 1, \\"a\\": 2}"', '"{\\"a\\": 2, \\"bb\\": 1}"', '"{\\"a\\": 1, \\"a\\": 2}"', '"[1, 2.50, 1e2, -0, 1E-2]"', '"[1, 2.50, 100, 0, 0.01]"',
        '"\\"\\\\u00e9\\""', '"\\"\u00e9\\""', '"{\\"é\\": 1, \\"z\\": 2}"', '"{\\"z\\": 2, \\"é\\": 1}"', '"null"', '"[]"', '"{}"', '"[ ]"', '"{\\"a\\": [true, false, null]}"', 'null', '"nope"',
        '"\\"\\\\u0000\\""', '"1.0e+2"', '"{\\"a\\": {\\"c\\": 1, \\"b\\": 2}}"'],
      ['"{a,b}"', '"{a, b}"', '"{\\"a\\",b}"', '"{\\"a b\\",c}"', '"{a b,c}"', '"{NULL,x}"', '"{null,x}"', '"{\\"NULL\\",x}"', '"{\\"\\",x}"', '"{}"', '"{ }"', '"{\\"{braces}\\",\\"back\\\\\\\\slash\\"}"',
        '"{\\"back\\\\\\\\slash\\"}"', '"{{a,b},{c,d}}"', '"{{a,b},{c}}"', '"{\\"é\\",ü}"', '"{é,ü}"', '"{\\"x,y\\"}"', '"{\\"q\\\\\\"q\\"}"', '"{a,}"', '"[0:1]={a,b}"', 'null'],
      ['"{1,2}"', '"{01,2}"', '"{1, 2}"', '"{-0}"', '"{NULL,3}"', '"{\\"1\\"}"', '"{}"', '"{{1,2},{3,4}}"', '"{2147483648}"', 'null'],
    ];
    // Every spelling in every column of an otherwise canonical row, then random mixes.
    const base = good.map((g) => g[0]);
    const lines: string[] = [];
    table.columns.forEach((_, c) => {
      for (const v of new Set([...good[c], ...spellings])) lines.push('[' + base.map((b, i) => (i === c ? v : b)).join(',') + ']');
    });
    for (let n = 0; n < 300; n++) lines.push('[' + table.columns.map((_, c) => pick(random, random() < 0.9 ? good[c] : spellings)).join(',') + ']');
    for (let line of lines) {
      if (random() < 0.03) line = line.replace(',', ' ,');
      const back = await roundTrip(line);
      const expected = back === line;
      if (expected) canonical++;
      expect(accepts(line, rules), `${line} (PostgreSQL gives back ${back})`).toBe(expected);
    }
    await client.query('ROLLBACK');
    expect(canonical).toBeGreaterThan(50);
  });
});
