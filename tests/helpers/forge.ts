/**
 * Forging backups for tests: edit a genuine backup's header and recompute every checksum, as
 * anyone who can write to the backup folder can. (tests/reliability/forgery.test.ts,
 * tests/dialects/postgres-full-fidelity.test.ts)
 */
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';
import type { BackupHeader } from '../../lib/format/header.ts';

/** Recomputes every table checksum, the trailer's totals and its whole-file checksum. */
export function recompute(lines: string[]): void {
  const whole = createHash('sha256');
  let table = createHash('sha256');
  const tables: Record<string, { rows: number; sha256: string }> = {};
  let total = 0;
  for (let j = 0; j < lines.length - 1; j++) {
    const l = lines[j];
    if (l.startsWith('{"type":"table-end"')) {
      const end = JSON.parse(l);
      end.sha256 = table.digest('hex');
      lines[j] = JSON.stringify(end);
      tables[end.name] = { rows: end.rows, sha256: end.sha256 };
      total += end.rows;
      table = createHash('sha256');
    } else if (l.startsWith('[')) table.update(l + '\n');
    whole.update(lines[j] + '\n');
  }
  const trailer = JSON.parse(lines[lines.length - 1]);
  Object.assign(trailer, { tables, rowsTotal: total, sha256: whole.digest('hex') });
  lines[lines.length - 1] = JSON.stringify(trailer);
}

export function forge(good: Buffer, edit: (h: BackupHeader) => void): Buffer {
  const lines = zlib.gunzipSync(good).toString('utf8').split('\n').slice(0, -1);
  const header = JSON.parse(lines[0]) as BackupHeader;
  edit(header);
  lines[0] = JSON.stringify(header);
  recompute(lines);
  return zlib.gzipSync(lines.join('\n') + '\n', { level: 1 });
}

