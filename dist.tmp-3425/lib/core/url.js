import { GuardError } from "./errors.js";
/** Replaces the password of every URL-looking substring in `text` by `***`. */
export function redactSecrets(text) {
    return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@\s/]*)@/gi, '$1***@');
}
/** Parses a Prisma-style DATABASE_URL. `baseDir` resolves relative `file:` paths (Prisma resolves them from the schema folder; we use the project root unless told). */
export function parseDatabaseUrl(url, baseDir = process.cwd()) {
    if (!url || !url.trim()) {
        throw new GuardError('DATABASE_URL_INVALID', 'No database URL: DATABASE_URL is not set and --url was not given.', {
            hint: 'Set DATABASE_URL (for example file:./prisma/dev.db or postgresql://user@host:5432/db) or pass --url.',
        });
    }
    const trimmed = url.trim();
    if (trimmed.startsWith('file:')) {
        let p = trimmed.slice('file:'.length);
        const q = p.indexOf('?');
        if (q >= 0)
            p = p.slice(0, q);
        if (p.startsWith('//'))
            p = p.slice(2);
        if (!p) {
            throw new GuardError('DATABASE_URL_INVALID', `The SQLite URL "${trimmed}" names no file.`, { hint: 'Use file:./path/to/db.sqlite' });
        }
        const file = p.startsWith('/') ? p : joinPath(baseDir, p);
        return { dialect: 'sqlite', url: trimmed, display: `file:${file}`, database: file, file };
    }
    if (/^postgres(ql)?:\/\//i.test(trimmed)) {
        let parsed;
        try {
            parsed = new URL(trimmed);
        }
        catch (cause) {
            throw new GuardError('DATABASE_URL_INVALID', `The PostgreSQL URL ${redactSecrets(trimmed)} cannot be parsed.`, {
                hint: 'Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE?schema=public (URL-encode special characters in the password).',
                cause,
            });
        }
        const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
        const schema = parsed.searchParams.get('schema') ?? 'public';
        const display = parsed.password ? trimmed.replace(`:${parsed.password}@`, ':***@') : trimmed;
        return { dialect: 'postgres', url: trimmed, display: redactSecrets(display), database, schema };
    }
    if (/^(mysql|mariadb):\/\//i.test(trimmed)) {
        throw new GuardError('DATABASE_URL_INVALID', `MySQL/MariaDB (${redactSecrets(trimmed)}) is not supported yet.`, {
            hint: 'prisma-guard supports SQLite (file:) and PostgreSQL (postgresql://) today.',
        });
    }
    throw new GuardError('DATABASE_URL_INVALID', `Unrecognised database URL ${redactSecrets(trimmed)}.`, {
        hint: 'Use file:./dev.db for SQLite or postgresql://user:password@host:5432/db for PostgreSQL.',
    });
}
function joinPath(base, rel) {
    // Avoid importing node:path semantics differences: normalise simple ./ and ../ segments.
    const parts = base.split('/').concat(rel.split('/'));
    const out = [];
    for (const part of parts) {
        if (part === '' || part === '.')
            continue;
        if (part === '..')
            out.pop();
        else
            out.push(part);
    }
    return '/' + out.join('/');
}
