import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import { CopyTextParser, CopyToJsonLines, encodeCopyLine, firstSpecial, JsonLinesToCopy } from '../../lib/dialects/postgres/postgres-copy-text.ts';

/**
 * The converters' paths for long values (native scans past 256 plain bytes, a line split over many
 * chunks joined once) give exactly the bytes of the reference path: JSON.stringify of the decoded
 * COPY fields one way, JSON.parse + encodeCopyLine the other. No database: the codec alone.
 */
const SPECIALS = ['\\', '"', '\t', '\n', '\r', '\b', '\f', '\v', '\u0001', '\u001f', '\u007f', '\u00e9', '\u{1F995}', '\u2028', '/', '\\N'];

function longValue(random: () => number, size: number): string {
  let s = '';
  while (s.length < size) {
    const r = random();
    s += r < 0.6 ? 'plain text with é and € '.repeat(1 + Math.floor(random() * 40)) : SPECIALS[Math.floor(random() * SPECIALS.length)];
  }
  return s;
}

describe('COPY text codec on long values', () => {
  test('firstSpecial finds the first quote, backslash or control byte, or the end', () => {
    const b = Buffer.from('a'.repeat(70_000) + '\u0001' + 'b'.repeat(10) + '"' + '\\');
    expect(firstSpecial(b, 0, b.length)).toBe(70_000);
    expect(firstSpecial(b, 70_001, b.length)).toBe(70_011);
    expect(firstSpecial(b, 70_012, b.length)).toBe(70_012);
    expect(firstSpecial(b, 0, 500)).toBe(500);
  });

  test('both directions agree with the reference path for long fields split into chunks anywhere', () => {
    const random = seededRandom(2026);
    const rows: (string | number | null)[][] = [];
    for (let i = 0; i < 12; i++) rows.push([i, longValue(random, 1 + Math.floor(random() * 300_000)), random() < 0.3 ? null : longValue(random, Math.floor(random() * 2_000))]);
    rows.push([99, '\\x' + 'ab01'.repeat(200_000), '']); // a bytea as COPY prints it

    // JSON lines -> COPY: fast path against JSON.parse + encodeCopyLine.
    const json = rows.map((r) => JSON.stringify(r) + '\n').join('');
    const expectedCopy = rows.map((r) => encodeCopyLine(r)).join('');
    const toCopy = new JsonLinesToCopy(3, [0, 1, 2], (i) => `c${i}`);
    const copy = toCopy.convert(Buffer.from(json), rows.length, () => new Error('unexpected'));
    expect(copy.equals(Buffer.from(expectedCopy))).toBe(true);

    // COPY -> JSON lines, the COPY text split into chunks of random sizes (small and large).
    const kinds = ['number', 'string', 'string'] as const;
    const whole = Buffer.from(expectedCopy);
    const reference = new CopyTextParser()
      .push(whole)
      .map((f) => JSON.stringify(f.map((t, i) => (t === null ? null : i === 0 ? Number(t) : t))) + '\n')
      .join('');
    expect(reference).toBe(json);
    for (let round = 0; round < 4; round++) {
      const converter = new CopyToJsonLines(kinds, 'T');
      const parser = new CopyTextParser();
      const got: Buffer[] = [];
      const parsed: (string | null)[][] = [];
      for (let at = 0; at < whole.length; ) {
        const n = Math.min(whole.length - at, 1 + Math.floor(random() * (round % 2 ? 70_000 : 3_000)));
        got.push(Buffer.from(converter.push(whole.subarray(at, at + n))));
        parsed.push(...parser.push(whole.subarray(at, at + n)));
        at += n;
      }
      converter.end();
      parser.end();
      expect(Buffer.concat(got).toString('utf8')).toBe(json);
      expect(parsed.map((f) => f[1])).toEqual(rows.map((r) => r[1]));
    }
  });
});
