/**
 * The risk rules of migrate-safe as one table (pure): each rule is one entry saying what it
 * matches, how it is measured on the live data, its severity and the safer way. lib/guard/risks.ts
 * reads migrations and asks questions under these ids, taking each rule's severities from here
 * (which rules apply to a database comes from its dialect's riskTraits, lib/dialects/dialect.ts);
 * the README's rule list ("Risk rules") is generated from this table (`rulesMarkdown`, checked by
 * tests/guard/rules-readme.test.ts; rewrite it with `npx tsx tests/guard/update-readme-rules.ts`).
 */
import type { DialectName } from '../core/url.ts';

export type Severity = 'block' | 'warn' | 'info';

export type Effect = 'data-loss' | 'will-fail' | 'locking' | 'breaking' | 'advice';

export interface RuleSpec {
  id: string;
  effect: Effect;
  /** Databases where the rule applies. */
  dialects: readonly DialectName[];
  /** What statements (or Prisma warnings) it matches. */
  matches: string;
  /** The read-only query that measures it. */
  measures: string;
  /** Severity when the measured number is above zero (or at/above the large-table threshold). */
  ifAny: Severity;
  /** Severity when it is zero (null: no finding). */
  ifNone: Severity | null;
  /** Only numbers at or above `--large-table-rows` (default 100,000 rows) count as "above zero". */
  large?: boolean;
  /** The safer way (each finding adds the table and column names). */
  advice: string;
  /** The same check in Squawk, strong_migrations or Atlas lint. */
  peers?: string;
}

const BOTH = ['sqlite', 'postgres'] as const;
const PG = ['postgres'] as const;
const LOCK = "Put `SET lock_timeout = '5s';` first in the migration, so a lock it cannot get fails fast instead of queueing every query behind it.";

export const RULES = [
  { id: 'drop-table', effect: 'data-loss', dialects: BOTH, matches: 'DROP TABLE of a table that has rows (also after a rename earlier in the deployment; a SQLite rebuild that copies nothing)', measures: 'rows in the table', ifAny: 'block', ifNone: 'info', advice: 'Back the rows up or move them first; for a renamed model rename the table or keep its name with @@map.', peers: 'Squawk ban-drop-table, Atlas DS102' },
  { id: 'drop-column', effect: 'data-loss', dialects: BOTH, matches: 'DROP COLUMN (also of a column renamed earlier in the deployment), a SQLite rebuild that does not copy a column, Prisma\'s "would be dropped and recreated"', measures: 'non-null values in the column', ifAny: 'block', ifNone: 'info', advice: 'Copy the values first, or rename instead (RENAME COLUMN / @map); drop a column only in a release after the code stopped using it.', peers: 'Squawk ban-drop-column, strong_migrations remove_column, Atlas DS103' },
  { id: 'drop-schema', effect: 'data-loss', dialects: PG, matches: 'DROP SCHEMA (CASCADE drops everything in it; RESTRICT fails when it is not empty)', measures: 'rows in every table and materialized view of the schema, and its objects', ifAny: 'block', ifNone: 'info', advice: 'Drop the objects one by one in migrations you can review, after backing their rows up.', peers: 'Atlas DS101' },
  { id: 'drop-database', effect: 'data-loss', dialects: PG, matches: 'DROP DATABASE in a migration', measures: 'nothing (another database\'s rows cannot be counted from this one)', ifAny: 'block', ifNone: 'block', advice: 'Never drop a database from a migration; do it by hand after a backup of it.', peers: 'Squawk ban-drop-database' },
  { id: 'drop-materialized-view', effect: 'data-loss', dialects: PG, matches: 'DROP MATERIALIZED VIEW', measures: 'rows in the view', ifAny: 'warn', ifNone: 'info', advice: 'Make sure no code reads it; its rows come back only by recreating it and REFRESH MATERIALIZED VIEW.' },
  { id: 'drop-sequence', effect: 'data-loss', dialects: PG, matches: 'DROP SEQUENCE', measures: 'columns whose default takes values from it (and its last value)', ifAny: 'block', ifNone: 'info', advice: 'Drop or change the column defaults that use it first; a new sequence restarts at 1 and collides with existing ids.' },
  { id: 'truncate', effect: 'data-loss', dialects: PG, matches: 'TRUNCATE (with CASCADE: every table referencing it, transitively)', measures: 'rows in each table emptied', ifAny: 'block', ifNone: 'info', advice: 'Name every table to empty and back the rows up; data changes belong in a script run on purpose, not a schema migration.' },
  { id: 'delete-rows', effect: 'data-loss', dialects: BOTH, matches: 'DELETE FROM in a migration (with its WHERE, USING)', measures: 'rows the statement deletes (count(*) with its WHERE)', ifAny: 'block', ifNone: 'info', advice: 'Back the rows up first (prisma-guard backup), or delete them in a reviewed script outside the schema migration.', peers: 'Atlas data-dependent changes' },
  { id: 'update-rows', effect: 'data-loss', dialects: BOTH, matches: 'UPDATE in a migration (with its WHERE, FROM)', measures: 'rows the statement rewrites (count(*) with its WHERE)', ifAny: 'warn', ifNone: 'info', advice: 'Check the rows it rewrites; on a large table backfill in batches outside the migration (strong_migrations: backfill separately).', peers: 'strong_migrations backfill' },
  { id: 'required-column', effect: 'will-fail', dialects: BOTH, matches: 'ADD COLUMN ... NOT NULL without DEFAULT, a SQLite rebuild with such a column, Prisma\'s "Added the required column" / "with a prisma-level default"', measures: 'rows in the table', ifAny: 'block', ifNone: 'info', advice: 'Add it optional (or with a DEFAULT), fill it, then make it required in a later migration.', peers: 'Squawk adding-required-field, Atlas MF103' },
  { id: 'set-not-null', effect: 'will-fail', dialects: BOTH, matches: 'SET NOT NULL, ADD PRIMARY KEY over nullable columns, a SQLite rebuild making a column NOT NULL, Prisma\'s "Made the column ... required"', measures: 'rows holding NULL (copied expression for a rebuild)', ifAny: 'block', ifNone: 'info', advice: 'Fill the NULLs first, or give the field a @default.', peers: 'Atlas MF104' },
  { id: 'unique-duplicates', effect: 'will-fail', dialects: BOTH, matches: 'CREATE UNIQUE INDEX, ADD UNIQUE / PRIMARY KEY, UNIQUE inside a SQLite rebuild, Prisma\'s unique-constraint warning', measures: 'groups of duplicate values (and rows in them), NULLS [NOT] DISTINCT and partial WHERE honoured; a column the deployment added counts with its DEFAULT, as every existing row gets it', ifAny: 'block', ifNone: 'info', advice: 'Remove or merge the duplicates first, in a separate data migration.', peers: 'Atlas MF101' },
  { id: 'fk-orphans', effect: 'will-fail', dialects: BOTH, matches: 'ADD FOREIGN KEY (without NOT VALID), FOREIGN KEY inside a SQLite rebuild', measures: 'rows whose key is not null and matches no row of the referenced table, per foreign key (ALTER TABLE fails on them; a SQLite rebuild copies them and the key does not hold)', ifAny: 'block', ifNone: null, advice: 'Fix or delete the orphan rows first; on PostgreSQL add the key NOT VALID, clean up, then VALIDATE CONSTRAINT in a later migration.', peers: 'Squawk adding-foreign-key-constraint, strong_migrations add_foreign_key' },
  { id: 'check-violations', effect: 'will-fail', dialects: BOTH, matches: 'ADD CHECK (without NOT VALID), CHECK inside a SQLite rebuild', measures: 'rows for which the expression is false', ifAny: 'block', ifNone: null, advice: 'Fix those rows first, or add the constraint NOT VALID and VALIDATE it after cleaning up.', peers: 'strong_migrations add_check_constraint' },
  { id: 'type-change', effect: 'data-loss', dialects: BOTH, matches: 'ALTER COLUMN ... TYPE, a SQLite rebuild with another column type, Prisma\'s "You are about to alter the column ... cast" and "Changed the type"', measures: 'one query per column: values whose conversion fails, or changes them (rounded, truncated); a cast PostgreSQL never does without USING is block on any data', ifAny: 'block', ifNone: 'info', advice: 'Add a column of the new type, copy and check the values, switch the code, then drop the old column; on PostgreSQL write USING for casts that need one.', peers: 'Squawk changing-column-type, strong_migrations change_column, Atlas MF' },
  { id: 'scalar-to-list', effect: 'will-fail', dialects: PG, matches: 'Prisma\'s "Changed the column ... from a scalar field to a list field"', measures: 'non-null values in the column', ifAny: 'block', ifNone: 'info', advice: 'Add a new list column, copy the values into it, then drop the old column.' },
  { id: 'enum-value-removed', effect: 'will-fail', dialects: PG, matches: 'a column moved to an enum without some values, Prisma\'s "The values [...] on the enum ... will be removed"', measures: 'rows using a removed value, per value', ifAny: 'block', ifNone: 'info', advice: 'Move those rows to a value that stays before removing it.' },
  { id: 'rename-column', effect: 'breaking', dialects: BOTH, matches: 'ALTER TABLE ... RENAME COLUMN (later statements of the deployment see the new name)', measures: 'rows in the table', ifAny: 'warn', ifNone: 'warn', advice: 'The running app still uses the old name until it is redeployed: keep the column name and rename the field with @map, or expand and contract (add the new column, write both, backfill, switch reads, drop the old one later).', peers: 'Squawk renaming-column, strong_migrations rename_column' },
  { id: 'rename-table', effect: 'breaking', dialects: BOTH, matches: 'ALTER TABLE ... RENAME TO (not a SQLite rebuild\'s new_X rename)', measures: 'rows in the table', ifAny: 'warn', ifNone: 'warn', advice: 'The running app still uses the old name until it is redeployed: keep the table name with @@map, or expand and contract (new table, write both, backfill, switch, drop later).', peers: 'Squawk renaming-table, strong_migrations rename_table' },
  { id: 'rename-as-drop-add', effect: 'data-loss', dialects: BOTH, matches: 'a column dropped and one added (or a table dropped and a similar one created) in one migration', measures: 'non-null values (rows) that would not move', ifAny: 'warn', ifNone: 'info', advice: 'If it is a rename, write RENAME COLUMN / RENAME TO instead, or keep the old name with @map / @@map.' },
  { id: 'primary-key-change', effect: 'will-fail', dialects: BOTH, matches: 'Prisma\'s "The primary key for the ... table will be changed" (the new key is measured by unique-duplicates)', measures: 'rows in the table', ifAny: 'warn', ifNone: 'info', advice: 'Check that the new key is unique and not null; on a large table build the unique index CONCURRENTLY first.' },
  { id: 'index-without-concurrently', effect: 'locking', dialects: PG, matches: 'CREATE INDEX without CONCURRENTLY on an existing table', measures: 'rows and size of the table', ifAny: 'warn', ifNone: null, large: true, advice: `Create it with CREATE INDEX CONCURRENTLY in a migration of its own (it cannot run in a transaction). ${LOCK}`, peers: 'Squawk require-concurrent-index-creation, strong_migrations add_index' },
  { id: 'constraint-without-not-valid', effect: 'locking', dialects: PG, matches: 'ADD CHECK / FOREIGN KEY without NOT VALID', measures: 'rows and size of the table (every row is checked under the lock)', ifAny: 'warn', ifNone: null, large: true, advice: `Add it NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later migration (a weaker lock). ${LOCK}`, peers: 'Squawk constraint-missing-not-valid' },
  { id: 'unique-without-index', effect: 'locking', dialects: PG, matches: 'ADD PRIMARY KEY / UNIQUE without USING INDEX', measures: 'rows and size of the table (the index is built under an ACCESS EXCLUSIVE lock)', ifAny: 'warn', ifNone: null, large: true, advice: `CREATE UNIQUE INDEX CONCURRENTLY in its own migration, then ADD CONSTRAINT ... PRIMARY KEY / UNIQUE USING INDEX. ${LOCK}`, peers: 'Squawk disallowed-unique-constraint, adding-serial-primary-key-field' },
  { id: 'set-not-null-scan', effect: 'locking', dialects: PG, matches: 'SET NOT NULL (the whole table is scanned under an ACCESS EXCLUSIVE lock)', measures: 'rows and size of the table', ifAny: 'warn', ifNone: null, large: true, advice: `Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a later migration, then SET NOT NULL (PostgreSQL 12+ skips the scan) and drop the check. ${LOCK}`, peers: 'Squawk adding-not-nullable-field, strong_migrations change_column_null' },
  { id: 'type-change-rewrite', effect: 'locking', dialects: PG, matches: 'ALTER COLUMN ... TYPE that is not a binary-compatible widening (text/varchar lengthened, numeric precision raised with the same scale): the table and its indexes are rewritten', measures: 'rows and size of the table', ifAny: 'warn', ifNone: null, large: true, advice: `Add a column of the new type, backfill it in batches, switch the code, then drop the old column. ${LOCK}`, peers: 'Atlas PG303, Squawk changing-column-type' },
  { id: 'volatile-default', effect: 'locking', dialects: PG, matches: 'ADD COLUMN with a volatile DEFAULT (random(), gen_random_uuid(), clock_timestamp(), nextval, serial) or GENERATED ... STORED: the table is rewritten', measures: 'rows and size of the table', ifAny: 'warn', ifNone: null, large: true, advice: `Add the column without the default (or with a constant one), set the default afterwards, and backfill in batches. ${LOCK}`, peers: 'Squawk adding-field-with-default, strong_migrations add_column default' },
  { id: 'identifier-too-long', effect: 'will-fail', dialects: PG, matches: 'a table, column, index, constraint or type name longer than 63 bytes (PostgreSQL silently truncates it, and Prisma then sees drift)', measures: 'the name\'s length in bytes (no query)', ifAny: 'warn', ifNone: 'warn', advice: 'Choose a shorter name (map: "..." in the schema for indexes and constraints).', peers: 'Atlas naming' },
  { id: 'unknown-table', effect: 'will-fail', dialects: BOTH, matches: 'a statement on a table this database does not have', measures: 'nothing (the schema)', ifAny: 'warn', ifNone: 'warn', advice: 'Check that the migration history matches this database (`prisma migrate status`).' },
  { id: 'prisma-warning', effect: 'advice', dialects: BOTH, matches: 'a Prisma /* Warnings */ line no rule above recognises', measures: 'nothing', ifAny: 'warn', ifNone: 'warn', advice: 'Read the warning and check it by hand: prisma-guard could not measure it.' },
] as const satisfies readonly RuleSpec[];

export type RiskRule = (typeof RULES)[number]['id'];

const BY_ID = new Map<string, RuleSpec>(RULES.map((r) => [r.id, r]));

/** The rule's table entry. */
export function ruleSpec(id: RiskRule): RuleSpec {
  return BY_ID.get(id)!;
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** The README's rule list: a Markdown table generated from RULES. */
export function rulesMarkdown(): string {
  const lines = [
    '| rule | databases | matches | measured on the live data | severity | safer way |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of RULES as readonly RuleSpec[]) {
    const sev = `${r.ifAny}${r.large ? ' from the large-table size' : r.ifNone === r.ifAny ? '' : ' when > 0'}${r.ifNone && r.ifNone !== r.ifAny ? `, else ${r.ifNone}` : ''}`;
    const dbs = r.dialects.length === 2 ? 'both' : r.dialects.map((d) => (d === 'postgres' ? 'PostgreSQL' : 'SQLite')).join(', ');
    lines.push(`| \`${r.id}\` | ${dbs} | ${cell(r.matches)} | ${cell(r.measures)} | ${sev} | ${cell(r.advice)}${r.peers ? ` (peers: ${cell(r.peers)})` : ''} |`);
  }
  return lines.join('\n');
}

/** The markers around the generated table in README.md. */
export const README_RULES_BEGIN = '<!-- migrate-safe rules: generated from lib/guard/rules.ts, do not edit -->';
export const README_RULES_END = '<!-- end of migrate-safe rules -->';
