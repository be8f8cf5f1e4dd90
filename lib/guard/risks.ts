/**
 * Risk rules for pending migrations (pure). Reading a migration script against the live schema
 * yields "questions": a risky statement plus the one number that decides how bad it is on this
 * database (rows in a dropped table, non-null values in a dropped column, duplicate groups under a
 * new unique index...). lib/guard/measure.ts answers them with read-only queries; `judge` turns a
 * question and its answer into a finding with a severity and the safer way to do it. Each question
 * names a rule of lib/guard/rules.ts, which gives its effect, severities, large-table threshold and
 * default advice; what differs between databases comes from Dialect.riskTraits, not dialect names.
 *
 * The analysis follows the deployment statement by statement and migration by migration
 * (SchemaView): tables and columns renamed, dropped, created or rebuilt earlier are resolved to the
 * live rows they hold, so "rename then drop" is measured as the loss of the original's data.
 *
 * SQL fragments in questions quote identifiers with double quotes, which PostgreSQL and SQLite
 * both accept; the measuring side only qualifies table names.
 */
import type { DbSchema, TableSchema } from '../core/types.ts';
import type { RiskTraits } from '../dialects/dialect.ts';
import { bareName, inSchema, isMultiSchema, sameSchemaKey, tableKeyOf } from './names.ts';
import { ruleSpec, type Effect, type RiskRule, type Severity } from './rules.ts';
import { closingParen, IDENT, identList, objectName, prismaWarnings, QNAME, splitStatements, splitTopLevel, topLevelKeyword, unquote, type PrismaWarning, type SqlStatement } from './sql.ts';

export type { Effect, RiskRule, Severity } from './rules.ts';
/**
 * Rows computed from a table as a rebuild copies them: `FROM (SELECT expr AS "as", ... FROM table) AS src`,
 * so a constraint of the new table is measured on exactly the rows `INSERT INTO new_X ... SELECT` would copy.
 */
export interface Projection {
  select: { as: string; expr: string }[];
}

/** What to count on the live database (identifiers already double-quoted in SQL fragments). */
export type Measure =
  | { kind: 'rows'; table: string }
  /** Rows (exact) and on-disk size of a table: the locking rules. */
  | { kind: 'table-size'; table: string }
  | { kind: 'non-null'; table: string; column: string }
  | { kind: 'nulls'; table: string; columns: string[]; source?: Projection }
  | { kind: 'duplicate-groups'; table: string; columns: string[]; where?: string; nullsDistinct: boolean; source?: Projection }
  /** Values of `column` that fail or change when cast to `toType` (`using`: PostgreSQL USING expression). */
  | { kind: 'cast'; table: string; column: string; fromType: string; toType: string; using?: string }
  /** Rows whose value (as text) is in `values`. */
  | { kind: 'values-in'; table: string; column: string; values: string[] }
  /** Non-null rows whose value (as text) is not in `values`. */
  | { kind: 'values-not-in'; table: string; column: string; values: string[] }
  | { kind: 'check-violations'; table: string; expression: string; source?: Projection }
  /** Rows whose `columns` are all non-null and match no row of `refTable` (`refEmpty`: created by the deployment, so empty). */
  | { kind: 'orphans'; table: string; columns: string[]; refTable: string; refColumns: string[]; refEmpty?: boolean; source?: Projection }
  /** Rows of `table` a DELETE/UPDATE touches: its alias, FROM/USING list and WHERE as written. */
  | { kind: 'where'; table: string; alias?: string; from?: string; where?: string }
  /** Rows in every table and materialized view of a schema, and its objects. */
  | { kind: 'schema-contents'; schema: string }
  /** A sequence: `users` columns take their default from it (counted from the live schema); its last value. */
  | { kind: 'sequence'; sequence: string; users: number }
  /** A number known without a query (an identifier's length). */
  | { kind: 'known'; value: number }
  | { kind: 'none' };

export interface RiskQuestion {
  migration: string;
  statementIndex: number;
  /** The statement as written (trimmed). */
  statement: string;
  line: number;
  rule: RiskRule;
  effect: Effect;
  table?: string;
  column?: string;
  measure: Measure;
  /** Severity when the measured number is above zero, and when it is zero (null: no finding then). */
  severityIfAny: Severity;
  severityIfNone: Severity | null;
  /** The number counts as "above zero" only from this value on (default 1): "large table" rules. */
  threshold?: number;
  /** What the statement does, e.g. `drops column "users"."bio"`. */
  what: string;
  /** What the number counts, e.g. `non-null values would be lost`. */
  unit: string;
  /** The safer way to do it. */
  advice: string;
  /** Prisma's own warning for this change, when the file's header has one. */
  prismaWarning?: string;
  source: 'sql' | 'prisma-warning' | 'both';
}

/** A measured answer: the number, or null with the reason it could not be measured. */
export interface Measured {
  value: number | null;
  /** The number is a lower bound (counting stopped early). */
  lowerBound?: boolean;
  /** Extra numbers (e.g. rows inside duplicate groups). */
  detail?: string;
  error?: string;
  /** The statement fails on any data (e.g. a cast PostgreSQL does not do without USING): block, whatever the number. */
  alwaysFails?: string;
}

export interface RiskFinding {
  migration: string;
  severity: Severity;
  rule: RiskRule;
  effect: Effect;
  statement: string;
  statementIndex: number;
  line: number;
  table?: string;
  column?: string;
  /** The measured number (null when it could not be measured). */
  measured: number | null;
  /** More numbers behind it (rows in duplicate groups, table size, values per enum label...). */
  detail?: string;
  message: string;
  advice: string;
  prismaWarning?: string;
  source: RiskQuestion['source'];
}

export interface AnalyzeOptions {
  /** The database's traits (Dialect.riskTraits): which rules apply. */
  traits: RiskTraits;
  /** Tables at or above this row count are "large" for CREATE INDEX without CONCURRENTLY. */
  largeTableRows?: number;
}

export const DEFAULT_LARGE_TABLE_ROWS = 100_000;

/** Quotes an identifier with double quotes (valid in PostgreSQL and SQLite). */
export function dq(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Types compared loosely: lower case, PostgreSQL aliases and qualification removed. */
export function normalizeType(t: string): string {
  let s = t.toLowerCase().replace(/"/g, '').replace(/\s+/g, ' ').trim();
  s = s.replace(/^[a-z_][\w]*\./, '');
  s = s.replace(/ without time zone/g, '').replace(/^timestamp with time zone/, 'timestamptz');
  const alias: Record<string, string> = { int4: 'integer', int: 'integer', int8: 'bigint', int2: 'smallint', bool: 'boolean', float8: 'double precision', float4: 'real', varchar: 'character varying', serial: 'integer', bigserial: 'bigint' };
  const base = /^([a-z ]+?)(\(.*\))?(\[\])?$/.exec(s);
  if (base && alias[base[1]]) s = alias[base[1]] + (base[2] ?? '') + (base[3] ?? '');
  if (s.startsWith('character varying(') || s === 'character varying') return s;
  return s;
}

/** Tracks, statement by statement, which tables this deployment created, renamed or dropped. */
class SchemaView {
  private created = new Set<string>();
  private renamedFrom = new Map<string, string>();
  private dropped = new Set<string>();
  constructor(readonly live: DbSchema) {}
  /**
   * The key of the table a name in the migration means at this point (see lib/guard/names.ts):
   * its bare name for one schema, `schema.table` for several.
   */
  key(qname: string): string {
    return tableKeyOf(this.live, qname, (k) => this.resolve(k) !== undefined);
  }
  /** The key of `name` in the schema of table `key` (RENAME TO keeps the schema). */
  sibling(key: string, name: string): string {
    return sameSchemaKey(this.live, key, name);
  }
  /** The bare table name of a key. */
  bare(key: string): string {
    return bareName(this.live, key);
  }
  inSchema(key: string, namespace: string): boolean {
    return inSchema(this.live, key, namespace);
  }
  /** The key CREATE TABLE gives a name (unqualified: the first schema of the search path). */
  createKey(qname: string): string {
    return tableKeyOf(this.live, qname);
  }
  /** The key of a bare table name as Prisma's warnings print it (one schema: the name itself). */
  keyOfName(name: string): string {
    return isMultiSchema(this.live) ? this.key(dq(name)) : name;
  }
  /** A table key for messages and advice: `"b"."User"` for several schemas, `"User"` for one. */
  q(key: string): string {
    if (!isMultiSchema(this.live)) return dq(key);
    const bare = this.bare(key);
    return bare === key ? dq(key) : `${dq(key.slice(0, key.length - bare.length - 1))}.${dq(bare)}`;
  }
  liveTable(name: string): TableSchema | undefined {
    return this.live.tables.find((t) => t.name === name) ?? this.live.tables.find((t) => t.name.toLowerCase() === name.toLowerCase());
  }
  /** The live table a name refers to at this point of the deployment; 'new' when created by it. */
  resolve(name: string): TableSchema | 'new' | undefined {
    const key = name.toLowerCase();
    if (this.created.has(key)) return 'new';
    const from = this.renamedFrom.get(key);
    if (from) return this.liveTable(from);
    if (this.dropped.has(key)) return undefined;
    return this.liveTable(name);
  }
  create(name: string) {
    this.created.add(name.toLowerCase());
    this.dropped.delete(name.toLowerCase());
  }
  drop(name: string) {
    const key = name.toLowerCase();
    this.created.delete(key);
    this.renamedFrom.delete(key);
    this.dropped.add(key);
  }
  rename(from: string, to: string) {
    const src = this.resolve(from);
    this.drop(from);
    this.dropped.delete(to.toLowerCase());
    if (src === 'new') this.create(to);
    else if (src) this.renamedFrom.set(to.toLowerCase(), src.name);
  }
  isNew(name: string): boolean {
    return this.created.has(name.toLowerCase());
  }
  /** `name` now refers to the rows of live table `liveName` (a rebuilt table keeps its rows). */
  alias(name: string, liveName: string) {
    this.dropped.delete(name.toLowerCase());
    this.renamedFrom.set(name.toLowerCase(), liveName);
  }
  /** Enum types created by this deployment: name -> values. */
  enums = new Map<string, string[]>();
  /** Column renames of this deployment: live table (lower case) -> current name (lower case) -> live column name. */
  private columnNames = new Map<string, Map<string, string>>();
  /** The live column a name refers to now, and the live name when the deployment renamed it. */
  column(t: TableSchema, name: string): { column: TableSchema['columns'][number]; renamedFrom?: string } | undefined {
    const names = this.columnNames.get(t.name.toLowerCase());
    const liveName = names?.get(name.toLowerCase());
    if (liveName !== undefined) {
      const c = col(t, liveName);
      return c ? { column: c, renamedFrom: c.name.toLowerCase() === name.toLowerCase() ? undefined : c.name } : undefined;
    }
    // A live column renamed away no longer answers to its old name.
    if (names && [...names.values()].some((v) => v.toLowerCase() === name.toLowerCase())) return undefined;
    const c = col(t, name);
    return c ? { column: c } : undefined;
  }
  /** Columns this deployment added to live tables: live table (lower case) -> column (lower case) -> its DEFAULT expression, or NULL. */
  private added = new Map<string, Map<string, string>>();
  addColumn(t: TableSchema, name: string, defaultExpr: string | undefined) {
    const cols = this.added.get(t.name.toLowerCase()) ?? new Map<string, string>();
    cols.set(name.toLowerCase(), defaultExpr ?? 'NULL');
    this.added.set(t.name.toLowerCase(), cols);
  }
  /**
   * Columns as the existing rows hold them at this point of the deployment, for a unique key over
   * `names`: a live column under its live name, a column the deployment added as its DEFAULT (every
   * existing row gets it). Null when a name is neither (then nothing is measured differently).
   */
  rowsAsOf(t: TableSchema, names: string[]): { projection?: Projection; columns: string[] } | null {
    const added = this.added.get(t.name.toLowerCase());
    const exprs = names.map((n) => {
      const a = added?.get(n.toLowerCase());
      if (a !== undefined) return { as: n, expr: a, added: true };
      const live = this.column(t, n);
      return live ? { as: n, expr: dq(live.column.name), added: false } : null;
    });
    if (exprs.some((e) => e === null)) return null;
    const list = exprs as { as: string; expr: string; added: boolean }[];
    if (!list.some((e) => e.added)) return { columns: list.map((e) => e.expr) };
    return { projection: { select: list.map(({ as, expr }) => ({ as, expr })) }, columns: list.map((e) => dq(e.as)) };
  }
  renameColumn(t: TableSchema, from: string, to: string) {
    const src = this.column(t, from);
    const names = this.columnNames.get(t.name.toLowerCase()) ?? new Map<string, string>();
    names.delete(from.toLowerCase());
    if (src) names.set(to.toLowerCase(), src.column.name);
    this.columnNames.set(t.name.toLowerCase(), names);
  }
}

function col(t: TableSchema, name: string) {
  return t.columns.find((c) => c.name === name) ?? t.columns.find((c) => c.name.toLowerCase() === name.toLowerCase());
}

/** A column definition inside CREATE TABLE / ADD COLUMN. */
export interface ColumnDef {
  name: string;
  type: string;
  notNull: boolean;
  hasDefault: boolean;
  /** The DEFAULT expression as written. */
  defaultExpr?: string;
  /** GENERATED ALWAYS AS (...) STORED. */
  generatedStored?: boolean;
  /** Column-level REFERENCES t [(c)], CHECK (...), UNIQUE. */
  references?: { table: string; columns: string[]; qname?: string };
  check?: string;
  unique?: boolean;
}

/** Parses `"name" TYPE [NOT NULL] [DEFAULT x] [PRIMARY KEY ...]`. */
export function parseColumnDef(def: string): ColumnDef | null {
  const m = new RegExp(`^(${IDENT})\\s+(.*)$`, 's').exec(def.trim());
  if (!m) return null;
  const name = unquote(m[1]);
  if (/^(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)$/i.test(m[1])) return null;
  const rest = m[2];
  const kw = /\s(NOT\s+NULL|NULL|DEFAULT|PRIMARY\s+KEY|UNIQUE|REFERENCES|CHECK|CONSTRAINT|GENERATED|COLLATE)\b/i.exec(' ' + rest);
  const type = (kw ? (' ' + rest).slice(0, kw.index) : rest).trim();
  const serial = /^(small|big)?serial\b/i.test(type);
  const rowid = /^INTEGER$/i.test(type) && /PRIMARY\s+KEY/i.test(rest);
  const dflt = /\bDEFAULT\s+(.*?)(?=\s+(?:NOT\s+NULL|NULL|PRIMARY\s+KEY|UNIQUE|REFERENCES|CHECK|CONSTRAINT|GENERATED|COLLATE)\b|$)/is.exec(rest);
  const ref = new RegExp(`\\bREFERENCES\\s+(${QNAME})\\s*(?:\\(([^)]*)\\))?`, 'i').exec(rest);
  const checkAt = /\bCHECK\s*\(/i.exec(rest);
  const check = checkAt ? rest.slice(checkAt.index + checkAt[0].length, closingParen(rest, checkAt.index + checkAt[0].length - 1)) : undefined;
  return {
    name,
    type,
    defaultExpr: dflt?.[1].trim(),
    generatedStored: /\bGENERATED\s+ALWAYS\s+AS\s*\(.*\)\s*STORED\b/is.test(rest),
    references: ref ? { table: objectName(ref[1]), columns: ref[2] ? identList(ref[2]) : [], qname: ref[1] } : undefined,
    check,
    unique: /\bUNIQUE\b/i.test(rest),
    notNull: /\bNOT\s+NULL\b/i.test(rest) || /PRIMARY\s+KEY/i.test(rest),
    hasDefault: /\bDEFAULT\b/i.test(rest) || /\bGENERATED\b/i.test(rest) || /\bAUTOINCREMENT\b/i.test(rest) || serial || rowid,
  };
}

/** Columns of a CREATE TABLE statement (constraints skipped). */
export function createTableColumns(normalized: string): { table: string; qname: string; columns: ColumnDef[]; constraints: string[] } | null {
  const m = new RegExp(`^CREATE\\s+(?:TEMP\\w*\\s+|UNLOGGED\\s+)?TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?(${QNAME})\\s*\\(`, 'i').exec(normalized);
  if (!m) return null;
  const open = m[0].length - 1;
  const close = closingParen(normalized, open);
  const body = normalized.slice(open + 1, close < 0 ? undefined : close);
  const parts = splitTopLevel(body);
  const columns = parts.map(parseColumnDef).filter((c): c is ColumnDef => c !== null);
  const constraints = parts.filter((p) => /^(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)\b/i.test(p.trim()));
  return { table: objectName(m[1]), qname: m[1], columns, constraints };
}

interface Redefinition {
  newTable: string;
  table: string;
  create: number;
  insert?: number;
  drop: number;
  rename: number;
}

/** Finds SQLite "redefine table" groups: CREATE new_X; INSERT INTO new_X SELECT ... FROM X; DROP X; ALTER new_X RENAME TO X. */
export function findRedefinitions(statements: SqlStatement[]): Redefinition[] {
  const out: Redefinition[] = [];
  statements.forEach((s, i) => {
    const m = new RegExp(`^ALTER\\s+TABLE\\s+(${QNAME})\\s+RENAME\\s+TO\\s+(${QNAME})$`, 'i').exec(s.normalized);
    if (!m) return;
    const from = objectName(m[1]).toLowerCase();
    const to = objectName(m[2]).toLowerCase();
    const dropRe = new RegExp(`^DROP\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(${QNAME})$`, 'i');
    const insertRe = new RegExp(`^INSERT\\s+INTO\\s+(${QNAME})`, 'i');
    let drop = -1;
    let create = -1;
    for (let k = i - 1; k >= 0 && (drop < 0 || create < 0); k--) {
      const x = statements[k].normalized;
      const d = dropRe.exec(x);
      if (drop < 0 && d && objectName(d[1]).toLowerCase() === to) drop = k;
      if (create < 0 && createTableColumns(x)?.table.toLowerCase() === from) create = k;
    }
    if (drop < 0 || create < 0 || create > drop) return;
    let insert = -1;
    for (let k = create + 1; k < drop && insert < 0; k++) {
      const ins = insertRe.exec(statements[k].normalized);
      if (ins && objectName(ins[1]).toLowerCase() === from) insert = k;
    }
    out.push({ newTable: objectName(m[1]), table: objectName(m[2]), create, insert: insert < 0 ? undefined : insert, drop, rename: i });
  });
  return out;
}

/** Parses `INSERT INTO t (a, b) SELECT x, y FROM s`. */
function parseInsertSelect(normalized: string): { targets: string[]; exprs: string[]; source: string } | null {
  const m = new RegExp(`^INSERT\\s+INTO\\s+${QNAME}\\s*\\(`, 'i').exec(normalized);
  if (!m) return null;
  const open = m[0].length - 1;
  const close = closingParen(normalized, open);
  if (close < 0) return null;
  const targets = identList(normalized.slice(open + 1, close));
  const rest = normalized.slice(close + 1).trim();
  const sel = new RegExp(`^SELECT\\s+(.*)\\s+FROM\\s+(${QNAME})\\s*$`, 'is').exec(rest);
  if (!sel) return null;
  return { targets, exprs: splitTopLevel(sel[1]), source: objectName(sel[2]) };
}

const plainColumn = (expr: string): string | null => {
  const m = new RegExp(`^(${IDENT})$`).exec(expr.trim());
  return m ? unquote(m[1]) : null;
};


/**
 * Reads pending migrations against the live schema and returns the questions to measure.
 * `migrations` are in the order Prisma applies them; later migrations see earlier ones' changes
 * (renames, drops, rebuilds), so a rename followed by a drop is measured on the original's data.
 */
export function analyzeMigrations(migrations: { name: string; sql: string }[], live: DbSchema, options: AnalyzeOptions): RiskQuestion[] {
  const view = new SchemaView(live);
  const out: RiskQuestion[] = [];
  for (const m of migrations) out.push(...analyzeOne(m.name, m.sql, view, options));
  return out;
}

/** A question as a rule writes it: effect, severities, threshold and default advice come from the rule table. */
type Ask = (s: SqlStatement, q: AskInput) => void;
type AskInput = Omit<RiskQuestion, 'migration' | 'statementIndex' | 'statement' | 'line' | 'source' | 'effect' | 'severityIfAny' | 'severityIfNone' | 'advice'> &
  Partial<Pick<RiskQuestion, 'severityIfAny' | 'severityIfNone' | 'advice'>>;

interface Tracked {
  table: string;
  column: string;
  type: string;
  at: SqlStatement;
}

interface Ctx {
  view: SchemaView;
  options: AnalyzeOptions;
  traits: RiskTraits;
  ask: Ask;
  droppedColumns: Tracked[];
  addedColumns: Tracked[];
}

const ident = (name: string, t: string) => `${t} ${dq(name)}`;

/** Names a statement defines (tables, columns, indexes, constraints, types), for the length rule. */
function definedNames(n: string): { kind: string; name: string }[] {
  const out: { kind: string; name: string }[] = [];
  const created = createTableColumns(n);
  if (created) {
    out.push({ kind: 'table', name: created.table });
    for (const c of created.columns) out.push({ kind: 'column', name: c.name });
  }
  let m: RegExpExecArray | null;
  if ((m = new RegExp(`^CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+(?:CONCURRENTLY\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(${QNAME})\\s+ON\\b`, 'i').exec(n))) out.push({ kind: 'index', name: objectName(m[1]) });
  if ((m = /^CREATE\s+TYPE\s+(\S+)/i.exec(n))) out.push({ kind: 'type', name: objectName(m[1]) });
  for (const c of n.matchAll(new RegExp(`\\bCONSTRAINT\\s+(${IDENT})`, 'gi'))) out.push({ kind: 'constraint', name: unquote(c[1]) });
  for (const c of n.matchAll(new RegExp(`\\bADD\\s+(?:COLUMN\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(${IDENT})\\s`, 'gi'))) if (!/^(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)$/i.test(c[1])) out.push({ kind: 'column', name: unquote(c[1]) });
  for (const c of n.matchAll(new RegExp(`\\bRENAME\\s+(?:COLUMN\\s+${IDENT}\\s+|CONSTRAINT\\s+${IDENT}\\s+|${IDENT}\\s+)?TO\\s+(${QNAME})`, 'gi'))) out.push({ kind: 'name', name: objectName(c[1]) });
  return out;
}

/** A type change PostgreSQL does without rewriting the table: to text, a longer varchar, numeric with more precision and the same scale. */
export function binaryWidening(from: string, to: string): boolean {
  const a = normalizeType(from);
  const b = normalizeType(to);
  if (a === b) return true;
  const len = (t: string) => /^(?:character varying|text)(?:\((\d+)\))?$/.exec(t);
  const la = len(a);
  const lb = len(b);
  if (la && lb) return b === 'text' || b === 'character varying' || (la[1] !== undefined && lb[1] !== undefined && Number(lb[1]) >= Number(la[1]));
  const num = (t: string) => /^(?:numeric|decimal)(?:\((\d+)(?:,\s*(\d+))?\))?$/.exec(t);
  const na = num(a);
  const nb = num(b);
  if (na && nb) return nb[1] === undefined || (na[1] !== undefined && Number(nb[1]) >= Number(na[1]) && (nb[2] ?? '0') === (na[2] ?? '0'));
  return false;
}

/** Volatile defaults rewrite the whole table on ADD COLUMN (a constant or stable one does not, PostgreSQL 11+). */
const VOLATILE = /\b(random|gen_random_uuid|uuid_generate_v[14]|clock_timestamp|timeofday|nextval|txid_current|gen_random_bytes)\s*\(/i;

function analyzeOne(migration: string, sql: string, view: SchemaView, options: AnalyzeOptions): RiskQuestion[] {
  const Q = (key: string) => view.q(key);
  const { traits } = options;
  const statements = splitStatements(sql);
  const redefinitions = findRedefinitions(statements);
  const out: RiskQuestion[] = [];
  const large = options.largeTableRows ?? DEFAULT_LARGE_TABLE_ROWS;
  const ask: Ask = (s, q) => {
    const spec = ruleSpec(q.rule);
    out.push({
      migration,
      statementIndex: s.index,
      statement: s.text,
      line: s.line,
      source: 'sql',
      effect: spec.effect,
      severityIfAny: spec.ifAny,
      severityIfNone: spec.ifNone,
      advice: spec.advice,
      ...(spec.large ? { threshold: large } : {}),
      ...q,
    });
  };
  const c: Ctx = { view, options, traits, ask, droppedColumns: [], addedColumns: [] };
  const droppedTables: { table: TableSchema; at: SqlStatement }[] = [];
  const createdTables: { table: string; qname: string; columns: ColumnDef[] }[] = [];

  for (const s of statements) {
    const n = s.normalized;
    let m: RegExpExecArray | null;
    if (traits.maxIdentifierBytes !== null) {
      for (const d of definedNames(n)) {
        const bytes = Buffer.byteLength(d.name, 'utf8');
        if (bytes > traits.maxIdentifierBytes) ask(s, { rule: 'identifier-too-long', measure: { kind: 'known', value: bytes }, what: `names ${d.kind} ${dq(d.name)}, ${bytes} bytes long: the database keeps only the first ${traits.maxIdentifierBytes}`, unit: 'bytes' });
      }
    }
    const redef = redefinitions.find((r) => r.drop === s.index);
    if (redef) {
      const key = view.keyOfName(redef.table);
      const t = view.resolve(key);
      if (t && t !== 'new') analyzeRedefinition(redef, statements, t, c);
      view.drop(key);
      continue;
    }
    if (redefinitions.some((r) => r.rename === s.index)) {
      // The new table takes the old one's name; it holds the copied rows.
      const r = redefinitions.find((x) => x.rename === s.index)!;
      const key = view.keyOfName(r.table);
      const old = view.live.tables.find((t) => t.name.toLowerCase() === key.toLowerCase());
      view.drop(view.keyOfName(r.newTable));
      if (old && !view.isNew(key)) view.alias(key, old.name);
      else view.create(key);
      continue;
    }
    if ((m = /^CREATE\s+TYPE\s+(\S+)\s+AS\s+ENUM\s*\((.*)\)$/is.exec(n))) {
      view.enums.set(objectName(m[1]), splitTopLevel(m[2]).map((v) => v.trim().replace(/^'|'$/g, '').replaceAll("''", "'")));
      continue;
    }
    const created = createTableColumns(n);
    if (created) {
      const key = view.createKey(created.qname);
      view.create(key);
      createdTables.push({ ...created, table: key });
      continue;
    }
    if ((m = /^DROP\s+SCHEMA\s+(?:IF\s+EXISTS\s+)?(.*?)(\s+(?:CASCADE|RESTRICT))?$/i.exec(n))) {
      const cascade = /CASCADE/i.test(m[2] ?? '');
      for (const schemaName of splitTopLevel(m[1]).map((x) => unquote(x))) {
        ask(s, { rule: 'drop-schema', measure: { kind: 'schema-contents', schema: schemaName }, what: cascade ? `drops schema ${dq(schemaName)} with everything in it (CASCADE)` : `drops schema ${dq(schemaName)} (fails unless it is empty)`, unit: 'rows in its tables would be lost' });
        for (const t of view.live.tables) if (view.inSchema(t.name, schemaName)) view.drop(t.name);
      }
      continue;
    }
    if ((m = /^DROP\s+DATABASE\s+(?:IF\s+EXISTS\s+)?(\S+)/i.exec(n))) {
      ask(s, { rule: 'drop-database', measure: { kind: 'none' }, what: `drops database ${dq(unquote(m[1]))}`, unit: '' });
      continue;
    }
    if ((m = /^DROP\s+MATERIALIZED\s+VIEW\s+(?:IF\s+EXISTS\s+)?(.*?)(\s+(?:CASCADE|RESTRICT))?$/i.exec(n))) {
      for (const name of splitTopLevel(m[1]).map((x) => view.key(x))) ask(s, { rule: 'drop-materialized-view', table: name, measure: { kind: 'rows', table: name }, what: `drops materialized view ${Q(name)}`, unit: 'rows it holds would be gone' });
      continue;
    }
    if ((m = /^DROP\s+SEQUENCE\s+(?:IF\s+EXISTS\s+)?(.*?)(\s+(?:CASCADE|RESTRICT))?$/i.exec(n))) {
      for (const written of splitTopLevel(m[1])) {
        const name = objectName(written);
        const users = view.live.tables.flatMap((t) => t.columns.filter((x) => x.default !== null && new RegExp(`nextval\\('(?:[^']*\\.)?"?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?'`, 'i').test(x.default!)).map((x) => `${t.name}.${x.name}`));
        ask(s, { rule: 'drop-sequence', measure: { kind: 'sequence', sequence: view.key(written), users: users.length }, what: `drops sequence ${Q(name)}${users.length ? ` (the default of ${users.join(', ')})` : ''}`, unit: 'columns take their default from it' });
      }
      continue;
    }
    if ((m = new RegExp(`^DROP\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(.*?)(\\s+(?:CASCADE|RESTRICT))?$`, 'i').exec(n))) {
      for (const name of splitTopLevel(m[1]).map((x) => view.key(x))) {
        const t = view.resolve(name);
        if (t && t !== 'new') {
          droppedTables.push({ table: t, at: s });
          const renamed = t.name.toLowerCase() !== name.toLowerCase() ? ` (renamed from ${Q(t.name)} earlier in this deployment)` : '';
          ask(s, { rule: 'drop-table', table: t.name, measure: { kind: 'rows', table: t.name }, what: `drops table ${Q(name)}${renamed}`, unit: 'rows would be lost', advice: `Back the rows up or move them first; if the model was renamed, rename the table (ALTER TABLE ${Q(t.name)} RENAME TO ...) or keep its name with @@map("${view.bare(t.name)}").` });
        }
        view.drop(name);
      }
      continue;
    }
    if ((m = /^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(.*?)((?:\s+(?:RESTART|CONTINUE)\s+IDENTITY)?(?:\s+(CASCADE|RESTRICT))?)$/i.exec(n))) {
      const cascade = /CASCADE/i.test(m[3] ?? '');
      const names = splitTopLevel(m[1]).map((x) => view.key(x));
      const tables = new Set<string>();
      for (const name of names) {
        const t = view.resolve(name);
        if (t && t !== 'new') tables.add(t.name);
      }
      if (cascade) {
        // CASCADE also empties every table that references a truncated one, transitively.
        let grew = true;
        while (grew) {
          grew = false;
          for (const t of view.live.tables) if (!tables.has(t.name) && t.foreignKeys.some((fk) => tables.has(fk.refTable))) tables.add(t.name), (grew = true);
        }
      }
      for (const name of tables) {
        ask(s, { rule: 'truncate', table: name, measure: { kind: 'rows', table: name }, what: `${cascade && !names.some((x) => x.toLowerCase() === name.toLowerCase()) ? 'empties (through TRUNCATE ... CASCADE)' : 'empties'} table ${Q(name)}`, unit: 'rows would be deleted', advice: cascade ? 'Name every table to empty explicitly instead of CASCADE, and back the rows up first; data changes belong in a script you run on purpose, not in a schema migration.' : 'Back the rows up first; data changes belong in a script you run on purpose, not in a schema migration.' });
      }
      continue;
    }
    const dml = parseDmlTarget(n);
    if (dml) {
      const key = view.key(dml.qname);
      const t = view.resolve(key);
      if (t === undefined) ask(s, unknownTable(key));
      else if (t !== 'new') {
        const del = dml.verb === 'DELETE';
        ask(s, { rule: del ? 'delete-rows' : 'update-rows', table: t.name, measure: { kind: 'where', table: t.name, alias: dml.alias, from: dml.from, where: dml.where }, what: `${del ? 'deletes' : 'rewrites'} rows of ${Q(t.name)}${dml.where ? ` WHERE ${dml.where.length > 80 ? dml.where.slice(0, 77) + '...' : dml.where}` : ' (every row)'}`, unit: del ? 'rows would be deleted' : 'rows would be rewritten' });
      }
      continue;
    }
    if ((m = new RegExp(`^CREATE\\s+(UNIQUE\\s+)?INDEX\\s+(CONCURRENTLY\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(?:${QNAME}\\s+)?ON\\s+(?:ONLY\\s+)?(${QNAME})\\s*(?:USING\\s+\\w+\\s*)?\\(`, 'i').exec(n))) {
      const open = m[0].length - 1;
      const close = closingParen(n, open);
      const cols = splitTopLevel(n.slice(open + 1, close)).map((x) => x.replace(/\s+(ASC|DESC)$/i, '').replace(/\s+NULLS\s+(FIRST|LAST)$/i, '').trim());
      const tail = n.slice(close + 1);
      const where = /\bWHERE\s+(.*)$/i.exec(tail)?.[1];
      const t = view.resolve(view.key(m[3]));
      if (t === undefined) {
        ask(s, unknownTable(view.key(m[3])));
        continue;
      }
      if (t === 'new') continue;
      // Index expressions name columns as they are called now: map renamed ones back to the live names.
      const plain = cols.map(plainColumn);
      // Plain columns as the rows hold them now (renamed: the live name; added by the deployment: its default).
      const asOf = plain.every((x): x is string => x !== null) && !where ? view.rowsAsOf(t, plain as string[]) : null;
      const liveCols = asOf?.columns ?? cols.map((x) => {
        const p = plainColumn(x);
        return p ? dq(view.column(t, p)?.column.name ?? p) : x;
      });
      if (m[1]) {
        const nullsDistinct = !/NULLS\s+NOT\s+DISTINCT/i.test(tail);
        ask(s, { rule: 'unique-duplicates', table: t.name, column: cols.map((x) => plainColumn(x) ?? x).join(', '), measure: { kind: 'duplicate-groups', table: t.name, columns: liveCols, where, nullsDistinct, ...(asOf?.projection ? { source: asOf.projection } : {}) }, what: `adds a unique index on ${Q(t.name)} (${cols.join(', ')})`, unit: 'groups of duplicate values exist: the migration would fail', advice: `Remove or merge the duplicates first (find them with SELECT ${cols.join(', ')}, count(*) FROM ${Q(t.name)} GROUP BY ${cols.join(', ')} HAVING count(*) > 1), in a separate data migration.` });
      }
      if (traits.tableLocks && !m[2]) {
        ask(s, { rule: 'index-without-concurrently', table: t.name, measure: { kind: 'table-size', table: t.name }, what: `builds an index on ${Q(t.name)} without CONCURRENTLY (writes to the table wait until it is built)`, unit: 'rows in the table' });
      }
      continue;
    }
    if ((m = new RegExp(`^ALTER\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?(?:ONLY\\s+)?(${QNAME})\\s+(.*)$`, 'is').exec(n))) {
      const tableName = view.key(m[1]);
      const actions = splitTopLevel(m[2]);
      const renameTo = new RegExp(`^RENAME\\s+TO\\s+(${QNAME})$`, 'i').exec(actions[0] ?? '');
      if (renameTo) {
        const to = view.sibling(tableName, objectName(renameTo[1]));
        const t = view.resolve(tableName);
        if (t && t !== 'new') ask(s, { rule: 'rename-table', table: t.name, measure: { kind: 'rows', table: t.name }, what: `renames table ${Q(tableName)} to ${Q(to)}: the running app still uses the old name until it is redeployed`, unit: 'rows in the table', advice: `Keep the table name with @@map("${view.bare(tableName)}") on the renamed model, or expand and contract: a new table, write both, backfill, switch reads, drop ${Q(tableName)} in a later release.` });
        view.rename(tableName, to);
        continue;
      }
      const t = view.resolve(tableName);
      if (t === undefined) {
        ask(s, unknownTable(tableName));
        continue;
      }
      for (const action of actions) analyzeAlterAction(action, s, t, tableName, c);
      continue;
    }
  }

  // A drop and an add in the same table in the same migration often is a rename Prisma could not see.
  for (const d of c.droppedColumns) {
    const adds = c.addedColumns.filter((a) => a.table === d.table && a.column.toLowerCase() !== d.column.toLowerCase());
    const sameType = adds.filter((a) => normalizeType(a.type) === normalizeType(d.type));
    const pair = sameType.length === 1 ? sameType[0] : adds.length === 1 && c.droppedColumns.filter((x) => x.table === d.table).length === 1 ? adds[0] : undefined;
    if (!pair) continue;
    ask(d.at, { rule: 'rename-as-drop-add', table: d.table, column: d.column, measure: { kind: 'non-null', table: d.table, column: d.column }, what: `drops ${Q(d.table)}.${dq(d.column)} and adds ${dq(pair.column)} (${pair.type}): this looks like a rename written as drop + add`, unit: 'values would not move to the new column', advice: `If it is a rename, write ALTER TABLE ${Q(d.table)} RENAME COLUMN ${dq(d.column)} TO ${dq(pair.column)} instead (edit the migration), or keep the old column name with @map("${d.column}") in the schema.` });
  }
  for (const d of droppedTables) {
    const names = new Set(d.table.columns.map((x) => x.name.toLowerCase()));
    const similar = createdTables.find((x) => x.table.toLowerCase() !== d.table.name.toLowerCase() && x.columns.length > 0 && x.columns.filter((y) => names.has(y.name.toLowerCase())).length / Math.max(names.size, x.columns.length) >= 0.8);
    if (!similar) continue;
    ask(d.at, { rule: 'rename-as-drop-add', table: d.table.name, measure: { kind: 'rows', table: d.table.name }, what: `drops table ${Q(d.table.name)} and creates ${Q(similar.table)} with the same columns: this looks like a rename written as drop + create`, unit: 'rows would not move to the new table', advice: `If it is a rename, write ALTER TABLE ${Q(d.table.name)} RENAME TO ${Q(similar.table)} instead, or keep the table name with @@map("${d.table.name}").` });
  }

  // Prisma's own warnings, re-checked against this database.
  for (const w of prismaWarnings(sql)) mergeWarning(w, out, view, migration, statements, ask);
  return out;
}

/** `DELETE FROM t [AS a] [USING ...] [WHERE ...]` / `UPDATE t [AS a] SET ... [FROM ...] [WHERE ...]` (RETURNING ignored). */
export function parseDml(n: string): { verb: 'DELETE' | 'UPDATE'; table: string; alias?: string; from?: string; where?: string } | null {
  const d = parseDmlTarget(n);
  if (!d) return null;
  const { qname: _, ...rest } = d;
  return rest;
}

/** parseDml, with the table's name as written (`qname`, maybe schema-qualified). */
function parseDmlTarget(n: string): { verb: 'DELETE' | 'UPDATE'; table: string; qname: string; alias?: string; from?: string; where?: string } | null {
  const m = new RegExp(`^(?:WITH\\b.*?\\s)?(DELETE\\s+FROM|UPDATE)\\s+(?:ONLY\\s+)?(${QNAME})(?:\\s*\\*)?(?:\\s+(?:AS\\s+)?(?!SET\\b|WHERE\\b|USING\\b|RETURNING\\b)(${IDENT}))?\\s*(.*)$`, 'is').exec(n);
  if (!m || /^WITH\b/i.test(n)) return null;
  const verb = /^DELETE/i.test(m[1]) ? 'DELETE' : 'UPDATE';
  let rest = m[4];
  const returning = topLevelKeyword(rest, 'RETURNING');
  if (returning >= 0) rest = rest.slice(0, returning).trim();
  const whereAt = topLevelKeyword(rest, 'WHERE');
  const where = whereAt >= 0 ? rest.slice(whereAt + 5).trim() : undefined;
  const head = whereAt >= 0 ? rest.slice(0, whereAt).trim() : rest.trim();
  const fromAt = topLevelKeyword(head, verb === 'DELETE' ? 'USING' : 'FROM');
  const from = fromAt >= 0 ? head.slice(fromAt + (verb === 'DELETE' ? 5 : 4)).trim() : undefined;
  return { verb, table: objectName(m[2]), qname: m[2], alias: m[3] ? unquote(m[3]) : undefined, from, where };
}

function unknownTable(name: string): AskInput {
  return { rule: 'unknown-table', table: name, measure: { kind: 'none' }, what: `refers to table ${dq(name)}, which this database does not have`, unit: '' };
}

/** `FOREIGN KEY (a, b) REFERENCES t (x, y)` -> its parts (ref columns empty when not written). */
function parseForeignKey(text: string): { columns: string[]; refTable: string; refQname: string; refColumns: string[] } | null {
  const m = new RegExp(`FOREIGN\\s+KEY\\s*\\(([^)]*)\\)\\s*REFERENCES\\s+(${QNAME})\\s*(?:\\(([^)]*)\\))?`, 'i').exec(text);
  return m ? { columns: identList(m[1]), refTable: objectName(m[2]), refQname: m[2], refColumns: m[3] ? identList(m[3]) : [] } : null;
}

/** Asks about the rows a foreign key would find orphaned (`source`: rows as a rebuild copies them). */
function askOrphans(s: SqlStatement, c: Ctx, table: string, fk: { columns: string[]; refTable: string; refQname?: string; refColumns: string[] }, source?: Projection): void {
  const refKey = c.view.key(fk.refQname ?? dq(fk.refTable));
  const Q = (key: string) => c.view.q(key);
  const ref = c.view.resolve(refKey);
  if (ref === undefined) return c.ask(s, unknownTable(refKey));
  const refColumns = fk.refColumns.length ? fk.refColumns : ref === 'new' ? [] : ref.primaryKey;
  if (!refColumns.length) return;
  const refLive = ref === 'new' ? refKey : ref.name;
  const liveRefCols = ref === 'new' ? refColumns : refColumns.map((x) => c.view.column(ref, x)?.column.name ?? x);
  {
    c.ask(s, {
      rule: 'fk-orphans',
      table,
      column: fk.columns.join(', '),
      measure: { kind: 'orphans', table, columns: fk.columns, refTable: refLive, refColumns: liveRefCols, refEmpty: ref === 'new' || undefined, source },
      what: `adds a foreign key ${Q(table)} (${fk.columns.join(', ')}) -> ${Q(refKey)} (${refColumns.join(', ')})`,
      // ALTER TABLE ... ADD FOREIGN KEY checks every row and fails; a SQLite rebuild (foreign keys
      // off while it copies) keeps the rows, and the new key silently does not hold for them.
      unit: source ? 'copied rows reference a missing row: the new foreign key does not hold for them (PRAGMA foreign_key_check lists them)' : 'rows reference a missing row: the migration would fail',
      advice: c.traits.tableLocks
        ? `Fix or delete the orphans first (SELECT ... FROM ${Q(table)} WHERE ${fk.columns.map(dq).join(', ')} NOT IN (SELECT ... FROM ${Q(refKey)})); or add the key with NOT VALID, clean up, then ALTER TABLE ${Q(table)} VALIDATE CONSTRAINT ... in a later migration.`
        : `Fix or delete the orphans first (rows of ${Q(table)} whose ${fk.columns.join(', ')} has no row in ${Q(refKey)}), in a data migration before this one.`,
    });
  }
}

function analyzeAlterAction(action: string, s: SqlStatement, t: TableSchema | 'new', tableName: string, c: Ctx): void {
  const { view, traits, ask } = c;
  const Q = (key: string) => view.q(key);
  let m: RegExpExecArray | null;
  const live = t === 'new' ? null : t;
  const name = live?.name ?? tableName;
  const column = (x: string) => (live ? view.column(live, unquote(x)) : undefined);
  if ((m = new RegExp(`^RENAME\\s+(?:COLUMN\\s+)?(${IDENT})\\s+TO\\s+(${IDENT})$`, 'i').exec(action)) && !/^RENAME\s+CONSTRAINT\b/i.test(action)) {
    const from = unquote(m[1]);
    const to = unquote(m[2]);
    if (!live) return;
    ask(s, { rule: 'rename-column', table: name, column: from, measure: { kind: 'rows', table: name }, what: `renames column ${Q(name)}.${dq(from)} to ${dq(to)}: the running app still uses the old name until it is redeployed`, unit: 'rows in the table', advice: `Keep the column and rename the field in the schema with @map("${from}"), or expand and contract: add ${dq(to)}, write both, backfill, switch reads, drop ${dq(from)} in a later release.` });
    view.renameColumn(live, from, to);
    return;
  }
  if ((m = new RegExp(`^DROP\\s+(?:COLUMN\\s+)?(?:IF\\s+EXISTS\\s+)?(${IDENT})(?:\\s+(?:CASCADE|RESTRICT))?$`, 'i').exec(action)) && !/^DROP\s+(CONSTRAINT|DEFAULT|NOT|IDENTITY|EXPRESSION)\b/i.test(action)) {
    const written = unquote(m[1]);
    const found = column(m[1]);
    c.droppedColumns.push({ table: name, column: found?.column.name ?? written, type: found?.column.type ?? '', at: s });
    if (live && found) {
      const cn = found.column.name;
      const renamed = found.renamedFrom ? ` (renamed from ${dq(found.renamedFrom)} earlier in this deployment: its data is lost)` : '';
      ask(s, { rule: 'drop-column', table: name, column: cn, measure: { kind: 'non-null', table: name, column: cn }, what: `drops column ${Q(name)}.${dq(written)}${renamed}`, unit: 'non-null values would be lost', advice: `Copy the values somewhere first, or if the field was renamed, write ALTER TABLE ${Q(name)} RENAME COLUMN ... or keep the column with @map("${cn}"). Dropping it in a later release, after the code stopped using it, is the safe order.` });
    }
    return;
  }
  if ((m = new RegExp(`^ADD\\s+(?:COLUMN\\s+)?(?:IF\\s+NOT\\s+EXISTS\\s+)?(${IDENT}\\s+.*)$`, 'is').exec(action)) && !/^ADD\s+(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)\b/i.test(action)) {
    const def = parseColumnDef(m[1]);
    if (!def) return;
    c.addedColumns.push({ table: name, column: def.name, type: def.type, at: s });
    if (live) view.addColumn(live, def.name, def.generatedStored ? undefined : def.defaultExpr);
    if (live && def.notNull && !def.hasDefault) {
      ask(s, { rule: 'required-column', table: name, column: def.name, measure: { kind: 'rows', table: name }, what: `adds required column ${Q(name)}.${dq(def.name)} (${def.type} NOT NULL) without a default`, unit: 'existing rows have no value for it: the migration would fail', advice: `Add it as optional (or with a DEFAULT), fill it for existing rows, then make it required in a later migration.` });
    }
    const volatile = def.generatedStored || /^(small|big)?serial\b/i.test(def.type) || (def.defaultExpr !== undefined && VOLATILE.test(def.defaultExpr));
    if (live && traits.tableLocks && volatile) {
      const why = def.generatedStored ? 'a stored generated column' : def.defaultExpr ? `the volatile default ${def.defaultExpr}` : `the ${def.type} default`;
      ask(s, { rule: 'volatile-default', table: name, column: def.name, measure: { kind: 'table-size', table: name }, what: `adds ${Q(name)}.${dq(def.name)} with ${why}: PostgreSQL rewrites every row under an ACCESS EXCLUSIVE lock`, unit: 'rows in the table' });
    }
    // An inline REFERENCES on a new column: its rows hold NULL or the default, measured by the rules above.
    return;
  }
  if (!live) return;
  if ((m = new RegExp(`^ALTER\\s+(?:COLUMN\\s+)?(${IDENT})\\s+SET\\s+NOT\\s+NULL$`, 'i').exec(action))) {
    const found = column(m[1]);
    // Already NOT NULL: PostgreSQL does nothing (no scan, no check).
    if (found && !found.column.nullable) return;
    const cn = found?.column.name ?? unquote(m[1]);
    ask(s, { rule: 'set-not-null', table: name, column: cn, measure: { kind: 'nulls', table: name, columns: [cn] }, what: `makes ${Q(name)}.${dq(unquote(m[1]))} required (SET NOT NULL)`, unit: 'rows hold NULL there: the migration would fail', advice: `Fill the NULLs first (UPDATE ${Q(name)} SET ${dq(cn)} = ... WHERE ${dq(cn)} IS NULL) in an earlier migration or script, or give the field a @default.` });
    if (traits.tableLocks) ask(s, { rule: 'set-not-null-scan', table: name, column: cn, measure: { kind: 'table-size', table: name }, what: `SET NOT NULL on ${Q(name)}.${dq(cn)} scans the whole table under an ACCESS EXCLUSIVE lock`, unit: 'rows in the table' });
    return;
  }
  if ((m = new RegExp(`^ALTER\\s+(?:COLUMN\\s+)?(${IDENT})\\s+(?:SET\\s+DATA\\s+)?TYPE\\s+(.*?)(?:\\s+COLLATE\\s+\\S+)?(?:\\s+USING\\s+(.*))?$`, 'is').exec(action))) {
    const found = column(m[1]);
    if (!found) return;
    const col0 = found.column;
    const toType = m[2].trim();
    const using = m[3]?.trim();
    const newEnum = view.enums.get(objectName(toType));
    const oldEnum = view.live.enums.find((e) => view.bare(e.name) === objectName(col0.type));
    if (newEnum) {
      const removed = oldEnum ? oldEnum.values.filter((v) => !newEnum.includes(v)) : [];
      ask(s, { rule: 'enum-value-removed', table: name, column: col0.name, measure: { kind: 'values-not-in', table: name, column: col0.name, values: newEnum }, what: `changes ${Q(name)}.${dq(col0.name)} to enum ${toType} (${newEnum.join(', ')})${removed.length ? `, removing ${removed.join(', ')}` : ''}`, unit: 'rows hold a value the new enum does not have: the migration would fail', advice: `Move those rows to a value that stays (UPDATE ${Q(name)} SET ${dq(col0.name)} = ... WHERE ${dq(col0.name)} IN (${removed.map((v) => `'${v}'`).join(', ') || '...'})) before removing the value.` });
      return;
    }
    if (traits.tableLocks && !binaryWidening(col0.type, toType) && !using?.match(/^\(?\s*"?[\w$]+"?\s*\)?$/)) {
      ask(s, { rule: 'type-change-rewrite', table: name, column: col0.name, measure: { kind: 'table-size', table: name }, what: `changes the type of ${Q(name)}.${dq(col0.name)} to ${toType}: PostgreSQL rewrites the table and its indexes under an ACCESS EXCLUSIVE lock`, unit: 'rows in the table' });
    }
    ask(s, { rule: 'type-change', table: name, column: col0.name, measure: { kind: 'cast', table: name, column: col0.name, fromType: col0.type, toType, using }, what: `changes the type of ${Q(name)}.${dq(col0.name)} from ${col0.type} to ${toType}${using ? ` USING ${using}` : ''}`, unit: 'values would fail to convert or change in the conversion', advice: `Add a new column of the new type, copy and check the values (fixing the ones that do not convert), switch the code over, then drop the old column.` });
    return;
  }
  const uniqueRe = new RegExp(`^ADD\\s+(?:CONSTRAINT\\s+(${IDENT})\\s+)?(UNIQUE|PRIMARY\\s+KEY)\\s*(?:NULLS\\s+(?:NOT\\s+)?DISTINCT\\s*)?\\((.*?)\\)`, 'i');
  if ((m = uniqueRe.exec(action))) {
    const written = identList(m[3]);
    const asOf = view.rowsAsOf(live, written);
    const cols = written.map((x) => view.column(live, x)?.column.name ?? x);
    const pk = /PRIMARY/i.test(m[2]);
    ask(s, { rule: 'unique-duplicates', table: name, column: cols.join(', '), measure: { kind: 'duplicate-groups', table: name, columns: asOf?.columns ?? cols.map(dq), nullsDistinct: !pk && !/NULLS\s+NOT\s+DISTINCT/i.test(action), ...(asOf?.projection ? { source: asOf.projection } : {}) }, what: `adds ${pk ? 'a primary key' : 'a unique constraint'} on ${Q(name)} (${cols.join(', ')})`, unit: 'groups of duplicate values exist: the migration would fail', advice: `Remove or merge the duplicates first, in a separate data migration.` });
    if (pk) ask(s, { rule: 'set-not-null', table: name, column: cols.join(', '), measure: { kind: 'nulls', table: name, columns: cols }, severityIfNone: null, what: `adds a primary key on ${Q(name)} (${cols.join(', ')}), which makes its columns NOT NULL`, unit: 'rows hold NULL in a key column: the migration would fail', advice: 'Fill the NULLs first.' });
    if (traits.tableLocks) ask(s, { rule: 'unique-without-index', table: name, column: cols.join(', '), measure: { kind: 'table-size', table: name }, what: `adds ${pk ? 'a primary key' : 'a unique constraint'} on ${Q(name)} without USING INDEX: the index is built while the table is locked`, unit: 'rows in the table' });
    return;
  }
  if ((m = /^ADD\s+(?:CONSTRAINT\s+\S+\s+)?(CHECK|FOREIGN\s+KEY)\b(.*)$/is.exec(action))) {
    const notValid = /\bNOT\s+VALID\s*$/i.test(action);
    if (/^CHECK/i.test(m[1])) {
      const open = action.indexOf('(', action.search(/CHECK/i));
      const close = closingParen(action, open);
      const expression = action.slice(open + 1, close);
      if (!notValid) ask(s, { rule: 'check-violations', table: name, measure: { kind: 'check-violations', table: name, expression }, what: `adds CHECK (${expression}) on ${Q(name)}`, unit: 'rows violate it: the migration would fail' });
    } else if (!notValid) {
      const fk = parseForeignKey(action);
      const cols = fk?.columns.map((x) => view.column(live, x)?.column.name);
      // Columns added by this deployment hold NULL or their default: required-column covers them.
      if (fk && cols?.every((x): x is string => x !== undefined)) askOrphans(s, c, name, { ...fk, columns: cols });
    }
    if (traits.tableLocks && !notValid) {
      ask(s, { rule: 'constraint-without-not-valid', table: name, measure: { kind: 'table-size', table: name }, what: `adds a ${m[1].toUpperCase().replace(/\s+/, ' ')} constraint on ${Q(name)} without NOT VALID (every row is checked while the table is locked)`, unit: 'rows to check' });
    }
  }
}

function analyzeRedefinition(r: Redefinition, statements: SqlStatement[], live: TableSchema, c: Ctx): void {
  const { ask } = c;
  const Q = (key: string) => c.view.q(key);
  const create = createTableColumns(statements[r.create].normalized)!;
  const insertStmt = r.insert === undefined ? undefined : statements[r.insert];
  const insert = insertStmt ? parseInsertSelect(insertStmt.normalized) : null;
  const at = insertStmt ?? statements[r.drop];
  const name = live.name;
  if (!insert) {
    ask(statements[r.drop], { rule: 'drop-table', table: name, measure: { kind: 'rows', table: name }, what: `rebuilds table ${Q(name)} without copying its rows`, unit: 'rows would be lost', advice: 'Copy the rows into the new table (INSERT INTO ... SELECT ...) before dropping the old one.' });
    return;
  }
  const copiedFrom = new Map<string, string>(); // target column -> source expression
  insert.targets.forEach((t, i) => copiedFrom.set(t.toLowerCase(), insert.exprs[i] ?? ''));
  const sourcesUsed = new Set(insert.exprs.map((e) => plainColumn(e)?.toLowerCase()).filter((x): x is string => Boolean(x)));
  for (const col0 of live.columns) {
    if (sourcesUsed.has(col0.name.toLowerCase())) continue;
    c.droppedColumns.push({ table: name, column: col0.name, type: col0.type, at });
    ask(at, { rule: 'drop-column', table: name, column: col0.name, measure: { kind: 'non-null', table: name, column: col0.name }, what: `rebuilds table ${Q(name)} (SQLite redefine) without copying column ${dq(col0.name)}`, unit: 'non-null values would be lost', advice: `If the field was renamed, copy it in the INSERT ... SELECT (edit the migration) or keep its name with @map("${col0.name}"); otherwise save the values first.` });
  }
  for (const def of create.columns) {
    const expr = copiedFrom.get(def.name.toLowerCase());
    if (expr === undefined) {
      if (!live.columns.some((x) => x.name.toLowerCase() === def.name.toLowerCase())) c.addedColumns.push({ table: name, column: def.name, type: def.type, at });
      if (def.notNull && !def.hasDefault) {
        ask(at, { rule: 'required-column', table: name, column: def.name, measure: { kind: 'rows', table: name }, what: `rebuilds table ${Q(name)} with required column ${dq(def.name)} (${def.type} NOT NULL) that no existing row has a value for`, unit: 'rows cannot be copied: the migration would fail', advice: 'Add the column as optional or with a @default, fill it, then make it required in a later migration.' });
      }
      continue;
    }
    const source = plainColumn(expr);
    const src = source ? col(live, source) : undefined;
    if (!src) continue;
    if (def.notNull && src.nullable) {
      ask(at, { rule: 'set-not-null', table: name, column: def.name, measure: { kind: 'nulls', table: name, columns: [src.name] }, what: `rebuilds table ${Q(name)} with ${dq(def.name)} NOT NULL, filled from the nullable column ${dq(src.name)}`, unit: 'rows hold NULL there: the copy would fail', advice: `Fill the NULLs first (UPDATE ${Q(name)} SET ${dq(src.name)} = ... WHERE ${dq(src.name)} IS NULL), or give the field a @default.` });
    }
    if (normalizeType(def.type) !== normalizeType(src.type)) {
      ask(at, { rule: 'type-change', table: name, column: def.name, measure: { kind: 'cast', table: name, column: src.name, fromType: src.type, toType: def.type }, what: `rebuilds table ${Q(name)} changing ${dq(def.name)} from ${src.type} to ${def.type}`, unit: 'values do not convert cleanly to the new type', advice: 'Add a new column of the new type, copy and check the values, switch the code over, then drop the old column.' });
    }
  }
  // The new table's constraints, measured on the rows exactly as the INSERT ... SELECT copies them.
  const source: Projection = { select: insert.targets.map((t, i) => ({ as: t, expr: insert.exprs[i] ?? 'NULL' })) };
  const copied = new Set(insert.targets.map((t) => t.toLowerCase()));
  const checks: string[] = [];
  const uniques: string[][] = [];
  const fks: { columns: string[]; refTable: string; refQname?: string; refColumns: string[] }[] = [];
  for (const def of create.columns) {
    if (def.check) checks.push(def.check);
    if (def.unique && !/PRIMARY\s+KEY/i.test(def.type)) uniques.push([def.name]);
    if (def.references) fks.push({ columns: [def.name], refTable: def.references.table, refQname: def.references.qname, refColumns: def.references.columns });
  }
  for (const k of create.constraints) {
    const body = k.replace(new RegExp(`^CONSTRAINT\\s+${IDENT}\\s+`, 'i'), '');
    let x: RegExpExecArray | null;
    if (/^CHECK\s*\(/i.test(body)) {
      const open = body.indexOf('(');
      checks.push(body.slice(open + 1, closingParen(body, open)));
    } else if ((x = /^(UNIQUE|PRIMARY\s+KEY)\s*\(([^)]*)\)/i.exec(body))) uniques.push(identList(x[2]));
    else if (/^FOREIGN\s+KEY/i.test(body)) {
      const fk = parseForeignKey(body);
      if (fk) fks.push(fk);
    }
  }
  const allCopied = (cols: string[]) => cols.every((x) => copied.has(x.toLowerCase()));
  for (const expression of checks) {
    ask(at, { rule: 'check-violations', table: name, measure: { kind: 'check-violations', table: name, expression, source }, what: `rebuilds table ${Q(name)} with CHECK (${expression})`, unit: 'copied rows violate it: the copy would fail', advice: 'Fix those rows first (an UPDATE before the rebuild), or leave the check out.' });
  }
  for (const cols of uniques) {
    if (!allCopied(cols)) continue;
    // A unique key the live table already had cannot hold duplicates.
    const had = live.indexes.some((i) => i.unique && i.columns.length === cols.length && i.columns.every((x, k) => x.toLowerCase() === cols[k].toLowerCase())) || (live.primaryKey.length === cols.length && live.primaryKey.every((x, k) => x.toLowerCase() === cols[k].toLowerCase()));
    if (had) continue;
    ask(at, { rule: 'unique-duplicates', table: name, column: cols.join(', '), measure: { kind: 'duplicate-groups', table: name, columns: cols.map(dq), nullsDistinct: true, source }, what: `rebuilds table ${Q(name)} with UNIQUE (${cols.join(', ')})`, unit: 'groups of duplicate values exist: the copy would fail' });
  }
  for (const fk of fks) {
    if (!allCopied(fk.columns)) continue;
    askOrphans(at, c, name, fk, source);
  }
}

/** Prisma's scalar type names (as its cast warnings print them) -> a column type both databases understand. */
const PRISMA_SCALAR_TYPES: Record<string, string> = { Int: 'integer', BigInt: 'bigint', Float: 'double precision', Decimal: 'numeric', Boolean: 'boolean', String: 'text', DateTime: 'timestamp(3)', Json: 'jsonb', Bytes: 'bytea' };

/** Attaches a Prisma warning to the SQL finding about the same change, or asks about it on its own. */
function mergeWarning(w: PrismaWarning, out: RiskQuestion[], view: SchemaView, migration: string, statements: SqlStatement[], ask: Ask): void {
  const Q = (key: string) => view.q(key);
  const same = (rules: RiskRule[], table?: string, column?: string) =>
    out.filter((q) => q.migration === migration && rules.includes(q.rule) && (!table || (q.table !== undefined && view.bare(q.table).toLowerCase() === table.toLowerCase())) && (!column || (q.column ?? '').toLowerCase().split(', ').includes(column.toLowerCase())));
  const rulesFor: Record<PrismaWarning['kind'], RiskRule[]> = {
    'drop-table': ['drop-table'],
    'drop-column': ['drop-column'],
    'drop-recreate': ['drop-column', 'type-change'],
    'drop-recreate-required': ['type-change', 'drop-column', 'required-column'],
    'required-column': ['required-column'],
    unique: ['unique-duplicates'],
    'enum-values': ['enum-value-removed'],
    'set-not-null': ['set-not-null'],
    'type-change': ['type-change', 'drop-column'],
    'scalar-to-list': ['type-change', 'drop-column', 'scalar-to-list'],
    'primary-key': ['unique-duplicates'],
    other: [],
  };
  const matches = w.kind === 'unique' ? same(rulesFor.unique, w.table).filter((q) => (w.columns ?? []).every((c) => (q.column ?? '').toLowerCase().split(', ').includes(c.toLowerCase()))) : same(rulesFor[w.kind], w.table, w.column);
  if (matches.length) {
    for (const q of matches) {
      q.prismaWarning = w.text;
      q.source = 'both';
    }
    return;
  }
  // Prisma warned about something the SQL rules did not see (or worded differently): measure it anyway.
  const anchor = statements.find((s) => (w.table ? s.normalized.toLowerCase().includes(w.table.toLowerCase()) : false)) ?? statements[0];
  if (!anchor) return;
  const wkey = w.table ? view.keyOfName(w.table) : undefined;
  const t = wkey ? view.live.tables.find((x) => x.name.toLowerCase() === wkey.toLowerCase()) : undefined;
  const c = t && w.column ? col(t, w.column) : undefined;
  const before = out.length;
  const P = " (Prisma's warning)";
  const toType = w.toType ? (PRISMA_SCALAR_TYPES[w.toType] ?? w.toType) : undefined;
  if (w.kind === 'drop-table' && t) ask(anchor, { rule: 'drop-table', table: t.name, measure: { kind: 'rows', table: t.name }, what: `drops table ${Q(t.name)}${P}`, unit: 'rows would be lost' });
  else if ((w.kind === 'drop-column' || w.kind === 'drop-recreate') && t && c) ask(anchor, { rule: 'drop-column', table: t.name, column: c.name, measure: { kind: 'non-null', table: t.name, column: c.name }, what: w.kind === 'drop-column' ? `drops column ${Q(t.name)}.${dq(c.name)}${P}` : `drops and recreates column ${Q(t.name)}.${dq(c.name)}${P}`, unit: 'non-null values would be lost', advice: 'Copy the values first, or write the change as ALTER COLUMN ... TYPE ... USING.' });
  else if (w.kind === 'drop-recreate-required' && t && c) ask(anchor, { rule: 'type-change', table: t.name, column: c.name, measure: { kind: 'rows', table: t.name }, what: `drops and recreates required column ${Q(t.name)}.${dq(c.name)} with a new type (no cast exists)${P}`, unit: 'rows in the table: the migration would fail', advice: 'Add a new optional column of the new type, fill it, make it required, then drop the old column.' });
  else if (w.kind === 'type-change' && t && c) ask(anchor, { rule: 'type-change', table: t.name, column: c.name, measure: toType ? { kind: 'cast', table: t.name, column: c.name, fromType: c.type, toType } : { kind: 'non-null', table: t.name, column: c.name }, what: `casts ${Q(t.name)}.${dq(c.name)}${toType ? ` to ${toType}` : ' to a new type'}${P}`, unit: toType ? 'values would fail to convert or change in the conversion' : 'non-null values would be converted' });
  else if (w.kind === 'scalar-to-list' && t && c) ask(anchor, { rule: 'scalar-to-list', table: t.name, column: c.name, measure: { kind: 'non-null', table: t.name, column: c.name }, what: `turns ${Q(t.name)}.${dq(c.name)} into a list${P}`, unit: 'non-null values: the migration would fail' });
  else if (w.kind === 'required-column' && t) ask(anchor, { rule: 'required-column', table: t.name, column: w.column, measure: { kind: 'rows', table: t.name }, what: `adds required column ${Q(t.name)}.${dq(w.column ?? '?')} without a database default${P}`, unit: 'existing rows have no value for it: the migration would fail' });
  else if (w.kind === 'set-not-null' && t && w.column) ask(anchor, { rule: 'set-not-null', table: t.name, column: w.column, measure: { kind: 'nulls', table: t.name, columns: [w.column] }, what: `makes ${Q(t.name)}.${dq(w.column)} required${P}`, unit: 'rows hold NULL there: the migration would fail' });
  else if (w.kind === 'unique' && t && w.columns?.length) ask(anchor, { rule: 'unique-duplicates', table: t.name, column: w.columns.join(', '), measure: { kind: 'duplicate-groups', table: t.name, columns: w.columns.map(dq), nullsDistinct: true }, what: `adds a unique constraint on ${Q(t.name)} (${w.columns.join(', ')})${P}`, unit: 'groups of duplicate values exist: the migration would fail' });
  else if (w.kind === 'primary-key' && t) ask(anchor, { rule: 'primary-key-change', table: t.name, measure: { kind: 'rows', table: t.name }, what: `changes the primary key of ${Q(t.name)}${P}`, unit: 'rows in the table' });
  else if (w.kind === 'enum-values' && w.enumName && w.values?.length) {
    for (const table of view.live.tables) {
      for (const x of table.columns) {
        if (objectName(x.type.replace(/\[\]$/, '')) !== w.enumName) continue;
        ask(anchor, { rule: 'enum-value-removed', table: table.name, column: x.name, measure: { kind: 'values-in', table: table.name, column: x.name, values: w.values }, what: `removes ${w.values.join(', ')} from enum ${w.enumName}${P}`, unit: 'rows still use a removed value: the migration would fail' });
      }
    }
  }
  for (const q of out.slice(before)) {
    q.prismaWarning = w.text;
    q.source = 'prisma-warning';
  }
  if (out.length === before) {
    ask(anchor, { rule: 'prisma-warning', table: w.table, column: w.column, measure: { kind: 'none' }, what: `Prisma warns: ${w.text}`, unit: '' });
    const q = out[out.length - 1];
    q.prismaWarning = w.text;
    q.source = 'prisma-warning';
  }
}

/** Turns a question and its measured answer into a finding (null: nothing worth reporting). */
export function judge(q: RiskQuestion, a: Measured): RiskFinding | null {
  let severity: Severity | null;
  let message: string;
  if (q.measure.kind === 'none') {
    severity = q.severityIfAny;
    message = `${q.what}.`;
  } else if (a.alwaysFails) {
    severity = 'block';
    message = `${q.what}: ${a.alwaysFails}${a.value !== null ? ` (${a.value} non-null values in the column)` : ''}.`;
  } else if (a.value === null) {
    // Could not measure: never silently pass a data-loss or will-fail statement.
    severity = q.severityIfAny === 'info' ? 'info' : 'warn';
    message = `${q.what}; could not measure it on this database${a.error ? ` (${a.error})` : ''}.`;
  } else if (a.value >= (q.threshold ?? 1)) {
    severity = q.severityIfAny;
    message = `${q.what}: ${a.lowerBound ? 'at least ' : ''}${a.value} ${q.unit}${a.detail ? ` (${a.detail})` : ''}.`;
  } else {
    severity = q.severityIfNone;
    message = `${q.what}: ${a.value} ${q.unit.replace(/: the (migration|copy) would fail$/, '')} on this database${a.detail ? ` (${a.detail})` : ''}.`;
  }
  if (severity === null) return null;
  return {
    migration: q.migration,
    severity,
    rule: q.rule,
    effect: q.effect,
    statement: q.statement,
    statementIndex: q.statementIndex,
    line: q.line,
    table: q.table,
    column: q.column,
    measured: a.value,
    ...(a.detail ? { detail: a.detail } : {}),
    message,
    advice: q.advice,
    prismaWarning: q.prismaWarning,
    source: q.source,
  };
}

const ORDER: Record<Severity, number> = { block: 0, warn: 1, info: 2 };

/** Findings sorted by severity, then by migration and statement order. */
export function sortFindings(findings: RiskFinding[]): RiskFinding[] {
  return [...findings].sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || (a.migration < b.migration ? -1 : a.migration > b.migration ? 1 : a.statementIndex - b.statementIndex));
}
