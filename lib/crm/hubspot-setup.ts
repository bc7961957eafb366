/** `npx mql crm setup`: the property group and the contact properties the HubSpot adapter writes, created where missing. */
import type { HubSpotAnswer } from './hubspot-answers.ts';
import { hubSpotFailure, readJson } from './hubspot-answers.ts';
import type { HubSpotLeadStatuses } from './hubspot-properties.ts';
import { hubSpotDefaultBaseUrl, hubSpotDefaultLeadStatuses, hubSpotProperties, hubSpotPropertyGroup, mqlStage } from './hubspot-properties.ts';

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

  const refuse = (answer: HubSpotAnswer, action: string): never => {
    const failure = hubSpotFailure(answer, new Date(0), action);
    const hint = answer.status === 403 ? '; creating properties needs the scope crm.schemas.contacts.write' : '';
    throw new HubSpotSetupError(`${failure.message}${hint}`);
  };
  const listOf = (answer: HubSpotAnswer) => {
    const results = (answer.json as { results?: unknown })?.results;
    return Array.isArray(results) ? (results as Record<string, unknown>[]) : [];
  };

  const groupsAnswer = await request('GET', '/crm/v3/properties/contacts/groups');
  if (groupsAnswer.status !== 200) refuse(groupsAnswer, 'property groups GET');
  let group: HubSpotSetupResult['group'] = 'exists';
  if (!listOf(groupsAnswer).some((entry) => entry.name === hubSpotPropertyGroup.name)) {
    const created = await request('POST', '/crm/v3/properties/contacts/groups', hubSpotPropertyGroup);
    if (created.status === 201 || created.status === 200) group = 'created';
    else if (created.status !== 409) refuse(created, 'property group POST');
  }

  const propertiesAnswer = await request('GET', '/crm/v3/properties/contacts');
  if (propertiesAnswer.status !== 200) refuse(propertiesAnswer, 'properties GET');
  const existing = new Map(listOf(propertiesAnswer).map((entry) => [String(entry.name), entry]));
  const properties: HubSpotSetupResult['properties'] = [];
  for (const definition of hubSpotProperties) {
    const found = existing.get(definition.name);
    if (found) {
      const warning = found.type !== definition.type ? `exists with type ${String(found.type)}; mql-engine writes ${definition.type} values` : undefined;
      properties.push({ name: definition.name, action: 'exists', ...(warning ? { warning } : {}) });
      continue;
    }
    const created = await request('POST', '/crm/v3/properties/contacts', { ...definition, groupName: hubSpotPropertyGroup.name });
    if (created.status === 201 || created.status === 200) properties.push({ name: definition.name, action: 'created' });
    else if (created.status === 409) properties.push({ name: definition.name, action: 'exists' });
    else refuse(created, `property ${definition.name} POST`);
  }

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
  return { group, properties, warnings };
}

/** `mql crm setup`'s report, one line per thing it looked at. */
export function formatHubSpotSetup(result: HubSpotSetupResult, baseUrl: string): string {
  const lines = [`HubSpot at ${baseUrl}:`, `  property group ${hubSpotPropertyGroup.name}: ${result.group === 'created' ? 'created' : 'already there'}`];
  for (const property of result.properties) {
    lines.push(
      `  property ${property.name}: ${property.action === 'created' ? 'created' : 'already there, left as it is'}${property.warning ? ` (warning: ${property.warning})` : ''}`,
    );
  }
  for (const warning of result.warnings) lines.push(`  warning: ${warning}`);
  const created = result.properties.filter((property) => property.action === 'created').length + (result.group === 'created' ? 1 : 0);
  lines.push(created === 0 ? 'nothing to do: every property exists' : `${created} created`);
  return lines.join('\n');
}
