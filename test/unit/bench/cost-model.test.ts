/**
 * The bench's cost arithmetic (bench/support/cost-model.ts, bench/support/request-units.ts): given figures
 * in, dollars out, checked against sums done by hand with the prices of bench/prices.json. No times.
 */
import { describe, expect, it } from 'vitest';
import {
  addShare,
  billedSqsRequests,
  costPerMillion,
  gbSeconds,
  loadPrices,
  meteredApiRequests,
  type Prices,
  services,
  type Usage,
} from '../../../bench/support/cost-model.ts';
import { accessLogFormat, accessLogLine, platformLines } from '../../../bench/support/log-lines.ts';
import { plainValueSize, readRequestUnits, writeRequestUnits } from '../../../bench/support/request-units.ts';

const prices: Prices = loadPrices();

const none: Usage = {
  events: 1_000_000,
  lambda: { invocations: 0, gbSeconds: 0 },
  apiRequests: 0,
  dynamodb: { writeUnits: 0, readUnits: 0 },
  sqsRequests: 0,
  logBytes: 0,
  tracedInvocations: 0,
  storedByteMonths: 0,
};

describe('bench/prices.json', () => {
  it('names its region, the day it was read and a price page for each service', async () => {
    const raw = (await import('../../../bench/prices.json', { with: { type: 'json' } })).default as unknown as Record<
      string,
      { url?: string; readFrom?: string }
    > & {
      region: string;
      readOn: string;
    };
    expect(raw.region).toBe('us-east-1');
    expect(raw.readOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    for (const service of ['lambda', 'apiGatewayHttp', 'dynamodb', 'sqs', 'cloudwatchLogs', 'xray']) {
      expect(raw[service]?.url, service).toMatch(/^https:\/\/aws\.amazon\.com\//);
      expect(raw[service]?.readFrom, service).toBeTruthy();
    }
  });

  it('holds the us-east-1 prices the model was checked with', () => {
    expect(prices.dynamodb.perMillionWriteRequestUnits).toBe(0.625);
    expect(prices.dynamodb.perMillionReadRequestUnits).toBe(0.125);
    expect(prices.lambda.arm64PerGbSecond).toBe(0.0000133334);
    expect(prices.lambda.perMillionRequests).toBe(0.2);
    expect(prices.apiGatewayHttp.perMillionRequests).toBe(1);
    expect(prices.sqs.perMillionRequests).toBe(0.4);
  });
});

describe('costPerMillion', () => {
  it('prices each service of a million events by hand', () => {
    const usage: Usage = {
      events: 2_000_000,
      // 2 million invocations of 1024 MB for 25 ms: 50,000 GB-s.
      lambda: { invocations: 2_000_000, gbSeconds: 50_000 },
      apiRequests: 2_000_000,
      dynamodb: { writeUnits: 8_000_000, readUnits: 2_000_000 },
      sqsRequests: 100_000,
      logBytes: 2 * 1024 ** 3,
      tracedInvocations: 2_000_000,
      storedByteMonths: 4 * 1024 ** 3,
    };
    const cost = costPerMillion(usage, prices);
    // Halve everything: the usage is for two million events.
    expect(cost.byService.lambda).toBeCloseTo((2 * 0.2 + 50_000 * 0.0000133334) / 2, 10);
    expect(cost.byService.apiGateway).toBeCloseTo(1, 10);
    expect(cost.byService.dynamodbWrites).toBeCloseTo((8 * 0.625) / 2, 10);
    expect(cost.byService.dynamodbReads).toBeCloseTo((2 * 0.125) / 2, 10);
    expect(cost.byService.sqs).toBeCloseTo((0.1 * 0.4) / 2, 10);
    expect(cost.byService.logs).toBeCloseTo((2 * 0.5) / 2, 10);
    expect(cost.byService.xray).toBeCloseTo((2 * 0.05 * 5) / 2, 10);
    expect(cost.byService.dynamodbStorage).toBeCloseTo((4 * (0.25 + 0.2)) / 2, 10);
    expect(cost.perMillion).toBeCloseTo(
      services.reduce((sum, service) => sum + cost.byService[service], 0),
      10,
    );
    expect(cost.perMillion).toBeCloseTo(0.53333 + 1 + 2.5 + 0.125 + 0.02 + 0.5 + 0.25 + 0.9, 4);
  });

  it('costs nothing for nothing used, and is not a number without events', () => {
    expect(costPerMillion(none, prices).perMillion).toBe(0);
    expect(costPerMillion({ ...none, events: 0, apiRequests: 1 }, prices).perMillion).toBeNaN();
  });

  it('adds a handoff share per MQL, service by service', () => {
    const own = costPerMillion({ ...none, apiRequests: 1_000_000 }, prices);
    const perMillionMqls = costPerMillion({ ...none, sqsRequests: 3_000_000 }, prices);
    const total = addShare(own, 0.01, perMillionMqls);
    expect(total.byService.apiGateway).toBeCloseTo(1, 10);
    expect(total.byService.sqs).toBeCloseTo(0.01 * 1.2, 10);
    expect(total.perMillion).toBeCloseTo(1.012, 10);
  });
});

describe('metering units', () => {
  it('meters an HTTP API request per started 512 KB: a 424 KiB SendGrid batch is one request, 768 KB two', () => {
    expect(meteredApiRequests(424 * 1024, prices.apiGatewayHttp.meteringUnitBytes)).toBe(1);
    expect(meteredApiRequests(512 * 1024, prices.apiGatewayHttp.meteringUnitBytes)).toBe(1);
    expect(meteredApiRequests(512 * 1024 + 1, prices.apiGatewayHttp.meteringUnitBytes)).toBe(2);
    expect(meteredApiRequests(768 * 1000, prices.apiGatewayHttp.meteringUnitBytes)).toBe(2);
    expect(meteredApiRequests(0, prices.apiGatewayHttp.meteringUnitBytes)).toBe(1);
  });

  it('bills an SQS call per started 64 KB of payload', () => {
    expect(billedSqsRequests(0, prices.sqs.chunkBytes)).toBe(1);
    expect(billedSqsRequests(65_536, prices.sqs.chunkBytes)).toBe(1);
    expect(billedSqsRequests(65_537, prices.sqs.chunkBytes)).toBe(2);
    expect(billedSqsRequests(256 * 1024, prices.sqs.chunkBytes)).toBe(4);
  });

  it('rounds a Lambda duration up to the millisecond before multiplying by the memory', () => {
    expect(gbSeconds(24.2, 1024)).toBeCloseTo(0.025, 12);
    expect(gbSeconds(1000, 512)).toBeCloseTo(0.5, 12);
  });

  it('counts DynamoDB request units by the published rules', () => {
    // Transactional: 2 per started KB; plain: 1 per started KB.
    expect(writeRequestUnits(572, true)).toBe(2);
    expect(writeRequestUnits(1930, true)).toBe(4);
    expect(writeRequestUnits(1024, false)).toBe(1);
    expect(writeRequestUnits(1025, false)).toBe(2);
    // Reads: per started 4 KB, half when eventually consistent, twice in a transaction; a missing item costs the minimum.
    expect(readRequestUnits(0, 'strong')).toBe(1);
    expect(readRequestUnits(4097, 'strong')).toBe(2);
    expect(readRequestUnits(4096, 'eventual')).toBe(0.5);
    expect(readRequestUnits(100, 'transactional')).toBe(2);
  });

  it('sizes plain values as DynamoDB would their marshalled form', () => {
    expect(plainValueSize('héllo')).toBe(6);
    expect(plainValueSize(12345)).toBe(4);
    expect(plainValueSize(true)).toBe(1);
    expect(plainValueSize(['a', 'bc'])).toBe(3 + 1 + 1 + 1 + 2);
    expect(plainValueSize({ a: 'x' })).toBe(3 + 1 + 1 + 1);
  });
});

describe('log lines', () => {
  it('reads the HTTP API access log format the stack sets', () => {
    const format = accessLogFormat();
    expect(format.routeKey).toBe('$context.routeKey');
    expect(format.userAgent).toBe('$context.identity.userAgent');
  });

  it('renders an access log line and Lambda platform lines with the invocation values', () => {
    const line = accessLogLine(
      { routeKey: 'POST /webhooks/events', requestBytes: 1000, responseBytes: 40, status: 200, userAgent: 'mql-bench/1', stored: 1 },
      23.4,
      accessLogFormat(),
    );
    const parsed = JSON.parse(line) as Record<string, string>;
    expect(parsed.routeKey).toBe('POST /webhooks/events');
    expect(parsed.responseLength).toBe('40');
    expect(platformLines({ ms: 23.4, memoryMb: 1024 })).toContain('Billed Duration: 24 ms\tMemory Size: 1024 MB');
  });
});
