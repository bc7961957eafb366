import type { DynamoDBStreamEvent } from 'aws-lambda';
import { accountMembersFromEnv, keepAccountMembers } from '../lib/accounts/from-env.ts';
import { loadModelAtColdStart } from '../lib/runtime/model-config.ts';
import { pseudonymKeyReady } from '../lib/runtime/pseudonym.ts';

loadModelAtColdStart();

/**
 * Reads the table's change stream (lead items only, by the event-source mapping's filter): keeps each account's
 * member items and asks for the roll-up of every account whose members changed (lib/accounts/members.ts). A failure
 * throws, so Lambda retries the batch: every step is idempotent.
 */
export async function handler(event: DynamoDBStreamEvent) {
  await pseudonymKeyReady();
  return keepAccountMembers(event.Records, accountMembersFromEnv());
}
