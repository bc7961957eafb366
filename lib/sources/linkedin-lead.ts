/**
 * A LinkedIn lead form response, mapped onto one `form_submitted` event: answers refer to questions by
 * `questionId`, so each is read through the form's question (its `predefinedField`, the same in every
 * language, or for a custom question the question's text). Predefined fields fill the profile the fit rules
 * read; everything else is kept under `custom`. The fetch step of lib/sources/linkedin.ts calls
 * {@link normalizeLinkedinLead} once it has the response and its form.
 */
import type { LinkedinForm, LinkedinLead, LinkedinQuestion } from '../apis/linkedin-leads.ts';
import { versionedFormOf } from '../apis/linkedin-leads.ts';
import type { NormalizedEvent, Profile, PropertyValue } from '../core/events.ts';
import { phoneLeadId, testLeadId } from '../core/identity.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import type { ProfileSlot } from './fields.ts';
import { definedOnly, isKeptKey, maxFieldsPerEvent, profileOfSlots, questionKey, slotOf, text, truncate } from './fields.ts';
import type { LinkedinLeadNotification } from './linkedin.ts';
import { linkedinSourceName } from './linkedin.ts';

/**
 * LinkedIn's predefined fields (the lead sync schema's `predefinedField` enum) that fill a profile slot;
 * the others are kept under `custom` by the name in {@link customNames}.
 */
const predefinedSlots: Readonly<Record<string, ProfileSlot>> = {
  FIRST_NAME: 'first_name',
  LAST_NAME: 'last_name',
  EMAIL: 'email',
  WORK_EMAIL: 'work_email',
  PHONE_NUMBER: 'phone',
  WORK_PHONE_NUMBER: 'phone',
  COMPANY_NAME: 'company',
  JOB_TITLE: 'job_title',
  COMPANY_SIZE: 'company_size',
  INDUSTRY: 'industry',
  COUNTRY: 'country',
};

/** Predefined fields the profile has no slot for, under `custom` (a rule can match `custom.seniority`). */
const customNames: Readonly<Record<string, string>> = {
  SENIORITY: 'seniority',
  JOB_FUNCTION: 'jobFunction',
  CITY: 'city',
  STATE: 'state',
  ZIP_CODE: 'postalCode',
  LINKEDIN_PROFILE_LINK: 'linkedinProfile',
  DEGREE: 'degree',
  FIELD_OF_STUDY: 'fieldOfStudy',
  SCHOOL: 'school',
  START_DATE: 'startDate',
  GRADUATION_DATE: 'graduationDate',
  GENDER: 'gender',
};

/** The first localized text of a MultiLocaleString (`{"localized": {"en_US": "..."}}`). */
function localized(value: unknown): string | undefined {
  const texts = own(value, 'localized');
  return isObject(texts) ? text(...Object.values(texts)) : undefined;
}

/** An answer as text: a text answer as given, a multiple-choice answer as its options' texts joined with ", ". */
function answerText(answer: LinkedinLead['response']['formResponse']['answers'][number], question: LinkedinQuestion | undefined): string | undefined {
  const details = answer.answerDetails;
  const written = text(own(own(details, 'textQuestionAnswer'), 'answer'));
  if (written !== undefined) return written;
  const chosen = own(own(details, 'multipleChoiceAnswer'), 'options');
  if (!Array.isArray(chosen)) return undefined;
  const options = question?.questionDetails?.multipleChoiceQuestionDetails?.options ?? [];
  const texts = chosen
    .map((id) => localized(options.find((option) => isObject(option) && option.id === id)?.text) ?? (typeof id === 'number' ? String(id) : undefined))
    .filter((value): value is string => value !== undefined);
  return texts.length === 0 ? undefined : truncate(texts.join(', '));
}

/**
 * The key a custom answer is kept under: the question as shown, else (a question too long to be a key) its
 * author's name for it, else its id.
 */
function customKey(question: LinkedinQuestion | undefined, questionId: number): string {
  const candidates = [localized(question?.question), text(question?.name)];
  return candidates.find((key): key is string => key !== undefined && isKeptKey(key)) ?? `question_${questionId}`;
}

/**
 * The profile a lead form response tells: predefined fields onto profile fields, custom questions whose
 * text names a slot (company size, industry) onto it, every other answer under `custom`, and each consent
 * checkbox as `consent.<id>` (true when ticked). Answers to questions the form does not list are kept as
 * `question_<id>`, never dropped.
 */
export function profileFromLinkedinAnswers(lead: LinkedinLead): Profile {
  const questions = new Map<number, LinkedinQuestion>();
  for (const question of lead.form?.content?.questions ?? []) if (isObject(question)) questions.set(question.questionId, question);
  const slots: Partial<Record<ProfileSlot, string>> = {};
  const custom: Record<string, PropertyValue> = {};
  let customCount = 0;
  const keep = (key: string, value: PropertyValue) => {
    if (customCount >= maxFieldsPerEvent || !isKeptKey(key) || Object.hasOwn(custom, key)) return;
    custom[key] = value;
    customCount += 1;
  };
  for (const answer of lead.response.formResponse.answers) {
    if (!isObject(answer)) continue;
    const question = questions.get(answer.questionId);
    const value = answerText(answer, question);
    if (value === undefined) continue;
    const predefined = typeof question?.predefinedField === 'string' ? question.predefinedField : undefined;
    const slot = predefined ? predefinedSlots[predefined] : slotOf(questionKey(customKey(question, answer.questionId)));
    if (slot && slots[slot] === undefined) {
      slots[slot] = value;
      continue;
    }
    keep(predefined ? (customNames[predefined] ?? predefined.toLowerCase()) : customKey(question, answer.questionId), value);
  }
  for (const consent of lead.response.formResponse.consentResponses ?? []) {
    if (isObject(consent) && typeof consent.consentId === 'number') keep(`consent.${consent.consentId}`, consent.accepted === true);
  }

  const { profile, otherWorkEmail } = profileOfSlots(slots);
  if (otherWorkEmail !== undefined) keep('work_email', otherWorkEmail);
  if (Object.keys(custom).length > 0) profile.custom = custom;
  return profile;
}

/** The lead id of a LinkedIn lead: its e-mail, else `phone:<number>`, else `linkedin:<response id>`; never dropped. */
export function linkedinLeadKey(profile: Pick<Profile, 'email' | 'phone'>, responseId: string): string {
  return profile.email ?? phoneLeadId(profile.phone) ?? `${linkedinSourceName}:${responseId}`;
}

/** The numeric id at the end of a URN (`urn:li:sponsoredCampaign:198356826` -> `198356826`). */
function urnId(urn: unknown): string | undefined {
  return typeof urn === 'string' ? /^urn:li:[A-Za-z]+:(\d{1,30})$/.exec(urn)?.[1] : undefined;
}

/** Epoch milliseconds as ISO UTC; undefined when it is not a plausible time. */
function epochMsToIso(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 32_503_680_000_000) return undefined;
  return new Date(value).toISOString();
}

/** The form's hidden fields (tracking values its author set), as `hidden.<name>` properties. */
function hiddenFields(form: LinkedinForm | undefined): Record<string, PropertyValue> {
  const properties: Record<string, PropertyValue> = {};
  for (const field of (Array.isArray(form?.hiddenFields) ? form.hiddenFields : []).slice(0, 20)) {
    const name = text(own(field, 'name'));
    const value = text(own(field, 'value'));
    if (name !== undefined && value !== undefined && isKeptKey(`hidden.${name}`)) properties[`hidden.${name}`] = value;
  }
  return properties;
}

/**
 * One `form_submitted` event for a fetched lead. Its idempotency key is the response id and its time the
 * response's own `submittedAt` (the notification's `occurredAt` when the response has none), so fetching
 * the same lead twice writes the same event key. Undefined only when neither time is known.
 */
export function normalizeLinkedinLead(lead: LinkedinLead, notification: LinkedinLeadNotification): NormalizedEvent | undefined {
  const { response, form } = lead;
  const occurredAt = epochMsToIso(response.submittedAt) ?? notification.occurredAt;
  if (!occurredAt) return undefined;
  const profile = profileFromLinkedinAnswers(lead);
  const versioned = versionedFormOf(response.versionedLeadGenFormUrn);
  const properties = definedOnly<Record<string, PropertyValue>>({
    formId: versioned?.formId ?? notification.formId,
    formVersion: versioned?.version ?? notification.formVersion,
    formName: text(form?.name),
    leadType: text(response.leadType) ?? notification.leadType,
    campaignId: urnId(own(own(response.leadMetadata, 'sponsoredLeadMetadata'), 'campaign')),
    creativeId: urnId(own(response.associatedEntity, 'associatedCreative')),
    adAccountId: urnId(own(response.owner, 'sponsoredAccount')) ?? notification.adAccountId,
    organizationId: urnId(own(response.owner, 'organization')) ?? notification.organizationId,
    // LinkedIn's "preview" submissions of a form: kept and visible, marked, and a lead of their own that is
    // never handed off (lib/core/identity.ts testLeadId), as Google Ads' test data.
    testLead: response.testLead === true ? true : undefined,
  });
  Object.assign(properties, hiddenFields(form));
  const { form: _decoration, ...raw } = response;
  return {
    leadKey: response.testLead === true ? testLeadId(linkedinSourceName, profile.email ?? response.id)! : linkedinLeadKey(profile, response.id),
    type: 'form_submitted',
    occurredAt,
    source: linkedinSourceName,
    sourceEventId: response.id,
    properties,
    profile,
    raw: raw as unknown as JsonObject,
  };
}
