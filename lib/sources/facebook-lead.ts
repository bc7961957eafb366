/**
 * A Facebook lead as the Graph API answers it, mapped onto one `form_submitted` event: Meta's prefill
 * questions onto the profile, custom questions kept, the lead keyed by e-mail, else phone, else leadgen id.
 * The fetch step of lib/sources/facebook.ts calls {@link normalizeGraphLead} once it has the lead.
 */

import type { GraphLead } from '../apis/facebook-graph.ts';
import { metaIdPattern } from '../apis/facebook-graph.ts';
import type { NormalizedEvent, Profile, PropertyValue } from '../core/events.ts';
import { phoneLeadId } from '../core/identity.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import type { LeadgenNotification } from './facebook.ts';
import { facebookSourceName } from './facebook.ts';
import type { FormAnswer } from './fields.ts';
import { definedOnly, isKeptKey, maxFieldsPerEvent, parseIsoTime, profileFromAnswers, text, truncate } from './fields.ts';

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

/** The profile a lead form tells: known questions onto profile fields (lib/sources/fields.ts), every other answer under `custom`. */
export function profileFromFieldData(fields: GraphLead['field_data'], disclaimers: GraphLead['custom_disclaimer_responses'] = []): Profile {
  const answers: FormAnswer[] = [];
  for (const field of fields) {
    const name = text(field.name);
    const answer = answerOf(field.values);
    if (name !== undefined && answer !== undefined) answers.push({ name, answer });
  }
  const { profile, unmatched, otherWorkEmail } = profileFromAnswers(answers);
  const custom: Record<string, PropertyValue> = {};
  let customCount = 0;
  for (const { name, answer } of unmatched) {
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
  if (otherWorkEmail !== undefined && customCount < maxFieldsPerEvent) custom.work_email = otherWorkEmail;
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
