import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const TSX = require.resolve('tsx/cli');
export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entry point of this repo (default the prisma-guard CLI) as a real process. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, script = 'bin/prisma-guard.ts'): CliResult {
  const r = spawnSync(process.execPath, [TSX, path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
