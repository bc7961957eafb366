/**
 * `mql export <email>`: everything stored about a person as one JSON document (GDPR articles 15 and 20;
 * docs/data-protection.md, "Exporting a person"): the lead as `mql explain` shows it (profile, status,
 * score and every reason, outcome, handoffs), the stored lead item, every event with its raw payload
 * while it is kept, the sales outcomes, the handoffs with their attempts, the identities merged into the
 * lead, and every other item of a kind lib/store/personal-data.ts lists.
 */

import type { NormalizedEvent } from '../core/events.ts';
import type { ScoringModel } from '../core/model.ts';
import { outcomeTypes } from '../core/replay.ts';
import { leadOfItem } from '../store/lead-codec.ts';
import type { Item, Person } from '../store/personal-data.ts';
import { kindLabels } from '../store/personal-data.ts';
import { decodeRawPayloads } from '../store/raw-payloads.ts';
import type { HandoffLedger, LeadReads, PersonalData } from '../store/repository.ts';
import type { LeadView } from '../views/lead-view.ts';
import { findLeadView } from '../views/lead-view.ts';

export interface PersonExport {
  exportedAt: string;
  person: Person;
  /** The lead scored now, as `mql explain --json` and `GET /leads/{email}` show it; null when no lead is stored. */
  lead: LeadView | null;
  /** The lead item as stored (behavior state per rule, the last events, the outbox, bookkeeping). */
  storedLead: Item | null;
  /** Every stored event of every identity, oldest first, each with its provider's raw payload while it is kept. */
  events: Item[];
  /** The sales outcomes among them. */
  outcomes: Item[];
  /** Each handoff decided for the person, with every delivery attempt still kept. */
  handoffs: Item[];
  /** The identities merged into the lead, as stored (a phone-only lead it absorbed, a phone key it took). */
  mergedLeads: Item[];
  crmLinks: Item[];
  markers: Item[];
  /** Delivery attempts whose handoff's summary is no longer kept (HANDOFF_RETENTION_DAYS), if any. */
  attempts?: Item[];
  /** Raw payloads not matched to a stored event, if any. */
  rawPayloads?: Item[];
  /** Items on the person's lead partitions of a kind lib/store/personal-data.ts does not list, if any. */
  other?: Item[];
  /** Items found, by kind: what the document holds, counted. */
  storedItems: Record<string, number>;
}

/** An item without its table keys (they only repeat the lead id). */
function plain(item: Item): Item {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest;
}

/** A lead item as its attributes, its packed state unpacked (lib/store/lead-codec.ts). */
function leadItem(item: Item): Item {
  return { kind: item.kind, ...(leadOfItem(item) as unknown as Item) };
}

/** A raw payload's stored text as JSON again (cut ones stay text). */
function rawValue(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function exportPerson(
  store: PersonalData & LeadReads & HandoffLedger,
  model: ScoringModel,
  asked: string,
  now: Date,
): Promise<PersonExport | undefined> {
  const person = await store.findPerson(asked);
  const found = await store.personalItems(person);
  if (found.size === 0) return undefined;
  const of = (name: string) => found.get(name) ?? [];
  const raws = new Map<string, Item>();
  const unmatched: Item[] = [];
  for (const item of of('rawPayloads')) {
    for (const entry of decodeRawPayloads(item) as unknown as Item[]) {
      raws.set(`${entry.source}#${entry.sourceEventId}`, { ...entry, raw: rawValue(entry.raw) });
    }
  }
  const used = new Set<string>();
  const events = of('events')
    .map((item): Item => {
      const key = `${item.source}#${item.sourceEventId}`;
      const raw = raws.get(key);
      if (raw) used.add(key);
      return { ...plain(item), ...(raw ? { raw: raw.raw, ...(raw.rawTruncated ? { rawTruncated: true } : {}) } : {}) };
    })
    .sort((a, b) => String(a.occurredAt).localeCompare(String(b.occurredAt)));
  for (const [key, raw] of raws) if (!used.has(key)) unmatched.push(raw);
  const attempts = of('attempts').map(plain);
  const handoffs = of('handoffs')
    .map(plain)
    .map((handoff): Item => ({ ...handoff, attemptLog: attempts.filter((attempt) => attempt.handoffId === handoff.id) }));
  const handoffIds = new Set(handoffs.map((handoff) => handoff.id));
  const orphanAttempts = attempts.filter((attempt) => !handoffIds.has(attempt.handoffId));
  const view = await findLeadView(store, model, person.root, now);
  const storedLead = of('lead')[0];
  return {
    exportedAt: now.toISOString(),
    person,
    lead: view ?? null,
    storedLead: storedLead ? leadItem(storedLead) : null,
    events,
    outcomes: events.filter((event) => (outcomeTypes as readonly string[]).includes((event as Partial<NormalizedEvent>).type ?? '')),
    handoffs,
    mergedLeads: of('mergedLeads').map(leadItem),
    crmLinks: of('crmLinks').map(plain),
    markers: of('markers').map(plain),
    ...(orphanAttempts.length > 0 ? { attempts: orphanAttempts } : {}),
    ...(unmatched.length > 0 ? { rawPayloads: unmatched } : {}),
    ...(found.has('other') ? { other: of('other').map(plain) } : {}),
    storedItems: Object.fromEntries(kindLabels().map(({ name }) => [name, of(name).length])),
  };
}
