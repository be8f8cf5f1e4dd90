import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { seededRandom } from '../../lib/core/random.ts';
import { openBackup } from '../../lib/format/reader.ts';
import { compileValidators, precompiledValidatorsSource, type Check, type Validators } from '../../lib/format/validate.ts';
import { backup } from '../../lib/ops/backup.ts';
import { resolveContext } from '../../lib/ops/context.ts';
import { demoDatabase, tempDir, type FreshDatabase } from '../helpers/db.ts';

/** The validators exactly as dist/ loads them: the CommonJS that bin/build.mjs writes, evaluated. */
function precompiled(): Validators {
  const module = { exports: {} as Validators };
  new Function('module', 'exports', 'require', precompiledValidatorsSource())(module, module.exports, createRequire(import.meta.url));
  return module.exports;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A copy of `value` with one random change somewhere: a value replaced by another type, a key removed or added. */
function mutate(value: Json, random: () => number): Json {
  const copy = structuredClone(value);
  const replacements: Json[] = [null, true, 0, -1, 1.5, '', 'x', '2024-13-01T00:00:00Z', '2024-01-01T00:00:00Z', [], {}, [1], { a: 1 }];
  const pick = <T,>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  // Walk down a random path.
  let node: Json = copy;
  for (let depth = 0; depth < 8; depth++) {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : node && typeof node === 'object' ? Object.keys(node) : [];
    if (keys.length === 0) break;
    const key = pick<string | number>(keys);
    const child = (node as Record<string | number, Json>)[key];
    const last = random() < 0.3 || child === null || typeof child !== 'object';
    if (last) {
      const r = random();
      if (r < 0.2 && !Array.isArray(node)) delete (node as Record<string, Json>)[key];
      else if (r < 0.3 && !Array.isArray(node)) (node as Record<string, Json>)['unexpected'] = 1;
      else (node as Record<string | number, Json>)[key] = pick(replacements);
      return copy;
    }
    node = child;
  }
  return null;
}

function verdict(check: Check<unknown>, value: unknown): string {
  return check(value) ? 'ok' : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; ');
}

describe('the JSON Schema validators compiled ahead of time (dist/)', () => {
  let db: FreshDatabase;
  const dir = tempDir();
  let manifest: Json;
  let header: Json;

  beforeAll(async () => {
    db = await demoDatabase('sqlite', { seed: true });
    const result = await backup(resolveContext({ url: db.url, backupDir: dir.dir, env: {} }), { reason: 'validators' });
    manifest = JSON.parse(JSON.stringify(result.manifest));
    const opened = await openBackup(result.path);
    header = JSON.parse(JSON.stringify(opened.header));
    await opened.close();
  });
  afterAll(async () => {
    await db?.drop();
    dir.remove();
  });

  test('give the same verdict and the same errors as compiling the schemas, on 600 mutated manifests and headers', () => {
    const compiled = compileValidators();
    const ahead = precompiled();
    expect(verdict(ahead.checkManifest, manifest)).toBe('ok');
    expect(verdict(ahead.checkHeader, header)).toBe('ok');
    const random = seededRandom(11);
    let refused = 0;
    for (let n = 0; n < 300; n++) {
      const m = mutate(manifest, random);
      const h = mutate(header, random);
      const vm = verdict(compiled.checkManifest, m);
      const vh = verdict(compiled.checkHeader, h);
      expect(verdict(ahead.checkManifest, m)).toBe(vm);
      expect(verdict(ahead.checkHeader, h)).toBe(vh);
      if (vm !== 'ok') refused++;
      if (vh !== 'ok') refused++;
    }
    // The mutations must exercise the refusals, the date-time format included.
    expect(refused).toBeGreaterThan(300);
    const badDate = { ...(manifest as Record<string, Json>), createdAt: '2024-02-30T25:00:00Z' };
    expect(verdict(ahead.checkManifest, badDate)).toMatch(/createdAt must match format "date-time"/);
  });
});
