/** Small SQL text helpers shared by the PostgreSQL dialect files. */
/** Quotes an identifier the way PostgreSQL's quote_ident does, but always (no case folding surprises). */
export function quoteIdent(identifier) {
    if (identifier.includes('\0'))
        throw new Error('an identifier cannot contain a NUL character');
    return '"' + identifier.replace(/"/g, '""') + '"';
}
/** `"schema"."name"`. */
export function qualify(schema, name) {
    return quoteIdent(schema) + '.' + quoteIdent(name);
}
/** A standard-conforming string literal (standard_conforming_strings is on since PostgreSQL 9.1). */
export function quoteLiteral(value) {
    if (value.includes('\0'))
        throw new Error('a string literal cannot contain a NUL character');
    return "'" + value.replace(/'/g, "''") + "'";
}
