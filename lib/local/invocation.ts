/**
 * Which function an asynchronous call belongs to, while the local runtime (lib/local/runtime.ts) runs it: the
 * integration tests' recorder of DynamoDB calls (test/setup/table-grants.ts) checks each call against that
 * function's grant in lib/topology.ts, the one the AWS stack gives its role.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { HandlerName } from '../topology.ts';

export const currentInvocation = new AsyncLocalStorage<{ readonly functionName: HandlerName }>();
