/** The listening part every local stand-in (Graph, HubSpot) shares, and the port probe of the demos and `mql stand-in`. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';

export interface Listening {
  /** `http://<host>:<port>` (an IPv6 host in brackets), no trailing slash. */
  origin: string;
  /** Stops listening and drops the open connections (a client's keep-alive would hold `close` open). */
  close(): Promise<void>;
}

/** Listens on `host` (127.0.0.1 by default) and `port` (a free one by default); rejects when the port is taken. */
export async function listenLocal(server: Server, options: { port?: number; host?: string } = {}): Promise<Listening> {
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether nothing listens on `port` of 127.0.0.1 now (a probe that listens and closes at once). */
export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
      .once('error', () => resolve(false))
      .once('listening', () => probe.close(() => resolve(true)))
      .listen(port, '127.0.0.1');
  });
}
