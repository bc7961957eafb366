import { afterEach, describe, expect, it, vi } from 'vitest';
import { leadReference } from '../../../lib/core/pseudonym.ts';
import { logger } from '../../../lib/runtime/logger.ts';
import { usePseudonymKey } from '../../../lib/runtime/pseudonym.ts';

const key = 'logger-test-key-0123456789abcdef';

describe('the logger', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    usePseudonymKey(undefined);
  });

  it('writes lead references, never an address or a phone number, in messages, attributes and errors at every level', () => {
    usePseudonymKey(key);
    const lines: string[] = [];
    // Powertools writes through its own Console on stdout and stderr.
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        lines.push(String(chunk));
        return true;
      });
    }
    logger.setLogLevel('DEBUG');
    logger.debug('looking up dana@example.com');
    logger.info('stored', { lead: 'phone:+14155550123', leads: ['dana@example.com'] });
    logger.warn('rate limited', { detail: { body: '{"message":"Contact dana@example.com already exists"}' } });
    logger.error('delivery failed', { error: new Error('rejected dana@example.com, +1 (415) 555-0123') });
    logger.setLogLevel('INFO');
    expect(lines).toHaveLength(4);
    const all = lines.join('\n');
    expect(all).not.toMatch(/dana|example\.com|4155550123|555-0123/);
    expect(all).toContain(leadReference('dana@example.com', key));
    expect(all).toContain(leadReference('phone:+14155550123', key));
  });
});
