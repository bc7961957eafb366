/**
 * A local stand-in for the part of Salesforce the Salesforce adapter speaks (docs/providers/salesforce.md), for
 * tests and local runs: the OAuth 2.0 client-credentials token endpoint and the REST upsert of a Lead
 * by external id, with Salesforce's statuses, error arrays and `Sforce-Limit-Info` header.
 *
 *   POST  /services/oauth2/token                                   (form: grant_type=client_credentials, client_id, client_secret)
 *   PATCH /services/data/v<N>/sobjects/Lead/<ExternalIdField>/<url-encoded value>   (Bearer token, JSON body)
 *   PATCH /services/data/v<N>/composite/sobjects/Lead/<ExternalIdField>          (sObject Collections, v46.0+, <= 200 records)
 *   GET   /services/data/v<N>/query?q=SELECT ... FROM Lead WHERE <field> IN ('...')  (the adapter's one SOQL shape)
 *   GET   /services/data/v<N>/sobjects/Lead/describe                    (the Lead's fields with their types)
 *   PATCH /services/data/v<N>/sobjects/Account/<AccountExternalIdField>/<url-encoded value>   (an account's upsert)
 *   GET   /services/data/v<N>/sobjects/Account/describe                 (the Account's fields with their types)
 *
 * An Account upsert is held to the same rules: the external id field (404 NOT_FOUND for another one), known
 * fields only (400 INVALID_FIELD), Name on create (400 REQUIRED_FIELD_MISSING), values of their field's type
 * (400 JSON_PARSER_ERROR), the session and the limits.
 *
 * What it enforces, as Salesforce does: the Bearer token (401 INVALID_SESSION_ID once expired), the
 * external id field (404 NOT_FOUND for another one), known fields only (400 INVALID_FIELD), LastName and
 * Company on create (400 REQUIRED_FIELD_MISSING), the restricted Lead Status picklist (400
 * INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST), a valid Email (400 INVALID_EMAIL_ADDRESS), converted leads
 * being read-only (400 CANNOT_UPDATE_CONVERTED_LEAD), the org's daily request limit (403
 * REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded.") and, on demand, its limit of concurrent
 * long-running requests (the same code, "ConcurrentRequests (Concurrent API Requests) Limit exceeded.":
 * Salesforce's REST API has no 429, this is its throttle). Updates answer 200 `{created:false}` from
 * v46.0 on and 204 before. Values must fit their field's type as Salesforce reads the JSON: a date-time (or
 * anything but `YYYY-MM-DD`) for a Date field, a value that is not a date-time for a Date/Time field, or
 * text for a number fails the whole request, a collection included, with 400 JSON_PARSER_ERROR ("Cannot
 * deserialize instance of date from VALUE_STRING value ...") before any row is written. The custom fields'
 * types are configurable (`fieldTypes`, e.g. `{ MQL_Date__c: 'date' }`, as an admin may create it).
 *
 *   const sf = await startSalesforceStandIn({ clientId, clientSecret, externalIdField: 'MQL_External_Id__c' });
 *   // SALESFORCE_INSTANCE_URL = sf.url
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sameText } from './credentials.ts';

/** A Lead as the stand-in keeps it. */
export interface StandInLead {
  /** The 18-character Salesforce id (`00Q...`). */
  Id: string;
  fields: Record<string, unknown>;
  /** True once {@link SalesforceStandIn.convert} was called: Salesforce refuses every later write. */
  IsConverted: boolean;
}

export interface SalesforceCall {
  method: string;
  /** The path with its query, as sent. */
  path: string;
  status: number;
  /** Epoch milliseconds. */
  at: number;
  /** The parsed JSON body of a PATCH, when it was JSON. */
  body?: unknown;
}

/** Lead Status values of a fresh org, plus the custom MQL status the adapter defaults to. */
export const standInLeadStatuses = [
  'Open - Not Contacted',
  'Working - Contacted',
  'Closed - Converted',
  'Closed - Not Converted',
  'Marketing Qualified',
] as const;

/** Standard Lead fields an API user can write (a subset: the ones an MQL record can carry). */
const standardLeadFields = [
  'FirstName',
  'LastName',
  'Company',
  'Email',
  'Title',
  'Phone',
  'MobilePhone',
  'City',
  'Country',
  'Industry',
  'LeadSource',
  'NumberOfEmployees',
  'Status',
  'Description',
  'Website',
];

/** The custom fields the adapter writes by default (see lib/crm/salesforce.ts). */
export const standInCustomFields = ['Lead_Score__c', 'Fit_Score__c', 'Behavior_Score__c', 'MQL_Reasons__c', 'MQL_Model_Version__c', 'MQL_Date__c'];

/** The Account's External ID field and the custom Account fields the adapter writes by default (lib/crm/salesforce-accounts.ts). */
export const standInAccountExternalIdField = 'MQL_Account_Key__c';
export const standInAccountFields = ['MQL_Account_Score__c', 'MQL_Account_Status__c', 'MQL_Account_Reasons__c'];
const accountCustomTypes: Record<string, StandInFieldType> = {
  MQL_Account_Score__c: 'double',
  MQL_Account_Status__c: 'string',
  MQL_Account_Reasons__c: 'textarea',
};

/** Standard Account fields an API user can write (a subset), with their types and lengths as a fresh org describes them. */
const standardAccountTypes: Record<string, { type: StandInFieldType; length?: number }> = {
  Name: { type: 'string', length: 255 },
  Website: { type: 'url', length: 255 },
  Industry: { type: 'picklist', length: 255 },
  NumberOfEmployees: { type: 'int' },
  Description: { type: 'textarea', length: 32_000 },
  BillingCountry: { type: 'string', length: 80 },
};

/** An Account as the stand-in keeps it. */
export interface StandInAccount {
  /** The 18-character Salesforce id (`001...`). */
  Id: string;
  fields: Record<string, unknown>;
}

/** The describe types the stand-in knows (Salesforce's names: Number is `double`, Date/Time `datetime`, Long Text Area `textarea`). */
export type StandInFieldType = 'string' | 'textarea' | 'double' | 'int' | 'date' | 'datetime' | 'email' | 'phone' | 'picklist' | 'url' | 'boolean';

/** The custom fields' types unless `fieldTypes` says otherwise (as docs/providers/salesforce.md tells an admin to create them). */
const defaultCustomTypes: Record<string, StandInFieldType> = {
  Lead_Score__c: 'double',
  Fit_Score__c: 'double',
  Behavior_Score__c: 'double',
  MQL_Reasons__c: 'textarea',
  MQL_Model_Version__c: 'string',
  MQL_Date__c: 'datetime',
};

/** Standard Lead fields: type and length as a fresh org describes them. */
const standardTypes: Record<string, { type: StandInFieldType; length?: number }> = {
  FirstName: { type: 'string', length: 40 },
  LastName: { type: 'string', length: 80 },
  Company: { type: 'string', length: 255 },
  Email: { type: 'email', length: 80 },
  Title: { type: 'string', length: 128 },
  Phone: { type: 'phone', length: 40 },
  MobilePhone: { type: 'phone', length: 40 },
  City: { type: 'string', length: 40 },
  Country: { type: 'string', length: 80 },
  Industry: { type: 'picklist', length: 255 },
  LeadSource: { type: 'picklist', length: 255 },
  NumberOfEmployees: { type: 'int' },
  Status: { type: 'picklist', length: 255 },
  Description: { type: 'textarea', length: 32_000 },
  Website: { type: 'url', length: 255 },
};

/** Salesforce's JSON forms of a date and a date-time (the REST API's, docs/providers/salesforce.md). */
const datePattern = /^\d{4}-\d{2}-\d{2}$/;
const dateTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$/;

export interface SalesforceStandInOptions {
  clientId: string;
  clientSecret: string;
  /** The Lead's External ID field, e.g. `MQL_External_Id__c`. */
  externalIdField: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Active values of the Lead Status picklist (default {@link standInLeadStatuses}). */
  statuses?: readonly string[];
  /** Custom Lead fields the org has, besides the external id (default {@link standInCustomFields}). */
  customFields?: readonly string[];
  /**
   * Types of custom fields, over the defaults (numbers `double`, the reasons a Long Text Area, the model
   * version Text, `MQL_Date__c` a Date/Time); any other custom field is Text. `{ MQL_Date__c: 'date' }` is
   * the org whose admin created it as a Date field.
   */
  fieldTypes?: Readonly<Record<string, StandInFieldType>>;
  /** The org's rolling 24-hour API request limit (default 15000), reported in `Sforce-Limit-Info`. */
  dailyLimit?: number;
  /** The Account's External ID field (default {@link standInAccountExternalIdField}). */
  accountExternalIdField?: string;
  /** Custom Account fields the org has, besides its external id (default {@link standInAccountFields}). */
  accountFields?: readonly string[];
}

export interface SalesforceStandIn {
  /** The My Domain URL, the value for SALESFORCE_INSTANCE_URL, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** Leads by external id value. */
  leads(): Map<string, StandInLead>;
  /** Accounts by external id value. */
  accounts(): Map<string, StandInAccount>;
  /** Every request, in arrival order. */
  readonly calls: SalesforceCall[];
  /** API requests counted against the daily limit (token requests are not, as in Salesforce). */
  apiUsage(): number;
  /** Every access token issued so far stops working (401 INVALID_SESSION_ID), as after a session timeout. */
  expireTokens(): void;
  /** Answers every request 503 for the next `ms` milliseconds. */
  outage(ms: number): void;
  /** While on, every API request answers 403 REQUEST_LIMIT_EXCEEDED. */
  limitExceeded(on: boolean): void;
  /**
   * The next `n` API requests answer 403 REQUEST_LIMIT_EXCEEDED "ConcurrentRequests (Concurrent API
   * Requests) Limit exceeded.", as when the org's 25 (5 on a Developer Edition) long-running requests
   * are in flight: short-lived, unlike the daily limit.
   */
  concurrentLimitNext(n: number): void;
  /** The next `n` upserts answer 400 UNABLE_TO_LOCK_ROW. */
  lockRowsNext(n: number): void;
  /** A second Lead with this external id appears (as after a data load with the field not Unique): upserts answer 300. */
  duplicate(extId: string): void;
  /** Sales sets the Lead's status (e.g. "Working - Contacted"), as a rep does in the UI. */
  setStatus(extId: string, status: string): void;
  /** Sales converts the lead: it stays, read-only. */
  convert(extId: string): void;
  /** The next `n` API requests answer this status and body (a JSON value, sent as JSON). */
  failNext(n: number, status: number, body: unknown): void;
  /** Stops the server; a second call does nothing. */
  close(): Promise<void>;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

const sfError = (status: number, errorCode: string, message: string, fields?: string[]): Answer => ({
  status,
  body: [{ message, errorCode, ...(fields === undefined ? {} : { fields }) }],
});

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** A plausible 18-character Lead id, unique within the stand-in. */
function leadIdFor(sequence: number): string {
  return `00Q5e0000${sequence.toString(36).toUpperCase().padStart(6, '0')}EAZ`;
}

/** Starts the stand-in on 127.0.0.1. */
export async function startSalesforceStandIn(options: SalesforceStandInOptions): Promise<SalesforceStandIn> {
  const statuses = new Set(options.statuses ?? standInLeadStatuses);
  const customFields = options.customFields ?? standInCustomFields;
  const writable = new Set([...standardLeadFields, ...customFields]);
  const accountExternalIdField = options.accountExternalIdField ?? standInAccountExternalIdField;
  const accountFields = options.accountFields ?? standInAccountFields;
  const accountWritable = new Set([...Object.keys(standardAccountTypes), ...accountFields]);
  const accountTypes = new Map<string, StandInFieldType>([
    ...Object.entries(standardAccountTypes).map(([name, { type }]) => [name, type] as const),
    ...accountFields.map((name) => [name, accountCustomTypes[name] ?? 'string'] as const),
    [accountExternalIdField, 'string'],
  ]);
  const accounts = new Map<string, StandInAccount>();
  /** Every field's type: standard, custom (defaults, then `fieldTypes`), the external id Text. */
  const types = new Map<string, StandInFieldType>([
    ...Object.entries(standardTypes).map(([name, { type }]) => [name, type] as const),
    ...customFields.map((name) => [name, options.fieldTypes?.[name] ?? defaultCustomTypes[name] ?? 'string'] as const),
    [options.externalIdField, 'string'],
  ]);
  const dailyLimit = options.dailyLimit ?? 15_000;
  const leads = new Map<string, StandInLead>();
  const duplicates = new Map<string, string>();
  const calls: SalesforceCall[] = [];
  const tokens = new Set<string>();
  let used = 0;
  let sequence = 0;
  let outageUntil = 0;
  let overLimit = false;
  let locksLeft = 0;
  let concurrentLeft = 0;
  let scripted: { left: number; status: number; body: unknown } | undefined;
  let url = '';

  function token(request: IncomingMessage, form: URLSearchParams): Answer {
    const basic = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? '');
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret') ?? '';
    if (basic) {
      const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      clientId = decodeURIComponent(decoded.slice(0, colon));
      clientSecret = decodeURIComponent(decoded.slice(colon + 1));
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant type not supported' } };
    }
    if (!sameText(clientId, options.clientId) || !sameText(clientSecret, options.clientSecret)) {
      return { status: 400, body: { error: 'invalid_client', error_description: 'invalid client credentials' } };
    }
    const accessToken = `00D5e000000STAND!${randomBytes(24).toString('base64url')}`;
    tokens.add(accessToken);
    return {
      status: 200,
      body: {
        access_token: accessToken,
        signature: randomBytes(32).toString('base64'),
        scope: 'api',
        instance_url: url,
        id: `${url}/id/00D5e000000STAND/0055e000001STAND`,
        token_type: 'Bearer',
        issued_at: String(Date.now()),
      },
    };
  }

  /** What every API request passes first: the session, the daily limit, a scripted failure, the content type. */
  function gate(request: IncomingMessage): Answer | undefined {
    const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
    if (!bearer || !tokens.has(bearer[1] ?? '')) {
      return { ...sfError(401, 'INVALID_SESSION_ID', 'Session expired or invalid'), headers: { 'www-authenticate': 'Token' } };
    }
    used += 1;
    if (overLimit || used > dailyLimit) return sfError(403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
    if (concurrentLeft > 0) {
      concurrentLeft -= 1;
      return sfError(403, 'REQUEST_LIMIT_EXCEEDED', 'ConcurrentRequests (Concurrent API Requests) Limit exceeded.');
    }
    if (scripted && scripted.left > 0) {
      scripted.left -= 1;
      return { status: scripted.status, body: scripted.body };
    }
    if (request.method === 'PATCH' && !(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      return sfError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Content Type not supported');
    }
    return undefined;
  }

  /**
   * GET /query?q=SELECT <fields> FROM Lead WHERE <field> IN ('a', 'b'): the one SOQL shape the adapter
   * sends (quotes and backslashes escaped with a backslash); anything else is MALFORMED_QUERY.
   */
  function query(request: IncomingMessage, version: number, soql: string): Answer {
    const refused = gate(request);
    if (refused) return refused;
    const match = /^SELECT\s+(.+?)\s+FROM\s+Lead\s+WHERE\s+(\w+)\s+IN\s+\((.*)\)$/is.exec(soql.trim());
    if (!match) return sfError(400, 'MALFORMED_QUERY', 'the stand-in answers SELECT ... FROM Lead WHERE field IN (...) only');
    const selected = (match[1] ?? '').split(',').map((name) => name.trim());
    for (const name of [...selected, match[2] ?? '']) {
      if (!['Id', 'IsConverted', options.externalIdField, ...writable].includes(name))
        return sfError(400, 'INVALID_FIELD', `No such column '${name}' on entity 'Lead'.`);
    }
    const list = (match[3] ?? '').trim();
    const values: string[] = [];
    const literal = /'((?:[^'\\]|\\.)*)'\s*(?:,\s*|$)/y;
    while (literal.lastIndex < list.length) {
      const item = literal.exec(list);
      if (!item) return sfError(400, 'MALFORMED_QUERY', `unexpected token in: ${list.slice(literal.lastIndex, literal.lastIndex + 20)}`);
      values.push((item[1] ?? '').replace(/\\(.)/g, '$1'));
    }
    const field = match[2] ?? '';
    const records: Record<string, unknown>[] = [];
    const row = (lead: StandInLead) => {
      const record: Record<string, unknown> = { attributes: { type: 'Lead', url: `/services/data/v${version.toFixed(1)}/sobjects/Lead/${lead.Id}` } };
      for (const name of selected) record[name] = name === 'Id' ? lead.Id : name === 'IsConverted' ? lead.IsConverted : (lead.fields[name] ?? null);
      return record;
    };
    for (const [extId, lead] of leads) {
      const value = field === options.externalIdField ? extId : lead.fields[field];
      if (typeof value !== 'string' || !values.includes(value)) continue;
      records.push(row(lead));
      const twin = duplicates.get(extId);
      if (twin && field === options.externalIdField)
        records.push(row({ Id: twin, fields: { [options.externalIdField]: extId, Status: 'Open - Not Contacted' }, IsConverted: false }));
    }
    return { status: 200, body: { totalSize: records.length, done: true, records } };
  }

  /**
   * Salesforce deserialises the whole body into typed fields before it reads any row: one value its field's
   * type cannot take fails the request as a whole (400 JSON_PARSER_ERROR), however many records it holds.
   */
  function unreadable(raw: string, records: readonly unknown[], fieldTypes: ReadonlyMap<string, StandInFieldType> = types): Answer | undefined {
    for (const record of records) {
      if (record === null || typeof record !== 'object' || Array.isArray(record)) continue;
      for (const [name, value] of Object.entries(record as Record<string, unknown>)) {
        const type = fieldTypes.get(name);
        if (value === null || type === undefined) continue;
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        const fits =
          type === 'date'
            ? typeof value === 'string' && datePattern.test(value) && !Number.isNaN(Date.parse(value))
            : type === 'datetime'
              ? typeof value === 'string' && dateTimePattern.test(value) && !Number.isNaN(Date.parse(value))
              : type === 'double' || type === 'int'
                ? (typeof value === 'number' && (type === 'double' || Number.isInteger(value))) || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value))
                : type === 'boolean'
                  ? typeof value === 'boolean'
                  : typeof value === 'string' || typeof value === 'number';
        if (fits) continue;
        const at = raw.indexOf(JSON.stringify(value));
        const column = at < 0 ? 1 : at + JSON.stringify(value).length;
        const token = typeof value === 'string' ? 'VALUE_STRING' : typeof value === 'number' ? 'VALUE_NUMBER_INT' : 'START_OBJECT';
        return sfError(
          400,
          'JSON_PARSER_ERROR',
          `Cannot deserialize instance of ${type} from ${token} value ${text} or request may be missing a required field at [line:1, column:${column}]`,
        );
      }
    }
    return undefined;
  }

  /** GET /sobjects/Lead/describe: the Lead's fields as Salesforce lists them (the parts the adapter and `mql crm setup salesforce` read). */
  function describe(request: IncomingMessage): Answer {
    const refused = gate(request);
    if (refused) return refused;
    const field = (name: string, type: StandInFieldType, custom: boolean, length?: number) => ({
      name,
      label: name.replace(/__c$/, '').replace(/_/g, ' '),
      type,
      length: length ?? (type === 'textarea' ? 32_768 : type === 'string' ? 255 : 0),
      custom,
      externalId: name === options.externalIdField,
      unique: name === options.externalIdField,
      idLookup: name === options.externalIdField || name === 'Email',
      createable: true,
      updateable: true,
      nillable: name !== 'LastName' && name !== 'Company',
      picklistValues:
        name === 'Status' ? [...statuses].map((value) => ({ active: true, defaultValue: value === 'Open - Not Contacted', label: value, value })) : [],
    });
    const fields = [
      { ...field('Id', 'string', false, 18), type: 'id', createable: false, updateable: false, nillable: false },
      { ...field('IsConverted', 'boolean', false), createable: false, updateable: false, nillable: false },
      ...Object.entries(standardTypes).map(([name, { type, length }]) => field(name, type, false, length)),
      ...[options.externalIdField, ...customFields].map((name) => field(name, types.get(name) ?? 'string', true)),
    ];
    return { status: 200, body: { name: 'Lead', label: 'Lead', custom: false, createable: true, updateable: true, queryable: true, fields } };
  }

  /** GET /sobjects/Account/describe: the Account's fields (the parts `mql crm setup salesforce` reads). */
  function describeAccount(request: IncomingMessage): Answer {
    const refused = gate(request);
    if (refused) return refused;
    const field = (name: string, type: StandInFieldType, custom: boolean, length?: number) => ({
      name,
      label: name.replace(/__c$/, '').replace(/_/g, ' '),
      type,
      length: length ?? (type === 'textarea' ? 32_768 : type === 'string' ? 255 : 0),
      custom,
      externalId: name === accountExternalIdField,
      unique: name === accountExternalIdField,
      idLookup: name === accountExternalIdField || name === 'Name',
      createable: true,
      updateable: true,
      nillable: name !== 'Name',
      picklistValues: [],
    });
    const fields = [
      { ...field('Id', 'string', false, 18), type: 'id', createable: false, updateable: false, nillable: false },
      ...Object.entries(standardAccountTypes).map(([name, { type, length }]) => field(name, type, false, length)),
      ...[accountExternalIdField, ...accountFields].map((name) => field(name, accountTypes.get(name) ?? 'string', true)),
    ];
    return { status: 200, body: { name: 'Account', label: 'Account', custom: false, createable: true, updateable: true, queryable: true, fields } };
  }

  /** PATCH /sobjects/Account/<field>/<value>: an Account's upsert, answered as the single-record resource answers it. */
  function upsertAccount(request: IncomingMessage, version: number, field: string, extId: string, raw: string): Answer {
    const refused = gate(request);
    if (refused) return refused;
    if (field !== accountExternalIdField) return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const parsed = parseObject(raw);
    if (!('value' in parsed)) return parsed;
    const body = parsed.value;
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      return sfError(400, 'JSON_PARSER_ERROR', 'Can not deserialize SObject out of a non-object token');
    const mistyped = unreadable(raw, [body], accountTypes);
    if (mistyped) return mistyped;
    const fields = body as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (name !== accountExternalIdField && !accountWritable.has(name))
        return sfError(400, 'INVALID_FIELD', `No such column '${name}' on sobject of type Account`);
    }
    if (locksLeft > 0) {
      locksLeft -= 1;
      return sfError(400, 'UNABLE_TO_LOCK_ROW', `unable to obtain exclusive access to this record or 1 records: ${accounts.get(extId)?.Id ?? ''}`, []);
    }
    const existing = accounts.get(extId);
    const merged = { ...existing?.fields, ...fields, [accountExternalIdField]: extId };
    if (typeof merged.Name !== 'string' || merged.Name === '') return sfError(400, 'REQUIRED_FIELD_MISSING', 'Required fields are missing: [Name]', ['Name']);
    if (existing) {
      existing.fields = merged;
      if (version < 46) return { status: 204 };
      return { status: 200, body: { id: existing.Id, success: true, errors: [], created: false } };
    }
    sequence += 1;
    const account: StandInAccount = { Id: `0015e0000${sequence.toString(36).toUpperCase().padStart(6, '0')}AAA`, fields: merged };
    accounts.set(extId, account);
    return { status: 201, body: { id: account.Id, success: true, errors: [], ...(version >= 46 ? { created: true } : {}) } };
  }

  function parseObject(raw: string): Answer | { value: unknown } {
    try {
      return { value: JSON.parse(raw) };
    } catch {
      return sfError(400, 'JSON_PARSER_ERROR', 'Unexpected character: was expecting a JSON value');
    }
  }

  /** One Lead's upsert, answered as the single-record resource answers it. */
  function writeLead(version: number, extId: string, fields: Record<string, unknown>): Answer {
    for (const name of Object.keys(fields)) {
      if (name === options.externalIdField) continue;
      if (!writable.has(name)) return sfError(400, 'INVALID_FIELD', `No such column '${name}' on sobject of type Lead`);
    }
    if (locksLeft > 0) {
      locksLeft -= 1;
      return sfError(
        400,
        'UNABLE_TO_LOCK_ROW',
        `unable to obtain exclusive access to this record or 1 records: ${leads.get(extId)?.Id ?? leadIdFor(sequence + 1)}`,
        [],
      );
    }
    const existing = leads.get(extId);
    const twin = duplicates.get(extId);
    if (existing && twin) {
      return {
        status: 300,
        body: [`/services/data/v${version.toFixed(1)}/sobjects/Lead/${existing.Id}`, `/services/data/v${version.toFixed(1)}/sobjects/Lead/${twin}`],
      };
    }
    if (existing?.IsConverted) return sfError(400, 'CANNOT_UPDATE_CONVERTED_LEAD', 'cannot reference converted lead', []);
    if ('Status' in fields && (typeof fields.Status !== 'string' || !statuses.has(fields.Status))) {
      return sfError(400, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `Lead Status: bad value for restricted picklist field: ${String(fields.Status)}`, [
        'Status',
      ]);
    }
    if ('Email' in fields && fields.Email !== null && (typeof fields.Email !== 'string' || !emailPattern.test(fields.Email))) {
      return sfError(400, 'INVALID_EMAIL_ADDRESS', `Email: invalid email address: ${String(fields.Email)}`, ['Email']);
    }
    const merged = { ...existing?.fields, ...fields, [options.externalIdField]: extId };
    const missing = ['LastName', 'Company'].filter((name) => typeof merged[name] !== 'string' || merged[name] === '');
    if (missing.length > 0) return sfError(400, 'REQUIRED_FIELD_MISSING', `Required fields are missing: [${missing.join(', ')}]`, missing);
    if (existing) {
      existing.fields = merged;
      if (version < 46) return { status: 204 };
      return { status: 200, body: { id: existing.Id, success: true, errors: [], created: false } };
    }
    sequence += 1;
    const lead: StandInLead = { Id: leadIdFor(sequence), fields: { Status: 'Open - Not Contacted', ...merged }, IsConverted: false };
    leads.set(extId, lead);
    return { status: 201, body: { id: lead.Id, success: true, errors: [], ...(version >= 46 ? { created: true } : {}) } };
  }

  /** PATCH /sobjects/Lead/<field>/<value>. */
  function upsert(request: IncomingMessage, version: number, field: string, extId: string, raw: string): Answer {
    const refused = gate(request);
    if (refused) return refused;
    if (field !== options.externalIdField) return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const parsed = parseObject(raw);
    if (!('value' in parsed)) return parsed;
    const body = parsed.value;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return sfError(400, 'JSON_PARSER_ERROR', 'Can not deserialize SObject out of a non-object token');
    }
    const mistyped = unreadable(raw, [body]);
    if (mistyped) return mistyped;
    return writeLead(version, extId, body as Record<string, unknown>);
  }

  /**
   * PATCH /composite/sobjects/Lead/<field> (sObject Collections, v46.0+): up to 200 records, each with
   * `attributes.type` and the external id in the body; 200 with one UpsertResult per record, in order,
   * errors as `{statusCode, message, fields}`; several matching Leads is a row error DUPLICATE_EXTERNAL_ID.
   */
  function upsertCollection(request: IncomingMessage, version: number, field: string, raw: string): Answer {
    const refused = gate(request);
    if (refused) return refused;
    if (version < 46) return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    const parsed = parseObject(raw);
    if (!('value' in parsed)) return parsed;
    const body = parsed.value as { allOrNone?: unknown; records?: unknown } | null;
    if (body === null || typeof body !== 'object' || !Array.isArray(body.records))
      return sfError(400, 'JSON_PARSER_ERROR', 'records: a JSON array is required');
    if (body.records.length > 200) return sfError(400, 'EXCEEDED_ID_LIMIT', 'record limit reached. cannot submit more than 200 records into this call');
    const mistyped = unreadable(raw, body.records);
    if (mistyped) return mistyped;
    if (body.allOrNone === true) return sfError(400, 'INVALID_INPUT', 'the stand-in answers allOrNone=false only');
    if (!writable.has(field) && field !== options.externalIdField)
      return sfError(400, 'INVALID_FIELD', `Provided external ID field does not exist or is not accessible: ${field}`);
    const counts = new Map<string, number>();
    for (const record of body.records as Record<string, unknown>[]) {
      const value = record?.[field];
      if (typeof value === 'string') counts.set(value, (counts.get(value) ?? 0) + 1);
    }
    const rowError = (statusCode: string, message: string, fields: string[] = []) => ({ id: null, success: false, errors: [{ statusCode, message, fields }] });
    const results = (body.records as unknown[]).map((item) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) return rowError('JSON_PARSER_ERROR', 'a record must be an object');
      const { attributes, ...fields } = item as Record<string, unknown>;
      if ((attributes as { type?: unknown } | undefined)?.type !== 'Lead') return rowError('INVALID_TYPE', 'attributes.type must be Lead');
      const extId = fields[field];
      if (typeof extId !== 'string' || extId === '') return rowError('MISSING_ARGUMENT', `${field} not specified`, [field]);
      if ((counts.get(extId) ?? 0) > 1) return rowError('DUPLICATE_VALUE', `Duplicate external id specified: ${extId}`, [field]);
      const answer = writeLead(version, extId, fields);
      if (answer.status === 300) {
        const ids = (answer.body as string[]).map((url) => url.split('/').at(-1));
        return rowError('DUPLICATE_EXTERNAL_ID', `${field}: more than one record found for external id field: [${ids.join(', ')}]`, [field]);
      }
      if (answer.status >= 400) {
        const [error] = answer.body as { errorCode: string; message: string; fields?: string[] }[];
        return rowError(error?.errorCode ?? 'UNKNOWN_EXCEPTION', error?.message ?? '', error?.fields ?? []);
      }
      const result = answer.body as { id: string; created?: boolean };
      return { id: result.id, success: true, errors: [], created: answer.status === 201 };
    });
    return { status: 200, body: results };
  }

  function route(request: IncomingMessage, raw: string): Answer {
    const target = new URL(request.url ?? '/', 'http://stand-in');
    // Salesforce's limit on a request URI.
    if ((request.url ?? '').length > 16_384) return sfError(414, 'URI_TOO_LONG', 'The request URI is too long');
    if (Date.now() < outageUntil) return sfError(503, 'SERVER_UNAVAILABLE', 'Service temporarily unavailable, please try again later');
    if (target.pathname === '/services/oauth2/token') {
      if (request.method !== 'POST') return { status: 405, body: { error: 'invalid_request', error_description: 'must use HTTP POST' } };
      if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
        return { status: 400, body: { error: 'invalid_request', error_description: 'content type must be application/x-www-form-urlencoded' } };
      }
      return token(request, new URLSearchParams(raw));
    }
    const soql = /^\/services\/data\/v(\d+\.\d)\/query\/?$/.exec(target.pathname);
    if (soql) {
      if (request.method !== 'GET') return sfError(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${request.method}' not allowed. Allowed are GET,HEAD`);
      return query(request, Number(soql[1]), target.searchParams.get('q') ?? '');
    }
    if (/^\/services\/data\/v\d+\.\d\/sobjects\/Lead\/describe\/?$/.test(target.pathname)) {
      if (request.method !== 'GET') return sfError(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${request.method}' not allowed. Allowed are GET,HEAD`);
      return describe(request);
    }
    if (/^\/services\/data\/v\d+\.\d\/sobjects\/Account\/describe\/?$/.test(target.pathname)) {
      if (request.method !== 'GET') return sfError(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${request.method}' not allowed. Allowed are GET,HEAD`);
      return describeAccount(request);
    }
    const account = /^\/services\/data\/v(\d+\.\d)\/sobjects\/Account\/([^/]+)\/([^/]+)$/.exec(target.pathname);
    if (account) {
      if (request.method !== 'PATCH') return sfError(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${request.method}' not allowed. Allowed are PATCH`);
      let extId: string;
      try {
        extId = decodeURIComponent(account[3] ?? '');
      } catch {
        return sfError(400, 'MALFORMED_ID', 'Malformed external id');
      }
      return upsertAccount(request, Number(account[1]), account[2] ?? '', extId, raw);
    }
    const collection = /^\/services\/data\/v(\d+\.\d)\/composite\/sobjects\/Lead\/([^/]+)$/.exec(target.pathname);
    if (collection) {
      if (request.method !== 'PATCH') return sfError(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${request.method}' not allowed. Allowed are PATCH`);
      return upsertCollection(request, Number(collection[1]), collection[2] ?? '', raw);
    }
    const match = /^\/services\/data\/v(\d+\.\d)\/sobjects\/Lead\/([^/]+)\/([^/]+)$/.exec(target.pathname);
    if (!match) return sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
    if (request.method !== 'PATCH') return sfError(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${request.method}' not allowed. Allowed are PATCH`);
    let extId: string;
    try {
      extId = decodeURIComponent(match[3] ?? '');
    } catch {
      return sfError(400, 'MALFORMED_ID', 'Malformed external id');
    }
    return upsert(request, Number(match[1]), match[2] ?? '', extId, raw);
  }

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const answer = route(request, raw);
      let body: unknown;
      if (request.method === 'PATCH') {
        try {
          body = JSON.parse(raw);
        } catch {
          body = undefined;
        }
      }
      calls.push({ method: request.method ?? '', path: request.url ?? '', status: answer.status, at: Date.now(), ...(body === undefined ? {} : { body }) });
      const headers: Record<string, string> = { ...answer.headers };
      if (!(request.url ?? '').startsWith('/services/oauth2/')) headers['sforce-limit-info'] = `api-usage=${used}/${dailyLimit}`;
      if (answer.body === undefined) {
        response.writeHead(answer.status, headers).end();
      } else {
        response.writeHead(answer.status, { 'content-type': 'application/json;charset=UTF-8', ...headers }).end(JSON.stringify(answer.body));
      }
    });
  });
  // A taken port rejects here (without the listener it was an uncaught EADDRINUSE).
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    leads: () => leads,
    accounts: () => accounts,
    calls,
    apiUsage: () => used,
    expireTokens: () => tokens.clear(),
    outage: (ms) => {
      outageUntil = Date.now() + ms;
    },
    limitExceeded: (on) => {
      overLimit = on;
    },
    concurrentLimitNext: (n) => {
      concurrentLeft = n;
    },
    lockRowsNext: (n) => {
      locksLeft = n;
    },
    duplicate: (extId) => {
      sequence += 1;
      duplicates.set(extId, leadIdFor(sequence));
      if (!leads.has(extId)) {
        sequence += 1;
        leads.set(extId, {
          Id: leadIdFor(sequence),
          fields: { LastName: 'Imported', Company: 'Imported', Status: 'Open - Not Contacted' },
          IsConverted: false,
        });
      }
    },
    setStatus: (extId, status) => {
      const lead = leads.get(extId);
      if (!lead) throw new Error(`no lead ${extId}`);
      lead.fields.Status = status;
    },
    convert: (extId) => {
      const lead = leads.get(extId);
      if (!lead) throw new Error(`no lead ${extId} to convert`);
      lead.IsConverted = true;
      lead.fields.Status = 'Closed - Converted';
    },
    failNext: (n, status, body) => {
      scripted = { left: n, status, body };
    },
    // Idempotent: a test may close a stand-in it is about to replace.
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
