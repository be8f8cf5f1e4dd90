/** Quotes a SQLite identifier. */
export function quoteSqlite(identifier) {
    return '"' + identifier.replace(/"/g, '""') + '"';
}
