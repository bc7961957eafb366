/**
 * What each Lambda invocation of the local stack uses, for the cost model (support/cost-model.ts): its
 * duration and memory, its API Gateway request, the DynamoDB request units of every call it makes (by the
 * rules of support/request-units.ts, from the marshalled requests and their answers), its SQS requests
 * (64 KB chunks), the bytes it logs, and the bytes it adds to the table. The handlers run wrapped (the
 * stack's `loadHandler`) inside an AsyncLocalStorage scope, so the SDK middleware knows whose call it sees;
 * the local SQS poller's receives and deletes (Lambda's event-source mapping in AWS) are kept apart.
 * Nothing here changes a request or an answer.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { HandlerLoader, LambdaHandler } from '../../lib/local/runtime.ts';
import { loadDefaultHandler } from '../../lib/local/runtime.ts';
import { functions, type HandlerName, table } from '../../lib/topology.ts';
import { anyItemSize, attributeString, type Consistency, readRequestUnits, writeRequestUnits } from './request-units.ts';

export interface InvocationUse {
  fn: HandlerName;
  memoryMb: number;
  /** performance.now() at the start, and the handler's duration. */
  startedAt: number;
  ms: number;
  /** For an API Gateway invocation: what the access log and the metering see. */
  http?: { routeKey: string; requestBytes: number; responseBytes: number; status: number; userAgent: string; stored: number };
  writeUnits: Record<string, number>;
  readUnits: Record<string, number>;
  /** Write units of transactions DynamoDB cancelled (a failed condition): billed too, counted apart. */
  cancelledWriteUnits: number;
  /** Updates, deletes and condition checks of an item the meter never saw written: counted at 1 KB. */
  unknownSizeWrites: number;
  sqsRequests: number;
  /** SQS calls naming the handoff queue (sends, re-queues). */
  handoffSqsRequests: number;
  /** Bytes the handler wrote to stdout/stderr while the log capture was on. */
  logBytes: number;
  /** Net bytes the invocation added to the table by item kind, and items it created. */
  addedBytes: Record<string, number>;
  newItems: Record<string, number>;
}

/** A call of the local poller (Lambda's event-source mapping): not inside an invocation. */
export interface PollerCall {
  at: number;
  command: string;
  queue: string;
  requests: number;
  messages: number;
}

interface Known {
  bytes: number;
  kind: string;
  indexed: boolean;
}

type Next = (args: { input: unknown }) => Promise<{ output: unknown }>;
type Context = { commandName?: string };
interface WithMiddleware {
  middlewareStack: object;
}
const stackOf = (client: WithMiddleware) =>
  client.middlewareStack as { add(middleware: unknown, options: { step: string; name: string; priority?: string }): void };

const add = (record: Record<string, number>, key: string, value: number) => {
  record[key] = (record[key] ?? 0) + value;
};
const sqsChunk = 64 * 1024;
const chunks = (bytes: number) => Math.max(1, Math.ceil(bytes / sqsChunk));
const queueOf = (url: unknown) => (typeof url === 'string' ? (url.split('/').at(-1) ?? '') : '');

type Item = Record<string, unknown>;
interface KeyedWrite {
  kind: 'put' | 'update' | 'delete' | 'check';
  key: Item;
  item?: Item;
}

export class CostMeter {
  readonly invocations: InvocationUse[] = [];
  readonly poller: PollerCall[] = [];
  private readonly scope = new AsyncLocalStorage<InvocationUse>();
  private readonly known = new Map<string, Known>();

  /** The stack's `loadHandler`: every function's real handler, timed and scoped. */
  readonly loadHandler: HandlerLoader = async (name) => this.wrap(name, await loadDefaultHandler(name));

  wrap(name: HandlerName, handler: LambdaHandler): LambdaHandler {
    return async (event, context) => {
      const use: InvocationUse = {
        fn: name,
        memoryMb: functions[name].memoryMb,
        startedAt: performance.now(),
        ms: 0,
        writeUnits: {},
        readUnits: {},
        cancelledWriteUnits: 0,
        unknownSizeWrites: 0,
        sqsRequests: 0,
        handoffSqsRequests: 0,
        logBytes: 0,
        addedBytes: {},
        newItems: {},
      };
      try {
        const result = await this.scope.run(use, () => handler(event, context));
        use.http = httpFacts(event, result);
        return result;
      } finally {
        use.ms = performance.now() - use.startedAt;
        this.invocations.push(use);
      }
    };
  }

  /** Counts bytes the handlers write to stdout and stderr (not printing them) until the returned function is called. */
  captureLogs(): () => void {
    const streams = [process.stdout, process.stderr] as const;
    const originals = streams.map((stream) => stream.write);
    streams.forEach((stream, index) => {
      const original = originals[index]!;
      stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const use = this.scope.getStore();
        if (!use) return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
        use.logBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
        const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }) as typeof stream.write;
    });
    return () => {
      streams.forEach((stream, index) => {
        stream.write = originals[index]!;
      });
    };
  }

  /** Request units of every call through the handlers' DynamoDB client (lib/runtime/aws.ts). */
  attachDynamo(client: WithMiddleware): void {
    stackOf(client).add(
      (next: Next, context: Context) => async (args: { input: unknown }) => {
        const command = (context.commandName ?? 'unknown').replace(/Command$/, '');
        const input = args.input as Record<string, unknown>;
        let result: { output: unknown };
        try {
          result = await next(args);
        } catch (error) {
          if ((error as Error).name === 'TransactionCanceledException' || (error as Error).name === 'ConditionalCheckFailedException') {
            const use = this.scope.getStore();
            if (use) use.cancelledWriteUnits += this.writes(command, input, undefined, false);
          }
          throw error;
        }
        const use = this.scope.getStore();
        const output = (result.output ?? {}) as Record<string, unknown>;
        const wru = this.writes(command, input, use, true);
        const rru = this.reads(command, input, output);
        if (use) {
          if (wru > 0) add(use.writeUnits, command, wru);
          if (rru > 0) add(use.readUnits, command, rru);
        }
        return result;
      },
      // After the document client's marshalling: the request's items are AttributeValue maps here.
      { step: 'build', name: 'benchCostMeterDynamo' },
    );
  }

  /** SQS requests of the handlers' client and of the local poller (the stack's own client). */
  attachSqs(client: WithMiddleware, role: 'functions' | 'poller'): void {
    stackOf(client).add(
      (next: Next, context: Context) => async (args: { input: unknown }) => {
        const result = await next(args);
        const command = (context.commandName ?? 'unknown').replace(/Command$/, '');
        const input = args.input as { QueueUrl?: string; Entries?: { MessageBody?: string }[]; MessageBody?: string };
        const output = (result.output ?? {}) as { Messages?: { Body?: string }[] };
        const payload =
          command === 'SendMessageBatch'
            ? (input.Entries ?? []).reduce((sum, entry) => sum + Buffer.byteLength(entry.MessageBody ?? ''), 0)
            : command === 'SendMessage'
              ? Buffer.byteLength(input.MessageBody ?? '')
              : command === 'ReceiveMessage'
                ? (output.Messages ?? []).reduce((sum, message) => sum + Buffer.byteLength(message.Body ?? ''), 0)
                : 0;
        const requests = chunks(payload);
        const queue = queueOf(input.QueueUrl);
        const use = this.scope.getStore();
        if (role === 'functions' && use) {
          use.sqsRequests += requests;
          if (queue === 'handoff') use.handoffSqsRequests += requests;
        } else if (
          role === 'poller' &&
          ['ReceiveMessage', 'DeleteMessage', 'DeleteMessageBatch', 'ChangeMessageVisibility', 'ChangeMessageVisibilityBatch'].includes(command)
        ) {
          this.poller.push({ at: performance.now(), command, queue, requests, messages: output.Messages?.length ?? 0 });
        }
        return result;
      },
      { step: 'initialize', name: 'benchCostMeterSqs' },
    );
  }

  /** Write units of a write command by the published rules; when `commit`, notes the items' new sizes and what they added. */
  private writes(command: string, input: Record<string, unknown>, use: InvocationUse | undefined, commit: boolean): number {
    const writes: KeyedWrite[] = [];
    let transactional = false;
    if (command === 'TransactWriteItems') {
      transactional = true;
      for (const entry of (input.TransactItems ?? []) as Record<string, { Item?: Item; Key?: Item }>[]) {
        if (entry.Put?.Item) writes.push({ kind: 'put', key: entry.Put.Item, item: entry.Put.Item });
        else if (entry.Update?.Key) writes.push({ kind: 'update', key: entry.Update.Key });
        else if (entry.Delete?.Key) writes.push({ kind: 'delete', key: entry.Delete.Key });
        else if (entry.ConditionCheck?.Key) writes.push({ kind: 'check', key: entry.ConditionCheck.Key });
      }
    } else if (command === 'PutItem' && input.Item) writes.push({ kind: 'put', key: input.Item as Item, item: input.Item as Item });
    else if (command === 'UpdateItem' && input.Key) writes.push({ kind: 'update', key: input.Key as Item });
    else if (command === 'DeleteItem' && input.Key) writes.push({ kind: 'delete', key: input.Key as Item });
    else if (command === 'BatchWriteItem') {
      for (const requests of Object.values((input.RequestItems ?? {}) as Record<string, { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]>)) {
        for (const request of requests) {
          if (request.PutRequest) writes.push({ kind: 'put', key: request.PutRequest.Item, item: request.PutRequest.Item });
          else if (request.DeleteRequest) writes.push({ kind: 'delete', key: request.DeleteRequest.Key });
        }
      }
    }
    let units = 0;
    for (const write of writes) {
      const id = keyOf(write.key);
      const before = this.known.get(id);
      const after = write.item ? anyItemSize(write.item, true) : undefined;
      if (!before && after === undefined && use && commit) use.unknownSizeWrites += 1;
      const bytes = Math.max(before?.bytes ?? 0, after ?? 0) || 1024;
      units += writeRequestUnits(bytes, transactional);
      const indexed = write.item ? attributeString(write.item, table.dueIndex.partitionKey) !== undefined : (before?.indexed ?? false);
      // The sparse due index (projection ALL) is written when the item enters, leaves or stays in it.
      if (write.kind !== 'check' && (indexed || before?.indexed)) units += writeRequestUnits(bytes, false);
      if (!commit || write.kind === 'check' || write.kind === 'update') continue;
      if (write.kind === 'delete') {
        this.known.delete(id);
        continue;
      }
      const kind = attributeString(write.item, 'kind') ?? 'other';
      this.known.set(id, { bytes: after ?? 0, kind, indexed });
      if (use) {
        add(use.addedBytes, kind, (after ?? 0) - (before?.bytes ?? 0));
        if (!before) add(use.newItems, kind, 1);
      }
    }
    return units;
  }

  /** Read units of a read command, from the items it returned (the full item's size when the meter knows it). */
  private reads(command: string, input: Record<string, unknown>, output: Record<string, unknown>): number {
    const consistency = (strong: unknown): Consistency => (strong === true ? 'strong' : 'eventual');
    const sizeOf = (item: Item) => Math.max(this.known.get(keyOf(item))?.bytes ?? 0, anyItemSize(item, false));
    if (command === 'GetItem') {
      const item = output.Item as Item | undefined;
      return readRequestUnits(item ? sizeOf(item) : 0, consistency(input.ConsistentRead));
    }
    if (command === 'BatchGetItem') {
      let units = 0;
      const responses = (output.Responses ?? {}) as Record<string, Item[]>;
      for (const [tableName, request] of Object.entries((input.RequestItems ?? {}) as Record<string, { Keys?: unknown[]; ConsistentRead?: boolean }>)) {
        const items = responses[tableName] ?? [];
        const unprocessed = ((output.UnprocessedKeys as Record<string, { Keys?: unknown[] }> | undefined)?.[tableName]?.Keys ?? []).length;
        for (const item of items) units += readRequestUnits(sizeOf(item), consistency(request.ConsistentRead));
        const missing = (request.Keys?.length ?? 0) - unprocessed - items.length;
        units += Math.max(0, missing) * readRequestUnits(0, consistency(request.ConsistentRead));
      }
      return units;
    }
    if (command === 'Query' || command === 'Scan') {
      const items = (output.Items ?? []) as Item[];
      return readRequestUnits(
        items.reduce((sum, item) => sum + sizeOf(item), 0),
        consistency(input.ConsistentRead),
      );
    }
    if (command === 'TransactGetItems') {
      const responses = (output.Responses ?? []) as { Item?: Item }[];
      return responses.reduce((sum, response) => sum + readRequestUnits(response.Item ? sizeOf(response.Item) : 0, 'transactional'), 0);
    }
    return 0;
  }
}

/** The item's table key, from a marshalled (`{S: ...}`) or a plain item. */
function keyOf(item: Item): string {
  return `${attributeString(item, table.partitionKey) ?? ''}\u0000${attributeString(item, table.sortKey) ?? ''}`;
}

function httpFacts(event: unknown, result: unknown): InvocationUse['http'] {
  const request = event as {
    routeKey?: string;
    body?: string;
    isBase64Encoded?: boolean;
    headers?: Record<string, string>;
    requestContext?: { http?: unknown };
  };
  if (!request?.requestContext?.http) return undefined;
  const response = (result ?? {}) as { statusCode?: number; body?: string };
  const body = response.body ?? '';
  let stored = 0;
  try {
    stored = (JSON.parse(body) as { stored?: number }).stored ?? 0;
  } catch {
    // not a JSON answer
  }
  return {
    routeKey: request.routeKey ?? '',
    requestBytes: request.body ? Buffer.byteLength(request.body, request.isBase64Encoded ? 'base64' : 'utf8') : 0,
    responseBytes: Buffer.byteLength(body),
    status: response.statusCode ?? 200,
    userAgent: request.headers?.['user-agent'] ?? '-',
    stored,
  };
}
