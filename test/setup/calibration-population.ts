/**
 * A population of judged leads for `mql calibrate` tests, where one rule predicts SQL and another does not.
 *
 * Lead i (a CEO in software: fit 25 under the default model, from the profile):
 * - attends a webinar when i is even: those reach SQL unless i is a multiple of 5; the others reach SQL
 *   only when i is a multiple of 5 (80% against 20%: `webinar_attended` predicts SQL);
 * - starts a trial when i is a multiple of 3, whatever becomes of it (`trial_started` predicts nothing);
 * - requests a demo AFTER sales judged it when it did not reach SQL: calibrate must not see it.
 * Every lead's events are a day after its profile, and sales judges it ten days after that, so each rule
 * contributes the same decayed points to every lead it fired for.
 */
import type { NormalizedEvent } from '../../lib/core/events.ts';
import { event } from './events.ts';

const day = 24 * 60 * 60 * 1000;

export interface PopulationLead {
  leadId: string;
  reachedSql: boolean;
  webinar: boolean;
  trial: boolean;
  /** Profile and behaviour. */
  events: NormalizedEvent[];
  /** Sales outcomes, in time order. */
  outcomes: { id: string; outcome: 'sql' | 'won' | 'mql_rejected' | 'lost'; occurredAt: string; reason?: string; amount?: number }[];
}

export function calibrationPopulation(count: number, start: Date, tag = 'pop'): PopulationLead[] {
  return Array.from({ length: count }, (_, i) => {
    const leadId = `lead${i}.${tag}@acme-software.com`;
    const base = start.getTime() + i * 60_000;
    const at = (offset: number) => new Date(base + offset).toISOString();
    const webinar = i % 2 === 0;
    const trial = i % 3 === 0;
    const reachedSql = webinar ? i % 5 !== 0 : i % 5 === 0;
    const events = [
      event(leadId, 'profile_updated', at(0), { id: `${tag}-${i}-profile_updated`, profile: { jobTitle: 'CEO', industry: 'Software', firstName: `Lead${i}` } }),
    ];
    if (webinar) events.push(event(leadId, 'webinar_attended', at(day), { id: `${tag}-${i}-webinar_attended` }));
    if (trial) events.push(event(leadId, 'trial_started', at(day), { id: `${tag}-${i}-trial_started` }));
    const judgedAt = at(11 * day);
    const outcomes: PopulationLead['outcomes'] = reachedSql
      ? [
          { id: `${tag}-${i}-sql`, outcome: 'sql', occurredAt: judgedAt },
          ...(i % 4 === 0 ? [{ id: `${tag}-${i}-won`, outcome: 'won' as const, occurredAt: at(30 * day), amount: 12000 }] : []),
        ]
      : [
          i % 7 === 0
            ? { id: `${tag}-${i}-lost`, outcome: 'lost', occurredAt: judgedAt }
            : { id: `${tag}-${i}-rejected`, outcome: 'mql_rejected', occurredAt: judgedAt, reason: 'outside_icp' },
        ];
    if (!reachedSql) events.push(event(leadId, 'demo_requested', at(12 * day), { id: `${tag}-${i}-demo_requested` }));
    return { leadId, reachedSql, webinar, trial, events, outcomes };
  });
}

/** The lead's events with its outcomes as the stored outcome events (what POST /webhooks/crm makes of them). */
export function withOutcomeEvents(lead: PopulationLead): NormalizedEvent[] {
  return [
    ...lead.events,
    ...lead.outcomes.map((outcome) => ({
      leadKey: lead.leadId,
      type: outcome.outcome,
      occurredAt: outcome.occurredAt,
      source: 'crm',
      sourceEventId: outcome.id,
      properties: { ...(outcome.reason ? { reason: outcome.reason } : {}), ...(outcome.amount ? { amount: outcome.amount } : {}) },
    })),
  ];
}
