/**
 * Read-only SDK middleware the benchmark adds to the clients the pipeline and the stack already use:
 * per-command latencies, the marshalled size of every TransactWriteItems the store sends (for the
 * capacity estimate), whether DynamoDB Local reports ConsumedCapacity, and when each handoff record
 * was enqueued and received by the local SQS poller. Nothing here changes a request or a response.
 */
import { performance } from 'node:perf_hooks';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type ConsumedCapacity, itemSize, standardWcu, transactionalWcu, writeUnits } from './items.ts';
import { round, summarize } from './stats.ts';

/** Anything with the SDK's middleware stack (DynamoDBClient, DynamoDBDocumentClient, SQSClient). */
interface WithMiddleware {
  middlewareStack: object;
}
interface LooseStack {
  add(middleware: unknown, options: { step: string; name: string; priority?: string }): void;
}
/** The SDK's overloads per step are precise; these middlewares only observe, so a loose signature is enough. */
const stackOf = (client: WithMiddleware) => client.middlewareStack as LooseStack;

type Next = (args: { input: unknown }) => Promise<{ output: unknown }>;
type Context = { commandName?: string };

/** Items a command's request writes: each of a transaction, a batch write's requests, or the one item. */
function itemsWrittenBy(command: string, input: unknown): number {
  const given = input as { TransactItems?: unknown[]; RequestItems?: Record<string, unknown[]> };
  if (command === 'TransactWriteItems') return given.TransactItems?.length ?? 0;
  if (command === 'BatchWriteItem') return Object.values(given.RequestItems ?? {}).reduce((sum, list) => sum + list.length, 0);
  return ['PutItem', 'UpdateItem', 'DeleteItem'].includes(command) ? 1 : 0;
}

/** Items a command's answer returns: a GetItem's item, a Query's or Scan's items, a batch read's responses. */
function itemsReadBy(output: unknown): number {
  const answer = output as { Item?: unknown; Items?: unknown[]; Responses?: Record<string, unknown[]> | unknown[] };
  const responses = answer.Responses && !Array.isArray(answer.Responses) ? Object.values(answer.Responses).reduce((sum, list) => sum + list.length, 0) : 0;
  return (answer.Item ? 1 : 0) + (answer.Items?.length ?? 0) + responses;
}

/** Durations (ms) of every command sent through the client, by command name, and the items each read and wrote. */
export class CommandTimer {
  readonly durations = new Map<string, number[]>();
  readonly failures = new Map<string, number>();
  readonly itemsRead = new Map<string, number>();
  readonly itemsWritten = new Map<string, number>();

  constructor(client: WithMiddleware, name: string) {
    stackOf(client).add(
      (next: Next, context: Context) => async (args: { input: unknown }) => {
        const started = performance.now();
        const command = (context.commandName ?? 'unknown').replace(/Command$/, '');
        try {
          const result = await next(args);
          this.itemsRead.set(command, (this.itemsRead.get(command) ?? 0) + itemsReadBy(result.output));
          this.itemsWritten.set(command, (this.itemsWritten.get(command) ?? 0) + itemsWrittenBy(command, args.input));
          return result;
        } catch (error) {
          this.failures.set(command, (this.failures.get(command) ?? 0) + 1);
          throw error;
        } finally {
          const list = this.durations.get(command) ?? [];
          list.push(performance.now() - started);
          this.durations.set(command, list);
        }
      },
      { step: 'initialize', name, priority: 'high' },
    );
  }

  reset(): void {
    this.durations.clear();
    this.failures.clear();
    this.itemsRead.clear();
    this.itemsWritten.clear();
  }

  /** Calls, calls per `per` (events, leads), mean and p95 ms and failures of each command since the last reset. */
  summary(per: number): Record<string, CommandFigures> {
    const out: Record<string, CommandFigures> = {};
    for (const [command, durations] of this.durations) {
      const summary = summarize(durations);
      out[command] = {
        calls: durations.length,
        perEvent: round(durations.length / per, 3),
        meanMs: summary.mean,
        p95Ms: summary.p95,
        failures: this.failures.get(command) ?? 0,
        itemsRead: this.itemsRead.get(command) ?? 0,
        itemsWritten: this.itemsWritten.get(command) ?? 0,
      };
    }
    return out;
  }
}

export interface CommandFigures {
  calls: number;
  perEvent: number;
  meanMs: number;
  p95Ms: number;
  failures: number;
  /** Items the successful calls' answers returned, and their requests wrote. */
  itemsRead: number;
  itemsWritten: number;
}

export interface TransactionSizes {
  /** Committed transactions seen on the wire. */
  committed: number;
  cancelled: number;
  /** PutItem calls that stored their item (lead-first writes: lib/store/lead-first.ts), and those whose condition failed. */
  puts: number;
  failedPuts: number;
  /** Sum of item bytes per role, committed transactions and stored puts. */
  bytes: { event: number; raw: number; lead: number; other: number };
  items: { event: number; raw: number; lead: number; other: number };
  /** 2 WCU per KB of each item of a committed transaction, 1 per KB of each stored put. */
  estimatedWcu: number;
  /** What the cancelled transactions and failed conditional puts cost by the same rules (billed; not in estimatedWcu). */
  cancelledWcu: number;
  /** Lead items that carry the sparse `due` index keys: the GSI is written too (1 WCU per KB, estimated). */
  gsiWrites: number;
  gsiEstimatedWcu: number;
  /** Responses that carried ConsumedCapacity, and what they said. */
  consumedCapacityResponses: number;
  consumedCapacityUnits: number;
  sample?: { event?: number; raw?: number; lead?: number };
}

function roleOf(item: Record<string, AttributeValue>): 'event' | 'raw' | 'lead' | 'other' {
  const kind = item.kind?.S;
  if (kind === 'event' || kind === 'raw' || kind === 'lead') return kind;
  return 'other';
}

/** Sizes every TransactWriteItems and PutItem the store sends, after the document client marshalled it. */
export class TransactionSizer {
  stats: TransactionSizes = TransactionSizer.empty();

  static empty(): TransactionSizes {
    return {
      committed: 0,
      cancelled: 0,
      puts: 0,
      failedPuts: 0,
      bytes: { event: 0, raw: 0, lead: 0, other: 0 },
      items: { event: 0, raw: 0, lead: 0, other: 0 },
      estimatedWcu: 0,
      cancelledWcu: 0,
      gsiWrites: 0,
      gsiEstimatedWcu: 0,
      consumedCapacityResponses: 0,
      consumedCapacityUnits: 0,
    };
  }

  constructor(client: WithMiddleware) {
    stackOf(client).add(
      (next: Next, context: Context) => async (args: { input: unknown }) => {
        if (context.commandName === 'PutItemCommand') return this.sizePut(next, args);
        if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
        // The build step runs after the document client's marshalling: AttributeValue maps here.
        const input = args.input as { TransactItems?: { Put?: { Item?: Record<string, AttributeValue> } }[] };
        const puts = (input.TransactItems ?? []).flatMap((entry) => (entry.Put?.Item ? [entry.Put.Item] : []));
        const sized = puts.map((item) => ({ role: roleOf(item), bytes: itemSize(item), due: item.dueShard !== undefined && item.dueAt !== undefined }));
        const wcu = sized.reduce((sum, item) => sum + transactionalWcu(item.bytes), 0);
        let result: { output: unknown };
        try {
          result = await next(args);
        } catch (error) {
          if ((error as Error).name === 'TransactionCanceledException') {
            this.stats.cancelled += 1;
            this.stats.cancelledWcu += wcu;
          }
          throw error;
        }
        const stats = this.stats;
        stats.committed += 1;
        stats.estimatedWcu += wcu;
        for (const item of sized) {
          stats.bytes[item.role] += item.bytes;
          stats.items[item.role] += 1;
          if (item.role === 'lead' && item.due) {
            stats.gsiWrites += 1;
            stats.gsiEstimatedWcu += standardWcu(item.bytes);
          }
        }
        stats.sample ??= Object.fromEntries(sized.map((item) => [item.role, item.bytes]));
        const consumed = (result.output as { ConsumedCapacity?: ConsumedCapacity[] }).ConsumedCapacity;
        if (consumed && consumed.length > 0) {
          stats.consumedCapacityResponses += 1;
          stats.consumedCapacityUnits += writeUnits(consumed);
        }
        return result;
      },
      { step: 'build', name: 'benchTransactionSizer' },
    );
  }

  /** One PutItem: 1 WCU per KB, billed whether or not its condition holds. */
  private async sizePut(next: Next, args: { input: unknown }) {
    const item = (args.input as { Item?: Record<string, AttributeValue> }).Item ?? {};
    const role = roleOf(item);
    const bytes = itemSize(item);
    const wcu = standardWcu(bytes);
    let result: { output: unknown };
    try {
      result = await next(args);
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') {
        this.stats.failedPuts += 1;
        this.stats.cancelledWcu += wcu;
      }
      throw error;
    }
    const stats = this.stats;
    stats.puts += 1;
    stats.estimatedWcu += wcu;
    stats.bytes[role] += bytes;
    stats.items[role] += 1;
    if (role === 'lead' && item.dueShard !== undefined && item.dueAt !== undefined) {
      stats.gsiWrites += 1;
      stats.gsiEstimatedWcu += standardWcu(bytes);
    }
    const consumed = (result.output as { ConsumedCapacity?: ConsumedCapacity }).ConsumedCapacity;
    if (consumed) {
      stats.consumedCapacityResponses += 1;
      stats.consumedCapacityUnits += writeUnits([consumed]);
    }
    return result;
  }

  reset(): void {
    this.stats = TransactionSizer.empty();
  }
}

/**
 * After each `command` sent through `client`: the lead e-mails of the lead.mql records among the message
 * bodies `bodiesOf` finds in its input or output, how many bodies, and performance.now() when it was sent
 * and when it returned.
 */
function afterHandoffMessages(
  client: WithMiddleware,
  name: string,
  command: string,
  bodiesOf: (input: unknown, output: unknown) => (string | undefined)[],
  seen: (handoffs: { emails: string[]; messages: number; startedAt: number; at: number }) => void,
): void {
  stackOf(client).add(
    (next: Next, context: Context) => async (args: { input: unknown }) => {
      const startedAt = performance.now();
      const result = await next(args);
      if (context.commandName === command) {
        const at = performance.now();
        const bodies = bodiesOf(args.input, result.output);
        seen({ emails: bodies.flatMap((body) => emailOf(body) || []), messages: bodies.length, startedAt, at });
      }
      return result;
    },
    { step: 'initialize', name },
  );
}

/** Handoff records by lead e-mail: when the pipeline's SendMessageBatch for them returned. */
export class EnqueueClock {
  readonly enqueuedAt = new Map<string, number>();
  constructor(client: WithMiddleware) {
    afterHandoffMessages(
      client,
      'benchEnqueueClock',
      'SendMessageBatchCommand',
      (input) => ((input as { Entries?: { MessageBody?: string }[] }).Entries ?? []).map((entry) => entry.MessageBody),
      ({ emails, at }) => {
        for (const email of emails) if (!this.enqueuedAt.has(email)) this.enqueuedAt.set(email, at);
      },
    );
  }
}

/** What the local event-source poller received: when, and in batches of what size. */
export class ReceiveClock {
  readonly receivedAt = new Map<string, { at: number; batch: number; waitedMs: number }>();
  readonly batchSizes: number[] = [];
  constructor(client: WithMiddleware) {
    afterHandoffMessages(
      client,
      'benchReceiveClock',
      'ReceiveMessageCommand',
      (_input, output) => ((output as { Messages?: { Body?: string }[] }).Messages ?? []).map((message) => message.Body),
      ({ emails, messages, startedAt, at }) => {
        if (messages > 0) this.batchSizes.push(messages);
        for (const email of emails) if (!this.receivedAt.has(email)) this.receivedAt.set(email, { at, batch: messages, waitedMs: at - startedAt });
      },
    );
  }
}

function emailOf(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const record = JSON.parse(body) as { type?: string; lead?: { email?: string } };
    return record.type === 'lead.mql' ? record.lead?.email : undefined;
  } catch {
    return undefined;
  }
}
