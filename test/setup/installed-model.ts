/**
 * The models of the integration tests: the core's `parseModel` and the default model with the installed
 * e-mail domain lists, as the local stack's functions load them (lib/runtime/model-config.ts).
 */
import { parseModel as parseWithLists, type ScoringModel } from '../../lib/core/model.ts';
import { installedEmailDomainLists } from '../../lib/runtime/email-domain-lists.ts';

export { defaultModel } from '../../lib/runtime/default-model.ts';

/** The core's `parseModel` with the installed lists. */
export function parseModel(input: unknown, source?: string): ScoringModel {
  return parseWithLists(input, installedEmailDomainLists, source);
}
