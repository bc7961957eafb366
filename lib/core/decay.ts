/**
 * Exponential half-life decay of behavior points, kept exact and order-independent.
 *
 * A rule's points are stored as one number `sum` referenced to an instant `asOf`: the value at any
 * later time t is `sum * 2^(-(t - asOf) / halfLife)`. That is the sum over every matching event of
 * `points * 2^(-(t - occurredAt) / halfLife)`, so adding an event is a re-reference plus an addition:
 * the result does not depend on the order events arrive in, and nothing is rewritten on a timer.
 */

const dayMs = 24 * 60 * 60 * 1000;

/** Accumulated points of one behavior rule. */
export interface RuleState {
  /** Decayed sum of the points, as of `asOf` (uncapped; the cap applies when read). */
  sum: number;
  /** ISO instant `sum` refers to: the latest matching event seen. */
  asOf: string;
  /** Matching events. */
  count: number;
  /** Points awarded before decay, summed. */
  rawPoints: number;
  /** ISO time of the latest matching event. */
  lastSeen: string;
}

/** `2^(-elapsed / halfLife)`; 1 when the points never decay or no time has passed. */
export function decayFactor(elapsedMs: number, halfLifeDays: number | null): number {
  if (halfLifeDays === null || elapsedMs <= 0) return 1;
  return 2 ** (-elapsedMs / (halfLifeDays * dayMs));
}

/** The rule's uncapped value at `at` (never grows for instants before `asOf`). */
export function valueAt(state: RuleState, halfLifeDays: number | null, at: number): number {
  return state.sum * decayFactor(at - Date.parse(state.asOf), halfLifeDays);
}

/** Adds one event's points to a rule's state (or starts it). */
export function addPoints(state: RuleState | undefined, points: number, occurredAt: string, halfLifeDays: number | null): RuleState {
  if (!state) return { sum: points, asOf: occurredAt, count: 1, rawPoints: points, lastSeen: occurredAt };
  const stateAt = Date.parse(state.asOf);
  const eventAt = Date.parse(occurredAt);
  const anchor = Math.max(stateAt, eventAt);
  return {
    sum: state.sum * decayFactor(anchor - stateAt, halfLifeDays) + points * decayFactor(anchor - eventAt, halfLifeDays),
    asOf: new Date(anchor).toISOString(),
    count: state.count + 1,
    rawPoints: state.rawPoints + points,
    lastSeen: eventAt > Date.parse(state.lastSeen) ? occurredAt : state.lastSeen,
  };
}

/** A capped contribution: positive rules cannot exceed `cap`, negative ones cannot go below `-cap`. */
export function applyCap(value: number, cap: number | undefined): number {
  if (cap === undefined) return value;
  return Math.max(-cap, Math.min(cap, value));
}

export const msPerDay = dayMs;
