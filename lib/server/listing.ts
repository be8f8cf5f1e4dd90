/**
 * The backup listing for `GET /api/backups`, cached so that a page of 1,000 backups does not cost
 * 1,000 file reads per request. Two layers, both keyed on what the file system says:
 * - every manifest is read and validated once per version of the file (ManifestCache: inode,
 *   size, mtime, ctime), so a new listing re-reads only what changed;
 * - the whole listing is reused while the folder itself is unchanged (its inode, mtime and ctime:
 *   prisma-guard creates, replaces and deletes backups and manifests by rename or unlink, which
 *   change the folder's times). Past `revalidateMs` (1 s) the cached listing is still answered
 *   while every manifest is stat-ed again in the background, so even a manifest edited in place
 *   by hand shows within about a second; a changed folder is always listed afresh first.
 * Concurrent requests share one listing in progress.
 */
import { promises as fs } from 'node:fs';
import type { OpsContext } from '../ops/context.ts';
import { listByDatabase, type GroupedListing } from '../ops/list.ts';
import type { ManifestCache } from '../ops/store.ts';

interface Entry {
  key: string;
  at: number;
  listing: GroupedListing;
}

export class ListingCache {
  readonly manifests: ManifestCache = new Map();
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<GroupedListing>>();

  constructor(private readonly ctx: OpsContext, private readonly revalidateMs = 1000) {}

  private async folderKey(): Promise<string> {
    // An object-storage BACKUP_DIR changes without the working folder knowing (another machine's
    // backups, a prune): the listing is taken afresh every 5 s at most.
    if (this.ctx.primary) return `${this.ctx.primary.location}:${Math.floor(Date.now() / 5000)}`;
    try {
      const st = await fs.stat(this.ctx.backupDir);
      return `${st.ino}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch {
      return 'missing';
    }
  }

  async get(database: string | undefined): Promise<GroupedListing> {
    const filter = database ?? '';
    const key = await this.folderKey();
    const hit = this.entries.get(filter);
    if (hit && hit.key === key) {
      // The folder is unchanged: answer now; past revalidateMs, re-stat every manifest in the background.
      if (Date.now() - hit.at >= this.revalidateMs && !this.inflight.has(filter)) void this.refresh(filter, database, key).catch(() => {});
      return hit.listing;
    }
    return this.inflight.get(filter) ?? this.refresh(filter, database, key);
  }

  private refresh(filter: string, database: string | undefined, key: string): Promise<GroupedListing> {
    const p = listByDatabase(this.ctx, { database, cache: this.manifests })
      .then((listing) => {
        this.entries.set(filter, { key, at: Date.now(), listing });
        if (this.entries.size > 50) this.entries.delete(this.entries.keys().next().value!);
        return listing;
      })
      .finally(() => this.inflight.delete(filter));
    this.inflight.set(filter, p);
    return p;
  }

  /** Forgets everything (after a change the server made itself). */
  clear(): void {
    this.entries.clear();
    this.manifests.clear();
  }
}

/** Serialised response bodies of one listing (a WeakMap key: a new listing drops them). */
export class BodyCache {
  private readonly bodies = new WeakMap<GroupedListing, Map<string, string>>();

  get(listing: GroupedListing, query: string, render: () => string): string {
    let m = this.bodies.get(listing);
    if (!m) this.bodies.set(listing, (m = new Map()));
    let body = m.get(query);
    if (body === undefined) {
      body = render();
      if (m.size < 100) m.set(query, body);
    }
    return body;
  }
}
