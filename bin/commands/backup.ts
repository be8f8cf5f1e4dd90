import { describeLocation, describeScope } from '../../lib/format/source.ts';
import { backup } from '../../lib/ops/backup.ts';
import { redactSecrets } from '../../lib/core/url.ts';
import { formatBytes, listOption, type Command } from '../cli.ts';
import { GuardError } from '../../lib/core/errors.ts';

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Take a consistent, checksummed backup of the database into the backup folder.',
  usage: 'prisma-guard backup [--reason TEXT] [--pin] [--tables A,B | --schema-only] [--allow-empty] [--incremental | --self-contained] [--level 1-9] [--schemas A,B] [--url URL] [--backup-dir DIR] [--json]',
  options: {
    schemas: { type: 'string' },
    'schema-only': { type: 'boolean' },
    'allow-empty': { type: 'boolean' },
    reason: { type: 'string' },
    pin: { type: 'boolean' },
    tables: { type: 'string' },
    level: { type: 'string' },
    incremental: { type: 'boolean' },
    'self-contained': { type: 'boolean' },
  },
  async run(io) {
    const ctx = io.context();
    const level = io.values.level === undefined ? undefined : Number(io.values.level);
    if (io.values.incremental && io.values['self-contained']) throw new GuardError('USAGE', '--incremental and --self-contained contradict each other.', { hint: 'Pass one of them (default: BACKUP_INCREMENTAL, else self-contained).' });
    const incremental = io.values.incremental ? true : io.values['self-contained'] ? false : undefined;
    const result = await backup(ctx, { reason: io.values.reason as string | undefined, pinned: Boolean(io.values.pin), tables: listOption(io.values.tables), schemaOnly: Boolean(io.values['schema-only']), allowEmpty: Boolean(io.values['allow-empty']), compressionLevel: level, incremental });
    const m = result.manifest;
    io.printJson({ ok: true, path: result.path, manifest: m, warnings: result.warnings, ...(result.offsite ? { offsite: result.offsite } : {}), ...(result.incremental ? { incremental: result.incremental } : {}) });
    // Human output already has them on stderr (the reporter); JSON readers may watch only stdout.
    if (io.json) for (const w of result.warnings) process.stderr.write(`warning: ${redactSecrets(w)}\n`);
    io.print(`${m.file}\n  ${m.kind}, ${describeScope(m.scope)}, of ${describeLocation(m.source)}\n  ${result.content.rowsTotal} rows in ${Object.keys(result.content.tables).length} tables, ${formatBytes(m.sizeBytes)}, ${m.durationMs} ms${m.encryption ? `\n  encrypted (age, ${m.encryption.passphrase ? 'passphrase' : `${m.encryption.recipients} recipient${m.encryption.recipients === 1 ? '' : 's'}`}); the manifest lists no tables or counts` : ''}\n  sha256 ${m.sha256}${result.incremental ? `\n  incremental: ${result.incremental.written} section(s) written (${formatBytes(result.incremental.writtenBytes)}), ${result.incremental.reused} unchanged and referenced (${formatBytes(result.incremental.reusedBytes)} not written again)` : ''}`);
    return 0;
  },
};
