import { GuardError } from '../../lib/core/errors.ts';
import { describeScope } from '../../lib/format/source.ts';
import { restore, type RestorePlan } from '../../lib/ops/restore.ts';
import { listOption, type Command } from '../cli.ts';

/** The plan as a person reads it. */
export function describePlan(plan: RestorePlan): string {
  const lines: string[] = [];
  if (plan.selection) {
    const passed = [...plan.selection.failed.map((f) => `${f.file}: fails verification (${f.error})`), ...plan.selection.skipped.map((s) => `${s.file}: ${s.why}`)];
    lines.push(`latest = the newest full backup of this database${plan.selection.matchedBy === 'location' ? ' (matched on its location: the database has no identity to compare)' : ''}${passed.length ? `; passed over ${passed.length}:` : ''}`);
    for (const p of passed.slice(0, 10)) lines.push(`  - ${p}`);
    if (passed.length > 10) lines.push(`  ... and ${passed.length - 10} more`);
    lines.push('');
  }
  lines.push(
    `Restore ${plan.backup.file} (${plan.backup.kind}, ${describeScope(plan.backup.scope)}, reason ${plan.backup.reason}, taken ${plan.backup.createdAt})`,
    `  of ${plan.backup.database}`,
    `  into ${plan.target}, ${plan.mode} mode${plan.safetyBackup ? ', after a safety backup of the current data' : ', WITHOUT a safety backup'}`,
  );
  // A backup of another database (prod -> staging) is allowed when named, but never silently.
  if (plan.otherSchemas) lines.push('', `  !!! OTHER SCHEMAS: the backup holds ${plan.otherSchemas.backup.join(', ')}; the target is ${plan.otherSchemas.target.join(', ')} (restore with --schemas ${plan.otherSchemas.backup.join(',')}).`);
  if (plan.otherDatabase) lines.push('', `  !!! ANOTHER DATABASE: this is a backup of ${plan.otherDatabase.backup},`, `  !!! not of the target ${plan.otherDatabase.target} (${plan.otherDatabase.why}).`, `  !!! Its data will replace the target's.`);
  if (plan.merge) lines.push("  merge: the backup's rows are added back beside the live rows; nothing is removed");
  if (plan.ddl) {
    const by = plan.ddl.source === 'pg_dump' ? `pg_dump ${plan.ddl.pgDumpVersion ?? ''}`.trim() : "prisma-guard's schema reader";
    lines.push(`  schema: ${plan.ddl.statements} statements written by ${by}${plan.ddl.code.length ? `, creating ${plan.ddl.code.length} function(s) or extension(s) with code` : ''}`);
  }
  lines.push('');
  const detailed = plan.tables.some((t) => t.rows);
  if (detailed) {
    // Dry run: row by row against the live data (primary key; multiset for tables without one).
    lines.push('  table                            rows now  in backup     delete     insert     update  unchanged');
    for (const t of plan.tables) {
      const r = t.rows;
      const cell = (n: number | undefined) => String(n ?? '-').padStart(10);
      lines.push(`  ${t.name.padEnd(32)} ${String(t.remove ?? '(new)').padStart(8)} ${String(t.insert).padStart(10)} ${cell(r?.delete)} ${cell(r?.insert)} ${cell(r?.update)} ${cell(r?.unchanged)}`);
    }
  } else {
    lines.push('  table                              remove     insert');
    for (const t of plan.tables) lines.push(`  ${t.name.padEnd(32)} ${String(t.remove ?? '(new)').padStart(8)} ${String(t.insert).padStart(10)}`);
  }
  for (const d of plan.dropTables) lines.push(`  ${d.name.padEnd(32)} ${String(d.rows).padStart(8)}    (table dropped: not in the backup)`);
  const differences = plan.schemaDifferences.filter((d) => d.kind !== 'column-default');
  if (differences.length && plan.mode === 'full') {
    lines.push('', '  schema changes undone (live -> backup):');
    for (const d of differences.slice(0, 20)) lines.push(`    - ${d.text.replace('first schema', 'backup').replace('second schema', 'live database')}`);
  }
  if (plan.mode === 'full' && plan.liveMigrations.join() !== plan.backup.migrations.join()) {
    lines.push('', `  migration history: ${plan.liveMigrations.length} applied now -> ${plan.backup.migrations.length} in the backup`);
  }
  return lines.join('\n');
}

/** The full-restore flags restore and emergency-restore share. */
export const FULL_RESTORE_OPTIONS = {
  'allow-code': { type: 'boolean' },
  'no-owner': { type: 'boolean' },
  'no-privileges': { type: 'boolean' },
} as const;

export function fullRestoreFlags(values: Record<string, unknown>): { allowCode: boolean; noOwner: boolean; noPrivileges: boolean } {
  return { allowCode: Boolean(values['allow-code']), noOwner: Boolean(values['no-owner']), noPrivileges: Boolean(values['no-privileges']) };
}

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Restore a backup: plan, safety backup, all-or-nothing load, proof that the data matches.',
  positionals: 1,
  usage: 'prisma-guard restore <backup|latest> [--dry-run] [--yes] [--mode data|full] [--tables A,B] [--no-safety-backup] [--merge] [--allow-code] [--no-owner] [--no-privileges] [--schemas A,B] [--lock-wait SECONDS] [--url URL] [--backup-dir DIR] [--json]',
  options: {
    schemas: { type: 'string' },
    'dry-run': { type: 'boolean' },
    yes: { type: 'boolean', short: 'y' },
    mode: { type: 'string' },
    tables: { type: 'string' },
    'no-safety-backup': { type: 'boolean' },
    merge: { type: 'boolean' },
    'lock-wait': { type: 'string' },
    ...FULL_RESTORE_OPTIONS,
  },
  async run(io) {
    const given = io.positionals[0];
    if (!given) throw new GuardError('USAGE', 'restore needs a backup name.', { hint: 'prisma-guard restore latest --dry-run' });
    // Unset: data mode, or full mode for a schema-only backup (lib/ops/restore.ts).
    const mode = io.values.mode as string | undefined;
    if (mode !== undefined && mode !== 'data' && mode !== 'full') throw new GuardError('USAGE', `--mode must be data or full, not "${mode}".`);
    // How long to wait for another backup, restore or migration (the dashboard's too) to finish; default 120 s.
    const wait = io.values['lock-wait'];
    const lockWaitMs = wait === undefined ? undefined : Number(wait) * 1000;
    if (lockWaitMs !== undefined && !(lockWaitMs >= 0)) throw new GuardError('USAGE', `--lock-wait must be a number of seconds, not "${String(wait)}".`);
    const result = await restore(io.context(), {
      lockWaitMs,
      backup: given,
      mode,
      tables: listOption(io.values.tables),
      dryRun: Boolean(io.values['dry-run']),
      yes: Boolean(io.values.yes),
      safetyBackup: !io.values['no-safety-backup'],
      merge: io.values.merge ? true : undefined,
      ...fullRestoreFlags(io.values),
      confirm: async (plan) => {
        if (!io.interactive || io.json) return false;
        io.print(describePlan(plan));
        return io.confirm('Replace the data above?');
      },
    });
    io.printJson({ ok: true, ...result });
    if (!result.executed) {
      io.print(describePlan(result.plan) + '\n\nDry run: nothing was changed. Run again with --yes to restore.');
      return 0;
    }
    const tables = Object.keys(result.proof?.tables ?? {}).length;
    io.print(`Restored ${result.plan.backup.rowsTotal} rows in ${tables} tables from ${result.plan.backup.file} (${result.durationMs} ms).`);
    if (result.safetyBackup) io.print(`Safety backup of the previous state: ${result.safetyBackup}`);
    io.print(result.plan.merge ? 'Proof: every row of the backup is back in the live tables, unchanged (other rows were kept).' : `Proof: every restored table's row count and checksum match the backup.`);
    return 0;
  },
};

