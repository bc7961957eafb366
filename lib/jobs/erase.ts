/**
 * `mql erase <email>`: a person erased (GDPR article 17; docs/data-protection.md, "Erasing a person"),
 * what it removed counted per kind of item, and what it does not reach: the CRM's copy, backups, the
 * dead-letter queues and the logs.
 */
import type { ErasureResult } from '../store/erase.ts';
import type { Item, Person } from '../store/personal-data.ts';
import { kindLabels, unclaimedKind } from '../store/personal-data.ts';
import type { PersonalData } from '../store/repository.ts';
import { tombstoneRetentionDays } from '../store/tombstones.ts';

/** What an erasure of `asked` would remove, read without removing anything (the confirmation shows it). */
export async function erasurePlan(
  store: Pick<PersonalData, 'findPerson' | 'personalItems'>,
  asked: string,
): Promise<{ person: Person; found: Map<string, Item[]> }> {
  const person = await store.findPerson(asked);
  return { person, found: await store.personalItems(person) };
}

/** The counts by kind, one line each, aligned: every kind, 0 included, so a reader sees what was looked for. */
function countLines(counts: Record<string, number>, extra: [string, number][]): string[] {
  const rows: [string, number][] = [
    ...kindLabels()
      .filter((kind) => kind.name !== unclaimedKind.name || (counts[kind.name] ?? 0) > 0)
      .map(({ name, label }) => [label, counts[name] ?? 0] as [string, number]),
    ...extra,
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, count]) => `  ${label.padEnd(width)}  ${count}`);
}

/** The identities of a person in words: `dana@example.com (and phone:+14155550123, merged into it)`. */
export function personLine(person: Person): string {
  const merged = person.identities.filter((identity) => identity !== person.root);
  return merged.length > 0 ? `${person.root} (and ${merged.join(', ')}, merged into it)` : person.root;
}

/** What the confirmation prompt shows before anything is removed. */
export function formatPlan(plan: { person: Person; found: Map<string, Item[]> }): string {
  const counts = Object.fromEntries([...plan.found].map(([name, items]) => [name, items.length]));
  return [`mql erase will remove everything stored about ${personLine(plan.person)}:`, ...countLines(counts, [])].join('\n');
}

/** What `mql erase` prints once done. */
export function formatErasure(result: ErasureResult): string {
  const lines = [
    result.person.identities.length === 0 || Object.keys(result.removed).length === 0
      ? `nothing was stored about ${personLine(result.person)}; tombstones written all the same`
      : `erased ${personLine(result.person)}:`,
    ...countLines(result.removed, [
      ['due entries', result.dueEntries],
      ['tombstones written', result.tombstones],
    ]),
  ];
  if ((result.removed[unclaimedKind.name] ?? 0) > 0) {
    lines.push(
      `note: ${result.removed[unclaimedKind.name]} item(s) of a kind lib/store/personal-data.ts does not list were removed from the lead partitions: add the kind there`,
    );
  }
  lines.push(
    result.returns === 'never'
      ? `from now on every event of ${result.person.identities.length > 1 ? 'these identities' : 'this identity'} is ignored (ERASED_PEOPLE_RETURN=never): the tombstones are a suppression list, kept for good`
      : `events that occurred up to ${result.erasedAt} are ignored if a provider delivers them again; later ones make a new lead (ERASED_PEOPLE_RETURN=later-events; the tombstones expire in ${tombstoneRetentionDays} days)`,
    'not touched by this command (docs/data-protection.md):',
    ...(result.crmRecords.length > 0
      ? result.crmRecords.map((record) => `  - the CRM's copy: ${crmRecordName(record.adapter)} ${record.externalId}; erase it in the CRM`)
      : ["  - the CRM's copy, if a handoff reached it (HubSpot contact, Salesforce Lead, or your webhook receiver's store)"]),
    "  - backups: the table's point-in-time recovery keeps 35 days; a restore brings the person back, so erase again after one",
    '  - handoffs waiting in a dead-letter queue (14 days) and the logs (lead references only, 30 days)',
  );
  return lines.join('\n');
}

function crmRecordName(adapter: string): string {
  if (adapter === 'hubspot') return 'HubSpot contact';
  if (adapter === 'salesforce') return 'Salesforce Lead';
  return `${adapter} record`;
}
