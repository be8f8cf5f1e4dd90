import type { EmergencyChoice, EmergencyResult, LiveState } from '../../lib/ops/emergency.ts';
import { emergencyRestore } from '../../lib/ops/emergency.ts';
import { type Command } from '../cli.ts';
import { describePlan, fullRestoreFlags, FULL_RESTORE_OPTIONS } from './restore.ts';

/** "3 days 4 hours", "5 minutes": how old a backup is. */
export function formatAge(ms: number): string {
  const units: [string, number][] = [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
    ['second', 1000],
  ];
  const parts: string[] = [];
  let rest = Math.max(0, ms);
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return parts.length ? parts.join(' ') : 'less than a second';
}

/** What emergency-restore found and will do. */
export function describeChoice(choice: EmergencyChoice, skipped: EmergencyResult['skipped'], live: LiveState): string {
  const lines: string[] = [];
  for (const s of skipped) lines.push(`Skipped ${s.file}: it fails verification (${s.error})`);
  lines.push(
    `Newest backup that verifies: ${choice.file}`,
    `  taken ${choice.createdAt} (${formatAge(choice.ageMs)} ago), reason ${choice.reason}, ${choice.rowsTotal} rows in ${Object.keys(choice.tables).length} tables`,
    `  changes made after it are lost unless the safety backup keeps them.`,
  );
  if (!live.reachable) lines.push(`Current database: cannot be opened (${live.error}); no safety backup possible, it will be recreated.`);
  else if (!live.tables) lines.push('Current database: reachable but has no tables; no safety backup needed.');
  else lines.push(`Current database: ${live.tables} table(s); a safety backup of it is taken before restoring.`);
  return lines.join('\n');
}

export const emergencyRestoreCommand: Command = {
  name: 'emergency-restore',
  summary: 'Restore the newest backup that passes verification (full mode), after a safety backup of what is left.',
  usage: 'prisma-guard emergency-restore [--yes] [--dry-run] [--allow-code] [--no-owner] [--no-privileges] [--url URL] [--backup-dir DIR] [--json]',
  options: {
    yes: { type: 'boolean', short: 'y' },
    'dry-run': { type: 'boolean' },
    ...FULL_RESTORE_OPTIONS,
  },
  async run(io) {
    const result = await emergencyRestore(io.context(), {
      yes: Boolean(io.values.yes),
      dryRun: Boolean(io.values['dry-run']),
      ...fullRestoreFlags(io.values),
      confirm: async ({ choice, skipped, live, plan }) => {
        if (!io.interactive || io.json) return false;
        io.print(describeChoice(choice, skipped, live) + '\n\n' + describePlan(plan));
        return io.confirm('Replace the whole database with this backup?');
      },
    });
    io.printJson({ ok: true, ...result });
    const r = result.restore;
    if (!r?.executed) {
      io.print(describeChoice(result.choice, result.skipped, result.live) + (r ? '\n\n' + describePlan(r.plan) : '') + '\n\nDry run: nothing was changed. Run again with --yes to restore.');
      return 0;
    }
    if (io.values.yes) io.print(describeChoice(result.choice, result.skipped, result.live) + '\n');
    io.print(`Restored ${r.plan.backup.rowsTotal} rows in ${Object.keys(r.proof?.tables ?? {}).length} tables from ${result.choice.file} (${r.durationMs} ms).`);
    if (r.safetyBackup) io.print(`Safety backup of the previous state: ${r.safetyBackup}`);
    io.print('Proof: every table\'s row count and checksum match the backup.');
    return 0;
  },
};
