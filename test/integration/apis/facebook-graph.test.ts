/**
 * The Graph client against the local Graph stand-in over real HTTP: the lead with its fields, the
 * token and appsecret_proof checks Graph makes, and each failure kind the stand-in can script, as
 * fetchGraphLead classifies it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphLead } from '../../../lib/apis/facebook-graph.ts';
import { defaultFacebookGraphUrl, fetchGraphLead, GraphError } from '../../../lib/apis/facebook-graph.ts';
import type { GraphFailureKind, GraphStandIn } from '../../../lib/local/stand-ins/graph.ts';
import { graphFailureKinds, graphVersionRetired, startGraphStandIn } from '../../../lib/local/stand-ins/graph.ts';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_graph_lead_responses.json', import.meta.url), 'utf8')) as Record<string, any>;
const { appSecret, access_token: accessToken } = fixture.request.appsecret_proof as { appSecret: string; access_token: string };
const lead = fixture.success_200 as GraphLead;

let graph: GraphStandIn;
beforeAll(async () => {
  graph = await startGraphStandIn({ appSecret, accessToken });
  graph.addLead(lead);
});
afterAll(() => graph?.stop());

async function failure(act: () => Promise<unknown>): Promise<GraphError> {
  try {
    await act();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphError);
    return error as GraphError;
  }
  throw new Error('expected a GraphError');
}

describe('the Graph stand-in and the Graph client', () => {
  it('answers the registered lead, every field the client names', async () => {
    expect(await fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret })).toEqual(lead);
  });

  it('answers the default subset when no fields are named, as Graph does', async () => {
    const response = await fetch(`${graph.url}/${lead.id}?access_token=${accessToken}&appsecret_proof=${fixture.request.appsecret_proof.value}`);
    expect(Object.keys((await response.json()) as object).sort()).toEqual(['created_time', 'field_data', 'id']);
  });

  it('refuses another token with 190, a proof made with another app secret or none with 100', async () => {
    expect(await failure(() => fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken: 'EAAGother', appSecret }))).toMatchObject({
      kind: 'invalid_token',
      code: 190,
    });
    const wrongProof = await failure(() => fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret: 'another-secret' }));
    expect(wrongProof).toMatchObject({ kind: 'permanent', code: 100 });
    expect(wrongProof.message).toContain('appsecret_proof');
    const response = await fetch(`${graph.url}/${lead.id}?access_token=${accessToken}`);
    expect(((await response.json()) as any).error).toMatchObject({ code: 100, message: expect.stringContaining('appsecret_proof') });
  });

  it('answers 100/33 for a lead it does not know (the dashboard test id)', async () => {
    expect(await failure(() => fetchGraphLead('444444444444', { graphUrl: graph.url, accessToken, appSecret }))).toMatchObject({
      kind: 'not_found',
      code: 100,
      subcode: 33,
    });
  });

  const expectedKinds: Record<GraphFailureKind, string> = {
    app_rate_limit: 'rate_limited',
    user_rate_limit: 'rate_limited',
    page_rate_limit: 'rate_limited',
    custom_rate_limit: 'rate_limited',
    business_rate_limit: 'rate_limited',
    expired_token: 'invalid_token',
    invalid_token: 'invalid_token',
    not_found: 'not_found',
    invalid_parameter: 'permanent',
    server_error: 'transient',
    unavailable: 'transient',
    connection_reset: 'transient',
  };

  it.each(graphFailureKinds.map((kind) => [kind, expectedKinds[kind]] as const))(
    'fails the next call with %s, classified %s, then answers again',
    async (kind, expected) => {
      graph.failNext(kind, 1);
      expect((await failure(() => fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret }))).kind).toBe(expected);
      expect((await fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret })).id).toBe(lead.id);
    },
  );

  it('a page rate limit announces its wait (estimated_time_to_regain_access, 5 minutes)', async () => {
    graph.failNext('page_rate_limit', 1);
    expect(await failure(() => fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret }))).toMatchObject({ code: 32, retryAfterSeconds: 300 });
  });

  it('fails every call during an outage window, and heals', async () => {
    graph.failFor('server_error', 60_000);
    expect((await failure(() => fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret }))).httpStatus).toBe(500);
    expect((await failure(() => fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret }))).httpStatus).toBe(500);
    graph.heal();
    expect((await fetchGraphLead(lead.id, { graphUrl: graph.url, accessToken, appSecret })).id).toBe(lead.id);
  });
});

describe('Graph API versions', () => {
  const today = new Date('2026-12-06T12:00:00Z');

  it('the pipeline’s default version is current, and stays so for at least a year', () => {
    const version = new URL(defaultFacebookGraphUrl).pathname.split('/').at(-1)!;
    expect(version).toBe('v26.0');
    expect(graphVersionRetired(version, today)).toBe(false);
    expect(graphVersionRetired(version, new Date('2027-12-06T12:00:00Z'))).toBe(false);
    expect(graph.url.endsWith('/v26.0')).toBe(true);
  });

  it('a retired version is refused as Meta refuses it: 400, OAuthException code 2635, naming the latest version', async () => {
    let now = today;
    const pinned = await startGraphStandIn({ appSecret, accessToken, version: 'v21.0', now: () => now });
    try {
      pinned.addLead(lead);
      // v21.0 works until 21 January 2027...
      expect(await fetchGraphLead(lead.id, { graphUrl: pinned.url, accessToken, appSecret })).toEqual(lead);
      // ...and is refused from then on.
      now = new Date('2027-01-21T00:00:00Z');
      const response = await fetch(`${pinned.url}/${lead.id}?access_token=${accessToken}&appsecret_proof=${fixture.request.appsecret_proof.value}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as any).error).toMatchObject({
        type: 'OAuthException',
        code: 2635,
        message: '(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v26.0.',
        fbtrace_id: expect.any(String),
      });
      const error = await failure(() => fetchGraphLead(lead.id, { graphUrl: pinned.url, accessToken, appSecret }));
      // Never retried: no retry helps until FACEBOOK_GRAPH_URL names a current version.
      expect(error).toMatchObject({ code: 2635, httpStatus: 400, kind: 'permanent' });
      expect(error.message).toContain('set FACEBOOK_GRAPH_URL to a current Graph API version');
    } finally {
      await pinned.stop();
    }
    // Versions retired before today, and any older than Meta's table, are refused at any port and path.
    const retired = await fetch(`${graph.url.replace(/v26\.0$/, 'v20.0')}/${lead.id}`);
    expect(((await retired.json()) as any).error.code).toBe(2635);
    expect(graphVersionRetired('v2.8', today)).toBe(true);
    expect(graphVersionRetired('v22.0', today)).toBe(false);
  });
});
