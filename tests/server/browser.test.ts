/**
 * The dashboard page in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core) against a real server and SQLite database: log in, back up and see the row,
 * open a restore, read the dry-run plan, confirm, see the audit entry; edit a schedule and see its
 * next runs change. With PRISMA_GUARD_SCREENSHOTS=1 it writes the screenshots of docs/dashboard-*.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.ts';
import { PASSWORD, startDashboard, type Dashboard } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.PRISMA_GUARD_SCREENSHOTS === '1' ? path.join(ROOT, 'docs') : null;

describe.skipIf(!fs.existsSync(CHROMIUM))('the dashboard page in headless Chromium', () => {
  let d: Dashboard;
  let browser: Browser;
  let page: Page;
  let file = '';
  const shot = async (name: string) => {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `dashboard-${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    d = await startDashboard('sqlite', { env: { BACKUP_SCHEDULE_TZ: 'UTC' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'UTC' });
    page.setDefaultTimeout(15_000);
  });
  afterAll(async () => {
    await browser?.close();
    await d?.close();
  });

  it('log in, back up, see the row, restore with the plan, see the audit entry', async () => {
    await page.goto(d.url + '/');
    await page.locator('#login-form input[name=user]').fill('admin');
    await page.locator('#login-form input[name=password]').fill('wrong password!');
    await page.locator('#login-form button').click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('Wrong user name or password');
    await page.locator('#login-form input[name=password]').fill(PASSWORD);
    await shot('login');
    await page.locator('#login-form button').click();
    await page.locator('#status').waitFor();
    await expect.poll(() => page.locator('#who').textContent()).toBe('admin (admin)');

    await page.locator('#backup-now').click();
    const row = page.locator('#backups tbody tr[data-file]');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    file = (await row.first().getAttribute('data-file'))!;
    expect(file).toMatch(/^backup-.*-dashboard\.jsonl\.gz$/);
    await expect.poll(() => page.locator('#status').textContent()).toContain('newest backup');

    // Change the live data, then restore the backup through the dialog.
    await d.exec(`UPDATE book SET title = 'Edited' WHERE id = 2; INSERT INTO author (id, name) VALUES (9, 'Extra');`);
    await row.first().locator('button', { hasText: 'Restore' }).click();
    await page.locator('#restore-plan').click();
    const plan = page.locator('#plan tbody tr');
    await plan.first().waitFor();
    const cells = async (table: string) => page.locator('#plan tbody tr', { hasText: table }).locator('td').allTextContents();
    expect(await cells('author')).toEqual(['author', '3', '2', '1', '0', '0', '2']);
    expect(await cells('book')).toEqual(['book', '3', '3', '0', '0', '1', '2']);
    await shot('restore-plan');
    const dbName = (await page.locator('#restore-dbname').textContent())!;
    expect(dbName).toBe(path.basename(d.db.name));
    // Anything but the database name is taken for the password: wrong, so nothing happens and the plan stays open.
    await page.locator('#restore-typed').fill('not the name');
    await page.locator('#restore-go').click();
    await expect.poll(() => page.locator('#jobs').textContent()).toContain('The restore was not confirmed: wrong password');
    await expect.poll(() => page.locator('#restore-error').textContent()).toContain('not started');
    expect((await d.query<{ title: string }>('SELECT title FROM book WHERE id = 2'))[0].title).toBe('Edited');
    await page.locator('#restore-typed').fill(dbName);
    await page.locator('#restore-typed').press('Enter');
    await expect.poll(() => page.locator('#restore-body').textContent(), { timeout: 20_000 }).toContain('Restored: the proof matches');
    expect((await d.query<{ title: string }>('SELECT title FROM book WHERE id = 2'))[0].title).toBe('Compilers');
    expect(await d.query('SELECT id FROM author')).toHaveLength(2);
    await page.locator('#restore-close').click();
    await expect.poll(() => row.count()).toBe(2); // the safety backup
    await shot('backups');

    await page.locator('nav button[data-tab=audit]').click();
    const entry = page.locator('#audit tbody tr', { hasText: 'restore.run' });
    await entry.waitFor();
    expect(await entry.locator('td').nth(1).textContent()).toBe('admin (admin)');
    expect(await entry.locator('td').nth(4).textContent()).toContain(file);
    expect(await entry.locator('td').nth(5).textContent()).toBe('ok');
    expect(await page.locator('#audit tbody tr', { hasText: 'backup.create' }).count()).toBe(1);
    await shot('audit');
  });

  it('edit a schedule and see its next runs change', async () => {
    await page.locator('nav button[data-tab=schedules]').click();
    const daily = page.locator('#schedules tr[data-schedule=daily]');
    await daily.waitFor();
    await expect.poll(() => daily.locator('td.next div').first().textContent()).toMatch(/\S/);
    const before = await daily.locator('td.next').textContent();
    await daily.locator('input[aria-label="cron of daily"]').fill('17 4 * * *');
    await daily.locator('button', { hasText: 'Save' }).click();
    await expect.poll(() => page.locator('#schedule-source').textContent()).toContain('Saved schedules');
    const after = await page.locator('#schedules tr[data-schedule=daily] td.next').textContent();
    expect(after).not.toBe(before);
    const saved = JSON.parse(fs.readFileSync(path.join(d.backupDir, '.prisma-guard-server', 'schedules.json'), 'utf8'));
    expect(saved.schedules.find((s: { name: string }) => s.name === 'daily').cron).toBe('17 4 * * *');
    const first = saved.schedules.find((s: { name: string }) => s.name === 'daily');
    expect(first.timeZone).toBe('UTC');
    await expect.poll(async () => (await page.locator('#schedules tr[data-schedule=daily] td.next div').first().textContent()) ?? '').toMatch(/4:17|04:17/);
    await page.locator('#schedule-add input[name=name]').fill('bad');
    await page.locator('#schedule-add input[name=cron]').fill('whenever');
    await page.locator('#schedule-add button').click();
    await expect.poll(() => page.locator('#schedule-error').textContent()).toContain('not a valid cron expression');
    await shot('schedules');
  });

  it('a viewer sees the backups but no buttons that change anything', async () => {
    const ctx = await browser.newContext({ locale: 'en-GB', timezoneId: 'UTC' });
    const viewer = await ctx.newPage();
    try {
      await viewer.goto(d.url + '/');
      await viewer.locator('#login-form input[name=user]').fill('viewer');
      await viewer.locator('#login-form input[name=password]').fill(PASSWORD);
      await viewer.locator('#login-form button').click();
      await viewer.locator('#backups tbody tr[data-file]').first().waitFor();
      expect(await viewer.locator('#backup-now').isVisible()).toBe(false);
      expect(await viewer.locator('#backups button').count()).toBe(0);
      await viewer.locator('nav button[data-tab=schedules]').click();
      await viewer.locator('#schedules tr[data-schedule=daily]').waitFor();
      expect(await viewer.locator('#schedules input[aria-label="cron of daily"]').isDisabled()).toBe(true);
      expect(await viewer.locator('#schedule-add').isVisible()).toBe(false);
    } finally {
      await ctx.close();
    }
  });

  it('the diff view: a backup against the live database', async () => {
    await d.exec(`DELETE FROM book WHERE id = 3`);
    await page.locator('nav button[data-tab=diff]').click();
    await page.locator('#diff-a').selectOption(file); // the backup taken above, not the newer safety backup
    await page.locator('#diff-form button').click();
    await expect.poll(() => page.locator('#diff-result').textContent()).toContain('1 table(s) differ');
    expect(await page.locator('#diff-result tr', { hasText: 'book' }).locator('td').allTextContents()).toEqual(['book', 'different', '3', '2', '0', '1', '0']);
    await shot('diff');
  });
});
