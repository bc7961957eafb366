/**
 * `mql crm setup [hubspot|salesforce]`: prepares the CRM for its adapter; needs no running stack.
 * HubSpot: creates the custom contact properties once. Salesforce: checks the Lead's fields and statuses
 * (the REST API cannot create fields) and prints what to create.
 */
import { defineCommand, fail } from '../cli.ts';

const crms = ['hubspot', 'salesforce'] as const;

export const crmSetup = defineCommand({
  name: 'crm',
  group: 'try it on this machine',
  usage: [
    'crm setup [hubspot]   HubSpot: create the mql_engine property group and the mql_* contact properties the adapter writes',
    '                      (existing ones are left as they are; a second run creates nothing), with HUBSPOT_ACCESS_TOKEN at',
    '                      HUBSPOT_BASE_URL (default https://api.hubapi.com); checks the HUBSPOT_*_LEAD_STATUS values',
    'crm setup salesforce  Salesforce: check that the Lead has the fields the adapter writes (types, External ID, edit access)',
    '                      and the SALESFORCE_*_STATUS values, logged in as the adapter is; changes nothing, prints what to',
    '                      create in Setup, and exits 1 until nothing is missing',
  ],
  options: {},
  stack: 'none',
  async run({ args }) {
    if (args[0] !== 'setup' || args.length > 2) fail('usage: mql crm setup [hubspot|salesforce]');
    const adapter = (process.env.CRM_ADAPTER ?? '').trim().toLowerCase();
    const named = args[1]?.trim().toLowerCase();
    if (named !== undefined && !(crms as readonly string[]).includes(named)) fail(`crm setup prepares ${crms.join(' or ')}, not ${named}`);
    // Without a name, HubSpot as before; a deployment set to another CRM is told the verb for it.
    if (named === undefined && adapter !== '' && adapter !== 'hubspot') {
      fail(
        `crm setup prepares HubSpot; CRM_ADAPTER is ${adapter}${adapter === 'salesforce' ? ' (for Salesforce run `npx mql crm setup salesforce`)' : ' (unset it or set it to hubspot to run it)'}`,
      );
    }
    const { getSecrets } = await import('../../lib/runtime/config.ts');
    const secrets = await getSecrets(Date.now(), ['HUBSPOT_ACCESS_TOKEN', 'SALESFORCE_CLIENT_SECRET']);
    if (named === 'salesforce') {
      const { salesforceSettingsFromEnv } = await import('../../lib/crm/salesforce-fields.ts');
      const { checkSalesforce, formatSalesforceSetup } = await import('../../lib/crm/salesforce-setup.ts');
      let settings: ReturnType<typeof salesforceSettingsFromEnv>;
      try {
        settings = salesforceSettingsFromEnv(process.env, secrets.SALESFORCE_CLIENT_SECRET);
      } catch (error) {
        fail((error as Error).message.replace('CRM_ADAPTER=salesforce needs', 'crm setup salesforce needs'));
      }
      let result: Awaited<ReturnType<typeof checkSalesforce>>;
      try {
        result = await checkSalesforce(settings);
      } catch (error) {
        fail((error as Error).message);
      }
      process.stdout.write(`${formatSalesforceSetup(result, settings)}\n`);
      if (result.problems > 0) process.exitCode = 1;
      return;
    }
    const { formatHubSpotSetup, setupHubSpot } = await import('../../lib/crm/hubspot-setup.ts');
    const { hubSpotSettingsFromEnv } = await import('../../lib/crm/hubspot-properties.ts');
    let settings: ReturnType<typeof hubSpotSettingsFromEnv>;
    try {
      settings = hubSpotSettingsFromEnv(process.env, secrets.HUBSPOT_ACCESS_TOKEN);
    } catch (error) {
      fail((error as Error).message);
    }
    const result = await setupHubSpot(settings);
    process.stdout.write(`${formatHubSpotSetup(result, settings.baseUrl ?? '')}\n`);
  },
});
