/**
 * The raw ceiling: TransactWriteItems/s of a single-event delivery's shape on the same DynamoDB Local,
 * with items copied from a lead the warm-up stored; with a GetItem before each (what the store reads
 * first); one at a time. Then a probe of how DynamoDB Local reports ConsumedCapacity.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AttributeValue,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { createTable, dynamoClient } from '../../lib/local/dynamodb.ts';
import { leadPk, profileSk } from '../../lib/store/keys.ts';
import type { BenchContext } from '../context.ts';
import { itemSize, transactionalWcu, writeUnits } from '../support/items.ts';
import type { CpuUse } from '../support/processes.ts';
import { cores, fmt, tableRow } from '../support/report.ts';
import { pool, round, type Summary, summarize } from '../support/stats.ts';
import { templateLead } from './warmup.ts';

const ceilingTable = 'bench-ceiling';

export interface CeilingRun {
  transactions: number;
  failures: number;
  conflicts: number;
  seconds: number;
  perSecond: number;
  latencyMs: Summary;
  cpu: CpuUse;
}

/** What DynamoDB Local reported for `items` puts of `itemBytes` in one transaction, and what the published rule says. */
interface ProbeReading {
  items: number;
  itemBytes: number;
  reported: number;
  rule: number;
}

/** Does DynamoDB Local's ConsumedCapacity follow the published rule? */
export interface CapacityProbe {
  single: ProbeReading;
  triple: ProbeReading;
  undercountsMultiItemTransactions: boolean;
}

export interface CeilingFigures {
  shape: string;
  templateItemBytes: { event: number; raw: number; lead: number };
  templateEstimatedWcu: number;
  consumedCapacity: { responses: number; units: number; sample: unknown };
  transactWriteItems: CeilingRun;
  getItemThenTransactWriteItems: CeilingRun;
  transactWriteItemsOneAtATime: CeilingRun;
}

export async function rawCeiling(ctx: BenchContext): Promise<{ ceiling: CeilingFigures; probe: CapacityProbe }> {
  const { params, stack } = ctx;
  const lead = templateLead(ctx);
  const stored = await stack.dynamodb.send(
    new QueryCommand({
      TableName: stack.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: leadPk(lead) } },
      ConsistentRead: true,
    }),
  );
  const pick = (kind: string) => {
    const item = (stored.Items ?? []).find((candidate) => candidate.kind?.S === kind);
    if (!item) throw new Error(`no ${kind} item stored for ${lead}: the warm-up did not store events`);
    return item;
  };
  const template = { event: pick('event'), raw: pick('raw'), lead: pick('lead') };
  const templateBytes = { event: itemSize(template.event), raw: itemSize(template.raw), lead: itemSize(template.lead) };

  const client = dynamoClient(stack.dynamoEndpoint, stack.region);
  try {
    await createTable(client, ceilingTable);
    let consumed: CeilingFigures['consumedCapacity'] = { responses: 0, units: 0, sample: undefined };

    /** One delivery's transaction on the ceiling table: event (attribute_not_exists), raw, lead (a condition that holds). */
    async function transaction(index: number, withGet: boolean): Promise<{ ms: number; conflicts: number }> {
      const started = performance.now();
      const pk: AttributeValue = { S: leadPk(`ceiling-${index % params.leads}@acme-bench.example.com`) };
      const id = randomUUID();
      const items: TransactWriteItem[] = [
        {
          Put: {
            TableName: ceilingTable,
            Item: { ...template.event, pk, sk: { S: `EVT#${new Date().toISOString()}#segment#${id}` } },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        { Put: { TableName: ceilingTable, Item: { ...template.raw, pk, sk: { S: `RAW#segment#${id}` } } } },
        { Put: { TableName: ceilingTable, Item: { ...template.lead, pk }, ConditionExpression: 'attribute_not_exists(pk) OR attribute_exists(version)' } },
      ];
      let conflicts = 0;
      for (let attempt = 1; ; attempt++) {
        try {
          if (withGet) await client.send(new GetItemCommand({ TableName: ceilingTable, Key: { pk, sk: { S: profileSk } }, ConsistentRead: true }));
          const answer = await client.send(new TransactWriteItemsCommand({ TransactItems: items, ReturnConsumedCapacity: 'TOTAL' }));
          if (answer.ConsumedCapacity && answer.ConsumedCapacity.length > 0) {
            consumed.responses += 1;
            consumed.units += writeUnits(answer.ConsumedCapacity);
            consumed.sample ??= answer.ConsumedCapacity;
          }
          return { ms: performance.now() - started, conflicts };
        } catch (error) {
          if ((error as Error).name !== 'TransactionCanceledException' || attempt >= 20) throw error;
          conflicts += 1;
          await sleep(Math.random() * Math.min(100, 5 * 2 ** attempt));
        }
      }
    }

    async function run(count: number, withGet: boolean, concurrency = params.concurrency): Promise<CeilingRun> {
      const latencies: number[] = [];
      let conflicts = 0;
      let failures = 0;
      const mark = ctx.cpu.mark();
      await pool(
        count,
        concurrency,
        async (index) => {
          try {
            const result = await transaction(index, withGet);
            latencies.push(result.ms);
            conflicts += result.conflicts;
          } catch (error) {
            failures += 1;
            if (failures <= 3) ctx.errors.push(`ceiling transaction failed: ${(error as Error).name}: ${(error as Error).message}`);
          }
        },
        ctx.overBudget,
      );
      const cpu = ctx.cpu.since(mark);
      return {
        transactions: latencies.length,
        failures,
        conflicts,
        seconds: cpu.seconds,
        perSecond: round(latencies.length / cpu.seconds, 1),
        latencyMs: summarize(latencies),
        cpu,
      };
    }

    await run(params.ceilingWarmup, false);
    consumed = { responses: 0, units: 0, sample: undefined };
    const transactWriteItems = await run(params.ceilingTransactions, false);
    const consumedCapacity = { ...consumed };
    const getItemThenTransactWriteItems = await run(params.ceilingTransactions, true);
    // One at a time: how much of the ceiling concurrency buys (DynamoDB Local applies transactions one by one).
    const transactWriteItemsOneAtATime = await run(params.ceilingSerialTransactions, false, 1);
    const probe = await capacityProbe(client, ctx.runId);
    return {
      ceiling: {
        shape:
          'TransactWriteItems of 3 puts: event (attribute_not_exists(pk)), raw payload, lead (a condition that holds), items copied from a stored warm-up lead',
        templateItemBytes: templateBytes,
        templateEstimatedWcu: transactionalWcu(templateBytes.event) + transactionalWcu(templateBytes.raw) + transactionalWcu(templateBytes.lead),
        consumedCapacity,
        transactWriteItems,
        getItemThenTransactWriteItems,
        transactWriteItemsOneAtATime,
      },
      probe,
    };
  } finally {
    client.destroy();
  }
}

/** One put of 3 KB alone, then three such puts in one transaction: the rule says 6 and 18 WCU. */
async function capacityProbe(client: DynamoDBClient, runId: string): Promise<CapacityProbe> {
  const probeItem = (index: number): Record<string, AttributeValue> => ({
    pk: { S: 'PROBE' },
    sk: { S: `probe-${runId}-${index}` },
    pad: { S: 'x'.repeat(3000) },
  });
  const bytes = itemSize(probeItem(0));
  const reportedFor = async (indexes: number[]) => {
    const answer = await client.send(
      new TransactWriteItemsCommand({
        TransactItems: indexes.map((index) => ({ Put: { TableName: ceilingTable, Item: probeItem(index) } })),
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    return writeUnits(answer.ConsumedCapacity);
  };
  const single = { items: 1, itemBytes: bytes, reported: await reportedFor([0]), rule: transactionalWcu(bytes) };
  const triple = { items: 3, itemBytes: bytes, reported: await reportedFor([1, 2, 3]), rule: 3 * transactionalWcu(bytes) };
  return { single, triple, undercountsMultiItemTransactions: triple.reported < triple.rule };
}

export function ceilingRows(ceiling: CeilingFigures): string[] {
  const { transactWriteItems: all, getItemThenTransactWriteItems: withGet, transactWriteItemsOneAtATime: serial } = ceiling;
  return [
    tableRow('3. DynamoDB Local TransactWriteItems (raw)', all.transactions, all.seconds, all.perSecond, all.latencyMs),
    tableRow('   GetItem + TransactWriteItems (raw)', withGet.transactions, withGet.seconds, withGet.perSecond, withGet.latencyMs),
    tableRow('   TransactWriteItems one at a time (raw)', serial.transactions, serial.seconds, serial.perSecond, serial.latencyMs),
  ];
}

export const ceilingCpuLine = (ceiling: CeilingFigures, concurrency: number): string =>
  `  ceiling   ${cores(ceiling.transactWriteItems.cpu)}; concurrency ${concurrency} gives ${fmt(ceiling.transactWriteItems.perSecond / ceiling.transactWriteItemsOneAtATime.perSecond, 2)}× the one-at-a-time rate`;

export const ceilingLines = (ceiling: CeilingFigures, concurrency: number): string[] => [...ceilingRows(ceiling), ceilingCpuLine(ceiling, concurrency)];
