import type { NormalizedEvent } from '../../core/events.ts';
import type { Lead } from '../../core/lead.ts';
import { applyEvents, evaluateLead } from '../../core/lead.ts';
import type { ScoringModel } from '../../core/model.ts';
import { outcomeTypes } from '../../core/replay.ts';

/**
 * What the report needs of one lead, derived from its stored events alone (pure: the events, the
 * model and `now` are parameters).
 *
 * Why a replay and not the stored status: events are often stored long after they happened (a
 * backfill, `mql demo --with-outcomes`, a CRM that reports outcomes late), and the store scores them at
 * receipt, so its `mqlAt` is the receipt time and its status may have decayed. The replay evaluates
 * the lead right after each instant that has events, as `mql backtest` does (lib/core/replay.ts), so
 * "became an MQL in May" means May.
 */

export interface ReportOutcome {
  type: string;
  at: string;
  reason?: string;
  amount?: number;
  currency?: string;
}

export interface ReportLead {
  leadId: string;
  /** Acquisition channel (see {@link leadSourceOf}). */
  source: string;
  /** The lead's earliest scored event. */
  firstSeenAt: string;
  /** When the model first made it an MQL (outcome events left out of the replay). */
  qualifiedAt?: string;
  /** Its score (total and fit) at that moment. */
  scoreAtMql?: number;
  fitAtMql?: number;
  /** Sales outcome events, oldest first. */
  outcomes: ReportOutcome[];
}

const isOutcome = (event: Pick<NormalizedEvent, 'type'>) => (outcomeTypes as readonly string[]).includes(event.type);

const channelText = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim().toLowerCase().slice(0, 60) : undefined;

/**
 * The channel a lead came through, for "MQL -> SQL by source": the first of
 * 1. a `leadSource` / `lead_source` profile trait (what HubSpot calls original source and Salesforce
 *    LeadSource; Segment `identify` traits land in the profile's custom fields),
 * 2. a `utm_source` / `utmSource` event property,
 * 3. the provider of its earliest event (`facebook`, `segment`, `sendgrid`, ...),
 * each from the earliest event that has it.
 */
export function leadSourceOf(events: readonly NormalizedEvent[]): string {
  const ordered = [...events].filter((event) => !isOutcome(event)).sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
  for (const event of ordered) {
    const custom = event.profile?.custom ?? {};
    const found = channelText(custom.leadSource) ?? channelText(custom.lead_source);
    if (found) return found;
  }
  for (const event of ordered) {
    const found = channelText(event.properties.utm_source) ?? channelText(event.properties.utmSource);
    if (found) return found;
  }
  return ordered[0]?.source ?? 'unknown';
}

/** The report's view of one lead: its replayed qualification, score at that moment, channel and outcomes. */
export function reportLeadOf(leadId: string, events: readonly NormalizedEvent[], model: ScoringModel, now: Date): ReportLead {
  const nowMs = now.getTime();
  const scored = events
    .filter((event) => !isOutcome(event) && Date.parse(event.occurredAt) <= nowMs)
    .map((event) => (event.leadKey === leadId ? event : { ...event, leadKey: leadId }))
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
  const outcomes: ReportOutcome[] = events
    .filter((event) => isOutcome(event) && Date.parse(event.occurredAt) <= nowMs)
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt))
    .map((event) => {
      const { reason, amount, currency } = event.properties;
      return {
        type: event.type,
        at: event.occurredAt,
        ...(typeof reason === 'string' ? { reason } : {}),
        ...(typeof amount === 'number' ? { amount } : {}),
        ...(typeof currency === 'string' ? { currency } : {}),
      };
    });
  const base = { leadId, source: leadSourceOf(events), firstSeenAt: scored[0]?.occurredAt ?? outcomes[0]?.at ?? now.toISOString(), outcomes };
  let lead: Lead | undefined;
  for (let index = 0; index < scored.length; ) {
    const at = scored[index]!.occurredAt;
    let end = index;
    while (end < scored.length && scored[end]!.occurredAt === at) end += 1;
    const evaluation = applyEvents(lead, scored.slice(index, end), model, new Date(at));
    lead = evaluation.lead;
    if (lead.status === 'mql') return { ...base, qualifiedAt: at, scoreAtMql: evaluation.score.total, fitAtMql: evaluation.score.fit };
    index = end;
  }
  if (lead) {
    // Time alone cannot lift a lead of the default model into MQL, but a model with negative decaying points can.
    const last = evaluateLead(lead, model, now);
    if (last.lead.status === 'mql') return { ...base, qualifiedAt: now.toISOString(), scoreAtMql: last.score.total, fitAtMql: last.score.fit };
  }
  return base;
}
