import { describe, expect, it } from 'vitest';
import { HttpError } from '../../../lib/http/errors.ts';
import { maxJsonDepth, parseJson } from '../../../lib/http/request.ts';
import { segment } from '../../../lib/sources/segment.ts';

const nested = (depth: number, inner = '1') => Buffer.from(`${'['.repeat(depth)}${inner}${']'.repeat(depth)}`);

describe('parseJson', () => {
  it(`accepts nesting up to ${maxJsonDepth} levels`, () => {
    expect(() => parseJson(nested(maxJsonDepth))).not.toThrow();
    expect(parseJson(Buffer.from('{"a":{"b":[1,{"c":2}]}}'))).toEqual({ a: { b: [1, { c: 2 }] } });
  });

  it("refuses deeper nesting with a 400, so a sender's malformed body never becomes our 5xx", () => {
    for (const depth of [maxJsonDepth + 1, 100_000]) {
      const error = (() => {
        try {
          parseJson(nested(depth));
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(400);
      expect((error as HttpError).detail).toContain(`deeper than ${maxJsonDepth}`);
    }
  });

  it('a deeply nested property in an authentic Segment message is refused as malformed, not a crash', () => {
    const body = Buffer.from(
      JSON.stringify({ type: 'track', event: 'Deep', messageId: 'm-1', timestamp: '2026-11-01T00:00:00Z', properties: { email: 'a@example.com' } }).replace(
        '"email"',
        `"deep":${'['.repeat(50_000)}${']'.repeat(50_000)},"email"`,
      ),
    );
    const request = {
      method: 'POST',
      body,
      header: (name: string) => (name === 'content-type' ? 'application/json' : undefined),
      query: {},
      pathParameters: {},
    };
    expect(() => segment.normalize(request)).toThrow(/deeper than/);
  });
});
