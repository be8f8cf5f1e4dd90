/**
 * Incremental backups (issue 15's target: at scale 1, a second backup of an unchanged database
 * writes <= 1% of the first's bytes), measured through the npm script a user runs on the same data
 * in one session: a self-contained backup (the anchor), the first incremental backup into an empty
 * folder, a second one of the unchanged database, and one after a single row of the largest table
 * changed (SQLite: on a copy of the source file; PostgreSQL: in a copy of the source database).
 * "bytes written" is what each backup added to the folder: its file and the sections it wrote.
 *
 *   npm run bench:incremental -- [--scale 1] [--dialects postgres,sqlite] [--work DIR] [--pg-admin URL]
 *
 * Results: bench/results/<time>-incremental.md.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { datasetCounts, totalRows } from './dataset.ts';
import { adminQuery, dbUrl, ensureBuilt, machine, pgAdmin, pgSource, sqliteSource, timed, type Measure } from './run.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Every file in `dir` with its size. */
function sizes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of readdirSync(dir)) out.set(n, statSync(path.join(dir, n)).size);
  return out;
}

interface Step {
  step: string;
  command: string;
  m: Measure;
  /** Bytes the step added to the folder (new files only). */
  written: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      dialects: { type: 'string', default: 'postgres,sqlite' },
      work: { type: 'string', default: path.join(os.tmpdir(), 'prisma-guard-bench-incremental') },
      'pg-admin': { type: 'string', default: process.env.PG_BENCH_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    },
  });
  const scale = Number(values.scale);
  const work = values.work!;
  const log = (s: string) => process.stderr.write(s + '\n');
  mkdirSync(work, { recursive: true });
  await ensureBuilt();
  const sections: string[] = [];
  for (const dialect of values.dialects!.split(',').map((d) => d.trim())) {
    let url: string;
    let changeOneRow: () => Promise<void>;
    if (dialect === 'postgres') {
      const admin = pgAdmin(values['pg-admin']!);
      const src = await pgSource(admin, scale, false, log);
      const copy = 'pg_guard_bench_incremental_src';
      await adminQuery(admin, `DROP DATABASE IF EXISTS "${copy}" WITH (FORCE)`);
      // A template must have no other connections (another benchmark may be reading it): retry a while.
      for (let attempt = 1; ; attempt++) {
        try {
          await adminQuery(admin, `CREATE DATABASE "${copy}" TEMPLATE "${src}"`);
          break;
        } catch (e) {
          if (attempt >= 60) throw e;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
      url = dbUrl(admin, copy);
      changeOneRow = async () => {
        const { default: pg } = await import('pg');
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`UPDATE "Comment" SET "body" = "body" || '!' WHERE id = (SELECT min(id) FROM "Comment")`);
        await c.end();
      };
    } else {
      const sqliteWork = path.join(work, 'sqlite');
      mkdirSync(sqliteWork, { recursive: true });
      const file = sqliteSource(sqliteWork, scale, false, log);
      const copy = path.join(sqliteWork, 'incremental-copy.db');
      copyFileSync(file, copy);
      url = `file:${copy}`;
      changeOneRow = async () => {
        const { default: Database } = await import('better-sqlite3');
        const db = new Database(copy);
        db.exec(`UPDATE "Comment" SET "body" = "body" || '!' WHERE id = (SELECT min(id) FROM "Comment")`);
        db.close();
      };
    }
    const plainDir = path.join(work, `${dialect}-self-contained`);
    const dir = path.join(work, `${dialect}-incremental`);
    rmSync(plainDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    const steps: Step[] = [];
    const backup = async (step: string, into: string, flag: string) => {
      mkdirSync(into, { recursive: true });
      const before = sizes(into);
      const args = ['--url', url, '--backup-dir', into, flag, '--json'];
      const m = await timed('npm', ['run', '--silent', 'db:backup', '--', ...args]);
      if (!m.ok) throw new Error(`${step} failed: ${m.error}`);
      let written = 0;
      for (const [n, size] of sizes(into)) if (!before.has(n)) written += size;
      steps.push({ step, command: `npm run db:backup -- --url ${url} --backup-dir ${into} ${flag}`, m, written });
      log(`  ${dialect} ${step.padEnd(44)} ${m.wallS.toFixed(2)} s wall, ${m.rssMb.toFixed(0)} MB rss, ${(written / 1e6).toFixed(3)} MB written`);
    };
    await backup('self-contained backup (anchor)', plainDir, '--self-contained');
    await backup('first incremental backup (empty folder)', dir, '--incremental');
    await backup('second incremental backup (unchanged)', dir, '--incremental');
    await changeOneRow();
    await backup('third incremental backup (one row changed)', dir, '--incremental');
    const anchor = steps[0];
    const first = steps[1];
    const rows = steps.map((s) => `| ${s.step} | ${s.m.wallS.toFixed(2)} | ${(s.m.wallS / anchor.m.wallS).toFixed(2)}x | ${s.m.rssMb.toFixed(0)} | ${(s.written / 1e6).toFixed(3)} | ${((100 * s.written) / first.written).toFixed(2)}% |`);
    const second = steps[2];
    sections.push(
      `## ${dialect}, scale ${scale} (${totalRows(datasetCounts(scale)).toLocaleString('en-GB')} rows)`,
      '',
      '| backup | wall s | vs self-contained | peak RSS MB | MB written | of the first incremental |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
      '',
      `Second backup of the unchanged database: ${((100 * second.written) / first.written).toFixed(2)}% of the first's bytes (target <= 1%): ${second.written <= first.written / 100 ? 'met' : 'MISSED'}.`,
      '',
      'Commands:',
      '',
      '```',
      ...steps.map((s) => s.command),
      '```',
      '',
    );
  }
  const md = [`# prisma-guard incremental backup benchmark ${new Date().toISOString()}`, '', '```', `npm run bench:incremental -- ${process.argv.slice(2).join(' ')}`, '```', '', `Machine: ${JSON.stringify(machine())}`, '', ...sections].join('\n');
  const out = path.join(ROOT, 'bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}-incremental.md`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, md);
  process.stdout.write(md + '\n');
}

await main();
