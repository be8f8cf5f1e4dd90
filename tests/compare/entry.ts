/** The script runCli starts for this area's verbs (see run-command.ts). */
export const COMMAND_ENTRY = 'tests/compare/run-command.ts';
