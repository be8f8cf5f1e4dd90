import type { TableSchema } from '../../core/types.ts';
import { PLAIN_BOOLEAN, PLAIN_INT, PLAIN_NULL, PLAIN_STRING, hasLoneSurrogate, type CanonicalRules } from '../dialect.ts';

/**
 * The canonical check of PostgreSQL rows (CanonicalRules), after what the dumper writes
 * (postgres-dump.ts decoderFor, postgres-copy-text.ts CopyToJsonLines): int2/int4 columns hold
 * JSON integers in their range, boolean columns true/false, every other column a string (the text
 * PostgreSQL prints, which never holds a NUL or a lone surrogate), and null only where the column
 * is nullable. The text of the other types is not checked here (a `012` in a bigint column is a
 * string the server reads as 12); the loader's checksum and the server's own parsing cover those.
 */
export function postgresCanonicalRules(table: TableSchema): CanonicalRules {
  const n = table.columns.length;
  const plain = new Uint8Array(n);
  const intDigits = new Uint8Array(n);
  const ranges: ([number, number] | null)[] = [];
  table.columns.forEach((c, i) => {
    let bits = c.nullable ? PLAIN_NULL : 0;
    if (c.kind === 'int') {
      const small = /^(smallint|int2)$/i.test(c.type.trim());
      ranges.push(small ? [-32768, 32767] : [-2147483648, 2147483647]);
      bits |= PLAIN_INT;
      intDigits[i] = small ? 4 : 9; // always in range on the fast path; longer ones get the range check
    } else {
      ranges.push(null);
      bits |= c.kind === 'boolean' ? PLAIN_BOOLEAN : PLAIN_STRING;
    }
    plain[i] = bits;
  });
  return {
    columns: table.columns.map((c) => c.name),
    plain,
    intDigits,
    valueError(v, i) {
      const column = table.columns[i];
      if (v === null) return column.nullable ? null : 'is null, but the column is NOT NULL';
      const range = ranges[i];
      if (range) {
        if (typeof v !== 'number' || !Number.isInteger(v)) return `is ${JSON.stringify(v)}, but the backup writes ${column.type} values as JSON integers`;
        if (v < range[0] || v > range[1]) return `is ${v}, outside the range of ${column.type}`;
        return null;
      }
      if (column.kind === 'boolean') return typeof v === 'boolean' ? null : `is ${JSON.stringify(v)}, but the backup writes booleans as true/false`;
      if (typeof v !== 'string') return `is ${JSON.stringify(v)}, but the backup writes ${column.type} values as strings`;
      if (v.includes('\u0000')) return 'is a string with a NUL character, which PostgreSQL text cannot hold';
      if (hasLoneSurrogate(v)) return 'is a string with a lone surrogate (not valid Unicode)';
      return null;
    },
  };
}
