/**
 * `npx mql crm setup`: the property group and the contact properties the HubSpot adapter writes, and the same
 * group and the company properties it writes for accounts (`mql_account_key`, unique, among them), created
 * where missing.
 */
import type { HubSpotAnswer } from './hubspot-answers.ts';
import { hubSpotFailure, readJson } from './hubspot-answers.ts';
import type { HubSpotLeadStatuses, HubSpotPropertyDefinition } from './hubspot-properties.ts';
import {
  hubSpotAccountKeyProperty,
  hubSpotCompanyProperties,
  hubSpotDefaultBaseUrl,
  hubSpotDefaultLeadStatuses,
  hubSpotProperties,
  hubSpotPropertyGroup,
  mqlStage,
} from './hubspot-properties.ts';

export interface HubSpotSetupOptions {
  token: string;
  baseUrl?: string;
  /** The lead statuses the adapter will write, checked against the portal's options. */
  leadStatuses?: Partial<HubSpotLeadStatuses>;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}

export interface HubSpotSetupResult {
  group: 'created' | 'exists';
  properties: { name: string; action: 'created' | 'exists'; warning?: string }[];
  /** The same group on companies, and the company properties account handoffs write. */
  companyGroup: 'created' | 'exists';
  companyProperties: { name: string; action: 'created' | 'exists'; warning?: string }[];
  /** Settings that will not work in this portal (an hs_lead_status value it does not offer). */
  warnings: string[];
}

/** A failure of `mql crm setup`, its message naming the fix. */
export class HubSpotSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubSpotSetupError';
  }
}

/**
 * Creates the `mql_engine` property group and the properties the adapter writes, leaving existing
 * ones as they are (a second run creates nothing). Also checks the configured lead statuses against
 * the portal's `hs_lead_status` options, which each portal can edit.
 */
export async function setupHubSpot(options: HubSpotSetupOptions): Promise<HubSpotSetupResult> {
  const baseUrl = (options.baseUrl ?? hubSpotDefaultBaseUrl).replace(/\/+$/, '');
  const send = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const statuses: HubSpotLeadStatuses = { ...hubSpotDefaultLeadStatuses, ...options.leadStatuses };

  async function request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<HubSpotAnswer> {
    let response: Response;
    try {
      response = await send(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: 'application/json',
          'user-agent': 'mql-engine',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new HubSpotSetupError(
        `${method} ${baseUrl}${path} failed: ${error instanceof Error ? error.message : String(error)} (check HUBSPOT_BASE_URL and the network)`,
      );
    }
    const { text, json } = await readJson(response);
    return { status: response.status, headers: response.headers, text, json };
  }

  const refuse = (answer: HubSpotAnswer, action: string, object: 'contacts' | 'companies' = 'contacts'): never => {
    const failure = hubSpotFailure(answer, new Date(0), action);
    const hint = answer.status === 403 ? `; creating properties needs the scope crm.schemas.${object}.write` : '';
    throw new HubSpotSetupError(`${failure.message}${hint}`);
  };
  const listOf = (answer: HubSpotAnswer) => {
    const results = (answer.json as { results?: unknown })?.results;
    return Array.isArray(results) ? (results as Record<string, unknown>[]) : [];
  };

  /** The group and the properties of one object type, created where missing; the existing properties by name. */
  async function ensure(
    object: 'contacts' | 'companies',
    definitions: readonly HubSpotPropertyDefinition[],
  ): Promise<{ group: HubSpotSetupResult['group']; properties: HubSpotSetupResult['properties']; existing: Map<string, Record<string, unknown>> }> {
    const noun = object === 'contacts' ? '' : 'company ';
    const groupsAnswer = await request('GET', `/crm/v3/properties/${object}/groups`);
    if (groupsAnswer.status !== 200) refuse(groupsAnswer, `${noun}property groups GET`, object);
    let group: HubSpotSetupResult['group'] = 'exists';
    if (!listOf(groupsAnswer).some((entry) => entry.name === hubSpotPropertyGroup.name)) {
      const created = await request('POST', `/crm/v3/properties/${object}/groups`, hubSpotPropertyGroup);
      if (created.status === 201 || created.status === 200) group = 'created';
      else if (created.status !== 409) refuse(created, `${noun}property group POST`, object);
    }
    const propertiesAnswer = await request('GET', `/crm/v3/properties/${object}`);
    if (propertiesAnswer.status !== 200) refuse(propertiesAnswer, `${noun}properties GET`, object);
    const existing = new Map(listOf(propertiesAnswer).map((entry) => [String(entry.name), entry]));
    const properties: HubSpotSetupResult['properties'] = [];
    for (const definition of definitions) {
      const found = existing.get(definition.name);
      if (found) {
        const warning =
          found.type !== definition.type
            ? `exists with type ${String(found.type)}; mql-engine writes ${definition.type} values`
            : definition.hasUniqueValue && found.hasUniqueValue !== true
              ? 'exists without unique values: companies cannot be upserted by it; delete it and run this again'
              : undefined;
        properties.push({ name: definition.name, action: 'exists', ...(warning ? { warning } : {}) });
        continue;
      }
      const created = await request('POST', `/crm/v3/properties/${object}`, { ...definition, groupName: hubSpotPropertyGroup.name });
      if (created.status === 201 || created.status === 200) properties.push({ name: definition.name, action: 'created' });
      else if (created.status === 409) properties.push({ name: definition.name, action: 'exists' });
      else refuse(created, `${noun}property ${definition.name} POST`, object);
    }
    return { group, properties, existing };
  }

  const contacts = await ensure('contacts', hubSpotProperties);
  const { group, properties, existing } = contacts;
  const companies = await ensure('companies', hubSpotCompanyProperties);

  const warnings: string[] = [];
  const optionsOf = (name: string) => {
    const options = existing.get(name)?.options;
    return Array.isArray(options) ? (options as { value?: unknown }[]).map((option) => String(option.value)) : undefined;
  };
  const leadStatusOptions = optionsOf('hs_lead_status');
  if (leadStatusOptions) {
    for (const [setting, value] of [
      ['HUBSPOT_MQL_LEAD_STATUS', statuses.mql],
      ['HUBSPOT_RECYCLED_LEAD_STATUS', statuses.recycled],
      ['HUBSPOT_DISQUALIFIED_LEAD_STATUS', statuses.disqualified],
    ] as const) {
      if (value !== undefined && !leadStatusOptions.includes(value)) {
        warnings.push(`${setting}=${value} is not one of this portal's Lead Status values (${leadStatusOptions.join(', ')}): set it to one of them, or none`);
      }
    }
  }
  const stageOptions = optionsOf('lifecyclestage');
  if (stageOptions && !stageOptions.includes(mqlStage))
    warnings.push(`this portal's lifecycle stages have no ${mqlStage}: MQLs will carry the scores but no stage`);
  return { group, properties, companyGroup: companies.group, companyProperties: companies.properties, warnings };
}

/** `mql crm setup`'s report, one line per thing it looked at. */
export function formatHubSpotSetup(result: HubSpotSetupResult, baseUrl: string): string {
  const lines = [`HubSpot at ${baseUrl}:`, `  property group ${hubSpotPropertyGroup.name}: ${result.group === 'created' ? 'created' : 'already there'}`];
  for (const property of result.properties) {
    lines.push(
      `  property ${property.name}: ${property.action === 'created' ? 'created' : 'already there, left as it is'}${property.warning ? ` (warning: ${property.warning})` : ''}`,
    );
  }
  lines.push(`  company property group ${hubSpotPropertyGroup.name}: ${result.companyGroup === 'created' ? 'created' : 'already there'}`);
  for (const property of result.companyProperties) {
    const unique = property.name === hubSpotAccountKeyProperty ? ' (unique: companies are upserted by it)' : '';
    lines.push(
      `  company property ${property.name}: ${property.action === 'created' ? `created${unique}` : 'already there, left as it is'}${property.warning ? ` (warning: ${property.warning})` : ''}`,
    );
  }
  for (const warning of result.warnings) lines.push(`  warning: ${warning}`);
  const created =
    [...result.properties, ...result.companyProperties].filter((property) => property.action === 'created').length +
    (result.group === 'created' ? 1 : 0) +
    (result.companyGroup === 'created' ? 1 : 0);
  lines.push(created === 0 ? 'nothing to do: every property exists' : `${created} created`);
  return lines.join('\n');
}
