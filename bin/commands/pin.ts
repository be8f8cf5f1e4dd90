import { GuardError } from '../../lib/core/errors.ts';
import { setPinned } from '../../lib/ops/pin.ts';
import type { Command } from '../cli.ts';

export const pinCommand: Command = {
  name: 'pin',
  summary: 'Pin a backup so retention (prune) never removes it; --until limits the pin.',
  positionals: 1,
  usage: 'prisma-guard pin <backup|latest> [--until ISO-DATE] [--backup-dir DIR] [--json]',
  options: { until: { type: 'string' } },
  async run(io) {
    const given = io.positionals[0];
    if (!given) throw new GuardError('USAGE', 'pin needs a backup name.', { hint: 'prisma-guard pin latest' });
    let until: Date | null = null;
    if (typeof io.values.until === 'string') {
      until = new Date(io.values.until);
      if (Number.isNaN(until.getTime())) throw new GuardError('USAGE', `--until "${io.values.until}" is not a date.`, { hint: 'Use an ISO date such as 2027-01-01 or 2027-01-01T00:00:00Z.' });
    }
    const m = await setPinned(io.context(), given, { pinned: true, until });
    io.printJson({ ok: true, file: m.file, pinned: m.pinned, pinnedUntil: m.pinnedUntil ?? null });
    io.print(`Pinned ${m.file}${m.pinnedUntil ? ` until ${m.pinnedUntil}` : ''}.`);
    return 0;
  },
};

export const unpinCommand: Command = {
  name: 'unpin',
  summary: 'Remove the pin of a backup (retention decides again; pre-migration snapshots stay protected).',
  positionals: 1,
  usage: 'prisma-guard unpin <backup|latest> [--backup-dir DIR] [--json]',
  options: {},
  async run(io) {
    const given = io.positionals[0];
    if (!given) throw new GuardError('USAGE', 'unpin needs a backup name.', { hint: 'prisma-guard list' });
    const m = await setPinned(io.context(), given, { pinned: false });
    io.printJson({ ok: true, file: m.file, pinned: m.pinned, pinnedUntil: null });
    io.print(`Unpinned ${m.file}.`);
    return 0;
  },
};
