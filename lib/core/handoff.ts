import type { Profile, PropertyValue } from './events.ts';

/** The lifecycle transitions sales hears about (DESIGN.md outbound record). */
export type HandoffType = 'lead.mql' | 'lead.recycled' | 'lead.disqualified';

/** One line of a score's explanation. */
export interface Reason {
  /** The model rule's id, e.g. `webinar_attended`. */
  rule: string;
  kind: 'fit' | 'behavior' | 'disqualify' | 'fast_track';
  description: string;
  /** What the rule contributes now, after decay and caps (2 decimals). */
  pointsNow: number;
  /** Points awarded before decay, summed over every matching event. */
  rawPoints: number;
  /** How many events (or profile facts) matched. */
  count: number;
  /** ISO time of the latest matching event; undefined for profile facts. */
  lastSeen?: string;
}

export interface RecentEvent {
  type: string;
  occurredAt: string;
  source: string;
  properties: Record<string, PropertyValue>;
}

/**
 * What the CRM receives for a transition. `id` is stable across retries of the same transition:
 * it is the Standard Webhooks `webhook-id` and the CRM's idempotency key.
 */
export interface HandoffRecord {
  type: HandoffType;
  id: string;
  occurredAt: string;
  lead: Profile & { email: string };
  score: { total: number; fit: number; behavior: number; threshold: number; modelVersion: string };
  reasons: Reason[];
  recentEvents: RecentEvent[];
}

