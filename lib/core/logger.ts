import { redactSecrets, toRedactedJson } from './url.ts';

/**
 * Where long operations report progress and events. The CLI gives a TTY reporter (a live progress
 * line) or a JSON-lines reporter; library users and tests can pass `silentReporter`.
 */
export interface Reporter {
  /** A one-off human message. */
  info(message: string): void;
  warn(message: string): void;
  /** Progress of a long step: `done` of `total` units (total may be unknown). */
  progress(step: string, done: number, total?: number): void;
  /** A structured event (scheduler logs, prune decisions). */
  event(name: string, fields?: Record<string, unknown>): void;
}

export const silentReporter: Reporter = {
  info() {},
  warn() {},
  progress() {},
  event() {},
};

/** Human output on stderr; a single rewritten progress line when stderr is a TTY. */
export function consoleReporter(stream: NodeJS.WriteStream = process.stderr): Reporter {
  const tty = Boolean(stream.isTTY);
  let lastProgressAt = 0;
  let progressShown = false;
  const clear = () => {
    if (tty && progressShown) {
      stream.write('\r\x1b[2K');
      progressShown = false;
    }
  };
  return {
    info(message) {
      clear();
      stream.write(redactSecrets(message) + '\n');
    },
    warn(message) {
      clear();
      stream.write('warning: ' + redactSecrets(message) + '\n');
    },
    progress(step, done, total) {
      if (!tty) return;
      const now = Date.now();
      if (now - lastProgressAt < 100 && (total === undefined || done < total)) return;
      lastProgressAt = now;
      const pct = total ? ` ${Math.floor((done / Math.max(total, 1)) * 100)}%` : '';
      stream.write(`\r\x1b[2K${step}: ${done.toLocaleString('en-GB')}${total !== undefined ? '/' + total.toLocaleString('en-GB') : ''}${pct}`);
      progressShown = true;
    },
    event() {},
  };
}

/**
 * Error objects serialise to `{}` in JSON, which would hide what failed; their message (redacted
 * like every string) is logged instead. Nothing else of an error (its `input`, `cause`, stack) is.
 */
function errorsAsText(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof Error) (out ??= { ...fields })[k] = v.message;
  }
  return out ?? fields;
}

/** One JSON object per line (what PM2 logs collect). Secrets are redacted from every string. */
export function jsonLinesReporter(write: (line: string) => void = (l) => process.stdout.write(l)): Reporter {
  const emit = (event: string, fields: Record<string, unknown> = {}) => {
    write(toRedactedJson({ time: new Date().toISOString(), event, ...errorsAsText(fields) }) + '\n');
  };
  return {
    info: (message) => emit('info', { message }),
    warn: (message) => emit('warning', { message }),
    progress: () => {},
    event: (name, fields) => emit(name, fields),
  };
}
