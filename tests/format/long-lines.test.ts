import { recompute as recomputeChecksums } from '../helpers/forge.ts';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ColumnSchema, TableSchema } from '../../lib/core/types.ts';
import { seededRandom } from '../../lib/core/random.ts';
import { checkCanonicalRun, type RowLineItem } from '../../lib/dialects/dialect.ts';
import { isLowerHex, LongLineCheck } from '../../lib/dialects/long-line.ts';
import { CopyFrameHasher, LONG_ROW_BYTES } from '../../lib/dialects/postgres/postgres-copy-digest.ts';
import { JsonLinesToCopy } from '../../lib/dialects/postgres/postgres-copy-text.ts';
import { postgresCanonicalRules } from '../../lib/dialects/postgres/postgres-values.ts';
import { LONG_LINE_BYTES, openBackup } from '../../lib/format/reader.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { tempDir, tempSqliteUrl } from '../helpers/db.ts';

/**
 * One large value: a row line longer than LONG_LINE_BYTES is handed out in pieces, checked and
 * translated piece by piece (lib/dialects/long-line.ts, JsonLinesToCopy.convertPiece). Promises:
 * the streamed canonical check accepts and refuses exactly the lines the whole-line check does,
 * wherever the pieces are cut; the streamed COPY text and its digest are the whole line's; the
 * reader's pieces are the file's bytes, bounded in size; and a long line that was changed (its
 * checksums left, or recomputed so only the canonical check can tell) or cut short is refused.
 */
const col = (name: string, type: string, kind: ColumnSchema['kind'], nullable = true): ColumnSchema => ({ name, type, kind, nullable, default: null });
const TABLE: TableSchema = {
  name: 'big',
  columns: [col('id', 'integer', 'int', false), col('b', 'bytea', 'bytes'), col('t', 'text', 'text'), col('j', 'jsonb', 'json'), col('n', 'numeric(10,2)', 'decimal'), col('ok', 'boolean', 'boolean')],
  primaryKey: ['id'],
  foreignKeys: [],
  indexes: [],
};
const RULES = postgresCanonicalRules(TABLE);

const SPECIALS = ['\\', '"', '\t', '\n', '\r', '\b', '\f', '\v', '\u0001', '\u001f', '\u007f', 'é', '€', '\u{1F995}', '\u2028', '/', '\\N', '\\x41'];

function text(random: () => number, size: number): string {
  let s = '';
  while (s.length < size) s += random() < 0.5 ? 'plain text with é and € '.repeat(1 + Math.floor(random() * 30)) : SPECIALS[Math.floor(random() * SPECIALS.length)];
  return s;
}

function hex(random: () => number, bytes: number): string {
  return '\\x' + Buffer.from(Array.from({ length: bytes }, () => Math.floor(random() * 256))).toString('hex');
}

/** `bytes` cut into pieces of random sizes (1 byte to `max`). */
function cut(bytes: Buffer, random: () => number, max: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(random() ** 2 * max));
    pieces.push(bytes.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

const wholeVerdict = (line: Buffer): string | null => {
  try {
    checkCanonicalRun({ bytes: line, rows: 1, invalid: (_i, why) => new Error(why) }, RULES);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};

const streamedVerdict = (line: Buffer, random: () => number): string | null => {
  const check = new LongLineCheck(RULES, (why) => new Error(why));
  try {
    for (const p of cut(line, random, 20_000)) check.push(Buffer.from(p)); // copies: pieces are views that die
    check.end();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};

describe('long row lines in pieces', () => {
  const random = seededRandom(1212);
  const rows = [
    [1, hex(random, 150_000), text(random, 200_000), '{"a": 1, "b": [true, null]}', '12.50', true],
    [2, null, text(random, 300_000), null, null, null],
    [3, hex(random, 300_000), '', '"x"', '-0.01', false],
  ];
  const lines = rows.map((r) => Buffer.from(JSON.stringify(r) + '\n'));

  test('isLowerHex agrees with a regexp at every alignment', () => {
    const digits = Buffer.from('0123456789abcdef'.repeat(64));
    for (let from = 0; from < 9; from++) {
      expect(isLowerHex(digits, from, digits.length - from)).toBe(true);
      for (const bad of 'ABCDEFgG/:`@ \x00\x7f\x80\xff') {
        const b = Buffer.from(digits);
        const at = from + Math.floor(random() * (b.length - 2 * from - 1));
        b[at] = bad.charCodeAt(0);
        expect(isLowerHex(b, from, b.length - from), `${JSON.stringify(bad)} at ${at}`).toBe(false);
      }
    }
  });

  test('the streamed check decides every line as the whole-line check does, wherever it is cut', () => {
    for (const line of lines) {
      expect(wholeVerdict(line)).toBeNull();
      expect(streamedVerdict(line, random)).toBeNull();
    }
    // Rewrites of one spot: bytes that break the JSON, the UTF-8 or the canonical form, and
    // escapes JSON.stringify does or does not write.
    const swaps = ['A', 'g', '"', '\\', '\u0001', ' ', ',', ']', '[', '0', 'u', 'x', '\\/', '\\u00e9', '\\u0000', '\\u000b', '\\u0008', '\\u001F', '\\ud83e\\udd95', '\\ud83e', 'é', '\u{1F995}'];
    let refused = 0;
    let accepted = 0;
    for (let trial = 0; trial < 600; trial++) {
      const base = lines[trial % lines.length];
      const at = 1 + Math.floor(random() * (base.length - 2));
      let mutated: Buffer;
      const r = random();
      if (r < 0.15) mutated = Buffer.concat([base.subarray(0, at), base.subarray(at + 1)]); // a byte gone
      else if (r < 0.3) {
        mutated = Buffer.from(base);
        mutated[at] = [0xff, 0xc3, 0x80, 0xe2, 0x41, 0x46][Math.floor(random() * 6)]; // broken UTF-8, upper-case hex
      } else mutated = Buffer.concat([base.subarray(0, at), Buffer.from(swaps[Math.floor(random() * swaps.length)]), base.subarray(at + (random() < 0.5 ? 1 : 0))]);
      if (mutated.indexOf(0x0a) !== mutated.length - 1) continue;
      const whole = wholeVerdict(mutated);
      expect(streamedVerdict(mutated, random) === null, `trial ${trial} at ${at}: the whole-line check said ${whole ?? 'canonical'}`).toBe(whole === null);
      if (whole === null) accepted++;
      else refused++;
    }
    expect(refused).toBeGreaterThan(300);
    expect(accepted).toBeGreaterThan(5);
  });

  test('COPY text and its digest are the same in pieces as for the whole line', () => {
    for (const include of [[0, 1, 2, 3, 4, 5], [0, 2, 5]]) {
      const whole = new JsonLinesToCopy(6, include, (i) => `c${i}`);
      const expected = whole.convert(Buffer.concat(lines), lines.length, () => new Error('unexpected'));
      const framedWhole = new CopyFrameHasher();
      framedWhole.update(expected);
      const inPieces = new JsonLinesToCopy(6, include, (i) => `c${i}`);
      const framed = new CopyFrameHasher();
      const out: Buffer[] = [];
      for (const line of lines) {
        const pieces = cut(line, random, 70_000);
        pieces.forEach((p, k) => {
          const copy = inPieces.convertPiece(Buffer.from(p), k === 0, k === pieces.length - 1, (why) => new Error(why));
          framed.addPiece(copy, k === pieces.length - 1);
          out.push(Buffer.from(copy));
        });
      }
      expect(Buffer.concat(out).equals(expected)).toBe(true);
      expect(framed.digest()).toBe(framedWhole.digest());
    }
  });

  test('a row is hashed as a long one exactly past LONG_ROW_BYTES, in pieces or whole', () => {
    for (const size of [LONG_ROW_BYTES - 1, LONG_ROW_BYTES, LONG_ROW_BYTES + 1, 3 * LONG_ROW_BYTES]) {
      const row = Buffer.concat([Buffer.alloc(size - 1, 0x61), Buffer.from('\n')]);
      const short = Buffer.from('1\tx\n');
      const whole = new CopyFrameHasher();
      whole.update(Buffer.concat([short, row, short]));
      const pieces = new CopyFrameHasher();
      pieces.update(short);
      const parts = cut(row, random, 400_000);
      parts.forEach((p, k) => pieces.addPiece(p, k === parts.length - 1));
      pieces.update(short);
      const digest = whole.digest();
      expect(pieces.digest(), `row of ${size} bytes`).toBe(digest);
      const framed = createHash('sha256');
      const header = Buffer.from([0x64, 0, 0, 0, 0]);
      header.writeUInt32BE(short.length + 4, 1);
      framed.update(header).update(short);
      if (size > LONG_ROW_BYTES) framed.update('L').update(createHash('sha256').update(row).digest());
      else framed.update(Buffer.from([0x64, ...[24, 16, 8, 0].map((s) => ((size + 4) >>> s) & 0xff)])).update(row);
      framed.update(header).update(short);
      expect(digest, `row of ${size} bytes`).toBe(framed.digest('hex'));
    }
  });
});

describe('reading, verifying and restoring a backup with long lines', () => {
  const source = tempSqliteUrl('source.db');
  const target = tempSqliteUrl('target.db');
  const dir = tempDir();
  let file = '';
  const expected: string[] = [];

  beforeAll(async () => {
    const db = new Database(source.file);
    db.exec('CREATE TABLE "Doc" (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const random = seededRandom(77);
    const insert = db.prepare('INSERT INTO "Doc" (id, body) VALUES (?, ?)');
    for (let id = 1; id <= 40; id++) {
      // Lines of 1.5-3 MB every tenth row, so pieces start and end anywhere in gunzip's chunks.
      const body = id % 10 === 3 ? text(random, 1_500_000 + Math.floor(random() * 1_500_000)) : text(random, Math.floor(random() * 2000));
      insert.run(id, body);
      expected.push(JSON.stringify([id, body]));
    }
    db.close();
    file = (await backup(resolveContext({ url: source.url, backupDir: dir.dir, env: {} }), { reason: 'long' })).path;
  });
  afterAll(() => {
    source.remove();
    target.remove();
    dir.remove();
  });

  const pieceByPiece = async (f: string) => {
    const opened = await openBackup(f);
    try {
      const out: string[] = [];
      let sizes: number[] = [];
      let pieces = 0;
      for await (const section of opened.sections()) {
        let long: Buffer[] = [];
        for await (const item of section.pieces as AsyncIterable<RowLineItem>) {
          if ('piece' in item) {
            pieces++;
            sizes.push(item.bytes.length);
            long.push(Buffer.from(item.bytes));
            if (item.last) {
              out.push(Buffer.concat(long).toString('utf8').slice(0, -1));
              long = [];
            }
          } else out.push(...Buffer.from(item.bytes).toString('utf8').split('\n').slice(0, item.rows));
        }
      }
      sizes = sizes.sort((a, b) => b - a);
      return { out, pieces, largest: sizes[0] ?? 0, trailer: opened.trailer };
    } finally {
      await opened.close();
    }
  };

  test('the pieces are the file\'s lines, each bounded, and the long rows restore byte for byte', async () => {
    const read = await pieceByPiece(file);
    expect(read.out).toEqual(expected);
    expect(read.trailer?.rowsTotal).toBe(40);
    expect(read.pieces).toBeGreaterThan(8); // 4 long lines, several pieces each
    expect(read.largest).toBeLessThan(LONG_LINE_BYTES + (1 << 19));

    const v = await verifyBackup(resolveContext({ backupDir: dir.dir, env: {} }), file, { record: false });
    expect(v.ok, v.error?.message).toBe(true);
    const r = await restore(resolveContext({ url: target.url, backupDir: dir.dir, env: {} }), { backup: file, yes: true, mode: 'full' });
    expect(r.proof?.matches).toBe(true);
    const got = new Database(target.file, { readonly: true });
    const rows = got.prepare('SELECT id, body FROM "Doc" ORDER BY id').raw(true).all() as [number, string][];
    got.close();
    expect(rows.map((x) => JSON.stringify(x))).toEqual(expected);
  });

  /** The backup's lines with `edit` applied to the first long row line; `recompute` fixes every checksum after it. */
  const forged = (name: string, edit: (line: string) => string, recompute: boolean): string => {
    const lines = zlib.gunzipSync(readFileSync(file)).toString('utf8').split('\n').slice(0, -1);
    const at = lines.findIndex((l) => l.startsWith('[') && l.length > LONG_LINE_BYTES);
    lines[at] = edit(lines[at]);
    if (recompute) recomputeChecksums(lines);
    const out = path.join(dir.dir, name);
    writeFileSync(out, zlib.gzipSync(lines.join('\n') + '\n'));
    return out;
  };

  /** `line` with the first `find` from `from` on that is not inside an escape replaced by `by`. */
  const replaceAfter = (line: string, from: number, find: string, by: string): string => {
    for (let k = line.indexOf(find, from); k >= 0; k = line.indexOf(find, k + 1)) {
      let slashes = 0;
      while (line[k - 1 - slashes] === '\\') slashes++;
      if (slashes % 2 === 0) return line.slice(0, k) + by + line.slice(k + find.length);
    }
    throw new Error(`no ${find} after ${from}`);
  };

  test('a change inside a long line is refused: by its checksum, or by the canonical check when the checksums were recomputed', async () => {
    const middle = (l: string) => Math.floor(l.length / 2);
    const cases = [
      { name: 'changed.jsonl.gz', file: forged('changed.jsonl.gz', (l) => l.slice(0, l.indexOf('plain', middle(l))) + 'PLAIN' + l.slice(l.indexOf('plain', middle(l)) + 5), false), why: /checksum of table "Doc" does not match/ },
      // Canonical JSON never escapes "a": only the canonical check can tell (the checksums agree).
      { name: 'escaped.jsonl.gz', file: forged('escaped.jsonl.gz', (l) => replaceAfter(l, 1_200_000, 'a', '\\u0061'), true), why: /row line \d+ of table "Doc" has a value for column "body" with the escape/ },
      { name: 'raw-tab.jsonl.gz', file: forged('raw-tab.jsonl.gz', (l) => replaceAfter(l, 1_300_000, '\\t', '\t'), true), why: /raw control character/ },
    ];
    for (const c of cases) {
      const v = await verifyBackup(resolveContext({ backupDir: dir.dir, env: {} }), c.file, { record: false });
      expect(v.ok, c.name).toBe(false);
      expect(v.error?.code, c.name).toBe('BACKUP_CORRUPT');
      expect(v.error?.message, c.name).toMatch(c.why);
      // The reader alone, piece by piece: the checksum catches the first (the others need the check).
      if (!c.name.startsWith('changed')) continue;
      await expect(pieceByPiece(c.file)).rejects.toMatchObject({ code: 'BACKUP_CORRUPT' });
    }
    // Cut short inside the long line.
    const gz = zlib.gunzipSync(readFileSync(file));
    const cutAt = gz.indexOf('\n', gz.indexOf('[3,')) - 500_000;
    const truncated = path.join(dir.dir, 'truncated.jsonl.gz');
    writeFileSync(truncated, zlib.gzipSync(gz.subarray(0, cutAt)));
    await expect(pieceByPiece(truncated)).rejects.toMatchObject({ code: 'BACKUP_TRUNCATED' });
  });
});
