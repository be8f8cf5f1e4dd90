import { checkDatabase, formatCheck, userOptionsFromEnv, CHECK_ENV } from '../../lib/ops/check.ts';
import { withDotEnv, listOption, type Command } from '../cli.ts';

/**
 * `check`: per table row count and checksum (as `verify` computes them) plus a users summary when
 * the schema has a users table, as deterministic text: `npm run db:check > before.txt` ... restore
 * ... `npm run db:check > after.txt`, then `diff before.txt after.txt` is the recovery test.
 */
export const checkCommand: Command = {
  name: 'check',
  summary: 'Print every table with its row count and checksum, and a users summary when there is a users table (deterministic, for before/after comparisons).',
  usage:
    'prisma-guard check [--url URL] [--users-table NAME] [--users-columns A,B] [--json]\n' +
    `  Users table: --users-table or ${CHECK_ENV.usersTable} (default: User, user, users or Users with an e-mail column; none: no users section).\n` +
    `  Columns shown for the first five users: --users-columns or ${CHECK_ENV.usersColumns} (default: the primary key and the e-mail column).`,
  options: {
    'users-table': { type: 'string' },
    'users-columns': { type: 'string' },
  },
  async run(io) {
    const fromEnv = userOptionsFromEnv(withDotEnv(process.env));
    const table = io.values['users-table'];
    const columns = listOption(io.values['users-columns']);
    const report = await checkDatabase(io.context(), {
      usersTable: typeof table === 'string' && table.trim() ? table.trim() : fromEnv.usersTable,
      usersColumns: columns ?? fromEnv.usersColumns,
    });
    io.printJson(report);
    io.print(formatCheck(report));
    return 0;
  },
};
