/**
 * A Facebook lead as the Graph API answers it, mapped onto one `form_submitted` event: Meta's prefill
 * questions onto the profile, custom questions kept, the lead keyed by e-mail, else phone, else leadgen id.
 * The fetch step of lib/sources/facebook.ts calls {@link normalizeGraphLead} once it has the lead.
 */

import type { GraphLead } from '../apis/facebook-graph.ts';
import { metaIdPattern } from '../apis/facebook-graph.ts';
import type { NormalizedEvent, Profile, PropertyValue } from '../core/events.ts';
import { normalizeEmail } from '../core/events.ts';
import { phoneLeadId } from '../core/identity.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import type { LeadgenNotification } from './facebook.ts';
import { facebookSourceName } from './facebook.ts';
import { amount, definedOnly, isKeptKey, maxFieldsPerEvent, parseIsoTime, text, truncate } from './fields.ts';

/** Question keys compared case- and punctuation-insensitively: "Company Size" and "company_size" are one. */
export function questionKey(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

export type ProfileSlot =
  | 'email'
  | 'work_email'
  | 'full_name'
  | 'first_name'
  | 'last_name'
  | 'phone'
  | 'company'
  | 'job_title'
  | 'country'
  | 'company_size'
  | 'industry';

/** Meta's prefill question names (docs/providers/facebook.md, "Mapping") and the common custom-question spellings of company size and industry. */
const knownQuestions: Readonly<Record<string, ProfileSlot>> = {
  email: 'email',
  email_address: 'email',
  work_email: 'work_email',
  full_name: 'full_name',
  first_name: 'first_name',
  last_name: 'last_name',
  phone_number: 'phone',
  phone: 'phone',
  work_phone_number: 'phone',
  company_name: 'company',
  company: 'company',
  job_title: 'job_title',
  country: 'country',
  company_size: 'company_size',
  number_of_employees: 'company_size',
  employees: 'company_size',
  employee_count: 'company_size',
  industry: 'industry',
  company_industry: 'industry',
};

/**
 * A custom question derived from its text ("How many employees does your company have?") still fills the slot;
 * LinkedIn's custom questions are read the same way (lib/sources/linkedin-lead.ts).
 */
export function slotOf(key: string): ProfileSlot | undefined {
  const known = knownQuestions[key];
  if (known) return known;
  if (/(^|_)(company_size|employees|employee_count|headcount)(_|$)/.test(key)) return 'company_size';
  if (/(^|_)industry(_|$)/.test(key)) return 'industry';
  return undefined;
}

/** A question's answer: one value as given, several (multiple choice) joined with ", ". */
function answerOf(values: readonly unknown[]): string | undefined {
  const texts = values.map((value) => text(value)).filter((value): value is string => value !== undefined);
  return texts.length === 0 ? undefined : truncate(texts.join(', '));
}

/**
 * The lead id of a Facebook lead: its e-mail (`email`, else `work_email`) when it has one; otherwise
 * `phone:<number>` (digits, `+` kept), so a phone-only lead is stored, visible and collects every form
 * the same number sends; with neither, `facebook:<leadgen_id>`. Nothing is ever dropped for lack of an e-mail.
 */
export function facebookLeadKey(profile: Pick<Profile, 'email' | 'phone'>, leadgenId: string): string {
  if (profile.email) return profile.email;
  const phone = phoneLeadId(profile.phone);
  if (phone) return phone;
  return `facebook:${leadgenId}`;
}

/** The profile a lead form tells: known questions onto profile fields, every other answer under `custom`. */
export function profileFromFieldData(fields: GraphLead['field_data'], disclaimers: GraphLead['custom_disclaimer_responses'] = []): Profile {
  const slots: Partial<Record<ProfileSlot, string>> = {};
  const custom: Record<string, PropertyValue> = {};
  let customCount = 0;
  for (const field of fields) {
    const name = text(field.name);
    const answer = answerOf(field.values);
    if (name === undefined || answer === undefined) continue;
    const key = questionKey(name);
    const slot = slotOf(key);
    if (slot && slots[slot] === undefined) {
      slots[slot] = answer;
      continue;
    }
    // Unknown questions keep the advertiser's key as given, as custom attributes (docs/providers/facebook.md).
    if (customCount >= maxFieldsPerEvent || !isKeptKey(name) || Object.hasOwn(custom, name)) continue;
    custom[name] = answer;
    customCount += 1;
  }
  for (const response of Array.isArray(disclaimers) ? disclaimers : []) {
    const checkbox = isObject(response) ? text(own(response, 'checkbox_key')) : undefined;
    if (checkbox === undefined || customCount >= maxFieldsPerEvent) continue;
    const key = `disclaimer.${checkbox}`;
    if (!isKeptKey(key)) continue;
    // "1" when ticked, "" when not (Meta's documentation).
    custom[key] = own(response, 'is_checked') === '1';
    customCount += 1;
  }

  const email = normalizeEmail(slots.email) ?? normalizeEmail(slots.work_email);
  if (slots.work_email !== undefined && normalizeEmail(slots.work_email) !== email && customCount < maxFieldsPerEvent) custom.work_email = slots.work_email;
  let firstName = slots.first_name;
  let lastName = slots.last_name;
  if (slots.full_name !== undefined && firstName === undefined && lastName === undefined) {
    // Only a split at the first space: "Dana Whitfield" -> Dana / Whitfield; a single name stays the first name.
    const space = slots.full_name.indexOf(' ');
    firstName = space === -1 ? slots.full_name : slots.full_name.slice(0, space);
    lastName = space === -1 ? undefined : slots.full_name.slice(space + 1).trim() || undefined;
  }
  const profile = definedOnly<Profile>({
    email,
    firstName,
    lastName,
    phone: slots.phone,
    company: slots.company,
    jobTitle: slots.job_title,
    country: slots.country,
    companySize: amount(slots.company_size),
    industry: slots.industry,
  });
  if (Object.keys(custom).length > 0) profile.custom = custom;
  return profile;
}

/** Graph's `created_time` ("2024-05-14T09:21:06+0000") as ISO UTC; undefined when it is not a time. */
function graphTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = parseIsoTime(value.trim());
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/**
 * One `form_submitted` event for a fetched lead. Its idempotency key is the leadgen id and its time
 * the lead's own `created_time` (the webhook's when Graph gives none), so fetching the same lead twice
 * writes the same event key. Undefined only when neither time is known.
 */
export function normalizeGraphLead(lead: GraphLead, notification: LeadgenNotification): NormalizedEvent | undefined {
  const occurredAt = graphTime(lead.created_time) ?? notification.createdTime;
  if (!occurredAt) return undefined;
  const profile = profileFromFieldData(lead.field_data, lead.custom_disclaimer_responses);
  const leadKey = facebookLeadKey(profile, notification.leadgenId);
  const idOf = (value: unknown) => (typeof value === 'string' && metaIdPattern.test(value) && value !== '0' ? value : undefined);
  const properties = definedOnly<Record<string, PropertyValue>>({
    formId: idOf(lead.form_id) ?? notification.formId,
    adId: idOf(lead.ad_id) ?? notification.adId,
    adName: text(lead.ad_name),
    adsetId: idOf(lead.adset_id),
    adsetName: text(lead.adset_name),
    campaignId: idOf(lead.campaign_id),
    campaignName: text(lead.campaign_name),
    platform: text(lead.platform),
    isOrganic: typeof lead.is_organic === 'boolean' ? lead.is_organic : undefined,
    pageId: notification.pageId,
  });
  return {
    leadKey,
    type: 'form_submitted',
    occurredAt,
    source: facebookSourceName,
    sourceEventId: notification.leadgenId,
    properties,
    profile,
    raw: lead as unknown as JsonObject,
  };
}
