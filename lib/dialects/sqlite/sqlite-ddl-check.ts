import type { DbSchema, TableSchema } from '../../core/types.ts';
import {
  statementTokens,
  checkHeaderSql,
  checkSequenceValues,
  closingParen,
  deniedReference,
  firstSemicolon,
  LexError,
  refusedClassOf,
  startsWith,
  tokenize,
  type DenyList,
  type LexicalRules,
  type RefusedClass,
  type SqlRefusal,
  type Statement,
  type StatementClass,
  type Token,
  type Verdict,
} from '../ddl-check.ts';

/**
 * SQLite's half of the backup SQL check (Dialect.checkBackupSql; see lib/dialects/ddl-check.ts).
 *
 * lib/dialects/sqlite/sqlite-introspector.ts stores the `sql` column of sqlite_master for tables,
 * indexes, views and triggers: the CREATE statements as they were written, which SQLite normalizes
 * (no schema qualifier, no IF NOT EXISTS, no TEMP). ACCEPTED holds exactly those four classes (plus
 * CREATE VIRTUAL TABLE of the modules SQLite ships); to store a new kind of object, add its class
 * here with a `check` that proves its form, that it names an object the header lists, and that its
 * expressions pass the deny list. Anything that matches no accepted class is refused; REFUSED only
 * names the common ones precisely.
 */

export const SQLITE_LEXICAL_RULES: LexicalRules = {
  identifierQuotes: { '"': '"', '`': '`', '[': ']' },
  nestedComments: false,
  escapeStrings: false,
  dollarQuotes: false,
  stringPrefixes: ['X'],
  operatorChars: '+-*/<>=~!%^&|',
  parameters: 'sqlite',
};

/**
 * Functions no restored expression may call: file access and extension loading (SQLite's own
 * load_extension, the CLI's readfile/writefile/edit, the fileio/zipfile/sqlar/dbpage extensions),
 * the fts3 tokenizer pointer function, and eval() (runs SQL text).
 */
export const SQLITE_DENY_LIST: DenyList = {
  names: new Set(['load_extension', 'readfile', 'writefile', 'edit', 'fts3_tokenizer', 'fts5', 'eval', 'fsdir', 'lsmode', 'zipfile', 'zipfile_cds', 'sqlar_compress', 'sqlar_uncompress', 'sqlite_dbpage', 'sqlite_dbdata', 'sqlite_dbptr']),
  prefixes: ['shell_'],
  relations: new Set(['sqlite_dbpage', 'sqlite_dbdata', 'sqlite_dbptr', 'zipfile', 'fsdir']),
};

/** Modules SQLite ships whose virtual tables a backup may recreate. */
const VIRTUAL_TABLE_MODULES = new Set(['fts3', 'fts4', 'fts5', 'rtree', 'rtree_i32', 'geopoly']);

interface Context {
  /** A partial backup (some tables): its DDL also creates tables the header does not list. */
  partial: boolean;
  tables: Map<string, TableSchema>;
}

const isWord = (t: Token | undefined, w: string) => t?.kind === 'word' && t.value === w;
const isPunct = (t: Token | undefined, p: string) => t?.kind === 'punct' && t.raw === p;

/** An object name as SQLite accepts it (bare, "quoted", [bracketed], `backticked` or 'string'). */
function sqliteName(t: Token | undefined): string | null {
  if (!t) return null;
  if (t.kind === 'quoted' || t.kind === 'string') return t.value;
  if (t.kind === 'word') return t.raw; // SQLite keeps the case as written
  return null;
}

/** The header's table of this name (SQLite names are case-insensitive in ASCII). */
function tableNamed(c: Context, name: string): TableSchema | undefined {
  return c.tables.get(name) ?? [...c.tables.values()].find((t) => t.name.toLowerCase() === name.toLowerCase());
}

/** The unqualified object name at t[at]; or why it is not one. */
function ownName(t: Token[], at: number): { name: string; next: number } | string {
  const name = sqliteName(t[at]);
  if (name === null) return 'no object name where the stored statement has one';
  if (isPunct(t[at + 1], '.')) return 'the name is schema-qualified (SQLite stores names without a schema; ATTACHed databases are never restored)';
  return { name, next: at + 1 };
}

function deny(t: Token[], from: number, to = t.length): Verdict {
  const d = deniedReference(t, from, to, SQLITE_DENY_LIST);
  return d ? { refusedClass: d.what, why: 'expressions in a backup may not reach files or load code' } : null;
}

function noSemicolon(t: Token[]): Verdict {
  return firstSemicolon(t) >= 0 ? { refusedClass: 'more than one statement in one entry', why: 'each entry must be exactly one statement' } : null;
}

/** The statement classes the backup format produces (see the file comment before adding one). */
export const ACCEPTED: StatementClass<Context>[] = [
  {
    // CREATE TABLE name (columns and constraints) [WITHOUT ROWID] [, STRICT]
    name: 'CREATE TABLE',
    matches: (t) => startsWith(t, ['create', 'table']),
    check: ({ tokens: t }, c) => {
      const semi = noSemicolon(t);
      if (semi) return semi;
      const own = ownName(t, 2);
      if (typeof own === 'string') return { why: own };
      if (!tableNamed(c, own.name) && !c.partial) return { why: `table "${own.name}" is not in the header's schema` };
      if (!isPunct(t[own.next], '(')) return { why: 'the column list does not follow the name (CREATE TABLE ... AS SELECT is not written by backups)' };
      const close = closingParen(t, own.next);
      if (close < 0) return { why: 'the column list is not closed' };
      for (let k = close + 1; k < t.length; k++) {
        if (!(isWord(t[k], 'without') || isWord(t[k], 'rowid') || isWord(t[k], 'strict') || isPunct(t[k], ','))) return { why: `"${t[k].raw}" after the column list is not a table option` };
      }
      return deny(t, own.next, close);
    },
  },
  {
    // CREATE VIRTUAL TABLE name USING module(arguments), for the modules SQLite ships
    name: 'CREATE VIRTUAL TABLE',
    matches: (t) => startsWith(t, ['create', 'virtual', 'table']),
    check: ({ tokens: t }, c) => {
      const semi = noSemicolon(t);
      if (semi) return semi;
      const own = ownName(t, 3);
      if (typeof own === 'string') return { why: own };
      if (!tableNamed(c, own.name) && !c.partial) return { why: `table "${own.name}" is not in the header's schema` };
      if (!isWord(t[own.next], 'using') || t[own.next + 1]?.kind !== 'word') return { why: 'USING module does not follow the name' };
      const module = t[own.next + 1].value;
      if (!VIRTUAL_TABLE_MODULES.has(module)) return { why: `module ${module} is not one SQLite ships (${[...VIRTUAL_TABLE_MODULES].join(', ')})` };
      const open = own.next + 2;
      if (open === t.length) return null;
      if (!isPunct(t[open], '(') || closingParen(t, open) !== t.length - 1) return { why: 'text follows the module arguments' };
      return deny(t, open + 1, t.length - 1);
    },
  },
  {
    // CREATE [UNIQUE] INDEX name ON table (columns) [WHERE condition]
    name: 'CREATE INDEX',
    matches: (t) => startsWith(t, ['create', 'index']) || startsWith(t, ['create', 'unique', 'index']),
    check: ({ tokens: t }, c) => {
      const semi = noSemicolon(t);
      if (semi) return semi;
      const own = ownName(t, isWord(t[1], 'unique') ? 3 : 2);
      if (typeof own === 'string') return { why: own };
      if (!isWord(t[own.next], 'on')) return { why: 'ON does not follow the index name' };
      const on = ownName(t, own.next + 1);
      if (typeof on === 'string') return { why: on };
      const table = tableNamed(c, on.name);
      if (!table && !c.partial) return { why: `table "${on.name}" is not in the header's schema` };
      if (table && !table.indexes.some((i) => i.name.toLowerCase() === own.name.toLowerCase())) return { why: `index "${own.name}" is not in the header's schema` };
      if (!isPunct(t[on.next], '(')) return { why: 'the column list does not follow the table' };
      return deny(t, on.next);
    },
  },
  {
    // CREATE VIEW name [(columns)] AS select
    name: 'CREATE VIEW',
    matches: (t) => startsWith(t, ['create', 'view']),
    check: ({ tokens: t }, c) => {
      const semi = noSemicolon(t);
      if (semi) return semi;
      const own = ownName(t, 2);
      if (typeof own === 'string') return { why: own };
      if (tableNamed(c, own.name)) return { why: `"${own.name}" is a table in the header's schema` };
      let k = own.next;
      if (isPunct(t[k], '(')) {
        const close = closingParen(t, k);
        if (close < 0) return { why: 'the column list is not closed' };
        k = close + 1;
      }
      if (!isWord(t[k], 'as') || !(isWord(t[k + 1], 'select') || isWord(t[k + 1], 'with') || isWord(t[k + 1], 'values'))) return { why: 'the view body is not a query' };
      return deny(t, k + 1);
    },
  },
  {
    // CREATE TRIGGER name [BEFORE|AFTER|INSTEAD OF] event ON table [FOR EACH ROW] [WHEN expr]
    //   BEGIN statement; ... END
    // The body's semicolons belong to the trigger: SQLite ends the trigger at the first END that
    // directly follows a ";", and so does this check; nothing may follow that END.
    name: 'CREATE TRIGGER',
    matches: (t) => startsWith(t, ['create', 'trigger']),
    check: ({ tokens: t }, c) => {
      const own = ownName(t, 2);
      if (typeof own === 'string') return { why: own };
      const begin = t.findIndex((x, j) => j > own.next && isWord(x, 'begin'));
      if (begin < 0) return { why: 'no BEGIN ... END body' };
      const on = t.findIndex((x, j) => j > own.next && j < begin && isWord(x, 'on'));
      if (on < 0) return { why: 'no ON table' };
      const table = ownName(t, on + 1);
      if (typeof table === 'string') return { why: table };
      if (!tableNamed(c, table.name) && !c.partial) return { why: `table "${table.name}" is not in the header's schema` };
      if (firstSemicolon(t.slice(0, begin)) >= 0) return { refusedClass: 'more than one statement in one entry', why: 'a ";" comes before the trigger body' };
      let end = -1;
      for (let k = begin + 1; k < t.length; k++) {
        if (isWord(t[k], 'end') && isPunct(t[k - 1], ';')) {
          end = k;
          break;
        }
      }
      if (end < 0) return { why: 'the trigger body does not end with "; END"' };
      if (end !== t.length - 1) return { refusedClass: 'more than one statement in one entry', why: 'text follows the END of the trigger' };
      // Each body statement starts right after BEGIN or a ";".
      for (let k = begin + 1; k < end; k++) {
        if (k === begin + 1 || isPunct(t[k - 1], ';')) {
          if (!['insert', 'update', 'delete', 'select', 'with', 'replace', 'values'].some((w) => isWord(t[k], w))) return { why: `the trigger body holds "${t[k].raw}", not INSERT/UPDATE/DELETE/SELECT` };
        }
      }
      return deny(t, own.next);
    },
  },
];

/** Statement classes recognised only to be named in the refusal. */
export const REFUSED: RefusedClass[] = [
  { name: 'ATTACH', words: ['attach'], why: 'it opens or creates another database file' },
  { name: 'DETACH', words: ['detach'], why: 'not stored in backups' },
  { name: 'PRAGMA', words: ['pragma'], why: 'a restore sets the pragmas it needs itself' },
  { name: 'VACUUM', words: ['vacuum'], why: 'VACUUM INTO writes a file; not stored in backups' },
  { name: 'CREATE TEMPORARY object', words: ['create', 'temp'], why: 'not stored in backups' },
  { name: 'CREATE TEMPORARY object', words: ['create', 'temporary'], why: 'not stored in backups' },
  { name: 'SELECT', words: ['select'], why: 'a stored SELECT could call any function' },
  { name: 'WITH query', words: ['with'], why: 'not stored in backups' },
  { name: 'VALUES', words: ['values'], why: 'not stored in backups' },
  { name: 'INSERT', words: ['insert'], why: 'rows are data in the backup, never SQL' },
  { name: 'REPLACE', words: ['replace'], why: 'rows are data in the backup, never SQL' },
  { name: 'UPDATE', words: ['update'], why: 'rows are data in the backup, never SQL' },
  { name: 'DELETE', words: ['delete'], why: 'rows are data in the backup, never SQL' },
  { name: 'DROP', words: ['drop'], why: 'a restore drops objects itself' },
  { name: 'ALTER TABLE', words: ['alter'], why: 'not stored in backups' },
  { name: 'transaction control', words: ['begin'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['commit'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['end'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['rollback'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['savepoint'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['release'], why: 'the restore runs in its own single transaction' },
  { name: 'maintenance command', words: ['analyze'], why: 'not stored in backups' },
  { name: 'maintenance command', words: ['reindex'], why: 'not stored in backups' },
];

/** Classifies one statement: null when it is one the backup format produces, else the refusal. */
export function classifySqliteStatement(text: string, c: Context): { refusedClass: string; why: string } | null {
  const tokens = statementTokens(text, SQLITE_LEXICAL_RULES);
  if (!Array.isArray(tokens)) return tokens;
  if (tokens.some((t) => t.kind === 'param')) return { refusedClass: 'a parameter marker', why: 'stored statements never have parameters' };
  const statement: Statement = { text, tokens };
  const accepted = ACCEPTED.find((k) => k.matches(tokens));
  if (accepted) {
    const v = accepted.check(statement, c);
    return v ? { refusedClass: v.refusedClass ?? accepted.name, why: v.why } : null;
  }
  const multiple = noSemicolon(tokens);
  const refused = refusedClassOf(tokens, REFUSED);
  if (refused) return { refusedClass: refused.name, why: refused.why };
  if (multiple) return { refusedClass: multiple.refusedClass!, why: multiple.why };
  return { refusedClass: `unrecognised statement (${tokens.slice(0, 2).map((t) => t.raw.toUpperCase()).join(' ')})`, why: 'it is not one of the statement classes backups store' };
}

/** Checks an expression field of the header (a column default, a foreign key or constraint clause). */
function checkSqliteExpression(text: string): { refusedClass: string; why: string } | null {
  let tokens: Token[];
  try {
    tokens = tokenize(text, SQLITE_LEXICAL_RULES);
  } catch (e) {
    if (e instanceof LexError) return { refusedClass: 'unreadable SQL', why: e.message };
    throw e;
  }
  const semi = noSemicolon(tokens);
  if (semi) return { refusedClass: semi.refusedClass!, why: semi.why };
  if (tokens.some((t) => t.kind === 'param')) return { refusedClass: 'a parameter marker', why: 'stored expressions never have parameters' };
  const d = deny(tokens, 0);
  return d ? { refusedClass: d.refusedClass!, why: d.why } : null;
}

/**
 * Dialect.checkBackupSql for SQLite: the first statement or field of the header's schema that a
 * restore must not run, or null when everything is of the stored kinds.
 */
export function checkSqliteBackupSql(schema: DbSchema, options: { partial?: boolean } = {}): SqlRefusal | null {
  const c: Context = { partial: options.partial === true, tables: new Map(schema.tables.map((t) => [t.name, t])) };
  const fields: { where: string; text: string }[] = [];
  const indexLists: { where: string; statements: string[] }[] = [];
  for (const t of schema.tables) {
    for (const col of t.columns) if (typeof col.default === 'string') fields.push({ where: `schema.tables["${t.name}"].columns["${col.name}"].default`, text: col.default });
    for (const fk of t.foreignKeys) fields.push({ where: `schema.tables["${t.name}"].foreignKeys["${fk.name}"].definition`, text: fk.definition });
    // An index SQLite made for a UNIQUE constraint has no statement: its definition is the clause.
    const statements = t.indexes.map((i) => i.definition).filter((d) => /^\s*create\b/i.test(d));
    if (statements.length) indexLists.push({ where: `schema.tables["${t.name}"].indexes[].definition`, statements });
    for (const i of t.indexes) if (!/^\s*create\b/i.test(i.definition)) fields.push({ where: `schema.tables["${t.name}"].indexes["${i.name}"].definition`, text: i.definition });
  }
  return (
    checkHeaderSql(
      [{ where: 'schema.ddl', statements: schema.ddl }, { where: 'schema.postDdl', statements: schema.postDdl }, ...indexLists],
      fields,
      (text) => classifySqliteStatement(text, c),
      checkSqliteExpression,
    ) ?? checkSequenceValues(schema)
  );
}
