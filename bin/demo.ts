/**
 * `npm run demo`: the whole job on the embedded SQLite demo, with no set-up. Applies the demo
 * migrations with the real prisma CLI (offline), seeds the demo data once, takes a backup,
 * verifies it, and shows what was saved and what to try next.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { reportError, formatBytes } from './cli.ts';
import { consoleReporter } from '../lib/core/logger.ts';
import { GuardError } from '../lib/core/errors.ts';
import { connect } from '../lib/dialects/index.ts';
import { backup } from '../lib/ops/backup.ts';
import { resolveContext } from '../lib/ops/context.ts';
import { readLiveTables } from '../lib/ops/restore.ts';
import { verifyBackup } from '../lib/ops/verify.ts';
import { runPrisma } from '../lib/prisma/cli.ts';
import { seed } from '../prisma/seed.ts';

const DEMO_URL = 'file:./prisma/demo.db';

async function main(): Promise<number> {
  const url = process.env.DEMO_DATABASE_URL ?? DEMO_URL;
  const ctx = resolveContext({ url, reporter: consoleReporter(), env: process.env });
  const say = (s: string) => process.stdout.write(s + '\n');

  say(`1/4 Applying the demo migrations to ${ctx.target.display} (prisma migrate deploy)`);
  const migrate = await runPrisma(['migrate', 'deploy'], { cwd: ctx.projectDir, env: { DATABASE_URL: url }, onOutput: (chunk) => process.stdout.write('    ' + chunk.replace(/\n(?=.)/g, '\n    ')) });
  if (migrate.code !== 0) throw new GuardError('DATABASE_ERROR', `prisma migrate deploy failed with exit code ${migrate.code}.`, { hint: 'See the Prisma output above.' });

  const conn = await connect(ctx.target);
  const { counts } = await readLiveTables(conn);
  await conn.close();
  const existing = Object.entries(counts).filter(([t]) => t !== '_prisma_migrations').reduce((sum, [, n]) => sum + n, 0);
  if (existing === 0) {
    say('2/4 Seeding the demo data (unicode, huge numbers, old dates, binary, JSON...)');
    const summary = await seed(url);
    say(`    ${JSON.stringify(summary)}`);
  } else {
    say(`2/4 Demo data already present (${existing} rows): not seeding again`);
  }

  say(`3/4 Backing up into ${ctx.backupDir}`);
  const b = await backup(ctx, { reason: 'demo' });
  say(`    ${b.manifest.file}: ${b.manifest.rowsTotal} rows, ${formatBytes(b.manifest.sizeBytes)}, ${b.manifest.durationMs} ms`);

  say('4/4 Verifying the backup end to end');
  const v = await verifyBackup(ctx, b.manifest.file);
  if (!v.ok) throw new GuardError(v.error!.code, v.error!.message, { hint: v.error!.hint });
  say(`    OK: gzip stream, header schema, ${Object.keys(v.tables!).length} table checksums and the trailer all check out\n`);
  const width = Math.max(...Object.keys(v.tables!).map((t) => t.length));
  for (const [name, t] of Object.entries(v.tables!)) say(`    ${name.padEnd(width)}  ${String(t.rows).padStart(6)} rows  sha256 ${t.sha256.slice(0, 16)}…`);
  const rel = path.relative(process.cwd(), ctx.backupDir) || '.';
  say(`
Try next (the demo database is ${ctx.target.display}):
  export DATABASE_URL=${url}
  npm run db:check                                  # row counts and checksums of the live data
  npm run db:restore -- latest --dry-run            # what a restore would change
  npm run db:restore -- latest --yes                # restore (after a safety backup)
  npm run db:verify -- latest
  ls ${rel}`);
  if (!existsSync(ctx.backupDir)) return 1;
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => (process.exitCode = reportError(e, false)),
);
