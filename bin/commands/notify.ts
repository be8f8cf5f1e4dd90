import { GuardError } from '../../lib/core/errors.ts';
import type { Command } from '../cli.ts';

export const notifyCommand: Command = {
  name: 'notify',
  summary: 'Send a test message to every notification channel (BACKUP_NOTIFY_*), or to one.',
  positionals: 1,
  usage: 'prisma-guard notify test [--channel webhook|slack|discord|teams|telegram|healthcheck] [--json]\n  Exit 0 when every channel took the message, 15 when one did not.',
  options: { channel: { type: 'string' } },
  async run(io) {
    if (io.positionals[0] !== 'test') throw new GuardError('USAGE', 'notify takes one action: test.', { hint: 'prisma-guard notify test' });
    const ctx = io.context();
    const notifier = ctx.notifier!;
    const only = (io.values.channel as string | undefined)?.trim();
    if (!notifier.enabled) {
      throw new GuardError('USAGE', 'No notification channel is configured.', {
        hint: 'Set BACKUP_NOTIFY_WEBHOOK_URL, BACKUP_NOTIFY_SLACK_URL, BACKUP_NOTIFY_DISCORD_URL, BACKUP_NOTIFY_TEAMS_URL, BACKUP_NOTIFY_TELEGRAM_TOKEN + _CHAT_ID or BACKUP_NOTIFY_HEALTHCHECK_URL.',
      });
    }
    if (only && !notifier.channels.some((c) => c.name === only)) {
      throw new GuardError('USAGE', `No channel "${only}" is configured.`, { hint: `Configured: ${notifier.channels.map((c) => c.name).join(', ')}.` });
    }
    let database = '(no DATABASE_URL)';
    try {
      database = ctx.target.display;
    } catch {
      /* a test message needs no database */
    }
    const deliveries = await notifier.notify('test', database, 'A test message from prisma-guard: this channel works.', undefined, only);
    for (const d of deliveries) io.print(`${d.outcome === 'sent' ? 'sent  ' : 'FAILED'} ${d.channel} ${d.where}${d.error ? `: ${d.error}` : ''} (${d.attempts} attempt${d.attempts === 1 ? '' : 's'})`);
    if (deliveries.some((d) => d.outcome !== 'sent')) {
      throw new GuardError('NOTIFY_FAILED', `${deliveries.filter((d) => d.outcome !== 'sent').map((d) => d.channel).join(', ')} did not take the test message.`, {
        hint: 'Check the URL (or token) and that this machine can reach the service.',
        details: { deliveries },
      });
    }
    io.printJson({ ok: true, deliveries });
    return 0;
  },
};
