/**
 * The handoff ledger on the lead's partition: a summary item per handoff (status, attempts, last error),
 * an item per delivery attempt (kept {@link attemptRetentionDays} days), handoffs set aside as
 * superseded, and the CRM link items (`CRM#<adapter>#<id>`) that map a CRM record back to its lead.
 * Summary items and links are kept for good, or `HANDOFF_RETENTION_DAYS` after the last attempt.
 *
 * Every write is one transaction checking that the lead was not erased since the handoff was decided
 * (./tombstones.ts): a handoff still on the queue when its person is erased does not write them back.
 *
 * An account's handoffs (`account.mqa`, `account.recycled`) have the same items on the account's partition
 * (`ACCOUNT#<accountKey>`, ./keys.ts), without a CRM link (the link maps a CRM record to a lead) and without
 * any member's personal data: the items name the record by id, type and time, and an error the CRM answered
 * is stored with every member's lead id and any address or number in it redacted. So erasing a member
 * (./erase.ts) has nothing to remove there (docs/data-protection.md, "Accounts").
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { AccountHandoffRecord } from '../core/account-lifecycle.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import { handoffLeadId } from '../core/handoff.ts';
import { redacted } from '../http/outbound.ts';
import { table as tableLayout } from '../topology.ts';
import { accountPk, attemptSk, crmLinkPk, crmLinkSk, handoffSk, leadPk } from './keys.ts';
import type { HandoffAttempt, HandoffAttemptInput, HandoffAttemptRecord } from './repository.ts';
import type { StoreTable, TransactItems } from './table.ts';
import { notErasedSince } from './tombstones.ts';

/**
 * Writes `items` in one transaction with the check that the record's lead was not erased since the record
 * occurred. Answers `erased` (nothing written) when it was, `refused` when another item's condition failed.
 */
async function guardedWrite(table: StoreTable, record: LedgerRecord, items: TransactItems): Promise<'written' | 'erased' | 'refused'> {
  // An account is no person: nothing to guard (its items hold no member's personal data).
  const guard = isAccount(record) ? undefined : notErasedSince(table, recordLeadId(record), record.occurredAt);
  try {
    await table.client.send(new TransactWriteCommand({ TransactItems: guard ? [guard, ...items] : items }));
    return 'written';
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    const reasons = error.CancellationReasons ?? [];
    if (guard && reasons[0]?.Code === 'ConditionalCheckFailed') return 'erased';
    if (reasons.some((reason) => reason.Code === 'ConditionalCheckFailed')) return 'refused';
    throw error;
  }
}

/** `HANDOFF_RETENTION_DAYS`: when a summary item or link written at `at` expires (DynamoDB TTL); undefined: kept. */
function handoffExpiry(table: StoreTable, at: Date): number | undefined {
  return table.handoffRetentionDays === undefined ? undefined : Math.floor(at.getTime() / 1000) + table.handoffRetentionDays * 86_400;
}

/** Attempt items expire (DynamoDB TTL) this many days after the attempt; the handoff's summary item stays. */
export const attemptRetentionDays = 90;

/**
 * Records one delivery attempt of a handoff: the handoff's summary item on the lead's partition
 * (status, attempts, last error), a small item per attempt (TTL {@link attemptRetentionDays} days),
 * and, when the CRM named its record, the CRM link item `CRM#<adapter>#<externalId>` / `LINK` -> leadId.
 */
export async function recordHandoffAttempt(table: StoreTable, record: LedgerRecord, attempt: HandoffAttemptInput): Promise<void> {
  const at = attempt.at.toISOString();
  const delivered = attempt.outcome === 'delivered';
  const account = isAccount(record);
  const pk = partitionOf(record);
  const error = (account ? accountSafe(record, attempt.error) : attempt.error)?.slice(0, 1000);
  const note = account ? accountSafe(record, attempt.note) : attempt.note;
  const attemptItem: Record<string, unknown> = {
    pk,
    sk: attemptSk(record.occurredAt, record.id, at),
    kind: account ? 'account-handoff-attempt' : 'handoff-attempt',
    handoffId: record.id,
    type: record.type,
    occurredAt: record.occurredAt,
    at,
    adapter: attempt.adapter,
    outcome: attempt.outcome,
    expiresAt: Math.floor(attempt.at.getTime() / 1000) + attemptRetentionDays * 86_400,
  };
  for (const key of ['crmStatus', 'kind', 'externalId', 'calls'] as const) {
    if (attempt[key] !== undefined) attemptItem[key === 'kind' ? 'failureKind' : key] = attempt[key];
  }
  if (note !== undefined) attemptItem.note = note;
  if (error !== undefined) attemptItem.error = error;
  const expiresAt = handoffExpiry(table, attempt.at);
  const items: TransactItems = [{ Put: { TableName: table.tableName, Item: attemptItem } }];
  if (delivered && attempt.externalId && !account) {
    const leadId = recordLeadId(record);
    items.push({
      Put: {
        TableName: table.tableName,
        Item: {
          pk: crmLinkPk(attempt.adapter, attempt.externalId),
          sk: crmLinkSk,
          kind: 'crm-link',
          adapter: attempt.adapter,
          externalId: attempt.externalId,
          leadId,
          linkedAt: at,
          ...(expiresAt === undefined ? {} : { [tableLayout.ttlAttribute]: expiresAt }),
        },
      },
    });
  }
  items.push({
    Update: {
      TableName: table.tableName,
      Key: { pk, sk: handoffSk(record.occurredAt, record.id) },
      UpdateExpression: [
        'SET kind = :kind, id = :id, #type = :type, occurredAt = :occurredAt, adapter = :adapter, lastAttemptAt = :at',
        // A late failure report of a duplicate delivery never overwrites "delivered".
        delivered ? ', #status = :status, deliveredAt = :at' : ', #status = if_not_exists(#status, :status)',
        attempt.crmStatus === undefined ? '' : ', crmStatus = :crmStatus',
        attempt.error === undefined ? '' : ', lastError = :error',
        !delivered && attempt.kind !== undefined ? ', lastKind = :failureKind' : '',
        delivered && attempt.externalId ? ', externalId = :externalId' : '',
        expiresAt === undefined ? '' : ', #ttl = :expiresAt',
        ' ADD attempts :one',
      ].join(''),
      ExpressionAttributeNames: { '#type': 'type', '#status': 'status', ...(expiresAt === undefined ? {} : { '#ttl': tableLayout.ttlAttribute }) },
      ExpressionAttributeValues: {
        ':kind': account ? 'account-handoff' : 'handoff',
        ':id': record.id,
        ':type': record.type,
        ':occurredAt': record.occurredAt,
        ':adapter': attempt.adapter,
        ':at': at,
        ':status': delivered ? 'delivered' : 'failed',
        ':one': 1,
        ...(attempt.crmStatus === undefined ? {} : { ':crmStatus': attempt.crmStatus }),
        ...(error === undefined ? {} : { ':error': error }),
        ...(!delivered && attempt.kind !== undefined ? { ':failureKind': attempt.kind } : {}),
        ...(delivered && attempt.externalId ? { ':externalId': attempt.externalId } : {}),
        ...(expiresAt === undefined ? {} : { ':expiresAt': expiresAt }),
      },
    },
  });
  // Erased since the handoff was decided: the person is not written back (the consumer skips such records first).
  await guardedWrite(table, record, items);
}

export async function getHandoff(
  table: StoreTable,
  record: Pick<HandoffRecord, 'id' | 'occurredAt' | 'lead'> & { leadId?: string },
): Promise<HandoffAttempt | undefined> {
  const answer = await table.client.send(
    new GetCommand({
      TableName: table.tableName,
      Key: { pk: leadPk(recordLeadId(record)), sk: handoffSk(record.occurredAt, record.id) },
      ConsistentRead: true,
    }),
  );
  return answer.Item as HandoffAttempt | undefined;
}

/** The lead's handoffs, oldest first (one Query; strongly consistent, as the handoff decides on it). */
export async function listHandoffs(table: StoreTable, leadId: string): Promise<HandoffAttempt[]> {
  const items = await table.queryPartition(leadId, 'HANDOFF#', true);
  return items.map(({ pk: _pk, sk: _sk, kind: _kind, ...attempt }) => attempt as HandoffAttempt);
}

/**
 * Sets a handoff aside unsent because `supersededBy`, a newer handoff of the same lead, was delivered
 * first: status `superseded` on its summary item (created if it had no attempt yet). A handoff already
 * delivered stays delivered; answers whether it was set aside.
 */
export async function recordHandoffSuperseded(
  table: StoreTable,
  record: LedgerRecord,
  superseded: { at: Date; supersededBy: string; adapter: string },
): Promise<boolean> {
  const expiresAt = handoffExpiry(table, superseded.at);
  const written = await guardedWrite(table, record, [
    {
      Update: {
        TableName: table.tableName,
        Key: { pk: partitionOf(record), sk: handoffSk(record.occurredAt, record.id) },
        UpdateExpression: `SET kind = :kind, id = :id, #type = :type, occurredAt = :occurredAt, adapter = :adapter, #status = :superseded, supersededBy = :by, supersededAt = :at, attempts = if_not_exists(attempts, :zero)${expiresAt === undefined ? '' : ', #ttl = :expiresAt'}`,
        ConditionExpression: 'attribute_not_exists(#status) OR #status <> :delivered',
        ExpressionAttributeNames: { '#type': 'type', '#status': 'status', ...(expiresAt === undefined ? {} : { '#ttl': tableLayout.ttlAttribute }) },
        ExpressionAttributeValues: {
          ':kind': isAccount(record) ? 'account-handoff' : 'handoff',
          ':id': record.id,
          ':type': record.type,
          ':occurredAt': record.occurredAt,
          ':adapter': superseded.adapter,
          ':superseded': 'superseded',
          ':by': superseded.supersededBy,
          ':at': superseded.at.toISOString(),
          ':zero': 0,
          ':delivered': 'delivered',
          ...(expiresAt === undefined ? {} : { ':expiresAt': expiresAt }),
        },
      },
    },
  ]);
  return written === 'written';
}

/** Every delivery attempt of the lead's handoffs still kept, oldest handoff first, each handoff's attempts in order. */
export async function listHandoffAttempts(table: StoreTable, leadId: string): Promise<HandoffAttemptRecord[]> {
  const items = await table.queryPartition(leadId, 'ATTEMPT#', false);
  return items.map(({ pk: _pk, sk: _sk, kind: _kind, expiresAt: _expiresAt, failureKind, ...attempt }) => ({
    ...(attempt as Omit<HandoffAttemptRecord, 'kind'>),
    ...(failureKind === undefined ? {} : { kind: failureKind as string }),
  }));
}

/** The lead a CRM record belongs to, from the link the handoff wrote when it was delivered there. */
export async function leadIdForCrmRecord(table: StoreTable, adapter: string, externalId: string): Promise<string | undefined> {
  const answer = await table.client.send(new GetCommand({ TableName: table.tableName, Key: { pk: crmLinkPk(adapter, externalId), sk: crmLinkSk } }));
  const leadId = answer.Item?.leadId;
  return typeof leadId === 'string' ? leadId : undefined;
}

/** The account's handoffs, oldest first (one Query; strongly consistent, as the handoff decides on it). */
export async function listAccountHandoffs(table: StoreTable, accountKey: string): Promise<HandoffAttempt[]> {
  const items = await queryAccount(table, accountKey, 'HANDOFF#');
  return items.map(({ pk: _pk, sk: _sk, kind: _kind, ...attempt }) => attempt as unknown as HandoffAttempt);
}

/** Every delivery attempt of the account's handoffs still kept, oldest handoff first. */
export async function listAccountHandoffAttempts(table: StoreTable, accountKey: string): Promise<HandoffAttemptRecord[]> {
  const items = await queryAccount(table, accountKey, 'ATTEMPT#');
  return items.map(({ pk: _pk, sk: _sk, kind: _kind, expiresAt: _expiresAt, failureKind, ...attempt }) => ({
    ...(attempt as Omit<HandoffAttemptRecord, 'kind'>),
    ...(failureKind === undefined ? {} : { kind: failureKind as string }),
  }));
}

/** Items of the account's partition whose sort key starts with `prefix` (all pages; strongly consistent). */
async function queryAccount(table: StoreTable, accountKey: string, prefix: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await table.client.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': accountPk(accountKey), ':prefix': prefix },
        ExclusiveStartKey: cursor,
        ConsistentRead: true,
      }),
    );
    items.push(...(page.Items ?? []));
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}

/** A record the ledger keeps: a lead's handoff, or an account's. */
type LedgerRecord = HandoffRecord | AccountHandoffRecord;

function isAccount(record: LedgerRecord): record is AccountHandoffRecord {
  return record.type === 'account.mqa' || record.type === 'account.recycled';
}

/** The partition a record's ledger items are kept in: the lead's, or the account's. */
function partitionOf(record: LedgerRecord): string {
  return isAccount(record) ? accountPk(record.accountKey) : leadPk(recordLeadId(record));
}

/**
 * A text the CRM answered about an account record, as the ledger may keep it: every member's lead id (an
 * address, or a provider key holding a number), any address or number, and the members' job titles redacted.
 */
function accountSafe(record: AccountHandoffRecord, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const members = Array.isArray(record.members) ? record.members : [];
  return redacted(
    text,
    members.flatMap((member) => [member.leadId, member.leadId.replace(/^[a-z]+:/, ''), member.jobTitle]),
  );
}

/** The partition a handoff record's attempts are kept in. */
function recordLeadId(record: { leadId?: string; lead?: { email?: string } }): string {
  const leadId = handoffLeadId(record);
  if (!leadId) throw new Error('a handoff record names no lead (neither leadId nor lead.email)');
  return leadId;
}
