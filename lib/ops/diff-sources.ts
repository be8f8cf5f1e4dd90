import path from 'node:path';
import { GuardError } from '../core/errors.ts';
import type { TableSchema } from '../core/types.ts';
import type { Connection, EncodedRow, SnapshotReader } from '../dialects/dialect.ts';
import { connect } from '../dialects/index.ts';
import type { BackupHeader } from '../format/header.ts';
import { manifestFileName } from '../format/naming.ts';
import type { DecryptionKeys } from '../pipeline/age.ts';
import { openBackup, type BackupFile, type BackupSection, type OpenedBackup } from '../format/reader.ts';
import { resolveGiven } from './select.ts';
import type { OpsContext } from './context.ts';
import { diffSides, type DiffOptions, type DiffReport, type DiffSide } from './diff.ts';
import { readManifest } from './store.ts';
import { openBackupAt, remoteNameOf } from './primary.ts';

/**
 * A backup file as a diff side. Tables are read in file order from one open stream; asking for a
 * table that lies behind the current position (the fallback re-reads a table) reopens the file.
 * Every section passes the reader's count and checksum checks, and `finish()` reads to the trailer,
 * so a diff also proves the backup intact.
 */
export class BackupFileSide {
  private opened: OpenedBackup | null = null;
  private sections: AsyncGenerator<BackupSection> | null = null;
  private position = 0;
  private readonly order: string[];

  private constructor(
    /** A path, or a BackupFile opened once by the caller (a restore reads everything through it). */
    readonly filePath: string | BackupFile,
    readonly file: string,
    readonly header: BackupHeader,
    private readonly counts: Record<string, number> | null,
    private readonly keys: DecryptionKeys | null | undefined,
  ) {
    this.order = header.schema.tables.map((t) => t.name);
  }

  static async open(filePath: string | BackupFile, file: string, keys?: DecryptionKeys | null): Promise<BackupFileSide> {
    const first = await openBackup(filePath, file, { keys });
    await first.close();
    let counts: Record<string, number> | null = null;
    try {
      const m = await readManifest(path.join(path.dirname(typeof filePath === 'string' ? filePath : filePath.path), manifestFileName(file)));
      counts = Object.fromEntries(Object.entries(m.tables).map(([k, v]) => [k, v.rows]));
    } catch {
      // no manifest: counts are only a sizing hint for the fallback
    }
    return new BackupFileSide(filePath, file, first.header, counts, keys);
  }

  /** The diff side; its row streams must be read one after the other. */
  side(): DiffSide {
    return {
      kind: 'backup',
      name: this.file,
      createdAt: this.header.createdAt,
      reason: this.header.reason,
      schema: this.header.schema,
      source: (table) => ({ table, rows: () => this.rows(table.name), count: async () => this.counts?.[table.name] ?? null }),
    };
  }

  private async reopen(): Promise<void> {
    await this.close();
    this.opened = await openBackup(this.filePath, this.file, { keys: this.keys });
    this.sections = this.opened.sections();
    this.position = 0;
  }

  /** Streams one table's rows. Pulls with next() only: an abandoned section is drained by the reader. */
  async *rows(name: string): AsyncGenerator<EncodedRow[]> {
    const at = this.order.indexOf(name);
    if (at < 0) throw new GuardError('USAGE', `${this.file} has no table "${name}".`);
    if (!this.sections || at < this.position) await this.reopen();
    for (;;) {
      const s = await this.sections!.next();
      if (s.done) throw new GuardError('BACKUP_CORRUPT', `${this.file} ended before table "${name}".`);
      this.position++;
      if (s.value.table.name !== name) continue;
      const it = s.value.rows[Symbol.asyncIterator]();
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    }
  }

  /** Reads the rest of the file (checks every remaining table and the trailer) and closes it. */
  async finish(): Promise<void> {
    if (!this.sections) await this.reopen();
    for (;;) {
      const s = await this.sections!.next();
      if (s.done) break;
    }
    await this.close();
  }

  async close(): Promise<void> {
    if (this.opened) await this.opened.close();
    this.opened = null;
    this.sections = null;
  }
}

/** The live database inside one snapshot as a diff side. */
export function liveSide(reader: SnapshotReader, display: string): DiffSide {
  return {
    kind: 'live',
    name: display,
    schema: reader.schema,
    source: (table: TableSchema) => ({ table, rows: () => reader.rows(table), count: () => reader.count(table) }),
  };
}

function sameDialect(a: { dialect: string }, b: { dialect: string }, what: string): void {
  if (a.dialect !== b.dialect) {
    throw new GuardError('USAGE', `Cannot compare ${what}: one is ${a.dialect}, the other ${b.dialect}; values are encoded differently.`, { hint: 'Compare backups of the same kind of database.' });
  }
}

/**
 * What a diff side reads: a local path as before, or a backup in an object-storage BACKUP_DIR
 * opened by ranges (nothing to close: each read is its own request).
 */
async function sourceAt(ctx: OpsContext, p: string, file: string): Promise<string | BackupFile> {
  return remoteNameOf(ctx, p) ? openBackupAt(ctx, p, file) : p;
}

/** Compares two backups of the backup folder (names, `latest`, or paths inside it). */
export async function diffBackups(ctx: OpsContext, a: string, b: string, options: DiffOptions = {}): Promise<DiffReport> {
  const ra = await resolveGiven(ctx, a);
  const rb = await resolveGiven(ctx, b);
  const left = await BackupFileSide.open(await sourceAt(ctx, ra.path, ra.file), ra.file, ctx.encryption?.keys);
  const right = await BackupFileSide.open(await sourceAt(ctx, rb.path, rb.file), rb.file, ctx.encryption?.keys);
  try {
    sameDialect(left.header, right.header, `${ra.file} with ${rb.file}`);
    const report = await diffSides(left.side(), right.side(), { ...options, onTable: (t) => ctx.reporter.progress(`diff ${t}`, 0) });
    if (!options.tables?.length) {
      await left.finish();
      await right.finish();
    }
    return report;
  } finally {
    await left.close();
    await right.close();
  }
}

/** Compares a backup (left, older) with the live database (right) inside one consistent snapshot. */
export async function diffWithLive(ctx: OpsContext, a: string, options: DiffOptions = {}): Promise<DiffReport> {
  const ra = await resolveGiven(ctx, a);
  const left = await BackupFileSide.open(await sourceAt(ctx, ra.path, ra.file), ra.file, ctx.encryption?.keys);
  try {
    sameDialect(left.header, ctx.target, `${ra.file} with ${ctx.target.display}`);
    const conn = await connect(ctx.target);
    try {
      return await conn.snapshot(async (reader) => {
        const report = await diffSides(left.side(), liveSide(reader, ctx.target.display), { ...options, onTable: (t) => ctx.reporter.progress(`diff ${t}`, 0) });
        if (!options.tables?.length) await left.finish();
        return report;
      });
    } finally {
      await conn.close();
    }
  } finally {
    await left.close();
  }
}

/** What a restore would do to each table's rows, relative to the live data. */
export interface RowChanges {
  /** Live rows the backup does not have. */
  delete: number;
  /** Backup rows the live table does not have. */
  insert: number;
  /** Same primary key, other values. */
  update: number;
  unchanged: number;
}

/**
 * The diff engine applied to a restore plan: compares `tables` of the backup (as it would be loaded)
 * with the live rows, inside one snapshot on `conn`.
 */
export async function restoreRowChanges(conn: Connection, filePath: string | BackupFile, file: string, tables: string[], keys?: DecryptionKeys | null): Promise<Record<string, RowChanges>> {
  const left = await BackupFileSide.open(filePath, file, keys);
  try {
    return await conn.snapshot(async (reader) => {
      const report = await diffSides(left.side(), liveSide(reader, conn.target.display), { tables, limit: 0 });
      return Object.fromEntries(report.tables.map((t) => [t.table, { delete: t.added, insert: t.removed, update: t.changed, unchanged: t.unchanged }]));
    });
  } finally {
    await left.close();
  }
}
