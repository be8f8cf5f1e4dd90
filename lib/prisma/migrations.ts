/**
 * Prisma migrations: the local `migrations/` folder, the `_prisma_migrations` table, and the
 * comparison of the two (what `prisma migrate status` reports, computed without the CLI).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GuardError, messageOf } from '../core/errors.ts';
import { PRISMA_MIGRATIONS_TABLE, type PrismaMigrationRow, type Queryable } from '../core/types.ts';
import type { DialectName } from '../core/url.ts';

/** One migration folder (`<migrations>/<name>/migration.sql`). */
export interface LocalMigration {
  /** Folder name, e.g. `20250101090000_init`: the `migration_name` Prisma records. */
  name: string;
  /** The script as text (UTF-8). */
  sql: string;
  /** sha256 hex of the script: what Prisma stores in `_prisma_migrations.checksum` when applying it. */
  checksum: string;
}

/**
 * The checksum Prisma records for a migration script: lowercase hex sha256 of its UTF-8 bytes
 * (prisma-engines schema-connector/src/checksum.rs `render_checksum`).
 */
export function migrationChecksum(script: string | Uint8Array): string {
  return createHash('sha256').update(script).digest('hex');
}

/** Prisma's pre-2021 rendering without zero padding (prisma/prisma-engines#1887), still found in old tables. */
function legacyUnpaddedChecksum(script: string): string {
  return Array.from(createHash('sha256').update(script).digest(), (b) => b.toString(16)).join('');
}

/**
 * Whether `script` matches a recorded checksum exactly as Prisma decides it (checksum.rs
 * `script_matches_checksum`): the script as is, with CRLF turned into LF, or with LF turned into
 * CRLF (git may change line endings on checkout); a checksum that is not 64 characters long is
 * compared in the old unpadded rendering.
 */
export function checksumMatches(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  const render = checksum.length !== 0 && checksum.length !== 64 ? legacyUnpaddedChecksum : migrationChecksum;
  return variants.some((v) => render(v) === checksum);
}

/**
 * Lists the migrations of a Prisma migrations folder, sorted by name (the order Prisma applies
 * them). Entries that are not folders (migration_lock.toml) and folders without a migration.sql
 * are skipped, as Prisma skips them. A missing folder yields []. The checksum is computed over the
 * file's exact bytes.
 */
export async function readMigrationsFolder(dir: string): Promise<LocalMigration[]> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new GuardError('PRISMA_MIGRATIONS_UNREADABLE', `Cannot read the migrations folder ${dir}: ${messageOf(e)}`, {
      hint: 'Check the folder exists and is readable, or point prisma.config.ts migrations.path at the right folder.',
      cause: e,
    });
  }
  const out: LocalMigration[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(path.join(dir, entry.name, 'migration.sql'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new GuardError('PRISMA_MIGRATIONS_UNREADABLE', `Cannot read ${path.join(dir, entry.name, 'migration.sql')}: ${messageOf(e)}`, {
        hint: 'Check the file permissions.',
        cause: e,
      });
    }
    out.push({ name: entry.name, sql: bytes.toString('utf8'), checksum: migrationChecksum(bytes) });
  }
  // Byte-wise (code point) order, like Prisma's sort of folder names; not locale order.
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** SQL to tell whether `_prisma_migrations` exists (PostgreSQL: in the connection's current schema). */
const TABLE_EXISTS_SQL: Record<DialectName, string> = {
  sqlite: `SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = '${PRISMA_MIGRATIONS_TABLE}'`,
  postgres: `SELECT 1 AS present FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '${PRISMA_MIGRATIONS_TABLE}'`,
};

function timestampText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  // Prisma's native SQLite engine may store DATETIME as Unix milliseconds.
  if (typeof v === 'number' || typeof v === 'bigint') return new Date(Number(v)).toISOString();
  return String(v);
}

/**
 * Reads every row of `_prisma_migrations`, oldest first (started_at, then name). Returns [] when
 * the table does not exist (a database Prisma never migrated). Timestamps become strings: ISO 8601
 * for Date/epoch values, otherwise the text the database stored.
 */
export async function readAppliedMigrations(db: Queryable, dialect: DialectName): Promise<PrismaMigrationRow[]> {
  const exists = await db.query(TABLE_EXISTS_SQL[dialect]);
  if (exists.length === 0) return [];
  const rows = await db.query<Record<string, unknown>>(
    `SELECT id, checksum, migration_name, started_at, finished_at, rolled_back_at, applied_steps_count, logs FROM "${PRISMA_MIGRATIONS_TABLE}"`,
  );
  const out = rows.map(
    (r): PrismaMigrationRow => ({
      id: String(r.id),
      checksum: String(r.checksum),
      migration_name: String(r.migration_name),
      started_at: timestampText(r.started_at),
      finished_at: timestampText(r.finished_at),
      rolled_back_at: timestampText(r.rolled_back_at),
      applied_steps_count: Number(r.applied_steps_count ?? 0),
      logs: r.logs === null || r.logs === undefined ? null : String(r.logs),
    }),
  );
  const t = (s: string | null) => (s === null ? Number.NEGATIVE_INFINITY : Date.parse(s) || 0);
  return out.sort((a, b) => t(a.started_at) - t(b.started_at) || (a.migration_name < b.migration_name ? -1 : a.migration_name > b.migration_name ? 1 : 0));
}

/** A migration applied to the database whose local script no longer matches what was applied. */
export interface ModifiedMigration {
  name: string;
  /** Checksum of the local script now. */
  localChecksum: string;
  /** Checksum recorded when it was applied. */
  appliedChecksum: string;
}

/** How the local migrations folder and `_prisma_migrations` relate. */
export interface MigrationState {
  /** Local migrations applied successfully (finished, not rolled back), in folder order. */
  applied: string[];
  /** Local migrations with no successful and no failed record, in folder order: `migrate deploy` would run these. */
  pending: LocalMigration[];
  /**
   * Records of migrations that started and never finished (finished_at and rolled_back_at NULL):
   * Prisma's P3009 state, which blocks `migrate deploy` until resolved. The database may hold part
   * of such a migration (Prisma does not wrap migration scripts in a transaction).
   */
  failed: PrismaMigrationRow[];
  /** Applied migrations whose local migration.sql changed since (checksum mismatch, as Prisma judges it). */
  modified: ModifiedMigration[];
  /** Migrations applied to the database that have no local folder (applied from another branch, or deleted). */
  missingLocally: PrismaMigrationRow[];
  /** Nothing pending, failed, modified or missing. */
  upToDate: boolean;
}

/**
 * Compares local migrations with the `_prisma_migrations` rows (pure). Rows with rolled_back_at
 * set are ignored, as Prisma ignores them: such a migration counts as not applied.
 */
export function migrationState(folder: readonly LocalMigration[], applied: readonly PrismaMigrationRow[]): MigrationState {
  const live = applied.filter((r) => r.rolled_back_at === null);
  const finishedByName = new Map<string, PrismaMigrationRow>();
  for (const r of live) if (r.finished_at !== null) finishedByName.set(r.migration_name, r);
  const failed = live.filter((r) => r.finished_at === null);
  const failedNames = new Set(failed.map((r) => r.migration_name));
  const localNames = new Set(folder.map((m) => m.name));

  const state: MigrationState = { applied: [], pending: [], failed, modified: [], missingLocally: [], upToDate: false };
  for (const m of folder) {
    const row = finishedByName.get(m.name);
    if (row) {
      state.applied.push(m.name);
      if (!checksumMatches(m.sql, row.checksum)) state.modified.push({ name: m.name, localChecksum: m.checksum, appliedChecksum: row.checksum });
    } else if (!failedNames.has(m.name)) {
      state.pending.push(m);
    }
  }
  for (const [name, row] of finishedByName) if (!localNames.has(name)) state.missingLocally.push(row);
  state.upToDate = !state.pending.length && !state.failed.length && !state.modified.length && !state.missingLocally.length;
  return state;
}
