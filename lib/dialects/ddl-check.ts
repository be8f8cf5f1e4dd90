/**
 * The shared half of the backup SQL check (the dialect halves are postgres/postgres-ddl-check.ts and
 * sqlite/sqlite-ddl-check.ts, exposed as Dialect.checkBackupSql).
 *
 * A backup header carries SQL text (schema.ddl and schema.postDdl) that a full restore executes.
 * The file is input like any other: anyone who can write to the backup folder can edit it and
 * recompute every checksum. So before anything runs, every statement is tokenized the way the
 * database itself will tokenize it and must match one of the statement classes the backup format
 * produces, name an object the header's schema lists, and call no function from the dialect's deny
 * list. Anything else is refused with BACKUP_UNSAFE_SQL (exit 3).
 *
 * This file holds the pieces both dialects use: the tokenizer (driven by per-dialect lexical
 * options), the refusal type, the shape of a statement class, and small matching helpers.
 */
import { GuardError } from '../core/errors.ts';
import type { DbSchema } from '../core/types.ts';

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'op' | 'punct' | 'param';

export interface Token {
  kind: TokenKind;
  /** The text as written. */
  raw: string;
  /**
   * word: lower-cased; quoted: the identifier with its quotes removed and doubled quotes undone;
   * string: the literal's text (escapes undone where the dialect has them); otherwise `raw`.
   */
  value: string;
  /** Offset in the statement. */
  at: number;
}

/** How one dialect writes its lexical elements (what its own lexer accepts). */
export interface LexicalRules {
  /** Quote characters that delimit identifiers, with their closing character: `"` -> `"`, `[` -> `]`. */
  identifierQuotes: Record<string, string>;
  /** Block comments nest (PostgreSQL) or end at the first star-slash (SQLite). */
  nestedComments: boolean;
  /** PostgreSQL: E'...' (backslash escapes) and $tag$...$tag$ strings. */
  escapeStrings: boolean;
  dollarQuotes: boolean;
  /** Prefixes (case-insensitive) that may stand directly before a string: X'..', B'..', N'..'. */
  stringPrefixes: string[];
  /** Characters that make up operators. */
  operatorChars: string;
  /** Parameter markers: PostgreSQL `$1`; SQLite `?`, `?1`, `:name`, `@name`, `$name`. */
  parameters: 'dollar-number' | 'sqlite';
}

/** Why a statement (or a field of the header) was refused. */
export class SqlRefusal {
  constructor(
    /** Where the text came from: `schema.ddl`, `schema.postDdl`, or a header field such as `tables["User"].columns["id"].default`. */
    readonly where: string,
    /** Index in the list (ddl/postDdl), or null for a single field. */
    readonly index: number | null,
    readonly text: string,
    /** The statement class (or kind of problem) that was refused, e.g. `COPY`, `CREATE FUNCTION`, `a call of pg_read_file`. */
    readonly refusedClass: string,
    /** Why, in a few words. */
    readonly why: string,
  ) {}

  /** The first 80 characters of the text on one line. */
  get excerpt(): string {
    const flat = this.text.replace(/\s+/g, ' ').trim();
    return flat.length > 80 ? flat.slice(0, 80) + '...' : flat;
  }

  toError(file: string): GuardError {
    const at = this.index === null ? this.where : `${this.where}[${this.index}]`;
    return new GuardError(
      'BACKUP_UNSAFE_SQL',
      `${file} holds SQL that prisma-guard never writes into a backup, so it will not run it: statement ${at} "${this.excerpt}" is refused (${this.refusedClass}: ${this.why}).`,
      {
        hint: 'The file was edited outside prisma-guard; do not restore it. Restore another backup (`prisma-guard list`), and find out who can write to the backup folder.',
        details: { where: this.where, index: this.index, statement: this.excerpt, refusedClass: this.refusedClass, why: this.why },
      },
    );
  }
}

/** Thrown by the tokenizer on text the dialect's lexer would read differently or not at all. */
export class LexError extends Error {}

/**
 * The tokens of one stored statement, or the refusal every dialect gives first: SQL the tokenizer
 * cannot read, or an empty entry.
 */
export function statementTokens(text: string, rules: LexicalRules): Token[] | { refusedClass: string; why: string } {
  let tokens: Token[];
  try {
    tokens = tokenize(text, rules);
  } catch (e) {
    if (e instanceof LexError) return { refusedClass: 'unreadable SQL', why: e.message };
    throw e;
  }
  if (tokens.length === 0) return { refusedClass: 'an empty statement', why: 'backups never store one' };
  return tokens;
}

const isIdentStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c >= '\u0080';
const isDigit = (c: string) => c >= '0' && c <= '9';
const isIdentPart = (c: string) => isIdentStart(c) || isDigit(c) || c === '$';
const isSpace = (c: string) => c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === '\f' || c === '\v';
const DOLLAR_TAG = /\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;
const NUMBER = /0[xX][0-9A-Fa-f_]+|(\d[\d_]*)?\.?\d[\d_]*([eE][+-]?\d+)?|\d[\d_]*\./y;

/**
 * Splits SQL text into tokens the way the dialect's own lexer does: comments are dropped, quoted
 * identifiers and string literals (with their escapes) are single tokens, so a `;` or a keyword
 * inside them is never mistaken for code. Throws LexError for anything unterminated or unknown.
 */
export function tokenize(sql: string, rules: LexicalRules): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  const push = (kind: TokenKind, start: number, end: number, value?: string) => {
    const raw = sql.slice(start, end);
    out.push({ kind, raw, value: value ?? raw, at: start });
  };
  /** A '...' literal starting at `q` (the quote); returns [end, value]. */
  const quotedString = (q: number, backslashEscapes: boolean): [number, string] => {
    let j = q + 1;
    let value = '';
    for (;;) {
      if (j >= n) throw new LexError(`an unterminated string literal at offset ${q}`);
      const c = sql[j];
      if (backslashEscapes && c === '\\') {
        if (j + 1 >= n) throw new LexError(`an unterminated string literal at offset ${q}`);
        value += sql[j + 1];
        j += 2;
        continue;
      }
      if (c === "'") {
        if (sql[j + 1] === "'") {
          value += "'";
          j += 2;
          continue;
        }
        return [j + 1, value];
      }
      value += c;
      j++;
    }
  };
  while (i < n) {
    const c = sql[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      let j = i + 2;
      while (depth > 0) {
        if (j >= n) throw new LexError(`an unterminated comment at offset ${i}`);
        if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else if (rules.nestedComments && sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else j++;
      }
      i = j;
      continue;
    }
    if (c === "'") {
      const [end, value] = quotedString(i, false);
      push('string', i, end, value);
      i = end;
      continue;
    }
    const close = rules.identifierQuotes[c];
    if (close !== undefined) {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= n) throw new LexError(`an unterminated quoted identifier at offset ${i}`);
        if (sql[j] === close) {
          if (close !== ']' && sql[j + 1] === close) {
            value += close;
            j += 2;
            continue;
          }
          break;
        }
        value += sql[j++];
      }
      push('quoted', i, j + 1, value);
      i = j + 1;
      continue;
    }
    if (rules.dollarQuotes && c === '$') {
      DOLLAR_TAG.lastIndex = i;
      const m = DOLLAR_TAG.exec(sql);
      if (m) {
        const tag = m[0];
        const end = sql.indexOf(tag, i + tag.length);
        if (end < 0) throw new LexError(`an unterminated dollar-quoted string at offset ${i}`);
        push('string', i, end + tag.length, sql.slice(i + tag.length, end));
        i = end + tag.length;
        continue;
      }
    }
    const sqliteParam = rules.parameters === 'sqlite' && (c === '?' || ((c === ':' || c === '@' || c === '$') && isIdentStart(sql[i + 1] ?? '')));
    if (sqliteParam || (rules.parameters === 'dollar-number' && c === '$' && isDigit(sql[i + 1] ?? ''))) {
      // Parameters never appear in stored DDL; kept as tokens so that the classes refuse them.
      let j = i + 1;
      while (j < n && isIdentPart(sql[j])) j++;
      push('param', i, j);
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(sql[j])) j++;
      const word = sql.slice(i, j);
      if (sql[j] === "'" && j - i <= 2) {
        const prefix = word.toUpperCase();
        if (rules.escapeStrings && prefix === 'E') {
          const [end, value] = quotedString(j, true);
          push('string', i, end, value);
          i = end;
          continue;
        }
        if (rules.stringPrefixes.includes(prefix)) {
          const [end, value] = quotedString(j, false);
          push('string', i, end, value);
          i = end;
          continue;
        }
        // U&'...' (PostgreSQL) and other prefixed literals: never in what we write.
        throw new LexError(`a ${word}'...' literal at offset ${i}`);
      }
      if (sql[j] === '&' && (sql[j + 1] === "'" || sql[j + 1] === '"')) throw new LexError(`a Unicode-escaped literal (${word}&) at offset ${i}`);
      push('word', i, j, word.toLowerCase());
      i = j;
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(sql[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(sql);
      const len = m ? m[0].length : 1;
      push('number', i, i + len);
      i += len;
      continue;
    }
    if ('(),;[].'.includes(c)) {
      push('punct', i, i + 1);
      i++;
      continue;
    }
    if (c === ':') {
      const len = sql[i + 1] === ':' ? 2 : 1;
      push('punct', i, i + len);
      i += len;
      continue;
    }
    if (rules.operatorChars.includes(c)) {
      let j = i;
      // An operator never swallows the start of a comment (both lexers stop there).
      while (j < n && rules.operatorChars.includes(sql[j]) && !(sql[j] === '-' && sql[j + 1] === '-') && !(sql[j] === '/' && sql[j + 1] === '*')) j++;
      if (j === i) j = i + 1;
      push('op', i, j);
      i = j;
      continue;
    }
    throw new LexError(`an unexpected character ${JSON.stringify(c)} at offset ${i}`);
  }
  return out;
}

/** A parsed statement as the classes see it. */
export interface Statement {
  text: string;
  tokens: Token[];
}

/**
 * What a class's check found wrong: why, and optionally a more precise class than the one matched
 * (a denied call inside a CREATE TABLE is refused as `a call of pg_read_file()`).
 */
export type Verdict = { refusedClass?: string; why: string } | null;

/**
 * One accepted statement class: the kinds of statement the backup format produces. `matches`
 * looks at the first tokens only (so the class named in a refusal is the one the statement claims
 * to be); `check` then proves the whole statement has the produced form and names objects of the
 * header's schema, returning why not, or null when it is accepted.
 */
export interface StatementClass<Context> {
  name: string;
  matches(tokens: Token[]): boolean;
  check(statement: Statement, context: Context): Verdict;
}

/**
 * A statement class that is known and always refused (COPY, roles, functions...): recognised only
 * to name it precisely in the refusal.
 */
export interface RefusedClass {
  name: string;
  /** Leading words, lower case, e.g. ['create', 'function']; `*` matches any single word. */
  words: string[];
  why: string;
}

/** Whether the statement starts with these words (words and unquoted keywords only). */
export function startsWith(tokens: Token[], words: string[], from = 0): boolean {
  return words.every((w, k) => {
    const t = tokens[from + k];
    return t !== undefined && t.kind === 'word' && (w === '*' || t.value === w);
  });
}

/** The refused class a statement claims to be, longest match first. */
export function refusedClassOf(tokens: Token[], table: RefusedClass[]): RefusedClass | undefined {
  let best: RefusedClass | undefined;
  for (const r of table) if (startsWith(tokens, r.words) && (!best || r.words.length > best.words.length)) best = r;
  return best;
}

/** An identifier token's name: unquoted words are case-folded (lower-cased), quoted ones kept as written. */
export function identName(t: Token | undefined): string | null {
  if (!t) return null;
  if (t.kind === 'quoted') return t.value;
  if (t.kind === 'word') return t.value;
  return null;
}

/** A possibly qualified name at tokens[at]: `name` or `schema . name`; returns the parts and the index after it. */
export function qualifiedName(tokens: Token[], at: number): { schema: string | null; name: string; next: number } | null {
  const first = identName(tokens[at]);
  if (first === null) return null;
  if (tokens[at + 1]?.raw === '.' && identName(tokens[at + 2]) !== null) {
    return { schema: first, name: identName(tokens[at + 2])!, next: at + 3 };
  }
  return { schema: null, name: first, next: at + 1 };
}

/** Index of the parenthesis closing the one at `open`, or -1. */
export function closingParen(tokens: Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    const r = tokens[k].raw;
    if (tokens[k].kind !== 'punct') continue;
    if (r === '(' || r === '[') depth++;
    else if (r === ')' || r === ']') {
      depth--;
      if (depth === 0) return k;
    }
  }
  return -1;
}

/** Whether a `,` occurs outside every parenthesis in tokens[from..to). */
export function hasTopLevelComma(tokens: Token[], from: number, to = tokens.length): boolean {
  let depth = 0;
  for (let k = from; k < to; k++) {
    const t = tokens[k];
    if (t.kind !== 'punct') continue;
    if (t.raw === '(' || t.raw === '[') depth++;
    else if (t.raw === ')' || t.raw === ']') depth--;
    else if (t.raw === ',' && depth === 0) return true;
  }
  return false;
}

/**
 * Functions (and privileged relations) that must not appear in any expression a restore would
 * create: server file access, large objects, other connections, server control, settings, SQL
 * text executed from a string. Names are matched on the last part of a qualified name, lower case.
 */
export interface DenyList {
  names: Set<string>;
  prefixes: string[];
  /** Names refused even when not called (relations such as pg_authid that a view could expose). */
  relations: Set<string>;
}

/**
 * Why an expression's tokens are refused (a denied call or relation), or null. The table named
 * after REFERENCES is followed by its column list, which is not a call.
 */
export function deniedReference(tokens: Token[], from: number, to: number, deny: DenyList): { name: string; what: string } | null {
  for (let k = from; k < to; k++) {
    const t = tokens[k];
    if (t.kind === 'word' && t.value === 'references') {
      const q = qualifiedName(tokens, k + 1);
      if (q) k = q.next - 1;
      continue;
    }
    if (t.kind !== 'word' && t.kind !== 'quoted') continue;
    const name = t.value.toLowerCase();
    const called = tokens[k + 1]?.kind === 'punct' && tokens[k + 1].raw === '(';
    if (called && (deny.names.has(name) || deny.prefixes.some((p) => name.startsWith(p)))) return { name, what: `a call of ${name}()` };
    if (deny.relations.has(name)) return { name, what: `a reference to ${name}` };
  }
  return null;
}

/** The index of the first `;` token, or -1. */
export function firstSemicolon(tokens: Token[]): number {
  return tokens.findIndex((t) => t.kind === 'punct' && t.raw === ';');
}

/**
 * Runs the checks shared by both dialects over one header: every ddl/postDdl entry is classified
 * by `classifyStatement`, every expression field by `checkExpression`. Returns the first refusal.
 */
export function checkHeaderSql(
  lists: { where: string; statements: string[] }[],
  fields: { where: string; text: string }[],
  classifyStatement: (text: string) => { refusedClass: string; why: string } | null,
  checkExpression: (text: string) => { refusedClass: string; why: string } | null,
): SqlRefusal | null {
  for (const list of lists) {
    for (const [index, text] of list.statements.entries()) {
      const r = classifyStatement(text);
      if (r) return new SqlRefusal(list.where, index, text, r.refusedClass, r.why);
    }
  }
  for (const f of fields) {
    const r = checkExpression(f.text);
    if (r) return new SqlRefusal(f.where, null, f.text, r.refusedClass, r.why);
  }
  return null;
}

/**
 * Sequence positions are turned into numbers (BigInt) by the loaders: anything but an integer is
 * refused here, before anything changes, rather than failing half-way through a restore.
 */
export function checkSequenceValues(schema: DbSchema): SqlRefusal | null {
  for (const s of schema.sequences) {
    const v = s.lastValue as unknown;
    if (v !== null && !(typeof v === 'string' && /^-?\d{1,20}$/.test(v))) {
      return new SqlRefusal(`schema.sequences["${s.name}"].lastValue`, null, String(v), 'a sequence value that is not an integer', 'backups store sequence positions as integers');
    }
  }
  return null;
}
