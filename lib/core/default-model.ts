import defaultModelJson from './default-model.json' with { type: 'json' };
import type { EmailDomainListSource } from './email-domains.ts';
import type { ScoringModel, ScoringModelInput } from './model.ts';
import { parseModel } from './model.ts';

/** The model that ships, as its file says it: a typical B2B scoring table (docs/scoring-model.md, "The default model"). */
export const defaultModelInput: ScoringModelInput = defaultModelJson as ScoringModelInput;

/**
 * The default model classifying addresses with `lists`. lib/runtime/default-model.ts `defaultModel` is the one
 * with the installed lists, the one that runs; a unit test of the core gives small lists of its own.
 */
export function defaultModelWith(lists: EmailDomainListSource): ScoringModel {
  return parseModel(defaultModelJson, lists, 'default model');
}
