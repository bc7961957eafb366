import { badRequest, HttpError, notFound } from '../lib/http/errors.ts';
import { httpHandler } from '../lib/http/handler.ts';
import { json } from '../lib/http/request.ts';
import { dynamo } from '../lib/runtime/aws.ts';
import { requireEnv } from '../lib/runtime/config.ts';
import { loadModel, loadModelAtColdStart } from '../lib/runtime/model-config.ts';
import { AccountStore } from '../lib/store/accounts.ts';
import { StoreTable } from '../lib/store/table.ts';
import { tableNameEnv } from '../lib/topology.ts';
import { accountAskOf, findAccountView, noAccountSection, notFoundDetail } from '../lib/views/account-view.ts';

loadModelAtColdStart();

/**
 * GET /accounts/{domain}: the account scored now from its members, with its reasons, members and timing; 404 when
 * unknown or when the model scores no account. A group call's account is `group:<groupId>`, URL-encoded
 * (/accounts/group%3A4242); a domain names the domain account only (docs/accounts.md, "Reading an account").
 */
export const handler = httpHandler(async (event) => {
  const model = loadModel();
  if (!model.account) throw new HttpError(404, 'no_account_section', noAccountSection);
  const ask = accountAskOf(event.pathParameters?.domain, model);
  if ('invalid' in ask) throw badRequest(ask.invalid);
  if ('noAccount' in ask) throw notFound(ask.noAccount);
  const accounts = new AccountStore(new StoreTable({ client: dynamo(), tableName: requireEnv(tableNameEnv) }));
  const view = await findAccountView(accounts, model, ask.key, new Date());
  if (!view) throw notFound(notFoundDetail(ask.key));
  return json(200, view);
});
