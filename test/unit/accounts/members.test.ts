import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { accountWorkOf, leadOfImage } from '../../../lib/accounts/members.ts';
import { readRollUpRequest, rollUpDeduplicationId, rollUpGroupId } from '../../../lib/accounts/requests.ts';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { Lead } from '../../../lib/core/index.ts';
import { applyEvents } from '../../../lib/core/index.ts';
import { toStreamRecord } from '../../../lib/local/streams.ts';
import { leadAttributes } from '../../../lib/store/lead-codec.ts';
import { event } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

/** The default model, which scores accounts; and the same without its account section. */
const model = defaultModel;
const { account: _account, ...withoutAccounts } = structuredClone(defaultModelJson);
const bare = parseModel(withoutAccounts);
const t0 = new Date('2026-03-02T09:00:00.000Z');

function lead(email: string, ...types: string[]): Lead {
  return applyEvents(
    undefined,
    types.map((type, index) => event(email, type, new Date(t0.getTime() + index * 1000))),
    model,
    new Date(t0.getTime() + 60_000),
  ).lead;
}

/** A lead item as the stream carries it in Lambda's event: marshalled, binary as base64 (lib/local/streams.ts). */
function image(subject: Lead & { mergedInto?: string }) {
  const item = { pk: `LEAD#${subject.leadId}`, sk: 'PROFILE', kind: 'lead', version: 1, ...leadAttributes(subject as unknown as Record<string, unknown>) };
  return marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: true });
}

let sequence = 0;
function record(before: (Lead & { mergedInto?: string }) | undefined, after: (Lead & { mergedInto?: string }) | undefined): DynamoDBRecord {
  sequence += 1;
  const subject = (after ?? before)!;
  return toStreamRecord(
    {
      eventID: `event-${sequence}`,
      eventName: before && after ? 'MODIFY' : after ? 'INSERT' : 'REMOVE',
      dynamodb: {
        Keys: marshall({ pk: `LEAD#${subject.leadId}`, sk: 'PROFILE' }),
        ...(after ? { NewImage: image(after) } : {}),
        ...(before ? { OldImage: image(before) } : {}),
        SequenceNumber: String(sequence),
      },
    } as never,
    'arn:aws:dynamodb:eu-west-1:000000000000:table/mql/stream/1',
    'eu-west-1',
  );
}

describe('the stream to account work', () => {
  it('decodes a lead image with its packed state, as Lambda hands it over (base64 binary)', () => {
    const dana = lead('dana@acme.co.uk', 'webinar_attended');
    expect(leadOfImage(record(undefined, dana).dynamodb!.NewImage)).toMatchObject({ leadId: 'dana@acme.co.uk', behavior: dana.behavior });
  });

  it('a new lead joins its account and asks for its roll-up; an unchanged score asks for none', () => {
    const dana = lead('dana@mail.acme.co.uk', 'webinar_attended');
    const joined = accountWorkOf([record(undefined, dana)], model);
    expect(joined.changes).toEqual([{ op: 'join', accountKey: 'acme.co.uk', leadId: 'dana@mail.acme.co.uk' }]);
    expect([...joined.rollUps.keys()]).toEqual(['acme.co.uk']);
    // A write that changes nothing the account reads (an outbox confirmed, a due time): no roll-up.
    expect(accountWorkOf([record(dana, { ...dana, transitionCount: 9 })], model)).toEqual({ changes: [], rollUps: new Map() });
    const more = lead('dana@mail.acme.co.uk', 'webinar_attended', 'content_downloaded');
    expect([...accountWorkOf([record(dana, more)], model).rollUps.keys()]).toEqual(['acme.co.uk']);
  });

  it('a group call moves a lead: it leaves the domain account and joins the group, both rolled up', () => {
    const before = lead('lee@acme.com', 'webinar_attended');
    const after = { ...before, profile: { ...before.profile, groupId: 'acct-42' } };
    const work = accountWorkOf([record(before, after)], model);
    expect(work.changes).toEqual([
      { op: 'leave', accountKey: 'acme.com', leadId: 'lee@acme.com' },
      { op: 'join', accountKey: 'group:acct-42', leadId: 'lee@acme.com' },
    ]);
    expect([...work.rollUps.keys()].sort()).toEqual(['acme.com', 'group:acct-42']);
  });

  it('an erased or merged-away lead leaves; visitors, test data and free mail never join', () => {
    const kim = lead('kim@acme.com', 'webinar_attended');
    expect(accountWorkOf([record(kim, undefined)], model).changes).toEqual([{ op: 'leave', accountKey: 'acme.com', leadId: 'kim@acme.com' }]);
    expect(accountWorkOf([record(kim, { ...kim, mergedInto: 'other@acme.com' })], model).changes).toEqual([
      { op: 'leave', accountKey: 'acme.com', leadId: 'kim@acme.com' },
    ]);
    const visitor = { ...lead('anon:abc', 'page_viewed'), leadId: 'anon:abc' };
    const visitorInGroup = { ...visitor, profile: { ...visitor.profile, groupId: 'acct-1' } };
    const test = { ...lead('lee@acme.com', 'webinar_attended'), leadId: 'google-ads-test:lee@acme.com' };
    for (const one of [visitorInGroup, test, lead('sam@gmail.com', 'webinar_attended'), lead('x@mailinator.com', 'webinar_attended')]) {
      expect(accountWorkOf([record(undefined, one)], model)).toEqual({ changes: [], rollUps: new Map() });
    }
  });

  it('a model without an account section asks for nothing', () => {
    expect(accountWorkOf([record(undefined, lead('dana@acme.com', 'webinar_attended'))], bare)).toEqual({ changes: [], rollUps: new Map() });
  });
});

describe('roll-up requests', () => {
  it('reads only well-formed requests', () => {
    expect(readRollUpRequest('{"accountKey":"acme.com"}')).toEqual({ accountKey: 'acme.com' });
    expect(readRollUpRequest('{"accountKey":"acme.com","at":"2026-03-02T09:00:00.000Z","due":true}')).toEqual({
      accountKey: 'acme.com',
      at: '2026-03-02T09:00:00.000Z',
      due: true,
    });
    for (const body of ['', 'null', '[]', '{}', '{"accountKey":""}', '{"accountKey":7}', '{"accountKey":"a.com","at":"yesterday"}']) {
      expect(readRollUpRequest(body), body).toBeUndefined();
    }
  });

  it("names SQS's group and deduplication ids within its limits, whatever the account key", () => {
    const key = `group:${'ü'.repeat(300)}`;
    for (const id of [rollUpGroupId(key), rollUpDeduplicationId(key, 'event-1')]) expect(id).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    expect(rollUpGroupId('acme.com')).toBe(rollUpGroupId('acme.com'));
    expect(rollUpDeduplicationId('acme.com', 'a')).not.toBe(rollUpDeduplicationId('acme.com', 'b'));
  });
});
