import type { BackupManifest } from '../../lib/format/manifest.ts';
import { describeScope } from '../../lib/format/source.ts';
import { listByDatabase } from '../../lib/ops/list.ts';
import { listLocation } from '../../lib/ops/offsite.ts';
import { formatBytes, locationOption, type Command } from '../cli.ts';

export const listCommand: Command = {
  name: 'list',
  summary: 'List the backups in the backup folder by source database (reads manifests only), and any stray files.',
  usage: 'prisma-guard list [--database TEXT] [--location LOCATION] [--backup-dir DIR] [--json]\n  --location: list another location (s3://bucket/prefix, a folder; `offsite` or `remote` = BACKUP_COPY_TO) instead of the backup folder.',
  options: { database: { type: 'string' }, location: { type: 'string' } },
  async run(io) {
    const ctx = io.context();
    const remote = locationOption(ctx, io.values.location as string | undefined);
    if (remote) {
      const backups = await listLocation(remote);
      io.printJson({ location: remote.location, backups });
      if (!backups.length) io.print(`No backups in ${remote.location}.`);
      for (const m of backups) io.print(`  ${m.file}  ${m.kind}  ${describeScope(m.scope)}  ${sizeLabel(m)}  ${rowsLabel(m)}  of ${m.source.dialect} ${m.source.database}`);
      return 0;
    }
    const listing = await listByDatabase(ctx, { database: io.values.database as string | undefined });
    io.printJson({ location: listing.location, backups: listing.backups, pending: listing.pending, stray: listing.stray, databases: listing.databases.map((g) => ({ database: g.database, label: g.label, backups: g.backups.map((m) => m.file) })) });
    if (!listing.backups.length) io.print(`No backups${io.values.database ? ` of a database matching "${io.values.database}"` : ''} in ${listing.location}.`);
    const pending = new Set(listing.pending);
    for (const g of listing.databases) {
      io.print(`${g.label}  [${g.database}]  ${g.backups.length} backup${g.backups.length === 1 ? '' : 's'}`);
      for (const m of g.backups) {
        const v = m.verification ? (m.verification.ok ? 'verified' : 'VERIFY FAILED') : 'not verified';
        io.print(`  ${m.file}  ${m.kind}  ${describeScope(m.scope)}  ${sizeLabel(m)}  ${rowsLabel(m)}  ${v}${m.pinned ? '  pinned' : ''}${pending.has(m.file) ? `  NOT UPLOADED (only in ${ctx.backupDir})` : ''}`);
      }
    }
    for (const s of listing.stray) io.print(`! ${s.file}: ${s.problem}${s.detail ? ` (${s.detail})` : ''}`);
    return 0;
  },
};

/** Rows as listing shows them; an encrypted backup's count is inside the file. */
function rowsLabel(m: BackupManifest): string {
  return m.rowsTotal === null ? 'encrypted' : `${m.rowsTotal} rows`;
}

/** The file's size, and what its incremental sections hold besides (shared with other backups). */
function sizeLabel(m: BackupManifest): string {
  const refs = m.sections ?? [];
  if (!refs.length) return formatBytes(m.sizeBytes);
  return `${formatBytes(m.sizeBytes)} + ${formatBytes(refs.reduce((n, r) => n + r.size, 0))} in ${refs.length} section${refs.length === 1 ? '' : 's'}`;
}
