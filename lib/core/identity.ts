/**
 * How a lead is named when it has no e-mail yet, the same way for every source: a phone number becomes
 * `phone:<digits>` (a leading `+` kept), so a phone-only lead from any source is one lead, and a later
 * event that brings an e-mail together with that phone can find it and merge it (lib/store/lead-store.ts).
 */
import { normalizeEmail } from './events.ts';
import type { ScoringModel } from './model.ts';

/**
 * The phone number as a lead key part: digits, with the leading `+` of an E.164 number kept (`00` read
 * as `+`). Undefined when it does not look like a phone number (fewer than 6 or more than 15 digits).
 * No country is guessed: `+1 415 555 0123` and `(415) 555-0123` are different keys.
 */
export function normalizePhone(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const digits = trimmed.replace(/\D/g, '');
  if (digits.length < 6 || digits.length > 15) return undefined;
  return trimmed.startsWith('+') || trimmed.startsWith('00') ? `+${trimmed.startsWith('00') ? digits.slice(2) : digits}` : digits;
}

/** The lead id of a phone-only lead, `phone:+14155550123`; undefined when `phone` is not a phone number. */
export function phoneLeadId(phone: string | undefined): string | undefined {
  const normalized = normalizePhone(phone);
  return normalized === undefined ? undefined : `phone:${normalized}`;
}

/** Whether a lead id is an e-mail (the lead's final name) rather than a provider key such as `phone:...`. */
export function isEmailLeadId(leadId: string): boolean {
  return normalizeEmail(leadId) === leadId;
}

const gmailDomains = new Set(['gmail.com', 'googlemail.com']);

/**
 * The lead id an e-mail lead id stands for under the model's `identity` folding (plus tags, Gmail dots);
 * the id itself when the model folds nothing or the id is a provider key (`phone:...`).
 */
export function canonicalLeadId(leadId: string, model: Pick<ScoringModel, 'identity'>): string {
  const folding = model.identity;
  if (!folding || (!folding.stripPlusTags && !folding.gmailDots) || !isEmailLeadId(leadId)) return leadId;
  const at = leadId.lastIndexOf('@');
  let local = leadId.slice(0, at);
  let domain = leadId.slice(at + 1);
  if (folding.stripPlusTags && local.indexOf('+') > 0) local = local.slice(0, local.indexOf('+'));
  if (folding.gmailDots && gmailDomains.has(domain)) {
    local = local.replaceAll('.', '');
    domain = 'gmail.com';
  }
  const folded = `${local}@${domain}`;
  // Folding must leave an address (a local part of dots only would not be one).
  return isEmailLeadId(folded) ? folded : leadId;
}
