import defaultModelJson from './default-model.json' with { type: 'json' };
import type { ScoringModel } from './model.ts';
import { parseModel } from './model.ts';

/** The model that ships: the seeds' scoring table (DESIGN.md "Default model figures"). */
export const defaultModel: ScoringModel = parseModel(defaultModelJson);
