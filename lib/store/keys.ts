import { createHash } from 'node:crypto';
import type { NormalizedEvent } from '../core/events.ts';
import { table } from '../topology.ts';

/** Key layout of the single table (docs/architecture.md, "Data model"). Nothing outside lib/store builds a key. */

export const leadPk = (leadId: string) => `LEAD#${leadId}`;
export const profileSk = 'PROFILE';
/** Every event item's sort key starts so. */
export const eventSkPrefix = 'EVT#';
export const eventSk = (event: Pick<NormalizedEvent, 'occurredAt' | 'source' | 'sourceEventId'>) =>
  `EVT#${event.occurredAt}#${event.source}#${event.sourceEventId}`;
/** The raw item keyed by the first event of a write; it holds the raw payloads of that write's events (`events[]`). */
export const rawSk = (event: Pick<NormalizedEvent, 'source' | 'sourceEventId'>) => `RAW#${event.source}#${event.sourceEventId}`;
export const handoffSk = (occurredAt: string, id: string) => `HANDOFF#${occurredAt}#${id}`;
/** One delivery attempt of a handoff (kept a while, TTL): `ATTEMPT#<handoff time>#<handoff id>#<attempt time>`. */
export const attemptSk = (occurredAt: string, id: string, at: string) => `ATTEMPT#${occurredAt}#${id}#${at}`;
/** The CRM record a lead was delivered to (`CRM#<adapter>#<CRM id>` / `LINK`), for the CRM's own webhooks. */
export const crmLinkPk = (adapter: string, externalId: string) => `CRM#${adapter}#${externalId}`;
export const crmLinkSk = 'LINK';
export const seenPk = (source: string, eventId: string) => `SEEN#${source}#${eventId}`;
export const seenSk = 'SEEN';
/** A sender's one-time signing token (Mailgun), bound to the body it first came with. */
export const replayPk = (source: string, token: string) => `REPLAY#${source}#${token}`;
export const replaySk = 'REPLAY';
/**
 * An erasure's tombstone (lib/store/tombstones.ts): keyed by the keyed digest of the identity erased
 * (lib/core/pseudonym.ts `identityDigest`), never by the address itself.
 */
export const tombstonePk = (digest: string) => `ERASED#${digest}`;
export const tombstoneSk = 'ERASED';

/** Leads are spread over a few shards of the sparse due index, so the decay job's query has no hot partition. */
export function dueShardOf(leadId: string): string {
  const bucket = createHash('sha256').update(leadId).digest().readUInt32BE(0) % table.dueShards;
  return `DUE#${bucket}`;
}

export const allDueShards = () => Array.from({ length: table.dueShards }, (_, index) => `DUE#${index}`);

/**
 * An account's partition (docs/accounts.md, "The roll-up"): its state (`PROFILE`), its members (`MEMBER#<leadId>`),
 * its handoffs. `accountKey` is a registrable domain or `group:<groupId>`.
 */
export const accountPk = (accountKey: string) => `ACCOUNT#${accountKey}`;
export const memberSkPrefix = 'MEMBER#';
export const memberSk = (leadId: string) => `MEMBER#${leadId}`;

/** Accounts have due shards of their own (`ACCDUE#<n>`), so the decay job reads leads and accounts apart. */
export function accountDueShardOf(accountKey: string): string {
  const bucket = createHash('sha256').update(accountKey).digest().readUInt32BE(0) % table.dueShards;
  return `ACCDUE#${bucket}`;
}

export const allAccountDueShards = () => Array.from({ length: table.dueShards }, (_, index) => `ACCDUE#${index}`);
