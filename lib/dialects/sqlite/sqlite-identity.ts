import { randomInt } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { DatabaseIdentity } from '../../format/source.ts';

/**
 * prisma-guard marks a SQLite file as its own by an `application_id` (the 32-bit field SQLite keeps
 * in the file header for this purpose) whose top byte is 0x70 ("p"); the other 24 bits are random.
 * It lives in the file, so it moves with it and survives a full restore (which rebuilds the schema
 * in the same file); Prisma neither reads nor writes it, and no table is added (a table would show
 * up as drift in `prisma migrate dev`). A file whose application_id another program set is left
 * alone: its fingerprint is then derived from its path.
 */
const MARK = 0x70;

function fingerprintOf(id: number): string | null {
  return id >>> 24 === MARK ? `sqlite-${(id >>> 0).toString(16).padStart(8, '0')}` : null;
}

/** Reads (and with `create` or `adopt`, stores) the file's fingerprint; null when it has none of ours. */
export function sqliteIdentity(db: Database.Database, options: { create?: boolean; adopt?: string } = {}): DatabaseIdentity | null {
  const current = Number(db.pragma('application_id', { simple: true }));
  const known = fingerprintOf(current);
  if (known) return { fingerprint: known, method: 'stored' };
  if (current !== 0 || (!options.create && !options.adopt)) return null;
  const adopted = options.adopt && /^sqlite-7[0-9a-f]{7}$/.test(options.adopt) ? parseInt(options.adopt.slice(7), 16) : null;
  const id = adopted ?? ((MARK << 24) | randomInt(0, 1 << 24)) >>> 0;
  try {
    // application_id is a signed 32-bit integer in SQLite's API.
    db.pragma(`application_id = ${id | 0}`);
  } catch {
    return null; // a read-only file: the caller derives the fingerprint from the path
  }
  return { fingerprint: fingerprintOf(id)!, method: 'stored' };
}
