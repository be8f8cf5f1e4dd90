/**
 * A TCP proxy on 127.0.0.1 in front of a real server (s3rver), for tests of what a network does to
 * an upload or a download: cut every connection after so many bytes, slow the uplink, break one
 * response. The hooks see each chunk before it is passed on.
 */
import net from 'node:net';

export interface ProxyConnection {
  client: net.Socket;
  upstream: net.Socket;
  /** Bytes this connection carried so far, each way (before the current chunk). */
  up: number;
  down: number;
}

export interface ProxyControl {
  /** Destroys every connection and stops listening: the server is gone. */
  cutAll(): void;
}

export interface ProxyHooks {
  /** A chunk from the client; `'drop'`: not passed upstream. */
  up?(chunk: Buffer, conn: ProxyConnection, control: ProxyControl): 'drop' | void;
  /** A chunk from the server; `'drop'`: not passed to the client. */
  down?(chunk: Buffer, conn: ProxyConnection, control: ProxyControl): 'drop' | void;
}

export interface TcpProxy {
  port: number;
  endpoint: string;
  close(): Promise<void>;
}

export async function tcpProxy(targetPort: number, hooks: ProxyHooks = {}): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const conn: ProxyConnection = { client, upstream, up: 0, down: 0 };
    client.on('data', (chunk: Buffer) => {
      const verdict = hooks.up?.(chunk, conn, control);
      conn.up += chunk.length;
      if (verdict !== 'drop') upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const verdict = hooks.down?.(chunk, conn, control);
      conn.down += chunk.length;
      if (verdict !== 'drop') client.write(chunk);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const control: ProxyControl = {
    cutAll() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
