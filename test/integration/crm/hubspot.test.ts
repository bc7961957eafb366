import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CrmAdapter, DeliveryResult, HandoffRecord } from '../../../lib/crm/adapter.ts';
import { CrmDeliveryError } from '../../../lib/crm/adapter.ts';
import { formatHubSpotReasons, hubSpotAdapter } from '../../../lib/crm/hubspot.ts';
import { secondsToMidnight, secondsToMidnightUtc } from '../../../lib/crm/hubspot-answers.ts';
import { hubSpotMaxText } from '../../../lib/crm/hubspot-properties.ts';
import { formatHubSpotSetup, HubSpotSetupError, setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import { CrmConfigurationError, crmAdapterFromEnv } from '../../../lib/crm/index.ts';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import fixture from '../../fixtures/hubspot/hubspot_contacts.json' with { type: 'json' };

const token = 'pat-na1-00000000-fake-4b2c-9d3e-0123456789ab';
const now = new Date('2026-11-29T03:30:00.000Z');
let hubspot: HubSpotStandIn;
let adapter: CrmAdapter;

beforeEach(async () => {
  hubspot = await startHubSpotStandIn({ token });
  adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
});
afterEach(async () => {
  await hubspot.close();
});

function record(email: string, type: HandoffRecord['type'] = 'lead.mql', overrides: Partial<HandoffRecord> = {}): HandoffRecord {
  return {
    type,
    id: `handoff_${email}_${type}`,
    occurredAt: '2026-11-29T03:00:00.000Z',
    leadId: email,
    lead: { email, firstName: 'Dana', lastName: 'Whitfield', company: 'Acme Logistics', jobTitle: 'VP of Engineering', phone: '+14155550123' },
    score: { total: type === 'lead.mql' ? 60 : 35, fit: 25, behavior: type === 'lead.mql' ? 35 : 10, threshold: 60, modelVersion: '504a1c85b2af' },
    reasons: [
      { rule: 'c_level_title', kind: 'fit', description: 'C-suite or VP title', pointsNow: 15, rawPoints: 15, count: 1, points: 15 },
      { rule: 'target_industry', kind: 'fit', description: 'Target industry', pointsNow: 10, rawPoints: 10, count: 1, points: 10 },
      {
        rule: 'webinar_attended',
        kind: 'behavior',
        description: 'Webinar attended',
        pointsNow: 20,
        rawPoints: 20,
        count: 1,
        lastSeen: '2026-11-28T16:05:12.000Z',
        points: 20,
      },
      {
        rule: 'case_study',
        kind: 'behavior',
        description: 'Case study downloaded',
        pointsNow: 15,
        rawPoints: 15,
        count: 1,
        lastSeen: '2026-11-28T15:00:00.000Z',
        points: 15,
      },
    ],
    recentEvents: [],
    ...overrides,
  };
}

async function setUp() {
  return setupHubSpot({ token, baseUrl: hubspot.url });
}

function failure(result: DeliveryResult | undefined): CrmDeliveryError {
  if (!result || result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
  return result.error;
}

async function rejection(promise: Promise<unknown>): Promise<CrmDeliveryError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CrmDeliveryError) return error;
    throw error;
  }
  throw new Error('expected the delivery to fail');
}

const stageHistory = (email: string) =>
  hubspot
    .contacts()
    .get(email)!
    .history.filter((change) => change.property === 'lifecyclestage')
    .map((change) => change.to);

describe('npx mql crm setup (setupHubSpot)', () => {
  it('creates the mql_engine group and the six contact properties, the group and the five company properties, and a second run creates nothing', async () => {
    const first = await setUp();
    expect(first.group).toBe('created');
    expect(first.properties.map((property) => [property.name, property.action])).toEqual([
      ['mql_score', 'created'],
      ['mql_fit_score', 'created'],
      ['mql_behavior_score', 'created'],
      ['mql_reasons', 'created'],
      ['mql_model_version', 'created'],
      ['mql_qualified_at', 'created'],
    ]);
    expect(first.companyGroup).toBe('created');
    expect(first.companyProperties.map((property) => [property.name, property.action])).toEqual([
      ['mql_account_key', 'created'],
      ['mql_account_score', 'created'],
      ['mql_account_status', 'created'],
      ['mql_account_reasons', 'created'],
      ['mql_account_qualified_at', 'created'],
    ]);
    expect(formatHubSpotSetup(first, hubspot.url)).toContain('company property mql_account_key: created (unique: companies are upserted by it)');
    expect(formatHubSpotSetup(first, hubspot.url)).toContain('13 created');
    const postsBefore = hubspot.calls.filter((call) => call.method === 'POST').length;
    const second = await setUp();
    expect(second.group).toBe('exists');
    expect(second.properties.every((property) => property.action === 'exists')).toBe(true);
    expect(second.companyGroup).toBe('exists');
    expect(second.companyProperties.every((property) => property.action === 'exists' && property.warning === undefined)).toBe(true);
    expect(hubspot.calls.filter((call) => call.method === 'POST').length).toBe(postsBefore);
    expect(formatHubSpotSetup(second, hubspot.url)).toContain('nothing to do');
  });

  it('warns when a configured lead status is not one of the portal’s options', async () => {
    const result = await setupHubSpot({ token, baseUrl: hubspot.url, leadStatuses: { recycled: 'RECYCLED' } });
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toContain('HUBSPOT_RECYCLED_LEAD_STATUS=RECYCLED');
  });

  it('names the token and the scope when HubSpot refuses the call', async () => {
    const wrong = setupHubSpot({ token: 'pat-na1-wrong', baseUrl: hubspot.url });
    await expect(wrong).rejects.toThrow(HubSpotSetupError);
    await expect(setupHubSpot({ token: 'pat-na1-wrong', baseUrl: hubspot.url })).rejects.toThrow(/HUBSPOT_ACCESS_TOKEN/);
    hubspot.failNext(1, 403);
    await expect(setUp()).rejects.toThrow(/crm\.schemas\.contacts\.write/);
    expect(hubspot.contacts().size).toBe(0);
  });
});

describe('the HubSpot adapter', () => {
  it('creates a new MQL contact with its profile, scores and reasons, in one read and one upsert', async () => {
    await setUp();
    const receipt = await adapter.deliver(record('dana.whitfield@example.com'), now);
    const contact = hubspot.contacts().get('dana.whitfield@example.com')!;
    expect(receipt).toMatchObject({ status: 200, created: true, externalId: contact.id, calls: 2 });
    expect(contact.properties).toMatchObject({
      firstname: 'Dana',
      lastname: 'Whitfield',
      company: 'Acme Logistics',
      jobtitle: 'VP of Engineering',
      phone: '+14155550123',
      lifecyclestage: 'marketingqualifiedlead',
      hs_lead_status: 'NEW',
      mql_score: '60',
      mql_fit_score: '25',
      mql_behavior_score: '35',
      mql_model_version: '504a1c85b2af',
      mql_qualified_at: String(Date.parse('2026-11-29T03:00:00.000Z')),
    });
    expect(contact.properties.mql_reasons!.split('\n')).toEqual([
      'MQL 2026-11-29T03:00:00.000Z: score 60 = fit 25 + behavior 35 (MQL at 60), model 504a1c85b2af',
      '+20 Webinar attended (behavior, last 2026-11-28)',
      '+15 C-suite or VP title (fit)',
      '+15 Case study downloaded (behavior, last 2026-11-28)',
      '+10 Target industry (fit)',
    ]);
    expect(hubspot.calls.slice(-2).map((call) => call.path)).toEqual(['/crm/v3/objects/contacts/batch/read', '/crm/v3/objects/contacts/batch/upsert']);
  });

  it('moves earlier stages forward to MQL and leaves later and custom stages alone, saying so, in two calls for the batch', async () => {
    await setUp();
    hubspot.setStage('subscriber@example.com', 'subscriber');
    hubspot.setStage('won@example.com', 'customer');
    hubspot.setStage('custom@example.com', '51439524');
    const callsBefore = hubspot.calls.length;
    const results = await adapter.deliverBatch!(
      ['new@example.com', 'subscriber@example.com', 'won@example.com', 'custom@example.com'].map((email) => record(email)),
      now,
    );
    expect(hubspot.calls.length - callsBefore).toBe(2);
    expect(results.every((result) => result.ok)).toBe(true);
    const receipts = results.map((result) => (result.ok ? result.receipt : undefined));
    expect(receipts.map((receipt) => receipt?.created)).toEqual([true, false, false, false]);
    expect(receipts[0]!.calls).toBe(0.5);
    expect(stageHistory('subscriber@example.com')).toEqual(['subscriber', 'marketingqualifiedlead']);
    expect(stageHistory('won@example.com')).toEqual(['customer']);
    expect(receipts[2]!.note).toBe('lifecyclestage kept at customer: never moved back');
    expect(stageHistory('custom@example.com')).toEqual(['51439524']);
    expect(receipts[3]!.note).toContain('custom stage 51439524');
    // The scores reach every contact, whatever its stage.
    expect(hubspot.contacts().get('won@example.com')!.properties.mql_score).toBe('60');
  });

  it('recycling sets hs_lead_status, never lifecyclestage; a re-MQL sets the status back; sales’ own status and later stages are kept', async () => {
    await setUp();
    await adapter.deliver(record('dana@example.com'), now);
    const recycled = await adapter.deliver(record('dana@example.com', 'lead.recycled'), now);
    const contact = hubspot.contacts().get('dana@example.com')!;
    expect(contact.properties.hs_lead_status).toBe('BAD_TIMING');
    expect(stageHistory('dana@example.com')).toEqual(['marketingqualifiedlead']);
    expect(contact.properties.mql_score).toBe('35');
    expect(recycled.note).toBeUndefined();
    await adapter.deliver(record('dana@example.com'), now);
    expect(contact.properties.hs_lead_status).toBe('NEW');

    // Sales is working the lead: a decay recycle does not overwrite that.
    await adapter.deliver(record('worked@example.com'), now);
    await fetch(`${hubspot.url}/crm/v3/objects/contacts/batch/upsert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ idProperty: 'email', id: 'worked@example.com', properties: { hs_lead_status: 'IN_PROGRESS' } }] }),
    });
    const kept = await adapter.deliver(record('worked@example.com', 'lead.recycled'), now);
    expect(hubspot.contacts().get('worked@example.com')!.properties.hs_lead_status).toBe('IN_PROGRESS');
    expect(kept.note).toBe('hs_lead_status kept at IN_PROGRESS: set by sales, not by the engine');

    // A customer recycled by decay: neither its stage nor its status change; the score does.
    hubspot.setStage('won@example.com', 'customer');
    const customer = await adapter.deliver(record('won@example.com', 'lead.recycled'), now);
    expect(hubspot.contacts().get('won@example.com')!.properties.hs_lead_status).toBeUndefined();
    expect(stageHistory('won@example.com')).toEqual(['customer']);
    expect(customer.note).toContain('past MQL');
  });

  it('a disqualified lead gets hs_lead_status UNQUALIFIED (configurable, or none) and no stage', async () => {
    await setUp();
    await adapter.deliver(record('rival@example.com', 'lead.disqualified'), now);
    expect(hubspot.contacts().get('rival@example.com')!.properties).toMatchObject({ hs_lead_status: 'UNQUALIFIED' });
    expect(hubspot.contacts().get('rival@example.com')!.properties.lifecyclestage).toBeUndefined();
    const silent = hubSpotAdapter({ token, baseUrl: hubspot.url, leadStatuses: { disqualified: undefined } });
    await silent.deliver(record('other@example.com', 'lead.disqualified'), now);
    expect(hubspot.contacts().get('other@example.com')!.properties.hs_lead_status).toBeUndefined();
  });

  it('rejects a lead without an e-mail without calling HubSpot', async () => {
    await setUp();
    const callsBefore = hubspot.calls.length;
    const phoneOnly = record('x@example.com', 'lead.mql', { leadId: 'phone:+14155550123', lead: { phone: '+14155550123', firstName: 'Pat' } });
    const results = await adapter.deliverBatch!([phoneOnly], now);
    const error = failure(results[0]);
    expect(error.kind).toBe('rejected');
    expect(error.message).toContain('by e-mail');
    // The message is logged: the record's fields say which lead, never its phone number.
    expect(error.message).not.toContain('4155550123');
    expect(hubspot.calls.length).toBe(callsBefore);
  });

  it('a lead status the portal lacks: the rows sending it are rejected naming the setting, the others delivered, in one more call', async () => {
    await setUp();
    const strict = hubSpotAdapter({ token, baseUrl: hubspot.url, leadStatuses: { recycled: 'RECYCLED' } });
    const callsBefore = hubspot.calls.length;
    const results = await strict.deliverBatch!([record('ok@example.com'), record('bad@example.com', 'lead.recycled')], now);
    // The read, the refused call (HubSpot names the value, not the row), the call without the rows sending it.
    expect(hubspot.calls.slice(callsBefore).map((call) => call.status)).toEqual([207, 400, 200]);
    expect(results[0]!.ok).toBe(true);
    const error = failure(results[1]);
    expect(error.kind).toBe('rejected');
    expect(error.message).toContain('HUBSPOT_RECYCLED_LEAD_STATUS');
    expect(hubspot.contacts().has('bad@example.com')).toBe(false);
    // A batch of one with the same row: HubSpot answers 400, still that row's rejection.
    const alone = await rejection(strict.deliver(record('bad@example.com', 'lead.recycled'), now));
    expect(alone.kind).toBe('rejected');
    expect(alone.message).toContain('HUBSPOT_RECYCLED_LEAD_STATUS');
  });

  it('rejects the call with "run npx mql crm setup" when the properties do not exist', async () => {
    const error = await rejection(adapter.deliver(record('dana@example.com'), now));
    expect(error).toMatchObject({ kind: 'rejected', retryable: false, status: 400 });
    expect(error.message).toContain('npx mql crm setup');
    expect(error.message).toContain('mql_score');
    expect(hubspot.contacts().size).toBe(0);
  });

  it('when sales moves the contact on between the read and the write, HubSpot keeps the later stage and the receipt says so', async () => {
    await setUp();
    hubspot.setStage('race@example.com', 'lead');
    const racing = hubSpotAdapter({
      token,
      baseUrl: hubspot.url,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        // Sales closes the deal while our batch is between its read and its upsert.
        if (String(input).endsWith('/batch/read')) hubspot.setStage('race@example.com', 'customer');
        return response;
      },
    });
    const receipt = await racing.deliver(record('race@example.com'), now);
    expect(stageHistory('race@example.com')).toEqual(['lead', 'customer']);
    expect(hubspot.contacts().get('race@example.com')!.properties.mql_score).toBe('60');
    // What the delivery records (and `mql deliveries` shows) is the stage HubSpot holds, not an MQL.
    expect(receipt.note).toBe('HubSpot kept customer (lifecyclestage not moved back to marketingqualifiedlead)');
    expect(receipt.calls).toBe(2);
  });

  it('sends more than 100 records in HubSpot-sized calls', async () => {
    await setUp();
    const records = Array.from({ length: 150 }, (_, index) => record(`bulk${index}@example.com`));
    const callsBefore = hubspot.calls.length;
    const results = await adapter.deliverBatch!(records, now);
    expect(results.filter((result) => result.ok)).toHaveLength(150);
    expect(hubspot.calls.slice(callsBefore).map((call) => call.status)).toEqual([207, 200, 207, 200]);
    expect(hubspot.contacts().size).toBe(150);
  });

  it('sends two records for one e-mail in separate calls, in order, rather than have HubSpot refuse the batch', async () => {
    await setUp();
    const results = await adapter.deliverBatch!([record('twice@example.com'), record('other@example.com'), record('twice@example.com', 'lead.recycled')], now);
    expect(results.every((result) => result.ok)).toBe(true);
    expect(hubspot.contacts().get('twice@example.com')!.properties.hs_lead_status).toBe('BAD_TIMING');
  });

  describe('whole-call failures become the kind the handoff retries by', () => {
    beforeEach(setUp);

    it('429 TEN_SECONDLY_ROLLING: rate_limited, waiting the interval HubSpot gives, or its Retry-After', async () => {
      const burst = fixture.errors.find((error) => error.case === 'burst_limit')!;
      hubspot.failNext(1, 429, burst.body);
      const error = await rejection(adapter.deliver(record('a@example.com'), now));
      expect(error).toMatchObject({ kind: 'rate_limited', retryable: true, status: 429, retryAfterSeconds: 10 });
      hubspot.failNext(1, 429, burst.body, { 'retry-after': '3' });
      expect((await rejection(adapter.deliver(record('a@example.com'), now))).retryAfterSeconds).toBe(3);
      expect(hubspot.contacts().has('a@example.com')).toBe(false);
    });

    it('a real burst against the stand-in’s rolling window is a rate_limited failure, not a rejection', async () => {
      hubspot.rateLimit({ perTenSeconds: 1 });
      const error = await rejection(adapter.deliver(record('a@example.com'), now));
      expect(error.kind).toBe('rate_limited');
      expect(error.retryAfterSeconds).toBe(10);
    });

    it('429 DAILY: quota_exhausted until midnight UTC', async () => {
      hubspot.failNext(1, 429, fixture.errors.find((error) => error.case === 'daily_limit')!.body);
      const error = await rejection(adapter.deliver(record('a@example.com'), now));
      expect(error.kind).toBe('quota_exhausted');
      expect(error.retryAfterSeconds).toBe(secondsToMidnightUtc(now));
      expect(error.retryAfterSeconds).toBe(20.5 * 3600);
      // A US account resets at its own midnight, 05:00 UTC in winter: 1.5 h from 03:30 UTC, not 20.5 h.
      const newYork = hubSpotAdapter({ token, baseUrl: hubspot.url, timeZone: 'America/New_York' });
      hubspot.failNext(1, 429, fixture.errors.find((entry) => entry.case === 'daily_limit')!.body);
      expect((await rejection(newYork.deliver(record('a@example.com'), now))).retryAfterSeconds).toBe(5400);
      expect(secondsToMidnight(new Date('2026-11-28T23:30:00Z'), 'Europe/Berlin')).toBe(23.5 * 3600);
      expect(secondsToMidnight(new Date('2026-07-01T03:30:00Z'), 'America/New_York')).toBe(30 * 60);
    });

    it('an outage (503), a bad gateway page (502) and a closed port: unavailable', async () => {
      hubspot.outage(60_000);
      expect(await rejection(adapter.deliver(record('a@example.com'), now))).toMatchObject({ kind: 'unavailable', retryable: true, status: 503 });
      hubspot.outage(0);
      hubspot.failNext(1, 502);
      expect(await rejection(adapter.deliver(record('a@example.com'), now))).toMatchObject({ kind: 'unavailable', status: 502 });
      const url = hubspot.url;
      await hubspot.close();
      const gone = hubSpotAdapter({ token, baseUrl: url });
      expect(await rejection(gone.deliver(record('a@example.com'), now))).toMatchObject({ kind: 'unavailable', retryable: true });
      hubspot = await startHubSpotStandIn({ token });
    });

    it('401 and 403: auth, the message naming the token or the scopes and never the token itself', async () => {
      const wrong = hubSpotAdapter({ token: 'pat-na1-revoked-secret', baseUrl: hubspot.url });
      const unauthorized = await rejection(wrong.deliver(record('a@example.com'), now));
      expect(unauthorized).toMatchObject({ kind: 'auth', retryable: false, status: 401 });
      expect(unauthorized.message).toContain('HUBSPOT_ACCESS_TOKEN');
      expect(unauthorized.message).not.toContain('pat-na1-revoked-secret');
      hubspot.failNext(1, 403);
      const forbidden = await rejection(adapter.deliver(record('a@example.com'), now));
      expect(forbidden).toMatchObject({ kind: 'auth', status: 403 });
      expect(forbidden.message).toContain('crm.objects.contacts.write');
    });
  });
});

describe('mql_reasons', () => {
  it('stays within HubSpot’s 65,536 characters, saying how many reasons it left out', () => {
    const many = Array.from({ length: 2000 }, (_, index) => ({
      rule: `rule_${index}`,
      kind: 'behavior' as const,
      description: `A long description of rule ${index} `.repeat(3),
      pointsNow: 1,
      rawPoints: 1,
      count: 1,
      points: 1,
    }));
    const text = formatHubSpotReasons(record('a@example.com', 'lead.mql', { reasons: many }));
    expect(text.length).toBeLessThanOrEqual(hubSpotMaxText);
    expect(text).toMatch(/\.\.\. \d+ more reason\(s\) left out$/);
    expect(formatHubSpotReasons(record('a@example.com'), 100).length).toBeLessThanOrEqual(100);
  });
});

describe('CRM_ADAPTER=hubspot', () => {
  it('builds the adapter from HUBSPOT_ACCESS_TOKEN and HUBSPOT_BASE_URL, refusing what cannot work', async () => {
    await setUp();
    const built = crmAdapterFromEnv({ CRM_ADAPTER: 'hubspot', HUBSPOT_BASE_URL: hubspot.url, MQL_ALLOW_HTTP_URLS: '1' }, { HUBSPOT_ACCESS_TOKEN: token });
    expect(built).toMatchObject({ name: 'hubspot', maxBatch: 100 });
    await built.deliver(record('env@example.com'), now);
    expect(hubspot.contacts().has('env@example.com')).toBe(true);
    expect(() => crmAdapterFromEnv({ CRM_ADAPTER: 'hubspot' }, {})).toThrow(CrmConfigurationError);
    expect(() => crmAdapterFromEnv({ CRM_ADAPTER: 'hubspot' }, {})).toThrow(/HUBSPOT_ACCESS_TOKEN/);
    expect(() => crmAdapterFromEnv({ CRM_ADAPTER: 'hubspot', HUBSPOT_BASE_URL: 'ftp://example.com' }, { HUBSPOT_ACCESS_TOKEN: token })).toThrow(
      /HUBSPOT_BASE_URL/,
    );
    expect(() => crmAdapterFromEnv({ CRM_ADAPTER: 'hubspot', HUBSPOT_RECYCLED_LEAD_STATUS: 'bad timing' }, { HUBSPOT_ACCESS_TOKEN: token })).toThrow(
      /HUBSPOT_RECYCLED_LEAD_STATUS/,
    );
    expect(() => crmAdapterFromEnv({ CRM_ADAPTER: 'hubspot', HUBSPOT_TIME_ZONE: 'Mars/Olympus' }, { HUBSPOT_ACCESS_TOKEN: token })).toThrow(
      /HUBSPOT_TIME_ZONE/,
    );
    const none = crmAdapterFromEnv(
      { CRM_ADAPTER: 'hubspot', HUBSPOT_BASE_URL: hubspot.url, HUBSPOT_RECYCLED_LEAD_STATUS: 'none', MQL_ALLOW_HTTP_URLS: '1' },
      { HUBSPOT_ACCESS_TOKEN: token },
    );
    await none.deliver(record('env@example.com', 'lead.recycled'), now);
    expect(hubspot.contacts().get('env@example.com')!.properties.hs_lead_status).toBe('NEW');
  });
});
