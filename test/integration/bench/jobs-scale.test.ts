/**
 * The operator-jobs bench (bench/phases/jobs-scale.ts) end to end on a small table of the run's DynamoDB
 * Local: its seeding writes the item mix the pipeline writes, its meter counts what each way of reading
 * reads, and its own checks pass. The 100,000-lead run is `npm run bench:jobs`, never part of the tests.
 */
import { describe, expect, inject, it } from 'vitest';
import { jobsBench, jobsErrors, jobsLines } from '../../../bench/phases/jobs-scale.ts';

describe('npm run bench:jobs, on 150 leads', () => {
  it('seeds the mix of items the pipeline writes and measures one pass against the old way', async () => {
    const result = await jobsBench(inject('dynamoEndpoint'), { leads: 150, segments: [1, 2, 4], oldSegments: 2, seedConcurrency: 4, seed: 7 });

    expect(jobsErrors(result)).toEqual([]);
    const { table } = result;
    expect(table.leads).toBe(150);
    // Every lead has its profile and events; raw payloads of the last 30 days; the MQLs' handoffs with their ledger.
    expect(table.itemsByKind.lead).toBe(150);
    expect(table.itemsByKind.event).toBe(table.events);
    expect(table.itemsByKind.raw).toBeGreaterThan(0);
    expect(table.rawExpired).toBeGreaterThan(0);
    expect(table.handoffs).toBeGreaterThan(0);
    expect(table.itemsByKind['handoff-attempt']).toBe(table.handoffs);

    // One pass: each item of the table read once, whatever the segments, by Scan requests alone (DescribeTable: the progress's item count;
    // the rescore's writes: a lead alone is one conditional PutItem, lib/store/table.ts).
    for (const run of [...result.backtest.runs, ...result.rescore.runs]) {
      expect({
        segments: run.segments,
        items: run.reads.itemsRead,
        other: Object.keys(run.commands).filter((command) => !['Scan', 'TransactWriteItems', 'PutItem', 'DescribeTable'].includes(command)),
      }).toEqual({
        segments: run.segments,
        items: table.items,
        other: [],
      });
    }
    // The old way: the same Scan, plus a Query per lead (backtest), or a consistent GetItem and Query per lead (rescore).
    expect(result.backtest.old!.commands.Query!.requests).toBe(150);
    expect(result.rescore.old!.commands.GetItem!.requests).toBe(150);
    expect(result.rescore.old!.commands.Query!.requests).toBe(150);
    expect(result.backtest.old!.itemsReadPerLead).toBeCloseTo(table.itemsPerLead + table.events / 150, 2);
    expect(result.ratios.rescoreItemsReadPerLead!).toBeLessThan(1);
    expect(result.rescore.runs[0]!.changed).toBeGreaterThan(0);
    expect(jobsLines(result).join('\n')).toMatch(/speed-up by segments/);
  });
});
