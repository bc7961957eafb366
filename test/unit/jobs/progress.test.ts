import { describe, expect, it } from 'vitest';
import { formatDuration, progressText } from '../../../lib/jobs/progress.ts';

describe('the progress line of a long job', () => {
  it('gives leads, items read against the table, the rate and an ETA from the items still to read', () => {
    expect(progressText('rescore', { leads: 12_000, scanned: 60_000, tableItems: 600_000, seconds: 30 })).toBe(
      'rescore: 12,000 leads, 60,000 items read of ~600,000 (10%), 400 leads/s, ETA 4m 30s',
    );
  });

  it('has no ETA without the table count, or once past it (the count is an estimate)', () => {
    expect(progressText('report', { leads: 10, scanned: 50, seconds: 2 })).toBe('report: 10 leads, 50 items read, 5 leads/s');
    expect(progressText('report', { leads: 10, scanned: 60, tableItems: 50, seconds: 2 })).toBe('report: 10 leads, 60 items read of ~50 (100%), 5 leads/s');
  });

  it('writes durations the way people read them', () => {
    expect([formatDuration(12), formatDuration(200), formatDuration(3720)]).toEqual(['12s', '3m 20s', '1h 02m']);
  });
});
