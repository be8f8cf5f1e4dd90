import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import type { TableSchema } from '../../lib/core/types.ts';
import { createHash } from 'node:crypto';
import { checkCanonicalRun, type RowLines } from '../../lib/dialects/dialect.ts';
import { CopyFrameHasher, LONG_ROW_BYTES } from '../../lib/dialects/postgres/postgres-copy-digest.ts';
import { JsonLinesToCopy } from '../../lib/dialects/postgres/postgres-copy-text.ts';
import { postgresCanonicalRules } from '../../lib/dialects/postgres/postgres-values.ts';

/**
 * JsonLinesToCopy.convertCanonical is the restore's one pass over a run of lines: the canonical
 * check and the COPY translation together. It must give exactly what the two separate steps give
 * (checkCanonicalRun, then convert): the same COPY bytes for a canonical run, the same error
 * (same line, same words) for one that is not. Random runs of lines mixing canonical values and
 * near misses, for every kind of column the fast path decides, and some it leaves to the long way.
 */

const table: TableSchema = {
  name: 't',
  columns: [
    { name: 'id', type: 'integer', kind: 'int', nullable: false, default: null },
    { name: 'small', type: 'smallint', kind: 'int', nullable: true, default: null },
    { name: 'flag', type: 'boolean', kind: 'boolean', nullable: true, default: null },
    { name: 'body', type: 'text', kind: 'text', nullable: true, default: null },
    { name: 'big', type: 'bigint', kind: 'bigint', nullable: true, default: null },
    { name: 'price', type: 'numeric(10,2)', kind: 'decimal', nullable: true, default: null },
    { name: 'blob', type: 'bytea', kind: 'bytes', nullable: true, default: null },
    { name: 'name', type: 'text', kind: 'text', nullable: false, default: null },
  ],
  primaryKey: ['id'],
  foreignKeys: [],
  indexes: [],
};

/** Per column, spellings: canonical ones first, then near misses and forms only the long way decides. */
const SPELLINGS: string[][] = [
  ['1', '45', '-45', '2147483647', '0', '-0', '045', '4.5', '1e3', '"1"', 'null', '99999999999', '-2147483649'],
  ['1', '-32768', '32767', 'null', '32768', '12345', 'true'],
  ['true', 'false', 'null', '1', '"t"', 'True'],
  ['"abc"', '""', '"a\\nb"', '"tab\\there"', '"q\\"uote"', '"back\\\\slash"', '"\u00e9t\u00e9"', '"\u{1f995}"', '"\\u0001"', '"\\u001f"', '"\\u00e9"', '"\\/"', '"a\\u0000b"', '"\\ud83e"', 'null', '45', '" lead"'],
  ['"9007199254740993"', '"-5"', '"0"', '"-0"', '"05"', '"9223372036854775808"', '"1.5"', 'null', '5'],
  ['"10.50"', '"-0.01"', '"10.5"', '"1e2"', '" 1.00"', 'null', '10.5'],
  ['"\\\\x00ff"', '"\\\\x"', '"\\\\xFF"', '"\\\\x0"', 'null'],
  ['"x"', '"with space"', '""', 'null', '"\\r\\n"'],
];

function line(random: () => number, nearMiss: number): string {
  const values = SPELLINGS.map((options) => (random() < nearMiss ? options[Math.floor(random() * options.length)] : options[0]));
  const r = random();
  if (r < 0.01) values.pop(); // a value short
  else if (r < 0.02) values.push('1'); // one too many
  let text = `[${values.join(',')}]`;
  if (random() < 0.01) text = text.replace(',', ', '); // a space
  if (random() < 0.005) text = text.slice(0, -1); // no closing bracket
  return text;
}

function outcome(fn: () => Buffer): { bytes?: string; error?: string } {
  try {
    return { bytes: fn().toString('latin1') };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describe('convertCanonical: the canonical check and the COPY translation in one pass', () => {
  const rules = postgresCanonicalRules(table);
  const width = table.columns.length;
  const run = (lines: string[], bytes = Buffer.from(lines.map((l) => l + '\n').join(''))): RowLines => ({
    bytes,
    rows: lines.length,
    invalid: (i, why) => new Error(`line ${i + 1} ${why}`),
  });
  const separate = (r: RowLines, include: number[]) => () => {
    checkCanonicalRun(r, rules);
    return new JsonLinesToCopy(width, include, (i) => table.columns[i].name).convert(r.bytes, r.rows, r.invalid);
  };
  const together = (r: RowLines, include: number[]) => () => new JsonLinesToCopy(width, include, (i) => table.columns[i].name).convertCanonical(r, rules);

  test('random runs: the same bytes or the same error as check, then convert', () => {
    const random = seededRandom(14);
    let accepted = 0;
    let refused = 0;
    for (let n = 0; n < 4000; n++) {
      const lines = Array.from({ length: 1 + Math.floor(random() * 6) }, () => line(random, random() < 0.5 ? 0 : 0.25));
      // Every column written, or one left out (a generated column).
      const include = random() < 0.8 ? table.columns.map((_, i) => i) : table.columns.map((_, i) => i).filter((i) => i !== Math.floor(random() * width));
      const r = run(lines);
      const a = outcome(separate(r, include));
      const b = outcome(together(r, include));
      expect(b, lines.join('\n')).toEqual(a);
      if (a.error) refused++;
      else accepted++;
    }
    // Both sides reached often.
    expect(accepted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
  });

  test('bytes that are not UTF-8 are refused naming the line, as the separate check does', () => {
    const good = Buffer.from('[1,null,true,"a",null,null,null,"x"]\n');
    const bad = Buffer.concat([Buffer.from('[2,null,true,"'), Buffer.from([0xc3, 0x28]), Buffer.from('",null,null,null,"x"]\n')]);
    const r = run(['', ''], Buffer.concat([good, bad]));
    const all = table.columns.map((_, i) => i);
    expect(outcome(together(r, all))).toEqual(outcome(separate(r, all)));
    expect(outcome(together(r, all)).error).toMatch(/line 2 is not valid UTF-8/);
  });
});

describe('CopyFrameHasher: a chunk framed and hashed at once', () => {
  /** The framing row by row, as PostgreSQL sends COPY output: `d`, the length (itself included), the row. */
  function rowByRow(chunks: Buffer[]): string {
    const hash = createHash('sha256');
    for (const chunk of chunks) {
      for (let start = 0, nl = chunk.indexOf(10); nl >= 0; start = nl + 1, nl = chunk.indexOf(10, start)) {
        const row = chunk.subarray(start, nl + 1);
        if (row.length > LONG_ROW_BYTES) {
          hash.update('L');
          hash.update(createHash('sha256').update(row).digest());
        } else {
          const header = Buffer.from([0x64, 0, 0, 0, 0]);
          header.writeUInt32BE(row.length + 4, 1);
          hash.update(header);
          hash.update(row);
        }
      }
    }
    return hash.digest('hex');
  }

  test('the digest of row-by-row framing, for rows from empty to past LONG_ROW_BYTES', () => {
    const random = seededRandom(5);
    for (let n = 0; n < 120; n++) {
      const chunks = Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
        const rows = Array.from({ length: Math.floor(random() * 40) }, () => {
          const r = random();
          const length = r < 0.05 ? 0 : r < 0.9 ? Math.floor(random() * 300) : r < 0.97 ? Math.floor(random() * 300_000) : LONG_ROW_BYTES - 2 + Math.floor(random() * 4);
          return 'x'.repeat(length) + '\n';
        });
        return Buffer.from(rows.join(''));
      });
      const hasher = new CopyFrameHasher();
      for (const c of chunks) hasher.update(c);
      expect(hasher.digest()).toBe(rowByRow(chunks));
    }
  });
});
