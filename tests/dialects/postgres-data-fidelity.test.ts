import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardError } from '../../lib/core/errors.ts';
import { parseDatabaseUrl } from '../../lib/core/url.ts';
import type { EncodedRow, TableData } from '../../lib/dialects/dialect.ts';
import { connect } from '../../lib/dialects/index.ts';
import { runCli } from '../helpers/cli.ts';
import { createPgDatabase, rawQueryable, tempDir, type FreshDatabase } from '../helpers/db.ts';
import { oracleDump } from '../helpers/oracle.ts';

/**
 * Promise: a data-mode restore into a copy that has only the schema gives back exactly the source's
 * rows and sequence positions (pg_dump --data-only, sorted) and leaves the schema as it was, on
 * a database nobody here wrote (pagila: standalone sequences named only by `DEFAULT nextval(...)`, a
 * partitioned table, triggers), so that an insert afterwards into every serial table gets a fresh id.
 * And: an inheritance parent keeps its own rows (reads use ONLY), a partitioned table's rows land in
 * their partitions (the default one and a sub-partition included) with their indexes rebuilt under
 * the same names, triggers do not fire during the load, and a load that fails before COMMIT leaves
 * every sequence where it was.
 */

const PAGILA = process.env.PAGILA_DIR ?? '/work/shared/data/pagila';
const run = promisify(execFile);

/** Where the database is, for psql and pg_dump. */
function serverArgs(db: FreshDatabase): string[] {
  const u = new URL(db.url);
  return ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres')];
}

/** Runs a SQL file (or text with `-c`) with psql, stopping at the first error. */
async function psql(db: FreshDatabase, ...args: string[]): Promise<void> {
  await run('psql', [...serverArgs(db), '-d', db.name, '-v', 'ON_ERROR_STOP=1', '-q', '-X', ...args], { maxBuffer: 1 << 26 });
}

/** The public schema's definitions as pg_dump prints them (sorted lines; comments and session settings left out). */
async function schemaDump(db: FreshDatabase): Promise<string> {
  const { stdout } = await run('pg_dump', [...serverArgs(db), '--schema-only', '-n', 'public', db.name], { maxBuffer: 1 << 28 });
  return stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('--') && !l.startsWith('SET ') && !l.startsWith('SELECT pg_catalog.set_config') && !/^\\(un)?restrict /.test(l))
    .sort()
    .join('\n');
}

async function cli(args: string[], db: FreshDatabase, backupDir: string) {
  const r = await runCli([...args, '--json'], { DATABASE_URL: db.url, BACKUP_DIR: backupDir });
  return { ...r, json: r.stdout.trim().startsWith('{') ? JSON.parse(r.stdout) : null };
}

async function backupFile(db: FreshDatabase, backupDir: string): Promise<string> {
  const b = await cli(['backup'], db, backupDir);
  expect(b.code, b.stdout + b.stderr).toBe(0);
  return b.json.manifest.file as string;
}

/** Columns whose default takes a value from a sequence, per table (partitions and inheritance children left out: their parent is enough). */
async function serialColumns(db: FreshDatabase): Promise<{ table: string; column: string }[]> {
  const q = await rawQueryable(db.url);
  try {
    return await q.query<{ table: string; column: string }>(
      `SELECT c.relname AS table, a.attname AS column
         FROM pg_attrdef ad JOIN pg_class c ON c.oid = ad.adrelid
         JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
        WHERE c.relnamespace = 'public'::regnamespace AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid)
          AND pg_get_expr(ad.adbin, ad.adrelid) LIKE 'nextval(%'
        ORDER BY 1`,
    );
  } finally {
    await q.close();
  }
}

/**
 * Inserts one row into `table` copied from an existing one, with the sequence-fed column left to its
 * default (`override`: expressions for columns a copy would duplicate in a unique index), and returns
 * the generated id and the largest id the table held before.
 */
async function insertCopy(db: FreshDatabase, table: string, column: string, override: Record<string, string> = {}): Promise<{ id: number; before: number }> {
  const q = await rawQueryable(db.url);
  try {
    const cols = (
      await q.query<{ name: string }>(
        `SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' AND attname <> $2 ORDER BY attnum`,
        [`public."${table}"`, column],
      )
    ).map((c) => c.name);
    const list = cols.map((c) => `"${c}"`).join(', ');
    const values = cols.map((c) => override[c] ?? `"${c}"`).join(', ');
    const [{ before }] = await q.query<{ before: number }>(`SELECT max("${column}")::int AS before FROM public."${table}"`);
    const [row] = await q.query<{ id: number }>(`INSERT INTO public."${table}" (${list}) SELECT ${values} FROM public."${table}" LIMIT 1 RETURNING "${column}"::int AS id`);
    expect(row, `a row copied into ${table}`).toBeDefined();
    return { id: row.id, before };
  } finally {
    await q.close();
  }
}

async function query<T>(db: FreshDatabase, sql: string): Promise<T[]> {
  const q = await rawQueryable(db.url);
  try {
    return await q.query<T>(sql);
  } finally {
    await q.close();
  }
}

describe('PostgreSQL data mode on pagila', () => {
  let source: FreshDatabase;
  let target: FreshDatabase;
  let dir: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    dir = tempDir('pg-guard-pagila-');
    [source, target] = await Promise.all([createPgDatabase(), createPgDatabase()]);
    // The dump's objects are owned by `postgres`, the role the tests connect as.
    await Promise.all([
      psql(source, '-f', `${PAGILA}/pagila-schema.sql`).then(() => psql(source, '-f', `${PAGILA}/pagila-data.sql`)),
      psql(target, '-f', `${PAGILA}/pagila-schema.sql`),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
    dir?.remove();
  });

  it('restores into a schema-only copy: same rows and sequences, same schema, fresh ids afterwards', async () => {
    const file = await backupFile(source, dir.dir);
    const schemaBefore = await schemaDump(target);
    const r = await cli(['restore', file, '--yes'], target, dir.dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.proof.matches).toBe(true);
    // payment is partitioned: its rows are kept at the parent, and come back into the partitions.
    expect(Object.keys(r.json.proof.tables)).not.toContain('payment_p2022_01');
    expect(r.json.proof.tables.payment.expected.rows).toBe(16049);

    // pg_dump --data-only prints every partition's rows and every sequence's setval().
    expect(oracleDump(target.url, { dataOnly: true })).toBe(oracleDump(source.url, { dataOnly: true }));
    expect(await schemaDump(target)).toBe(schemaBefore);

    const serial = await serialColumns(target);
    expect(serial.map((s) => s.table)).toEqual(['actor', 'address', 'category', 'city', 'country', 'customer', 'film', 'inventory', 'language', 'payment', 'rental', 'staff', 'store']);
    // Copies would repeat a unique key: rental (rental_date, inventory_id, customer_id), store (manager_staff_id).
    const overrides: Record<string, Record<string, string>> = {
      rental: { rental_date: `rental_date + interval '1 second'` },
      store: { manager_staff_id: '(SELECT max(staff_id) FROM public.staff)' }, // the staff row inserted just before
    };
    for (const { table, column } of serial) {
      const { id, before } = await insertCopy(target, table, column, overrides[table]);
      expect(id, `${table}.${column}`).toBeGreaterThan(before);
    }
  }, 60_000);
});

describe('PostgreSQL data mode with inheritance and partitions', () => {
  let source: FreshDatabase;
  let target: FreshDatabase;
  let dir: ReturnType<typeof tempDir>;

  const SCHEMA = `
    CREATE TABLE animal (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE dog (bark text NOT NULL) INHERITS (animal);
    ALTER TABLE dog ADD PRIMARY KEY (id);
    CREATE TABLE reading (id bigint GENERATED BY DEFAULT AS IDENTITY, at date NOT NULL, v int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE reading_2024 PARTITION OF reading FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE reading_other PARTITION OF reading DEFAULT;
    CREATE TABLE reading_2025 PARTITION OF reading FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY RANGE (at);
    CREATE TABLE reading_2025_any PARTITION OF reading_2025 DEFAULT;
    CREATE INDEX reading_v ON reading (v);
    CREATE TABLE note (id serial PRIMARY KEY, reading_id bigint NOT NULL, reading_at date NOT NULL,
                       FOREIGN KEY (reading_id, reading_at) REFERENCES reading (id, at));
    CREATE SCHEMA counters;
    CREATE SEQUENCE counters.ticket_no;
    CREATE TABLE ticket (no int PRIMARY KEY DEFAULT nextval('counters.ticket_no'), what text NOT NULL);
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'trigger % fired', TG_NAME; END$$;
  `;
  // After the source's rows are in: a restore must not fire them.
  const TRIGGERS = `CREATE TRIGGER refuse_dog BEFORE INSERT ON dog FOR EACH ROW EXECUTE FUNCTION refuse();`;
  // Only in the target: the introspector writes a partitioned table's trigger clones into the
  // backup's DDL as triggers on partitions, which the header check then refuses (full-mode DDL, not
  // data mode's business). The target's own triggers are what the load must keep from firing.
  const PARTITION_TRIGGERS = `
    CREATE TRIGGER refuse_reading BEFORE INSERT ON reading FOR EACH ROW EXECUTE FUNCTION refuse();
    CREATE TRIGGER refuse_other BEFORE INSERT ON reading_other FOR EACH ROW EXECUTE FUNCTION refuse();
  `;

  beforeAll(async () => {
    dir = tempDir('pg-guard-inherit-');
    [source, target] = await Promise.all([createPgDatabase(), createPgDatabase()]);
    await psql(source, '-c', SCHEMA);
    await psql(
      source,
      '-c',
      `INSERT INTO animal (name) VALUES ('cat'), ('owl');
       INSERT INTO dog (name, bark) VALUES ('rex', 'woof'), ('fido', 'wuff');
       INSERT INTO reading (at, v) SELECT DATE '2023-12-30' + i, i FROM generate_series(0, 9) AS i;
       INSERT INTO reading (at, v) VALUES ('2025-03-01', 10);
       INSERT INTO ticket (what) VALUES ('a'), ('b'), ('c');
       INSERT INTO note (reading_id, reading_at) SELECT id, at FROM reading WHERE v % 3 = 0;`,
    );
    await psql(source, '-c', TRIGGERS);
    await psql(target, '-c', SCHEMA + TRIGGERS + PARTITION_TRIGGERS);
    // The target holds other rows, in both kinds of table, which the restore replaces.
    await psql(
      target,
      '-c',
      `ALTER TABLE dog DISABLE TRIGGER refuse_dog; ALTER TABLE reading DISABLE TRIGGER refuse_reading; ALTER TABLE reading_other DISABLE TRIGGER refuse_other;
       INSERT INTO animal (name) VALUES ('old');
       INSERT INTO dog (name, bark) VALUES ('old dog', 'grr');
       INSERT INTO reading (at, v) VALUES ('2024-06-01', 100), ('2030-01-01', 200);
       ALTER TABLE dog ENABLE TRIGGER refuse_dog; ALTER TABLE reading ENABLE TRIGGER refuse_reading; ALTER TABLE reading_other ENABLE TRIGGER refuse_other;`,
    );
  }, 60_000);
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
    dir?.remove();
  });

  it('backs up each table\'s own rows: the parent without its children, the partitioned table with its partitions', async () => {
    const check = await cli(['check'], source, dir.dir);
    expect(check.code, check.stderr).toBe(0);
    expect(check.json.tables.animal.rows).toBe(2);
    expect(check.json.tables.dog.rows).toBe(2);
    expect(check.json.tables.reading.rows).toBe(11);
    expect(Object.keys(check.json.tables).sort()).toEqual(['animal', 'dog', 'note', 'reading', 'ticket']);
  }, 60_000);

  it('restores into a copy holding other rows: proof, rows in their partitions, indexes rebuilt, triggers silent, sequences past every id', async () => {
    const file = await backupFile(source, dir.dir);
    const schemaBefore = await schemaDump(target);
    const readingIndexes = `SELECT c.relname AS name, c.oid::text AS oid, x.indisvalid AS valid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                             WHERE x.indrelid IN (SELECT relid FROM pg_partition_tree('reading')) ORDER BY 1`;
    const indexesBefore = await query<{ name: string; oid: string; valid: boolean }>(target, readingIndexes);
    const r = await cli(['restore', file, '--yes'], target, dir.dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.proof.matches).toBe(true);
    // The partitioned indexes were dropped and rebuilt after the load (new oids), under the same names, valid.
    const indexesAfter = await query<{ name: string; oid: string; valid: boolean }>(target, readingIndexes);
    expect(indexesAfter.map((i) => i.name)).toEqual(indexesBefore.map((i) => i.name));
    expect(indexesAfter.length).toBe(10); // reading_pkey and reading_v on reading, reading_2025 and its 3 leaves
    for (const [i, index] of indexesAfter.entries()) {
      expect(index.valid, index.name).toBe(true);
      expect(index.oid, index.name).not.toBe(indexesBefore[i].oid);
    }
    expect(r.json.plan.tables.find((t: { name: string }) => t.name === 'animal').remove).toBe(1); // its own row, not the dog's
    expect(oracleDump(target.url, { dataOnly: true })).toBe(oracleDump(source.url, { dataOnly: true }));
    expect(await schemaDump(target)).toBe(schemaBefore);
    // diff --live reads the parent's own rows too: nothing differs.
    const diff = await cli(['diff', file, '--live'], target, dir.dir);
    expect(diff.code, diff.stdout + diff.stderr).toBe(0);

    const q = await rawQueryable(target.url);
    try {
      const where = await q.query<{ part: string; n: number }>(`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM reading GROUP BY 1 ORDER BY 1`);
      expect(where).toEqual([
        { part: 'reading_2024', n: 8 },
        { part: 'reading_2025_any', n: 1 },
        { part: 'reading_other', n: 2 },
      ]);
      const triggers = await q.query<{ name: string; enabled: string }>(`SELECT tgrelid::regclass || '.' || tgname AS name, tgenabled::text AS enabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`);
      // refuse_reading on reading and its partitions' clones, refuse_other, refuse_dog: all enabled again.
      expect(triggers).toEqual(
        ['dog.refuse_dog', 'reading.refuse_reading', 'reading_2024.refuse_reading', 'reading_2025.refuse_reading', 'reading_2025_any.refuse_reading', 'reading_other.refuse_other', 'reading_other.refuse_reading'].map((name) => ({ name, enabled: 'O' })),
      );
      // animal and dog share animal_id_seq: the next id is past both tables' ids (cat 1, owl 2, rex 3, fido 4).
      const [{ id: animalId }] = await q.query<{ id: number }>(`INSERT INTO animal (name) VALUES ('new') RETURNING id`);
      expect(animalId).toBe(5);
      await q.exec(`ALTER TABLE reading DISABLE TRIGGER refuse_reading`);
      const [{ id: readingId }] = await q.query<{ id: number }>(`INSERT INTO reading (at, v) VALUES ('2024-02-02', 1) RETURNING id::int AS id`);
      expect(readingId).toBe(12);
      // A sequence of another schema (not in the backup) is moved past the restored values.
      const [{ no }] = await q.query<{ no: number }>(`INSERT INTO ticket (what) VALUES ('d') RETURNING no`);
      expect(no).toBe(4);
      await q.exec(`ALTER TABLE reading ENABLE TRIGGER refuse_reading`);
    } finally {
      await q.close();
    }
  }, 60_000);

  it('restoring only the parent leaves the children\'s rows alone', async () => {
    const file = await backupFile(source, dir.dir);
    const q = await rawQueryable(target.url);
    try {
      await q.exec(`DELETE FROM ONLY animal WHERE name = 'new'`);
      await q.exec(`ALTER TABLE dog DISABLE TRIGGER refuse_dog; INSERT INTO dog (name, bark) VALUES ('late', 'yip'); ALTER TABLE dog ENABLE TRIGGER refuse_dog`);
      const r = await cli(['restore', file, '--yes', '--tables', 'animal'], target, dir.dir);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.json.proof.matches).toBe(true);
      const dogs = await q.query<{ name: string }>(`SELECT name FROM dog ORDER BY name`);
      expect(dogs.map((d) => d.name)).toEqual(['fido', 'late', 'rex']);
      const animals = await q.query<{ name: string }>(`SELECT name FROM ONLY animal ORDER BY name`);
      expect(animals.map((a) => a.name)).toEqual(['cat', 'owl']);
      const [{ id }] = await q.query<{ id: number }>(`INSERT INTO animal (name) VALUES ('newer') RETURNING id`);
      expect(id).toBeGreaterThan(6); // the 'late' dog took 6
    } finally {
      await q.close();
    }
  }, 60_000);

  it('a data-mode load that fails before COMMIT leaves every sequence where it was', async () => {
    const src = await connect(parseDatabaseUrl(source.url));
    const read = await src
      .snapshot(async (reader) => {
        const tables: { table: TableData['table']; rows: EncodedRow[] }[] = [];
        for (const table of reader.schema.tables) {
          const rows: EncodedRow[] = [];
          for await (const batch of reader.rows(table)) rows.push(...batch);
          tables.push({ table, rows });
        }
        return { schema: reader.schema, tables };
      })
      .finally(() => src.close());
    // Positions the load would change: animal_id_seq back to the backup's (past the dogs' ids),
    // counters.ticket_no up past the restored tickets.
    await psql(target, '-c', `SELECT setval('animal_id_seq', 50); SELECT setval('counters.ticket_no', 1)`);
    const positions = `SELECT schemaname || '.' || sequencename AS name, last_value::text AS value FROM pg_sequences ORDER BY 1`;
    const before = await query<{ name: string; value: string }>(target, positions);
    const dst = await connect(parseDatabaseUrl(target.url));
    try {
      const load = (beforeCommit?: () => Promise<void>) =>
        dst.load({
          mode: 'data',
          schema: read.schema,
          tables: read.tables.map((t) => t.table.name),
          data: (async function* () {
            for (const t of read.tables) {
              yield {
                table: t.table,
                rows: (async function* () {
                  yield t.rows;
                })(),
              };
            }
          })(),
          beforeCommit,
        });
      const failing = async () => {
        throw new GuardError('SCHEMA_MISMATCH', 'the last check failed');
      };
      await expect(load(failing)).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
      expect(await query(target, positions)).toEqual(before);
      // The same load committed does move them: the check above could fail.
      await load();
      const after = Object.fromEntries((await query<{ name: string; value: string }>(target, positions)).map((p) => [p.name, p.value]));
      expect(after['public.animal_id_seq']).toBe('4'); // the backup's (every table restored: the 'late' dog is gone)
      expect(after['counters.ticket_no']).toBe('3'); // the highest restored ticket: the next is 4
    } finally {
      await dst.close();
    }
  }, 60_000);
});
