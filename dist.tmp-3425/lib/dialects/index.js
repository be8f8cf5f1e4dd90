/** The dialect for a name; drivers are loaded only when used (a SQLite user never loads pg). */
export async function dialectFor(name) {
    if (name === 'sqlite')
        return (await import("./sqlite/index.js")).sqliteDialect;
    return (await import("./postgres/index.js")).postgresDialect;
}
/** Opens a connection to `target` with its dialect. */
export async function connect(target, options) {
    const dialect = await dialectFor(target.dialect);
    return dialect.connect(target, options);
}
