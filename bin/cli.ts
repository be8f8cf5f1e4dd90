import type { ContextInput } from '../lib/ops/context.ts';
import { createInterface } from 'node:readline/promises';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, parseEnv, type ParseArgsConfig } from 'node:util';
import { ExitCode, GuardError, isGuardError, messageOf } from '../lib/core/errors.ts';
import { consoleReporter, jsonLinesReporter, silentReporter, type Reporter } from '../lib/core/logger.ts';
import { redactSecrets, toRedactedJson } from '../lib/core/url.ts';
import { resolveContext, type OpsContext } from '../lib/ops/context.ts';
import type { StorageBackend } from '../lib/storage/contract.ts';

/** What a command gets: parsed options, output helpers and a context factory. */
export interface CommandIO {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
  /** Prints human text (stdout), unless --json. */
  print(text: string): void;
  /** Prints the JSON result (stdout) when --json. */
  printJson(value: unknown): void;
  reporter: Reporter;
  /** Context from --url / --backup-dir / env (and `overrides`). */
  context(overrides?: Pick<ContextInput, 'datasourceSchemas'>): OpsContext;
  /** Asks yes/no on a TTY; false when not interactive. */
  confirm(question: string): Promise<boolean>;
  interactive: boolean;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** How many positional arguments the command accepts at most (default 0); more is a usage error. */
  positionals?: number;
  run(io: CommandIO): Promise<number>;
  /** The command handles SIGINT/SIGTERM itself (the scheduler stops gracefully); see stopOnSignals. */
  ownsSignals?: boolean;
}

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  url: { type: 'string' },
  'backup-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

function toJson(value: unknown): string {
  return toRedactedJson(value, 2);
}

let brokenPipeQuiet = false;

/**
 * A reader that goes away (`prisma-guard status | head -1`) makes every later write fail with
 * EPIPE, an 'error' event that would crash the process with a stack trace. Output nobody reads is
 * dropped instead, and the command finishes and exits with its own code.
 */
export function quietOnBrokenPipe(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  if (brokenPipeQuiet) return;
  brokenPipeQuiet = true;
  for (const stream of streams) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
}

/** A usage error when `cmd` got more positional arguments than it declares. */
function checkPositionals(cmd: Command, positionals: string[]): void {
  const max = cmd.positionals ?? 0;
  if (positionals.length <= max) return;
  const extra = positionals.slice(max).map((p) => JSON.stringify(p)).join(' ');
  const takes = max === 0 ? 'takes no arguments' : `takes at most ${max} argument${max === 1 ? '' : 's'}`;
  throw new GuardError('USAGE', `${cmd.name} ${takes}; unexpected: ${extra}.`, { hint: `Usage: ${cmd.usage}` });
}

/**
 * The environment with `.env` of the current folder underneath it, as Prisma reads it: variables
 * already set win, `.env` only fills the gaps (most Prisma projects keep DATABASE_URL there).
 */
/**
 * A `--location`/`--from` value as a storage backend: `offsite` (or `remote`) means BACKUP_COPY_TO,
 * anything else is a location (`s3://bucket/prefix`, a folder). Undefined when none was given.
 */
export function locationOption(ctx: OpsContext, given: string | undefined, flag = '--location'): StorageBackend | undefined {
  const text = given?.trim();
  if (!text) return undefined;
  if (text !== 'offsite' && text !== 'remote') return ctx.openLocation!(text);
  if (!ctx.copyTo) throw new GuardError('USAGE', `${flag} ${text} needs BACKUP_COPY_TO.`, { hint: 'Set BACKUP_COPY_TO=s3://bucket/prefix, or pass the location itself.' });
  return ctx.copyTo;
}

export function withDotEnv(env: NodeJS.ProcessEnv, dir: string = process.cwd()): NodeJS.ProcessEnv {
  const file = path.join(dir, '.env');
  if (!existsSync(file)) return env;
  try {
    return { ...parseEnv(readFileSync(file, 'utf8')), ...env };
  } catch {
    return env;
  }
}

const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * SIGINT and SIGTERM end a command at once, with 128 + the signal number (130, 143) as shells
 * report it, after saying so on stderr (or as the --json error). Ending at once is the clean stop:
 * every temporary file the command was writing is removed on exit (lib/format/writer.ts), a
 * PostgreSQL session closed with the process rolls back its transaction and releases the advisory
 * lock on the spot, and SQLite rolls back an uncommitted transaction from its journal/WAL; a
 * restore that had not committed leaves the database as it was, one that had is complete. Waiting
 * instead for the operation to notice would give a restore the time to commit after the signal.
 * Returns the function that removes the handlers.
 */
function stopOnSignals(cmd: Command, json: () => boolean): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    const code = SIGNAL_EXIT[signal] ?? 1;
    reportError(
      new GuardError('INTERRUPTED', `prisma-guard ${cmd.name} was stopped by ${signal}. Nothing it had not finished is kept: temporary files are removed, an uncommitted restore is rolled back, the lock is released.`, {
        exitCode: code,
        hint: 'Run the command again when you are ready; `prisma-guard list` shows the backups that exist.',
      }),
      json(),
    );
    process.exit(code);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** Runs one command with argv; returns the exit code. The only place that maps errors to codes. */
export async function runCommand(cmd: Command, argv: string[], env: NodeJS.ProcessEnv = withDotEnv(process.env)): Promise<number> {
  let json = argv.includes('--json');
  quietOnBrokenPipe();
  const releaseSignals = cmd.ownsSignals ? () => {} : stopOnSignals(cmd, () => json);
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new GuardError('USAGE', messageOf(e), { hint: `Usage: ${cmd.usage}` });
    }
    const values = parsed.values as CommandIO['values'];
    if (values.help) {
      process.stdout.write(`${cmd.summary}\n\nUsage: ${cmd.usage}\n`);
      return ExitCode.OK;
    }
    json = Boolean(values.json);
    checkPositionals(cmd, parsed.positionals);
    const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !env.CI;
    const reporter = json ? silentReporter : consoleReporter();
    const io: CommandIO = {
      values,
      positionals: parsed.positionals,
      json,
      interactive,
      reporter,
      print: (text) => {
        if (!json) process.stdout.write(redactSecrets(text) + '\n');
      },
      printJson: (value) => {
        if (json) process.stdout.write(toJson(value) + '\n');
      },
      context: (overrides) => resolveContext({ url: values.url as string | undefined, backupDir: values['backup-dir'] as string | undefined, schemas: listOption(values.schemas), reporter, env, ...overrides }),
      confirm: async (question) => {
        if (!interactive) return false;
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          const answer = await rl.question(`${question} [y/N] `);
          return /^y(es)?$/i.test(answer.trim());
        } finally {
          rl.close();
        }
      },
    };
    return await cmd.run(io);
  } catch (e) {
    return reportError(e, json);
  } finally {
    releaseSignals();
  }
}

/** Prints an error (what, why, what to do) and returns its exit code. */
export function reportError(e: unknown, json: boolean): number {
  const err = isGuardError(e)
    ? e
    : new GuardError('INTERNAL', `Unexpected error: ${messageOf(e)}`, { cause: e, hint: 'This is a bug in prisma-guard; please report it with the command you ran.' });
  if (json) {
    process.stdout.write(toJson({ ok: false, error: err.toJSON() }) + '\n');
  } else {
    process.stderr.write(redactSecrets(`error: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`));
    if (err.code === 'INTERNAL' && e instanceof Error && e.stack) process.stderr.write(redactSecrets(e.stack) + '\n');
  }
  return err.exitCode;
}

/**
 * Redacts secrets from streamed text (a child's output) line by line, so a URL split across two
 * chunks is still seen whole. `flush()` writes a last unterminated line.
 */
export function redactingLineWriter(write: (text: string) => void): { write(chunk: string): void; flush(): void } {
  let pending = '';
  return {
    write(chunk) {
      pending += chunk;
      const nl = pending.lastIndexOf('\n');
      if (nl < 0) return;
      write(redactSecrets(pending.slice(0, nl + 1)));
      pending = pending.slice(nl + 1);
    },
    flush() {
      if (pending) write(redactSecrets(pending));
      pending = '';
    },
  };
}

/** Human-readable byte size. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Splits a comma-separated option into a list. */
export function listOption(v: unknown): string[] | undefined {
  if (typeof v !== 'string' || !v.trim()) return undefined;
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}
