/**
 * Counts what DynamoDB reads for a client, by wrapping the document client's `send`: the items each
 * read evaluated (a Query's or Scan's ScannedCount, a GetItem's item, a BatchGetItem's responses) and
 * the requests. A real client against a real engine, only watched: nothing is answered in its place.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface ReadCounter {
  /** Items read since the last reset. */
  items: number;
  /** Read requests (Query, Scan, GetItem, BatchGetItem) since the last reset. */
  requests: number;
  reset(): void;
}

/** Starts counting the reads `client` makes from now on; returns the live counter. */
export function countReads(client: DynamoDBDocumentClient): ReadCounter {
  const counter: ReadCounter = {
    items: 0,
    requests: 0,
    reset() {
      counter.items = 0;
      counter.requests = 0;
    },
  };
  const send = client.send.bind(client) as (command: unknown, ...rest: unknown[]) => Promise<Record<string, unknown>>;
  const counting = async (command: { constructor: { name: string } }, ...rest: unknown[]) => {
    const answer = await send(command, ...rest);
    const name = command.constructor.name;
    if (name === 'QueryCommand' || name === 'ScanCommand') {
      counter.requests += 1;
      counter.items += (answer.ScannedCount as number | undefined) ?? 0;
    } else if (name === 'GetCommand') {
      counter.requests += 1;
      counter.items += answer.Item ? 1 : 0;
    } else if (name === 'BatchGetCommand') {
      counter.requests += 1;
      counter.items += Object.values((answer.Responses as Record<string, unknown[]> | undefined) ?? {}).reduce((sum, items) => sum + items.length, 0);
    }
    return answer;
  };
  (client as unknown as { send: typeof counting }).send = counting;
  return counter;
}
