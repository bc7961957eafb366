import { describe, expect, it } from 'vitest';
import { canonicalLeadId, isVisitorLeadId, linkedKeysOf, userLeadId, visitorLeadId } from '../../../lib/core/identity.ts';
import { applyEvents, isEmailLeadId, leadIdOf, normalizePhone, phoneLeadId, statusChangeAt } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { normalizePhone as facebookNormalizePhone } from '../../../lib/sources/facebook.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

describe('naming a lead without an e-mail', () => {
  it('writes a phone number the same way whatever punctuation a source sends', () => {
    expect(phoneLeadId('+1 (415) 555-0123')).toBe('phone:+14155550123');
    expect(phoneLeadId('+1.415.555.0123')).toBe('phone:+14155550123');
    expect(phoneLeadId('0044 20 7946 0958')).toBe('phone:+442079460958');
    expect(phoneLeadId(' 415 555 0123 ')).toBe('phone:4155550123');
  });

  it('names nothing that is not a phone number', () => {
    expect(phoneLeadId(undefined)).toBeUndefined();
    expect(phoneLeadId('')).toBeUndefined();
    expect(phoneLeadId('12345')).toBeUndefined();
    expect(phoneLeadId('1234567890123456')).toBeUndefined();
    expect(phoneLeadId('call me maybe')).toBeUndefined();
  });

  it('is the one the Facebook source uses', () => {
    expect(facebookNormalizePhone).toBe(normalizePhone);
  });

  it('tells an e-mail lead from a provider key', () => {
    expect(isEmailLeadId('dana@example.com')).toBe(true);
    expect(isEmailLeadId('phone:+14155550123')).toBe(false);
    expect(isEmailLeadId('facebook:1039488223947372')).toBe(false);
    expect(isEmailLeadId('Dana@Example.com')).toBe(false);
  });
});

describe("e-mail folding is the model's choice", () => {
  const content = modelContent(defaultModel);
  const folding = parseModel({ ...content, identity: { stripPlusTags: true, gmailDots: true } });

  it('the default model folds nothing: plus tags and Gmail dots name other leads, and its version is unchanged', () => {
    expect(defaultModel.identity).toBeUndefined();
    expect(parseModel(content).version).toBe(defaultModel.version);
    expect(canonicalLeadId('dana+news@acme.com', defaultModel)).toBe('dana+news@acme.com');
    expect(canonicalLeadId('d.whitfield@gmail.com', defaultModel)).toBe('d.whitfield@gmail.com');
  });

  it('with stripPlusTags and gmailDots turned on, one mailbox is one lead', () => {
    expect(folding.version).not.toBe(defaultModel.version);
    expect(canonicalLeadId('dana+news@acme.com', folding)).toBe('dana@acme.com');
    expect(canonicalLeadId('d.whitfield+q4@googlemail.com', folding)).toBe('dwhitfield@gmail.com');
    // Dots matter outside Gmail; a leading plus is not a tag; provider keys are left alone.
    expect(canonicalLeadId('d.whitfield@acme.com', folding)).toBe('d.whitfield@acme.com');
    expect(canonicalLeadId('+dana@acme.com', folding)).toBe('+dana@acme.com');
    expect(canonicalLeadId('phone:+14155550123', folding)).toBe('phone:+14155550123');
    expect(canonicalLeadId('...@gmail.com', folding)).toBe('...@gmail.com');
  });
});

describe('visitors and user ids (issue 13, part 4)', () => {
  it('keys an id as given when it fits a key, else by its digest; nothing for no id', () => {
    expect(visitorLeadId('8c1f0e2d-3b4a-4c5d-9e6f-7a8b9c0d1e2f')).toBe('anon:8c1f0e2d-3b4a-4c5d-9e6f-7a8b9c0d1e2f');
    expect(userLeadId(12345)).toBe('user:12345');
    expect(userLeadId(' u_1 ')).toBe('user:u_1');
    const odd = visitorLeadId('a b/c');
    expect(odd).toMatch(/^anon:sha256\.[A-Za-z0-9_-]{43}$/);
    expect(visitorLeadId('a b/c')).toBe(odd);
    expect(visitorLeadId('x'.repeat(129))).toMatch(/^anon:sha256\./);
    for (const none of [undefined, null, '', '  ', {}, Number.NaN]) expect(visitorLeadId(none)).toBeUndefined();
    // Every visitor key is a lead id a caller may name (GET /leads/{key}, mql explain).
    expect(leadIdOf(odd)).toBe(odd);
  });

  it('names the provider keys an event ties to its lead: its phone, then its links, each once, never its own lead', () => {
    const at = '2026-06-01T09:00:00.000Z';
    const base = { type: 'page_viewed', occurredAt: at, source: 'tracking', sourceEventId: 'm1', properties: {} };
    expect(linkedKeysOf({ ...base, leadKey: 'lee@example.com', profile: { phone: '+1 415 555 0123' }, links: ['user:u_1', 'anon:a', 'user:u_1'] })).toEqual([
      'phone:+14155550123',
      'user:u_1',
      'anon:a',
    ]);
    expect(linkedKeysOf({ ...base, leadKey: 'user:u_1', links: ['user:u_1', 'anon:a'] })).toEqual(['anon:a']);
    expect([isVisitorLeadId('anon:a'), isVisitorLeadId('user:u_1'), isVisitorLeadId('phone:+14155550123'), isVisitorLeadId('lee@example.com')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it('a visitor is scored as nobody: a demo request neither qualifies it nor makes it due; the same events qualify a person', () => {
    const now = new Date('2026-06-01T10:00:00.000Z');
    const demo = (leadKey: string) => ({
      leadKey,
      type: 'demo_requested',
      occurredAt: '2026-06-01T09:00:00.000Z',
      source: 'tracking',
      sourceEventId: 'd1',
      properties: {},
    });
    const visitor = applyEvents(undefined, [demo('anon:a')], defaultModel, now);
    expect([visitor.lead.status, visitor.handoffs, statusChangeAt(visitor.lead, defaultModel, now)]).toEqual(['new', [], undefined]);
    expect(visitor.score.behavior).toBeGreaterThan(0);
    expect(applyEvents(undefined, [demo('lee@example.com')], defaultModel, now).lead.status).toBe('mql');
  });
});
