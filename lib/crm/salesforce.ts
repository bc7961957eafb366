/**
 * `CRM_ADAPTER=salesforce`: each handoff upserts a Lead by an External ID field holding the lead's id
 * (docs/providers/salesforce.md), `PATCH /services/data/<v>/sobjects/Lead/<field>/<leadId>`, logged in with the
 * OAuth 2.0 client-credentials flow of a connected (or external client) app.
 *
 * Batches go through sObject Collections (`PATCH /composite/sobjects/Lead/<field>`, up to 200 records,
 * allOrNone=false, one result per row); the rows only the single-record resource handles well (several
 * matching Leads, which it answers 300 with their URLs; a create missing a required field) are sent
 * again through it.
 *
 * Account records (`account.mqa`, `account.recycled`) upsert an Account by its own External ID field, one
 * call each (two when it is created): ./salesforce-accounts.ts.
 */

import { handoffLeadId } from '../core/handoff.ts';
import type { CrmAdapter, DeliveryReceipt, DeliveryResult, HandoffRecord, OutboundRecord } from './adapter.ts';
import { CrmDeliveryError, isAccountRecord } from './adapter.ts';
import { deliverAccount } from './salesforce-accounts.ts';
import type { Answer, SalesforceClientOptions } from './salesforce-client.ts';
import { salesforceClient } from './salesforce-client.ts';
import type { SalesforceSettings } from './salesforce-fields.ts';
import { convertedNote, errorItems, salesforceFailure, salesforceKnownValues, salesforceLeadFields } from './salesforce-fields.ts';

export { resetSalesforceSessions } from './salesforce-client.ts';

/** Characters of url-encoded ids in one status query: with the rest of the URI, well under Salesforce's 16,384. */
const maxQueryIdsLength = 12_000;

/** Most records one sObject Collections request takes. */
const collectionLimit = 200;

/** What fills LastName or Company on a create when the lead did not say: Salesforce requires both. */
const placeholder = '[not provided]';

export type SalesforceAdapterOptions = SalesforceClientOptions;

/**
 * A {@link CrmAdapter} upserting Leads by external id (= the lead's id, so every retry lands on the
 * same Lead). Statuses: 201 created; 200 or 204 updated; everything else becomes a
 * {@link CrmDeliveryError} of the kind the handoff's retry policy needs, except a converted lead, which
 * is delivered with a note (see {@link deliver}).
 */
export function salesforceAdapter(settings: SalesforceSettings, options: SalesforceAdapterOptions = {}): CrmAdapter {
  const client = salesforceClient(settings, options);
  const { call } = client;

  const patch = (path: string, payload: unknown, tally: { calls: number }) => call('PATCH', path, payload, tally);

  /**
   * The Status and conversion of the Leads these lead ids name, in one SOQL query (a lead id absent
   * from the map has no Lead yet). Skipped (empty map) when every status may be replaced.
   * @throws CrmDeliveryError when the query fails as a whole.
   */
  async function currentLeads(
    leadIds: readonly string[],
    record: HandoffRecord,
    tally: { calls: number },
    now: Date,
  ): Promise<Map<string, { status: string | undefined; converted: boolean }>> {
    const found = new Map<string, { status: string | undefined; converted: boolean }>();
    if (settings.replaceableStatuses === 'any' || leadIds.length === 0) return found;
    const literal = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const select = `SELECT Id, Status, IsConverted, ${settings.externalIdField} FROM Lead WHERE ${settings.externalIdField} IN `;
    // A GET's URI must stay under Salesforce's 16,384 characters: long ids split the query in several.
    const chunks: string[][] = [[]];
    let length = 0;
    for (const leadId of leadIds) {
      const size = encodeURIComponent(`${literal(leadId)}, `).length;
      if (length + size > maxQueryIdsLength && chunks.at(-1)!.length > 0) {
        chunks.push([]);
        length = 0;
      }
      chunks.at(-1)!.push(leadId);
      length += size;
    }
    for (const chunk of chunks) {
      const soql = `${select}(${chunk.map(literal).join(', ')})`;
      const answer = await call('GET', `/services/data/${settings.apiVersion}/query?q=${encodeURIComponent(soql)}`, undefined, tally);
      const { response, body } = answer;
      if (response.status !== 200) {
        const outcome = salesforceFailure({ status: response.status, body, text: answer.text, headers: response.headers }, record, now, settings, [
          ...salesforceKnownValues(record),
          ...leadIds,
        ]);
        throw outcome instanceof CrmDeliveryError
          ? outcome
          : new CrmDeliveryError(`Salesforce answered the Lead query ${response.status}; will retry`, {
              status: response.status,
              retryable: true,
              kind: 'unavailable',
            });
      }
      const rows = (body as { records?: unknown } | undefined)?.records;
      if (!Array.isArray(rows))
        throw new CrmDeliveryError('Salesforce answered the Lead query without records; will retry', { status: 200, retryable: true, kind: 'unavailable' });
      for (const row of rows as Record<string, unknown>[]) {
        const key = row?.[settings.externalIdField];
        if (typeof key !== 'string') continue;
        const status = typeof row.Status === 'string' ? row.Status : undefined;
        // Several Leads with the id: the upsert answers 300 anyway; keep the first one's facts.
        if (!found.has(key)) found.set(key, { status, converted: row.IsConverted === true });
      }
    }
    return found;
  }

  /**
   * The type of the qualified-at field (`date` or `datetime`, from the Lead's describe, read once per
   * container) when these records write it; undefined when none does, or the org has no such field (the
   * upsert then names it INVALID_FIELD with the setting to change).
   */
  async function qualifiedAtType(records: readonly HandoffRecord[], record: HandoffRecord, tally: { calls: number }, now: Date): Promise<string | undefined> {
    const name = settings.fields.qualifiedAt;
    if (!name || !records.some((one) => one.type === 'lead.mql')) return undefined;
    const refused = (answer: Answer) => {
      const { status } = answer.response;
      const outcome = salesforceFailure({ status, body: answer.body, text: answer.text, headers: answer.response.headers }, record, now, settings);
      return outcome instanceof CrmDeliveryError
        ? outcome
        : new CrmDeliveryError(`Salesforce answered the Lead describe ${status}; will retry`, { status, retryable: true, kind: 'unavailable' });
    };
    return (await client.leadFields(tally, refused)).get(name)?.type;
  }

  /**
   * The fields to write given what the Lead is now: Status left out when sales moved it to a status
   * marketing does not own. A converted Lead gets nothing (undefined): Salesforce refuses any write to it.
   */
  function plan(
    record: HandoffRecord,
    current: { status: string | undefined; converted: boolean } | undefined,
    qualifiedAtType: string | undefined,
  ): { fields: Record<string, string | number>; note?: string } | undefined {
    if (current?.converted) return undefined;
    const fields = salesforceLeadFields(record, settings, qualifiedAtType);
    const replaceable = settings.replaceableStatuses;
    if (current?.status !== undefined && replaceable !== 'any' && !replaceable.includes(current.status) && current.status !== fields.Status) {
      delete fields.Status;
      return { fields, note: `Status kept at "${current.status}" (not in SALESFORCE_REPLACEABLE_STATUSES: sales owns it); scores written` };
    }
    return { fields };
  }

  /**
   * Upserts one record's Lead. On REQUIRED_FIELD_MISSING (a create without LastName or Company the
   * lead never gave) it retries once with "[not provided]" in those fields: only a create can miss
   * them, so a real value is never overwritten with the placeholder.
   */
  async function deliver(record: OutboundRecord, now: Date): Promise<DeliveryReceipt> {
    if (isAccountRecord(record)) return deliverAccount(record, now, settings, client);
    const leadId = handoffLeadId(record);
    if (!leadId) throw new CrmDeliveryError('handoff record has no lead id to upsert by', { retryable: false, kind: 'rejected' });
    const path = `/services/data/${settings.apiVersion}/sobjects/Lead/${encodeURIComponent(settings.externalIdField)}/${encodeURIComponent(leadId)}`;
    const tally = { calls: 0 };
    const current = await currentLeads([leadId], record, tally, now);
    const planned = plan(record, current.get(leadId), await qualifiedAtType([record], record, tally, now));
    if (!planned) return { status: 200, note: convertedNote(), calls: tally.calls };
    const { fields } = planned;
    let answer = await patch(path, fields, tally);
    const missing = errorItems(answer.body)
      .filter((item) => item.errorCode === 'REQUIRED_FIELD_MISSING')
      .flatMap((item) => item.fields ?? [])
      .filter((field) => (field === 'LastName' || field === 'Company') && !(field in fields));
    let filled: string[] = [];
    if (answer.response.status === 400 && missing.length > 0) {
      filled = [...new Set(missing)];
      answer = await patch(path, { ...fields, ...Object.fromEntries(filled.map((field) => [field, placeholder])) }, tally);
    }
    const { response, body } = answer;
    if (response.status === 200 || response.status === 201 || response.status === 204) {
      const result = (body ?? {}) as { id?: unknown; created?: unknown };
      const receipt: DeliveryReceipt = { status: response.status, created: response.status === 201 || result.created === true, calls: tally.calls };
      if (typeof result.id === 'string') receipt.externalId = result.id;
      const notes = [planned.note, filled.length > 0 ? `${filled.join(' and ')} not known: created with "${placeholder}"` : undefined].filter(Boolean);
      if (notes.length > 0) receipt.note = notes.join('; ');
      return receipt;
    }
    const outcome = salesforceFailure({ status: response.status, body, text: answer.text, headers: response.headers }, { ...record, leadId }, now, settings);
    if (outcome instanceof CrmDeliveryError) throw outcome;
    return { ...outcome, calls: tally.calls };
  }

  /**
   * Up to {@link collectionLimit} records in one sObject Collections upsert (allOrNone=false), one
   * result per record in order. A row that needs what only the single-record resource does goes
   * through {@link deliver}: several Leads matching (DUPLICATE_EXTERNAL_ID; the single upsert answers
   * 300 with their URLs) and a create missing LastName or Company (the placeholder retry).
   */
  async function deliverBatch(records: readonly OutboundRecord[], now: Date): Promise<DeliveryResult[]> {
    const results: (DeliveryResult | undefined)[] = records.map(() => undefined);
    const sent: { index: number; record: HandoffRecord; leadId: string }[] = [];
    const accounts = records.flatMap((record, index) => (isAccountRecord(record) ? [{ index, record }] : []));
    // Accounts one by one, beside the Leads' collection (rare: one per account transition).
    const accountResults = Promise.all(
      accounts.map(async ({ index, record }) => {
        try {
          results[index] = { ok: true, receipt: await deliverAccount(record, now, settings, client) };
        } catch (error) {
          results[index] = {
            ok: false,
            error:
              error instanceof CrmDeliveryError
                ? error
                : new CrmDeliveryError(`Salesforce Account upsert failed: ${(error as Error).message}; will retry`, {
                    retryable: true,
                    kind: 'unavailable',
                    cause: error,
                  }),
          };
        }
      }),
    );
    try {
      await deliverLeads(records, now, results, sent);
    } finally {
      await accountResults;
    }
    return results.map((result) => result!);
  }

  /** The Leads' records of a batch through one sObject Collections call (see {@link deliverBatch}). */
  async function deliverLeads(
    records: readonly OutboundRecord[],
    now: Date,
    results: (DeliveryResult | undefined)[],
    sent: { index: number; record: HandoffRecord; leadId: string }[],
  ): Promise<void> {
    records.forEach((record, index) => {
      if (isAccountRecord(record)) return;
      const leadId = handoffLeadId(record);
      if (leadId) sent.push({ index, record, leadId });
      else results[index] = { ok: false, error: new CrmDeliveryError('handoff record has no lead id to upsert by', { retryable: false, kind: 'rejected' }) };
    });
    const tally = { calls: 0 };
    const current =
      sent.length > 0
        ? await currentLeads(
            sent.map(({ leadId }) => leadId),
            sent[0]!.record,
            tally,
            now,
          )
        : new Map();
    const dateType =
      sent.length > 0
        ? await qualifiedAtType(
            sent.map((one) => one.record),
            sent[0]!.record,
            tally,
            now,
          )
        : undefined;
    const planned = new Map<number, { fields: Record<string, string | number>; note?: string }>();
    for (const { index, record, leadId } of sent) {
      const fields = plan(record, current.get(leadId), dateType);
      if (fields) planned.set(index, fields);
      else results[index] = { ok: true, receipt: { status: 200, note: convertedNote() } };
    }
    sent = sent.filter(({ index }) => planned.has(index));
    if (sent.length > 0) {
      const payload = {
        allOrNone: false,
        records: sent.map(({ index, leadId }) => ({ attributes: { type: 'Lead' }, [settings.externalIdField]: leadId, ...planned.get(index)!.fields })),
      };
      const answer = await patch(
        `/services/data/${settings.apiVersion}/composite/sobjects/Lead/${encodeURIComponent(settings.externalIdField)}`,
        payload,
        tally,
      );
      const { response, body } = answer;
      if (response.status !== 200) {
        const known = sent.flatMap(({ record }) => salesforceKnownValues(record));
        const outcome = salesforceFailure(
          { status: response.status, body, text: answer.text, headers: response.headers },
          sent[0]!.record,
          now,
          settings,
          known,
        );
        if (outcome instanceof CrmDeliveryError) throw outcome;
        throw new CrmDeliveryError(`Salesforce answered the collection ${response.status}; will retry`, {
          status: response.status,
          retryable: true,
          kind: 'unavailable',
        });
      }
      if (!Array.isArray(body) || body.length !== sent.length) {
        throw new CrmDeliveryError(
          `Salesforce answered the collection of ${sent.length} with ${Array.isArray(body) ? body.length : 'no'} results; will retry`,
          { status: 200, retryable: true, kind: 'unavailable' },
        );
      }
      const share = Math.round((tally.calls / sent.length) * 1000) / 1000;
      await Promise.all(
        sent.map(async ({ index, record, leadId }, row) => {
          const result = (body[row] ?? {}) as { id?: unknown; success?: unknown; created?: unknown; errors?: unknown };
          if (result.success === true) {
            const receipt: DeliveryReceipt = { status: result.created === true ? 201 : 200, created: result.created === true, calls: share };
            if (typeof result.id === 'string') receipt.externalId = result.id;
            const note = planned.get(index)?.note;
            if (note) receipt.note = note;
            results[index] = { ok: true, receipt };
            return;
          }
          const items = errorItems(result.errors);
          const codes = new Set(items.map((item) => item.errorCode));
          if (codes.has('DUPLICATE_EXTERNAL_ID') || codes.has('REQUIRED_FIELD_MISSING')) {
            try {
              const receipt = await deliver(record, now);
              results[index] = { ok: true, receipt: { ...receipt, calls: share + (receipt.calls ?? 0) } };
            } catch (error) {
              if (!(error instanceof CrmDeliveryError)) throw error;
              results[index] = { ok: false, error };
            }
            return;
          }
          const outcome = salesforceFailure({ status: 400, body: items, text: '' }, { ...record, leadId }, now, settings);
          results[index] = outcome instanceof CrmDeliveryError ? { ok: false, error: outcome } : { ok: true, receipt: { ...outcome, calls: share } };
        }),
      );
    }
  }

  // sObject Collections upsert exists from v46.0 on; before, one record per call.
  const collections = Number(settings.apiVersion.slice(1)) >= 46;
  return { name: 'salesforce', deliver, ...(collections ? { maxBatch: collectionLimit, deliverBatch } : {}) };
}
