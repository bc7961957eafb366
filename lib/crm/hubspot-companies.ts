/**
 * Account handoffs in HubSpot (docs/providers/hubspot.md, "Companies"; docs/crm-delivery.md): each account is a
 * company keyed by the unique custom property `mql_account_key` (HubSpot's `domain` cannot key an upsert: it is
 * not a unique property), with its score, status and reasons in `mql_account_*` properties, associated with the
 * contacts of its members that were already handed off.
 *
 * For up to 100 account records, at most five calls:
 * 1. `companies/batch/read` by `mql_account_key`: the companies the accounts already have (207 names the others);
 * 2. `companies/search`, `domain IN (...)`, for the accounts without one that have a domain: a company sales (or
 *    HubSpot's own capture) created for that domain is taken over, the oldest first, rather than duplicated;
 * 3. `companies/batch/update` by record id for every company found: the `mql_account_*` properties (and the key
 *    on a company found by its domain), never its name;
 * 4. `companies/batch/upsert` by `mql_account_key` for the rest: created with the key, the domain and a name (the
 *    account's, else its domain or group id); two deliveries of one new account converge on one company;
 * 5. `associations/companies/contacts/batch/associate/default` (v4): company <-> each member's contact (HubSpot's
 *    default, unlabelled type). A contact that no longer exists is left out, said in the receipt's note.
 * Keyed by a custom unique property, HubSpot writes the rows it can and answers 207 with the others (unlike the
 * contacts' upsert by e-mail): a refused row is that record's failure alone. A 429 or 5xx fails the records not
 * yet written with its kind (and Retry-After); a retry finds their companies by key and updates them.
 */
import { quotedRedacted } from '../http/outbound.ts';
import type { AccountHandoffRecord, DeliveryContext, DeliveryReceipt, DeliveryResult } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';
import type { HubSpotAnswer } from './hubspot-answers.ts';
import { asErrorBody, errorIds, hubSpotFailure, missingProperties, rowRejection } from './hubspot-answers.ts';
import { hubSpotAccountKeyProperty, hubSpotAccountStatuses, hubSpotMaxText } from './hubspot-properties.ts';

/** One POST to HubSpot: the answer when it is 200, 207 or 400; otherwise throws the call's {@link CrmDeliveryError}. */
export type HubSpotCall = (path: string, body: unknown, action: string, known: string[]) => Promise<HubSpotAnswer>;

export interface AccountEntry {
  /** The record's place in the caller's batch. */
  index: number;
  record: AccountHandoffRecord;
  context?: DeliveryContext;
}

/** Most pairs one associations call carries (HubSpot's v4 batch limit is 2,000). */
const associationChunk = 1000;

/** The account's explanation as text for `mql_account_reasons`: the score line, then one line per reason, cut to HubSpot's limit. */
export function formatAccountReasons(record: AccountHandoffRecord, limit = hubSpotMaxText): string {
  const { score } = record;
  const label = record.type === 'account.mqa' ? 'MQA' : 'Recycled';
  const head = `${label} ${record.occurredAt}: score ${score.total} = fit ${score.fit} + engagement ${score.engagement} + breadth ${score.breadth} (MQA at ${score.threshold}, recycled below ${score.recycleBelow}; ${score.engagedMembers} engaged member(s)), model ${score.modelVersion}`;
  const lines = [...record.reasons]
    .sort((a, b) => Math.abs(b.points) - Math.abs(a.points))
    .map(
      (reason) =>
        `${reason.points >= 0 ? '+' : ''}${reason.points} ${reason.kind}: ${reason.description || reason.rule}${reason.member ? ` (${reason.member})` : ''}`,
    );
  if (record.missing.length > 0) lines.push(`missing: ${record.missing.join('; ')}`);
  let text = head;
  for (const [index, line] of lines.entries()) {
    const tail = `\n... ${lines.length - index} more line(s) left out`;
    if (text.length + 1 + line.length + tail.length > limit) return `${text}${tail}`.slice(0, limit);
    text += `\n${line}`;
  }
  return text;
}

/** What a message quoting HubSpot about these records must not repeat: the members' ids and titles. */
function knownOf(records: readonly AccountHandoffRecord[]): string[] {
  return records.flatMap((record) => record.members.flatMap((member) => [member.leadId, member.jobTitle].filter((value): value is string => !!value)));
}

/** The `mql_account_*` properties of a record (what every write sends). */
function scoreProperties(record: AccountHandoffRecord): Record<string, string> {
  const properties: Record<string, string> = {
    mql_account_score: String(record.score.total),
    mql_account_status: hubSpotAccountStatuses[record.type],
    mql_account_reasons: formatAccountReasons(record),
  };
  const at = Date.parse(record.occurredAt);
  if (record.type === 'account.mqa' && !Number.isNaN(at)) properties.mql_account_qualified_at = String(at);
  return properties;
}

/** The properties a new company is created with: the key, the domain, a name, and the scores. */
function createProperties(record: AccountHandoffRecord): Record<string, string> {
  const name = record.account.name?.trim() || record.account.domain || record.account.groupId || record.accountKey;
  return {
    [hubSpotAccountKeyProperty]: record.accountKey,
    name: name.slice(0, 1000),
    ...(record.account.domain ? { domain: record.account.domain } : {}),
    ...scoreProperties(record),
  };
}

const resultsOf = (answer: HubSpotAnswer) => {
  const results = (answer.json as { results?: unknown })?.results;
  return Array.isArray(results) ? (results as { id?: unknown; new?: unknown; objectWriteTraceId?: unknown; properties?: Record<string, unknown> }[]) : [];
};
const errorsOf = (answer: HubSpotAnswer) => {
  const errors = (answer.json as { errors?: unknown })?.errors;
  return Array.isArray(errors) ? errors.map(asErrorBody) : [];
};

/**
 * Delivers the account records (see the file's comment): one result per entry's index. Never throws for a
 * HubSpot answer: a whole-call failure becomes the failure of every record it left unwritten.
 */
export async function deliverAccounts(entries: readonly AccountEntry[], call: HubSpotCall): Promise<Map<number, DeliveryResult>> {
  const results = new Map<number, DeliveryResult>();
  if (entries.length === 0) return results;
  const known = knownOf(entries.map((entry) => entry.record));
  const receipts = new Map<number, { companyId: string; created: boolean; notes: string[] }>();
  let calls = 0;
  const send = async (path: string, body: unknown, action: string) => {
    calls += 1;
    return call(path, body, action, known);
  };
  const refusedCall = (answer: HubSpotAnswer, action: string) => {
    if (missingProperties(asErrorBody(answer.json)).length > 0 || /non-unique|idProperty/i.test(answer.text)) {
      return new CrmDeliveryError(
        `HubSpot ${action} answered ${answer.status}: the company property ${hubSpotAccountKeyProperty} (unique) or another mql_account_* property does not exist in this HubSpot account; run \`npx mql crm setup\`, then redrive the DLQ`,
        { status: answer.status, retryable: false, kind: 'rejected' },
      );
    }
    return hubSpotFailure(answer, new Date(), action, 'UTC', known);
  };

  try {
    // 1. The companies the accounts have, by key.
    const read = await send(
      '/crm/v3/objects/companies/batch/read',
      {
        idProperty: hubSpotAccountKeyProperty,
        properties: [hubSpotAccountKeyProperty, 'domain'],
        inputs: entries.map((entry) => ({ id: entry.record.accountKey })),
      },
      'companies batch/read',
    );
    if (read.status === 400) throw refusedCall(read, 'companies batch/read');
    const byKey = new Map<string, string>();
    for (const result of resultsOf(read)) {
      const key = result.properties?.[hubSpotAccountKeyProperty];
      if (typeof key === 'string' && typeof result.id === 'string') byKey.set(key, result.id);
    }
    const found = new Map<number, { companyId: string; byDomain: boolean }>();
    for (const entry of entries) {
      const id = byKey.get(entry.record.accountKey);
      if (id) found.set(entry.index, { companyId: id, byDomain: false });
    }

    // 2. A company of the same domain not yet keyed: taken over (the oldest), not duplicated.
    const domains = [
      ...new Set(entries.filter((entry) => !found.has(entry.index) && entry.record.account.domain).map((entry) => entry.record.account.domain!)),
    ];
    if (domains.length > 0) {
      const search = await send(
        '/crm/v3/objects/companies/search',
        {
          filterGroups: [{ filters: [{ propertyName: 'domain', operator: 'IN', values: domains }] }],
          properties: ['domain', hubSpotAccountKeyProperty, 'createdate'],
          sorts: [{ propertyName: 'createdate', direction: 'ASCENDING' }],
          limit: 200,
        },
        'companies search',
      );
      if (search.status === 400) throw refusedCall(search, 'companies search');
      const byDomain = new Map<string, string>();
      for (const result of resultsOf(search)) {
        const domain = typeof result.properties?.domain === 'string' ? result.properties.domain.trim().toLowerCase() : '';
        const keyed = result.properties?.[hubSpotAccountKeyProperty];
        // A company already keyed is another account's (a group with that website): left alone.
        if (!domain || (typeof keyed === 'string' && keyed !== '') || typeof result.id !== 'string' || byDomain.has(domain)) continue;
        byDomain.set(domain, result.id);
      }
      const taken = new Set<string>();
      for (const entry of entries) {
        const domain = entry.record.account.domain;
        const id = domain ? byDomain.get(domain) : undefined;
        if (found.has(entry.index) || !id || taken.has(id)) continue;
        taken.add(id);
        found.set(entry.index, { companyId: id, byDomain: true });
      }
    }

    // 3. Companies that exist: their scores (and the key, for one found by its domain).
    const updates = entries.filter((entry) => found.has(entry.index));
    if (updates.length > 0) {
      const answer = await send(
        '/crm/v3/objects/companies/batch/update',
        {
          inputs: updates.map((entry) => {
            const { companyId, byDomain } = found.get(entry.index)!;
            return {
              id: companyId,
              objectWriteTraceId: entry.record.id,
              properties: { ...scoreProperties(entry.record), ...(byDomain ? { [hubSpotAccountKeyProperty]: entry.record.accountKey } : {}) },
            };
          }),
        },
        'companies batch/update',
      );
      if (answer.status === 400) throw refusedCall(answer, 'companies batch/update');
      const byCompany = new Map(updates.map((entry) => [found.get(entry.index)!.companyId, entry]));
      for (const result of resultsOf(answer)) {
        const entry = typeof result.id === 'string' ? byCompany.get(result.id) : undefined;
        if (!entry) continue;
        const { companyId, byDomain } = found.get(entry.index)!;
        const notes = byDomain ? [`took over the existing company of ${entry.record.account.domain} (${companyId}), found by its domain`] : [];
        receipts.set(entry.index, { companyId, created: false, notes });
      }
      for (const error of errorsOf(answer)) {
        for (const id of errorIds(error)) {
          const entry = byCompany.get(id);
          if (entry && !receipts.has(entry.index))
            results.set(entry.index, {
              ok: false,
              error:
                error.category === 'OBJECT_NOT_FOUND'
                  ? new CrmDeliveryError('HubSpot: the company was deleted between its read and its update; will retry', {
                      status: 207,
                      retryable: true,
                      kind: 'unavailable',
                    })
                  : rowRejection(error, known, 'refused this company'),
            });
        }
      }
    }

    // 4. Companies to create, keyed by the account.
    const creates = entries.filter((entry) => !found.has(entry.index));
    if (creates.length > 0) {
      const answer = await send(
        '/crm/v3/objects/companies/batch/upsert',
        {
          inputs: creates.map((entry) => ({
            idProperty: hubSpotAccountKeyProperty,
            id: entry.record.accountKey,
            objectWriteTraceId: entry.record.id,
            properties: createProperties(entry.record),
          })),
        },
        'companies batch/upsert',
      );
      if (answer.status === 400) throw refusedCall(answer, 'companies batch/upsert');
      const byTrace = new Map(creates.map((entry) => [entry.record.id, entry]));
      const byAccount = new Map(creates.map((entry) => [entry.record.accountKey.toLowerCase(), entry]));
      for (const result of resultsOf(answer)) {
        const entry = typeof result.objectWriteTraceId === 'string' ? byTrace.get(result.objectWriteTraceId) : undefined;
        if (!entry || typeof result.id !== 'string') continue;
        receipts.set(entry.index, { companyId: result.id, created: result.new === true, notes: [] });
      }
      for (const error of errorsOf(answer)) {
        for (const id of errorIds(error)) {
          const entry = byAccount.get(id);
          if (entry && !receipts.has(entry.index)) results.set(entry.index, { ok: false, error: rowRejection(error, known, 'refused this company') });
        }
      }
    }

    // 5. Each written company with its members' contacts.
    const pairs: { index: number; companyId: string; contactId: string }[] = [];
    for (const entry of entries) {
      const receipt = receipts.get(entry.index);
      if (!receipt) continue;
      for (const contactId of new Set(entry.context?.memberCrmIds?.values() ?? [])) pairs.push({ index: entry.index, companyId: receipt.companyId, contactId });
    }
    const linked = new Map<number, number>();
    const missing = new Map<number, number>();
    for (let start = 0; start < pairs.length; start += associationChunk) {
      const chunk = pairs.slice(start, start + associationChunk);
      const answer = await send(
        '/crm/v4/associations/companies/contacts/batch/associate/default',
        { inputs: chunk.map((pair) => ({ from: { id: pair.companyId }, to: { id: pair.contactId } })) },
        'associations batch/associate/default',
      );
      if (answer.status === 400) throw hubSpotFailure(answer, new Date(), 'associations batch/associate/default', 'UTC', known);
      const done = new Set(
        resultsOf(answer as HubSpotAnswer).map((result) => {
          const { from, to } = result as unknown as { from?: { id?: unknown }; to?: { id?: unknown } };
          return `${String(from?.id)}>${String(to?.id)}`;
        }),
      );
      for (const pair of chunk) {
        const counts = done.has(`${pair.companyId}>${pair.contactId}`) ? linked : missing;
        counts.set(pair.index, (counts.get(pair.index) ?? 0) + 1);
      }
    }

    const share = Math.round((calls / entries.length) * 1000) / 1000;
    for (const entry of entries) {
      const receipt = receipts.get(entry.index);
      if (!receipt) {
        if (!results.has(entry.index))
          results.set(entry.index, {
            ok: false,
            error: new CrmDeliveryError('HubSpot answered without a result or an error for this company; will retry', { retryable: true, kind: 'unavailable' }),
          });
        continue;
      }
      const notes = [...receipt.notes];
      const members = entry.context?.memberCrmIds?.size ?? 0;
      if (members > 0)
        notes.push(
          `associated with ${linked.get(entry.index) ?? 0} member contact(s)${missing.get(entry.index) ? `; ${missing.get(entry.index)} contact(s) not found` : ''}`,
        );
      const unlinked = entry.record.members.length - members;
      if (unlinked > 0) notes.push(`${unlinked} member(s) without a contact handed off to HubSpot yet: not associated`);
      const result: DeliveryReceipt = { status: 200, externalId: receipt.companyId, created: receipt.created, calls: share };
      if (notes.length > 0) result.note = notes.join('; ');
      results.set(entry.index, { ok: true, receipt: result });
    }
  } catch (error) {
    const failure =
      error instanceof CrmDeliveryError
        ? error
        : new CrmDeliveryError(`HubSpot account delivery failed: ${quotedRedacted((error as Error).message, known)}; will retry`, {
            retryable: true,
            kind: 'unavailable',
            cause: error,
          });
    // Every record without its result fails with the call's kind, also one whose company was written but
    // whose associations were not: a retry finds the company by its key and updates it (both are idempotent).
    for (const entry of entries) if (!results.has(entry.index)) results.set(entry.index, { ok: false, error: failure });
  }
  return results;
}
