/** The PostgreSQL dialect: `postgresDialect.connect(target)` gives a Connection (see ../dialect.ts). */
export { postgresDialect, PostgresConnection, pgConnectionString, describeEndpoint } from './postgres-dialect.ts';
export { introspectPostgres } from './postgres-introspector.ts';
export { advisoryLockKey } from './postgres-lock.ts';
export { CopyTextParser, encodeCopyLine, escapeCopyText } from './postgres-copy-text.ts';
