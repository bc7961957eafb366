/**
 * Parallel Scan of the table for operator jobs (rescore, backtest, report, calibrate): a segment's page
 * at a time, and how many segments a table of its size wants. A Scan reads (and is billed for) every item
 * it evaluates, so it is never on a request path.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { eventSkPrefix, profileSk } from './keys.ts';
import type { StoreTable } from './table.ts';

/** One worker's share of a parallel Scan: segment `index` of `total` (DynamoDB's Segment/TotalSegments). */
export interface ScanSegment {
  readonly index: number;
  readonly total: number;
}

export interface ScanPage {
  items: Record<string, unknown>[];
  cursor?: Record<string, unknown>;
  /** Items the page evaluated (what DynamoDB bills), including those the filter left out. */
  scanned: number;
}

/**
 * One page of a segment's Scan of lead profiles and event items, the only kinds a history needs: raw
 * payloads, handoffs and markers are evaluated (and billed) but not sent. DynamoDB keeps a partition key's
 * items together and in sort-key order, and a segment holds whole partition keys, so a lead's profile and
 * events come one after the other (lib/store/lead-histories.ts checks it).
 */
export async function scanHistoryPage(
  table: StoreTable,
  options: { segment: ScanSegment; cursor?: Record<string, unknown>; limit?: number },
): Promise<ScanPage> {
  const page = await table.client.send(
    new ScanCommand({
      TableName: table.tableName,
      FilterExpression: 'sk = :profile OR begins_with(sk, :event)',
      ExpressionAttributeValues: { ':profile': profileSk, ':event': eventSkPrefix },
      ...(options.segment.total > 1 ? { Segment: options.segment.index, TotalSegments: options.segment.total } : {}),
      ...(options.cursor ? { ExclusiveStartKey: options.cursor } : {}),
      ...(options.limit ? { Limit: options.limit } : {}),
    }),
  );
  return { items: page.Items ?? [], ...(page.LastEvaluatedKey ? { cursor: page.LastEvaluatedKey } : {}), scanned: page.ScannedCount ?? 0 };
}

/** What DynamoDB says of the table's size (updated about every six hours): for ETAs and the default segment count. */
export async function tableEstimate(table: StoreTable): Promise<{ items: number; bytes: number } | undefined> {
  try {
    const { Table } = await table.client.send(new DescribeTableCommand({ TableName: table.tableName }));
    return Table ? { items: Table.ItemCount ?? 0, bytes: Table.TableSizeBytes ?? 0 } : undefined;
  } catch {
    // An operator without dynamodb:DescribeTable still gets the job, without an ETA.
    return undefined;
  }
}

/** Bytes of table per Scan segment by default: DynamoDB's guidance is a segment per one to two GB. */
const bytesPerSegment = 1024 ** 3;

/** The segments a job uses unless told: one per GB of table, 1 to 16. */
export function defaultSegments(estimate: { bytes: number } | undefined): number {
  if (!estimate) return 1;
  return Math.min(16, Math.max(1, Math.ceil(estimate.bytes / bytesPerSegment)));
}
