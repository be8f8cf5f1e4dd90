/**
 * Encryption at rest and offsite copies, measured through the npm scripts a user runs, on the same
 * data in one session (issue 15's targets): an encrypted backup against the plain one, a backup that
 * is also copied to a local S3-compatible server (s3rver on 127.0.0.1, BACKUP_COPY_TO) against the
 * local one, peak RSS with both on, and `pg_dump -Fc | age -r` as the reference tool pipeline.
 *
 * Also: backups straight to the S3 server as the backup location (BACKUP_DIR=s3://...: written to
 * a working folder, uploaded, read back, the local copy removed) and a restore streamed from it.
 *
 *   npm run bench:encryption -- [--scale 0.2] [--runs 3] [--work DIR] [--pg-admin URL] [--s3dir]
 *
 * --s3dir: only the plain local backup/restore and the BACKUP_DIR=s3:// cases.
 *
 * Results: bench/results/<time>-encryption.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import S3rver from 's3rver';
import { generateAgeKeys } from '../lib/pipeline/age.ts';
import { datasetCounts, totalRows } from './dataset.ts';
import { dbUrl, ensureBuilt, ensureVerified, latestBackup, machine, pgAdmin, pgSource, recreateDb, runCases, table, timed, type Case } from './run.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '0.2' },
      runs: { type: 'string', default: '3' },
      work: { type: 'string', default: path.join(os.tmpdir(), 'prisma-guard-bench-encryption') },
      'pg-admin': { type: 'string', default: process.env.PG_BENCH_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
      s3dir: { type: 'boolean', default: false },
    },
  });
  const scale = Number(values.scale);
  const runs = Number(values.runs);
  const work = values.work!;
  const log = (s: string) => process.stderr.write(s + '\n');
  mkdirSync(work, { recursive: true });
  await ensureBuilt();
  const admin = pgAdmin(values['pg-admin']!);
  const src = await pgSource(admin, scale, false, log);
  const srcUrl = dbUrl(admin, src);
  const tgt = values.s3dir ? 'pg_guard_bench_s3dir_target' : 'pg_guard_bench_enc_target';
  const tgtUrl = dbUrl(admin, tgt);
  const keys = await generateAgeKeys();
  const identityFile = path.join(work, 'age-identity.txt');
  writeFileSync(identityFile, keys.identity + '\n', { mode: 0o600 });
  const s3dir = path.join(work, 's3rver');
  rmSync(s3dir, { recursive: true, force: true });
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir, configureBuckets: [{ name: 'bench' }] });
  const endpoint = `http://127.0.0.1:${(await server.run()).port}`;
  const s3env = { BACKUP_S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
  const conn = ['-h', admin.host, '-p', admin.port, '-U', admin.user];
  const dirs = { plain: path.join(work, 'plain'), enc: path.join(work, 'enc'), s3: path.join(work, 's3'), both: path.join(work, 'both') };
  const fresh = (d: string) => async () => rmSync(d, { recursive: true, force: true });
  const guard = (verb: string, args: string[], env: Record<string, string>, output?: () => number | null) => timed('npm', ['run', '--silent', `db:${verb}`, '--', ...args], { env, output });
  const backupCase = (tool: string, dir: string, env: Record<string, string>, anchor = false): Case => ({
    op: 'backup',
    tool,
    anchor,
    command: `${Object.entries(env).filter(([k]) => !k.startsWith('AWS_')).map(([k, v]) => `${k}=${k.includes('RECIPIENTS') ? 'age1...' : v} `).join('')}npm run db:backup -- --url ${srcUrl} --backup-dir ${dir}`,
    setup: fresh(dir),
    run: () => guard("backup", ["--url", srcUrl, "--backup-dir", dir, "--json"], env, () => (existsSync(dir) ? statSync(latestBackup(dir)).size : null)),
  });
  const enc = { BACKUP_AGE_RECIPIENTS: keys.recipient };
  const copy = { BACKUP_COPY_TO: 's3://bench/prisma-guard', ...s3env };
  const fc = path.join(work, 'dump.fc.age');
  // BACKUP_DIR=s3://bench/s3dir: the bucket is the backup location; the working folder is emptied after each upload.
  const primary = { BACKUP_CACHE_DIR: path.join(work, 's3dir-cache'), ...s3env };
  // Asynchronous on purpose: s3rver runs in this process and must go on answering.
  const cli = (args: string[]) => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/bin/prisma-guard.js'), ...args, '--backup-dir', 's3://bench/s3dir', '--json'], { env: { ...process.env, ...primary } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
  const s3dirName = async (): Promise<string> => {
    const r = await cli(['list']);
    const newest = JSON.parse(r.out).backups?.[0];
    if (!newest) throw new Error(`no backup in s3://bench/s3dir: ${r.out}${r.err}`);
    if (newest.verification?.ok !== true) {
      const v = await cli(['verify', newest.file]);
      if (v.code !== 0) throw new Error(`verify of ${newest.file} failed: ${v.out}${v.err}`);
    }
    return newest.file;
  };
  let s3dirBackup = '';
  const s3dirCases: Case[] = [
    {
      op: 'backup',
      tool: 'prisma-guard backup, BACKUP_DIR=s3://',
      command: `BACKUP_DIR=s3://bench/s3dir BACKUP_S3_ENDPOINT=${endpoint} npm run db:backup -- --url ${srcUrl}`,
      run: () => guard('backup', ['--url', srcUrl, '--backup-dir', 's3://bench/s3dir', '--json'], primary),
    },
    {
      op: 'restore',
      tool: 'prisma-guard restore, BACKUP_DIR=s3:// (streamed)',
      command: `BACKUP_DIR=s3://bench/s3dir BACKUP_S3_ENDPOINT=${endpoint} npm run db:restore -- <backup> --mode full --yes --no-safety-backup --url ${tgtUrl}`,
      setup: async () => {
        s3dirBackup = await s3dirName();
        await recreateDb(admin, tgt);
      },
      run: () => guard('restore', [s3dirBackup, '--mode', 'full', '--yes', '--no-safety-backup', '--url', tgtUrl, '--backup-dir', 's3://bench/s3dir', '--json'], primary),
    },
  ];
  const allCases: Case[] = [
    backupCase('prisma-guard backup (plain, local)', dirs.plain, {}, true),
    backupCase('prisma-guard backup encrypted (age)', dirs.enc, enc),
    backupCase('prisma-guard backup + offsite copy to S3', dirs.s3, copy),
    backupCase('prisma-guard backup encrypted + offsite copy to S3', dirs.both, { ...enc, ...copy }),
    {
      op: 'backup',
      tool: 'pg_dump -Fc | age -r',
      command: `pg_dump -Fc ${conn.join(' ')} ${src} | age -r age1... > ${fc}`,
      setup: async () => rmSync(fc, { force: true }),
      run: () => timed('sh', ['-c', `pg_dump -Fc ${conn.join(' ')} ${src} | age -r ${keys.recipient} > ${fc}`], { output: () => statSync(fc).size }),
    },
    {
      op: 'restore',
      tool: 'prisma-guard restore (plain)',
      anchor: true,
      command: `npm run db:restore -- <backup> --mode full --yes --no-safety-backup --url ${tgtUrl} --backup-dir ${dirs.plain}`,
      setup: async () => {
        ensureVerified(dirs.plain);
        await recreateDb(admin, tgt);
      },
      run: () => guard('restore', [path.basename(latestBackup(dirs.plain)), '--mode', 'full', '--yes', '--no-safety-backup', '--url', tgtUrl, '--backup-dir', dirs.plain, '--json'], {}),
    },
    {
      op: 'restore',
      tool: 'prisma-guard restore (encrypted)',
      command: `BACKUP_AGE_IDENTITY=${identityFile} npm run db:restore -- <backup> --mode full --yes --no-safety-backup --url ${tgtUrl} --backup-dir ${dirs.enc}`,
      // As after a scheduled backup: verified (on a backup-only machine: the ciphertext check).
      setup: async () => {
        ensureVerified(dirs.enc);
        await recreateDb(admin, tgt);
      },
      run: () => guard('restore', [path.basename(latestBackup(dirs.enc)), '--mode', 'full', '--yes', '--no-safety-backup', '--url', tgtUrl, '--backup-dir', dirs.enc, '--json'], { BACKUP_AGE_IDENTITY: identityFile }),
    },
  ];
  const cases = values.s3dir ? [allCases[0], allCases[2], s3dirCases[0], allCases[5], s3dirCases[1]] : [...allCases, ...s3dirCases];
  log(`PostgreSQL scale ${scale} (${totalRows(datasetCounts(scale)).toLocaleString('en-GB')} rows), ${runs} runs`);
  const rows = await runCases(cases, runs, null, log);
  await server.close();
  const md = [
    `# prisma-guard encryption/offsite benchmark ${new Date().toISOString()}`,
    '',
    '```',
    `npm run bench:encryption -- ${process.argv.slice(2).join(' ')}`,
    '```',
    '',
    `Machine: ${JSON.stringify(machine())}`,
    '',
    `PostgreSQL, scale ${scale}, ${totalRows(datasetCounts(scale)).toLocaleString('en-GB')} rows. Backup ratios are against the plain local backup; restore ratios against the plain restore.`,
    '',
    table(rows),
    '',
  ].join('\n');
  const out = path.join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}-encryption.md`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, md);
  process.stdout.write(md + '\n');
}

await main();
