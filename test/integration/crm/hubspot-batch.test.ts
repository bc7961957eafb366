/**
 * The HubSpot adapter against HubSpot's documented batch behaviour, as the stand-in (lib/local/stand-ins/hubspot.ts)
 * answers it: an upsert keyed by e-mail is all or nothing (one invalid row fails the call with a 400 that
 * names no row), results echo only what was sent plus the objectWriteTraceId, a contact found by an
 * additional e-mail answers under its primary one, and an earlier lifecycle stage is silently kept.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryResult, HandoffRecord } from '../../../lib/crm/adapter.ts';
import { CrmDeliveryError } from '../../../lib/crm/adapter.ts';
import { hubSpotAdapter } from '../../../lib/crm/hubspot.ts';
import { setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import { bisectBudget } from '../../../lib/crm/hubspot-upsert.ts';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';

const token = 'pat-na1-00000000-fake-4b2c-9d3e-0123456789ab';
const now = new Date('2026-12-06T10:00:00.000Z');
const upsertPath = '/crm/v3/objects/contacts/batch/upsert';
let hubspot: HubSpotStandIn;

beforeEach(async () => {
  hubspot = await startHubSpotStandIn({ token });
  await setupHubSpot({ token, baseUrl: hubspot.url });
});
afterEach(async () => {
  await hubspot.close();
});

function record(email: string, overrides: Partial<HandoffRecord['lead']> = {}, type: HandoffRecord['type'] = 'lead.mql'): HandoffRecord {
  return {
    type,
    id: `msg_${Buffer.from(`${email}#${type}`).toString('base64url').slice(0, 27)}`,
    occurredAt: '2026-12-06T09:00:00.000Z',
    leadId: email,
    lead: { email, firstName: 'Dana', lastName: 'Whitfield', company: 'Acme Logistics', jobTitle: 'VP of Engineering', phone: '+14155550123', ...overrides },
    score: { total: 61, fit: 25, behavior: 36, threshold: 60, modelVersion: '504a1c85b2af' },
    reasons: [{ rule: 'webinar_attended', kind: 'behavior', description: 'Webinar attended', pointsNow: 36, rawPoints: 36, count: 1, points: 36 }],
    recentEvents: [],
  };
}

const upsertCalls = (from: number) => hubspot.calls.slice(from).filter((call) => call.path === upsertPath);
const failed = (result: DeliveryResult | undefined): CrmDeliveryError => {
  if (!result || result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
  return result.error;
};

/** 100 MQLs, the one at `bad` with a job title over HubSpot's 65,536 characters (a form's free text). */
function hundredWithOneBad(bad: number): HandoffRecord[] {
  return Array.from({ length: 100 }, (_, index) => record(`lead${index}@example.com`, index === bad ? { jobTitle: 'x'.repeat(70_000) } : {}));
}

describe('an e-mail-keyed batch with one invalid row (HubSpot refuses the whole call, naming no row)', () => {
  it('is split until the refused row stands alone: only it is rejected, the 99 others are delivered, in at most 1 + 2·⌈log2 100⌉ upsert calls', async () => {
    const adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
    const from = hubspot.calls.length;
    // The first row: halves of 50, 25, 13, 7, 4, 2, 1 hold it, the deepest search (7 rounds).
    const results = await adapter.deliverBatch!(hundredWithOneBad(0), now);
    expect(results.filter((result) => result.ok)).toHaveLength(99);
    const error = failed(results[0]);
    expect(error).toMatchObject({ kind: 'rejected', retryable: false });
    expect(error.message).toContain('jobtitle');
    expect(error.message).toContain('singled out of a refused batch');
    expect(error.message).not.toContain('lead0@example.com');
    expect(hubspot.contacts().size).toBe(99);
    expect(hubspot.contacts().has('lead0@example.com')).toBe(false);
    // One read, the refused call, then two calls per halving round for 7 rounds: 16 calls for 100 records.
    expect(upsertCalls(from)).toHaveLength(15);
    expect(hubspot.calls.length - from).toBe(16);
    const receipt = results[1]!.ok ? results[1]!.receipt : undefined;
    expect(receipt?.calls).toBe(0.16);
  });

  it('finds a row elsewhere in fewer rounds (13 upsert calls for the 38th of 100)', async () => {
    const adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
    const from = hubspot.calls.length;
    const results = await adapter.deliverBatch!(hundredWithOneBad(37), now);
    expect(results.filter((result) => result.ok)).toHaveLength(99);
    expect(failed(results[37]).kind).toBe('rejected');
    expect(upsertCalls(from)).toHaveLength(13);
  });

  it('stops the search at a 429: what is delivered stays delivered, the rest waits the Retry-After, none is dead-lettered', async () => {
    const adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
    // The read, the refused call, the first half (delivered), the second half (refused); the fifth is over the limit.
    hubspot.rateLimit({ perTenSeconds: 4 });
    const results = await adapter.deliverBatch!(hundredWithOneBad(80), now);
    expect(results.slice(0, 50).every((result) => result.ok)).toBe(true);
    for (const result of results.slice(50)) expect(failed(result)).toMatchObject({ kind: 'rate_limited', retryable: true, retryAfterSeconds: 10 });
    expect(hubspot.contacts().size).toBe(50);
  });

  it('bounds the search: with many bad rows it spends at most its budget, rejects only bad rows, and retries the rows it could not clear', async () => {
    const adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
    const bad = new Set([3, 17, 42, 66, 91]);
    const records = Array.from({ length: 100 }, (_, index) => record(`lead${index}@example.com`, bad.has(index) ? { jobTitle: 'x'.repeat(70_000) } : {}));
    const from = hubspot.calls.length;
    const results = await adapter.deliverBatch!(records, now);
    expect(upsertCalls(from).length).toBeLessThanOrEqual(bisectBudget(100));
    expect(bisectBudget(100)).toBe(29);
    for (const [index, result] of results.entries()) {
      if (result.ok) expect(bad.has(index)).toBe(false);
      else if (result.error.kind === 'rejected') expect(bad.has(index)).toBe(true);
      else expect(result.error).toMatchObject({ kind: 'unavailable', retryable: true });
    }
    expect(results.filter((result) => result.ok).length).toBeGreaterThan(50);
  });

  it('sends the rows of a lead status the portal lacks to the DLQ and the rest through, without a search', async () => {
    const adapter = hubSpotAdapter({ token, baseUrl: hubspot.url, leadStatuses: { recycled: 'RECYCLED' } });
    const records = Array.from({ length: 100 }, (_, index) => record(`lead${index}@example.com`, {}, index % 10 === 0 ? 'lead.recycled' : 'lead.mql'));
    const from = hubspot.calls.length;
    const results = await adapter.deliverBatch!(records, now);
    expect(results.filter((result) => result.ok)).toHaveLength(90);
    for (let index = 0; index < 100; index += 10) expect(failed(results[index]).message).toContain('HUBSPOT_RECYCLED_LEAD_STATUS');
    expect(upsertCalls(from)).toHaveLength(2);
  });
});

describe('results are matched to rows by objectWriteTraceId', () => {
  it('sends each row with a trace id and its e-mail as a property, and reads HubSpot’s answer in any order, without e-mails', async () => {
    const sent: { objectWriteTraceId?: string; id: string; properties: Record<string, string> }[] = [];
    const adapter = hubSpotAdapter({
      token,
      baseUrl: hubspot.url,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (!String(input).endsWith(upsertPath)) return response;
        sent.push(...(JSON.parse(String(init?.body)) as { inputs: typeof sent }).inputs);
        // An answer in another order, each result without the email property: only the trace id links them.
        const body = (await response.json()) as { results: { properties: Record<string, unknown> }[] };
        body.results.reverse();
        for (const result of body.results) delete result.properties.email;
        return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
      },
    });
    hubspot.setStage('b@example.com', 'lead');
    const results = await adapter.deliverBatch!([record('a@example.com'), record('b@example.com'), record('c@example.com')], now);
    expect(results.map((result) => (result.ok ? result.receipt.created : 'failed'))).toEqual([true, false, true]);
    const ids = results.map((result) => (result.ok ? result.receipt.externalId : undefined));
    expect(ids).toEqual(['a@example.com', 'b@example.com', 'c@example.com'].map((email) => hubspot.contacts().get(email)!.id));
    expect(sent.map((input) => input.objectWriteTraceId)).toEqual([record('a@example.com').id, record('b@example.com').id, record('c@example.com').id]);
    expect(sent.every((input) => input.properties.email === input.id)).toBe(true);
  });
});

describe('a contact HubSpot knows by an additional e-mail', () => {
  it('is read and written as that contact: its later stage kept, the receipt its id, no second contact', async () => {
    hubspot.setStage('dana@example.com', 'salesqualifiedlead');
    hubspot.addEmail('dana@example.com', 'dana.w@old-employer.example');
    const adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
    const receipt = await adapter.deliver(record('dana.w@old-employer.example'), now);
    const contact = hubspot.contacts().get('dana@example.com')!;
    expect(receipt).toMatchObject({ status: 200, created: false, externalId: contact.id });
    expect(receipt.note).toContain('lifecyclestage kept at salesqualifiedlead');
    expect(receipt.note).toContain('additional e-mail');
    expect(receipt.note).not.toContain('dana');
    expect(hubspot.contacts().size).toBe(1);
    expect(contact.properties.lifecyclestage).toBe('salesqualifiedlead');
    expect(contact.properties.mql_score).toBe('61');
  });
});

describe('messages that are logged name no address, name or phone number', () => {
  it('a HubSpot 400 quoting the address, on the read or on a row, becomes an error without it', async () => {
    const quoting = {
      status: 'error',
      category: 'VALIDATION_ERROR',
      message:
        'Property values were not valid: [{"isValid":false,"message":"Email address dana.whitfield@example.com is invalid for Dana Whitfield (+1 415 555 0123)","error":"INVALID_EMAIL","name":"email"}]',
    };
    const adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
    hubspot.failNext(1, 400, quoting);
    const onRead = await adapter.deliver(record('dana.whitfield@example.com'), now).catch((error: unknown) => error as CrmDeliveryError);
    const onRow = hubSpotAdapter({
      token,
      baseUrl: hubspot.url,
      fetch: async (input, init) =>
        String(input).endsWith(upsertPath)
          ? new Response(JSON.stringify(quoting), { status: 400, headers: { 'content-type': 'application/json' } })
          : fetch(input, init),
    });
    const [rowResult] = await onRow.deliverBatch!([record('dana.whitfield@example.com')], now);
    hubspot.failNext(1, 503, { status: 'error', category: 'SERVICE_UNAVAILABLE', message: 'backend timeout while updating dana.whitfield@example.com' });
    const onOutage = await adapter.deliver(record('dana.whitfield@example.com'), now).catch((error: unknown) => error as CrmDeliveryError);
    for (const error of [onRead, failed(rowResult), onOutage]) {
      expect(error).toBeInstanceOf(CrmDeliveryError);
      const text = (error as CrmDeliveryError).message;
      expect(text).toContain('HubSpot');
      for (const secret of ['dana.whitfield', 'Dana', 'Whitfield', '555']) expect(text).not.toContain(secret);
    }
    expect((onRead as CrmDeliveryError).message).toContain('INVALID_EMAIL');
    expect((onOutage as CrmDeliveryError).kind).toBe('unavailable');
  });
});
