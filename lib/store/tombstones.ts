/**
 * Tombstones of erased people (docs/data-protection.md, "Tombstones"). `mql erase` leaves one per
 * identity it erased (the e-mail and every phone key merged into it), keyed by the keyed digest of the
 * identity (lib/core/pseudonym.ts), holding when the erasure happened and what may come back:
 *
 * - `later-events` (the default): an event that occurred at or before the erasure is a provider's
 *   redelivery of what was erased (docs/data-protection.md lists each provider's retry window) and is ignored
 *   with the reason `erased`; an event that occurred after it is a new fact and makes a new lead. The
 *   tombstone expires after {@link tombstoneRetentionDays} days, longer than any provider retries.
 * - `never`: the tombstone is a suppression list: every event of that identity is ignored, for good.
 *
 * A write that would create a lead reads its tombstone first and carries a ConditionCheck on it (none
 * was there, or it is the one read), so an erasure committing in between cancels the write and its retry
 * sees the tombstone. The handoff ledger guards its writes the same way, so a handoff in flight during an
 * erasure does not write the person back (./handoff-ledger.ts).
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent } from '../core/events.ts';
import { erasedIdentityKey, hasPseudonymKey } from '../runtime/pseudonym.ts';
import { table as tableLayout } from '../topology.ts';
import { tombstonePk, tombstoneSk } from './keys.ts';
import type { StoreTable, TransactItems } from './table.ts';

/** What an erased person's identity may bring back (`ERASED_PEOPLE_RETURN`). */
export const erasedPeopleReturnValues = ['later-events', 'never'] as const;
export type ErasedPeopleReturn = (typeof erasedPeopleReturnValues)[number];

/**
 * Days a `later-events` tombstone is kept: longer than any provider retries a delivery (Customer.io holds
 * and retries for up to 14 days, Meta 36 h, SendGrid 24 h: docs/providers/) and than a dead-letter queue
 * keeps a message for `mql redrive` (14 days).
 */
export const tombstoneRetentionDays = 30;

/** The reason an event refused by a tombstone is counted under in a webhook's `ignoredReasons`. */
export const erasedReason = 'erased';

export interface Tombstone {
  erasedAt: string;
  returns: ErasedPeopleReturn;
}

/** `ERASED_PEOPLE_RETURN`, checked: `later-events` when unset. */
export function erasedPeopleReturnFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): ErasedPeopleReturn {
  const value = env.ERASED_PEOPLE_RETURN || 'later-events';
  if (!(erasedPeopleReturnValues as readonly string[]).includes(value)) {
    throw new Error(`ERASED_PEOPLE_RETURN must be one of ${erasedPeopleReturnValues.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as ErasedPeopleReturn;
}

/** The tombstone's key for an identity (a lead id); undefined while no pseudonym key is configured (no tombstone can exist). */
export function tombstoneKey(identity: string): { pk: string; sk: string } | undefined {
  if (!hasPseudonymKey()) return undefined;
  return { pk: tombstonePk(erasedIdentityKey(identity)), sk: tombstoneSk };
}

/** The identity's tombstone, if it was erased (a strongly consistent read). */
export async function readTombstone(table: StoreTable, identity: string): Promise<Tombstone | undefined> {
  const key = tombstoneKey(identity);
  if (!key) return undefined;
  const answer = await table.client.send(new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true }));
  return answer.Item ? toTombstone(answer.Item) : undefined;
}

/**
 * Writes (or renews) the tombstone of each identity. Throws without a pseudonym key: a tombstone keyed
 * by a digest anyone can recompute would tell whoever reads the table which addresses were erased.
 */
export async function writeTombstones(table: StoreTable, identities: readonly string[], erasedAt: Date, returns: ErasedPeopleReturn): Promise<number> {
  for (const identity of new Set(identities)) {
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          pk: tombstonePk(erasedIdentityKey(identity)),
          sk: tombstoneSk,
          kind: 'tombstone',
          erasedAt: erasedAt.toISOString(),
          returns,
          ...(returns === 'later-events' ? { [tableLayout.ttlAttribute]: Math.floor(erasedAt.getTime() / 1000) + tombstoneRetentionDays * 86_400 } : {}),
        },
      }),
    );
  }
  return new Set(identities).size;
}

/** Which events of an identity a tombstone refuses: all of them with `never`, else those that occurred at or before the erasure. */
export function refusedByTombstone<E extends Pick<NormalizedEvent, 'occurredAt'>>(events: readonly E[], tombstone: Tombstone): { accepted: E[]; refused: E[] } {
  if (tombstone.returns === 'never') return { accepted: [], refused: [...events] };
  const erasedAt = Date.parse(tombstone.erasedAt);
  const accepted: E[] = [];
  const refused: E[] = [];
  for (const event of events) {
    const at = Date.parse(event.occurredAt);
    // A time that does not parse cannot be shown to be after the erasure.
    if (Number.isNaN(at) || at <= erasedAt) refused.push(event);
    else accepted.push(event);
  }
  return { accepted, refused };
}

/** What one `apply` knows of erasures: the events refused so far, and tombstones read ahead for a delivery of several leads. */
export interface ErasureContext {
  refused: NormalizedEvent[];
  /** Read ahead, by identity (undefined: none); each is used once, a retry reads again. */
  tombstones?: Map<string, Tombstone | undefined>;
}

/** The tombstones of several identities, 100 keys to a BatchGetItem (strongly consistent); empty without a key. */
export async function readTombstones(table: StoreTable, identities: readonly string[]): Promise<Map<string, Tombstone | undefined>> {
  const found = new Map<string, Tombstone | undefined>();
  if (!hasPseudonymKey() || identities.length === 0) return found;
  const byPk = new Map(identities.map((identity) => [tombstoneKey(identity)!.pk, identity]));
  for (const identity of identities) found.set(identity, undefined);
  for (const item of await table.batchGet([...byPk.keys()].map((pk) => ({ pk, sk: tombstoneSk })))) {
    const identity = byPk.get(item.pk as string);
    if (identity !== undefined) found.set(identity, toTombstone(item));
  }
  return found;
}

function toTombstone(item: Record<string, unknown>): Tombstone {
  return { erasedAt: item.erasedAt as string, returns: item.returns === 'never' ? 'never' : 'later-events' };
}

export interface ErasureGate<E> {
  accepted: E[];
  refused: E[];
  /** The tombstone read, if the identity was erased before. */
  tombstone?: Tombstone;
  /** The ConditionCheck the transaction creating the lead carries: the tombstone is still as read (absent, or this erasure's). */
  guard?: TransactItems[number];
}

/**
 * The check of a write that would create lead `leadId` (lib/store/lead-writes.ts): the events an erasure
 * refuses, and the ConditionCheck that makes a concurrent erasure cancel the creation.
 */
export async function erasureGate<E extends Pick<NormalizedEvent, 'occurredAt'>>(
  table: StoreTable,
  leadId: string,
  events: readonly E[],
  context?: Pick<ErasureContext, 'tombstones'>,
): Promise<ErasureGate<E>> {
  const key = tombstoneKey(leadId);
  if (!key) return { accepted: [...events], refused: [] };
  const readAhead = context?.tombstones;
  let tombstone: Tombstone | undefined;
  if (readAhead?.has(leadId)) {
    tombstone = readAhead.get(leadId);
    readAhead.delete(leadId);
  } else tombstone = await readTombstone(table, leadId);
  if (!tombstone) {
    return {
      accepted: [...events],
      refused: [],
      guard: { ConditionCheck: { TableName: table.tableName, Key: key, ConditionExpression: 'attribute_not_exists(pk)' } },
    };
  }
  const { accepted, refused } = refusedByTombstone(events, tombstone);
  return {
    accepted,
    refused,
    tombstone,
    guard: {
      ConditionCheck: {
        TableName: table.tableName,
        Key: key,
        ConditionExpression: 'erasedAt = :seen',
        ExpressionAttributeValues: { ':seen': tombstone.erasedAt },
      },
    },
  };
}

/**
 * The ConditionCheck of a handoff-ledger write: the record's lead was not erased at or after the record
 * occurred (a record decided after the erasure belongs to the person's new lead). Undefined without a key.
 */
export function notErasedSince(table: StoreTable, leadId: string, occurredAt: string): TransactItems[number] | undefined {
  const key = tombstoneKey(leadId);
  if (!key) return undefined;
  return {
    ConditionCheck: {
      TableName: table.tableName,
      Key: key,
      ConditionExpression: 'attribute_not_exists(pk) OR erasedAt < :occurredAt',
      ExpressionAttributeValues: { ':occurredAt': occurredAt },
    },
  };
}

/** When the identity was erased, if it was (the handoff consumer skips records decided before). */
export async function erasedAt(table: StoreTable, identity: string): Promise<string | undefined> {
  return (await readTombstone(table, identity))?.erasedAt;
}

/**
 * For a delivery written in one transaction (./delivery-transaction.ts): the ConditionCheck a lead about
 * to be created carries (none without a pseudonym key), from the tombstones read ahead without using them
 * up; `undefined` when that lead must go the lead-by-lead way (it was erased, or its tombstone was not read).
 */
export function creationGuard(table: StoreTable, leadId: string, context: Pick<ErasureContext, 'tombstones'>): { guard?: TransactItems[number] } | undefined {
  const key = tombstoneKey(leadId);
  if (!key) return {};
  if (!context.tombstones?.has(leadId) || context.tombstones.get(leadId)) return undefined;
  return { guard: { ConditionCheck: { TableName: table.tableName, Key: key, ConditionExpression: 'attribute_not_exists(pk)' } } };
}
