/**
 * Field handling every source shares: reading a sender's JSON without reaching its prototype,
 * bounding what is stored (string length, field count, key length), and strict time parsing.
 */
import type { Profile, PropertyValue } from '../core/events.ts';
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
