/**
 * The project's Prisma CLI, runnable offline: `tsx prisma/prisma-offline.ts <prisma args...>`
 * (e.g. `tsx prisma/prisma-offline.ts migrate deploy`). Same as `npx prisma ...` except that,
 * when the native engines are absent, Prisma's engine override variables point at placeholder
 * files (see lib/prisma/cli.ts). Output is streamed as it comes; the exit code is Prisma's.
 */
import { runPrisma } from '../lib/prisma/cli.ts';
import { isGuardError } from '../lib/core/errors.ts';

try {
  const { code } = await runPrisma(process.argv.slice(2), {
    onOutput: (chunk, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk),
  });
  process.exitCode = code;
} catch (e) {
  if (!isGuardError(e)) throw e;
  process.stderr.write(`${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
  process.exitCode = e.exitCode;
}
