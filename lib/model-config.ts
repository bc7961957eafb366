import { readFileSync } from 'node:fs';
import { defaultModel } from './core/default-model.ts';
import type { ScoringModel } from './core/model.ts';
import { parseModel } from './core/model.ts';

let cached: { key: string; model: ScoringModel } | undefined;

/**
 * The scoring model in force: `MQL_MODEL_JSON` (inlined into the Lambda bundle by CDK from the
 * operator's model file), else the file at `MQL_MODEL_PATH`, else the default model.
 */
export function loadModel(env: NodeJS.ProcessEnv = process.env): ScoringModel {
  const key = `${env.MQL_MODEL_JSON ? 'json' : ''}|${env.MQL_MODEL_PATH ?? ''}`;
  if (cached?.key === key) return cached.model;
  let model = defaultModel;
  if (env.MQL_MODEL_JSON) model = parseModel(JSON.parse(env.MQL_MODEL_JSON));
  else if (env.MQL_MODEL_PATH) model = parseModel(JSON.parse(readFileSync(env.MQL_MODEL_PATH, 'utf8')));
  cached = { key, model };
  return model;
}
