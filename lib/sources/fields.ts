/**
 * Field handling every source shares: reading a sender's JSON without reaching its prototype,
 * bounding what is stored (string length, field count, key length), and strict time parsing.
 */
import type { Profile, PropertyValue } from '../core/events.ts';
import { normalizeEmail } from '../core/events.ts';
import type { JsonObject } from '../http/json.ts';

/**
 * Longest string value kept in properties and profile fields. Longer ones are cut (not refused):
 * scoring reads short fields, and an event item must stay far below DynamoDB's 400 KB item limit.
 */
export const maxStoredStringLength = 2000;

/** Most properties (and most `custom` profile fields) kept per event, for the same item-size reason. */
export const maxFieldsPerEvent = 100;

/** Keys longer than this are dropped: they are never a rule's property name. */
export const maxKeyLength = 200;

/** Keys that could reach an object's prototype if ever assigned; never copied anywhere. */
export const unsafeKeys = new Set(['__proto__', 'constructor', 'prototype']);

/** Cuts a string to {@link maxStoredStringLength} without splitting a surrogate pair. */
export function truncate(value: string): string {
  if (value.length <= maxStoredStringLength) return value;
  const end = /[\uD800-\uDBFF]/.test(value.charAt(maxStoredStringLength - 1)) ? maxStoredStringLength - 1 : maxStoredStringLength;
  return value.slice(0, end);
}

/** First non-blank string among the candidates, trimmed and truncated. */
export function text(...candidates: unknown[]): string | undefined {
  for (const candidate of candidates) {
    if (typeof candidate === 'string' && candidate.trim() !== '') return truncate(candidate.trim());
  }
  return undefined;
}

/** A company size or revenue: a number, or a range string; "250" becomes 250 so bands can compare it. */
export function amount(...candidates: unknown[]): number | string | undefined {
  for (const candidate of candidates) {
    if (typeof candidate === 'number' && Number.isFinite(candidate) && candidate >= 0) return candidate;
    const value = text(candidate);
    if (value !== undefined) return /^\d{1,15}$/.test(value) ? Number(value) : value;
  }
  return undefined;
}

/** A property value as stored: scalars kept, nested objects and arrays as their JSON text. */
export function toPropertyValue(value: unknown): PropertyValue | undefined {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return truncate(value);
  if (typeof value === 'object') return truncate(JSON.stringify(value));
  return undefined;
}

export function isKeptKey(key: string): boolean {
  return !unsafeKeys.has(key) && key.length <= maxKeyLength;
}

/** Snake-case spellings of the property names the model's rules read. */
const propertyAliases: Readonly<Record<string, string>> = { content_type: 'contentType', form_id: 'formId' };

/** Properties flattened to scalar values, keys kept as given, plus the model's camelCase names. */
export function flattenProperties(source: JsonObject | null | undefined): Record<string, PropertyValue> {
  const properties: Record<string, PropertyValue> = {};
  if (!source) return properties;
  let count = 0;
  for (const key of Object.keys(source)) {
    if (count >= maxFieldsPerEvent) break;
    if (!isKeptKey(key)) continue;
    const value = toPropertyValue(source[key]);
    if (value === undefined) continue;
    properties[key] = value;
    count += 1;
  }
  for (const [given, canonical] of Object.entries(propertyAliases)) {
    const value = properties[given];
    if (value !== undefined && !Object.hasOwn(properties, canonical)) properties[canonical] = value;
  }
  return properties;
}

/** The object without its undefined fields, so a stored profile holds only what the sender said. */
export function definedOnly<T extends object>(fields: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}

/** `base` overlaid with `over`, `custom` merged key by key. */
export function mergeProfiles(base: Profile, over: Profile): Profile {
  const merged: Profile = { ...base, ...over };
  if (base.custom || over.custom) merged.custom = { ...base.custom, ...over.custom };
  return merged;
}

const isoTimePattern = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Milliseconds of a strict ISO 8601 date or date-time; undefined when it is not one or not a real day. */
export function parseIsoTime(value: string): number | undefined {
  const match = isoTimePattern.exec(value);
  if (!match) return undefined;
  const [, year, month, day, hour, , , zone] = match;
  const calendarDay = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (calendarDay.getUTCMonth() !== Number(month) - 1 || calendarDay.getUTCDate() !== Number(day)) return undefined;
  const ms = Date.parse(value.replace(' ', 'T') + (hour !== undefined && zone === undefined ? 'Z' : ''));
  return Number.isNaN(ms) ? undefined : ms;
}

// --- lead forms (Facebook Lead Ads, Google Ads lead forms, LinkedIn Lead Gen Forms) -------------------------------------------

/** A question's key compared case- and punctuation-insensitively: "Company Size", "company_size" and `COMPANY_SIZE` are one. */
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

/**
 * The form questions that fill a profile field, by {@link questionKey}: Meta's prefill question names
 * (docs/providers/facebook.md, "Mapping"), Google's column ids (docs/providers/google-ads.md, "Mapping"),
 * and the common custom-question spellings of company size and industry.
 */
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
  work_phone: 'phone',
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

/**
 * The profile a form's filled slots make: the e-mail from `email`, else `work_email`; a full name split at
 * its first space when no first or last name is given. `otherWorkEmail` is a work e-mail that is not the
 * lead's address, for the source to keep. Every form source (Facebook, Google Ads, LinkedIn) ends here.
 */
export function profileOfSlots(slots: Partial<Record<ProfileSlot, string>>): { profile: Profile; otherWorkEmail?: string } {
  const email = normalizeEmail(slots.email) ?? normalizeEmail(slots.work_email);
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
  const otherWorkEmail = slots.work_email !== undefined && normalizeEmail(slots.work_email) !== email ? slots.work_email : undefined;
  return { profile, ...(otherWorkEmail !== undefined ? { otherWorkEmail } : {}) };
}

/** One answer of a lead form: the question as the sender names it, and the answer as text. */
export interface FormAnswer {
  readonly name: string;
  readonly answer: string;
}

/**
 * What a lead form's answers say about the person: the known questions on the profile fields fit rules read
 * (the first answer of a slot wins; a full name is split at its first space when no first or last name is
 * given), the e-mail from `email`, else `work_email`. `unmatched` is every other answer, in order, for the
 * source to keep as it documents; `otherWorkEmail` a work e-mail that is not the lead's address.
 */
export function profileFromAnswers(answers: readonly FormAnswer[]): { profile: Profile; unmatched: FormAnswer[]; otherWorkEmail?: string } {
  const slots: Partial<Record<ProfileSlot, string>> = {};
  const unmatched: FormAnswer[] = [];
  for (const one of answers) {
    const slot = slotOf(questionKey(one.name));
    if (slot && slots[slot] === undefined) slots[slot] = one.answer;
    else unmatched.push(one);
  }
  const { profile, otherWorkEmail } = profileOfSlots(slots);
  return { profile, unmatched, ...(otherWorkEmail !== undefined ? { otherWorkEmail } : {}) };
}
