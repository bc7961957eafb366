/** GET /leads/{key} and `mql explain` show what sales decided: type, time, reason, amount and currency. */
import { describe, expect, it } from 'vitest';
import { formatExplanation } from '../../../bin/commands/explain.ts';
import type { NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents } from '../../../lib/core/index.ts';

import type { StoredLead } from '../../../lib/store/repository.ts';
import { leadView, outcomeLine } from '../../../lib/views/lead-view.ts';
import { event } from '../../setup/events.ts';
import { defaultModel } from '../../setup/model.ts';

const email = 'dana.whitfield@acme-logistics.com';
const t0 = Date.parse('2026-03-02T10:00:00.000Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();
function viewAfter(outcome: NormalizedEvent | undefined) {
  // An MQL first (its own delivery), then what sales said of it.
  const mql = applyEvents(
    undefined,
    [event(email, 'identify', at(0), { profile: { email, jobTitle: 'VP of Operations', companySize: 2000 } }), event(email, 'demo_requested', at(1))],
    defaultModel,
    new Date(at(2)),
  ).lead;
  expect(mql.status).toBe('mql');
  const lead = outcome ? applyEvents(mql, [outcome], defaultModel, new Date(at(60))).lead : mql;
  return leadView(lead as StoredLead, [], defaultModel, new Date(at(60)));
}

describe('the sales outcome in the lead view', () => {
  it('a won deal shows its amount and currency, in the JSON view and in the explanation', () => {
    const view = viewAfter(event(email, 'won', at(30), { properties: { amount: 24000, currency: 'USD' }, source: 'hubspot' }));

    expect(view.status).toBe('won');
    expect(view.outcome).toEqual({ type: 'won', at: at(30), amount: 24000, currency: 'USD', source: 'hubspot' });
    expect(formatExplanation(view)).toContain(`sales outcome: won 24,000 USD at ${at(30)} via hubspot`);
  });

  it('a rejection shows its reason', () => {
    const view = viewAfter(event(email, 'mql_rejected', at(30), { properties: { reason: 'wrong_timing' }, source: 'crm' }));

    expect(view.status).toBe('recycled');
    expect(view.outcome).toMatchObject({ type: 'mql_rejected', reason: 'wrong_timing' });
    expect(formatExplanation(view)).toContain(`sales outcome: mql_rejected (wrong_timing) at ${at(30)} via crm`);
  });

  it('a lead sales has not judged has no outcome, and the explanation says nothing of one', () => {
    const view = viewAfter(undefined);

    expect(view).not.toHaveProperty('outcome');
    expect(formatExplanation(view)).not.toContain('sales outcome');
  });

  it('an sql outcome is its type alone', () => {
    expect(outcomeLine({ type: 'sql', at: at(5) })).toBe(`sales outcome: sql at ${at(5)}`);
  });
});
