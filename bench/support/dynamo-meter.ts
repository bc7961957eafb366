/**
 * SDK middleware that meters what a DynamoDB client reads and writes, per command: requests, items the
 * command read (a Scan's or Query's ScannedCount: every item evaluated, filtered out or not; a GetItem's
 * item; a BatchGetItem's or TransactGetItems' responses), items it returned, and the capacity units DynamoDB
 * reports. It asks for that report (`ReturnConsumedCapacity: TOTAL`) on every command that takes it and
 * did not ask itself; nothing else of a request or a response is touched. Added to a DynamoDBClient it
 * also meters the DynamoDBDocumentClient built from it (they share one middleware stack).
 */

/** Anything with the SDK's middleware stack. */
interface WithMiddleware {
  middlewareStack: object;
}
interface LooseStack {
  add(middleware: unknown, options: { step: string; name: string; priority?: string }): void;
}
type Next = (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>;
type Context = { commandName?: string };

/** Commands that take ReturnConsumedCapacity, and whether they read. */
const metered: Record<string, 'read' | 'write'> = {
  Scan: 'read',
  Query: 'read',
  GetItem: 'read',
  BatchGetItem: 'read',
  TransactGetItems: 'read',
  PutItem: 'write',
  UpdateItem: 'write',
  DeleteItem: 'write',
  BatchWriteItem: 'write',
  TransactWriteItems: 'write',
};

export interface CommandMeter {
  requests: number;
  /** Items read (evaluated): what a read is billed by. Zero for writes. */
  itemsRead: number;
  /** Items handed back (after a filter): at most `itemsRead`. */
  itemsReturned: number;
  /** Capacity units DynamoDB reported (RCU for reads, WCU for writes). */
  capacityUnits: number;
}

const zero = (): CommandMeter => ({ requests: 0, itemsRead: 0, itemsReturned: 0, capacityUnits: 0 });

function capacityOf(output: Record<string, unknown>): number {
  const consumed = output.ConsumedCapacity as { CapacityUnits?: number } | { CapacityUnits?: number }[] | undefined;
  if (!consumed) return 0;
  return (Array.isArray(consumed) ? consumed : [consumed]).reduce((sum, one) => sum + (one.CapacityUnits ?? 0), 0);
}

function countOf(responses: unknown): number {
  if (Array.isArray(responses)) return responses.length;
  return Object.values((responses as Record<string, unknown[]> | undefined) ?? {}).reduce((sum, items) => sum + items.length, 0);
}

/** Items a read command read and returned, from its answer. */
function itemsOf(command: string, output: Record<string, unknown>): { read: number; returned: number } {
  switch (command) {
    case 'Scan':
    case 'Query':
      return { read: (output.ScannedCount as number | undefined) ?? 0, returned: (output.Count as number | undefined) ?? 0 };
    case 'GetItem':
      return output.Item ? { read: 1, returned: 1 } : { read: 0, returned: 0 };
    default: {
      const count = countOf(output.Responses);
      return { read: count, returned: count };
    }
  }
}

export class DynamoMeter {
  private readonly byCommand = new Map<string, CommandMeter>();

  constructor(client: WithMiddleware, name = 'benchDynamoMeter') {
    (client.middlewareStack as LooseStack).add(
      (next: Next, context: Context) => async (args: { input: Record<string, unknown> }) => {
        const command = (context.commandName ?? 'unknown').replace(/Command$/, '');
        const kind = metered[command];
        const input = kind && args.input.ReturnConsumedCapacity === undefined ? { ...args.input, ReturnConsumedCapacity: 'TOTAL' } : args.input;
        const answer = await next({ ...args, input });
        const figures = this.byCommand.get(command) ?? zero();
        figures.requests += 1;
        if (kind === 'read') {
          const items = itemsOf(command, answer.output);
          figures.itemsRead += items.read;
          figures.itemsReturned += items.returned;
        }
        if (kind) figures.capacityUnits += capacityOf(answer.output);
        this.byCommand.set(command, figures);
        return answer;
      },
      { step: 'initialize', name, priority: 'high' },
    );
  }

  reset(): void {
    this.byCommand.clear();
  }

  /** What each command cost since the last reset. */
  commands(): Record<string, CommandMeter> {
    return Object.fromEntries([...this.byCommand].map(([command, figures]) => [command, { ...figures }]));
  }

  /** Reads (Scan, Query, GetItem, BatchGetItem, TransactGetItems) summed since the last reset. */
  reads(): CommandMeter {
    return this.sum('read');
  }

  /** Writes summed since the last reset. */
  writes(): CommandMeter {
    return this.sum('write');
  }

  private sum(kind: 'read' | 'write'): CommandMeter {
    const total = zero();
    for (const [command, figures] of this.byCommand) {
      if (metered[command] !== kind) continue;
      total.requests += figures.requests;
      total.itemsRead += figures.itemsRead;
      total.itemsReturned += figures.itemsReturned;
      total.capacityUnits += figures.capacityUnits;
    }
    return total;
  }
}
