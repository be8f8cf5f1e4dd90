import { checkDatabase, formatCheck } from '../../lib/ops/check.ts';
import type { Command } from '../cli.ts';

/**
 * `check`: per table row count and checksum (as `verify` computes them) plus a User summary, as
 * deterministic text: `npm run db:check > before.txt` ... restore ... `npm run db:check > after.txt`,
 * then `diff before.txt after.txt` is the recovery test.
 */
export const checkCommand: Command = {
  name: 'check',
  summary: 'Print every table with its row count and checksum, and a User summary (deterministic, for before/after comparisons).',
  usage: 'tsx check-users.ts [--url URL] [--json]',
  options: {},
  async run(io) {
    const report = await checkDatabase(io.context());
    io.printJson(report);
    io.print(formatCheck(report));
    return 0;
  },
};
