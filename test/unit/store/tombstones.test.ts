/**
 * What an erasure's tombstone refuses (lib/store/tombstones.ts), as pure functions: the events of an
 * identity that occurred at or before the erasure (a provider's redelivery), every event with `never`,
 * and the setting that chooses between the two.
 */
import { describe, expect, it } from 'vitest';
import { erasedPeopleReturnFromEnv, refusedByTombstone } from '../../../lib/store/tombstones.ts';

const erasedAt = '2027-03-01T12:00:00.000Z';
const at = (iso: string) => ({ occurredAt: iso });

describe('refusedByTombstone', () => {
  it('with later-events: refuses what occurred at or before the erasure, in any ISO spelling, and accepts what came after', () => {
    const before = at('2027-03-01T11:59:59Z');
    const same = at('2027-03-01T13:00:00+01:00');
    const after = at('2027-03-01T12:00:00.001Z');
    expect(refusedByTombstone([before, same, after], { erasedAt, returns: 'later-events' })).toEqual({ accepted: [after], refused: [before, same] });
  });

  it('refuses an event whose time does not parse: it cannot be shown to come after the erasure', () => {
    const odd = at('yesterday');
    expect(refusedByTombstone([odd], { erasedAt, returns: 'later-events' })).toEqual({ accepted: [], refused: [odd] });
  });

  it('with never: refuses everything, however late', () => {
    const late = at('2030-01-01T00:00:00Z');
    expect(refusedByTombstone([late], { erasedAt, returns: 'never' })).toEqual({ accepted: [], refused: [late] });
  });
});

describe('ERASED_PEOPLE_RETURN', () => {
  it('is later-events unless set, never when set so, and a mistake names the setting and its values', () => {
    expect(erasedPeopleReturnFromEnv({})).toBe('later-events');
    expect(erasedPeopleReturnFromEnv({ ERASED_PEOPLE_RETURN: '' })).toBe('later-events');
    expect(erasedPeopleReturnFromEnv({ ERASED_PEOPLE_RETURN: 'never' })).toBe('never');
    expect(() => erasedPeopleReturnFromEnv({ ERASED_PEOPLE_RETURN: 'Never' })).toThrow('ERASED_PEOPLE_RETURN must be one of later-events, never, got "Never"');
  });
});
