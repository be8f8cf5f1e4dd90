import { appendFileSync } from 'node:fs';
import { migrateSafe, type MigrateSafeResult } from '../../lib/guard/run.ts';
import type { MigratePlan } from '../../lib/guard/plan.ts';
import { githubAnnotations, markdownSummary, REPORT_FORMATS, type ReportFormat } from '../../lib/guard/report.ts';
import { GuardError, isGuardError, messageOf } from '../../lib/core/errors.ts';
import { redactSecrets, toRedactedJson } from '../../lib/core/url.ts';
import { redactingLineWriter, type Command } from '../cli.ts';

const MARK = { block: 'BLOCK', warn: 'WARN ', info: 'info ' } as const;

/** The risk check as a person reads it. */
export function describeMigratePlan(plan: MigratePlan): string {
  const lines = [`Pending migrations (${plan.pending.length}): ${plan.pending.join(', ') || 'none'}`];
  if (!plan.findings.length) lines.push('Risk check: nothing risky found.');
  else lines.push(`Risk check: ${plan.counts.block} blocking, ${plan.counts.warn} warning(s), ${plan.counts.info} note(s)`);
  for (const f of plan.findings) {
    const stmt = f.statement.replace(/\s+/g, ' ');
    lines.push(`  ${MARK[f.severity]} ${f.migration} line ${f.line} [${f.rule}]: ${f.message}`);
    lines.push(`        statement: ${stmt.length > 160 ? stmt.slice(0, 157) + '...' : stmt}`);
    if (f.prismaWarning) lines.push(`        Prisma warned: ${f.prismaWarning}`);
    if (f.severity !== 'info') lines.push(`        safer: ${f.advice}`);
  }
  return lines.join('\n');
}

/** The outcome as a person reads it. */
export function describeResult(r: MigrateSafeResult): string {
  const lines: string[] = [];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.status === 'up-to-date') {
    lines.push(`Nothing to migrate: ${r.plan.applied.length} migration(s) applied, none pending (${r.target}).`);
    return lines.join('\n');
  }
  if (r.against) lines.push(`Checked on a scratch copy of the backup ${r.against.backup} (loaded in ${(r.against.loadMs / 1000).toFixed(1)} s into ${r.against.scratch}, dropped since); the live database was not opened.`);
  lines.push(describeMigratePlan(r.plan));
  if (r.status === 'dry-run') lines.push('', `Dry run: nothing was changed.${r.plan.blocked ? ' A real run would stop here (add --accept-data-loss to go on anyway).' : ''}`);
  if (r.status === 'blocked') lines.push('', 'Stopped: the risk check found blocking problems, so nothing was changed.', 'Make the migration safe (see "safer" above), or run again with --accept-data-loss to apply it anyway (a verified pre-migration backup is taken first).');
  if (r.status === 'not-confirmed') lines.push('', 'Not confirmed: nothing was changed.');
  if (r.preMigrationBackup) lines.push('', `Pre-migration backup (verified, pinned): ${r.preMigrationBackup.path}`);
  else if (r.createdDatabase && r.status !== 'dry-run') lines.push('', 'No pre-migration backup: the database was created by this run and held nothing.');
  if (r.status === 'applied' && r.report) {
    lines.push(`Post-migration backup (verified): ${r.postMigrationBackup?.path}`, '', `Applied ${r.plan.pending.length} migration(s).`);
    const changes = r.report.schemaChanges.filter((d) => d.kind !== 'column-default');
    if (changes.length) {
      lines.push('Schema changes:');
      for (const d of changes) lines.push(`  - ${d.text.replace('only in the first schema', 'removed').replace('only in the second schema', 'added')}`);
    }
    const counts = r.report.rowCounts.filter((c) => c.change !== 0 || c.before === null || c.after === null);
    if (counts.length) {
      lines.push('Row counts that changed:');
      for (const c of counts) lines.push(`  ${c.table.padEnd(32)} ${String(c.before ?? '-').padStart(9)} -> ${String(c.after ?? '-').padStart(9)}`);
    }
    for (const t of r.report.tablesLost) lines.push(`Table dropped: ${t.table} (${t.rows} rows; they are in the pre-migration backup)`);
    for (const v of r.report.valuesLost) {
      lines.push(`Values lost: ${v.table}.${v.column}: ${v.nonNull} non-null value(s) (kept in the pre-migration backup)`);
      for (const s of v.sample) lines.push(`    ${JSON.stringify(s.key)} = ${JSON.stringify(s.value)}`);
    }
  }
  if (r.failure) {
    const f = r.failure;
    lines.push('', `prisma migrate deploy FAILED in ${f.migration}.`);
    if (f.appliedBeforeFailure.length) lines.push(`Applied before the failure: ${f.appliedBeforeFailure.join(', ')}`);
    if (f.logs) lines.push('Prisma recorded:', ...f.logs.trim().split('\n').map((l) => `  | ${l}`));
    lines.push(`Statements of ${f.migration} (compared with the pre-migration schema: "applied" only where its effect is visible now; Prisma does not run a migration in a transaction on PostgreSQL, so a partial application is possible):`);
    for (const s of f.statements) lines.push(`  [${s.outcome.padEnd(11)}] line ${s.line}: ${s.statement.replace(/\s+/g, ' ').slice(0, 100)}  (${s.evidence})`);
    if (f.rollback) {
      const rb = f.rollback;
      if (r.status === 'failed-rolled-back') {
        lines.push('', `Rolled back: ${r.preMigrationBackup?.file} restored in full mode.`, `  Proof: every table's rows and checksum match the backup; the schema equals the pre-migration schema; _prisma_migrations equals the pre-migration one (the failed row of ${f.migration} is gone, so no \`prisma migrate resolve\` is needed).`);
        if (rb.safetyBackup) lines.push(`  The failed state was saved first: ${rb.safetyBackup}`);
        lines.push(`Fix ${f.migration} (or replace it), then run migrate-safe again.`);
      } else {
        lines.push('', `The automatic rollback did NOT complete: ${rb.error ?? (!rb.dataMatches ? 'data does not match the backup' : rb.schemaDifferences.length ? 'schema differs: ' + rb.schemaDifferences.map((d) => d.text).join('; ') : '_prisma_migrations differs')}`);
      }
    }
    if (r.status !== 'failed-rolled-back') {
      lines.push(
        '',
        'To recover, either:',
        ...(f.commands.restore
          ? [`  1. Put the database back as it was before this run (data, schema and migration history; no migrate resolve needed afterwards):`, `       ${f.commands.restore}`]
          : ['  1. The database was created by this run and held nothing before it: drop it (or delete the SQLite file), fix the migration and run migrate-safe again.']),
        `  2. Undo the applied statements above by hand, then mark the migration rolled back, fix it and deploy again:`,
        `       ${f.commands.resolveRolledBack}`,
        `  3. Finish the remaining statements by hand, then mark the migration applied:`,
        `       ${f.commands.resolveApplied}`,
        '  (`prisma migrate resolve` needs Prisma\'s native schema engine.)',
      );
    }
  }
  if (r.reportFile) lines.push('', `Report: ${r.reportFile}`);
  return lines.join('\n');
}

/** Exit codes: see lib/guard/plan.ts MigrateExitCode. */
export const migrateSafeCommand: Command = {
  name: 'migrate-safe',
  summary: 'Guarded `prisma migrate deploy`: risk check on live data, verified pre-migration backup, report, recovery.',
  usage:
    'prisma-guard migrate-safe [--dry-run [--against <backup|latest>]] [--accept-data-loss] [--auto-rollback] [--yes] [--schema PATH] [--migrations-dir DIR] [--lock-wait SECONDS] [--large-table-rows N] [--format text|json|markdown|github] [--url URL] [--backup-dir DIR] [--json]',
  options: {
    schema: { type: 'string' },
    'migrations-dir': { type: 'string' },
    'accept-data-loss': { type: 'boolean' },
    'auto-rollback': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    yes: { type: 'boolean', short: 'y' },
    'lock-wait': { type: 'string' },
    against: { type: 'string' },
    'large-table-rows': { type: 'string' },
    format: { type: 'string' },
  },
  async run(io) {
    const format = (io.values.format as string | undefined) ?? (io.json ? 'json' : 'text');
    if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new GuardError('USAGE', `--format must be one of ${REPORT_FORMATS.join(', ')}, not "${format}".`);
    if (io.json && format !== 'json') throw new GuardError('USAGE', `--json and --format ${format} ask for two outputs.`, { hint: 'Use one: --json is --format json.' });
    try {
      return await run(io, format as ReportFormat);
    } catch (e) {
      // --format json (without --json) still answers errors in JSON, as --json does.
      if (format !== 'json' || io.json) throw e;
      const err = isGuardError(e) ? e : new GuardError('INTERNAL', `Unexpected error: ${messageOf(e)}`, { cause: e });
      process.stdout.write(toRedactedJson({ ok: false, error: err.toJSON() }, 2) + '\n');
      return err.exitCode;
    }
  },
};

async function run(io: Parameters<Command['run']>[0], format: ReportFormat): Promise<number> {
  const rows = io.values['large-table-rows'];
  const largeTableRows = rows === undefined ? undefined : Number(rows);
  if (largeTableRows !== undefined && !(Number.isInteger(largeTableRows) && largeTableRows >= 0)) throw new GuardError('USAGE', `--large-table-rows must be a whole number of rows, not "${String(rows)}".`);
  const wait = io.values['lock-wait'];
  const lockWaitMs = wait === undefined ? undefined : Number(wait) * 1000;
  if (lockWaitMs !== undefined && !(lockWaitMs >= 0)) throw new GuardError('USAGE', `--lock-wait must be a number of seconds, not "${String(wait)}".`);
  const machine = format !== 'text';
  const prismaOutput = redactingLineWriter((text) => (machine ? process.stderr : process.stdout).write(text));
  // Every schema of the project (the Prisma datasource's `schemas`, or --schemas): the risk checks
  // resolve `"b"."User"` to that schema's table, and the snapshots and a rollback cover them all.
  const result = await migrateSafe(io.context(), {
    schema: io.values.schema as string | undefined,
    migrationsDir: io.values['migrations-dir'] as string | undefined,
    acceptDataLoss: Boolean(io.values['accept-data-loss']),
    autoRollback: Boolean(io.values['auto-rollback']),
    dryRun: Boolean(io.values['dry-run']),
    yes: Boolean(io.values.yes),
    lockWaitMs,
    largeTableRows,
    against: io.values.against as string | undefined,
    backupDirArg: io.values['backup-dir'] as string | undefined,
    // Prisma's output is streamed; with --json it goes to stderr so stdout stays one JSON document.
    onPrismaOutput: (chunk) => prismaOutput.write(chunk),
    confirm:
      io.interactive && !machine
        ? async (plan, question) => {
            io.print(describeMigratePlan(plan));
            return io.confirm(question);
          }
        : undefined,
  }).finally(() => prismaOutput.flush());
  const root = process.env.GITHUB_WORKSPACE ?? process.cwd();
  if (format === 'json') process.stdout.write(toRedactedJson({ ok: result.exitCode === 0, ...result }, 2) + '\n');
  else if (format === 'text') io.print(describeResult(result));
  else if (format === 'markdown') process.stdout.write(redactSecrets(markdownSummary(result, { root })) + '\n');
  else {
    process.stdout.write(redactSecrets(githubAnnotations(result, { root })) + '\n');
    // In GitHub Actions the Markdown summary also goes to the job's summary page.
    const summary = process.env.GITHUB_STEP_SUMMARY;
    if (summary) appendFileSync(summary, redactSecrets(markdownSummary(result, { root })) + '\n');
  }
  return result.exitCode;
}
