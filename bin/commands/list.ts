import { listBackups } from '../../lib/ops/store.ts';
import { formatBytes, type Command } from '../cli.ts';

export const listCommand: Command = {
  name: 'list',
  summary: 'List the backups in the backup folder (reads manifests only), and any stray files.',
  usage: 'prisma-guard list [--backup-dir DIR] [--json]',
  options: {},
  async run(io) {
    const ctx = io.context();
    const listing = await listBackups(ctx.backupDir);
    io.printJson(listing);
    if (!listing.backups.length) io.print(`No backups in ${ctx.backupDir}.`);
    for (const m of listing.backups) {
      const v = m.verification ? (m.verification.ok ? 'verified' : 'VERIFY FAILED') : 'not verified';
      io.print(`${m.file}  ${formatBytes(m.sizeBytes)}  ${m.rowsTotal} rows  ${v}${m.pinned ? '  pinned' : ''}`);
    }
    for (const s of listing.stray) io.print(`! ${s.file}: ${s.problem}${s.detail ? ` (${s.detail})` : ''}`);
    return 0;
  },
};
