/**
 * The one way in: every inbound route runs its source (lib/sources/) through this handler.
 *
 * 404 while the source's secrets are not configured; a GET is the source's handshake; a POST is verified
 * over the raw bytes, normalized, replay-guarded, completed by the source's async step, stored and scored;
 * the answer is 2xx only once everything is durably stored (or, for a "notify, then fetch" source, durably
 * queued), 4xx for the sender's mistake, and 503 for a failure of ours (lib/http/handler.ts) so the sender
 * retries. Every answer has one shape: `{received, stored, duplicates, ignored, ignoredReasons?, queued?, trimmed?}`
 * (`trimmed`: property and profile values cut to the store's byte budget, lib/core/budget.ts).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { NormalizedEvent } from '../core/events.ts';
import { allowedOriginsOf, corsHeaders, preflight, refuseOtherOrigins } from '../http/cors.ts';
import { notFound } from '../http/errors.ts';
import { httpHandler } from '../http/handler.ts';
import { header, json, rawBody } from '../http/request.ts';
import type { Secrets } from '../runtime/config.ts';
import { getSecrets } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { Env, IgnoredEvent, Normalized, StepContext, WebhookRequest, WebhookSource } from '../sources/source.ts';
import type { QueueName } from '../topology.ts';
import type { Pipeline } from './pipeline.ts';
import { ingest, NotAllStored } from './pipeline.ts';

/** The request as a source sees it; the body limit (413) is enforced here, before any verification. */
export function webhookRequest(event: APIGatewayProxyEventV2): WebhookRequest {
  return {
    method: event.requestContext?.http?.method ?? 'POST',
    body: rawBody(event),
    header: (name) => header(event, name),
    query: event.queryStringParameters ?? {},
    pathParameters: event.pathParameters ?? {},
    path: event.rawPath ?? event.requestContext?.http?.path ?? '/',
    rawQueryString: event.rawQueryString ?? '',
    ...(event.requestContext?.domainName ? { domainName: event.requestContext.domainName } : {}),
  };
}

/** Where a "notify, then fetch" source's items go: its queue. */
export interface NotificationQueue {
  /** Sends one message per item; reports which ids are on the queue and which are not. */
  send(messages: readonly { id: string; body: string }[]): Promise<{ sent: string[]; failed: { id: string; error: string }[] }>;
}

/** Markers of the ids a "notify, then fetch" source has queued (lib/store/seen-store.ts). */
export interface QueuedMarkers {
  seen(source: string, ids: readonly string[]): Promise<ReadonlyMap<string, unknown>>;
  recordQueued(source: string, ids: readonly string[], now: Date): Promise<void>;
}

export interface IngestDeps {
  pipeline: Pipeline;
  /** For sources with a fetch step. */
  queued?: QueuedMarkers;
  queue?: (name: QueueName) => NotificationQueue;
}

/** What a source's async step added to a delivery. */
interface Completed {
  events: NormalizedEvent[];
  ignored: IgnoredEvent[];
  /** Items put on the fetch queue. */
  queued?: number;
  /** Items already queued by an earlier delivery. */
  alreadyQueued: number;
  unavailable?: Error;
}

/**
 * The handler of a source's route. `env` is read for the source's settings; they are checked when the
 * handler is built (a Lambda's cold start), so a bad one stops the function before it takes traffic.
 */
export function webhookHandler<Pending>(source: WebhookSource<Pending>, deps: () => IngestDeps, clock: () => Date = () => new Date(), env: Env = process.env) {
  checkSettings(source, env);
  const handler = httpHandler(async (event) => {
    const now = clock();
    const secrets = await getSecrets(now.getTime());
    const missing = source.requiredSecrets.filter((key) => !secrets[key]);
    if (missing.length > 0) throw notFound(`the ${source.name} webhook is not configured (${missing.join(', ')})`);
    // Secrets read in AWS may change without a cold start: checked each time (a 503: nothing accepted with a weak key).
    source.checkSecrets?.(secrets);
    const request = webhookRequest(event);
    if (source.cors) {
      // A browser on another site: its preflight answered here, its request refused before anything is read (lib/http/cors.ts).
      const { policy, originsKey } = source.cors;
      const allowed = allowedOriginsOf(secrets[originsKey], originsKey);
      const origin = request.header('origin');
      if (request.method === 'OPTIONS') return { statusCode: 204, headers: preflight(policy, origin, allowed, originsKey) };
      refuseOtherOrigins(origin, allowed, originsKey);
    }
    if (request.method === 'GET') {
      if (!source.handshake) throw notFound(`the ${source.name} webhook has no GET`);
      const answer = source.handshake(request, secrets);
      return { statusCode: answer.status, headers: { ...answer.headers, 'content-type': answer.contentType }, body: answer.body };
    }
    if (request.method !== 'POST') throw notFound(`the ${source.name} webhook has no ${request.method.slice(0, 10)}`);
    source.verify(request, secrets, now, env);
    const normalized = source.normalize(request, now, env);
    const current = deps();
    // After normalize, so a delivery refused as malformed leaves no token behind.
    const guard = source.replayGuard?.(request, now);
    if (guard) {
      const claim = await current.pipeline.store.claimReplayToken(source.name, guard.token, guard.fingerprint, guard.expiresAt);
      if (claim === 'replayed') throw guard.refusal();
    }
    const completed = await complete(source, normalized, current, { secrets, env, now });
    let result: Awaited<ReturnType<typeof ingest>>;
    try {
      result = await ingest(completed.events, current.pipeline, now);
    } catch (error) {
      if (!(error instanceof NotAllStored)) throw error;
      // Part of it is stored (too big for one transaction, lib/store/delivery-transaction.ts): say so.
      logger.error(`${source.name}: part of the delivery could not be stored just now; the sender will retry it`, { error });
      return json(503, {
        error: 'temporarily_unavailable',
        detail: `${error.message}; retry later: what was stored is not counted twice`,
        stored: error.applied,
      });
    }
    const ignored = [...completed.ignored, ...result.ignored];
    if (result.trimmed > 0) logger.info('event values cut to the store budget', { source: source.name, trimmed: result.trimmed });
    if (ignored.length > 0) {
      logger.info('events ignored', { source: source.name, ignored: ignored.length, reasons: [...new Set(ignored.map((one) => one.reason))] });
    }
    const counts = {
      received: normalized.received ?? normalized.events.length + normalized.ignored.length + (normalized.pending?.length ?? 0),
      stored: result.applied,
      ...(completed.queued === undefined ? {} : { queued: completed.queued }),
      duplicates: result.duplicates + completed.alreadyQueued,
      ignored: ignored.length,
      ...(ignored.length > 0 ? { ignoredReasons: countBy(ignored.map((one) => one.reason)) } : {}),
      ...(result.trimmed > 0 ? { trimmed: result.trimmed } : {}),
    };
    if (completed.unavailable) {
      // What could be completed is stored; the sender retries the whole delivery and those events deduplicate.
      logger.error(`${source.name}: part of the delivery could not be completed just now; the sender will retry it`, { error: completed.unavailable });
      return json(503, { error: 'temporarily_unavailable', detail: `${completed.unavailable.message}; retry later`, stored: result.applied });
    }
    return json(200, { ...source.acknowledgement, ...counts });
  });
  const cors = source.cors;
  if (!cors) return handler;
  // Every answer to an allowed origin carries the CORS headers, a refusal too: a browser hides an answer without
  // them, and analytics.js would send the event again.
  return async (event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const response = await handler(event, context);
    let allowed: string[] = [];
    try {
      allowed = allowedOriginsOf((await getSecrets(Date.now(), [cors.originsKey]))[cors.originsKey], cors.originsKey);
    } catch {
      // The handler has answered for a secret that cannot be read or is malformed (503): no origin is named.
    }
    return { ...response, headers: { ...response.headers, ...corsHeaders(cors.policy, header(event, 'origin'), allowed) } };
  };
}

/** The source's async step, if any: a lookup in the request, or the pending items queued for their fetch. */
async function complete<Pending>(
  source: WebhookSource<Pending>,
  normalized: Normalized<Pending>,
  deps: IngestDeps,
  context: { secrets: Secrets; env: Env; now: Date },
): Promise<Completed> {
  const pending = normalized.pending ?? [];
  const done: Completed = { events: [...normalized.events], ignored: [...normalized.ignored], alreadyQueued: 0 };
  if (source.lookup) {
    if (pending.length === 0) return done;
    const { store, model } = deps.pipeline;
    const leads: StepContext['leads'] = {
      leadIdForCrmRecord: (adapter, id) => store.leadIdForCrmRecord(adapter, id),
      getLead: (leadId) => store.getLead(leadId),
    };
    const looked = await source.lookup(pending, { ...context, model, leads });
    done.events.push(...looked.events);
    done.ignored.push(...looked.ignored);
    if (looked.unavailable) done.unavailable = looked.unavailable;
    return done;
  }
  if (source.fetch) {
    done.queued = await queueForFetch(source.name, source.fetch, pending, deps, context.now).then((queued) => {
      done.alreadyQueued = queued.already;
      return queued.sent;
    });
    return done;
  }
  if (pending.length > 0) throw new Error(`the ${source.name} source left ${pending.length} item(s) pending and has no step to complete them`);
  return done;
}

/**
 * Queues the items not queued before, then marks them queued. The order keeps every item: the 2xx goes out
 * only once each new id is on the queue, and the marker is written AFTER the send. A crash (or a failed
 * marker write) between the two leaves the item queued but not marked: the sender retries (no 2xx was
 * sent), the id is queued a second time, and the second fetch is a no-op (the consumer finds it already
 * fetched, or the event's conditional write finds it already stored). The other order (marker first)
 * would turn the same crash into a retry that finds the id "seen" and drops an item never queued.
 */
async function queueForFetch<Pending>(
  name: string,
  step: NonNullable<WebhookSource<Pending>['fetch']>,
  pending: readonly Pending[],
  deps: IngestDeps,
  now: Date,
): Promise<{ sent: number; already: number }> {
  if (pending.length === 0) return { sent: 0, already: 0 };
  if (!deps.queued || !deps.queue) throw new Error(`the ${name} source needs its queue and the queued markers`);
  const known = await deps.queued.seen(
    name,
    pending.map((item) => step.idOf(item)),
  );
  const fresh = pending.filter((item) => !known.has(step.idOf(item)));
  const { sent, failed } =
    fresh.length > 0 ? await deps.queue(step.queue).send(fresh.map((item) => ({ id: step.idOf(item), body: step.write(item) }))) : { sent: [], failed: [] };
  // Only what is on the queue is marked: an id that failed to queue is queued again on the sender's retry.
  if (sent.length > 0) await deps.queued.recordQueued(name, sent, now);
  if (failed.length > 0) throw new Error(`${failed.length} of ${fresh.length} ${step.noun}(s) not queued, e.g. ${failed[0]!.id}: ${failed[0]!.error}`);
  if (sent.length > 0) logger.info(`${step.noun}s queued`, { source: name, ids: sent });
  return { sent: sent.length, already: known.size };
}

/**
 * Settings a source reads from the environment, and the secrets set there (locally, .env), checked at cold start:
 * printed as one plain line, then thrown.
 */
function checkSettings<Pending>(source: WebhookSource<Pending>, env: Env): void {
  try {
    source.checkSettings?.(env);
    const keys = [...source.requiredSecrets, ...(source.cors ? [source.cors.originsKey] : [])];
    source.checkSecrets?.(Object.fromEntries(keys.flatMap((key) => (env[key] ? [[key, env[key]]] : []))) as Secrets);
  } catch (error) {
    console.error((error as Error).message);
    throw error;
  }
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
