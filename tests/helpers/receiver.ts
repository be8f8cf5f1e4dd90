/** A real HTTP receiver on 127.0.0.1 that records every request (webhooks, chat APIs, healthcheck pings). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCall {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  base: string;
  calls: ReceivedCall[];
  /** The JSON bodies of the calls to `path`, in order. */
  json<T = Record<string, unknown>>(path: string): T[];
  close(): Promise<void>;
}

/** Answers 200 `{"ok":true}`, or 500 to paths starting with /broken. */
export async function startReceiver(): Promise<Receiver> {
  const calls: ReceivedCall[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      res.writeHead(req.url?.startsWith('/broken') ? 500 : 200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    json: <T>(path: string) => calls.filter((c) => c.path === path).map((c) => JSON.parse(c.body) as T),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
