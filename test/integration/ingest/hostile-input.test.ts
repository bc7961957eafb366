/**
 * Valid but hostile input (issue 11, part 1), reproduced on the local stack against DynamoDB Local: a signed
 * delivery that is authentic and within the 1 MiB limit but huge in what it asks the store to keep is
 * stored cut to the byte budget (lib/core/budget.ts), or its event refused with a reason: a 2xx the sender
 * stops retrying, never the 503 loop DynamoDB's 400 KB item limit used to cause. Each case also checks the
 * items on the table are within DynamoDB's limit.
 */
import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoItemLimitBytes, utf8Bytes } from '../../../lib/core/budget.ts';
import { leadPk } from '../../../lib/store/keys.ts';
import { eventsSecret, postCounting, postWorkedExample, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { getLead, startTestStack } from '../../setup/stack.ts';
import { documentClient } from '../../setup/table.ts';

let stack: LocalStack;
const url = () => stack.urls['POST /webhooks/events']!;
const someone = () => `hostile.${randomUUID().slice(0, 8)}@acme.com`;
const euros = (count: number) => '€'.repeat(count);

beforeAll(async () => {
  stack = await startTestStack({ env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });
});

afterAll(async () => {
  await stack?.stop();
});

/** Every item of the lead's partition, with its size as DynamoDB counts it (roughly: its JSON in UTF-8). */
async function partitionSizes(email: string): Promise<{ sk: string; bytes: number }[]> {
  const { Items = [] } = await documentClient().send(
    new QueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': leadPk(email) } }),
  );
  return Items.map((item) => ({ sk: item.sk as string, bytes: utf8Bytes(JSON.stringify(item)) }));
}

describe('valid but huge deliveries', () => {
  it('a track with 100 properties of 2,000 "€" (a 600 KB body) is stored cut, answered 200 with what was trimmed', async () => {
    const email = someone();
    const properties: Record<string, string> = { url: 'https://acme.com/pricing' };
    for (let index = 0; index < 100; index += 1) properties[`p${index}`] = euros(2000);
    const message = {
      type: 'track',
      event: 'Page Viewed',
      messageId: randomUUID(),
      timestamp: new Date().toISOString(),
      context: { traits: { email } },
      properties,
    };
    const delivery = signedDelivery(message);
    expect(Buffer.byteLength(delivery.body)).toBeGreaterThan(600_000);

    const answer = await postCounting(stack, url(), delivery);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ received: 1, stored: 1, ignored: 0 });
    expect(answer.body.trimmed).toBeGreaterThan(90);
    // The event, its raw payload and the lead: three items, each far below 400 KB.
    expect(answer.added).toBe(3);
    for (const item of await partitionSizes(email)) expect(item.bytes, item.sk).toBeLessThan(dynamoItemLimitBytes / 4);
    // The property the model reads was kept.
    expect((await getLead(stack, email)).body.reasons.map((reason: { rule: string }) => reason.rule)).toContain('pricing_page_viewed');

    // The sender's retry of the same delivery is a duplicate, not another 503.
    const again = await postCounting(stack, url(), delivery);
    expect(again).toMatchObject({ status: 200, added: 0, body: { stored: 0, duplicates: 1 } });
  });

  it('an identify with 100 traits of 2,000 "€" keeps the lead within its limit', async () => {
    const email = someone();
    const traits: Record<string, string> = { email, title: 'VP Marketing' };
    for (let index = 0; index < 100; index += 1) traits[`trait${index}`] = euros(2000);
    const answer = await postCounting(
      stack,
      url(),
      signedDelivery({ type: 'identify', messageId: randomUUID(), timestamp: new Date().toISOString(), userId: email, traits }),
    );
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    for (const item of await partitionSizes(email)) expect(item.bytes, item.sk).toBeLessThan(dynamoItemLimitBytes / 4);
    expect((await getLead(stack, email)).body.lead.jobTitle).toBe('VP Marketing');
  });

  it('four 110,000-character event names on one lead are refused with a reason, stored nowhere, and the lead keeps working', async () => {
    const email = someone();
    await postWorkedExample(url(), email);
    // The MQL's handoff is recorded on the lead's partition: let it settle before counting.
    await stack.drain();
    const before = await partitionSizes(email);
    for (let index = 0; index < 4; index += 1) {
      const message = {
        type: 'track',
        event: `${index}${'x'.repeat(110_000)}`,
        messageId: randomUUID(),
        timestamp: new Date().toISOString(),
        context: { traits: { email } },
      };
      const answer = await postCounting(stack, url(), signedDelivery(message));
      expect(answer).toEqual({
        status: 200,
        added: 0,
        body: { received: 1, stored: 0, duplicates: 0, ignored: 1, ignoredReasons: { event_type_too_long: 1 } },
      });
    }
    expect(await partitionSizes(email)).toEqual(before);
    expect((await getLead(stack, email)).body.status).toBe('mql');
  });

  it('a batch of one good and one huge message: both answered in one 200, the good one stored whole, the huge one cut', async () => {
    const good = someone();
    const huge = someone();
    const properties: Record<string, string> = {};
    for (let index = 0; index < 100; index += 1) properties[`p${index}`] = euros(2000);
    const batch = {
      batch: [
        {
          type: 'track',
          event: 'Demo Requested',
          messageId: randomUUID(),
          timestamp: new Date().toISOString(),
          context: { traits: { email: good } },
          properties: { plan: 'enterprise' },
        },
        { type: 'track', event: 'Page Viewed', messageId: randomUUID(), timestamp: new Date().toISOString(), context: { traits: { email: huge } }, properties },
      ],
    };
    const answer = await postCounting(stack, url(), signedDelivery(batch));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ received: 2, stored: 2, ignored: 0 });
    expect((await getLead(stack, good)).body.reasons.map((reason: { rule: string }) => reason.rule)).toContain('demo_requested');
    for (const email of [good, huge]) for (const item of await partitionSizes(email)) expect(item.bytes, item.sk).toBeLessThan(dynamoItemLimitBytes / 4);
  });
});
