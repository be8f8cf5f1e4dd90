import type { PrismaMigrationRow, TableSchema } from '../core/types.ts';
import { migrationsTableKey } from '../core/types.ts';
import type { EncodedValue, SnapshotReader } from '../dialects/dialect.ts';
import type { TableSection } from '../format/writer.ts';
import { TableHasher } from '../format/writer.ts';

/** The tables of a snapshot as sections to write, in schema order. */
export async function* tableSections(reader: SnapshotReader, only?: Set<string>): AsyncGenerator<TableSection> {
  for (const table of reader.schema.tables) {
    if (only && !only.has(table.name)) continue;
    // Both are lazy: the encoder reads the canonical lines where the dialect has them, else the rows.
    yield { table, rows: reader.rows(table), lines: reader.canonicalLines?.(table), again: () => ({ rows: reader.rows(table), lines: reader.canonicalLines?.(table) }) };
  }
}

/** A readable plain value for reports and headers (not for restoring). */
export function plainValue(v: EncodedValue): string | number | boolean | null {
  if (v === null || typeof v !== 'object') return v;
  const tagged = Object.values(v)[0];
  return typeof tagged === 'string' ? tagged : JSON.stringify(v);
}

/** Reads `_prisma_migrations` inside the snapshot (empty when Prisma Migrate was never used). */
export async function readPrismaMigrations(reader: SnapshotReader): Promise<PrismaMigrationRow[]> {
  const table = reader.schema.tables.find((t) => t.name === migrationsTableKey(reader.schema));
  if (!table) return [];
  const out: PrismaMigrationRow[] = [];
  for await (const batch of reader.rows(table)) {
    for (const row of batch) {
      const obj: Record<string, unknown> = {};
      table.columns.forEach((c, i) => (obj[c.name] = plainValue(row[i])));
      obj.applied_steps_count = Number(obj.applied_steps_count ?? 0);
      out.push(obj as unknown as PrismaMigrationRow);
    }
  }
  return out.sort((a, b) => (String(a.started_at ?? '') + a.migration_name < String(b.started_at ?? '') + b.migration_name ? -1 : 1));
}

export interface TableChecksum {
  rows: number;
  sha256: string;
}

export interface ChecksumOptions {
  onRows?: (table: string, rows: number) => void;
  /**
   * The checksums the tables should have (a restore's proof). Tables are then first read in stored
   * order, which skips the sort and matches when a table was filled in canonical order since it was
   * emptied (as a restore fills it); a table that does not match is read again in canonical order,
   * so the result is always the canonical checksum.
   */
  expected?: Record<string, TableChecksum>;
}

/**
 * Runs `fn` for every table, two tables at once when the reader can fork a second connection on the
 * same snapshot (PostgreSQL), else one after the other. Tables are taken from one queue in the order
 * given (pass the biggest first, so the lanes end together). On a failure the other lane stops after
 * its current table, and the fork is closed once both lanes have settled.
 */
export async function forEachTableInLanes(reader: SnapshotReader, tables: TableSchema[], fn: (reader: SnapshotReader, table: TableSchema) => Promise<void>): Promise<void> {
  const queue = [...tables];
  const lane = async (r: SnapshotReader) => {
    try {
      for (let table = queue.shift(); table; table = queue.shift()) await fn(r, table);
    } catch (e) {
      queue.length = 0;
      throw e;
    }
  };
  const helper = tables.length > 1 && reader.fork ? await reader.fork().catch(() => null) : null; // no second connection: one lane
  if (!helper) return lane(reader);
  try {
    const lanes = [lane(reader), lane(helper)];
    await Promise.all(lanes.map((l) => l.catch(() => {})));
    await Promise.all(lanes);
  } finally {
    await helper.close();
  }
}

/** Row count and checksum of every table, computed exactly as backups and `verify` compute them. */
export async function checksumTables(reader: SnapshotReader, tables: TableSchema[] = reader.schema.tables, options: ChecksumOptions = {}): Promise<Record<string, TableChecksum>> {
  const out: Record<string, TableChecksum> = {};
  const expected = options.expected;
  if (expected && reader.canonicalLines && reader.shareTables) {
    // A proof: the stored-order reads, two tables at once where the reader can share them out.
    const proving = tables.filter((t) => expected[t.name]).sort((a, b) => expected[b.name].rows - expected[a.name].rows);
    const share = reader.shareTables(proving, 'stored', proving.reduce((n, t) => n + expected[t.name].rows, 0));
    if (share) {
      try {
        for (let t = share.take(); t; t = share.take()) out[t.name] = await checksumTable(reader, t, options.onRows, 'stored');
      } catch (e) {
        await share.stop();
        throw e;
      }
      // The other thread's tables; should it have failed, the tables it left are read below.
      Object.assign(out, await share.theirs.catch(() => ({})));
    }
  }
  for (const table of tables) {
    const want = expected?.[table.name];
    if (want && reader.canonicalLines) {
      const stored = out[table.name] ?? (await checksumTable(reader, table, options.onRows, 'stored'));
      if (stored.rows === want.rows && stored.sha256 === want.sha256) {
        out[table.name] = stored;
        continue;
      }
    }
    out[table.name] = await checksumTable(reader, table, options.onRows);
  }
  return out;
}

async function checksumTable(reader: SnapshotReader, table: TableSchema, onRows?: (table: string, rows: number) => void, order: 'canonical' | 'stored' = 'canonical'): Promise<TableChecksum> {
  const hasher = new TableHasher();
  if (reader.canonicalLines) {
    // Same bytes as TableHasher.add would hash, without building row objects.
    for await (const chunk of reader.canonicalLines(table, order)) {
      hasher.addLines(chunk);
      onRows?.(table.name, hasher.rows);
    }
  } else {
    for await (const batch of reader.rows(table)) {
      hasher.add(batch);
      onRows?.(table.name, hasher.rows);
    }
  }
  return { rows: hasher.rows, sha256: hasher.digest() };
}
