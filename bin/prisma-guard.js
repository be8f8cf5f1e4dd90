#!/usr/bin/env node
// Installed entry point. Runs the compiled JavaScript in dist/ (`node bin/build.mjs`) when it is
// up to date with the sources, otherwise the TypeScript through tsx (a runtime dependency), so the
// package also works with no build step. Compiled start-up is ~0.7 s faster and ~35 MB smaller:
// tsx transpiles every module on the fly in a second V8 isolate (the module hooks thread).
// PRISMA_GUARD_NO_DIST=1 forces the tsx path. (A smaller V8 nursery, --max-semi-space-size=4, was
// tried: restore peaked ~20 MB lower but backup ~35 MB higher and slower, so node runs with defaults.)
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isFresh } from './dist-stamp.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!process.env.PRISMA_GUARD_NO_DIST && isFresh(root)) {
  await import(pathToFileURL(path.join(root, 'dist', 'bin', 'prisma-guard.js')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./prisma-guard.ts');
}
