/**
 * Which CRM receives handoffs, chosen by `CRM_ADAPTER` (docs/crm-delivery.md, docs/operator-contract.md).
 */

import { outboundUrl } from '../http/outbound.ts';
import { signStandardWebhook } from '../http/standard-webhooks.ts';
import type { Secrets } from '../runtime/config.ts';
import type { CrmAdapter } from './adapter.ts';
import { hubSpotAdapter } from './hubspot.ts';
import { hubSpotSettingsFromEnv } from './hubspot-properties.ts';
import { salesforceAdapter } from './salesforce.ts';
import { salesforceSettingsFromEnv } from './salesforce-fields.ts';
import { webhookAdapter } from './webhook.ts';

export type { WebhookAdapterOptions } from './webhook.ts';
export { webhookAdapter } from './webhook.ts';

/** `CRM_ADAPTER=none` (or unset): transitions are recorded on the lead, nothing leaves the account. */
export const noneAdapter: CrmAdapter = {
  name: 'none',
  deliver: async () => ({ status: 204 }),
};

/**
 * The deployment's CRM settings are wrong or incomplete. Thrown when the adapter is built (cold
 * start), so the operator sees what to set before any handoff is attempted.
 */
export class CrmConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrmConfigurationError';
  }
}

const adapterNames = ['webhook', 'hubspot', 'salesforce', 'none'] as const;

/**
 * The {@link CrmAdapter} the environment asks for.
 *
 * @param env - reads `CRM_ADAPTER` and `CRM_WEBHOOK_URL`.
 * @param secrets - reads `CRM_WEBHOOK_SECRET` (see `getSecrets` in lib/runtime/config.ts).
 * @throws CrmConfigurationError for an unknown adapter, a missing URL or secret, or an adapter
 *   that is not built yet.
 */
export function crmAdapterFromEnv(env: Readonly<Record<string, string | undefined>> = process.env, secrets: Secrets = {}): CrmAdapter {
  const name = (env.CRM_ADAPTER ?? '').trim().toLowerCase();
  switch (name) {
    case '':
    case 'none':
      return noneAdapter;
    case 'webhook': {
      const url = env.CRM_WEBHOOK_URL?.trim();
      if (!url) throw new CrmConfigurationError('CRM_ADAPTER=webhook needs CRM_WEBHOOK_URL, the endpoint that receives MQL records');
      configured(() => outboundUrl('CRM_WEBHOOK_URL', url, env));
      const secret = secrets.CRM_WEBHOOK_SECRET;
      if (!secret) throw new CrmConfigurationError('CRM_ADAPTER=webhook needs the secret CRM_WEBHOOK_SECRET (whsec_<base64>) to sign MQL records');
      try {
        // Fails now, at cold start, rather than on every handoff later.
        signStandardWebhook({ secret, id: 'config-check', timestamp: 0, body: '' });
      } catch (error) {
        throw new CrmConfigurationError(`CRM_WEBHOOK_SECRET is unusable: ${(error as Error).message}`);
      }
      return webhookAdapter({ url, secret });
    }
    case 'hubspot':
      return hubSpotAdapter(configured(() => hubSpotSettingsFromEnv(env, secrets.HUBSPOT_ACCESS_TOKEN)));
    case 'salesforce':
      return salesforceAdapter(configured(() => salesforceSettingsFromEnv(env, secrets.SALESFORCE_CLIENT_SECRET)));
    default:
      throw new CrmConfigurationError(`CRM_ADAPTER=${JSON.stringify(env.CRM_ADAPTER)} is not one of ${adapterNames.join(', ')}`);
  }
}

/** An adapter's settings as read from the environment; what it refuses is a {@link CrmConfigurationError}. */
function configured<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new CrmConfigurationError((error as Error).message);
  }
}
