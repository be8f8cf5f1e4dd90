/**
 * Lexical handling of migration scripts (pure): splitting into statements, stripping comments,
 * splitting lists at top level, reading identifiers, and reading Prisma's `/* Warnings: *\/` header.
 * Handles '...' strings (with '' escapes), E'...' strings (backslash escapes), "..." and `...`
 * identifiers, [..] identifiers (SQLite), -- and nested /* *\/ comments, and $tag$...$tag$ bodies.
 */

/** One statement of a script. */
export interface SqlStatement {
  /** 0-based position in the script's statement list. */
  index: number;
  /** The statement as written (comments inside kept, trailing `;` removed, trimmed). */
  text: string;
  /** The statement with comments removed and whitespace collapsed: what the rules read. */
  normalized: string;
  /** 1-based line where the statement starts. */
  line: number;
}

type Piece = { kind: 'code' | 'string' | 'ident' | 'comment' | 'dollar'; text: string; start: number };

/** Breaks a script into code, string, quoted identifier, comment and dollar-quoted pieces. */
export function lex(sql: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let codeStart = 0;
  const flush = (end: number) => {
    if (end > codeStart) out.push({ kind: 'code', text: sql.slice(codeStart, end), start: codeStart });
  };
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    let end = -1;
    let kind: Piece['kind'] | null = null;
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      end = nl < 0 ? sql.length : nl;
      kind = 'comment';
    } else if (c === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < sql.length && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      end = j;
      kind = 'comment';
    } else if (c === "'") {
      // E'..' strings allow backslash escapes; the E is the previous code character.
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && (i < 2 || !/[\w$]/.test(sql[i - 2]));
      let j = i + 1;
      while (j < sql.length) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      end = Math.min(j + 1, sql.length);
      kind = 'string';
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j++;
      }
      end = Math.min(j + 1, sql.length);
      kind = 'ident';
    } else if (c === '[' && /^\[[^\]\n]*\]/.test(sql.slice(i, i + 200)) && !/[\w)\]]\s*$/.test(sql.slice(Math.max(0, i - 20), i))) {
      // SQLite [identifier] (not an array subscript like a[1] or "x"[1]).
      end = sql.indexOf(']', i) + 1;
      kind = 'ident';
    } else if (c === '$' && (i === 0 || !/[\w$]/.test(sql[i - 1]))) {
      const m = /^\$([A-Za-z_][\w]*)?\$/.exec(sql.slice(i));
      if (m) {
        const tag = m[0];
        const close = sql.indexOf(tag, i + tag.length);
        end = close < 0 ? sql.length : close + tag.length;
        kind = 'dollar';
      }
    }
    if (kind) {
      flush(i);
      out.push({ kind, text: sql.slice(i, end), start: i });
      i = end;
      codeStart = i;
    } else i++;
  }
  flush(sql.length);
  return out;
}

function lineAt(sql: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos; i++) if (sql.charCodeAt(i) === 10) n++;
  return n;
}

/** The text with comments removed and runs of whitespace (outside strings/identifiers) made one space. */
export function normalizeSql(text: string): string {
  return lex(text)
    .filter((p) => p.kind !== 'comment')
    .map((p) => (p.kind === 'code' ? p.text.replace(/\s+/g, ' ') : p.text))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Splits a script at top-level semicolons. Empty statements (only comments/whitespace) are dropped.
 * `BEGIN ... END` bodies of CREATE TRIGGER (SQLite) are kept whole.
 */
export function splitStatements(sql: string): SqlStatement[] {
  const pieces = lex(sql);
  const out: SqlStatement[] = [];
  let start = 0;
  let triggerDepth = 0;
  let current = '';
  const emit = (end: number) => {
    const raw = sql.slice(start, end);
    const normalized = normalizeSql(raw);
    if (normalized) {
      // Start line = first non-comment, non-space character of the statement.
      const lead = lex(raw).find((p) => p.kind !== 'comment' && p.text.trim());
      const offset = lead ? lead.start + (lead.kind === 'code' ? lead.text.length - lead.text.trimStart().length : 0) : 0;
      out.push({ index: out.length, text: raw.slice(offset).trim(), normalized, line: lineAt(sql, start + offset) });
    }
  };
  for (const p of pieces) {
    if (p.kind !== 'code') {
      if (p.kind !== 'comment') current += ' x ';
      continue;
    }
    for (let k = 0; k < p.text.length; k++) {
      const ch = p.text[k];
      current += ch;
      if (/[A-Za-z]/.test(ch)) {
        // Track CREATE TRIGGER ... BEGIN ... END so the semicolons inside stay in the statement.
        const word = /([A-Za-z]+)$/.exec(current)?.[1]?.toUpperCase();
        const nextCh = p.text[k + 1] ?? ' ';
        if (!/[A-Za-z0-9_]/.test(nextCh)) {
          if (word === 'BEGIN' && /^\s*CREATE\s+(TEMP\w*\s+)?TRIGGER\b/i.test(current)) triggerDepth++;
          else if (word === 'CASE' && triggerDepth > 0) triggerDepth++;
          else if (word === 'END' && triggerDepth > 0) triggerDepth--;
        }
      }
      if (ch === ';' && triggerDepth === 0) {
        const end = p.start + k;
        emit(end);
        start = end + 1;
        current = '';
      }
    }
  }
  emit(sql.length);
  return out;
}

/** Splits `text` at top-level occurrences of `sep` (not inside parentheses, strings or identifiers). */
export function splitTopLevel(text: string, sep = ','): string[] {
  const out: string[] = [];
  let depth = 0;
  let buf = '';
  for (const p of lex(text)) {
    if (p.kind !== 'code') {
      buf += p.text;
      continue;
    }
    for (const ch of p.text) {
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      if (ch === sep && depth === 0) {
        out.push(buf.trim());
        buf = '';
      } else buf += ch;
    }
  }
  if (buf.trim()) out.push(buf.trim());
  return out;
}

/** Position of the first top-level (not in parentheses, strings or identifiers) keyword `kw` in `text`, or -1. */
export function topLevelKeyword(text: string, kw: string): number {
  let depth = 0;
  const re = new RegExp(`^${kw}\\b`, 'i');
  for (const p of lex(text)) {
    if (p.kind !== 'code') continue;
    for (let k = 0; k < p.text.length; k++) {
      const ch = p.text[k];
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if (depth === 0 && (k > 0 ? !/[\w$]/.test(p.text[k - 1]) : p.start === 0 || !/[\w$"]/.test(text[p.start - 1])) && re.test(p.text.slice(k))) return p.start + k;
    }
  }
  return -1;
}

/** Regex source of one identifier: "quoted", `quoted`, [quoted] or bare. */
export const IDENT = String.raw`(?:"(?:[^"]|"")+"|\x60(?:[^\x60]|\x60\x60)+\x60|\[[^\]]+\]|[A-Za-z_][\w$]*)`;
/** Regex source of a possibly schema-qualified name. */
export const QNAME = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;

/** The bare name of an identifier as written ("a""b" -> a"b; bare names are folded to lower case only when `fold`). */
export function unquote(ident: string, fold = false): string {
  const s = ident.trim();
  if (s.startsWith('"') && s.endsWith('"')) return s.slice(1, -1).replaceAll('""', '"');
  if (s.startsWith('`') && s.endsWith('`')) return s.slice(1, -1).replaceAll('``', '`');
  if (s.startsWith('[') && s.endsWith(']')) return s.slice(1, -1);
  return fold ? s.toLowerCase() : s;
}

/** The object name of a possibly qualified name (`"public"."users"` -> users). */
export function objectName(qname: string, fold = false): string {
  const parts = splitQualified(qname);
  return unquote(parts[parts.length - 1], fold);
}

/** The schema (when written) and object name of a possibly qualified name (`"b"."User"` -> b, User). */
export function qualifiedName(qname: string): { schema?: string; name: string } {
  const parts = splitQualified(qname);
  const name = unquote(parts[parts.length - 1]);
  return parts.length > 1 ? { schema: unquote(parts[parts.length - 2]), name } : { name };
}

function splitQualified(qname: string): string[] {
  const re = new RegExp(IDENT, 'g');
  return qname.match(re) ?? [qname];
}

/** A parenthesised identifier list `("a", "b")` -> [a, b]; expressions are kept as written. */
export function identList(inner: string): string[] {
  return splitTopLevel(inner).map((part) => {
    const m = new RegExp(`^(${IDENT})(?:\\s+(?:ASC|DESC))?(?:\\s+NULLS\\s+(?:FIRST|LAST))?$`, 'i').exec(part.trim());
    return m ? unquote(m[1]) : part.trim();
  });
}

/** Position of the parenthesis closing the one at `open` (or -1); strings and identifiers are skipped. */
export function closingParen(text: string, open: number): number {
  let depth = 0;
  for (const p of lex(text)) {
    if (p.kind !== 'code') continue;
    for (let k = 0; k < p.text.length; k++) {
      const at = p.start + k;
      if (at < open) continue;
      if (p.text[k] === '(') depth++;
      else if (p.text[k] === ')' && --depth === 0) return at;
    }
  }
  return -1;
}

/** A warning line of Prisma's generated `/* Warnings: ... *\/` header. */
export interface PrismaWarning {
  text: string;
  kind: 'drop-table' | 'drop-column' | 'drop-recreate' | 'drop-recreate-required' | 'required-column' | 'unique' | 'enum-values' | 'set-not-null' | 'type-change' | 'scalar-to-list' | 'primary-key' | 'other';
  table?: string;
  column?: string;
  columns?: string[];
  enumName?: string;
  values?: string[];
  /** The cast's target type as Prisma names it (`You are about to alter the column ... cast from A to B`). */
  toType?: string;
}

/** Reads the bullet list of Prisma's `Warnings:` comment at the top of a generated migration. */
export function prismaWarnings(sql: string): PrismaWarning[] {
  const out: PrismaWarning[] = [];
  for (const p of lex(sql)) {
    if (p.kind !== 'comment' || !/^\/\*\s*Warnings:/.test(p.text)) continue;
    const body = p.text.replace(/^\/\*\s*Warnings:/, '').replace(/\*\/$/, '');
    const bullets = body.split(/\n\s*-\s+/).map((b) => b.replace(/\s+/g, ' ').trim()).filter(Boolean);
    for (const text of bullets) out.push(classifyWarning(text));
  }
  return out;
}

/**
 * Every warning wording of Prisma's schema engine (6.x/7.x, `migrate dev` / `migrate diff`), from
 * its source: destructive-change checker messages (NonEmptyTableDrop, NonEmptyColumnDrop,
 * DropAndRecreateColumn, DropAndRecreateRequiredColumn, AddedRequiredFieldToTable(WithPrismaLevelDefault),
 * MadeOptionalFieldRequired, MadeScalarFieldIntoArrayField, RiskyCast, NotCastable,
 * PrimaryKeyChange, UniqueConstraintAddition, EnumValueRemoval).
 */
function classifyWarning(text: string): PrismaWarning {
  let m: RegExpExecArray | null;
  if ((m = /drop the column `([^`]+)` on the `([^`]+)` table/i.exec(text))) return { text, kind: 'drop-column', column: m[1], table: m[2] };
  if ((m = /drop the `([^`]+)` table/i.exec(text))) return { text, kind: 'drop-table', table: m[1] };
  if ((m = /Changed the type of `([^`]+)` on the `([^`]+)` table\. No cast exists, the column would be dropped and recreated, which cannot be done/i.exec(text))) return { text, kind: 'drop-recreate-required', column: m[1], table: m[2] };
  if ((m = /The `([^`]+)` column on the `([^`]+)` table would be dropped and recreated/i.exec(text))) return { text, kind: 'drop-recreate', column: m[1], table: m[2] };
  if ((m = /Added the required column `([^`]+)` to the `([^`]+)` table without a default/i.exec(text))) return { text, kind: 'required-column', column: m[1], table: m[2] };
  if ((m = /The required column `([^`]+)` was added to the `([^`]+)` table with a prisma-level default/i.exec(text))) return { text, kind: 'required-column', column: m[1], table: m[2] };
  if ((m = /unique constraint covering the columns `\[([^\]]*)\]` on the table `([^`]+)`/i.exec(text))) {
    return { text, kind: 'unique', table: m[2], columns: m[1].split(',').map((c) => c.trim()).filter(Boolean) };
  }
  if ((m = /The values? \[([^\]]*)\] on the enum `([^`]+)` will be removed/i.exec(text))) {
    return { text, kind: 'enum-values', enumName: m[2], values: m[1].split(',').map((v) => v.trim()).filter(Boolean) };
  }
  if ((m = /Made the column `([^`]+)` on table `([^`]+)` required/i.exec(text))) return { text, kind: 'set-not-null', column: m[1], table: m[2] };
  if ((m = /Changed the column `([^`]+)` on the `([^`]+)` table from a scalar field to a list field/i.exec(text))) return { text, kind: 'scalar-to-list', column: m[1], table: m[2] };
  if ((m = /You are about to alter the column `([^`]+)` on the `([^`]+)` table/i.exec(text))) {
    const cast = /will be cast from `([^`]+)` to `([^`]+)`/i.exec(text);
    return { text, kind: 'type-change', column: m[1], table: m[2], ...(cast ? { toType: cast[2] } : {}) };
  }
  if ((m = /(?:Changed|changing) the type of `([^`]+)` on the `([^`]+)` table/i.exec(text))) return { text, kind: 'type-change', column: m[1], table: m[2] };
  if ((m = /The primary key for the `([^`]+)` table will be changed/i.exec(text))) return { text, kind: 'primary-key', table: m[1] };
  return { text, kind: 'other' };
}
