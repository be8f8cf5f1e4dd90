/**
 * `prisma-guard init` in a project folder: adds the db:* scripts without touching others (a script
 * of the same name with another command is left alone and reported), writes ecosystem.config.cjs
 * that runs the project's installed CLI in the project root, adds backups/ to .gitignore; a second
 * run changes nothing; --dry-run writes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ECOSYSTEM_SOURCE, INIT_SCRIPTS, ignoresBackups, packageJsonWithScripts } from '../../lib/ops/init.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const init = (dir: string, ...args: string[]) => runCli(['init', ...args], {}, undefined, dir);

/** Every file of a folder with its bytes, to prove a run changed nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

const tmp = tempDir('prisma-guard-init-');
afterAll(() => tmp.remove());

function project(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(tmp.dir, 'app-'));
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

describe('prisma-guard init', () => {
  test('adds the scripts, keeps other scripts and formatting, leaves a different db:backup alone; twice changes nothing', async () => {
    const pkg = '{\n    "name": "app",\n    "scripts": {\n        "dev": "next dev",\n        "db:backup": "./my-backup.sh"\n    },\n    "dependencies": {}\n}\n';
    const dir = project({ 'package.json': pkg, '.gitignore': 'node_modules\n.env' });

    const dry = await init(dir, '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout);
    expect(planned.dryRun).toBe(true);
    expect(Object.keys(planned.scripts.add)).toHaveLength(Object.keys(INIT_SCRIPTS).length - 1);
    expect(snapshot(dir)).toEqual({ '.gitignore': 'node_modules\n.env', 'package.json': pkg });

    const first = await init(dir);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/left alone +script db:backup: "\.\/my-backup\.sh" \(prisma-guard's would be "prisma-guard backup"\)/);
    expect(first.stdout).toMatch(/added script +db:restore: prisma-guard restore/);
    // Nothing installed here (as after `npx prisma-guard init` before `npm install prisma-guard`).
    expect(first.stdout).toContain('warning: prisma-guard is not installed in this project');
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    expect(written.scripts).toEqual({ dev: 'next dev', 'db:backup': './my-backup.sh', ...Object.fromEntries(Object.entries(INIT_SCRIPTS).filter(([k]) => k !== 'db:backup')) });
    expect(written.dependencies).toEqual({});
    const text = fs.readFileSync(path.join(dir, 'package.json'), 'utf8');
    expect(text).toMatch(/^\{\n {4}"name": "app",\n {4}"scripts": \{\n {8}"dev"/);
    expect(text.endsWith('}\n')).toBe(true);
    expect(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8')).toBe('node_modules\n.env\nbackups/\n');
    expect(fs.readFileSync(path.join(dir, 'ecosystem.config.cjs'), 'utf8')).toBe(ECOSYSTEM_SOURCE);

    const after = snapshot(dir);
    const second = await init(dir, '--json');
    expect(second.code, second.stderr).toBe(0);
    const again = JSON.parse(second.stdout);
    expect(again.scripts.add).toEqual({});
    expect(again.scripts.conflicts).toEqual([{ name: 'db:backup', existing: './my-backup.sh', wanted: 'prisma-guard backup' }]);
    expect(again.files.map((f: { action: string }) => f.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(snapshot(dir)).toEqual(after);
  });

  test('a project with no scripts and no .gitignore; an existing different ecosystem file is left alone', async () => {
    const dir = project({ 'package.json': '{"name":"app"}', 'ecosystem.config.cjs': 'module.exports = { apps: [] };\n' });
    const r = await init(dir, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.files).toEqual([
      { path: 'package.json', action: 'update' },
      { path: 'ecosystem.config.cjs', action: 'conflict', why: expect.stringContaining('left alone') },
      { path: '.gitignore', action: 'create' },
    ]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).scripts).toEqual(INIT_SCRIPTS);
    expect(fs.readFileSync(path.join(dir, 'ecosystem.config.cjs'), 'utf8')).toBe('module.exports = { apps: [] };\n');
    expect(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8')).toBe('backups/\n');
  });

  test('the ecosystem file runs the CLI installed in the project, in the project root', async () => {
    // A project whose node_modules holds a package named prisma-guard with a bin, as npm lays it out.
    const dir = project({ 'package.json': '{"name":"app"}' });
    const installed = path.join(dir, 'node_modules', 'prisma-guard');
    fs.mkdirSync(path.join(installed, 'dist', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(installed, 'package.json'), JSON.stringify({ name: 'prisma-guard', bin: { 'prisma-guard': 'dist/bin/prisma-guard.js' }, exports: { './package.json': './package.json' } }));
    const r = await init(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('warning');
    const { createRequire } = await import('node:module');
    const app = createRequire(path.join(dir, 'x.js'))(path.join(dir, 'ecosystem.config.cjs')).apps[0];
    expect(app).toMatchObject({ name: 'backup-scheduler', args: 'schedule', interpreter: 'node', cwd: dir, kill_timeout: 20000, merge_logs: true });
    expect(app.script).toBe(path.join(fs.realpathSync(installed), 'dist', 'bin', 'prisma-guard.js'));
    const dashboard = createRequire(path.join(dir, 'x.js'))(path.join(dir, 'ecosystem.config.cjs')).apps[1];
    expect(dashboard).toMatchObject({ name: 'backup-dashboard', args: 'serve', interpreter: 'node', cwd: dir, script: app.script });
    // Without the package, PM2 gets an error that says what to do (not "Cannot find module").
    fs.rmSync(path.join(dir, 'node_modules'), { recursive: true });
    const again = createRequire(path.join(dir, 'y.js'));
    delete again.cache[path.join(dir, 'ecosystem.config.cjs')];
    expect(() => again(path.join(dir, 'ecosystem.config.cjs'))).toThrow(/prisma-guard is not installed in .*: run npm install prisma-guard there/);
  });

  test('no package.json: exit 2 with a hint, nothing written', async () => {
    const dir = project({});
    const r = await init(dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs the package\.json of your project/);
    expect(r.stderr).toMatch(/hint: Run it in your project root/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('helpers: .gitignore forms that already ignore backups; package.json without a trailing newline keeps none', () => {
    for (const line of ['backups', 'backups/', '/backups/', 'backups/*', '/backups/**']) expect(ignoresBackups(`x\n${line}\n`), line).toBe(true);
    for (const line of ['backups.txt', 'src/backups/', '#backups/']) expect(ignoresBackups(`${line}\n`), line).toBe(false);
    expect(packageJsonWithScripts('{"a":1}', { s: 'x' })).toBe('{\n  "a": 1,\n  "scripts": {\n    "s": "x"\n  }\n}');
  });
});
