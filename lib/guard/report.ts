/**
 * migrate-safe's result for CI (pure): GitHub Actions workflow commands (`::error file=...,line=...::`,
 * one per finding, on the migration file and the statement's line) and a Markdown summary for a
 * pull-request comment or `$GITHUB_STEP_SUMMARY`. Text and JSON are rendered by the command.
 */
import path from 'node:path';
import type { MigratePlan } from './plan.ts';
import type { RiskFinding, Severity } from './risks.ts';

/** The output formats of `migrate-safe --format`. */
export const REPORT_FORMATS = ['text', 'json', 'markdown', 'github'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** What the renderers read of a migrate-safe result. */
export interface ReportInput {
  status: string;
  exitCode: number;
  target: string;
  migrationsDir: string;
  plan: MigratePlan;
  against?: { backup: string };
  failure?: { migration: string; logs: string | null };
}

export interface ReportOptions {
  /** Annotation paths are relative to this folder (the repository root: GITHUB_WORKSPACE, else the working directory). */
  root: string;
}

/** The migration file a finding is in, relative to `root`, with forward slashes. */
export function migrationFile(migrationsDir: string, migration: string, root: string): string {
  return path.relative(root, path.join(migrationsDir, migration, 'migration.sql')).split(path.sep).join('/');
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'notice'> = { block: 'error', warn: 'warning', info: 'notice' };

// https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions: data and property escapes.
const escapeData = (s: string) => s.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
const escapeProperty = (s: string) => escapeData(s).replaceAll(':', '%3A').replaceAll(',', '%2C');

function summaryLine(r: ReportInput): string {
  const c = r.plan.counts;
  const verdict =
    r.status === 'blocked' || (r.status === 'dry-run' && r.plan.blocked)
      ? 'a real run would stop: blocking findings'
      : r.status === 'dry-run'
        ? 'nothing blocking'
        : r.status;
  return `migrate-safe${r.against ? ` (against ${r.against.backup})` : ''}: ${r.plan.pending.length} pending migration(s), ${c.block} blocking, ${c.warn} warning(s), ${c.info} note(s); ${verdict}.`;
}

/** One workflow command per finding (block = error, warn = warning, info = notice), then a summary line. */
export function githubAnnotations(r: ReportInput, options: ReportOptions): string {
  const lines = r.plan.findings.map((f) => {
    const file = migrationFile(r.migrationsDir, f.migration, options.root);
    const title = `migrate-safe ${f.rule}`;
    const text = `${f.message}${f.severity === 'info' ? '' : ` Safer: ${f.advice}`}${f.prismaWarning ? ` (Prisma warned: ${f.prismaWarning})` : ''}`;
    return `::${LEVEL[f.severity]} file=${escapeProperty(file)},line=${f.line},title=${escapeProperty(title)}::${escapeData(text)}`;
  });
  if (r.failure) {
    lines.push(`::error file=${escapeProperty(migrationFile(r.migrationsDir, r.failure.migration, options.root))},title=${escapeProperty('migrate-safe: prisma migrate deploy failed')}::${escapeData(r.failure.logs?.trim() || `The migration ${r.failure.migration} failed.`)}`);
  }
  lines.push(summaryLine(r));
  return lines.join('\n');
}

const cell = (s: string) => s.replaceAll('|', '\\|').replace(/\s+/g, ' ').trim();
const MARK: Record<Severity, string> = { block: '**block**', warn: 'warn', info: 'info' };

/** A Markdown summary: the verdict, then one table row per finding with its file and line. */
export function markdownSummary(r: ReportInput, options: ReportOptions): string {
  const lines = [`### ${summaryLine(r)}`, '', `Target: \`${r.target}\`${r.against ? `, checked on a scratch copy of the backup \`${r.against.backup}\`` : ''}. Pending: ${r.plan.pending.map((p) => `\`${p}\``).join(', ') || 'none'}.`, ''];
  if (r.plan.findings.length) {
    lines.push('| severity | where | rule | measured | finding | safer way |', '|---|---|---|---|---|---|');
    for (const f of r.plan.findings as RiskFinding[]) {
      const file = migrationFile(r.migrationsDir, f.migration, options.root);
      lines.push(`| ${MARK[f.severity]} | \`${cell(file)}:${f.line}\` | \`${f.rule}\` | ${f.measured ?? 'not measured'} | ${cell(f.message)} | ${f.severity === 'info' ? '' : cell(f.advice)} |`);
    }
  } else lines.push('Nothing risky found.');
  if (r.failure) lines.push('', `**prisma migrate deploy failed** in \`${r.failure.migration}\`.`);
  return lines.join('\n');
}
