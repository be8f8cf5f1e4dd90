/**
 * Running the project's own Prisma CLI (whatever version it has installed, 6 or 7) as a child
 * process, with one offline accommodation: Prisma insists on native engine files before any
 * command, and downloads them when missing. Where the download host is unreachable (offline
 * machines, locked-down CI) and the engines were never installed, we point Prisma's documented
 * override variables at placeholder files. With the JS schema engine + driver adapters (Prisma
 * 6.19 `engine: 'js'`, Prisma 7 client) validate/generate/migrate deploy/migrate status never
 * execute them. Commands that truly need the native schema engine then fail with the placeholder's
 * own explanation instead of a DNS error.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { GuardError } from '../core/errors.ts';
import { redactSecrets } from '../core/url.ts';

/** Prisma's override variables, and the engine each one replaces. */
export const ENGINE_OVERRIDE_VARS = {
  schemaEngine: 'PRISMA_SCHEMA_ENGINE_BINARY',
  queryEngineLibrary: 'PRISMA_QUERY_ENGINE_LIBRARY',
} as const;

export interface RunPrismaOptions {
  /** Project directory: the prisma package is resolved from here and the CLI runs here. Default: process.cwd(). */
  cwd?: string;
  /** Variables layered over process.env; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Called with each chunk of output as it arrives (e.g. to stream it to the terminal). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

export interface PrismaRunResult {
  /** Exit code (a signal-terminated process reports 128 + signal number, as shells do). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Paths of the project's Prisma CLI and of the engines folder it downloads into. */
export interface PrismaInstall {
  /** `node_modules/prisma/build/index.js` as resolved from the project. */
  cliPath: string;
  /** The `node_modules` folder holding the prisma package. */
  nodeModules: string;
  /** Version of the installed prisma package. */
  version: string;
}

/**
 * Finds the project's own Prisma CLI by Node resolution from `cwd` (so a monorepo's hoisted
 * node_modules works too). Throws GuardError PRISMA_NOT_INSTALLED when absent.
 */
export function resolvePrismaInstall(cwd: string = process.cwd()): PrismaInstall {
  const req = createRequire(path.join(path.resolve(cwd), 'package.json'));
  let pkgJson: string;
  try {
    pkgJson = req.resolve('prisma/package.json');
  } catch (cause) {
    throw new GuardError('PRISMA_NOT_INSTALLED', `The Prisma CLI (the "prisma" package) is not installed in ${cwd} or its parents.`, {
      hint: 'Install it in your project: npm install --save-dev prisma',
      cause,
    });
  }
  const pkgDir = path.dirname(pkgJson);
  const version = String((JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version?: string }).version ?? 'unknown');
  const cliPath = path.join(pkgDir, 'build', 'index.js');
  if (!fs.existsSync(cliPath)) {
    throw new GuardError('PRISMA_NOT_INSTALLED', `The prisma package at ${pkgDir} has no build/index.js (version ${version}).`, {
      hint: 'Reinstall it: npm install --save-dev prisma',
    });
  }
  // Scoped packages (@scope/prisma) never apply here: prisma is unscoped, so its parent is node_modules.
  return { cliPath, nodeModules: path.dirname(pkgDir), version };
}

/** Prefixes of the native engine file names Prisma downloads (schema-engine-<target>, libquery_engine-<target>.so.node). */
const ENGINE_FILE_PREFIX = {
  schemaEngine: ['schema-engine-', 'migration-engine-'],
  queryEngineLibrary: ['libquery_engine-', 'query_engine-'],
} as const;

/**
 * Which native engines are installed beside the project's Prisma (in @prisma/engines, where the
 * CLI keeps them, or next to the CLI build as older versions did).
 */
export function installedNativeEngines(install: PrismaInstall): { schemaEngine: boolean; queryEngineLibrary: boolean } {
  const dirs = [path.join(install.nodeModules, '@prisma', 'engines'), path.dirname(install.cliPath)];
  const names = dirs.flatMap((d) => {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  });
  const has = (prefixes: readonly string[]) =>
    names.some((n) => prefixes.some((p) => n.startsWith(p)) && !n.endsWith('.sha256') && !n.endsWith('.gz'));
  return { schemaEngine: has(ENGINE_FILE_PREFIX.schemaEngine), queryEngineLibrary: has(ENGINE_FILE_PREFIX.queryEngineLibrary) };
}

const PLACEHOLDER_SCHEMA_ENGINE = `#!/bin/sh
# prisma-guard offline placeholder for Prisma's native schema engine (see lib/prisma/cli.ts).
# Prisma needs an engine file to exist before every command; with the JS schema engine
# (prisma.config.ts engine: 'js') most commands never run it. This one was needed anyway.
echo "prisma-guard: this Prisma command needs the native schema engine, which is not installed (it could not be downloaded)." >&2
echo "Install it with network access (npm install prisma, or npx prisma --version), or set PRISMA_SCHEMA_ENGINE_BINARY to a real engine." >&2
exit 1
`;

const PLACEHOLDER_QUERY_ENGINE = `// prisma-guard offline placeholder for Prisma's native query engine library (see lib/prisma/cli.ts).
// Clients generated with engineType = "client" (driver adapters) never load it.
throw new Error('prisma-guard: the native Prisma query engine library is not installed; use engineType = "client" with a driver adapter, or install the engines with network access.');
`;

/**
 * The engine override variables runPrisma would add for this project: one per native engine that
 * is absent AND whose variable is not already set in `env`. Creates the placeholder files (under
 * node_modules/.cache/prisma-guard/engines/) when it returns them. Empty on a normal online install.
 */
export function offlineEngineEnv(cwd: string, env: Record<string, string | undefined> = process.env): Record<string, string> {
  const install = resolvePrismaInstall(cwd);
  const present = installedNativeEngines(install);
  const out: Record<string, string> = {};
  const dir = path.join(install.nodeModules, '.cache', 'prisma-guard', 'engines');
  const ensure = (name: string, content: string, mode: number) => {
    const file = path.join(dir, name);
    if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== content) {
      fs.mkdirSync(dir, { recursive: true });
      // Write then rename: concurrent runs (parallel tests) never see a half-written file.
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      fs.writeFileSync(tmp, content, { mode });
      fs.renameSync(tmp, file);
    }
    return file;
  };
  if (!present.schemaEngine && !env[ENGINE_OVERRIDE_VARS.schemaEngine] && !env.PRISMA_MIGRATION_ENGINE_BINARY) {
    out[ENGINE_OVERRIDE_VARS.schemaEngine] = ensure('schema-engine-placeholder', PLACEHOLDER_SCHEMA_ENGINE, 0o755);
  }
  if (!present.queryEngineLibrary && !env[ENGINE_OVERRIDE_VARS.queryEngineLibrary]) {
    out[ENGINE_OVERRIDE_VARS.queryEngineLibrary] = ensure('libquery-engine-placeholder.js', PLACEHOLDER_QUERY_ENGINE, 0o644);
  }
  return out;
}

/**
 * Runs the project's Prisma CLI (`node node_modules/prisma/build/index.js ...args`) in `cwd` and
 * collects its output. Never throws for a non-zero exit: callers decide from `code`. Throws
 * GuardError PRISMA_NOT_INSTALLED when the project has no prisma package.
 *
 * Environment: process.env, then `opts.env`, then (only when the native engines are absent and
 * the variables unset) the placeholder engine overrides of offlineEngineEnv. Prisma's update
 * check and telemetry are turned off unless the caller set those variables.
 */
export function runPrisma(args: string[], opts: RunPrismaOptions = {}): Promise<PrismaRunResult> {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const install = resolvePrismaInstall(cwd);
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  Object.assign(env, offlineEngineEnv(cwd, env));
  // No network round-trips for version checks: they stall for seconds where the network is closed.
  env.CHECKPOINT_DISABLE ??= '1';
  env.PRISMA_HIDE_UPDATE_MESSAGE ??= '1';

  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [install.cliPath, ...args], {
      cwd,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      opts.onOutput?.(chunk, 'stdout');
    });
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      opts.onOutput?.(chunk, 'stderr');
    });
    child.on('error', (cause) =>
      reject(
        new GuardError('PRISMA_CLI_FAILED', `Could not start the Prisma CLI (${install.cliPath}): ${redactSecrets(cause.message)}`, {
          hint: 'Check that node_modules is intact (npm install).',
          cause,
        }),
      ),
    );
    child.on('close', (code, signal) => {
      const signalCode = signal ? 128 + (signalNumbers[signal] ?? 0) : 1;
      resolve({ code: code ?? signalCode, stdout, stderr });
    });
  });
}

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Why a Prisma command failed and what to do, for the failures we recognise in its output. */
export interface PrismaFailureExplanation {
  why: string;
  hint: string;
}

/**
 * Recognises the Prisma CLI/engine failures that happen before any migration runs, from the
 * command's (redacted) output; null when the output matches none of them.
 */
export function describePrismaFailure(output: string, version: string): PrismaFailureExplanation | null {
  const major = Number.parseInt(version, 10);
  if (output.includes('prisma-guard: this Prisma command needs the native schema engine') || /Could not parse schema engine response/i.test(output)) {
    return {
      why: `Prisma ${version} needs its native schema engine for this command, and the engine is not installed here (it could not be downloaded)`,
      hint:
        `Install the engine where Prisma can download it (run \`npx prisma --version\` or \`npm install prisma\` with access to binaries.prisma.sh), or set ${ENGINE_OVERRIDE_VARS.schemaEngine} to a schema engine binary for this platform` +
        (major >= 7 ? '.' : `; or use Prisma ${major}'s JS schema engine with a driver adapter (prisma.config.ts: engine: 'js').`),
    };
  }
  if (/Column type 'name' could not be deserialized/i.test(output)) {
    return {
      why: "the PostgreSQL driver adapter in prisma.config.ts cannot read the catalog columns of type `name` (oid 19) that Prisma's JS schema engine queries (prisma/prisma#27403)",
      hint: 'Give the adapter a pg client that reports `name` columns as text (oid 25), as prisma-guard\'s demo does in prisma/adapter.ts, or use the native schema engine.',
    };
  }
  if (/\bP1001\b|Can't reach database server/i.test(output)) {
    return { why: 'Prisma could not reach the database server', hint: 'Check that the URL Prisma gets (DATABASE_URL, or the datasource in prisma.config.ts) points at the same database.' };
  }
  return null;
}
