import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { redactingLineWriter } from '../../bin/cli.ts';
import { jsonLinesReporter } from '../../lib/core/logger.ts';
import { describeUnparsedUrl, parseDatabaseUrl, redactSecrets, toRedactedJson } from '../../lib/core/url.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { PG_ADMIN_URL } from '../helpers/db.ts';
import { testScheduleEnv } from '../scheduler/test-schedule-env.ts';
import { cli, startCli, withPg, type ChildResult } from './helpers.ts';

/**
 * Promise: the password of DATABASE_URL never appears in anything prisma-guard writes or prints,
 * whatever its shape and whether or not it is URL-encoded: human and --json output of every
 * command, error messages and hints, the scheduler's JSON log lines, library errors (everything
 * util.inspect shows, causes included), manifests, scheduler state, migrate-safe reports and every
 * decompressed byte of every backup.
 *
 * Each password shape is a real PostgreSQL role (CREATE ROLE ... PASSWORD): the server trusts
 * 127.0.0.1, so any password connects, and what is checked is only where it could leak. Passwords
 * are built around random marks (`Q` + 8 hex digits), so a leaked fragment (the tail after an `@`,
 * the part after a `/`) is caught, not only the whole password; common words (`postgres`, `backup`)
 * that appear everywhere legitimately are searched in the places a password would sit.
 *
 * Cost control (2 shared cores; about 90 CLI processes, at most 4 at a time): three representative
 * URLs (raw that parses, encoded, raw that does not parse) go through every command, human and
 * --json; every shape goes through one CLI backup --json in raw form (output, header, manifest;
 * or the parse error), encoded through an in-process backup, three as ?password= through the CLI;
 * library errors for every URL (raw, encoded, ?password=) run in-process.
 */

const admin = new URL(PG_ADMIN_URL);
const HOST = admin.hostname;
const PORT = admin.port || '5432';
const tag = randomBytes(3).toString('hex');
const dbName = `pg_guard_t_secret_${tag}`;
const mark = () => `Q${randomBytes(4).toString('hex')}`;

interface Shape {
  name: string;
  password: string;
  /** Substrings unique to this password: any of them in output is a leak. */
  marks: string[];
  /** A word that appears legitimately (dialect, reason): searched only where a password would sit. */
  common?: boolean;
}

function shape(name: string, build: (a: string, b: string) => string): Shape {
  const a = mark();
  const b = mark();
  return { name, password: build(a, b), marks: [a, b] };
}

const SHAPES: Shape[] = [
  shape('slash', (a, b) => `${a}/${b}`),
  shape('at', (a, b) => `${a}@${b}`),
  shape('colon', (a, b) => `${a}:${b}`),
  shape('space', (a, b) => `${a} ${b}`),
  shape('percent, not an escape', (a, b) => `${a}%zz${b}`),
  shape('percent, a valid escape', (a, b) => `${a}%41${b}`),
  shape('percent-encoded text', (a, b) => `${a}%2F%40${b}`),
  shape('hash', (a, b) => `${a}#${b}`),
  shape('question mark', (a, b) => `${a}?${b}`),
  shape('ampersand', (a, b) => `${a}&${b}`),
  shape('equals', (a, b) => `${a}=${b}`),
  shape('plus', (a, b) => `${a}+${b}`),
  shape('unicode', (a, b) => `${a}ü€😀${b}`),
  shape('slash, at, colon', (a, b) => `${a}/@:${b}`),
  shape('space, at, space', (a, b) => `${a} @ ${b}`),
  shape('two at signs (the ***@x@... leak)', (a, b) => `${a}@x@${b}`),
  shape('looks like a host part', (a, b) => `${a}@127.0.0.1:5432/${b}`),
  shape('digits then slash (parses as a port)', (a, b) => `5432/${a}@${b}`),
  shape('looks like a query', (a, b) => `${a}?x=1&password=${b}`),
  shape('quotes and backslash', (a, b) => `${a}'"\\${b}`),
  shape('libpq key=value inside', (a, b) => `${a} host=x password=${b}`),
  shape('every special character', (a, b) => `${a}/ @:%#?&=+ü${b}`),
  { name: 'common word postgres', password: 'postgres', marks: [], common: true },
  { name: 'common word backup', password: 'backup', marks: [], common: true },
  { name: 'empty', password: '', marks: [] },
];

/** The representative URLs that go through every command. */
const R_PARSEABLE_RAW = shape('representative: raw, parses (space @ : & = + % unicode)', (a, b) => `${a} @:&=+%zzü${b}`);
const R_ENCODED = shape('representative: every special character, encoded', (a, b) => `${a}/ @:%#?&=+ü${b}`);
const R_UNPARSEABLE = shape('representative: raw, does not parse (/ # ?)', (a, b) => `${a}/ @:#?${b}`);
const ALL_SHAPES = [...SHAPES, R_PARSEABLE_RAW, R_ENCODED, R_UNPARSEABLE];

const roleOf = new Map<Shape, string>(ALL_SHAPES.map((s, i) => [s, `guard_pw_${tag}_${i}`]));
const MAIN = R_PARSEABLE_RAW; // owns the database; the other roles are its members

function whatwgEncoded(password: string): string {
  const u = new URL('postgresql://h');
  u.password = password;
  return u.password;
}

/** Every form in which a shape's password would be a leak. */
function leakForms(s: Shape): string[] {
  const role = roleOf.get(s)!;
  if (!s.password) return [];
  if (s.common) return [`:${s.password}@`, `${role}:${s.password}`, `password=${s.password}`, `PASSWORD=${s.password}`];
  return [...new Set([s.password, encodeURIComponent(s.password), encodeURI(s.password), whatwgEncoded(s.password), ...s.marks])];
}

type Form = 'raw' | 'encoded' | 'query';
function urlOf(s: Shape, form: Form, database = dbName): string {
  const role = roleOf.get(s)!;
  const base = `${HOST}:${PORT}/${database}?schema=public`;
  if (form === 'query') return `postgresql://${role}@${base}&password=${encodeURIComponent(s.password)}`;
  return `postgresql://${role}:${form === 'raw' ? s.password : encodeURIComponent(s.password)}@${base}`;
}

/** A raw password with `/`, `?` or `#` cannot be told from the host part: refused (exit 4). */
const refusedRaw = (s: Shape) => /[/?#]/.test(s.password);

const root = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-secrets-'));
const outputs: { what: string; text: string }[] = [];
let dirCount = 0;
const newDir = () => mkdtempSync(path.join(root, `d${dirCount++}-`));

async function run(args: string[], url: string, dir: string, env: Record<string, string> = {}): Promise<ChildResult> {
  const r = await cli(args, { DATABASE_URL: url, BACKUP_DIR: dir, BACKUP_MIN_FREE_MB: '0', ...env });
  outputs.push({ what: `${args.join(' ')} (${redactSecrets(url).slice(0, 40)})`, text: `${r.stdout}\n${r.stderr}` });
  return r;
}

/** Runs `tasks` at most `width` at a time (the CLI runs are separate processes). */
async function pool<T>(tasks: (() => Promise<T>)[], width = 3): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}

function leaksIn(text: string): string[] {
  const found: string[] = [];
  for (const s of ALL_SHAPES) for (const f of leakForms(s)) if (text.includes(f)) found.push(`${s.name}: ${JSON.stringify(f)}`);
  return found;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? allFiles(p) : [p];
  });
}

beforeAll(async () => {
  await withPg(PG_ADMIN_URL, async (c) => {
    const mainRole = roleOf.get(MAIN)!;
    const lit = (p: string) => `'${p.replaceAll("'", "''")}'`;
    await c.query(`CREATE ROLE "${mainRole}" LOGIN PASSWORD ${lit(MAIN.password)}`);
    for (const s of ALL_SHAPES) {
      if (s !== MAIN) await c.query(`CREATE ROLE "${roleOf.get(s)}" LOGIN PASSWORD ${lit(s.password)} IN ROLE "${mainRole}"`);
    }
    await c.query(`CREATE DATABASE "${dbName}" OWNER "${mainRole}"`);
  });
  await generate(urlOf(MAIN, 'encoded'), 0.002);
}, 60_000);

afterAll(async () => {
  await withPg(PG_ADMIN_URL, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    for (const s of [...ALL_SHAPES].reverse()) await c.query(`DROP ROLE IF EXISTS "${roleOf.get(s)}"`);
  });
  rmSync(root, { recursive: true, force: true });
});

describe('redactSecrets and describeUnparsedUrl', () => {
  it('redact user-info up to the last @, parsed or not, and password=/PGPASSWORD= values', () => {
    const cases: [string, string][] = [
      ['postgresql://u:pa/ss@h:5432/db', 'postgresql://u:***@h:5432/db'],
      ['postgresql://u:p@x@y@h/db', 'postgresql://u:***@h/db'],
      ['connect to postgresql://u:pa ss@h/db failed', 'connect to postgresql://u:***@h/db failed'],
      ['postgresql://weird/user:p@h/db', 'postgresql://***@h/db'],
      ['postgresql://postgres@127.0.0.1:5432/db', 'postgresql://postgres@127.0.0.1:5432/db'],
      // Two URLs on a line are redacted as one (safe, if terse): only the first user name is left.
      ['a: https://x:y@a.example and b: postgresql://u:z@b/db', 'a: https://x:***@b/db'],
      // libpq: an unquoted value ends at a space (a password with one must be quoted).
      ['host=db password=s3 cret dbname=x', 'host=db password=*** cret dbname=x'],
      ["host=db password='s3 cret' dbname=x", 'host=db password=*** dbname=x'],
      ['PGPASSWORD=abc psql', 'PGPASSWORD=*** psql'],
      ['export DB_PASSWORD="a b"', 'export DB_PASSWORD=***'],
      ['postgresql://h/db?sslmode=disable&password=abc&x=1', 'postgresql://h/db?sslmode=disable&password=***&x=1'],
      ['prisma+postgres://accelerate.example/?api_key=eyJabc', 'prisma+postgres://accelerate.example/?api_key=***'],
      ['{"user":"u","password":"a\\"b"}', '{"user":"u","password":"***"}'],
      ['Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE', 'Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE'],
      ['nothing secret here: user@example.com', 'nothing secret here: user@example.com'],
    ];
    for (const [input, expected] of cases) {
      expect(redactSecrets(input), input).toBe(expected);
      expect(redactSecrets(expected), `idempotent: ${expected}`).toBe(expected);
    }
    expect(toRedactedJson({ a: 'postgresql://u:p/w@h/db', n: 1n })).toBe('{"a":"postgresql://u:***@h/db","n":"1"}');
  });

  it('streamed output (the prisma CLI under migrate-safe) is redacted whole lines at a time', () => {
    const out: string[] = [];
    const w = redactingLineWriter((t) => out.push(t));
    w.write('Datasource at postgresql://u:pa');
    expect(out).toEqual([]);
    w.write('ss/x@h/db\nlast line PGPASS');
    w.write('WORD=abc');
    w.flush();
    expect(out.join('')).toBe('Datasource at postgresql://u:***@h/db\nlast line PGPASSWORD=***');
  });

  it('never echo an unparseable URL without an @: scheme and host at most', () => {
    expect(describeUnparsedUrl('postgresql://u:pa/ss')).toBe('postgresql://u');
    expect(describeUnparsedUrl('postgresql://[bad')).toBe('<unparseable URL>');
    expect(describeUnparsedUrl('s3cr3t-not-a-url')).toBe('<unparseable URL>');
    expect(describeUnparsedUrl('mongodb://h:1/x?password=abc')).toBe('mongodb://h');
    expect(describeUnparsedUrl('postgresql://u:a/b@h/db?x=1&password=c&y=2')).toBe('postgresql://u:***@h/db?x=1&password=***&y=2');
  });
});

describe('password shapes in DATABASE_URL', () => {
  it(`${SHAPES.length} shapes, raw, encoded and as ?password=: parse errors, display, library errors, backups and JSON logs`, async () => {
    expect(SHAPES.length).toBeGreaterThanOrEqual(20);
    const lines: string[] = [];
    const reporter = jsonLinesReporter((l) => lines.push(l));
    for (const s of ALL_SHAPES) {
      for (const form of ['raw', 'encoded', 'query'] as const) {
        const url = urlOf(s, form, `${dbName}_missing`);
        let target;
        try {
          target = parseDatabaseUrl(url);
        } catch (e) {
          expect(form === 'raw' && refusedRaw(s), `${s.name} ${form}: ${String(e)}`).toBe(true);
          expect(leaksIn(inspect(e, { depth: 10 })), `${s.name} ${form} parse error`).toEqual([]);
          continue;
        }
        expect(form === 'raw' && refusedRaw(s), `${s.name} ${form} should be refused`).toBe(false);
        expect(leaksIn(JSON.stringify(target.display) + target.database), `${s.name} ${form} display`).toEqual([]);
        if (s.password && form !== 'query') expect(target.display, s.name).toContain(':***@');
        // A missing database: the connection error names the URL's parts.
        const ctx = resolveContext({ url, backupDir: newDir(), env: {}, reporter });
        const err = await backup(ctx).catch((e: unknown) => e);
        expect(err, s.name).toBeInstanceOf(Error);
        expect(leaksIn(inspect(err, { depth: 10 }) + JSON.stringify((err as { toJSON?: () => unknown }).toJSON?.())), `${s.name} ${form} library error`).toEqual([]);
        // Encoded forms (raw ones go through the CLI below): a real backup, its files scanned at the end.
        if (form === 'encoded') {
          const written = await backup(resolveContext({ url: urlOf(s, form), backupDir: newDir(), env: {}, reporter }));
          expect(leaksIn(JSON.stringify(written)), `${s.name} backup result`).toEqual([]);
        }
      }
    }
    const ok = resolveContext({ url: urlOf(R_PARSEABLE_RAW, 'raw'), backupDir: newDir(), env: {}, reporter });
    await backup(ok, { reason: 'logged' });
    const bad = resolveContext({ url: urlOf(R_PARSEABLE_RAW, 'raw'), backupDir: newDir(), env: {}, reporter });
    expect(await restore(bad, { backup: 'latest', yes: true }).catch((e: unknown) => inspect(e, { depth: 10 }))).toMatch(/BACKUP_NOT_FOUND|no backup/i);
    expect(lines.length).toBeGreaterThan(0);
    expect(leaksIn(lines.join('\n')), 'JSON-lines log').toEqual([]);
  }, 120_000);

  it('every shape, raw (and a few as ?password=), through the CLI: backup --json (output, header, manifest)', async () => {
    const tasks: (() => Promise<void>)[] = [];
    for (const s of SHAPES) {
      tasks.push(async () => {
        const r = await run(['backup', '--json'], urlOf(s, 'raw'), newDir());
        expect(r.code, `${s.name}: ${r.stdout}${r.stderr}`).toBe(refusedRaw(s) ? 4 : 0);
        if (refusedRaw(s)) {
          expect(JSON.parse(r.stdout).error.code).toBe('DATABASE_URL_INVALID');
          expect(JSON.parse(r.stdout).error.message).toMatch(/^The PostgreSQL URL (.* cannot be parsed|is ambiguous)/);
        } else if (s.password) {
          expect(JSON.parse(r.stdout).manifest.database).toContain(`${roleOf.get(s)}:***@${HOST}:${PORT}/${dbName}`);
        }
      });
    }
    for (const s of [SHAPES[3], SHAPES[9], SHAPES.at(-4)!]) {
      tasks.push(async () => {
        const r = await run(['backup', '--json'], urlOf(s, 'query'), newDir());
        expect(r.code, `${s.name} ?password=: ${r.stdout}${r.stderr}`).toBe(0);
        expect(JSON.parse(r.stdout).manifest.database).toMatch(/[?&]password=\*\*\*(&|$)/);
      });
    }
    await pool(tasks);
    for (const o of outputs) expect(leaksIn(o.text), `output of ${o.what}`).toEqual([]);
  }, 300_000);

  it('three representative URLs through every command, human and --json, and the scheduler', async () => {
    // In order: each needs the backup the first one takes.
    const afterBackup: string[][] = [
      ['backup', '--reason', 'secret'],
      ['list'],
      ['verify', 'latest'],
      ['restore', 'latest', '--dry-run'],
      ['restore', 'latest', '--yes'],
      ['diff', 'latest', '--live'],
      ['status'],
      ['prune'],
      ['emergency-restore', '--dry-run'],
    ];
    // Need no backup: a lane of their own, so the slow migrate-safe (the prisma CLI) runs alongside.
    const standalone: string[][] = [['check'], ['migrate-safe', '--dry-run'], ['backup', '--tables', 'NoSuchTable']];
    const both = (list: string[][]) => list.flatMap((c) => [c, [...c, '--json']]);
    // The encoded URL takes the same code paths as the raw one that parses: a shorter list.
    const short = [['backup'], ['backup', '--json'], ['diff', 'latest', '--live'], ['diff', 'latest', '--live', '--json'], ['check', '--json'], ['restore', 'latest', '--dry-run', '--json'], ['backup', '--tables', 'NoSuchTable']];
    const lanes: [Shape, Form, string[][]][] = [
      [R_UNPARSEABLE, 'raw', both([...afterBackup, ...standalone])],
      [R_PARSEABLE_RAW, 'raw', both(afterBackup)],
      [R_PARSEABLE_RAW, 'raw', both(standalone)],
      [R_ENCODED, 'encoded', short],
    ];
    // Failures that name the database in other ways.
    const failing: [string[], string][] = [
      [['backup'], urlOf(MAIN, 'raw', `${dbName}_missing`)],
      [['backup', '--json'], urlOf(MAIN, 'raw').replace(`:${PORT}/`, ':1/')],
      [['backup'], urlOf(MAIN, 'raw').replace(`@${HOST}`, `@[${HOST}`)],
      [['restore', 'backup-1999-01-01T00-00-00-000Z-none.jsonl.gz', '--yes'], urlOf(MAIN, 'raw')],
    ];
    const [codes, failures] = await Promise.all([
      pool(
        lanes.map(([s, form, list]) => async () => {
          const url = urlOf(s, form);
          const dir = newDir();
          const got: Record<string, number | null> = {};
          for (const args of list) got[args.join(' ')] = (await run(args, url, dir)).code;
          return got;
        }),
      ),
      (async () => {
        const dir = newDir();
        const out: ChildResult[] = [];
        for (const [args, url] of failing) out.push(await run(args, url, dir));
        return out;
      })(),
    ]);
    // The runs did what they say (a leak check on runs that all failed early would prove little).
    const [unparseable, raw, rawStandalone, encoded] = codes;
    expect(raw['backup --reason secret'], JSON.stringify(raw)).toBe(0);
    expect(raw['restore latest --yes']).toBe(0);
    expect(raw['diff latest --live --json']).toBe(0);
    expect(rawStandalone['backup --tables NoSuchTable'], JSON.stringify(rawStandalone)).toBe(2);
    expect(encoded['backup --json'], JSON.stringify(encoded)).toBe(0);
    expect(encoded['diff latest --live']).toBe(0);
    expect(unparseable['backup --reason secret --json'], JSON.stringify(unparseable)).toBe(4);
    expect(unparseable['list']).toBe(0);
    for (const f of failures) expect(f.code).not.toBe(0);

    // The scheduler, one slot: its JSON log lines and its state file (scanned below).
    const schedDir = newDir();
    const sched = startCli(['schedule'], { DATABASE_URL: urlOf(MAIN, 'raw'), BACKUP_DIR: schedDir, ...testScheduleEnv(1) });
    let out = '';
    sched.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/"backup\.(succeeded|failed)"/.test(out) && Date.now() < deadline && sched.child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    sched.child.kill('SIGTERM');
    const sr = await sched.done;
    outputs.push({ what: 'schedule', text: sr.stdout + sr.stderr });
    expect(sr.stdout, sr.stderr).toMatch(/"backup\.succeeded"/);
    expect(sr.stdout).toContain(`${roleOf.get(MAIN)}:***@`);
    const schedBad = await run(['schedule'], urlOf(R_UNPARSEABLE, 'raw'), newDir(), testScheduleEnv(1));
    expect(schedBad.code).toBe(4);

    // A connection cut by the server mid-backup.
    const cut = startCli(['backup'], { DATABASE_URL: urlOf(MAIN, 'raw'), BACKUP_DIR: newDir() });
    await new Promise((r) => setTimeout(r, 1000));
    await withPg(PG_ADMIN_URL, (c) => c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2`, [dbName, roleOf.get(MAIN)]));
    const cr = await cut.done;
    outputs.push({ what: 'backup cut mid-way', text: cr.stdout + cr.stderr });

    for (const o of outputs) expect(leaksIn(o.text), `output of ${o.what}`).toEqual([]);
  }, 300_000);

  it('never stores it: manifests, state files, reports and every decompressed backup byte', () => {
    const files = allFiles(root);
    const backups = files.filter((f) => f.endsWith('.jsonl.gz'));
    expect(backups.length).toBeGreaterThan(SHAPES.length);
    for (const f of files) {
      const bytes = readFileSync(f);
      const text = f.endsWith('.gz') ? zlib.gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
      expect(leaksIn(text), f).toEqual([]);
      if (f.endsWith('.manifest.json')) expect(JSON.parse(text).database).toMatch(/^postgresql:\/\/guard_pw_/);
    }
  });
});
