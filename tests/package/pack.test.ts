/**
 * What `npm pack` puts in the published tarball: the compiled dist/ (JavaScript, .d.ts, the JSON
 * Schemas and precompiled validators) and nothing of the repo's development set-up: no TypeScript
 * sources, no demo Prisma project or database, no generated clients, tests, bench or BENCHMARKS.md.
 * And the package.json a user installs: bin and exports point at shipped files, no install scripts,
 * every module dist/ imports is shipped, built in, or declared as a dependency or peer.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { ROOT } from '../helpers/cli.ts';

interface PackEntry {
  path: string;
  size: number;
}

/** `npm pack --dry-run --json`: the file list the tarball would hold (scripts skipped: the global setup built dist/). */
function packList(): Promise<PackEntry[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`npm pack exited ${code}: ${err}`));
      resolve((JSON.parse(out) as { files: PackEntry[] }[])[0].files);
    });
  });
}

/** The lines that are not comments (comments say things like "from `now`" or show `from 'prisma-guard'`); tsc keeps one statement per line. */
const codeLines = (src: string) => src.split('\n').filter((l) => !/^\s*(\/\/|\/?\*)/.test(l)).join('\n');

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
let files: string[] = [];

beforeAll(async () => {
  files = (await packList()).map((f) => f.path).sort();
});

describe('the published tarball', () => {
  test('holds dist/ (JavaScript, declarations, schemas), package.json and the README, nothing else', () => {
    const outside = files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md'].includes(f));
    expect(outside).toEqual([]);
    for (const f of ['dist/bin/prisma-guard.js', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/package.json', 'dist/lib/format/schemas/manifest.schema.json', 'dist/lib/format/schemas/header.schema.json', 'dist/lib/format/schemas/validators.cjs', 'dist/lib/server/page/index.html', 'dist/lib/server/page/app.js', 'dist/lib/server/page/style.css']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /^(prisma|tests|bench)\/|(^|\/)generated\/|\.db$|BENCHMARKS\.md|ecosystem\.config|build-stamp|demo|check-users/.test(f))).toEqual([]);
    // Declarations for the public API only (lib/), not for the CLI's internals.
    expect(files.filter((f) => f.startsWith('dist/bin/') && f.endsWith('.d.ts'))).toEqual([]);
  });

  test('package.json: bin and exports point at shipped files; no install scripts; Prisma and the drivers are optional peers', () => {
    expect(pkg.bin).toEqual({ 'prisma-guard': 'dist/bin/prisma-guard.js' });
    expect(fs.readFileSync(path.join(ROOT, pkg.bin['prisma-guard']), 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
    const targets = [pkg.main, pkg.types, pkg.exports['.'].types, pkg.exports['.'].default].map((t: string) => t.replace(/^\.\//, ''));
    for (const t of targets) expect(files, t).toContain(t);
    expect(pkg.exports['./package.json']).toBe('./package.json');
    for (const s of ['preinstall', 'install', 'postinstall']) expect(pkg.scripts[s], s).toBeUndefined();
    for (const p of ['prisma', '@prisma/client', 'better-sqlite3', 'pg']) {
      expect(pkg.dependencies[p], p).toBeUndefined();
      expect(pkg.peerDependencies[p], p).toBeDefined();
      expect(pkg.peerDependenciesMeta[p], p).toEqual({ optional: true });
    }
    expect(pkg.peerDependencies.prisma).toBe('^6.0.0 || ^7.0.0');
    for (const dev of ['tsx', 'typescript', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', 'pg-cursor']) expect(pkg.dependencies[dev], dev).toBeUndefined();
  });

  test('every module dist/ imports is shipped, a Node built-in, or a declared dependency or peer', () => {
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]);
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    for (const f of files.filter((f) => /\.(js|cjs)$/.test(f))) {
      const src = codeLines(fs.readFileSync(path.join(ROOT, f), 'utf8'));
      for (const m of src.matchAll(/(?:^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*|^\s*import\s*|\bimport\(\s*|\brequire\(\s*)(["'`])([^"'`]+)\1/gm)) {
        const spec = m[2];
        if (spec.includes('${')) continue; // computed (the precompiled validators' path): covered by the file list test
        if (spec.startsWith('.')) {
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), spec));
          if (!files.includes(target)) problems.push(`${f}: ${spec} (not shipped)`);
          continue;
        }
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        const name = spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
        if (!declared.has(name)) problems.push(`${f}: ${spec} (not a dependency)`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('the declarations of the public API import no package: a TypeScript project needs no @types/pg, @types/better-sqlite3 or @types/luxon', () => {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      expect(files, `${f} (imported by a shipped declaration)`).toContain(f);
      const src = codeLines(fs.readFileSync(path.join(ROOT, f), 'utf8'));
      for (const m of src.matchAll(/(?:\bfrom\s*|\bimport\(\s*)(["'])([^"']+)\1/g)) {
        const spec = m[2];
        if (spec.startsWith('.')) visit(path.posix.normalize(path.posix.join(path.posix.dirname(f), spec.replace(/\.js$/, '.d.ts'))));
        else if (!spec.startsWith('node:')) bare.add(spec);
      }
    };
    visit('dist/lib/index.d.ts');
    expect(seen.size).toBeGreaterThan(10);
    expect([...bare]).toEqual([]);
  });
});
