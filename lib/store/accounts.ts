/**
 * Accounts in the table (docs/accounts.md, "The roll-up"). An account's partition `ACCOUNT#<key>` holds:
 * - `MEMBER#<leadId>`: one small item per member lead, written when a lead joins the account and removed when it
 *   leaves it (another e-mail's lead, a newer group call), is merged away or erased (lib/accounts/members.ts);
 * - `PROFILE`: the account's state (lib/core/account-lifecycle.ts `AccountState`): status, timing and outbox, with
 *   a `version` for optimistic locking and the sparse due-index attributes. Absent for an account that is only
 *   `new`: its members are all there is of it.
 * The score is never stored as a sum: a read recomputes it from the members' lead items.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AccountState } from '../core/account-lifecycle.ts';
import { table as tableLayout } from '../topology.ts';
import { accountDueShardOf, accountPk, allAccountDueShards, memberSk, memberSkPrefix, profileSk } from './keys.ts';
import type { StoredLead } from './repository.ts';
import type { StoreTable } from './table.ts';

/** An account's state as stored, with its optimistic-locking version. */
export interface StoredAccount extends AccountState {
  version: number;
}

/** An account as a read sees it: its stored state (if any) and its members' lead items. */
export interface AccountRead {
  state: StoredAccount | undefined;
  /** The lead ids the member items name. */
  memberIds: string[];
  /** Their lead items, where one exists (a member item may outlive its lead for a moment: the roll-up removes it). */
  leads: StoredLead[];
}

const stateAttributes = (state: StoredAccount) => {
  // The item's `kind` says what item it is (`account`); the account's own kind is kept as `accountKind`.
  const { dueAt, kind, ...rest } = state;
  return {
    pk: accountPk(state.key),
    sk: profileSk,
    kind: 'account',
    accountKind: kind,
    ...rest,
    ...(dueAt ? { dueAt, dueShard: accountDueShardOf(state.key) } : {}),
  };
};

function stateOfItem(item: Record<string, unknown>): StoredAccount {
  const { pk: _pk, sk: _sk, kind: _kind, dueShard: _dueShard, accountKind, ...state } = item;
  return { ...state, kind: accountKind } as unknown as StoredAccount;
}

export class AccountStore {
  readonly table: StoreTable;
  constructor(table: StoreTable) {
    this.table = table;
  }

  /** The account's stored state (strongly consistent), undefined for an account that is only `new`. */
  async state(accountKey: string): Promise<StoredAccount | undefined> {
    const answer = await this.table.client.send(
      new GetCommand({ TableName: this.table.tableName, Key: { pk: accountPk(accountKey), sk: profileSk }, ConsistentRead: true }),
    );
    return answer.Item ? stateOfItem(answer.Item) : undefined;
  }

  /** The lead ids of the account's member items (strongly consistent, all pages). */
  async memberIds(accountKey: string): Promise<string[]> {
    const ids: string[] = [];
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await this.table.client.send(
        new QueryCommand({
          TableName: this.table.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': accountPk(accountKey), ':prefix': memberSkPrefix },
          ProjectionExpression: 'leadId',
          ConsistentRead: true,
          ExclusiveStartKey: cursor,
        }),
      );
      for (const item of page.Items ?? []) ids.push(item.leadId as string);
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    return ids;
  }

  /** The account's state, members and their lead items: the state first, so a member change after it is seen. */
  async read(accountKey: string): Promise<AccountRead> {
    const state = await this.state(accountKey);
    const memberIds = await this.memberIds(accountKey);
    const leads = memberIds.length > 0 ? [...(await this.table.readLeads(memberIds)).values()] : [];
    return { state, memberIds, leads };
  }

  /** A lead joins the account (idempotent). */
  async join(accountKey: string, leadId: string, at: string): Promise<void> {
    await this.table.put({ Item: { pk: accountPk(accountKey), sk: memberSk(leadId), kind: 'member', leadId, joinedAt: at } });
  }

  /** A lead leaves the account (idempotent). */
  async leave(accountKey: string, leadId: string): Promise<void> {
    await this.table.client.send(new DeleteCommand({ TableName: this.table.tableName, Key: { pk: accountPk(accountKey), sk: memberSk(leadId) } }));
  }

  /**
   * Stores the account's state if it is still at `expectedVersion` (undefined: not stored yet). False when another
   * roll-up wrote it meanwhile: the caller reads again and decides again.
   */
  async write(state: AccountState, expectedVersion: number | undefined): Promise<boolean> {
    const stored: StoredAccount = { ...state, version: (expectedVersion ?? 0) + 1 };
    try {
      await this.table.put({
        Item: stateAttributes(stored),
        ...(expectedVersion === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'version = :version', ExpressionAttributeValues: { ':version': expectedVersion } }),
      });
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Removes the state of an account without members (as it was read); false when it changed meanwhile. */
  async remove(accountKey: string, expectedVersion: number): Promise<boolean> {
    try {
      await this.table.client.send(
        new DeleteCommand({
          TableName: this.table.tableName,
          Key: { pk: accountPk(accountKey), sk: profileSk },
          ConditionExpression: 'version = :version',
          ExpressionAttributeValues: { ':version': expectedVersion },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Takes handoffs off the account's outbox once they are on the handoff queue, and sets its due time to `dueAt`
   * (none: out of the due index) when that empties the outbox. Bumps the version, so no stale roll-up puts them back.
   */
  async confirmQueued(accountKey: string, handoffIds: readonly string[], dueAt: string | undefined): Promise<void> {
    if (handoffIds.length === 0) return;
    const names = Object.fromEntries(handoffIds.map((id, index) => [`#h${index}`, id]));
    const removeOutbox = handoffIds.map((_, index) => `outbox.#h${index}`).join(', ');
    const key = { pk: accountPk(accountKey), sk: profileSk };
    // Only the last handoff out decides the due time: another one may have arrived meanwhile.
    const emptied = handoffIds.map((_, index) => `attribute_exists(outbox.#h${index})`).join(' AND ');
    try {
      await this.table.client.send(
        new UpdateCommand({
          TableName: this.table.tableName,
          Key: key,
          UpdateExpression: dueAt
            ? `REMOVE ${removeOutbox} SET version = version + :one, dueAt = :due, dueShard = :shard`
            : `REMOVE ${removeOutbox}, dueAt, dueShard SET version = version + :one`,
          ConditionExpression: `attribute_exists(pk) AND ${emptied} AND size(outbox) = :count`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':one': 1, ':count': handoffIds.length, ...(dueAt ? { ':due': dueAt, ':shard': accountDueShardOf(accountKey) } : {}) },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Other handoffs are waiting (or these were taken off already): take off ours and stay due.
      await this.table.client
        .send(
          new UpdateCommand({
            TableName: this.table.tableName,
            Key: key,
            UpdateExpression: `REMOVE ${removeOutbox} SET version = version + :one`,
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':one': 1 },
          }),
        )
        .catch((second: unknown) => {
          if (!(second instanceof ConditionalCheckFailedException)) throw second;
        });
    }
  }

  /** Keys of the accounts due by `until` (the sparse due index, the account shards), page by page. */
  async *dueAccounts(until: Date, pageSize = 100): AsyncGenerator<string[]> {
    for (const shard of allAccountDueShards()) {
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await this.table.client.send(
          new QueryCommand({
            TableName: this.table.tableName,
            IndexName: tableLayout.dueIndex.name,
            KeyConditionExpression: 'dueShard = :shard AND dueAt <= :until',
            ExpressionAttributeValues: { ':shard': shard, ':until': until.toISOString() },
            Limit: pageSize,
            ExclusiveStartKey: cursor,
          }),
        );
        const keys = (page.Items ?? []).map((item) => item.key as string);
        if (keys.length > 0) yield keys;
        cursor = page.LastEvaluatedKey;
      } while (cursor);
    }
  }

  /** Every stored account state (a Scan; operator reports only). */
  async *allStates(): AsyncGenerator<StoredAccount[]> {
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await this.table.client.send(
        new ScanCommand({
          TableName: this.table.tableName,
          FilterExpression: 'sk = :profile AND #kind = :account',
          ExpressionAttributeNames: { '#kind': 'kind' },
          ExpressionAttributeValues: { ':profile': profileSk, ':account': 'account' },
          ExclusiveStartKey: cursor,
        }),
      );
      const states = (page.Items ?? []).map(stateOfItem);
      if (states.length > 0) yield states;
      cursor = page.LastEvaluatedKey;
    } while (cursor);
  }
}
