import defaultModelJson from './default-model.json' with { type: 'json' };
import type { ScoringModel } from './model.ts';
import { parseModel } from './model.ts';

/** The model that ships: a typical B2B scoring table (docs/scoring-model.md, "The default model"). */
export const defaultModel: ScoringModel = parseModel(defaultModelJson);
