/**
 * `CRM_ADAPTER=hubspot`: handoffs become HubSpot contacts, upserted by e-mail in batch calls of up to
 * 100 (docs/providers/hubspot.md), with the score and its reasons in custom properties that `npx mql crm setup`
 * creates.
 *
 * One batch costs two calls: `batch/read` learns each contact's current `lifecyclestage` and
 * `hs_lead_status`, then `batch/upsert` writes (./hubspot-upsert.ts: a refused batch is split until the
 * refused row stands alone). The read is what keeps the lifecycle forward-only: HubSpot silently keeps a
 * later stage when an earlier one is written (docs/providers/hubspot.md), so the adapter never sends one,
 * and when sales moves a contact on between the read and the write, the receipt says the stage HubSpot
 * kept rather than claiming an MQL. A contact sales moved to a later stage (or to a custom stage whose
 * place we cannot know) keeps it; the receipt's note says so.
 *
 * No message names the contact: errors and notes are logged, and the record's own fields say which lead.
 *
 * Account records (`account.mqa`, `account.recycled`) become companies keyed by `mql_account_key`, associated
 * with their members' contacts: ./hubspot-companies.ts. A batch may hold both; each kind goes its own way and
 * a failure of one kind's calls never fails the other's records.
 */
import { describeNetworkError, quotedRedacted } from '../http/outbound.ts';
import type { CrmAdapter, DeliveryContext, DeliveryReceipt, DeliveryResult, HandoffRecord, OutboundRecord } from './adapter.ts';
import { CrmDeliveryError, isAccountRecord } from './adapter.ts';
import type { HubSpotAnswer } from './hubspot-answers.ts';
import { hubSpotFailure, readJson } from './hubspot-answers.ts';
import type { AccountEntry } from './hubspot-companies.ts';
import { deliverAccounts } from './hubspot-companies.ts';
import type { HubSpotAdapterOptions, HubSpotLeadStatuses } from './hubspot-properties.ts';
import { hubSpotDefaultBaseUrl, hubSpotDefaultLeadStatuses, hubSpotMaxBatch, hubSpotMaxText, mqlStage, stagesBeforeMql } from './hubspot-properties.ts';
import type { UpsertRow } from './hubspot-upsert.ts';
import { stageWord, upsertRows } from './hubspot-upsert.ts';

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

/** A record's names, addresses and numbers: what a message quoting HubSpot must not repeat. */
function knownValues(record: HandoffRecord, email: string): string[] {
  const profile = record.lead ?? {};
  const names = [profile.firstName, profile.lastName].filter((value): value is string => typeof value === 'string');
  return [email, record.leadId, profile.email, profile.phone, ...names, names.join(' ')].filter(
    (value): value is string => typeof value === 'string' && value.trim() !== '',
  );
}

/** The properties one record writes, and what it chose not to write (the receipt's note). */
function plan(
  record: HandoffRecord,
  email: string,
  current: CurrentContact | undefined,
  statuses: HubSpotLeadStatuses,
): { properties: Record<string, string>; notes: string[] } {
  // The key again as a property, as HubSpot's own integrations send it: a contact created by the upsert
  // has its address whatever HubSpot echoes.
  const properties: Record<string, string> = { email };
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
  const stageName = stageWord(stage);
  if (record.type === 'lead.mql') {
    const at = Date.parse(record.occurredAt);
    if (!Number.isNaN(at)) properties.mql_qualified_at = String(at);
    if (stagesBeforeMql.has(stage)) properties.lifecyclestage = mqlStage;
    else if (beyondMql) notes.push(`lifecyclestage kept at ${stageName}: never moved back`);
    if (statuses.mql !== undefined && !beyondMql && (leadStatus === '' || (ours.has(leadStatus) && leadStatus !== statuses.mql)))
      properties.hs_lead_status = statuses.mql;
  } else {
    const status = record.type === 'lead.recycled' ? statuses.recycled : statuses.disqualified;
    if (status !== undefined) {
      if (beyondMql) notes.push(`hs_lead_status not set to ${status}: the contact is at ${stageName}, past MQL`);
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

  async function call(path: string, body: unknown, action: string, now: Date, known: string[]): Promise<HubSpotAnswer> {
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
    if (response.status !== 200 && response.status !== 207 && response.status !== 400) throw hubSpotFailure(answer, now, action, timeZone, known);
    return answer;
  }

  /**
   * Current lifecycle stage and lead status per e-mail (absent: no contact yet). A contact found by one of
   * its additional e-mails comes back under its primary one, so each is filed under every address it has.
   */
  async function readCurrent(emails: string[], now: Date, known: string[]): Promise<Map<string, CurrentContact>> {
    const answer = await call(
      '/crm/v3/objects/contacts/batch/read',
      { idProperty: 'email', properties: ['email', 'hs_additional_emails', 'lifecyclestage', 'hs_lead_status'], inputs: emails.map((id) => ({ id })) },
      'contacts batch/read',
      now,
      known,
    );
    if (answer.status === 400) throw hubSpotFailure(answer, now, 'contacts batch/read', timeZone, known);
    const current = new Map<string, CurrentContact>();
    const results = (answer.json as { results?: unknown })?.results;
    if (!Array.isArray(results))
      throw new CrmDeliveryError(`HubSpot contacts batch/read answered ${answer.status} without results; will retry${quotedRedacted(answer.text, known)}`, {
        status: answer.status,
        retryable: true,
        kind: 'unavailable',
      });
    const text = (value: unknown) => (typeof value === 'string' ? value : '');
    for (const result of results as { properties?: Record<string, unknown> }[]) {
      const properties = result?.properties ?? {};
      const addresses = [text(properties.email), ...text(properties.hs_additional_emails).split(';')]
        .map((email) => email.trim().toLowerCase())
        .filter(Boolean);
      const contact = { lifecyclestage: text(properties.lifecyclestage), leadStatus: text(properties.hs_lead_status) };
      for (const email of addresses) current.set(email, contact);
    }
    return current;
  }

  /** Leads' records and accounts' records, each their own way (see the file's comment); one result per record. */
  async function deliverBatch(records: readonly OutboundRecord[], now: Date, contexts?: readonly (DeliveryContext | undefined)[]): Promise<DeliveryResult[]> {
    const accounts: AccountEntry[] = [];
    const leads: { index: number; record: HandoffRecord }[] = [];
    for (const [index, record] of records.entries()) {
      if (isAccountRecord(record)) {
        const context = contexts?.[index];
        accounts.push({ index, record, ...(context ? { context } : {}) });
      } else leads.push({ index, record });
    }
    const results: DeliveryResult[] = records.map(() => ({
      ok: false,
      error: new CrmDeliveryError('HubSpot adapter produced no result for this record; will retry', { retryable: true, kind: 'unavailable' }),
    }));
    const [leadResults, accountResults] = await Promise.all([
      leads.length === 0
        ? []
        : deliverLeadBatch(
            leads.map((lead) => lead.record),
            now,
          ).catch((error: unknown) => {
            const failure =
              error instanceof CrmDeliveryError
                ? error
                : new CrmDeliveryError(`HubSpot delivery failed: ${(error as Error).message}; will retry`, {
                    retryable: true,
                    kind: 'unavailable',
                    cause: error,
                  });
            return leads.map((): DeliveryResult => ({ ok: false, error: failure }));
          }),
      deliverAccountWaves(accounts, now),
    ]);
    for (const [position, lead] of leads.entries()) results[lead.index] = leadResults[position]!;
    for (const [index, result] of accountResults) results[index] = result;
    return results;
  }

  /**
   * Account records in calls where each account appears once (HubSpot refuses a batch naming one id twice):
   * the handoff never passes two of one account, a direct caller may; those go in later calls, in order.
   */
  async function deliverAccountWaves(accounts: readonly AccountEntry[], now: Date): Promise<Map<number, DeliveryResult>> {
    const results = new Map<number, DeliveryResult>();
    let left = [...accounts];
    while (left.length > 0) {
      const keys = new Set<string>();
      const wave = left.filter((entry) => !keys.has(entry.record.accountKey) && keys.add(entry.record.accountKey));
      left = left.filter((entry) => !wave.includes(entry));
      for (const [index, result] of await deliverAccounts(wave, (path, body, action, known) => call(path, body, action, now, known)))
        results.set(index, result);
    }
    return results;
  }

  async function deliverLeadBatch(records: readonly HandoffRecord[], now: Date): Promise<DeliveryResult[]> {
    const results: (DeliveryResult | undefined)[] = records.map(() => undefined);
    const sendable: { index: number; email: string }[] = [];
    for (const [index, record] of records.entries()) {
      const email = hubSpotEmail(record);
      if (email) sendable.push({ index, email });
      else {
        results[index] = {
          ok: false,
          error: new CrmDeliveryError(
            'HubSpot upserts contacts by e-mail and this lead has none yet: not sent. Its next handoff after an e-mail arrives (a merge keeps the history) reaches HubSpot; to have it now, create the contact in HubSpot by hand',
            { retryable: false, kind: 'rejected' },
          ),
        };
      }
    }
    // The caller passes at most maxBatch records of distinct leads; a longer list, or two records for
    // one e-mail (HubSpot refuses a batch with duplicate ids as a whole) or one handoff id (the trace id
    // HubSpot's answer is matched by), still go out in valid calls.
    const chunks: { index: number; email: string }[][] = [];
    for (const entry of sendable) {
      const id = records[entry.index]!.id;
      const chunk = chunks.find(
        (candidate) => candidate.length < hubSpotMaxBatch && !candidate.some((other) => other.email === entry.email || records[other.index]!.id === id),
      );
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
    const known = chunk.flatMap(({ index, email }) => knownValues(records[index]!, email));
    const current = await readCurrent(
      chunk.map((entry) => entry.email),
      now,
      known,
    );
    const rows: UpsertRow[] = chunk.map(({ index, email }) => ({
      index,
      email,
      traceId: records[index]!.id,
      known: knownValues(records[index]!, email),
      ...plan(records[index]!, email, current.get(email), statuses),
    }));
    const { outcomes, calls } = await upsertRows(
      rows,
      (segment) =>
        call(
          '/crm/v3/objects/contacts/batch/upsert',
          {
            inputs: segment.map((row) => ({ idProperty: 'email', id: row.email, objectWriteTraceId: row.traceId, properties: row.properties })),
          },
          'contacts batch/upsert',
          now,
          segment.flatMap((row) => row.known),
        ),
      (answer, segment) =>
        hubSpotFailure(
          answer,
          now,
          'contacts batch/upsert',
          timeZone,
          segment.flatMap((row) => row.known),
        ),
    );
    // The read, then every upsert call, shared by the chunk's records (the calls-per-MQL figure).
    const share = Math.round(((1 + calls) / chunk.length) * 1000) / 1000;
    for (const { index } of chunk) {
      const outcome = outcomes.get(index);
      if (outcome?.ok) results[index] = { ok: true, receipt: { ...outcome.receipt, calls: share } };
      else
        results[index] = {
          ok: false,
          error: outcome?.error ?? new CrmDeliveryError('HubSpot gave no answer for this record; will retry', { retryable: true, kind: 'unavailable' }),
        };
    }
  }

  return {
    name: 'hubspot',
    maxBatch: hubSpotMaxBatch,
    linksMembers: true,
    deliverBatch,
    async deliver(record: OutboundRecord, now: Date, context?: DeliveryContext): Promise<DeliveryReceipt> {
      const [result] = await deliverBatch([record], now, [context]);
      if (!result) throw new CrmDeliveryError('HubSpot adapter produced no result; will retry', { retryable: true, kind: 'unavailable' });
      if (!result.ok) throw result.error;
      return result.receipt;
    },
  };
}
