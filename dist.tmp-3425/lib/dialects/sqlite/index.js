export { sqliteDialect } from "./sqlite-dialect.js";
