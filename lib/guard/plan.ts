/**
 * migrate-safe decisions (pure): exit codes, what to do with a plan, which statements of a failed
 * migration took effect, and the recovery commands to print.
 */
import type { DbSchema, PrismaMigrationRow } from '../core/types.ts';
import type { MigrationState } from '../prisma/migrations.ts';
import type { RiskFinding, Severity } from './risks.ts';
import { sameSchemaKey, tableKeyOf } from './names.ts';
import { IDENT, objectName, QNAME, splitStatements, unquote } from './sql.ts';

/**
 * Exit codes of `prisma-guard migrate-safe` (besides the generic ones of lib/core/errors.ts, e.g.
 * 4 database unreachable, 8 locked by another backup/restore/migration).
 */
export const MigrateExitCode = {
  /** Nothing to do, a dry run, or every pending migration applied. */
  OK: 0,
  /** The risk check found blocking problems; nothing was changed. */
  BLOCKED: 20,
  /** `prisma migrate deploy` failed and the database was restored to the pre-migration snapshot. */
  FAILED_ROLLED_BACK: 21,
  /** `prisma migrate deploy` failed and the database was NOT rolled back (recovery commands printed). */
  FAILED_NOT_ROLLED_BACK: 22,
  /** A precondition failed: prisma validate, a failed (P3009) or modified migration, no migrations folder... */
  PREFLIGHT: 23,
} as const;

export interface MigratePlan {
  pending: string[];
  applied: string[];
  failed: { name: string; startedAt: string | null; logs: string | null }[];
  modified: { name: string; localChecksum: string; appliedChecksum: string }[];
  missingLocally: string[];
  findings: RiskFinding[];
  counts: Record<Severity, number>;
  /** At least one finding has severity block. */
  blocked: boolean;
}

/** Builds the plan from the migration state and the judged findings. */
export function buildPlan(state: MigrationState, findings: RiskFinding[]): MigratePlan {
  const counts: Record<Severity, number> = { block: 0, warn: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return {
    pending: state.pending.map((m) => m.name),
    applied: state.applied,
    failed: state.failed.map((r) => ({ name: r.migration_name, startedAt: r.started_at, logs: r.logs })),
    modified: state.modified,
    missingLocally: state.missingLocally.map((r) => r.migration_name),
    findings,
    counts,
    blocked: counts.block > 0,
  };
}

/** A precondition that stops the run before the risk check (exit PREFLIGHT). */
export interface PreflightProblem {
  code: 'PRISMA_FAILED_MIGRATION' | 'PRISMA_MODIFIED_MIGRATION';
  message: string;
  hint: string;
}

/** Failed (P3009) and modified migrations stop the run: deploying on top of them compounds the damage. */
export function preflightProblems(state: MigrationState): PreflightProblem[] {
  const out: PreflightProblem[] = [];
  for (const f of state.failed) {
    out.push({
      code: 'PRISMA_FAILED_MIGRATION',
      message: `The migration ${f.migration_name} started on ${f.started_at ?? 'an unknown date'} and failed (Prisma error P3009): the database may hold part of it, and prisma migrate deploy refuses to run until it is resolved.`,
      hint: `Restore the backup taken before it (prisma-guard list; prisma-guard restore <file> --mode full --yes), or fix the database by hand and run \`npx prisma migrate resolve --rolled-back ${f.migration_name}\` (or --applied if you finished it).`,
    });
  }
  for (const m of state.modified) {
    out.push({
      code: 'PRISMA_MODIFIED_MIGRATION',
      message: `The migration ${m.name} was applied, but its migration.sql changed since (checksum ${m.appliedChecksum.slice(0, 12)}... applied, ${m.localChecksum.slice(0, 12)}... now): the folder no longer describes this database.`,
      hint: `Put the file back as it was when applied (git log -p -- '**/${m.name}/migration.sql') and write the change as a new migration.`,
    });
  }
  return out;
}

export type Decision = 'nothing-to-do' | 'dry-run' | 'blocked' | 'confirm' | 'proceed';

/** What to do with a plan: a block stops the run unless data loss is accepted or confirmed interactively. */
export function decide(plan: MigratePlan, options: { dryRun?: boolean; acceptDataLoss?: boolean; interactive?: boolean }): Decision {
  if (!plan.pending.length) return 'nothing-to-do';
  if (options.dryRun) return 'dry-run';
  if (!plan.blocked || options.acceptDataLoss) return 'proceed';
  return options.interactive ? 'confirm' : 'blocked';
}

export type StatementOutcome = 'applied' | 'not-applied' | 'unknown';

export interface StatementEffect {
  index: number;
  line: number;
  statement: string;
  outcome: StatementOutcome;
  /** How the outcome was decided. */
  evidence: string;
}

const findTable = (s: DbSchema, name: string) => s.tables.find((t) => t.name === name) ?? s.tables.find((t) => t.name.toLowerCase() === name.toLowerCase());
const findColumn = (s: DbSchema, table: string, column: string) => findTable(s, table)?.columns.find((c) => c.name.toLowerCase() === column.toLowerCase());
const hasIndex = (s: DbSchema, name: string) => s.tables.some((t) => t.indexes.some((i) => i.name.toLowerCase() === name.toLowerCase()));
const hasConstraint = (s: DbSchema, name: string) => hasIndex(s, name) || s.tables.some((t) => t.foreignKeys.some((f) => f.name.toLowerCase() === name.toLowerCase()));

/** Resolves a table name as written to the key of the schemas' tables (see lib/guard/names.ts). */
type KeyOf = (qname: string) => string;

/** Tables a statement creates, drops or renames (from and to), lower-cased: what a later statement can undo. */
function tablesTouched(n: string, key: KeyOf, rename: (from: string, to: string) => string): string[] {
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^(?:CREATE\\s+(?:TEMP\\w*\\s+|UNLOGGED\\s+)?|DROP\\s+)TABLE\\s+(?:IF\\s+(?:NOT\\s+)?EXISTS\\s+)?(${QNAME})`, 'i').exec(n))) return [key(m[1]).toLowerCase()];
  if ((m = new RegExp(`^ALTER\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(?:ONLY\\s+)?(${QNAME})\\s+RENAME\\s+TO\\s+(${QNAME})`, 'i').exec(n))) return [key(m[1]).toLowerCase(), rename(key(m[1]), objectName(m[2])).toLowerCase()];
  return [];
}

/** Indexes a statement creates or drops, lower-cased. */
function indexesTouched(n: string): string[] {
  const m = new RegExp(`^(?:CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+(?:CONCURRENTLY\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?|DROP\\s+INDEX\\s+(?:CONCURRENTLY\\s+)?(?:IF\\s+EXISTS\\s+)?)(${QNAME})`, 'i').exec(n);
  return m ? [objectName(m[1]).toLowerCase()] : [];
}

/**
 * Which statements of a failed migration took effect, judged only from evidence: the schema before
 * the deployment (`before`, the pre-migration snapshot's) against the live schema (`after`).
 * - `applied`: the statement's effect is visible now and was not before (its table, column, index
 *   or constraint exists now, or what it drops is gone).
 * - `not-applied`: its effect is absent now (what it creates does not exist, what it drops is still
 *   there), and no later statement of the migration touches the same table or index.
 * - `unknown` otherwise: data statements (INSERT/UPDATE/DELETE) and settings leave no schema trace;
 *   an object that existed before and exists now may have been dropped and recreated (SQLite's table
 *   rebuild: `new_X`, copy, DROP X, RENAME new_X TO X, indexes again).
 * Prisma does not wrap migration scripts in a transaction on PostgreSQL, so the statements before
 * the failing one usually stay applied.
 */
export function statementEffects(sql: string, before: DbSchema, after: DbSchema): StatementEffect[] {
  const statements = splitStatements(sql);
  // One schema: a table is its bare name; several: `schema.table`, unqualified names as the search path finds them.
  const key: KeyOf = (qname) => tableKeyOf(after, qname, (k) => Boolean(findTable(before, k) || findTable(after, k)));
  const rename = (from: string, to: string) => sameSchemaKey(after, from, to);
  const touched = statements.map((s) => ({ tables: tablesTouched(s.normalized, key, rename), indexes: indexesTouched(s.normalized) }));
  return statements.map((s, i) => {
    const later = touched.slice(i + 1);
    const laterTouches = { table: (t: string) => later.some((x) => x.tables.includes(t.toLowerCase())), index: (n: string) => later.some((x) => x.indexes.includes(n.toLowerCase())) };
    const [outcome, evidence] = effectOf(s.normalized, before, after, laterTouches, key, rename);
    return { index: s.index, line: s.line, statement: s.text, outcome, evidence };
  });
}

interface LaterTouches {
  table(name: string): boolean;
  index(name: string): boolean;
}

function effectOf(n: string, before: DbSchema, after: DbSchema, later: LaterTouches, key: KeyOf, rename: (from: string, to: string) => string): [StatementOutcome, string] {
  /**
   * `now`/`was`: whether the statement's effect (the object it creates, or the absence of what it
   * drops) is visible now / was already there before. `undone`: a later statement may have undone it.
   */
  const judge = (now: boolean, was: boolean, undone: boolean, what: string): [StatementOutcome, string] => {
    if (now && !was) return ['applied', what];
    if (now) return ['unknown', `${what}, as before the deployment`];
    return undone ? ['unknown', `${what}; a later statement of the migration changes the same object`] : ['not-applied', what];
  };
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^CREATE\\s+(?:TEMP\\w*\\s+|UNLOGGED\\s+)?TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?(${QNAME})`, 'i').exec(n))) {
    const t = key(m[1]);
    return judge(Boolean(findTable(after, t)), Boolean(findTable(before, t)), later.table(t), `table ${t} ${findTable(after, t) ? 'exists' : 'does not exist'} now`);
  }
  if ((m = new RegExp(`^DROP\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(${QNAME})`, 'i').exec(n))) {
    const t = key(m[1]);
    return judge(!findTable(after, t), !findTable(before, t), later.table(t), `table ${t} ${findTable(after, t) ? 'still exists' : 'is gone'}`);
  }
  if ((m = new RegExp(`^CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+(?:CONCURRENTLY\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(${QNAME})\\s+ON\\s+(?:ONLY\\s+)?(${QNAME})`, 'i').exec(n))) {
    const i = objectName(m[1]);
    return judge(hasIndex(after, i), hasIndex(before, i), later.index(i) || later.table(key(m[2])), `index ${i} ${hasIndex(after, i) ? 'exists' : 'does not exist'} now`);
  }
  if ((m = new RegExp(`^DROP\\s+INDEX\\s+(?:CONCURRENTLY\\s+)?(?:IF\\s+EXISTS\\s+)?(${QNAME})`, 'i').exec(n))) {
    const i = objectName(m[1]);
    return judge(!hasIndex(after, i), !hasIndex(before, i), later.index(i), `index ${i} ${hasIndex(after, i) ? 'still exists' : 'is gone'}`);
  }
  if ((m = /^CREATE\s+TYPE\s+(\S+)\s+AS\s+ENUM/i.exec(n))) {
    const e = objectName(m[1]);
    const has = (s: DbSchema) => s.enums.some((x) => x.name === e);
    return judge(has(after), has(before), false, `enum ${e} ${has(after) ? 'exists' : 'does not exist'} now`);
  }
  if ((m = new RegExp(`^ALTER\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(?:ONLY\\s+)?(${QNAME})\\s+(.*)$`, 'is').exec(n))) {
    const t = key(m[1]);
    const action = m[2];
    const undone = later.table(t);
    let a: RegExpExecArray | null;
    if ((a = new RegExp(`^RENAME\\s+TO\\s+(${QNAME})`, 'i').exec(action))) {
      const to = rename(t, objectName(a[1]));
      const toNow = Boolean(findTable(after, to));
      const fromNow = Boolean(findTable(after, t));
      // Visible only if the new name is new, or the table under it is not the one that was there.
      const changed = !findTable(before, to) || JSON.stringify(findTable(before, to)?.columns) !== JSON.stringify(findTable(after, to)?.columns);
      if (toNow && !fromNow && changed) return ['applied', `table ${to} exists now and ${t} does not`];
      // The old name still there means the rename did not run (unless a later statement recreates it).
      if (fromNow) return undone ? ['unknown', `table ${t} still exists; a later statement changes it`] : ['not-applied', `table ${t} still exists`];
      return ['unknown', `table ${to} ${toNow ? 'exists' : 'does not exist'} now, as before the deployment; a rename leaves no other trace`];
    }
    if ((a = new RegExp(`^RENAME\\s+(?:COLUMN\\s+)?(${IDENT})\\s+TO\\s+(${IDENT})`, 'i').exec(action))) {
      const from = unquote(a[1]);
      const to = unquote(a[2]);
      const toNow = Boolean(findColumn(after, t, to));
      const fromNow = Boolean(findColumn(after, t, from));
      if (toNow && !fromNow && !findColumn(before, t, to)) return ['applied', `column ${t}.${to} exists now and ${t}.${from} does not`];
      if (fromNow && !undone) return ['not-applied', `column ${t}.${from} still exists`];
      return ['unknown', `column ${t}.${to} ${toNow ? 'exists' : 'does not exist'} now`];
    }
    if ((a = new RegExp(`^ADD\\s+(?:COLUMN\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(${IDENT})\\s`, 'i').exec(action)) && !/^ADD\s+(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK)\b/i.test(action)) {
      const c = unquote(a[1]);
      return judge(Boolean(findColumn(after, t, c)), Boolean(findColumn(before, t, c)), undone, `column ${t}.${c} ${findColumn(after, t, c) ? 'exists' : 'does not exist'} now`);
    }
    if ((a = new RegExp(`^DROP\\s+(?:COLUMN\\s+)?(?:IF\\s+EXISTS\\s+)?(${IDENT})`, 'i').exec(action)) && !/^DROP\s+(CONSTRAINT|DEFAULT|NOT)\b/i.test(action)) {
      const c = unquote(a[1]);
      return judge(!findColumn(after, t, c), !findColumn(before, t, c), undone, `column ${t}.${c} ${findColumn(after, t, c) ? 'still exists' : 'is gone'}`);
    }
    if ((a = /^ADD\s+CONSTRAINT\s+(\S+)/i.exec(action))) {
      const c = objectName(a[1]);
      return judge(hasConstraint(after, c), hasConstraint(before, c), undone, `constraint ${c} ${hasConstraint(after, c) ? 'exists' : 'does not exist'} now`);
    }
    if ((a = /^DROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?(\S+)/i.exec(action))) {
      const c = objectName(a[1]);
      return judge(!hasConstraint(after, c), !hasConstraint(before, c), undone, `constraint ${c} ${hasConstraint(after, c) ? 'still exists' : 'is gone'}`);
    }
    if ((a = new RegExp(`^ALTER\\s+(?:COLUMN\\s+)?(${IDENT})\\s+(SET|DROP)\\s+NOT\\s+NULL`, 'i').exec(action))) {
      const c = unquote(a[1]);
      const want = /SET/i.test(a[2]) ? false : true;
      const live = findColumn(after, t, c);
      const was = findColumn(before, t, c);
      return judge(Boolean(live) && live!.nullable === want, Boolean(was) && was!.nullable === want, undone, `column ${t}.${c} is ${live ? (live.nullable ? 'nullable' : 'NOT NULL') : 'missing'} now`);
    }
    if ((a = new RegExp(`^ALTER\\s+(?:COLUMN\\s+)?(${IDENT})\\s+(?:SET\\s+DATA\\s+)?TYPE\\b`, 'i').exec(action))) {
      const c = unquote(a[1]);
      const was = findColumn(before, t, c)?.type;
      const now = findColumn(after, t, c)?.type;
      if (was !== undefined && now !== undefined && was !== now) return ['applied', `column ${t}.${c} is ${now} now (was ${was})`];
      return ['unknown', `column ${t}.${c} is ${now ?? 'missing'} now (was ${was ?? 'missing'})`];
    }
    if ((a = new RegExp(`^ALTER\\s+(?:COLUMN\\s+)?(${IDENT})\\s+(SET|DROP)\\s+DEFAULT`, 'i').exec(action))) {
      const c = unquote(a[1]);
      const was = findColumn(before, t, c)?.default ?? null;
      const now = findColumn(after, t, c)?.default ?? null;
      return [was === now ? 'unknown' : 'applied', `default of ${t}.${c} is ${now ?? 'none'} now (was ${was ?? 'none'})`];
    }
  }
  return ['unknown', 'leaves no trace in the schema (data statement or setting)'];
}

/** The exact commands that get out of a failed deployment, for the message and the report. */
export function recoveryCommands(args: { failedMigration: string; preMigrationBackup: string; backupDirArg?: string; schemas?: string[] }): { restore: string; resolveRolledBack: string; resolveApplied: string } {
  const dir = args.backupDirArg ? ` --backup-dir ${args.backupDirArg}` : '';
  // A backup of several schemas restores only onto the same schemas: named, so the command works wherever it is run.
  const schemas = args.schemas && args.schemas.length > 1 ? ` --schemas ${args.schemas.join(',')}` : '';
  return {
    restore: `prisma-guard restore ${args.preMigrationBackup} --mode full --yes${schemas}${dir}`,
    resolveRolledBack: `npx prisma migrate resolve --rolled-back ${args.failedMigration}`,
    resolveApplied: `npx prisma migrate resolve --applied ${args.failedMigration}`,
  };
}

/** The failed row of a migration (finished_at and rolled_back_at NULL), newest first. */
export function failedRow(rows: PrismaMigrationRow[], name?: string): PrismaMigrationRow | undefined {
  const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null && (!name || r.migration_name === name));
  return failed[failed.length - 1];
}
