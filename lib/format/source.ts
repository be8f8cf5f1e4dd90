/**
 * What a backup is *of* and what it *holds*: its source database, its scope and its kind. Every
 * decision about which backup to restore or prune rests on these fields, so they are typed fields of
 * the header and the manifest (format version 2), never guessed from a file name or a free-text
 * reason. Version 1 files carry none of them: {@link inferV1} derives them as well as it can and
 * says so (`inferred: true`).
 */
import { createHash } from 'node:crypto';
import type { DialectName } from '../core/url.ts';

/** Why a backup was taken; decides how `latest` and retention treat it (README: kinds and scopes). */
export const BACKUP_KINDS = ['manual', 'scheduled', 'pre-migration', 'post-migration', 'pre-restore', 'pre-delete', 'drill'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

/**
 * What a backup holds. `full`: every table with every row. `tables`: only the listed tables (the
 * schema and DDL of those tables only). `schema-only`: every table, no rows except Prisma's
 * migration history.
 */
export type BackupScope = { type: 'full' } | { type: 'tables'; tables: string[] } | { type: 'schema-only' };

/**
 * The database a backup was taken of. Never holds a password.
 * `fingerprint` is stable across runs of the same database: a random id stored in the database on
 * its first backup (PostgreSQL: the `_prisma_guard_identity.identity` table; SQLite: the file's
 * `application_id`), so it survives a host rename or a moved file. `derived` when the id could not
 * be stored (then a hash of the location). Null only in version-1 backups, which predate it.
 */
export interface BackupSource {
  dialect: DialectName;
  /** PostgreSQL host (lower case); null for SQLite. */
  host: string | null;
  /** PostgreSQL port; null for SQLite. */
  port: number | null;
  /** PostgreSQL database name; SQLite: the absolute path of the file. */
  database: string;
  /** PostgreSQL schemas backed up (sorted); `["main"]` for SQLite. */
  schemas: string[];
  fingerprint: string | null;
  fingerprintMethod: 'stored' | 'derived' | null;
  /** Set on sources of version-1 backups: fields were derived from the display string. */
  inferred?: boolean;
}

/** Where a database lives, without its identity: the fields emergency-restore matches on when the database is gone. */
export type SourceLocation = Pick<BackupSource, 'dialect' | 'host' | 'port' | 'database' | 'schemas'>;

/** The identity a live database reports: its stored fingerprint, or none yet. */
export interface DatabaseIdentity {
  fingerprint: string;
  method: 'stored' | 'derived';
}

/** Same place: same dialect, host, port, database (SQLite: file) and schema set. */
export function sameLocation(a: SourceLocation, b: SourceLocation): boolean {
  return a.dialect === b.dialect && (a.host ?? '') === (b.host ?? '') && (a.port ?? 0) === (b.port ?? 0) && a.database === b.database && [...a.schemas].sort().join('\u0000') === [...b.schemas].sort().join('\u0000');
}

/** A short human label: `postgres 127.0.0.1:5432/app (public)`, `sqlite /srv/app/prisma/dev.db`. */
export function describeLocation(s: SourceLocation): string {
  if (s.dialect === 'sqlite') return `sqlite ${s.database}`;
  return `postgres ${s.host ?? '?'}:${s.port ?? 5432}/${s.database} (${s.schemas.join(', ')})`;
}

/** The fingerprint used when none can be stored in the database: a hash of its location. */
export function derivedFingerprint(location: SourceLocation): string {
  const h = createHash('sha256').update(JSON.stringify([location.dialect, location.host, location.port, location.database, [...location.schemas].sort()])).digest('hex');
  return `loc-${h.slice(0, 32)}`;
}

/** The kind a version-1 backup's reason implies (v1 had only the reason). */
export function kindFromReason(reason: string): BackupKind {
  if (/^pre-restore(?:[-._]|$)/.test(reason)) return 'pre-restore';
  if (/^pre-migrat(?:e|ion)(?:[-._]|$)/.test(reason)) return 'pre-migration';
  if (/^post-migrat(?:e|ion)(?:[-._]|$)/.test(reason)) return 'post-migration';
  if (/^pre-delete(?:[-._]|$)/.test(reason)) return 'pre-delete';
  if (/^scheduled(?:[-._]|$)/.test(reason)) return 'scheduled';
  if (/^drill(?:[-._]|$)/.test(reason)) return 'drill';
  return 'manual';
}

/**
 * The location a version-1 `database` display string names: `file:/abs/path` or a redacted
 * `postgresql://user:***@host:port/db?schema=s` URL.
 */
export function locationFromDisplay(dialect: DialectName, display: string): SourceLocation {
  if (dialect === 'sqlite') return { dialect, host: null, port: null, database: display.replace(/^file:/, ''), schemas: ['main'] };
  try {
    const u = new URL(display);
    return {
      dialect,
      host: u.hostname.toLowerCase() || 'localhost',
      port: u.port ? Number(u.port) : 5432,
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
      schemas: [u.searchParams.get('schema') ?? 'public'],
    };
  } catch {
    return { dialect, host: null, port: null, database: display, schemas: ['public'] };
  }
}

/**
 * Kind, scope and source of a version-1 backup. Scope: a `pre-delete-*` backup holds some rows of
 * some tables; a backup whose DDL creates tables its schema does not list was taken with
 * `--tables`; anything else is full.
 */
export function inferV1(h: { reason: string; dialect: DialectName; database: string; schema: { tables: { name: string }[]; ddl: string[] } }): { kind: BackupKind; scope: BackupScope; source: BackupSource } {
  const kind = kindFromReason(h.reason);
  const names = h.schema.tables.map((t) => t.name);
  const listed = new Set(names.map((n) => n.toLowerCase()));
  const created = h.schema.ddl.map((s) => /^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"[^"]+"\.)?"((?:[^"]|"")+)"/i.exec(s)?.[1]?.replace(/""/g, '"')).filter((n): n is string => Boolean(n));
  const partial = kind === 'pre-delete' || created.some((n) => !listed.has(n.toLowerCase()));
  const scope: BackupScope = partial ? { type: 'tables', tables: names } : { type: 'full' };
  return { kind, scope, source: { ...locationFromDisplay(h.dialect, h.database), fingerprint: null, fingerprintMethod: null, inferred: true } };
}

/** `full`, `tables: A, B`, `schema-only`. */
export function describeScope(s: BackupScope): string {
  return s.type === 'tables' ? `tables: ${s.tables.join(', ')}` : s.type;
}

/** The location of the database a URL names (no secrets: host, port, database, schemas). */
export function targetLocation(target: { dialect: DialectName; url: string; database: string; schema?: string; file?: string; schemas?: string[] }): SourceLocation {
  if (target.dialect === 'sqlite') return { dialect: 'sqlite', host: null, port: null, database: target.file ?? target.database, schemas: ['main'] };
  let host = 'localhost';
  let port = 5432;
  try {
    const u = new URL(target.url);
    host = decodeURIComponent(u.hostname).toLowerCase() || 'localhost';
    port = u.port ? Number(u.port) : 5432;
  } catch {
    // parseDatabaseUrl has parsed it already; keep the defaults if not.
  }
  return { dialect: 'postgres', host, port, database: target.database, schemas: target.schemas ?? [target.schema ?? 'public'] };
}
