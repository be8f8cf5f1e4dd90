export { sqliteDialect } from './sqlite-dialect.ts';
