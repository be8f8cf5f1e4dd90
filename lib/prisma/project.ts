/**
 * Locating a Prisma project's schema and migrations folder, and fingerprinting the schema.
 *
 * What is supported (in this order; the first that names a schema wins):
 *  1. `prisma.config.{ts,mts,cts,js,mjs,cjs}` in the project root (also `.config/prisma.*`).
 *     It is loaded with the project's own Prisma config loader (`@prisma/config`
 *     `loadConfigFromFile`, as the Prisma CLI does), so computed paths and environment-dependent
 *     choices resolve exactly as for the CLI, with the current process.env. When that loader is
 *     unavailable or fails, string literals `schema: '...'` and `migrations: { path: '...' }` are
 *     read from the file's text instead.
 *  2. package.json `"prisma": { "schema": "..." }` (Prisma's older convention).
 *  3. Prisma's default locations: `schema.prisma`, `prisma/schema.prisma`, then a multi-file
 *     schema folder `prisma/schema/`.
 * The migrations folder is the config's `migrations.path`, else `migrations` beside the schema
 * file (inside the folder for a multi-file schema). Relative paths resolve from the config file's
 * folder (1) or the package.json folder (2).
 * Not supported: `--schema` given only on a script's command line, schemas outside the project.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { messageOf } from '../core/errors.ts';

export interface PrismaProject {
  /** The project root: the nearest folder at or above `cwd` holding a package.json (else `cwd`). */
  root: string;
  /** Absolute path of the schema file (or multi-file schema folder); null when none was found. */
  schemaPath: string | null;
  /** Absolute path of the migrations folder (it may not exist yet); null when there is no schema. */
  migrationsDir: string | null;
  /** The prisma.config file used, if any. */
  configPath: string | null;
  /** Where the schema location came from. */
  source: 'prisma.config' | 'package.json' | 'default' | 'none';
  /** Why a config file could not be evaluated (its text was read instead), if that happened. */
  configWarning?: string;
}

const CONFIG_NAMES = ['prisma.config.ts', 'prisma.config.mts', 'prisma.config.cts', 'prisma.config.js', 'prisma.config.mjs', 'prisma.config.cjs'];

function findRoot(cwd: string): string {
  let dir = path.resolve(cwd);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(cwd);
    dir = up;
  }
}

function findConfigFile(root: string): string | null {
  for (const base of [root, path.join(root, '.config')]) {
    for (const name of CONFIG_NAMES) {
      const candidate = base === root ? path.join(base, name) : path.join(base, name.replace(/^prisma\.config/, 'prisma'));
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return null;
}

interface ConfigPaths {
  schema?: string;
  migrations?: string;
}

/** Evaluates the config with the project's @prisma/config (the Prisma CLI's own loader). */
async function evaluateConfig(root: string, configFile: string): Promise<ConfigPaths> {
  const fromProject = createRequire(path.join(root, 'package.json'));
  let loaderPath: string;
  try {
    loaderPath = fromProject.resolve('@prisma/config');
  } catch {
    // npm may nest @prisma/config under prisma/node_modules.
    const prismaPkg = fromProject.resolve('prisma/package.json');
    loaderPath = createRequire(prismaPkg).resolve('@prisma/config');
  }
  const mod = (await import(pathToFileURL(loaderPath).href)) as {
    loadConfigFromFile?: (input: { configFile?: string; configRoot?: string }) => Promise<{
      config?: { schema?: string; migrations?: { path?: string } };
      error?: unknown;
    }>;
  };
  if (typeof mod.loadConfigFromFile !== 'function') throw new Error('this @prisma/config has no loadConfigFromFile');
  const r = await mod.loadConfigFromFile({ configFile, configRoot: root });
  if (r.error || !r.config) throw new Error(`Prisma could not load it: ${JSON.stringify(r.error)}`);
  const dir = path.dirname(configFile);
  return {
    schema: r.config.schema ? path.resolve(dir, r.config.schema) : undefined,
    migrations: r.config.migrations?.path ? path.resolve(dir, r.config.migrations.path) : undefined,
  };
}

/** Reads `schema: '...'` and `migrations: { path: '...' }` string literals from the config's text. */
function scanConfigText(configFile: string): ConfigPaths {
  const text = fs.readFileSync(configFile, 'utf8');
  const dir = path.dirname(configFile);
  const schema = /\bschema\s*:\s*(['"`])([^'"`$]+)\1/.exec(text)?.[2];
  const migrations = /\bmigrations\s*:\s*\{[^}]*?\bpath\s*:\s*(['"`])([^'"`$]+)\1/s.exec(text)?.[2];
  return {
    schema: schema ? path.resolve(dir, schema) : undefined,
    migrations: migrations ? path.resolve(dir, migrations) : undefined,
  };
}

function defaultMigrationsDir(schemaPath: string): string {
  const isDir = fs.existsSync(schemaPath) && fs.statSync(schemaPath).isDirectory();
  return path.join(isDir ? schemaPath : path.dirname(schemaPath), 'migrations');
}

/** Finds the Prisma schema and migrations folder of the project containing `cwd` (see the module comment). */
export async function findPrismaProject(cwd: string = process.cwd(), options: { evaluateConfig?: boolean } = {}): Promise<PrismaProject> {
  const root = findRoot(cwd);
  const configPath = findConfigFile(root);
  let configWarning: string | undefined;
  if (configPath) {
    let paths: ConfigPaths;
    if (options.evaluateConfig === false) {
      // Cheap mode (a backup's informational schema hash): evaluating the config loads Prisma and
      // costs about 1.5 s; its text gives literal paths.
      paths = scanConfigText(configPath);
    } else {
      try {
        paths = await evaluateConfig(root, configPath);
      } catch (e) {
        configWarning = `Could not evaluate ${path.basename(configPath)} (${messageOf(e)}); read its text instead.`;
        paths = scanConfigText(configPath);
      }
    }
    if (paths.schema) return fromConfig(root, configPath, paths.schema, paths, configWarning);
  }
  return fromDefaults(root, configPath, configWarning);
}

/**
 * findPrismaProject without evaluating the config (its text is read, as `evaluateConfig: false`),
 * synchronously: for settings read while a context is built (the datasource's schemas).
 */
export function findPrismaProjectSync(cwd: string = process.cwd()): PrismaProject {
  const root = findRoot(cwd);
  const configPath = findConfigFile(root);
  if (configPath) {
    const paths = scanConfigText(configPath);
    if (paths.schema) return fromConfig(root, configPath, paths.schema, paths);
  }
  return fromDefaults(root, configPath);
}

function fromConfig(root: string, configPath: string, schemaPath: string, paths: ConfigPaths, configWarning?: string): PrismaProject {
  return { root, schemaPath, migrationsDir: paths.migrations ?? defaultMigrationsDir(schemaPath), configPath, source: 'prisma.config', configWarning };
}

/** package.json's `prisma.schema`, then Prisma's default locations. */
function fromDefaults(root: string, configPath: string | null, configWarning?: string): PrismaProject {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { prisma?: { schema?: unknown } };
    if (typeof pkg.prisma?.schema === 'string') {
      const schemaPath = path.resolve(root, pkg.prisma.schema);
      return { root, schemaPath, migrationsDir: defaultMigrationsDir(schemaPath), configPath, source: 'package.json', configWarning };
    }
  } catch {
    // No or unreadable package.json: fall through to the default locations.
  }
  for (const rel of ['schema.prisma', path.join('prisma', 'schema.prisma'), path.join('prisma', 'schema')]) {
    const candidate = path.join(root, rel);
    if (fs.existsSync(candidate)) {
      return { root, schemaPath: candidate, migrationsDir: defaultMigrationsDir(candidate), configPath, source: 'default', configWarning };
    }
  }
  return { root, schemaPath: null, migrationsDir: null, configPath, source: 'none', configWarning };
}

/**
 * The `schemas = ["a", "b"]` list of the datasource block of a Prisma schema (multiSchema), or null
 * when the schema has none (or there is no schema). `schemaPath` is a file or a multi-file schema
 * folder (every .prisma file in it is read; the datasource is in one of them).
 */
export function datasourceSchemas(schemaPath: string | null): string[] | null {
  if (!schemaPath) return null;
  let files: string[];
  try {
    files = fs.statSync(schemaPath).isDirectory() ? schemaFolderFiles(schemaPath) : [schemaPath];
  } catch {
    return null;
  }
  for (const file of files) {
    const text = stripPrismaComments(fs.readFileSync(file, 'utf8'));
    const block = /\bdatasource\s+\w+\s*\{([^}]*)\}/.exec(text)?.[1];
    if (block === undefined) continue;
    const list = /(?:^|\n)\s*schemas\s*=\s*\[([^\]]*)\]/.exec(block)?.[1];
    if (list === undefined) return null;
    const names = [...list.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1'));
    return names.length ? names : null;
  }
  return null;
}

/** The schema text without `//` comments (outside strings), so a commented-out line is not read. */
function stripPrismaComments(text: string): string {
  return text.replace(/"(?:[^"\\\n]|\\.)*"|\/\/[^\n]*/g, (m) => (m.startsWith('/') ? '' : m));
}

/** Every .prisma file under a multi-file schema folder, sorted by relative path (the migrations folder excluded). */
function schemaFolderFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'migrations' && e.name !== 'node_modules') walk(p);
      } else if (e.name.endsWith('.prisma')) out.push(p);
    }
  };
  walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * sha256 hex of the project's Prisma schema, or null when there is none. `schemaPath` (absolute or
 * relative to `projectDir`) defaults to what findPrismaProject finds. A single file hashes its
 * exact bytes (so it equals `sha256sum schema.prisma`); a multi-file schema folder hashes, for each
 * .prisma file in path order, its relative path, a NUL, its length and its bytes.
 */
export async function schemaHash(projectDir: string, schemaPath?: string, options: { evaluateConfig?: boolean } = {}): Promise<string | null> {
  const target = schemaPath ? path.resolve(projectDir, schemaPath) : (await findPrismaProject(projectDir, options)).schemaPath;
  if (!target) return null;
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const hash = createHash('sha256');
  if (!stat.isDirectory()) return hash.update(await fs.promises.readFile(target)).digest('hex');
  for (const file of schemaFolderFiles(target)) {
    const bytes = await fs.promises.readFile(file);
    hash.update(path.relative(target, file).split(path.sep).join('/'));
    hash.update('\0');
    hash.update(String(bytes.length));
    hash.update('\0');
    hash.update(bytes);
  }
  return hash.digest('hex');
}
