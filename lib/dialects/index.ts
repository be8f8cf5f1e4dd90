import type { DatabaseTarget, DialectName } from '../core/url.ts';
import type { TableSchema } from '../core/types.ts';
import type { CanonicalRules, Connection, Dialect } from './dialect.ts';

export type { Connection, Dialect, EncodedRow, EncodedValue, SnapshotReader, LoadOptions, Lock } from './dialect.ts';

/** The dialect for a name; drivers are loaded only when used (a SQLite user never loads pg). */
export async function dialectFor(name: DialectName): Promise<Dialect> {
  if (name === 'sqlite') return (await import('./sqlite/index.ts')).sqliteDialect;
  return (await import('./postgres/index.ts')).postgresDialect;
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
