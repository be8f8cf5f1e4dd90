/**
 * Makes several scheduler processes on one database take each scheduled slot once.
 *
 * PostgreSQL (several app servers, each running the scheduler under PM2, each maybe with its own
 * BACKUP_DIR): the coordination lives in the database, because nothing else is shared.
 *  1. A session advisory lock `schedule-slot-<slot ISO>` is tried once (no wait). A process that
 *     does not get it skips the slot: another one is taking it right now.
 *  2. Holding it, the process looks the slot up in `_prisma_guard.schedule_slots`. A row means a
 *     process whose timer fired earlier (clocks differ by seconds between servers) already took
 *     the backup: skip.
 *  3. Otherwise it takes the operation lock (waits for a running restore/migration), writes the
 *     backup, inserts the row, and only then releases the locks.
 *  A failed backup inserts no row, so the slot is not marked taken; it is retried at the next slot.
 *  The table lives in its own PostgreSQL schema `_prisma_guard`, outside the schema Prisma manages
 *  (`?schema=`, default public): backups and restores of that schema never include it, and
 *  `prisma migrate` sees no drift. Rows are keyed by (schema, slot) so two Prisma schemas in one
 *  database are scheduled independently.
 *
 * SQLite (one machine): the database's lock file (the operation lock, waited for) serialises the
 * processes, and the record of taken slots is a small JSON file beside the database
 * (`<db file>.prisma-guard-schedule.json`), written atomically inside the lock.
 */
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { GuardError, isGuardError, messageOf } from '../core/errors.ts';
import type { Connection, Lock } from '../dialects/dialect.ts';
import { writeSmallFileAtomically } from '../format/writer.ts';
import { OPERATION_LOCK } from './context.ts';

/** PostgreSQL schema and table of the slot record (see the module comment). */
export const LEDGER_SCHEMA = '_prisma_guard';
export const LEDGER_TABLE = 'schedule_slots';
/** How many slots the SQLite record file remembers (older ones can no longer be contended). */
const SQLITE_RECORD_KEEP = 500;

export type SlotClaim =
  | {
      status: 'claimed';
      /** Records the slot as taken by `file` (call once the backup is written, before release). */
      record(file: string): Promise<void>;
      /** Releases the locks (always call). */
      release(): Promise<void>;
    }
  | { status: 'taken'; by: string };

/** Who takes a slot, as recorded: `host pid N`. */
export function processIdentity(): string {
  return `${hostname()} pid ${process.pid}`;
}

/** The name of a slot's advisory lock. */
export function slotLockName(slot: Date): string {
  return `schedule-slot-${slot.toISOString()}`;
}

/**
 * Claims `slot` for this process on `conn`'s database, or reports who has it. When claimed, the
 * operation lock is held (the caller backs up with backupWithConnection).
 */
export async function claimSlot(conn: Connection, slot: Date, options: { lockWaitMs: number; backupDir: string }): Promise<SlotClaim> {
  return conn.dialect.capabilities.advisoryLocks ? claimInDatabase(conn, slot, options) : claimWithLockFile(conn, slot, options);
}

async function claimInDatabase(conn: Connection, slot: Date, options: { lockWaitMs: number; backupDir: string }): Promise<SlotClaim> {
  let slotLock: Lock;
  try {
    slotLock = await conn.lock(slotLockName(slot), 0);
  } catch (e) {
    if (isGuardError(e) && e.code === 'LOCKED') return { status: 'taken', by: `another scheduler process is taking it now (${e.message})` };
    throw e;
  }
  let opLock: Lock | null = null;
  try {
    const schema = conn.target.schema ?? 'public';
    await ensureLedgerTable(conn);
    const rows = await conn.query<{ taken_by: string; file: string | null; taken_at: string }>(
      `SELECT taken_by, file, taken_at::text AS taken_at FROM "${LEDGER_SCHEMA}"."${LEDGER_TABLE}" WHERE target_schema = $1 AND slot = $2::timestamptz`,
      [schema, slot.toISOString()],
    );
    if (rows.length > 0) {
      await slotLock.release();
      const r = rows[0];
      return { status: 'taken', by: `${r.taken_by} at ${r.taken_at}${r.file ? ` (${r.file})` : ''}` };
    }
    opLock = await conn.lock(OPERATION_LOCK, options.lockWaitMs);
  } catch (e) {
    await slotLock.release();
    throw e;
  }
  const held = opLock;
  return {
    status: 'claimed',
    async record(file) {
      await conn.query(
        `INSERT INTO "${LEDGER_SCHEMA}"."${LEDGER_TABLE}" (target_schema, slot, taken_by, taken_at, backup_dir, file)
         VALUES ($1, $2::timestamptz, $3, now(), $4, $5) ON CONFLICT DO NOTHING`,
        [conn.target.schema ?? 'public', slot.toISOString(), processIdentity(), options.backupDir, file],
      );
    },
    async release() {
      try {
        await held.release();
      } finally {
        await slotLock.release();
      }
    },
  };
}

/** Creates the ledger schema and table if missing (idempotent; safe against a concurrent creator). */
async function ensureLedgerTable(conn: Connection): Promise<void> {
  const ddl = [
    `CREATE SCHEMA IF NOT EXISTS "${LEDGER_SCHEMA}"`,
    `CREATE TABLE IF NOT EXISTS "${LEDGER_SCHEMA}"."${LEDGER_TABLE}" (
       target_schema text NOT NULL,
       slot timestamptz NOT NULL,
       taken_by text NOT NULL,
       taken_at timestamptz NOT NULL DEFAULT now(),
       backup_dir text,
       file text,
       PRIMARY KEY (target_schema, slot)
     )`,
  ];
  for (const sql of ddl) {
    for (let attempt = 0; ; attempt++) {
      try {
        await conn.query(sql);
        break;
      } catch (e) {
        // Two processes creating it at the same instant: IF NOT EXISTS can still race on the catalog.
        const code = (e as { code?: string }).code ?? (isGuardError(e) ? String((e.cause as { code?: string } | undefined)?.code ?? '') : '');
        if (attempt === 0 && (code === '23505' || code === '42P06' || code === '42P07')) continue;
        throw new GuardError('DATABASE_ERROR', `Cannot create the scheduler's slot table ${LEDGER_SCHEMA}.${LEDGER_TABLE}: ${messageOf(e)}.`, {
          hint: `Let the database user create it once (GRANT CREATE ON DATABASE to it), or create it as an owner: CREATE SCHEMA ${LEDGER_SCHEMA}; then run the scheduler again. It is how several scheduler processes agree on who takes each backup.`,
          cause: e,
        });
      }
    }
  }
}

interface SqliteRecord {
  format: 'prisma-guard-schedule-slots';
  slots: Record<string, { takenBy: string; takenAt: string; backupDir: string; file: string }>;
}

/** The file recording taken slots for a SQLite database. */
export function sqliteRecordPath(dbFile: string): string {
  return `${dbFile}.prisma-guard-schedule.json`;
}

async function readSqliteRecord(file: string): Promise<SqliteRecord> {
  try {
    const v = JSON.parse(await fs.readFile(file, 'utf8')) as SqliteRecord;
    if (v?.format === 'prisma-guard-schedule-slots' && v.slots && typeof v.slots === 'object') return v;
  } catch {
    // Missing or unreadable: no slot recorded. The lock still prevents overlapping backups.
  }
  return { format: 'prisma-guard-schedule-slots', slots: {} };
}

async function claimWithLockFile(conn: Connection, slot: Date, options: { lockWaitMs: number; backupDir: string }): Promise<SlotClaim> {
  const dbFile = conn.target.file ?? conn.target.database;
  const recordFile = sqliteRecordPath(dbFile);
  const lock = await conn.lock(OPERATION_LOCK, options.lockWaitMs);
  const key = slot.toISOString();
  try {
    const current = await readSqliteRecord(recordFile);
    const taken = current.slots[key];
    if (taken) {
      await lock.release();
      return { status: 'taken', by: `${taken.takenBy} at ${taken.takenAt} (${taken.file})` };
    }
  } catch (e) {
    await lock.release();
    throw e;
  }
  return {
    status: 'claimed',
    async record(file) {
      const current = await readSqliteRecord(recordFile);
      current.slots[key] = { takenBy: processIdentity(), takenAt: new Date().toISOString(), backupDir: options.backupDir, file };
      const keys = Object.keys(current.slots).sort();
      for (const k of keys.slice(0, Math.max(0, keys.length - SQLITE_RECORD_KEEP))) delete current.slots[k];
      await writeSmallFileAtomically(recordFile, JSON.stringify(current, null, 2) + '\n');
    },
    release: () => lock.release(),
  };
}
