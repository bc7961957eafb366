import { ModelError } from '../core/model.ts';
import { dynamo, sqs } from '../runtime/aws.ts';
import { requireEnv } from '../runtime/config.ts';
import { loadModel } from '../runtime/model-config.ts';
import { LeadStore } from '../store/lead-store.ts';
import { queueUrlEnv, tableNameEnv } from '../topology.ts';
import type { Pipeline } from './pipeline.ts';
import { sqsHandoffQueue } from './pipeline.ts';

let cached: { key: string; pipeline: Pipeline } | undefined;

// Cold start: a model that does not validate stops the function before it takes traffic, its problems
// printed as one plain block (the runtime's own error line escapes the newlines), with no stack trace.
try {
  loadModel();
} catch (error) {
  if (error instanceof ModelError) console.error(error.message);
  throw error;
}

/**
 * The pipeline a Lambda works with, built once per container from its environment
 * (the same variable names in AWS and in the local stack).
 */
export function pipelineFromEnv(): Pipeline {
  const tableName = requireEnv(tableNameEnv);
  const queueUrl = process.env[queueUrlEnv('handoff')] ?? '';
  const key = `${tableName}|${queueUrl}|${process.env.MQL_MODEL_PATH ?? ''}`;
  if (cached?.key === key) return cached.pipeline;
  const rawRetentionDays = Number(process.env.RAW_RETENTION_DAYS ?? 30);
  const pipeline: Pipeline = {
    store: new LeadStore({ client: dynamo(), tableName, rawRetentionDays }),
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
