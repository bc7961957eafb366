/**
 * DynamoDB's published request-unit rules (the on-demand page quoted in bench/prices.json), for the
 * cost meter: a write is 1 WRU per started KB of the item (the larger of the item before and after),
 * 2 in a transaction; a read is 1 RRU per started 4 KB strongly consistent, half eventually consistent,
 * 2 in a transaction; a Query is charged on the summed size of the items it returns; a read of an item
 * that does not exist costs the minimum. Sizes per support/items.ts (the developer guide's "Item sizes
 * and formats"), of marshalled items or of the document client's plain values.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { itemSize } from './items.ts';

export type Consistency = 'eventual' | 'strong' | 'transactional';

/** Write request units of one item write of `bytes`. */
export const writeRequestUnits = (bytes: number, transactional: boolean): number => Math.max(1, Math.ceil(bytes / 1024)) * (transactional ? 2 : 1);

/** Read request units of reading `bytes` (one item, or a Query's summed items). */
export function readRequestUnits(bytes: number, consistency: Consistency): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return units * (consistency === 'eventual' ? 0.5 : consistency === 'strong' ? 1 : 2);
}

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

function numberSize(value: number | bigint | string): number {
  const text = String(value);
  const mantissa = text.replace(/^[-+]/, '').split(/[eE]/)[0] ?? '';
  const digits = mantissa.replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Size of a plain value as the document client would marshal it (strings, numbers, binary, sets, lists, maps). */
export function plainValueSize(value: unknown): number {
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberSize(value);
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) return [...value].reduce<number>((sum, item) => sum + plainValueSize(item), 0);
  if (Array.isArray(value)) return 3 + value.reduce<number>((sum, item) => sum + 1 + plainValueSize(item), 0);
  if (typeof value === 'object' && value !== undefined) {
    if ('value' in value && Object.keys(value).length === 1) return numberSize(String((value as { value: unknown }).value)); // NumberValue
    return 3 + Object.entries(value).reduce((sum, [key, item]) => (item === undefined ? sum : sum + utf8(key) + 1 + plainValueSize(item)), 0);
  }
  return 0;
}

/** Size of an item, whether marshalled (AttributeValue maps) or plain. */
export function anyItemSize(item: Record<string, unknown>, marshalled: boolean): number {
  if (marshalled) return itemSize(item as Record<string, AttributeValue>);
  return Object.entries(item).reduce((sum, [key, value]) => (value === undefined ? sum : sum + utf8(key) + plainValueSize(value)), 0);
}

/** An attribute's string, from a marshalled ({S: ...}) or a plain item. */
export function attributeString(item: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = item?.[name];
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { S?: unknown }).S === 'string') return (value as { S: string }).S;
  return undefined;
}
