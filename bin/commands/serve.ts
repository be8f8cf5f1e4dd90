import { GuardError } from '../../lib/core/errors.ts';
import { readUsers } from '../../lib/server/auth.ts';
import { withDotEnv, type Command } from '../cli.ts';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 7300;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the dashboard: the web page and REST API (long-running; for PM2), on 127.0.0.1:7300 by default.',
  usage:
    'prisma-guard serve [--host HOST] [--port PORT] [--lock-wait SECONDS] [--secure-cookies] [--url URL] [--backup-dir DIR]\n' +
    '  Users: prisma-guard user add NAME --role viewer|operator|admin; tokens: prisma-guard token add NAME --role ROLE.\n' +
    '  --secure-cookies: behind a TLS-terminating proxy (the session cookie is Secure on https anyway).',
  options: { host: { type: 'string' }, port: { type: 'string' }, 'lock-wait': { type: 'string' }, 'secure-cookies': { type: 'boolean' } },
  ownsSignals: true,
  async run(io) {
    const ctx = io.context();
    const port = io.values.port === undefined ? DEFAULT_PORT : Number(io.values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GuardError('USAGE', `--port must be a port number, not "${String(io.values.port)}".`);
    const wait = io.values['lock-wait'] === undefined ? 5 : Number(io.values['lock-wait']);
    if (!(wait >= 0)) throw new GuardError('USAGE', `--lock-wait must be a number of seconds, not "${String(io.values['lock-wait'])}".`);
    const users = await readUsers(ctx.backupDir);
    // Loaded here, not at start-up: no other command pays for the HTTP server (hono).
    const { startServer } = await import('../../lib/server/serve.ts');
    const server = await startServer({
      url: io.values.url as string | undefined,
      backupDir: ctx.backupDir,
      env: withDotEnv(process.env),
      host: (io.values.host as string | undefined) ?? DEFAULT_HOST,
      port,
      lockWaitMs: wait * 1000,
      secureCookies: Boolean(io.values['secure-cookies']),
    }).catch((e: NodeJS.ErrnoException) => {
      throw new GuardError('USAGE', `Cannot listen on ${String(io.values.host ?? DEFAULT_HOST)}:${port}: ${e.message}.`, { hint: e.code === 'EADDRINUSE' ? 'Another program uses the port; pass --port.' : 'Check --host and --port.' });
    });
    process.stdout.write(JSON.stringify({ time: new Date().toISOString(), event: 'serve.listening', url: server.url, backupDir: ctx.backupDir, users: users.users.length, tokens: users.tokens.length }) + '\n');
    if (!users.users.length && !users.tokens.length) process.stderr.write('warning: no users yet, so nobody can log in: prisma-guard user add NAME --role admin\n');
    const host = (io.values.host as string | undefined) ?? DEFAULT_HOST;
    if (!['127.0.0.1', 'localhost', '::1'].includes(host) && !io.values['secure-cookies']) {
      process.stderr.write(`warning: listening on ${host} over plain http: passwords and session cookies cross the network unencrypted. Put a TLS-terminating proxy in front and pass --secure-cookies, or keep the default 127.0.0.1.\n`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => void server.close().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    if (process.connected) process.disconnect();
    return 0;
  },
};
