import { drill, drillHistory } from '../../lib/ops/drill.ts';
import type { Command } from '../cli.ts';

const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);
const hours = (ms: number | null) => (ms === null ? '-' : ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

export const drillCommand: Command = {
  name: 'drill',
  summary: 'Prove the backups restore: the newest full backup that verifies, restored into a scratch database (never the live one), proved, timed, dropped.',
  usage: 'prisma-guard drill [--history] [--url URL] [--backup-dir DIR] [--json]\n  BACKUP_DRILL_URL: restore into this database instead of a scratch one made beside the source.\n  Exit 0 when the drill passed, 16 when it failed (also notified: drill.failed).',
  options: { history: { type: 'boolean' } },
  async run(io) {
    const ctx = io.context();
    if (io.values.history) {
      const history = await drillHistory(ctx.backupDir);
      io.printJson({ drills: history });
      if (!history.length) io.print(`No drills recorded in ${ctx.backupDir}.`);
      for (const d of history) io.print(`${d.startedAt}  ${d.ok ? 'passed' : 'FAILED'}  ${d.backup ?? '-'}  RTO ${seconds(d.rtoMs)}  RPO ${hours(d.rpoMs)}${d.error ? `  ${d.error}` : ''}`);
      return 0;
    }
    const r = await drill(ctx, { drillUrl: process.env.BACKUP_DRILL_URL?.trim() || undefined });
    io.printJson({ ok: true, drill: r });
    io.print(`Drill passed: ${r.backup} restored into ${r.scratch} and proved (${r.rows} rows in ${r.tables} tables); scratch target dropped.\n  RTO ${seconds(r.rtoMs)} (restore with proof), RPO ${hours(r.rpoMs)} (age of the backup).`);
    return 0;
  },
};
