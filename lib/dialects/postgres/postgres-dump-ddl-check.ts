import type { DbSchema } from '../../core/types.ts';
import { deniedReference, firstSemicolon, identName, qualifiedName, statementTokens, type Token } from '../ddl-check.ts';
import { POSTGRES_DENY_LIST, POSTGRES_LEXICAL_RULES } from './postgres-ddl-check.ts';

/**
 * The backup SQL check for DDL written by pg_dump (schema.ddlSource = 'pg_dump'; see
 * postgres-schema-dump.ts). pg_dump writes far more forms than the introspector, so the check is by
 * statement class and object, not by exact form:
 *
 * - the statement must be one of the DDL classes a per-schema `pg_dump --schema-only` writes (CREATE /
 *   ALTER of schema objects, COMMENT ON, GRANT / REVOKE, ALTER DEFAULT PRIVILEGES IN SCHEMA), or one
 *   of the two prisma-guard adds (CREATE EXTENSION IF NOT EXISTS, REFRESH MATERIALIZED VIEW);
 * - the object it creates or changes must be in the backed-up schema;
 * - outside string literals (function bodies are strings) it may call nothing from the deny list;
 * - no function in C or `internal`: creating one loads a shared library into the server.
 *
 * Function bodies are code the backup brings along. Whether a restore may create them is decided
 * by trust, not by this check: see `definesCode` and the restore's --allow-code.
 */

interface Form {
  /** Leading words, lower case; `?word` is optional. */
  words: string[];
  /** Where the object's name is: `next` (right after the words), `on` (after ON / TO), `schema` (the schema itself), `none`. */
  object: 'next' | 'on' | 'schema' | 'none';
}

const OBJECT_KINDS = [
  ['table'],
  ['foreign', 'table'],
  ['sequence'],
  ['view'],
  ['materialized', 'view'],
  ['index'],
  ['type'],
  ['domain'],
  ['function'],
  ['procedure'],
  ['aggregate'],
  ['collation'],
  ['statistics'],
  ['operator', 'class'],
  ['operator', 'family'],
  ['operator'],
  ['text', 'search', 'configuration'],
  ['text', 'search', 'dictionary'],
  ['text', 'search', 'parser'],
  ['text', 'search', 'template'],
  ['conversion'],
];

const FORMS: Form[] = [
  { words: ['create', 'schema'], object: 'schema' },
  { words: ['alter', 'schema'], object: 'schema' },
  { words: ['comment', 'on', 'schema'], object: 'schema' },
  { words: ['create', 'extension', 'if', 'not', 'exists'], object: 'none' },
  { words: ['refresh', 'materialized', 'view'], object: 'next' },
  { words: ['create', 'unlogged', 'table'], object: 'next' },
  { words: ['create', 'unique', 'index'], object: 'on' },
  { words: ['create', 'index'], object: 'on' },
  { words: ['create', 'or', 'replace', 'function'], object: 'next' },
  { words: ['create', 'or', 'replace', 'procedure'], object: 'next' },
  { words: ['create', 'or', 'replace', 'view'], object: 'next' },
  { words: ['create', 'recursive', 'view'], object: 'next' },
  { words: ['create', 'constraint', 'trigger'], object: 'on' },
  { words: ['create', 'trigger'], object: 'on' },
  { words: ['create', 'or', 'replace', 'rule'], object: 'on' },
  { words: ['create', 'rule'], object: 'on' },
  { words: ['create', 'policy'], object: 'on' },
  { words: ['alter', 'table', 'only'], object: 'next' },
  { words: ['alter', 'index', 'only'], object: 'next' },
  { words: ['alter', 'default', 'privileges'], object: 'none' },
  ...OBJECT_KINDS.flatMap((k): Form[] => [
    { words: ['create', ...k], object: 'next' },
    { words: ['alter', ...k], object: 'next' },
    { words: ['comment', 'on', ...k], object: 'next' },
  ]),
  { words: ['comment', 'on', 'column'], object: 'next' },
  { words: ['comment', 'on', 'constraint'], object: 'on' },
  { words: ['comment', 'on', 'trigger'], object: 'on' },
  { words: ['comment', 'on', 'policy'], object: 'on' },
  { words: ['comment', 'on', 'rule'], object: 'on' },
  { words: ['comment', 'on', 'index'], object: 'next' },
  { words: ['grant'], object: 'on' },
  { words: ['revoke'], object: 'on' },
];

const isWord = (t: Token | undefined, w: string) => t?.kind === 'word' && t.value === w;

function formOf(tokens: Token[]): Form | null {
  let best: Form | null = null;
  for (const f of FORMS) {
    if (f.words.every((w, i) => isWord(tokens[i], w)) && (!best || f.words.length > best.words.length)) best = f;
  }
  return best;
}

/** The first schema-qualified name from `from` on, skipping string literals; or null. */
function firstQualified(tokens: Token[], from: number): { schema: string | null; name: string } | null {
  for (let k = from; k < tokens.length; k++) {
    const q = qualifiedName(tokens, k);
    if (q?.schema) return q;
  }
  return null;
}

export function classifyPgDumpStatement(text: string, namespaces: readonly string[]): { refusedClass: string; why: string } | null {
  const namespace = namespaces.map((n) => `"${n}"`).join(', ');
  const ours = (name: string | null | undefined) => name != null && namespaces.includes(name);
  const tokens = statementTokens(text, POSTGRES_LEXICAL_RULES);
  if (!Array.isArray(tokens)) return tokens;
  if (firstSemicolon(tokens) >= 0) return { refusedClass: 'more than one statement in one entry', why: 'each entry must be exactly one statement' };
  if (tokens.some((t) => t.kind === 'param')) return { refusedClass: 'a parameter marker', why: 'stored statements never have parameters' };
  const form = formOf(tokens);
  const head = tokens
    .slice(0, 3)
    .map((t) => t.raw.toUpperCase())
    .join(' ');
  if (!form) return { refusedClass: `unrecognised statement (${head})`, why: 'it is not one of the statement classes pg_dump writes for a schema' };
  const label = form.words.join(' ').toUpperCase();
  const denied = deniedReference(tokens, form.words.length, tokens.length, POSTGRES_DENY_LIST);
  if (denied) return { refusedClass: denied.what, why: 'expressions in a backup may not reach files, other sessions or server settings' };

  const after = form.words.length;
  if (form.object === 'schema') {
    const name = identName(tokens[after]);
    if (!ours(name)) return { refusedClass: label, why: `it names schema "${name ?? '?'}", not the backup's schema ${namespace}` };
  } else if (form.object === 'next' || form.object === 'on') {
    let from = after;
    if (form.object === 'on') {
      const on = tokens.findIndex((t, k) => k >= after && (isWord(t, 'on') || (isWord(t, 'to') && isWord(tokens[k - 2], 'on'))));
      if (on < 0) return { refusedClass: label, why: 'no ON clause where pg_dump writes one' };
      from = on + 1;
      // GRANT ... ON TABLE / SEQUENCE / FUNCTION / SCHEMA / TYPE name
      if (form.words[0] === 'grant' || form.words[0] === 'revoke') {
        if (isWord(tokens[from], 'schema')) {
          const name = identName(tokens[from + 1]);
          if (!ours(name)) return { refusedClass: label, why: `it names schema "${name ?? '?'}", not the backup's schema ${namespace}` };
          return null;
        }
      }
    }
    const q = firstQualified(tokens, from);
    if (!q) return { refusedClass: label, why: 'the object is not schema-qualified (pg_dump qualifies every name)' };
    if (!ours(q.schema)) return { refusedClass: label, why: `the object is not in the backup's schema ${namespace} (it names "${q.schema}")` };
  } else if (form.words[1] === 'default') {
    const inSchema = tokens.findIndex((t, k) => isWord(t, 'in') && isWord(tokens[k + 1], 'schema'));
    if (inSchema < 0 || !ours(identName(tokens[inSchema + 2]))) return { refusedClass: label, why: `default privileges must be for the backup's schema ${namespace}` };
  }

  if ((form.words.includes('function') || form.words.includes('procedure')) && form.words[0] === 'create') {
    const language = tokens.findIndex((t, k) => isWord(t, 'language') && k > after);
    const lang = language >= 0 ? identName(tokens[language + 1])?.toLowerCase() : null;
    if (lang === 'c' || lang === 'internal') return { refusedClass: `a function in LANGUAGE ${lang}`, why: 'creating it loads a shared library into the server' };
  }
  return null;
}

/**
 * Extensions that reach files, programs, other servers or untrusted languages: installing one from
 * a backup is like running its code.
 */
const POWERFUL_EXTENSIONS = new Set(['dblink', 'postgres_fdw', 'file_fdw', 'adminpack', 'plpython3u', 'plpythonu', 'plperlu', 'pltclu', 'lo', 'pg_cron', 'pg_background']);

/**
 * The code the backup's DDL creates: functions, procedures and aggregates (they run later, as
 * whoever calls them), and the powerful extensions it installs.
 */
export function definesCode(schema: DbSchema): string[] {
  if (schema.ddlSource !== 'pg_dump') return [];
  const out: string[] = [];
  for (const s of [...schema.ddl, ...schema.postDdl]) {
    const m = /^CREATE (?:OR REPLACE )?(FUNCTION|PROCEDURE|AGGREGATE) ([^(\s]+)/i.exec(s);
    if (m) out.push(`${m[1].toLowerCase()} ${m[2]}`);
    const x = /^CREATE EXTENSION IF NOT EXISTS ("(?:[^"]|"")+"|\S+)/i.exec(s);
    if (x) {
      const name = x[1].startsWith('"') ? x[1].slice(1, -1).replace(/""/g, '"') : x[1].toLowerCase();
      if (POWERFUL_EXTENSIONS.has(name)) out.push(`extension ${name}`);
    }
  }
  return out;
}
