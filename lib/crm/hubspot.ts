/**
 * `CRM_ADAPTER=hubspot`: handoffs become HubSpot contacts, upserted by e-mail in batch calls of up to
 * 100 (docs/providers/hubspot.md), with the score and its reasons in custom properties that `npx mql crm setup`
 * creates.
 *
 * One batch costs two calls: `batch/read` learns each contact's current `lifecyclestage` and
 * `hs_lead_status`, then `batch/upsert` writes. The read is what keeps the lifecycle forward-only:
 * HubSpot's docs say a stage "can only move forward" without saying whether a backward write errors or
 * is silently dropped (docs/providers/hubspot.md), so the adapter never sends one. A contact sales moved to a later stage
 * (or to a custom stage whose place we cannot know) keeps it; the receipt's note says so.
 */
import { describeNetworkError, quoted } from '../http/outbound.ts';
import type { CrmAdapter, DeliveryReceipt, DeliveryResult, HandoffRecord } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';
import type { HubSpotAnswer, HubSpotErrorBody } from './hubspot-answers.ts';
import { asErrorBody, errorIds, hubSpotFailure, readJson, refusesLifecycle, rowRejection } from './hubspot-answers.ts';
import type { HubSpotAdapterOptions, HubSpotLeadStatuses } from './hubspot-properties.ts';
import { hubSpotDefaultBaseUrl, hubSpotDefaultLeadStatuses, hubSpotMaxBatch, hubSpotMaxText, mqlStage, stagesBeforeMql } from './hubspot-properties.ts';

/** The e-mail HubSpot keys the contact on: the profile's, else the lead id when it is one. */
export function hubSpotEmail(record: HandoffRecord): string | undefined {
  const candidates = [record.lead?.email, record.leadId];
  for (const candidate of candidates) {
    if (typeof candidate !== 'string') continue;
    const email = candidate.trim().toLowerCase();
    if (/^[^\s@:]+@[^\s@]+\.[^\s@]+$/.test(email)) return email;
  }
  return undefined;
}

const typeLabel: Record<HandoffRecord['type'], string> = { 'lead.mql': 'MQL', 'lead.recycled': 'Recycled', 'lead.disqualified': 'Disqualified' };

/**
 * The score's explanation as readable text for `mql_reasons`: the score line, then one line per rule
 * with its whole points (they add up to the total), the strongest first; cut to HubSpot's 65,536
 * characters with a count of what was left out.
 */
export function formatHubSpotReasons(record: HandoffRecord, limit = hubSpotMaxText): string {
  const { score } = record;
  const head = `${typeLabel[record.type]} ${record.occurredAt}: score ${score.total} = fit ${score.fit} + behavior ${score.behavior} (MQL at ${score.threshold}), model ${score.modelVersion}`;
  const reasons = [...record.reasons].sort((a, b) => Math.abs(b.points ?? b.pointsNow) - Math.abs(a.points ?? a.pointsNow));
  const lines = reasons.map((reason) => {
    const points = reason.points ?? Math.round(reason.pointsNow);
    const detail = [reason.kind.replace('_', ' '), reason.count > 1 ? `${reason.count}x` : '', reason.lastSeen ? `last ${reason.lastSeen.slice(0, 10)}` : '']
      .filter(Boolean)
      .join(', ');
    return `${points >= 0 ? '+' : ''}${points} ${reason.description || reason.rule} (${detail})`;
  });
  let text = head;
  for (const [index, line] of lines.entries()) {
    const left = lines.length - index;
    const tail = `\n... ${left} more reason(s) left out`;
    if (text.length + 1 + line.length + (left > 1 ? tail.length : 0) > limit) {
      text = `${text}${tail}`.slice(0, limit);
      return text;
    }
    text += `\n${line}`;
  }
  return text.slice(0, limit);
}

interface CurrentContact {
  lifecyclestage: string;
  leadStatus: string;
}

interface PlannedInput {
  index: number;
  email: string;
  properties: Record<string, string>;
  notes: string[];
}

/** The properties one record writes, and what it chose not to write (the receipt's note). */
function plan(
  record: HandoffRecord,
  current: CurrentContact | undefined,
  statuses: HubSpotLeadStatuses,
): { properties: Record<string, string>; notes: string[] } {
  const properties: Record<string, string> = {};
  const notes: string[] = [];
  const profile = record.lead ?? {};
  const basics: [string, unknown][] = [
    ['firstname', profile.firstName],
    ['lastname', profile.lastName],
    ['company', profile.company],
    ['jobtitle', profile.jobTitle],
    ['phone', profile.phone],
  ];
  for (const [name, value] of basics) if (typeof value === 'string' && value.trim() !== '') properties[name] = value.trim();
  properties.mql_score = String(record.score.total);
  properties.mql_fit_score = String(record.score.fit);
  properties.mql_behavior_score = String(record.score.behavior);
  properties.mql_reasons = formatHubSpotReasons(record);
  properties.mql_model_version = record.score.modelVersion;

  const stage = current?.lifecyclestage ?? '';
  const leadStatus = current?.leadStatus ?? '';
  const ours = new Set([statuses.mql, statuses.recycled, statuses.disqualified].filter((value): value is string => value !== undefined));
  const beyondMql = !stagesBeforeMql.has(stage) && stage !== mqlStage;
  const stageWord = /^\d+$/.test(stage) ? `custom stage ${stage}` : stage;
  if (record.type === 'lead.mql') {
    const at = Date.parse(record.occurredAt);
    if (!Number.isNaN(at)) properties.mql_qualified_at = String(at);
    if (stagesBeforeMql.has(stage)) properties.lifecyclestage = mqlStage;
    else if (beyondMql) notes.push(`lifecyclestage kept at ${stageWord}: never moved back`);
    if (statuses.mql !== undefined && !beyondMql && (leadStatus === '' || (ours.has(leadStatus) && leadStatus !== statuses.mql)))
      properties.hs_lead_status = statuses.mql;
  } else {
    const status = record.type === 'lead.recycled' ? statuses.recycled : statuses.disqualified;
    if (status !== undefined) {
      if (beyondMql) notes.push(`hs_lead_status not set to ${status}: the contact is at ${stageWord}, past MQL`);
      else if (record.type === 'lead.recycled' && leadStatus !== '' && !ours.has(leadStatus))
        notes.push(`hs_lead_status kept at ${leadStatus}: set by sales, not by the engine`);
      else properties.hs_lead_status = status;
    }
  }
  return { properties, notes };
}

/**
 * A {@link CrmAdapter} for HubSpot (see the file's comment). Whole-call failures throw
 * {@link CrmDeliveryError}; row failures come back as that row's result. It never waits itself: a 429
 * is handed to the handoff with the seconds HubSpot asked for.
 */
export function hubSpotAdapter(options: HubSpotAdapterOptions): CrmAdapter {
  const baseUrl = (options.baseUrl ?? hubSpotDefaultBaseUrl).replace(/\/+$/, '');
  const send = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const statuses: HubSpotLeadStatuses = { ...hubSpotDefaultLeadStatuses, ...options.leadStatuses };
  const timeZone = options.timeZone ?? 'UTC';

  async function call(path: string, body: unknown, action: string, now: Date): Promise<HubSpotAnswer> {
    let response: Response;
    try {
      response = await send(`${baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'mql-engine' },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new CrmDeliveryError(`HubSpot ${action} ${describeNetworkError(error, timeoutMs)}; will retry`, {
        retryable: true,
        kind: 'unavailable',
        cause: error,
      });
    }
    const { text, json } = await readJson(response);
    const answer = { status: response.status, headers: response.headers, text, json };
    if (response.status !== 200 && response.status !== 207 && response.status !== 400) throw hubSpotFailure(answer, now, action, timeZone);
    return answer;
  }

  /** Current lifecycle stage and lead status per e-mail (absent: no contact yet). */
  async function readCurrent(emails: string[], now: Date): Promise<Map<string, CurrentContact>> {
    const answer = await call(
      '/crm/v3/objects/contacts/batch/read',
      { idProperty: 'email', properties: ['email', 'lifecyclestage', 'hs_lead_status'], inputs: emails.map((id) => ({ id })) },
      'contacts batch/read',
      now,
    );
    if (answer.status === 400) throw hubSpotFailure(answer, now, 'contacts batch/read', timeZone);
    const current = new Map<string, CurrentContact>();
    const results = (answer.json as { results?: unknown })?.results;
    if (!Array.isArray(results))
      throw new CrmDeliveryError(`HubSpot contacts batch/read answered ${answer.status} without results; will retry${quoted(answer.text)}`, {
        status: answer.status,
        retryable: true,
        kind: 'unavailable',
      });
    for (const result of results as { properties?: Record<string, unknown> }[]) {
      const properties = result?.properties ?? {};
      const email = typeof properties.email === 'string' ? properties.email.trim().toLowerCase() : undefined;
      if (!email) continue;
      const text = (value: unknown) => (typeof value === 'string' ? value : '');
      current.set(email, { lifecyclestage: text(properties.lifecyclestage), leadStatus: text(properties.hs_lead_status) });
    }
    return current;
  }

  async function deliverBatch(records: readonly HandoffRecord[], now: Date): Promise<DeliveryResult[]> {
    const results: (DeliveryResult | undefined)[] = records.map(() => undefined);
    const sendable: { index: number; email: string }[] = [];
    for (const [index, record] of records.entries()) {
      const email = hubSpotEmail(record);
      if (email) sendable.push({ index, email });
      else {
        results[index] = {
          ok: false,
          error: new CrmDeliveryError(
            `HubSpot upserts contacts by e-mail and lead ${record.leadId ?? '(no id)'} has none yet: not sent. Its next handoff after an e-mail arrives (a merge keeps the history) reaches HubSpot; to have it now, create the contact in HubSpot by hand`,
            { retryable: false, kind: 'rejected' },
          ),
        };
      }
    }
    // The caller passes at most maxBatch records of distinct leads; a longer list, or two records for
    // one e-mail (HubSpot refuses a batch with duplicate ids as a whole), still go out in valid calls.
    const chunks: { index: number; email: string }[][] = [];
    for (const entry of sendable) {
      const chunk = chunks.find((candidate) => candidate.length < hubSpotMaxBatch && !candidate.some((other) => other.email === entry.email));
      if (chunk) chunk.push(entry);
      else chunks.push([entry]);
    }
    for (const chunk of chunks) await deliverChunk(records, chunk, results, now);
    return results.map(
      (result) =>
        result ?? {
          ok: false,
          error: new CrmDeliveryError('HubSpot adapter produced no result for this record; will retry', { retryable: true, kind: 'unavailable' }),
        },
    );
  }

  async function deliverChunk(
    records: readonly HandoffRecord[],
    chunk: { index: number; email: string }[],
    results: (DeliveryResult | undefined)[],
    now: Date,
  ): Promise<void> {
    let calls = 1;
    const current = await readCurrent(
      chunk.map((entry) => entry.email),
      now,
    );
    let pending: PlannedInput[] = chunk.map(({ index, email }) => ({ index, email, ...plan(records[index]!, current.get(email), statuses) }));
    const receipts = new Map<number, DeliveryReceipt>();
    const failures = new Map<number, CrmDeliveryError>();
    // At most a few rounds: each resends only rows HubSpot did not name, or a row without the
    // lifecyclestage it refused (sales moved the contact on between our read and our write).
    for (let round = 0; round < 4 && pending.length > 0; round += 1) {
      const byEmail = new Map(pending.map((input) => [input.email, input]));
      calls += 1;
      const answer = await call(
        '/crm/v3/objects/contacts/batch/upsert',
        { inputs: pending.map((input) => ({ idProperty: 'email', id: input.email, properties: input.properties })) },
        'contacts batch/upsert',
        now,
      );
      const retry: PlannedInput[] = [];
      const settled = new Set<string>();
      const rowErrors: HubSpotErrorBody[] = [];
      if (answer.status === 400) {
        const body = asErrorBody(answer.json);
        const named = errorIds(body).filter((id) => byEmail.has(id));
        // A refusal that names no row of ours is about the call itself (a property that does not exist).
        if (named.length === 0) throw hubSpotFailure(answer, now, 'contacts batch/upsert', timeZone);
        rowErrors.push(body);
      } else {
        const body = answer.json as { results?: unknown; errors?: unknown };
        for (const result of Array.isArray(body?.results) ? (body.results as { id?: unknown; new?: unknown; properties?: Record<string, unknown> }[]) : []) {
          const email = typeof result?.properties?.email === 'string' ? result.properties.email.trim().toLowerCase() : undefined;
          const input = email ? byEmail.get(email) : undefined;
          if (!input || settled.has(input.email)) continue;
          settled.add(input.email);
          receipts.set(input.index, {
            status: answer.status,
            ...(typeof result.id === 'string' ? { externalId: result.id } : {}),
            ...(typeof result.new === 'boolean' ? { created: result.new } : {}),
            ...(input.notes.length > 0 ? { note: input.notes.join('; ') } : {}),
          });
        }
        if (Array.isArray(body?.errors)) rowErrors.push(...(body.errors as unknown[]).map(asErrorBody));
      }
      for (const error of rowErrors) {
        for (const id of errorIds(error)) {
          const input = byEmail.get(id);
          if (!input || settled.has(id)) continue;
          settled.add(id);
          if (refusesLifecycle(error) && input.properties.lifecyclestage !== undefined) {
            delete input.properties.lifecyclestage;
            input.notes.push('lifecyclestage not written: HubSpot refused it (the contact moved on since it was read)');
            retry.push(input);
          } else failures.set(input.index, rowRejection(error, input.email));
        }
      }
      if (answer.status === 400) {
        // The rows HubSpot did not name were not written: send them again without the refused ones.
        for (const input of pending) if (!settled.has(input.email)) retry.push(input);
      } else {
        for (const input of pending) {
          if (settled.has(input.email)) continue;
          failures.set(
            input.index,
            new CrmDeliveryError(`HubSpot contacts batch/upsert answered ${answer.status} without a result or an error for ${input.email}; will retry`, {
              status: answer.status,
              retryable: true,
              kind: 'unavailable',
            }),
          );
        }
      }
      pending = retry;
    }
    for (const input of pending) {
      failures.set(
        input.index,
        new CrmDeliveryError(`HubSpot kept refusing the batch around ${input.email}; will retry`, { retryable: true, kind: 'unavailable' }),
      );
    }
    const share = Math.round((calls / chunk.length) * 1000) / 1000;
    for (const { index } of chunk) {
      const receipt = receipts.get(index);
      const error = failures.get(index);
      if (receipt && !error) results[index] = { ok: true, receipt: { ...receipt, calls: share } };
      else
        results[index] = {
          ok: false,
          error: error ?? new CrmDeliveryError('HubSpot gave no answer for this record; will retry', { retryable: true, kind: 'unavailable' }),
        };
    }
  }

  return {
    name: 'hubspot',
    maxBatch: hubSpotMaxBatch,
    deliverBatch,
    async deliver(record: HandoffRecord, now: Date): Promise<DeliveryReceipt> {
      const [result] = await deliverBatch([record], now);
      if (!result) throw new CrmDeliveryError('HubSpot adapter produced no result; will retry', { retryable: true, kind: 'unavailable' });
      if (!result.ok) throw result.error;
      return result.receipt;
    },
  };
}
