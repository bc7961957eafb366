import type { Thresholds } from '../core/explain.ts';
import { verdict } from '../core/explain.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import { canonicalLeadId, isEmailLeadId, testLeadIdsOf } from '../core/identity.ts';
import type { Lead, LeadOutcomeState } from '../core/lead.ts';
import { explainedReasons, recordProfile, scoreLead } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import type { HandoffAttempt, HandoffLedger, LeadReads, StoredLead } from '../store/repository.ts';

/**
 * A lead as operators read it: the outbound record's shape (`leadId`, `mergedFrom` when it absorbed
 * provider-key leads, `lead` with `email` only when it has one), scored now, plus its status and history.
 */
export interface LeadView extends Omit<HandoffRecord, 'type' | 'id' | 'occurredAt'> {
  status: Lead['status'];
  scoredAt: string;
  firstSeenAt: string;
  lastEventAt: string;
  eventCount: number;
  mqlAt?: string;
  statusChangedAt: string;
  /** When decay alone will recycle this MQL, unless it engages again. */
  recyclesAt?: string;
  /** The model's thresholds the score is compared with. */
  thresholds: Thresholds;
  /** Whether the score alone meets every threshold. */
  meetsThresholds: boolean;
  /** What the score means, in words: "needs 12 more behavior points", "fit 5 is below minFit 10", ... */
  summary: string[];
  /**
   * What sales decided last (POST /webhooks/crm or HubSpot's webhook): the outcome type, when, a
   * rejection's reason, a won deal's amount and currency, and the source that reported it.
   */
  outcome?: LeadOutcomeState;
  handoffs: HandoffAttempt[];
}

export function leadView(lead: StoredLead, handoffs: HandoffAttempt[], model: ScoringModel, now: Date): LeadView {
  const score = scoreLead(lead, model, now);
  const recyclesAt = lead.status === 'mql' ? lead.recycleAt : undefined;
  const { thresholds, meetsThresholds, summary } = verdict(lead, score, model, recyclesAt);
  return {
    leadId: lead.leadId,
    ...(lead.mergedFrom?.length ? { mergedFrom: [...lead.mergedFrom] } : {}),
    lead: recordProfile(lead),
    status: lead.status,
    score: { total: score.total, fit: score.fit, behavior: score.behavior, threshold: model.thresholds.mql, modelVersion: model.version },
    reasons: explainedReasons(lead, score, model),
    recentEvents: lead.recentEvents,
    scoredAt: now.toISOString(),
    firstSeenAt: lead.firstSeenAt,
    lastEventAt: lead.lastEventAt,
    eventCount: lead.eventCount,
    statusChangedAt: lead.statusChangedAt,
    ...(lead.mqlAt ? { mqlAt: lead.mqlAt } : {}),
    ...(recyclesAt ? { recyclesAt } : {}),
    thresholds,
    meetsThresholds,
    summary,
    ...(lead.outcome ? { outcome: { ...lead.outcome } } : {}),
    handoffs,
  };
}

/**
 * The view of the lead a key names, now: an e-mail or a provider key (phone:+14155550123). A provider
 * key merged into an e-mail lead answers with that lead, handoffs sent under the old key included.
 * Undefined when no lead has that key.
 */
export async function findLeadView(store: LeadReads & HandoffLedger, model: ScoringModel, asked: string, now: Date): Promise<LeadView | undefined> {
  const leadId = canonicalLeadId(asked, model);
  let lead = await store.getLead(leadId);
  if (lead?.mergedInto) lead = await store.getLead(lead.mergedInto);
  // No real lead of the address: a sender's test data for it, if any (lib/core/identity.ts testLeadId).
  if (!lead && isEmailLeadId(leadId)) {
    for (const testKey of testLeadIdsOf(leadId)) {
      lead = await store.getLead(testKey);
      if (lead) break;
    }
  }
  if (!lead) return undefined;
  const handoffs = (await Promise.all([lead.leadId, ...(lead.mergedFrom ?? [])].map((leadId) => store.listHandoffs(leadId)))).flat();
  handoffs.sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.id.localeCompare(b.id));
  return leadView(lead, handoffs, model, now);
}

/** The sales outcome in one line, as `mql explain` prints it: "sales outcome: won 24,000 USD at ... (via crm)". */
export function outcomeLine(outcome: LeadOutcomeState): string {
  const what =
    outcome.type === 'won' && outcome.amount !== undefined
      ? `won ${outcome.amount.toLocaleString('en-US')}${outcome.currency ? ` ${outcome.currency}` : ''}`
      : outcome.reason !== undefined
        ? `${outcome.type} (${outcome.reason})`
        : outcome.type;
  return `sales outcome: ${what} at ${outcome.at}${outcome.source ? ` via ${outcome.source}` : ''}`;
}
