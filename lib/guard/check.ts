/**
 * The risk check on one connection: read the live schema, analyze the pending migrations against
 * it (pure), measure every question with read-only queries, and judge. migrate-safe runs it on the
 * live database, or with `--against` on a scratch copy loaded from a backup.
 */
import type { DbSchema } from '../core/types.ts';
import type { Connection } from '../dialects/dialect.ts';
import { measureQuestions } from './measure.ts';
import { analyzeMigrations, judge, sortFindings, type RiskFinding } from './risks.ts';

export interface RiskCheckOptions {
  /** Row count from which the locking rules report (PostgreSQL); default DEFAULT_LARGE_TABLE_ROWS. */
  largeTableRows?: number;
  /** The live schema, when the caller has just read it. */
  live?: DbSchema;
}

/** Findings for `migrations` (in the order Prisma applies them), sorted by severity. Never writes. */
export async function checkRisks(conn: Connection, migrations: { name: string; sql: string }[], options: RiskCheckOptions = {}): Promise<RiskFinding[]> {
  const live = options.live ?? (await conn.introspect());
  const questions = analyzeMigrations(migrations, live, { traits: conn.dialect.riskTraits, largeTableRows: options.largeTableRows });
  const answers = await measureQuestions(conn, live, questions);
  return sortFindings(questions.map((q, i) => judge(q, answers[i])).filter((f): f is RiskFinding => f !== null));
}
