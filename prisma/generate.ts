/**
 * Generates both demo Prisma clients offline (run from npm `postinstall`):
 *   prisma/schema.prisma           -> prisma/generated/sqlite
 *   prisma/postgres/schema.prisma  -> prisma/generated/postgres
 * Usage: tsx prisma/generate.ts
 */
import { fileURLToPath } from 'node:url';
import { runPrisma } from '../lib/prisma/cli.ts';
import { DEMO_SCHEMAS, PROJECT_ROOT } from './adapter.ts';

/**
 * `generate` never connects, but Prisma 6.19 still validates the schema's `url = env("DATABASE_URL")`,
 * so each schema gets a URL of its own provider's scheme (the user's DATABASE_URL may be for the other one).
 */
const VALIDATION_URL = {
  sqlite: 'file:./prisma/dev.db',
  postgres: 'postgresql://localhost:5432/prisma_guard_generate',
} as const;

/** Generates the client of each demo schema; returns the failures (empty when all went well). */
export async function generateDemoClients(onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void): Promise<string[]> {
  const failures: string[] = [];
  for (const dialect of ['sqlite', 'postgres'] as const) {
    const r = await runPrisma(['generate'], {
      cwd: PROJECT_ROOT,
      env: { PRISMA_GUARD_SCHEMA: DEMO_SCHEMAS[dialect], DATABASE_URL: VALIDATION_URL[dialect] },
      onOutput,
    });
    if (r.code !== 0) failures.push(`${DEMO_SCHEMAS[dialect]}: prisma generate exited with ${r.code}\n${r.stderr || r.stdout}`);
  }
  return failures;
}

// As a dependency of another project (inside its node_modules) there is no demo to generate.
const installedAsDependency = fileURLToPath(import.meta.url).split(/[\\/]/).includes('node_modules');
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && !installedAsDependency) {
  const failures = await generateDemoClients((chunk, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk));
  if (failures.length) {
    process.stderr.write(`\nGenerating the demo Prisma clients failed:\n${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
}
