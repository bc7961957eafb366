import { describe, expect, it } from 'vitest';
import { leadAttributes, leadOfItem } from '../../../lib/store/lead-codec.ts';
import { decodeRawPayloads, encodeRawPayloads } from '../../../lib/store/raw-payloads.ts';

const lead = {
  leadId: 'dana@acme.com',
  version: 3,
  outbox: { msg_1: { type: 'lead.mql' } },
  firstSeenAt: '2026-12-01T09:00:00.000Z',
  profile: { email: 'dana@acme.com', firstName: 'Dana', jobTitle: 'CEO' },
  recentEvents: Array.from({ length: 20 }, (_, index) => ({
    occurredAt: `2026-12-01T09:00:${String(index).padStart(2, '0')}.000Z`,
    source: 'sendgrid',
    type: 'email_opened',
    properties: {},
  })),
  behavior: { email_opened: { count: 20, sum: 40, lastSeen: '2026-12-01T09:00:19.000Z' } },
  score: { fit: 25, behavior: 40, total: 65, at: '2026-12-01T09:01:00.000Z' },
};

describe('the lead item', () => {
  it('keeps plain what DynamoDB expressions name, packs the rest smaller, and reads back the same lead', () => {
    const attributes = leadAttributes(lead);
    expect(Object.keys(attributes).sort()).toEqual(['firstSeenAt', 'leadId', 'outbox', 'state', 'version']);
    expect((attributes.state as Uint8Array).byteLength).toBeLessThan(JSON.stringify(lead).length / 3);
    expect(leadOfItem({ pk: 'LEAD#dana@acme.com', sk: 'PROFILE', kind: 'lead', dueShard: 'DUE#1', ...attributes })).toEqual(lead);
  });

  it('reads an item written before the state was packed', () => {
    expect(leadOfItem({ pk: 'LEAD#dana@acme.com', sk: 'PROFILE', kind: 'lead', ...lead })).toEqual(lead);
  });
});

describe('raw payloads', () => {
  it('round-trip deflated, and items written before read as they are', () => {
    const payloads = [{ source: 'sendgrid', sourceEventId: 'a', raw: JSON.stringify({ event: 'open', email: 'dana@acme.com', useragent: 'Mozilla/5.0' }) }];
    expect(decodeRawPayloads({ kind: 'raw', ...encodeRawPayloads(payloads) })).toEqual(payloads);
    expect(decodeRawPayloads({ kind: 'raw', events: payloads })).toEqual(payloads);
  });
});
