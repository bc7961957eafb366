/**
 * Erasure of a person (GDPR article 17; docs/data-protection.md, "Erasing a person"): their tombstones
 * first, then every item {@link findPersonalItems} finds, the lead items last and each conditioned on
 * the version read. A write that lands meanwhile (an event for the existing lead) changes that version:
 * the erasure reads again and removes what it brought. Once a lead item is gone, a write that would
 * create it again meets the tombstone (./tombstones.ts). An erasure stopped half-way is completed by
 * running it again: the lead items, which lead to everything else, are removed last.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { hasPseudonymKey } from '../runtime/pseudonym.ts';
import { table as tableLayout } from '../topology.ts';
import type { Item, Person } from './personal-data.ts';
import { findPersonalItems, personalItemKinds, resolvePerson } from './personal-data.ts';
import type { StoreTable } from './table.ts';
import { backoffMs, sleep } from './table.ts';
import type { ErasedPeopleReturn } from './tombstones.ts';
import { writeTombstones } from './tombstones.ts';

export interface ErasureResult {
  person: Person;
  erasedAt: string;
  returns: ErasedPeopleReturn;
  /** Items removed, by kind name (lib/store/personal-data.ts); kinds with none are absent. */
  removed: Record<string, number>;
  /** Lead items removed that were in the sparse due index (an attribute of the lead item, gone with it). */
  dueEntries: number;
  tombstones: number;
  /** The CRM records the person was delivered to (`adapter` and the CRM's id): their copy is not ours to erase. */
  crmRecords: { adapter: string; externalId: string }[];
  /** Passes over the person's items (more than one when a write landed during the erasure). */
  rounds: number;
}

/** Passes before an erasure gives up on a person whose lead keeps being written (the command can be run again). */
const maxRounds = 20;

/** How long an erasure waits before its last look: longer than a lead-first write takes without checking the tombstone. */
export function settleMs(table: Pick<StoreTable, 'writeWindowMs'>): number {
  return Math.ceil(table.writeWindowMs * 1.5);
}

/** Removes items by key, 25 to a BatchWriteItem, unprocessed ones retried. */
async function deleteAll(table: StoreTable, items: readonly Item[]): Promise<void> {
  for (let start = 0; start < items.length; start += 25) {
    let pending = items.slice(start, start + 25).map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const answer = await table.client.send(new BatchWriteCommand({ RequestItems: { [table.tableName]: pending } }));
      pending = (answer.UnprocessedItems?.[table.tableName] ?? []) as typeof pending;
      if (pending.length > 0) {
        if (attempt >= table.maxAttempts) throw new Error(`BatchWriteItem left ${pending.length} deletion(s) unprocessed after ${attempt} attempts`);
        await sleep(backoffMs(attempt));
      }
    }
  }
}

/** Removes a lead item only as it was read; false when it changed meanwhile (a write landed). */
async function deleteLeadItem(table: StoreTable, item: Item): Promise<boolean> {
  try {
    await table.client.send(
      new DeleteCommand({
        TableName: table.tableName,
        Key: { pk: item.pk, sk: item.sk },
        ...(typeof item.version === 'number'
          ? { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': item.version } }
          : { ConditionExpression: 'attribute_not_exists(version)' }),
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Erases everything the table holds about the person `asked` names (canonical: an e-mail or a provider
 * key) and every identity merged into it, leaving a tombstone per identity. Needs the pseudonym key.
 */
export async function erasePerson(table: StoreTable, asked: string, options: { now: Date; returns: ErasedPeopleReturn }): Promise<ErasureResult> {
  if (!hasPseudonymKey()) {
    throw new Error('PSEUDONYM_KEY is not set: an erasure keys its tombstones with it, so it will not erase without one (docs/data-protection.md)');
  }
  const erasedAt = options.now;
  let person = await resolvePerson(table, asked);
  const tombstoned = new Set<string>();
  const removed: Record<string, number> = {};
  const crmRecords = new Map<string, { adapter: string; externalId: string }>();
  let dueEntries = 0;
  let settled = false;
  for (let round = 1; ; round += 1) {
    // Tombstones before anything is removed: from here on, a write that would create one of these leads again is checked.
    const fresh = person.identities.filter((identity) => !tombstoned.has(identity));
    if (fresh.length > 0) {
      await writeTombstones(table, fresh, erasedAt, options.returns);
      settled = false;
    }
    for (const identity of fresh) tombstoned.add(identity);
    const found = await findPersonalItems(table, person);
    if (found.size === 0 && !settled) {
      // A lead-first write that read no tombstone before these were written may still be storing: it lands
      // within the table's write window or checks the tombstone itself (./lead-first.ts). Look once more after it.
      await sleep(settleMs(table));
      settled = true;
      continue;
    }
    if (found.size === 0) {
      return {
        person: { ...person, identities: [...tombstoned] },
        erasedAt: erasedAt.toISOString(),
        returns: options.returns,
        removed,
        dueEntries,
        tombstones: tombstoned.size,
        crmRecords: [...crmRecords.values()],
        rounds: round,
      };
    }
    if (round > maxRounds) throw new Error(`the person's lead kept changing during ${maxRounds} passes; run the erasure again`);
    for (const handoff of [...(found.get('handoffs') ?? []), ...(found.get('attempts') ?? [])]) {
      if (typeof handoff.externalId === 'string' && typeof handoff.adapter === 'string')
        crmRecords.set(`${handoff.adapter}#${handoff.externalId}`, { adapter: handoff.adapter, externalId: handoff.externalId });
    }
    const leadItems = [...(found.get('mergedLeads') ?? []), ...(found.get('lead') ?? [])];
    // What was found through other items first: a run stopped half-way still finds it through them.
    const foundElsewhere = new Set(personalItemKinds.filter((kind) => kind.find).map((kind) => kind.name));
    const rest = [...found]
      .filter(([name]) => name !== 'mergedLeads' && name !== 'lead')
      .sort(([a], [b]) => Number(foundElsewhere.has(b)) - Number(foundElsewhere.has(a)));
    for (const [name, items] of rest) {
      await deleteAll(table, items);
      removed[name] = (removed[name] ?? 0) + items.length;
    }
    // The merged identities' lead items before the root's: the root's names them, for a run that must start over.
    for (const item of leadItems) {
      if (!(await deleteLeadItem(table, item))) break;
      const name = (found.get('lead') ?? []).includes(item) ? 'lead' : 'mergedLeads';
      removed[name] = (removed[name] ?? 0) + 1;
      if (item.kind === 'lead' && item[tableLayout.dueIndex.sortKey] !== undefined) dueEntries += 1;
    }
    // Read the person again: a merge may have given the lead another identity meanwhile.
    const again = await resolvePerson(table, asked);
    const identities = new Set([...person.identities, ...(again.root === person.root ? again.identities : [])]);
    identities.delete(person.root);
    person = { asked, root: person.root, identities: [...identities, person.root] };
  }
}
