/** Waiting for something the local stack does in the background, with a bound and a message that says what was awaited. */
import type { LeadStore } from '../../lib/store/lead-store.ts';

/** Resolves once `check` holds, asking every `everyMs`; rejects after `timeoutMs` naming `what`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Resolves once every lead has at least `count` failed handoff attempts on record (an outage test ends
 * the outage then). Asks only about the leads not there yet: the stack runs in the test's process, so
 * polling many leads at once would slow the handoff it waits for.
 */
export async function waitForFailedAttempts(store: LeadStore, leadIds: readonly string[], count: number, timeoutMs: number): Promise<void> {
  const done = new Set<string>();
  await waitUntil(
    `${count} failed attempts of each of ${leadIds.length} handoffs`,
    async () => {
      for (const leadId of leadIds) {
        if (done.has(leadId)) continue;
        const failed = (await store.listHandoffAttempts(leadId)).filter((attempt) => attempt.outcome === 'failed').length;
        if (failed >= count) done.add(leadId);
      }
      return done.size === leadIds.length;
    },
    timeoutMs,
  );
}
