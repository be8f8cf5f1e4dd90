/**
 * `migrate-safe`: a guard around `prisma migrate deploy`. Preflight (lock, prisma validate,
 * migration state), risk check measured on the live data, a verified pinned pre-migration backup,
 * the deploy through the project's own Prisma CLI, then either a before/after report or a recovery
 * (printed commands, or with autoRollback a full restore proven equal to the pre-migration state).
 * A deploy that fails before Prisma records anything (its CLI or engine broke) is a GuardError
 * PRISMA_CLI_FAILED (exit 11), not a failed migration. A database that does not exist yet is
 * created, as `prisma migrate deploy` does, and gets no pre-migration backup (it holds nothing).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { migrationsTableKey, type DbSchema, type PrismaMigrationRow } from '../core/types.ts';
import { redactSecrets, toRedactedJson } from '../core/url.ts';

import { connect, dialectFor, type Connection } from '../dialects/index.ts';
import type { DecryptionKeys } from '../pipeline/age.ts';
import { openBackup, type BackupFile } from '../format/reader.ts';
import { backupWithConnection, type BackupResult } from '../ops/backup.ts';
import { DEFAULT_LOCK_WAIT_MS, OPERATION_LOCK, projectSchemas, type OpsContext } from '../ops/context.ts';
import { restore } from '../ops/restore.ts';
import { resolveGiven } from '../ops/select.ts';
import { openBackupAt, remoteNameOf } from '../ops/primary.ts';
import { compareSchemas, type SchemaDifference } from '../ops/schema-compare.ts';
import { plainValue } from '../ops/snapshot-tables.ts';
import { verifyBackup } from '../ops/verify.ts';
import { writeSmallFileAtomically } from '../format/writer.ts';
import { describePrismaFailure, runPrisma, resolvePrismaInstall } from '../prisma/cli.ts';
import { migrationState, readAppliedMigrations, readMigrationsFolder } from '../prisma/migrations.ts';
import { datasourceSchemas, findPrismaProject } from '../prisma/project.ts';
import { checkRisks } from './check.ts';
import { buildPlan, decide, failedRow, MigrateExitCode, preflightProblems, recoveryCommands, statementEffects, type MigratePlan, type StatementEffect } from './plan.ts';

export interface MigrateSafeOptions {
  /** Path of schema.prisma (passed to prisma as --schema); default: what prisma.config/package.json/defaults name. */
  schema?: string;
  /** The migrations folder; default: the config's migrations path, or `migrations` beside the schema. */
  migrationsDir?: string;
  /** Go on despite blocking findings. */
  acceptDataLoss?: boolean;
  /** On failure, restore the pre-migration backup (full mode) and prove the database equals it. */
  autoRollback?: boolean;
  /** Preflight and risk check only. */
  dryRun?: boolean;
  /** Do not ask before applying (does not accept data loss: that takes acceptDataLoss). */
  yes?: boolean;
  /** Asked on a terminal (blocked plans, or before applying without `yes`); absent = never asks. */
  confirm?: (plan: MigratePlan, question: string) => Promise<boolean>;
  lockWaitMs?: number;
  /** Prisma's output as it arrives. */
  onPrismaOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Row count from which CREATE INDEX without CONCURRENTLY is reported (PostgreSQL). */
  largeTableRows?: number;
  /** How the user named the backup folder, for printed commands. */
  backupDirArg?: string;
  /**
   * With dryRun: check against this backup (a name, `latest`, or a path in the backup folder)
   * instead of the live database. It is restored into a scratch database beside the target (as a
   * restore drill does), the risk check runs there, and the scratch database is dropped. The live
   * database is never opened, so a pull request can be checked on a production snapshot.
   */
  against?: string;
}

export type MigrateStatus = 'up-to-date' | 'dry-run' | 'blocked' | 'not-confirmed' | 'applied' | 'failed-rolled-back' | 'failed-not-rolled-back';

export interface BackupRef {
  file: string;
  path: string;
  rowsTotal: number | null;
  verified: boolean;
  pinned: boolean;
}

export interface AfterReport {
  /** Schema differences from before (pre-migration snapshot) to after (post-migration snapshot). */
  schemaChanges: SchemaDifference[];
  rowCounts: { table: string; before: number | null; after: number | null; change: number }[];
  /** Columns that existed before and not after, with what they held. */
  valuesLost: { table: string; column: string; nonNull: number; sample: { key: Record<string, unknown>; value: unknown }[] }[];
  tablesLost: { table: string; rows: number }[];
}

export interface FailureReport {
  migration: string;
  /** `_prisma_migrations.logs` of the failed row. */
  logs: string | null;
  prismaOutput: string;
  /** Pending migrations of this run that Prisma finished before the failure. */
  appliedBeforeFailure: string[];
  /** Each statement of the failed migration, judged against the pre-migration schema. */
  statements: StatementEffect[];
  /** `restore` is absent when the run created the database (there is no pre-migration backup). */
  commands: { restore?: string; resolveRolledBack: string; resolveApplied: string };
  rollback?: {
    restored: boolean;
    error?: string;
    safetyBackup?: string;
    /** restore's own proof: every table's rows and checksum equal the backup's. */
    dataMatches: boolean;
    /** Live schema vs the pre-migration snapshot's schema (empty when equal). */
    schemaDifferences: SchemaDifference[];
    /** `_prisma_migrations` equals the pre-migration snapshot's (so the failed row is gone). */
    migrationsMatch: boolean;
    failedRowGone: boolean;
  };
}

export interface MigrateSafeResult {
  status: MigrateStatus;
  exitCode: number;
  target: string;
  schemaPath: string | null;
  migrationsDir: string;
  prismaVersion: string;
  plan: MigratePlan;
  warnings: string[];
  /**
   * The database did not exist and this run created it (as `prisma migrate deploy` does): there was
   * nothing to lose, so no pre-migration backup was taken.
   */
  createdDatabase?: boolean;
  preMigrationBackup?: BackupRef;
  postMigrationBackup?: BackupRef;
  deploy?: { code: number; durationMs: number };
  report?: AfterReport;
  failure?: FailureReport;
  /** The JSON report saved next to the backups. */
  reportFile?: string;
  /** Where the time went: `prisma validate` (a Prisma CLI process) and the risk check (analysis and queries). */
  timings?: { validateMs: number; riskCheckMs?: number };
  /** `against`: the backup checked and the scratch database it was loaded into (dropped since). */
  against?: { backup: string; scratch: string; loadMs: number };
  durationMs: number;
}

const preflight = (message: string, hint: string, details?: Record<string, unknown>) => new GuardError('MIGRATE_PREFLIGHT', message, { hint, exitCode: MigrateExitCode.PREFLIGHT, details });

/** The URL handed to Prisma: SQLite as an absolute file: path, so Prisma and we open the same file. */
function prismaUrl(ctx: OpsContext): string {
  return ctx.target.dialect === 'sqlite' ? `file:${ctx.target.file}` : ctx.target.url;
}

async function locateProject(ctx: OpsContext, options: MigrateSafeOptions): Promise<{ schemaPath: string | null; migrationsDir: string; warnings: string[]; ctx: OpsContext }> {
  const warnings: string[] = [];
  // prisma.config may choose the schema from DATABASE_URL: evaluate it with the URL Prisma will get.
  const saved = process.env.DATABASE_URL;
  process.env.DATABASE_URL = prismaUrl(ctx);
  let project;
  try {
    project = await findPrismaProject(ctx.projectDir);
  } finally {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
  }
  if (project.configWarning) warnings.push(project.configWarning);
  const schemaPath = options.schema ? path.resolve(ctx.projectDir, options.schema) : project.schemaPath;
  const migrationsDir = options.migrationsDir
    ? path.resolve(ctx.projectDir, options.migrationsDir)
    : options.schema
      ? path.join(path.dirname(schemaPath!), 'migrations')
      : project.migrationsDir;
  if (!schemaPath || !migrationsDir) {
    throw preflight(`No Prisma schema found in ${ctx.projectDir}.`, 'Run it from your project folder, or pass --schema path/to/schema.prisma.');
  }
  if (options.migrationsDir && project.migrationsDir && path.resolve(project.migrationsDir) !== migrationsDir && !options.schema) {
    warnings.push(`--migrations-dir ${migrationsDir} differs from the folder Prisma is configured to use (${project.migrationsDir}); the risk check reads the former, prisma migrate deploy applies the latter.`);
  }
  return { schemaPath, migrationsDir, warnings, ctx: withDatasourceSchemas(ctx, datasourceSchemas(schemaPath)) };
}

/**
 * multiSchema: the deploy may touch every schema the datasource of the schema Prisma runs lists
 * (`--schema`, or the one prisma.config evaluates to, which the context's quick lookup may not
 * see), so the risk check and the snapshots cover all of them, with the ones the context has.
 */
function withDatasourceSchemas(ctx: OpsContext, listed: string[] | null): OpsContext {
  const target = ctx.target;
  if (target.dialect !== 'postgres' || !listed?.length) return ctx;
  const have = target.schemas ?? [target.schema ?? 'public'];
  if (listed.every((s) => have.includes(s))) return ctx;
  return { ...ctx, target: { ...target, ...projectSchemas(target, [...have, ...listed, target.schema ?? 'public'], null) } };
}

/** Runs the whole guarded deployment (see the module comment). Never exits the process. */
export async function migrateSafe(ctx: OpsContext, options: MigrateSafeOptions = {}): Promise<MigrateSafeResult> {
  const db = ctx.target.display;
  const notify = ctx.notifier;
  try {
    const r = await migrateSafeNow(ctx, options);
    const pending = r.plan?.pending ?? [];
    if (r.status === 'blocked') await notify?.notify('migrate-safe.blocked', db, `migrate-safe refused to apply ${pending.length} migration(s) to ${db}: the risk check found ${r.plan?.counts.block ?? 0} blocking problem(s).`, { pending });
    else if (r.status === 'failed-rolled-back') await notify?.notify('migrate-safe.rolled-back', db, `A migration failed on ${db} and was rolled back to the pre-migration backup; the data matches it.`, { pending });
    else if (r.status === 'failed-not-rolled-back') await notify?.notify('migrate-safe.failed', db, `A migration failed on ${db} and the database was NOT rolled back; the report has the commands to recover.`, { pending });
    return r;
  } catch (e) {
    if (!isGuardError(e) || e.code !== 'USAGE') await notify?.notify('migrate-safe.failed', db, `migrate-safe on ${db} stopped: ${messageOf(e)}`, { code: isGuardError(e) ? e.code : undefined });
    throw e;
  }
}

async function migrateSafeNow(ctx: OpsContext, options: MigrateSafeOptions = {}): Promise<MigrateSafeResult> {
  const started = Date.now();
  const located = await locateProject(ctx, options);
  const { schemaPath, migrationsDir, warnings } = located;
  ctx = located.ctx;
  const install = resolvePrismaInstall(ctx.projectDir);
  const schemaArgs = options.schema ? ['--schema', schemaPath!] : [];
  const prismaEnv = { DATABASE_URL: prismaUrl(ctx) };
  const cwd = ctx.projectDir;
  const timings: NonNullable<MigrateSafeResult['timings']> = { validateMs: 0 };
  if (options.against !== undefined) {
    if (!options.dryRun) throw new GuardError('USAGE', '--against checks the pending migrations on a copy of a backup; it never applies them.', { hint: 'Add --dry-run: prisma-guard migrate-safe --dry-run --against <backup>.' });
    return againstBackup(options.against);
  }

  // Reachable (connect throws DATABASE_UNREACHABLE) or created, then the lock for the whole run.
  // A dry run creates nothing: it plans every migration against the database that is not there.
  const opened = await connectOrCreate(ctx, { create: !options.dryRun });
  if (!opened) return dryRunWithoutDatabase();
  const { conn, created } = opened;
  if (created) {
    warnings.push(`The database ${ctx.target.display} did not exist; migrate-safe created it, as prisma migrate deploy does. It held nothing, so there is no pre-migration backup.`);
    ctx.reporter.info(warnings[warnings.length - 1]);
  }
  try {
    ctx.reporter.info(`Taking the prisma-guard lock on ${ctx.target.display} (waits while another backup, restore or migration runs)...`);
    const lock = await conn.lock(OPERATION_LOCK, options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS);
    try {
      return await underLock();
    } finally {
      await lock.release();
    }
  } finally {
    await conn.close();
  }

  async function validatedFolder() {
    const t0 = Date.now();
    const validate = await runPrisma(['validate', ...schemaArgs], { cwd, env: prismaEnv });
    timings.validateMs = Date.now() - t0;
    if (validate.code !== 0) {
      throw preflight(`prisma validate failed for ${schemaPath}:\n${redactSecrets((validate.stdout + validate.stderr).trim())}`, 'Fix the schema (npx prisma validate), then run migrate-safe again.');
    }
    const folder = await readMigrationsFolder(migrationsDir);
    if (!folder.length) throw preflight(`No migrations in ${migrationsDir}.`, 'Create migrations with `prisma migrate dev`, or pass --migrations-dir / --schema.');
    return folder;
  }

  async function dryRunWithoutDatabase(): Promise<MigrateSafeResult> {
    const folder = await validatedFolder();
    warnings.push(`The database ${ctx.target.display} does not exist yet; a real run creates it (as prisma migrate deploy does) and applies every migration. It holds nothing, so there is nothing to measure and no pre-migration backup to take.`);
    const plan = buildPlan(migrationState(folder, []), []);
    return { target: ctx.target.display, schemaPath, migrationsDir, prismaVersion: install.version, warnings, status: 'dry-run', exitCode: MigrateExitCode.OK, plan, durationMs: Date.now() - started };
  }

  /** The risk check on a scratch copy of a backup (see MigrateSafeOptions.against). */
  async function againstBackup(given: string): Promise<MigrateSafeResult> {
    const folder = await validatedFolder();
    const chosen = await resolveGiven(ctx, given, { verify: true });
    const dialect = await dialectFor(ctx.target.dialect);
    const scratch = dialect.scratchTarget(ctx.target, `check_${randomBytes(6).toString('hex')}`);
    const scratchCtx: OpsContext = { ...ctx, target: scratch, notifier: undefined };
    ctx.reporter.info(`Loading ${chosen.file} into the scratch database ${scratch.display}...`);
    try {
      const t0 = Date.now();
      // As a restore drill: full mode, no safety backup (the scratch database is new), the backup's functions too.
      await restore(scratchCtx, { backup: chosen.path, mode: 'full', yes: true, safetyBackup: false, allowCode: true, scratch: true });
      const loadMs = Date.now() - t0;
      const sconn = await connect(scratch);
      try {
        const rows = await readAppliedMigrations(sconn, scratch.dialect);
        const state = migrationState(folder, rows);
        const problems = preflightProblems(state);
        if (problems.length) {
          throw new GuardError(problems[0].code, `In the backup ${chosen.file}: ${problems.map((p) => p.message).join('\n')}`, { hint: problems.map((p) => p.hint).join('\n'), exitCode: MigrateExitCode.PREFLIGHT, details: { problems } });
        }
        if (state.missingLocally.length) warnings.push(`Migrations applied in the backup but missing from ${migrationsDir}: ${state.missingLocally.map((r) => r.migration_name).join(', ')}.`);
        const t1 = Date.now();
        const findings = state.pending.length ? await checkRisks(sconn, state.pending.map((m) => ({ name: m.name, sql: m.sql })), { largeTableRows: options.largeTableRows }) : [];
        timings.riskCheckMs = Date.now() - t1;
        const plan = buildPlan(state, findings);
        return { target: ctx.target.display, schemaPath, migrationsDir, prismaVersion: install.version, warnings, status: 'dry-run', exitCode: MigrateExitCode.OK, plan, against: { backup: chosen.file, scratch: scratch.display, loadMs }, timings, durationMs: Date.now() - started };
      } finally {
        await sconn.close();
      }
    } finally {
      await dialect.dropScratch(scratch).catch((e) => warnings.push(`Could not drop the scratch database ${scratch.display}: ${messageOf(e)}`));
    }
  }

  async function underLock(): Promise<MigrateSafeResult> {
    const folder = await validatedFolder();
    const rows = await readAppliedMigrations(conn, ctx.target.dialect);
    const state = migrationState(folder, rows);
    const problems = preflightProblems(state);
    if (problems.length) {
      throw new GuardError(problems[0].code, problems.map((p) => p.message).join('\n'), { hint: problems.map((p) => p.hint).join('\n'), exitCode: MigrateExitCode.PREFLIGHT, details: { problems } });
    }
    if (state.missingLocally.length) warnings.push(`Applied migrations missing from ${migrationsDir}: ${state.missingLocally.map((r) => r.migration_name).join(', ')} (applied from another branch?).`);
    const base = { target: ctx.target.display, schemaPath, migrationsDir, prismaVersion: install.version, warnings, timings, ...(created ? { createdDatabase: true } : {}) };
    if (!state.pending.length) {
      return { ...base, status: 'up-to-date', exitCode: MigrateExitCode.OK, plan: buildPlan(state, []), durationMs: Date.now() - started };
    }

    // Risk check: pure analysis, then read-only measurement.
    const t1 = Date.now();
    const live = await conn.introspect();
    const findings = await checkRisks(conn, state.pending.map((m) => ({ name: m.name, sql: m.sql })), { largeTableRows: options.largeTableRows, live });
    timings.riskCheckMs = Date.now() - t1;
    const plan = buildPlan(state, findings);
    const decision = decide(plan, { dryRun: options.dryRun, acceptDataLoss: options.acceptDataLoss, interactive: Boolean(options.confirm) });
    if (decision === 'dry-run') return { ...base, status: 'dry-run', exitCode: MigrateExitCode.OK, plan, durationMs: Date.now() - started };
    if (decision === 'blocked') return { ...base, status: 'blocked', exitCode: MigrateExitCode.BLOCKED, plan, durationMs: Date.now() - started };
    if (decision === 'confirm' || (options.confirm && !options.yes)) {
      const question = plan.blocked ? `The risk check found ${plan.counts.block} blocking problem(s). Apply anyway and accept the data loss?` : `Apply ${plan.pending.length} migration(s)?`;
      if (!(await options.confirm!(plan, question))) return { ...base, status: plan.blocked ? 'blocked' : 'not-confirmed', exitCode: plan.blocked ? MigrateExitCode.BLOCKED : 6, plan, durationMs: Date.now() - started };
    }

    // A verified, pinned snapshot before anything changes (a database this run created holds nothing to keep).
    const first = plan.pending[0];
    const last = plan.pending[plan.pending.length - 1];
    // An existing database with no tables has nothing to lose either (backup refuses it: NOTHING_TO_BACK_UP).
    const empty = !created && live.tables.length === 0;
    if (empty) warnings.push(`The database ${ctx.target.display} has no tables yet: nothing to lose, so there is no pre-migration backup.`);
    const pre = created || empty ? null : await snapshot(`pre-migration-${first}`, true);
    const preHeader = pre ? await readHeader(ctx, pre.path) : null;
    // What the database looked like before the deploy: the snapshot's schema, or (created) the empty live one.
    const preSchema = preHeader?.schema ?? live;

    ctx.reporter.info(`Running prisma migrate deploy (${plan.pending.length} pending: ${plan.pending.join(', ')})...`);
    const deployStarted = Date.now();
    const deploy = await runPrisma(['migrate', 'deploy', ...schemaArgs], { cwd, env: prismaEnv, onOutput: options.onPrismaOutput });
    const deployInfo = { code: deploy.code, durationMs: Date.now() - deployStarted };
    const rowsAfter = await readAppliedMigrations(conn, ctx.target.dialect);
    const after = migrationState(folder, rowsAfter);
    const succeeded = deploy.code === 0 && !after.failed.length && !after.pending.length;
    const backups = pre ? { preMigrationBackup: ref(pre, true, true) } : {};

    if (succeeded) {
      const post = await snapshot(`post-migration-${last}`, false);
      const postHeader = await readHeader(ctx, post.path);
      const report = await afterReport(pre, preSchema, post, postHeader.schema);
      const result: MigrateSafeResult = { ...base, status: 'applied', exitCode: MigrateExitCode.OK, plan, ...backups, postMigrationBackup: ref(post, true, false), deploy: deployInfo, report, durationMs: 0 };
      return saveReport(result);
    }

    const liveAfter = await conn.introspect();
    // Prisma records a migration in _prisma_migrations before it runs its script. A failed deploy
    // with no new or changed row and no schema change (its own table aside) means the CLI or its
    // engine failed before applying anything: a Prisma problem (exit 11), not a failed migration.
    const schemaChanged = compareSchemas(preSchema, liveAfter).some((d) => d.table !== migrationsTableKey(liveAfter));
    if (deploy.code !== 0 && !schemaChanged && sameMigrationRows(rows, rowsAfter)) {
      const prismaOutput = redactSecrets((deploy.stdout + deploy.stderr).trim());
      const explained = describePrismaFailure(prismaOutput, install.version);
      throw new GuardError(
        'PRISMA_CLI_FAILED',
        `prisma migrate deploy (prisma ${install.version}) failed before applying any migration: _prisma_migrations records nothing new and the schema is unchanged${explained ? `. ${explained.why}` : ''}.\nPrisma said:\n${prismaOutput || `(no output; exit code ${deploy.code})`}`,
        {
          hint: `${explained?.hint ?? 'Run `npx prisma migrate deploy` in the project to see the problem, fix it, then run migrate-safe again.'}${pre ? ` Nothing was changed; the pre-migration backup ${pre.manifest.file} stays (pinned).` : ' Nothing was migrated.'}`,
          details: { deployExitCode: deploy.code, ...(pre ? { preMigrationBackup: pre.manifest.file } : {}), ...(created ? { createdDatabase: true } : {}) },
        },
      );
    }

    // Failure: what took effect, how to get out, and optionally the rollback.
    const failedRowNow = failedRow(rowsAfter);
    const failedName = failedRowNow?.migration_name ?? after.pending[0]?.name ?? first;
    const failedSql = folder.find((m) => m.name === failedName)?.sql ?? '';
    const commands = recoveryCommands({ failedMigration: failedName, preMigrationBackup: pre?.manifest.file ?? '', backupDirArg: options.backupDirArg, schemas: ctx.target.schemas });
    const failure: FailureReport = {
      migration: failedName,
      logs: failedRowNow?.logs ?? null,
      prismaOutput: redactSecrets((deploy.stdout + deploy.stderr).trim()),
      appliedBeforeFailure: plan.pending.filter((n) => after.applied.includes(n)),
      statements: statementEffects(failedSql, preSchema, liveAfter),
      commands: pre ? commands : { resolveRolledBack: commands.resolveRolledBack, resolveApplied: commands.resolveApplied },
    };
    let status: MigrateStatus = 'failed-not-rolled-back';
    if (options.autoRollback && pre && preHeader) {
      failure.rollback = await rollback(pre, preHeader.schema, preHeader.prismaMigrations);
      if (failure.rollback.restored && failure.rollback.dataMatches && !failure.rollback.schemaDifferences.length && failure.rollback.migrationsMatch) status = 'failed-rolled-back';
    }
    const result: MigrateSafeResult = {
      ...base,
      status,
      exitCode: status === 'failed-rolled-back' ? MigrateExitCode.FAILED_ROLLED_BACK : MigrateExitCode.FAILED_NOT_ROLLED_BACK,
      plan,
      ...backups,
      deploy: deployInfo,
      failure,
      durationMs: 0,
    };
    return saveReport(result);
  }

  async function snapshot(reason: string, pinned: boolean): Promise<BackupResult> {
    ctx.reporter.info(`Taking the ${reason} backup...`);
    const b = await backupWithConnection(ctx, conn, { reason, pinned, kind: reason.startsWith('post') ? 'post-migration' : 'pre-migration' });
    const v = await verifyBackup(ctx, b.path);
    if (!v.ok) {
      throw new GuardError('BACKUP_CORRUPT', `The ${reason} backup ${b.manifest.file} does not verify (${v.error?.message}); nothing was migrated${reason.startsWith('post') ? ' after it' : ''}.`, {
        hint: 'Check the disk holding the backup folder, then run migrate-safe again.',
        exitCode: reason.startsWith('pre') ? MigrateExitCode.PREFLIGHT : undefined,
      });
    }
    return b;
  }

  async function rollback(pre: BackupResult, preSchema: DbSchema, preMigrations: PrismaMigrationRow[]): Promise<NonNullable<FailureReport['rollback']>> {
    ctx.reporter.info(`Rolling back: full restore of ${pre.manifest.file}...`);
    try {
      const r = await restore(ctx, { backup: pre.path, mode: 'full', yes: true, connection: conn });
      const live = await conn.introspect();
      const schemaDifferences = compareSchemas(preSchema, live).filter((d) => d.kind !== 'column-default');
      const rows = await readAppliedMigrations(conn, ctx.target.dialect);
      const key = (m: PrismaMigrationRow) => `${m.id}|${m.migration_name}|${m.checksum}|${m.finished_at === null}|${m.rolled_back_at === null}`;
      const migrationsMatch = rows.map(key).sort().join('\n') === preMigrations.map(key).sort().join('\n');
      return { restored: r.executed, safetyBackup: r.safetyBackup, dataMatches: Boolean(r.proof?.matches), schemaDifferences, migrationsMatch, failedRowGone: !failedRow(rows) };
    } catch (e) {
      return { restored: false, error: isGuardError(e) ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : messageOf(e), dataMatches: false, schemaDifferences: [], migrationsMatch: false, failedRowGone: false };
    }
  }

  async function saveReport(result: MigrateSafeResult): Promise<MigrateSafeResult> {
    result.durationMs = Date.now() - started;
    const stamp = ctx.clock.now().toISOString().replace(/:/g, '-').replace('.', '-');
    const file = path.join(ctx.backupDir, `migrate-report-${stamp}.json`);
    try {
      await writeSmallFileAtomically(file, toRedactedJson({ ...result, reportFile: file }, 2) + '\n');
      result.reportFile = file;
    } catch (e) {
      result.warnings.push(`Could not save the report ${file}: ${messageOf(e)}`);
    }
    return result;
  }

  async function afterReport(pre: BackupResult | null, preSchema: DbSchema, post: BackupResult, postSchema: DbSchema): Promise<AfterReport> {
    const schemaChanges = compareSchemas(preSchema, postSchema);
    // A database this run created had no tables, so nothing before.
    const preTables = pre?.manifest.tables ?? {};
    const names = [...new Set([...Object.keys(preTables), ...Object.keys(post.manifest.tables)])].sort();
    const rowCounts = names.map((table) => {
      const before = preTables[table]?.rows ?? null;
      const afterRows = post.manifest.tables[table]?.rows ?? null;
      return { table, before, after: afterRows, change: (afterRows ?? 0) - (before ?? 0) };
    });
    const droppedColumns = schemaChanges.filter((d) => d.kind === 'column-removed' && d.table && d.column);
    const tablesLost = schemaChanges.filter((d) => d.kind === 'table-removed').map((d) => ({ table: d.table!, rows: preTables[d.table!]?.rows ?? 0 }));
    const valuesLost = pre ? await lostValues(remoteNameOf(ctx, pre.path) ? await openBackupAt(ctx, pre.path, pre.manifest.file) : pre.path, pre.manifest.file, droppedColumns.map((d) => ({ table: d.table!, column: d.column! })), ctx.encryption?.keys) : [];
    return { schemaChanges, rowCounts, valuesLost, tablesLost };
  }
}

/** `_prisma_migrations` unchanged: the same rows with the same state (nothing started, finished or rolled back). */
function sameMigrationRows(before: PrismaMigrationRow[], after: PrismaMigrationRow[]): boolean {
  const key = (m: PrismaMigrationRow) => `${m.id}|${m.migration_name}|${m.checksum}|${m.finished_at}|${m.rolled_back_at}|${m.applied_steps_count}`;
  const a = before.map(key).sort();
  const b = after.map(key).sort();
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

/**
 * Connects, or creates a database that does not exist yet (the first deploy of a new app, a CI run
 * on a fresh server), as `prisma migrate deploy` would: the SQLite file, or the PostgreSQL database
 * when the role may create databases. Null when it is missing and `create` is false.
 */
async function connectOrCreate(ctx: OpsContext, options: { create: boolean }): Promise<{ conn: Connection; created: boolean } | null> {
  const { target } = ctx;
  if (target.file !== undefined) {
    if (fs.existsSync(target.file)) return { conn: await connect(target), created: false };
    if (!options.create) return null;
    fs.mkdirSync(path.dirname(target.file), { recursive: true });
    return { conn: await connect(target, { create: true }), created: true };
  }
  try {
    return { conn: await connect(target), created: false };
  } catch (e) {
    // 3D000: the server answers, the database is missing.
    if (!isGuardError(e) || e.details?.code !== '3D000') throw e;
    if (!options.create) return null;
    return { conn: await connect(target, { create: true }), created: true };
  }
}

function ref(b: BackupResult, verified: boolean, pinned: boolean): BackupRef {
  return { file: b.manifest.file, path: b.path, rowsTotal: b.manifest.rowsTotal, verified, pinned };
}

async function readHeader(ctx: OpsContext, file: string) {
  // A pre-migration snapshot in an object-storage BACKUP_DIR is read by ranges (lib/ops/primary.ts).
  const source = remoteNameOf(ctx, file) ? await openBackupAt(ctx, file, path.basename(file)) : file;
  const opened = await openBackup(source, path.basename(file), { keys: ctx.encryption?.keys });
  try {
    return opened.header;
  } finally {
    await opened.close();
  }
}

const SAMPLE_SIZE = 5;

/** Reads the pre-migration backup: non-null values of each dropped column, and a few of them with their row's key. */
export async function lostValues(file: string | BackupFile, name: string, columns: { table: string; column: string }[], keys?: DecryptionKeys | null): Promise<AfterReport['valuesLost']> {
  if (!columns.length) return [];
  const out: AfterReport['valuesLost'] = columns.map((c) => ({ ...c, nonNull: 0, sample: [] }));
  const opened = await openBackup(file, name, { keys });
  try {
    for await (const section of opened.sections()) {
      const wanted = out.filter((c) => c.table === section.table.name);
      const idx = wanted.map((w) => section.table.columns.findIndex((c) => c.name === w.column));
      const keyCols = (section.table.primaryKey.length ? section.table.primaryKey : []).map((k) => [k, section.table.columns.findIndex((c) => c.name === k)] as const);
      for await (const batch of section.rows) {
        if (!wanted.length) continue;
        for (const row of batch) {
          wanted.forEach((w, i) => {
            const v = idx[i] >= 0 ? row[idx[i]] : null;
            if (v === null) return;
            w.nonNull++;
            if (w.sample.length < SAMPLE_SIZE) w.sample.push({ key: Object.fromEntries(keyCols.map(([k, j]) => [k, plainValue(row[j])])), value: plainValue(v) });
          });
        }
      }
    }
  } finally {
    await opened.close();
  }
  return out;
}

/** Re-export for callers that only import the runner. */
export { MigrateExitCode };

