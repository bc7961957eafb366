/**
 * The table's change stream locally: DynamoDB Local's own DynamoDB Streams, read by a poller that behaves like
 * Lambda's DynamoDB event-source mapping (lib/topology.ts `tableStream`): records in shard order, the mapping's
 * filter applied before the function sees them, batches of up to `batchSize`, and a failed batch retried (split in
 * halves, as `BisectBatchOnFunctionError` does) before it is given up with a log line, as the mapping's on-failure
 * destination would receive it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import type { _Record, AttributeValue } from '@aws-sdk/client-dynamodb-streams';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent, AttributeValue as LambdaAttributeValue } from 'aws-lambda';
import type { TableStreamSpec } from '../topology.ts';
import { localCredentials } from './dynamodb.ts';

/** Turns the table's stream on (a table of an older data directory has none). Returns the stream's ARN. */
export async function enableStream(client: DynamoDBClient, tableName: string, spec: TableStreamSpec): Promise<string> {
  const described = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const current = described.Table?.StreamSpecification;
  if (current?.StreamEnabled && current.StreamViewType === spec.viewType && described.Table?.LatestStreamArn) return described.Table.LatestStreamArn;
  const updated = await client.send(
    new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: true, StreamViewType: spec.viewType } }),
  );
  const arn = updated.TableDescription?.LatestStreamArn;
  if (!arn) throw new Error(`DynamoDB Local gave table ${tableName} no stream`);
  return arn;
}

export interface StreamPollerOptions {
  readonly endpoint: string;
  readonly region: string;
  readonly streamArn: string;
  readonly spec: TableStreamSpec;
  /** Runs the consumer; rejects on a function error. */
  readonly invoke: (event: DynamoDBStreamEvent) => Promise<unknown>;
  readonly log?: (message: string) => void;
  /** Pause between polls when the stream had nothing new. */
  readonly idleMs?: number;
}

export interface StreamPoller {
  /** A batch is being handed to the function. */
  readonly busy: boolean;
  /**
   * Reads and hands over everything the stream holds now; resolves with how many records reached the function, or
   * NaN when the pass failed part-way (what it did not read is still there: never "nothing left").
   */
  catchUp(): Promise<number>;
  stop(): Promise<void>;
}

/** Whether the mapping's filter keeps a record (lib/topology.ts `tableStream.filter`). */
function kept(record: _Record, spec: TableStreamSpec): boolean {
  const keys = record.dynamodb?.Keys;
  const pk = keys?.pk?.S;
  return typeof pk === 'string' && pk.startsWith(spec.filter.partitionKeyPrefix) && keys?.sk?.S === spec.filter.sortKey;
}

/** An attribute value as Lambda's JSON event carries it: binary as base64 text. */
function lambdaValue(value: AttributeValue): LambdaAttributeValue {
  // DynamoDB Local's stream hands an empty map (`{"M": {}}`) over as `{}`: Lambda's event says `{"M": {}}`.
  if (Object.keys(value).length === 0) return { M: {} };
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((one) => Buffer.from(one).toString('base64')) };
  if (value.M !== undefined) return { M: lambdaImage(value.M) };
  if (value.L !== undefined) return { L: value.L.map(lambdaValue) };
  return value as LambdaAttributeValue;
}

function lambdaImage(image: Record<string, AttributeValue> | undefined): Record<string, LambdaAttributeValue> {
  return Object.fromEntries(Object.entries(image ?? {}).map(([name, value]) => [name, lambdaValue(value)]));
}

/** A stream record as Lambda's DynamoDB event record. */
export function toStreamRecord(record: _Record, streamArn: string, region: string): DynamoDBRecord {
  const data = record.dynamodb;
  const created = data?.ApproximateCreationDateTime;
  return {
    eventID: record.eventID ?? '',
    eventName: record.eventName as DynamoDBRecord['eventName'],
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: region,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
      Keys: lambdaImage(data?.Keys),
      ...(data?.NewImage ? { NewImage: lambdaImage(data.NewImage) } : {}),
      ...(data?.OldImage ? { OldImage: lambdaImage(data.OldImage) } : {}),
      SequenceNumber: data?.SequenceNumber ?? '',
      SizeBytes: data?.SizeBytes ?? 0,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  const { spec, streamArn } = options;
  const log = options.log ?? ((message: string) => console.error(message));
  const client = new DynamoDBStreamsClient({ endpoint: options.endpoint, region: options.region, credentials: localCredentials });
  /** Each shard's next iterator; `null` once a shard is closed and read to its end. */
  const iterators = new Map<string, string | null>();
  /** Each shard's last record read, to ask for a new iterator after it when one expires. */
  const lastSequence = new Map<string, string>();
  let stopping = false;
  let busy = false;
  let running: Promise<number> = Promise.resolve(0);

  async function deliver(records: DynamoDBRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await options.invoke({ Records: records });
        return;
      } catch {
        // The runtime has logged the error. Split the batch to isolate a bad record, as the mapping does.
        if (records.length > 1) {
          const middle = Math.ceil(records.length / 2);
          await deliver(records.slice(0, middle));
          await deliver(records.slice(middle));
          return;
        }
        if (attempt > spec.retryAttempts || stopping) {
          log(`[local] ${spec.consumer}: stream record ${records[0]?.eventID} given up after ${attempt} attempts (the on-failure destination in AWS)`);
          return;
        }
        await sleep(Math.min(2_000, 50 * 2 ** attempt));
      }
    }
  }

  const getRecords = (iterator: string) => client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));

  /** An iterator after the shard's last record read, else at its oldest record. */
  async function freshIterator(shardId: string): Promise<string | null> {
    const after = lastSequence.get(shardId);
    if (after) {
      try {
        const fresh = await client.send(
          new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }),
        );
        return fresh.ShardIterator ?? null;
      } catch (error) {
        if ((error as Error).name !== 'TrimmedDataAccessException') throw error;
        log(`[local] the table's stream no longer holds the records after ${after}: reading on from its oldest record`);
      }
    }
    const oldest = await client.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }));
    return oldest.ShardIterator ?? null;
  }

  /** One pass over every shard, to its current end. */
  async function pass(): Promise<number> {
    const described = await client.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    for (const shard of described.StreamDescription?.Shards ?? []) {
      if (!shard.ShardId || iterators.has(shard.ShardId)) continue;
      const iterator = await client.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }));
      iterators.set(shard.ShardId, iterator.ShardIterator ?? null);
    }
    let delivered = 0;
    for (const [shardId, start] of iterators) {
      let iterator = start;
      while (iterator && !stopping) {
        let page: Awaited<ReturnType<typeof getRecords>>;
        try {
          page = await getRecords(iterator);
        } catch (error) {
          // An iterator expired (15 minutes unused), or one DynamoDB Local no longer reads from: start again after
          // the last record read (or from the shard's oldest one), as the event-source mapping resumes from its checkpoint.
          const name = (error as Error).name;
          if (name !== 'ExpiredIteratorException' && name !== 'TrimmedDataAccessException') throw error;
          iterator = await freshIterator(shardId);
          iterators.set(shardId, iterator);
          continue;
        }
        const sequence = page.Records?.at(-1)?.dynamodb?.SequenceNumber;
        if (sequence) lastSequence.set(shardId, sequence);
        const records = (page.Records ?? []).filter((record) => kept(record, spec)).map((record) => toStreamRecord(record, streamArn, options.region));
        busy = records.length > 0;
        for (let start = 0; start < records.length; start += spec.batchSize) await deliver(records.slice(start, start + spec.batchSize));
        busy = false;
        delivered += records.length;
        const next = page.NextShardIterator ?? null;
        iterators.set(shardId, next);
        // At the shard's current end: read on at the next pass.
        if ((page.Records ?? []).length === 0) break;
        iterator = next;
      }
    }
    return delivered;
  }

  /** Passes run one at a time (the loop's and a drain's). */
  function serially(): Promise<number> {
    running = running.then(pass, pass).catch((error: unknown) => {
      if (!stopping) log(`[local] reading the table's stream failed: ${(error as Error).message}`);
      return Number.NaN;
    });
    return running;
  }

  const loop = (async () => {
    while (!stopping) {
      const delivered = await serially();
      if (!(delivered > 0)) await sleep(options.idleMs ?? 100);
    }
  })();

  return {
    get busy() {
      return busy;
    },
    catchUp: serially,
    async stop() {
      stopping = true;
      await loop;
      await running;
      client.destroy();
    },
  };
}
