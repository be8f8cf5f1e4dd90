#!/usr/bin/env node
// This repository's entry point for the CLI (the npm scripts, the tests, the bench): the same
// compiled dist/bin/prisma-guard.js that the published package's bin runs, rebuilt first when the
// sources changed (a content hash, ~5 ms), so a development checkout never runs stale code and
// never needs a TypeScript loader. Not published: the package's bin is dist/bin/prisma-guard.js.
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { isFresh } from './dist-stamp.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!isFresh(root)) {
  const built = spawnSync(process.execPath, [path.join(root, 'bin', 'build.mjs'), '--if-stale'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (built.status !== 0) {
    process.stderr.write('error: the sources changed and `npm run build` failed (above), so dist/ is out of date.\nhint: fix the build error, then run `npm run build`.\n');
    process.exit(1);
  }
}
await import(pathToFileURL(path.join(root, 'dist', 'bin', 'prisma-guard.js')).href);
