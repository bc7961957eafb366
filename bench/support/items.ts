/** DynamoDB item sizes and the published write capacity rules, for the capacity estimate. */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/** DynamoDB's size of a number: about one byte per two significant digits, plus one. */
function numberSize(text: string): number {
  const mantissa = text.replace(/^[-+]/, '').split(/[eE]/)[0] ?? '';
  const digits = mantissa.replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Size of one attribute value per the DynamoDB developer guide ("Item sizes and formats"). */
export function attributeValueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, item) => sum + utf8(item), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, item) => sum + numberSize(item), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, item) => sum + item.byteLength, 0);
  // Lists and maps: 3 bytes, plus 1 byte per element, plus the elements (and a map's key names).
  if (value.L !== undefined) return 3 + value.L.reduce((sum, item) => sum + 1 + attributeValueSize(item), 0);
  if (value.M !== undefined) return 3 + Object.entries(value.M).reduce((sum, [key, item]) => sum + utf8(key) + 1 + attributeValueSize(item), 0);
  return 0;
}

export function itemSize(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + attributeValueSize(value), 0);
}

/** Published rule: a transactional write costs 2 WCU per 1 KB (rounded up) of each item. */
export const transactionalWcu = (bytes: number) => 2 * Math.max(1, Math.ceil(bytes / 1024));
/** A standard write (an index update of a GSI): 1 WCU per 1 KB. */
export const standardWcu = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

export interface ConsumedCapacity {
  CapacityUnits?: number;
  WriteCapacityUnits?: number;
}

/** Write capacity units of a response's ConsumedCapacity (ReturnConsumedCapacity: TOTAL). */
export const writeUnits = (consumed: readonly ConsumedCapacity[] | undefined): number =>
  (consumed ?? []).reduce((sum, entry) => sum + (entry.WriteCapacityUnits ?? entry.CapacityUnits ?? 0), 0);
