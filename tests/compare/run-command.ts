/**
 * Test entry point for the verbs of this area until the lead registers them in bin/prisma-guard.ts:
 * `tsx tests/compare/run-command.ts <verb> ...args` runs the real Command through runCommand.
 */
import { runCommand, type Command } from '../../bin/cli.ts';
import { diffCommand } from '../../bin/commands/diff.ts';
import { emergencyRestoreCommand } from '../../bin/commands/emergency-restore.ts';
import { restoreCommand } from '../../bin/commands/restore.ts';

const COMMANDS: Command[] = [diffCommand, emergencyRestoreCommand, restoreCommand];
const [verb, ...rest] = process.argv.slice(2);
const cmd = COMMANDS.find((c) => c.name === verb);
if (!cmd) {
  process.stderr.write(`unknown verb ${verb}\n`);
  process.exitCode = 2;
} else {
  runCommand(cmd, rest).then((code) => (process.exitCode = code));
}
