/**
 * Benchmarks prisma-guard against the databases' own tools on the same data, in one session.
 *
 *   npm run bench -- [--scales 0.1,1] [--runs 3] [--dialects postgres,sqlite] [--only backup,verify,restore]
 *                    [--no-naive] [--regen] [--work DIR] [--pg-admin URL] [--db-tag NAME]
 *
 * Every tool runs as a child process under /usr/bin/time, which gives wall time, CPU time
 * (user + sys of the process and its waited-for children; the database server's own CPU is not
 * counted for anyone) and peak RSS (largest single process). Cases run round-robin (one run of
 * every case, then the next run) so a slow patch of the machine hits every tool alike; the table
 * shows medians. prisma-guard runs as users run it: through this repo's npm scripts
 * (`npm run db:backup -- ...`, the same compiled dist/ the published package's bin runs; npm's own
 * start-up is part of the time, as it is for a user).
 *
 * Results: bench/results/<time>.json (every measurement) and <time>.md (the tables).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { generatePostgres, generateSqlite, totalRows, datasetCounts } from './dataset.ts';
import { manifestFileName, parseBackupFileName } from '../lib/format/naming.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
export const CLI = path.join(ROOT, 'bin/prisma-guard.js');
const NAIVE = path.join(ROOT, 'bench/naive.ts');
const DATASET_VERSION = 'v1';

export interface Measure {
  ok: boolean;
  wallS: number;
  cpuS: number;
  rssMb: number;
  /** Bytes written (backups) or null. */
  sizeBytes: number | null;
  error?: string;
}

export interface Case {
  op: 'backup' | 'verify' | 'restore';
  tool: string;
  /** The exact command line (for BENCHMARKS.md); paths as used in this run. */
  command: string;
  setup?: () => Promise<void>;
  run: () => Promise<Measure>;
  /** Anchor this case is compared with (same op). */
  anchor?: boolean;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function dirSize(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((s, n) => s + dirSize(path.join(p, n)), 0);
}

/** Runs `cmd args` under /usr/bin/time; stdin/stdout may be files. */
export function timed(cmd: string, args: string[], opts: { stdin?: string; stdout?: string; env?: NodeJS.ProcessEnv; output?: () => number | null } = {}): Promise<Measure> {
  const tfile = path.join(os.tmpdir(), `pg-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const inFd = opts.stdin ? openSync(opts.stdin, 'r') : 'ignore';
  const outFd = opts.stdout ? openSync(opts.stdout, 'w') : 'ignore';
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', tfile, cmd, ...args], {
      cwd: ROOT,
      stdio: [inFd, outFd, 'pipe'],
      env: { ...process.env, CI: 'true', ...opts.env },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      if (typeof inFd === 'number') closeSync(inFd);
      if (typeof outFd === 'number') closeSync(outFd);
      let wallS = NaN;
      let cpuS = NaN;
      let rssMb = NaN;
      try {
        const last = readFileSync(tfile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
        [wallS, cpuS, rssMb] = [last[0], last[1] + last[2], last[3] / 1024];
      } catch {
        /* time itself failed */
      }
      rmSync(tfile, { force: true });
      const ok = code === 0;
      const lines = stderr.trim().split('\n').filter((l) => l && !/Command exited with non-zero status|npm warn/.test(l));
      resolve({ ok, wallS, cpuS, rssMb, sizeBytes: ok && opts.output ? opts.output() : null, ...(ok ? {} : { error: lines.slice(-3).join(' | ').slice(0, 300) || `exit ${code}` }) });
    });
  });
}

/**
 * Node flags of the CLI's shebang (`#!/usr/bin/env -S node FLAGS`): the installed bin runs with them,
 * so the benchmark passes them too when it starts the CLI as `node FLAGS bin/prisma-guard.js`.
 */
export function shebangFlags(script: string): string[] {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env\s+(?:-S\s+)?node\s*(.*)$/.exec(first);
  return m && m[1].trim() ? m[1].trim().split(/\s+/) : [];
}
const CLI_FLAGS = shebangFlags(CLI);
/** How BENCHMARKS.md shows the CLI invocation. */
export const CLI_CMD = ['node', ...CLI_FLAGS, 'bin/prisma-guard.js'].join(' ');

export const node = (script: string, args: string[]) => (script.endsWith('.ts') ? ['--import', 'tsx', script, ...args] : script === CLI ? [...CLI_FLAGS, script, ...args] : [script, ...args]);


/** The npm script a user runs for a verb (package.json: `db:<verb>` runs the compiled CLI). */
export const npmScript = (verb: 'backup' | 'verify' | 'restore') => `db:${verb}`;
/** How BENCHMARKS.md shows a prisma-guard invocation. */
export const guardCmd = (verb: 'backup' | 'verify' | 'restore') => `npm run ${npmScript(verb)} --`;
/** Times `npm run --silent db:<verb> -- args` in this repo, the command a user runs. */
export const timedGuard = (verb: 'backup' | 'verify' | 'restore', args: string[], opts: { output?: () => number | null } = {}) =>
  timed('npm', ['run', '--silent', npmScript(verb), '--', ...args], opts);

/** The anchor of every PostgreSQL backup comparison: `pg_dump -Fc` of `src` into `fc`. */
export function pgDumpCase(conn: string[], fc: string, src: string): Case {
  return {
    op: 'backup',
    tool: 'pg_dump -Fc',
    anchor: true,
    command: `pg_dump -Fc ${conn.join(' ')} -f ${fc} ${src}`,
    setup: async () => rmSync(fc, { force: true }),
    run: () => timed('pg_dump', ['-Fc', ...conn, '-f', fc, src], { output: () => statSync(fc).size }),
  };
}

export interface PgAdmin {
  url: string;
  host: string;
  port: string;
  user: string;
}

export function pgAdmin(url: string): PgAdmin {
  const u = new URL(url);
  return { url, host: u.hostname, port: u.port || '5432', user: decodeURIComponent(u.username || 'postgres') };
}

export function dbUrl(admin: PgAdmin, db: string): string {
  const u = new URL(admin.url);
  u.pathname = '/' + db;
  return u.toString();
}

export async function adminQuery(admin: PgAdmin, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: admin.url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function recreateDb(admin: PgAdmin, db: string): Promise<void> {
  await adminQuery(admin, `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  await adminQuery(admin, `CREATE DATABASE "${db}"`);
}

const scaleTag = (s: number) => String(s).replace('.', '_');

/** The PostgreSQL source database for a scale, generated once and reused while its marker matches. */
export async function pgSource(admin: PgAdmin, scale: number, regen: boolean, log: (s: string) => void, tag = ''): Promise<string> {
  const db = `pg_guard_bench${tag ? `_${tag}` : ''}_s${scaleTag(scale)}`;
  const marker = `prisma-guard bench dataset ${DATASET_VERSION} scale=${scale}`;
  const r = await adminQuery(admin, `SELECT shobj_description(oid, 'pg_database') AS d FROM pg_database WHERE datname = '${db}'`);
  if (!regen && r.rows[0]?.d === marker) return db;
  log(`generating PostgreSQL dataset at scale ${scale} (${totalRows(datasetCounts(scale)).toLocaleString('en-GB')} rows) into ${db}`);
  const t0 = Date.now();
  await recreateDb(admin, db);
  await generatePostgres(dbUrl(admin, db), scale, { log });
  await adminQuery(admin, `COMMENT ON DATABASE "${db}" IS '${marker}'`);
  log(`  generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return db;
}

export function sqliteSource(work: string, scale: number, regen: boolean, log: (s: string) => void): string {
  const file = path.join(work, 'source.db');
  const markerFile = path.join(work, 'source.marker');
  const marker = `${DATASET_VERSION} scale=${scale}`;
  if (!regen && existsSync(file) && existsSync(markerFile) && readFileSync(markerFile, 'utf8') === marker) return file;
  log(`generating SQLite dataset at scale ${scale} into ${file}`);
  const t0 = Date.now();
  generateSqlite(file, scale, { log });
  writeFileSync(markerFile, marker);
  log(`  generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return file;
}

export function latestBackup(dir: string): string {
  const f = existsSync(dir) ? readdirSync(dir).filter((n) => parseBackupFileName(n)).sort().pop() : undefined;
  if (!f) throw new Error(`no prisma-guard backup in ${dir} (did the backup case fail?)`);
  return path.join(dir, f);
}

/**
 * Restores are measured on a verified backup (as after a scheduled verification): without a
 * verified manifest the restore verifies the whole file first. When `verify` was not among the cases
 * run (`--only backup,restore`), this verifies the backup outside the timing.
 */
export function ensureVerified(dir: string): void {
  const file = latestBackup(dir);
  const manifest = path.join(dir, manifestFileName(path.basename(file)));
  try {
    if (JSON.parse(readFileSync(manifest, 'utf8')).verification?.ok === true) return;
  } catch {
    // no readable manifest: verify writes one
  }
  const r = spawnSync(process.execPath, node(CLI, ['verify', path.basename(file), '--backup-dir', dir, '--json']), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`verify of ${file} failed before the restore cases: ${r.stdout}${r.stderr}`);
}

/**
 * prisma-guard's own cases, the same for every database: backup, the naive hand-written backup,
 * verify, and restores in data mode (into an empty schema) and full mode (into nothing).
 */
function prismaGuardCases(o: { srcUrl: string; tgtUrl: string; ours: string; work: string; naive: boolean; emptySchema: () => Promise<void>; noDatabase: () => Promise<void>; noDatabaseLabel: string }): { backup: Case; naive: Case[]; verifyAndRestores: Case[] } {
  const { srcUrl, tgtUrl, ours } = o;
  const restore = (mode: 'data' | 'full', label: string, setup: () => Promise<void>): Case => ({
    op: 'restore',
    tool: `prisma-guard restore --mode ${mode} (${label})`,
    command: `${guardCmd('restore')} <backup> --mode ${mode} --yes --no-safety-backup --url ${tgtUrl} --backup-dir ${ours}`,
    setup: async () => {
      ensureVerified(ours);
      await setup();
    },
    run: () => timedGuard('restore', [path.basename(latestBackup(ours)), '--mode', mode, '--yes', '--no-safety-backup', '--url', tgtUrl, '--backup-dir', ours, '--json']),
  });
  const out = path.join(o.work, 'naive.json');
  return {
    backup: {
      op: 'backup',
      tool: 'prisma-guard backup',
      command: `${guardCmd('backup')} --url ${srcUrl} --backup-dir ${ours}`,
      setup: async () => rmSync(ours, { recursive: true, force: true }),
      run: () => timedGuard('backup', ['--url', srcUrl, '--backup-dir', ours, '--json'], { output: () => statSync(latestBackup(ours)).size }),
    },
    naive: o.naive
      ? [
          {
            op: 'backup',
            tool: 'naive (SELECT * + JSON.stringify)',
            command: `node --import tsx bench/naive.ts --url ${srcUrl} --out ${out}`,
            setup: async () => rmSync(out, { force: true }),
            run: () => timed(process.execPath, node(NAIVE, ['--url', srcUrl, '--out', out]), { output: () => statSync(out).size }),
          },
        ]
      : [],
    verifyAndRestores: [
      {
        op: 'verify',
        tool: 'prisma-guard verify',
        command: `${guardCmd('verify')} <backup> --backup-dir ${ours}`,
        run: () => timedGuard('verify', [path.basename(latestBackup(ours)), '--backup-dir', ours, '--json']),
      },
      restore('data', 'empty schema', o.emptySchema),
      restore('full', o.noDatabaseLabel, o.noDatabase),
    ],
  };
}

/** The PostgreSQL database every restore case writes into (`--db-tag` keeps concurrent benches apart). */
const pgTarget = (tag: string) => `pg_guard_bench${tag ? `_${tag}` : ''}_target`;

function postgresCases(admin: PgAdmin, src: string, work: string, naive: boolean, tag: string): Case[] {
  const srcUrl = dbUrl(admin, src);
  const tgt = pgTarget(tag);
  const tgtUrl = dbUrl(admin, tgt);
  const ours = path.join(work, 'ours');
  const conn = ['-h', admin.host, '-p', admin.port, '-U', admin.user];
  const fc = path.join(work, 'dump.fc');
  const fd = path.join(work, 'dump.d');
  const ourCases = prismaGuardCases({ srcUrl, tgtUrl, ours, work, naive, emptySchema: async () => {
    await recreateDb(admin, tgt);
    await generatePostgres(tgtUrl, 1, { schemaOnly: true });
  }, noDatabase: () => recreateDb(admin, tgt), noDatabaseLabel: 'empty database' });
  const cases: Case[] = [
    ourCases.backup,
    pgDumpCase(conn, fc, src),
    {
      op: 'backup',
      tool: 'pg_dump -Fd -j 2',
      command: `pg_dump -Fd -j 2 ${conn.join(' ')} -f ${fd} ${src}`,
      setup: async () => rmSync(fd, { recursive: true, force: true }),
      run: () => timed('pg_dump', ['-Fd', '-j', '2', ...conn, '-f', fd, src], { output: () => dirSize(fd) }),
    },
  ];
  cases.push(
    ...ourCases.naive,
    ...ourCases.verifyAndRestores,
    {
      op: 'restore',
      tool: 'pg_restore --single-transaction',
      anchor: true,
      command: `pg_restore --single-transaction ${conn.join(' ')} -d ${tgt} ${fc}`,
      setup: () => recreateDb(admin, tgt),
      run: () => timed('pg_restore', ['--single-transaction', ...conn, '-d', tgt, fc]),
    },
    {
      op: 'restore',
      tool: 'pg_restore -j 2',
      command: `pg_restore -j 2 ${conn.join(' ')} -d ${tgt} ${fc}`,
      setup: () => recreateDb(admin, tgt),
      run: () => timed('pg_restore', ['-j', '2', ...conn, '-d', tgt, fc]),
    },
  );
  return cases;
}

function sqliteCases(src: string, work: string, naive: boolean): Case[] {
  const srcUrl = `file:${src}`;
  const ours = path.join(work, 'ours');
  const dump = path.join(work, 'dump.sql');
  const copy = path.join(work, 'copy.db');
  const tgt = path.join(work, 'target.db');
  const tgtUrl = `file:${tgt}`;
  const clearTarget = async () => {
    for (const s of ['', '-journal', '-wal', '-shm', '.prisma-guard.lock']) rmSync(tgt + s, { force: true });
  };
  const ourCases = prismaGuardCases({ srcUrl, tgtUrl, ours, work, naive, emptySchema: async () => {
    await clearTarget();
    generateSqlite(tgt, 1, { schemaOnly: true });
  }, noDatabase: clearTarget, noDatabaseLabel: 'no file' });
  // The anchors compress, as prisma-guard does (issue 14's targets): `.dump | gzip -1` and its restore.
  const dumpGz = dump + '.gz';
  const cases: Case[] = [
    ourCases.backup,
    {
      op: 'backup',
      tool: 'sqlite3 .dump | gzip -1',
      anchor: true,
      command: `sqlite3 ${src} .dump | gzip -1 > ${dumpGz}`,
      run: () => timed('sh', ['-c', 'sqlite3 "$0" .dump | gzip -1', src], { stdout: dumpGz, output: () => statSync(dumpGz).size }),
    },
    {
      op: 'backup',
      tool: 'sqlite3 .dump',
      command: `sqlite3 ${src} .dump > ${dump}`,
      run: () => timed('sqlite3', [src, '.dump'], { stdout: dump, output: () => statSync(dump).size }),
    },
    {
      op: 'backup',
      tool: 'sqlite3 .backup',
      command: `sqlite3 ${src} ".backup ${copy}"`,
      setup: async () => rmSync(copy, { force: true }),
      run: () => timed('sqlite3', [src, `.backup ${copy}`], { output: () => statSync(copy).size }),
    },
  ];
  cases.push(
    ...ourCases.naive,
    ...ourCases.verifyAndRestores,
    {
      op: 'restore',
      tool: 'zcat dump.sql.gz | sqlite3',
      anchor: true,
      command: `zcat ${dumpGz} | sqlite3 ${tgt}`,
      setup: clearTarget,
      run: () => timed('sh', ['-c', 'zcat "$0" | sqlite3 "$1"', dumpGz, tgt]),
    },
    {
      op: 'restore',
      tool: 'sqlite3 < dump.sql',
      command: `sqlite3 ${tgt} < ${dump}`,
      setup: clearTarget,
      run: () => timed('sqlite3', [tgt], { stdin: dump }),
    },
    {
      op: 'restore',
      tool: 'sqlite3 .restore',
      command: `sqlite3 ${tgt} ".restore ${copy}"`,
      setup: clearTarget,
      run: () => timed('sqlite3', [tgt, `.restore ${copy}`]),
    },
  );
  return cases;
}

export interface Row {
  op: string;
  tool: string;
  command: string;
  anchor: boolean;
  runs: Measure[];
  wallS: number;
  cpuS: number;
  rssMb: number;
  sizeBytes: number | null;
  failures: number;
  wallRatio?: number;
  sizeRatio?: number;
}

/**
 * Rebuilds dist/ when a source changed, outside the timing (the npm scripts would otherwise rebuild
 * inside the first measured run of a series).
 */
export async function ensureBuilt(_log?: (s: string) => void): Promise<void> {
  const b = await new Promise<number | null>((resolve) => spawn(process.execPath, [path.join(ROOT, 'bin/build.mjs'), '--if-stale'], { stdio: 'inherit' }).on('close', resolve));
  if (b !== 0) throw new Error('bin/build.mjs failed: fix the build before benchmarking');
}

export async function runCases(cases: Case[], runs: number, only: Set<string> | null, log: (s: string) => void): Promise<Row[]> {
  const chosen = cases.filter((c) => !only || only.has(c.op));
  const results = new Map<Case, Measure[]>(chosen.map((c) => [c, []]));
  for (let r = 1; r <= runs; r++) {
    for (const c of chosen) {
      if (c.tool.startsWith('prisma-guard')) await ensureBuilt();
      await c.setup?.();
      const m = await c.run();
      results.get(c)!.push(m);
      log(`  run ${r}/${runs} ${c.op.padEnd(7)} ${c.tool.padEnd(50)} ${m.ok ? `${m.wallS.toFixed(2)} s wall, ${m.cpuS.toFixed(2)} s cpu, ${m.rssMb.toFixed(0)} MB rss${m.sizeBytes !== null ? `, ${(m.sizeBytes / 1e6).toFixed(1)} MB` : ''}` : `FAILED: ${m.error}`}`);
    }
  }
  const rows: Row[] = chosen.map((c) => {
    const ms = results.get(c)!;
    const ok = ms.filter((m) => m.ok);
    const pick = ok.length ? ok : ms;
    return {
      op: c.op,
      tool: c.tool,
      command: c.command,
      anchor: Boolean(c.anchor),
      runs: ms,
      wallS: median(pick.map((m) => m.wallS)),
      cpuS: median(pick.map((m) => m.cpuS)),
      rssMb: Math.max(...ms.map((m) => m.rssMb).filter((x) => !Number.isNaN(x)), 0),
      sizeBytes: ok.length && ok[0].sizeBytes !== null ? median(ok.map((m) => m.sizeBytes!)) : null,
      failures: ms.length - ok.length,
    };
  });
  for (const row of rows) {
    const anchor = rows.find((a) => a.anchor && a.op === (row.op === 'verify' ? 'backup' : row.op));
    if (anchor && row.failures < row.runs.length) {
      row.wallRatio = row.wallS / anchor.wallS;
      if (row.sizeBytes !== null && anchor.sizeBytes) row.sizeRatio = row.sizeBytes / anchor.sizeBytes;
    }
  }
  return rows;
}

export function table(rows: Row[]): string {
  const out = ['| operation | tool | wall s (median) | wall vs anchor | CPU s | peak RSS MB | output MB | size vs anchor |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const failed = r.failures === r.runs.length;
    const f = (x: number | undefined, d = 2) => (x === undefined || Number.isNaN(x) ? '' : x.toFixed(d));
    out.push(
      `| ${r.op} | ${r.tool.replace(/\|/g, "\\|")}${r.anchor ? ' (anchor)' : ''} | ${failed ? `FAILED (${r.runs[0].error ?? ''})` : f(r.wallS)}${r.failures && !failed ? ` (${r.failures} failed)` : ''} | ${failed ? '' : r.wallRatio !== undefined ? f(r.wallRatio) + 'x' : ''} | ${failed ? '' : f(r.cpuS)} | ${f(r.rssMb, 0)} | ${r.sizeBytes !== null ? (r.sizeBytes / 1e6).toFixed(1) : ''} | ${r.sizeRatio !== undefined ? f(r.sizeRatio) + 'x' : ''} |`,
    );
  }
  return out.join('\n');
}

/** The targets of the issue, checked on one scale's rows. */
function targets(dialect: string, rows: Row[]): string[] {
  if (dialect !== 'postgres') return [];
  const get = (tool: string) => rows.find((r) => r.tool === tool);
  const out: string[] = [];
  const b = get('prisma-guard backup');
  if (b?.wallRatio !== undefined) out.push(`backup wall time ${b.wallRatio.toFixed(2)}x pg_dump -Fc (target <= 1.0x): ${b.wallRatio <= 1 ? 'met' : 'MISSED'}`);
  if (b?.sizeRatio !== undefined) out.push(`backup size ${b.sizeRatio.toFixed(2)}x pg_dump -Fc (target <= 1.3x): ${b.sizeRatio <= 1.3 ? 'met' : 'MISSED'}`);
  for (const r of rows.filter((x) => x.op === 'restore' && x.tool.startsWith('prisma-guard'))) {
    if (r.wallRatio !== undefined) out.push(`${r.tool}: ${r.wallRatio.toFixed(2)}x pg_restore --single-transaction (target <= 1.5x): ${r.wallRatio <= 1.5 ? 'met' : 'MISSED'}`);
  }
  for (const r of rows.filter((x) => x.tool.startsWith('prisma-guard'))) {
    out.push(`${r.tool}: peak RSS ${r.rssMb.toFixed(0)} MB (target <= 150 MB): ${r.rssMb <= 150 ? 'met' : 'MISSED'}`);
  }
  return out;
}

export function machine(): Record<string, unknown> {
  let pgVersion = '';
  try {
    pgVersion = readFileSync('/proc/version', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGb: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    kernel: pgVersion,
    loadavgAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scales: { type: 'string', default: '1' },
      runs: { type: 'string', default: '3' },
      dialects: { type: 'string', default: 'postgres,sqlite' },
      only: { type: 'string' },
      'no-naive': { type: 'boolean' },
      regen: { type: 'boolean' },
      work: { type: 'string', default: path.join(os.tmpdir(), 'prisma-guard-bench') },
      'pg-admin': { type: 'string', default: process.env.PG_BENCH_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
      'db-tag': { type: 'string', default: '' },
    },
  });
  const tag = values['db-tag']!;
  if (!/^[a-z0-9_]*$/.test(tag)) throw new Error(`--db-tag takes lower-case letters, digits and _ (got ${tag})`);
  const scales = values.scales!.split(',').map(Number);
  const runs = Number(values.runs);
  const dialects = values.dialects!.split(',');
  const only = values.only ? new Set(values.only.split(',')) : null;
  const admin = pgAdmin(values['pg-admin']!);
  const log = (s: string) => process.stderr.write(s + '\n');
  await ensureBuilt();
  const started = new Date();
  const resultsDir = path.join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const report: { startedAt: string; machine: Record<string, unknown>; argv: string[]; results: { dialect: string; scale: number; rows: number; rowsDetail: Row[]; targets: string[] }[] } = {
    startedAt: started.toISOString(),
    machine: machine(),
    argv: process.argv.slice(2),
    results: [],
  };
  const md: string[] = [`# prisma-guard benchmark ${started.toISOString()}`, '', '```', `npm run bench -- ${process.argv.slice(2).join(' ')}`, '```', '', `Machine: ${JSON.stringify(report.machine)}`, ''];
  const save = () => {
    report.machine.loadavgNow = os.loadavg().map((x) => +x.toFixed(2));
    writeFileSync(path.join(resultsDir, `${stamp}.json`), JSON.stringify(report, null, 2));
    writeFileSync(path.join(resultsDir, `${stamp}.md`), md.join('\n') + '\n');
  };
  for (const scale of scales) {
    for (const dialect of dialects) {
      const work = path.join(values.work!, `${dialect}-s${scaleTag(scale)}`);
      mkdirSync(work, { recursive: true });
      let cases: Case[];
      if (dialect === 'postgres') {
        const src = await pgSource(admin, scale, Boolean(values.regen), log, tag);
        cases = postgresCases(admin, src, work, !values['no-naive'], tag);
      } else if (dialect === 'sqlite') {
        const src = sqliteSource(work, scale, Boolean(values.regen), log);
        cases = sqliteCases(src, work, !values['no-naive']);
      } else {
        throw new Error(`unknown dialect ${dialect}`);
      }
      log(`${dialect} scale ${scale}: ${runs} run(s)`);
      const rows = await runCases(cases, runs, only, log);
      const t = targets(dialect, rows);
      report.results.push({ dialect, scale, rows: totalRows(datasetCounts(scale)), rowsDetail: rows, targets: t });
      md.push(`## ${dialect}, scale ${scale} (${totalRows(datasetCounts(scale)).toLocaleString('en-GB')} rows), median of ${runs}`, '', table(rows), '');
      if (t.length) md.push(...t.map((x) => `- ${x}`), '');
      if (dialect === 'postgres') await adminQuery(admin, `DROP DATABASE IF EXISTS "${pgTarget(tag)}" WITH (FORCE)`);
      save();
      log(md.slice(-((t.length ? t.length + 1 : 0) + 4)).join('\n'));
    }
  }
  if (scales.length > 1) {
    md.push('## Growth with scale', '', '| dialect | scale | rows | tool | wall s | peak RSS MB |', '|---|---:|---:|---|---:|---:|');
    for (const r of report.results) {
      for (const row of r.rowsDetail.filter((x) => x.op === 'backup' || x.tool.includes('full'))) {
        md.push(`| ${r.dialect} | ${r.scale} | ${r.rows.toLocaleString('en-GB')} | ${row.tool.replace(/\|/g, "\\|")} | ${row.failures === row.runs.length ? 'FAILED' : row.wallS.toFixed(2)} | ${row.rssMb.toFixed(0)} |`);
      }
    }
    md.push('');
  }
  save();
  process.stdout.write(md.join('\n') + '\n');
  log(`results: bench/results/${stamp}.json and .md`);
}

// Run when started as a script; bench/large-value.ts imports the harness above.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(String(e?.stack ?? e) + '\n');
    process.exitCode = 1;
  });
}
