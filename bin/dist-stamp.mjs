// Whether dist/ (written by bin/build.mjs) was built from exactly the sources in this checkout.
// Development only: it is not part of the published package, whose bin runs dist/ unconditionally
// (npm gives installed files their extraction time, so no installed copy can judge freshness from
// file times, and it has no sources to compare with anyway). Plain JavaScript: it runs before
// anything can be transpiled.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What the build reads: every file under lib/ and bin/ (but the demo), package.json, tsconfig.json. */
export function buildSources(root) {
  const out = [];
  const walk = (rel) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const f = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) walk(f);
      else if (entry.isFile() && /\.(ts|mjs|js|json|html|css)$/.test(entry.name) && f !== 'bin/demo.ts') out.push(f);
    }
  };
  walk('lib');
  walk('bin');
  out.push('package.json', 'tsconfig.json');
  return out.sort();
}

/**
 * SHA-256 over the names and contents of the build's sources (~80 files, a few ms). Content, not
 * modification times: a checkout, `git stash` or a copy changes times without changing code.
 */
export function sourceHash(root) {
  const h = createHash('sha256');
  for (const f of buildSources(root)) h.update(`${f}\0`).update(readFileSync(path.join(root, f))).update('\0');
  return h.digest('hex');
}

/** True when dist/build-stamp.json records the hash of the current sources. */
export function isFresh(root) {
  try {
    const stamp = JSON.parse(readFileSync(path.join(root, 'dist', 'build-stamp.json'), 'utf8'));
    return stamp.sourceHash === sourceHash(root);
  } catch {
    return false;
  }
}
