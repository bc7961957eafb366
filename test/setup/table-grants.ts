/**
 * Integration setup file: every DynamoDB call a handler makes while the local runtime runs it (lib/local/
 * invocation.ts names the function) is recorded as the IAM action it needs, and at the end of each test file
 * the calls are checked against that function's grant in lib/topology.ts (`table`), the one the AWS stack gives
 * its role. A grant too tight for the code would fail in production with AccessDenied; here it fails the test
 * file that exercised the call. The client is watched, not replaced: every call still goes to DynamoDB Local.
 */
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, expect } from 'vitest';
import { itemWriteActions } from '../../lib/grants.ts';
import { currentInvocation } from '../../lib/local/invocation.ts';
import { type FunctionSpec, functions, type HandlerName, type TableAccess, table } from '../../lib/topology.ts';

/** One call as IAM authorizes it: the action and where (the table, or an index). */
export interface TableCall {
  readonly functionName: HandlerName;
  readonly action: string;
  readonly on: 'table' | `index/${string}`;
  /** A single-item write's partition key (what IAM's `dynamodb:LeadingKeys` condition sees). */
  readonly partition?: string;
}

/** What every test file's handlers called, by `function action on`. */
export const recordedTableCalls = new Map<string, TableCall>();

/** The IAM actions of a DynamoDB document-client command (a transaction is authorized per item). */
export function iamActionsOf(command: { constructor: { name: string }; input?: Record<string, unknown> }): { action: string; on: TableCall['on'] }[] {
  const input = command.input ?? {};
  const on: TableCall['on'] = typeof input.IndexName === 'string' ? `index/${input.IndexName}` : 'table';
  switch (command.constructor.name) {
    case 'GetCommand':
      return [{ action: 'GetItem', on }];
    case 'BatchGetCommand':
      return [{ action: 'BatchGetItem', on }];
    case 'QueryCommand':
      return [{ action: 'Query', on }];
    case 'ScanCommand':
      return [{ action: 'Scan', on }];
    case 'PutCommand':
      return [{ action: 'PutItem', on }];
    case 'UpdateCommand':
      return [{ action: 'UpdateItem', on }];
    case 'DeleteCommand':
      return [{ action: 'DeleteItem', on }];
    case 'BatchWriteCommand':
      return [{ action: 'BatchWriteItem', on }];
    case 'TransactGetCommand':
      return [{ action: 'GetItem', on }];
    case 'TransactWriteCommand': {
      const perItem = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem' } as const;
      return ((input.TransactItems as Record<string, unknown>[] | undefined) ?? []).flatMap((item) =>
        (Object.keys(perItem) as (keyof typeof perItem)[])
          .filter((kind) => item[kind] !== undefined)
          .map((kind) => ({ action: perItem[kind], on: 'table' as const })),
      );
    }
    default:
      return [{ action: `unknown:${command.constructor.name}`, on }];
  }
}

/** Whether a function's grant covers a call. */
export function granted(access: TableAccess, call: Pick<TableCall, 'action' | 'on' | 'partition'>): boolean {
  if (call.on === 'table') {
    if (!(access.actions as readonly string[]).includes(call.action)) return false;
    const confined = access.writesUnder;
    if (!confined || !(itemWriteActions as readonly string[]).includes(call.action)) return true;
    return call.partition?.startsWith(confined) === true;
  }
  return call.on === `index/${table.dueIndex.name}` && call.action === 'Query' && access.queriesDueIndex === true;
}

const prototype = DynamoDBDocumentClient.prototype as unknown as { send: (command: never, ...rest: unknown[]) => Promise<unknown> };
const send = prototype.send;
prototype.send = function recordingSend(this: unknown, command: never, ...rest: unknown[]) {
  const invocation = currentInvocation.getStore();
  if (invocation) {
    const input = (command as { input?: { Item?: { pk?: unknown }; Key?: { pk?: unknown } } }).input;
    const pk = input?.Item?.pk ?? input?.Key?.pk;
    const partition = typeof pk === 'string' ? pk.replace(/#.*$/, '#') : undefined;
    for (const { action, on } of iamActionsOf(command)) {
      recordedTableCalls.set(`${invocation.functionName} ${action} on ${on}${partition ? ` in ${partition}` : ''}`, {
        functionName: invocation.functionName,
        action,
        on,
        ...(partition ? { partition } : {}),
      });
    }
  }
  return send.call(this, command, ...rest);
};

afterAll(() => {
  const outside = [...recordedTableCalls.values()]
    .filter((call) => !granted((functions[call.functionName] as FunctionSpec).table, call))
    .map(
      (call) =>
        `${call.functionName} called dynamodb:${call.action} on the ${call.on}${call.partition ? ` (partition ${call.partition}...)` : ''}, which its grant in lib/topology.ts does not allow`,
    );
  expect(outside).toEqual([]);
});
