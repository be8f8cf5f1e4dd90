import { GuardError } from '../../lib/core/errors.ts';
import type { DiffReport, DisplayValue, TableDiff } from '../../lib/ops/diff.ts';
import { diffBackups, diffWithLive } from '../../lib/ops/diff-sources.ts';
import { listOption, type Command } from '../cli.ts';

/** Width of values in the human output (JSON keeps DEFAULT_VALUE_WIDTH). */
const TEXT_WIDTH = 60;

function show(v: DisplayValue): string {
  if (v === null) return 'NULL';
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > TEXT_WIDTH ? `${s.slice(0, TEXT_WIDTH)}…` : s;
}

function keyText(key: Record<string, DisplayValue>): string {
  return Object.entries(key)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(', ');
}

function rows(n: number | null): string {
  return n === null ? '-' : String(n);
}

/** The summary: schema differences, then one line per table. */
export function describeDiff(report: DiffReport): string {
  const side = (s: DiffReport['left']) => (s.kind === 'live' ? `live database ${s.name}` : `${s.name}${s.createdAt ? ` (${s.reason}, ${s.createdAt})` : ''}`);
  const lines = [`Compare ${side(report.left)}`, `   with ${side(report.right)}`, ''];
  if (report.schema.length) {
    lines.push(`Schema: ${report.schema.length} difference(s) (first -> second):`);
    for (const d of report.schema) lines.push(`  - ${d.text.replace('first schema', 'first only').replace('second schema', 'second only')}`);
  } else lines.push('Schema: same.');
  lines.push('', '  table                            rows before  rows after    added  removed  changed');
  for (const t of report.tables) {
    const mark = t.status === 'same' ? ' ' : '*';
    const note = t.status === 'only-left' ? '  (table only in the first)' : t.status === 'only-right' ? '  (table only in the second)' : t.keyed ? '' : '  (no primary key: compared as a multiset)';
    lines.push(`${mark} ${t.table.padEnd(32)} ${rows(t.leftRows).padStart(11)} ${rows(t.rightRows).padStart(11)} ${String(t.added).padStart(8)} ${String(t.removed).padStart(8)} ${String(t.changed).padStart(8)}${note}`);
  }
  lines.push('', report.equal ? 'No differences.' : `${report.totals.different} table(s) differ: ${report.totals.added} added, ${report.totals.removed} removed, ${report.totals.changed} changed row(s)${report.schema.length ? `, ${report.schema.length} schema difference(s)` : ''}.`);
  return lines.join('\n');
}

/** Row details of one table (the first samples of each kind). */
export function describeTableRows(t: TableDiff): string {
  const lines = [`Table ${t.table} (key: ${t.key.join(', ') || '(none)'}${t.keyed ? '' : ', multiset'}; ${t.method})`];
  if (t.columns.onlyLeft.length || t.columns.onlyRight.length) {
    lines.push(`  columns only in the first: ${t.columns.onlyLeft.join(', ') || '-'}; only in the second: ${t.columns.onlyRight.join(', ') || '-'} (not compared)`);
  }
  const more = (shown: number, total: number) => (total > shown ? `  ... and ${total - shown} more (raise --limit)` : null);
  if (t.added) {
    lines.push(`  added (${t.added}):`);
    for (const s of t.samples.added) lines.push(`    + ${t.keyed ? keyText(s.key) + ': ' : ''}${keyText(s.values)}`);
    const m = more(t.samples.added.length, t.added);
    if (m) lines.push(m);
  }
  if (t.removed) {
    lines.push(`  removed (${t.removed}):`);
    for (const s of t.samples.removed) lines.push(`    - ${t.keyed ? keyText(s.key) + ': ' : ''}${keyText(s.values)}`);
    const m = more(t.samples.removed.length, t.removed);
    if (m) lines.push(m);
  }
  if (t.changed) {
    lines.push(`  changed (${t.changed}; by column: ${Object.entries(t.changedColumns).map(([c, n]) => `${c} ${n}`).join(', ')}):`);
    for (const s of t.samples.changed) {
      lines.push(`    ~ ${keyText(s.key)}`);
      for (const c of s.changes) lines.push(`        ${c.column}: ${show(c.before)} -> ${show(c.after)}`);
    }
    const m = more(t.samples.changed.length, t.changed);
    if (m) lines.push(m);
  }
  if (!t.added && !t.removed && !t.changed) lines.push('  no row differences');
  return lines.join('\n');
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'Compare two backups, or a backup with the live database: schema, row counts, rows by primary key. Exit 0 when equal, 1 when different.',
  positionals: 2,
  usage: 'prisma-guard diff <a> <b> | diff <a> --live [--table T1,T2] [--limit N] [--schemas A,B] [--url URL] [--backup-dir DIR] [--json]',
  options: {
    schemas: { type: 'string' },
    live: { type: 'boolean' },
    table: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(io) {
    const [a, b, ...extra] = io.positionals;
    const live = Boolean(io.values.live);
    if (!a || (live && b) || (!live && !b) || extra.length) {
      throw new GuardError('USAGE', 'diff needs two backups, or one backup and --live.', { hint: 'prisma-guard diff latest --live   or   prisma-guard diff <older> <newer>' });
    }
    const limitText = io.values.limit as string | undefined;
    const limit = limitText === undefined ? 10 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 0) throw new GuardError('USAGE', `--limit must be a whole number, not "${limitText}".`);
    const tables = listOption(io.values.table);
    const ctx = io.context();
    const options = { tables, limit };
    const report = live ? await diffWithLive(ctx, a, options) : await diffBackups(ctx, a, b, options);
    io.printJson({ ok: true, ...report });
    io.print(describeDiff(report));
    // Details on request: the named tables, or every differing table when --limit is given.
    if (tables || limitText !== undefined) {
      for (const t of report.tables.filter((x) => tables || x.status !== 'same')) io.print('\n' + describeTableRows(t));
    }
    return report.equal ? 0 : 1;
  },
};
