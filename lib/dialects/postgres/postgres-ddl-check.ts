import { tableKey, type DbSchema, type TableSchema } from '../../core/types.ts';
import {
  statementTokens,
  checkHeaderSql,
  checkSequenceValues,
  closingParen,
  deniedReference,
  firstSemicolon,
  hasTopLevelComma,
  identName,
  LexError,
  qualifiedName,
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
import { classifyPgDumpStatement } from './postgres-dump-ddl-check.ts';

/**
 * PostgreSQL's half of the backup SQL check (Dialect.checkBackupSql; see lib/dialects/ddl-check.ts).
 *
 * ACCEPTED lists every statement class lib/dialects/postgres/postgres-introspector.ts writes into
 * schema.ddl / schema.postDdl, in the form it writes them. To store a new kind of object (functions,
 * say) in the format, add its class here, next to the code that produces it: a `matches` on its
 * leading words and a `check` that proves the produced form, that the object is one the header lists,
 * and that its expressions pass the deny list. Remove it from REFUSED at the same time. A statement
 * that matches no accepted class is refused, whether or not REFUSED names it (REFUSED only makes
 * the message precise).
 */

/** PostgreSQL's lexer (standard_conforming_strings on, which every prisma-guard session sets). */
export const POSTGRES_LEXICAL_RULES: LexicalRules = {
  identifierQuotes: { '"': '"' },
  nestedComments: true,
  escapeStrings: true,
  dollarQuotes: true,
  stringPrefixes: ['B', 'X', 'N'],
  operatorChars: '+-*/<>=~!@#%^&|`?',
  parameters: 'dollar-number',
};

/**
 * Functions no restored expression may call (defaults, CHECK, index expressions, view bodies,
 * trigger conditions and functions) and catalogs no view may read. A heuristic on top of the
 * statement allow-list: it stops the known ways to reach the server's files, other sessions and
 * settings from a backup.
 */
export const POSTGRES_DENY_LIST: DenyList = {
  names: new Set([
    'pg_stat_file',
    'loread',
    'lowrite',
    'pg_terminate_backend',
    'pg_cancel_backend',
    'pg_reload_conf',
    'pg_rotate_logfile',
    'pg_promote',
    'pg_switch_wal',
    'pg_start_backup',
    'pg_stop_backup',
    'pg_backup_start',
    'pg_backup_stop',
    'pg_wal_replay_pause',
    'pg_wal_replay_resume',
    'pg_log_backend_memory_contexts',
    'pg_drop_replication_slot',
    'pg_import_system_collations',
    'pg_notify',
    'pg_sleep',
    'pg_sleep_for',
    'pg_sleep_until',
    'set_config',
    'setval',
    'pg_current_logfile',
    'pg_truncate_visibility_map',
  ]),
  prefixes: [
    'pg_read_', // pg_read_file, pg_read_binary_file
    'pg_ls_', // pg_ls_dir, pg_ls_logdir, pg_ls_waldir, ...
    'pg_file_', // adminpack: pg_file_write, pg_file_unlink, ...
    'pg_logdir_',
    'lo_', // lo_import, lo_export, lo_unlink, lo_put, lo_from_bytea, lo_manage, ...
    'dblink', // dblink, dblink_exec, dblink_connect, ...
    'pg_create_', // replication slots, restore points
    'pg_copy_', // replication slot copies
    'pg_replication_',
    'pg_logical_',
    'pg_advisory_',
    'pg_try_advisory_',
    'pg_stat_reset',
    'binary_upgrade_',
    // These run the SQL text they are given, or read whole tables and schemas.
    'query_to_xml',
    'cursor_to_xml',
    'table_to_xml',
    'schema_to_xml',
    'database_to_xml',
  ],
  relations: new Set(['pg_authid', 'pg_shadow', 'pg_user_mapping', 'pg_user_mappings', 'pg_file_settings', 'pg_hba_file_rules', 'pg_ident_file_mappings', 'pg_largeobject', 'pg_statistic', 'pg_config']),
};

interface Context {
  /** A partial backup (some tables): its DDL also creates tables the header does not list. */
  partial: boolean;
  /** The backup's schemas (DbSchema.namespaces, else its namespace); objects are keyed as tableKey keys them. */
  namespaces: string[];
  tables: Map<string, TableSchema>;
  enums: Map<string, string[]>;
  sequences: Set<string>;
}

/** `"ns"."name"` in the header's namespace, and the index after it; or why not. */
function ownName(t: Token[], at: number, c: Context): { name: string; next: number } | string {
  const q = qualifiedName(t, at);
  if (!q) return 'no object name where the produced statement has one';
  if (!q.schema || !c.namespaces.includes(q.schema)) return `the object is not in the backup's schema ${c.namespaces.map((n) => `"${n}"`).join(', ')}${q.schema ? ` (it names "${q.schema}")` : ' (it is not schema-qualified)'}`;
  return { name: tableKey(c.namespaces, q.schema, q.name), next: q.next };
}

function deny(t: Token[], from: number, to = t.length): Verdict {
  const d = deniedReference(t, from, to, POSTGRES_DENY_LIST);
  return d ? { refusedClass: d.what, why: 'expressions in a backup may not reach files, other sessions or server settings' } : null;
}

const isWord = (t: Token | undefined, w: string) => t?.kind === 'word' && t.value === w;
const isPunct = (t: Token | undefined, p: string) => t?.kind === 'punct' && t.raw === p;

/** The statement classes the backup format produces (see the file comment before adding one). */
export const ACCEPTED: StatementClass<Context>[] = [
  {
    // CREATE TYPE "ns"."name" AS ENUM ('a', 'b')
    name: 'CREATE TYPE ... AS ENUM',
    matches: (t) => startsWith(t, ['create', 'type']),
    check: ({ tokens: t }, c) => {
      const own = ownName(t, 2, c);
      if (typeof own === 'string') return { why: own };
      const values = c.enums.get(own.name);
      if (!values) return { why: `enum "${own.name}" is not in the header's schema` };
      if (!isWord(t[own.next], 'as') || !isWord(t[own.next + 1], 'enum') || !isPunct(t[own.next + 2], '(')) return { refusedClass: 'CREATE TYPE', why: 'only enum types are stored in backups' };
      const close = closingParen(t, own.next + 2);
      if (close !== t.length - 1) return { why: 'text follows the list of values' };
      const got: string[] = [];
      for (let k = own.next + 3; k < close; k += 2) {
        if (t[k].kind !== 'string' || t[k].raw.startsWith('$') || !(isPunct(t[k + 1], ',') || k + 1 === close)) return { why: 'the values are not a plain list of string literals' };
        got.push(t[k].value);
      }
      if (got.length !== values.length || got.some((v, k) => v !== values[k])) return { why: `its values differ from enum "${own.name}" in the header` };
      return null;
    },
  },
  {
    // CREATE SEQUENCE "ns"."name" AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE ... CACHE 1 NO CYCLE
    name: 'CREATE SEQUENCE',
    matches: (t) => startsWith(t, ['create', 'sequence']),
    check: ({ tokens: t }, c) => {
      const own = ownName(t, 2, c);
      if (typeof own === 'string') return { why: own };
      if (!c.sequences.has(own.name)) return { why: `sequence "${own.name}" is not in the header's schema` };
      const words = new Set(['as', 'smallint', 'integer', 'bigint', 'start', 'with', 'increment', 'by', 'minvalue', 'maxvalue', 'cache', 'cycle', 'no']);
      for (let k = own.next; k < t.length; k++) {
        const x = t[k];
        const ok = (x.kind === 'word' && words.has(x.value)) || x.kind === 'number' || (x.kind === 'op' && x.raw === '-' && t[k + 1]?.kind === 'number');
        if (!ok) return { why: `"${x.raw}" is not a sequence option the backup writes` };
      }
      return null;
    },
  },
  {
    // ALTER SEQUENCE "ns"."seq" OWNED BY "ns"."table"."column"
    name: 'ALTER SEQUENCE ... OWNED BY',
    matches: (t) => startsWith(t, ['alter', 'sequence']),
    check: ({ tokens: t }, c) => {
      const own = ownName(t, 2, c);
      if (typeof own === 'string') return { why: own };
      if (!c.sequences.has(own.name)) return { why: `sequence "${own.name}" is not in the header's schema` };
      let k = own.next;
      if (!isWord(t[k], 'owned') || !isWord(t[k + 1], 'by')) return { refusedClass: 'ALTER SEQUENCE', why: 'only OWNED BY is stored in backups' };
      k += 2;
      const owner = ownName(t, k, c);
      if (typeof owner === 'string') return { why: owner };
      const table = c.tables.get(owner.name);
      const column = isPunct(t[owner.next], '.') ? identName(t[owner.next + 1]) : null;
      if (column === null || (table ? !table.columns.some((col) => col.name === column) : !c.partial)) return { why: 'the owning column is not in the header\'s schema' };
      if (owner.next + 2 !== t.length) return { why: 'text follows the owning column' };
      return null;
    },
  },
  {
    // CREATE TABLE "ns"."name" (columns, CONSTRAINT "pk" PRIMARY KEY (...))
    name: 'CREATE TABLE',
    matches: (t) => startsWith(t, ['create', 'table']),
    check: ({ tokens: t }, c) => {
      const own = ownName(t, 2, c);
      if (typeof own === 'string') return { why: own };
      if (!c.tables.has(own.name) && !c.partial) return { why: `table "${own.name}" is not in the header's schema` };
      if (!isPunct(t[own.next], '(')) return { why: 'the column list does not follow the name (CREATE TABLE ... AS, OF, PARTITION OF are not written by backups)' };
      if (closingParen(t, own.next) !== t.length - 1) return { why: 'text follows the column list (INHERITS, PARTITION BY, WITH, TABLESPACE are not written by backups)' };
      return deny(t, own.next);
    },
  },
  {
    // ALTER TABLE "ns"."t" ADD CONSTRAINT "name" <pg_get_constraintdef>
    name: 'ALTER TABLE ... ADD CONSTRAINT',
    matches: (t) => startsWith(t, ['alter', 'table']),
    check: ({ tokens: t }, c) => {
      const own = ownName(t, 2, c);
      if (typeof own === 'string') return { why: own };
      const table = c.tables.get(own.name);
      if (!table && !c.partial) return { why: `table "${own.name}" is not in the header's schema` };
      let k = own.next;
      if (!isWord(t[k], 'add') || !isWord(t[k + 1], 'constraint')) return { refusedClass: 'ALTER TABLE', why: 'only ADD CONSTRAINT is stored in backups' };
      const name = identName(t[k + 2]);
      if (name === null) return { why: 'no constraint name' };
      k += 3;
      const kind = t[k]?.kind === 'word' ? t[k].value : '';
      if (!['primary', 'unique', 'foreign', 'check', 'exclude'].includes(kind)) return { why: `"${t[k]?.raw ?? ''}" is not a constraint the backup writes` };
      if (hasTopLevelComma(t, k)) return { why: 'it holds more than one ALTER TABLE action' };
      if (table && kind === 'foreign' && !table.foreignKeys.some((f) => f.name === name)) return { why: `foreign key "${name}" is not in the header's schema` };
      if (table && (kind === 'unique' || kind === 'exclude') && !table.indexes.some((i) => i.name === name)) return { why: `constraint "${name}" is not in the header's schema` };
      return deny(t, k);
    },
  },
  {
    // CREATE [UNIQUE] INDEX name ON [ONLY] "ns"."t" USING method (...) [INCLUDE (...)] [WHERE ...]
    name: 'CREATE INDEX',
    matches: (t) => startsWith(t, ['create', 'index']) || startsWith(t, ['create', 'unique', 'index']),
    check: ({ tokens: t }, c) => {
      let k = isWord(t[1], 'unique') ? 3 : 2;
      const name = identName(t[k]);
      if (name === null || ['concurrently', 'if', 'on'].includes(t[k].kind === 'word' ? t[k].value : '')) return { why: 'not in the form pg_get_indexdef prints (CONCURRENTLY, IF NOT EXISTS and unnamed indexes are not written by backups)' };
      k++;
      if (!isWord(t[k], 'on')) return { why: 'the index name is schema-qualified or ON is missing' };
      k++;
      if (isWord(t[k], 'only')) k++;
      const own = ownName(t, k, c);
      if (typeof own === 'string') return { why: own };
      const table = c.tables.get(own.name);
      if (!table && !c.partial) return { why: `table "${own.name}" is not in the header's schema` };
      if (table && !table.indexes.some((i) => i.name === name)) return { why: `index "${name}" is not in the header's schema` };
      if (!isWord(t[own.next], 'using') || t[own.next + 1]?.kind !== 'word' || !isPunct(t[own.next + 2], '(')) return { why: 'USING method (...) does not follow the table' };
      return deny(t, own.next + 2);
    },
  },
  {
    // CREATE VIEW "ns"."v" AS <pg_get_viewdef>
    name: 'CREATE VIEW',
    matches: (t) => startsWith(t, ['create', 'view']),
    check: ({ tokens: t }, c) => viewBody(t, 2, c, false),
  },
  {
    // CREATE MATERIALIZED VIEW "ns"."v" AS <pg_get_viewdef> WITH DATA
    name: 'CREATE MATERIALIZED VIEW',
    matches: (t) => startsWith(t, ['create', 'materialized', 'view']),
    check: ({ tokens: t }, c) => viewBody(t, 3, c, true),
  },
  {
    // pg_get_triggerdef: CREATE [CONSTRAINT] TRIGGER name {BEFORE|AFTER|INSTEAD OF} events ON "ns"."t"
    //   ... FOR EACH {ROW|STATEMENT} [WHEN (...)] EXECUTE FUNCTION fn('literal', ...)
    // The trigger function itself is not stored: it must already exist in the database.
    name: 'CREATE TRIGGER',
    matches: (t) => startsWith(t, ['create', 'trigger']) || startsWith(t, ['create', 'constraint', 'trigger']),
    check: ({ tokens: t }, c) => {
      let k = isWord(t[1], 'constraint') ? 3 : 2;
      if (identName(t[k]) === null || isPunct(t[k + 1], '.')) return { why: 'no unqualified trigger name' };
      k++;
      if (!(isWord(t[k], 'before') || isWord(t[k], 'after') || (isWord(t[k], 'instead') && isWord(t[k + 1], 'of')))) return { why: 'BEFORE, AFTER or INSTEAD OF does not follow the name' };
      const on = t.findIndex((x, j) => j > k && isWord(x, 'on'));
      if (on < 0) return { why: 'no ON table' };
      const own = ownName(t, on + 1, c);
      if (typeof own === 'string') return { why: own };
      if (!c.tables.has(own.name) && !c.partial) return { why: `table "${own.name}" is not in the header's schema` };
      const exec = t.findIndex((x, j) => j > own.next && isWord(x, 'execute') && (isWord(t[j + 1], 'function') || isWord(t[j + 1], 'procedure')));
      if (exec < 0) return { why: 'no EXECUTE FUNCTION' };
      const when = deny(t, own.next, exec);
      if (when) return when;
      const fn = qualifiedName(t, exec + 2);
      if (!fn || !isPunct(t[fn.next], '(')) return { why: 'no trigger function call' };
      const fnName = fn.name.toLowerCase();
      if (POSTGRES_DENY_LIST.names.has(fnName) || POSTGRES_DENY_LIST.prefixes.some((p) => fnName.startsWith(p))) return { refusedClass: `a call of ${fnName}()`, why: 'expressions in a backup may not reach files, other sessions or server settings' };
      const close = closingParen(t, fn.next);
      if (close !== t.length - 1) return { why: 'text follows the trigger function call' };
      for (let j = fn.next + 1; j < close; j++) {
        const x = t[j];
        if (!(x.kind === 'string' || x.kind === 'number' || isPunct(x, ','))) return { why: 'trigger arguments are not plain literals' };
      }
      return null;
    },
  },
];

function viewBody(t: Token[], at: number, c: Context, materialized: boolean): Verdict {
  const own = ownName(t, at, c);
  if (typeof own === 'string') return { why: own };
  if (c.tables.has(own.name)) return { why: `"${own.name}" is a table in the header's schema` };
  if (!isWord(t[own.next], 'as')) return { why: 'AS does not follow the view name (options and column lists are not written by backups)' };
  const first = t[own.next + 1];
  if (!(isWord(first, 'select') || isWord(first, 'with') || isWord(first, 'values') || isPunct(first, '('))) return { why: 'the view body is not a query' };
  let end = t.length;
  if (materialized) {
    if (!isWord(t[end - 2], 'with') || !isWord(t[end - 1], 'data')) return { why: 'it does not end WITH DATA as written by backups' };
    end -= 2;
  }
  return deny(t, own.next + 1, end);
}

/** Statement classes recognised only to be named in the refusal. */
export const REFUSED: RefusedClass[] = [
  { name: 'COPY', words: ['copy'], why: 'COPY reads or writes server files and runs programs (TO/FROM PROGRAM); backups carry their rows as data, never as COPY' },
  { name: 'ALTER SYSTEM', words: ['alter', 'system'], why: 'it changes the server configuration' },
  ...['role', 'user', 'group'].flatMap((w) => [
    { name: `CREATE ${w.toUpperCase()}`, words: ['create', w], why: 'roles are never part of a backup' },
    { name: `ALTER ${w.toUpperCase()}`, words: ['alter', w], why: 'roles are never part of a backup' },
    { name: `DROP ${w.toUpperCase()}`, words: ['drop', w], why: 'roles are never part of a backup' },
  ]),
  { name: 'GRANT', words: ['grant'], why: 'privileges and role memberships are never part of a backup' },
  { name: 'REVOKE', words: ['revoke'], why: 'privileges and role memberships are never part of a backup' },
  { name: 'DO', words: ['do'], why: 'anonymous code blocks run arbitrary code' },
  { name: 'CREATE FUNCTION', words: ['create', 'function'], why: 'functions are not stored in backups (yet)' },
  { name: 'CREATE PROCEDURE', words: ['create', 'procedure'], why: 'procedures are not stored in backups' },
  { name: 'CREATE OR REPLACE', words: ['create', 'or'], why: 'backups only create objects in an emptied schema' },
  { name: 'CREATE RULE', words: ['create', 'rule'], why: 'rules are not stored in backups' },
  { name: 'CREATE EXTENSION', words: ['create', 'extension'], why: 'extensions run their own install scripts and are not stored in backups' },
  { name: 'CREATE EVENT TRIGGER', words: ['create', 'event', 'trigger'], why: 'event triggers are not stored in backups' },
  { name: 'CREATE LANGUAGE', words: ['create', 'language'], why: 'not stored in backups' },
  { name: 'CREATE TRUSTED LANGUAGE', words: ['create', 'trusted'], why: 'not stored in backups' },
  { name: 'CREATE SERVER', words: ['create', 'server'], why: 'foreign servers are not stored in backups' },
  { name: 'CREATE FOREIGN', words: ['create', 'foreign'], why: 'foreign tables and data wrappers are not stored in backups' },
  { name: 'CREATE SCHEMA', words: ['create', 'schema'], why: 'a restore creates objects only in its own schema' },
  { name: 'CREATE DATABASE', words: ['create', 'database'], why: 'not stored in backups' },
  { name: 'CREATE TEMPORARY object', words: ['create', 'temp'], why: 'not stored in backups' },
  { name: 'CREATE TEMPORARY object', words: ['create', 'temporary'], why: 'not stored in backups' },
  { name: 'CREATE UNLOGGED TABLE', words: ['create', 'unlogged'], why: 'not stored in backups' },
  { name: 'CREATE DOMAIN', words: ['create', 'domain'], why: 'domains are not stored in backups' },
  { name: 'CREATE CAST', words: ['create', 'cast'], why: 'not stored in backups' },
  { name: 'CREATE OPERATOR', words: ['create', 'operator'], why: 'not stored in backups' },
  { name: 'CREATE AGGREGATE', words: ['create', 'aggregate'], why: 'not stored in backups' },
  { name: 'CREATE POLICY', words: ['create', 'policy'], why: 'not stored in backups' },
  { name: 'CREATE PUBLICATION', words: ['create', 'publication'], why: 'not stored in backups' },
  { name: 'CREATE SUBSCRIPTION', words: ['create', 'subscription'], why: 'subscriptions connect to other servers' },
  { name: 'SET', words: ['set'], why: 'a backup never changes session or server settings' },
  { name: 'RESET', words: ['reset'], why: 'a backup never changes session or server settings' },
  { name: 'SELECT', words: ['select'], why: 'backups set sequences themselves (setval with parameters); a stored SELECT could call any function' },
  { name: 'WITH query', words: ['with'], why: 'not stored in backups' },
  { name: 'VALUES', words: ['values'], why: 'not stored in backups' },
  { name: 'TABLE', words: ['table'], why: 'not stored in backups' },
  { name: 'INSERT', words: ['insert'], why: 'rows are data in the backup, never SQL' },
  { name: 'UPDATE', words: ['update'], why: 'rows are data in the backup, never SQL' },
  { name: 'DELETE', words: ['delete'], why: 'rows are data in the backup, never SQL' },
  { name: 'MERGE', words: ['merge'], why: 'rows are data in the backup, never SQL' },
  { name: 'TRUNCATE', words: ['truncate'], why: 'a restore empties tables itself' },
  { name: 'DROP', words: ['drop'], why: 'a restore drops objects itself' },
  { name: 'ALTER', words: ['alter'], why: 'only ALTER TABLE ... ADD CONSTRAINT and ALTER SEQUENCE ... OWNED BY are stored in backups' },
  { name: 'CALL', words: ['call'], why: 'procedures run arbitrary code' },
  { name: 'EXECUTE', words: ['execute'], why: 'not stored in backups' },
  { name: 'PREPARE', words: ['prepare'], why: 'not stored in backups' },
  { name: 'LOAD', words: ['load'], why: 'it loads a shared library into the server' },
  { name: 'LISTEN/NOTIFY', words: ['notify'], why: 'not stored in backups' },
  { name: 'LISTEN/NOTIFY', words: ['listen'], why: 'not stored in backups' },
  { name: 'transaction control', words: ['begin'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['commit'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['rollback'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['end'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['abort'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['start'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['savepoint'], why: 'the restore runs in its own single transaction' },
  { name: 'transaction control', words: ['release'], why: 'the restore runs in its own single transaction' },
  { name: 'COMMENT', words: ['comment'], why: 'comments are not stored in backups' },
  { name: 'SECURITY LABEL', words: ['security'], why: 'not stored in backups' },
  { name: 'IMPORT FOREIGN SCHEMA', words: ['import'], why: 'it connects to other servers' },
  { name: 'REFRESH MATERIALIZED VIEW', words: ['refresh'], why: 'not stored in backups' },
  { name: 'maintenance command', words: ['vacuum'], why: 'not stored in backups' },
  { name: 'maintenance command', words: ['analyze'], why: 'not stored in backups' },
  { name: 'maintenance command', words: ['cluster'], why: 'not stored in backups' },
  { name: 'maintenance command', words: ['reindex'], why: 'not stored in backups' },
  { name: 'maintenance command', words: ['checkpoint'], why: 'not stored in backups' },
  { name: 'LOCK', words: ['lock'], why: 'not stored in backups' },
  { name: 'REASSIGN OWNED', words: ['reassign'], why: 'not stored in backups' },
  { name: 'DISCARD', words: ['discard'], why: 'not stored in backups' },
  { name: 'cursor command', words: ['declare'], why: 'not stored in backups' },
  { name: 'SHOW/EXPLAIN', words: ['show'], why: 'not stored in backups' },
  { name: 'SHOW/EXPLAIN', words: ['explain'], why: 'not stored in backups' },
];

/** Classifies one statement: null when it is one the backup format produces, else the refusal. */
export function classifyPostgresStatement(text: string, c: Context): { refusedClass: string; why: string } | null {
  const tokens = statementTokens(text, POSTGRES_LEXICAL_RULES);
  if (!Array.isArray(tokens)) return tokens;
  if (firstSemicolon(tokens) >= 0) return { refusedClass: 'more than one statement in one entry', why: 'each entry must be exactly one statement' };
  if (tokens.some((t) => t.kind === 'param')) return { refusedClass: 'a parameter marker', why: 'stored statements never have parameters' };
  const statement: Statement = { text, tokens };
  const accepted = ACCEPTED.find((k) => k.matches(tokens));
  if (accepted) {
    const v = accepted.check(statement, c);
    return v ? { refusedClass: v.refusedClass ?? accepted.name, why: v.why } : null;
  }
  const refused = refusedClassOf(tokens, REFUSED);
  if (refused) return { refusedClass: refused.name, why: refused.why };
  return { refusedClass: `unrecognised statement (${tokens.slice(0, 2).map((t) => t.raw.toUpperCase()).join(' ')})`, why: 'it is not one of the statement classes backups store' };
}

/** Checks an expression field of the header (a column default, a foreign key definition). */
function checkPostgresExpression(text: string): { refusedClass: string; why: string } | null {
  let tokens: Token[];
  try {
    tokens = tokenize(text, POSTGRES_LEXICAL_RULES);
  } catch (e) {
    if (e instanceof LexError) return { refusedClass: 'unreadable SQL', why: e.message };
    throw e;
  }
  if (firstSemicolon(tokens) >= 0) return { refusedClass: 'more than one statement in one entry', why: 'an expression never holds a semicolon' };
  if (tokens.some((t) => t.kind === 'param')) return { refusedClass: 'a parameter marker', why: 'stored expressions never have parameters' };
  const d = deny(tokens, 0);
  return d ? { refusedClass: d.refusedClass!, why: d.why } : null;
}

/**
 * Dialect.checkBackupSql for PostgreSQL: the first statement or field of the header's schema that
 * a restore must not run, or null when everything is of the produced kinds.
 */
export function checkPostgresBackupSql(schema: DbSchema, options: { partial?: boolean } = {}): SqlRefusal | null {
  const c: Context = {
    partial: options.partial === true,
    namespaces: schema.namespaces ?? [schema.namespace ?? 'public'],
    tables: new Map(schema.tables.map((t) => [t.name, t])),
    enums: new Map(schema.enums.map((e) => [e.name, e.values])),
    sequences: new Set(schema.sequences.map((s) => s.name)),
  };
  const fields: { where: string; text: string }[] = [];
  const indexLists: { where: string; statements: string[] }[] = [];
  for (const t of schema.tables) {
    for (const col of t.columns) if (typeof col.default === 'string') fields.push({ where: `schema.tables["${t.name}"].columns["${col.name}"].default`, text: col.default });
    for (const fk of t.foreignKeys) fields.push({ where: `schema.tables["${t.name}"].foreignKeys["${fk.name}"].definition`, text: fk.definition });
    if (t.indexes.length) indexLists.push({ where: `schema.tables["${t.name}"].indexes[].definition`, statements: t.indexes.map((i) => i.definition) });
  }
  // DDL pg_dump wrote is checked by class and object (postgres-dump-ddl-check.ts); the index
  // definitions data-mode restores rebuild are always the introspector's forms.
  const fromPgDump = schema.ddlSource === 'pg_dump';
  return (
    (fromPgDump
      ? checkHeaderSql(
          [
            { where: 'schema.ddl', statements: schema.ddl },
            { where: 'schema.postDdl', statements: schema.postDdl },
          ],
          [],
          (text) => classifyPgDumpStatement(text, c.namespaces),
          checkPostgresExpression,
        )
      : null) ??
    checkHeaderSql(
      [...(fromPgDump ? [] : [{ where: 'schema.ddl', statements: schema.ddl }, { where: 'schema.postDdl', statements: schema.postDdl }]), ...indexLists],
      fields,
      (text) => classifyPostgresStatement(text, c),
      checkPostgresExpression,
    ) ??
    checkSequenceValues(schema)
  );
}
