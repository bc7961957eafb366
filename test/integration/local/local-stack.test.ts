/**
 * The embedded local stack itself, with small test handlers in place of lambdas/: the API
 * Gateway v2 translation, the SQS event-source mapping (partial batch failures, DLQ after
 * maxReceiveCount, drain), the table, and the persistent mode's stack.json.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStackError } from '../../../lib/local/errors.ts';
import type { LambdaHandler } from '../../../lib/local/stack.ts';
import { readStackFile, stackFilePath } from '../../../lib/local/stack.ts';
import { queueUrlEnv, table, tableNameEnv } from '../../../lib/topology.ts';
import { type LocalStack, startTestStack } from '../../setup/stack.ts';

interface Echo {
  event: APIGatewayProxyEventV2;
  context: { functionName: string; remaining: number; awsRequestId: string; memoryLimitInMB: string };
  env: Record<string, string | undefined>;
}

/** Every SQS record the test consumer saw, in order, and the bodies of each invocation's batch. */
const deliveries: SQSRecord[] = [];
const batches: string[][] = [];
let httpInvocations = 0;

const echo = (event: APIGatewayProxyEventV2, context: Context) => {
  httpInvocations++;
  const mode = event.headers?.['x-test-mode'];
  if (mode === 'throw') throw new Error('boom (expected by the test)');
  if (mode === 'plain') return { hello: 'world' };
  if (mode === 'string') return 'just text';
  if (mode === 'binary')
    return {
      statusCode: 201,
      headers: { 'Content-Type': 'application/octet-stream', 'X-Out': 1 },
      isBase64Encoded: true,
      body: Buffer.from([0, 1, 2, 255]).toString('base64'),
      cookies: ['a=1', 'b=2; Path=/'],
    };
  if (mode === 'malformed') return { statusCode: 'teapot' };
  const body: Echo = {
    event,
    context: {
      functionName: context.functionName,
      remaining: context.getRemainingTimeInMillis(),
      awsRequestId: context.awsRequestId,
      memoryLimitInMB: context.memoryLimitInMB,
    },
    env: {
      TABLE_NAME: process.env[tableNameEnv],
      HANDOFF_QUEUE_URL: process.env[queueUrlEnv('handoff')],
      AWS_REGION: process.env.AWS_REGION,
      AWS_ENDPOINT_URL_DYNAMODB: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      AWS_ENDPOINT_URL_SQS: process.env.AWS_ENDPOINT_URL_SQS,
      TEST_SECRET: process.env.TEST_SECRET,
    },
  };
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
};

/** The consumer: the body says how to behave ("ok:<id>", "fail-once:<id>", "always-fail:<id>", "throw-once:<id>", "slow:<id>"). */
const consumer = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  deliveries.push(...event.Records);
  batches.push(event.Records.map((record) => record.body));
  for (const record of event.Records) {
    const [mode] = record.body.split(':');
    const firstTime = record.attributes.ApproximateReceiveCount === '1';
    if (mode === 'throw-once' && firstTime) throw new Error('consumer crashed (expected by the test)');
    if (mode === 'slow') await new Promise((resolve) => setTimeout(resolve, 400));
    if ((mode === 'fail-once' && firstTime) || mode === 'always-fail') batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  return { batchItemFailures };
};

/** Uses only the environment, as a real handler does: no endpoint, region or credentials passed. */
const envOnly = async () => {
  const dynamodb = new DynamoDBClient({});
  const sqs = new SQSClient({});
  try {
    const described = await dynamodb.send(new DescribeTableCommand({ TableName: process.env[tableNameEnv] }));
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: process.env[queueUrlEnv('handoff')], MessageBody: `ok:env-${randomUUID()}` }));
    return { table: described.Table?.TableName, messageId: sent.MessageId };
  } finally {
    dynamodb.destroy();
    sqs.destroy();
  }
};

const handlers: Record<string, LambdaHandler> = {
  health: echo,
  'ingest-events': echo,
  'get-lead': echo,
  handoff: consumer as LambdaHandler,
  decay: (event: unknown) => ({ ran: 'decay', event }),
};

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({
    env: { TEST_SECRET: 'shh' },
    queues: { handoff: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 } },
    loadHandler: (name) => handlers[name],
    log: () => {},
  });
});

afterAll(async () => {
  await stack?.stop();
});

async function call(
  path: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Echo & Record<string, unknown>; response: Response }> {
  const response = await fetch(`${stack.baseUrl}${path}`, init);
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined, response };
}

/** node:http, for what fetch cannot send: repeated headers, exact raw bytes. */
function rawRequest(path: string, method: string, headers: string[], body?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, stack.baseUrl);
    const req = request({ host: url.hostname, port: url.port, path, method, headers: ['Host', url.host, ...headers] }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP: API Gateway payload v2', () => {
  it('passes a JSON body through as the exact utf8 text, with route, headers and context', async () => {
    const body = '{ "name":"Zoë",\n  "emoji":"🚀" ,"n":1.50 }';
    const { status, json } = await call('/webhooks/events?x=1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Custom-Header': 'Value', 'User-Agent': 'test-agent/1.0' },
      body,
    });
    expect(status).toBe(200);
    const { event, context, env } = json;
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('POST /webhooks/events');
    expect(event.rawPath).toBe('/webhooks/events');
    expect(event.body).toBe(body);
    expect(event.isBase64Encoded).toBe(false);
    expect(event.headers['x-custom-header']).toBe('Value');
    expect(event.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(event.requestContext).toMatchObject({
      accountId: expect.any(String),
      apiId: expect.any(String),
      domainName: '127.0.0.1',
      http: { method: 'POST', path: '/webhooks/events', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test-agent/1.0' },
      routeKey: 'POST /webhooks/events',
      stage: '$default',
    });
    expect(event.requestContext.requestId).toMatch(/.+/);
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(10_000);
    expect(event.pathParameters).toBeUndefined();
    expect(context.functionName).toBe('mql-ingest-events');
    expect(context.memoryLimitInMB).toBe('1024');
    expect(context.remaining).toBeGreaterThan(15_000);
    expect(context.remaining).toBeLessThanOrEqual(20_000);
    expect(env).toEqual({
      TABLE_NAME: stack.tableName,
      HANDOFF_QUEUE_URL: stack.queueUrls.handoff,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_DYNAMODB: stack.dynamoEndpoint,
      AWS_ENDPOINT_URL_SQS: stack.sqsEndpoint,
      TEST_SECRET: 'shh',
    });
  });

  it('base64-encodes a binary body, byte for byte', async () => {
    const bytes = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a]), randomBytes(4096)]);
    const { json } = await call('/webhooks/events', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    expect(json.event.isBase64Encoded).toBe(true);
    expect(Buffer.from(json.event.body ?? '', 'base64').equals(bytes)).toBe(true);
  });

  it('treats text types as text and the rest (or no content-type) as binary', async () => {
    for (const [type, text] of [
      ['text/plain', true],
      ['application/cloudevents+json', true],
      ['application/soap+xml', true],
      ['application/x-www-form-urlencoded', true],
      ['application/xml', true],
      ['application/pdf', false],
      ['multipart/form-data; boundary=x', false],
    ] as const) {
      const { json } = await call('/webhooks/events', { method: 'POST', headers: { 'content-type': type }, body: 'a=1&b=2' });
      expect([type, json.event.isBase64Encoded]).toEqual([type, !text]);
      expect(json.event.isBase64Encoded ? Buffer.from(json.event.body ?? '', 'base64').toString() : json.event.body).toBe('a=1&b=2');
    }
    const none = await rawRequest('/webhooks/events', 'POST', ['Content-Length', '3'], Buffer.from('abc'));
    const event = (JSON.parse(none.body) as Echo).event;
    expect(event.isBase64Encoded).toBe(true);
    expect(event.body).toBe(Buffer.from('abc').toString('base64'));
  });

  it('has no body when the request has none', async () => {
    const { json } = await call('/health');
    expect(json.event.body).toBeUndefined();
    expect(json.event.isBase64Encoded).toBe(false);
    expect(json.event.routeKey).toBe('GET /health');
  });

  it('joins repeated headers with commas and moves cookies out of the headers', async () => {
    const { status, body } = await rawRequest('/health', 'GET', ['X-Dup', 'a', 'x-dup', 'b', 'Cookie', 'c1=v1; c2=v2', 'X-UPPER', 'Mixed Case Value']);
    expect(status).toBe(200);
    const { event } = JSON.parse(body) as Echo;
    expect(event.headers['x-dup']).toBe('a,b');
    expect(event.headers['x-upper']).toBe('Mixed Case Value');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.cookies).toEqual(['c1=v1', 'c2=v2']);
  });

  it('decodes the query string and path parameters, keeping the raw forms', async () => {
    const { json } = await call('/leads/Jane.Doe%2Btag%40example.com?a=1&b=x%20y&a=2&empty=');
    const { event } = json;
    expect(event.routeKey).toBe('GET /leads/{email}');
    expect(event.rawPath).toBe('/leads/Jane.Doe%2Btag%40example.com');
    expect(event.pathParameters).toEqual({ email: 'Jane.Doe+tag@example.com' });
    expect(event.rawQueryString).toBe('a=1&b=x%20y&a=2&empty=');
    expect(event.queryStringParameters).toEqual({ a: '1,2', b: 'x y', empty: '' });
    expect(json.context.functionName).toBe('mql-get-lead');
  });

  it('answers 404 for an unknown route and 405 for a known path with another method, without invoking', async () => {
    const before = httpInvocations;
    const unknown = await call('/nope', { method: 'POST', body: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: 'not_found', detail: expect.stringContaining('/nope') });
    const wrongMethod = await call('/webhooks/events');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.response.headers.get('allow')).toBe('POST');
    expect(wrongMethod.json).toMatchObject({ error: 'method_not_allowed' });
    const tooDeep = await call('/leads/a/b');
    expect(tooDeep.status).toBe(404);
    expect(httpInvocations).toBe(before);
  });

  it('answers 413 above 6 MiB without invoking, and accepts exactly 6 MiB', async () => {
    const before = httpInvocations;
    const tooBig = await call('/webhooks/events', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(6 * 1024 * 1024 + 1, 1),
    });
    expect(tooBig.status).toBe(413);
    expect(tooBig.json).toMatchObject({ error: 'payload_too_large' });
    expect(httpInvocations).toBe(before);
    // Without a Content-Length (chunked), the limit applies while reading.
    const chunked = await rawRequest(
      '/webhooks/events',
      'POST',
      ['Content-Type', 'text/plain', 'Transfer-Encoding', 'chunked'],
      Buffer.alloc(6 * 1024 * 1024 + 10, 98),
    );
    expect(chunked.status).toBe(413);
    expect(httpInvocations).toBe(before);
    const atLimit = await fetch(`${stack.baseUrl}/webhooks/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: Buffer.alloc(6 * 1024 * 1024, 97),
    });
    expect(atLimit.status).toBe(200);
    await atLimit.arrayBuffer();
  });

  it('renders a handler error or a malformed response as 502 like API Gateway', async () => {
    for (const mode of ['throw', 'malformed']) {
      const { status, json } = await call('/health', { headers: { 'x-test-mode': mode } });
      expect(status).toBe(502);
      expect(json).toEqual({ message: 'Internal Server Error' });
    }
  });

  it('translates results back: base64 bodies, cookies, headers, and the v2 inference for plain results', async () => {
    const binary = await fetch(`${stack.baseUrl}/health`, { headers: { 'x-test-mode': 'binary' } });
    expect(binary.status).toBe(201);
    expect(Buffer.from(await binary.arrayBuffer()).equals(Buffer.from([0, 1, 2, 255]))).toBe(true);
    expect(binary.headers.get('content-type')).toBe('application/octet-stream');
    expect(binary.headers.get('x-out')).toBe('1');
    expect(binary.headers.getSetCookie()).toEqual(['a=1', 'b=2; Path=/']);

    const plain = await fetch(`${stack.baseUrl}/health`, { headers: { 'x-test-mode': 'plain' } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('application/json');
    expect(await plain.json()).toEqual({ hello: 'world' });

    const text = await fetch(`${stack.baseUrl}/health`, { headers: { 'x-test-mode': 'string' } });
    expect(await text.text()).toBe('just text');
  });

  it('lists every route URL', () => {
    expect(stack.urls['GET /health']).toBe(`${stack.baseUrl}/health`);
    expect(stack.urls['GET /leads/{email}']).toBe(`${stack.baseUrl}/leads/{email}`);
  });
});

describe('SQS: the event-source mapping', () => {
  const sendBatch = async (bodies: string[]) => {
    const answer = await stack.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: stack.queueUrls.handoff,
        Entries: bodies.map((body, index) => ({
          Id: String(index),
          MessageBody: body,
          MessageAttributes: { kind: { DataType: 'String', StringValue: 'test' }, blob: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) } },
        })),
      }),
    );
    expect(answer.Failed ?? []).toEqual([]);
  };
  const seen = (body: string) => deliveries.filter((record) => record.body === body);

  it('hands a real-shaped SQSEvent to the consumer and deletes what succeeded', async () => {
    const body = `ok:${randomUUID()}`;
    await sendBatch([body]);
    await stack.drain({ timeoutMs: 10_000 });
    const [record, ...again] = seen(body);
    expect(again).toEqual([]);
    expect(record).toMatchObject({
      messageId: expect.any(String),
      receiptHandle: expect.any(String),
      body,
      md5OfBody: createHash('md5').update(body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: expect.stringMatching(/^arn:aws:sqs:us-east-1:\d{12}:handoff$/),
      awsRegion: 'us-east-1',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d+$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d+$/),
      },
      messageAttributes: {
        kind: { stringValue: 'test', dataType: 'String', stringListValues: [], binaryListValues: [] },
        blob: { binaryValue: Buffer.from([1, 2, 3]).toString('base64'), dataType: 'Binary' },
      },
    });
  });

  it('redelivers only the message reported in batchItemFailures', async () => {
    const id = randomUUID();
    const bodies = [`ok:${id}-1`, `fail-once:${id}-2`, `ok:${id}-3`];
    await sendBatch(bodies);
    await stack.drain({ timeoutMs: 10_000 });
    expect(seen(bodies[0] ?? '').length).toBe(1);
    expect(seen(bodies[2] ?? '').length).toBe(1);
    expect(seen(bodies[1] ?? '').map((record) => record.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
  });

  it('redelivers the whole batch when the consumer throws', async () => {
    const id = randomUUID();
    const bodies = [`throw-once:${id}-1`, `ok:${id}-2`];
    await sendBatch(bodies);
    await stack.drain({ timeoutMs: 10_000 });
    // Every message of the invocation that threw comes back (nothing of it was deleted), then succeeds.
    const failedBatch = batches.find((batch) => batch.includes(bodies[0] ?? ''));
    expect(failedBatch).toBeDefined();
    for (const body of failedBatch ?? []) {
      expect(seen(body).map((record) => record.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
    }
    expect(seen(bodies[1] ?? '').length).toBeGreaterThanOrEqual(1);
  });

  it('moves a message that always fails to the DLQ after maxReceiveCount receives', async () => {
    const body = `always-fail:${randomUUID()}`;
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls.handoff, MessageBody: body }));
    await stack.drain({ timeoutMs: 15_000 });
    expect(seen(body).map((record) => record.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
    const dead = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.handoff, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    expect(dead.Messages?.map((message) => message.Body)).toContain(body);
  });

  it('drain waits for a consumer invocation in flight', async () => {
    const body = `slow:${randomUUID()}`;
    await sendBatch([body]);
    await stack.drain({ timeoutMs: 10_000 });
    expect(seen(body).length).toBe(1);
    const attributes = await stack.sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.queueUrls.handoff, AttributeNames: ['All'] }));
    expect(attributes.Attributes?.ApproximateNumberOfMessages).toBe('0');
    expect(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe('0');
  });

  it('creates the queue with the redrive policy and the DLQ', async () => {
    const { Attributes } = await stack.sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.queueUrls.handoff, AttributeNames: ['All'] }));
    expect(Attributes?.VisibilityTimeout).toBe('1');
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toMatchObject({ deadLetterTargetArn: expect.stringMatching(/:handoff-dlq$/), maxReceiveCount: 2 });
  });
});

describe('handlers, table, schedules', () => {
  it('creates the table with the due GSI (projection ALL) and TTL', async () => {
    const { Table } = await stack.dynamodb.send(new DescribeTableCommand({ TableName: stack.tableName }));
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const due = Table?.GlobalSecondaryIndexes?.find((index) => index.IndexName === table.dueIndex.name);
    expect(due?.KeySchema).toEqual([
      { AttributeName: 'dueShard', KeyType: 'HASH' },
      { AttributeName: 'dueAt', KeyType: 'RANGE' },
    ]);
    expect(due?.Projection?.ProjectionType).toBe('ALL');
    const ttl = await stack.dynamodb.send(new DescribeTimeToLiveCommand({ TableName: stack.tableName }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe(table.ttlAttribute);
  });

  it('lets a handler reach DynamoDB and SQS through the environment alone', async () => {
    const result = (await stack.invoke('health', {})) as unknown;
    expect(result).toMatchObject({ statusCode: 200 });
    const direct = await startInvokeWith(envOnly);
    expect(direct).toMatchObject({ table: stack.tableName, messageId: expect.any(String) });
    await stack.drain({ timeoutMs: 10_000 });
  });

  it('runs a schedule with the EventBridge Scheduler event', async () => {
    expect(await stack.runSchedule('decay', { now: '2026-07-01T00:00:00.000Z' })).toEqual({
      ran: 'decay',
      event: { schedule: 'decay', now: '2026-07-01T00:00:00.000Z' },
    });
    await expect(stack.runSchedule('nope')).rejects.toThrow(/no schedule/);
  });
});

/** Invoke `fn` as the decay function of the running stack (same env and runtime). */
async function startInvokeWith(fn: LambdaHandler): Promise<unknown> {
  const previous = handlers.decay;
  handlers.decay = fn;
  try {
    return await stack.invoke('decay', { schedule: 'decay' });
  } finally {
    if (previous) handlers.decay = previous;
  }
}

describe('persistent mode', () => {
  it('writes stack.json while running, refuses a second stack on the same directory, removes it on stop', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mql-local-'));
    try {
      // Another stack in this process would fight over process.env; this one only lives for the checks.
      const persistent = await startTestStack({ dataDir, loadHandler: (name) => handlers[name], log: () => {} });
      try {
        const file = JSON.parse(readFileSync(stackFilePath(dataDir), 'utf8')) as Record<string, unknown>;
        expect(file).toMatchObject({
          baseUrl: persistent.baseUrl,
          dynamoEndpoint: persistent.dynamoEndpoint,
          sqsEndpoint: persistent.sqsEndpoint,
          tableName: persistent.tableName,
          queueUrls: { handoff: persistent.queueUrls.handoff },
          pid: process.pid,
        });
        expect(readStackFile(dataDir)?.baseUrl).toBe(persistent.baseUrl);
        // A second stack on the same directory, as another process would see it:
        const other = JSON.stringify({ ...file, pid: process.ppid });
        const { writeFileSync } = await import('node:fs');
        writeFileSync(stackFilePath(dataDir), other);
        await expect(startTestStack({ dataDir, log: () => {} })).rejects.toThrow(LocalStackError);
        writeFileSync(stackFilePath(dataDir), JSON.stringify(file));
      } finally {
        await persistent.stop();
      }
      expect(existsSync(stackFilePath(dataDir))).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      // The main stack's environment is back for the handlers (re-applied before every invocation).
    }
  });
});
