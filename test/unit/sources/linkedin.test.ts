/**
 * The LinkedIn source as pure functions: the endpoint validation answer, `X-LI-Signature` over the raw bytes,
 * the lead notification's shape, the queue message, and the mapping of a lead form response (every predefined
 * field, custom questions, consents, missing answers) onto one form_submitted event. Vectors:
 * test/fixtures/linkedin/ (shapes from LinkedIn's Lead Sync examples, our own values; the README says which).
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LinkedinForm, LinkedinLead, LinkedinLeadResponse } from '../../../lib/apis/linkedin-leads.ts';
import { isTestLeadId } from '../../../lib/core/identity.ts';
import type { LinkedinLeadNotification } from '../../../lib/sources/linkedin.ts';
import {
  linkedinHandshake,
  linkedinSignature,
  linkedin as linkedinWebhook,
  parseLeadNotification,
  readLeadNotificationMessage,
  verifyLinkedinSignature,
} from '../../../lib/sources/linkedin.ts';
import { linkedinLeadKey, normalizeLinkedinLead, profileFromLinkedinAnswers } from '../../../lib/sources/linkedin-lead.ts';
import type { WebhookRequest } from '../../../lib/sources/source.ts';
import { refusal, webhookRequest } from '../../setup/webhook-request.ts';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/linkedin/lead_sync.json', import.meta.url), 'utf8')) as {
  clientSecret: string;
  challenge: { challengeCode: string };
  notification: Record<string, unknown>;
  response: LinkedinLeadResponse;
  form: LinkedinForm;
};
const { clientSecret } = fixture;

/** A notification signed as LinkedIn signs it: hex HMAC-SHA256 of `hmacsha256=` + body, computed here independently. */
function signed(body: string, headers: Record<string, string> = {}): WebhookRequest {
  const signature = createHmac('sha256', clientSecret).update(`hmacsha256=${body}`).digest('hex');
  return webhookRequest(body, { 'content-type': 'application/json', 'x-li-signature': signature, ...headers });
}

function getRequest(query: Record<string, string>): WebhookRequest {
  return { ...webhookRequest(''), method: 'GET', query };
}

/** The fixture's response with some fields replaced, and its form (null: a lead whose form could not be read). */
const lead = (response: Partial<LinkedinLeadResponse> = {}, form: LinkedinForm | null = fixture.form): LinkedinLead => ({
  response: { ...structuredClone(fixture.response), ...response },
  form: form === null ? undefined : structuredClone(form),
});
const notification: LinkedinLeadNotification = { responseId: fixture.response.id, formId: '7234246', occurredAt: '2025-12-01T09:30:00.000Z' };

describe('the endpoint validation (GET ?challengeCode=)', () => {
  it('answers the code and its hex HMAC-SHA256 keyed with the client secret, as JSON', () => {
    const answer = linkedinHandshake(getRequest(fixture.challenge), clientSecret);

    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual({
      challengeCode: fixture.challenge.challengeCode,
      challengeResponse: createHmac('sha256', clientSecret).update(fixture.challenge.challengeCode).digest('hex'),
    });
  });

  it('another secret gives another answer, so LinkedIn can tell the endpoint is not the app holder', () => {
    const ours = JSON.parse(linkedinHandshake(getRequest(fixture.challenge), clientSecret).body).challengeResponse;
    const theirs = JSON.parse(linkedinHandshake(getRequest(fixture.challenge), 'another-secret').body).challengeResponse;
    expect(ours).not.toBe(theirs);
  });

  it.each([
    ['no challengeCode', {}],
    ['an empty one', { challengeCode: '' }],
    ['markup', { challengeCode: '<script>alert(1)</script>' }],
    ['an overlong one', { challengeCode: 'a'.repeat(500) }],
  ])('refuses %s with a 400', (_name, query) => {
    expect(refusal(() => linkedinHandshake(getRequest(query), clientSecret)).status).toBe(400);
  });
});

describe('X-LI-Signature', () => {
  const body = JSON.stringify(fixture.notification);

  it('accepts the hex HMAC-SHA256 of hmacsha256= + the raw body', () => {
    expect(() => verifyLinkedinSignature(signed(body), clientSecret)).not.toThrow();
    expect(linkedinSignature(clientSecret, body)).toBe(createHmac('sha256', clientSecret).update(`hmacsha256=${body}`).digest('hex'));
  });

  it('accepts the digest labelled hmacsha256=, and upper-case hex', () => {
    const digest = linkedinSignature(clientSecret, body);
    expect(() => verifyLinkedinSignature(signed(body, { 'x-li-signature': `hmacsha256=${digest}` }), clientSecret)).not.toThrow();
    expect(() => verifyLinkedinSignature(signed(body, { 'x-li-signature': digest.toUpperCase() }), clientSecret)).not.toThrow();
  });

  it.each<[string, () => WebhookRequest]>([
    ['no header', () => webhookRequest(body)],
    ['an empty header', () => signed(body, { 'x-li-signature': '' })],
    ['another key', () => signed(body, { 'x-li-signature': linkedinSignature('another-secret', body) })],
    ['the HMAC of the body without the prefix', () => signed(body, { 'x-li-signature': createHmac('sha256', clientSecret).update(body).digest('hex') })],
    ['a tampered body', () => ({ ...signed(body), body: Buffer.from(body.replace('CREATED', 'DELETED')) })],
    [
      'a re-serialized body (the signature is over the bytes received)',
      () => ({ ...signed(body), body: Buffer.from(JSON.stringify(JSON.parse(body), null, 2)) }),
    ],
    ['a short digest', () => signed(body, { 'x-li-signature': 'abcd' })],
    ['base64 instead of hex', () => signed(body, { 'x-li-signature': Buffer.from(linkedinSignature(clientSecret, body), 'hex').toString('base64') })],
  ])('refuses %s with a 401', (_name, make) => {
    expect(refusal(() => verifyLinkedinSignature(make(), clientSecret)).status).toBe(401);
  });
});

describe('the lead notification', () => {
  it('names the response to fetch, with its form, owner, type and time', () => {
    const { lead: parsed, ignored } = parseLeadNotification(signed(JSON.stringify(fixture.notification)));
    expect(ignored).toEqual([]);
    expect(parsed).toEqual({
      responseId: '249592fc-d272-44ba-a7db-c2bdce579507-6',
      formId: '7234246',
      formVersion: 1,
      leadType: 'SPONSORED',
      adAccountId: '1234567',
      occurredAt: new Date(1764581400000).toISOString(),
    });
  });

  it('an organization-owned lead (a company page form) keeps the organization id', () => {
    const body = { ...fixture.notification, owner: { organization: 'urn:li:organization:11223344' }, leadType: 'COMPANY' };
    expect(parseLeadNotification(signed(JSON.stringify(body))).lead).toMatchObject({ organizationId: '11223344', leadType: 'COMPANY' });
  });

  it('acknowledges a DELETED lead action and other notification types without fetching anything', () => {
    const deleted = parseLeadNotification(signed(JSON.stringify({ ...fixture.notification, leadAction: 'DELETED' })));
    const other = parseLeadNotification(signed(JSON.stringify({ type: 'ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS', notifications: [] })));
    expect(deleted).toEqual({ ignored: [{ sourceEventId: '249592fc-d272-44ba-a7db-c2bdce579507-6', reason: 'lead_deleted' }] });
    expect(other).toEqual({ ignored: [{ reason: 'unsupported_type:ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS' }] });
  });

  it('normalize hands the lead to the fetch step as one pending item', () => {
    expect(linkedinWebhook.normalize(signed(JSON.stringify(fixture.notification)))).toMatchObject({
      events: [],
      ignored: [],
      pending: [{ responseId: '249592fc-d272-44ba-a7db-c2bdce579507-6' }],
      received: 1,
    });
  });

  it.each<[string, string, number]>([
    ['malformed JSON', '{"type":"LEAD_ACTION",', 400],
    ['an array', '[]', 400],
    ['no type', JSON.stringify({ leadGenFormResponse: 'urn:li:leadGenFormResponse:abc-1' }), 400],
    ['no response URN', JSON.stringify({ type: 'LEAD_ACTION', leadAction: 'CREATED' }), 400],
    ['a response URN of another kind', JSON.stringify({ ...fixture.notification, leadGenFormResponse: 'urn:li:person:abc' }), 400],
    ['a response id with a slash', JSON.stringify({ ...fixture.notification, leadGenFormResponse: 'urn:li:leadGenFormResponse:../leadForms/1' }), 400],
    ['occurredAt as text', JSON.stringify({ ...fixture.notification, occurredAt: 'yesterday' }), 400],
  ])('refuses %s with a %i', (_name, body, status) => {
    expect(refusal(() => parseLeadNotification(signed(body))).status).toBe(status);
  });

  it('refuses another content type', () => {
    const error = refusal(() => parseLeadNotification(signed(JSON.stringify(fixture.notification), { 'content-type': 'text/plain' })));
    expect(error.code).toBe('unsupported_media_type');
  });

  it('the queue message reads back to the same notification; anything else is unreadable', () => {
    const { lead: parsed } = parseLeadNotification(signed(JSON.stringify(fixture.notification)));
    expect(readLeadNotificationMessage(linkedinWebhook.fetch!.write(parsed!))).toEqual(parsed);
    expect(readLeadNotificationMessage('{"responseId":"../x"}')).toBeUndefined();
    expect(readLeadNotificationMessage('not json')).toBeUndefined();
  });
});

describe('the lead form response onto the profile', () => {
  it('maps every predefined field, custom questions by their text, consents and the other e-mail', () => {
    expect(profileFromLinkedinAnswers(lead())).toEqual({
      email: 'priya.raman@fabrikam-cloud.example.com',
      firstName: 'Priya',
      lastName: 'Raman',
      jobTitle: 'Chief Revenue Officer',
      company: 'Fabrikam Cloud',
      industry: 'Software Development',
      companySize: '1001-5000',
      country: 'DE',
      phone: '+49 30 1234567',
      custom: {
        seniority: 'CXO',
        jobFunction: 'Sales',
        'Which CRM do you use?': 'HubSpot',
        'When do you plan to buy?': 'Q1 2027',
        'consent.0': true,
        work_email: 'priya@personal.example.org',
      },
    });
  });

  it.each<[string, string, Record<string, unknown>]>([
    ['WORK_PHONE_NUMBER', '+1 415 555 0100', { phone: '+1 415 555 0100' }],
    ['CITY', 'Berlin', { custom: { city: 'Berlin' } }],
    ['STATE', 'BE', { custom: { state: 'BE' } }],
    ['ZIP_CODE', '10115', { custom: { postalCode: '10115' } }],
    ['LINKEDIN_PROFILE_LINK', 'https://www.linkedin.com/in/someone', { custom: { linkedinProfile: 'https://www.linkedin.com/in/someone' } }],
    ['DEGREE', 'MSc', { custom: { degree: 'MSc' } }],
    ['FIELD_OF_STUDY', 'Economics', { custom: { fieldOfStudy: 'Economics' } }],
    ['SCHOOL', 'TU Berlin', { custom: { school: 'TU Berlin' } }],
    ['START_DATE', '2019', { custom: { startDate: '2019' } }],
    ['GRADUATION_DATE', '2018', { custom: { graduationDate: '2018' } }],
    ['GENDER', 'Prefer not to say', { custom: { gender: 'Prefer not to say' } }],
    ['SOME_FUTURE_FIELD', 'kept', { custom: { some_future_field: 'kept' } }],
  ])('the predefined field %s maps to %s', (predefinedField, answer, expected) => {
    const form: LinkedinForm = { content: { questions: [{ questionId: 1, predefinedField, name: 'localized name' }] } };
    const profile = profileFromLinkedinAnswers(
      lead({ formResponse: { answers: [{ questionId: 1, answerDetails: { textQuestionAnswer: { answer } } }] } }, form),
    );
    expect(profile).toEqual(expected);
  });

  it('the work e-mail keys the lead when the form asks for no other', () => {
    const answers = fixture.response.formResponse.answers.filter((answer) => answer.questionId !== 307234246);
    const profile = profileFromLinkedinAnswers(lead({ formResponse: { answers } }));
    expect(profile.email).toBe('priya@personal.example.org');
    expect(profile.custom?.work_email).toBeUndefined();
  });

  it('a custom question about company size or industry fills the profile field', () => {
    const form: LinkedinForm = {
      content: {
        questions: [
          { questionId: 1, predefinedField: 'EMAIL' },
          { questionId: 2, question: { localized: { en_US: 'Number of employees' } } },
          { questionId: 3, question: { localized: { en_US: 'Your industry' } } },
        ],
      },
    };
    const profile = profileFromLinkedinAnswers(
      lead(
        {
          formResponse: {
            answers: [
              { questionId: 1, answerDetails: { textQuestionAnswer: { answer: 'a@b.example.com' } } },
              { questionId: 2, answerDetails: { textQuestionAnswer: { answer: '750' } } },
              { questionId: 3, answerDetails: { textQuestionAnswer: { answer: 'Financial Services' } } },
            ],
          },
        },
        form,
      ),
    );
    expect(profile).toEqual({ email: 'a@b.example.com', companySize: 750, industry: 'Financial Services' });
  });

  it('missing answers and questions leave their fields out; answers to unknown questions are kept by id', () => {
    const profile = profileFromLinkedinAnswers(
      lead({
        formResponse: {
          answers: [
            { questionId: 307234246, answerDetails: { textQuestionAnswer: { answer: 'solo@example.com' } } },
            { questionId: 107234246, answerDetails: { textQuestionAnswer: { answer: '   ' } } },
            { questionId: 207234246, answerDetails: {} },
            { questionId: 999, answerDetails: { textQuestionAnswer: { answer: 'kept' } } },
          ],
        },
      }),
    );
    expect(profile).toEqual({ email: 'solo@example.com', custom: { question_999: 'kept' } });
  });

  it('without the form, every answer is kept by question id and nothing is guessed', () => {
    const profile = profileFromLinkedinAnswers(lead({}, null));
    expect(profile.email).toBeUndefined();
    expect(profile.custom).toMatchObject({ question_307234246: 'Priya.Raman@Fabrikam-Cloud.example.com', question_1407234246: '1' });
  });

  it('a question too long to be a key is kept under its name, else its id', () => {
    const long = `${'Tell us about your project. '.repeat(10)}?`;
    const form: LinkedinForm = {
      content: {
        questions: [
          { questionId: 1, name: 'Custom question 0', question: { localized: { en_US: long } } },
          { questionId: 2, question: { localized: { en_US: long } } },
        ],
      },
    };
    const answers = [1, 2].map((questionId) => ({ questionId, answerDetails: { textQuestionAnswer: { answer: `answer ${questionId}` } } }));
    expect(profileFromLinkedinAnswers(lead({ formResponse: { answers } }, form)).custom).toEqual({ 'Custom question 0': 'answer 1', question_2: 'answer 2' });
  });

  it('prototype-named questions never reach a prototype: the answer is kept by question id', () => {
    const form: LinkedinForm = { content: { questions: [{ questionId: 1, question: { localized: { en_US: '__proto__' } } }] } };
    const profile = profileFromLinkedinAnswers(
      lead({ formResponse: { answers: [{ questionId: 1, answerDetails: { textQuestionAnswer: { answer: 'x' } } }] } }, form),
    );
    expect(profile.custom).toEqual({ question_1: 'x' });
    expect(Object.hasOwn(profile.custom!, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('keys a lead by e-mail, else phone, else the response id', () => {
    expect(linkedinLeadKey({ email: 'a@b.example.com', phone: '+1 415 555 0100' }, 'r-1')).toBe('a@b.example.com');
    expect(linkedinLeadKey({ phone: '+1 415 555 0100' }, 'r-1')).toBe('phone:+14155550100');
    expect(linkedinLeadKey({}, 'r-1')).toBe('linkedin:r-1');
  });
});

describe('one form_submitted event per response', () => {
  it('carries the response id, its own submission time, the form, campaign, creative and hidden fields', () => {
    const event = normalizeLinkedinLead(lead(), notification);
    expect(event).toMatchObject({
      leadKey: 'priya.raman@fabrikam-cloud.example.com',
      type: 'form_submitted',
      occurredAt: new Date(1764581398000).toISOString(),
      source: 'linkedin',
      sourceEventId: '249592fc-d272-44ba-a7db-c2bdce579507-6',
      properties: {
        formId: '7234246',
        formVersion: 1,
        formName: 'RevOps benchmark report',
        leadType: 'SPONSORED',
        campaignId: '198356826',
        creativeId: '241257736',
        adAccountId: '1234567',
        'hidden.utm_campaign': 'revops-q1',
      },
    });
    expect(event?.properties.testLead).toBeUndefined();
    expect(event?.raw).not.toHaveProperty('form');
  });

  it('the same response maps to the same key every time; a test lead is marked and is a lead of its own, never the address it carries', () => {
    expect(normalizeLinkedinLead(lead(), notification)).toEqual(normalizeLinkedinLead(lead(), notification));
    const test = normalizeLinkedinLead(lead({ testLead: true }), notification);
    expect(test?.properties.testLead).toBe(true);
    expect(test?.leadKey).toBe(`linkedin-test:${test?.profile?.email}`);
    expect(isTestLeadId(test!.leadKey)).toBe(true);
  });

  it("falls back to the notification's time, and gives up only with neither", () => {
    const { submittedAt: _none, ...withoutTime } = fixture.response;
    expect(normalizeLinkedinLead({ response: withoutTime, form: fixture.form }, notification)?.occurredAt).toBe('2025-12-01T09:30:00.000Z');
    expect(normalizeLinkedinLead({ response: withoutTime, form: fixture.form }, { responseId: fixture.response.id })).toBeUndefined();
  });
});
