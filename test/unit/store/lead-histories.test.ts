import { describe, expect, it } from 'vitest';
import { type HistoryScan, scanLeadHistories } from '../../../lib/store/lead-histories.ts';

/** A Scan whose pages are given: what the walk must make of DynamoDB's answers. */
function pages(...given: Record<string, unknown>[][]): HistoryScan {
  return {
    async scanHistoryPage({ cursor }) {
      const index = (cursor?.page as number | undefined) ?? 0;
      return { items: given[index]!, scanned: given[index]!.length, ...(index + 1 < given.length ? { cursor: { page: index + 1 } } : {}) };
    },
    async tableEstimate() {
      return undefined;
    },
  };
}

const profile = (leadId: string, extra: Record<string, unknown> = {}) => ({
  pk: `LEAD#${leadId}`,
  sk: 'PROFILE',
  kind: 'lead',
  leadId,
  firstSeenAt: '2026-01-01T00:00:00Z',
  ...extra,
});
const stored = (leadId: string, occurredAt: string) => ({
  pk: `LEAD#${leadId}`,
  sk: `EVT#${occurredAt}#t#${occurredAt}`,
  kind: 'event',
  leadKey: leadId,
  type: 'x',
  occurredAt,
  source: 't',
  sourceEventId: occurredAt,
  appliedAt: 'a',
  modelVersion: 'm',
});

describe('scanLeadHistories', () => {
  it('joins a lead whose items a page boundary cuts, and strips the item keys from its events', async () => {
    const histories = [];
    for await (const page of scanLeadHistories(pages([profile('a@x.com'), stored('a@x.com', '1')], [stored('a@x.com', '2'), profile('b@x.com')])))
      histories.push(...page);
    expect(histories).toEqual([
      { leadId: 'a@x.com', events: [expect.not.objectContaining({ pk: expect.anything() }), expect.objectContaining({ occurredAt: '2' })] },
      { leadId: 'b@x.com', events: [] },
    ]);
    expect(histories[0]!.events[0]).toEqual({ leadKey: 'a@x.com', type: 'x', occurredAt: '1', source: 't', sourceEventId: '1' });
  });

  it("stops, rather than count a lead twice, when a lead's items come apart", async () => {
    const walk = async () => {
      for await (const _ of scanLeadHistories(pages([profile('a@x.com'), profile('b@x.com'), stored('a@x.com', '1')]))) {
        // consume
      }
    };
    await expect(walk()).rejects.toThrow(/apart/);
  });

  it('leaves out aliases and merged leads', async () => {
    const histories = [];
    for await (const page of scanLeadHistories(
      pages([
        { pk: 'LEAD#phone:+1', sk: 'PROFILE', kind: 'alias', leadId: 'phone:+1', mergedInto: 'a@x.com' },
        profile('phone:+2', { mergedInto: 'a@x.com' }),
        profile('a@x.com'),
      ]),
    ))
      histories.push(...page);
    expect(histories.map((one) => one.leadId)).toEqual(['a@x.com']);
  });
});
