/**
 * Small helpers of the benchmark: statistics, a keep-alive HTTP poster, a bounded worker pool,
 * DynamoDB item sizes (for the capacity estimate), process CPU from /proc, and message builders.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { signStandardWebhook } from '../lib/http/standard-webhooks.ts';
import { workedExampleMessages } from '../test/setup/signed.ts';

// --- statistics ---------------------------------------------------------------------------------

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  min: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    mean: round(sorted.length ? sum / sorted.length : Number.NaN, 2),
    p50: round(percentile(sorted, 50), 2),
    p95: round(percentile(sorted, 95), 2),
    p99: round(percentile(sorted, 99), 2),
    max: round(sorted.at(-1) ?? Number.NaN, 2),
    min: round(sorted[0] ?? Number.NaN, 2),
  };
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Deterministic PRNG (mulberry32, lib/seeded-random.ts), so every run spreads events over the same leads. */
export { seededRandom as prng } from '../lib/local/seeded-random.ts';

// --- a bounded pool -----------------------------------------------------------------------------

/** Runs work(0..count-1) with at most `concurrency` in flight; stops taking new work once `stop()` says so. */
export async function pool(count: number, concurrency: number, work: (index: number) => Promise<void>, stop: () => boolean = () => false): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count && !stop()) {
      const index = next++;
      await work(index);
    }
  });
  await Promise.all(workers);
}

// --- HTTP ---------------------------------------------------------------------------------------

export interface HttpAnswer {
  status: number;
  text: string;
  /** performance.now() when the response's last byte arrived. */
  at: number;
  ms: number;
}

/** POSTs over a keep-alive agent (lighter than fetch in the same process as the server under test). */
export function httpPoster(url: string, maxSockets: number): { post(body: string, headers: Record<string, string>): Promise<HttpAnswer>; close(): void } {
  const target = new URL(url);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') throw new Error(`refusing to benchmark a non-local URL: ${url}`);
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    post(body, headers) {
      return new Promise((resolve, reject) => {
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
              resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), at, ms: at - started });
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

/** A Standard Webhooks delivery of one JSON payload, signed now with a fresh webhook-id. */
export function signed(payload: unknown, secret: string): { body: string; headers: Record<string, string> } {
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const body = JSON.stringify(payload);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'mql-bench/1',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandardWebhook({ secret, id, timestamp, body }),
    },
  };
}

// --- Segment messages ---------------------------------------------------------------------------

/**
 * A page-view `track` in the shape of test/fixtures/segment (analytics.js with context): it scores
 * under `pricing_page_viewed` (5 points, capped at 15) and never qualifies a lead on its own,
 * so the throughput phase measures ingest, not handoffs.
 */
export function pageViewTrack(email: string, sequence: number): object {
  const now = new Date();
  return {
    type: 'track',
    event: 'Page Viewed',
    messageId: `ajs-bench-${randomUUID()}`,
    anonymousId: `anon-${email}`,
    userId: `usr-${email}`,
    properties: {
      url: 'https://www.example.com/pricing?plan=enterprise',
      path: '/pricing',
      title: 'Pricing | Example',
      referrer: 'https://www.example.com/product',
      sequence,
    },
    context: {
      traits: { email },
      page: {
        path: '/pricing',
        url: 'https://www.example.com/pricing?plan=enterprise',
        title: 'Pricing | Example',
        referrer: 'https://www.example.com/product',
      },
      library: { name: 'analytics.js', version: 'next-1.64.0' },
      locale: 'en-US',
      ip: '203.0.113.10',
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
    },
    integrations: {},
    originalTimestamp: new Date(now.getTime() - 120).toISOString(),
    sentAt: new Date(now.getTime() - 40).toISOString(),
    timestamp: now.toISOString(),
  };
}

/**
 * The seeds' worked example of test/setup/signed.ts: identify as CEO in Software (fit 25), a case study
 * download (15), then a webinar (20): the third message makes the lead an MQL at 60. Event times are a
 * little in the past so no decay rounding pushes the total under 60.
 */
export function workedExample(email: string): object[] {
  return workedExampleMessages(email, new Date(Date.now() - 30_000));
}

// --- SendGrid batches ---------------------------------------------------------------------------

/**
 * One SendGrid Event Webhook delivery: `count` events spread round-robin over `emails`, in the shape
 * of test/fixtures/sendgrid (processed, delivered, open, click with SendGrid's ids, two categories and
 * two custom args), times a second apart ending now. Opens and clicks score (1 and 3 points, capped at
 * 5 and 15) but never qualify a lead, so the phase measures ingest, not handoffs.
 */
export function sendgridBatch(emails: readonly string[], count: number): object[] {
  const kinds = ['processed', 'delivered', 'open', 'click'] as const;
  const end = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, (_, index) => {
    const lead = index % emails.length;
    const event = kinds[Math.floor(index / emails.length) % kinds.length]!;
    const messageId = `bench${lead.toString(36)}.filterdrecv-5645d9c87f-6r2ch-1-6650B7D4-${lead}.0`;
    return {
      email: emails[lead],
      timestamp: end - count + index,
      'smtp-id': `<${messageId.split('.')[0]}@geopod-ismtpd-2>`,
      event,
      category: ['nurture', 'q2-webinar'],
      sg_event_id: `${event.slice(0, 4)}-${randomUUID()}`,
      sg_message_id: messageId,
      ...(event === 'processed' ? { send_at: 0 } : {}),
      ...(event === 'delivered'
        ? { response: '250 2.0.0 OK  1716565971 a1-20020a05620a0c0100b0078a8a4a6a2esi1234567qkb.112 - gsmtp', ip: '149.72.123.24', tls: 1 }
        : {}),
      ...(event === 'open' ? { sg_machine_open: false, useragent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', ip: '203.0.113.10' } : {}),
      ...(event === 'click'
        ? {
            url: 'https://www.example.com/blog/lead-scoring?utm_source=sendgrid',
            url_offset: { index: 2, type: 'html' },
            useragent: 'Mozilla/5.0',
            ip: '203.0.113.10',
          }
        : {}),
      lead_id: `crm-${lead}`,
      journey: 'spring-nurture',
    };
  });
}

// --- DynamoDB item size and the capacity rule ---------------------------------------------------

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/** DynamoDB's size of a number: about one byte per two significant digits, plus one. */
function numberSize(text: string): number {
  const mantissa = text.replace(/^[-+]/, '').split(/[eE]/)[0] ?? '';
  const digits = mantissa.replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Size of one attribute value per the DynamoDB developer guide ("Item sizes and formats"). */
export function attributeValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, item) => sum + utf8(item), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, item) => sum + numberSize(item), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, item) => sum + item.byteLength, 0);
  // Lists and maps: 3 bytes, plus 1 byte per element, plus the elements (and a map's key names).
  if (value.L !== undefined) return 3 + value.L.reduce((sum, item) => sum + 1 + attributeValueSize(item), 0);
  if (value.M !== undefined) return 3 + Object.entries(value.M).reduce((sum, [key, item]) => sum + utf8(key) + 1 + attributeValueSize(item), 0);
  return 0;
}

export function itemSize(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + attributeValueSize(value), 0);
}

/** Published rule: a transactional write costs 2 WCU per 1 KB (rounded up) of each item. */
export const transactionalWcu = (bytes: number) => 2 * Math.max(1, Math.ceil(bytes / 1024));
/** A standard write (an index update of a GSI): 1 WCU per 1 KB. */
export const standardWcu = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

// --- processes ----------------------------------------------------------------------------------

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds a process has used (Linux /proc), or undefined. */
export function processCpuSeconds(pid: number): number | undefined {
  const fields = statFields(pid);
  if (!fields) return undefined;
  // After the comm: state(0) ppid(1) ... utime(11) stime(12)
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** DynamoDB Local Java processes whose parent is this process (Linux /proc; ps elsewhere). */
export function dynamoDbLocalChildren(parent = process.pid): number[] {
  return dynamoDbLocalProcesses((ppid) => ppid === parent);
}

/** DynamoDB Local processes that are not ours (another test run sharing the machine skews the figures). */
export function otherDynamoDbLocals(parent = process.pid): number[] {
  return dynamoDbLocalProcesses((ppid) => ppid !== parent);
}

function dynamoDbLocalProcesses(parentMatches: (ppid: number) => boolean): number[] {
  if (existsSync('/proc/self/stat')) {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      const fields = statFields(pid);
      if (!fields || !parentMatches(Number(fields[1])) || fields[0] === 'Z') continue;
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('DynamoDBLocal')) pids.push(pid);
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  }
  try {
    return execFileSync('ps', ['-A', '-o', 'pid=,ppid=,command='], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter(([, ppid, ...command]) => parentMatches(Number(ppid)) && command.join(' ').includes('DynamoDBLocal'))
      .map(([pid]) => Number(pid));
  } catch {
    return [];
  }
}

export function isAlive(pid: number): boolean {
  const fields = statFields(pid);
  if (fields) return fields[0] !== 'Z';
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function javaVersion(): string {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const text = `${result.stderr ?? ''}${result.stdout ?? ''}`;
  return text.split('\n')[0]?.trim() || 'unknown';
}
