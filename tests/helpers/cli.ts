import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const TSX = require.resolve('tsx/cli');
export const ROOT = path.resolve(import.meta.dirname, '../..');
/** The compiled CLI, exactly what the published package's bin runs (built by the vitest global setup). */
export const CLI_ENTRY = path.join(ROOT, 'dist/bin/prisma-guard.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the prisma-guard CLI (compiled, plain node, as installed) as a real process; a `script`
 * other than the default is a TypeScript entry point of this repo, run through tsx.
 * Asynchronous on purpose: a test worker blocked in spawnSync cannot answer vitest's own messages,
 * and vitest then fails the run with "Timeout calling onTaskUpdate" (vitest-dev/vitest#8164).
 */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, script = 'bin/prisma-guard.ts', cwd = ROOT): Promise<CliResult> {
  const argv = script === 'bin/prisma-guard.ts' ? [CLI_ENTRY, ...args] : [TSX, path.join(ROOT, script), ...args];
  return runNode(argv, { cwd, env: { CI: 'true', ...env } });
}

/** Runs `node <argv>` as a real process (asynchronously, see runCli) and collects its output; `env` is added to this process's. */
export function runNode(argv: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
