/**
 * `mql demo`: plays, against a running local stack, what a website, Meta and SendGrid would send for one
 * new lead, and shows the lead becoming an MQL and the record the CRM received.
 *
 *   0. The website (./demo-website.ts, what analytics.js sends to the tracking API with TRACKING_WRITE_KEY):
 *      a visitor reads the pricing page and downloads a case study over three days without giving an
 *      address (stored under the visitor, scored as nobody), then signs up: the identify ties the visitor
 *      to the e-mail, the earlier visits become the lead's at their own times, and they are in the
 *      reasons (marked anonymous) when the lead qualifies.
 *   1. A Facebook Lead Ads form is submitted with the same e-mail: the same lead. the Graph API stand-in (lib/local/graph-stand-in.ts, on
 *      the port of FACEBOOK_GRAPH_URL) holds the lead, and a leadgen notification signed with
 *      FACEBOOK_APP_SECRET goes to POST /webhooks/facebook. The stack queues it, its fetch Lambda
 *      reads the lead from the stand-in, and the lead is scored (fit from the form, 10 for the form).
 *   2. A SendGrid Event Webhook batch, signed with the demo key whose public half is in .env.example,
 *      carries the nurture e-mail's events for the lead and a few colleagues: opens and clicks lift
 *      the lead over the MQL threshold.
 *   3. The CRM receives lead.mql: the demo listens on CRM_WEBHOOK_URL itself when nothing else does
 *      (otherwise your `mql receive` prints it) and prints the record.
 *
 * Each run uses a new e-mail address and leadgen id, so it can be repeated on the same stack.
 */
import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { GraphLead } from '../apis/facebook-graph.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import { facebookSignature } from '../sources/facebook.ts';
import { sendgridBody, sendgridSignatureHeader, sendgridTimestampHeader, signSendgridDelivery } from '../sources/sendgrid.ts';
import type { LeadView } from '../views/lead-view.ts';
import { browse, signUp, type Visit } from './demo-website.ts';
import { portIsFree } from './listen.ts';
import type { CrmReceiver } from './stand-ins/crm-receiver.ts';
import { startCrmReceiver } from './stand-ins/crm-receiver.ts';
import { startGraphStandIn } from './stand-ins/graph.ts';

/** The demo's SendGrid signing key pair: fake, for local use only (its public half is in .env.example). */
export const demoSendgridKeyFile = new URL('../../examples/demo/sendgrid-demo-key.json', import.meta.url);

export interface DemoOptions {
  /** The running stack's base URL, e.g. http://127.0.0.1:3000 */
  readonly baseUrl: string;
  /** The settings the stack was started with (.env): FACEBOOK_*, SENDGRID_WEBHOOK_PUBLIC_KEY, CRM_*. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where the story is told, line by line. */
  readonly print: (line: string) => void;
  /** How long to wait for each asynchronous step (the queue consumers poll every second). */
  readonly stepTimeoutMs?: number;
}

export interface DemoResult {
  readonly email: string;
  /** The website visitor's anonymousId, who became the lead on signing up. */
  readonly anonymousId: string;
  readonly leadgenId: string;
  readonly lead: LeadView;
  /** The lead.mql record, when the demo listened on CRM_WEBHOOK_URL itself. */
  readonly record?: HandoffRecord;
}

export class DemoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoError';
  }
}

export function required(env: DemoOptions['env'], name: string, why: string): string {
  const value = env[name];
  if (!value) throw new DemoError(`${name} is not set: ${why} (copy .env.example to .env and restart npm start)`);
  return value;
}

/** The local port a URL names; the demo serves the Graph stand-in and the CRM receiver there. */
export function localPort(url: string, name: string): { port: number; path: string } {
  if (!URL.canParse(url)) throw new DemoError(`${name}=${url} is not a URL`);
  const parsed = new URL(url);
  if (!['127.0.0.1', 'localhost'].includes(parsed.hostname) || parsed.protocol !== 'http:') {
    throw new DemoError(`${name} must point at this machine (http://127.0.0.1:PORT/...) for the demo, not ${parsed.origin}`);
  }
  return { port: Number(parsed.port || 80), path: parsed.pathname };
}

export async function getLead(baseUrl: string, key: string): Promise<LeadView | undefined> {
  const response = await fetch(`${baseUrl}/leads/${encodeURIComponent(key)}`);
  if (response.status === 404) return undefined;
  if (!response.ok) throw new DemoError(`GET /leads/${key} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as LeadView;
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new DemoError(`gave up waiting ${timeoutMs / 1000} s for ${what}; is npm start running with the same .env?`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Meta's time format: 2026-11-29T01:20:00+0000 */
const metaTime = (at: Date) => `${at.toISOString().slice(0, 19)}+0000`;

export function summary(lead: LeadView): string {
  return `score ${lead.score.total} (fit ${lead.score.fit} + behavior ${lead.score.behavior}, threshold ${lead.score.threshold})  status ${lead.status}`;
}

export function reasonLine(lead: LeadView): string {
  return lead.reasons
    .map((reason) => {
      // How many of a behavior rule's events came from the visits before the sign-up.
      const anonymous = reason.events?.filter((event) => event.anonymous).length ?? 0;
      return `${reason.rule} ${reason.pointsNow}${anonymous > 0 ? ` (${anonymous} anonymous)` : ''}`;
    })
    .join(', ');
}

/** The visitor's three days before signing up: the pricing page twice and a case study downloaded. */
const visits: readonly Visit[] = [
  { daysAgo: 3, page: { path: '/pricing', title: 'Pricing' } },
  {
    daysAgo: 2,
    page: { path: '/customers/acme-logistics', title: 'How Acme Logistics cut churn' },
    track: { event: 'Content Downloaded', properties: { contentType: 'case_study', title: 'How Acme Logistics cut churn' } },
  },
  { daysAgo: 1, page: { path: '/pricing', title: 'Pricing' } },
];

/** The record as JSON, one line per reason and per recent event, so it fits a terminal. */
function compactRecord(record: HandoffRecord): string[] {
  const list = (items: readonly unknown[]) => items.map((item, index) => `    ${JSON.stringify(item)}${index < items.length - 1 ? ',' : ''}`);
  return [
    '{',
    `  "type": ${JSON.stringify(record.type)}, "id": ${JSON.stringify(record.id)}, "occurredAt": ${JSON.stringify(record.occurredAt)},`,
    `  "leadId": ${JSON.stringify(record.leadId)},${record.mergedFrom ? ` "mergedFrom": ${JSON.stringify(record.mergedFrom)},` : ''}`,
    `  "lead": ${JSON.stringify(record.lead)},`,
    `  "score": ${JSON.stringify(record.score)},`,
    '  "reasons": [',
    ...list(record.reasons),
    '  ],',
    '  "recentEvents": [',
    ...list(record.recentEvents),
    '  ]',
    '}',
  ];
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { env, print, baseUrl } = options;
  const stepTimeoutMs = options.stepTimeoutMs ?? 30_000;
  const appSecret = required(env, 'FACEBOOK_APP_SECRET', 'the Facebook webhook verifies with it');
  const accessToken = required(env, 'FACEBOOK_ACCESS_TOKEN', 'the fetch Lambda reads Graph with it');
  const graphUrl = required(env, 'FACEBOOK_GRAPH_URL', 'the demo serves the Graph API stand-in there');
  const sendgridPublicKey = required(env, 'SENDGRID_WEBHOOK_PUBLIC_KEY', 'the SendGrid webhook verifies with it');
  const writeKey = required(env, 'TRACKING_WRITE_KEY', "the website's analytics.js calls carry it").split(',')[0]!.trim();
  const demoKey = JSON.parse(readFileSync(demoSendgridKeyFile, 'utf8')) as { publicKeyBase64Der: string; privateKeyPkcs8Pem: string };
  const samePublicKey = createPublicKey({ key: Buffer.from(sendgridPublicKey, 'base64'), format: 'der', type: 'spki' }).equals(
    createPublicKey({ key: Buffer.from(demoKey.publicKeyBase64Der, 'base64'), format: 'der', type: 'spki' }),
  );
  if (!samePublicKey)
    throw new DemoError('SENDGRID_WEBHOOK_PUBLIC_KEY is not the demo key of .env.example, so the demo cannot sign a SendGrid batch the stack accepts');

  const health = await fetch(`${baseUrl}/health`).catch(() => undefined);
  if (!health?.ok) throw new DemoError(`no local stack answers at ${baseUrl}; start it with npm start`);

  const graph = localPort(graphUrl, 'FACEBOOK_GRAPH_URL');
  if (!(await portIsFree(graph.port))) throw new DemoError(`port ${graph.port} of FACEBOOK_GRAPH_URL is taken; the demo serves the Graph API stand-in there`);
  const standIn = await startGraphStandIn({ port: graph.port, appSecret, accessToken, version: graph.path.split('/').filter(Boolean).at(-1) ?? 'v26.0' });

  let receiver: CrmReceiver | undefined;
  if (env.CRM_ADAPTER === 'webhook' && env.CRM_WEBHOOK_URL && env.CRM_WEBHOOK_SECRET) {
    const crm = localPort(env.CRM_WEBHOOK_URL, 'CRM_WEBHOOK_URL');
    if (await portIsFree(crm.port)) receiver = await startCrmReceiver(env.CRM_WEBHOOK_SECRET, { port: crm.port });
  }

  try {
    const run = Date.now().toString(36);
    const email = `avery.chen.${run}@northwind-analytics.com`;
    const leadgenId = `${Date.now()}${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`;
    const now = new Date();
    // The story took three days: the website visits, the sign-up ten minutes ago, then the form and the e-mail's events.
    const formAt = new Date(now.getTime() - 10 * 60_000);
    const visitor = { anonymousId: randomUUID(), userId: `usr_${run}` };

    // 0. The website, before and at the sign-up.
    print(`0. Website: a visitor (anonymousId ${visitor.anonymousId}) reads the pricing page and a case study over three days`);
    for (const line of await browse(baseUrl, writeKey, visitor, visits, new Date(formAt.getTime() - 60_000))) print(`   ${line}`);
    const anonymous = await getLead(baseUrl, `anon:${visitor.anonymousId}`);
    if (!anonymous) throw new DemoError('the visits were not stored under the visitor (GET /leads/anon:...)');
    print(`   GET /leads/anon:${visitor.anonymousId}: ${anonymous.eventCount} events, ${summary(anonymous)} (nobody yet: never an MQL)`);
    const traits = {
      email,
      firstName: 'Avery',
      lastName: 'Chen',
      title: 'VP of Revenue Operations',
      company: { name: 'Northwind Analytics', employee_count: 2400 },
      industry: 'Software',
    };
    print(`   the sign-up form: analytics.identify("${visitor.userId}", {email: "${email}", ...})`);
    print(`   ${await signUp(baseUrl, writeKey, visitor, traits, new Date(formAt.getTime() - 60_000))}`);
    const identified = await waitFor('the sign-up to reach the lead', stepTimeoutMs, () => getLead(baseUrl, email));
    print(`   the visits are now the lead's, at their own times: ${identified.eventCount} events, ${summary(identified)}`);
    print(`   reasons: ${reasonLine(identified)}`);
    if (identified.status === 'mql') print('   an MQL at the sign-up: the visits from before it are in its reasons, marked anonymous');

    // 1. The Facebook lead form, with the same e-mail.
    const lead: GraphLead = {
      id: leadgenId,
      created_time: metaTime(formAt),
      ad_id: '120211234567890123',
      ad_name: 'Q4 pipeline report',
      adset_id: '120211234567890456',
      campaign_id: '120211234567890789',
      campaign_name: 'RevOps leaders Q4',
      form_id: '1047593816201234',
      is_organic: false,
      platform: 'fb',
      field_data: [
        { name: 'email', values: [email] },
        { name: 'full_name', values: ['Avery Chen'] },
        { name: 'job_title', values: ['VP of Revenue Operations'] },
        { name: 'company_name', values: ['Northwind Analytics'] },
        { name: 'company_size', values: ['1001-5000'] },
        { name: 'industry', values: ['Software'] },
        { name: 'country', values: ['US'] },
      ],
    };
    standIn.addLead(lead);
    const notification = JSON.stringify({
      object: 'page',
      entry: [
        {
          id: '108273958312345',
          time: Math.floor(formAt.getTime() / 1000) + 2,
          changes: [
            {
              field: 'leadgen',
              value: {
                leadgen_id: leadgenId,
                page_id: '108273958312345',
                form_id: lead.form_id,
                ad_id: lead.ad_id,
                adgroup_id: lead.ad_id,
                created_time: Math.floor(formAt.getTime() / 1000),
              },
            },
          ],
        },
      ],
    });
    print(`1. Facebook: ${email} also submits the lead form "Q4 pipeline report" (leadgen ${leadgenId})`);
    const metaResponse = await fetch(`${baseUrl}/webhooks/facebook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${facebookSignature(appSecret, notification)}` },
      body: notification,
    });
    const metaAnswer = `${metaResponse.status} ${await metaResponse.text()}`;
    print(`   POST /webhooks/facebook -> ${metaAnswer}`);
    if (!metaResponse.ok) throw new DemoError(`the Facebook webhook refused the notification: ${metaAnswer}`);
    const fetched = await waitFor('the fetch Lambda to read the lead from the Graph stand-in', stepTimeoutMs, async () => {
      const current = await getLead(baseUrl, email);
      return current && current.eventCount > identified.eventCount ? current : undefined;
    });
    print(
      `   the fetch Lambda read it from the Graph stand-in (${standIn.callsFor(leadgenId).length} call): the same lead, ${fetched.eventCount} events, ${summary(fetched)}`,
    );
    print(`   reasons: ${reasonLine(fetched)}`);

    // 2. The nurture e-mail's events, as SendGrid batches them (other recipients included).
    const seconds = Math.floor(formAt.getTime() / 1000) + 60;
    const event = (recipient: string, type: string, offset: number, extra: Record<string, unknown> = {}) => ({
      email: recipient,
      timestamp: seconds + offset,
      event: type,
      sg_event_id: `demo-${randomUUID()}`,
      sg_message_id: `demo-${run}.filter0001.${recipient.length}.0`,
      category: ['nurture', 'q4-report'],
      campaign: 'q4-nurture',
      ...extra,
    });
    const colleagues = ['sam.ortiz', 'lee.park', 'kim.ng'].map((name) => `${name}.${run}@northwind-analytics.com`);
    const events = [
      event(email, 'processed', 1),
      event(email, 'delivered', 2, { response: '250 2.0.0 OK' }),
      event(email, 'open', 60, { sg_machine_open: false }),
      event(email, 'click', 65, { url: 'https://example.com/pricing' }),
      event(email, 'click', 70, { url: 'https://example.com/case-studies/acme' }),
      event(email, 'click', 80, { url: 'https://example.com/integrations/salesforce' }),
      event(email, 'click', 90, { url: 'https://example.com/pricing#enterprise' }),
      ...colleagues.flatMap((colleague, index) => [event(colleague, 'delivered', 3 + index), event(colleague, 'open', 120 + index)]),
    ];
    const body = sendgridBody(events);
    const timestamp = Math.floor(now.getTime() / 1000);
    print(`2. SendGrid: the nurture e-mail's events, ${events.length} in one signed batch (opens and 4 clicks for ${email.split('@')[0]})`);
    const sendgridResponse = await fetch(`${baseUrl}/webhooks/sendgrid`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [sendgridSignatureHeader.toLowerCase()]: signSendgridDelivery({ privateKey: createPrivateKey(demoKey.privateKeyPkcs8Pem), timestamp, body }),
        [sendgridTimestampHeader.toLowerCase()]: String(timestamp),
      },
      body,
    });
    const sendgridAnswer = `${sendgridResponse.status} ${await sendgridResponse.text()}`;
    print(`   POST /webhooks/sendgrid -> ${sendgridAnswer}`);
    if (!sendgridResponse.ok) throw new DemoError(`the SendGrid webhook refused the batch: ${sendgridAnswer}`);
    const qualified = await waitFor('the lead to qualify', stepTimeoutMs, async () => {
      const current = await getLead(baseUrl, email);
      return current?.status === 'mql' ? current : undefined;
    });
    print(`   ${summary(qualified)}`);
    print(`   reasons: ${reasonLine(qualified)}`);

    // 3. What sales received.
    let record: HandoffRecord | undefined;
    if (receiver) {
      const received = await waitFor('the CRM to receive lead.mql', stepTimeoutMs, async () =>
        receiver.received.find((one) => one.record.type === 'lead.mql' && one.record.lead.email === email),
      );
      record = received.record;
      // By now the form's and the e-mail's events have come too: none of them handed the lead off again.
      const times = receiver.received.filter((one) => one.record.type === 'lead.mql' && one.record.lead.email === email).length;
      print(
        `3. The CRM (${env.CRM_WEBHOOK_URL}) received ${record.type} ${times === 1 ? 'once' : `${times} times`}, as decided at score ${record.score.total}, webhook-id ${received.webhookId}:`,
      );
      for (const line of compactRecord(record)) print(`   ${line}`);
    } else {
      const delivered = await waitFor('the handoff to be delivered', stepTimeoutMs, async () => {
        const current = await getLead(baseUrl, email);
        return current?.handoffs?.find((handoff) => handoff.type === 'lead.mql' && handoff.status === 'delivered') ? current : undefined;
      });
      const handoff = delivered.handoffs?.find((one) => one.type === 'lead.mql');
      print(
        env.CRM_ADAPTER === 'webhook'
          ? `3. lead.mql delivered to ${env.CRM_WEBHOOK_URL} (crm ${handoff?.crmStatus ?? '?'}); your receiver printed the record`
          : `3. lead.mql handed off through CRM_ADAPTER=${env.CRM_ADAPTER ?? 'none'}`,
      );
    }
    const final = (await getLead(baseUrl, email)) ?? qualified;
    print(`Explain it any time: npx mql explain ${email}`);
    return { email, anonymousId: visitor.anonymousId, leadgenId, lead: final, ...(record ? { record } : {}) };
  } finally {
    await standIn.stop();
    await receiver?.close();
  }
}
