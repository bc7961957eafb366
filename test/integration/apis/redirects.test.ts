/**
 * No outbound call that carries a credential follows a redirect: the Graph lead fetch (token in the query), the
 * HubSpot contact lookup and adapter calls (bearer token), HubSpot setup, the Salesforce login (client secret in
 * the body) and the CRM webhook (signed record). A local server answers every request with a redirect to a second
 * local server (307, which would resend the body, and 302), or to another path of itself (a same-origin redirect,
 * after which fetch would keep the Authorization header); the second server and the other path record whatever
 * arrives, and nothing must. The call fails with a message that says a redirect was not followed.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchGraphLead, GraphError } from '../../../lib/apis/facebook-graph.ts';
import { contactEmail, HubSpotLookupError } from '../../../lib/apis/hubspot-contacts.ts';
import { hubSpotAdapter } from '../../../lib/crm/hubspot.ts';
import { setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import { webhookAdapter } from '../../../lib/crm/index.ts';
import { resetSalesforceSessions, salesforceAdapter } from '../../../lib/crm/salesforce.ts';
import { salesforceSettingsFromEnv } from '../../../lib/crm/salesforce-fields.ts';
import { handoffRecord } from '../../setup/events.ts';
import { crmSecret } from '../../setup/signed.ts';

interface Arrival {
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body: string;
}

const token = 'pat-na1-credential-that-must-stay-home';
const clientSecret = 'salesforce-client-secret-that-must-stay-home';
let redirector: Server;
let elsewhere: Server;
let redirectorUrl: string;
let elsewhereUrl: string;
/** What reached a place no credential may go: the second server, or the redirector's `/elsewhere`. */
const arrived: Arrival[] = [];
let status = 307;
/** Where the redirector sends: the other server (another origin) or its own /elsewhere (the same origin). */
let target: 'other origin' | 'same origin' = 'other origin';

async function arrival(request: IncomingMessage): Promise<Arrival> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return { url: request.url ?? '', authorization: request.headers.authorization, body: Buffer.concat(chunks).toString('utf8') };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  elsewhere = createServer(async (request, response) => {
    arrived.push(await arrival(request));
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"1","field_data":[],"properties":{"email":"x@example.com"}}');
  });
  redirector = createServer(async (request, response) => {
    if (request.url?.startsWith('/elsewhere')) {
      arrived.push(await arrival(request));
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    await arrival(request);
    // The Location keeps the path and query, as a host that moved would: a followed request would carry them along.
    const location = target === 'other origin' ? `${elsewhereUrl}${request.url}` : `${redirectorUrl}/elsewhere${request.url}`;
    response.writeHead(status, { location }).end();
  });
  elsewhereUrl = await listen(elsewhere);
  redirectorUrl = await listen(redirector);
});

afterEach(() => {
  arrived.length = 0;
  resetSalesforceSessions();
});

afterAll(async () => {
  await new Promise((resolve) => redirector.close(resolve));
  await new Promise((resolve) => elsewhere.close(resolve));
});

const cases = [
  ['other origin', 307],
  ['other origin', 302],
  ['same origin', 302],
] as const;

describe.each(cases)('a redirect to the %s (%i)', (to, code) => {
  beforeAll(() => {
    target = to;
    status = code;
  });

  it('the Graph lead fetch fails as permanent, and the access token goes nowhere', async () => {
    const error = await fetchGraphLead('123', { graphUrl: `${redirectorUrl}/v21.0`, accessToken: token, appSecret: 'app-secret' }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(GraphError);
    expect((error as GraphError).kind).toBe('permanent');
    expect((error as GraphError).message).toMatch(new RegExp(`Graph answered ${code}, a redirect to http://127\\.0\\.0\\.1:\\d+/.*: not followed`));
    expect((error as GraphError).message).not.toContain(token);
    expect(arrived).toEqual([]);
  });

  it('the HubSpot contact lookup fails (the delivery is retried), and the bearer token goes nowhere', async () => {
    const error = await contactEmail('901', { token, baseUrl: redirectorUrl }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HubSpotLookupError);
    expect((error as Error).message).toMatch(/a redirect .*not followed/);
    expect(arrived).toEqual([]);
  });

  it('the HubSpot adapter refuses the answer, and the bearer token goes nowhere', async () => {
    const adapter = hubSpotAdapter({ token, baseUrl: redirectorUrl });
    const error = await adapter.deliver(handoffRecord('dana@example.com'), new Date()).catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/a redirect: not followed/);
    expect(arrived).toEqual([]);
  });

  it('HubSpot setup fails, and the bearer token goes nowhere', async () => {
    await expect(setupHubSpot({ token, baseUrl: redirectorUrl })).rejects.toThrow();
    expect(arrived).toEqual([]);
  });

  it('the Salesforce login fails, and the client secret goes nowhere', async () => {
    const settings = salesforceSettingsFromEnv(
      { SALESFORCE_INSTANCE_URL: redirectorUrl, SALESFORCE_CLIENT_ID: 'client', SALESFORCE_EXTERNAL_ID_FIELD: 'MQL_External_Id__c', MQL_ALLOW_HTTP_URLS: '1' },
      clientSecret,
    );
    const error = await salesforceAdapter(settings)
      .deliver(handoffRecord('dana@example.com'), new Date())
      .catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(new RegExp(`${code}`));
    expect(arrived).toEqual([]);
  });

  it('the CRM webhook is not delivered, and the signed record goes nowhere', async () => {
    const adapter = webhookAdapter({ url: `${redirectorUrl}/mql`, secret: crmSecret });
    await expect(adapter.deliver(handoffRecord('dana@example.com'), new Date())).rejects.toThrow(/redirects are not followed/);
    expect(arrived).toEqual([]);
  });
});
