/**
 * Sales feedback from the operator's own CRM integration: what sales decided about a lead, one outcome
 * or `{"outcomes": [...]}`, signed per Standard Webhooks with CRM_FEEDBACK_SECRET.
 *
 * Each outcome becomes a normalized event of its own type (`mql_accepted`, `mql_rejected`, `sql`, `won`,
 * `lost`); lib/core/lead.ts moves the status from it (accepted or sql -> `sql`, `won`, `lost`, a
 * rejected MQL -> `recycled`). Properties: `reason`, `amount`, `currency`, `note`, `handoffId`, `crmId`.
 *
 * The outcome's `id` is the deduplication key, not the `webhook-id` header: one delivery may carry
 * several outcomes, and the integration may resend an outcome in a later delivery.
 *
 * All or nothing: one malformed outcome (unknown type, unknown rejection reason, a bad time) refuses the
 * whole delivery with a 400 naming it. The sender is the operator's own integration, so a refusal tells
 * them at once what to fix, and nothing is stored partially.
 */
import * as z from 'zod/mini';
import '../core/zod.ts';
import type { NormalizedEvent, PropertyValue } from '../core/events.ts';
import { leadIdOf, normalizeEmail } from '../core/events.ts';
import { badRequest, notFound } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject } from '../http/json.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import { checkStandardWebhookSecret, verifyStandardWebhook } from '../http/standard-webhooks.ts';
import { maxKeyLength, parseIsoTime, text } from './fields.ts';
import type { IgnoredEvent, Normalized, WebhookRequest, WebhookSource } from './source.ts';

/** Most outcomes one delivery may carry. */
export const maxCrmOutcomes = 500;

/** Sales outcomes, each stored as an event of the same name (lib/core/events.ts `knownEventTypes`). */
export const crmOutcomeTypes = ['mql_accepted', 'mql_rejected', 'sql', 'won', 'lost'] as const;
export type CrmOutcomeType = (typeof crmOutcomeTypes)[number];

/** Why sales rejected an MQL: a closed list, so the report can count them and fit rules can learn from them. */
export const rejectionReasons = ['outside_icp', 'wrong_timing', 'existing_customer', 'bad_data', 'other'] as const;
export type RejectionReason = (typeof rejectionReasons)[number];

const requiredString = (what: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `is required (${what})` : 'must be a string') })
    .check(z.minLength(1, { error: 'must not be empty' }), z.maxLength(maxKeyLength, { error: `must be at most ${maxKeyLength} characters` }));

const optionalId = z.optional(
  z
    .string({ error: 'must be a string' })
    .check(z.minLength(1, { error: 'must not be empty' }), z.maxLength(maxKeyLength, { error: `must be at most ${maxKeyLength} characters` })),
);

const outcomeSchema = z.object({
  id: requiredString('the outcome event id, its deduplication key'),
  email: z.optional(z.string({ error: 'must be a string' })),
  leadId: z.optional(z.string({ error: 'must be a string' })),
  outcome: z.enum(crmOutcomeTypes, {
    error: (issue) =>
      issue.input === undefined
        ? `is required (one of ${crmOutcomeTypes.join(', ')})`
        : `must be one of ${crmOutcomeTypes.join(', ')}, got ${JSON.stringify(issue.input)}`,
  }),
  occurredAt: z.string({ error: (issue) => (issue.input === undefined ? 'is required (ISO 8601)' : 'must be an ISO 8601 string') }),
  reason: z.optional(z.enum(rejectionReasons, { error: (issue) => `must be one of ${rejectionReasons.join(', ')}, got ${JSON.stringify(issue.input)}` })),
  amount: z.optional(z.number({ error: 'must be a number' }).check(z.nonnegative({ error: 'must not be negative' }))),
  currency: z.optional(z.string({ error: 'must be a string' }).check(z.regex(/^[A-Za-z]{3}$/, { error: 'must be a three-letter ISO 4217 code such as USD' }))),
  note: z.optional(z.string({ error: 'must be a string' })),
  handoffId: optionalId,
  crmId: optionalId,
});
type CrmOutcome = z.infer<typeof outcomeSchema>;

/** The lead the outcome is about: `email` first, else `leadId` (an e-mail or a provider key such as `phone:+1...`). */
function leadKeyOf(outcome: CrmOutcome, where: string): string {
  if (outcome.email !== undefined) {
    const email = normalizeEmail(outcome.email);
    if (!email) throw badRequest(`${where}.email: ${JSON.stringify(outcome.email.slice(0, 100))} is not an e-mail address`);
    return email;
  }
  if (outcome.leadId !== undefined) {
    const leadId = leadIdOf(outcome.leadId);
    if (!leadId) throw badRequest(`${where}.leadId: ${JSON.stringify(outcome.leadId.slice(0, 100))} is neither an e-mail nor a key such as phone:+14155550123`);
    return leadId;
  }
  throw badRequest(`${where}: needs email or leadId (the lead the outcome is about)`);
}

/** Fields that belong to one outcome type only: sent on another, they are a mistake of the integration. */
function checkFieldsFitOutcome(outcome: CrmOutcome, where: string): void {
  if (outcome.reason !== undefined && outcome.outcome !== 'mql_rejected') {
    throw badRequest(`${where}.reason: only an mql_rejected outcome carries a reason (put free text in note)`);
  }
  if (outcome.amount !== undefined && outcome.outcome !== 'won') throw badRequest(`${where}.amount: only a won outcome carries an amount`);
  if (outcome.currency !== undefined && outcome.amount === undefined) throw badRequest(`${where}.currency: given without an amount`);
}

function toEvent(outcome: CrmOutcome, raw: JsonObject, where: string): NormalizedEvent {
  const leadKey = leadKeyOf(outcome, where);
  checkFieldsFitOutcome(outcome, where);
  const ms = parseIsoTime(outcome.occurredAt);
  if (ms === undefined) throw badRequest(`${where}.occurredAt: ${JSON.stringify(outcome.occurredAt.slice(0, 100))} is not an ISO 8601 date-time`);

  const properties: Record<string, PropertyValue> = {};
  if (outcome.reason !== undefined) properties.reason = outcome.reason;
  if (outcome.amount !== undefined) properties.amount = outcome.amount;
  if (outcome.currency !== undefined) properties.currency = outcome.currency.toUpperCase();
  const note = text(outcome.note);
  if (note !== undefined) properties.note = note;
  if (outcome.handoffId !== undefined) properties.handoffId = outcome.handoffId;
  if (outcome.crmId !== undefined) properties.crmId = outcome.crmId;

  return {
    leadKey,
    type: outcome.outcome,
    occurredAt: new Date(ms).toISOString(),
    source: 'crm',
    sourceEventId: outcome.id,
    properties,
    raw,
  };
}

/** The outcomes of a delivery: one outcome, or `{"outcomes": [...]}`. */
function outcomesOf(body: unknown): { outcomes: unknown[]; batch: boolean } {
  if (!isObject(body)) throw badRequest('body must be a JSON object: one outcome or {"outcomes": [outcomes]}');
  if (!Object.hasOwn(body, 'outcomes')) return { outcomes: [body], batch: false };
  const outcomes = body.outcomes;
  if (!Array.isArray(outcomes)) throw badRequest('outcomes must be an array of outcome objects');
  if (outcomes.length === 0) throw badRequest('outcomes holds no outcome');
  if (outcomes.length > maxCrmOutcomes) throw badRequest(`outcomes holds ${outcomes.length} outcomes; the limit is ${maxCrmOutcomes} per delivery`);
  return { outcomes, batch: true };
}

/**
 * Turns a verified delivery into one event per outcome. All or nothing: one malformed outcome refuses
 * the whole delivery (400) and names it. An outcome repeated within the delivery (same `id`) is one event.
 */
export function normalizeCrmFeedback(request: WebhookRequest): Normalized {
  requireContentType(request.header('content-type'), 'application/json');
  const { outcomes, batch } = outcomesOf(parseJson(request.body));

  const events: NormalizedEvent[] = [];
  const ignored: IgnoredEvent[] = [];
  const seen = new Set<string>();
  outcomes.forEach((raw, index) => {
    const where = batch ? `outcomes[${index}]` : 'outcome';
    if (!isObject(raw)) throw badRequest(`${where}: must be a JSON object`);
    const parsed = outcomeSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.length ? `.${issue.path.join('.')}` : '';
      throw badRequest(`${where}${path}: ${issue?.message ?? 'is not an outcome'}`);
    }
    const event = toEvent(parsed.data, raw, where);
    if (seen.has(event.sourceEventId)) {
      ignored.push({ sourceEventId: event.sourceEventId, reason: 'duplicate_in_delivery' });
      return;
    }
    seen.add(event.sourceEventId);
    events.push(event);
  });
  return { events, ignored };
}

/** `POST /webhooks/crm`: sales outcomes from the operator's CRM integration, signed per Standard Webhooks. */
export const crmFeedback: WebhookSource = {
  name: 'crm',
  requiredSecrets: ['CRM_FEEDBACK_SECRET'],
  checkSecrets(secrets) {
    if (secrets.CRM_FEEDBACK_SECRET) checkStandardWebhookSecret('CRM_FEEDBACK_SECRET', secrets.CRM_FEEDBACK_SECRET);
  },
  verify(request, secrets, now) {
    const secret = secrets.CRM_FEEDBACK_SECRET;
    // The route should not have been served at all; refuse the same way it would have.
    if (!secret) throw notFound('the CRM feedback webhook is not configured (CRM_FEEDBACK_SECRET)');
    verifyStandardWebhook({ secret, headers: (name) => request.header(name), body: request.body, now });
  },
  normalize: normalizeCrmFeedback,
};
