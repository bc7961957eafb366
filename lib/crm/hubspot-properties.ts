/**
 * What the HubSpot adapter writes: the contact properties and their group, the lifecycle stages and lead
 * statuses it may set, and its settings from the environment (docs/providers/hubspot.md).
 */
import { outboundUrl } from '../http/outbound.ts';

export const hubSpotDefaultBaseUrl = 'https://api.hubapi.com';

/** HubSpot's batch limit: inputs per batch call. */
export const hubSpotMaxBatch = 100;

/** HubSpot's limit on a string property's value, in characters. */
export const hubSpotMaxText = 65_536;

/** The property group `mql crm setup` creates, so the engine's properties sit together on the record. */
export const hubSpotPropertyGroup = { name: 'mql_engine', label: 'MQL engine', displayOrder: -1 } as const;

export interface HubSpotPropertyDefinition {
  name: string;
  label: string;
  type: 'number' | 'string' | 'datetime' | 'enumeration';
  fieldType: 'number' | 'text' | 'textarea' | 'date' | 'select';
  description: string;
  /** A property whose values identify one record (HubSpot: `hasUniqueValue`, usable as an upsert's `idProperty`). */
  hasUniqueValue?: boolean;
  options?: { label: string; value: string; displayOrder: number }[];
}

/** The custom contact properties the adapter writes; `mql crm setup` creates the missing ones. */
export const hubSpotProperties: readonly HubSpotPropertyDefinition[] = [
  {
    name: 'mql_score',
    label: 'MQL score',
    type: 'number',
    fieldType: 'number',
    description: 'Total score (fit + behavior) at the last handoff from mql-engine',
  },
  {
    name: 'mql_fit_score',
    label: 'MQL fit score',
    type: 'number',
    fieldType: 'number',
    description: 'Fit (firmographic and demographic) points at the last handoff',
  },
  {
    name: 'mql_behavior_score',
    label: 'MQL behavior score',
    type: 'number',
    fieldType: 'number',
    description: 'Behavior (engagement) points after decay at the last handoff',
  },
  {
    name: 'mql_reasons',
    label: 'MQL reasons',
    type: 'string',
    fieldType: 'textarea',
    description: 'Why the lead scored what it did: one line per rule, with its points',
  },
  {
    name: 'mql_model_version',
    label: 'MQL model version',
    type: 'string',
    fieldType: 'text',
    description: 'The scoring model version (hash of the model file) behind the score',
  },
  {
    name: 'mql_qualified_at',
    label: 'MQL qualified at',
    type: 'datetime',
    fieldType: 'date',
    description: 'When the lead last became a marketing-qualified lead',
  },
];

/**
 * The company property the account's key is kept in (`acme.co.uk`, or `group:<groupId>` for a group account
 * without a known domain): unique, so companies are upserted by it. HubSpot's own `domain` cannot be: it is not a
 * unique property (an upsert keyed by it is refused as "non-unique"), and companies created through the API are
 * not deduplicated by it (docs/providers/hubspot.md, "Companies").
 */
export const hubSpotAccountKeyProperty = 'mql_account_key';

/** The account's status on the company, as `mql_account_status` holds it. */
export const hubSpotAccountStatuses = { 'account.mqa': 'mqa', 'account.recycled': 'recycled' } as const;

/** The custom company properties the adapter writes for accounts; `mql crm setup` creates the missing ones. */
export const hubSpotCompanyProperties: readonly HubSpotPropertyDefinition[] = [
  {
    name: hubSpotAccountKeyProperty,
    label: 'MQL account key',
    type: 'string',
    fieldType: 'text',
    hasUniqueValue: true,
    description: "mql-engine's key for the account: its registrable domain, or group:<groupId> for an account known by its group only",
  },
  {
    name: 'mql_account_score',
    label: 'MQL account score',
    type: 'number',
    fieldType: 'number',
    description: 'Account score (fit + engagement + breadth) at the last account handoff from mql-engine',
  },
  {
    name: 'mql_account_status',
    label: 'MQL account status',
    type: 'enumeration',
    fieldType: 'select',
    description: 'MQA: a marketing-qualified account; Recycled: it fell back below the recycle threshold',
    options: [
      { label: 'MQA', value: hubSpotAccountStatuses['account.mqa'], displayOrder: 0 },
      { label: 'Recycled', value: hubSpotAccountStatuses['account.recycled'], displayOrder: 1 },
    ],
  },
  {
    name: 'mql_account_reasons',
    label: 'MQL account reasons',
    type: 'string',
    fieldType: 'textarea',
    description: 'Why the account scored what it did: one line per rule and member, with its points',
  },
  {
    name: 'mql_account_qualified_at',
    label: 'MQL account qualified at',
    type: 'datetime',
    fieldType: 'date',
    description: 'When the account last became a marketing-qualified account',
  },
];

/**
 * Lifecycle stages before MQL: only from these (or none) does the adapter set `marketingqualifiedlead`.
 * Every other stage is either MQL already, later (sales moved it on), or a portal's custom stage.
 */
export const stagesBeforeMql = new Set(['', 'subscriber', 'lead']);
export const mqlStage = 'marketingqualifiedlead';

export interface HubSpotLeadStatuses {
  /**
   * `hs_lead_status` for a new MQL (HUBSPOT_MQL_LEAD_STATUS, default `NEW`), set only when the contact
   * has no status or one the engine itself wrote (a re-MQL after a recycle); never over sales' own.
   */
  mql: string | undefined;
  /**
   * For `lead.recycled` (HUBSPOT_RECYCLED_LEAD_STATUS, default `BAD_TIMING`): a recycled MQL is one
   * nobody acted on while its engagement decayed, "not now" rather than "not a fit", which is what
   * HubSpot's default option BAD_TIMING says; UNQUALIFIED would tell sales the person is wrong for us.
   */
  recycled: string | undefined;
  /**
   * For `lead.disqualified` (HUBSPOT_DISQUALIFIED_LEAD_STATUS, default `UNQUALIFIED`): a competitor,
   * a hard bounce, a spam complaint.
   */
  disqualified: string | undefined;
}

export const hubSpotDefaultLeadStatuses: HubSpotLeadStatuses = { mql: 'NEW', recycled: 'BAD_TIMING', disqualified: 'UNQUALIFIED' };

/**
 * The lead statuses from the environment: unset or empty keeps the default, `none` turns the write off.
 * @throws Error naming the variable when a value cannot be an internal option name.
 */
export function hubSpotLeadStatusesFromEnv(env: Readonly<Record<string, string | undefined>>): HubSpotLeadStatuses {
  const read = (name: string, fallback: string | undefined): string | undefined => {
    const value = env[name]?.trim();
    if (!value) return fallback;
    if (value.toLowerCase() === 'none') return undefined;
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(value))
      throw new Error(`${name} must be an hs_lead_status internal value such as BAD_TIMING (or none), got ${JSON.stringify(value)}`);
    return value;
  };
  return {
    mql: read('HUBSPOT_MQL_LEAD_STATUS', hubSpotDefaultLeadStatuses.mql),
    recycled: read('HUBSPOT_RECYCLED_LEAD_STATUS', hubSpotDefaultLeadStatuses.recycled),
    disqualified: read('HUBSPOT_DISQUALIFIED_LEAD_STATUS', hubSpotDefaultLeadStatuses.disqualified),
  };
}

export interface HubSpotAdapterOptions {
  /** The private app's access token (HUBSPOT_ACCESS_TOKEN). */
  token: string;
  /** HUBSPOT_BASE_URL; https://api.hubapi.com by default, the stand-in's URL locally. */
  baseUrl?: string;
  leadStatuses?: Partial<HubSpotLeadStatuses>;
  /**
   * The HubSpot account's time zone (IANA name, HUBSPOT_TIME_ZONE; default UTC): its DAILY API limit
   * resets at midnight there.
   */
  timeZone?: string;
  /** Injected in tests; the platform's fetch otherwise. */
  fetch?: typeof globalThis.fetch;
  /** Give up on one call after this long. */
  timeoutMs?: number;
}

/**
 * The adapter's settings from the environment (HUBSPOT_BASE_URL, the HUBSPOT_*_LEAD_STATUS values)
 * and the HUBSPOT_ACCESS_TOKEN secret.
 * @throws Error saying what to set, at cold start rather than on every handoff.
 */
export function hubSpotSettingsFromEnv(env: Readonly<Record<string, string | undefined>>, token: string | undefined): HubSpotAdapterOptions {
  if (!token?.trim()) {
    throw new Error(`CRM_ADAPTER=hubspot needs the secret HUBSPOT_ACCESS_TOKEN: a private app's access token (pat-...) with scopes ${scopesNeeded}`);
  }
  const baseUrl = env.HUBSPOT_BASE_URL?.trim() || hubSpotDefaultBaseUrl;
  outboundUrl('HUBSPOT_BASE_URL', baseUrl, env);
  const timeZone = env.HUBSPOT_TIME_ZONE?.trim() || 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(
      `HUBSPOT_TIME_ZONE must be an IANA time zone such as America/New_York (the HubSpot account's, where its daily limit resets), got ${JSON.stringify(timeZone)}`,
    );
  }
  return { token: token.trim(), baseUrl, timeZone, leadStatuses: hubSpotLeadStatusesFromEnv(env) };
}

/** The fix for an authentication or scope failure, in the words an operator needs. */
export const scopesNeeded =
  'crm.objects.contacts.read and crm.objects.contacts.write, crm.objects.companies.read and crm.objects.companies.write for accounts (crm.schemas.contacts.write and crm.schemas.companies.write for `npx mql crm setup`)';
