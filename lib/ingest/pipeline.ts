import type { SQSClient } from '@aws-sdk/client-sqs';
import { boundEvent, cutToBytes, namesTheModelReads } from '../core/budget.ts';
import type { NormalizedEvent } from '../core/events.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import type { ScoringModel } from '../core/model.ts';
import { sendMessages } from '../queue/messages.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { logger } from '../runtime/logger.ts';
import { leadRef } from '../runtime/pseudonym.ts';
import type { IgnoredEvent } from '../sources/source.ts';
import type { LeadOutcome, LeadRepository } from '../store/repository.ts';
import { erasedReason } from '../store/tombstones.ts';

/** Where decided handoffs go: the handoff queue. */
export interface HandoffQueue {
  send(records: readonly HandoffRecord[]): Promise<void>;
}

export interface Pipeline {
  store: LeadRepository;
  handoffQueue: HandoffQueue;
  model: ScoringModel;
}

export interface IngestResult {
  applied: number;
  duplicates: number;
  leads: number;
  handoffs: number;
  /** Events refused by the store's byte budget (lib/core/budget.ts) or an erasure's tombstone, with why: nothing of them is stored. */
  ignored: IgnoredEvent[];
  /** Property and profile values cut or dropped to fit the budget, over all stored events. */
  trimmed: number;
}

const modelReads = new WeakMap<ScoringModel, ReturnType<typeof namesTheModelReads>>();

/** The events as they may be stored (lib/core/budget.ts): cut to the byte budget, or refused with a reason. */
export function withinBudget(events: readonly NormalizedEvent[], model: ScoringModel): { events: NormalizedEvent[]; ignored: IgnoredEvent[]; trimmed: number } {
  let reads = modelReads.get(model);
  if (!reads) {
    reads = namesTheModelReads(model);
    modelReads.set(model, reads);
  }
  const kept: NormalizedEvent[] = [];
  const ignored: IgnoredEvent[] = [];
  let trimmed = 0;
  for (const event of events) {
    const bounded = boundEvent(event, reads);
    if ('refused' in bounded) {
      ignored.push({ sourceEventId: cutToBytes(event.sourceEventId, 200), reason: bounded.refused });
    } else {
      kept.push(bounded.event);
      trimmed += bounded.trimmed;
    }
  }
  return { events: kept, ignored, trimmed };
}

/**
 * The handoff queue on SQS: one message per transition, its body the record sales will receive (a lead's, or an
 * account's: lib/accounts/from-env.ts).
 */
export function sqsHandoffQueue<R extends Pick<HandoffRecord, 'id'> & { type: string } = HandoffRecord>(
  client: SQSClient,
  queueUrl: string,
): { send(records: readonly R[]): Promise<void> } {
  return {
    async send(records) {
      const { failed } = await sendMessages(
        client,
        queueUrl,
        records.map((record) => ({ id: record.id, body: JSON.stringify(record), attributes: { type: record.type } })),
      );
      if (failed.length > 0) throw new Error(`handoff queue refused ${failed.length} message(s): ${failed[0]?.error ?? ''}`);
    },
  };
}

/**
 * Some leads of a delivery were stored and others not (a transient failure of the lead-by-lead path,
 * lib/store/lead-writes.ts): the sender is told so with a 503 that counts what was stored, and its
 * retry stores the rest (stored events are recognised by their ids and not counted twice).
 */
export class NotAllStored extends Error {
  readonly applied: number;
  constructor(failedLeads: number, storedLeads: number, applied: number, first: { leadId: string; error: unknown }) {
    super(`${failedLeads} lead(s) not stored just now (${storedLeads} stored), e.g. ${leadRef(first.leadId)}`, { cause: first.error });
    this.name = 'NotAllStored';
    this.applied = applied;
  }
}

/**
 * Stores and scores events, then moves every decided handoff from the leads' outboxes to the queue.
 * A delivery of several leads is one transaction when it fits, so a failure stores nothing; else, when
 * some lead could not be stored, throws {@link NotAllStored} so the sender retries the delivery
 * (redelivered events are no-ops); the leads that were stored keep their handoffs on the way either way.
 */
export async function ingest(given: readonly NormalizedEvent[], pipeline: Pipeline, now: Date): Promise<IngestResult> {
  const { events, ignored, trimmed } = withinBudget(given, pipeline.model);
  const result = await pipeline.store.apply(events, pipeline.model, now);
  // [erasure] Events of erased people (lib/store/tombstones.ts): acknowledged, nothing of them stored.
  for (const sourceEventId of result.erased) ignored.push({ sourceEventId: cutToBytes(sourceEventId, 200), reason: erasedReason });
  const handoffs = await flushOutboxes(result.leads, pipeline);
  if (result.failed.length > 0) throw new NotAllStored(result.failed.length, result.leads.length, result.applied, result.failed[0]!);
  return { applied: result.applied, duplicates: result.duplicates, leads: result.leads.length, handoffs, ignored, trimmed };
}

/**
 * Enqueues outbox handoffs, then confirms them on the lead. A crash between the two re-sends the
 * handoff later (the handoff consumer skips what was delivered); a failed send leaves it in the outbox,
 * where the decay job's due index finds it.
 */
export async function flushOutboxes(leads: readonly Pick<LeadOutcome, 'leadId' | 'outbox' | 'recycleAt'>[], pipeline: Pipeline): Promise<number> {
  const waiting = leads.filter((lead) => lead.outbox.length > 0);
  const sent = await mapWithConcurrency(waiting, 8, async (lead) => {
    try {
      await pipeline.handoffQueue.send(lead.outbox);
      await pipeline.store.confirmQueued(
        lead.leadId,
        lead.outbox.map((record) => record.id),
        lead.recycleAt,
      );
      return lead.outbox.length;
    } catch (error) {
      logger.warn('handoff left in the outbox for the next run', { lead: leadRef(lead.leadId), error: error as Error });
      return 0;
    }
  });
  return sent.reduce((sum, count) => sum + count, 0);
}
