import { promises as fs } from 'node:fs';
import path from 'node:path';
import { messageOf } from '../core/errors.ts';
import { writeSmallFileAtomically } from '../format/writer.ts';

/**
 * The scheduler's record of its runs, kept in the backup folder so `status` can say "the last run
 * failed" (a failed run leaves no backup behind to look at). Hidden (leading dot), so listing,
 * retention and `prune` leave it alone; written atomically, so a reader never sees half of it.
 */
export const SCHEDULER_STATE_FILE = '.scheduler-state.json';
export const SCHEDULER_STATE_FORMAT = 'prisma-guard-scheduler-state';

/**
 * - succeeded: a backup was written and verified.
 * - failed: no usable backup for the slot (backup or verification failed); retried at the next slot.
 * - taken-elsewhere: another scheduler process on the same database took this slot.
 * - aborted: the scheduler was stopped (pm2 stop/restart) during the backup; nothing was left behind.
 */
export type RunOutcome = 'succeeded' | 'failed' | 'taken-elsewhere' | 'aborted';

export interface RunRecord {
  /** The slot (scheduled instant) the run was for. */
  slot: string;
  jobs: string[];
  startedAt: string;
  finishedAt: string;
  outcome: RunOutcome;
  /** Why it failed / who took the slot. */
  error?: string;
  code?: string;
  takenBy?: string;
  file?: string;
  sizeBytes?: number;
  rowsTotal?: number | null;
  durationMs?: number;
  verified?: boolean;
  /** Files prune removed after this run. */
  pruned?: string[];
  /** Prune ran and failed (the backup itself is fine). */
  pruneError?: string;
}

export interface SchedulerState {
  format: typeof SCHEDULER_STATE_FORMAT;
  formatVersion: 1;
  updatedAt: string;
  /** Who wrote it last: `host pid N`. */
  writer: string;
  lastRun: RunRecord | null;
  /** The last run that produced a verified backup. */
  lastSuccess: RunRecord | null;
  /** Failed runs since the last success. */
  consecutiveFailures: number;
}

/** Reads the state file; null when there is none (no scheduler ever ran) or it cannot be read. */
export async function readSchedulerState(backupDir: string): Promise<{ state: SchedulerState | null; problem?: string }> {
  let text: string;
  try {
    text = await fs.readFile(path.join(backupDir, SCHEDULER_STATE_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: null };
    return { state: null, problem: `cannot read ${SCHEDULER_STATE_FILE}: ${messageOf(e)}` };
  }
  try {
    const v = JSON.parse(text) as SchedulerState;
    if (v?.format !== SCHEDULER_STATE_FORMAT) throw new Error('not a scheduler state file');
    return { state: v };
  } catch (e) {
    return { state: null, problem: `${SCHEDULER_STATE_FILE} is not valid: ${messageOf(e)}` };
  }
}

/** Records a finished run (read-modify-write; one scheduler process writes a given folder). */
export async function recordRun(backupDir: string, run: RunRecord, writer: string, now: Date): Promise<SchedulerState> {
  const { state: prev } = await readSchedulerState(backupDir);
  const next: SchedulerState = {
    format: SCHEDULER_STATE_FORMAT,
    formatVersion: 1,
    updatedAt: now.toISOString(),
    writer,
    lastRun: run,
    lastSuccess: run.outcome === 'succeeded' ? run : (prev?.lastSuccess ?? null),
    consecutiveFailures: run.outcome === 'failed' ? (prev?.consecutiveFailures ?? 0) + 1 : run.outcome === 'succeeded' ? 0 : (prev?.consecutiveFailures ?? 0),
  };
  await fs.mkdir(backupDir, { recursive: true, mode: 0o700 });
  await writeSmallFileAtomically(path.join(backupDir, SCHEDULER_STATE_FILE), JSON.stringify(next, null, 2) + '\n');
  return next;
}

/** True for the state file and the temporary files of its atomic writes (not backups: retention ignores them). */
export function isSchedulerStateName(name: string): boolean {
  return name === SCHEDULER_STATE_FILE || name.startsWith(`.${SCHEDULER_STATE_FILE}.tmp`);
}
