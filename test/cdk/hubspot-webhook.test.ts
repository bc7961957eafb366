/** The stack serves HubSpot's webhook: its route, its function's settings, and a bad outcome map refused at synth. */
import { describe, expect, it } from 'vitest';
import { buildStack, synth } from './synth.ts';

const outcomeMap = JSON.stringify({ hs_lead_status: { UNQUALIFIED: { outcome: 'mql_rejected', reason: 'outside_icp' } } });

function functionNamed(template: ReturnType<typeof synth>['template'], name: string): { Environment?: { Variables?: Record<string, unknown> } } {
  const found = Object.values(template.findResources('AWS::Lambda::Function')).filter((resource) =>
    String(resource.Properties?.Description ?? '').startsWith(`mql-engine ${name}:`),
  );
  expect(found).toHaveLength(1);
  return found[0]!.Properties;
}

describe("HubSpot's webhook in the stack", () => {
  const { template } = synth({
    engine: {
      crmEnv: { HUBSPOT_OUTCOME_MAP: outcomeMap, HUBSPOT_WEBHOOK_URL: 'https://hooks.example.com/webhooks/hubspot', HUBSPOT_RECYCLED_LEAD_STATUS: 'OPEN' },
    },
  });

  it('POST /webhooks/hubspot is a public route (the function checks the signature)', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhooks/hubspot', AuthorizationType: 'NONE' });
  });

  it('its function gets the HubSpot settings (outcome map, target URL, the lead statuses the handoff writes) and the secret ARN', () => {
    const variables = functionNamed(template, 'ingest-hubspot').Environment?.Variables ?? {};
    expect(variables).toMatchObject({
      HUBSPOT_OUTCOME_MAP: outcomeMap,
      HUBSPOT_WEBHOOK_URL: 'https://hooks.example.com/webhooks/hubspot',
      HUBSPOT_RECYCLED_LEAD_STATUS: 'OPEN',
    });
    expect(variables).toHaveProperty('MQL_SECRET_ARNS');
  });

  it('other ingest functions do not get them', () => {
    expect(functionNamed(template, 'ingest-events').Environment?.Variables ?? {}).not.toHaveProperty('HUBSPOT_OUTCOME_MAP');
  });

  it('a HUBSPOT_OUTCOME_MAP that does not validate stops the synth, naming the problem', () => {
    expect(() => buildStack({ engine: { crmEnv: { HUBSPOT_OUTCOME_MAP: '{"hs_lead_status": {"NEW": "meeting_booked"}}' } } })).toThrow(
      /HUBSPOT_OUTCOME_MAP\.hs_lead_status\.NEW/,
    );
    expect(() => buildStack({ engine: { crmEnv: { HUBSPOT_OUTCOME_MAP: '{not json' } } })).toThrow(/HUBSPOT_OUTCOME_MAP is not JSON/);
  });

  it('a target URL that is not https stops the synth', () => {
    expect(() => buildStack({ engine: { crmEnv: { HUBSPOT_WEBHOOK_URL: 'http://hooks.example.com/webhooks/hubspot' } } })).toThrow(
      /HUBSPOT_WEBHOOK_URL must be an https/,
    );
  });
});
