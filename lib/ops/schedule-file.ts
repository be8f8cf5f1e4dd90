/**
 * Named schedules edited from the dashboard, persisted beside the backups
 * (`.prisma-guard-server/schedules.json`). While the file does not exist, the schedule is the
 * environment's (BACKUP_SCHEDULE_*: lib/scheduler/schedule.ts), which stays the default; once
 * saved, the file's enabled schedules are what the scheduler runs (it re-reads the file, see
 * lib/ops/schedule.ts).
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { GuardError } from '../core/errors.ts';
import { writeSmallFileAtomically } from '../format/writer.ts';
import { nextRuns, parseScheduleConfig, validateJob, type ScheduleConfig } from '../scheduler/schedule.ts';
import { SERVER_STATE_DIR } from './context.ts';

export const SCHEDULES_FILE = 'schedules.json';
const FORMAT = 'prisma-guard-schedules';

export interface NamedSchedule {
  name: string;
  cron: string;
  timeZone: string;
  /** The kind of the backups it takes (always `scheduled` today). */
  kind: 'scheduled';
  enabled: boolean;
}

export function schedulesPath(backupDir: string): string {
  return path.join(backupDir, SERVER_STATE_DIR, SCHEDULES_FILE);
}

/** The saved schedules, or null when none were saved (the environment's apply). */
export async function readSchedulesFile(backupDir: string): Promise<NamedSchedule[] | null> {
  let text: string;
  try {
    text = await fs.readFile(schedulesPath(backupDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseSchedulesText(text, schedulesPath(backupDir));
}

/** readSchedulesFile for the scheduler's start, which is synchronous. */
export function readSchedulesFileSync(backupDir: string): NamedSchedule[] | null {
  let text: string;
  try {
    text = readFileSync(schedulesPath(backupDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseSchedulesText(text, schedulesPath(backupDir));
}

function parseSchedulesText(text: string, file: string): NamedSchedule[] {
  try {
    const v = JSON.parse(text) as { format?: string; schedules?: NamedSchedule[] };
    if (v.format !== FORMAT || !Array.isArray(v.schedules)) throw new Error('not a schedules file');
    return v.schedules.map((s) => checkSchedule(s));
  } catch (e) {
    throw new GuardError('SCHEDULE_INVALID', `${file} cannot be read: ${e instanceof Error ? e.message : String(e)}.`, { exitCode: 2, hint: 'Fix or remove the file; without it the BACKUP_SCHEDULE_* settings apply.' });
  }
}

export async function writeSchedulesFile(backupDir: string, schedules: NamedSchedule[]): Promise<void> {
  await fs.mkdir(path.join(backupDir, SERVER_STATE_DIR), { recursive: true, mode: 0o700 });
  await writeSmallFileAtomically(schedulesPath(backupDir), JSON.stringify({ format: FORMAT, version: 1, schedules }, null, 2) + '\n');
}

const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Validates one schedule (name, cron, zone); returns it normalised. @throws GuardError SCHEDULE_INVALID */
export function checkSchedule(s: Partial<NamedSchedule>): NamedSchedule {
  if (typeof s.name !== 'string' || !NAME.test(s.name)) {
    throw new GuardError('SCHEDULE_INVALID', `A schedule name must be 1-32 lower-case letters, digits or dashes, not ${JSON.stringify(s.name)}.`, { exitCode: 2, hint: 'For example "nightly".' });
  }
  if (typeof s.cron !== 'string' || typeof s.timeZone !== 'string') {
    throw new GuardError('SCHEDULE_INVALID', `The schedule ${s.name} needs cron and timeZone.`, { exitCode: 2, hint: 'For example {"cron": "0 2 * * *", "timeZone": "Europe/London"}.' });
  }
  const job = validateJob({ name: s.name, cron: s.cron.trim(), timeZone: s.timeZone.trim() });
  return { name: job.name, cron: job.cron, timeZone: job.timeZone, kind: 'scheduled', enabled: s.enabled !== false };
}

/** The schedules in effect: the saved ones, else those of the environment (all enabled). */
export async function effectiveSchedules(backupDir: string, env: Record<string, string | undefined>): Promise<{ source: 'file' | 'environment'; schedules: NamedSchedule[] }> {
  const saved = await readSchedulesFile(backupDir);
  if (saved) return { source: 'file', schedules: saved };
  return { source: 'environment', schedules: parseScheduleConfig(env).jobs.map((j) => ({ ...j, kind: 'scheduled' as const, enabled: true })) };
}

/** The enabled schedules as the scheduler's configuration. */
export function toScheduleConfig(schedules: readonly NamedSchedule[]): ScheduleConfig {
  return { jobs: schedules.filter((s) => s.enabled).map((s) => ({ name: s.name, cron: s.cron, timeZone: s.timeZone })) };
}

/** The next `count` runs of each schedule, ISO instants. */
export function nextRunsOf(s: NamedSchedule, now: Date, count = 5): string[] {
  return s.enabled ? nextRuns([{ name: s.name, cron: s.cron, timeZone: s.timeZone }], now, count).map((r) => r.at.toISOString()) : [];
}

/** The saved schedules as the scheduler's configuration, or null when none were saved (or the file is unreadable: status reports the environment's then). */
export function savedScheduleConfig(backupDir: string): ScheduleConfig | null {
  try {
    const file = readSchedulesFileSync(backupDir);
    return file ? toScheduleConfig(file) : null;
  } catch {
    return null;
  }
}
