import { readFileSync } from 'node:fs';
import type { ScoringModel } from '../core/model.ts';
import { ModelError, parseModelText } from '../core/model.ts';
import { defaultModel } from './default-model.ts';
import { installedEmailDomainLists } from './email-domain-lists.ts';

let cached: { key: string; model: ScoringModel } | undefined;

/**
 * The scoring model in force: `MQL_MODEL_JSON` (inlined into the Lambda bundle by CDK from the
 * operator's model file), else the file at `MQL_MODEL_PATH`, else the default model; each classifies
 * addresses with the installed e-mail domain lists (lib/runtime/email-domain-lists.ts).
 * A model that cannot be used throws a {@link ModelError} naming every problem, never a bare stack trace.
 */
export function loadModel(env: NodeJS.ProcessEnv = process.env): ScoringModel {
  const key = `${env.MQL_MODEL_JSON ? 'json' : ''}|${env.MQL_MODEL_PATH ?? ''}`;
  if (cached?.key === key) return cached.model;
  let model: ScoringModel;
  if (env.MQL_MODEL_JSON) model = parseModelText(env.MQL_MODEL_JSON, installedEmailDomainLists, 'MQL_MODEL_JSON');
  else if (env.MQL_MODEL_PATH) model = readModelFile(env.MQL_MODEL_PATH);
  // A bundle built with a model of its own (cdk/constructs/mql-function.ts `modelInBundleDefine`) has no
  // default model: this constant is "true" there, and the branch below is dropped with the default model.
  else if (process.env.MQL_MODEL_IN_BUNDLE === 'true')
    throw new ModelError('MQL_MODEL_JSON', ['MQL_MODEL_JSON: not set, in a bundle built with a model of its own']);
  else model = defaultModel;
  cached = { key, model };
  return model;
}

/** A model file (MQL_MODEL_PATH, `--model FILE`): a missing or unreadable file is a {@link ModelError} too. */
export function readModelFile(path: string): ScoringModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ModelError(path, [`${path}: cannot read the model file: ${why}`]);
  }
  return parseModelText(text, installedEmailDomainLists, path);
}

/**
 * For a Lambda's cold start: a model that does not validate stops the function before it takes traffic,
 * its problems printed as one plain block (the runtime's own error line escapes the newlines), with no
 * stack trace. The command line calls {@link loadModel} and prints the error itself.
 */
export function loadModelAtColdStart(): void {
  try {
    loadModel();
  } catch (error) {
    if (error instanceof ModelError) console.error(error.message);
    throw error;
  }
}
