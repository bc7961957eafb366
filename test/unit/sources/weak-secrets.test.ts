/**
 * A Standard Webhooks secret of a byte or two can be found by trying every value: the routes signed with one
 * (EVENTS_WEBHOOK_SECRET, CRM_FEEDBACK_SECRET) refuse to start with it, and refuse every delivery (503, nothing
 * read or stored) when one turns up later in the secrets they re-read.
 */
import { createHmac } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { webhookHandler } from '../../../lib/ingest/webhook.ts';
import { crmFeedback } from '../../../lib/sources/crm-feedback.ts';
import { segment } from '../../../lib/sources/segment.ts';

const short = 'whsec_AQI=';

afterEach(() => {
  delete process.env.EVENTS_WEBHOOK_SECRET;
});

describe('a Standard Webhooks secret under 24 bytes', () => {
  it.each([
    ['events', segment, 'EVENTS_WEBHOOK_SECRET'],
    ['crm-feedback', crmFeedback, 'CRM_FEEDBACK_SECRET'],
  ] as const)('stops the %s function at start-up, naming the key and not its value', (_, source, key) => {
    const start = () =>
      webhookHandler(
        source as never,
        () => {
          throw new Error('not reached');
        },
        () => new Date(),
        { [key]: short },
      );
    expect(start).toThrow(new RegExp(`^${key}: the Standard Webhooks secret decodes to 2 byte\\(s\\); it must be at least 24`));
    try {
      start();
    } catch (error) {
      expect((error as Error).message).not.toContain(short);
    }
  });

  it('answers 503 and reads nothing when the secret read at request time is too short (it may change without a cold start)', async () => {
    let reached = false;
    const handler = webhookHandler(
      segment,
      () => {
        reached = true;
        throw new Error('the pipeline must not be reached');
      },
      () => new Date(),
      {},
    );
    process.env.EVENTS_WEBHOOK_SECRET = short;
    const body = JSON.stringify({ type: 'track', event: 'Demo Requested', messageId: 'm1', properties: {}, context: { traits: { email: 'a@example.com' } } });
    const timestamp = Math.floor(Date.now() / 1000);
    // Signed with the weak key itself, as an attacker who guessed it would.
    const signature = createHmac('sha256', Buffer.from('AQI=', 'base64')).update(`msg_1.${timestamp}.${body}`).digest('base64');
    const event = {
      routeKey: 'POST /webhooks/events',
      rawPath: '/webhooks/events',
      headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` },
      body,
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST', path: '/webhooks/events' } },
    } as unknown as APIGatewayProxyEventV2;
    const answer = await handler(event, {} as Context);
    expect(answer.statusCode).toBe(503);
    expect(reached).toBe(false);
  });
});
