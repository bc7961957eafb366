/**
 * docs/adding-a-source.md's worked example is a source that works: the block in the page is the file
 * test/fixtures/acme-forms/acme-forms.ts, which this test runs (left out of the type check: its secret
 * ACME_FORMS_SECRET is one a real source adds to lib/topology.ts's secretKeys, as the page says).
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Secrets } from '../../lib/runtime/config.ts';
import type { WebhookSource } from '../../lib/sources/source.ts';
import { refusal, webhookRequest as request } from '../setup/webhook-request.ts';

const page = readFileSync(new URL('../../docs/adding-a-source.md', import.meta.url), 'utf8');
const fixtureUrl = new URL('../fixtures/acme-forms/acme-forms.ts', import.meta.url);
const fixture = readFileSync(fixtureUrl, 'utf8');
// Imported by URL, so the type checker does not follow it (see above).
const { acmeForms } = (await import(fixtureUrl.href)) as { acmeForms: WebhookSource };

/** The page's block, with its imports written as the fixture's (it sits under test/fixtures/, not lib/sources/). */
function blockOfPage(): string {
  const start = page.indexOf('<!-- example: lib/sources/acme-forms.ts -->\n```ts\n');
  expect(start).toBeGreaterThan(-1);
  const code = page.slice(page.indexOf('```ts\n', start) + 6, page.indexOf('```', page.indexOf('```ts\n', start) + 6));
  return code.replaceAll("from '../", "from '../../../lib/").replaceAll("from './", "from '../../../lib/sources/");
}

const secret = 'acme-test-secret';
/** The key a real source adds to secretKeys (lib/topology.ts). */
const secrets = { ACME_FORMS_SECRET: secret } as unknown as Secrets;
const sign = (body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
const submission = JSON.stringify({
  submission_id: 'sub_1',
  submitted_at: '2026-12-01T10:00:00Z',
  email: ' Dana@Example.com ',
  form_id: 'demo',
  job_title: 'VP Marketing',
});

describe('the worked example of docs/adding-a-source.md', () => {
  it('is, line for line, the file this test runs', () => {
    expect(fixture.slice(fixture.indexOf('\n') + 1)).toBe(blockOfPage());
  });

  it('verifies the signature over the raw bytes and refuses a wrong or missing one', () => {
    const headers = { 'content-type': 'application/json', 'x-acme-signature': sign(submission) };
    expect(() => acmeForms.verify(request(submission, headers), secrets, new Date())).not.toThrow();
    expect(refusal(() => acmeForms.verify(request(`${submission} `, headers), secrets, new Date())).status).toBe(401);
    expect(refusal(() => acmeForms.verify(request(submission, { 'content-type': 'application/json' }), secrets, new Date())).status).toBe(401);
  });

  it('turns a submission into one form_submitted event keyed by the e-mail, and refuses what is not one', () => {
    const { events, ignored } = acmeForms.normalize(request(submission));
    expect(ignored).toEqual([]);
    expect(events).toEqual([
      expect.objectContaining({
        leadKey: 'dana@example.com',
        type: 'form_submitted',
        occurredAt: '2026-12-01T10:00:00.000Z',
        source: 'acme-forms',
        sourceEventId: 'sub_1',
        properties: { formId: 'demo' },
      }),
    ]);
    expect(acmeForms.normalize(request(JSON.stringify({ submission_id: 's', submitted_at: '2026-12-01T10:00:00Z' }))).ignored).toEqual([
      { sourceEventId: 's', reason: 'no_email' },
    ]);
    expect(refusal(() => acmeForms.normalize(request('{"email":"a@b.co"}'))).status).toBe(400);
    expect(refusal(() => acmeForms.normalize(request(submission, { 'content-type': 'text/plain' }))).status).toBe(400);
  });
});
