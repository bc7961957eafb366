import { describe, expect, it } from 'vitest';
import { type HistoryScan, scanLeadHistories, walkLeads } from '../../../lib/store/lead-histories.ts';

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

describe('walkLeads', () => {
  it('resumes a segment after the last item of the last lead it finished, never inside a lead a page cut', async () => {
    const rounds = [];
    for await (const round of walkLeads(pages([stored('a@x.com', '1'), profile('a@x.com'), stored('b@x.com', '1')], [profile('b@x.com')]))) rounds.push(round);
    expect(rounds.map((round) => ({ ...round, leads: round.leads.map((one) => [one.lead.leadId, one.events.length]) }))).toEqual([
      // b's event came in the first page, its profile in the second: resuming after the first page starts after a, so b is read whole.
      { leads: [['a@x.com', 1]], scanned: 3, cursors: [{ pk: 'LEAD#a@x.com', sk: 'PROFILE' }], done: false },
      { leads: [['b@x.com', 1]], scanned: 1, cursors: [null], done: true },
    ]);
    // The lead as stored: its keys and kind left out.
    expect(rounds[0]!.leads[0]!.lead).toEqual({ leadId: 'a@x.com', firstSeenAt: '2026-01-01T00:00:00Z' });
  });

  it('a segment not begun resumes from its start; a finished one is not read again', async () => {
    const seen: unknown[] = [];
    const store = pages([profile('a@x.com')]);
    const watching = {
      scanHistoryPage(options: Parameters<HistoryScan['scanHistoryPage']>[0]) {
        seen.push(options);
        return store.scanHistoryPage(options);
      },
    };
    for await (const _ of walkLeads(watching, { from: [null, undefined] })) {
      // consume
    }
    expect(seen).toEqual([{ segment: { index: 1, total: 2 } }]);
  });
});
