import { jsonLinesReporter } from '../../lib/core/logger.ts';
import { startScheduler } from '../../lib/ops/schedule.ts';
import { withDotEnv, type Command } from '../cli.ts';

export const scheduleCommand: Command = {
  name: 'schedule',
  summary: 'Run the backup scheduler (long-running; for PM2): backup, verify and prune at every slot, JSON log lines on stdout.',
  usage:
    'prisma-guard schedule [--url URL] [--backup-dir DIR]\n' +
    '  Schedule: BACKUP_SCHEDULE_DAILY (default "0 2 * * *"), BACKUP_SCHEDULE_INTERVAL (default "0 */6 * * *"),\n' +
    '  BACKUP_SCHEDULE_TZ (default Europe/London), BACKUP_SCHEDULE_DAILY_TZ, BACKUP_SCHEDULE_INTERVAL_TZ, BACKUP_SCHEDULE_DISABLE.\n' +
    '  Retention after each backup: BACKUP_KEEP_HOURLY/DAILY/WEEKLY/MONTHLY (7d/30d/3m/1y), BACKUP_RETENTION_TZ.\n' +
    '  Stops cleanly on SIGINT/SIGTERM (pm2 stop): the running backup is aborted and leaves no file.',
  options: {},
  ownsSignals: true,
  async run(io) {
    // Always JSON lines: one event per line is what `pm2 logs` and log shippers read.
    const reporter = jsonLinesReporter();
    const base = io.context();
    const ctx = { ...base, reporter }; // reads the URL now: a wrong DATABASE_URL fails at start, not at 02:00
    const live = startScheduler(ctx, { env: withDotEnv(process.env) });
    await new Promise<void>((resolve) => {
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals) => {
        // A second signal during the stop is ignored: cutting the cleanup short could leave a temporary file.
        if (stopping) return;
        stopping = true;
        reporter.event('scheduler.stopping', { signal });
        live.stop().then(resolve, (e) => {
          reporter.event('scheduler.stop-failed', { error: String(e) });
          resolve();
        });
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    // Under PM2 the IPC channel to the daemon keeps the event loop alive after the work is done;
    // closing it lets the process end on its own, well inside PM2's kill_timeout.
    if (process.connected) process.disconnect();
    // Last resort: a library handle we do not own (a socket that refuses to close) must not turn a
    // clean stop into a SIGKILL. Unref'd, so it never delays a normal exit.
    setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
    return 0;
  },
};
