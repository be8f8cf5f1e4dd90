/**
 * Schedules edited through the dashboard reach the running scheduler without a restart: the real
 * startScheduler (node-schedule timers) on a real SQLite database, its next slot before and after
 * `PUT /api/schedules/...`, and `status` reporting the saved schedules' next runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveContext } from '../../lib/ops/context.ts';
import { startScheduler, type LiveScheduler } from '../../lib/ops/schedule.ts';
import { ROOT, runCli } from '../helpers/cli.ts';
import { as, startDashboard, type Dashboard } from './helpers.ts';

let d: Dashboard;
let live: LiveScheduler | undefined;
const ENV = { BACKUP_SCHEDULE_TZ: 'UTC', BACKUP_SCHEDULE_DAILY: '0 2 * * *', BACKUP_SCHEDULE_DISABLE: 'interval' };

beforeAll(async () => {
  d = await startDashboard('sqlite', { env: ENV });
});
afterAll(async () => {
  await live?.stop();
  await d?.close();
});

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

it('the running scheduler takes the saved schedules between slots, and status shows them', async () => {
  const ctx = resolveContext({ url: d.db.url, backupDir: d.backupDir, projectDir: ROOT, env: ENV });
  live = startScheduler(ctx, { env: ENV, reloadMs: 50 });
  expect(live.schedule.jobs.map((j) => j.name)).toEqual(['daily']);
  expect(live.runner.state().next?.at.toISOString()).toMatch(/T02:00:00\.000Z$/);
  const admin = await as(d, 'admin');
  expect((await admin.call('PUT', '/api/schedules/daily', { cron: '45 5 * * *' })).status).toBe(200);
  await until(() => live!.runner.state().next?.at.toISOString().endsWith('T05:45:00.000Z') ?? false);
  expect(live.schedule.jobs).toEqual([{ name: 'daily', cron: '45 5 * * *', timeZone: 'UTC' }]);
  expect((await admin.post('/api/schedules', { name: 'evening', cron: '15 19 * * *', timeZone: 'UTC' })).status).toBe(200);
  await until(() => live!.schedule.jobs.length === 2);
  const first = live.runner.state().next!;
  expect(first.at.getUTCMinutes()).toBe(first.jobs.includes('evening') ? 15 : 45);
  // `prisma-guard status` (another process) reports the saved schedules' next runs too.
  const s = await runCli(['status', '--json'], { DATABASE_URL: d.db.url, BACKUP_DIR: d.backupDir, BACKUP_MIN_FREE_MB: '0', ...ENV });
  const jobs = JSON.parse(s.stdout).schedule.jobs.map((j: { name: string }) => j.name);
  expect(jobs).toEqual(['daily', 'evening']);
  // Everything disabled: the scheduler idles (no next slot) instead of exiting.
  for (const name of ['daily', 'evening']) await admin.call('PUT', `/api/schedules/${name}`, { enabled: false });
  await until(() => live!.schedule.jobs.length === 0);
  expect(live.runner.state().next).toBeNull();
});
