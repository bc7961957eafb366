/**
 * Write capacity units and optimistic-lock conflicts per event of the events phase: from DynamoDB
 * Local's ConsumedCapacity when it reports it, and by the published rule from the marshalled sizes of
 * every transaction the store sent (support/instrument.ts), which is the figure for AWS when the probe
 * shows DynamoDB Local undercounting multi-item transactions.
 */
import type { BenchContext } from '../context.ts';
import { fmt } from '../support/report.ts';
import { round } from '../support/stats.ts';
import type { CapacityProbe, CeilingFigures } from './ceiling.ts';
import type { IngestFigures, IngestTrace } from './events.ts';

export function capacityPerEvent(ctx: BenchContext, stored: number, trace: IngestTrace, probe: CapacityProbe) {
  const { storeStats: delta, sizes } = trace;
  const reported = delta.writeCapacityUnits > 0;
  const perEvent = (value: number) => (stored > 0 ? value / stored : Number.NaN);
  if (sizes.committed !== delta.transactions)
    ctx.errors.push(
      `capacity: the store counted ${delta.transactions} transactions, the SDK client of lib/runtime/aws.ts sent ${sizes.committed} committed ones: the sizes do not cover the store's writes`,
    );
  const leadFirstWrites = delta.commits - delta.transactions;
  if (sizes.items.lead < delta.commits)
    ctx.errors.push(`capacity: the store committed ${delta.commits} writes (${leadFirstWrites} lead-first), the sizer saw ${sizes.items.lead} lead items`);
  return {
    source: reported
      ? 'reported by DynamoDB Local (ReturnConsumedCapacity)'
      : 'estimated (DynamoDB Local reported no ConsumedCapacity): 2 WCU per KB of each transactional write, 1 per KB of each put',
    dynamoDbLocalReportsConsumedCapacity: reported || sizes.consumedCapacityResponses > 0,
    /** DynamoDB Local checked against the published rule (phases/ceiling.ts). */
    consumedCapacityProbe: probe,
    estimatedNote:
      '2 WCU per KB (rounded up) of each item of a committed transaction, 1 per KB of each PutItem (the lead-first writes: the lead, its events, their raw payloads), sizes from the marshalled items; GSI writes at 1 WCU per KB; cancelled transactions and failed conditional puts not included (cancelledAttemptsWcuPerEvent); not the UpdateItem of confirmQueued or of the handoff record',
    storeStats: delta,
    wcuPerEvent: round(perEvent(reported ? delta.writeCapacityUnits : sizes.estimatedWcu), 2),
    reportedWcuPerEvent: reported ? round(perEvent(delta.writeCapacityUnits), 2) : null,
    estimatedWcuPerEvent: round(perEvent(sizes.estimatedWcu), 2),
    estimatedGsiWcuPerEvent: round(perEvent(sizes.gsiEstimatedWcu), 3),
    cancelledAttemptsWcuPerEvent: round(perEvent(sizes.cancelledWcu), 2),
    conflictsPerEvent: round(perEvent(delta.conflicts), 4),
    transactionsPerEvent: round(perEvent(delta.transactions), 3),
    leadFirstWritesPerEvent: round(perEvent(leadFirstWrites), 3),
    meanItemBytes: {
      event: round(sizes.bytes.event / Math.max(1, sizes.items.event), 0),
      raw: round(sizes.bytes.raw / Math.max(1, sizes.items.raw), 0),
      lead: round(sizes.bytes.lead / Math.max(1, sizes.items.lead), 0),
    },
    sizer: sizes,
  };
}
export type CapacityFigures = ReturnType<typeof capacityPerEvent>;

export function capacityLines(capacity: CapacityFigures, ingest: IngestFigures, ceiling: CeilingFigures): string[] {
  const probe = capacity.consumedCapacityProbe;
  const template = ceiling.templateItemBytes;
  const calls = Object.entries(ingest.sdkCalls.store)
    .map(([command, t]) => `${command} ${fmt(t.perEvent, 2)}/event ${fmt(t.meanMs, 1)} ms`)
    .join(', ');
  return [
    '5. capacity and contention per event',
    `  WCU per event        ${fmt(capacity.wcuPerEvent, 2)}  ${capacity.source}`,
    `                       ${fmt(capacity.estimatedWcuPerEvent, 2)}  estimated by the published rule (2 WCU per KB of each transactional item, 1 per KB of a put)${capacity.dynamoDbLocalReportsConsumedCapacity && probe.undercountsMultiItemTransactions ? ': the figure for AWS' : ''}`,
    `  DynamoDB Local ConsumedCapacity: ${capacity.dynamoDbLocalReportsConsumedCapacity ? 'reported' : 'NOT reported'}; probe: 1 put of ${probe.single.itemBytes} B -> ${probe.single.reported} WCU (rule ${probe.single.rule}), 3 in one transaction -> ${probe.triple.reported} WCU (rule ${probe.triple.rule})${probe.undercountsMultiItemTransactions ? ': it UNDERCOUNTS multi-item transactions' : ''}`,
    `  mean item bytes      event ${capacity.meanItemBytes.event}, raw ${capacity.meanItemBytes.raw}, lead ${capacity.meanItemBytes.lead} (ceiling template: ${template.event}/${template.raw}/${template.lead})`,
    `  conflicts per event  ${fmt(capacity.conflictsPerEvent, 4)} (${capacity.storeStats.conflicts} optimistic-lock retries, ${capacity.storeStats.transactions} committed transactions and ${capacity.storeStats.commits - capacity.storeStats.transactions} lead-first writes for ${ingest.stored} events; cancelled attempts would add ${fmt(capacity.cancelledAttemptsWcuPerEvent, 2)} WCU/event)`,
    `  SDK calls per event  ${calls}`,
  ];
}
