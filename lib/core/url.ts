import { GuardError } from './errors.ts';

export type DialectName = 'sqlite' | 'postgres';

/** A parsed DATABASE_URL. `display` is safe to print: it never holds the password. */
export interface DatabaseTarget {
  dialect: DialectName;
  /** The URL as given (may hold a password: never print or store it). */
  url: string;
  /**
   * The URL to print and store: rebuilt from its parsed parts (user name, `***` for a password,
   * host, path, query with secret values as `***`), never by editing the text.
   */
  display: string;
  /** SQLite: absolute file path. PostgreSQL: database name. */
  database: string;
  /** PostgreSQL schema (`?schema=`, default `public`). */
  schema?: string;
  /**
   * PostgreSQL: the schemas backed up and restored together, sorted, when there are several (the
   * Prisma datasource's `schemas`, or `--schemas a,b`; see lib/ops/context.ts). Absent: `schema` alone.
   */
  schemas?: string[];
  /** SQLite only: absolute path of the database file. */
  file?: string;
  /** PostgreSQL: I/O timeout of every connection in ms (BACKUP_IO_TIMEOUT; 0 = none; unset = 60 s). */
  ioTimeoutMs?: number;
  /** PostgreSQL: the pg_dump that writes full-mode DDL (BACKUP_PG_DUMP: a path or `off`; unset = search). */
  pgDump?: string;
}

/** Where a URL's scheme ends: `postgresql://`, `https://`. */
const SCHEME = /[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A key whose value is a secret, in a URL query (`?password=`), a libpq connection string
 * (`password=...`), an environment assignment (`PGPASSWORD=`, `DB_PASSWORD=`) or an API key
 * (`?api_key=`, as Prisma Accelerate URLs carry).
 */
const SECRET_KEY = String.raw`(?<![A-Za-z0-9])((?:[A-Za-z0-9]+_)*(?:(?:pg|ssl|sslkey)?(?:password|passwd|pwd)|api_?key))`;
/** `key=value`: the value runs to whitespace or `&`, or is quoted. */
const SECRET_ASSIGNMENT = new RegExp(String.raw`${SECRET_KEY}(\s*=\s*)(?:'(?:[^'\\\n]|\\.)*'?|"(?:[^"\\\n]|\\.)*"?|[^\s&'"]*)`, 'gi');
/** `"password": "value"` in JSON text. */
const SECRET_JSON_MEMBER = new RegExp(String.raw`("${SECRET_KEY}"\s*:\s*)"(?:[^"\\]|\\.)*"`, 'gi');

/** Placeholders our own hints print; not secrets. */
const PLACEHOLDER_USER_INFO = new Set(['USER:PASSWORD', 'user:password']);
/** A user name that cannot be holding part of a password. */
const PLAIN_USER = /^[A-Za-z0-9._~%-]*$/;

/**
 * What a URL's user-info (everything between `scheme://` and the last `@`) may show: the user name
 * when it is plain, never anything after the first `:`. `***` when the split is not clear.
 */
function redactUserInfo(userInfo: string): string {
  if (PLACEHOLDER_USER_INFO.has(userInfo)) return userInfo;
  const colon = userInfo.indexOf(':');
  const user = colon < 0 ? userInfo : userInfo.slice(0, colon);
  if (!PLAIN_USER.test(user)) return '***';
  return colon < 0 ? user : `${user}:***`;
}

/** One line: from the first `scheme://` to the line's last `@`, everything is user-info. */
function redactUserInfoOfLine(line: string): string {
  const m = SCHEME.exec(line);
  if (!m) return line;
  const from = m.index + m[0].length;
  // The last `@`, not the first: a password may hold `@`, `/`, spaces... what follows the last `@`
  // can only be the host part. (Two URLs on one line are redacted as one: safe, if terse.)
  const at = line.lastIndexOf('@');
  if (at < from) return line;
  return line.slice(0, from) + redactUserInfo(line.slice(from, at)) + line.slice(at);
}

/**
 * Redacts everything in `text` that looks like a secret: the user-info of every URL-looking
 * substring (`scheme://user:***@host`), whether or not the URL parses (a password that is not
 * URL-encoded may hold `/`, `@`, `:`, spaces...: everything up to the last `@` of the line goes),
 * `password=` / `PGPASSWORD=` / `api_key=` values (URL queries, libpq connection strings,
 * environment assignments) and JSON `"password": "..."` members. Idempotent. Over-redacts rather
 * than miss: an e-mail address on the same line as a URL hides the text between them.
 */
export function redactSecrets(text: string): string {
  let out = text;
  if (out.includes('://')) out = out.split('\n').map(redactUserInfoOfLine).join('\n');
  if (/pass|pwd|api_?key/i.test(out)) out = out.replace(SECRET_ASSIGNMENT, '$1$2***').replace(SECRET_JSON_MEMBER, '$1"***"');
  // An age secret key pasted where a public key or a path belongs.
  if (out.includes('AGE-SECRET-KEY-')) out = out.replace(/AGE-SECRET-KEY-1[0-9A-Za-z]{10,}/g, 'AGE-SECRET-KEY-1***');
  return out;
}

/**
 * `JSON.stringify` with every string value passed through `redactSecrets` (and bigints as
 * strings): the form every JSON document we print, log or store goes out in.
 */
export function toRedactedJson(value: unknown, space?: number): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'string' ? redactSecrets(v) : typeof v === 'bigint' ? v.toString() : v), space);
}

/** The query of a URL with the value of every secret key replaced by `***`. */
function redactQuery(query: string): string {
  if (!query) return '';
  const secretKey = new RegExp(`^${SECRET_KEY}$`, 'i');
  const parts = query.replace(/^\?/, '').split('&').map((part) => {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    let decoded = key;
    try {
      decoded = decodeURIComponent(key);
    } catch {
      // a malformed escape: compare the raw key
    }
    return secretKey.test(decoded) && eq >= 0 ? `${key}=***` : part;
  });
  return '?' + parts.join('&');
}

/**
 * A printable form of a database URL that did not parse (or parsed ambiguously), from its raw
 * text alone. With an `@`: everything between `scheme://` and the last `@` is user-info (shown as
 * `user:***` at most). Without one, the text is never echoed: `scheme://host` when a host name
 * starts it, else `<unparseable URL>`.
 */
export function describeUnparsedUrl(raw: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (!m) return '<unparseable URL>';
  const rest = raw.slice(m[0].length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const after = rest.slice(at + 1);
    const q = after.indexOf('?');
    const hostAndPath = q < 0 ? after : after.slice(0, q);
    const query = q < 0 ? '' : after.slice(q);
    return redactSecrets(`${m[0]}${redactUserInfo(rest.slice(0, at))}@${hostAndPath}${redactQuery(query)}`);
  }
  const host = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?=$|[:/?#])/.exec(rest);
  return host ? `${m[0]}${host[0]}` : '<unparseable URL>';
}

/** The display form of a URL that parsed cleanly: rebuilt from its parts, the password never copied. */
function describeParsedUrl(scheme: string, u: URL): string {
  const userInfo = u.password !== '' ? `${u.username}:***@` : u.username ? `${u.username}@` : '';
  return redactSecrets(`${scheme}://${userInfo}${u.host}${u.pathname}${redactQuery(u.search)}`);
}

/** Where the authority of `scheme://authority/...` ends: the first `/`, `?` or `#`, as URL parsers see it. */
function authorityEnd(raw: string, schemeLength: number): number {
  const rel = raw.slice(schemeLength).search(/[/?#]/);
  return rel < 0 ? raw.length : schemeLength + rel;
}

/** Parses a Prisma-style DATABASE_URL. `baseDir` resolves relative `file:` paths (Prisma resolves them from the schema folder; we use the project root unless told). */
export function parseDatabaseUrl(url: string | undefined, baseDir: string = process.cwd()): DatabaseTarget {
  if (!url || !url.trim()) {
    throw new GuardError('DATABASE_URL_INVALID', 'No database URL: DATABASE_URL is not set and --url was not given.', {
      hint: 'Set DATABASE_URL (for example file:./prisma/dev.db or postgresql://user@host:5432/db) or pass --url.',
    });
  }
  const trimmed = url.trim();
  if (trimmed.startsWith('file:')) {
    let p = trimmed.slice('file:'.length);
    const q = p.indexOf('?');
    if (q >= 0) p = p.slice(0, q);
    if (p.startsWith('//')) p = p.slice(2);
    if (!p) {
      throw new GuardError('DATABASE_URL_INVALID', `The SQLite URL "${trimmed}" names no file.`, { hint: 'Use file:./path/to/db.sqlite' });
    }
    const file = p.startsWith('/') ? p : joinPath(baseDir, p);
    return { dialect: 'sqlite', url: trimmed, display: `file:${file}`, database: file, file };
  }
  const scheme = /^(postgres(?:ql)?):\/\//i.exec(trimmed);
  if (scheme) {
    const encodeHint = 'URL-encode special characters in the user name and password (in JavaScript: encodeURIComponent(password); `/` is %2F, an at sign %40, `:` %3A, `#` %23, `?` %3F, `%` %25, a space %20).';
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      // No `cause`: Node's URL error carries the whole input (password included) in `input`.
      throw new GuardError('DATABASE_URL_INVALID', `The PostgreSQL URL ${describeUnparsedUrl(trimmed)} cannot be parsed.`, {
        hint: `Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE?schema=public and ${encodeHint}`,
      });
    }
    // A URL parser ends the host part at the first `/`, `?` or `#`, so a raw one in the password
    // makes the rest of the password a path or query (postgresql://u:123/secret@host parses, with
    // host "u" and database "secret@host"). An `@` after that point is the sign: refuse, never guess.
    // (Messages keep any other `@` off the URL's line: redaction runs to the line's last `@`.)
    if (trimmed.indexOf('@', authorityEnd(trimmed, scheme[0].length)) >= 0) {
      throw new GuardError('DATABASE_URL_INVALID', `The PostgreSQL URL is ambiguous: it holds an at sign after its host part, so its password (or database name) probably holds a "/", "?" or "#" that is not URL-encoded. The URL (redacted): ${describeUnparsedUrl(trimmed)}`, {
        hint: `${encodeHint[0].toUpperCase()}${encodeHint.slice(1)} An at sign in the database name or a query value is written %40 too.`,
      });
    }
    let database: string;
    try {
      database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
    } catch {
      throw new GuardError('DATABASE_URL_INVALID', `The PostgreSQL URL ${describeParsedUrl(scheme[1], parsed)} has a database name with a malformed %-escape.`, { hint: encodeHint });
    }
    const schema = parsed.searchParams.get('schema') ?? 'public';
    return { dialect: 'postgres', url: trimmed, display: describeParsedUrl(scheme[1], parsed), database, schema };
  }
  if (/^(mysql|mariadb):\/\//i.test(trimmed)) {
    throw new GuardError('DATABASE_URL_INVALID', `MySQL/MariaDB (${describeUnparsedUrl(trimmed)}) is not supported yet.`, {
      hint: 'prisma-guard supports SQLite (file:) and PostgreSQL (postgresql://) today.',
    });
  }
  throw new GuardError('DATABASE_URL_INVALID', `Unrecognised database URL ${describeUnparsedUrl(trimmed)}.`, {
    hint: 'Use file:./dev.db for SQLite or postgresql://user:password@host:5432/db for PostgreSQL.',
  });
}

function joinPath(base: string, rel: string): string {
  // Avoid importing node:path semantics differences: normalise simple ./ and ../ segments.
  const parts = base.split('/').concat(rel.split('/'));
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}
