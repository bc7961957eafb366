/**
 * Everything the table holds about one person, found by kind (docs/data-protection.md, "What is stored").
 *
 * A person is the lead a key names together with every identity merged into it (a phone-only lead the
 * e-mail lead absorbed, a phone key it took as an alias), followed both ways: from the e-mail lead through
 * its `aliases` / `mergedFrom`, from a phone key through its `mergedInto`.
 *
 * {@link personalItemKinds} is the registry `mql erase` and `mql export` both walk: each kind says how its
 * items are found for a person. A new kind of item about a person (an anonymous visitor's history, an
 * account membership) is one more entry here, and erase and export reach it. Items on a person's lead
 * partitions that no kind claims are still erased (and exported), under `other`, and erase says so: the
 * completeness test (test/integration/jobs/erase.test.ts) scans the whole table for the person afterwards.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { comparableDomain } from '../core/email-domains.ts';
import { isEmailLeadId, testLeadIdsOf } from '../core/identity.ts';
import { accountPk, crmLinkPk, crmLinkSk, leadPk, memberSk, profileSk, seenPk, seenSk } from './keys.ts';
import { leadOfItem } from './lead-codec.ts';
import type { StoreTable } from './table.ts';

export type Item = Record<string, unknown>;

export interface Person {
  /** The key asked for, canonical (an e-mail, or a provider key such as `phone:+14155550123`). */
  asked: string;
  /** The lead the person's identities lead to: the e-mail lead that absorbed the others, or the key asked for. */
  root: string;
  /** Every identity of the person, the root last. */
  identities: string[];
}

/** A lead partition's item, with the identity whose partition it is on. */
export interface PartitionItem {
  identity: string;
  item: Item;
}

export interface PersonalItemKind {
  /** Its name in erase's counts and as the key of export's `items`. */
  readonly name: string;
  /** How erase's count line names it. */
  readonly label: string;
  /** An item of a person's lead partition (`LEAD#<identity>`) this kind claims. */
  readonly onPartition?: (entry: PartitionItem, person: Person) => boolean;
  /** Items elsewhere in the table, found from what the person's partitions hold. */
  readonly find?: (table: StoreTable, person: Person, partitions: readonly PartitionItem[]) => Promise<Item[]>;
}

const skOf = (item: Item) => String(item.sk);
const prefixed = (prefix: string) => (entry: PartitionItem) => skOf(entry.item).startsWith(prefix);

/** The CRM records the person's handoffs were delivered to (handoff summaries and attempts name them), still linked to one of their identities. */
async function findCrmLinks(table: StoreTable, person: Person, partitions: readonly PartitionItem[]): Promise<Item[]> {
  const keys = partitions
    .filter(({ item }) => typeof item.externalId === 'string' && typeof item.adapter === 'string')
    .map(({ item }) => ({ pk: crmLinkPk(item.adapter as string, item.externalId as string), sk: crmLinkSk }));
  if (keys.length === 0) return [];
  const identities = new Set(person.identities);
  return (await table.batchGet(keys)).filter((link) => identities.has(link.leadId as string));
}

/**
 * The SEEN markers of the person's events (`SEEN#<source>#<provider event id>`, a Facebook leadgen id
 * queued and fetched): those that name one of their identities, or none yet.
 */
async function findSeenMarkers(table: StoreTable, person: Person, partitions: readonly PartitionItem[]): Promise<Item[]> {
  const keys = partitions
    .filter(({ item }) => skOf(item).startsWith('EVT#') && typeof item.source === 'string' && typeof item.sourceEventId === 'string')
    .map(({ item }) => ({ pk: seenPk(item.source as string, item.sourceEventId as string), sk: seenSk }));
  if (keys.length === 0) return [];
  const identities = new Set(person.identities);
  return (await table.batchGet(keys)).filter((marker) => marker.leadId === undefined || identities.has(marker.leadId as string));
}

/**
 * The person's account memberships (`ACCOUNT#<key>` / `MEMBER#<identity>`, docs/accounts.md). An e-mail's account is
 * the registrable domain of its host, which is always one of the host's suffixes (`mail.acme.co.uk`: `acme.co.uk`),
 * so every suffix is looked up rather than working it out with the Public Suffix List (which the ingest path that
 * holds this module never loads); and the group the lead's profile names.
 */
async function findAccountMemberships(table: StoreTable, person: Person, partitions: readonly PartitionItem[]): Promise<Item[]> {
  const keys: Record<string, string>[] = [];
  for (const identity of person.identities) {
    const accounts = new Set<string>();
    const at = identity.lastIndexOf('@');
    if (at > 0) {
      const labels = comparableDomain(identity.slice(at + 1)).split('.');
      for (let start = 0; start < labels.length - 1; start += 1) accounts.add(labels.slice(start).join('.'));
    }
    const profile = partitions.find((entry) => entry.identity === identity && skOf(entry.item) === profileSk);
    const groupId = profile ? leadOfItem(profile.item).profile?.groupId : undefined;
    if (groupId) accounts.add(`group:${groupId}`);
    for (const account of accounts) keys.push({ pk: accountPk(account), sk: memberSk(identity) });
  }
  return keys.length > 0 ? table.batchGet(keys) : [];
}

/**
 * Every kind of item the table holds about a person. (Erase removes the kinds found elsewhere first,
 * through the partitions' items, and the lead items last: they lead to the rest, so an erasure stopped
 * half-way finds everything again when run once more.) Tombstones are not listed: they hold no personal
 * data (a keyed digest and a time) and are what an erasure leaves.
 */
export const personalItemKinds: readonly PersonalItemKind[] = [
  { name: 'lead', label: 'lead', onPartition: (entry, person) => skOf(entry.item) === profileSk && entry.identity === person.root },
  { name: 'mergedLeads', label: 'merged leads', onPartition: (entry, person) => skOf(entry.item) === profileSk && entry.identity !== person.root },
  { name: 'events', label: 'events', onPartition: prefixed('EVT#') },
  { name: 'rawPayloads', label: 'raw payloads', onPartition: prefixed('RAW#') },
  { name: 'handoffs', label: 'handoffs', onPartition: prefixed('HANDOFF#') },
  { name: 'attempts', label: 'attempts', onPartition: prefixed('ATTEMPT#') },
  { name: 'crmLinks', label: 'CRM links', find: findCrmLinks },
  { name: 'markers', label: 'markers', find: findSeenMarkers },
  { name: 'accountMemberships', label: 'account memberships', find: findAccountMemberships },
];

/** Items of a person's partitions no kind claims: still erased and exported, and named so a missing kind is noticed. */
export const unclaimedKind = { name: 'other', label: 'other items on the lead partitions' } as const;

/** The person a key names: the lead it leads to and every identity merged into it. */
export async function resolvePerson(table: StoreTable, asked: string): Promise<Person> {
  const first = await table.getLead(asked);
  const root = first?.mergedInto ?? asked;
  const rootLead = root === asked ? first : await table.getLead(root);
  const merged = [...(rootLead?.aliases ?? []), ...(rootLead?.mergedFrom ?? []), ...(rootLead?.mergingFrom ? [rootLead.mergingFrom] : [])];
  // The senders' test data of the address (a LinkedIn preview filled with one's own e-mail): a lead of its own, the same person.
  const tests = isEmailLeadId(root)
    ? (await Promise.all(testLeadIdsOf(root).map(async (key) => ((await table.getLead(key)) ? key : undefined)))).filter((key) => key !== undefined)
    : [];
  const others = [...new Set([asked, ...merged, ...tests])].filter((identity) => identity !== root);
  return { asked, root, identities: [...others, root] };
}

/** Every item of the lead partition of `identity` (all pages of one strongly consistent Query). */
async function partitionOf(table: StoreTable, identity: string): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await table.client.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': leadPk(identity) },
        ConsistentRead: true,
        ExclusiveStartKey: cursor,
      }),
    );
    items.push(...(page.Items ?? []));
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}

/** What the table holds about the person, by kind name ({@link personalItemKinds}, then {@link unclaimedKind}); kinds without items are absent. */
export async function findPersonalItems(table: StoreTable, person: Person): Promise<Map<string, Item[]>> {
  const partitions: PartitionItem[] = [];
  for (const identity of person.identities) for (const item of await partitionOf(table, identity)) partitions.push({ identity, item });
  const found = new Map<string, Item[]>();
  const claimed = new Set<Item>();
  const add = (name: string, items: readonly Item[]) => {
    if (items.length > 0) found.set(name, [...(found.get(name) ?? []), ...items]);
  };
  for (const kind of personalItemKinds) {
    if (kind.onPartition) {
      const mine = partitions.filter((entry) => !claimed.has(entry.item) && kind.onPartition!(entry, person)).map((entry) => entry.item);
      for (const item of mine) claimed.add(item);
      add(kind.name, mine);
    }
    if (kind.find) add(kind.name, await kind.find(table, person, partitions));
  }
  add(
    unclaimedKind.name,
    partitions.filter((entry) => !claimed.has(entry.item)).map((entry) => entry.item),
  );
  return found;
}

/** The count lines' order and labels: the registry's kinds, then the unclaimed ones. */
export function kindLabels(): { name: string; label: string }[] {
  return [...personalItemKinds.map(({ name, label }) => ({ name, label })), unclaimedKind];
}
