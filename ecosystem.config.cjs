/**
 * PM2 process file for the prisma-guard backup scheduler of this repository's demo (development
 * only, not published: in your own project `npx prisma-guard init` writes one that runs the
 * installed package).
 *
 *   pm2 start ecosystem.config.cjs      # start (or: npm run db:backup-schedule without PM2)
 *   pm2 logs backup-scheduler           # one JSON object per line
 *   pm2 save && pm2 startup             # start again after a reboot
 *
 * Settings come from the environment of `pm2 start` (and from .env in this folder):
 * DATABASE_URL, BACKUP_DIR, BACKUP_SCHEDULE_*, BACKUP_KEEP_*. Variables put in `env` below would
 * override the shell's, so only fixed values belong there.
 */
module.exports = {
  apps: [
    {
      name: 'backup-scheduler',
      // The compiled CLI (rebuilt first if a source changed), in the node process PM2 starts, so
      // PM2's signals (SIGINT on stop/restart) reach the scheduler itself, not a wrapper process.
      script: 'bin/prisma-guard.js',
      args: 'schedule',
      interpreter: 'node',
      cwd: __dirname,
      exec_mode: 'fork',
      instances: 1,
      autorestart: true,
      // A crash loop (database down at start) backs off instead of restarting every 100 ms.
      exp_backoff_restart_delay: 1000,
      // pm2 stop sends SIGINT, then SIGKILL after kill_timeout. The scheduler aborts the running
      // backup, removes its temporary file and closes its connections well within this.
      kill_timeout: 20000,
      // Lines stay pure JSON in the log files (no PM2 prefix); each event carries its own `time`.
      merge_logs: true,
      env: {
        NODE_ENV: 'production',
      },
    },
  ],
};
