#!/usr/bin/env node
// Compiles lib/ and bin/ to plain JavaScript in dist/ (tsc, no type check: `npm run typecheck` does
// that), so the installed CLI starts without transpiling TypeScript on the fly: about 0.7 s and
// 35 MB less per command than through tsx (see BENCHMARKS.md). bin/prisma-guard.js uses dist/ only
// while every source file listed in dist/build-stamp.json is older than the build, and falls back to
// tsx otherwise, so an edited checkout never runs stale code.
//
//   node bin/build.mjs            build (replaces dist/ atomically)
//   node bin/build.mjs --if-stale build only when dist/ is missing or older than a source
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isFresh } from './dist-stamp.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');

if (process.argv.includes('--if-stale') && isFresh(root)) process.exit(0);

const startedAt = Date.now();
const tmp = path.join(root, `dist.tmp-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
try {
  const config = path.join(tmp, 'tsconfig.build.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: '../tsconfig.json',
      compilerOptions: {
        noEmit: false,
        outDir: '.',
        rootDir: '..',
        rewriteRelativeImportExtensions: true,
        noCheck: true,
        sourceMap: false,
        declaration: false,
        listEmittedFiles: true,
        typeRoots: ['../node_modules/@types'],
      },
      include: ['../lib', '../bin'],
      exclude: ['../bin/demo.ts'],
    }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', config], { cwd: root, encoding: 'utf8' });
  const emitted = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('TSFILE: ')).map((l) => l.slice(8).trim());
  if (r.status !== 0 || emitted.length === 0) {
    process.stderr.write(`prisma-guard build: tsc failed (status ${r.status}); the CLI keeps running through tsx.\n${r.stdout ?? ''}${r.stderr ?? ''}\n`);
    process.exit(1);
  }
  // Files the code reads at run time beside itself: JSON Schemas, and package.json (version, "type": "module").
  const copied = ['lib', 'bin'].flatMap((dir) => copyJson(path.join(root, dir), path.join(tmp, dir)));
  cpSync(path.join(root, 'package.json'), path.join(tmp, 'package.json'));
  // The JSON Schema validators compiled ahead of time (ajv standalone): ~0.1 s less start-up per command.
  const validate = await import(pathToFileURL(path.join(tmp, 'lib', 'format', 'validate.js')).href);
  writeFileSync(path.join(tmp, 'lib', 'format', validate.PRECOMPILED_VALIDATORS), validate.precompiledValidatorsSource());
  const sources = emitted
    .map((f) => path.relative(tmp, f).replace(/\.js$/, '.ts'))
    .filter((f) => existsSync(path.join(root, f)));
  // The copied JSON (the schemas the validators are compiled from) counts as a source too.
  sources.push(...copied.map((f) => path.relative(root, f)), 'package.json');
  writeFileSync(path.join(tmp, 'build-stamp.json'), JSON.stringify({ builtAtMs: startedAt, sources }, null, 1));
  rmSync(config);
  rmSync(dist, { recursive: true, force: true });
  renameSync(tmp, dist);
  process.stderr.write(`prisma-guard build: ${sources.length - 1 - copied.length} files compiled to dist/ in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/** Copies every .json file under `from` to the same place under `to`; returns the source paths. */
function copyJson(from, to) {
  const copied = [];
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    if (entry.isDirectory()) copied.push(...copyJson(src, path.join(to, entry.name)));
    else if (entry.name.endsWith('.json') && statSync(src).isFile()) {
      mkdirSync(to, { recursive: true });
      cpSync(src, path.join(to, entry.name));
      copied.push(src);
    }
  }
  return copied;
}
