import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { parseDatabaseUrl, type DatabaseTarget } from '../core/url.ts';
import { dialectFor } from '../dialects/index.ts';
import { sameLocation, targetLocation } from '../format/source.ts';
import type { OpsContext } from './context.ts';
import { checkDatabase } from './check.ts';
import { restore } from './restore.ts';
import { chooseLatest } from './select.ts';
import { isKeyProblem } from '../pipeline/age.ts';
import { durationMsOf } from '../policy/retention.ts';

/** Where drills are recorded, beside the backups. */
export const DRILL_STATE_FILE = '.prisma-guard-drills.json';
const HISTORY = 20;

export interface DrillRecord {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  backup: string | null;
  /** The scratch target, as printed (no password). */
  scratch: string;
  /** Recovery time: the restore into the scratch target, proof included. */
  rtoMs: number | null;
  /** Recovery point: how old the backup was when the drill began. */
  rpoMs: number | null;
  rows: number | null;
  tables: number | null;
  /** Rows `check` counted on the restored copy (every table of the database). */
  checkRows?: number;
  error?: string;
  code?: string;
}

interface DrillState {
  /** A drill in progress (or killed): its scratch target is dropped by the next drill. */
  running?: { id: string; scratch: string; pid: number; startedAt: string };
  history: DrillRecord[];
}

export interface DrillOptions {
  /** BACKUP_DRILL_URL: restore into this database instead of a scratch one made beside the source. */
  drillUrl?: string;
}

/**
 * A restore drill: the newest full backup of the database that verifies is restored, in full mode,
 * into a scratch target (never the live database), its proof must match, and the rows must be the
 * backup's. The time it took (RTO) and the backup's age (RPO) are recorded in the backup folder, the
 * scratch target is dropped, and a failure is notified (`drill.failed`). A drill killed half-way
 * leaves its scratch target named in the state file; the next drill drops it first.
 */
export async function drill(ctx: OpsContext, options: DrillOptions = {}): Promise<DrillRecord> {
  const started = ctx.clock.now();
  const statePath = path.join(ctx.backupDir, DRILL_STATE_FILE);
  const state = await readState(statePath);
  const source = ctx.target;
  const dialect = await dialectFor(source.dialect);
  if (state.running) {
    // Rebuilt from its id with today's credentials: the state file never holds a URL or a password.
    const left = dialect.scratchTarget(source, state.running.id);
    ctx.reporter.info(`Dropping the scratch target ${left.display} of an earlier drill that did not finish (pid ${state.running.pid}).`);
    await dialect.dropScratch(left).catch((e) => ctx.reporter.warn(`Could not drop ${left.display}: ${messageOf(e)}`));
    delete state.running;
  }
  const id = randomBytes(6).toString('hex');
  const scratch: DatabaseTarget = options.drillUrl ? { ...source, ...parseDatabaseUrl(options.drillUrl, ctx.projectDir) } : dialect.scratchTarget(source, id);
  if (scratch.dialect !== source.dialect) throw new GuardError('USAGE', `BACKUP_DRILL_URL is ${scratch.dialect}, the database is ${source.dialect}.`, { hint: 'Point BACKUP_DRILL_URL at a database of the same kind.' });
  if (sameLocation(targetLocation(scratch), targetLocation(source))) {
    throw new GuardError('USAGE', `The drill target ${scratch.display} is the live database itself; a drill never restores over it.`, { hint: 'Unset BACKUP_DRILL_URL (a scratch database is made beside the source), or point it elsewhere.' });
  }
  const record: DrillRecord = { startedAt: started.toISOString(), finishedAt: '', ok: false, backup: null, scratch: scratch.display, rtoMs: null, rpoMs: null, rows: null, tables: null };
  let failureHint: string | undefined;
  if (!options.drillUrl) {
    state.running = { id, scratch: scratch.display, pid: process.pid, startedAt: record.startedAt };
    await writeState(statePath, state);
  }
  try {
    const choice = await chooseLatest(ctx, { verify: true });
    record.backup = choice.file;
    record.rpoMs = started.getTime() - Date.parse(choice.createdAt);
    const scratchCtx: OpsContext = { ...ctx, target: scratch, backupDir: ctx.backupDir, reporter: ctx.reporter, clock: ctx.clock, notifier: undefined };
    const t0 = Date.now();
    const result = await restore(scratchCtx, { backup: choice.file, mode: 'full', yes: true, safetyBackup: false, allowCode: true, scratch: true });
    record.rtoMs = Date.now() - t0;
    const tables = Object.values(result.proof?.tables ?? {});
    if (!result.executed || !tables.length || tables.some((t) => !t.ok)) {
      throw new GuardError('RESTORE_FAILED', `The drill's restore of ${choice.file} did not prove: ${tables.filter((t) => !t.ok).length} table(s) differ from the backup.`, { hint: 'Run `prisma-guard verify` on it and look at the drill log.' });
    }
    record.rows = tables.reduce((n, t) => n + t.actual.rows, 0);
    record.tables = tables.length;
    // And `check`, as a person would run it on the restored copy: its counts must be the backup's.
    const check = await checkDatabase(scratchCtx);
    const expected = result.proof!.tables;
    const off = Object.entries(expected).filter(([name, t]) => check.tables[name]?.rows !== t.expected.rows);
    if (off.length) {
      throw new GuardError('RESTORE_FAILED', `\`check\` on the drill's copy counts other rows than the backup holds: ${off.map(([n, t]) => `${n} ${check.tables[n]?.rows ?? 'missing'} (backup ${t.expected.rows})`).join(', ')}.`, { hint: 'Run `prisma-guard verify` on the backup and look at the drill log.' });
    }
    record.checkRows = check.rowsTotal;
    record.ok = true;
  } catch (e) {
    record.error = messageOf(e);
    record.code = isGuardError(e) ? e.code : undefined;
    failureHint = isGuardError(e) && isKeyProblem(e.code) ? `${e.hint ?? ''} Drills decrypt the backup, so the machine that runs them needs the identity.`.trim() : undefined;
  } finally {
    if (!options.drillUrl) await dialect.dropScratch(scratch).catch((e) => ctx.reporter.warn(`Could not drop the drill's scratch target ${scratch.display}: ${messageOf(e)}`));
    record.finishedAt = ctx.clock.now().toISOString();
    delete state.running;
    state.history = [record, ...state.history].slice(0, HISTORY);
    await writeState(statePath, state).catch((e) => ctx.reporter.warn(`Could not record the drill in ${statePath}: ${messageOf(e)}`));
  }
  if (!record.ok) {
    await ctx.notifier?.notify('drill.failed', source.display, `A restore drill of ${source.display} failed${record.backup ? ` (backup ${record.backup})` : ''}: ${record.error}`, { backup: record.backup, code: record.code });
    throw new GuardError('DRILL_FAILED', `The restore drill failed: ${record.error}`, {
      hint: failureHint ?? 'The backups may not restore: run `prisma-guard verify latest`, check the drill log, and take a new backup.',
      details: { drill: record },
    });
  }
  return record;
}

/** The recorded drills, newest first. */
export async function drillHistory(backupDir: string): Promise<DrillRecord[]> {
  return (await readState(path.join(backupDir, DRILL_STATE_FILE))).history;
}

async function readState(file: string): Promise<DrillState> {
  try {
    const s = JSON.parse(await fs.readFile(file, 'utf8')) as DrillState;
    return { history: Array.isArray(s.history) ? s.history : [], ...(s.running ? { running: s.running } : {}) };
  } catch {
    return { history: [] };
  }
}

async function writeState(file: string, state: DrillState): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  await fs.rename(tmp, file);
}

/** BACKUP_DRILL_EVERY: unset or `off` = no scheduled drills; `on` / `weekly` = every 7 days; else a duration (`3d`, `2w`). */
export function drillInterval(value: string | undefined): number | null {
  const v = value?.trim().toLowerCase();
  if (!v || v === 'off' || v === '0') return null;
  if (v === 'on' || v === 'weekly' || v === 'true') return 7 * 86_400_000;
  return durationMsOf(v, 'BACKUP_DRILL_EVERY');
}
