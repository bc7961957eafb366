/**
 * The runtime agrees with synth (cdk/config.ts): every outbound URL a function reads from its settings is https,
 * plain http only with the local stack's MQL_ALLOW_HTTP_URLS=1, refused at start-up with the setting's name.
 */
import { describe, expect, it } from 'vitest';
import { hubSpotSettingsFromEnv } from '../../../lib/crm/hubspot-properties.ts';
import { crmAdapterFromEnv } from '../../../lib/crm/index.ts';
import { salesforceSettingsFromEnv } from '../../../lib/crm/salesforce-fields.ts';
import { outboundUrl } from '../../../lib/http/outbound.ts';
import { webhookHandler } from '../../../lib/ingest/webhook.ts';
import { facebook } from '../../../lib/sources/facebook.ts';
import { hubspot } from '../../../lib/sources/hubspot.ts';

const local = { MQL_ALLOW_HTTP_URLS: '1' };
const salesforce = { SALESFORCE_CLIENT_ID: 'client', SALESFORCE_EXTERNAL_ID_FIELD: 'MQL_External_Id__c' };
const secret = 'whsec_dGVzdC1vbmx5LWNybS13ZWJob29rLXNlY3JldC0wMDAwMQ==';

/** Each runtime reading of an outbound URL setting, given its value and the rest of the environment. */
const readers: [string, (url: string, env: Record<string, string>) => unknown][] = [
  ['CRM_WEBHOOK_URL', (url, env) => crmAdapterFromEnv({ CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: url, ...env }, { CRM_WEBHOOK_SECRET: secret })],
  ['HUBSPOT_BASE_URL', (url, env) => hubSpotSettingsFromEnv({ HUBSPOT_BASE_URL: url, ...env }, 'pat-na1-token')],
  ['SALESFORCE_INSTANCE_URL', (url, env) => salesforceSettingsFromEnv({ SALESFORCE_INSTANCE_URL: url, ...salesforce, ...env }, 'client-secret')],
  ['FACEBOOK_GRAPH_URL', (url, env) => facebook.checkSettings?.({ FACEBOOK_GRAPH_URL: url, ...env })],
  ['HUBSPOT_BASE_URL', (url, env) => hubspot.checkSettings?.({ HUBSPOT_BASE_URL: url, ...env })],
];

describe('outbound URLs at start-up', () => {
  it.each(readers)('%s: https passes; http, a loopback one included, is refused naming the setting', (name, read) => {
    expect(() => read('https://crm.example.com/x', {})).not.toThrow();
    for (const url of ['http://crm.example.com/x', 'http://127.0.0.1:4000/x']) {
      expect(() => read(url, {})).toThrow(new RegExp(`${name} must be https .*MQL_ALLOW_HTTP_URLS=1`));
    }
    expect(() => read('ftp://crm.example.com/x', local)).toThrow(new RegExp(`${name} must be https`));
  });

  it.each(readers)('%s: http passes with MQL_ALLOW_HTTP_URLS=1 (the local stack), and with nothing else', (_, read) => {
    expect(() => read('http://127.0.0.1:4000/x', local)).not.toThrow();
    expect(() => read('http://127.0.0.1:4000/x', { MQL_ALLOW_HTTP_URLS: 'true' })).toThrow(/must be https/);
  });

  it('stops the Facebook webhook function at cold start on an http FACEBOOK_GRAPH_URL', () => {
    const start = (env: Record<string, string>) =>
      webhookHandler(
        facebook,
        () => ({}) as never,
        () => new Date(),
        env,
      );
    expect(() => start({ FACEBOOK_GRAPH_URL: 'http://graph.example.com/v21.0' })).toThrow(/FACEBOOK_GRAPH_URL must be https/);
    expect(() => start({ FACEBOOK_GRAPH_URL: 'http://127.0.0.1:4001/v21.0', ...local })).not.toThrow();
  });

  it('names a value that is no URL at all', () => {
    expect(() => outboundUrl('CRM_WEBHOOK_URL', 'crm.example.com', {})).toThrow(/CRM_WEBHOOK_URL must be a URL \(https\), got "crm.example.com"/);
  });
});
