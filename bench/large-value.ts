/**
 * One very large value: backup, verify and restore of a table holding one row with a 50 MiB bytea,
 * and of one holding a 50 MiB text, against pg_dump -Fc and pg_restore --single-transaction.
 * Time must grow linearly with the size of a value (it once grew with its square: a 50 MB bytea
 * took 368 s to back up).
 *
 *   npm run bench:large-value -- [--runs 3] [--mb 50] [--regen] [--work DIR] [--pg-admin URL]
 *
 * Same harness as bench/run.ts (the real CLI, /usr/bin/time, round-robin runs, medians). Results:
 * bench/results/large-value-<time>.json and .md.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  guardCmd,
  pgDumpCase,
  timedGuard,
  adminQuery,
  dbUrl,
  ensureBuilt,
  ensureVerified,
  latestBackup,
  machine,
  pgAdmin,
  recreateDb,
  runCases,
  table,
  timed,
  type Case,
  type PgAdmin,
  type Row,
} from './run.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DATASET_VERSION = 'large-v1';

type Kind = 'bytea' | 'text';

/**
 * The value, made by the server itself. bytea: MD5 digests of consecutive integers, incompressible
 * like a stored file. text: lines of prose with multi-byte characters, a tab, quotes and a backslash
 * (characters COPY and JSON both escape), joined by newlines.
 */
function fillSql(kind: Kind, mb: number): string {
  if (kind === 'bytea') {
    return `INSERT INTO big SELECT 1, decode(string_agg(md5(i::text), '' ORDER BY i), 'hex') FROM generate_series(1, ${Math.round((mb * 1024 * 1024) / 16)}) i`;
  }
  const line = (i: number) => `${i}\tcafé crème – naïve façade, 1 € = "${'0'.repeat(32)}" \\ fin`;
  const perLine = Buffer.byteLength(line(500000)) + 1;
  const n = Math.round((mb * 1024 * 1024) / perLine);
  return `INSERT INTO big SELECT 1, string_agg(format(E'%s\\tcafé crème – naïve façade, 1 € = "%s" \\\\ fin', i, md5(i::text)), E'\\n' ORDER BY i) FROM generate_series(1, ${n}) i`;
}

/** The source database for a kind and size, made once and reused while its marker matches. */
async function source(admin: PgAdmin, kind: Kind, mb: number, regen: boolean, log: (s: string) => void): Promise<{ db: string; bytes: number }> {
  const db = `pg_guard_bench_large_${kind}`;
  const marker = `prisma-guard bench ${DATASET_VERSION} ${kind} ${mb} MiB`;
  const r = await adminQuery(admin, `SELECT shobj_description(oid, 'pg_database') AS d FROM pg_database WHERE datname = '${db}'`);
  if (regen || r.rows[0]?.d !== marker) {
    log(`generating ${db}: one row with a ${mb} MiB ${kind}`);
    await recreateDb(admin, db);
    const c = new pg.Client({ connectionString: dbUrl(admin, db) });
    await c.connect();
    try {
      await c.query(`CREATE TABLE big (id int PRIMARY KEY, v ${kind} NOT NULL)`);
      await c.query(fillSql(kind, mb));
    } finally {
      await c.end();
    }
    await adminQuery(admin, `COMMENT ON DATABASE "${db}" IS '${marker}'`);
  }
  const c = new pg.Client({ connectionString: dbUrl(admin, db) });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string }>('SELECT octet_length(v)::text AS n FROM big');
    return { db, bytes: Number(rows[0].n) };
  } finally {
    await c.end();
  }
}

function cases(admin: PgAdmin, src: string, work: string): Case[] {
  const srcUrl = dbUrl(admin, src);
  const tgt = `${src}_target`;
  const tgtUrl = dbUrl(admin, tgt);
  const ours = path.join(work, 'ours');
  const fc = path.join(work, 'dump.fc');
  const conn = ['-h', admin.host, '-p', admin.port, '-U', admin.user];
  return [
    {
      op: 'backup',
      tool: 'prisma-guard backup',
      command: `${guardCmd('backup')} --url ${srcUrl} --backup-dir ${ours}`,
      setup: async () => rmSync(ours, { recursive: true, force: true }),
      run: () => timedGuard('backup', ['--url', srcUrl, '--backup-dir', ours, '--json'], { output: () => statSync(latestBackup(ours)).size }),
    },
    pgDumpCase(conn, fc, src),
    {
      op: 'verify',
      tool: 'prisma-guard verify',
      command: `${guardCmd('verify')} <backup> --backup-dir ${ours}`,
      run: () => timedGuard('verify', [path.basename(latestBackup(ours)), '--backup-dir', ours, '--json']),
    },
    {
      op: 'restore',
      tool: 'prisma-guard restore --mode full (empty database)',
      command: `${guardCmd('restore')} <backup> --mode full --yes --no-safety-backup --url ${tgtUrl} --backup-dir ${ours}`,
      setup: async () => {
        ensureVerified(ours);
        await recreateDb(admin, tgt);
      },
      run: () => timedGuard('restore', [path.basename(latestBackup(ours)), '--mode', 'full', '--yes', '--no-safety-backup', '--url', tgtUrl, '--backup-dir', ours, '--json']),
    },
    {
      op: 'restore',
      tool: 'pg_restore --single-transaction',
      anchor: true,
      command: `pg_restore --single-transaction ${conn.join(' ')} -d ${tgt} ${fc}`,
      setup: () => recreateDb(admin, tgt),
      run: () => timed('pg_restore', ['--single-transaction', ...conn, '-d', tgt, fc]),
    },
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      mb: { type: 'string', default: '50' },
      regen: { type: 'boolean' },
      work: { type: 'string', default: path.join(os.tmpdir(), 'prisma-guard-bench-large') },
      'pg-admin': { type: 'string', default: process.env.PG_BENCH_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    },
  });
  const runs = Number(values.runs);
  const mb = Number(values.mb);
  const admin = pgAdmin(values['pg-admin']!);
  const log = (s: string) => process.stderr.write(s + '\n');
  await ensureBuilt(log);
  const started = new Date();
  const md: string[] = [`# prisma-guard large-value benchmark ${started.toISOString()}`, '', '```', `npm run bench:large-value -- ${process.argv.slice(2).join(' ')}`, '```', '', `Machine: ${JSON.stringify(machine())}`, ''];
  const results: { kind: Kind; bytes: number; rows: Row[] }[] = [];
  for (const kind of ['bytea', 'text'] as const) {
    const { db, bytes } = await source(admin, kind, mb, Boolean(values.regen), log);
    const work = path.join(values.work!, kind);
    mkdirSync(work, { recursive: true });
    log(`${kind}: one value of ${(bytes / 2 ** 20).toFixed(1)} MiB, ${runs} run(s)`);
    const rows = await runCases(cases(admin, db, work), runs, null, log);
    await adminQuery(admin, `DROP DATABASE IF EXISTS "${db}_target" WITH (FORCE)`);
    results.push({ kind, bytes, rows });
    md.push(`## one ${kind} value of ${(bytes / 2 ** 20).toFixed(1)} MiB, median of ${runs}`, '', table(rows), '');
    for (const r of rows.filter((x) => x.tool.startsWith('prisma-guard') && x.op !== 'verify' && x.wallRatio !== undefined)) {
      md.push(`- ${r.tool}: ${r.wallRatio!.toFixed(2)}x (target <= 2x): ${r.wallRatio! <= 2 ? 'met' : 'MISSED'}`);
    }
    md.push('');
  }
  const resultsDir = path.join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = `large-value-${started.toISOString().replace(/[:.]/g, '-')}`;
  writeFileSync(path.join(resultsDir, `${stamp}.json`), JSON.stringify({ startedAt: started.toISOString(), machine: machine(), argv: process.argv.slice(2), results }, null, 2));
  writeFileSync(path.join(resultsDir, `${stamp}.md`), md.join('\n') + '\n');
  process.stdout.write(md.join('\n') + '\n');
  log(`results: bench/results/${stamp}.json and .md`);
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exitCode = 1;
});
