/**
 * CLI hygiene, on the installed entry point (bin/prisma-guard.js, compiled when fresh):
 * - a backup folder open to group/others is a `status` WARNING naming the `chmod 700` to run, and
 *   `backup` warns (stderr; `warnings` in --json);
 * - extra positional arguments are a usage error (exit 2) on every command; `schedule junk` does
 *   not start a scheduler;
 * - a reader that goes away (EPIPE: `status | head -1`, `list --json | head -c 10`) ends the
 *   command quietly with its own exit code.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../lib/core/errors.ts';
import { ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';
import { cli } from '../reliability/helpers.ts';

const tmp = tempDir('prisma-guard-hygiene-');
const DB = path.join(tmp.dir, 'app.db');
// Free-space thresholds off: the disk of the test machine is not what these tests are about.
const ENV = { DATABASE_URL: `file:${DB}`, BACKUP_MIN_FREE_MB: '0' };

beforeAll(() => {
  const db = new Database(DB);
  db.exec(`CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO note (body) VALUES ('a'), ('b');`);
  db.close();
});
afterAll(() => tmp.remove());

/** Runs `prisma-guard <args> | <reader>` in bash; resolves with prisma-guard's own exit code and stderr. */
function piped(args: string[], reader: string, env: Record<string, string>): Promise<{ code: number; stderr: string; readerOut: string }> {
  return new Promise((resolve, reject) => {
    const script = `node "$0" "$@" 2>"$PG_STDERR" | ${reader}; exit "\${PIPESTATUS[0]}"`;
    const stderrFile = path.join(tmp.dir, `stderr-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const child = spawn('bash', ['-c', script, path.join(ROOT, 'bin/prisma-guard.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true', ...env, PG_STDERR: stderrFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let readerOut = '';
    child.stdout.on('data', (d: Buffer) => (readerOut += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr: fs.readFileSync(stderrFile, 'utf8'), readerOut }));
  });
}

describe('backup folder permissions', () => {
  it('an open folder is a status WARNING with the chmod to run; backup warns; chmod 700 clears it', async () => {
    const dir = path.join(tmp.dir, 'open backups');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755); // whatever the umask

    const human = await cli(['backup'], { ...ENV, BACKUP_DIR: dir });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(/^warning: The backup folder .*\(mode 0755: group r-x, others r-x\)/m);
    expect(human.stderr).toContain(`chmod 700 '${dir}'`);

    const json = await cli(['backup', '--json'], { ...ENV, BACKUP_DIR: dir });
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out.warnings).toHaveLength(1);
    expect(out.warnings[0]).toContain(`chmod 700 '${dir}'`);
    expect(json.stderr).toContain('warning: The backup folder');

    const status = await cli(['status', '--json'], { ...ENV, BACKUP_DIR: dir });
    expect(status.code).toBe(1);
    const report = JSON.parse(status.stdout);
    expect(report.health).toBe('WARNING');
    expect(report.reasons).toEqual([expect.objectContaining({ level: 'WARNING', code: 'backup-dir-open' })]);
    expect(report.reasons[0].message).toMatch(/group r-x, others r-x/);
    expect(report.reasons[0].message).toContain(`chmod 700 '${dir}'`);
    const words = await cli(['status'], { ...ENV, BACKUP_DIR: dir });
    expect(words.code).toBe(1);
    expect(words.stdout).toContain(`WARNING: The backup folder ${dir}`);

    // Writable by others only (no read): still open.
    fs.chmodSync(dir, 0o702);
    const w = JSON.parse((await cli(['status', '--json'], { ...ENV, BACKUP_DIR: dir })).stdout);
    expect(w.reasons.map((r: { code: string }) => r.code)).toEqual(['backup-dir-open']);
    expect(w.reasons[0].message).toMatch(/group ---, others -w-/);

    fs.chmodSync(dir, 0o700);
    const fixed = await cli(['status', '--json'], { ...ENV, BACKUP_DIR: dir });
    expect(fixed.code, fixed.stdout).toBe(0);
    expect(JSON.parse(fixed.stdout).reasons).toEqual([]);
    const quiet = await cli(['backup', '--json'], { ...ENV, BACKUP_DIR: dir });
    expect(JSON.parse(quiet.stdout).warnings).toEqual([]);
    expect(quiet.stderr).not.toContain('warning');
  });

  it('a folder the backup creates is private (0700) and not warned about', async () => {
    const dir = path.join(tmp.dir, 'fresh');
    const r = await cli(['backup', '--json'], { ...ENV, BACKUP_DIR: dir });
    expect(r.code).toBe(0);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(JSON.parse(r.stdout).warnings).toEqual([]);
  });
});

describe('extra positional arguments', () => {
  // Each command with one more positional than it takes (and what it needs before that).
  const cases: Record<string, string[]> = {
    restore: ['latest', 'junk'],
    verify: ['latest', 'junk'],
    diff: ['a', 'b', 'junk'],
    pin: ['latest', 'junk'],
    unpin: ['latest', 'junk'],
    copy: ['latest', 'junk'],
    notify: ['test', 'junk'],
    user: ['add', 'someone', 'junk'],
    token: ['add', 'someone', 'junk'],
  };

  it('are a usage error (exit 2) on every command, naming the extra argument', async () => {
    const dir = path.join(tmp.dir, 'positionals');
    // Every verb the CLI lists in its help, so a new command is covered without touching this test.
    const help = (await cli(['--help'], ENV)).stdout;
    const names = help.split('Commands:\n')[1].split('\n\n')[0].split('\n').map((l) => l.trim().split(/\s+/)[0]);
    expect(names).toEqual(expect.arrayContaining(['backup', 'restore', 'verify', 'list', 'diff', 'check', 'emergency-restore', 'migrate-safe', 'schedule', 'prune', 'status', 'pin', 'unpin']));
    const results = [];
    for (let i = 0; i < names.length; i += 4) {
      results.push(
        ...(await Promise.all(
          names.slice(i, i + 4).map(async (name) => ({ name, r: await cli([name, ...(cases[name] ?? ['junk']), '--json'], { ...ENV, BACKUP_DIR: dir }) })),
        )),
      );
    }
    for (const { name, r } of results) {
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(ExitCode.USAGE);
      const err = JSON.parse(r.stdout).error;
      expect(err.code).toBe('USAGE');
      expect(err.message, name).toContain('unexpected: "junk"');
      expect(err.hint, name).toMatch(new RegExp(`^Usage: .*(prisma-guard ${name} |check-users)`));
    }
    // Nothing ran: no scheduler log, no backup folder.
    expect(results.find((x) => x.name === 'schedule')!.r.stdout).not.toContain('scheduler.started');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('human output: schedule junk says so on stderr and starts nothing', async () => {
    const r = await cli(['schedule', 'junk'], { ...ENV, BACKUP_DIR: path.join(tmp.dir, 'sched') });
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/^error: schedule takes no arguments; unexpected: "junk"\./m);
    expect(r.stdout).toBe('');
  });

  it('the arguments a command takes are still accepted', async () => {
    const dir = path.join(tmp.dir, 'accepted');
    expect((await cli(['backup'], { ...ENV, BACKUP_DIR: dir })).code).toBe(0);
    expect((await cli(['verify', 'latest'], { ...ENV, BACKUP_DIR: dir })).code).toBe(0);
    expect((await cli(['pin', 'latest'], { ...ENV, BACKUP_DIR: dir })).code).toBe(0);
    expect((await cli(['diff', 'latest', '--live'], { ...ENV, BACKUP_DIR: dir })).code).toBe(0);
  });
});

describe('a reader that goes away (EPIPE)', () => {
  it('status | head -1 and status | true: quiet, with status’s own exit code', async () => {
    const dir = path.join(tmp.dir, 'epipe-status');
    const direct = await cli(['status'], { ...ENV, BACKUP_DIR: dir });
    expect(direct.code).toBe(2); // no backup: CRITICAL
    const head = await piped(['status'], 'head -1', { ...ENV, BACKUP_DIR: dir });
    expect(head.readerOut).toMatch(/^CRITICAL/);
    expect(head).toMatchObject({ code: 2, stderr: '' });
    // `true` exits before prisma-guard has started: every write meets a closed pipe.
    const closed = await piped(['status'], 'true', { ...ENV, BACKUP_DIR: dir });
    expect(closed).toMatchObject({ code: 2, stderr: '' });
  });

  it('list --json | head -c 10 on a listing far larger than a pipe buffer: quiet, exit 0', async () => {
    const dir = path.join(tmp.dir, 'epipe-list');
    fs.mkdirSync(dir, { mode: 0o700 });
    for (let i = 0; i < 1500; i++) {
      const s = String(Math.floor(i / 1000)).padStart(2, '0');
      fs.writeFileSync(path.join(dir, `backup-2020-01-01T00-00-${s}-${String(i % 1000).padStart(3, '0')}Z-manual.jsonl.gz`), '');
    }
    const full = await cli(['list', '--json'], { ...ENV, BACKUP_DIR: dir });
    expect(full.code).toBe(0);
    expect(full.stdout.length).toBeGreaterThan(4 * 65536);
    const head = await piped(['list', '--json'], 'head -c 10', { ...ENV, BACKUP_DIR: dir });
    expect(head.readerOut).toBe(full.stdout.slice(0, 10));
    expect(head).toMatchObject({ code: 0, stderr: '' });
    // An error's exit code survives a closed pipe too (a backup name that does not exist: 7).
    const missing = await piped(['verify', 'backup-1999-01-01T00-00-00-000Z-none.jsonl.gz', '--json'], 'true', { ...ENV, BACKUP_DIR: dir });
    expect(missing).toMatchObject({ code: ExitCode.NOT_FOUND, stderr: '' });
  });
});
