import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import { schemaNamespaces, tableKey, type DbSchema, type TableSchema } from '../core/types.ts';
import type { EncodedRow, EncodedValue, RowFilter, SnapshotReader } from '../dialects/dialect.ts';
import { connect } from '../dialects/index.ts';
import { rowLine } from '../format/writer.ts';
import { backupWithConnection, type BackupResult } from './backup.ts';
import { DEFAULT_LOCK_WAIT_MS, OPERATION_LOCK, resolveContext, type OpsContext } from './context.ts';
import { rowOrder } from './diff-order.ts';
import { PRE_DELETE_REASON_PREFIX } from './restore.ts';

/**
 * The rows a delete of `filter` rows from `table` removes: those rows, plus, transitively, every
 * row that an ON DELETE CASCADE foreign key removes with them (cycles and self-references
 * included). Read inside the caller's snapshot; each table's rows in canonical order.
 * Rows that ON DELETE SET NULL / SET DEFAULT change (not remove) are not included.
 */
export async function cascadeRows(reader: SnapshotReader, table: string, filter: RowFilter): Promise<Map<string, EncodedRow[]>> {
  const schema = reader.schema;
  const byName = new Map(schema.tables.map((t) => [t.name, t]));
  const root = byName.get(table);
  if (!root) throw new GuardError('USAGE', `There is no table "${table}" in the database.`, { hint: `Tables are: ${schema.tables.map((t) => t.name).join(', ')}` });
  const seen = new Map<string, Map<string, EncodedRow>>([[table, new Map()]]);
  const queue: { table: TableSchema; filter: RowFilter }[] = [{ table: root, filter }];
  while (queue.length) {
    const step = queue.shift()!;
    const t = step.table;
    const held = seen.get(t.name) ?? new Map<string, EncodedRow>();
    seen.set(t.name, held);
    const keyIdx = (t.primaryKey.length ? t.primaryKey : t.columns.map((c) => c.name)).map((n) => t.columns.findIndex((c) => c.name === n));
    const fresh: EncodedRow[] = [];
    if (step.filter.values.length) {
      for await (const batch of reader.rowsWhere(t, step.filter)) {
        for (const row of batch) {
          const k = rowLine(keyIdx.map((i) => row[i]));
          if (held.has(k)) continue;
          held.set(k, row);
          fresh.push(row);
        }
      }
    }
    if (!fresh.length) continue;
    for (const child of schema.tables) {
      for (const fk of child.foreignKeys) {
        if (fk.refTable !== t.name || !/cascade/i.test(fk.onDelete)) continue;
        const refIdx = fk.refColumns.map((n) => t.columns.findIndex((c) => c.name === n));
        const tuples = new Map<string, EncodedValue[]>();
        for (const row of fresh) {
          const v = refIdx.map((i) => row[i]);
          if (v.some((x) => x === null)) continue;
          tuples.set(rowLine(v), v);
        }
        if (tuples.size) queue.push({ table: child, filter: { columns: fk.columns, values: [...tuples.values()] } });
      }
    }
  }
  const out = new Map<string, EncodedRow[]>();
  for (const [name, rows] of seen) {
    const t = byName.get(name)!;
    const order = rowOrder(schema, t);
    out.set(name, [...rows.values()].sort(order.compare));
  }
  return out;
}

export interface DeleteBackupResult extends BackupResult {
  /** Rows backed up per table (the deleted table and its cascades). */
  rows: Record<string, number>;
}

/**
 * Writes a normal prisma-guard backup (reason `pre-delete-<model>`) holding the rows a delete
 * will remove, cascades included, under the operation lock. Throws (WRITE_FAILED etc.) when the
 * backup cannot be written: the caller must then not delete.
 */
export async function backupRowsBeforeDelete(ctx: OpsContext, args: { table: string; filter: RowFilter; reason: string; lockWaitMs?: number }): Promise<DeleteBackupResult> {
  const conn = await connect(ctx.target);
  try {
    const lock = await conn.lock(OPERATION_LOCK, args.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS);
    try {
      let counts: Record<string, number> = {};
      const result = await backupWithConnection(ctx, conn, {
        reason: args.reason,
        kind: 'pre-delete',
        selectRows: async (reader) => {
          const rows = await cascadeRows(reader, args.table, args.filter);
          counts = Object.fromEntries([...rows].map(([k, v]) => [k, v.length]));
          return rows;
        },
      });
      return { ...result, rows: counts };
    } finally {
      await lock.release();
    }
  } finally {
    await conn.close();
  }
}

// ------------------------------------------------------------------ the Prisma Client extension

interface RuntimeField {
  name: string;
  kind: string;
  dbName?: string | null;
}
interface RuntimeModel {
  fields: RuntimeField[];
  dbName?: string | null;
  /** multiSchema: the model's `@@schema("...")`. */
  schema?: string | null;
}
/** What the extension needs from a Prisma Client (any generated client has it). */
export interface PrismaClientLike {
  $extends(extension: unknown): unknown;
}

export interface BackupBeforeDeleteOptions {
  /** Prisma model names whose delete/deleteMany are guarded (e.g. ['Post', 'Order']). */
  models: string[];
  /** Appended to the backup reason: `pre-delete-<model>[-<reason>]`. */
  reason?: string;
  /** Backup folder (default BACKUP_DIR or ./backups). */
  backupDir?: string;
  /** The database the client talks to (default DATABASE_URL). */
  url?: string;
  projectDir?: string;
  /** The client's data model when the client does not expose `_runtimeDataModel` (pass `Prisma.dmmf.datamodel`). */
  datamodel?: { models: Record<string, RuntimeModel> | { name: string; fields: RuntimeField[]; dbName?: string | null }[] };
  /** Called after each backup (logging). */
  onBackup?: (info: { model: string; path: string; rows: Record<string, number> }) => void;
  lockWaitMs?: number;
}

function modelsOf(prisma: unknown, options: BackupBeforeDeleteOptions): Map<string, RuntimeModel> {
  const dm = options.datamodel ?? (prisma as { _runtimeDataModel?: { models: Record<string, RuntimeModel> } })._runtimeDataModel;
  if (!dm) throw new GuardError('USAGE', 'withBackupBeforeDelete cannot read the Prisma data model of this client.', { hint: 'Pass { datamodel: Prisma.dmmf.datamodel } in the options.' });
  const models = dm.models;
  return Array.isArray(models) ? new Map(models.map((m) => [m.name, m])) : new Map(Object.entries(models));
}

/** A JS value Prisma returned for a key column, as a RowFilter value. */
function filterValue(v: unknown, field: string): EncodedValue | bigint {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return v;
  throw new GuardError('USAGE', `backup-before-delete supports primary keys of type Int, BigInt, String and Boolean; "${field}" holds ${Object.prototype.toString.call(v)}.`, {
    hint: 'Leave this model out of `models`, or back it up with `prisma-guard backup` before deleting.',
  });
}

/**
 * Wraps a Prisma Client so that `delete` and `deleteMany` on the guarded models first write a small
 * backup of the rows they will delete, including rows that ON DELETE CASCADE removes with them,
 * and only then delete. If the backup cannot be written nothing is deleted and the error says why.
 * The rows come back with `prisma-guard restore <that backup> --yes` (a merge: other rows stay).
 *
 * Takes the client as a parameter (never imports a generated client). The delete runs on exactly
 * the rows that were backed up: deleteMany is narrowed to their primary keys, so rows that start
 * matching `where` after the backup are not deleted. Rows inserted by others under a backed-up
 * parent between the backup and the delete would cascade without a backup: guard hot tables with
 * application-level locking if that matters.
 */
export function withBackupBeforeDelete<C extends PrismaClientLike>(prisma: C, options: BackupBeforeDeleteOptions): C {
  const models = modelsOf(prisma, options);
  for (const m of options.models) {
    if (!models.has(m)) throw new GuardError('USAGE', `withBackupBeforeDelete: there is no Prisma model "${m}".`, { hint: `Models are: ${[...models.keys()].join(', ')}` });
  }
  const guarded = new Set(options.models);
  const ctx = resolveContext({ url: options.url, backupDir: options.backupDir, projectDir: options.projectDir });
  let pk: Map<string, { table: string; columns: string[]; fields: string[] }> | null = null;

  /** Table and primary key of a model, from the data model (@@map, @map) and the live schema. */
  const keyOf = async (model: string) => {
    if (!pk) {
      const conn = await connect(ctx.target);
      let schema: DbSchema;
      try {
        schema = await conn.introspect();
      } finally {
        await conn.close();
      }
      pk = new Map();
      for (const name of guarded) {
        const m = models.get(name)!;
        // Several schemas (multiSchema): the table is keyed `schema.table` (DbSchema.namespaces).
        const table = tableKey(schemaNamespaces(schema), m.schema ?? schema.namespace ?? '', m.dbName ?? name);
        const t = schema.tables.find((x) => x.name === table);
        if (!t) throw new GuardError('SCHEMA_MISMATCH', `Model ${name} maps to table "${table}", which the database does not have.`, { hint: 'Run `prisma migrate deploy` first.' });
        if (!t.primaryKey.length) throw new GuardError('USAGE', `Table "${table}" (model ${name}) has no primary key, so the rows to delete cannot be identified.`, { hint: 'Leave this model out of `models`.' });
        const fields = t.primaryKey.map((col) => {
          const f = m.fields.find((x) => x.kind === 'scalar' && (x.dbName ?? x.name) === col);
          if (!f) throw new GuardError('INTERNAL', `Column "${col}" of "${table}" has no field in model ${name}.`);
          return f.name;
        });
        pk.set(name, { table, columns: t.primaryKey, fields });
      }
    }
    return pk.get(model)!;
  };

  const guard = async (model: string, operation: 'delete' | 'deleteMany', args: { where?: Record<string, unknown> }) => {
    const key = await keyOf(model);
    const delegate = (prisma as unknown as Record<string, { findMany(a: unknown): Promise<Record<string, unknown>[]>; findUnique(a: unknown): Promise<Record<string, unknown> | null> }>)[model.charAt(0).toLowerCase() + model.slice(1)];
    const select = Object.fromEntries(key.fields.map((f) => [f, true]));
    const found = operation === 'delete' ? [await delegate.findUnique({ where: args.where, select })].filter((r): r is Record<string, unknown> => r !== null) : await delegate.findMany({ where: args.where, select });
    if (!found.length) return { args, backup: null };
    const values = found.map((r) => key.fields.map((f) => filterValue(r[f], f)));
    let written: DeleteBackupResult;
    try {
      written = await backupRowsBeforeDelete(ctx, { table: key.table, filter: { columns: key.columns, values }, reason: `${PRE_DELETE_REASON_PREFIX}${model}${options.reason ? '-' + options.reason : ''}`, lockWaitMs: options.lockWaitMs });
    } catch (e) {
      const why = isGuardError(e) ? e.message : messageOf(e);
      throw new GuardError(isGuardError(e) ? e.code : 'WRITE_FAILED', `Nothing was deleted: the backup of the ${found.length} ${model} row(s) to delete (and their cascades) could not be written. ${why}`, {
        hint: isGuardError(e) && e.hint ? e.hint : `Check that the backup folder ${ctx.backupDir} is writable, then retry.`,
        cause: e,
        exitCode: isGuardError(e) ? e.exitCode : undefined,
      });
    }
    options.onBackup?.({ model, path: written.path, rows: written.rows });
    if (operation === 'delete') return { args, backup: written };
    // Delete exactly what was backed up.
    const byKey = key.fields.length === 1 ? { [key.fields[0]]: { in: found.map((r) => r[key.fields[0]]) } } : { OR: found.map((r) => Object.fromEntries(key.fields.map((f) => [f, r[f]]))) };
    return { args: { ...args, where: args.where ? { AND: [args.where, byKey] } : byKey }, backup: written };
  };

  return prisma.$extends({
    name: 'prisma-guard-backup-before-delete',
    query: {
      $allModels: {
        async delete({ model, args, query }: { model: string; args: { where?: Record<string, unknown> }; query: (a: unknown) => Promise<unknown> }) {
          if (!guarded.has(model)) return query(args);
          const g = await guard(model, 'delete', args);
          return query(g.args);
        },
        async deleteMany({ model, args, query }: { model: string; args: { where?: Record<string, unknown> }; query: (a: unknown) => Promise<unknown> }) {
          if (!guarded.has(model)) return query(args);
          const g = await guard(model, 'deleteMany', args ?? {});
          return query(g.args);
        },
      },
    },
  }) as C;
}
