/**
 * Normalized events for tests of the core, the store and the jobs (what a source hands the pipeline),
 * the seeds' worked example, and handoff records as the pipeline queues them. For signed HTTP deliveries
 * of the worked example, see signed.ts.
 *
 *   event('dana@acme.com', 'webinar_attended', at(10_000))
 *   event('dana@acme.com', 'profile_updated', t0, { profile: { jobTitle: 'CEO' } })
 *   event(email, 'mql_rejected', at(60_000), { id: 'rejected-1', source: 'crm', properties: { reason: 'wrong_timing' } })
 */
import { randomUUID } from 'node:crypto';
import type { NormalizedEvent, Profile } from '../../lib/core/events.ts';
import type { HandoffRecord } from '../../lib/core/handoff.ts';

export interface EventFields {
  /** The source's event id, its deduplication key (default: a new one per call, numbered in call order). */
  id?: string;
  properties?: NormalizedEvent['properties'];
  profile?: Profile;
  /** Default `test`. */
  source?: string;
  /** The provider's payload, which the store keeps for a while (default `{ id }`). */
  raw?: unknown;
}

let sequence = 0;

/** One event of `leadKey` at `occurredAt` (a Date, or an ISO 8601 string as given). */
export function event(leadKey: string, type: string, occurredAt: Date | string, fields: EventFields = {}): NormalizedEvent {
  sequence += 1;
  const id = fields.id ?? `evt-${String(sequence).padStart(6, '0')}`;
  return {
    leadKey,
    type,
    occurredAt: typeof occurredAt === 'string' ? occurredAt : occurredAt.toISOString(),
    source: fields.source ?? 'test',
    sourceEventId: id,
    properties: fields.properties ?? {},
    ...(fields.profile ? { profile: fields.profile } : {}),
    raw: 'raw' in fields ? fields.raw : { id },
  };
}

/** The worked example's person: a CEO (c_level_or_vp, 15) in a target industry (10): fit 25. */
export const workedExampleProfile: Profile = { firstName: 'Dana', lastName: 'Whitfield', jobTitle: 'CEO', industry: 'Software', company: 'Acme Logistics' };

/**
 * The seeds' worked example: the profile at `start`, a case study downloaded (15) `spacingMs` later and a
 * webinar attended (20) `spacingMs` after that: 60, an MQL under the default model. `spacingMs: 0` puts
 * all three at `start`. Each call makes new event ids: call it once and reuse the array for a redelivery.
 */
export function workedExample(email: string, start: Date, options: { spacingMs?: number; profile?: Profile } = {}): NormalizedEvent[] {
  const spacingMs = options.spacingMs ?? 5_000;
  const at = (steps: number) => new Date(start.getTime() + steps * spacingMs);
  return [
    event(email, 'profile_updated', at(0), { profile: options.profile ?? workedExampleProfile }),
    event(email, 'content_downloaded', at(1), { properties: { contentType: 'case_study' } }),
    event(email, 'webinar_attended', at(2)),
  ];
}

/**
 * A handoff record as the pipeline queues it (lib/core/handoff.ts): by default an MQL of `email` now, with a
 * new id, at 60 of 60 under a model `test`, no reasons. `fields` replace whole fields.
 */
export function handoffRecord(email: string, fields: Partial<HandoffRecord> = {}): HandoffRecord {
  return {
    type: 'lead.mql',
    id: `msg_${randomUUID()}`,
    occurredAt: new Date().toISOString(),
    leadId: email,
    lead: { email },
    score: { total: 60, fit: 25, behavior: 35, threshold: 60, modelVersion: 'test' },
    reasons: [],
    recentEvents: [],
    ...fields,
  };
}
