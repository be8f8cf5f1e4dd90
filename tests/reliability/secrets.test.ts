import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../bench/dataset.ts';
import { GuardError } from '../../lib/core/errors.ts';
import { jsonLinesReporter } from '../../lib/core/logger.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { restore } from '../../lib/ops/restore.ts';
import { PG_ADMIN_URL } from '../helpers/db.ts';
import { cli, startCli, withPg, type ChildResult } from './helpers.ts';

/**
 * Promise: the password of DATABASE_URL never appears in anything prisma-guard writes or prints:
 * human and --json output, error messages and hints (bad database, bad table, a connection cut
 * mid-backup), JSON-lines logs, manifests, and the backup files themselves (header and data).
 * A real role with a password is used (the server trusts 127.0.0.1, so the password is sent but
 * not checked: what matters is that it is never printed). The password holds characters that
 * need URL-encoding, and both its raw and encoded forms are searched for.
 */
describe('secrets in DATABASE_URL', () => {
  const role = `guard_secret_${randomBytes(4).toString('hex')}`;
  const password = `S3cr3t-${randomBytes(6).toString('hex')}@:/%?#`;
  const dbName = `pg_guard_t_secret_${randomBytes(4).toString('hex')}`;
  let url: string;
  let dir: string;
  const outputs: string[] = [];

  beforeAll(async () => {
    await withPg(PG_ADMIN_URL, async (c) => {
      await c.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password.replaceAll("'", "''")}'`);
      await c.query(`CREATE DATABASE "${dbName}" OWNER "${role}"`);
    });
    const admin = new URL(PG_ADMIN_URL);
    url = `postgresql://${role}:${encodeURIComponent(password)}@${admin.hostname}:${admin.port || 5432}/${dbName}?schema=public`;
    await generate(url, 0.002);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pg-guard-secrets-'));
  });
  afterAll(async () => {
    await withPg(PG_ADMIN_URL, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await c.query(`DROP ROLE IF EXISTS "${role}"`);
    });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const forms = () => [password, encodeURIComponent(password), password.slice(0, 13)];
  const expectClean = (what: string, text: string) => {
    for (const f of forms()) expect(text.includes(f), `${what} contains the password (${f.length} chars)`).toBe(false);
  };
  const run = async (args: string[], env: Record<string, string> = {}): Promise<ChildResult> => {
    const r = await cli(args, { DATABASE_URL: url, BACKUP_DIR: dir, ...env });
    outputs.push(`${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  it('never prints it: success and failure output of every command, human and JSON', async () => {
    expect((await run(['backup', '--reason', 'secret'])).code).toBe(0);
    expect((await run(['backup', '--json'])).code).toBe(0);
    await run(['list']);
    await run(['list', '--json']);
    await run(['verify', 'latest']);
    await run(['verify', 'latest', '--json']);
    await run(['restore', 'latest', '--dry-run']);
    await run(['restore', 'latest', '--dry-run', '--json']);
    expect((await run(['restore', 'latest', '--yes'])).code).toBe(0);
    // Failures: each message names the database, so each is a chance to leak the URL.
    const failures = [
      await run(['backup', '--tables', 'NoSuchTable']),
      await run(['backup', '--json', '--tables', 'NoSuchTable']),
      await run(['backup'], { DATABASE_URL: url.replace(dbName, `${dbName}_missing`) }),
      await run(['backup', '--json'], { DATABASE_URL: url.replace(dbName, `${dbName}_missing`) }),
      await run(['backup'], { DATABASE_URL: url.replace(/:\d+\//, ':1/') }),
      await run(['backup'], { DATABASE_URL: url.replace('@', '@[') }),
      await run(['restore', 'backup-1999-01-01T00-00-00-000Z-none.jsonl.gz', '--yes']),
      await run(['restore', 'latest', '--mode', 'bogus']),
    ];
    for (const f of failures) expect(f.code).not.toBe(0);
    // A connection cut mid-backup by the server.
    const cut = startCli(['backup'], { DATABASE_URL: url, BACKUP_DIR: dir });
    await new Promise((r) => setTimeout(r, 1500));
    await withPg(PG_ADMIN_URL, (c) => c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [dbName]));
    const cutResult = await cut.done;
    outputs.push(cutResult.stdout + cutResult.stderr);
    for (const o of outputs) expectClean(`output of: ${o.split('\n')[0]}`, o);
  });

  it('never stores it: manifests and backup files (every decompressed byte)', () => {
    const files = readdirSync(dir);
    expect(files.some((f) => f.endsWith('.jsonl.gz'))).toBe(true);
    for (const f of files) {
      const bytes = readFileSync(path.join(dir, f));
      const text = f.endsWith('.gz') ? zlib.gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
      expectClean(f, text);
      if (f.endsWith('.manifest.json')) expect(JSON.parse(text).database).toContain(':***@');
    }
  });

  it('never puts it in library errors, hints, details or JSON-lines logs', async () => {
    const lines: string[] = [];
    const ctx = resolveContext({ url: url.replace(dbName, `${dbName}_missing`), backupDir: dir, env: {}, reporter: jsonLinesReporter((l) => lines.push(l)) });
    const errors: GuardError[] = [];
    for (const attempt of [() => backup(ctx), () => restore(ctx, { backup: 'latest', yes: true })]) {
      try {
        await attempt();
      } catch (e) {
        errors.push(e as GuardError);
      }
    }
    const okCtx = resolveContext({ url, backupDir: dir, env: {}, reporter: jsonLinesReporter((l) => lines.push(l)) });
    await backup(okCtx, { reason: 'logged' });
    expect(errors.length).toBe(2);
    for (const e of errors) expectClean(`error ${e.code}`, JSON.stringify(e.toJSON()) + String(e.stack) + String((e.cause as Error | undefined)?.message ?? ''));
    expectClean('JSON-lines log', lines.join('\n'));
  });
});
