import { prune, retentionPolicyFromEnv } from '../../lib/ops/prune.ts';
import { formatBytes, locationOption, withDotEnv, type Command } from '../cli.ts';

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Apply the retention policy: delete backups no rule keeps (with --dry-run, only show the decision).',
  usage:
    'prisma-guard prune [--dry-run] [--location LOCATION] [--backup-dir DIR] [--json]\n' +
    '  --location: prune another location (s3://bucket/prefix, a folder; `offsite` or `remote` = BACKUP_COPY_TO) with the same policy.\n' +
    '  Policy: BACKUP_KEEP_HOURLY (7d), BACKUP_KEEP_DAILY (30d), BACKUP_KEEP_WEEKLY (3m), BACKUP_KEEP_MONTHLY (1y), BACKUP_RETENTION_TZ (Europe/London); 0 disables a rule.',
  options: {
    'dry-run': { type: 'boolean' },
    location: { type: 'string' },
  },
  async run(io) {
    const ctx = io.context();
    const policy = retentionPolicyFromEnv(withDotEnv(process.env));
    const dryRun = Boolean(io.values['dry-run']);
    const location = locationOption(ctx, io.values.location as string | undefined);
    const r = await prune(ctx, { policy, dryRun, location });
    const { decision: _decision, ...out } = r;
    io.printJson({ ok: r.failed.length === 0 && r.sections.failed.length === 0, ...out });
    if (location) io.print(`Location ${location.location}:`);
    io.print(`Retention (hourly ${policy.hourly ?? 'off'}, daily ${policy.daily ?? 'off'}, weekly ${policy.weekly ?? 'off'}, monthly ${policy.monthly ?? 'off'}, ${policy.timeZone})${r.anchor ? `, measured back from ${r.anchor}` : ''}:`);
    for (const e of r.entries) {
      const label = e.action === 'keep' ? 'keep  ' : e.action === 'remove' ? (dryRun ? 'would remove' : 'removed') : 'REPORT';
      io.print(`  ${label}  ${e.file}${e.why.length ? `  (${e.why.join('; ')})` : ''}`);
    }
    const n = dryRun ? r.entries.filter((e) => e.action === 'remove').length : r.removed.length;
    io.print(`${dryRun ? 'Would remove' : 'Removed'} ${n} backup(s), ${formatBytes(r.freedBytes)}.${dryRun ? ' Run without --dry-run to apply.' : ''}`);
    for (const f of r.failed) io.print(`  not removed: ${f.file}: ${f.error}`);
    const sec = r.sections;
    if (sec.removed.length || sec.referenced || sec.young || sec.skipped) {
      io.print(`Sections (incremental backups): ${sec.referenced} referenced by kept backups${sec.young ? `, ${sec.young} unreferenced but younger than a day (kept for now)` : ''}; ${dryRun ? 'would remove' : 'removed'} ${sec.removed.length} (${formatBytes(sec.freedBytes)}).`);
      if (sec.skipped) io.print(`  none removed: ${sec.skipped}.`);
      for (const f of sec.failed) io.print(`  not removed: ${f.file}: ${f.error}`);
    }
    return r.failed.length || r.sections.failed.length ? 1 : 0;
  },
};
