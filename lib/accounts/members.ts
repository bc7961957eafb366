/**
 * Who is in which account, kept from the table's change stream (docs/accounts.md, "The roll-up"). Every write of a
 * lead item reaches the stream with the item before and after it; the account-members function reads them and
 * - keeps the account's member items: a lead joins the account its new image belongs to and leaves the one its old
 *   image belonged to (a new address, a newer group call, a merge that removed a phone-only lead, an erasure);
 * - asks for a roll-up of every account whose members changed in what the account score reads.
 * Nothing of this is on the ingest path: a webhook's answer waits for none of it, and fifty people of one company
 * writing at once never meet on one item.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, AttributeValue as LambdaAttributeValue } from 'aws-lambda';
import type { Account } from '../core/account.ts';
import { accountOf } from '../core/account.ts';
import { isTestLeadId, isVisitorLeadId } from '../core/identity.ts';
import type { ScoringModel } from '../core/model.ts';
import { leadOfItem } from '../store/lead-codec.ts';
import type { StoredLead } from '../store/repository.ts';

/**
 * The account a stored lead counts in, if any: a lead that can be handed off (not a visitor, nor a sender's test
 * data, nor a lead merged into another) and that {@link accountOf} places in one. A stored lead, or a lead replayed
 * from its events (`mql backtest`, `mql report`: lib/jobs/account-histories.ts).
 */
export function memberAccountOf(
  lead: (Pick<StoredLead, 'leadId' | 'profile'> & { mergedInto?: string }) | undefined,
  model: Pick<ScoringModel, 'domains'>,
): Account | undefined {
  if (!lead || lead.mergedInto !== undefined) return undefined;
  if (isVisitorLeadId(lead.leadId) || isTestLeadId(lead.leadId)) return undefined;
  return accountOf(lead, model);
}

/** What the account score reads of a member: a change elsewhere (an outbox confirmed, a due time) asks for no roll-up. */
function scoredPart(lead: StoredLead): string {
  return JSON.stringify([lead.status, lead.profile, lead.profileAsOf, lead.behavior, lead.disqualifiedBy ?? null, lead.outcome ?? null]);
}

/** A membership change, in stream order. */
export interface MembershipChange {
  op: 'join' | 'leave';
  accountKey: string;
  leadId: string;
}

/** What a batch of stream records asks for: membership changes, in order, and the accounts to roll up. */
export interface AccountWork {
  changes: MembershipChange[];
  /** Accounts to recompute, each with the id of the last stream record that touched it (a deduplication id). */
  rollUps: Map<string, string>;
}

/** A lead item's image as the stream carries it, decoded; undefined for any other item. */
export function leadOfImage(image: Record<string, LambdaAttributeValue> | undefined): StoredLead | undefined {
  if (!image) return undefined;
  const item = unmarshall(withBinary(image) as Parameters<typeof unmarshall>[0]);
  if (typeof item.pk !== 'string' || !item.pk.startsWith('LEAD#') || item.sk !== 'PROFILE') return undefined;
  return leadOfItem(item);
}

/**
 * Lambda hands a stream record's binary attributes over as base64 text (the event is JSON); the SDK's `unmarshall`
 * reads binary as bytes. The lead's packed `state` is binary (lib/store/lead-codec.ts).
 */
function withBinary(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withBinary);
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  const entries = Object.entries(value as Record<string, unknown>).map(([name, inner]) => {
    if (name === 'B' && typeof inner === 'string') return [name, Buffer.from(inner, 'base64')];
    if (name === 'BS' && Array.isArray(inner)) return [name, inner.map((one) => (typeof one === 'string' ? Buffer.from(one, 'base64') : one))];
    return [name, withBinary(inner)];
  });
  return Object.fromEntries(entries);
}

/** The membership changes and roll-ups a batch of stream records asks for. */
export function accountWorkOf(records: readonly DynamoDBRecord[], model: Pick<ScoringModel, 'domains' | 'account'>): AccountWork {
  const work: AccountWork = { changes: [], rollUps: new Map() };
  if (!model.account) return work;
  for (const record of records) {
    const before = leadOfImage(record.dynamodb?.OldImage);
    const after = leadOfImage(record.dynamodb?.NewImage);
    const lead = after ?? before;
    if (!lead) continue;
    const from = memberAccountOf(before, model)?.key;
    const to = memberAccountOf(after, model)?.key;
    const id = record.eventID ?? record.dynamodb?.SequenceNumber ?? '';
    if (from !== to) {
      if (from) work.changes.push({ op: 'leave', accountKey: from, leadId: lead.leadId });
      if (to) work.changes.push({ op: 'join', accountKey: to, leadId: lead.leadId });
      for (const key of [from, to]) if (key) work.rollUps.set(key, id);
    } else if (to && scoredPart(before!) !== scoredPart(after!)) {
      // Same account on both sides (so both images are there): a roll-up when what the score reads changed.
      work.rollUps.set(to, id);
    }
  }
  return work;
}
