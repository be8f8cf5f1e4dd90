import { GuardError } from '../../lib/core/errors.ts';
import { manifestFileName } from '../../lib/format/naming.ts';
import { copyBackup, listLocation, type OffsiteCopy } from '../../lib/ops/offsite.ts';
import { listBackups } from '../../lib/ops/store.ts';
import { formatBytes, locationOption, type Command } from '../cli.ts';

export const copyCommand: Command = {
  name: 'copy',
  summary: 'Copy backups to another location (s3://bucket/prefix or a folder), read them back there and check their SHA-256.',
  positionals: 1,
  usage: 'prisma-guard copy <backup|--all> [--to LOCATION] [--from LOCATION] [--backup-dir DIR] [--json]\n  --to defaults to BACKUP_COPY_TO, --from to the backup folder. --all copies every backup with a manifest.\n  After a lost disk: prisma-guard copy --all --from s3://bucket/prefix --to ./backups, then restore.',
  options: { to: { type: 'string' }, from: { type: 'string' }, all: { type: 'boolean' } },
  async run(io) {
    const ctx = io.context();
    const to = (io.values.to as string | undefined)?.trim();
    const remote = locationOption(ctx, to, '--to') ?? ctx.copyTo;
    if (!remote) throw new GuardError('USAGE', 'copy needs a location: --to s3://bucket/prefix (or a folder), or BACKUP_COPY_TO.', { hint: 'prisma-guard copy --all --to s3://my-bucket/backups' });
    const given = io.positionals[0];
    if (!given && !io.values.all) throw new GuardError('USAGE', 'copy needs a backup name or --all.', { hint: 'prisma-guard copy --all' });
    const fromText = (io.values.from as string | undefined)?.trim();
    // An object-storage BACKUP_DIR is where backups are copied from by default.
    const source = locationOption(ctx, fromText, '--from') ?? ctx.primary ?? undefined;
    let files: string[];
    if (io.values.all) files = (source ? await listLocation(source) : (await listBackups(ctx.backupDir)).backups).map((m) => m.file).sort();
    else files = [given!];
    const copies: OffsiteCopy[] = [];
    for (const [i, file] of files.entries()) {
      ctx.reporter.progress('copy', i, files.length);
      const c = await copyBackup(ctx, file, remote, source);
      copies.push(c);
      io.print(`${c.alreadyThere ? 'already there' : 'copied'}  ${file} (${formatBytes(c.sizeBytes)}) and ${manifestFileName(file)} -> ${c.location}, SHA-256 checked`);
    }
    io.printJson({ ok: true, location: remote.location, copies });
    if (!files.length) io.print(`No backups in ${source?.location ?? ctx.backupDir} to copy.`);
    return 0;
  },
};
