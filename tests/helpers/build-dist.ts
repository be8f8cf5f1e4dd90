/**
 * vitest globalSetup: builds dist/ (bin/build.mjs --if-stale) once before any test file runs, so the
 * tests run the same compiled CLI a user installs, never code older than the sources.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function buildDist(): void {
  const root = path.resolve(import.meta.dirname, '../..');
  const r = spawnSync(process.execPath, [path.join(root, 'bin/build.mjs'), '--if-stale'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`bin/build.mjs failed (exit ${r.status}): the tests would run a stale dist/.`);
}
