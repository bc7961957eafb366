/**
 * The HubSpot adapter's batch upsert (`POST /crm/v3/objects/contacts/batch/upsert`, keyed by e-mail), and
 * what it does when HubSpot refuses the call: docs/providers/hubspot.md and docs/crm-delivery.md.
 *
 * HubSpot does not support partial upserts with `email` as the `idProperty`: one invalid row fails the
 * whole call with a 400 that may name no row. So a refused call is split in halves, each sent again, until
 * the refused row stands alone: only it is dead-lettered, every other row is delivered. Each round halves
 * the rows, so a row is isolated within ⌈log2 n⌉ rounds; one bad row of 100 costs 14 calls more (two
 * per round, 7 rounds), and the search stops after {@link bisectBudget} calls, handing the rows it could
 * not clear back to be retried. A 429 (or 5xx) during the search stops it: the rows not yet delivered
 * fail with that error (and its Retry-After), the ones delivered stay delivered.
 *
 * Results are matched to rows by `objectWriteTraceId` (each input carries one; HubSpot's answer repeats
 * it), never by the e-mail in the answer: HubSpot answers a contact found by an additional e-mail under
 * its primary one.
 */
import type { DeliveryReceipt } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';
import type { HubSpotAnswer, HubSpotErrorBody } from './hubspot-answers.ts';
import { asErrorBody, errorIds, missingProperties, optionSuspects, refusesLifecycle, rowRejection } from './hubspot-answers.ts';

/** One contact to upsert. */
export interface UpsertRow {
  /** The record's place in the caller's batch. */
  index: number;
  /** The lower-cased e-mail the contact is keyed by (also sent as the `email` property). */
  email: string;
  /** Unique within one call: the key HubSpot's answer is matched by. */
  traceId: string;
  properties: Record<string, string>;
  /** What the adapter chose not to write, for the receipt. */
  notes: string[];
  /** The record's names, addresses and numbers, redacted from any message that quotes HubSpot. */
  known: string[];
}

export type RowOutcome = { ok: true; receipt: DeliveryReceipt } | { ok: false; error: CrmDeliveryError };

/**
 * Most calls one upsert may cost: the first, then four per halving round (⌈log2 n⌉ rounds), enough to
 * isolate two refused rows anywhere among n; at least three, so a lone row refused for its lifecycle stage
 * can be sent again without it.
 */
export function bisectBudget(rows: number): number {
  return 1 + Math.max(2, 4 * Math.ceil(Math.log2(Math.max(rows, 1))));
}

/** Sends one batch/upsert call with these rows: throws {@link CrmDeliveryError} unless HubSpot answered 200, 207 or 400. */
export type SendUpsert = (rows: readonly UpsertRow[]) => Promise<HubSpotAnswer>;

/** A call-level failure for a 400 that is about the call itself (a property that does not exist). */
export type CallFailure = (answer: HubSpotAnswer, rows: readonly UpsertRow[]) => CrmDeliveryError;

interface UpsertResult {
  id?: unknown;
  new?: unknown;
  objectWriteTraceId?: unknown;
  properties?: Record<string, unknown>;
}

/** The custom stage (a number) in words; a default stage as its internal name. */
export const stageWord = (stage: string) => (/^\d+$/.test(stage) ? `custom stage ${stage}` : stage);

/** The receipt of a row HubSpot wrote, saying what it holds where it kept another value than the one sent. */
function receiptOf(row: UpsertRow, result: UpsertResult, status: number): DeliveryReceipt {
  const notes = [...row.notes];
  const held = (name: string) => (typeof result.properties?.[name] === 'string' ? (result.properties[name] as string) : undefined);
  const stage = held('lifecyclestage');
  const sentStage = row.properties.lifecyclestage;
  // HubSpot drops a backward stage without an error: what it answers is what the contact holds.
  if (sentStage !== undefined && stage !== undefined && stage !== sentStage)
    notes.push(`HubSpot kept ${stageWord(stage)} (lifecyclestage not moved back to ${sentStage})`);
  const status_ = held('hs_lead_status');
  const sentStatus = row.properties.hs_lead_status;
  if (sentStatus !== undefined && status_ !== undefined && status_ !== sentStatus) notes.push(`HubSpot kept hs_lead_status ${status_} (not ${sentStatus})`);
  const email = held('email')?.trim().toLowerCase();
  if (email !== undefined && email !== row.email) notes.push("upserted by one of the contact's additional e-mail addresses (HubSpot keeps its primary one)");
  return {
    status,
    ...(typeof result.id === 'string' ? { externalId: result.id } : {}),
    ...(typeof result.new === 'boolean' ? { created: result.new } : {}),
    ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
  };
}

/**
 * Upserts the rows in as few calls as HubSpot allows (see the file's comment); one outcome per row.
 * @throws CrmDeliveryError when the first call fails as a whole (429, 5xx, network, 401/403, a property
 *   that does not exist): it applies to every row, as before any search.
 */
export async function upsertRows(
  rows: readonly UpsertRow[],
  send: SendUpsert,
  callFailure: CallFailure,
): Promise<{ outcomes: Map<number, RowOutcome>; calls: number }> {
  const outcomes = new Map<number, RowOutcome>();
  const budget = bisectBudget(rows.length);
  const queue: UpsertRow[][] = rows.length > 0 ? [[...rows]] : [];
  /** Rows already sent again without the lifecycle stage HubSpot refused for them. */
  const withoutStage = new Set<number>();
  let calls = 0;
  let stop: CrmDeliveryError | undefined;
  const fail = (segment: readonly UpsertRow[], error: CrmDeliveryError) => {
    for (const row of segment) outcomes.set(row.index, { ok: false, error });
  };

  /** A row HubSpot refused: sent again once without `lifecyclestage` when that was the reason, else rejected. */
  const refuse = (row: UpsertRow, error: HubSpotErrorBody, how?: string) => {
    if (refusesLifecycle(error) && row.properties.lifecyclestage !== undefined && !withoutStage.has(row.index)) {
      withoutStage.add(row.index);
      delete row.properties.lifecyclestage;
      row.notes.push('lifecyclestage not written: HubSpot refused it (the contact moved on since it was read)');
      queue.push([row]);
      return;
    }
    outcomes.set(row.index, { ok: false, error: rowRejection(error, row.known, how) });
  };

  while (queue.length > 0) {
    const segment = queue.shift()!;
    if (stop) {
      fail(segment, stop);
      continue;
    }
    if (calls >= budget) {
      fail(
        segment,
        new CrmDeliveryError(
          `HubSpot refused a batch holding this record (400 naming no row) and ${calls} calls did not single out the refused row; will retry`,
          { status: 400, retryable: true, kind: 'unavailable' },
        ),
      );
      continue;
    }
    calls += 1;
    let answer: HubSpotAnswer;
    try {
      answer = await send(segment);
    } catch (error) {
      if (!(error instanceof CrmDeliveryError) || calls === 1) throw error;
      // A 429 or an outage in the middle of the search: what is delivered stays delivered, the rest waits.
      stop = error;
      fail(segment, error);
      continue;
    }

    if (answer.status === 400) {
      const body = asErrorBody(answer.json);
      const ids = errorIds(body);
      const named = segment.filter((row) => ids.includes(row.email));
      if (named.length > 0) {
        for (const row of named) refuse(row, body);
        const rest = segment.filter((row) => !named.includes(row));
        if (rest.length > 0) queue.push(rest);
        continue;
      }
      if (missingProperties(body).length > 0) {
        // About the call, not a row: every row sends the mql_* properties.
        const error = callFailure(answer, segment);
        if (calls === 1) throw error;
        fail(segment, error);
        continue;
      }
      const suspects = optionSuspects(body, segment);
      if (suspects) {
        for (const row of suspects) refuse(row, body);
        const rest = segment.filter((row) => !suspects.includes(row));
        if (rest.length > 0) queue.push(rest);
        continue;
      }
      if (segment.length === 1) {
        refuse(segment[0]!, body, rows.length > 1 ? 'refused this contact (singled out of a refused batch)' : undefined);
        continue;
      }
      const half = Math.ceil(segment.length / 2);
      queue.push(segment.slice(0, half), segment.slice(half));
      continue;
    }

    // 200, or 207 should HubSpot ever answer one for an e-mail-keyed upsert.
    const body = answer.json as { results?: unknown; errors?: unknown } | undefined;
    const byTrace = new Map(segment.map((row) => [row.traceId, row]));
    const byEmail = new Map(segment.map((row) => [row.email, row]));
    const settled = new Set<UpsertRow>();
    for (const result of Array.isArray(body?.results) ? (body.results as UpsertResult[]) : []) {
      const trace = typeof result?.objectWriteTraceId === 'string' ? byTrace.get(result.objectWriteTraceId) : undefined;
      const email = typeof result?.properties?.email === 'string' ? byEmail.get(result.properties.email.trim().toLowerCase()) : undefined;
      const row = trace ?? email;
      if (!row || settled.has(row)) continue;
      settled.add(row);
      outcomes.set(row.index, { ok: true, receipt: receiptOf(row, result, answer.status) });
    }
    for (const error of Array.isArray(body?.errors) ? (body.errors as unknown[]).map(asErrorBody) : []) {
      for (const id of errorIds(error)) {
        const row = byEmail.get(id);
        if (!row || settled.has(row)) continue;
        settled.add(row);
        refuse(row, error);
      }
    }
    for (const row of segment) {
      if (settled.has(row)) continue;
      outcomes.set(row.index, {
        ok: false,
        error: new CrmDeliveryError(`HubSpot contacts batch/upsert answered ${answer.status} without a result or an error for this record; will retry`, {
          status: answer.status,
          retryable: true,
          kind: 'unavailable',
        }),
      });
    }
  }
  return { outcomes, calls };
}
