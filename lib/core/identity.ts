/**
 * How a lead is named when it has no e-mail yet, the same way for every source: a phone number becomes
 * `phone:<digits>` (a leading `+` kept), so a phone-only lead from any source is one lead, and a later
 * event that brings an e-mail together with that phone can find it and merge it (lib/store/lead-store.ts).
 */
import { createHash } from 'node:crypto';
import type { NormalizedEvent } from './events.ts';
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

/** What a provider key may hold as its id as given (lib/core/events.ts `leadIdOf`); anything else is keyed by its digest. */
const plainKeyId = /^[A-Za-z0-9+._-]{1,128}$/;

/** A sender's id as a key part: as given when it fits a key, else `sha256.<digest>` (the same id, the same key). */
function keyId(value: unknown): string | undefined {
  const id = typeof value === 'number' && Number.isFinite(value) ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (!id) return undefined;
  return plainKeyId.test(id) ? id : `sha256.${createHash('sha256').update(id).digest('base64url')}`;
}

/** The lead id of an anonymous visitor (Segment's `anonymousId`): `anon:<id>`; undefined without an id. */
export function visitorLeadId(anonymousId: unknown): string | undefined {
  const id = keyId(anonymousId);
  return id === undefined ? undefined : `anon:${id}`;
}

/** The key of a sender's own user id (Segment's `userId`): `user:<id>`; undefined without an id. */
export function userLeadId(userId: unknown): string | undefined {
  const id = keyId(userId);
  return id === undefined ? undefined : `user:${id}`;
}

/**
 * Whether a lead id names nobody yet: a visitor (`anon:`) or a user id never seen with an e-mail
 * (`user:`). Such a lead collects events but is "not scored as anyone" (issue 13, part 4): it never
 * changes status, so never reaches MQL nor hands off (lib/core/lead.ts); its events count once an
 * e-mail lead takes its key (lib/store/merge.ts).
 */
export function isVisitorLeadId(leadId: string): boolean {
  return leadId.startsWith('anon:') || leadId.startsWith('user:');
}

/**
 * The lead id of a lead a source knows by its own id only (a form with neither e-mail nor phone):
 * `<source>:<id>`; undefined without an id.
 */
export function sourceLeadId(source: string, id: unknown): string | undefined {
  const key = keyId(id);
  return key === undefined ? undefined : `${source}:${key}`;
}

/** Senders whose test data (a test button, a form's preview) is kept apart as test leads ({@link testLeadId}). */
export const testDataSources = ['google-ads', 'linkedin'] as const;

/**
 * The lead id of a sender's test data (Google Ads' "Send test data" button, a LinkedIn form's preview):
 * `<source>-test:<e-mail>` for the address the sample carries, else `<source>-test:<id>`. A test lead is a
 * lead of its own, never the real lead of that address, and is visible like any other: GET /leads/{e-mail}
 * answers with it while no real lead has the address (lib/views/lead-view.ts), `mql explain` too, and
 * `mql erase` of the address reaches it (lib/store/personal-data.ts). Undefined without an id.
 */
export function testLeadId(source: string, id: unknown): string | undefined {
  if (typeof id === 'string' && id !== '' && isEmailLeadId(id)) return `${source}-test:${id}`;
  const key = keyId(id);
  return key === undefined ? undefined : `${source}-test:${key}`;
}

/** The test leads an e-mail address may have, one per sender with test data. */
export function testLeadIdsOf(email: string): string[] {
  return testDataSources.map((source) => `${source}-test:${email}`);
}

/**
 * Whether a lead id is a sender's test data ({@link testLeadId}). Such a lead is scored and may reach MQL,
 * but no transition of it is ever handed off to the CRM (lib/core/lead.ts): sales never sees test data.
 */
export function isTestLeadId(leadId: string): boolean {
  return /^[a-z][a-z0-9_-]*-test:/.test(leadId);
}

/** The provider keys an event names beside its own lead: its profile's phone, then its links (visitor, user id). */
export function linkedKeysOf(event: Pick<NormalizedEvent, 'profile' | 'links' | 'leadKey'>): string[] {
  const phone = phoneLeadId(event.profile?.phone);
  const keys = [...(phone ? [phone] : []), ...(event.links ?? [])];
  return keys.filter((key, index) => key !== event.leadKey && keys.indexOf(key) === index);
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
