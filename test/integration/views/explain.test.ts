/**
 * `mql explain` on the embedded local stack: the lead GET /leads/{email} answers (what the CLI prints, as
 * `--json` or through formatExplanation) adds up to its score, names its caps, the events behind each rule,
 * and what is missing to qualify.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatExplanation } from '../../../bin/commands/explain.ts';
import type { LeadView } from '../../../lib/views/lead-view.ts';
import { eventsSecret, post, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('mql explain', () => {
  it('a capped, decayed lead short of the threshold: whole points add up, caps and events shown, the shortfall in words', async () => {
    const email = `kim.${randomUUID().slice(0, 8)}@northwind.io`;
    const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 60 * 60 * 1000).toISOString();
    const track = (event: string, days: number, properties: Record<string, unknown> = {}) => ({
      type: 'track',
      event,
      messageId: `${event}-${randomUUID()}`,
      timestamp: daysAgo(days),
      userId: `user-${email}`,
      context: { traits: { email } },
      properties,
    });
    const messages = [
      {
        type: 'identify',
        messageId: `identify-${randomUUID()}`,
        timestamp: daysAgo(40),
        userId: `user-${email}`,
        traits: { email, title: 'Director of Sales', industry: 'Retail' },
      },
      ...Array.from({ length: 8 }, (_, index) => track('Email Opened', 30 - index * 3, { campaign: 'spring' })),
      track('Webinar Attended', 33, { webinar: 'Scoring that explains itself' }),
    ];
    for (const message of messages) expect(await post(stack.urls['POST /webhooks/events']!, signedDelivery(message))).toMatchObject({ status: 200 });
    await stack.drain();

    const response = await fetch(`${stack.baseUrl}/leads/${encodeURIComponent(email)}`);
    expect(response.status).toBe(200);
    const view = (await response.json()) as LeadView;

    expect(view.reasons.reduce((sum, reason) => sum + reason.points!, 0)).toBe(view.score.total);
    const opened = view.reasons.find((reason) => reason.rule === 'email_opened')!;
    expect(opened).toMatchObject({ count: 8, rawPoints: 8, pointsNow: 5, points: 5, caps: [{ by: 'rule', name: 'email_opened', limit: 5 }] });
    expect(opened.events).toHaveLength(3);
    expect(opened.events![0]).toMatchObject({ type: 'email_opened', properties: { campaign: 'spring' } });
    const webinar = view.reasons.find((reason) => reason.rule === 'webinar_attended')!;
    expect(webinar.decayedPoints!).toBeLessThan(20);
    expect(view.thresholds).toEqual({ mql: 60, minFit: 0, minBehavior: 10, recycleBelow: 40 });
    expect(view.summary[0]).toBe(`needs ${60 - view.score.total} more behavior points to qualify (total ${view.score.total} of 60)`);

    const printed = formatExplanation(view);
    expect(printed).toContain(`needs ${60 - view.score.total} more behavior points`);
    expect(printed).toMatch(/email_opened\s+behavior\s+5\s+5\.00\s+8\s+\d+\.\d\d\s+8 .*cap 5 reached/);
    expect(printed).toMatch(new RegExp(`^total\\s+${view.score.total}\\s+the points column adds up to the score$`, 'm'));
    expect(printed).toContain('webinar=Scoring that explains itself');
  });

  it('marks the events from the anonymous history of a visitor who identified later', async () => {
    const email = `ana.${randomUUID().slice(0, 8)}@northwind.io`;
    const anonymousId = randomUUID();
    const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 60 * 60 * 1000).toISOString();
    const visit = (days: number) => ({
      type: 'page',
      messageId: `page-${randomUUID()}`,
      timestamp: daysAgo(days),
      anonymousId,
      properties: { url: 'https://northwind.io/pricing' },
    });
    const messages = [
      visit(3),
      visit(2),
      { type: 'identify', messageId: `identify-${randomUUID()}`, timestamp: daysAgo(1), anonymousId, traits: { email } },
      { ...visit(0), messageId: `page-${randomUUID()}` },
    ];
    for (const message of messages) expect(await post(stack.urls['POST /webhooks/events']!, signedDelivery(message))).toMatchObject({ status: 200 });
    await stack.drain();

    const view = (await (await fetch(`${stack.baseUrl}/leads/${encodeURIComponent(email)}`)).json()) as LeadView;
    const pricing = view.reasons.find((reason) => reason.rule === 'pricing_page_viewed')!;
    expect(pricing).toMatchObject({ count: 3 });
    // Newest first: the visit after the identify is the lead's own; the two before it came from the visitor.
    expect(pricing.events!.map((event) => event.anonymous ?? false)).toEqual([false, true, true]);
    const printed = formatExplanation(view);
    expect(printed.match(/\(anonymous visit, before they identified\)/g)).toHaveLength(2);
  });
});
