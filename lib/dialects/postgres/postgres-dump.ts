import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { ColumnSchema, DbSchema, Queryable, TableSchema } from '../../core/types.ts';
import type { EncodedRow, EncodedValue, LoadReceipt, RowFilter, SnapshotReader } from '../dialect.ts';
import { copyOutDigest } from './postgres-copy-digest.ts';
import { copyOutWhereSql } from './postgres-rows-where.ts';
import { CopyTextParser, CopyToJsonLines, type CopyJsonKind } from './postgres-copy-text.ts';
import { introspectPostgres } from './postgres-introspector.ts';
import type { Namespaces } from './postgres-names.ts';
import { readTableRelations, type TableRelations } from './postgres-relations.ts';
import { quoteIdent } from './postgres-sql.ts';

const DEFAULT_BATCH_ROWS = 1000;
/** A batch is also cut at this many bytes of row text, so wide rows do not pile up in memory. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Runs `fn` inside one REPEATABLE READ READ ONLY transaction on `client`: the schema and every
 * table stream and count see the same snapshot of the database. Commits when `fn` resolves, rolls
 * back when it throws. The reader's streams must be consumed one after the other (one connection).
 */
export async function runSnapshot<T>(
  client: pg.Client,
  namespace: Namespaces,
  fn: (reader: SnapshotReader) => Promise<T>,
  openClient?: () => Promise<pg.Client>,
  /** Adds what a full restore needs (SnapshotOptions.fullSchema), read in this snapshot. */
  complete?: (q: Queryable, schema: DbSchema) => Promise<DbSchema>,
): Promise<T> {
  const q = { query: async <R>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as R[] };
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    let schema = await introspectPostgres(q, namespace);
    if (complete) schema = await complete(q, schema);
    const reader = new PostgresSnapshotReader(client, namespace, schema, await readTableRelations(q, namespace), openClient);
    const result = await fn(reader);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

class PostgresSnapshotReader implements SnapshotReader {
  readonly fork?: () => Promise<SnapshotReader & { close(): Promise<void> }>;

  constructor(
    private readonly client: pg.Client,
    private readonly namespace: Namespaces,
    readonly schema: DbSchema,
    /** Which tables are read with ONLY (see postgres-relations.ts), as of this snapshot. */
    private readonly relations: TableRelations,
    openClient?: () => Promise<pg.Client>,
  ) {
    if (openClient) this.fork = () => this.forkOn(openClient);
  }

  /** A reader on a new connection importing this transaction's snapshot (as pg_dump -j does). */
  private async forkOn(openClient: () => Promise<pg.Client>): Promise<SnapshotReader & { close(): Promise<void> }> {
    const { rows } = await this.client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    const helper = await openClient();
    try {
      await helper.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await helper.query(`SET TRANSACTION SNAPSHOT '${rows[0].id.replace(/'/g, "''")}'`);
    } catch (e) {
      await helper.end().catch(() => {});
      throw e;
    }
    const reader = new PostgresSnapshotReader(helper, this.namespace, this.schema, this.relations);
    return Object.assign(reader, {
      close: async () => {
        await helper.query('COMMIT').catch(() => {});
        await helper.end().catch(() => {});
      },
    });
  }

  async count(table: TableSchema): Promise<number> {
    const res = await this.client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${this.relations.own(table.name)}`);
    return Number(res.rows[0].n);
  }

  rows(table: TableSchema, batchSize = DEFAULT_BATCH_ROWS): AsyncIterable<EncodedRow[]> {
    return streamTable(this.client, table, batchSize, copyOutSql(this.relations, table));
  }

  /** The canonical lines straight from COPY output (see SnapshotReader.canonicalLines). */
  canonicalLines(table: TableSchema, order: 'canonical' | 'stored' = 'canonical'): AsyncIterable<Uint8Array> {
    return streamCanonicalLines(this.client, copyOutSql(this.relations, table, order), table, order === 'stored' ? STORED_ORDER_SETTINGS : undefined);
  }

  /**
   * The table's COPY text in stored order, hashed off the wire, against the COPY text the loader
   * sent (see SnapshotReader.matchesLoad and postgres-copy-digest.ts). Server-side this is the
   * proof's one sequential scan; the client only hashes, no conversion back into backup lines.
   */
  async matchesLoad(table: TableSchema, receipt: LoadReceipt): Promise<boolean> {
    const names = table.columns.map((c) => c.name);
    if (names.length !== receipt.columns.length || names.some((n, i) => n !== receipt.columns[i])) return false;
    await this.client.query(STORED_ORDER_SETTINGS);
    const read = await copyOutDigest(this.client, copyOutSql(this.relations, table, 'stored'));
    return read.rows === receipt.rows && read.sha256 === receipt.sha256;
  }

  /** Added for backup-before-delete: see postgres-rows-where.ts. */
  async *rowsWhere(table: TableSchema, filter: RowFilter, batchSize = DEFAULT_BATCH_ROWS): AsyncIterable<EncodedRow[]> {
    for (const sql of copyOutWhereSql(this.relations, table, filter, orderBy(table))) yield* streamTable(this.client, table, batchSize, sql);
  }
}

/**
 * `COPY (SELECT ...) TO STDOUT` for a table's own rows (ONLY, see postgres-relations.ts), in
 * canonical order, or in stored order (one sequential scan, no sort: see SnapshotReader.canonicalLines).
 */
export function copyOutSql(relations: TableRelations, table: TableSchema, order: 'canonical' | 'stored' = 'canonical'): string {
  const cols = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  return `COPY (SELECT ${cols} FROM ${relations.own(table.name)}${order === 'canonical' ? ` ORDER BY ${orderBy(table)}` : ''}) TO STDOUT`;
}

/**
 * A stored-order scan starts at the first block and runs on one process: no joining another scan
 * midway (synchronize_seqscans) and no parallel workers interleaving their rows.
 */
const STORED_ORDER_SETTINGS = 'SET LOCAL synchronize_seqscans = off; SET LOCAL max_parallel_workers_per_gather = 0';

/**
 * Canonical row order. With a primary key: its columns, text ones in byte order (COLLATE "C") so
 * the order does not depend on the database's collation. Without one: every column by the text
 * PostgreSQL prints for it, in byte order, which is a total order on exactly what the backup stores
 * (native ordering would tie 0 and -0, or be impossible for json).
 */
function orderBy(table: TableSchema): string {
  if (table.columns.length === 0) return 'true';
  if (table.primaryKey.length > 0) {
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    return table.primaryKey.map((name) => orderTerm(name, byName.get(name))).join(', ');
  }
  return table.columns.map((c) => `${quoteIdent(c.name)}::text COLLATE "C"`).join(', ');
}

function orderTerm(name: string, column: ColumnSchema | undefined): string {
  const q = quoteIdent(name);
  switch (column?.kind) {
    case 'text':
      return `${q} COLLATE "C"`;
    case 'int':
    case 'bigint':
    case 'decimal':
    case 'float':
    case 'boolean':
    case 'datetime':
    case 'date':
    case 'time':
    case 'uuid':
    case 'enum':
    case 'bytes':
      return q;
    default:
      return `${q}::text COLLATE "C"`; // json has no ordering; arrays/others: order by their text
  }
}

type Decoder = (text: string) => EncodedValue;
const asText: Decoder = (t) => t;
const asInt: Decoder = (t) => Number(t);
const asBool: Decoder = (t) => t === 't';

function decoderFor(column: ColumnSchema): Decoder {
  if (column.kind === 'int') return asInt;
  if (column.kind === 'boolean') return asBool;
  return asText;
}

/** The JSON shape decoderFor gives a column's values (kept next to it: they must agree). */
function jsonKindFor(column: ColumnSchema): CopyJsonKind {
  if (column.kind === 'int') return 'number';
  if (column.kind === 'boolean') return 'boolean';
  return 'string';
}

/**
 * COPY TO a table converted chunk by chunk into canonical backup lines (CopyToJsonLines): the same
 * bytes as rowLine() over what streamTable yields, without building row arrays. A yielded chunk is
 * only valid until the consumer asks for the next one (the converter reuses its buffer, so the
 * proof allocates next to nothing per row).
 */
async function* streamCanonicalLines(client: pg.Client, sql: string, table: TableSchema, settings?: string): AsyncGenerator<Uint8Array> {
  if (settings) await client.query(settings);
  const converter = new CopyToJsonLines(table.columns.map(jsonKindFor), table.name);
  for await (const chunk of copyOut(client, sql)) {
    const out = converter.push(chunk);
    if (out.length > 0) yield out;
  }
  converter.end();
}

/**
 * The chunks of a `COPY ... TO STDOUT`. When the consumer stops early (or throws while handling a
 * chunk) the rest is read and discarded, so the connection leaves COPY mode and can still
 * COMMIT/ROLLBACK; a for-await over the raw stream would destroy it and leave the connection stuck.
 */
async function* copyOut(client: pg.Client, sql: string): AsyncGenerator<Buffer> {
  const chunks = client.query(copyStreams.to(sql))[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let finished = false;
  let failed = false;
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (e) {
        failed = true;
        throw e;
      }
      if (next.done) {
        finished = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!finished && !failed) {
      try {
        while (!(await chunks.next()).done) {
          /* discard */
        }
      } catch {
        /* the stream failed while draining: the transaction is rolled back by the caller */
      }
    }
  }
}

/**
 * Streams one table with COPY TO in text format, parsing the output as it arrives. Pulls the next
 * chunk only when the consumer asks for the next batch, so memory stays bounded by one batch plus
 * the socket buffers whatever the table size.
 */
async function* streamTable(client: pg.Client, table: TableSchema, batchSize: number, sql: string): AsyncGenerator<EncodedRow[]> {
  const decoders = table.columns.map(decoderFor);
  const width = decoders.length;
  const parser = new CopyTextParser();
  let rowNumber = 0;
  let batch: EncodedRow[] = [];
  let batchBytes = 0;
  for await (const chunk of copyOut(client, sql)) {
    batchBytes += chunk.length;
    for (const fields of parser.push(chunk)) {
      rowNumber++;
      if (fields.length !== width) {
        throw new Error(`COPY of table "${table.name}" returned ${fields.length} columns on row ${rowNumber}, expected ${width}`);
      }
      const row: EncodedRow = new Array(width);
      for (let i = 0; i < width; i++) {
        const text = fields[i];
        row[i] = text === null ? null : decoders[i](text);
      }
      batch.push(row);
      if (batch.length >= batchSize || batchBytes >= MAX_BATCH_BYTES) {
        const out = batch;
        batch = [];
        batchBytes = parser.pendingBytes;
        yield out;
      }
    }
  }
  parser.end();
  if (batch.length > 0) yield batch;
}
