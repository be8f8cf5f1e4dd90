/**
 * The dashboard's listing under load: `GET /api/backups` with 1,000 backups in the folder, 20
 * concurrent clients (autocannon) on loopback, against the real server (`prisma-guard serve`, the
 * compiled CLI, in its own process). Target (issue 16): p95 <= 50 ms.
 *
 *   npx tsx bench/dashboard.ts [--backups 1000] [--connections 20] [--seconds 10]
 *
 * The folder: one real backup of a small SQLite database, copied to N backups with their own names,
 * times and manifests (each a valid manifest of its file), so the server reads N real manifests.
 * autocannon reports p90 and p97.5, not p95: p95 lies between them, so p97.5 <= 50 ms meets the target.
 * The first request (nothing cached: every manifest read and validated) is timed on its own.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { manifestFileName } from '../lib/format/naming.ts';
import { backup } from '../lib/ops/backup.ts';
import { resolveContext } from '../lib/ops/context.ts';
import { addToken } from '../lib/server/auth.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { backups: { type: 'string', default: '1000' }, connections: { type: 'string', default: '20' }, seconds: { type: 'string', default: '10' } } });
const N = Number(values.backups);
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);

const work = mkdtempSync(path.join(os.tmpdir(), 'prisma-guard-bench-dashboard-'));
const dbFile = path.join(work, 'app.db');
const backupDir = path.join(work, 'backups');
try {
  const db = new Database(dbFile);
  db.exec(`CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE tag (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES item(id), label TEXT);`);
  const ins = db.prepare('INSERT INTO item (name) VALUES (?)');
  for (let i = 0; i < 200; i++) ins.run(`item ${i}`);
  db.close();
  const ctx = resolveContext({ url: `file:${dbFile}`, backupDir, projectDir: ROOT, env: {} });
  const { manifest } = await backup(ctx, { reason: 'seed' });
  const start = Date.parse(manifest.createdAt);
  const src = path.join(backupDir, manifest.file);
  for (let i = 1; i < N; i++) {
    const at = new Date(start - i * 3_600_000);
    const file = `backup-${at.toISOString().replace(/[:.]/g, '-')}-${i % 2 ? 'scheduled-interval' : 'manual'}.jsonl.gz`;
    copyFileSync(src, path.join(backupDir, file));
    writeFileSync(path.join(backupDir, manifestFileName(file)), JSON.stringify({ ...manifest, file, createdAt: at.toISOString(), reason: i % 2 ? 'scheduled-interval' : 'manual', kind: i % 2 ? 'scheduled' : 'manual' }, null, 2) + '\n');
  }
  const { token } = await addToken(backupDir, 'bench', 'viewer', new Date());

  const server = spawn(process.execPath, [path.join(ROOT, 'dist/bin/prisma-guard.js'), 'serve', '--port', '0', '--backup-dir', backupDir, '--url', `file:${dbFile}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url: string = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('serve.listening'));
      if (line) resolve(JSON.parse(line).url);
    });
    server.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  const headers = { authorization: `Bearer ${token}` };
  try {
    const t0 = performance.now();
    const first = await fetch(`${url}/api/backups`, { headers });
    const body = (await first.json()) as { total: number };
    const coldMs = performance.now() - t0;
    if (body.total !== N) throw new Error(`expected ${N} backups, the server lists ${body.total}`);
    const rows: string[] = [];
    for (const route of ['/api/backups', '/api/backups?limit=1000']) {
      const r = await autocannon({ url: url + route, connections: CONNECTIONS, duration: SECONDS, headers });
      if (r.non2xx || r.errors) throw new Error(`${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
      rows.push(`| \`GET ${route}\` | ${CONNECTIONS} | ${r.requests.total} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p90} | ${r.latency.p97_5} | ${r.latency.p99} | ${r.latency.max} |`);
    }
    const rss = readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)?.[1];
    process.stdout.write(
      [
        `${N} backups in the folder; first request (nothing cached): ${coldMs.toFixed(0)} ms; server peak RSS ${rss ? Math.round(Number(rss) / 1024) : '?'} MB`,
        '',
        '| request | clients | requests | req/s | p50 ms | p90 ms | p97.5 ms | p99 ms | max ms |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
        ...rows,
        '',
      ].join('\n'),
    );
  } finally {
    server.kill('SIGTERM');
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
