/** The store's retention settings (lib/store/retention.ts): defaults, and a bad value named at cold start. */
import { describe, expect, it } from 'vitest';
import { minHandoffRetentionDays, retentionFromEnv } from '../../../lib/store/retention.ts';

describe('retentionFromEnv', () => {
  it('keeps raw payloads 30 days and events and handoff records for good unless told otherwise (a visitor: 90 days, lib/store/table.ts)', () => {
    expect(retentionFromEnv({})).toEqual({ rawRetentionDays: 30 });
    expect(retentionFromEnv({ RAW_RETENTION_DAYS: '', EVENT_RETENTION_DAYS: '', HANDOFF_RETENTION_DAYS: '' })).toEqual({ rawRetentionDays: 30 });
    expect(retentionFromEnv({ RAW_RETENTION_DAYS: '7', EVENT_RETENTION_DAYS: '730', HANDOFF_RETENTION_DAYS: '365', ANONYMOUS_RETENTION_DAYS: '30' })).toEqual({
      rawRetentionDays: 7,
      eventRetentionDays: 730,
      handoffRetentionDays: 365,
      anonymousRetentionDays: 30,
    });
  });

  it('refuses what is not a whole number of days, naming the setting', () => {
    expect(() => retentionFromEnv({ EVENT_RETENTION_DAYS: '90d' })).toThrow('EVENT_RETENTION_DAYS must be a whole number of days >= 1, got "90d"');
    expect(() => retentionFromEnv({ EVENT_RETENTION_DAYS: '0' })).toThrow('EVENT_RETENTION_DAYS must be a whole number of days >= 1');
    expect(() => retentionFromEnv({ RAW_RETENTION_DAYS: '-1' })).toThrow('RAW_RETENTION_DAYS must be a whole number of days >= 1');
    expect(() => retentionFromEnv({ ANONYMOUS_RETENTION_DAYS: '0' })).toThrow('ANONYMOUS_RETENTION_DAYS must be a whole number of days >= 1');
  });

  it('keeps handoff records longer than a handoff can wait in its queue and dead-letter queue', () => {
    expect(minHandoffRetentionDays).toBeGreaterThan(14 + 4);
    expect(() => retentionFromEnv({ HANDOFF_RETENTION_DAYS: '14' })).toThrow(
      `HANDOFF_RETENTION_DAYS must be a whole number of days >= ${minHandoffRetentionDays}`,
    );
  });
});
