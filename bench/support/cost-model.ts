/**
 * The cost model of the bench: what a number of events used (measured by support/cost-meter.ts in the
 * same run) times the prices of bench/prices.json, as dollars per million events with a line per
 * service. Pure arithmetic: no I/O, no clock (test/unit/bench/cost-model.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Prices {
  region: string;
  readOn: string;
  lambda: { arm64PerGbSecond: number; perMillionRequests: number };
  apiGatewayHttp: { perMillionRequests: number; meteringUnitBytes: number };
  dynamodb: {
    perMillionWriteRequestUnits: number;
    perMillionReadRequestUnits: number;
    storagePerGbMonth: number;
    pitrPerGbMonth: number;
    itemOverheadBytes: number;
  };
  sqs: { perMillionRequests: number; chunkBytes: number };
  cloudwatchLogs: { ingestionPerGb: number; storagePerGbMonth: number };
  xray: { perMillionTracesRecorded: number; sampledShare: number };
}

/** bench/prices.json, checked for the numbers the model reads. */
export function loadPrices(path = join(import.meta.dirname, '..', 'prices.json')): Prices {
  const prices = JSON.parse(readFileSync(path, 'utf8')) as Prices;
  const numbers: [string, unknown][] = [
    ['lambda.arm64PerGbSecond', prices.lambda?.arm64PerGbSecond],
    ['lambda.perMillionRequests', prices.lambda?.perMillionRequests],
    ['apiGatewayHttp.perMillionRequests', prices.apiGatewayHttp?.perMillionRequests],
    ['apiGatewayHttp.meteringUnitBytes', prices.apiGatewayHttp?.meteringUnitBytes],
    ['dynamodb.perMillionWriteRequestUnits', prices.dynamodb?.perMillionWriteRequestUnits],
    ['dynamodb.perMillionReadRequestUnits', prices.dynamodb?.perMillionReadRequestUnits],
    ['dynamodb.storagePerGbMonth', prices.dynamodb?.storagePerGbMonth],
    ['dynamodb.pitrPerGbMonth', prices.dynamodb?.pitrPerGbMonth],
    ['dynamodb.itemOverheadBytes', prices.dynamodb?.itemOverheadBytes],
    ['sqs.perMillionRequests', prices.sqs?.perMillionRequests],
    ['sqs.chunkBytes', prices.sqs?.chunkBytes],
    ['cloudwatchLogs.ingestionPerGb', prices.cloudwatchLogs?.ingestionPerGb],
    ['xray.perMillionTracesRecorded', prices.xray?.perMillionTracesRecorded],
    ['xray.sampledShare', prices.xray?.sampledShare],
  ];
  const bad = numbers.filter(([, value]) => typeof value !== 'number' || !Number.isFinite(value) || value < 0).map(([name]) => name);
  if (bad.length > 0) throw new Error(`${path}: not a price: ${bad.join(', ')}`);
  return prices;
}

/** HTTP API requests a request of `bytes` is metered as: one per started 512 KB. */
export const meteredApiRequests = (bytes: number, unitBytes: number): number => Math.max(1, Math.ceil(bytes / unitBytes));

/** SQS requests one call carrying `payloadBytes` is billed as: one per started 64 KB chunk. */
export const billedSqsRequests = (payloadBytes: number, chunkBytes: number): number => Math.max(1, Math.ceil(payloadBytes / chunkBytes));

/** Lambda GB-seconds of one invocation: its duration rounded up to the millisecond, times its memory. */
export const gbSeconds = (durationMs: number, memoryMb: number): number => (Math.ceil(durationMs) / 1000) * (memoryMb / 1024);

/** What `events` events used, all of it measured except the storage's months (how long each kind is kept). */
export interface Usage {
  events: number;
  lambda: { invocations: number; gbSeconds: number };
  /** Metered API Gateway requests (512 KB units). */
  apiRequests: number;
  dynamodb: { writeUnits: number; readUnits: number };
  sqsRequests: number;
  /** Bytes ingested by CloudWatch Logs: function lines and access log lines. */
  logBytes: number;
  /** Invocations that can be traced (each one past the reservoir is sampled at `xray.sampledShare`). */
  tracedInvocations: number;
  /** Bytes the events add to the table, by how many months each is kept (storage billed per GB-month, PITR too). */
  storedByteMonths: number;
}

export type Service = 'lambda' | 'apiGateway' | 'dynamodbWrites' | 'dynamodbReads' | 'dynamodbStorage' | 'sqs' | 'logs' | 'xray';
export const services: readonly Service[] = ['lambda', 'apiGateway', 'dynamodbWrites', 'dynamodbReads', 'dynamodbStorage', 'sqs', 'logs', 'xray'];

export interface Cost {
  /** Dollars per million events. */
  perMillion: number;
  byService: Record<Service, number>;
}

const gb = 1024 ** 3;

/** Dollars per million events of a usage. */
export function costPerMillion(usage: Usage, prices: Prices): Cost {
  const perMillionEvents = usage.events > 0 ? 1e6 / usage.events : Number.NaN;
  const dollars: Record<Service, number> = {
    lambda: (usage.lambda.invocations * prices.lambda.perMillionRequests) / 1e6 + usage.lambda.gbSeconds * prices.lambda.arm64PerGbSecond,
    apiGateway: (usage.apiRequests * prices.apiGatewayHttp.perMillionRequests) / 1e6,
    dynamodbWrites: (usage.dynamodb.writeUnits * prices.dynamodb.perMillionWriteRequestUnits) / 1e6,
    dynamodbReads: (usage.dynamodb.readUnits * prices.dynamodb.perMillionReadRequestUnits) / 1e6,
    dynamodbStorage: (usage.storedByteMonths / gb) * (prices.dynamodb.storagePerGbMonth + prices.dynamodb.pitrPerGbMonth),
    sqs: (usage.sqsRequests * prices.sqs.perMillionRequests) / 1e6,
    logs: (usage.logBytes / gb) * prices.cloudwatchLogs.ingestionPerGb,
    xray: (usage.tracedInvocations * prices.xray.sampledShare * prices.xray.perMillionTracesRecorded) / 1e6,
  };
  const byService = Object.fromEntries(services.map((service) => [service, dollars[service] * perMillionEvents])) as Record<Service, number>;
  return { perMillion: services.reduce((total, service) => total + byService[service], 0), byService };
}

/** `a + share × b`, service by service: the events' own cost plus their share of what a handoff costs. */
export function addShare(own: Cost, share: number, other: Cost): Cost {
  const byService = Object.fromEntries(services.map((service) => [service, own.byService[service] + share * other.byService[service]])) as Record<
    Service,
    number
  >;
  return { perMillion: services.reduce((total, service) => total + byService[service], 0), byService };
}
