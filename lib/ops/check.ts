import { GuardError } from '../core/errors.ts';
import type { TableSchema } from '../core/types.ts';
import type { EncodedValue, SnapshotReader } from '../dialects/dialect.ts';
import { connect } from '../dialects/index.ts';
import type { OpsContext } from './context.ts';
import { checksumTables, plainValue, type TableChecksum } from './snapshot-tables.ts';

/** Table names a Prisma `User` model usually ends up as (the model name, or its @@map). */
export const USER_TABLE_NAMES = ['User', 'user', 'users', 'Users'];
/** A column that holds e-mail addresses: `email`, `Email`, `e_mail`, `emailAddress`, `mail`... */
const EMAIL_COLUMN = /^(e[-_]?)?mail([-_]?address)?$/i;
const SAMPLE_USERS = 5;

/** Environment variables read by {@link userOptionsFromEnv}. */
export const CHECK_ENV = {
  /** The table summarised as users (default: User, user, users or Users with an e-mail-like column). */
  usersTable: 'CHECK_USERS_TABLE',
  /** Comma-separated columns shown for the first users (default: the primary key and the e-mail column). */
  usersColumns: 'CHECK_USERS_COLUMNS',
} as const;

/** Which table `check` summarises as users, and which of its columns it shows. */
export interface CheckUserOptions {
  /** A table name; when given it must exist. Default: the first of USER_TABLE_NAMES that has an e-mail-like column. */
  usersTable?: string;
  /** Columns shown for the first users; each must exist in the users table. */
  usersColumns?: string[];
}

export interface UserSummary {
  table: string;
  count: number;
  /** The columns shown in `first`, in order. */
  columns: string[];
  createdAtColumn: string | null;
  oldestCreatedAt: string | null;
  newestCreatedAt: string | null;
  /** The first users in storage order (primary-key order for keyed tables), the chosen columns only. */
  first: Record<string, string | number | boolean | null>[];
}

/**
 * A deterministic picture of the live database: per table its row count and the checksum `verify`
 * computes, plus a short summary of the users table when the schema has one (see
 * {@link CheckUserOptions}). Two checks of the same data print the same text, so
 * `check > before.txt; restore; check > after.txt; diff before.txt after.txt` proves a restore.
 */
export interface CheckReport {
  dialect: string;
  database: string;
  tables: Record<string, TableChecksum>;
  rowsTotal: number;
  /** null when no users table was configured and none was recognised. */
  users: UserSummary | null;
}

/** Reads CHECK_USERS_TABLE / CHECK_USERS_COLUMNS (unset or empty means "not set"). */
export function userOptionsFromEnv(env: Record<string, string | undefined>): CheckUserOptions {
  const table = env[CHECK_ENV.usersTable]?.trim();
  const columns = env[CHECK_ENV.usersColumns]?.split(',').map((c) => c.trim()).filter(Boolean);
  return { ...(table ? { usersTable: table } : {}), ...(columns?.length ? { usersColumns: columns } : {}) };
}

/** The users table and the columns to show, or null when the schema has no users table. */
function pickUserTable(tables: readonly TableSchema[], options: CheckUserOptions): { table: TableSchema; columns: string[] } | null {
  let table: TableSchema | undefined;
  if (options.usersTable) {
    table = tables.find((t) => t.name === options.usersTable);
    if (!table) {
      throw new GuardError('USAGE', `The users table "${options.usersTable}" does not exist in this database.`, {
        hint: `Name one of its tables with --users-table (or ${CHECK_ENV.usersTable}); tables: ${tables.map((t) => t.name).join(', ') || '(none)'}.`,
      });
    }
  } else {
    table = USER_TABLE_NAMES.map((n) => tables.find((t) => t.name === n)).find((t) => t && (options.usersColumns || t.columns.some((c) => EMAIL_COLUMN.test(c.name))));
    if (!table) return null;
  }
  if (options.usersColumns) {
    const missing = options.usersColumns.filter((c) => !table.columns.some((col) => col.name === c));
    if (missing.length) {
      throw new GuardError('USAGE', `The users table "${table.name}" has no column ${missing.map((m) => `"${m}"`).join(', ')}.`, {
        hint: `Choose columns with --users-columns (or ${CHECK_ENV.usersColumns}) from: ${table.columns.map((c) => c.name).join(', ')}.`,
      });
    }
    return { table, columns: options.usersColumns };
  }
  const key = table.primaryKey.length === 1 ? table.primaryKey[0] : table.columns.find((c) => c.name === 'id')?.name;
  const email = table.columns.find((c) => EMAIL_COLUMN.test(c.name))?.name;
  return { table, columns: [key, email].filter((c): c is string => Boolean(c)) };
}

/**
 * Reads everything inside one snapshot.
 * @throws GuardError USAGE when a configured users table or column does not exist
 */
export async function checkDatabase(ctx: OpsContext, options: CheckUserOptions = {}): Promise<CheckReport> {
  const conn = await connect(ctx.target);
  try {
    return await conn.snapshot(async (reader) => {
      const picked = pickUserTable(reader.schema.tables, options);
      const tables = await checksumTables(reader);
      return {
        dialect: ctx.target.dialect,
        database: ctx.target.display,
        tables,
        rowsTotal: Object.values(tables).reduce((s, t) => s + t.rows, 0),
        users: picked ? await summarizeUsers(reader, picked.table, picked.columns) : null,
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

async function summarizeUsers(reader: SnapshotReader, table: TableSchema, columns: string[]): Promise<UserSummary> {
  const shown = columns.map((c) => table.columns.findIndex((col) => col.name === c));
  const createdAt = ['createdAt', 'created_at', 'CreatedAt'].map((n) => table.columns.findIndex((c) => c.name === n)).find((i) => i >= 0) ?? -1;
  let count = 0;
  let oldest: { key: number | string; text: string } | null = null;
  let newest: { key: number | string; text: string } | null = null;
  const first: UserSummary['first'] = [];
  const less = (a: number | string, b: number | string) => (typeof a === typeof b ? a < b : typeof a === 'number');
  for await (const batch of reader.rows(table)) {
    for (const row of batch) {
      count++;
      if (first.length < SAMPLE_USERS) first.push(Object.fromEntries(columns.map((c, i) => [c, plainValue(row[shown[i]])])));
      if (createdAt < 0) continue;
      const key = timeKey(row[createdAt]);
      if (key === null) continue;
      const text = String(plainValue(row[createdAt]));
      if (!oldest || less(key, oldest.key)) oldest = { key, text };
      if (!newest || less(newest.key, key)) newest = { key, text };
    }
  }
  return { table: table.name, count, columns, createdAtColumn: createdAt >= 0 ? table.columns[createdAt].name : null, oldestCreatedAt: oldest?.text ?? null, newestCreatedAt: newest?.text ?? null, first };
}

/** The report as stable text (no times of the run: two runs over the same data print the same). */
export function formatCheck(report: CheckReport): string {
  const names = Object.keys(report.tables).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const width = Math.max(24, ...names.map((n) => n.length));
  const lines = [`Database ${report.database} (${report.dialect})`, '', `${'table'.padEnd(width)} ${'rows'.padStart(10)}  sha256`];
  for (const n of names) lines.push(`${n.padEnd(width)} ${String(report.tables[n].rows).padStart(10)}  ${report.tables[n].sha256}`);
  lines.push(`${'total'.padEnd(width)} ${String(report.rowsTotal).padStart(10)}`);
  const u = report.users;
  // A schema without a users table gets no users section at all (not even a blank line).
  if (u) {
    lines.push('', `Users (table ${u.table}): ${u.count}`);
    if (u.createdAtColumn) lines.push(`  oldest ${u.createdAtColumn}: ${u.oldestCreatedAt ?? '-'}`, `  newest ${u.createdAtColumn}: ${u.newestCreatedAt ?? '-'}`);
    for (const f of u.first) lines.push(`  ${u.columns.map((c) => (f[c] === null ? 'NULL' : String(f[c]))).join('  ')}`);
  }
  return lines.join('\n');
}
