import type { TableSchema } from '../core/types.ts';
import type { EncodedValue, SnapshotReader } from '../dialects/dialect.ts';
import { connect } from '../dialects/index.ts';
import type { OpsContext } from './context.ts';
import { checksumTables, plainValue, type TableChecksum } from './snapshot-tables.ts';

/** Table names a Prisma `User` model usually ends up as (the model name, or its @@map). */
const USER_TABLE_NAMES = ['User', 'users', 'user', 'Users'];
const SAMPLE_USERS = 5;

export interface UserSummary {
  table: string;
  count: number;
  createdAtColumn: string | null;
  oldestCreatedAt: string | null;
  newestCreatedAt: string | null;
  /** The first users in primary-key order. */
  first: { id: string | number | boolean | null; email: string | number | boolean | null }[];
}

/**
 * A deterministic picture of the live database: per table its row count and the checksum `verify`
 * computes, plus a short User summary. Two checks of the same data print the same text, so
 * `check > before.txt; restore; check > after.txt; diff before.txt after.txt` proves a restore.
 */
export interface CheckReport {
  dialect: string;
  database: string;
  tables: Record<string, TableChecksum>;
  rowsTotal: number;
  users: UserSummary | null;
}

/** Reads everything inside one snapshot. */
export async function checkDatabase(ctx: OpsContext): Promise<CheckReport> {
  const conn = await connect(ctx.target);
  try {
    return await conn.snapshot(async (reader) => {
      const tables = await checksumTables(reader);
      const userTable = USER_TABLE_NAMES.map((n) => reader.schema.tables.find((t) => t.name === n)).find(Boolean);
      return {
        dialect: ctx.target.dialect,
        database: ctx.target.display,
        tables,
        rowsTotal: Object.values(tables).reduce((s, t) => s + t.rows, 0),
        users: userTable ? await summarizeUsers(reader, userTable) : null,
      };
    });
  } finally {
    await conn.close();
  }
}

/** Orders timestamps as stored: ISO-like text by instant when it parses, else as text; numbers numerically. */
function timeKey(v: EncodedValue): number | string | null {
  const p = plainValue(v);
  if (p === null || typeof p === 'boolean') return null;
  if (typeof p === 'number') return p;
  const t = Date.parse(p.includes('T') || /[+-]\d\d(:\d\d)?$|Z$/.test(p) ? p : p.replace(' ', 'T') + 'Z');
  return Number.isNaN(t) ? p : t;
}

async function summarizeUsers(reader: SnapshotReader, table: TableSchema): Promise<UserSummary> {
  const col = (...names: string[]) => names.map((n) => table.columns.findIndex((c) => c.name === n)).find((i) => i >= 0) ?? -1;
  const idAt = table.primaryKey.length === 1 ? col(table.primaryKey[0]) : col('id');
  const emailAt = col('email', 'Email', 'mail');
  const createdAt = col('createdAt', 'created_at', 'CreatedAt');
  let count = 0;
  let oldest: { key: number | string; text: string } | null = null;
  let newest: { key: number | string; text: string } | null = null;
  const first: UserSummary['first'] = [];
  const less = (a: number | string, b: number | string) => (typeof a === typeof b ? a < b : typeof a === 'number');
  for await (const batch of reader.rows(table)) {
    for (const row of batch) {
      count++;
      if (first.length < SAMPLE_USERS) first.push({ id: idAt >= 0 ? plainValue(row[idAt]) : null, email: emailAt >= 0 ? plainValue(row[emailAt]) : null });
      if (createdAt < 0) continue;
      const key = timeKey(row[createdAt]);
      if (key === null) continue;
      const text = String(plainValue(row[createdAt]));
      if (!oldest || less(key, oldest.key)) oldest = { key, text };
      if (!newest || less(newest.key, key)) newest = { key, text };
    }
  }
  return { table: table.name, count, createdAtColumn: createdAt >= 0 ? table.columns[createdAt].name : null, oldestCreatedAt: oldest?.text ?? null, newestCreatedAt: newest?.text ?? null, first };
}

/** The report as stable text (no times of the run: two runs over the same data print the same). */
export function formatCheck(report: CheckReport): string {
  const names = Object.keys(report.tables).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const width = Math.max(24, ...names.map((n) => n.length));
  const lines = [`Database ${report.database} (${report.dialect})`, '', `${'table'.padEnd(width)} ${'rows'.padStart(10)}  sha256`];
  for (const n of names) lines.push(`${n.padEnd(width)} ${String(report.tables[n].rows).padStart(10)}  ${report.tables[n].sha256}`);
  lines.push(`${'total'.padEnd(width)} ${String(report.rowsTotal).padStart(10)}`);
  const u = report.users;
  lines.push('');
  if (!u) lines.push('No User table (looked for: ' + USER_TABLE_NAMES.join(', ') + ').');
  else {
    lines.push(`Users (table ${u.table}): ${u.count}`);
    if (u.createdAtColumn) lines.push(`  oldest ${u.createdAtColumn}: ${u.oldestCreatedAt ?? '-'}`, `  newest ${u.createdAtColumn}: ${u.newestCreatedAt ?? '-'}`);
    for (const f of u.first) lines.push(`  ${String(f.id)}  ${f.email ?? ''}`);
  }
  return lines.join('\n');
}
