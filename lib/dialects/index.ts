import { ExitCode, GuardError } from '../core/errors.ts';
import type { DatabaseTarget, DialectName } from '../core/url.ts';
import type { TableSchema } from '../core/types.ts';
import type { CanonicalRules, Connection, Dialect } from './dialect.ts';

export type { Connection, Dialect, EncodedRow, EncodedValue, SnapshotReader, LoadOptions, Lock } from './dialect.ts';

/**
 * The packages each dialect loads. The drivers are the project's own (optional peer dependencies
 * of prisma-guard), so a SQLite project never installs or compiles pg and a PostgreSQL project
 * never builds better-sqlite3; pg-copy-streams is prisma-guard's own dependency.
 */
export const DRIVER_PACKAGES: Record<DialectName, readonly string[]> = {
  sqlite: ['better-sqlite3'],
  postgres: ['pg', 'pg-copy-streams'],
};

/** The package a failed import could not find, when it is one of `candidates`. */
function missingPackage(e: unknown, candidates: readonly string[]): string | undefined {
  const err = e as { code?: string; message?: string } | null;
  if (!err || (err.code !== 'ERR_MODULE_NOT_FOUND' && err.code !== 'MODULE_NOT_FOUND')) return undefined;
  const m = /Cannot find (?:package|module) '([^']+)'/.exec(err.message ?? '');
  const name = m?.[1].split('/').slice(0, m[1].startsWith('@') ? 2 : 1).join('/');
  return candidates.find((c) => c === name);
}

/**
 * The dialect for a name. Its driver is imported here, on first use, so importing prisma-guard
 * loads no driver and a SQLite user never needs pg.
 * @throws GuardError DRIVER_NOT_INSTALLED (exit 4) naming the package to install
 */
export async function dialectFor(name: DialectName): Promise<Dialect> {
  try {
    if (name === 'sqlite') return (await import('./sqlite/index.ts')).sqliteDialect;
    return (await import('./postgres/index.ts')).postgresDialect;
  } catch (e) {
    const pkg = missingPackage(e, DRIVER_PACKAGES[name]);
    if (!pkg) throw e;
    const what = name === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    throw new GuardError('DRIVER_NOT_INSTALLED', `The database is ${what}, and prisma-guard reads it with the "${pkg}" package, which is not installed in this project.`, {
      hint: `Install it in your project: npm install ${pkg}`,
      exitCode: ExitCode.DATABASE,
      cause: e,
      details: { package: pkg, dialect: name },
    });
  }
}

/** Opens a connection to `target` with its dialect. */
export async function connect(target: DatabaseTarget, options?: { create?: boolean }): Promise<Connection> {
  const dialect = await dialectFor(target.dialect);
  return dialect.connect(target, options);
}

/**
 * The canonical check's rules for the row lines of a dialect's backups (checkCanonicalRun), as its
 * dumper writes them. Loads only the dialect's value encoding, never its driver, so that verify
 * starts as fast as before.
 */
export async function canonicalRulesFor(name: DialectName): Promise<(table: TableSchema) => CanonicalRules> {
  if (name === 'sqlite') return (await import('./sqlite/sqlite-values.ts')).sqliteCanonicalRules;
  return (await import('./postgres/postgres-values.ts')).postgresCanonicalRules;
}
