import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { GuardError, messageOf } from '../core/errors.ts';

/** The npm scripts `prisma-guard init` adds, and the CLI command each runs. */
export const INIT_SCRIPTS: Readonly<Record<string, string>> = Object.freeze({
  'db:backup': 'prisma-guard backup',
  'db:restore': 'prisma-guard restore',
  'db:verify': 'prisma-guard verify',
  'db:list': 'prisma-guard list',
  'db:diff': 'prisma-guard diff',
  'db:check': 'prisma-guard check',
  'db:migrate-safe': 'prisma-guard migrate-safe',
  'db:backup-schedule': 'prisma-guard schedule',
  'db:status': 'prisma-guard status',
  'db:prune': 'prisma-guard prune',
  'db:emergency-restore': 'prisma-guard emergency-restore',
  'db:drill': 'prisma-guard drill',
  'db:dashboard': 'prisma-guard serve',
});

export const ECOSYSTEM_FILE = 'ecosystem.config.cjs';
/** The .gitignore line for the backup folder. */
export const BACKUPS_IGNORE = 'backups/';

/**
 * The PM2 process file for a user's project. Everything is relative to the file itself: the
 * process runs in the project root (so backups land in its ./backups and its .env is read), and
 * the CLI is the prisma-guard installed in the project's node_modules, found the way Node finds it
 * (workspaces hoist it to a parent folder), run by plain node: PM2's signals reach the scheduler.
 */
export const ECOSYSTEM_SOURCE = `/**
 * PM2 process file for the prisma-guard backup scheduler and dashboard (written by \`prisma-guard init\`).
 *
 *   pm2 start ecosystem.config.cjs      # start (or: npm run db:backup-schedule without PM2)
 *   pm2 logs backup-scheduler           # one JSON object per line
 *   pm2 save && pm2 startup             # start again after a reboot
 *
 * Settings come from the environment of \`pm2 start\` and from .env in this folder: DATABASE_URL,
 * BACKUP_DIR (default ./backups here), BACKUP_SCHEDULE_*, BACKUP_KEEP_*. Variables put in \`env\`
 * below would override the shell's, so only fixed values belong there.
 */
const path = require('node:path');

// The prisma-guard installed in this project (node_modules here or in a parent folder).
let pkg;
try {
  pkg = require.resolve('prisma-guard/package.json', { paths: [__dirname] });
} catch {
  throw new Error(\`prisma-guard is not installed in \${__dirname}: run npm install prisma-guard there, then pm2 start ecosystem.config.cjs again.\`);
}
const cli = path.join(path.dirname(pkg), require(pkg).bin['prisma-guard']);

// One PM2 app per long-running command, each run the same way.
const app = (name, args) => ({
  name,
  script: cli,
  args,
  interpreter: 'node',
  // The project root: backups go to ./backups, .env is read from here.
  cwd: __dirname,
  exec_mode: 'fork',
  instances: 1,
  autorestart: true,
  // A crash loop (database down at start) backs off instead of restarting every 100 ms.
  exp_backoff_restart_delay: 1000,
  // pm2 stop sends SIGINT, then SIGKILL after kill_timeout. The scheduler aborts the running
  // backup, removes its temporary file and closes its connections well within this.
  kill_timeout: 20000,
  // Both write one JSON object per line; no PM2 prefix keeps the log files pure JSON.
  merge_logs: true,
  env: {
    NODE_ENV: 'production',
  },
});

module.exports = {
  apps: [
    // Scheduled backups (prisma-guard schedule).
    app('backup-scheduler', 'schedule'),
    // The dashboard (prisma-guard serve): the page and REST API on 127.0.0.1:7300, nobody in
    // without a user (prisma-guard user add NAME --role admin) or an API token.
    app('backup-dashboard', 'serve'),
  ],
};
`;

export type FileAction = 'create' | 'update' | 'unchanged' | 'conflict';

export interface InitPlan {
  projectDir: string;
  scripts: {
    /** Scripts that will be (or were) added. */
    add: Record<string, string>;
    /** Scripts already there with prisma-guard's command. */
    unchanged: string[];
    /** Scripts already there with another command: left alone. */
    conflicts: { name: string; existing: string; wanted: string }[];
  };
  files: { path: string; action: FileAction; why?: string }[];
  /** Things to fix that init does not do itself (prisma-guard not installed in the project). */
  warnings: string[];
}

interface FileChange {
  file: string;
  content?: string;
}

/** The package.json text with `add` appended to its scripts, keeping its indentation and newline. */
export function packageJsonWithScripts(text: string, add: Record<string, string>): string {
  const pkg = JSON.parse(text) as { scripts?: Record<string, string> };
  pkg.scripts = { ...(pkg.scripts ?? {}), ...add };
  const indent = /^[ \t]+(?=")/m.exec(text)?.[0] ?? '  ';
  return JSON.stringify(pkg, null, indent) + (text.endsWith('\n') ? '\n' : '');
}

/** Whether Node finds a prisma-guard package from `projectDir`, as the scripts and the ecosystem file will. */
function installedIn(projectDir: string): boolean {
  try {
    createRequire(path.join(projectDir, 'package.json')).resolve('prisma-guard/package.json');
    return true;
  } catch {
    return false;
  }
}

/** Whether a .gitignore already ignores the top-level backups folder. */
export function ignoresBackups(gitignore: string): boolean {
  return gitignore.split(/\r?\n/).some((l) => /^\/?backups(\/(\*\*?)?)?$/.test(l.trim()));
}

/**
 * What `prisma-guard init` would change in `projectDir`, and the new file contents. Reads only.
 * @throws GuardError USAGE when there is no readable package.json
 */
export function planInit(projectDir: string): { plan: InitPlan; changes: FileChange[] } {
  const pkgFile = path.join(projectDir, 'package.json');
  let pkgText: string;
  let pkg: { scripts?: Record<string, unknown> };
  try {
    pkgText = readFileSync(pkgFile, 'utf8');
    pkg = JSON.parse(pkgText);
  } catch (e) {
    throw new GuardError('USAGE', `prisma-guard init needs the package.json of your project in ${projectDir}, and it cannot be read: ${messageOf(e)}.`, {
      hint: 'Run it in your project root (where package.json is), or create one with `npm init -y`.',
    });
  }
  const existing = pkg.scripts && typeof pkg.scripts === 'object' ? pkg.scripts : {};
  const plan: InitPlan = { projectDir, scripts: { add: {}, unchanged: [], conflicts: [] }, files: [], warnings: [] };
  if (!installedIn(projectDir)) {
    plan.warnings.push('prisma-guard is not installed in this project (npx ran a temporary copy): the scripts and ecosystem.config.cjs use the installed one. Run: npm install prisma-guard');
  }
  for (const [name, wanted] of Object.entries(INIT_SCRIPTS)) {
    const have = existing[name];
    if (have === undefined) plan.scripts.add[name] = wanted;
    else if (have === wanted) plan.scripts.unchanged.push(name);
    else plan.scripts.conflicts.push({ name, existing: String(have), wanted });
  }
  const changes: FileChange[] = [];
  const added = Object.keys(plan.scripts.add).length;
  plan.files.push({ path: 'package.json', action: added ? 'update' : 'unchanged' });
  if (added) changes.push({ file: pkgFile, content: packageJsonWithScripts(pkgText, plan.scripts.add) });

  const eco = path.join(projectDir, ECOSYSTEM_FILE);
  if (!existsSync(eco)) {
    plan.files.push({ path: ECOSYSTEM_FILE, action: 'create' });
    changes.push({ file: eco, content: ECOSYSTEM_SOURCE });
  } else if (readFileSync(eco, 'utf8') === ECOSYSTEM_SOURCE) {
    plan.files.push({ path: ECOSYSTEM_FILE, action: 'unchanged' });
  } else {
    plan.files.push({ path: ECOSYSTEM_FILE, action: 'conflict', why: 'it exists with other content; left alone (remove it and run init again for prisma-guard\'s)' });
  }

  const ignore = path.join(projectDir, '.gitignore');
  const ignoreText = existsSync(ignore) ? readFileSync(ignore, 'utf8') : null;
  if (ignoreText !== null && ignoresBackups(ignoreText)) {
    plan.files.push({ path: '.gitignore', action: 'unchanged' });
  } else {
    plan.files.push({ path: '.gitignore', action: ignoreText === null ? 'create' : 'update' });
    const before = ignoreText ?? '';
    changes.push({ file: ignore, content: `${before}${before && !before.endsWith('\n') ? '\n' : ''}${BACKUPS_IGNORE}\n` });
  }
  return { plan, changes };
}

/**
 * Sets up prisma-guard in a project: adds the `db:*` npm scripts (never replacing a script of the
 * same name), writes ecosystem.config.cjs for PM2, and adds `backups/` to .gitignore. Running it
 * again changes nothing. With `dryRun`, only reports what it would do.
 */
export function initProject(projectDir: string, options: { dryRun?: boolean } = {}): InitPlan {
  const { plan, changes } = planInit(path.resolve(projectDir));
  if (!options.dryRun) {
    for (const c of changes) {
      try {
        writeFileSync(c.file, c.content!);
      } catch (e) {
        throw new GuardError('WRITE_FAILED', `prisma-guard init could not write ${c.file}: ${messageOf(e)}.`, { hint: 'Check the permissions of your project folder.', cause: e });
      }
    }
  }
  return plan;
}
