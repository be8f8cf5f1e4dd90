import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, GuardError, isGuardError } from '../../lib/core/errors.ts';
import { rowColumns, type TableSchema } from '../../lib/core/types.ts';
import { connect } from '../../lib/dialects/index.ts';
import type { BackupHeader } from '../../lib/format/header.ts';
import { openBackup } from '../../lib/format/reader.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext, type OpsContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { DIALECTS, demoDatabase, freshDatabase, rawQueryable, type FreshDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';
import { describeSeed, random, SEED, trials } from './helpers.ts';

/**
 * Promise: any backup that verifies restores and proves. A row line that is not exactly what the
 * dumper writes (`45.0` for 45, `true` for 1, an escaped character, a space, a tag where a number
 * belongs, a null in a NOT NULL column...) is refused by `verify` as corrupt (exit 3, naming the
 * table and the row line); every other row restores, and its proof passes (exit 0), with the data
 * equal to the backup by an independent oracle (`sqlite3 .dump` / `pg_dump` of the target against
 * the source with the same change made by a plain UPDATE). And the restore's own load refuses
 * what verify refuses, before COMMIT, for a file that was never verified.
 *
 * Each file is the demo backup with one row line rewritten and the table's checksum, the trailer
 * and the whole-file checksum fixed up, so that only the canonical check can catch it. Per
 * database: 500 files in CI (5000 with RELIABILITY_LONG=1); about one in twenty is a canonical
 * change of a value (which must restore), the rest re-spell a value or the line.
 */
const FILES = trials(500, 5000);
const LOADER_SAMPLES = trials(8, 40);

/** Columns whose values no key, unique index or foreign key depends on (canonical changes go there). */
const FREE: Record<string, string[]> = { comments: ['body'], posts: ['title', 'view_count'], orders: ['note'], products: ['stock', 'name'] };

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Mutation {
  kind: string;
  line: string;
  /** For a canonical change of values: the new row (to make the same change in the source by UPDATE). */
  row?: Json[];
}

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)];
}

/** A line with value `c` spelled as `text` (the rest printed as the dumper prints it). */
function respell(row: Json[], c: number, text: string): string {
  return '[' + row.map((v, i) => (i === c ? text : JSON.stringify(v))).join(',') + ']';
}

/** Escapes one character of `s` in a way JSON.stringify never does. */
function escapeOne(s: string, rnd: () => number): string | null {
  const chars = [...s];
  if (!chars.length) return null;
  const at = Math.floor(rnd() * chars.length);
  const ch = chars[at];
  if (ch === '"' || ch === '\\' || ch.charCodeAt(0) < 0x20) return null;
  const cp = ch.codePointAt(0)!;
  let esc: string;
  if (ch === '/') esc = '\\/';
  else if (cp > 0xffff) esc = [...ch].length === 1 ? ch.split('').map((u) => '\\u' + u.charCodeAt(0).toString(16)).join('') : '';
  else esc = '\\u' + cp.toString(16).padStart(4, '0');
  if (rnd() < 0.3) esc = esc.toUpperCase().replace(/\\U/g, '\\u');
  const body = chars.map((x, i) => (i === at ? esc : JSON.stringify(x).slice(1, -1))).join('');
  return `"${body}"`;
}

/** One rewrite of `row` of `table`, or null when the chosen kind does not apply to it. */
function mutate(table: TableSchema, row: Json[], rnd: () => number, dialect: string): Mutation | null {
  const free = (FREE[table.name] ?? []).map((n) => table.columns.findIndex((c) => c.name === n)).filter((i) => i >= 0);
  if (free.length && rnd() < 0.06) {
    const c = pick(rnd, free);
    const v = row[c];
    const next = [...row];
    if (typeof v === 'number') next[c] = v - 1 - Math.floor(rnd() * 5);
    else next[c] = `${typeof v === 'string' ? v : 'was null'} ${pick(rnd, ['✓', 'é', '🦕', '"q"', 'tab\there', 'new\nline', '\\'])}`;
    return { kind: 'canonical change', line: JSON.stringify(next), row: next };
  }
  const c = Math.floor(rnd() * row.length);
  const v = row[c];
  const col = rowColumns(table)[c]; // the last value of a row that keeps its rowid is the rowid
  const kind = pick(rnd, ['space', 'number form', 'number form', 'tag', 'boolean', 'quoted', 'escape', 'escape', 'lone surrogate', 'null', 'negative zero', 'tag form']);
  switch (kind) {
    case 'space': {
      // After any comma: between the values (JSON whitespace) or inside a value's text (a change of
      // a text, a jsonb document or an array literal).
      const line = JSON.stringify(row);
      const commas = [...line.matchAll(/,/g)].map((m) => m.index!);
      const at = pick(rnd, [1, line.length - 1, ...commas.map((i) => i + 1), line.length]);
      return { kind, line: line.slice(0, at) + pick(rnd, [' ', '  ']) + line.slice(at) };
    }
    case 'number form':
      if (typeof v !== 'number') return null;
      return { kind, line: respell(row, c, Number.isInteger(v) ? pick(rnd, [`${v}.0`, `${v}e0`, `${v}E0`, `${v}.00`]) : pick(rnd, [`${v}0`, `${v}e0`, `${v * 10}e-1`])) };
    case 'tag':
      if (typeof v !== 'number' || !Number.isInteger(v)) return null;
      return { kind, line: respell(row, c, pick(rnd, [`{"$int":"${v}"}`, `{"$real":"${v}"}`, `{"$real":"${v}.0"}`])) };
    case 'boolean':
      if (v === 0 || v === 1) return { kind, line: respell(row, c, v ? 'true' : 'false') };
      if (typeof v === 'boolean') return { kind, line: respell(row, c, pick(rnd, [v ? '1' : '0', `"${v ? 't' : 'f'}"`, `"${v}"`])) };
      return null;
    case 'quoted':
      if (typeof v === 'number') return { kind, line: respell(row, c, `"${v}"`) };
      if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return { kind, line: respell(row, c, v) };
      return null;
    case 'escape': {
      if (typeof v !== 'string') return null;
      const e = escapeOne(v, rnd);
      return e ? { kind, line: respell(row, c, e) } : null;
    }
    case 'lone surrogate':
      if (typeof v !== 'string') return null;
      return { kind, line: respell(row, c, JSON.stringify(v).slice(0, -1) + pick(rnd, ['\\ud83e', '\\udd95']) + '"') };
    case 'null':
      // A null only where the column cannot hold one (elsewhere it is a canonical change of a key-free column, see above).
      if (v === null || col.nullable || table.primaryKey.includes(col.name)) return null;
      return { kind, line: respell(row, c, 'null') };
    case 'negative zero':
      if (v !== 0) return null;
      return { kind, line: respell(row, c, '-0') };
    case 'tag form':
      if (typeof v === 'string' && dialect === 'sqlite') return { kind, line: respell(row, c, `{"$b64":"${Buffer.from(v).toString('base64').replace(/=+$/, '')}"}`) };
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return { kind, line: respell(row, c, JSON.stringify(v).replace(':', ': ')) };
      return null;
  }
  return null;
}

/** The backup's lines with line `index` replaced, its table's checksum, the trailer and the file checksum fixed up. */
function rebuild(lines: string[], index: number, replacement: string): Buffer {
  const out = [...lines];
  out[index] = replacement;
  let start = index;
  while (!out[start].startsWith('{"type":"table"')) start--;
  let end = index;
  while (!out[end].startsWith('{"type":"table-end"')) end++;
  const hash = createHash('sha256');
  for (let i = start + 1; i < end; i++) hash.update(out[i] + '\n');
  const tableEnd = JSON.parse(out[end]);
  tableEnd.sha256 = hash.digest('hex');
  out[end] = JSON.stringify(tableEnd);
  const t = out.length - 1;
  const trailer = JSON.parse(out[t]);
  trailer.tables[tableEnd.name].sha256 = tableEnd.sha256;
  const whole = createHash('sha256');
  for (let i = 0; i < t; i++) whole.update(out[i] + '\n');
  trailer.sha256 = whole.digest('hex');
  out[t] = JSON.stringify(trailer);
  return zlib.gzipSync(out.join('\n') + '\n', { level: 1 });
}

/** Makes the change of `row` to `next` in the source by a plain UPDATE (test code, no prisma-guard). */
async function applyRow(url: string, dialect: string, table: TableSchema, row: Json[], next: Json[]): Promise<void> {
  const q = await rawQueryable(url);
  try {
    const quote = (n: string) => `"${n.replace(/"/g, '""')}"`;
    const key = table.primaryKey.length ? table.primaryKey : table.columns.map((c) => c.name);
    const at = (name: string) => table.columns.findIndex((c) => c.name === name);
    const param = (v: Json, c: number) => {
      if (dialect === 'postgres') return v === null ? null : typeof v === 'boolean' ? (v ? 't' : 'f') : String(v);
      if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const o = v as Record<string, string>;
        return '$int' in o ? BigInt(o.$int) : '$real' in o ? Number(o.$real) : Buffer.from(o.$b64, 'base64');
      }
      return v;
    };
    const changed = table.columns.map((_, c) => c).filter((c) => JSON.stringify(row[c]) !== JSON.stringify(next[c]));
    const ph = (i: number) => (dialect === 'postgres' ? `$${i}` : '?');
    const cast = (c: number) => (dialect === 'postgres' ? `::${table.columns[c].type.replace(/^USER-DEFINED$/, 'text')}` : '');
    const sets = changed.map((c, i) => `${quote(table.columns[c].name)} = ${ph(i + 1)}${cast(c)}`);
    const where = key.map((n, i) => `${quote(n)} = ${ph(changed.length + i + 1)}${cast(at(n))}`);
    await q.query(`UPDATE ${quote(table.name)} SET ${sets.join(', ')} WHERE ${where.join(' AND ')}`, [...changed.map((c) => param(next[c], c)), ...key.map((n) => param(row[at(n)], at(n)))]);
  } finally {
    await q.close();
  }
}

function exitCodeOf(e: unknown): number {
  return isGuardError(e) ? e.exitCode : ExitCode.INTERNAL;
}

for (const dialect of DIALECTS) {
  describe(`canonical rows on ${dialect}`, () => {
    let source: FreshDatabase;
    let target: FreshDatabase;
    let dir: string;
    let lines: string[];
    let header: BackupHeader;
    let fuzz: OpsContext;
    let into: OpsContext;

    beforeAll(async () => {
      source = await demoDatabase(dialect, { users: 12 });
      target = await freshDatabase(dialect);
      dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-canonical-'));
      const sourceDir = path.join(dir, 'source');
      const made = await backup(resolveContext({ url: source.url, backupDir: sourceDir, env: {} }), { reason: 'fuzz-base' });
      // The target gets the schema (and rows) by a full restore: quicker than migrating it.
      await restore(resolveContext({ url: target.url, backupDir: sourceDir, env: {} }), { backup: made.manifest.file, mode: 'full', yes: true, safetyBackup: false });
      lines = zlib.gunzipSync(readFileSync(made.path)).toString('utf8').split('\n').slice(0, -1);
      header = JSON.parse(lines[0]);
      fuzz = resolveContext({ url: target.url, backupDir: path.join(dir, 'fuzz'), env: {} });
      into = fuzz;
      mkdirSync(fuzz.backupDir, { mode: 0o700 });
    });
    afterAll(async () => {
      await source?.drop();
      await target?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it(`every file is refused by verify (exit 3) or restores and proves (exit 0), over ${FILES} mutated rows`, async () => {
      const rnd = random(SEED + (dialect === 'sqlite' ? 31 : 32));
      const tables = new Map(header.schema.tables.map((t) => [t.name, t]));
      const rowLines: { index: number; table: TableSchema }[] = [];
      let current: TableSchema | null = null;
      lines.forEach((l, index) => {
        if (l.startsWith('{"type":"table",')) current = tables.get(JSON.parse(l).name)!;
        else if (l.startsWith('{"type":"table-end"')) current = null;
        else if (current && l.startsWith('[')) rowLines.push({ index, table: current });
      });
      const refused: { file: string; why: string }[] = [];
      const outcomes: Record<string, { refused: number; restored: number }> = {};
      const sourceDump = oracleDump(source.url, { dataOnly: true });
      for (let n = 0; n < FILES; n++) {
        let m: Mutation | null = null;
        let at: { index: number; table: TableSchema };
        let row: Json[];
        do {
          at = pick(rnd, rowLines);
          row = JSON.parse(lines[at.index]);
          m = mutate(at.table, row, rnd, dialect);
        } while (!m || m.line === lines[at.index]);
        const file = `fuzz-${n}.jsonl.gz`;
        writeFileSync(path.join(fuzz.backupDir, file), rebuild(lines, at.index, m.line), { mode: 0o600 });
        const trial = `file ${n}: ${m.kind} of row line ${at.index + 1} of "${at.table.name}": ${lines[at.index].slice(0, 1000)} -> ${m.line.slice(0, 1000)} ${describeSeed()}`;
        const v = await verifyBackup(fuzz, file, { record: false });
        const o = (outcomes[m.kind] ??= { refused: 0, restored: 0 });
        if (!v.ok) {
          expect(v.error?.code, `${trial}: ${v.error?.message}`).toBe('BACKUP_CORRUPT');
          expect(new GuardError(v.error!.code, '').exitCode).toBe(ExitCode.INVALID_BACKUP);
          expect(v.error!.message, trial).toContain(`row line ${at.index + 1} of table "${at.table.name}"`);
          expect(m.row, `${trial}: a canonical change was refused: ${v.error!.message}`).toBeUndefined();
          o.refused++;
          if (refused.length < LOADER_SAMPLES && rnd() < 0.1) refused.push({ file, why: v.error!.message });
          else rmSync(path.join(fuzz.backupDir, file));
          continue;
        }
        // Verified: it must restore and prove, and the target must equal the source with the same change.
        const r = await restore(into, { backup: file, mode: 'data', yes: true, safetyBackup: false }).then(
          () => ExitCode.OK,
          (e) => {
            console.error(`${trial}: ${(e as Error).message}`);
            return exitCodeOf(e);
          },
        );
        expect(r, `${trial}: verified but did not restore and prove`).toBe(ExitCode.OK);
        const next = m.row ?? (JSON.parse(m.line) as Json[]);
        expect(JSON.stringify(next), `${trial}: verify accepted a line that is not canonical`).toBe(m.line);
        await applyRow(source.url, dialect, at.table, row, next);
        const expected = oracleDump(source.url, { dataOnly: true });
        await applyRow(source.url, dialect, at.table, next, row);
        expect(oracleDump(target.url, { dataOnly: true }) === expected, `${trial}: the restored data differs from the backup by the oracle`).toBe(true);
        o.restored++;
        rmSync(path.join(fuzz.backupDir, file));
      }
      expect(oracleDump(source.url, { dataOnly: true })).toBe(sourceDump); // every change to the source was undone
      const totals = Object.values(outcomes).reduce((a, o) => ({ refused: a.refused + o.refused, restored: a.restored + o.restored }), { refused: 0, restored: 0 });
      console.log(`canonical rows ${dialect}: ${FILES} files, ${JSON.stringify(totals)} ${JSON.stringify(outcomes)} ${describeSeed()}`);
      expect(totals.restored).toBeGreaterThan(0);
      expect(totals.refused).toBeGreaterThan(FILES / 2);

      // The load checks the same way, for a file that was never verified: refused before COMMIT,
      // the target unchanged.
      const before = oracleDump(target.url);
      const conn = await connect(fuzz.target);
      try {
        for (const { file, why } of refused) {
          const opened = await openBackup(path.join(fuzz.backupDir, file), file);
          const err = await conn
            .load({ mode: 'data', schema: opened.header.schema, tables: opened.header.schema.tables.map((t) => t.name), data: opened.sections() })
            .then(() => null, (e) => e as GuardError)
            .finally(() => opened.close());
          expect(err, `${file}: the load committed a row verify refused (${why}) ${describeSeed()}`).toBeInstanceOf(GuardError);
          expect(err!.code, err!.message).toBe('BACKUP_CORRUPT');
          expect(err!.message).toContain(why.replace(/^.*is corrupt: /, '').replace(/\.$/, ''));
          expect(oracleDump(target.url)).toBe(before);
        }
      } finally {
        await conn.close();
      }
      expect(refused.length).toBeGreaterThan(0);
    }, 300_000);
  });
}
