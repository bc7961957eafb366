import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../../lib/http/errors.ts';
import { header } from '../../../lib/http/request.ts';
import { checkStandardWebhookSecret, StandardWebhookSecretError, signStandardWebhook, verifyStandardWebhook } from '../../../lib/http/standard-webhooks.ts';
import { refusal } from '../../setup/webhook-request.ts';

interface Vectors {
  official_vector: { secret: string; 'webhook-id': string; 'webhook-timestamp': string; rawBody: string; expectedSignature: string };
  mql_event: { secret: string; headers: Record<string, string>; rawBody: string };
}
const vectors = JSON.parse(readFileSync(new URL('../../fixtures/standard-webhooks/outbound.json', import.meta.url), 'utf8')) as Vectors;
const official = vectors.official_vector;
const officialTimestamp = Number(official['webhook-timestamp']);

/** The project's case-insensitive header lookup, over a plain header record. */
function lookup(headers: Record<string, string | undefined>) {
  return (name: string) => header({ headers } as unknown as APIGatewayProxyEventV2, name);
}

function officialHeaders(overrides: Record<string, string | undefined> = {}) {
  return lookup({
    'webhook-id': official['webhook-id'],
    'webhook-timestamp': official['webhook-timestamp'],
    'webhook-signature': official.expectedSignature,
    ...overrides,
  });
}

function atSeconds(seconds: number): Date {
  return new Date(seconds * 1000);
}

describe('signStandardWebhook', () => {
  it('reproduces the official test vector', () => {
    const signature = signStandardWebhook({
      secret: official.secret,
      id: official['webhook-id'],
      timestamp: officialTimestamp,
      body: official.rawBody,
    });
    expect(signature).toBe(official.expectedSignature);
  });

  it('signs a Buffer body the same as its string', () => {
    const input = { secret: official.secret, id: official['webhook-id'], timestamp: officialTimestamp };
    expect(signStandardWebhook({ ...input, body: Buffer.from(official.rawBody) })).toBe(official.expectedSignature);
  });

  it('refuses a key under 24 bytes (decoded) for signing and for verifying, naming no value; 24 bytes pass', () => {
    const body = Buffer.from('{}');
    for (const short of ['whsec_', 'whsec_AQ==', 'whsec_AQI=', `whsec_${Buffer.alloc(23, 7).toString('base64')}`, Buffer.alloc(2, 9).toString('base64')]) {
      expect(() => signStandardWebhook({ secret: short, id: 'msg_1', timestamp: 1, body })).toThrow(StandardWebhookSecretError);
      expect(() => signStandardWebhook({ secret: short, id: 'msg_1', timestamp: 1, body })).toThrow(/at least 24/);
      const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,AAAA' } as Record<string, string>;
      expect(() => verifyStandardWebhook({ secret: short, headers: (name) => headers[name], body, now: new Date(1000) })).toThrow(StandardWebhookSecretError);
      expect(() => checkStandardWebhookSecret('EVENTS_WEBHOOK_SECRET', short)).toThrow(/^EVENTS_WEBHOOK_SECRET: .*decodes to \d+ byte/);
    }
    const exactly24 = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    expect(() => checkStandardWebhookSecret('EVENTS_WEBHOOK_SECRET', exactly24)).not.toThrow();
    expect(() => checkStandardWebhookSecret('EVENTS_WEBHOOK_SECRET', official.secret)).not.toThrow();
  });

  it('accepts a secret without the whsec_ prefix', () => {
    const signature = signStandardWebhook({
      secret: official.secret.slice('whsec_'.length),
      id: official['webhook-id'],
      timestamp: officialTimestamp,
      body: official.rawBody,
    });
    expect(signature).toBe(official.expectedSignature);
  });
});

describe('verifyStandardWebhook', () => {
  const body = Buffer.from(official.rawBody);

  it('accepts the official vector received at its own timestamp', () => {
    const result = verifyStandardWebhook({ secret: official.secret, headers: officialHeaders(), body, now: atSeconds(officialTimestamp) });
    expect(result).toEqual({ id: official['webhook-id'], timestamp: officialTimestamp });
  });

  it('accepts the MQL example where a rotated second signature is present and only one is valid', () => {
    const example = vectors.mql_event;
    const timestamp = Number(example.headers['webhook-timestamp']);
    expect(example.headers['webhook-signature']?.split(' ')).toHaveLength(2);

    const result = verifyStandardWebhook({
      secret: example.secret,
      headers: lookup(example.headers),
      body: Buffer.from(example.rawBody),
      now: atSeconds(timestamp + 10),
    });

    expect(result.id).toBe(example.headers['webhook-id']);
  });

  it('accepts a timestamp exactly 300 s old or 300 s ahead, refuses 301 s either way', () => {
    const verifyAt = (now: number) => verifyStandardWebhook({ secret: official.secret, headers: officialHeaders(), body, now: atSeconds(now) });

    expect(verifyAt(officialTimestamp + 300).timestamp).toBe(officialTimestamp);
    expect(verifyAt(officialTimestamp - 300).timestamp).toBe(officialTimestamp);
    // Sub-second receipt time does not widen the window: 300.999 s counts as 300.
    expect(() =>
      verifyStandardWebhook({ secret: official.secret, headers: officialHeaders(), body, now: new Date((officialTimestamp + 300) * 1000 + 999) }),
    ).not.toThrow();

    const tooOld = refusal(() => verifyAt(officialTimestamp + 301));
    expect(tooOld.status).toBe(401);
    expect(tooOld.code).toBe('unauthorized');
    expect(tooOld.detail).toMatch(/301 s old/);

    const tooNew = refusal(() => verifyAt(officialTimestamp - 301));
    expect(tooNew.status).toBe(401);
    expect(tooNew.detail).toMatch(/301 s in the future/);
  });

  it('honours a custom tolerance', () => {
    const error = refusal(() =>
      verifyStandardWebhook({ secret: official.secret, headers: officialHeaders(), body, now: atSeconds(officialTimestamp + 61), toleranceSeconds: 60 }),
    );
    expect(error.detail).toMatch(/tolerance is 60 s/);
  });

  it('refuses a tampered body, even by one byte', () => {
    const tampered = Buffer.from(official.rawBody.replace('2432232314', '2432232315'));
    const error = refusal(() =>
      verifyStandardWebhook({ secret: official.secret, headers: officialHeaders(), body: tampered, now: atSeconds(officialTimestamp) }),
    );
    expect(error.status).toBe(401);
    expect(error.detail).toMatch(/no v1 signature/);
  });

  it('refuses a body that differs only in whitespace (no re-serialization)', () => {
    const reserialized = Buffer.from(JSON.stringify(JSON.parse(official.rawBody)));
    expect(reserialized.equals(body)).toBe(false);
    expect(() => verifyStandardWebhook({ secret: official.secret, headers: officialHeaders(), body: reserialized, now: atSeconds(officialTimestamp) })).toThrow(
      HttpError,
    );
  });

  it('refuses a signature made with another secret', () => {
    const error = refusal(() =>
      verifyStandardWebhook({ secret: vectors.mql_event.secret, headers: officialHeaders(), body, now: atSeconds(officialTimestamp) }),
    );
    expect(error.status).toBe(401);
  });

  it('refuses a signature over another id or timestamp', () => {
    const otherId = refusal(() =>
      verifyStandardWebhook({ secret: official.secret, headers: officialHeaders({ 'webhook-id': 'msg_other' }), body, now: atSeconds(officialTimestamp) }),
    );
    expect(otherId.detail).toMatch(/no v1 signature/);
    const otherTime = refusal(() =>
      verifyStandardWebhook({
        secret: official.secret,
        headers: officialHeaders({ 'webhook-timestamp': String(officialTimestamp + 1) }),
        body,
        now: atSeconds(officialTimestamp),
      }),
    );
    expect(otherTime.detail).toMatch(/no v1 signature/);
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('refuses a delivery without %s, naming it', (name) => {
    const error = refusal(() =>
      verifyStandardWebhook({ secret: official.secret, headers: officialHeaders({ [name]: undefined }), body, now: atSeconds(officialTimestamp) }),
    );
    expect(error.status).toBe(401);
    expect(error.detail).toBe(`missing ${name} header`);
  });

  it.each(['1614265330.5', '1.6e9', '-1614265330', 'yesterday', '0x60370cf2'])('refuses the non-integer timestamp %s', (timestamp) => {
    const error = refusal(() =>
      verifyStandardWebhook({ secret: official.secret, headers: officialHeaders({ 'webhook-timestamp': timestamp }), body, now: atSeconds(officialTimestamp) }),
    );
    expect(error.status).toBe(401);
    expect(error.detail).toMatch(/integer/);
  });

  it.each([
    'garbage',
    'v1,',
    'v1,not base64 at all!!',
    'v1,AAAA',
    `v2,${official.expectedSignature.slice(3)}`,
    `v1a,${official.expectedSignature.slice(3)}`,
    ',,, ,',
  ])('refuses the signature header %j', (signature) => {
    const error = refusal(() =>
      verifyStandardWebhook({ secret: official.secret, headers: officialHeaders({ 'webhook-signature': signature }), body, now: atSeconds(officialTimestamp) }),
    );
    expect(error.status).toBe(401);
  });

  it('accepts the valid v1 signature among others, in any position', () => {
    const signature = `v1a,c29tZS1lZDI1NTE5LXNpZ25hdHVyZQ== v1,AAAA ${official.expectedSignature} v1,ZmFrZQ==`;
    const result = verifyStandardWebhook({
      secret: official.secret,
      headers: officialHeaders({ 'webhook-signature': signature }),
      body,
      now: atSeconds(officialTimestamp),
    });
    expect(result.id).toBe(official['webhook-id']);
  });

  it('finds the headers whatever their case', () => {
    const headers = lookup({
      'Webhook-Id': official['webhook-id'],
      'WEBHOOK-TIMESTAMP': official['webhook-timestamp'],
      'webhook-Signature': official.expectedSignature,
    });
    expect(verifyStandardWebhook({ secret: official.secret, headers, body, now: atSeconds(officialTimestamp) }).timestamp).toBe(officialTimestamp);
  });

  it('round-trips its own signatures over arbitrary bytes', () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28]);
    const signature = signStandardWebhook({ secret: official.secret, id: 'msg_1', timestamp: 1_700_000_000, body: binary });
    const headers = lookup({ 'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000', 'webhook-signature': signature });
    expect(verifyStandardWebhook({ secret: official.secret, headers, body: binary, now: atSeconds(1_700_000_000) }).id).toBe('msg_1');
  });
});
