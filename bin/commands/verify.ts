import { isKeyProblem } from '../../lib/pipeline/age.ts';
import { verifyBackup } from '../../lib/ops/verify.ts';
import { ExitCode } from '../../lib/core/errors.ts';
import { GuardError } from '../../lib/core/errors.ts';
import { formatBytes, type Command } from '../cli.ts';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Check a backup end to end: gzip stream, header schema, every row count and checksum, the manifest.',
  positionals: 1,
  usage: 'prisma-guard verify <backup|latest> [--schemas A,B] [--backup-dir DIR] [--json]',
  options: { schemas: { type: 'string' } },
  async run(io) {
    const given = io.positionals[0];
    if (!given) throw new GuardError('USAGE', 'verify needs a backup name.', { hint: 'prisma-guard verify latest' });
    const r = await verifyBackup(io.context(), given);
    io.printJson(r);
    if (r.ok && r.depth === 'ciphertext') {
      io.print(`OK ${r.file} (encrypted; checked without a key)\n  its ${formatBytes(r.sizeBytes)} match the SHA-256 and size in its manifest; the content was not read: set BACKUP_AGE_IDENTITY to check every table.`);
      return ExitCode.OK;
    }
    if (r.ok) {
      io.print(`OK ${r.file}\n  ${r.rowsTotal} rows in ${Object.keys(r.tables ?? {}).length} tables, ${formatBytes(r.sizeBytes)}, taken ${r.header?.createdAt} (${r.header?.reason})${r.manifest === 'rebuilt' ? '\n  manifest was missing and has been rebuilt' : ''}`);
      return ExitCode.OK;
    }
    io.print(`FAILED ${r.file}\n  ${r.error?.message}${r.error?.hint ? `\n  hint: ${r.error.hint}` : ''}`);
    // Untrusted (exit 13) or no key (exit 17) is not corrupt (exit 3): the code of the error decides.
    return r.error?.code === 'BACKUP_UNTRUSTED' ? ExitCode.UNTRUSTED_BACKUP : isKeyProblem(r.error?.code) ? ExitCode.ENCRYPTION : ExitCode.INVALID_BACKUP;
  },
};
