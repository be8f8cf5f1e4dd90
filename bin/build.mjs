#!/usr/bin/env node
// Compiles lib/ and bin/ to plain ESM JavaScript in dist/, with .d.ts for lib/ (the public API,
// lib/index.ts), so the published package runs without any TypeScript loader: about 0.7 s and
// 35 MB less per command than through tsx (see BENCHMARKS.md). tsc runs without a type check
// (`npm run typecheck` does that). The published package holds dist/ only; its bin is
// dist/bin/prisma-guard.js.
//
//   node bin/build.mjs            build (replaces dist/ atomically)
//   node bin/build.mjs --if-stale build only when dist/ was not built from the current sources
//
// `npm install` (prepare), `npm pack`, `npm test` (vitest globalSetup) and every npm script of this
// repo (through bin/prisma-guard.js) build when the sources changed, so nothing runs stale code.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildSources, isFresh, sourceHash } from './dist-stamp.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');

if (process.argv.includes('--if-stale') && isFresh(root)) process.exit(0);

const startedAt = Date.now();
const hash = sourceHash(root);
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
        declaration: true,
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
    process.stderr.write(`prisma-guard build: tsc failed (status ${r.status}).\n${r.stdout ?? ''}${r.stderr ?? ''}\n`);
    process.exit(1);
  }
  for (const f of emitted.filter((f) => f.endsWith('.d.ts'))) {
    // Only lib/ is public API; bin/ is the CLI.
    if (path.relative(tmp, f).startsWith(`bin${path.sep}`)) rmSync(f);
    // tsc keeps the source's `./x.ts` specifiers in declarations; consumers resolve `./x.js`.
    else writeFileSync(f, readFileSync(f, 'utf8').replace(/((?:from |import\()\s*['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2'));
  }
  // The CLI entry is started by npm's bin link: plain node, no loader.
  const entry = path.join(tmp, 'bin', 'prisma-guard.js');
  writeFileSync(entry, readFileSync(entry, 'utf8').replace(/^#![^\n]*\n/, '#!/usr/bin/env node\n'));
  // Files the code reads at run time beside itself: the JSON Schemas, and package.json for the
  // version (lib/ops/version.ts) and "type": "module".
  ['lib', 'bin'].forEach((dir) => copyJson(path.join(root, dir), path.join(tmp, dir)));
  // The dashboard's page: plain HTML, CSS and JavaScript served as they are (lib/server/page).
  cpSync(path.join(root, 'lib', 'server', 'page'), path.join(tmp, 'lib', 'server', 'page'), { recursive: true });
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ private: true, version: pkg.version, type: 'module' }, null, 2) + '\n');
  // The JSON Schema validators compiled ahead of time (ajv standalone): ~0.1 s less start-up per command.
  const validate = await import(pathToFileURL(path.join(tmp, 'lib', 'format', 'validate.js')).href);
  writeFileSync(path.join(tmp, 'lib', 'format', validate.PRECOMPILED_VALIDATORS), validate.precompiledValidatorsSource());
  writeFileSync(path.join(tmp, 'build-stamp.json'), JSON.stringify({ sourceHash: hash, sources: buildSources(root).length }, null, 1) + '\n');
  rmSync(config);
  rmSync(dist, { recursive: true, force: true });
  try {
    renameSync(tmp, dist);
  } catch (e) {
    // Another build (two npm scripts started at once) put its dist/ there first: fine if it is current.
    if (!isFresh(root)) throw e;
  }
  const js = emitted.filter((f) => f.endsWith('.js')).length;
  process.stderr.write(`prisma-guard build: ${js} files compiled to dist/ in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/** Copies every .json file under `from` to the same place under `to`. */
function copyJson(from, to) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    if (entry.isDirectory()) copyJson(src, path.join(to, entry.name));
    else if (entry.name.endsWith('.json') && statSync(src).isFile()) {
      mkdirSync(to, { recursive: true });
      cpSync(src, path.join(to, entry.name));
    }
  }
}
