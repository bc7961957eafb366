/**
 * A byte budget for what one event may bring into the store, so a valid but huge delivery is stored cut
 * (or its event refused with a reason), never refused by DynamoDB with an error the sender would retry
 * forever. DynamoDB refuses an item over 400 KB, counted in UTF-8 bytes of attribute names and values;
 * a transaction over 4 MB. An event is stored on an item of its own (with its lead's key and a few store
 * fields), and a lead item keeps a bounded summary of its recent events (lib/core/lead.ts), so bounding
 * each event bounds both. The budget keeps what the model reads first: the properties its rules name.
 */
import type { NormalizedEvent, Profile, PropertyValue } from './events.ts';
import type { ScoringModel } from './model.ts';

/** DynamoDB's limit on one item, in bytes. */
export const dynamoItemLimitBytes = 400 * 1024;

export const eventBudget = {
  /** An event type longer than this is no type a model names: the event is refused (`event_type_too_long`). */
  typeBytes: 200,
  /** The provider's event id is part of the event's sort key (DynamoDB allows 1,024 bytes for a sort key). */
  sourceEventIdBytes: 512,
  /** One text value of a property or a profile field. */
  textBytes: 2000,
  /** All of an event's properties together (JSON); the rest are dropped, the model's own first kept. */
  propertiesBytes: 32 * 1024,
  /** All of an event's profile fields together (JSON). */
  profileBytes: 16 * 1024,
} as const;

/** UTF-8 bytes of a string (a lone surrogate counts as the 3 bytes of its replacement character). */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** The longest prefix of `text` that is at most `maxBytes` in UTF-8, never splitting a character. */
export function cutToBytes(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || utf8Bytes(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

const cutValue = <T>(value: T): T => (typeof value === 'string' ? (cutToBytes(value, eventBudget.textBytes) as T) : value);

/** The event properties and profile fields a model's rules read (`property` and `field` of its conditions), kept first when an event is cut. */
export function namesTheModelReads(model: ScoringModel): { properties: Set<string>; fields: Set<string> } {
  const properties = new Set<string>();
  const fields = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (key === 'property' && typeof child === 'string') properties.add(child);
        else if (key === 'field' && typeof child === 'string') fields.add(child);
        else walk(child);
      }
    }
  };
  walk([model.fit, model.behavior, model.disqualify, model.fastTrack]);
  // A lead-form event is mapped by its form id (the model's `forms`).
  properties.add('formId');
  // A group call's account id: kept before anything else is, so a roll-up of leads to accounts finds it
  // on the lead and on the event (docs/providers/events.md, "Group calls").
  properties.add('groupId');
  fields.add('groupId');
  return { properties, fields };
}

/** Entries kept in order of preference (`first` names, then the others as given) while their JSON stays within `maxBytes`. */
function keepWithin<V>(entries: [string, V][], first: ReadonlySet<string>, maxBytes: number): { kept: Record<string, V>; dropped: number } {
  const ordered = [...entries.filter(([key]) => first.has(key)), ...entries.filter(([key]) => !first.has(key))];
  const kept: Record<string, V> = {};
  let bytes = 2;
  let dropped = 0;
  for (const [key, value] of ordered) {
    const size = utf8Bytes(JSON.stringify(key)) + utf8Bytes(JSON.stringify(value) ?? 'null') + 2;
    if (bytes + size > maxBytes) {
      dropped += 1;
      continue;
    }
    kept[key] = value;
    bytes += size;
  }
  return { kept, dropped };
}

export type BoundedEvent = { readonly event: NormalizedEvent; readonly trimmed: number } | { readonly refused: string };

/**
 * The event as it may be stored: text values cut to {@link eventBudget}.textBytes, properties and profile
 * fields beyond their byte budgets dropped (the model's own kept first; `trimmed` counts what was cut or
 * dropped), or `refused` with a reason when its type or id cannot be stored at all.
 */
export function boundEvent(event: NormalizedEvent, reads: { properties: ReadonlySet<string>; fields: ReadonlySet<string> }): BoundedEvent {
  if (utf8Bytes(event.type) > eventBudget.typeBytes) return { refused: 'event_type_too_long' };
  if (utf8Bytes(event.sourceEventId) > eventBudget.sourceEventIdBytes) return { refused: 'event_id_too_long' };
  let trimmed = 0;
  const cutEntries = <V>(record: Record<string, V>): [string, V][] =>
    Object.entries(record).map(([key, value]) => {
      const cut = cutValue(value);
      if (cut !== value) trimmed += 1;
      return [key, cut];
    });
  const properties = keepWithin<PropertyValue>(cutEntries(event.properties), reads.properties, eventBudget.propertiesBytes);
  trimmed += properties.dropped;
  let profile: Profile | undefined;
  if (event.profile) {
    const { custom, ...standard } = event.profile;
    const customFirst = new Set([...reads.fields].filter((field) => field.startsWith('custom.')).map((field) => field.slice('custom.'.length)));
    const standardFields = keepWithin(cutEntries(standard as Record<string, unknown>), reads.fields, eventBudget.profileBytes / 2);
    const customFields = custom ? keepWithin(cutEntries(custom), customFirst, eventBudget.profileBytes / 2) : undefined;
    trimmed += standardFields.dropped + (customFields?.dropped ?? 0);
    profile = { ...(standardFields.kept as Profile), ...(customFields ? { custom: customFields.kept } : {}) };
  }
  if (trimmed === 0) return { event, trimmed };
  return { event: { ...event, properties: properties.kept, ...(profile ? { profile } : {}) }, trimmed };
}
