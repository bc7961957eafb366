import { defaultModelWith } from '../core/default-model.ts';
import type { ScoringModel } from '../core/model.ts';
import { installedEmailDomainLists } from './email-domain-lists.ts';

/**
 * The model that ships (lib/core/default-model.json; docs/scoring-model.md, "The default model"), classifying
 * addresses with the installed e-mail domain lists: the model in force when the operator names none
 * (lib/runtime/model-config.ts). Parsing it reads the lists' versions, part of its version; the lists
 * themselves are read when it first classifies an address.
 */
// Pure for the bundler: a bundle that never reaches the default model (lib/runtime/model-config.ts) drops it, JSON and all.
export const defaultModel: ScoringModel = /* @__PURE__ */ defaultModelWith(installedEmailDomainLists);
