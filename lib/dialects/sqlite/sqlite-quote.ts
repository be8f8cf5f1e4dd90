/** Quotes a SQLite identifier. */
export function quoteSqlite(identifier: string): string {
  return '"' + identifier.replace(/"/g, '""') + '"';
}
