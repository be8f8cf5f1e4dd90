/** `GET /metrics`: the status report (lib/ops/status.ts) in the Prometheus text format. */
import type { StatusReport } from '../ops/status.ts';
import type { Job } from './jobs.ts';

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(s: StatusReport, jobs: Job[]): string {
  const out: string[] = [];
  const metric = (name: string, help: string, type: 'gauge' | 'counter', samples: Array<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(value) ? value : 'NaN'}`);
    }
  };
  const health = { HEALTHY: 0, WARNING: 1, CRITICAL: 2 }[s.health];
  metric('prisma_guard_health', 'Health of the backups: 0 healthy, 1 warning, 2 critical (the exit code of `prisma-guard status`).', 'gauge', [[{}, health]]);
  metric('prisma_guard_backups', 'Backups in the backup folder.', 'gauge', [[{}, s.backups.count]]);
  metric('prisma_guard_backups_bytes', 'Total size of the backups.', 'gauge', [[{}, s.backups.totalBytes]]);
  metric('prisma_guard_verify_failures', 'Backups whose last verification failed.', 'gauge', [[{}, s.backups.failedVerification]]);
  const dbs = s.databases.filter((d) => d.last);
  // A value the backup does not know (the rows of an encrypted backup's manifest) is left out, not 0.
  const per = (f: (d: (typeof dbs)[number]) => number | null): Array<[Record<string, string>, number]> =>
    dbs.flatMap((d) => {
      const v = f(d);
      return v === null ? [] : [[{ database: d.database, label: d.label }, v] as [Record<string, string>, number]];
    });
  metric('prisma_guard_last_backup_age_seconds', 'Age of the newest full backup per database.', 'gauge', per((d) => Math.round(d.last!.ageMs / 1000)));
  metric('prisma_guard_last_backup_bytes', 'Size of the newest full backup per database.', 'gauge', per((d) => d.last!.sizeBytes));
  metric('prisma_guard_last_backup_duration_seconds', 'How long the newest full backup took per database.', 'gauge', per((d) => d.last!.durationMs / 1000));
  metric('prisma_guard_last_backup_rows', 'Rows in the newest full backup per database.', 'gauge', per((d) => d.last!.rowsTotal));
  metric('prisma_guard_scheduler_consecutive_failures', 'Failed scheduled runs since the last success.', 'gauge', [[{}, s.scheduler.state?.consecutiveFailures ?? 0]]);
  const failed = jobs.filter((j) => j.state === 'failed');
  metric('prisma_guard_dashboard_job_failures', 'Jobs started from the dashboard that failed since it started, by kind.', 'counter', [...new Set(jobs.map((j) => j.kind))].map((k) => [{ kind: k }, failed.filter((j) => j.kind === k).length]));
  if (s.offsite) metric('prisma_guard_offsite_lag_seconds', 'How far the newest offsite copy lags the newest full backup.', 'gauge', [[{ location: s.offsite.location }, s.offsite.lagMs === null ? NaN : Math.round(s.offsite.lagMs / 1000)]]);
  return out.join('\n') + '\n';
}
