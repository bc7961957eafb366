/** HTTP of the benchmark: a keep-alive POST client for the local API Gateway, and Standard Webhooks signing. */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { signedDelivery } from '../../test/setup/signed.ts';

export interface HttpAnswer {
  status: number;
  text: string;
  /** performance.now() when the request was sent (before its first byte was written). */
  sentAt: number;
  /** Date.now() at the same moment, for clocks outside this process's (a stand-in's history). */
  sentEpochMs: number;
  /** performance.now() when the response's last byte arrived. */
  at: number;
  ms: number;
}

export interface HttpPoster {
  post(body: string, headers: Record<string, string>): Promise<HttpAnswer>;
  close(): void;
}

/** POSTs over a keep-alive agent (lighter than fetch in the same process as the server under test). */
export function httpPoster(url: string, maxSockets: number): HttpPoster {
  const target = new URL(url);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') throw new Error(`refusing to benchmark a non-local URL: ${url}`);
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    post(body, headers) {
      return new Promise((resolve, reject) => {
        const sentEpochMs = Date.now();
        const started = performance.now();
        const req = request(
          {
            host: target.hostname,
            port: target.port,
            path: target.pathname,
            method: 'POST',
            agent,
            headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', reject);
            res.on('end', () => {
              const at = performance.now();
              resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), sentAt: started, sentEpochMs, at, ms: at - started });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

/** A Standard Webhooks delivery of one JSON payload, signed now with a fresh webhook-id (test/setup/signed.ts), from the bench's user agent. */
export function signed(payload: unknown, secret: string): { body: string; headers: Record<string, string> } {
  const { body, headers } = signedDelivery(payload, { secret });
  return { body, headers: { ...headers, 'user-agent': 'mql-bench/1' } };
}

/** POST /webhooks/events of the local stack: one signed delivery per payload. */
export interface EventsSender {
  deliver(payload: unknown): Promise<HttpAnswer>;
  close(): void;
}

export function eventsSender(urls: Record<string, string>, secret: string, maxSockets: number): EventsSender {
  const url = urls['POST /webhooks/events'];
  if (!url) throw new Error('the topology has no POST /webhooks/events route');
  const poster = httpPoster(url, maxSockets);
  return {
    deliver(payload) {
      const { body, headers } = signed(payload, secret);
      return poster.post(body, headers);
    },
    close: () => poster.close(),
  };
}
