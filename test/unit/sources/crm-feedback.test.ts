import { describe, expect, it } from 'vitest';
import { applyEvents } from '../../../lib/core/lead.ts';
import { signStandardWebhook } from '../../../lib/http/standard-webhooks.ts';
import { crmFeedback, crmOutcomeTypes, maxCrmOutcomes, rejectionReasons } from '../../../lib/sources/crm-feedback.ts';
import { defaultModel } from '../../setup/model.ts';
import { refusal, webhookRequest as request } from '../../setup/webhook-request.ts';

const secret = 'whsec_dGVzdC1vbmx5LWNybS1mZWVkYmFjay1zZWNyZXQtMDAwMDE=';

const outcome = (overrides: Record<string, unknown> = {}) => ({
  id: 'evt-1',
  email: 'Dana@Acme.com',
  outcome: 'sql',
  occurredAt: '2026-03-02T09:30:00Z',
  ...overrides,
});
const normalize = (payload: unknown) => crmFeedback.normalize(request(typeof payload === 'string' ? payload : JSON.stringify(payload)));

describe('crm feedback source: verification', () => {
  const body = JSON.stringify(outcome());
  const now = new Date('2026-03-02T09:31:00Z');
  const timestamp = Math.floor(now.getTime() / 1000);
  const signed = (signingSecret: string, signedBody = body) =>
    request(body, {
      'content-type': 'application/json',
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandardWebhook({ secret: signingSecret, id: 'msg_1', timestamp, body: signedBody }),
    });

  it('accepts a delivery signed with CRM_FEEDBACK_SECRET', () => {
    expect(() => crmFeedback.verify(signed(secret), { CRM_FEEDBACK_SECRET: secret }, now)).not.toThrow();
  });

  it('refuses another secret, a changed body and missing headers with 401', () => {
    const other = 'whsec_b3RoZXItc2VjcmV0LXRoYXQtaXMtbm90LW91cnMtMDAwMDE=';
    expect(refusal(() => crmFeedback.verify(signed(other), { CRM_FEEDBACK_SECRET: secret }, now)).status).toBe(401);
    expect(refusal(() => crmFeedback.verify(signed(secret, body.replace('sql', 'won')), { CRM_FEEDBACK_SECRET: secret }, now)).status).toBe(401);
    expect(refusal(() => crmFeedback.verify(request(body), { CRM_FEEDBACK_SECRET: secret }, now)).status).toBe(401);
  });

  it('does not accept the events secret in its place, and answers 404 while unconfigured', () => {
    expect(refusal(() => crmFeedback.verify(signed(secret), { EVENTS_WEBHOOK_SECRET: secret }, now)).status).toBe(404);
    expect(crmFeedback.requiredSecrets).toEqual(['CRM_FEEDBACK_SECRET']);
    expect(crmFeedback.name).toBe('crm');
  });
});

describe('crm feedback source: shape', () => {
  it('turns one outcome into one event keyed by its id, on the normalized e-mail, at its own time', () => {
    const { events, ignored } = normalize(outcome({ handoffId: 'msg_abc', crmId: '00Q5e00000AbCdE', note: '  called, budget next quarter  ' }));
    expect(ignored).toEqual([]);
    expect(events).toEqual([
      {
        leadKey: 'dana@acme.com',
        type: 'sql',
        occurredAt: '2026-03-02T09:30:00.000Z',
        source: 'crm',
        sourceEventId: 'evt-1',
        properties: { handoffId: 'msg_abc', crmId: '00Q5e00000AbCdE', note: 'called, budget next quarter' },
        raw: expect.objectContaining({ id: 'evt-1', outcome: 'sql' }),
      },
    ]);
  });

  it('takes {"outcomes": [...]} and keeps their order; the same id twice in one delivery is one event', () => {
    const { events, ignored } = normalize({
      outcomes: [outcome({ id: 'a' }), outcome({ id: 'b', outcome: 'won', amount: 1200 }), outcome({ id: 'a' })],
    });
    expect(events.map((event) => [event.sourceEventId, event.type])).toEqual([
      ['a', 'sql'],
      ['b', 'won'],
    ]);
    expect(ignored).toEqual([{ sourceEventId: 'a', reason: 'duplicate_in_delivery' }]);
  });

  it('names the lead by leadId when no e-mail is given: an e-mail or a provider key', () => {
    expect(normalize(outcome({ email: undefined, leadId: 'phone:+14155550123' })).events[0]!.leadKey).toBe('phone:+14155550123');
    expect(normalize(outcome({ email: undefined, leadId: ' LEE@Example.com ' })).events[0]!.leadKey).toBe('lee@example.com');
  });

  it.each([
    ['no lead at all', outcome({ email: undefined }), 'outcome: needs email or leadId'],
    ['an e-mail that is not one', outcome({ email: 'dana-at-acme' }), 'outcome.email'],
    ['a leadId that is neither', outcome({ email: undefined, leadId: 'just words' }), 'outcome.leadId'],
    ['no id', outcome({ id: undefined }), 'outcome.id: is required'],
    ['an empty id', outcome({ id: '' }), 'outcome.id: must not be empty'],
    ['a numeric id', outcome({ id: 7 }), 'outcome.id: must be a string'],
    ['no outcome type', outcome({ outcome: undefined }), 'outcome.outcome: is required'],
    ['an unknown outcome type', outcome({ outcome: 'meeting_booked' }), 'must be one of mql_accepted, mql_rejected, sql, won, lost, got "meeting_booked"'],
    ['a body that is an array', [outcome()], 'body must be a JSON object'],
    ['outcomes that is not an array', { outcomes: outcome() }, 'outcomes must be an array'],
    ['no outcomes', { outcomes: [] }, 'outcomes holds no outcome'],
    ['an outcome that is not an object', { outcomes: [outcome(), 'won'] }, 'outcomes[1]: must be a JSON object'],
    ['a malformed second outcome', { outcomes: [outcome(), outcome({ id: 'b', outcome: 'closed' })] }, 'outcomes[1].outcome'],
    ['malformed JSON', '{"id": "x", ', 'body is not valid JSON'],
  ])('refuses %s with 400 naming it', (_name, payload, detail) => {
    const error = refusal(() => normalize(payload));
    expect(error.status).toBe(400);
    expect(error.detail).toContain(detail);
  });

  it(`refuses more than ${maxCrmOutcomes} outcomes in one delivery`, () => {
    const many = Array.from({ length: maxCrmOutcomes + 1 }, (_, index) => outcome({ id: `e${index}` }));
    expect(refusal(() => normalize({ outcomes: many })).detail).toContain(`the limit is ${maxCrmOutcomes}`);
    expect(normalize({ outcomes: many.slice(0, maxCrmOutcomes) }).events).toHaveLength(maxCrmOutcomes);
  });

  it('refuses a body that is not application/json', () => {
    const error = refusal(() => crmFeedback.normalize(request(JSON.stringify(outcome()), { 'content-type': 'text/plain' })));
    expect(error).toMatchObject({ status: 400, code: 'unsupported_media_type' });
  });
});

describe('crm feedback source: outcomes move the lead', () => {
  const at = new Date('2026-03-02T10:00:00Z');
  it.each([
    ['mql_accepted', 'sql'],
    ['sql', 'sql'],
    ['won', 'won'],
    ['lost', 'lost'],
  ])('%s is stored as its own type and gives the lead status %s', (type, status) => {
    const [event] = normalize(outcome({ outcome: type })).events;
    expect(event!.type).toBe(type);
    expect(applyEvents(undefined, [event!], defaultModel, at).lead.status).toBe(status);
  });

  it('covers every outcome type the core knows', () => {
    expect(crmOutcomeTypes.map((type) => normalize(outcome({ outcome: type })).events[0]!.type)).toEqual([...crmOutcomeTypes]);
  });
});

describe('crm feedback source: rejection reasons', () => {
  it.each(rejectionReasons.map((reason) => [reason]))('mql_rejected with reason %s keeps the reason', (reason) => {
    const [event] = normalize(outcome({ outcome: 'mql_rejected', reason })).events;
    expect(event!.properties).toEqual({ reason });
  });

  it('a rejection without a reason is stored without one', () => {
    expect(normalize(outcome({ outcome: 'mql_rejected' })).events[0]!.properties).toEqual({});
  });

  it('an unknown reason is refused with the allowed list', () => {
    const error = refusal(() => normalize(outcome({ outcome: 'mql_rejected', reason: 'too small' })));
    expect(error.status).toBe(400);
    expect(error.detail).toBe('outcome.reason: must be one of outside_icp, wrong_timing, existing_customer, bad_data, other, got "too small"');
  });

  it('a reason on another outcome is refused (free text goes in note)', () => {
    expect(refusal(() => normalize(outcome({ outcome: 'lost', reason: 'other' }))).detail).toContain('only an mql_rejected outcome carries a reason');
  });
});

describe('crm feedback source: amounts', () => {
  it('won keeps a non-negative amount and its currency, upper-cased', () => {
    expect(normalize(outcome({ outcome: 'won', amount: 24000.5, currency: 'eur' })).events[0]!.properties).toEqual({ amount: 24000.5, currency: 'EUR' });
    expect(normalize(outcome({ outcome: 'won', amount: 0 })).events[0]!.properties).toEqual({ amount: 0 });
    expect(normalize(outcome({ outcome: 'won' })).events[0]!.properties).toEqual({});
  });

  it.each([
    ['a negative amount', outcome({ outcome: 'won', amount: -1 }), 'outcome.amount: must not be negative'],
    ['an amount as a string', outcome({ outcome: 'won', amount: '1200' }), 'outcome.amount: must be a number'],
    ['an amount on another outcome', outcome({ outcome: 'sql', amount: 5 }), 'only a won outcome carries an amount'],
    ['a currency without an amount', outcome({ outcome: 'won', currency: 'USD' }), 'outcome.currency: given without an amount'],
    ['a currency that is no code', outcome({ outcome: 'won', amount: 5, currency: 'dollars' }), 'outcome.currency: must be a three-letter'],
  ])('refuses %s', (_name, payload, detail) => {
    expect(refusal(() => normalize(payload)).detail).toContain(detail);
  });

  it('refuses an amount too large for JSON numbers to hold (1e400 parses to Infinity)', () => {
    expect(refusal(() => normalize('{"id":"x","email":"a@b.co","outcome":"won","occurredAt":"2026-03-02T09:30:00Z","amount":1e400}')).status).toBe(400);
  });
});

describe('crm feedback source: strict times', () => {
  it.each([
    ['2026-03-02T09:30:00Z', '2026-03-02T09:30:00.000Z'],
    ['2026-03-02T11:30:00+02:00', '2026-03-02T09:30:00.000Z'],
    ['2026-03-02T09:30:00.123456Z', '2026-03-02T09:30:00.123Z'],
    ['2026-03-02 09:30', '2026-03-02T09:30:00.000Z'],
    ['2026-03-02', '2026-03-02T00:00:00.000Z'],
  ])('reads %s as %s (no zone is UTC)', (given, expected) => {
    expect(normalize(outcome({ occurredAt: given })).events[0]!.occurredAt).toBe(expected);
  });

  it.each(['1', '2026-02-30T10:00:00Z', 'March 2, 2026', '1772443800', '2026-13-01T00:00:00Z', ''])('refuses %j', (given) => {
    const error = refusal(() => normalize(outcome({ occurredAt: given })));
    expect(error.status).toBe(400);
    expect(error.detail).toContain('outcome.occurredAt');
  });

  it('refuses a time given as a number', () => {
    expect(refusal(() => normalize(outcome({ occurredAt: 1772443800 }))).detail).toContain('outcome.occurredAt: must be an ISO 8601 string');
  });
});

describe('crm feedback source: prototype keys', () => {
  it('an id, e-mail or outcome found only through __proto__ does not count', () => {
    const body = '{"__proto__": {"id": "x", "email": "a@b.co", "outcome": "won", "occurredAt": "2026-03-02T09:30:00Z"}}';
    expect(refusal(() => normalize(body)).status).toBe(400);
  });

  it('"outcomes" reached only through the prototype is not a batch', () => {
    const body = '{"__proto__": {"outcomes": []}, "id": "x", "email": "a@b.co", "outcome": "won", "occurredAt": "2026-03-02T09:30:00Z"}';
    const { events } = normalize(body);
    expect(events).toHaveLength(1);
    expect(Object.getPrototypeOf(events[0]!.properties)).toBe(Object.prototype);
    expect(Object.keys(events[0]!.properties)).toEqual([]);
  });

  it('copies no __proto__, constructor or prototype key into properties and pollutes nothing', () => {
    const body =
      '{"id":"x","email":"a@b.co","outcome":"lost","occurredAt":"2026-03-02T09:30:00Z","__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"prototype":1}';
    const [event] = normalize(body).events;
    expect(event!.properties).toEqual({});
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('"constructor" or "toString" as an outcome type is refused, not looked up on a prototype', () => {
    expect(refusal(() => normalize(outcome({ outcome: 'constructor' }))).status).toBe(400);
    expect(refusal(() => normalize(outcome({ outcome: 'toString' }))).status).toBe(400);
    expect(refusal(() => normalize(outcome({ outcome: 'mql_rejected', reason: '__proto__' }))).status).toBe(400);
  });
});
