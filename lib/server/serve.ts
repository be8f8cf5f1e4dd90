/** Starts the dashboard's HTTP server (Node's http through @hono/node-server). */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createApp, type ServerOptions } from './app.ts';

/** The defaults of `prisma-guard serve` (bin/commands/serve.ts says them again, so the CLI's start-up does not load this module). */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7300;

export interface RunningServer {
  url: string;
  port: number;
  state: ReturnType<typeof createApp>['state'];
  close(): Promise<void>;
}

/** Listens on host:port (port 0: any free port); resolves once it accepts connections. */
export function startServer(options: ServerOptions & { host?: string; port?: number } = {}): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const loopback = ['127.0.0.1', 'localhost', '::1'];
  const { app, state } = createApp({ allowedHosts: loopback.includes(host) ? loopback : undefined, ...options });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port: options.port ?? DEFAULT_PORT }, (info: AddressInfo) => {
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${info.port}`,
        port: info.port,
        state,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
    server.once('error', reject);
  });
}
