import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { GuardError, isGuardError, messageOf } from '../../core/errors.ts';
import type { Queryable, SequenceSchema, TableSchema } from '../../core/types.ts';
import type { DatabaseTarget } from '../../core/url.ts';
import { canonicalRowError, unreproducibleError, type EncodedRow, type LoadOptions, type LoadReceipt, type LoadResult, type RowLineItem, type TableData } from '../dialect.ts';
import { CanonicalItemCheck } from '../long-line.ts';
import { CopyFrameHasher } from './postgres-copy-digest.ts';
import { CopyValueError, encodeCopyRow, JsonLinesToCopy } from './postgres-copy-text.ts';
import { postgresCanonicalRules } from './postgres-values.ts';
import { compareCatalogs, describeDifference, readCatalog } from './postgres-catalog.ts';
import { statementRole } from './postgres-schema-dump.ts';
import type { Namespaces } from './postgres-names.ts';
import { readTableRelations } from './postgres-relations.ts';
import { qualify, quoteIdent } from './postgres-sql.ts';

/**
 * How long a restore waits for a table lock held by the application before giving up (and rolling
 * back) instead of queueing behind it for ever; while we wait, new queries on that table queue
 * behind us, so a short wait keeps the application responsive.
 */
const LOCK_TIMEOUT = '15s';

/** maintenance_work_mem for the index builds after the load (server memory, this transaction only). */
const INDEX_BUILD_MEMORY = '256MB';

/** Where the load was when it failed, for the error message. */
interface Progress {
  stage: string;
  table?: string;
  row?: number;
}

/** A problem with a value of the backup itself (not reported by the server). */
class RowError extends Error {
  constructor(
    readonly table: string,
    readonly row: number,
    message: string,
  ) {
    super(message);
  }
}

interface LiveForeignKey {
  schema: string;
  table: string;
  name: string;
  definition: string;
}

/**
 * An index (or the PRIMARY KEY / UNIQUE / EXCLUDE constraint it backs) of a table being loaded, dropped
 * before the COPY and rebuilt after it inside the same transaction: one sorted build per index is
 * several times cheaper than maintaining every index row by row (this is what pg_restore does too).
 * A partitioned table's index is a tree (one index per partition, attached to the parent's): it is
 * dropped whole and rebuilt as pg_restore does, each index under its own name, then attached.
 */
interface DeferredIndex {
  /** The table the index is on, for the progress message. */
  table: string;
  drop: string;
  rebuild: string[];
}

interface LiveTrigger {
  /** The trigger's own relation: a restored table or one of its partitions. */
  schema: string;
  table: string;
  name: string;
  enabled: string; // pg_trigger.tgenabled: O (origin), A (always), R (replica)
}

/**
 * `tables` and, for partitioned ones, every partition below them (what TRUNCATE and COPY reach), as
 * a SQL relation `restored(oid)` taking the qualified table names as $1.
 */
const RESTORED_RELATIONS = `restored AS (
       SELECT r.oid FROM unnest($1::text[]::regclass[]) AS r(oid)
       UNION
       SELECT p.relid FROM unnest($1::text[]::regclass[]) AS r(oid), pg_partition_tree(r.oid) AS p
     )`;

/**
 * Loads a backup in ONE transaction: on any error everything is rolled back and the database is
 * exactly as before. See LoadOptions for the two modes. Errors become GuardError RESTORE_FAILED
 * naming the stage, table and row; GuardErrors raised by the caller's own code (the data source or
 * beforeCommit) are rethrown unchanged after the rollback.
 */
export async function loadPostgres(client: pg.Client, target: DatabaseTarget, ns: Namespaces, options: LoadOptions): Promise<LoadResult> {
  const q: Queryable = { query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[] };
  const progress: Progress = { stage: 'starting the transaction' };
  const rowsByTable: Record<string, number> = {};
  const receipts: Record<string, LoadReceipt> = {};
  const backupTables = new Map(options.schema.tables.map((t) => [t.name, t]));
  const restoring = new Set(options.tables);

  // READ COMMITTED whatever default_transaction_isolation says: COPY FREEZE (below) refuses to run
  // in a transaction that holds a snapshot from an earlier statement.
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    // The load may legitimately run long, or wait on the backup reader between statements.
    await client.query(`SET LOCAL statement_timeout = 0`);
    await client.query(`SET LOCAL idle_in_transaction_session_timeout = 0`);
    // Index builds after the load sort in memory up to this much instead of spilling to disk.
    await client.query(`SET LOCAL maintenance_work_mem = '${INDEX_BUILD_MEMORY}'`);
    // Every name below is qualified; pg_catalog first keeps catalog definitions fully qualified.
    await client.query(`SET LOCAL search_path = pg_catalog`);

    for (const name of options.tables) {
      if (!backupTables.has(name)) throw new Error(`table "${name}" is not in the backup's schema`);
    }

    const fromPgDump = options.schema.ddlSource === 'pg_dump';
    let foreignKeys: LiveForeignKey[] = [];
    let triggers: LiveTrigger[] = [];
    let deferred: DeferredIndex[] = [];
    if (options.mode === 'full') {
      if ((options.schema.namespace || options.schema.namespaces) && !ns.sameAs(options.schema)) {
        const theirs = options.schema.namespaces ?? [options.schema.namespace!];
        throw new GuardError(
          'SCHEMA_MISMATCH',
          `The backup holds ${theirs.length > 1 ? 'schemas' : 'schema'} ${theirs.map((n) => `"${n}"`).join(', ')} but the target is ${ns.describe()}; a full restore recreates the objects in the schemas they came from.`,
          {
            hint: theirs.length > 1 || ns.multi
              ? `Restore with --schemas ${theirs.join(',')} (or the same \`schemas\` in the Prisma datasource).`
              : `Restore into ?schema=${theirs[0]}, or create the tables in "${ns.primary}" (prisma migrate deploy) and use a data-only restore.`,
          },
        );
      }
      const lost = options.schema.unreproducible ?? [];
      if (lost.length) throw unreproducibleError(`the backup`, lost); // restore.ts refuses earlier; never run a lossy full restore
      progress.stage = 'dropping the existing objects';
      for (const n of ns.list) await q.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(n)}`);
      await dropSchemaObjects(q, ns.list);
      if (fromPgDump) {
        // pg_dump's DDL recreates everything in the schema. The schema itself stays (its privileges
        // as the server set them: pg_dump writes only the changes from those), so its CREATE is skipped.
        await dropRemainingObjects(q, ns.list);
        // As pg_dump's script: function bodies may name tables created later.
        await q.query(`SET LOCAL check_function_bodies = false`);
      }
      progress.stage = 'creating the schema';
      for (const statement of ddlToRun(options.schema.ddl, options)) if (!(fromPgDump && /^CREATE SCHEMA /.test(statement))) await q.query(statement);
      // The ddl creates each table with its PRIMARY KEY (the rest is in postDdl): build it after the load.
      deferred = await dropIndexesForLoad(q, ns, options.tables);
    } else {
      progress.stage = 'preparing the tables';
      await checkTablesExist(q, ns, options.tables);
      foreignKeys = await foreignKeysTouching(q, ns, options.tables);
      for (const fk of foreignKeys) {
        await q.query(`ALTER TABLE ${qualify(fk.schema, fk.table)} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
      }
      // Data-mode restores put rows back as they were; user triggers (audit, updated_at...) must not
      // rewrite or duplicate them. Foreign-key triggers are gone with the constraints above.
      triggers = await enabledUserTriggers(q, ns, options.tables);
      // ONLY: each trigger by itself (a partitioned table's DISABLE would also reach its partitions'
      // clones, whatever state each clone was in, and ENABLE afterwards would not give that back).
      for (const t of triggers) {
        await q.query(`ALTER TABLE ONLY ${qualify(t.schema, t.table)} DISABLE TRIGGER ${quoteIdent(t.name)}`);
      }
      if (options.tables.length > 0 && !options.keepExisting) {
        // A table's own rows only: the children of an inheritance parent are tables of their own,
        // restored (or kept) as such. A partitioned table is emptied with its partitions.
        const relations = await readTableRelations(q, ns);
        await q.query(`TRUNCATE TABLE ${options.tables.map((t) => relations.own(t)).join(', ')}`);
        // The tables are empty now and their foreign keys are gone: build their indexes after the load.
        deferred = await dropIndexesForLoad(q, ns, options.tables);
      }
    }

    progress.stage = 'loading rows';
    const seen = new Set<string>();
    for await (const section of options.data) {
      const name = section.table.name;
      if (!restoring.has(name)) {
        for await (const _ of section.pieces ?? section.lines ?? section.rows) {
          /* not restored: consume the section to reach the next one */
        }
        continue;
      }
      if (seen.has(name)) throw new Error(`the backup holds two sections for table "${name}"`);
      seen.add(name);
      progress.table = name;
      progress.row = undefined;
      const copied = await copyIn(client, q, ns, section, progress, !options.keepExisting, options.onProgress);
      rowsByTable[name] = copied.rows;
      if (copied.receipt) receipts[name] = copied.receipt;
    }
    progress.table = undefined;
    progress.row = undefined;
    const missing = options.tables.filter((t) => !seen.has(t));
    if (missing.length > 0) throw new Error(`the backup has no rows section for ${missing.map((t) => `"${t}"`).join(', ')}`);

    progress.stage = 'building primary keys, unique constraints and indexes (checks every row)';
    for (const d of deferred) {
      progress.table = d.table;
      for (const statement of d.rebuild) await q.query(statement);
    }
    progress.table = undefined;

    if (options.mode === 'full') {
      progress.stage = 'creating indexes, constraints and foreign keys (checks every row)';
      for (const statement of ddlToRun(options.schema.postDdl, options)) await q.query(statement);
    } else {
      progress.stage = 're-adding foreign keys (checks every reference)';
      for (const fk of foreignKeys) {
        await q.query(`ALTER TABLE ${qualify(fk.schema, fk.table)} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`);
      }
      for (const t of triggers) {
        const how = t.enabled === 'A' ? 'ENABLE ALWAYS' : t.enabled === 'R' ? 'ENABLE REPLICA' : 'ENABLE';
        await q.query(`ALTER TABLE ONLY ${qualify(t.schema, t.table)} ${how} TRIGGER ${quoteIdent(t.name)}`);
      }
    }

    progress.stage = 'setting sequences';
    await setSequences(q, ns, options);

    if (options.mode === 'full' && options.schema.catalog) {
      progress.stage = 'comparing the schema object by object';
      await proveCatalog(q, ns, options);
    }

    progress.stage = 'final check before commit';
    if (options.beforeCommit) {
      await client.query(`SET LOCAL search_path = ${ns.searchPath().map(quoteIdent).join(', ')}`); // the caller's queries see the schema
      await options.beforeCommit(q);
    }
    progress.stage = 'committing';
    await client.query('COMMIT');
    return { rowsByTable, receipts };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    if (isGuardError(e)) throw e;
    throw restoreFailed(e, progress, target, ns);
  }
}

function restoreFailed(e: unknown, progress: Progress, target: DatabaseTarget, ns: Namespaces): GuardError {
  const err = e as { code?: string; detail?: string; where?: string; constraint?: string };
  let table = progress.table;
  let row = progress.row;
  if (e instanceof RowError) {
    table = e.table;
    row = e.row;
  } else if (err?.where) {
    const m = /COPY ([^,]+), line (\d+)/.exec(err.where);
    if (m) row = Number(m[2]);
  }
  const at = table ? ` in table "${table}"${row !== undefined ? `, row ${row}` : ''}` : '';
  const detail = err?.detail ? ` (${err.detail})` : '';
  return new GuardError(
    'RESTORE_FAILED',
    `Restore into ${target.database} (${ns.multi ? `schemas ${ns.list.join(', ')}` : `schema ${ns.list[0]}`}) failed while ${progress.stage}${at}: ${messageOf(e)}${detail}. ` +
      'Everything was rolled back; the database is unchanged.',
    {
      hint: err?.code === '55P03'
        ? 'Another session holds a lock on a table being restored: stop the application (or its long transaction) and retry.'
        : 'Check that the backup matches the target (prisma-guard verify <backup>), fix the cause above and retry.',
      cause: e,
      details: { stage: progress.stage, table, row, sqlstate: err?.code, constraint: err?.constraint },
    },
  );
}

/**
 * COPY FROM STDIN for one section, streaming: a batch is encoded only when the server has taken the
 * previous ones (pipeline backpressure). Stored generated columns are left to the server.
 * `emptied`: the table was created or truncated earlier in this transaction. The COPY then runs
 * with FREEZE: rows are written frozen and all-visible, so the first reads after COMMIT (the proof,
 * the application) need not set hint bits and rewrite every page; TRUNCATE already gave up MVCC
 * for older snapshots, so FREEZE gives up nothing more. When every column is written, the result
 * also carries a LoadReceipt for the proof: the digest of the COPY text sent, framed as the server
 * frames COPY output (CopyFrameHasher), so that reading the table back needs only a hash.
 */
async function copyIn(client: pg.Client, q: Queryable, ns: Namespaces, section: TableData, progress: Progress, emptied: boolean, onProgress?: (table: string, rows: number) => void): Promise<{ rows: number; receipt?: LoadReceipt }> {
  const table = section.table;
  const live = await q.query<{ name: string; generated: string; kind: string }>(
    `SELECT attname AS name, attgenerated::text AS generated, (SELECT relkind::text FROM pg_class WHERE oid = attrelid) AS kind
       FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [ns.sql(table.name)],
  );
  // A partitioned table takes no FREEZE (its partitions were not truncated as such).
  const freeze = emptied && live[0]?.kind === 'r';
  const liveGenerated = new Map(live.map((c) => [c.name, c.generated === 's']));
  const missing = table.columns.filter((c) => !liveGenerated.has(c.name)).map((c) => c.name);
  if (missing.length > 0) {
    throw new GuardError('SCHEMA_MISMATCH', `Table "${table.name}" has no column ${missing.map((c) => `"${c}"`).join(', ')} but the backup has.`, {
      hint: 'Bring the schema to the backup\'s version (prisma migrate deploy) or do a full restore.',
    });
  }
  const width = table.columns.length;
  const include = table.columns.map((c, i) => (liveGenerated.get(c.name) ? -1 : i)).filter((i) => i >= 0);
  const columnList = include.map((i) => quoteIdent(table.columns[i].name)).join(', ');
  // Generated columns are not written, so what was sent would not show all of a row: no receipt.
  const sent = emptied && include.length === width ? new CopyFrameHasher() : null;
  let count = 0;

  const columnName = (i: number) => table.columns[i].name;
  const rules = postgresCanonicalRules(table);
  /** Runs `fn`, naming the table in a CopyValueError (a value no column takes). */
  const valueErrors = <T,>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof CopyValueError) throw new RowError(table.name, e.row, e.message);
      throw e;
    }
  };

  /**
   * Canonical lines translated to COPY bytes without parsing them (the common path). A long line
   * (one large value) comes in pieces: each is checked (LongLineCheck), translated and sent before
   * the next is read, so the server stores the value while the rest is still being decompressed,
   * and memory stays bounded by a piece.
   */
  async function* fromLines(lines: AsyncIterable<RowLineItem>): AsyncGenerator<Buffer> {
    const converter = new JsonLinesToCopy(width, include, columnName);
    const check = new CanonicalItemCheck(rules);
    for await (const item of lines) {
      // The canonical check (as verify's) before the bytes are sent: a file swapped after it was
      // verified, or never verified, still cannot commit a row the proof would then find changed
      // (a bad line fails the COPY, and the load rolls back). Whole lines are checked in the same
      // pass that translates them (convertCanonical).
      if ('piece' in item) {
        check.check(item);
        const out = valueErrors(() => converter.convertPiece(item.bytes, item.first, item.last, item.invalid));
        sent?.addPiece(out, item.last);
        if (item.last) {
          count++;
          progress.row = count;
          onProgress?.(table.name, count);
        }
        if (out.length) yield out;
        continue;
      }
      const run = item;
      const out = valueErrors(() => converter.convertCanonical(run, rules));
      count += run.rows;
      progress.row = count;
      sent?.update(out);
      if (out.length) yield out;
      onProgress?.(table.name, count);
    }
  }

  /** Parsed rows encoded one by one (sources that only have rows). */
  async function* fromRows(rows: AsyncIterable<EncodedRow[]>): AsyncGenerator<string> {
    for await (const batch of rows) {
      let chunk = '';
      for (const row of batch) {
        count++;
        progress.row = count;
        if (!Array.isArray(row) || row.length !== width) {
          throw new RowError(table.name, count, `the row has ${Array.isArray(row) ? row.length : 'no'} values, the table has ${width} columns`);
        }
        const why = canonicalRowError(row, rules);
        if (why) throw new GuardError('BACKUP_CORRUPT', `The backup's table "${table.name}", row ${count}, ${why}.`, { hint: 'Use another backup (`prisma-guard list`); `prisma-guard verify` checks them all.' });
        chunk += valueErrors(() => encodeCopyRow(row, include, columnName, count));
      }
      sent?.update(Buffer.from(chunk, 'utf8'));
      if (chunk) yield chunk;
      onProgress?.(table.name, count);
    }
  }

  const lines = section.pieces ?? section.lines;
  const chunks = lines ? fromLines(lines) : fromRows(section.rows);
  if (include.length === 0) {
    // Nothing to write (only generated columns): still consume the section.
    for await (const _ of chunks) {
      /* empty */
    }
    return { rows: count };
  }
  const sink = client.query(copyStreams.from(`COPY ${ns.sql(table.name)} (${columnList}) FROM STDIN${freeze ? ' WITH (FREEZE)' : ''}`));
  // Two encoded batches ahead of the socket are enough to keep the server busy; more only costs memory.
  await pipeline(Readable.from(chunks, { highWaterMark: 2 }), sink);
  progress.row = undefined;
  return { rows: count, receipt: sent ? { columns: table.columns.map((c) => c.name), rows: count, sha256: sent.digest() } : undefined };
}

async function checkTablesExist(q: Queryable, ns: Namespaces, tables: string[]): Promise<void> {
  if (tables.length === 0) return;
  const split = tables.map((t) => ns.split(t));
  const rows = await q.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [split.map((t) => t.namespace), split.map((t) => t.name)],
  );
  const found = new Set(rows.map((r) => ns.key(r.schema, r.name)));
  const missing = tables.filter((t) => !found.has(t));
  if (missing.length > 0) {
    throw new GuardError('SCHEMA_MISMATCH', `The target ${ns.describe()} has no table ${missing.map((t) => `"${t}"`).join(', ')}.`, {
      hint: 'Apply the migrations of the backup (prisma migrate deploy) or do a full restore.',
    });
  }
}

/**
 * Every foreign key from or to one of `tables` or their partitions (including from other schemas),
 * as the catalog has it now. A constraint a partitioned table gave its partitions (conparentid) goes
 * and comes back with its parent, so only the parent is listed.
 */
async function foreignKeysTouching(q: Queryable, ns: Namespaces, tables: string[]): Promise<LiveForeignKey[]> {
  if (tables.length === 0) return [];
  return q.query<LiveForeignKey>(
    `WITH ${RESTORED_RELATIONS}
     SELECT n.nspname AS schema, c.relname AS table, k.conname AS name, pg_get_constraintdef(k.oid) AS definition
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype = 'f' AND k.conparentid = 0
        AND (k.conrelid IN (SELECT oid FROM restored) OR k.confrelid IN (SELECT oid FROM restored))
      ORDER BY n.nspname, c.relname, k.conname`,
    [tables.map((t) => ns.sql(t))],
  );
}

/**
 * Whether the index `x.indexrelid` (`i`, backing constraint `k` or none) can be dropped and re-created
 * exactly from the catalog: valid, no tablespace, comment, statistics target, replica-identity or
 * CLUSTER mark, and nothing else depends on the index or its constraint (a foreign key from a table
 * not being restored, a view relying on the primary key for GROUP BY...: dropping it would fail or
 * cascade). `members`: a SQL set of index oids whose dependencies on each other do not count (the
 * indexes of one partitioned index tree).
 */
const rebuildable = (members: string) => `(
        x.indisvalid AND x.indisready AND NOT x.indisreplident AND NOT x.indisclustered
        AND i.reltablespace = 0
        AND obj_description(x.indexrelid, 'pg_class') IS NULL
        AND (k.oid IS NULL OR obj_description(k.oid, 'pg_constraint') IS NULL)
        AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = x.indexrelid AND COALESCE(a.attstattarget, -1) <> -1)
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE ((d.refclassid = 'pg_class'::regclass AND d.refobjid = x.indexrelid)
                                OR (d.refclassid = 'pg_constraint'::regclass AND d.refobjid = k.oid))
                           AND NOT (d.classid = 'pg_class'::regclass AND d.objid IN (${members}))
                           AND NOT (d.classid = 'pg_constraint'::regclass
                                    AND d.objid IN (SELECT mk.oid FROM pg_constraint mk WHERE mk.conindid IN (${members}) AND mk.contype IN ('p', 'u', 'x')))))`;

/**
 * Drops the indexes of `tables` and of their partitions (with the PRIMARY KEY / UNIQUE / EXCLUDE
 * constraints they back) and returns how to rebuild them. Only what the catalog can re-create
 * exactly is deferred (see `rebuildable`); a partitioned index only when every index of its tree
 * is. The rest is left in place and maintained row by row as before.
 */
async function dropIndexesForLoad(q: Queryable, ns: Namespaces, tables: string[]): Promise<DeferredIndex[]> {
  if (tables.length === 0) return [];
  const params = [tables.map((t) => ns.sql(t))];
  const plain = await q.query<{ schema: string; table: string; name: string; constraint: string | null; definition: string }>(
    `WITH ${RESTORED_RELATIONS}
     SELECT n.nspname AS schema, c.relname AS table, i.relname AS name, k.conname AS constraint,
            CASE WHEN k.oid IS NULL THEN pg_get_indexdef(x.indexrelid) ELSE pg_get_constraintdef(k.oid) END AS definition
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class c ON c.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')
      WHERE x.indrelid IN (SELECT oid FROM restored) AND c.relkind = 'r'
        -- a partition's index attached to its parent's goes with the parent's tree (below)
        AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = x.indexrelid)
        AND ${rebuildable('x.indexrelid')}
      ORDER BY n.nspname, c.relname, (k.contype = 'p') IS NOT TRUE, i.relname`,
    params,
  );
  const deferred: DeferredIndex[] = plain.map((d) => {
    const table = qualify(d.schema, d.table);
    return d.constraint === null
      ? { table: d.table, drop: `DROP INDEX ${qualify(d.schema, d.name)}`, rebuild: [d.definition] }
      : { table: d.table, drop: `ALTER TABLE ${table} DROP CONSTRAINT ${quoteIdent(d.constraint)}`, rebuild: [`ALTER TABLE ${table} ADD CONSTRAINT ${quoteIdent(d.constraint)} ${d.definition}`] };
  });

  // Partitioned indexes: each top one (not attached to another) with its tree, level by level.
  const trees = await q.query<{ top: string; level: number; schema: string; table: string; name: string; parent: string | null; constraint: string | null; definition: string; ok: boolean }>(
    `WITH ${RESTORED_RELATIONS},
     members AS (
       SELECT x.indexrelid AS top, p.relid AS oid, p.parentrelid AS parent, p.level
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid, pg_partition_tree(x.indexrelid) AS p
        WHERE x.indrelid IN (SELECT oid FROM restored) AND i.relkind = 'I'
          AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = x.indexrelid)
     )
     SELECT m.top::text AS top, m.level, n.nspname AS schema, c.relname AS table, i.relname AS name,
            CASE WHEN m.parent IS NOT NULL THEN quote_ident(pn.nspname) || '.' || quote_ident(pi.relname) END AS parent,
            k.conname AS constraint,
            CASE WHEN k.oid IS NULL THEN pg_get_indexdef(x.indexrelid) ELSE pg_get_constraintdef(k.oid) END AS definition,
            ${rebuildable('SELECT mm.oid FROM members mm WHERE mm.top = m.top')} AS ok
       FROM members m
       JOIN pg_index x ON x.indexrelid = m.oid
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class c ON c.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_class pi ON pi.oid = m.parent
       LEFT JOIN pg_namespace pn ON pn.oid = pi.relnamespace
       LEFT JOIN pg_constraint k ON k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')
      ORDER BY m.top, m.level, n.nspname, c.relname, i.relname`,
    params,
  );
  const byTop = new Map<string, typeof trees>();
  for (const row of trees) byTop.set(row.top, [...(byTop.get(row.top) ?? []), row]);
  for (const members of byTop.values()) {
    if (!members.every((m) => m.ok)) continue;
    const root = members.find((m) => m.level === 0)!;
    const rootTable = qualify(root.schema, root.table);
    // pg_restore's way: each index ON ONLY its table (a partitioned one is invalid until its
    // partitions' indexes are attached), then the attachments from the bottom up.
    const rebuild = members.map((m) =>
      m.constraint === null ? m.definition : `ALTER TABLE ONLY ${qualify(m.schema, m.table)} ADD CONSTRAINT ${quoteIdent(m.constraint)} ${m.definition}`,
    );
    for (const m of [...members].sort((a, b) => b.level - a.level)) {
      if (m.parent) rebuild.push(`ALTER INDEX ${m.parent} ATTACH PARTITION ${qualify(m.schema, m.name)}`);
    }
    deferred.push({
      table: root.table,
      drop: root.constraint === null ? `DROP INDEX ${qualify(root.schema, root.name)}` : `ALTER TABLE ${rootTable} DROP CONSTRAINT ${quoteIdent(root.constraint)}`,
      rebuild,
    });
  }
  for (const d of deferred) await q.query(d.drop);
  return deferred;
}

/** The enabled user triggers of `tables` and of their partitions (a partitioned table's clones included, each on its own relation). */
async function enabledUserTriggers(q: Queryable, ns: Namespaces, tables: string[]): Promise<LiveTrigger[]> {
  if (tables.length === 0) return [];
  return q.query<LiveTrigger>(
    `WITH ${RESTORED_RELATIONS}
     SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name, t.tgenabled::text AS enabled
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE t.tgrelid IN (SELECT oid FROM restored) AND NOT t.tgisinternal AND t.tgenabled <> 'D'
      ORDER BY n.nspname, c.relname, t.tgname`,
    [tables.map((t) => ns.sql(t))],
  );
}

/**
 * Drops every table, view, sequence and enum type of the schema. CASCADE only removes what lives
 * inside the schema: anything outside it (a view or foreign key in another schema, a function) that
 * depends on these objects makes the restore stop instead of being dropped silently.
 */
async function dropSchemaObjects(q: Queryable, namespaces: readonly string[]): Promise<void> {
  const outside = await q.query<{ what: string }>(
    `WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = ANY($1::text[])),
     ours AS (
       SELECT 'pg_class'::regclass AS classid, c.oid AS objid FROM pg_class c, ns
        WHERE c.relnamespace = ns.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
       UNION ALL
       SELECT 'pg_type'::regclass, t.oid FROM pg_type t, ns WHERE t.typnamespace = ns.oid AND t.typtype = 'e'
     ),
     dependents AS (
       SELECT d.classid, d.objid, d.objsubid,
              CASE d.classid
                WHEN 'pg_class'::regclass THEN (SELECT relnamespace FROM pg_class WHERE oid = d.objid)
                WHEN 'pg_rewrite'::regclass THEN (SELECT c.relnamespace FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE r.oid = d.objid)
                WHEN 'pg_constraint'::regclass THEN (SELECT c.relnamespace FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE k.oid = d.objid)
                WHEN 'pg_type'::regclass THEN (SELECT typnamespace FROM pg_type WHERE oid = d.objid)
                WHEN 'pg_trigger'::regclass THEN (SELECT c.relnamespace FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.oid = d.objid)
                WHEN 'pg_attrdef'::regclass THEN (SELECT c.relnamespace FROM pg_attrdef a JOIN pg_class c ON c.oid = a.adrelid WHERE a.oid = d.objid)
                WHEN 'pg_index'::regclass THEN (SELECT relnamespace FROM pg_class WHERE oid = d.objid)
                ELSE NULL
              END AS dep_namespace
         FROM pg_depend d JOIN ours o ON d.refclassid = o.classid AND d.refobjid = o.objid
        WHERE d.deptype IN ('n', 'a')
     )
     SELECT DISTINCT pg_describe_object(classid, objid, objsubid) AS what
       FROM dependents
      WHERE (dep_namespace IS NULL OR dep_namespace NOT IN (SELECT oid FROM ns)) -- another schema's object depends on ours
        AND NOT (classid = 'pg_constraint'::regclass AND dep_namespace IS NULL) -- a domain's check: not ours
      ORDER BY 1`,
    [namespaces],
  );
  if (outside.length > 0) {
    throw new GuardError(
      'RESTORE_FAILED',
      `A full restore must drop the objects of ${namespaces.length > 1 ? 'schemas' : 'schema'} ${namespaces.map((n) => `"${n}"`).join(', ')}, but objects outside it depend on them: ${outside
        .map((o) => o.what)
        .join('; ')}. Nothing was changed.`,
      { hint: 'Drop or move those objects first, or use a data-only restore (the schema stays as it is).' },
    );
  }

  const relations = await q.query<{ schema: string; name: string; kind: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')`,
    [namespaces],
  );
  const ofKind = (kinds: string[]) => relations.filter((r) => kinds.includes(r.kind)).map((r) => qualify(r.schema, r.name));
  const views = ofKind(['v']);
  const matviews = ofKind(['m']);
  const tables = ofKind(['r', 'p']);
  const sequences = ofKind(['S']);
  if (views.length) await q.query(`DROP VIEW IF EXISTS ${views.join(', ')} CASCADE`);
  if (matviews.length) await q.query(`DROP MATERIALIZED VIEW IF EXISTS ${matviews.join(', ')} CASCADE`);
  if (tables.length) await q.query(`DROP TABLE IF EXISTS ${tables.join(', ')} CASCADE`);
  if (sequences.length) await q.query(`DROP SEQUENCE IF EXISTS ${sequences.join(', ')} CASCADE`);
  const enums = await q.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, t.typname AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = ANY($1::text[]) AND t.typtype = 'e'
        AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e')`,
    [namespaces],
  );
  if (enums.length) await q.query(`DROP TYPE IF EXISTS ${enums.map((e) => qualify(e.schema, e.name)).join(', ')} CASCADE`);
}

/**
 * For the sequences chosen (full mode: the backup's, by name in `namespace`; data mode: every one a
 * column of the restored tables takes its values from), their bounds, position and the columns
 * that take values from them: the owning column (serial, identity) and every column whose default
 * calls nextval() on it. A sequence a default only names (`DEFAULT nextval('seq')` without OWNED BY,
 * as pagila and hand-written migrations have) is found through the default's dependency on it
 * (pg_depend from pg_attrdef, deptype 'n'). Columns of integer types only (max() is compared as an
 * integer) that this role can read, and a child (partition or inheritance) is left out when its
 * parent's same column uses the same sequence: max() over the parent already reads the child's rows.
 */
const SEQUENCE_USES = `
  WITH ${RESTORED_RELATIONS},
  uses AS (
    SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum
      FROM pg_depend d
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
       AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
    UNION
    SELECT d.refobjid, ad.adrelid, ad.adnum
      FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
     WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n'
  ),
  chosen AS (
    SELECT s.oid FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
     WHERE s.relkind = 'S'
       AND CASE WHEN $2::boolean THEN (n.nspname, s.relname) IN (SELECT * FROM unnest($4::text[], $5::text[]))
                ELSE EXISTS (SELECT 1 FROM uses u WHERE u.seq = s.oid AND u.rel IN (SELECT oid FROM restored))
                     -- one of another schema only when ours to change (ALTER SEQUENCE needs its owner)
                     AND (n.nspname = ANY($3::text[]) OR pg_has_role(s.relowner, 'USAGE')) END
  ),
  columns AS (
    SELECT u.seq, tn.nspname AS schema, t.relname AS table, a.attname AS column
      FROM uses u
      JOIN pg_class t ON t.oid = u.rel AND t.relkind IN ('r', 'p')
      JOIN pg_namespace tn ON tn.oid = t.relnamespace
      JOIN pg_attribute a ON a.attrelid = u.rel AND a.attnum = u.attnum AND NOT a.attisdropped
      JOIN pg_type ty ON ty.oid = a.atttypid
     WHERE CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
             IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
       AND has_column_privilege(t.oid, a.attnum, 'SELECT') -- another role's table sharing the sequence: not ours to read
       AND NOT EXISTS (SELECT 1 FROM pg_inherits h
                         JOIN uses pu ON pu.rel = h.inhparent AND pu.seq = u.seq
                         JOIN pg_attribute pa ON pa.attrelid = pu.rel AND pa.attnum = pu.attnum AND pa.attname = a.attname
                        WHERE h.inhrelid = u.rel)
  )
  SELECT n.nspname AS schema, s.relname AS name, ps.seqmin::text AS min, ps.seqmax::text AS max,
         ps.seqincrement::text AS increment,
         COALESCE((SELECT json_agg(json_build_object('schema', c.schema, 'table', c.table, 'column', c.column)
                                   ORDER BY c.schema, c.table, c.column)
                     FROM columns c WHERE c.seq = s.oid), '[]'::json) AS columns
    FROM chosen JOIN pg_class s ON s.oid = chosen.oid
    JOIN pg_namespace n ON n.oid = s.relnamespace
    JOIN pg_sequence ps ON ps.seqrelid = s.oid
   ORDER BY n.nspname, s.relname`;

interface SequenceUse {
  schema: string;
  name: string;
  min: string;
  max: string;
  increment: string;
  columns: { schema: string; table: string; column: string }[];
}

/**
 * Full mode: every sequence of the backup goes back exactly to its backed-up position (a full
 * restore reproduces the database as it was). Data mode: every sequence the restored tables take
 * values from (SEQUENCE_USES: owned by one of their columns, or only named by a default) goes to
 * the backup's position. Both modes: never below the largest value now in a column that takes its
 * values from the sequence (the target's sequence may have moved on, rows may carry ids the
 * sequence never gave, or another table shares the sequence), so the next generated value cannot
 * collide with a row. A sequence the backup does not hold (created since, or in another schema) is
 * only ever moved up, past those values.
 */
async function setSequences(q: Queryable, ns: Namespaces, options: LoadOptions): Promise<void> {
  const backupByName = new Map<string, SequenceSchema>(options.schema.sequences.map((s) => [s.name, s]));
  const full = options.mode === 'full';
  if (!full && options.tables.length === 0) return;
  if (full && options.schema.sequences.length === 0) return;
  const backupSequences = options.schema.sequences.map((s) => ns.split(s.name));
  const sequences = await q.query<SequenceUse>(SEQUENCE_USES, [
    full ? [] : options.tables.map((t) => ns.sql(t)),
    full,
    ns.list,
    backupSequences.map((s) => s.namespace),
    backupSequences.map((s) => s.name),
  ]);
  for (const target of sequences) {
    const seq = qualify(target.schema, target.name);
    const backup = ns.list.includes(target.schema) ? backupByName.get(ns.key(target.schema, target.name)) : undefined;
    let value: bigint | null = backup?.lastValue != null ? BigInt(backup.lastValue) : null;
    let called = backup?.isCalled ?? true;
    let current: { value: bigint; called: boolean } | null = null;
    if (value === null) {
      // Not in the backup: the sequence stays where it is unless a column holds higher values.
      const [pos] = await q.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text AS last_value, is_called FROM ${seq}`);
      current = { value: BigInt(pos.last_value), called: pos.is_called };
      value = current.value;
      called = current.called;
    }
    if (BigInt(target.increment) > 0n) {
      for (const c of target.columns) {
        // Without ONLY: a parent's children take their values from the same sequence.
        const [{ max }] = await q.query<{ max: string | null }>(`SELECT max(${quoteIdent(c.column)})::text AS max FROM ${qualify(c.schema, c.table)}`);
        if (max === null || !/^-?\d+$/.test(max)) continue; // numeric with a fraction: not a sequence value
        const m = BigInt(max);
        const inRange = m >= BigInt(target.min) && m <= BigInt(target.max);
        if (inRange && (m > value || (m === value && !called))) {
          value = m;
          called = true;
        }
      }
    }
    if (current && current.value === value && current.called === called) continue;
    if (!full) {
      // setval() is not transactional: a rollback would keep the new position. RESTART is (it
      // gives the sequence new storage inside this transaction), and a setval() on that new
      // storage disappears with it on rollback.
      await q.query(`ALTER SEQUENCE ${seq} RESTART WITH ${value.toString()}`);
    }
    // Full mode: the sequence was created in this transaction, so setval() is undone with it.
    await q.query(`SELECT setval($1::regclass, $2::bigint, $3::boolean)`, [seq, value.toString(), called]);
  }
}

/** The stored DDL minus what --no-owner / --no-privileges leave out (pg_dump DDL only has such statements). */
function ddlToRun(statements: string[], options: LoadOptions): string[] {
  if (options.schema.ddlSource !== 'pg_dump' || (!options.noOwner && !options.noPrivileges)) return statements;
  return statements.filter((s) => {
    const role = statementRole(s);
    return !(role === 'owner' && options.noOwner) && !(role === 'privilege' && options.noPrivileges);
  });
}

/**
 * The full-restore proof of the schema, inside the transaction: the target's catalog must equal
 * the one the backup recorded, object by object (a lost partition, policy, grant or function
 * fails here and everything is rolled back).
 */
async function proveCatalog(q: Queryable, ns: Namespaces, options: LoadOptions): Promise<void> {
  const fromPgDump = options.schema.ddlSource === 'pg_dump';
  const actual = await readCatalog(q, [...ns.list]);
  const differences = compareCatalogs(options.schema.catalog!, actual, {
    // The introspector creates objects as the restoring role and keeps the schema itself as it was.
    ignoreOwners: options.noOwner || !fromPgDump,
    ignorePrivileges: options.noPrivileges,
    ignoreSchemaEntries: !fromPgDump,
  });
  if (differences.length === 0) return;
  const shown = differences.slice(0, 10).map(describeDifference);
  throw new GuardError(
    'RESTORE_FAILED',
    `The restored schema does not match the backup's, object by object: ${shown.join('; ')}${differences.length > 10 ? `; and ${differences.length - 10} more` : ''}. The restore was rolled back; nothing changed.`,
    {
      hint: 'Run the restore with --dry-run and --json to see every difference. If the server lacks an extension or role the backup needs, install or create it, or pass --no-owner / --no-privileges.',
      details: { differences },
    },
  );
}

/**
 * After dropSchemaObjects (relations and enums, with its check that nothing outside depends on
 * them): every other object of the schema a pg_dump restore recreates: extensions installed in it,
 * functions, procedures, aggregates, types, domains, collations, operators, text search objects,
 * conversions and statistics. Extension members go with their extension.
 */
async function dropRemainingObjects(q: Queryable, namespaces: readonly string[]): Promise<void> {
  const notMember = (cls: string, oid: string) =>
    `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${cls}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
  const objects = await q.query<{ kind: string; ident: string }>(
    `WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = ANY($1::text[]))
     SELECT kind, ident FROM (
       SELECT 0 AS ord, 'EXTENSION' AS kind, quote_ident(extname) AS ident FROM pg_extension, ns WHERE extnamespace = ns.oid
       UNION ALL
       SELECT 1, CASE prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, p.oid::regprocedure::text
         FROM pg_proc p, ns WHERE p.pronamespace = ns.oid AND ${notMember('pg_proc', 'p.oid')}
       UNION ALL
       SELECT 2, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, format_type(t.oid, NULL)
         FROM pg_type t, ns WHERE t.typnamespace = ns.oid AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
          AND NOT (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) <> 'c')
          AND NOT (t.typtype = 'b' AND t.typcategory = 'A') AND ${notMember('pg_type', 't.oid')}
       UNION ALL
       SELECT 3, 'COLLATION', c.oid::regcollation::text FROM pg_collation c, ns WHERE c.collnamespace = ns.oid AND ${notMember('pg_collation', 'c.oid')}
       UNION ALL
       SELECT 4, 'OPERATOR', o.oid::regoperator::text FROM pg_operator o, ns WHERE o.oprnamespace = ns.oid AND ${notMember('pg_operator', 'o.oid')}
       UNION ALL
       SELECT 5, 'OPERATOR FAMILY', quote_ident(n.nspname) || '.' || quote_ident(f.opfname) || ' USING ' || quote_ident(a.amname)
         FROM pg_opfamily f JOIN pg_am a ON a.oid = f.opfmethod JOIN pg_namespace n ON n.oid = f.opfnamespace, ns
        WHERE f.opfnamespace = ns.oid AND ${notMember('pg_opfamily', 'f.oid')}
       UNION ALL
       SELECT 6, 'TEXT SEARCH CONFIGURATION', c.oid::regconfig::text FROM pg_ts_config c, ns WHERE c.cfgnamespace = ns.oid AND ${notMember('pg_ts_config', 'c.oid')}
       UNION ALL
       SELECT 7, 'TEXT SEARCH DICTIONARY', d.oid::regdictionary::text FROM pg_ts_dict d, ns WHERE d.dictnamespace = ns.oid AND ${notMember('pg_ts_dict', 'd.oid')}
       UNION ALL
       SELECT 8, 'CONVERSION', quote_ident(n.nspname) || '.' || quote_ident(c.conname) FROM pg_conversion c JOIN pg_namespace n ON n.oid = c.connamespace, ns
        WHERE c.connamespace = ns.oid AND ${notMember('pg_conversion', 'c.oid')}
       UNION ALL
       SELECT 9, 'STATISTICS', quote_ident(n.nspname) || '.' || quote_ident(s.stxname) FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace, ns
        WHERE s.stxnamespace = ns.oid
     ) o ORDER BY ord, ident`,
    [namespaces],
  );
  for (const o of objects) await q.query(`DROP ${o.kind} IF EXISTS ${o.ident} CASCADE`);
}
