import { describeLocation, describeScope } from '../../lib/format/source.ts';
import { backup } from '../../lib/ops/backup.ts';
import { redactSecrets } from '../../lib/core/url.ts';
import { formatBytes, listOption, type Command } from '../cli.ts';

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Take a consistent, checksummed backup of the database into the backup folder.',
  usage: 'prisma-guard backup [--reason TEXT] [--pin] [--tables A,B | --schema-only] [--allow-empty] [--level 1-9] [--schemas A,B] [--url URL] [--backup-dir DIR] [--json]',
  options: {
    schemas: { type: 'string' },
    'schema-only': { type: 'boolean' },
    'allow-empty': { type: 'boolean' },
    reason: { type: 'string' },
    pin: { type: 'boolean' },
    tables: { type: 'string' },
    level: { type: 'string' },
  },
  async run(io) {
    const ctx = io.context();
    const level = io.values.level === undefined ? undefined : Number(io.values.level);
    const result = await backup(ctx, { reason: io.values.reason as string | undefined, pinned: Boolean(io.values.pin), tables: listOption(io.values.tables), schemaOnly: Boolean(io.values['schema-only']), allowEmpty: Boolean(io.values['allow-empty']), compressionLevel: level });
    const m = result.manifest;
    io.printJson({ ok: true, path: result.path, manifest: m, warnings: result.warnings, ...(result.offsite ? { offsite: result.offsite } : {}) });
    // Human output already has them on stderr (the reporter); JSON readers may watch only stdout.
    if (io.json) for (const w of result.warnings) process.stderr.write(`warning: ${redactSecrets(w)}\n`);
    io.print(`${m.file}\n  ${m.kind}, ${describeScope(m.scope)}, of ${describeLocation(m.source)}\n  ${result.content.rowsTotal} rows in ${Object.keys(result.content.tables).length} tables, ${formatBytes(m.sizeBytes)}, ${m.durationMs} ms${m.encryption ? `\n  encrypted (age, ${m.encryption.passphrase ? 'passphrase' : `${m.encryption.recipients} recipient${m.encryption.recipients === 1 ? '' : 's'}`}); the manifest lists no tables or counts` : ''}\n  sha256 ${m.sha256}`);
    return 0;
  },
};
