/**
 * The package as a user installs it: `npm pack`, install the tarball alone into a fresh project
 * (its optional peers, Prisma and the drivers, are the project's own and not installed), then
 * measure the installed size and the start-up of the installed bin.
 *
 *   npm run bench:package -- [--runs 10] [--work DIR]
 *
 * Prints (and writes bench/results/package-<time>.json): tarball size and file count, the size of
 * node_modules (prisma-guard and its own dependencies: everything a project adds by installing it),
 * and `prisma-guard --help` through node_modules/.bin (what npm scripts and npx run) and through
 * `npx prisma-guard --help`: median wall time and peak RSS of `runs` runs under /usr/bin/time, beside
 * `node -e 0` as the floor of the machine at that moment.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, work: { type: 'string' } } });
const runs = Number(values.runs);
const work = values.work ?? mkdtempSync(path.join(os.tmpdir(), 'prisma-guard-bench-package-'));
const app = path.join(work, 'app');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function duBytes(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.blocks * 512;
  return st.blocks * 512 + readdirSync(p).reduce((s, n) => s + duBytes(path.join(p, n)), 0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Median wall seconds, CPU seconds (user + sys; on a loaded machine wall time grows with the wait
 * for a core, CPU time hardly) and peak RSS (MB) of `runs` runs of cmd in the project.
 */
function timeIt(cmd: string, args: string[]): { wallS: number; cpuS: number; rssMb: number; command: string } {
  const walls: number[] = [];
  const cpus: number[] = [];
  const rss: number[] = [];
  const tfile = path.join(work, 'time.txt');
  for (let i = 0; i < runs + 1; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', tfile, cmd, ...args], { cwd: app, env, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    const [wall, user, sys, kb] = readFileSync(tfile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    if (i === 0) continue; // warm-up: file cache
    walls.push(wall);
    cpus.push(user + sys);
    rss.push(kb / 1024);
  }
  return { wallS: median(walls), cpuS: median(cpus), rssMb: median(rss), command: [cmd.startsWith(app) ? path.relative(app, cmd) : cmd === process.execPath ? 'node' : cmd, ...args].join(' ') };
}

sh(process.execPath, [path.join(ROOT, 'bin/build.mjs'), '--if-stale'], ROOT);
mkdirSync(app, { recursive: true });
const packed = JSON.parse(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT))[0] as { filename: string; size: number; unpackedSize: number; entryCount: number };
writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true }));
const started = Date.now();
sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, packed.filename)], app);
const installS = (Date.now() - started) / 1000;
const modules = readdirSync(path.join(app, 'node_modules')).filter((n) => !n.startsWith('.')).flatMap((n) => (n.startsWith('@') ? readdirSync(path.join(app, 'node_modules', n)).map((m) => `${n}/${m}`) : [n]));
const result = {
  at: new Date().toISOString(),
  node: process.version,
  tarball: { file: packed.filename, bytes: packed.size, unpackedBytes: packed.unpackedSize, files: packed.entryCount },
  installSeconds: installS,
  nodeModules: { bytes: duBytes(path.join(app, 'node_modules')), packages: modules.sort() },
  help: {
    bin: timeIt(path.join(app, 'node_modules/.bin/prisma-guard'), ['--help']),
    npx: timeIt('npx', ['--no', 'prisma-guard', '--help']),
    // The floor on this machine right now: a node process that does nothing.
    bareNode: timeIt(process.execPath, ['-e', '0']),
  },
  loadavg: os.loadavg().map((x) => +x.toFixed(2)),
};
mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
const out = path.join(ROOT, 'bench/results', `package-${result.at.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(result, null, 2));
process.stdout.write(
  [
    `tarball ${packed.filename}: ${(packed.size / 1e6).toFixed(2)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${packed.entryCount} files`,
    `installed node_modules (prisma-guard + its own dependencies, no Prisma, no driver): ${(result.nodeModules.bytes / 1e6).toFixed(1)} MB, ${modules.length} packages: ${modules.join(', ')}`,
    `install (npm install --prefer-offline <tarball>): ${installS.toFixed(1)} s`,
    `${result.help.bin.command}: ${result.help.bin.wallS.toFixed(3)} s wall, ${result.help.bin.cpuS.toFixed(3)} s CPU, ${result.help.bin.rssMb.toFixed(0)} MB peak RSS (median of ${runs})`,
    `${result.help.npx.command}: ${result.help.npx.wallS.toFixed(3)} s wall, ${result.help.npx.cpuS.toFixed(3)} s CPU, ${result.help.npx.rssMb.toFixed(0)} MB peak RSS (median of ${runs})`,
    `node -e 0 (the floor): ${result.help.bareNode.wallS.toFixed(3)} s wall, ${result.help.bareNode.cpuS.toFixed(3)} s CPU, ${result.help.bareNode.rssMb.toFixed(0)} MB; load average ${result.loadavg.join(' ')}`,
    `results: ${path.relative(ROOT, out)}`,
  ].join('\n') + '\n',
);
if (!values.work) rmSync(work, { recursive: true, force: true });
