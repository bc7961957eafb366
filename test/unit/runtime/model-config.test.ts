/**
 * The model in force (lib/runtime/model-config.ts): the model of `MQL_MODEL_JSON`, else the default model;
 * in a bundle built with a model of its own there is no default model to fall back to
 * (cdk/constructs/mql-function.ts `modelInBundleDefine`; test/cdk/bundling.test.ts checks the bundles).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { modelInBundleDefine } from '../../../cdk/constructs/mql-function.ts';
import { ModelError, modelContent } from '../../../lib/core/model.ts';
import { defaultModel } from '../../../lib/runtime/default-model.ts';
import { loadModel } from '../../../lib/runtime/model-config.ts';

const flag = Object.keys(modelInBundleDefine)[0]!.replace('process.env.', '');

describe('the model in force', () => {
  afterEach(() => {
    delete process.env[flag];
  });

  it('in a bundle built with its own model, a missing MQL_MODEL_JSON is an error, never the default model', () => {
    process.env[flag] = JSON.parse(Object.values(modelInBundleDefine)[0]!);
    expect(() => loadModel({})).toThrow(ModelError);
    expect(() => loadModel({})).toThrow(/MQL_MODEL_JSON: not set, in a bundle built with a model of its own/);
    expect(loadModel({ MQL_MODEL_JSON: JSON.stringify({ ...modelContent(defaultModel), name: 'own' }) }).name).toBe('own');
  });

  it('elsewhere (the command line, the local stack, the tests) the default model', () => {
    expect(loadModel({})).toBe(defaultModel);
  });
});
