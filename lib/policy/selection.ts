/**
 * Which backup `latest`, `emergency-restore` and the hints mean: the newest **full** backup **of
 * the target database** (README "What latest means"). Pure: the caller passes what the folder holds
 * and what it knows of the target; nothing here reads the disk or a database.
 *
 * A backup is of the target when its source fingerprint equals the target's. When the target has no
 * fingerprint to read (a database that is gone, or was never backed up), or the backup predates
 * fingerprints (format version 1), the location decides: same dialect, host, port, database (SQLite:
 * file) and schemas; the result says `matchedBy: 'location'`. Safety copies (pre-restore), partial
 * backups (pre-delete, `--tables`), schema-only backups, backups that failed verification and
 * backups of other databases are never chosen; each is listed in `skipped` with the reason. They can
 * still be restored by naming them.
 */
import type { DialectName } from '../core/url.ts';
import { describeLocation, describeScope, sameLocation, type BackupKind, type BackupScope, type BackupSource, type DatabaseIdentity, type SourceLocation } from '../format/source.ts';

export interface SelectionEntry {
  file: string;
  createdAt: string;
  kind: BackupKind;
  scope: BackupScope;
  source: BackupSource;
  /** Last verification: true passed, false failed, null never verified. */
  verified: boolean | null;
  /** With trusted keys configured, its signature state (only `valid` is chosen); null or absent without keys. */
  trust?: 'valid' | 'unsigned' | 'invalid' | 'unknown-key' | null;
}

export interface SelectionTarget {
  dialect: DialectName;
  location: SourceLocation;
  /** The fingerprint stored in the live database; null when it has none or cannot be read. */
  identity: DatabaseIdentity | null;
}

export interface SkippedBackup {
  file: string;
  why: string;
}

export type Candidate = SelectionEntry & { matchedBy: 'fingerprint' | 'location' };

/** Why `e` is not what `latest` means for `target`, or null when it is a candidate. */
function notRestorable(e: SelectionEntry, target: SelectionTarget, reverify: boolean): string | null {
  if (e.source.dialect !== target.dialect) return `a ${e.source.dialect} backup; the target is ${target.dialect}`;
  if (!ofTarget(e, target)) {
    if (sameLocation(e.source, target.location)) {
      return `of an earlier database at the same location (its identity ${e.source.fingerprint} differs from this database's ${target.identity?.fingerprint}: was the database recreated or replaced?)`;
    }
    return `of another database (${describeLocation(e.source)})`;
  }
  if (!sameSchemas(e.source.schemas, target.location.schemas)) {
    return `of other schemas of this database (${e.source.schemas.join(', ')}; the target is ${target.location.schemas.join(', ')}): a different scope`;
  }
  if (e.kind === 'pre-restore') return 'a safety copy of the state a restore replaced';
  if (e.kind === 'pre-delete') return 'holds only the rows of one delete';
  if (e.scope.type !== 'full') return `not a full backup (${describeScope(e.scope)})`;
  if (e.verified === false && !reverify) return 'failed its last verification';
  if (e.trust && e.trust !== 'valid') return e.trust === 'unsigned' ? 'not signed (BACKUP_VERIFY_KEY requires a signature)' : e.trust === 'unknown-key' ? 'signed by a key not in BACKUP_VERIFY_KEY' : 'its signature does not match (changed after signing)';
  return null;
}

function sameSchemas(a: readonly string[], b: readonly string[]): boolean {
  return [...a].sort().join('\u0000') === [...b].sort().join('\u0000');
}

function ofTarget(e: SelectionEntry, target: SelectionTarget): boolean {
  if (target.identity && e.source.fingerprint) return e.source.fingerprint === target.identity.fingerprint;
  return sameLocation(e.source, target.location);
}

/**
 * The backups that `latest` may mean for `target`, newest first, and every other backup with the
 * reason it is not one. `reverify`: the caller verifies each candidate itself, so backups whose last
 * verification failed stay candidates (they get a fresh verdict).
 */
export function rankRestorable(entries: readonly SelectionEntry[], target: SelectionTarget, options: { reverify?: boolean } = {}): { candidates: Candidate[]; skipped: SkippedBackup[] } {
  const sorted = [...entries].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.file < b.file ? 1 : -1));
  const candidates: Candidate[] = [];
  const skipped: SkippedBackup[] = [];
  for (const e of sorted) {
    const why = notRestorable(e, target, options.reverify === true);
    if (why) skipped.push({ file: e.file, why });
    else candidates.push({ ...e, matchedBy: target.identity && e.source.fingerprint ? 'fingerprint' : 'location' });
  }
  return { candidates, skipped };
}
