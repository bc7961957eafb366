/**
 * What a lead item keeps of its events, within fixed byte bounds: the profile merged from them (a newer
 * value wins, a late older one never overwrites it) and a short summary of each recent event.
 */
import { cutToBytes, utf8Bytes } from './budget.ts';
import type { NormalizedEvent, Profile, PropertyValue } from './events.ts';
import type { RecentEvent } from './handoff.ts';
import type { Lead } from './lead.ts';

/**
 * Bounds on what a lead item carries, in UTF-8 bytes, so it stays far below DynamoDB's 400 KB item limit
 * however large the payloads a source accepts (the full event is stored on its own item, within the
 * budget of lib/core/budget.ts): profile values 500 bytes, 50 custom fields of at most 8 KB together,
 * and per recent event 16 properties of 256 bytes, at most 1 KB together (20 of them: 20 KB).
 */
const maxProfileBytes = 500;
const maxCustomFields = 50;
const maxCustomBytes = 8 * 1024;
const maxRecentProperties = 16;
const maxRecentBytes = 256;
const maxRecentPropertiesBytes = 1024;

const bounded = <T>(value: T, maxBytes: number): T => (typeof value === 'string' ? (cutToBytes(value, maxBytes) as T) : value);

/** JSON bytes of one entry of a record (the store keeps records as maps of these). */
const entryBytes = (key: string, value: unknown) => utf8Bytes(JSON.stringify(key)) + utf8Bytes(JSON.stringify(value) ?? 'null') + 2;

export function mergeProfile(lead: Pick<Lead, 'profile' | 'profileAsOf'>, profile: Profile, occurredAt: string): void {
  const when = Date.parse(occurredAt);
  const newer = (key: string) => {
    const asOf = lead.profileAsOf[key];
    return asOf === undefined || Date.parse(asOf) <= when;
  };
  for (const [field, value] of Object.entries(profile)) {
    if (field === 'email' || field === 'custom' || value === undefined || value === null || value === '') continue;
    if (!newer(field)) continue;
    (lead.profile as Record<string, unknown>)[field] = bounded(value, maxProfileBytes);
    lead.profileAsOf[field] = occurredAt;
  }
  for (const [key, value] of Object.entries(profile.custom ?? {})) {
    const asOfKey = `custom.${key}`;
    if (value === undefined || !newer(asOfKey)) continue;
    const custom = lead.profile.custom ?? {};
    if (!Object.hasOwn(custom, key) && Object.keys(custom).length >= maxCustomFields) continue;
    const kept = bounded(value, maxProfileBytes);
    const others = Object.entries(custom).reduce((sum, [name, held]) => (name === key ? sum : sum + entryBytes(name, held)), 0);
    if (others + entryBytes(key, kept) > maxCustomBytes) continue;
    lead.profile.custom = { ...custom, [key]: kept };
    lead.profileAsOf[asOfKey] = occurredAt;
  }
}

export function recentEvent(event: NormalizedEvent): RecentEvent {
  const properties: Record<string, PropertyValue> = {};
  let bytes = 0;
  for (const [key, value] of Object.entries(event.properties).slice(0, maxRecentProperties)) {
    const kept = bounded(value, maxRecentBytes);
    const size = entryBytes(key, kept);
    if (bytes + size > maxRecentPropertiesBytes) continue;
    properties[key] = kept;
    bytes += size;
  }
  return { type: event.type, occurredAt: event.occurredAt, source: event.source, properties, ...(event.anonymous ? { anonymous: true as const } : {}) };
}
