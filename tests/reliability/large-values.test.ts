import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, type FreshDatabase } from '../helpers/db.ts';
import { cli, random, SEED, describeSeed, withPg } from './helpers.ts';

/**
 * Promise: one very large value (a 20 MB bytea holding every byte value, a 20 MB text made of
 * multi-byte characters and every character COPY or JSON must escape) goes through backup, verify
 * and restore (full mode into an empty database, data mode over changed rows) exactly: PostgreSQL's
 * own md5() of the values is the oracle. The time this takes is measured by bench/large-value.ts,
 * not here.
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
    const file = path.basename(JSON.parse(b.stdout).path);

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
});
