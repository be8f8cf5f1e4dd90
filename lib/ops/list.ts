import type { BackupManifest } from '../format/manifest.ts';
import { describeLocation } from '../format/source.ts';
import { databaseKeys } from '../policy/retention.ts';
import type { OpsContext } from './context.ts';
import type { BackupListing, ManifestCache } from './store.ts';
import { primaryListing } from './primary.ts';

/** The backups of one source database. */
export interface DatabaseGroup {
  /** The retention/selection key: the source fingerprint (or `location:…` for version-1 backups of an unknown database). */
  database: string;
  /** e.g. `postgres 127.0.0.1:5432/app (public)`. */
  label: string;
  /** Newest first. */
  backups: BackupManifest[];
}

/** The folder's backups grouped by the database they are of (one folder may hold many databases). */
export function groupByDatabase(backups: readonly BackupManifest[]): DatabaseGroup[] {
  const key = databaseKeys(backups);
  const groups = new Map<string, DatabaseGroup>();
  for (const m of backups) {
    const k = key(m);
    if (!groups.has(k)) groups.set(k, { database: k, label: describeLocation(m.source), backups: [] });
    groups.get(k)!.backups.push(m);
  }
  return [...groups.values()];
}

/**
 * Whether a group matches a `--database` filter: a prefix of its fingerprint, or a substring of its
 * label (`app`, `127.0.0.1:5432/app`, `prisma/dev.db`).
 */
export function matchesDatabase(group: Pick<DatabaseGroup, 'database' | 'label'>, filter: string | undefined): boolean {
  if (!filter) return true;
  return group.database.startsWith(filter) || group.label.includes(filter);
}

export interface GroupedListing extends BackupListing {
  databases: DatabaseGroup[];
  /** Where backups live (the folder, or an object-storage BACKUP_DIR). */
  location: string;
  /** Backups written but not uploaded yet to an object-storage BACKUP_DIR (see lib/ops/primary.ts). */
  pending: string[];
}

/** listBackups, grouped by source database and filtered by `database` (see matchesDatabase). */
export async function listByDatabase(ctx: OpsContext, options: { database?: string; cache?: ManifestCache } = {}): Promise<GroupedListing> {
  const listing = await primaryListing(ctx, { cache: options.cache });
  const databases = groupByDatabase(listing.backups).filter((g) => matchesDatabase(g, options.database));
  const kept = new Set(databases.flatMap((g) => g.backups.map((m) => m.file)));
  return { backups: listing.backups.filter((m) => kept.has(m.file)), stray: listing.stray, databases, location: listing.location, pending: listing.pending.filter((f) => kept.has(f)) };
}
