import { getStatus, HEALTH_EXIT_CODE } from '../../lib/ops/status.ts';
import { formatBytes, withDotEnv, type Command } from '../cli.ts';

function age(ms: number): string {
  const min = Math.round(ms / 60_000);
  return min < 120 ? `${min} min ago` : min < 48 * 60 ? `${(min / 60).toFixed(1)} h ago` : `${(min / 1440).toFixed(1)} days ago`;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'Health of the backups (HEALTHY/WARNING/CRITICAL; exit 0/1/2), last backup, next scheduled runs, retention tiers.',
  usage: 'prisma-guard status [--database TEXT] [--backup-dir DIR] [--json]\n  Exit codes: 0 healthy, 1 warning, 2 critical. BACKUP_MAX_AGE (e.g. 9h), BACKUP_MIN_FREE_MB (1024).',
  options: { database: { type: 'string' } },
  async run(io) {
    const ctx = io.context();
    const s = await getStatus(ctx, { env: withDotEnv(process.env), database: io.values.database as string | undefined });
    io.printJson(s);
    io.print(`${s.health}  ${s.location}`);
    for (const r of s.reasons) io.print(`  ${r.level}: ${r.message}`);
    io.print(`Backups: ${s.backups.count} (${formatBytes(s.backups.totalBytes)}), ${s.backups.verified} verified, ${s.backups.failedVerification} failed verification, ${s.backups.pinned} pinned`);
    for (const d of s.databases) {
      io.print(`${d.watched ? '*' : ' '} ${d.label}  [${d.database}]: ${d.count} backup(s), ${d.full} full`);
      const l = d.last;
      if (l) io.print(`    last full: ${l.file}  ${l.kind}, ${l.createdAt} (${age(l.ageMs)}), ${formatBytes(l.sizeBytes)}, ${l.rowsTotal === null ? "rows encrypted" : `${l.rowsTotal} rows`}, took ${l.durationMs} ms, ${l.verified === true ? 'verified' : l.verified === false ? 'VERIFY FAILED' : 'not verified'}`);
    }
    if (s.databases.some((d) => !d.watched)) io.print('  (* = watched: decides the health; set DATABASE_URL or --database to choose)');
    const run = s.scheduler.state?.lastRun;
    if (run) io.print(`Last scheduled run: slot ${run.slot}: ${run.outcome}${run.error ? ` (${run.error})` : ''}${run.takenBy ? ` (by ${run.takenBy})` : ''}`);
    if (s.schedule.nextRuns.length) {
      io.print('Next runs:');
      for (const n of s.schedule.nextRuns) io.print(`  ${String(n.at)}  ${(n.jobs as string[]).join(', ')}`);
    }
    io.print(`Retention: ${Object.entries(s.tiers).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (s.disk) io.print(`Disk: ${formatBytes(s.disk.freeBytes)} free of ${formatBytes(s.disk.totalBytes)}`);
    return HEALTH_EXIT_CODE[s.health];
  },
};
