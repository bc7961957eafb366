/**
 * The companies part of the HubSpot stand-in (./hubspot.ts serves it on the same port, with the same token,
 * rate limits, outages and scripted failures): company objects, their properties, the search, and the v4
 * default associations from companies to contacts (docs/providers/hubspot.md, "Companies").
 *
 * - `POST /crm/v3/objects/companies/batch/read`: `idProperty` the record id (`hs_object_id`, default) or a
 *   property with `hasUniqueValue`; another (e.g. `domain`) is refused with 400, as HubSpot refuses an id
 *   property that is not unique; ids not found: 207 with an OBJECT_NOT_FOUND error naming them.
 * - `POST /crm/v3/objects/companies/batch/upsert`: each input's `idProperty` must be a unique property
 *   (`domain` is not: 400 "Unable to perform update/upsert by non-unique 0-2 property domain"); keyed by a
 *   custom unique property, rows fail one by one: a row refused (an invalid value, or one a test refused with
 *   {@link HubSpotCompanies.refuse}) is an error of a 207 naming its id in `context.ids`, the others are written.
 * - `POST /crm/v3/objects/companies/batch/update`: by record id; an id that is not a company is a row error (207).
 * - `POST /crm/v3/objects/companies/search`: filters `EQ` / `IN` on a property, `sorts` by one, `limit` <= 200.
 * - `GET /crm/v3/objects/companies/{id}`, `GET|POST /crm/v3/properties/companies`, `GET|POST .../groups`.
 * - `POST /crm/v4/associations/companies/contacts/batch/associate/default`: both ids must exist (else a row
 *   error, 207); answers each pair with HubSpot's default company-to-contact type (HUBSPOT_DEFINED 280).
 */

/** What the stand-in's router answers. */
export interface CompanyAnswer {
  status: number;
  body: unknown;
}

export interface StandInCompany {
  id: string;
  properties: Record<string, string>;
}

/** A company property as `/crm/v3/properties/companies` lists it (the fields kept). */
export interface StandInCompanyProperty {
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

/** What the companies part needs of the contacts stand-in. */
export interface CompanyDeps {
  errorBody(message: string, category: string, extra?: Record<string, unknown>): unknown;
  /** The per-property error wrapper ("Property values were not valid: [...]"). */
  invalidValues(errors: { message: string; error: string; name: string }[], extra?: Record<string, unknown>): unknown;
  batchTooLarge(count: number): unknown;
  contactExists(id: string): boolean;
  nextId(): string;
  /** The property types and field types HubSpot accepts on a new property. */
  propertyTypes: ReadonlySet<string>;
  fieldTypes: ReadonlySet<string>;
}

export interface HubSpotCompanies {
  route(method: string, path: string, query: URLSearchParams, body: Record<string, unknown> | undefined): CompanyAnswer | undefined;
  /** The companies by id (the live map: read it, do not write it). */
  companies(): Map<string, StandInCompany>;
  /** Company ids by the contact ids associated with each (company -> contacts). */
  associations(): Map<string, Set<string>>;
  /** A company sales created by hand (no unique key yet), e.g. with a domain; its id. */
  create(properties: Record<string, string>): string;
  /** The next writes of a company keyed `id` (in any upsert) are refused as a row error, until `undefined` is passed. */
  refuse(id: string | undefined): void;
}

/** HubSpot's object type id for companies (in its error messages). */
const companyTypeId = '0-2';
/** HubSpot's default association type from a company to a contact. */
const companyToContactTypeId = 280;
const batchLimit = 100;
const searchLimit = 200;
const associationBatchLimit = 2000;
const maxStringLength = 65_536;

function builtIn(): StandInCompanyProperty[] {
  const text = (name: string, label: string): StandInCompanyProperty => ({
    name,
    label,
    type: 'string',
    fieldType: 'text',
    groupName: 'companyinformation',
    hubspotDefined: true,
  });
  return [
    text('name', 'Company name'),
    text('domain', 'Company Domain Name'),
    { ...text('hs_additional_domains', 'Additional Domains'), fieldType: 'textarea' },
    text('website', 'Website URL'),
    text('industry', 'Industry'),
    text('city', 'City'),
    text('country', 'Country/Region'),
    text('phone', 'Phone Number'),
    { ...text('numberofemployees', 'Number of Employees'), type: 'number', fieldType: 'number' },
    { ...text('annualrevenue', 'Annual Revenue'), type: 'number', fieldType: 'number' },
    { ...text('hs_object_id', 'Record ID'), type: 'number', fieldType: 'number' },
    { ...text('createdate', 'Create Date'), type: 'datetime', fieldType: 'date' },
    { ...text('hs_lastmodifieddate', 'Last Modified Date'), type: 'datetime', fieldType: 'date' },
  ];
}

const readOnly = new Set(['hs_object_id', 'createdate', 'hs_lastmodifieddate']);

export function hubSpotCompanies(deps: CompanyDeps): HubSpotCompanies {
  const companies = new Map<string, StandInCompany>();
  const associations = new Map<string, Set<string>>();
  const properties = new Map<string, StandInCompanyProperty>(builtIn().map((property) => [property.name, property]));
  const groups = new Map<string, { name: string; label: string; displayOrder: number; archived: boolean }>([
    ['companyinformation', { name: 'companyinformation', label: 'Company information', displayOrder: 0, archived: false }],
  ]);
  let refused: string | undefined;
  const { errorBody } = deps;

  const nonUnique = (name: string): CompanyAnswer => ({
    status: 400,
    body: errorBody(`Unable to perform update/upsert by non-unique ${companyTypeId} property ${name} in portal ID 1512050`, 'VALIDATION_ERROR'),
  });
  const isUnique = (name: string) => name === 'hs_object_id' || properties.get(name)?.hasUniqueValue === true;
  const findBy = (name: string, value: string) =>
    name === 'hs_object_id' ? companies.get(value) : [...companies.values()].find((company) => company.properties[name] === value);

  function view(company: StandInCompany, asked: readonly string[]) {
    const shown: Record<string, string | null> = {
      createdate: company.properties.createdate ?? null,
      domain: company.properties.domain ?? null,
      hs_lastmodifieddate: company.properties.hs_lastmodifieddate ?? null,
      hs_object_id: company.id,
      name: company.properties.name ?? null,
    };
    for (const name of asked) if (properties.has(name)) shown[name] = company.properties[name] ?? null;
    return { id: company.id, properties: shown, createdAt: company.properties.createdate, updatedAt: company.properties.hs_lastmodifieddate, archived: false };
  }

  /** A value HubSpot refuses for the property, as its per-property error. */
  function invalid(name: string, value: unknown): { message: string; error: string; name: string } | undefined {
    const property = properties.get(name);
    if (!property) return { name, error: 'PROPERTY_DOESNT_EXIST', message: `Property "${name}" does not exist` };
    if (readOnly.has(name)) return { name, error: 'READ_ONLY_VALUE', message: `${name} is a read only property; its value cannot be set.` };
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      return { name, error: 'INVALID_VALUE', message: `the value of ${name} must be a string` };
    const text = String(value);
    if (text === '') return undefined;
    if (property.type === 'enumeration' && !property.options?.some((option) => option.value === text))
      return { name, error: 'INVALID_OPTION', message: `${text} was not one of the allowed options` };
    if (property.type === 'number' && !/^-?\d+(\.\d+)?$/.test(text)) return { name, error: 'INVALID_FLOAT', message: `${text} is not a valid number` };
    if (property.type === 'datetime' && !/^\d+$/.test(text) && Number.isNaN(Date.parse(text)))
      return { name, error: 'INVALID_DATE', message: `${text} is not a valid date or timestamp` };
    if (property.type === 'string' && text.length > maxStringLength)
      return { name, error: 'INVALID_LONG_STRING', message: `Value for ${name} is ${text.length} characters long; the limit is ${maxStringLength}` };
    return undefined;
  }

  /** The property errors of one input, and what it would write. */
  function check(values: Record<string, unknown>, uniqueOwner: (name: string, value: string) => StandInCompany | undefined, self?: StandInCompany) {
    const errors = Object.entries(values)
      .map(([name, value]) => invalid(name, value))
      .filter((error) => error !== undefined);
    for (const [name, value] of Object.entries(values)) {
      if (!properties.get(name)?.hasUniqueValue || typeof value !== 'string' || value === '') continue;
      const owner = uniqueOwner(name, value);
      if (owner && owner !== self) errors.push({ name, error: 'UNIQUE_VALUE_CONFLICT', message: `${value} is already the ${name} of company ${owner.id}` });
    }
    return errors;
  }

  function write(company: StandInCompany, values: Record<string, unknown>, now: number): void {
    for (const [name, value] of Object.entries(values)) company.properties[name] = String(value);
    company.properties.hs_lastmodifieddate = new Date(now).toISOString();
  }

  function newCompany(now: number): StandInCompany {
    const id = deps.nextId();
    const company: StandInCompany = { id, properties: { hs_object_id: id, createdate: new Date(now).toISOString() } };
    companies.set(id, company);
    return company;
  }

  const inputsOf = (body: Record<string, unknown>, limit = batchLimit): CompanyAnswer | unknown[] => {
    const { inputs } = body;
    if (!Array.isArray(inputs) || inputs.length === 0)
      return { status: 400, body: errorBody('Invalid input JSON: inputs must be a non-empty array', 'VALIDATION_ERROR') };
    if (inputs.length > limit) return { status: 400, body: deps.batchTooLarge(inputs.length) };
    return inputs;
  };

  /** 200 when every row went through, else 207 with the rows' errors. */
  function batchAnswer(results: unknown[], errors: unknown[]): CompanyAnswer {
    const times = { startedAt: new Date().toISOString(), completedAt: new Date().toISOString() };
    if (errors.length === 0) return { status: 200, body: { status: 'COMPLETE', results, ...times } };
    return { status: 207, body: { status: 'COMPLETE', results, numErrors: errors.length, errors, ...times } };
  }

  const rowError = (ids: string[], errors: { message: string; error: string; name: string }[]) =>
    deps.invalidValues(errors, { status: 'error', context: { ids } });

  function batchRead(body: Record<string, unknown>): CompanyAnswer {
    const inputs = inputsOf(body);
    if (!Array.isArray(inputs)) return inputs as CompanyAnswer;
    if (inputs.some((input) => typeof (input as { id?: unknown })?.id !== 'string'))
      return { status: 400, body: errorBody('Invalid input JSON: inputs must be an array of {"id": string}', 'VALIDATION_ERROR') };
    const idProperty = typeof body.idProperty === 'string' ? body.idProperty : 'hs_object_id';
    if (!isUnique(idProperty)) return nonUnique(idProperty);
    const asked = Array.isArray(body.properties) ? body.properties.filter((name): name is string => typeof name === 'string') : [];
    const results: ReturnType<typeof view>[] = [];
    const missing: string[] = [];
    for (const { id } of inputs as { id: string }[]) {
      const company = findBy(idProperty, id);
      if (company) results.push(view(company, asked));
      else missing.push(id);
    }
    return batchAnswer(
      results,
      missing.length === 0
        ? []
        : [
            {
              status: 'error',
              category: 'OBJECT_NOT_FOUND',
              message: 'Could not get some COMPANY objects, they may be deleted or not exist. Check that ids are valid.',
              context: { ids: missing },
            },
          ],
    );
  }

  function batchUpsert(body: Record<string, unknown>): CompanyAnswer {
    const inputs = inputsOf(body);
    if (!Array.isArray(inputs)) return inputs as CompanyAnswer;
    type Input = { id: string; idProperty: string; objectWriteTraceId?: string; properties: Record<string, unknown> };
    for (const input of inputs as Partial<Input>[]) {
      if (typeof input?.id !== 'string' || typeof input.properties !== 'object' || input.properties === null || Array.isArray(input.properties))
        return {
          status: 400,
          body: errorBody('Invalid input JSON: each input needs "id" (string), "idProperty" and "properties" (object)', 'VALIDATION_ERROR'),
        };
      if (typeof input.idProperty !== 'string' || !properties.has(input.idProperty))
        return { status: 400, body: errorBody(`Unable to find idProperty ${JSON.stringify(input.idProperty)}`, 'VALIDATION_ERROR') };
      if (!isUnique(input.idProperty) || input.idProperty === 'hs_object_id') return nonUnique(input.idProperty);
      if (input.objectWriteTraceId !== undefined && typeof input.objectWriteTraceId !== 'string')
        return { status: 400, body: errorBody('Invalid input JSON: objectWriteTraceId must be a string', 'VALIDATION_ERROR') };
    }
    const ids = (inputs as Input[]).map((input) => `${input.idProperty}=${input.id}`);
    const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
    if (duplicate !== undefined)
      return { status: 400, body: errorBody(`Duplicate IDs found in batch input: [${duplicate.split('=')[1]}]. IDs must be unique`, 'VALIDATION_ERROR') };
    const now = Date.now();
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs as Input[]) {
      const existing = findBy(input.idProperty, input.id);
      const values = { ...input.properties, [input.idProperty]: input.id };
      const problems = check(values, findBy, existing);
      if (refused !== undefined && input.id === refused)
        problems.push({ name: input.idProperty, error: 'INVALID_VALUE', message: 'refused by the stand-in for this test' });
      if (problems.length > 0) {
        errors.push(rowError([input.id], problems));
        continue;
      }
      const company = existing ?? newCompany(now);
      write(company, values, now);
      const echoed: Record<string, string | null> = {};
      for (const name of Object.keys(input.properties)) echoed[name] = company.properties[name] ?? null;
      results.push({
        id: company.id,
        properties: echoed,
        createdAt: company.properties.createdate,
        updatedAt: company.properties.hs_lastmodifieddate,
        archived: false,
        new: existing === undefined,
        ...(input.objectWriteTraceId === undefined ? {} : { objectWriteTraceId: input.objectWriteTraceId }),
      });
    }
    return batchAnswer(results, errors);
  }

  function batchUpdate(body: Record<string, unknown>): CompanyAnswer {
    const inputs = inputsOf(body);
    if (!Array.isArray(inputs)) return inputs as CompanyAnswer;
    type Input = { id: string; idProperty?: string; objectWriteTraceId?: string; properties: Record<string, unknown> };
    for (const input of inputs as Partial<Input>[]) {
      if (typeof input?.id !== 'string' || typeof input.properties !== 'object' || input.properties === null || Array.isArray(input.properties))
        return { status: 400, body: errorBody('Invalid input JSON: each input needs "id" (string) and "properties" (object)', 'VALIDATION_ERROR') };
      if (input.idProperty !== undefined && !isUnique(input.idProperty)) return nonUnique(String(input.idProperty));
    }
    const now = Date.now();
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs as Input[]) {
      const company = findBy(input.idProperty ?? 'hs_object_id', input.id);
      if (!company) {
        errors.push({ status: 'error', category: 'OBJECT_NOT_FOUND', message: `No company with id ${input.id}`, context: { ids: [input.id] } });
        continue;
      }
      const problems = check(input.properties, findBy, company);
      const key = Object.entries(input.properties).find(([name]) => properties.get(name)?.hasUniqueValue)?.[1];
      if (refused !== undefined && (key === refused || input.id === refused))
        problems.push({ name: 'hs_object_id', error: 'INVALID_VALUE', message: 'refused by the stand-in for this test' });
      if (problems.length > 0) {
        errors.push(rowError([input.id], problems));
        continue;
      }
      write(company, input.properties, now);
      const echoed: Record<string, string | null> = {};
      for (const name of Object.keys(input.properties)) echoed[name] = company.properties[name] ?? null;
      results.push({
        id: company.id,
        properties: echoed,
        createdAt: company.properties.createdate,
        updatedAt: company.properties.hs_lastmodifieddate,
        archived: false,
        ...(input.objectWriteTraceId === undefined ? {} : { objectWriteTraceId: input.objectWriteTraceId }),
      });
    }
    return batchAnswer(results, errors);
  }

  function search(body: Record<string, unknown>): CompanyAnswer {
    const groupsOf = Array.isArray(body.filterGroups) ? (body.filterGroups as { filters?: unknown }[]) : [];
    const limit = body.limit === undefined ? 10 : Number(body.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > searchLimit)
      return { status: 400, body: errorBody(`limit must be between 1 and ${searchLimit}`, 'VALIDATION_ERROR') };
    const tests: ((company: StandInCompany) => boolean)[][] = [];
    for (const group of groupsOf) {
      const filters = Array.isArray(group?.filters)
        ? (group.filters as { propertyName?: unknown; operator?: unknown; value?: unknown; values?: unknown }[])
        : [];
      const all: ((company: StandInCompany) => boolean)[] = [];
      for (const filter of filters) {
        const name = filter.propertyName;
        if (typeof name !== 'string' || !properties.has(name))
          return { status: 400, body: errorBody(`There was a problem with the request: unknown property ${String(name)}`, 'VALIDATION_ERROR') };
        if (filter.operator === 'EQ' && typeof filter.value === 'string') {
          const value = filter.value.toLowerCase();
          all.push((company) => (company.properties[name] ?? '').toLowerCase() === value);
        } else if (filter.operator === 'IN' && Array.isArray(filter.values) && filter.values.every((value) => typeof value === 'string')) {
          const values = new Set((filter.values as string[]).map((value) => value.toLowerCase()));
          all.push((company) => values.has((company.properties[name] ?? '').toLowerCase()));
        } else return { status: 400, body: errorBody('the stand-in answers EQ (value) and IN (values) filters only', 'VALIDATION_ERROR') };
      }
      tests.push(all);
    }
    let found = [...companies.values()].filter((company) => tests.length === 0 || tests.some((all) => all.every((test) => test(company))));
    const sort = Array.isArray(body.sorts) ? (body.sorts as { propertyName?: string; direction?: string }[])[0] : undefined;
    if (sort?.propertyName) {
      const name = sort.propertyName;
      found = found.sort((a, b) => (a.properties[name] ?? '').localeCompare(b.properties[name] ?? '') * (sort.direction === 'DESCENDING' ? -1 : 1));
    }
    const asked = Array.isArray(body.properties) ? body.properties.filter((name): name is string => typeof name === 'string') : [];
    return { status: 200, body: { total: found.length, results: found.slice(0, limit).map((company) => view(company, asked)) } };
  }

  function associate(body: Record<string, unknown>): CompanyAnswer {
    const inputs = inputsOf(body, associationBatchLimit);
    if (!Array.isArray(inputs)) return inputs as CompanyAnswer;
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const input of inputs as { from?: { id?: unknown }; to?: { id?: unknown } }[]) {
      const from = input?.from?.id;
      const to = input?.to?.id;
      if (typeof from !== 'string' || typeof to !== 'string')
        return { status: 400, body: errorBody('Invalid input JSON: each input needs from.id and to.id (strings)', 'VALIDATION_ERROR') };
      if (!companies.has(from) || !deps.contactExists(to)) {
        const missing = companies.has(from) ? to : from;
        errors.push({
          status: 'error',
          category: 'OBJECT_NOT_FOUND',
          message: `No ${companies.has(from) ? 'contact' : 'company'} with id ${missing}`,
          context: { ids: [missing] },
        });
        continue;
      }
      associations.set(from, (associations.get(from) ?? new Set()).add(to));
      results.push({
        associationSpec: { associationCategory: 'HUBSPOT_DEFINED', associationTypeId: companyToContactTypeId },
        from: { id: from },
        to: { id: to },
      });
    }
    return batchAnswer(results, errors);
  }

  function createProperty(body: Record<string, unknown>): CompanyAnswer {
    const { name, label, type, fieldType, groupName } = body;
    const problems: string[] = [];
    if (typeof name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(name))
      problems.push('name must be lower-case letters, digits and underscores, starting with a letter');
    if (typeof label !== 'string' || label === '') problems.push('label is required');
    if (typeof type !== 'string' || !deps.propertyTypes.has(type)) problems.push(`type must be one of ${[...deps.propertyTypes].join(', ')}`);
    if (typeof fieldType !== 'string' || !deps.fieldTypes.has(fieldType)) problems.push(`fieldType must be one of ${[...deps.fieldTypes].join(', ')}`);
    if (typeof groupName !== 'string' || !groups.has(groupName)) problems.push(`groupName ${JSON.stringify(groupName)} is not an existing property group`);
    if (type === 'enumeration' && (!Array.isArray(body.options) || body.options.length === 0)) problems.push('an enumeration needs options');
    if (body.hasUniqueValue === true && type !== 'string') problems.push('only a string property can have unique values');
    if (problems.length > 0) return { status: 400, body: errorBody(`Invalid input JSON: ${problems.join('; ')}`, 'VALIDATION_ERROR') };
    if (properties.has(name as string))
      return {
        status: 409,
        body: errorBody(`Property named '${String(name)}' already exists.`, 'OBJECT_ALREADY_EXISTS', { context: { name: [String(name)] } }),
      };
    const property: StandInCompanyProperty = {
      name: name as string,
      label: label as string,
      type: type as string,
      fieldType: fieldType as string,
      groupName: groupName as string,
      ...(typeof body.description === 'string' ? { description: body.description } : {}),
      ...(Array.isArray(body.options) ? { options: body.options as StandInCompanyProperty['options'] } : {}),
      ...(body.hasUniqueValue === true ? { hasUniqueValue: true } : {}),
      hubspotDefined: false,
    };
    properties.set(property.name, property);
    return { status: 201, body: propertyView(property) };
  }

  const propertyView = (property: StandInCompanyProperty) => ({
    description: '',
    options: [],
    displayOrder: -1,
    hidden: false,
    formField: false,
    hasUniqueValue: false,
    calculated: false,
    externalOptions: false,
    archived: false,
    ...property,
  });

  function route(method: string, path: string, query: URLSearchParams, body: Record<string, unknown> | undefined): CompanyAnswer | undefined {
    const post = method === 'POST' ? body! : undefined;
    if (path === '/crm/v3/objects/companies/batch/read' && post) return batchRead(post);
    if (path === '/crm/v3/objects/companies/batch/upsert' && post) return batchUpsert(post);
    if (path === '/crm/v3/objects/companies/batch/update' && post) return batchUpdate(post);
    if (path === '/crm/v3/objects/companies/search' && post) return search(post);
    if (path === '/crm/v4/associations/companies/contacts/batch/associate/default' && post) return associate(post);
    const one = /^\/crm\/v3\/objects\/companies\/(\d+)$/.exec(path);
    if (one && method === 'GET') {
      const company = companies.get(one[1]!);
      const asked = (query.get('properties') ?? '').split(',').filter(Boolean);
      return company ? { status: 200, body: view(company, asked) } : { status: 404, body: errorBody('resource not found', 'OBJECT_NOT_FOUND') };
    }
    if (path === '/crm/v3/properties/companies/groups') {
      if (method === 'GET') return { status: 200, body: { results: [...groups.values()] } };
      if (post) {
        const { name, label } = post;
        if (typeof name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(name) || typeof label !== 'string' || label === '')
          return {
            status: 400,
            body: errorBody('Invalid input JSON: a property group needs "name" (lower-case, underscores) and "label"', 'VALIDATION_ERROR'),
          };
        if (groups.has(name)) return { status: 409, body: errorBody(`A property group named '${name}' already exists.`, 'OBJECT_ALREADY_EXISTS') };
        const group = { name, label, displayOrder: typeof post.displayOrder === 'number' ? post.displayOrder : -1, archived: false };
        groups.set(name, group);
        return { status: 201, body: group };
      }
    }
    if (path === '/crm/v3/properties/companies') {
      if (method === 'GET') return { status: 200, body: { results: [...properties.values()].map(propertyView) } };
      if (post) return createProperty(post);
    }
    return undefined;
  }

  return {
    route,
    companies: () => companies,
    associations: () => associations,
    create(values) {
      const company = newCompany(Date.now());
      write(company, values, Date.now());
      return company.id;
    },
    refuse(id) {
      refused = id;
    },
  };
}
