import { defineConfig } from 'vitest/config';

// Tests talk to real SQLite files and a real PostgreSQL server; each test file makes and drops its
// own database, so files may run in parallel (two at a time on the 2-core reference machine).
// The CLI the tests start is the compiled dist/, built first by the global setup when a source changed.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/helpers/build-dist.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
