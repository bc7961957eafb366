/** Signed deliveries as a Standard Webhooks sender makes them, and a look at what the table holds. */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { standardWebhookHeaders } from '../../lib/http/standard-webhooks.ts';
import { workedExampleProfile } from './events.ts';

export const eventsSecret = 'whsec_dGVzdC1vbmx5LWV2ZW50cy13ZWJob29rLXNlY3JldC0wMQ==';
export const crmSecret = 'whsec_dGVzdC1vbmx5LWNybS13ZWJob29rLXNlY3JldC0wMDAwMQ==';

export interface SignedDelivery {
  id: string;
  body: string;
  headers: Record<string, string>;
}

/** A delivery signed now (or at `timestamp`), with a fresh webhook-id unless one is given (a retry keeps it). */
export function signedDelivery(payload: unknown, options: { id?: string; timestamp?: number; secret?: string; contentType?: string } = {}): SignedDelivery {
  const id = options.id ?? `msg_${randomUUID()}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const headers = standardWebhookHeaders({ secret: options.secret ?? eventsSecret, id, timestamp, body });
  return { id, body, headers: { ...headers, 'content-type': options.contentType ?? 'application/json' } };
}

export async function post(url: string, delivery: { body: string | Buffer; headers: Record<string, string> }): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { method: 'POST', headers: delivery.headers, body: delivery.body });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}

/** Every item in the table: "nothing was stored" means this count did not move. */
/**
 * The table's items a request can store, counted: every item but the accounts' (`ACCOUNT#…`), which the account
 * roll-up derives from lead items asynchronously (docs/accounts.md, "The roll-up"): a request that changed no lead
 * changes no account, and an earlier test's roll-up landing meanwhile is not this request's doing.
 */
export async function countItems(client: DynamoDBClient, tableName: string): Promise<number> {
  let count = 0;
  let cursor: Record<string, any> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        Select: 'COUNT',
        ExclusiveStartKey: cursor,
        ConsistentRead: true,
        FilterExpression: 'NOT begins_with(pk, :account)',
        ExpressionAttributeValues: { ':account': { S: 'ACCOUNT#' } },
      }),
    );
    count += page.Count ?? 0;
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return count;
}

/** Posts a delivery and counts the table's items around it: `added` is how many items it left (0: it stored nothing). */
export async function postCounting(
  stack: { dynamodb: DynamoDBClient; tableName: string },
  url: string,
  delivery: { body: string | Buffer; headers: Record<string, string> },
): Promise<{ status: number; body: any; added: number }> {
  const before = await countItems(stack.dynamodb, stack.tableName);
  const answer = await post(url, delivery);
  return { ...answer, added: (await countItems(stack.dynamodb, stack.tableName)) - before };
}

/**
 * Segment messages for the seeds' worked example (test/setup/events.ts has it as normalized events): the
 * person's identify at `start`, a case study 5 s later and a webinar 10 s after the start.
 */
export function workedExampleMessages(email: string, start = new Date()): object[] {
  const at = (seconds: number) => new Date(start.getTime() + seconds * 1000).toISOString();
  const { firstName, lastName, jobTitle, industry, company } = workedExampleProfile;
  return [
    {
      type: 'identify',
      messageId: `identify-${randomUUID()}`,
      timestamp: at(0),
      userId: `user-${email}`,
      traits: { email, firstName, lastName, title: jobTitle, industry, company: { name: company, employee_count: 120 } },
    },
    {
      type: 'track',
      event: 'Content Downloaded',
      messageId: `download-${randomUUID()}`,
      timestamp: at(5),
      userId: `user-${email}`,
      context: { traits: { email } },
      properties: { contentType: 'case_study', title: 'How Acme cut churn' },
    },
    {
      type: 'track',
      event: 'Webinar Attended',
      messageId: `webinar-${randomUUID()}`,
      timestamp: at(10),
      userId: `user-${email}`,
      context: { traits: { email } },
      properties: { webinar: 'Scoring that explains itself' },
    },
  ];
}

/**
 * Posts the worked example for `email` (from `start`, default now), signed, to POST /webhooks/events: the
 * lead becomes an MQL. Throws unless each answer is 200 with the event stored.
 */
export async function postWorkedExample(eventsUrl: string, email: string, start = new Date()): Promise<void> {
  for (const message of workedExampleMessages(email, start)) {
    const { status, body } = await post(eventsUrl, signedDelivery(message));
    if (status !== 200 || body?.stored !== 1) throw new Error(`POST ${eventsUrl} answered ${status}: ${JSON.stringify(body)}`);
  }
}
