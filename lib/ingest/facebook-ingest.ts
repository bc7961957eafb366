/**
 * `GET|POST /webhooks/facebook`: Meta's subscription handshake and leadgen notifications.
 *
 * A notification carries ids only; the lead's answers come from the Graph API, fetched by the
 * `fetch-facebook-lead` consumer of the `facebook-leads` queue. This handler answers Meta fast:
 * verify over the raw bytes, parse, skip ids already seen, queue the rest, record them as seen, 200.
 *
 * Order, so that no lead is lost: the 200 goes out only once every new id is durably on the queue, and
 * the SEEN item is written AFTER the send. A crash (or a failed SEEN write) between the send and the
 * SEEN write leaves the lead queued but not marked: Meta retries (no 200 was sent), the id is queued a
 * second time, and the second fetch is a no-op (the consumer finds it already fetched, or the event's
 * conditional write finds it already stored). The other order (SEEN first) would turn the same crash
 * into a retry that finds the id "seen" and drops a lead that was never queued.
 */

import type { SQSClient } from '@aws-sdk/client-sqs';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { notFound } from '../http/errors.ts';
import { httpHandler } from '../http/handler.ts';
import { json } from '../http/request.ts';
import { dynamo, sqs } from '../runtime/aws.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { getSecrets, requireEnv } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { LeadgenNotification } from '../sources/facebook.ts';
import { facebookSourceName, facebookWebhook, parseLeadgenDelivery } from '../sources/facebook.ts';
import { SeenStore } from '../store/seen-store.ts';
import { queueUrlEnv, tableNameEnv } from '../topology.ts';
import { webhookRequest } from './webhook.ts';

/** Where new leadgen ids go: the `facebook-leads` queue. */
export interface LeadgenQueue {
  /** Sends one message per notification; reports which leadgen ids are on the queue and which are not. */
  send(notifications: readonly LeadgenNotification[]): Promise<{ sent: string[]; failed: { leadgenId: string; error: string }[] }>;
}

export interface FacebookIngestDeps {
  seen: SeenStore;
  queue: LeadgenQueue;
}

/** The message body of the `facebook-leads` queue: the notification's ids, as exact strings. */
export function leadgenMessageBody(notification: LeadgenNotification): string {
  return JSON.stringify(notification);
}

/** The `facebook-leads` queue on SQS, ten messages per SendMessageBatch. */
export function sqsLeadgenQueue(client: SQSClient, queueUrl: string): LeadgenQueue {
  return {
    async send(notifications) {
      const chunks: LeadgenNotification[][] = [];
      for (let start = 0; start < notifications.length; start += 10) chunks.push(notifications.slice(start, start + 10));
      const results = await mapWithConcurrency(chunks, 4, async (chunk) => {
        try {
          const answer = await client.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((notification, index) => ({ Id: String(index), MessageBody: leadgenMessageBody(notification) })),
            }),
          );
          const failed = (answer.Failed ?? []).map((failure) => ({
            leadgenId: chunk[Number(failure.Id)]?.leadgenId ?? '?',
            error: failure.Message ?? failure.Code ?? 'refused',
          }));
          const failedIds = new Set(failed.map((failure) => failure.leadgenId));
          return { sent: chunk.map((one) => one.leadgenId).filter((id) => !failedIds.has(id)), failed };
        } catch (error) {
          return { sent: [], failed: chunk.map((one) => ({ leadgenId: one.leadgenId, error: (error as Error).message })) };
        }
      });
      return { sent: results.flatMap((result) => result.sent), failed: results.flatMap((result) => result.failed) };
    },
  };
}

let cached: { key: string; deps: FacebookIngestDeps } | undefined;

/** The ingest dependencies from the Lambda's environment (the same names locally). */
export function facebookIngestFromEnv(): FacebookIngestDeps {
  const tableName = requireEnv(tableNameEnv);
  const queueUrl = requireEnv(queueUrlEnv('facebook-leads'));
  const key = `${tableName}|${queueUrl}`;
  if (cached?.key !== key) {
    cached = { key, deps: { seen: new SeenStore({ client: dynamo(), tableName }), queue: sqsLeadgenQueue(sqs(), queueUrl) } };
  }
  return cached.deps;
}

/**
 * The handler: 404 while FACEBOOK_APP_SECRET or FACEBOOK_VERIFY_TOKEN is unset, 413 over 1 MiB, GET ->
 * the handshake, POST -> verify (401), parse (400), queue, 200
 * `{received, queued, duplicates, ignored, ignoredReasons}`; our own failure -> 503 so Meta retries.
 */
export function facebookIngestHandler(deps: () => FacebookIngestDeps, clock: () => Date = () => new Date()) {
  return httpHandler(async (event) => {
    const now = clock();
    const secrets = await getSecrets(now.getTime());
    if (facebookWebhook.requiredSecrets.some((key) => !secrets[key])) throw notFound('the facebook webhook is not configured');
    const request = webhookRequest(event);
    if (request.method === 'GET') {
      const answer = facebookWebhook.handshake!(request, secrets);
      return { statusCode: answer.status, headers: { 'content-type': answer.contentType }, body: answer.body };
    }
    facebookWebhook.verify(request, secrets, now);
    const delivery = parseLeadgenDelivery(request);
    const { seen, queue } = deps();

    const known =
      delivery.leads.length > 0
        ? await seen.seen(
            facebookSourceName,
            delivery.leads.map((lead) => lead.leadgenId),
          )
        : new Map();
    const fresh = delivery.leads.filter((lead) => !known.has(lead.leadgenId));
    const { sent, failed } = fresh.length > 0 ? await queue.send(fresh) : { sent: [], failed: [] };
    // Only what is on the queue is marked seen: an id that failed to queue is queued again on Meta's retry.
    if (sent.length > 0) await seen.recordQueued(facebookSourceName, sent, now);
    if (failed.length > 0) {
      throw new Error(`${failed.length} of ${fresh.length} leadgen id(s) not queued, e.g. ${failed[0]!.leadgenId}: ${failed[0]!.error}`);
    }

    const { ignored } = delivery;
    if (sent.length > 0) logger.info('facebook leads queued', { leadgenIds: sent });
    if (ignored.length > 0) logger.info('facebook changes ignored', { ignored: ignored.length, reasons: [...new Set(ignored.map((one) => one.reason))] });
    return json(200, {
      received: delivery.received,
      queued: sent.length,
      duplicates: known.size,
      ignored: ignored.length,
      ...(ignored.length > 0 ? { ignoredReasons: countBy(ignored.map((one) => one.reason)) } : {}),
    });
  });
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
