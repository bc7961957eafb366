/**
 * What the handoff does to an account record's members before it is sent (lib/handoff/consumer.ts): members
 * erased since the record was decided are blanked out (docs/data-protection.md, "Accounts"), and for an adapter
 * that links members, the CRM id of each one delivered to it before is read from its own handoffs.
 */
import type { AccountHandoffRecord, AccountRecordMember } from '../crm/adapter.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { logger } from '../runtime/logger.ts';
import { leadRef } from '../runtime/pseudonym.ts';
import type { HandoffAttempt } from '../store/repository.ts';
import { timeOf } from './records.ts';

/** Tombstones (or handoffs) read at once per account record. */
const concurrency = 8;

/**
 * [erasure] The members erased at or after the record was decided (a record decided after an erasure holds the
 * person's new lead). A tombstone that cannot be read throws: the record is retried, never sent unchecked.
 */
export async function erasedMembersOf(record: AccountHandoffRecord, erasedAt: (leadId: string) => Promise<string | undefined>): Promise<Set<string>> {
  const erased = new Set<string>();
  await mapWithConcurrency(record.members, concurrency, async (member) => {
    const at = await erasedAt(member.leadId);
    if (at !== undefined && timeOf(at) >= timeOf(record.occurredAt)) erased.add(member.leadId);
  });
  return erased;
}

/**
 * The CRM id of each member whose newest handoff delivered to `adapter` returned one (its receipt's `externalId`,
 * lib/store/handoff-ledger.ts). A member whose handoffs cannot be read is left unlinked (logged), not retried.
 */
export async function memberCrmIdsOf(
  members: readonly AccountRecordMember[],
  adapter: string,
  listHandoffs: (leadId: string) => Promise<HandoffAttempt[]>,
): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  await mapWithConcurrency(
    members.filter((member) => member.leadId !== erasedMember),
    concurrency,
    async (member) => {
      const handoffs = await listHandoffs(member.leadId).catch((error: unknown) => {
        logger.warn("could not read a member's handoffs; the account is sent without linking it", { lead: leadRef(member.leadId), error: error as Error });
        return [];
      });
      let newest: HandoffAttempt | undefined;
      for (const handoff of handoffs) {
        if (handoff.status !== 'delivered' || handoff.adapter !== adapter || !handoff.externalId) continue;
        if (!newest || timeOf(handoff.occurredAt) > timeOf(newest.occurredAt)) newest = handoff;
      }
      if (newest?.externalId) ids.set(member.leadId, newest.externalId);
    },
  );
  return ids;
}

/** What an erased member's lead id becomes in an account record sent after the erasure. */
export const erasedMember = 'erased';

/** The record with `erased` members blanked out: their lead id, job title and role gone, in the reasons too. */
export function withoutMembers(record: AccountHandoffRecord, erased: ReadonlySet<string>): AccountHandoffRecord {
  return {
    ...record,
    members: record.members.map((member) => {
      if (!erased.has(member.leadId)) return member;
      const { jobTitle: _title, role: _role, ...rest } = member;
      return { ...rest, leadId: erasedMember };
    }),
    reasons: record.reasons.map((reason) => {
      const member = reason.member !== undefined && erased.has(reason.member) ? erasedMember : reason.member;
      const members = reason.members?.map((id) => (erased.has(id) ? erasedMember : id));
      if (member === reason.member && (members === undefined || members.every((id, index) => id === reason.members?.[index]))) return reason;
      const description = erased.has(reason.description) ? erasedMember : reason.description;
      return { ...reason, description, ...(member === undefined ? {} : { member }), ...(members === undefined ? {} : { members }) };
    }),
  };
}
