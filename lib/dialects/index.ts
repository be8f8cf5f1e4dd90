import type { DatabaseTarget, DialectName } from '../core/url.ts';
import type { Connection, Dialect } from './dialect.ts';

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
