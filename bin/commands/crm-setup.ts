/** `mql crm setup`: HubSpot's custom contact properties, created once; needs no running stack. */
import { defineCommand, fail } from '../cli.ts';

export const crmSetup = defineCommand({
  name: 'crm',
  group: 'try it on this machine',
  usage: [
    'crm setup             HubSpot: create the mql_engine property group and the mql_* contact properties the adapter writes',
    '                      (existing ones are left as they are; a second run creates nothing), with HUBSPOT_ACCESS_TOKEN at',
    '                      HUBSPOT_BASE_URL (default https://api.hubapi.com); checks the HUBSPOT_*_LEAD_STATUS values',
  ],
  options: {},
  stack: 'none',
  async run({ args }) {
    if (args[0] !== 'setup' || args.length > 1) fail('usage: mql crm setup');
    const adapter = (process.env.CRM_ADAPTER ?? '').trim().toLowerCase();
    if (adapter !== '' && adapter !== 'hubspot') fail(`crm setup prepares HubSpot; CRM_ADAPTER is ${adapter} (unset it or set it to hubspot to run it)`);
    const { getSecrets } = await import('../../lib/runtime/config.ts');
    const { formatHubSpotSetup, setupHubSpot } = await import('../../lib/crm/hubspot-setup.ts');
    const { hubSpotSettingsFromEnv } = await import('../../lib/crm/hubspot-properties.ts');
    let settings: ReturnType<typeof hubSpotSettingsFromEnv>;
    try {
      settings = hubSpotSettingsFromEnv(process.env, (await getSecrets(Date.now(), ['HUBSPOT_ACCESS_TOKEN'])).HUBSPOT_ACCESS_TOKEN);
    } catch (error) {
      fail((error as Error).message);
    }
    const result = await setupHubSpot(settings);
    process.stdout.write(`${formatHubSpotSetup(result, settings.baseUrl ?? '')}\n`);
  },
});
