/** The PostgreSQL dialect: `postgresDialect.connect(target)` gives a Connection (see ../dialect.ts). */
export { postgresDialect, PostgresConnection, pgConnectionString, describeEndpoint } from "./postgres-dialect.js";
export { introspectPostgres } from "./postgres-introspector.js";
export { advisoryLockKey } from "./postgres-lock.js";
export { CopyTextParser, encodeCopyLine, escapeCopyText } from "./postgres-copy-text.js";
