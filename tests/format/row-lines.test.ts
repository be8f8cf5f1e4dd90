import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import { checkRowLines } from '../../lib/format/reader.ts';

/** What checkRowLines must decide, by the slow and obvious route. */
function isRow(line: string, width: number): boolean {
  try {
    const row = JSON.parse(line);
    return Array.isArray(row) && row.length === width;
  } catch {
    return false;
  }
}

function check(line: string, width: number): boolean {
  try {
    checkRowLines({ bytes: Buffer.from(line + '\n'), rows: 1, invalid: (_i, why) => new Error(why) }, width);
    return true;
  } catch {
    return false;
  }
}

describe('checking row lines on their bytes (verify)', () => {
  test('accepts and refuses exactly what JSON.parse of an array of `width` values would', () => {
    const fixed = [
      '[1,"a",null]', '[true,false,null]', '[-0,0,-12]', '["",""]', '["a\\"b",1,2]', '[01,2,3]', '[1,2', '[1,2,3,4]', '[1,,3]', '[1,2,3,]',
      '[ 1,2,3]', '[nul,1,2]', '[tru,1,2]', '["a\tb",1,2]', '[-,1,2]', '[1.5,2,3]', '[1e3,2,3]', '{"a":1}', '[[1],2,3]', '[{"$int":"9"},2,3]', '[]', '[1,2,3]x', '"x"',
    ];
    for (const line of fixed) expect(check(line, 3), line).toBe(isRow(line, 3));
    // Random mutations of well-formed rows: every byte position replaced by a byte that matters.
    const random = seededRandom(5);
    const alphabet = ['"', ',', '[', ']', '\\', 'n', 't', 'f', '-', '0', '1', 'a', ' ', '\t', '\u00e9', '{', '}'];
    const values = ['null', 'true', 'false', '0', '-7', '42', '"x"', '""', '"h\u00e9llo"', '"a\\nb"'];
    for (let n = 0; n < 5000; n++) {
      const width = 1 + Math.floor(random() * 4);
      let line = '[' + Array.from({ length: width }, () => values[Math.floor(random() * values.length)]).join(',') + ']';
      const edits = Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * line.length);
        line = line.slice(0, at) + alphabet[Math.floor(random() * alphabet.length)] + line.slice(at + (random() < 0.5 ? 1 : 0));
      }
      expect(check(line, width), line).toBe(isRow(line, width));
    }
  });
});
