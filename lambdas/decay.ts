import { decayAccountsFromEnv } from '../lib/accounts/due.ts';
import { pipelineFromEnv } from '../lib/ingest/from-env.ts';
import { runDecay } from '../lib/jobs/decay.ts';
import { logger } from '../lib/runtime/logger.ts';
import { loadModelAtColdStart } from '../lib/runtime/model-config.ts';
import { pseudonymKeyReady } from '../lib/runtime/pseudonym.ts';

loadModelAtColdStart();

/** What the schedule (or `mql decay --now`) passes in. */
export interface DecayInput {
  schedule?: string;
  /** Evaluate as of this ISO instant instead of the clock (what-if runs, tests). */
  now?: string;
}

/** The part of the Lambda context the run needs: its time budget. */
export interface DecayContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Every 15 minutes: recompute only the leads the sparse due index lists, recycle, hand off. Stops taking
 * leads 30 s before the function's timeout; what is left stays due and the next run takes it.
 */
export async function handler(input: DecayInput = {}, context?: DecayContext) {
  // The logs' lead references are keyed like every other function's (lib/runtime/pseudonym.ts).
  await pseudonymKeyReady();
  const now = input.now ? new Date(input.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new Error(`not an ISO time: ${input.now}`);
  const accounts = decayAccountsFromEnv();
  const summary = await runDecay(pipelineFromEnv(), now, {
    ...(accounts ? { accounts } : {}),
    ...(context ? { remainingMs: () => context.getRemainingTimeInMillis() } : {}),
  });
  logger.info('decay run', { now: now.toISOString(), ...summary });
  return { now: now.toISOString(), ...summary };
}
