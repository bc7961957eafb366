/**
 * How a raw item keeps its events' raw payloads: their JSON deflated into one binary attribute
 * (`payload`, `encoding: "deflate-raw"`). A provider's JSON is repetitive (the same keys in every event
 * of a batch, long user agents and URLs), so it shrinks several times, and DynamoDB bills writes and
 * storage by the byte (docs/benchmarks.md). zlib ships with Node: nothing is added to a bundle.
 * Items written before this encoding keep their plain `events` list and read as before.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** One event's raw payload as a raw item holds it. */
export interface RawPayload {
  source: string;
  sourceEventId: string;
  /** The provider's event as JSON text, cut when over the budget. */
  raw: string;
  rawTruncated?: true;
}

export const rawEncoding = 'deflate-raw';

export function encodeRawPayloads(payloads: readonly RawPayload[]): { encoding: string; payload: Uint8Array } {
  return { encoding: rawEncoding, payload: deflateRawSync(Buffer.from(JSON.stringify(payloads), 'utf8')) };
}

/** The payloads of a stored raw item, either encoding. */
export function decodeRawPayloads(item: Record<string, unknown>): RawPayload[] {
  if (item.encoding === rawEncoding && item.payload instanceof Uint8Array) {
    return JSON.parse(inflateRawSync(item.payload).toString('utf8')) as RawPayload[];
  }
  return (item.events as RawPayload[] | undefined) ?? [];
}
