#!/usr/bin/env -S npx tsx
import { ExitCode } from '../lib/core/errors.ts';
import { runCommand, type Command } from './cli.ts';
import { redactSecrets } from '../lib/core/url.ts';
import { backupCommand } from './commands/backup.ts';
import { checkCommand } from './commands/check.ts';
import { diffCommand } from './commands/diff.ts';
import { emergencyRestoreCommand } from './commands/emergency-restore.ts';
import { initCommand } from './commands/init.ts';
import { listCommand } from './commands/list.ts';
import { copyCommand } from './commands/copy.ts';
import { notifyCommand } from './commands/notify.ts';
import { drillCommand } from './commands/drill.ts';
import { migrateSafeCommand } from './commands/migrate-safe.ts';
import { pinCommand, unpinCommand } from './commands/pin.ts';
import { pruneCommand } from './commands/prune.ts';
import { scheduleCommand } from './commands/schedule.ts';
import { statusCommand } from './commands/status.ts';
import { restoreCommand } from './commands/restore.ts';
import { verifyCommand } from './commands/verify.ts';
import { keygenCommand } from './commands/keygen.ts';
import { serveCommand } from './commands/serve.ts';
import { tokenCommand, userCommand } from './commands/user.ts';

/** Every verb of the CLI. */
export const COMMANDS: Command[] = [backupCommand, restoreCommand, verifyCommand, listCommand, diffCommand, checkCommand, emergencyRestoreCommand, migrateSafeCommand, scheduleCommand, pruneCommand, statusCommand, pinCommand, unpinCommand, copyCommand, notifyCommand, drillCommand, keygenCommand, initCommand, serveCommand, userCommand, tokenCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'prisma-guard: backups, verified restores and guarded migrations for Prisma projects.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --url (default DATABASE_URL), --backup-dir (default BACKUP_DIR or ./backups), --json and --help.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(usage() + '\n');
    return verb ? ExitCode.OK : ExitCode.USAGE;
  }
  const cmd = COMMANDS.find((c) => c.name === verb);
  if (!cmd) {
    process.stderr.write(`error: unknown command "${redactSecrets(verb)}".\n\n${usage()}\n`);
    return ExitCode.USAGE;
  }
  return runCommand(cmd, rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(redactSecrets(String(e?.stack ?? e)) + '\n');
    process.exitCode = ExitCode.INTERNAL;
  },
);
