/**
 * What the Lambdas work with, built once per container from their environment (the same variable names
 * in AWS and in the local stack): the pipeline (store, handoff queue, model), and for sources that queue
 * what they fetch later, the markers of queued ids and the queues.
 */
import type { Context, SQSEvent } from 'aws-lambda';
import { sendMessages, sqsQueueMessages } from '../queue/messages.ts';
import { retryPolicyFromEnv } from '../queue/settlement.ts';
import { dynamo, sqs } from '../runtime/aws.ts';
import { getSecrets, requireEnv } from '../runtime/config.ts';
import { loadModel, loadModelAtColdStart } from '../runtime/model-config.ts';
import type { WebhookSource } from '../sources/source.ts';
import { LeadStore } from '../store/lead-store.ts';
import { SeenStore } from '../store/markers.ts';
import { retentionFromEnv } from '../store/retention.ts';
import type { QueueName } from '../topology.ts';
import { dlqUrlEnv, queueSpec, queueUrlEnv, tableNameEnv } from '../topology.ts';
import { fetchRecords } from './fetch.ts';
import type { Pipeline } from './pipeline.ts';
import { sqsHandoffQueue } from './pipeline.ts';
import type { IngestDeps, NotificationQueue } from './webhook.ts';
import { webhookHandler } from './webhook.ts';

let cached: { key: string; pipeline: Pipeline } | undefined;

/** The pipeline from the environment: the table, the handoff queue, the model. */
export function pipelineFromEnv(): Pipeline {
  const tableName = requireEnv(tableNameEnv);
  const queueUrl = process.env[queueUrlEnv('handoff')] ?? '';
  const key = [
    tableName,
    queueUrl,
    ...['MQL_MODEL_PATH', 'RAW_RETENTION_DAYS', 'EVENT_RETENTION_DAYS', 'HANDOFF_RETENTION_DAYS'].map((name) => process.env[name] ?? ''),
  ].join('|');
  if (cached?.key === key) return cached.pipeline;
  const pipeline: Pipeline = {
    store: new LeadStore({ client: dynamo(), tableName, ...retentionFromEnv(process.env) }),
    handoffQueue: queueUrl
      ? sqsHandoffQueue(sqs(), queueUrl)
      : {
          send: async () => {
            throw new Error(`${queueUrlEnv('handoff')} is not set`);
          },
        },
    model: loadModel(),
  };
  cached = { key, pipeline };
  return pipeline;
}

/** A source's fetch queue on SQS (its URL from the environment). */
function notificationQueue(name: QueueName): NotificationQueue {
  const queueUrl = requireEnv(queueUrlEnv(name));
  return { send: (messages) => sendMessages(sqs(), queueUrl, messages) };
}

/** Everything a webhook route needs: the pipeline, and for a "notify, then fetch" source its queue and markers. */
export function ingestFromEnv(): IngestDeps {
  const pipeline = pipelineFromEnv();
  return { pipeline, queued: new SeenStore({ client: dynamo(), tableName: requireEnv(tableNameEnv) }), queue: notificationQueue };
}

/** The consumer of a "notify, then fetch" source's queue, as a Lambda handler; secrets are read per batch (cached in AWS). */
export function fetchHandler<Pending>(source: WebhookSource<Pending>) {
  loadModelAtColdStart();
  const step = source.fetch;
  if (!step) throw new Error(`the ${source.name} source has no fetch step`);
  // The source's settings (the URL its fetch sends a token to), refused at cold start as the webhook's are.
  source.checkSettings?.(process.env);
  const spec = queueSpec(step.queue);
  return async (event: SQSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) =>
    fetchRecords(event, source, {
      pipeline: pipelineFromEnv(),
      markers: new SeenStore({ client: dynamo(), tableName: requireEnv(tableNameEnv) }),
      secrets: await getSecrets(),
      env: process.env,
      messages: sqsQueueMessages(sqs(), requireEnv(queueUrlEnv(step.queue)), requireEnv(dlqUrlEnv(step.queue))),
      policy: retryPolicyFromEnv(spec.retryEnvPrefix, spec.retry),
      ...(context ? { remainingMs: () => context.getRemainingTimeInMillis() } : {}),
    });
}

/** The handler of a source's webhook route, wired to the environment. */
export function webhookHandlerFromEnv<Pending>(source: WebhookSource<Pending>) {
  loadModelAtColdStart();
  return webhookHandler(source, ingestFromEnv);
}
