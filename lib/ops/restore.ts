import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { sha256OfStream } from '../core/hash-file.ts';
import { migrationsTableKey, schemaNamespaces, splitTableKey, type DbSchema, type TableSchema } from '../core/types.ts';
import { unreproducibleError, type Connection, type LoadReceipt, type LoadResult } from '../dialects/dialect.ts';
import { connect, dialectFor } from '../dialects/index.ts';
import type { BackupHeader } from '../format/header.ts';
import { openBackup, type BackupFile, type BackupSection } from '../format/reader.ts';
import { backupWithConnection } from './backup.ts';
import { DEFAULT_LOCK_WAIT_MS, OPERATION_LOCK, type OpsContext } from './context.ts';
import { restoreRowChanges, type RowChanges } from './diff-sources.ts';
import { openSummary } from '../pipeline/age.ts';
import { comparableRowids } from './diff.ts';

/** Reason prefix of backup-before-delete backups: they hold only the deleted rows, restored by merging. */
export const PRE_DELETE_REASON_PREFIX = 'pre-delete-';
import { compareSchemas, type SchemaDifference } from './schema-compare.ts';
import { checksumTables, forEachTableInLanes } from './snapshot-tables.ts';
import { damagedSectionAt, openBackupAt, readManifestBeside } from './primary.ts';
import { resolveGiven, type LatestChoice } from './select.ts';
import { requireTrusted } from './trust.ts';
import { describeLocation, sameLocation, targetLocation, type BackupKind, type BackupScope, type BackupSource, type DatabaseIdentity, type SourceLocation } from '../format/source.ts';
import type { SkippedBackup } from '../policy/selection.ts';
import { isPartialBackup, verifyBackup } from './verify.ts';
import { existsSync, promises as fs } from 'node:fs';

export type RestoreMode = 'data' | 'full';

export interface RestoreOptions {
  /** Backup name, `latest`, or a path inside the backup folder. */
  backup: string;
  /** data (default): replace rows, schema must match. full: recreate the schema from the backup. */
  mode?: RestoreMode;
  /** Restore only these tables (data mode). */
  tables?: string[];
  dryRun?: boolean;
  /** Skip the confirmation. */
  yes?: boolean;
  /** Asked when `yes` is not set (the CLI asks on a TTY); without it an unconfirmed restore is refused. */
  confirm?: (plan: RestorePlan) => Promise<boolean>;
  /** Take a `pre-restore` backup of the current state first (default true). */
  safetyBackup?: boolean;
  /**
   * Data mode: put the backup's rows back beside the live rows instead of replacing the tables
   * (nothing is deleted; a row that still exists fails the restore). Default: on for the partial
   * backups of backup-before-delete (reason `pre-delete-*`), off otherwise.
   */
  merge?: boolean;
  /**
   * Full mode: create the functions and procedures the backup carries even though no trusted key
   * (BACKUP_VERIFY_KEY) signed it. Without it such a restore is refused (exit 13).
   */
  allowCode?: boolean;
  /** The target is a scratch copy (restore drills): a backup of another database is expected there, so it is not warned about. */
  scratch?: boolean;
  /** Full mode: leave ownership out (the restoring role owns everything), as pg_restore --no-owner. */
  noOwner?: boolean;
  /** Full mode: leave GRANT / REVOKE out, as pg_restore --no-privileges. */
  noPrivileges?: boolean;
  /** Pin the safety backup for this long; by default retention keeps it for BACKUP_PRE_RESTORE_PIN (30 days). */
  safetyPinMs?: number;
  lockWaitMs?: number;
  /**
   * An open connection on which the caller already holds OPERATION_LOCK (migrate-safe's rollback):
   * the restore runs on it, takes no lock of its own and leaves it open.
   */
  connection?: Connection;
}

export interface TablePlan {
  name: string;
  /** Rows the backup holds (to be inserted). */
  insert: number;
  /** Rows the live table holds now (to be removed); null when the table does not exist. */
  remove: number | null;
  /** Dry runs: row by row against the live data (diff engine), what would be deleted, inserted, updated. */
  rows?: RowChanges;
}

export interface RestorePlan {
  backup: { file: string; createdAt: string; reason: string; dialect: string; database: string; rowsTotal: number; migrations: string[]; kind: BackupKind; scope: BackupScope; source: BackupSource };
  /** How `latest` was resolved, when it was given: what it passed over and why. */
  selection?: { latest: true; matchedBy: 'fingerprint' | 'location'; skipped: SkippedBackup[]; failed: { file: string; error: string }[] };
  /**
   * Set when the backup is of another database than the target (a copy to staging): restoring it is
   * allowed because it was named, and the plan says so loudly.
   */
  otherDatabase?: { backup: string; target: string; why: string };
  /**
   * PostgreSQL: the backup holds other schemas than the target's (`--schemas`, the Prisma
   * datasource's `schemas`, `?schema=`): a different scope, even of the same database.
   */
  otherSchemas?: { backup: string[]; target: string[] };

  target: string;
  mode: RestoreMode;
  tables: TablePlan[];
  /** Full mode: live tables that the backup does not have and that will be dropped. */
  dropTables: { name: string; rows: number }[];
  /** Live schema compared with the backup's (`before` = backup, `after` = live). */
  schemaDifferences: SchemaDifference[];
  liveMigrations: string[];
  safetyBackup: boolean;
  /** Rows are added back beside the live ones; nothing is removed (see RestoreOptions.merge). */
  merge?: boolean;
  /** Full mode: who wrote the DDL that will run, how many statements, and the code it creates. */
  ddl?: { source: 'pg_dump' | 'introspector'; pgDumpVersion?: string; statements: number; code: string[] };
}

export interface RestoreResult {
  plan: RestorePlan;
  executed: boolean;
  safetyBackup?: string;
  /** After the restore, each restored table's rows and checksum recomputed from the live database. */
  proof?: {
    matches: boolean;
    /** Merge restores: `actual` is the whole live table; `rows` (diff engine) shows every backup row is present and equal. */
    /**
     * `method`: `checksum` recomputed the table's checksum from the live rows; `load` found that the
     * table prints back exactly the bytes the loader wrote from the backup's checked lines (see
     * LoadReceipt), which implies the same checksum (then `actual` is that checksum).
     */
    tables: Record<string, { expected: { rows: number; sha256: string }; actual: { rows: number; sha256: string }; ok: boolean; method: 'checksum' | 'load'; rows?: RowChanges }>;
    schemaDifferences: SchemaDifference[];
  };
  durationMs: number;
  /** Milliseconds per phase: checks (file, plan and live state), safetyBackup, load (to COMMIT), proof. */
  phasesMs?: { checks: number; safetyBackup?: number; load: number; proof: number };
}


/** Computes what a restore would do; pure over the backup header and the live state. */
export function planRestore(args: {
  header: BackupHeader;
  tableRows: Record<string, number>;
  file: string;
  target: string;
  live: DbSchema | null;
  liveCounts: Record<string, number>;
  liveMigrations: string[];
  mode: RestoreMode;
  tables?: string[];
  safetyBackup: boolean;
  /** Full mode: the code the DDL creates (Dialect.definedCode). */
  code?: string[];
}): RestorePlan {
  const { header, live, mode } = args;
  const backupTables = header.schema.tables.map((t) => t.name);
  const chosen = args.tables?.length ? args.tables : backupTables;
  const unknown = chosen.filter((t) => !backupTables.includes(t));
  if (unknown.length) {
    throw new GuardError('USAGE', `The backup has no table(s) ${unknown.join(', ')}.`, { hint: `It holds: ${backupTables.join(', ')}` });
  }
  if (mode === 'full' && args.tables?.length) {
    throw new GuardError('USAGE', 'A full restore recreates the whole database; --tables only works in data mode.', { hint: 'Drop --mode full, or drop --tables.' });
  }
  checkScope(header, mode, args.file);
  const liveNames = new Set(live?.tables.map((t) => t.name) ?? []);
  const applied = header.prismaMigrations.filter((m) => m.finished_at !== null && m.rolled_back_at === null).map((m) => m.migration_name);
  return {
    backup: { file: args.file, createdAt: header.createdAt, reason: header.reason, dialect: header.dialect, database: header.database, rowsTotal: chosen.reduce((s, t) => s + (args.tableRows[t] ?? 0), 0), migrations: applied, kind: header.kind, scope: header.scope, source: header.source },
    target: args.target,
    mode,
    tables: chosen.map((name) => ({ name, insert: args.tableRows[name] ?? 0, remove: liveNames.has(name) ? (args.liveCounts[name] ?? 0) : null })),
    dropTables: mode === 'full' ? [...liveNames].filter((n) => !backupTables.includes(n)).map((name) => ({ name, rows: args.liveCounts[name] ?? 0 })) : [],
    schemaDifferences: live ? compareSchemas(header.schema, live) : [],
    liveMigrations: args.liveMigrations,
    safetyBackup: args.safetyBackup,
    ...(mode === 'full'
      ? { ddl: { source: header.schema.ddlSource ?? 'introspector', pgDumpVersion: header.schema.pgDumpVersion, statements: header.schema.ddl.length + header.schema.postDdl.length, code: args.code ?? [] } }
      : {}),
  };
}

/** What a backup's scope allows: a partial backup never replaces a whole database, a schema-only one never empties tables in data mode. */
function checkScope(header: BackupHeader, mode: RestoreMode, file: string): void {
  if (mode === 'full' && header.scope.type === 'tables') {
    throw new GuardError('USAGE', `${file} holds only the tables ${header.scope.tables.join(', ')}; a full restore of it would drop every other table.`, {
      hint: 'Restore its tables in data mode (drop --mode full), or restore a full backup (`prisma-guard list`).',
    });
  }
  if (mode === 'data' && header.scope.type === 'schema-only') {
    throw new GuardError('USAGE', `${file} is a schema-only backup: it holds no rows, so a data-mode restore would empty every table.`, {
      hint: 'Use --mode full to create the empty schema (with its migration history) from it.',
    });
  }
}

/** Tables outside `chosen` that rows of `chosen` reference, or that reference `chosen` (their rows would dangle). */
export function foreignKeyNeighbours(schema: DbSchema, chosen: string[]): { table: string; via: string }[] {
  const set = new Set(chosen);
  const out: { table: string; via: string }[] = [];
  for (const t of schema.tables) {
    for (const fk of t.foreignKeys) {
      if (set.has(t.name) && !set.has(fk.refTable)) out.push({ table: fk.refTable, via: `${t.name}(${fk.columns.join(',')}) -> ${fk.refTable}` });
      if (!set.has(t.name) && set.has(fk.refTable)) out.push({ table: t.name, via: `${t.name}(${fk.columns.join(',')}) -> ${fk.refTable}` });
    }
  }
  return out;
}

/**
 * Restores a backup: checks it, plans, asks, takes a safety backup, loads everything in one
 * transaction, then proves the live data equals the backup.
 *
 * The file is opened once, before anything else, and every read (the check, the header, the
 * dry run, the load, the merge proof) goes through that handle by position: a file renamed over
 * the path meanwhile is never read. As a second guard, the SHA-256 of the compressed bytes the
 * load read is compared with the checked one before COMMIT.
 */
export async function restore(ctx: OpsContext, options: RestoreOptions): Promise<RestoreResult> {
  const db = ctx.target.display;
  try {
    const result = await restoreNow(ctx, options);
    if (result.executed) {
      await ctx.notifier?.notify('restore.done', db, `${db} was restored from ${result.plan.backup.file} (${result.plan.mode} mode, ${result.plan.backup.rowsTotal} rows); the proof matches.`, { file: result.plan.backup.file, mode: result.plan.mode, safetyBackup: result.safetyBackup ?? null });
    }
    return result;
  } catch (e) {
    // A refusal before anything was asked of the database (usage, no confirmation) is not an incident.
    if (!isGuardError(e) || !['USAGE', 'NOT_CONFIRMED'].includes(e.code)) {
      await ctx.notifier?.notify('restore.failed', db, `A restore of ${db} from ${options.backup} failed: ${messageOf(e)}`, { backup: options.backup, code: isGuardError(e) ? e.code : undefined });
    }
    throw e;
  }
}

async function restoreNow(ctx: OpsContext, options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const { path: filePath, file, latest } = await resolveGiven(ctx, options.backup, { verify: true, fetchOffsite: true });
  const backupFile = await openBackupAt(ctx, filePath, file);
  try {
    return await restoreFrom(ctx, options, backupFile, file, started, latest);
  } finally {
    await backupFile.close();
  }
}

async function restoreFrom(ctx: OpsContext, options: RestoreOptions, backupFile: BackupFile, file: string, started: number, latest: LatestChoice | undefined): Promise<RestoreResult> {
  // The file check (its SHA-256 against a verified manifest, else a full verify) runs while the header
  // is read and the target inspected, which only read. Its error comes before any other, and before
  // anything is created or changed.
  const checked = checkBeforeRestore(ctx, backupFile, file);
  checked.catch(() => {}); // awaited below
  const checkFirst = async (e: unknown): Promise<never> => {
    await checked;
    throw e;
  };
  const { header, dialect } = await (async () => {
    const first = await openBackup(backupFile, file, { keys: ctx.encryption?.keys });
    await first.close();
    if (first.header.dialect !== ctx.target.dialect) {
      throw new GuardError('SCHEMA_MISMATCH', `${file} is a ${first.header.dialect} backup; the target ${ctx.target.display} is ${ctx.target.dialect}.`, { hint: 'Restore into a database of the same kind.' });
    }
    // Whatever the manifest says: the header's SQL is checked before any connection is made. A full
    // restore runs the DDL, so it must name exactly the header's objects (never "partial").
    // A schema-only or partial backup's scope decides what a restore may do (checkScope) before its SQL is judged.
    checkScope(first.header, options.mode ?? (first.header.scope.type === 'schema-only' ? 'full' : 'data'), file);
    const dialect = await dialectFor(first.header.dialect);
    const refusal = dialect.checkBackupSql(first.header.schema, { partial: options.mode !== 'full' && isPartialBackup(first.header) });
    if (refusal) throw refusal.toError(file);
    if ((options.mode ?? (first.header.scope.type === 'schema-only' ? 'full' : 'data')) === 'full') checkFullRestore(ctx, first.header, file, dialect.definedCode(first.header.schema), options);
    return { header: first.header, dialect };
  })().catch(checkFirst);
  // A schema-only backup has no rows to put back: by default it recreates the empty schema.
  const mode: RestoreMode = options.mode ?? (header.scope.type === 'schema-only' ? 'full' : 'data');
  const held = options.connection;
  const conn =
    held ??
    (await connect(ctx.target).catch(async (e) => {
      await checked;
      if (mode !== 'full') throw e;
      return connect(ctx.target, { create: true }); // a full restore may recreate a lost database
    }));
  try {
    const lock = held ? { release: async () => {} } : await conn.lock(OPERATION_LOCK, options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS).catch(checkFirst);
    try {
      const liveIdentity = await conn.identity().catch(checkFirst);
      const live = await (async () => {
        const { schema, counts } = await readLiveTables(conn);
        return { schema, counts, migrations: await readLiveMigrations(conn, schema) };
      })().catch(checkFirst);
      const { tableRows, sha256: checkedSha256 } = await checked;
      await pauseForTest('after-check');
      const plan = planRestore({ header, tableRows, file, target: ctx.target.display, live: live.schema, liveCounts: live.counts, liveMigrations: live.migrations, mode, tables: options.tables, safetyBackup: options.safetyBackup !== false && live.schema.tables.length > 0, code: dialect.definedCode(header.schema) });
      if (latest) plan.selection = { latest: true, matchedBy: latest.matchedBy, skipped: latest.skipped, failed: latest.failed };
      const other = otherDatabase(header.source, liveIdentity, targetLocation(ctx.target));
      if (other) {
        plan.otherDatabase = other;
        if (!options.scratch) ctx.reporter.warn(`${file} is a backup of ANOTHER database: ${other.backup}. It will replace the data of ${other.target} (${other.why}).`);
      }
      const schemas = otherSchemas(header.source, targetLocation(ctx.target));
      if (schemas) {
        plan.otherSchemas = schemas;
        ctx.reporter.warn(`${file} holds schemas ${schemas.backup.join(', ')}; the target is ${schemas.target.join(', ')}: a different scope (pass --schemas ${schemas.backup.join(',')} to restore it as it was taken).`);
      }
      const wantSafety = plan.safetyBackup;
      const merge = options.merge ?? header.kind === 'pre-delete';
      if (merge) {
        if (mode !== 'data') throw new GuardError('USAGE', 'A merge restore puts rows back beside the live ones; it only works in data mode.', { hint: 'Drop --mode full.' });
        plan.merge = true;
        for (const t of plan.tables) if (t.remove !== null) t.remove = 0;
      }
      if (mode === 'data') {
        const subset = plan.tables.map((t) => t.name);
        const relevant = plan.schemaDifferences.filter((d) => d.blocking && (!d.table || subset.includes(d.table) || d.kind === 'enum-changed'));
        // In data mode a table only in the live database is left alone; only the backup's tables must fit.
        const blocking = relevant.filter((d) => d.kind !== 'table-added');
        if (blocking.length && plan.otherSchemas) {
          const { backup: theirs, target: ours } = plan.otherSchemas;
          throw new GuardError('SCHEMA_MISMATCH', `${file} holds schemas ${theirs.join(', ')}, but the target is ${ours.join(', ')}: a backup of other schemas is a different scope, and its tables (${blocking.length} difference(s)) do not match the target's.`, {
            hint: `Restore it with the schemas it was taken with: \`prisma-guard restore ${file} --schemas ${theirs.join(',')}\` (or the same \`schemas\` in the Prisma datasource).`,
            details: { otherSchemas: plan.otherSchemas, differences: blocking },
          });
        }
        if (blocking.length) {
          throw new GuardError('SCHEMA_MISMATCH', `The live schema does not match the backup, so its rows cannot be put back as they are:\n${blocking.map((d) => '  - ' + d.text.replace('first schema', 'backup').replace('second schema', 'live database')).join('\n')}`, {
            hint: `Run a full restore (\`prisma-guard restore ${file} --mode full\`) to bring back the backup's schema, data and migration history.`,
            details: { differences: blocking },
          });
        }
        // A merge keeps the other rows, so references to them stay valid; the loader's foreign-key check catches the rest.
        if (options.tables?.length && !merge) {
          const neighbours = foreignKeyNeighbours(header.schema, subset);
          if (neighbours.length) {
            const names = [...new Set(neighbours.map((n) => n.table))];
            throw new GuardError('USAGE', `Restoring only ${subset.join(', ')} could break foreign keys with ${names.join(', ')}:\n${neighbours.map((n) => '  - ' + n.via).join('\n')}`, {
              hint: `Name those tables too: --tables ${[...subset, ...names].join(',')}`,
              details: { tables: names },
            });
          }
        }
      }
      await pauseForTest('after-plan');
      if (options.dryRun) {
        const changes = await restoreRowChanges(conn, backupFile, file, plan.tables.map((t) => t.name), ctx.encryption?.keys);
        for (const t of plan.tables) t.rows = changes[t.name];
        return { plan, executed: false, durationMs: Date.now() - started };
      }
      if (!options.yes) {
        const ok = options.confirm ? await options.confirm(plan) : false;
        if (!ok) {
          throw new GuardError('NOT_CONFIRMED', 'The restore was not confirmed, so nothing was changed.', { hint: 'Review the plan with --dry-run, then run again with --yes.' });
        }
      }
      let safetyBackup: string | undefined;
      const phasesMs: NonNullable<RestoreResult['phasesMs']> = { checks: Date.now() - started, load: 0, proof: 0 };
      let phaseStart = Date.now();
      if (wantSafety) {
        ctx.reporter.info('Taking a safety backup of the current database first...');
        // Retention keeps `pre-restore` backups for BACKUP_PRE_RESTORE_PIN (lib/policy/retention.ts)
        // unless a pin is asked for here.
        const safety = await backupWithConnection(ctx, conn, { reason: 'pre-restore', kind: 'pre-restore', pinnedUntil: options.safetyPinMs ? new Date(ctx.clock.now().getTime() + options.safetyPinMs) : undefined });
        safetyBackup = safety.path;
        phasesMs.safetyBackup = Date.now() - phaseStart;
        phaseStart = Date.now();
      }
      await pauseForTest('after-safety-backup');
      const tables = plan.tables.map((t) => t.name);
      const opened = await openBackup(backupFile, file, { keys: ctx.encryption?.keys });
      let expected: Record<string, { rows: number; sha256: string }>;
      let loaded: LoadResult;
      try {
        loaded = await conn.load({
          mode,
          schema: header.schema,
          tables,
          keepExisting: merge,
          noOwner: options.noOwner,
          noPrivileges: options.noPrivileges,
          data: pausingAfterFirstSection(opened.sections()), // a BackupSection is a TableData (rows, and lines for loaders that read bytes)
          onProgress: (table, rows) => ctx.reporter.progress(`restore ${table}`, rows, tableRows[table]),
          // The loader has read the file to its last byte by now: those must be the bytes checked.
          beforeCommit: async () => {
            if (opened.fileSha256 !== checkedSha256) {
              throw new GuardError('BACKUP_CORRUPT', `${file} changed while it was being restored (or is not the file its verified manifest describes): the bytes loaded are not the bytes checked. Nothing was committed.`, {
                hint: 'Make sure nothing writes to the backup folder during a restore, then run the restore again.',
              });
            }
          },
        });
        // The loader read the whole file, trailer included, before committing.
        expected = opened.trailer!.tables;
      } catch (e) {
        if (e instanceof GuardError) {
          throw new GuardError(e.code, e.message, { hint: safetyBackup ? `${e.hint ?? ''} The safety backup ${safetyBackup} holds the state before this attempt.`.trim() : e.hint, cause: e, exitCode: e.exitCode, details: e.details });
        }
        throw e;
      } finally {
        await opened.close();
      }
      phasesMs.load = Date.now() - phaseStart;
      phaseStart = Date.now();
      let proof: Awaited<ReturnType<typeof prove>>;
      try {
        proof = await prove(conn, header, expected, tables, mode, merge ? undefined : (loaded.receipts ?? {}));
      } catch (e) {
        // The data is in: say so, or the user would believe nothing changed.
        const err = isGuardError(e) ? e : new GuardError('DATABASE_ERROR', messageOf(e), { cause: e });
        throw new GuardError(err.code, `The restore of ${file} was committed, but the proof afterwards could not run: ${err.message}`, {
          hint: `Compare the database with the backup once it is reachable: \`prisma-guard diff ${file} --live\`.${safetyBackup ? ` The safety backup ${safetyBackup.split('/').pop()} holds the state before the restore.` : ''}`,
          cause: e,
          exitCode: err.exitCode,
          details: { committed: true },
        });
      }
      if (merge) {
        // The live tables hold more than the backup: prove instead that every backup row is there, unchanged.
        const changes = await restoreRowChanges(conn, backupFile, file, tables, ctx.encryption?.keys);
        proof.matches = true;
        for (const name of tables) {
          const c = changes[name];
          const t = proof.tables[name];
          t.rows = c;
          t.ok = c !== undefined && c.insert === 0 && c.update === 0 && c.unchanged === t.expected.rows;
          if (!t.ok) proof.matches = false;
        }
      }
      if (!proof.matches) {
        throw new GuardError('RESTORE_FAILED', `The restore committed but the live data does not match the backup for: ${Object.entries(proof.tables).filter(([, t]) => !t.ok).map(([n]) => n).join(', ')}.`, {
          exitCode: 1,
          hint: safetyBackup ? `Restore the safety backup (\`prisma-guard restore ${safetyBackup.split('/').pop()} --mode full\`) and report this as a bug.` : 'Report this as a bug.',
          details: { proof },
        });
      }
      phasesMs.proof = Date.now() - phaseStart;
      // A database recreated from its own backup (file lost, database dropped and created again, so
      // it has no identity of its own yet) takes the backup's, so its older backups stay its own.
      if (mode === 'full' && !liveIdentity && header.source.fingerprint && header.source.fingerprintMethod === 'stored' && sameLocation(header.source, targetLocation(ctx.target))) {
        await conn.identity({ adopt: header.source.fingerprint }).catch(() => null);
      }
      return { plan, executed: true, safetyBackup, proof, durationMs: Date.now() - started, phasesMs };
    } finally {
      await lock.release();
    }
  } finally {
    if (!held) await conn.close();
  }
}

/**
 * Checks the opened file before anything changes and returns what the rest of the restore relies
 * on: the SHA-256 of its bytes (compared again before COMMIT) and its tables' row counts. A
 * verified manifest whose checksum matches these bytes lets us skip the deep check (the load
 * re-checks every table checksum and the trailer while streaming and rolls back on any mismatch).
 */
/** The table counts of an opened summary (lib/pipeline/age.ts sealSummary), or null when it is not one. */
function summaryTables(summary: unknown): Record<string, { rows: number }> | null {
  const tables = (summary as { tables?: unknown } | null)?.tables;
  if (!tables || typeof tables !== 'object') return null;
  const out: Record<string, { rows: number }> = {};
  for (const [name, t] of Object.entries(tables as Record<string, unknown>)) {
    const rows = (t as { rows?: unknown } | null)?.rows;
    if (!Number.isSafeInteger(rows) || (rows as number) < 0) return null;
    out[name] = { rows: rows as number };
  }
  return out;
}

async function checkBeforeRestore(ctx: OpsContext, backupFile: BackupFile, file: string): Promise<{ sha256: string; tableRows: Record<string, number> }> {
  const rowsOf = (tables: Record<string, { rows: number }>) => Object.fromEntries(Object.entries(tables).map(([k, v]) => [k, v.rows]));
  // BACKUP_VERIFY_KEY: only a backup signed by a trusted key, over exactly these bytes.
  if (ctx.keys?.trusted) await requireTrusted(ctx, backupFile.path, file, await sha256OfStream(backupFile.stream(0)));
  const m = await readManifestBeside(ctx, backupFile.path, file).catch(() => null);
  // An incremental backup is whole only with every section it refers to (their content is checked as it loads).
  const missing = m ? await damagedSectionAt(ctx, backupFile.path, m.sections ?? [], { hash: false }) : null;
  if (missing) {
    throw new GuardError('BACKUP_CORRUPT', `Refusing to restore: ${file} is incomplete: it keeps table rows in the section ${missing.object}, which ${missing.why}.`, {
      hint: 'Use another backup (`prisma-guard list`), or copy this one again from its offsite location (`prisma-guard copy`). Nothing was changed.',
    });
  }
  if (m) {
    try {
      // A verified manifest of a file of this size: its SHA-256 is what the load must read. The
      // loader hashes every byte it reads through this one open handle and the restore compares
      // that hash with this one before COMMIT (a file that differs rolls the load back), so the
      // bytes are not read an extra time up front; each table's checksum is checked as it loads.
      // An encrypted backup's counts are in its sealed summary, when the identity opens it; without
      // that the backup is read (decrypted) in full first.
      const tables = m.encryption ? summaryTables(await openSummary(ctx.encryption?.keys, m.encryption.summary)) : m.tables;
      if (m.verification?.ok && tables && m.sizeBytes === backupFile.size && /^[0-9a-f]{64}$/.test(m.sha256)) return { sha256: m.sha256, tableRows: rowsOf(tables) };
    } catch {
      // fall through to the full check
    }
  }
  const v = await verifyBackup(ctx, backupFile.path, { file: backupFile });
  if (!v.ok) {
    throw new GuardError(v.error!.code, `Refusing to restore: ${v.error!.message}`, { hint: v.error!.hint ?? 'Use another backup (`prisma-guard list`).' });
  }
  return { sha256: v.sha256, tableRows: rowsOf(v.tables ?? {}) };
}

/** The phases at which PRISMA_GUARD_TEST_PAUSE can hold a restore (test-only). */
export type RestorePhase = 'after-check' | 'after-plan' | 'after-safety-backup' | 'mid-load';

/**
 * TEST-ONLY hook (tests/reliability/swap.test.ts): with PRISMA_GUARD_TEST_PAUSE=<phase>:<file> a
 * restore that reaches <phase> writes `<file>.reached` and waits while <file> exists, so a test can
 * act at an exact phase boundary (swap the backup file) and then let it go on by deleting <file>.
 * Unset (always, outside the test suite), it costs one environment lookup.
 */
async function pauseForTest(phase: RestorePhase): Promise<void> {
  const spec = process.env.PRISMA_GUARD_TEST_PAUSE;
  if (!spec || !spec.startsWith(phase + ':')) return;
  const file = spec.slice(phase.length + 1);
  if (!existsSync(file)) return;
  await fs.writeFile(file + '.reached', phase);
  while (existsSync(file)) await new Promise((r) => setTimeout(r, 20));
}

/** The sections, pausing for the test hook once the first table has been loaded (mid-load). */
async function* pausingAfterFirstSection(sections: AsyncGenerator<BackupSection>): AsyncGenerator<BackupSection> {
  let n = 0;
  for await (const section of sections) {
    if (n++ === 1) await pauseForTest('mid-load');
    yield section;
  }
}

/**
 * The live schema and each table's row count, in one snapshot. Counted by the dialect's reader, as
 * the backup and the proof count: a table's own rows (an inheritance parent without its children).
 */
export async function readLiveTables(conn: Connection): Promise<{ schema: DbSchema; counts: Record<string, number> }> {
  return conn.snapshot(async (reader) => {
    const counts: Record<string, number> = {};
    for (const t of reader.schema.tables) counts[t.name] = await reader.count(t);
    return { schema: reader.schema, counts };
  });
}

function qualified(conn: Connection, schema: DbSchema, t: TableSchema): string {
  const split = splitTableKey(schemaNamespaces(schema), t.name);
  return split ? `${conn.dialect.quote(split.namespace)}.${conn.dialect.quote(split.name)}` : conn.dialect.quote(t.name);
}

async function readLiveMigrations(conn: Connection, schema: DbSchema): Promise<string[]> {
  const t = schema.tables.find((x) => x.name === migrationsTableKey(schema));
  if (!t) return [];
  const rows = await conn.query<{ migration_name: string }>(`SELECT migration_name FROM ${qualified(conn, schema, t)} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY started_at, migration_name`);
  return rows.map((r) => r.migration_name);
}

/**
 * Re-reads the restored tables after COMMIT and compares them with the backup. `receipts` (absent
 * for a merge) are what the loader wrote into tables it emptied first: a table that prints those
 * bytes back is proven without recomputing its checksum; any other is checksummed, first in stored
 * order (an emptied table is filled in the backup's order; checksumTables re-reads sorted if not).
 */
async function prove(conn: Connection, header: BackupHeader, expectedByTable: Record<string, { rows: number; sha256: string }>, tables: string[], mode: RestoreMode, receipts: Record<string, LoadReceipt> | undefined): Promise<NonNullable<RestoreResult['proof']>> {
  return conn.snapshot(async (reader) => {
    // Each live table read as the backup holds its rows: with its hidden rowid only if the backup
    // kept it (one from before rowids were kept has none, and the load gave its rows new ones).
    const inBackup = new Map(header.schema.tables.map((t) => [t.name, t]));
    const wanted = reader.schema.tables.filter((t) => tables.includes(t.name)).map((t) => comparableRowids(inBackup.get(t.name), t)[1]!);
    const echoed = new Set<string>();
    const receiptOf = (t: TableSchema) => {
      const receipt = receipts?.[t.name];
      return receipt && receipt.rows === expectedByTable[t.name]?.rows ? receipt : undefined;
    };
    if (reader.matchesLoad) {
      // The server's output functions are the cost here: two tables at once, biggest first.
      const echoable = wanted.filter((t) => receiptOf(t)).sort((a, b) => receiptOf(b)!.rows - receiptOf(a)!.rows);
      await forEachTableInLanes(reader, echoable, async (r, t) => {
        if (await r.matchesLoad!(t, receiptOf(t)!)) echoed.add(t.name);
      });
    }
    const rest = wanted.filter((t) => !echoed.has(t.name));
    const actual = await checksumTables(reader, rest, receipts ? { expected: expectedByTable } : {});
    const out: NonNullable<RestoreResult['proof']>['tables'] = {};
    let matches = true;
    for (const name of tables) {
      const e = expectedByTable[name];
      if (echoed.has(name)) {
        out[name] = { expected: e, actual: { ...e }, ok: true, method: 'load' };
        continue;
      }
      const a = actual[name] ?? { rows: -1, sha256: 'missing' };
      const ok = e !== undefined && a.rows === e.rows && a.sha256 === e.sha256;
      if (!ok) matches = false;
      out[name] = { expected: e, actual: a, ok, method: 'checksum' };
    }
    const schemaDifferences = mode === 'full' ? compareSchemas(header.schema, reader.schema).filter((d) => d.kind !== 'column-default') : [];
    if (schemaDifferences.some((d) => d.blocking)) matches = false;
    return { matches, tables: out, schemaDifferences };
  });
}

/**
 * Whether a backup of `source` is of another database than the target: fingerprints differ, or (no
 * fingerprint on one side) locations differ.
 */
export function otherDatabase(source: BackupSource, live: DatabaseIdentity | null, location: SourceLocation): RestorePlan['otherDatabase'] {
  if (live && source.fingerprint) {
    if (source.fingerprint === live.fingerprint) return undefined;
    return { backup: describeLocation(source), target: describeLocation(location), why: `its identity ${source.fingerprint} is not this database's ${live.fingerprint}` };
  }
  if (sameLocation(source, location)) return undefined;
  return { backup: describeLocation(source), target: describeLocation(location), why: 'it was taken at another location' };
}

/** The backup's and the target's schemas when they differ (PostgreSQL; see RestorePlan.otherSchemas). */
export function otherSchemas(source: BackupSource, location: SourceLocation): RestorePlan['otherSchemas'] {
  if (source.dialect !== 'postgres') return undefined;
  const backup = [...source.schemas].sort();
  const target = [...location.schemas].sort();
  return backup.join('\u0000') === target.join('\u0000') ? undefined : { backup, target };
}

/**
 * A full restore runs the backup's DDL: refused before anything changes when that DDL cannot bring
 * back every object the backup recorded, or when it creates stored code (functions, procedures)
 * and neither a trusted signature (BACKUP_VERIFY_KEY, checked with the bytes) nor --allow-code
 * vouches for it: a function body is code that runs later as whoever calls it.
 */
function checkFullRestore(ctx: OpsContext, header: BackupHeader, file: string, code: string[], options: RestoreOptions): void {
  const lost = header.schema.unreproducible ?? [];
  if (lost.length) throw unreproducibleError(file, lost);
  if (code.length && !ctx.keys?.trusted && !options.allowCode) {
    throw new GuardError(
      'BACKUP_CODE_UNTRUSTED',
      `${file} carries ${code.length} function(s) or procedure(s) (${code.slice(0, 5).join(', ')}${code.length > 5 ? ', ...' : ''}) and no trusted key signed it, so a full restore will not create them: their code would run later as whoever calls it.`,
      {
        hint: 'If you know where this backup comes from, run the restore again with --allow-code. To make this automatic, sign backups (prisma-guard keygen; BACKUP_SIGNING_KEY when backing up, BACKUP_VERIFY_KEY when restoring). A data-only restore (--mode data) needs neither.',
        details: { code },
      },
    );
  }
}
