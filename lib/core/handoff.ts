import type { Profile, PropertyValue } from './events.ts';

/** The lifecycle transitions sales hears about (docs/operator-contract.md, "The outbound record"). */
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
  /**
   * Whole points this reason adds to the total: the reasons' `points` add up to `score.total` exactly
   * (each kind's exact values rounded as a whole, the rounding handed to the largest remainders).
   */
  points?: number;
  /** Behavior: the value after decay, before any cap (2 decimals). */
  decayedPoints?: number;
  /** Behavior: the half-life the rule decays with, in days; `null` never decays. */
  halfLifeDays?: number | null;
  /** The rule's group (`fit.groups`, `behavior.groups`). */
  group?: string;
  /** Caps that cut the rule's points: its own (`rule`) or its group's. */
  caps?: CapApplied[];
  /** The latest matching events the lead still keeps (its recent events), newest first. */
  events?: ReasonEvent[];
}

/** A cap that cut a reason's points: "cap 15 reached" cut `cut` points off. */
export interface CapApplied {
  by: 'rule' | 'group';
  /** The rule id or the group name. */
  name: string;
  /** The bound: a rule's `cap` (±), a group's `max` or `min`. */
  limit: number;
  /** Points the cap took off (2 decimals; positive for a cut of positive points). */
  cut: number;
}

/** An event behind a behavior reason: when, what, and the properties the rule reads or that say what it was. */
export interface ReasonEvent {
  type: string;
  occurredAt: string;
  source: string;
  properties: Record<string, PropertyValue>;
  /** From the person's anonymous history, before they identified (lib/core/events.ts `NormalizedEvent.anonymous`). */
  anonymous?: true;
}

export interface RecentEvent {
  type: string;
  occurredAt: string;
  source: string;
  properties: Record<string, PropertyValue>;
  /** From the person's anonymous history, before they identified (lib/core/events.ts `NormalizedEvent.anonymous`). */
  anonymous?: true;
}

/**
 * What the CRM receives for a transition. `id` is stable across retries of the same transition:
 * it is the Standard Webhooks `webhook-id` and the CRM's idempotency key.
 */
export interface HandoffRecord {
  type: HandoffType;
  id: string;
  occurredAt: string;
  /**
   * The lead's id, the CRM's key for the person: the normalized e-mail, or a provider key such as
   * `phone:+14155550123` for a lead known without one. Absent only from records queued before it existed.
   */
  leadId: string;
  /**
   * Provider-key leads this lead absorbed (a phone-only form sent before the e-mail was known); a CRM
   * that received records under those ids can join them to this one. Absent when there are none.
   */
  mergedFrom?: string[];
  /** The profile; `email` only when the lead has one, `phone` as the person gave it. */
  lead: Profile;
  score: { total: number; fit: number; behavior: number; threshold: number; modelVersion: string };
  reasons: Reason[];
  recentEvents: RecentEvent[];
}

/** The lead a record belongs to: `leadId`, or for records queued before it existed, `lead.email`. */
export function handoffLeadId(record: { leadId?: unknown; lead?: { email?: unknown } | null }): string | undefined {
  if (typeof record.leadId === 'string' && record.leadId !== '') return record.leadId;
  const email = record.lead?.email;
  return typeof email === 'string' && email !== '' ? email : undefined;
}
