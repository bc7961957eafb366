/**
 * A local stand-in for the parts of HubSpot's CRM v3 API the pipeline uses (docs/providers/hubspot.md,
 * test/fixtures/hubspot/hubspot_contacts.json), for integration tests, benchmarks and `mql crm setup`
 * against `HUBSPOT_BASE_URL`. It speaks HubSpot's protocol: the same paths, `Authorization: Bearer`
 * with HubSpot's 401 body, its error bodies and categories, 200/207 batch answers, the 100-input
 * batch limit, the `X-HubSpot-RateLimit-*` headers and the TEN_SECONDLY_ROLLING 429.
 *
 *   const hubspot = await startHubSpotStandIn({ token: 'pat-na1-test' });
 *   // HUBSPOT_BASE_URL = hubspot.url, HUBSPOT_ACCESS_TOKEN = 'pat-na1-test'
 *   hubspot.setStage('dana@example.com', 'customer');   // sales moved the contact forward
 *   hubspot.addEmail('dana@example.com', 'dana.w@old-employer.example');   // a second address (after a merge)
 *   hubspot.rateLimit({ perTenSeconds: 10 });
 *   hubspot.outage(60_000);
 *
 * Paths served:
 * - `POST /crm/v3/objects/contacts/batch/read` (`idProperty` email or the contact id; an additional e-mail finds its
 *   contact, answered under its primary one; missing ids: 207 OBJECT_NOT_FOUND)
 * - `POST /crm/v3/objects/contacts/batch/upsert` (`idProperty: "email"`: all or nothing, see below)
 * - `GET /crm/v3/objects/contacts/{id}` (`?properties=a,b`, `?idProperty=email`)
 * - `GET|POST /crm/v3/properties/contacts`, `GET /crm/v3/properties/contacts/{name}`
 * - `GET|POST /crm/v3/properties/contacts/groups`
 * - companies (their batch read, upsert and update, search and properties) and the v4 default associations from
 *   companies to contacts: ./hubspot-companies.ts
 *
 * The batch upsert keyed by e-mail behaves as HubSpot documents it (docs/providers/hubspot.md): partial
 * upserts are not supported with `email` as the `idProperty`, so one refused row fails the whole call
 * with a 400 that names no row (no `context.ids`, no address in the message) and nothing is written.
 * Each result echoes only what it was sent: the properties it was sent, each with the value the contact
 * holds now, and the input's `objectWriteTraceId`; an upsert keyed by an additional e-mail updates that
 * contact and answers its primary address under `email`.
 *
 * A backward `lifecyclestage` write (e.g. `marketingqualifiedlead` on a `customer`) is silently ignored,
 * as HubSpot does: the contact keeps the later stage, the call answers 200 and the result shows the stage
 * kept. Clearing with `""` is accepted, and then any stage can be set.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { listenLocal } from '../listen.ts';
import { sameText } from './credentials.ts';
import type { HubSpotCompanies } from './hubspot-companies.ts';
import { hubSpotCompanies } from './hubspot-companies.ts';

/** HubSpot's default lifecycle stages, in their order (internal names). */
export const hubSpotLifecycleStages = [
  'subscriber',
  'lead',
  'marketingqualifiedlead',
  'salesqualifiedlead',
  'opportunity',
  'customer',
  'evangelist',
  'other',
] as const;

/** HubSpot's default `hs_lead_status` options (portal-editable in HubSpot; fixed here). */
export const hubSpotLeadStatuses = ['NEW', 'OPEN', 'IN_PROGRESS', 'OPEN_DEAL', 'UNQUALIFIED', 'ATTEMPTED_TO_CONTACT', 'CONNECTED', 'BAD_TIMING'] as const;

/** Most inputs a batch call takes. */
export const hubSpotBatchLimit = 100;

export interface StandInPropertyChange {
  property: string;
  from: string | null;
  to: string;
  /** Epoch milliseconds. */
  at: number;
}

export interface StandInContact {
  id: string;
  properties: Record<string, string>;
  /** Every change of a property value, oldest first (creation included, `from: null`). */
  history: StandInPropertyChange[];
}

export interface StandInCall {
  method: string;
  /** The path without the query string. */
  path: string;
  status: number;
  /** Epoch milliseconds. */
  at: number;
}

/** A property definition as `/crm/v3/properties/contacts` has it (the fields the stand-in keeps). */
export interface StandInProperty {
  name: string;
  label: string;
  type: string;
  fieldType: string;
  groupName: string;
  description?: string;
  options?: { label: string; value: string; displayOrder?: number; hidden?: boolean }[];
  hasUniqueValue?: boolean;
  hubspotDefined?: boolean;
}

export interface HubSpotStandInOptions {
  /** The private-app token every call must carry as `Authorization: Bearer <token>`. */
  token: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
}

export interface HubSpotStandIn {
  /** The value for HUBSPOT_BASE_URL, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** The contacts by lower-cased e-mail; the live map (read it, do not write it). */
  contacts(): Map<string, StandInContact>;
  /** Every request, in arrival order, with the status answered. */
  readonly calls: StandInCall[];
  /** The companies, their associations to contacts, and hooks for tests (./hubspot-companies.ts). */
  readonly companies: Omit<HubSpotCompanies, 'route'>;
  /** Sales moved the contact to `stage` in HubSpot's UI (any direction; creates the contact when missing). */
  setStage(email: string, stage: string): void;
  /**
   * Gives the contact of `primary` (created when missing) the additional e-mail `additional`, as a merge
   * does (`hs_additional_emails`, `;`-separated): reads and upserts keyed by it find this contact.
   * @throws Error when another contact already has that address, as HubSpot keeps them unique.
   */
  addEmail(primary: string, additional: string): void;
  /** Answers every request with 503 and HubSpot's error body for the next `ms` milliseconds. */
  outage(ms: number): void;
  /**
   * HubSpot's burst limit: more than `perTenSeconds` requests in a rolling 10 s window are answered
   * 429 TEN_SECONDLY_ROLLING (refused requests do not count). `undefined` lifts it. `intervalMs`
   * shortens the window for a test (the limit is then `perTenSeconds` per that window): the
   * `X-HubSpot-RateLimit-Interval-Milliseconds` header says it, and the adapter waits that long.
   */
  rateLimit(limit: { perTenSeconds: number; intervalMs?: number } | undefined): void;
  /**
   * Answers the next `count` requests with `status` and `body` (default: HubSpot's body for that
   * status), plus `headers` (e.g. `Retry-After`) over the rate-limit headers.
   */
  failNext(count: number, status: number, body?: unknown, headers?: Record<string, string>): void;
  /** Serves `token` from now on (the operator fixed or rotated it). */
  setToken(token: string): void;
  close(): Promise<void>;
}

/** HubSpot's burst window (TEN_SECONDLY_ROLLING). */
const defaultIntervalMs = 10_000;
const dailyLimit = 250_000;

/** Contact properties every portal has (the ones the pipeline and the tests touch, plus a few). */
function builtInProperties(): StandInProperty[] {
  const text = (name: string, label: string, fieldType = 'text'): StandInProperty => ({
    name,
    label,
    type: 'string',
    fieldType,
    groupName: 'contactinformation',
    hubspotDefined: true,
  });
  return [
    text('email', 'Email'),
    text('hs_additional_emails', 'Additional email addresses', 'textarea'),
    text('firstname', 'First Name'),
    text('lastname', 'Last Name'),
    text('company', 'Company Name'),
    text('jobtitle', 'Job Title'),
    text('phone', 'Phone Number', 'phonenumber'),
    text('mobilephone', 'Mobile Phone Number', 'phonenumber'),
    text('city', 'City'),
    text('state', 'State/Region'),
    text('country', 'Country/Region'),
    text('website', 'Website URL'),
    text('industry', 'Industry'),
    text('annualrevenue', 'Annual Revenue'),
    text('numemployees', 'Number of Employees'),
    { name: 'hs_object_id', label: 'Record ID', type: 'number', fieldType: 'number', groupName: 'contactinformation', hubspotDefined: true },
    { name: 'createdate', label: 'Create Date', type: 'datetime', fieldType: 'date', groupName: 'contactinformation', hubspotDefined: true },
    { name: 'lastmodifieddate', label: 'Last Modified Date', type: 'datetime', fieldType: 'date', groupName: 'contactinformation', hubspotDefined: true },
    {
      name: 'lifecyclestage',
      label: 'Lifecycle Stage',
      type: 'enumeration',
      fieldType: 'radio',
      groupName: 'contactinformation',
      hubspotDefined: true,
      options: hubSpotLifecycleStages.map((value, displayOrder) => ({ label: value, value, displayOrder })),
    },
    {
      name: 'hs_lead_status',
      label: 'Lead Status',
      type: 'enumeration',
      fieldType: 'radio',
      groupName: 'sales_properties',
      hubspotDefined: true,
      options: hubSpotLeadStatuses.map((value, displayOrder) => ({ label: value, value, displayOrder })),
    },
  ];
}

/** Properties HubSpot computes: writing them is refused. */
const readOnlyProperties = new Set(['hs_object_id', 'createdate', 'lastmodifieddate', 'hs_additional_emails']);

const propertyTypes = new Set(['string', 'number', 'date', 'datetime', 'enumeration', 'bool']);
const fieldTypes = new Set([
  'text',
  'textarea',
  'number',
  'date',
  'select',
  'radio',
  'checkbox',
  'booleancheckbox',
  'calculation_equation',
  'html',
  'file',
  'phonenumber',
]);

/** HubSpot's limit on a string property's value. */
const maxStringLength = 65_536;

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const correlationId = () => randomUUID();

function errorBody(message: string, category: string, extra: Record<string, unknown> = {}) {
  return { status: 'error', message, correlationId: correlationId(), category, ...extra };
}

/** HubSpot's "Property values were not valid" wrapper around per-property errors. */
function invalidValues(errors: { message: string; error: string; name: string }[], extra: Record<string, unknown> = {}) {
  const inner = errors.map((error) => ({ isValid: false, message: error.message, error: error.error, name: error.name, localizedErrorMessage: error.message }));
  return errorBody(`Property values were not valid: ${JSON.stringify(inner)}`, 'VALIDATION_ERROR', extra);
}

/** The default body HubSpot answers with for a status (failNext without a body). */
function defaultFailure(status: number): unknown {
  switch (status) {
    case 401:
      return errorBody(
        'Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview',
        'INVALID_AUTHENTICATION',
      );
    case 403:
      return errorBody(
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
        'MISSING_SCOPES',
        {
          errors: [{ message: 'One or more of the following scopes are required.', context: { requiredGranularScopes: ['crm.objects.contacts.write'] } }],
          links: { scopes: 'https://developers.hubspot.com/scopes' },
        },
      );
    case 429:
      return tenSecondly();
    case 502:
      // A gateway's page, not HubSpot's JSON (the fixture's server_error case).
      return '<html>Bad Gateway</html>';
    default:
      return status >= 500 ? unavailableBody() : errorBody(`Stand-in failure ${status}`, 'VALIDATION_ERROR');
  }
}

function tenSecondly() {
  return {
    status: 'error',
    message: 'You have reached your ten_secondly_rolling limit.',
    errorType: 'RATE_LIMIT',
    correlationId: correlationId(),
    policyName: 'TEN_SECONDLY_ROLLING',
    groupName: 'publicapi:private_app-api-calls-ten-secondly:1512050:26892217',
  };
}

function unavailableBody() {
  return errorBody('The service is temporarily unavailable. Please try again later.', 'SERVICE_UNAVAILABLE');
}

/** HubSpot's e-mail check is looser than RFC 5322; one @, a dot in the domain, no spaces. */
const validEmail = (value: string) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);

const stageOrder = (stage: string) => (hubSpotLifecycleStages as readonly string[]).indexOf(stage);

/** Whether writing `next` on a contact at `current` moves it back (a custom stage's place is unknown: never). */
const movesBack = (current: string, next: string) =>
  current !== '' && next !== '' && stageOrder(current) >= 0 && stageOrder(next) >= 0 && stageOrder(next) < stageOrder(current);

/** Starts the stand-in on 127.0.0.1. */
export async function startHubSpotStandIn(options: HubSpotStandInOptions): Promise<HubSpotStandIn> {
  let token = options.token;
  const contacts = new Map<string, StandInContact>();
  const calls: StandInCall[] = [];
  const properties = new Map<string, StandInProperty>(builtInProperties().map((property) => [property.name, property]));
  const groups = new Map<string, { name: string; label: string; displayOrder: number; archived: boolean }>([
    ['contactinformation', { name: 'contactinformation', label: 'Contact information', displayOrder: 0, archived: false }],
    ['sales_properties', { name: 'sales_properties', label: 'Sales properties', displayOrder: 1, archived: false }],
  ]);
  const scripted: { status: number; body: unknown; headers?: Record<string, string> }[] = [];
  let outageUntil = 0;
  let limit: { perTenSeconds: number } | undefined;
  let intervalMs = defaultIntervalMs;
  /** Times of the requests counted against the burst window. */
  let window: number[] = [];
  let dailyUsed = 0;
  let nextId = 51_234_567_000;

  const rateHeaders = (now: number): Record<string, string> => {
    window = window.filter((at) => at > now - intervalMs);
    const max = limit?.perTenSeconds ?? 190;
    return {
      'x-hubspot-ratelimit-max': String(max),
      'x-hubspot-ratelimit-remaining': String(Math.max(0, max - window.length)),
      'x-hubspot-ratelimit-interval-milliseconds': String(intervalMs),
      'x-hubspot-ratelimit-daily': String(dailyLimit),
      'x-hubspot-ratelimit-daily-remaining': String(Math.max(0, dailyLimit - dailyUsed)),
    };
  };

  function setProperty(contact: StandInContact, name: string, value: string, at: number): void {
    const from = contact.properties[name] ?? null;
    if (from === value) return;
    contact.properties[name] = value;
    contact.history.push({ property: name, from, to: value, at });
  }

  function createContact(email: string, at: number): StandInContact {
    const id = String(nextId++);
    const contact: StandInContact = { id, properties: {}, history: [] };
    const iso = new Date(at).toISOString();
    contact.properties.hs_object_id = id;
    contact.properties.createdate = iso;
    contact.properties.lastmodifieddate = iso;
    setProperty(contact, 'email', email, at);
    contacts.set(email, contact);
    return contact;
  }

  const findById = (id: string) => [...contacts.values()].find((contact) => contact.id === id);

  /** The additional e-mails of a contact (`hs_additional_emails`, `;`-separated), lower-cased. */
  const additionalEmails = (contact: StandInContact) =>
    (contact.properties.hs_additional_emails ?? '')
      .split(';')
      .map((email) => email.trim().toLowerCase())
      .filter(Boolean);

  /** The contact an e-mail identifies: its primary address, else one of its additional ones (HubSpot keeps both unique). */
  function findByEmail(email: string): StandInContact | undefined {
    const key = email.trim().toLowerCase();
    return contacts.get(key) ?? [...contacts.values()].find((contact) => additionalEmails(contact).includes(key));
  }

  /** The object shape HubSpot answers for a contact: the asked properties (null when unset) plus the defaults. */
  function publicObject(contact: StandInContact, asked: readonly string[]) {
    const shown: Record<string, string | null> = {
      createdate: contact.properties.createdate ?? null,
      email: contact.properties.email ?? null,
      hs_object_id: contact.id,
      lastmodifieddate: contact.properties.lastmodifieddate ?? null,
    };
    for (const name of asked) if (properties.has(name)) shown[name] = contact.properties[name] ?? null;
    return { id: contact.id, properties: shown, createdAt: contact.properties.createdate, updatedAt: contact.properties.lastmodifieddate, archived: false };
  }

  /** A value HubSpot would refuse for this property, as its per-property error; undefined when fine. */
  function invalidValue(name: string, value: string): { message: string; error: string; name: string } | undefined {
    const property = properties.get(name)!;
    if (value === '') return undefined;
    if (property.type === 'enumeration' && !property.options?.some((option) => option.value === value)) {
      const allowed = (property.options ?? []).map((option) => `[label: "${option.label}"\nvalue: "${option.value}"]`).join(', ');
      return { name, error: 'INVALID_OPTION', message: `${value} was not one of the allowed options: ${allowed}` };
    }
    if (property.type === 'number' && !/^-?\d+(\.\d+)?$/.test(value)) return { name, error: 'INVALID_FLOAT', message: `${value} is not a valid number` };
    if ((property.type === 'datetime' || property.type === 'date') && !/^\d+$/.test(value) && Number.isNaN(Date.parse(value))) {
      return { name, error: 'INVALID_DATE', message: `${value} is not a valid date or timestamp` };
    }
    if (property.type === 'string' && value.length > maxStringLength) {
      return { name, error: 'INVALID_LONG_STRING', message: `Value for ${name} is ${value.length} characters long; the limit is ${maxStringLength}` };
    }
    return undefined;
  }

  function batchRead(body: Record<string, unknown>): Answer {
    const inputs = body.inputs;
    if (!Array.isArray(inputs) || inputs.some((input) => typeof input?.id !== 'string')) {
      return { status: 400, body: errorBody('Invalid input JSON: inputs must be an array of {"id": string}', 'VALIDATION_ERROR') };
    }
    if (inputs.length > hubSpotBatchLimit) return { status: 400, body: batchTooLarge(inputs.length) };
    const idProperty = body.idProperty ?? 'hs_object_id';
    if (idProperty !== 'email' && idProperty !== 'hs_object_id') {
      return { status: 400, body: errorBody(`Unable to find idProperty ${String(idProperty)}, or it is not a unique property`, 'VALIDATION_ERROR') };
    }
    const asked = Array.isArray(body.properties) ? body.properties.filter((name): name is string => typeof name === 'string') : [];
    const results: ReturnType<typeof publicObject>[] = [];
    const missing: string[] = [];
    for (const { id } of inputs as { id: string }[]) {
      const contact = idProperty === 'email' ? findByEmail(id) : findById(id);
      // Two inputs naming one contact (its primary and an additional address) get it once.
      if (contact && !results.some((result) => result.id === contact.id)) results.push(publicObject(contact, asked));
      else if (!contact) missing.push(id);
    }
    const times = { startedAt: new Date().toISOString(), completedAt: new Date().toISOString() };
    if (missing.length === 0) return { status: 200, body: { status: 'COMPLETE', results, ...times } };
    return {
      status: 207,
      body: {
        status: 'COMPLETE',
        results,
        numErrors: 1,
        errors: [
          {
            status: 'error',
            category: 'OBJECT_NOT_FOUND',
            message: 'Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.',
            context: { ids: missing },
          },
        ],
        ...times,
      },
    };
  }

  function batchTooLarge(count: number) {
    return errorBody(`Too many inputs: ${count}. The maximum batch size is ${hubSpotBatchLimit}.`, 'VALIDATION_ERROR', {
      context: { maxInputs: [String(hubSpotBatchLimit)], inputs: [String(count)] },
    });
  }

  function batchUpsert(body: Record<string, unknown>): Answer {
    const inputs = body.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0)
      return { status: 400, body: errorBody('Invalid input JSON: inputs must be a non-empty array', 'VALIDATION_ERROR') };
    if (inputs.length > hubSpotBatchLimit) return { status: 400, body: batchTooLarge(inputs.length) };
    for (const input of inputs) {
      if (
        typeof input !== 'object' ||
        input === null ||
        typeof input.id !== 'string' ||
        typeof input.properties !== 'object' ||
        input.properties === null ||
        Array.isArray(input.properties)
      ) {
        return {
          status: 400,
          body: errorBody('Invalid input JSON: each input needs "id" (string), "idProperty" and "properties" (object)', 'VALIDATION_ERROR'),
        };
      }
      if (input.idProperty !== 'email') {
        return {
          status: 400,
          body: errorBody(`Unable to find idProperty ${JSON.stringify(input.idProperty)}, or it is not a unique property`, 'VALIDATION_ERROR'),
        };
      }
      for (const [name, value] of Object.entries(input.properties as Record<string, unknown>)) {
        if (!properties.has(name)) {
          return {
            status: 400,
            body: invalidValues([{ name, error: 'PROPERTY_DOESNT_EXIST', message: `Property "${name}" does not exist` }]),
          };
        }
        if (readOnlyProperties.has(name)) {
          return {
            status: 400,
            body: invalidValues([{ name, error: 'READ_ONLY_VALUE', message: `${name} is a read only property; its value cannot be set.` }]),
          };
        }
        if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
          return { status: 400, body: errorBody(`Invalid input JSON: the value of ${name} must be a string`, 'VALIDATION_ERROR') };
        }
      }
    }
    const ids = (inputs as { id: string }[]).map((input) => input.id.trim().toLowerCase());
    const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
    if (duplicate !== undefined)
      return { status: 400, body: errorBody(`Duplicate IDs found in batch input: [${duplicate}]. IDs must be unique`, 'VALIDATION_ERROR') };

    for (const input of inputs as { objectWriteTraceId?: unknown }[]) {
      if (input.objectWriteTraceId !== undefined && typeof input.objectWriteTraceId !== 'string')
        return { status: 400, body: errorBody('Invalid input JSON: objectWriteTraceId must be a string', 'VALIDATION_ERROR') };
    }

    // Every row is checked before anything is written: keyed by e-mail, the call is all or nothing.
    type Input = { id: string; objectWriteTraceId?: string; properties: Record<string, string | number | boolean> };
    const planned: { input: Input; email: string; existing: StandInContact | undefined; values: (readonly [string, string])[] }[] = [];
    for (const input of inputs as Input[]) {
      const email = input.id.trim().toLowerCase();
      if (!validEmail(email)) return { status: 400, body: invalidValues([{ name: 'email', error: 'INVALID_EMAIL', message: 'Email address is invalid' }]) };
      const existing = findByEmail(email);
      const values = Object.entries(input.properties).map(([name, value]) => [name, String(value)] as const);
      const invalid = values.map(([name, value]) => invalidValue(name, value)).filter((error) => error !== undefined);
      const sentEmail = values
        .find(([name]) => name === 'email')?.[1]
        .trim()
        .toLowerCase();
      if (sentEmail !== undefined && sentEmail !== email) {
        // Moving a contact to another address through an upsert keyed by its old one: not what the pipeline does.
        invalid.push({ name: 'email', error: 'INVALID_EMAIL', message: 'the email property must be the id the input is keyed by' });
      }
      if (invalid.length > 0) return { status: 400, body: invalidValues(invalid) };
      planned.push({ input, email, existing, values });
    }
    const targets = planned.map(({ existing, email }) => existing?.id ?? email);
    if (new Set(targets).size !== targets.length)
      return { status: 400, body: errorBody('Duplicate IDs found in batch input: two inputs name one contact. IDs must be unique', 'VALIDATION_ERROR') };

    const now = Date.now();
    const results = [];
    for (const { input, email, existing, values } of planned) {
      const contact = existing ?? createContact(email, now);
      for (const [name, value] of values) {
        // The key itself: already the contact's address, primary or additional.
        if (name === 'email') continue;
        // A stage earlier than the contact's is dropped without an error, as HubSpot does.
        if (name === 'lifecyclestage' && movesBack(contact.properties.lifecyclestage ?? '', value)) continue;
        setProperty(contact, name, value, now);
      }
      contact.properties.lastmodifieddate = new Date(now).toISOString();
      // Only what was sent comes back: each property with the value the contact holds now.
      const echoed: Record<string, string | null> = {};
      for (const [name] of values) echoed[name] = contact.properties[name] ?? null;
      results.push({
        id: contact.id,
        properties: echoed,
        createdAt: contact.properties.createdate,
        updatedAt: contact.properties.lastmodifieddate,
        archived: false,
        new: existing === undefined,
        ...(input.objectWriteTraceId === undefined ? {} : { objectWriteTraceId: input.objectWriteTraceId }),
      });
    }
    const times = { startedAt: new Date(now).toISOString(), completedAt: new Date().toISOString() };
    return { status: 200, body: { status: 'COMPLETE', results, ...times } };
  }

  function getContact(id: string, query: URLSearchParams): Answer {
    const contact = query.get('idProperty') === 'email' ? findByEmail(id) : findById(id);
    if (!contact) return { status: 404, body: errorBody('resource not found', 'OBJECT_NOT_FOUND') };
    const asked = (query.get('properties') ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean);
    return { status: 200, body: publicObject(contact, asked) };
  }

  function createProperty(body: Record<string, unknown>): Answer {
    const { name, label, type, fieldType, groupName } = body;
    const problems: string[] = [];
    if (typeof name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(name))
      problems.push('name must be lower-case letters, digits and underscores, starting with a letter');
    if (typeof label !== 'string' || label === '') problems.push('label is required');
    if (typeof type !== 'string' || !propertyTypes.has(type)) problems.push(`type must be one of ${[...propertyTypes].join(', ')}`);
    if (typeof fieldType !== 'string' || !fieldTypes.has(fieldType)) problems.push(`fieldType must be one of ${[...fieldTypes].join(', ')}`);
    if (typeof groupName !== 'string' || !groups.has(groupName)) problems.push(`groupName ${JSON.stringify(groupName)} is not an existing property group`);
    if (problems.length > 0) return { status: 400, body: errorBody(`Invalid input JSON: ${problems.join('; ')}`, 'VALIDATION_ERROR') };
    if (properties.has(name as string)) {
      return {
        status: 409,
        body: errorBody(`Property named '${String(name)}' already exists.`, 'OBJECT_ALREADY_EXISTS', { context: { name: [String(name)] } }),
      };
    }
    const property: StandInProperty = {
      name: name as string,
      label: label as string,
      type: type as string,
      fieldType: fieldType as string,
      groupName: groupName as string,
      ...(typeof body.description === 'string' ? { description: body.description } : {}),
      ...(Array.isArray(body.options) ? { options: body.options as StandInProperty['options'] } : {}),
      ...(body.hasUniqueValue === true ? { hasUniqueValue: true } : {}),
      hubspotDefined: false,
    };
    properties.set(property.name, property);
    return { status: 201, body: propertyView(property) };
  }

  const propertyView = (property: StandInProperty) => ({
    description: '',
    options: [],
    displayOrder: -1,
    hidden: false,
    formField: false,
    hasUniqueValue: false,
    calculated: false,
    externalOptions: false,
    archived: false,
    modificationMetadata: {
      archivable: !property.hubspotDefined,
      readOnlyDefinition: property.hubspotDefined === true,
      readOnlyValue: readOnlyProperties.has(property.name),
    },
    ...property,
  });

  function createGroup(body: Record<string, unknown>): Answer {
    const { name, label } = body;
    if (typeof name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(name) || typeof label !== 'string' || label === '') {
      return { status: 400, body: errorBody('Invalid input JSON: a property group needs "name" (lower-case, underscores) and "label"', 'VALIDATION_ERROR') };
    }
    if (groups.has(name)) return { status: 409, body: errorBody(`A property group named '${name}' already exists.`, 'OBJECT_ALREADY_EXISTS') };
    const group = { name, label, displayOrder: typeof body.displayOrder === 'number' ? body.displayOrder : -1, archived: false };
    groups.set(name, group);
    return { status: 201, body: group };
  }

  const companies = hubSpotCompanies({
    errorBody,
    invalidValues,
    batchTooLarge,
    contactExists: (id) => findById(id) !== undefined,
    nextId: () => String(nextId++),
    propertyTypes,
    fieldTypes,
  });

  function route(method: string, path: string, query: URLSearchParams, body: Record<string, unknown> | undefined): Answer {
    const needsBody = method === 'POST';
    if (needsBody && body === undefined)
      return { status: 400, body: errorBody('Invalid input JSON on line 1: the body must be a JSON object', 'VALIDATION_ERROR') };
    const company = companies.route(method, path, query, body);
    if (company) return company;
    if (path === '/crm/v3/objects/contacts/batch/read' && method === 'POST') return batchRead(body!);
    if (path === '/crm/v3/objects/contacts/batch/upsert' && method === 'POST') return batchUpsert(body!);
    const contact = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(path);
    if (contact && method === 'GET' && !contact[1]!.startsWith('batch')) return getContact(decodeURIComponent(contact[1]!), query);
    if (path === '/crm/v3/properties/contacts/groups') {
      if (method === 'GET') return { status: 200, body: { results: [...groups.values()] } };
      if (method === 'POST') return createGroup(body!);
    }
    if (path === '/crm/v3/properties/contacts') {
      if (method === 'GET') return { status: 200, body: { results: [...properties.values()].map(propertyView) } };
      if (method === 'POST') return createProperty(body!);
    }
    const property = /^\/crm\/v3\/properties\/contacts\/([^/]+)$/.exec(path);
    if (property && method === 'GET') {
      const found = properties.get(decodeURIComponent(property[1]!));
      return found
        ? { status: 200, body: propertyView(found) }
        : { status: 404, body: errorBody(`Unable to find property ${property[1]}`, 'OBJECT_NOT_FOUND') };
    }
    return { status: 404, body: errorBody(`No route for ${method} ${path}`, 'OBJECT_NOT_FOUND') };
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const method = request.method ?? 'GET';
    const now = Date.now();
    const call: StandInCall = { method, path: url.pathname, status: 0, at: now };
    calls.push(call);

    const answer = ((): Answer => {
      const failure = scripted.shift();
      if (failure) return { status: failure.status, body: failure.body, headers: { ...rateHeaders(now), ...failure.headers } };
      if (now < outageUntil) return { status: 503, body: unavailableBody() };
      const authorization = request.headers.authorization ?? '';
      const given = /^Bearer (.+)$/i.exec(authorization)?.[1]?.trim();
      if (!given || !sameText(given, token)) return { status: 401, body: defaultFailure(401) };
      const headers = rateHeaders(now);
      if (limit && window.length >= limit.perTenSeconds)
        return { status: 429, body: tenSecondly(), headers: { ...headers, 'x-hubspot-ratelimit-remaining': '0' } };
      window.push(now);
      dailyUsed += 1;
      let body: Record<string, unknown> | undefined;
      if (chunks.length > 0) {
        if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
          return {
            status: 415,
            body: errorBody(`Unsupported content type ${request.headers['content-type'] ?? '(none)'}; send application/json`, 'VALIDATION_ERROR'),
            headers,
          };
        }
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
        } catch {
          return { status: 400, body: errorBody('Invalid input JSON on line 1: not JSON', 'VALIDATION_ERROR'), headers };
        }
      }
      return { ...route(method, url.pathname, url.searchParams, body), headers: { ...rateHeaders(now) } };
    })();

    call.status = answer.status;
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const contentType = typeof answer.body === 'string' ? 'text/html' : 'application/json;charset=utf-8';
    response.writeHead(answer.status, { 'content-type': contentType, ...answer.headers }).end(text);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500).end(String(error));
    });
  });
  const listening = await listenLocal(server, options);

  return {
    url: listening.origin,
    calls,
    companies: { companies: companies.companies, associations: companies.associations, create: companies.create, refuse: companies.refuse },
    contacts: () => contacts,
    setStage(email, stage) {
      const key = email.trim().toLowerCase();
      const now = Date.now();
      const contact = findByEmail(key) ?? createContact(key, now);
      setProperty(contact, 'lifecyclestage', stage, now);
    },
    addEmail(primary, additional) {
      const key = primary.trim().toLowerCase();
      const address = additional.trim().toLowerCase();
      const now = Date.now();
      const contact = findByEmail(key) ?? createContact(key, now);
      const owner = findByEmail(address);
      if (owner && owner !== contact) throw new Error('another contact already has that e-mail address');
      if (owner) return;
      setProperty(contact, 'hs_additional_emails', [...additionalEmails(contact), address].join(';'), now);
    },
    outage(ms) {
      outageUntil = Date.now() + ms;
    },
    rateLimit(next) {
      limit = next;
      intervalMs = next?.intervalMs ?? defaultIntervalMs;
      window = [];
    },
    failNext(count, status, body, headers) {
      for (let index = 0; index < count; index += 1) scripted.push({ status, body: body ?? defaultFailure(status), ...(headers ? { headers } : {}) });
    },
    setToken(next) {
      token = next;
    },
    close: listening.close,
  };
}
