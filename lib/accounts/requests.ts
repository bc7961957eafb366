/**
 * Roll-up requests: the messages of the account-rollup FIFO queue (lib/topology.ts), sent by the account-members
 * function (a member changed) and the decay job (an account due), read by the roll-up (./consumer.ts). Kept apart
 * from the account identity (lib/core/account.ts and its Public Suffix List), which the decay job never needs.
 */
import { createHash } from 'node:crypto';
import { sendMessages } from '../queue/messages.ts';
import { sqs } from '../runtime/aws.ts';

/** The roll-up message of an account: its body, and the FIFO group that keeps one account's roll-ups in order. */
export interface RollUpRequest {
  accountKey: string;
  /** Evaluate as of this instant (the decay job's `now`); absent: the roll-up's clock. */
  at?: string;
  /** Asked by the decay job: the account was due, its due time is settled even when nothing else changed. */
  due?: true;
}

/**
 * SQS's message group and deduplication ids are at most 128 characters of a restricted set: an account key
 * (up to a few hundred bytes of any text) is hashed into one. The group keeps roll-ups of one account one at a time.
 */
export function rollUpGroupId(accountKey: string): string {
  return createHash('sha256').update(accountKey).digest('base64url');
}

export function rollUpDeduplicationId(accountKey: string, cause: string): string {
  return createHash('sha256').update(`${accountKey}\n${cause}`).digest('base64url');
}

/** A roll-up message as the queue carries it; undefined when the body is not one. */
export function readRollUpRequest(body: string): RollUpRequest | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { accountKey, at, due } = parsed as Record<string, unknown>;
  if (typeof accountKey !== 'string' || accountKey === '') return undefined;
  if (at !== undefined && (typeof at !== 'string' || Number.isNaN(Date.parse(at)))) return undefined;
  return { accountKey, ...(typeof at === 'string' ? { at } : {}), ...(due === true ? { due: true as const } : {}) };
}

/** Where roll-up requests go: the account-rollup FIFO queue. */
export interface RollUpQueue {
  /** Sends requests; `cause` makes the deduplication id (a stream record's id: its retry is not sent twice). */
  send(requests: readonly { request: RollUpRequest; cause: string }[]): Promise<void>;
}

export function sqsRollUpQueue(queueUrl: string): RollUpQueue {
  return {
    async send(requests) {
      const { failed } = await sendMessages(
        sqs(),
        queueUrl,
        requests.map(({ request, cause }, index) => ({
          id: String(index),
          body: JSON.stringify(request),
          fifo: { groupId: rollUpGroupId(request.accountKey), deduplicationId: rollUpDeduplicationId(request.accountKey, cause) },
        })),
      );
      if (failed.length > 0) throw new Error(`account-rollup queue refused ${failed.length} message(s): ${failed[0]?.error ?? ''}`);
    },
  };
}
