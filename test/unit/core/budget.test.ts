/**
 * The store's byte budget for an event (lib/core/budget.ts): UTF-8 bytes, never a split character, the
 * model's own properties kept first, a type or id that cannot be stored refused with a reason.
 */
import { describe, expect, it } from 'vitest';
import { boundEvent, cutToBytes, eventBudget, namesTheModelReads, utf8Bytes } from '../../../lib/core/budget.ts';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { event as eventOf } from '../../setup/events.ts';
import { defaultModel } from '../../setup/model.ts';

const at = '2026-12-01T10:00:00.000Z';
/** An event of dana@acme.com with the given type and fields. */
const event = (fields: { type?: string; sourceEventId?: string; properties?: Record<string, string>; profile?: NormalizedEvent['profile'] }) =>
  eventOf('dana@acme.com', fields.type ?? 'page_viewed', at, {
    ...(fields.sourceEventId ? { id: fields.sourceEventId } : {}),
    ...(fields.properties ? { properties: fields.properties } : {}),
    ...(fields.profile ? { profile: fields.profile } : {}),
  });

const reads = namesTheModelReads(defaultModel);
const euros = (count: number) => '€'.repeat(count);
const stored = (bounded: ReturnType<typeof boundEvent>): NormalizedEvent => {
  if ('refused' in bounded) throw new Error(`refused: ${bounded.refused}`);
  return bounded.event;
};

describe('UTF-8 bytes', () => {
  it('counts 1 to 4 bytes a character, as DynamoDB does', () => {
    expect(utf8Bytes('a')).toBe(1);
    expect(utf8Bytes('é')).toBe(2);
    expect(utf8Bytes('€')).toBe(3);
    expect(utf8Bytes('😀')).toBe(4);
    expect(utf8Bytes(euros(2000))).toBe(6000);
  });

  it('cuts to a byte limit without splitting a character, not even a surrogate pair', () => {
    expect(cutToBytes(euros(10), 10)).toBe(euros(3));
    expect(cutToBytes('a😀b', 4)).toBe('a');
    expect(cutToBytes('a😀b', 5)).toBe('a😀');
    expect(cutToBytes('short', 2000)).toBe('short');
  });
});

describe('an event within the budget', () => {
  it('is stored as it is when it fits', () => {
    const small = event({ type: 'page_viewed', properties: { url: 'https://acme.com/pricing' } });
    expect(boundEvent(small, reads)).toEqual({ event: small, trimmed: 0 });
  });

  it('a hundred properties of 2,000 "€" (600 KB) keep the ones the model reads and stop at the byte budget', () => {
    const properties: Record<string, string> = { url: 'https://acme.com/pricing' };
    for (let index = 0; index < 100; index += 1) properties[`p${index}`] = euros(2000);
    const bounded = boundEvent(event({ type: 'page_viewed', properties }), reads);
    const kept = stored(bounded);
    expect(kept.properties.url).toBe('https://acme.com/pricing');
    expect(utf8Bytes(JSON.stringify(kept.properties))).toBeLessThanOrEqual(eventBudget.propertiesBytes);
    for (const value of Object.values(kept.properties)) if (typeof value === 'string') expect(utf8Bytes(value)).toBeLessThanOrEqual(eventBudget.textBytes);
    expect('trimmed' in bounded && bounded.trimmed).toBeGreaterThan(90);
  });

  it('keeps a property the model reads even when it comes last', () => {
    const properties: Record<string, string> = {};
    for (let index = 0; index < 40; index += 1) properties[`p${index}`] = euros(666);
    properties.contentType = 'case_study';
    expect(stored(boundEvent(event({ type: 'content_downloaded', properties }), reads)).properties.contentType).toBe('case_study');
  });

  it('bounds the profile: standard fields and custom fields each within half the profile budget', () => {
    const custom: Record<string, string> = {};
    for (let index = 0; index < 100; index += 1) custom[`trait${index}`] = euros(2000);
    const kept = stored(boundEvent(event({ type: 'profile_updated', profile: { email: 'dana@acme.com', jobTitle: euros(5000), custom } }), reads));
    expect(utf8Bytes(kept.profile!.jobTitle!)).toBe(eventBudget.textBytes - (eventBudget.textBytes % 3));
    expect(utf8Bytes(JSON.stringify(kept.profile!.custom))).toBeLessThanOrEqual(eventBudget.profileBytes / 2);
    expect(kept.profile!.email).toBe('dana@acme.com');
  });

  it('refuses an event whose type or id cannot be stored, with a reason', () => {
    expect(boundEvent(event({ type: 'x'.repeat(110_000) }), reads)).toEqual({ refused: 'event_type_too_long' });
    expect(boundEvent(event({ sourceEventId: 'i'.repeat(600) }), reads)).toEqual({ refused: 'event_id_too_long' });
  });
});

describe('what the model reads', () => {
  it("names the properties of the default model's rules, and a lead form's id", () => {
    expect([...reads.properties]).toEqual(expect.arrayContaining(['url', 'contentType', 'formId']));
  });
});
