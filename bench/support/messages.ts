/**
 * What the benchmark sends: Segment messages in the shape of test/fixtures/segment, the seeds' worked
 * example, and SendGrid Event Webhook deliveries signed with the bench's key.
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import { sendgridBody, sendgridSignatureHeader, sendgridTimestampHeader, signSendgridDelivery } from '../../lib/sources/sendgrid.ts';
import { workedExampleMessages as workedExampleFrom } from '../../test/setup/signed.ts';

/**
 * A page-view `track` in the shape of test/fixtures/segment (analytics.js with context): it scores
 * under `pricing_page_viewed` (5 points, capped at 15) and never qualifies a lead on its own,
 * so the throughput phase measures ingest, not handoffs.
 */
export function pageViewTrack(email: string, sequence: number): object {
  const now = new Date();
  return {
    type: 'track',
    event: 'Page Viewed',
    messageId: `ajs-bench-${randomUUID()}`,
    anonymousId: `anon-${email}`,
    userId: `usr-${email}`,
    properties: {
      url: 'https://www.example.com/pricing?plan=enterprise',
      path: '/pricing',
      title: 'Pricing | Example',
      referrer: 'https://www.example.com/product',
      sequence,
    },
    context: {
      traits: { email },
      page: {
        path: '/pricing',
        url: 'https://www.example.com/pricing?plan=enterprise',
        title: 'Pricing | Example',
        referrer: 'https://www.example.com/product',
      },
      library: { name: 'analytics.js', version: 'next-1.64.0' },
      locale: 'en-US',
      ip: '203.0.113.10',
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
    },
    integrations: {},
    originalTimestamp: new Date(now.getTime() - 120).toISOString(),
    sentAt: new Date(now.getTime() - 40).toISOString(),
    timestamp: now.toISOString(),
  };
}

/**
 * The seeds' worked example of test/setup/signed.ts: identify as CEO in Software (fit 25), a case study
 * download (15), then a webinar (20): the third message makes the lead an MQL at 60. Event times are a
 * little in the past so no decay rounding pushes the total under 60.
 */
export function workedExample(email: string): object[] {
  return workedExampleFrom(email, new Date(Date.now() - 30_000));
}

/**
 * One SendGrid Event Webhook delivery: `count` events spread round-robin over `emails`, in the shape
 * of test/fixtures/sendgrid (processed, delivered, open, click with SendGrid's ids, two categories and
 * two custom args), times a second apart ending now. Opens and clicks score (1 and 3 points, capped at
 * 5 and 15) but never qualify a lead, so the phase measures ingest, not handoffs.
 */
export function sendgridBatch(emails: readonly string[], count: number): object[] {
  const kinds = ['processed', 'delivered', 'open', 'click'] as const;
  const end = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, (_, index) => {
    const lead = index % emails.length;
    const event = kinds[Math.floor(index / emails.length) % kinds.length]!;
    const messageId = `bench${lead.toString(36)}.filterdrecv-5645d9c87f-6r2ch-1-6650B7D4-${lead}.0`;
    return {
      email: emails[lead],
      timestamp: end - count + index,
      'smtp-id': `<${messageId.split('.')[0]}@geopod-ismtpd-2>`,
      event,
      category: ['nurture', 'q2-webinar'],
      sg_event_id: `${event.slice(0, 4)}-${randomUUID()}`,
      sg_message_id: messageId,
      ...(event === 'processed' ? { send_at: 0 } : {}),
      ...(event === 'delivered'
        ? { response: '250 2.0.0 OK  1716565971 a1-20020a05620a0c0100b0078a8a4a6a2esi1234567qkb.112 - gsmtp', ip: '149.72.123.24', tls: 1 }
        : {}),
      ...(event === 'open' ? { sg_machine_open: false, useragent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)', ip: '203.0.113.10' } : {}),
      ...(event === 'click'
        ? {
            url: 'https://www.example.com/blog/lead-scoring?utm_source=sendgrid',
            url_offset: { index: 2, type: 'html' },
            useragent: 'Mozilla/5.0',
            ip: '203.0.113.10',
          }
        : {}),
      lead_id: `crm-${lead}`,
      journey: 'spring-nurture',
    };
  });
}

/** A delivery as SendGrid posts it, signed now with `privateKey`. */
export function sendgridSigned(events: readonly object[], privateKey: KeyObject): { body: string; headers: Record<string, string> } {
  const body = sendgridBody(events);
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'SendGrid Event API',
      [sendgridTimestampHeader]: timestamp,
      [sendgridSignatureHeader]: signSendgridDelivery({ privateKey, timestamp, body }),
    },
  };
}
