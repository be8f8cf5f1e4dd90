import { recompute as recomputeChecksums } from '../helpers/forge.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import { connect } from '../../lib/dialects/index.ts';
import { openBackup } from '../../lib/format/reader.ts';
import { createPgDatabase, type FreshDatabase } from '../helpers/db.ts';
import { cli, random, SEED, describeSeed, withPg } from './helpers.ts';

/**
 * Promise: one very large value (a 20 MB bytea holding every byte value, a 20 MB text made of
 * multi-byte characters and every character COPY or JSON must escape) goes through backup, verify
 * and restore (full mode into an empty database, data mode over changed rows) exactly: PostgreSQL's
 * own md5() of the values is the oracle. Their lines are far longer than LONG_LINE_BYTES, so the
 * reader hands them out in pieces that the checks and the COPY translation take one by one. A
 * change inside such a line is still refused, before COMMIT: by the table's checksum, or, with
 * every checksum recomputed, by the canonical check. The time this takes is measured by
 * bench/large-value.ts, not here.
 */
const MB = 1024 * 1024;

/** Text pieces: multi-byte characters, every escape COPY or JSON uses, look-alikes of COPY syntax. */
const PIECES = ['a', 'Z', ' ', 'é', '€', '\u{1F995}', '\u2028', '\\', '\\\\', '"', '\t', '\n', '\r', '\b', '\f', '\v', '\u0001', '\u001f', '\u007f', '\\N', '\\x41', '\\101', '[', ']', ',', 'null', '\ufffd'];

function bigText(bytes: number, rnd: () => number): string {
  const parts: string[] = [];
  let size = 0;
  // Long plain runs too, so the converters' native scans see text between the specials.
  while (size < bytes) {
    const p = rnd() < 0.05 ? 'plain text '.repeat(1 + Math.floor(rnd() * 200)) : PIECES[Math.floor(rnd() * PIECES.length)];
    parts.push(p);
    size += Buffer.byteLength(p);
  }
  return parts.join('');
}

describe('a 20 MB bytea and a 20 MB text on PostgreSQL', () => {
  let db: FreshDatabase;
  let empty: FreshDatabase;
  let dir: string;
  let expected: { id: number; bl: number; bm: string; tl: number; tm: string }[];
  let file = '';

  const fingerprint = (url: string) =>
    withPg(url, async (c) => (await c.query(`SELECT id, length(b) AS bl, md5(b) AS bm, length(t) AS tl, md5(t) AS tm FROM big ORDER BY id`)).rows);

  beforeAll(async () => {
    db = await createPgDatabase();
    empty = await createPgDatabase();
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-large-'));
    const rnd = random(SEED + 12);
    const bytes = randomBytes(20 * MB);
    for (let i = 0; i < 256; i++) bytes[i] = i; // every byte value, whatever the random draw
    const text = bigText(20 * MB, rnd);
    await withPg(db.url, async (c) => {
      await c.query(`CREATE TABLE big (id int PRIMARY KEY, b bytea, t text)`);
      await c.query(`INSERT INTO big VALUES (1, $1, $2), (2, NULL, 'small'), (3, '\\x'::bytea, '')`, [bytes, text]);
    });
    expected = await fingerprint(db.url);
    expect(expected[0].bl).toBe(20 * MB);
    expect(expected[0].tl).toBeGreaterThan(10 * 1024 * 1024); // characters, not bytes
  }, 120_000);

  afterAll(async () => {
    await db?.drop();
    await empty?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips exactly through backup, verify and restore in both modes', async () => {
    const env = { BACKUP_DIR: dir };
    const b = await cli(['backup', '--url', db.url, '--json'], env);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    file = path.basename(JSON.parse(b.stdout).path);

    const v = await cli(['verify', file, '--json'], env);
    expect(v.code, v.stdout + v.stderr).toBe(0);

    const full = await cli(['restore', file, '--mode', 'full', '--yes', '--no-safety-backup', '--url', empty.url, '--json'], env);
    expect(full.code, full.stdout + full.stderr).toBe(0);
    expect(await fingerprint(empty.url), describeSeed()).toEqual(expected);
    // The COPY text the loader sent is byte for byte what the server prints back (escapes included).
    expect(JSON.parse(full.stdout).proof.tables.big.method).toBe('load');

    await withPg(db.url, (c) => c.query(`UPDATE big SET b = '\\x00', t = 'changed'`));
    const data = await cli(['restore', file, '--yes', '--no-safety-backup', '--url', db.url, '--json'], env);
    expect(data.code, data.stdout + data.stderr).toBe(0);
    expect(await fingerprint(db.url), describeSeed()).toEqual(expected);
  }, 300_000);

  it('refuses a change inside the long line before COMMIT, by checksum or (checksums recomputed) by the canonical check', async () => {
    expect(file).not.toBe('');
    const lines = zlib.gunzipSync(readFileSync(path.join(dir, file))).toString('utf8').split('\n').slice(0, -1);
    const at = lines.findIndex((l) => l.startsWith('[1,'));
    // An upper-case hex digit 10 MB into the bytea: PostgreSQL reads it, but prints it lower-case.
    const k = lines[at].slice(10 * MB).search(/[a-f]/) + 10 * MB;
    const withDigit = (d: string) => {
      const ls = [...lines];
      ls[at] = lines[at].slice(0, k) + d + lines[at].slice(k + 1);
      return ls;
    };
    const write = (name: string, ls: string[]) => {
      const f = path.join(dir, name);
      writeFileSync(f, zlib.gzipSync(ls.join('\n') + '\n', { level: 1 }));
      return f;
    };
    const cases = [
      // Another lower-case digit: still canonical, so only the table's checksum can tell.
      { file: write('changed.jsonl.gz', withDigit(lines[at][k] === 'a' ? 'b' : 'a')), why: /checksum of table "big" does not match/ },
      { file: write('forged.jsonl.gz', recompute(withDigit(lines[at][k].toUpperCase()))), why: /row line \d+ of table "big" has a value for column "b" that is not a bytea as PostgreSQL prints it/ },
    ];
    const conn = await connect(parseDatabaseUrl(empty.url));
    try {
      for (const c of cases) {
        const v = await cli(['verify', c.file, '--json'], { BACKUP_DIR: dir });
        expect(v.code, v.stdout + v.stderr).toBe(3);
        expect(JSON.parse(v.stdout).error.message).toMatch(c.why);
        // The load's own checks, for a file never verified: refused, nothing committed.
        const opened = await openBackup(c.file);
        const err = await conn
          .load({ mode: 'full', schema: opened.header.schema, tables: ['big'], data: opened.sections() })
          .then(() => null, (e) => e as GuardError)
          .finally(() => opened.close());
        expect(err, c.file).toBeInstanceOf(GuardError);
        expect(err!.code, err!.message).toBe('BACKUP_CORRUPT');
        expect(err!.message).toMatch(c.why);
        expect(await fingerprint(empty.url), describeSeed()).toEqual(expected);
      }
    } finally {
      await conn.close();
    }
  }, 300_000);
});

/** The lines with every table checksum, the trailer's totals and its whole-file checksum recomputed. */
function recompute(input: string[]): string[] {
  const lines = [...input];
  recomputeChecksums(lines);
  return lines;
}
