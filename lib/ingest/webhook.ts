import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { notFound } from '../http/errors.ts';
import { httpHandler } from '../http/handler.ts';
import { header, json, rawBody } from '../http/request.ts';
import { getSecrets } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { WebhookRequest, WebhookSource } from '../sources/source.ts';
import type { Pipeline } from './pipeline.ts';
import { ingest } from './pipeline.ts';

/** The request as a source sees it; the body limit (413) is enforced here, before any verification. */
export function webhookRequest(event: APIGatewayProxyEventV2): WebhookRequest {
  return {
    method: event.requestContext?.http?.method ?? 'POST',
    body: rawBody(event),
    header: (name) => header(event, name),
    query: event.queryStringParameters ?? {},
    pathParameters: event.pathParameters ?? {},
  };
}

/**
 * The whole webhook path for a source: 404 while it is not configured, verify over the raw bytes,
 * normalize, store and score, answer 2xx only once everything is durably stored.
 */
export function webhookHandler(source: WebhookSource, pipeline: () => Pipeline, clock: () => Date = () => new Date()) {
  return httpHandler(async (event) => {
    const now = clock();
    const secrets = await getSecrets(now.getTime());
    if (source.requiredSecrets.some((key) => !secrets[key])) throw notFound(`the ${source.name} webhook is not configured`);
    const request = webhookRequest(event);
    if (request.method === 'GET') {
      if (!source.handshake) throw notFound(`the ${source.name} webhook has no GET`);
      const answer = source.handshake(request, secrets);
      return { statusCode: answer.status, headers: { 'content-type': answer.contentType }, body: answer.body };
    }
    source.verify(request, secrets, now);
    const { events, ignored } = source.normalize(request, now);
    // After normalize, so a delivery refused as malformed leaves no token behind.
    const guard = source.replayGuard?.(request, now);
    if (guard) {
      const claim = await pipeline().store.claimReplayToken(source.name, guard.token, guard.fingerprint, guard.expiresAt);
      if (claim === 'replayed') throw guard.refusal();
    }
    const result = await ingest(events, pipeline(), now);
    if (ignored.length > 0)
      logger.info('events ignored', { source: source.name, ignored: ignored.length, reasons: [...new Set(ignored.map((one) => one.reason))] });
    return json(200, {
      received: events.length + ignored.length,
      stored: result.applied,
      duplicates: result.duplicates,
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
