/**
 * In a development checkout the npm scripts run `node bin/prisma-guard.js`, the compiled dist/:
 * after a source edit it rebuilds dist/ first (decided by a content hash, not file times), and
 * when nothing changed it starts dist/ without rebuilding. Checked on a copy of the sources (this
 * checkout's dist/ is shared with the other test files).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ROOT, runNode } from '../helpers/cli.ts';
import { tempDir } from '../helpers/db.ts';

const tmp = tempDir('prisma-guard-dev-build-');
afterAll(() => tmp.remove());

function node(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runNode(args, { cwd });
}

describe('bin/prisma-guard.js in a checkout', () => {
  test('rebuilds dist/ after a source edit, and only then; file times alone change nothing', async () => {
    const repo = path.join(tmp.dir, 'repo');
    for (const f of ['lib', 'bin', 'package.json', 'tsconfig.json']) fs.cpSync(path.join(ROOT, f), path.join(repo, f), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(repo, 'node_modules'));

    const first = await node(repo, ['bin/prisma-guard.js', '--help']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/prisma-guard build: \d+ files compiled/);
    const stamp = path.join(repo, 'dist/build-stamp.json');
    const builtAt = fs.statSync(stamp).mtimeMs;

    // Touching every source (as a checkout or an extraction does) is not a change.
    const later = new Date(Date.now() + 60_000);
    for (const f of ['lib/core/errors.ts', 'bin/cli.ts', 'package.json']) fs.utimesSync(path.join(repo, f), later, later);
    const again = await node(repo, ['bin/prisma-guard.js', '--help']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(fs.statSync(stamp).mtimeMs).toBe(builtAt);

    // An edit is: the next run rebuilds and runs the new code.
    const cli = path.join(repo, 'bin/prisma-guard.ts');
    fs.writeFileSync(cli, fs.readFileSync(cli, 'utf8').replace("'prisma-guard: backups, verified restores", "'prisma-guard (edited): backups, verified restores"));
    const edited = await node(repo, ['bin/prisma-guard.js', '--help']);
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.stderr).toMatch(/prisma-guard build: \d+ files compiled/);
    expect(edited.stdout).toContain('prisma-guard (edited): backups');
    expect(fs.readFileSync(path.join(repo, 'dist/bin/prisma-guard.js'), 'utf8')).toContain('prisma-guard (edited)');
    expect((await node(repo, ['bin/build.mjs', '--if-stale'])).stderr).toBe('');
  }, 300_000); // two builds of ~5 s each; far longer when the machine is loaded
});
