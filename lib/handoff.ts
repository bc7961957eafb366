import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { HandoffRecord } from './core/handoff.ts';
import { handoffLeadId } from './core/handoff.ts';
import type { CrmAdapter } from './crm/adapter.ts';
import { CrmDeliveryError } from './crm/adapter.ts';
import { logger } from './observability.ts';
import type { LeadStore } from './store/lead-store.ts';
import { mapWithConcurrency } from './store/lead-store.ts';

/** Leads of one batch delivered at once; one lead's records stay in order. */
const leadsInParallel = 10;

/**
 * Delivers handoff messages to the CRM. Each delivery attempt is recorded on the lead; a failed one is
 * reported back as a batch item failure, so SQS retries it and finally moves it to the dead-letter queue.
 * A handoff already delivered (SQS delivers at least once) is acknowledged without a second send.
 * Records of different leads are delivered concurrently (a burst of MQLs does not queue behind one slow
 * CRM call); records of the same lead one after the other, in the order SQS gave them.
 */
export async function deliverHandoffs(event: SQSEvent, deps: { store: LeadStore; adapter: () => Promise<CrmAdapter>; clock?: () => Date }): Promise<SQSBatchResponse> {
  const clock = deps.clock ?? (() => new Date());
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  const byLead = new Map<string, { message: SQSRecord; record: HandoffRecord }[]>();
  for (const message of event.Records) {
    let record: HandoffRecord;
    let leadId: string | undefined;
    try {
      record = JSON.parse(message.body) as HandoffRecord;
      // `leadId`, or `lead.email` for messages queued before records carried one.
      leadId = record && typeof record === 'object' ? handoffLeadId(record) : undefined;
      if (!leadId || !record.id || !record.type) throw new Error('not a handoff record');
    } catch (error) {
      // A message we cannot read will not become readable: let it go to the DLQ for a person to look at.
      logger.error('unreadable handoff message', { messageId: message.messageId, error: error as Error });
      batchItemFailures.push({ itemIdentifier: message.messageId });
      continue;
    }
    const queue = byLead.get(leadId) ?? [];
    queue.push({ message, record });
    byLead.set(leadId, queue);
  }
  await mapWithConcurrency([...byLead.values()], leadsInParallel, async (leadRecords) => {
    for (const { message, record } of leadRecords) {
      if (!(await deliverOne(message, record, deps, clock))) batchItemFailures.push({ itemIdentifier: message.messageId });
    }
  });
  return { batchItemFailures };
}

/** One record to the CRM, the attempt recorded on the lead; false when SQS should retry it. */
async function deliverOne(message: SQSRecord, record: HandoffRecord, deps: { store: LeadStore; adapter: () => Promise<CrmAdapter> }, clock: () => Date): Promise<boolean> {
  const seen = await deps.store.getHandoff(record);
  if (seen?.status === 'delivered') {
    logger.info('handoff already delivered', { id: record.id, type: record.type });
    return true;
  }
  let adapter: CrmAdapter | undefined;
  try {
    adapter = await deps.adapter();
    const receipt = await adapter.deliver(record, clock());
    await deps.store.recordHandoffAttempt(record, { at: clock(), adapter: adapter.name, outcome: 'delivered', crmStatus: receipt.status });
    logger.info('handoff delivered', { id: record.id, type: record.type, adapter: adapter.name, crmStatus: receipt.status });
    return true;
  } catch (error) {
    const status = error instanceof CrmDeliveryError ? error.status : undefined;
    const message_ = error instanceof Error ? error.message : String(error);
    logger.warn('handoff delivery failed', { id: record.id, type: record.type, status, receiveCount: message.attributes?.ApproximateReceiveCount, error: message_ });
    await deps.store
      .recordHandoffAttempt(record, { at: clock(), adapter: adapter?.name ?? 'unconfigured', outcome: 'failed', ...(status === undefined ? {} : { crmStatus: status }), error: message_ })
      .catch((recordError: unknown) => logger.error('could not record the failed attempt', { id: record.id, error: recordError as Error }));
    return false;
  }
}
