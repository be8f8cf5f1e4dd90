import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { GuardError, isGuardError } from '../../core/errors.ts';
import type { DbSchema, Queryable } from '../../core/types.ts';
import { tokenize, LexError } from '../ddl-check.ts';
import { readCatalog, unreproducible } from './postgres-catalog.ts';
import { POSTGRES_LEXICAL_RULES } from './postgres-ddl-check.ts';
import type { Namespaces } from './postgres-names.ts';
import { quoteIdent } from './postgres-sql.ts';

/**
 * Full-mode DDL written by pg_dump: `pg_dump --schema-only --section=pre-data` and
 * `--section=post-data` for the backed-up schema, run in the backup's own snapshot
 * (`--snapshot`, exported by the backup transaction), so DDL and rows are one consistent picture.
 * pg_dump reproduces every per-schema object class (domains, composite and range types,
 * collations, functions, procedures, aggregates, partitioning, inheritance, storage options,
 * policies and row-level security, comments, owners and grants, rules...), in dependency order.
 *
 * What this adds to pg_dump's output: CREATE EXTENSION IF NOT EXISTS for every extension the
 * schema lives in or uses (a per-schema pg_dump leaves them out), and REFRESH MATERIALIZED VIEW for
 * every materialized view that held data (data, not schema, to pg_dump). What it takes out: the
 * script's session settings (SET, set_config, psql's \restrict), which the restore sets itself.
 *
 * The pg_dump used: BACKUP_PG_DUMP (a path, or `off`), else the newest one found on PATH or under
 * /usr/lib/postgresql/<major>/bin, and only when its major version is at least the server's (pg_dump
 * refuses newer servers). Without one, the built-in introspector writes the DDL and the header lists
 * what it cannot reproduce.
 */

const run = promisify(execFile);

export interface PgDumpTool {
  path: string;
  /** `15.20`. */
  version: string;
  major: number;
}

/** Why no pg_dump is used (for the backup's warning), or the tool. */
export async function findPgDump(setting: string | undefined, serverMajor: number): Promise<PgDumpTool | { unavailable: string }> {
  if (setting?.trim().toLowerCase() === 'off') return { unavailable: 'BACKUP_PG_DUMP=off' };
  const candidates: string[] = [];
  if (setting?.trim()) candidates.push(setting.trim());
  else {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'pg_dump'));
    try {
      for (const v of fs.readdirSync('/usr/lib/postgresql')) candidates.push(`/usr/lib/postgresql/${v}/bin/pg_dump`);
    } catch {
      /* not a Debian-style layout */
    }
  }
  let best: PgDumpTool | null = null;
  const seen: string[] = [];
  for (const candidate of candidates) {
    const tool = await versionOf(candidate);
    if (!tool) continue;
    seen.push(`${candidate} ${tool.version}`);
    if (tool.major >= serverMajor && (!best || tool.major > best.major)) best = tool;
  }
  if (best) return best;
  if (setting?.trim()) {
    return { unavailable: seen.length ? `BACKUP_PG_DUMP (${seen[0]}) is older than the server (PostgreSQL ${serverMajor})` : `BACKUP_PG_DUMP="${setting.trim()}" does not run` };
  }
  return { unavailable: seen.length ? `the pg_dump found (${seen.join(', ')}) is older than the server (PostgreSQL ${serverMajor})` : 'no pg_dump on PATH' };
}

const versionCache = new Map<string, PgDumpTool | null>();

async function versionOf(file: string): Promise<PgDumpTool | null> {
  if (versionCache.has(file)) return versionCache.get(file)!;
  let tool: PgDumpTool | null = null;
  try {
    if (fs.statSync(file).isFile()) {
      const { stdout } = await run(file, ['--version'], { timeout: 10_000 });
      const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
      if (m) tool = { path: file, version: m[2] ? `${m[1]}.${m[2]}` : m[1], major: Number(m[1]) };
    }
  } catch {
    tool = null;
  }
  versionCache.set(file, tool);
  return tool;
}

/** How pg_dump reaches the database: a URI without the password, and the environment that carries it. */
export interface LibpqConnection {
  uri: string;
  env: NodeJS.ProcessEnv;
  /** BACKUP_IO_TIMEOUT in ms (0: none): pg_dump is stopped when it stays silent this long. */
  ioTimeoutMs: number;
  /** Where it points, for messages (no credentials). */
  endpoint: string;
}

export interface DumpedSchema {
  pre: string[];
  post: string[];
  version: string;
}

/**
 * Runs pg_dump twice (pre-data, post-data) in `snapshot` and returns the statements, adjusted as
 * the file comment says. Throws an Error with pg_dump's message (password scrubbed) on failure.
 */
export async function dumpSchema(q: Queryable, tool: PgDumpTool, connection: LibpqConnection, namespaces: readonly string[], snapshot: string): Promise<DumpedSchema> {
  // One pg_dump for all the schemas: it orders their objects by dependency across schemas.
  const [pre, post] = await Promise.all([
    pgDumpSection(tool, connection, namespaces, snapshot, 'pre-data'),
    pgDumpSection(tool, connection, namespaces, snapshot, 'post-data'),
  ]);
  const preStatements = splitScript(pre);
  const postStatements = splitScript(post);

  // Extensions: the ones installed in the schema, and the ones whose objects the schema's objects use.
  const extensions = await q.query<{ name: string; schema: string }>(
    `SELECT x.extname AS name, n.nspname AS schema
       FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
      WHERE x.extname <> 'plpgsql'
        AND (n.nspname = ANY($1::text[])
             OR EXISTS (SELECT 1 FROM pg_depend d
                          JOIN pg_depend m ON m.classid = d.refclassid AND m.objid = d.refobjid AND m.deptype = 'e' AND m.refobjid = x.oid
                         WHERE d.deptype IN ('n', 'a') AND d.classid IN ('pg_class'::regclass, 'pg_type'::regclass, 'pg_proc'::regclass, 'pg_constraint'::regclass, 'pg_attrdef'::regclass)
                           AND (pg_identify_object(d.classid, d.objid, 0)).schema = ANY($1::text[])))
      ORDER BY x.extname`,
    [namespaces],
  );
  // Extensions go after the last CREATE SCHEMA (an extension may live in any of the schemas).
  let at = -1;
  for (const namespace of namespaces) {
    const createSchema = new RegExp(`^CREATE SCHEMA ${escapeRegExp(quoteIdentLikePgDump(namespace))}\\s*$`);
    const found = preStatements.findIndex((s) => createSchema.test(s));
    if (found < 0) {
      preStatements.splice(at + 1, 0, `CREATE SCHEMA ${quoteIdent(namespace)}`);
      at++;
    } else at = Math.max(at, found);
  }
  // After the schema and its owner: the extension may live in it.
  while (at + 1 < preStatements.length && /^ALTER SCHEMA /.test(preStatements[at + 1])) at++;
  preStatements.splice(
    at + 1,
    0,
    ...extensions.map((x) => `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(x.name)} WITH SCHEMA ${quoteIdent(x.schema)}`),
  );

  // Materialized views that held data get it back once the rows are in (before indexes, triggers, policies).
  const populated = new Set(
    (
      await q.query<{ name: string }>(
        `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'm' AND c.relispopulated`,
        [namespaces],
      )
    ).map((r) => r.name),
  );
  const refresh: string[] = [];
  for (const s of preStatements) {
    const m = /^CREATE MATERIALIZED VIEW (\S+) AS/.exec(s);
    if (m && populated.has(m[1])) refresh.push(`REFRESH MATERIALIZED VIEW ${m[1]}`);
  }
  return { pre: preStatements, post: [...refresh, ...postStatements], version: tool.version };
}

/** pg_dump prints identifiers the way quote_ident does. */
function quoteIdentLikePgDump(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quoteIdent(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function pgDumpSection(tool: PgDumpTool, { uri, env, ioTimeoutMs, endpoint }: LibpqConnection, namespaces: readonly string[], snapshot: string, section: 'pre-data' | 'post-data'): Promise<string> {
  const args = ['--schema-only', `--section=${section}`, ...namespaces.map((n) => `--schema=${quoteLiteralPattern(n)}`), `--snapshot=${snapshot}`, '--no-password', '--dbname', uri];
  return new Promise((resolve, reject) => {
    const child = spawn(tool.path, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    // A pg_dump whose connection went silent would wait for ever: it gets the I/O timeout the
    // backup's own connections have, measured on its output.
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (!ioTimeoutMs) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        child.kill('SIGKILL');
      }, ioTimeoutMs);
    };
    arm();
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      arm();
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      arm();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (stalled) {
        reject(
          new GuardError('DATABASE_UNREACHABLE', `PostgreSQL at ${endpoint} stopped answering: nothing moved on the connection for ${ioTimeoutMs / 1000} s while pg_dump read the schema's DDL. pg_dump and the backup were stopped; nothing was written.`, {
            hint: `Check the network between this machine and the server and that the server is not frozen (pg_isready -h HOST -p PORT), then retry. If the server is only slow, raise BACKUP_IO_TIMEOUT (now ${ioTimeoutMs / 1000} s).`,
            details: { endpoint, stalled: true },
          }),
        );
        return;
      }
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else {
        const message = Buffer.concat(err).toString('utf8').trim().split('\n').slice(0, 3).join(' ');
        const password = env.PGPASSWORD;
        reject(new Error(`pg_dump ${tool.version} failed (${signal ?? `exit ${code}`}): ${password && password.length >= 3 ? message.split(password).join('***') : message}`));
      }
    });
  });
}

/** pg_dump's --schema takes a pattern: quote the name so `*`, `?` and `.` in it are literal. */
function quoteLiteralPattern(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/** Session settings pg_dump writes at the top of its script; the restore sets its own. */
const SESSION_SETTING = /^(SET\s+[a-z_]+\s*(=|TO)|SELECT pg_catalog\.set_config\('search_path', '', false\)$)/i;
/** psql meta-commands pg_dump writes (pg_dump >= 17.6 / 16.10 / 15.14 guard scripts with \restrict). */
const META_COMMAND = /^\\(un)?restrict [A-Za-z0-9]+$/;

/**
 * The statements of a plain pg_dump script, without their `;`, comments and session settings.
 * Splits with the same tokenizer the backup SQL check uses, so a `;` inside a string, a
 * dollar-quoted function body or a quoted identifier never splits a statement.
 */
export function splitScript(script: string): string[] {
  const lines = script.split('\n').filter((line) => !META_COMMAND.test(line.trim()));
  const text = lines.join('\n');
  let tokens;
  try {
    tokens = tokenize(text, POSTGRES_LEXICAL_RULES);
  } catch (e) {
    if (e instanceof LexError) throw new Error(`pg_dump's output could not be read: ${e.message}`);
    throw e;
  }
  const out: string[] = [];
  let start = -1;
  for (const t of tokens) {
    if (t.kind === 'punct' && t.raw === ';') {
      if (start >= 0) {
        const statement = text.slice(start, t.at).trim();
        if (!SESSION_SETTING.test(statement)) out.push(statement);
      }
      start = -1;
    } else if (start < 0) start = t.at;
  }
  if (start >= 0) throw new Error("pg_dump's output ends inside a statement");
  return out;
}

/** What a stored statement does to ownership and privileges (pg_restore's --no-owner / --no-privileges skip these). */
export function statementRole(statement: string): 'owner' | 'privilege' | 'other' {
  if (/^(GRANT|REVOKE)\s/i.test(statement)) return 'privilege';
  if (/^ALTER\s/i.test(statement) && /\sOWNER TO\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)$/i.test(statement)) return 'owner';
  return 'other';
}


/**
 * The schema as a backup stores it for a full restore: the introspector's tables (for the rows),
 * DDL from pg_dump when a compatible one runs (else the introspector's, with a note saying why),
 * the object catalog (the proof), and what the DDL cannot bring back. Runs inside the backup's
 * snapshot transaction.
 */
export async function withFullSchema(q: Queryable, schema: DbSchema, namespaces: Namespaces, pgDumpSetting: string | undefined, connection: LibpqConnection): Promise<DbSchema> {
  const catalog = await readCatalog(q, [...namespaces.list]);
  const [{ v }] = await q.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  const tool = await findPgDump(pgDumpSetting, Math.floor(Number(v) / 10000));
  let out: DbSchema = { ...schema, ddlSource: 'introspector' };
  if ('path' in tool) {
    const [{ id }] = await q.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    try {
      const dumped = await dumpSchema(q, tool, connection, namespaces.list, id);
      out = { ...schema, ddl: dumped.pre, postDdl: dumped.post, ddlSource: 'pg_dump', pgDumpVersion: dumped.version };
    } catch (e) {
      if (isGuardError(e)) throw e; // the server stopped answering: the backup stops too
      out.ddlNote = (e as Error).message;
    }
  } else out.ddlNote = tool.unavailable;
  return { ...out, catalog, unreproducible: unreproducible(catalog, out.ddlSource!) };
}
