/**
 * What the Salesforce adapter (./salesforce.ts) writes and how it reads Salesforce's answers, as pure
 * functions: the settings from the environment, the Lead fields of a handoff, the reasons as text, and
 * the classification of every error answer (docs/providers/salesforce.md).
 */
import { excerpt, outboundUrl, redacted, retryAfterSeconds } from '../http/outbound.ts';
import type { DeliveryReceipt, HandoffRecord, HandoffType } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';

/** The Lead fields the score goes to, by role; an absent role is not sent. */
export interface SalesforceScoreFields {
  score?: string;
  fit?: string;
  behavior?: string;
  reasons?: string;
  modelVersion?: string;
  qualifiedAt?: string;
}

export interface SalesforceSettings {
  /** The org's My Domain URL (SALESFORCE_INSTANCE_URL), where the token is asked for. */
  instanceUrl: string;
  clientId: string;
  clientSecret: string;
  /** The Lead's External ID field holding the lead's id (SALESFORCE_EXTERNAL_ID_FIELD). */
  externalIdField: string;
  /** `v62.0` (SALESFORCE_API_VERSION). */
  apiVersion: string;
  /** Lead Status written for each transition. */
  statuses: Record<HandoffType, string>;
  /**
   * Lead Status values the adapter may replace (SALESFORCE_REPLACEABLE_STATUSES); a Lead in any other
   * status (sales working it) keeps it, its scores still written. `any`: Status is written without reading it first.
   */
  replaceableStatuses: readonly string[] | 'any';
  fields: SalesforceScoreFields;
  /** Where account handoffs go (lib/crm/salesforce-accounts.ts); the defaults when absent. */
  account?: SalesforceAccountSettings;
}

/** The Account fields account handoffs write (`account.mqa`, `account.recycled`); an absent one is not sent. */
export interface SalesforceAccountSettings {
  /** The Account's External ID field holding the account's key (SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD). */
  externalIdField: string;
  fields: { score?: string; status?: string; reasons?: string };
}

/** Environment variable naming each Account field, and its default (docs/operator-contract.md, "Settings"). */
export const salesforceAccountFieldSettings: Record<'externalIdField' | 'score' | 'status' | 'reasons', { env: string; default: string }> = {
  externalIdField: { env: 'SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD', default: 'MQL_Account_Key__c' },
  score: { env: 'SALESFORCE_ACCOUNT_SCORE_FIELD', default: 'MQL_Account_Score__c' },
  status: { env: 'SALESFORCE_ACCOUNT_STATUS_FIELD', default: 'MQL_Account_Status__c' },
  reasons: { env: 'SALESFORCE_ACCOUNT_REASONS_FIELD', default: 'MQL_Account_Reasons__c' },
};

/** The Account settings from the environment (unset: the default; a field set empty: not sent; the key field is required). */
export function salesforceAccountSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): SalesforceAccountSettings {
  const read = (role: keyof typeof salesforceAccountFieldSettings): string | undefined => {
    const setting = salesforceAccountFieldSettings[role];
    const value = env[setting.env];
    const name = value === undefined ? setting.default : value.trim();
    if (name === '') {
      if (role === 'externalIdField') throw new Error(`${setting.env} must name an Account External ID field (default ${setting.default}), not be empty`);
      return undefined;
    }
    if (!fieldNamePattern.test(name))
      throw new Error(
        `${setting.env} must be a field's API name${role === 'externalIdField' ? '' : ' (or empty to send nothing)'}, got ${JSON.stringify(name)}`,
      );
    return name;
  };
  const fields: SalesforceAccountSettings['fields'] = {};
  for (const role of ['score', 'status', 'reasons'] as const) {
    const name = read(role);
    if (name) fields[role] = name;
  }
  return { externalIdField: read('externalIdField')!, fields };
}

/** Environment variable naming each score field, and its default (docs/operator-contract.md, "Settings"). */
export const salesforceFieldSettings: Record<keyof SalesforceScoreFields, { env: string; default: string }> = {
  score: { env: 'SALESFORCE_SCORE_FIELD', default: 'Lead_Score__c' },
  fit: { env: 'SALESFORCE_FIT_SCORE_FIELD', default: 'Fit_Score__c' },
  behavior: { env: 'SALESFORCE_BEHAVIOR_SCORE_FIELD', default: 'Behavior_Score__c' },
  reasons: { env: 'SALESFORCE_REASONS_FIELD', default: 'MQL_Reasons__c' },
  modelVersion: { env: 'SALESFORCE_MODEL_VERSION_FIELD', default: 'MQL_Model_Version__c' },
  qualifiedAt: { env: 'SALESFORCE_QUALIFIED_AT_FIELD', default: 'MQL_Date__c' },
};

/** Environment variable naming each transition's Lead Status, and its default. */
export const salesforceStatusSettings: Record<HandoffType, { env: string; default: string }> = {
  // A custom value the admin adds: MQL is not in a fresh org's list.
  'lead.mql': { env: 'SALESFORCE_MQL_STATUS', default: 'Marketing Qualified' },
  // "Open - Not Contacted" is in every org's list from the start, and it is what a recycled lead is
  // again: back with marketing, nobody in sales working it. An org with a "Recycled" value sets it.
  'lead.recycled': { env: 'SALESFORCE_RECYCLED_STATUS', default: 'Open - Not Contacted' },
  // The standard closed-without-conversion value, also in every org.
  'lead.disqualified': { env: 'SALESFORCE_DISQUALIFIED_STATUS', default: 'Closed - Not Converted' },
};

/** Salesforce's API field names: a letter, then letters, digits and single underscores (custom ones end in `__c`). */
const fieldNamePattern = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * The adapter's settings from the environment.
 * @throws Error naming the variable to set when one is missing or malformed.
 */
export function salesforceSettingsFromEnv(env: Readonly<Record<string, string | undefined>>, clientSecret: string | undefined): SalesforceSettings {
  const instanceUrl = env.SALESFORCE_INSTANCE_URL?.trim().replace(/\/+$/, '');
  if (!instanceUrl) throw new Error("CRM_ADAPTER=salesforce needs SALESFORCE_INSTANCE_URL, the org's My Domain URL (https://<domain>.my.salesforce.com)");
  // The token and the records travel over it: plain http only for a local stack's stand-in.
  outboundUrl('SALESFORCE_INSTANCE_URL', instanceUrl, env);
  const clientId = env.SALESFORCE_CLIENT_ID?.trim();
  if (!clientId) throw new Error('CRM_ADAPTER=salesforce needs SALESFORCE_CLIENT_ID, the consumer key of the app with the client credentials flow enabled');
  if (!clientSecret) throw new Error('CRM_ADAPTER=salesforce needs the secret SALESFORCE_CLIENT_SECRET, the consumer secret of that app');
  const externalIdField = env.SALESFORCE_EXTERNAL_ID_FIELD?.trim();
  if (!externalIdField)
    throw new Error('CRM_ADAPTER=salesforce needs SALESFORCE_EXTERNAL_ID_FIELD, a Lead Text field marked External ID and Unique (e.g. MQL_External_Id__c)');
  if (!fieldNamePattern.test(externalIdField))
    throw new Error(`SALESFORCE_EXTERNAL_ID_FIELD must be a field's API name, got ${JSON.stringify(externalIdField)}`);
  const apiVersion = env.SALESFORCE_API_VERSION?.trim() || 'v62.0';
  if (!/^v\d{2,3}\.0$/.test(apiVersion)) throw new Error(`SALESFORCE_API_VERSION must look like v62.0, got ${JSON.stringify(apiVersion)}`);
  const statuses = {} as Record<HandoffType, string>;
  for (const [type, setting] of Object.entries(salesforceStatusSettings) as [HandoffType, { env: string; default: string }][]) {
    const value = env[setting.env]?.trim();
    statuses[type] = value || setting.default;
  }
  const fields: SalesforceScoreFields = {};
  for (const [role, setting] of Object.entries(salesforceFieldSettings) as [keyof SalesforceScoreFields, { env: string; default: string }][]) {
    const value = env[setting.env];
    // Set but empty: the org has no such field, so it is not sent.
    const name = value === undefined ? setting.default : value.trim();
    if (name === '') continue;
    if (!fieldNamePattern.test(name)) throw new Error(`${setting.env} must be a field's API name (or empty to send nothing), got ${JSON.stringify(name)}`);
    fields[role] = name;
  }
  const replaceable = env.SALESFORCE_REPLACEABLE_STATUSES?.trim();
  const replaceableStatuses =
    replaceable === '*'
      ? 'any'
      : replaceable
        ? [
            ...new Set(
              replaceable
                .split(',')
                .map((status) => status.trim())
                .filter(Boolean),
            ),
          ]
        : // Marketing's own statuses: new, and the three the adapter writes. Any other is sales's work.
          [...new Set(['Open - Not Contacted', ...Object.values(statuses)])];
  return {
    instanceUrl,
    clientId,
    clientSecret,
    externalIdField,
    apiVersion,
    statuses,
    replaceableStatuses,
    fields,
    account: salesforceAccountSettingsFromEnv(env),
  };
}

/** Default size of a Long Text Area; longer reasons are cut so the write does not fail STRING_TOO_LONG. */
const maxReasonsLength = 32_768;

export interface SalesforceErrorItem {
  message?: string;
  errorCode?: string;
  /** sObject Collections' row errors name the code `statusCode`. */
  statusCode?: string;
  fields?: string[];
  duplicateResult?: { matchResults?: { matchRecords?: { record?: { Id?: string } }[] }[] };
}

export function errorItems(body: unknown): SalesforceErrorItem[] {
  if (!Array.isArray(body)) return [];
  return body
    .filter((item): item is SalesforceErrorItem => item !== null && typeof item === 'object')
    .map((item) => (item.errorCode === undefined && typeof item.statusCode === 'string' ? { ...item, errorCode: item.statusCode } : item));
}

/** The reasons as text a sales rep reads on the Lead: what happened, the score, then one line per rule. */
export function salesforceReasonsText(record: HandoffRecord): string {
  const { score } = record;
  const what = record.type === 'lead.mql' ? 'Marketing qualified' : record.type === 'lead.recycled' ? 'Recycled to marketing' : 'Disqualified';
  const lines = [
    `${what} at ${record.occurredAt}: score ${score.total} (fit ${score.fit}, behavior ${score.behavior}; threshold ${score.threshold}), model ${score.modelVersion}`,
  ];
  for (const reason of record.reasons) {
    const points = reason.points ?? reason.pointsNow;
    lines.push(
      `${points >= 0 ? '+' : ''}${points} ${reason.description} (${reason.kind}${reason.count > 1 ? `, x${reason.count}` : ''}${reason.lastSeen ? `, last ${reason.lastSeen}` : ''})`,
    );
  }
  // The person first came without an e-mail: a Lead under that earlier id may exist, for sales to merge
  // (the REST API cannot merge Leads).
  if (record.mergedFrom?.length) lines.push(`Same person as the Lead(s) with external id ${record.mergedFrom.join(', ')}: merge them`);
  const text = lines.join('\n');
  return text.length > maxReasonsLength ? `${text.slice(0, maxReasonsLength - 3)}...` : text;
}

/**
 * A moment as the field of `type` takes it: `YYYY-MM-DD` for a Date field (the UTC day: a Date field has
 * no time zone), the full ISO date-time otherwise. Salesforce refuses a date-time sent to a Date field with
 * JSON_PARSER_ERROR, failing the whole request (docs/providers/salesforce.md).
 */
export function salesforceMoment(iso: string, type: string | undefined): string {
  if (type !== 'date') return iso;
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso.slice(0, 10) : at.toISOString().slice(0, 10);
}

/**
 * The Lead's fields for a record. Profile fields only when the lead gave them (an update never blanks
 * what sales typed); the external id stays in the URL, out of the body, as Salesforce asks.
 * `qualifiedAtType` is the qualified-at field's type from the Lead's describe (`date` or `datetime`).
 */
export function salesforceLeadFields(
  record: HandoffRecord,
  settings: Pick<SalesforceSettings, 'statuses' | 'fields'>,
  qualifiedAtType?: string,
): Record<string, string | number> {
  const body: Record<string, string | number> = {};
  const { lead } = record;
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
  const profile: [string, unknown][] = [
    ['FirstName', lead.firstName],
    ['LastName', lead.lastName],
    ['Company', lead.company],
    ['Email', lead.email],
    ['Title', lead.jobTitle],
    ['Phone', lead.phone],
  ];
  for (const [field, value] of profile) {
    const known = text(value);
    if (known !== undefined) body[field] = known;
  }
  // NumberOfEmployees is an integer field; a range such as "501-1000" has no single value to write.
  if (typeof lead.companySize === 'number' && Number.isInteger(lead.companySize) && lead.companySize > 0) body.NumberOfEmployees = lead.companySize;
  body.Status = settings.statuses[record.type];
  const { fields } = settings;
  if (fields.score) body[fields.score] = record.score.total;
  if (fields.fit) body[fields.fit] = record.score.fit;
  if (fields.behavior) body[fields.behavior] = record.score.behavior;
  if (fields.reasons) body[fields.reasons] = salesforceReasonsText(record);
  if (fields.modelVersion) body[fields.modelVersion] = record.score.modelVersion;
  // The moment it qualified; a recycle keeps the date of the qualification it ends.
  if (fields.qualifiedAt && record.type === 'lead.mql') body[fields.qualifiedAt] = salesforceMoment(record.occurredAt, qualifiedAtType);
  return body;
}

/** `Sforce-Limit-Info: api-usage=25/15000` (maybe followed by `, per-app-api-usage=...`), read: the org's count only. */
export function parseApiUsage(header: string | null): { used: number; max: number } | undefined {
  const match = header ? /(?:^|[,\s])api-usage=(\d+)\/(\d+)/.exec(header) : null;
  return match ? { used: Number(match[1]), max: Number(match[2]) } : undefined;
}

/** The note of a converted Lead; like every note and message, it names no lead (the record's fields do). */
export const convertedNote = () => 'the Lead is already converted in Salesforce (read-only): nothing written';

/** A record's names, addresses and numbers: what a message quoting Salesforce must not repeat. */
export function salesforceKnownValues(record: HandoffRecord): string[] {
  const { lead } = record;
  const names = [lead?.firstName, lead?.lastName].filter((value): value is string => typeof value === 'string');
  return [record.leadId, lead?.email, lead?.phone, ...names, names.join(' ')].filter(
    (value): value is string => typeof value === 'string' && value.trim() !== '',
  );
}

/**
 * What an answer other than 200/201/204 means for the record: a failure of the kind the retry policy
 * needs, or (a converted Lead) a receipt. Also reads a Collections row's errors, given as status 400.
 */
export function salesforceFailure(
  answer: { status: number; body: unknown; text: string; headers?: Headers },
  record: HandoffRecord,
  now: Date,
  settings: Pick<SalesforceSettings, 'externalIdField' | 'apiVersion' | 'statuses' | 'fields'>,
  known: readonly string[] = salesforceKnownValues(record),
): CrmDeliveryError | DeliveryReceipt {
  const { status, body, text } = answer;
  const items = errorItems(body);
  const codes = items.map((item) => item.errorCode ?? '');
  // Quoted in a message that is logged: Salesforce's messages can repeat the values sent (an address, a name).
  const said =
    items.length > 0 ? redacted(items.map((item) => `${item.errorCode ?? '?'}: ${item.message ?? ''}`).join('; '), known) : excerpt(redacted(text, known));
  const at = `Salesforce answered ${status}`;
  if (status === 300) {
    const urls = Array.isArray(body) ? body.filter((url): url is string => typeof url === 'string') : [];
    return new CrmDeliveryError(
      `${at}: ${urls.length || 'several'} Leads have this lead's ${settings.externalIdField} (${urls.join(', ')}); nothing was written. Merge them, make ${settings.externalIdField} Unique, then redrive`,
      { status, retryable: false, kind: 'rejected' },
    );
  }
  if (codes.includes('UNABLE_TO_LOCK_ROW')) return new CrmDeliveryError(`${at} (${said}); will retry`, { status, retryable: true, kind: 'unavailable' });
  if (items.some((item) => item.errorCode === 'DUPLICATE_VALUE' && (item.message ?? '').includes(settings.externalIdField))) {
    // Two upserts of a new Lead at once: the second finds the first's insert under way. A retry updates it.
    return new CrmDeliveryError(`${at} (${said}): a concurrent upsert created this Lead; will retry`, { status, retryable: true, kind: 'unavailable' });
  }
  if (codes.includes('CANNOT_UPDATE_CONVERTED_LEAD')) {
    // Salesforce refuses every write to a converted Lead, now and on any retry or redrive: the person
    // is sales's Contact (and maybe Opportunity) already, which is what the handoff was for. So the
    // record counts as delivered, with the reason, instead of looping or filling the DLQ.
    return { status, note: convertedNote() };
  }
  const limit = items.find((item) => item.errorCode === 'REQUEST_LIMIT_EXCEEDED');
  if (limit && /concurrent/i.test(limit.message ?? '')) {
    // The same code for the org's limit of concurrent long-running requests ("ConcurrentRequests
    // (Concurrent API Requests) Limit exceeded."; 25 in production, 5 in a Developer Edition): it clears
    // as the requests in flight finish, in seconds, so it is a rate limit to wait out, not the daily quota
    // (held back for an hour, with the quota alarm). Salesforce names no wait: the handoff's policy applies.
    return new CrmDeliveryError(`${at}: too many long-running API requests in the org at once (${said}); will retry shortly`, {
      status,
      retryable: true,
      kind: 'rate_limited',
    });
  }
  if (limit) {
    return new CrmDeliveryError(`${at}: the org's rolling 24-hour API request limit is used up (${said}); will retry in hours`, {
      status,
      retryable: true,
      kind: 'quota_exhausted',
    });
  }
  if (status === 401) {
    return new CrmDeliveryError(
      `${at} after a fresh login (${said}): the app's Run As user cannot use the API; check its profile (API Enabled) and the app's OAuth scopes (api)`,
      {
        status,
        retryable: false,
        kind: 'auth',
      },
    );
  }
  if (status === 403) {
    return new CrmDeliveryError(
      `${at} (${said}): the app's Run As user lacks permission; give it API Enabled, Create and Edit on Lead and edit access to the fields written`,
      {
        status,
        retryable: false,
        kind: 'auth',
      },
    );
  }
  if (status === 404) {
    return new CrmDeliveryError(
      `${at} (${said}): no Lead field ${settings.externalIdField} the API user can see; check SALESFORCE_EXTERNAL_ID_FIELD (an External ID Text field on Lead, visible to the Run As user) and SALESFORCE_API_VERSION (${settings.apiVersion})`,
      { status, retryable: false, kind: 'rejected' },
    );
  }
  if (status === 429 || status >= 500) {
    const retryAfter = retryAfterSeconds(answer.headers?.get('retry-after') ?? null, now);
    return new CrmDeliveryError(`${at} (${said}); will retry`, {
      status,
      retryable: true,
      kind: status === 429 ? 'rate_limited' : 'unavailable',
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
    });
  }
  const hints: string[] = [];
  for (const item of items) {
    if (item.errorCode === 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST' && (item.fields ?? []).includes('Status')) {
      hints.push(`add "${settings.statuses[record.type]}" to the Lead Status picklist or set ${salesforceStatusSettings[record.type].env} to an active value`);
    }
    if (item.errorCode === 'INVALID_FIELD') {
      const named = (Object.entries(settings.fields) as [keyof SalesforceScoreFields, string][])
        .filter(([, name]) => (item.message ?? '').includes(`'${name}'`))
        .map(([role, name]) => [name, salesforceFieldSettings[role].env] as const);
      if (named.length > 0) hints.push(named.map(([name, env]) => `create the Lead field ${name} or set ${env}= (empty) to stop sending it`).join('; '));
      else if ((item.message ?? '').includes(settings.externalIdField))
        hints.push('check SALESFORCE_EXTERNAL_ID_FIELD (an External ID Text field on Lead, visible to the Run As user)');
      else hints.push('check the SALESFORCE_*_FIELD settings');
    }
    if (item.errorCode === 'JSON_PARSER_ERROR') {
      // The whole request failed before any row was read: a field's type differs from what was sent.
      hints.push('a Lead field is of another type than the value sent (e.g. a Date field sent a date-time): run `npx mql crm setup salesforce`');
    }
    if (item.errorCode === 'DUPLICATES_DETECTED') {
      const ids = (item.duplicateResult?.matchResults ?? [])
        .flatMap((match) => (match.matchRecords ?? []).map((matched) => matched.record?.Id))
        .filter(Boolean);
      hints.push(`a duplicate rule blocks it (matches ${ids.join(', ') || 'unknown'}): merge or relax the rule, then redrive`);
    }
  }
  return new CrmDeliveryError(`${at} (${said})${hints.length > 0 ? `: ${hints.join('; ')}` : ''}`, { status, retryable: false, kind: 'rejected' });
}
