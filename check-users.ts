#!/usr/bin/env -S npx tsx
/**
 * `npm run db:check`: prints every table of the live database (DATABASE_URL or --url) with its row
 * count and content checksum, and a short summary of the users table when the schema has one
 * (--users-table / --users-columns choose it; see README "Commands"). The output holds no time of
 * the run, so the monthly recovery test is:
 *   npm run db:check > before.txt; <restore>; npm run db:check > after.txt; diff before.txt after.txt
 * `--json` prints the same as JSON. Logic: lib/ops/check.ts.
 */
import { runCommand } from './bin/cli.ts';
import { checkCommand } from './bin/commands/check.ts';

runCommand(checkCommand, process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
