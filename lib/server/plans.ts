/**
 * Restore plans made by `POST /api/restores` (a dry run) and run by `POST /api/restores/:id/confirm`.
 * A plan records what it was computed from: the backup's manifest (its SHA-256 and size), the
 * plan's own facts (per table the rows removed and inserted, tables dropped, schema differences,
 * migration history, other-database warning) and a checksum of every live table. The confirm
 * runs the same restore use case, which recomputes the plan under the operation lock; the run
 * goes ahead only when that plan and the live checksums are the ones the user saw. A plan runs
 * once: a second confirm is refused, as is one after it expired.
 */
import { createHash, randomBytes } from 'node:crypto';
import { GuardError } from '../core/errors.ts';
import type { CheckReport } from '../ops/check.ts';
import type { RestoreMode, RestorePlan } from '../ops/restore.ts';

export interface StoredPlan {
  id: string;
  /** The backup file the plan is of (`latest` resolved at plan time). */
  backup: string;
  mode: RestoreMode | undefined;
  tables: string[] | undefined;
  plan: RestorePlan;
  /** The manifest's SHA-256 and size of the backup when the plan was made. */
  backupSha256: string;
  backupSize: number;
  /** Digest of the plan's facts (planDigest). */
  digest: string;
  /** Digest of the live tables' row counts and checksums (liveDigest). */
  live: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  state: 'open' | 'running' | 'used';
}

/** What makes two plans the same plan: everything but the dry run's row samples and timings. */
export function planDigest(plan: RestorePlan): string {
  const facts = {
    file: plan.backup.file,
    target: plan.target,
    mode: plan.mode,
    merge: Boolean(plan.merge),
    tables: plan.tables.map((t) => [t.name, t.insert, t.remove]),
    dropTables: plan.dropTables,
    schemaDifferences: plan.schemaDifferences.map((d) => d.text),
    liveMigrations: plan.liveMigrations,
    otherDatabase: plan.otherDatabase ?? null,
    safetyBackup: plan.safetyBackup,
  };
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex');
}

/** Digest of the live data: every table's row count and checksum (lib/ops/check.ts). */
export function liveDigest(report: Pick<CheckReport, 'tables'>): string {
  const rows = Object.keys(report.tables)
    .sort()
    .map((t) => [t, report.tables[t].rows, report.tables[t].sha256]);
  return createHash('sha256').update(JSON.stringify(rows)).digest('hex');
}

export class PlanStore {
  private readonly plans = new Map<string, StoredPlan>();
  constructor(private readonly ttlMs = 15 * 60_000) {}

  add(p: Omit<StoredPlan, 'id' | 'createdAt' | 'expiresAt' | 'state'>, now: number): StoredPlan {
    for (const [id, old] of this.plans) if (old.expiresAt < now - this.ttlMs) this.plans.delete(id);
    const stored: StoredPlan = { ...p, id: randomBytes(12).toString('hex'), createdAt: now, expiresAt: now + this.ttlMs, state: 'open' };
    this.plans.set(stored.id, stored);
    return stored;
  }

  get(id: string): StoredPlan | undefined {
    return this.plans.get(id);
  }

  /**
   * Takes a plan for running: refused when unknown, expired, already used or running. Taking is
   * synchronous, so two confirms of one plan can never both pass.
   */
  take(id: string, now: number): StoredPlan {
    const p = this.plans.get(id);
    if (!p) throw new GuardError('BACKUP_NOT_FOUND', `There is no restore plan ${id}.`, { hint: 'Make a plan first: POST /api/restores with dryRun: true.' });
    if (p.state !== 'open') {
      throw new GuardError('PLAN_USED', `The restore plan ${id} was already ${p.state === 'running' ? 'confirmed and is running' : 'run'}; a plan runs once.`, { hint: 'Make a new plan (POST /api/restores) to restore again.' });
    }
    if (p.expiresAt <= now) {
      throw new GuardError('PLAN_STALE', `The restore plan ${id} expired at ${new Date(p.expiresAt).toISOString()}.`, { hint: 'Make a new plan (POST /api/restores) and confirm it within 15 minutes.' });
    }
    p.state = 'running';
    return p;
  }

  /** A plan that was refused before anything ran (wrong password, stale) cannot be retried either: it is used. */
  finish(p: StoredPlan): void {
    p.state = 'used';
  }
}
