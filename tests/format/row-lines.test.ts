import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import { checkCanonicalRun, PLAIN_BOOLEAN, PLAIN_INT, PLAIN_NULL, PLAIN_REAL, PLAIN_STRING, type CanonicalRules } from '../../lib/dialects/dialect.ts';

/** Rules that let every JSON value through: what is left to decide is the line's own form. */
function anyValue(width: number): CanonicalRules {
  return {
    columns: Array.from({ length: width }, (_, i) => `c${i}`),
    plain: new Uint8Array(width).fill(PLAIN_NULL | PLAIN_BOOLEAN | PLAIN_INT | PLAIN_REAL | PLAIN_STRING),
    intDigits: new Uint8Array(width).fill(15),
    valueError: () => null,
  };
}

/** What the canonical check must decide, by the slow and obvious route: an array of `width` values printed exactly as JSON.stringify prints it. */
function isCanonicalRow(bytes: Buffer, width: number): boolean {
  const line = bytes.toString('utf8');
  if (!Buffer.from(line, 'utf8').equals(bytes)) return false; // not valid UTF-8
  try {
    const row = JSON.parse(line);
    return Array.isArray(row) && row.length === width && JSON.stringify(row) === line;
  } catch {
    return false;
  }
}

function check(bytes: Buffer, width: number): boolean {
  try {
    checkCanonicalRun({ bytes: Buffer.concat([bytes, Buffer.from('\n')]), rows: 1, invalid: (_i, why) => new Error(why) }, anyValue(width));
    return true;
  } catch {
    return false;
  }
}

describe('the canonical check of row lines (verify and the loaders)', () => {
  test('accepts exactly the lines JSON.stringify prints for an array of `width` values', () => {
    const fixed = [
      '[1,"a",null]', '[true,false,null]', '[-0,0,-12]', '["",""]', '["a\\"b",1,2]', '[01,2,3]', '[1,2', '[1,2,3,4]', '[1,,3]', '[1,2,3,]',
      '[ 1,2,3]', '[1, 2,3]', '[1,2,3 ]', '[nul,1,2]', '[tru,1,2]', '["a\tb",1,2]', '[-,1,2]', '[1.5,2,3]', '[1.50,2,3]', '[1e3,2,3]', '[45.0,1,2]',
      '{"a":1}', '[[1],2,3]', '[{"$int":"9"},2,3]', '[{ "$int":"9"},2,3]', '[]', '[1,2,3]x', '"x"', '["\\u0041",1,2]', '["\\/",1,2]',
      '["\\ud83e\\udd95",1,2]', '["\u{1f995}",1,2]', '["\\ud83e",1,2]', '["\\n",1,2]', '["\\u000a",1,2]', '["\\u001f",1,2]', '[9007199254740993,1,2]', '[1E3,1,2]',
    ];
    for (const line of fixed) expect(check(Buffer.from(line), 3), line).toBe(isCanonicalRow(Buffer.from(line), 3));
    // Random mutations of canonical rows: bytes that matter inserted or replaced anywhere.
    const random = seededRandom(5);
    const alphabet = ['"', ',', '[', ']', '\\', 'n', 't', 'f', '-', '0', '1', '.', 'e', 'E', '+', 'a', ' ', '\t', 'u', '\u00e9', '{', '}', '\u{1f995}', '\\u0041', '\\ud83e', '\\u001f', '\\u000a', '\\u0000', '\\"'];
    const values = ['null', 'true', 'false', '0', '-7', '42', '4.5', '-0.25', '1e+21', '1.5e-7', '"x"', '""', '"h\u00e9llo"', '"a\\nb"', '"q\\"\\\\"', '"\\u001f\\b"', '"\u{1f995}"', '{"$b64":"AA=="}'];
    for (let n = 0; n < 8000; n++) {
      const width = 1 + Math.floor(random() * 4);
      let line = '[' + Array.from({ length: width }, () => values[Math.floor(random() * values.length)]).join(',') + ']';
      const edits = Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * line.length);
        line = line.slice(0, at) + alphabet[Math.floor(random() * alphabet.length)] + line.slice(at + (random() < 0.5 ? 1 : 0));
      }
      let bytes = Buffer.from(line);
      // Now and then a byte that is not UTF-8 (a bit flip the checksum was recomputed over).
      if (random() < 0.05) {
        bytes = Buffer.from(bytes);
        bytes[Math.floor(random() * bytes.length)] ^= 0x80;
      }
      expect(check(bytes, width), bytes.toString('latin1')).toBe(isCanonicalRow(bytes, width));
    }
  });

  test('the error names the row line, the column and what is written instead', () => {
    const run = { bytes: Buffer.from('[1,"a"]\n[45.0,"b"]\n'), rows: 2, invalid: (i: number, why: string) => new Error(`row line ${i + 1} ${why}`) };
    expect(() => checkCanonicalRun(run, anyValue(2))).toThrow(/^row line 2 has a value for column "c0" written `45.0` where the backup writes `45`/);
    const spaced = { bytes: Buffer.from('[1, "a"]\n'), rows: 1, invalid: (i: number, why: string) => new Error(`row line ${i + 1} ${why}`) };
    expect(() => checkCanonicalRun(spaced, anyValue(2))).toThrow(/column "c1" written ` "a"` where the backup writes `"a"`/);
  });
});
