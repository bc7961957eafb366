import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CfnElement, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { SettingsError, settingsFromContext } from '../../cdk/config.ts';
import { pascal } from '../../cdk/constructs/mql-engine.ts';
import type { MqlEngineStack } from '../../cdk/stack.ts';
import { itemWriteActions } from '../../lib/grants.ts';
import {
  dlqUrlEnv,
  everyFunctionReads,
  type FunctionSpec,
  functions,
  type HandlerName,
  ingestTable,
  queueSpec,
  queues,
  queueUrlEnv,
  type RouteSpec,
  routes,
  type SecretGroup,
  type SecretKey,
  schedules,
  secretArnsEnv,
  secretGroupOf,
  secretGroups,
  secretKeys,
  table,
  tableStream,
  trackingThrottle,
} from '../../lib/topology.ts';
import { buildStack, synth } from './synth.ts';

const { stack, template } = synth();
const defaultModelPath = fileURLToPath(new URL('../../lib/core/default-model.json', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'mql-cdk-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const functionEntries = Object.entries(functions) as [HandlerName, FunctionSpec][];

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

function logicalId(s: MqlEngineStack, construct: { node: { defaultChild?: unknown } }): string {
  return s.getLogicalId(construct.node.defaultChild as CfnElement);
}

function resource(id: string): Resource {
  const found = template.toJSON().Resources[id] as Resource | undefined;
  if (!found) throw new Error(`no resource ${id}`);
  return found;
}

function functionResource(name: HandlerName): Resource {
  return resource(logicalId(stack, stack.engine.functions[name].function));
}

/** Every IAM statement attached to a function's role. */
function statementsOf(name: HandlerName): { Action: string | string[]; Resource: unknown }[] {
  const role = logicalId(stack, stack.engine.functions[name].role);
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((policy) => (policy.Properties.Roles as unknown[]).some((ref) => JSON.stringify(ref) === JSON.stringify({ Ref: role })))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
}

function actionsOf(name: HandlerName): string[] {
  return statementsOf(name).flatMap((statement) => [statement.Action].flat());
}

/** The actions a function's role allows on exactly this resource (a template value: a Ref, a GetAtt, a Join). */
function actionsOn(name: HandlerName, target: unknown): string[] {
  const wanted = JSON.stringify(target);
  return statementsOf(name)
    .filter((statement) => [statement.Resource].flat().some((one) => JSON.stringify(one) === wanted))
    .flatMap((statement) => [statement.Action].flat());
}

/** Every DynamoDB action of a function's role with the resource it is on: `Query on table`, `Query on index/due`. */
function tableGrantsOf(name: HandlerName): string[] {
  const tableId = logicalId(stack, stack.engine.table);
  const resourceName = (resource: unknown): string => {
    const text = JSON.stringify(resource);
    if (text === JSON.stringify({ 'Fn::GetAtt': [tableId, 'Arn'] })) return 'table';
    const index = /"\/index\/([^"]*)"/.exec(text);
    if (text.includes(tableId) && index) return `index/${index[1]}`;
    return text;
  };
  return statementsOf(name).flatMap((statement) =>
    [statement.Action]
      .flat()
      .filter((action) => action.startsWith('dynamodb:'))
      .flatMap((action) => [statement.Resource].flat().map((resource) => `${action.slice('dynamodb:'.length)} on ${resourceName(resource)}`)),
  );
}

/** A template string value with its Refs written as `<logical id>` (Fn::Join of literals and Refs). */
function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`not a string or Fn::Join: ${JSON.stringify(value)}`);
  return join[1].map((part) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`)).join(join[0]);
}

const secretRef = (group: SecretGroup) => `<${logicalId(stack, stack.engine.secrets[group])}>`;

describe('table', () => {
  it('is on-demand with PITR, TTL, AWS-managed encryption, deletion protection, retained', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const t = resource(logicalId(stack, stack.engine.table));
    expect(t.DeletionPolicy).toBe('Retain');
    expect(t.UpdateReplacePolicy).toBe('Retain');
    expect(t.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: table.partitionKey, KeyType: 'HASH' },
        { AttributeName: table.sortKey, KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
      // SSEEnabled without a key: KMS with the AWS managed key aws/dynamodb.
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
    });
    expect(t.Properties.SSESpecification.KMSMasterKeyId).toBeUndefined();
    expect(t.Properties.ProvisionedThroughput).toBeUndefined();
  });

  it('streams lead items, before and after each write, to the account-members function only (filtered, bisected, with an on-failure queue)', () => {
    const t = resource(logicalId(stack, stack.engine.table));
    expect(t.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).filter((mapping) =>
      JSON.stringify(mapping.Properties.EventSourceArn).includes('StreamArn'),
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]!.Properties).toMatchObject({
      FunctionName: { Ref: logicalId(stack, stack.engine.functions[tableStream.consumer].function) },
      BatchSize: tableStream.batchSize,
      MaximumBatchingWindowInSeconds: tableStream.batchWindowSeconds,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: tableStream.retryAttempts,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(stack, stack.engine.tableStreamFailures), 'Arn'] } } },
      FilterCriteria: {
        Filters: [{ Pattern: JSON.stringify({ dynamodb: { Keys: { pk: { S: [{ prefix: 'LEAD#' }] }, sk: { S: ['PROFILE'] } } } }) }],
      },
    });
  });

  it('makes the account roll-up queue and its dead-letter queue FIFO, without content-based deduplication', () => {
    const pair = stack.engine.queues['account-rollup'];
    for (const queue of [pair.queue, pair.deadLetterQueue]) {
      expect(resource(logicalId(stack, queue)).Properties).toMatchObject({ FifoQueue: true, ContentBasedDeduplication: false });
    }
    expect(resource(logicalId(stack, pair.queue)).Properties.DelaySeconds).toBe(queueSpec('account-rollup').deliveryDelaySeconds);
    expect(resource(logicalId(stack, stack.engine.queues.handoff.queue)).Properties.FifoQueue).toBeUndefined();
  });

  it('has the sparse due index: dueShard/dueAt strings, all attributes projected', () => {
    const t = resource(logicalId(stack, stack.engine.table));
    expect(t.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: table.dueIndex.name,
        KeySchema: [
          { AttributeName: table.dueIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: table.dueIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(t.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: table.dueIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: table.dueIndex.sortKey, AttributeType: 'S' },
      ]),
    );
  });
});

describe('queues', () => {
  it('has one queue and one DLQ per topology queue', () => {
    // And the table stream mapping's on-failure destination.
    template.resourceCountIs('AWS::SQS::Queue', queues.length * 2 + 1);
  });

  for (const spec of queues) {
    it(`${spec.name}: visibility, redrive and DLQ retention from topology; SSE; SSL enforced`, () => {
      const pair = stack.engine.queues[spec.name];
      const queueId = logicalId(stack, pair.queue);
      const dlqId = logicalId(stack, pair.deadLetterQueue);
      expect(resource(queueId).Properties).toMatchObject({
        VisibilityTimeout: spec.visibilityTimeoutSeconds,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
          maxReceiveCount: spec.maxReceiveCount,
        },
      });
      expect(resource(dlqId).Properties).toMatchObject({
        MessageRetentionPeriod: spec.dlqRetentionDays * 86_400,
        SqsManagedSseEnabled: true,
      });
      for (const id of [queueId, dlqId]) {
        template.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: id }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 'sqs:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
      }
    });

    it(`${spec.name}: consumed by ${spec.consumer} with batch size ${spec.batchSize} and partial batch failures`, () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, stack.engine.queues[spec.name].queue), 'Arn'] },
        FunctionName: { Ref: logicalId(stack, stack.engine.functions[spec.consumer].function) },
        BatchSize: spec.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });
  }
});

describe('functions', () => {
  it('one per topology function', () => {
    template.resourceCountIs('AWS::Lambda::Function', functionEntries.length);
  });

  for (const [name, spec] of functionEntries) {
    it(`${name}: nodejs24.x, arm64, ESM handler, X-Ray, timeout and memory from topology, source maps`, () => {
      const fn = functionResource(name);
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Timeout: spec.timeoutSeconds,
        MemorySize: spec.memoryMb,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogGroup: { Ref: logicalId(stack, stack.engine.functions[name].logGroup) } },
      });
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    });

    it(`${name}: environment`, () => {
      const variables = functionResource(name).Properties.Environment.Variables as Record<string, unknown>;
      expect(variables).toMatchObject({
        TABLE_NAME: { Ref: logicalId(stack, stack.engine.table) },
        CRM_ADAPTER: 'none',
        CRM_WEBHOOK_URL: '',
        FACEBOOK_GRAPH_URL: 'https://graph.facebook.com/v26.0',
        HUBSPOT_BASE_URL: 'https://api.hubapi.com',
        RAW_RETENTION_DAYS: '30',
        LOG_LEVEL: 'INFO',
      });
      // Events and handoff records are kept for good unless the operator sets a retention.
      expect(variables).not.toHaveProperty('EVENT_RETENTION_DAYS');
      expect(variables).not.toHaveProperty('HANDOFF_RETENTION_DAYS');
      const deadLettersTo: readonly string[] = (spec as FunctionSpec).deadLettersTo ?? [];
      for (const queue of queues) {
        const expected =
          (spec.sendsTo as readonly string[]).includes(queue.name) || deadLettersTo.includes(queue.name)
            ? { Ref: logicalId(stack, stack.engine.queues[queue.name].queue) }
            : undefined;
        expect(variables[queueUrlEnv(queue.name)]).toEqual(expected);
        expect(variables[dlqUrlEnv(queue.name)]).toEqual(
          deadLettersTo.includes(queue.name) ? { Ref: logicalId(stack, stack.engine.queues[queue.name].deadLetterQueue) } : undefined,
        );
      }
      // Each key it reads (its own and the pseudonym key) with the ARN of the secret that holds it, no other.
      const keys: SecretKey[] = [...new Set<SecretKey>([...everyFunctionReads, ...spec.secrets])];
      expect(JSON.parse(joined(variables[secretArnsEnv]))).toEqual(Object.fromEntries(keys.map((key) => [key, secretRef(secretGroupOf(key))])));
      expect(variables.MQL_SECRET_ARN).toBeUndefined();
    });

    it(`${name}: least privilege (table [${spec.table.actions.join(', ')}], sends to [${spec.sendsTo.join(', ')}], secrets of [${spec.secrets.join(', ')}])`, () => {
      const actions = actionsOf(name);
      // Exactly the table actions the topology declares, on the table; the due index only where it says so.
      // The table stream's consumer also reads the stream (its event source's grant).
      const streamReads = name === tableStream.consumer ? ['DescribeStream', 'GetRecords', 'GetShardIterator', 'ListStreams'] : [];
      expect(
        tableGrantsOf(name)
          .filter((grant) => !streamReads.some((action) => grant.startsWith(`${action} `)))
          .sort(),
      ).toEqual(
        [...spec.table.actions.map((action) => `${action} on table`), ...(spec.table.queriesDueIndex ? [`Query on index/${table.dueIndex.name}`] : [])].sort(),
      );
      // Writes confined to a partition prefix carry IAM's LeadingKeys condition, and only those actions.
      const confined = (spec.table as { writesUnder?: string }).writesUnder;
      const conditioned = statementsOf(name).filter((statement) => (statement as { Condition?: unknown }).Condition !== undefined);
      const leadingKeys = conditioned.filter((statement) => JSON.stringify((statement as { Condition?: unknown }).Condition).includes('dynamodb:LeadingKeys'));
      if (confined) {
        expect(leadingKeys).toHaveLength(1);
        expect((leadingKeys[0] as { Condition?: unknown }).Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${confined}*`] } });
        expect([leadingKeys[0]!.Action].flat().sort()).toEqual(
          spec.table.actions
            .filter((action) => itemWriteActions.includes(action))
            .map((action) => `dynamodb:${action}`)
            .sort(),
        );
      } else expect(leadingKeys).toEqual([]);
      expect(actions.includes('sqs:SendMessage')).toBe(spec.sendsTo.length > 0);
      expect(actions.some((action) => action.endsWith(':*') || action === '*')).toBe(false);
      // The role carries no AWS managed policy (AWSLambdaBasicExecutionRole would allow every log group).
      expect(resource(logicalId(stack, stack.engine.functions[name].role)).Properties.ManagedPolicyArns).toBeUndefined();
    });

    it(`${name}: reads the secrets holding its own keys and the pseudonym key, and no other secret`, () => {
      const own = new Set<SecretGroup>([...everyFunctionReads, ...spec.secrets].map(secretGroupOf));
      for (const group of Object.keys(secretGroups) as SecretGroup[]) {
        const actions = actionsOn(name, { Ref: logicalId(stack, stack.engine.secrets[group]) });
        if (own.has(group)) expect(actions).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
        else expect(actions).toEqual([]);
      }
      // No function reads the secret of earlier releases.
      expect(actionsOn(name, { Ref: logicalId(stack, stack.engine.legacySecret) })).toEqual([]);
      expect([...new Set(actionsOf(name).filter((action) => action.startsWith('secretsmanager:')))].sort()).toEqual(
        own.size > 0 ? ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'] : [],
      );
    });
  }

  it('no function may Scan; only the ingest path may DeleteItem or BatchWriteItem; only decay may query the due index (no index wildcard)', () => {
    for (const [name, spec] of functionEntries) {
      const grants = tableGrantsOf(name);
      expect(grants.filter((grant) => /^Scan /.test(grant))).toEqual([]);
      // The ingest path puts a delivery's new leads' items 25 to a request and takes back what a lead-first
      // write stored for a person erased meanwhile (lib/grants.ts ingestTable). Its PutItem could overwrite any
      // item already, so deleting adds no reach; every other function keeps neither.
      // The account functions delete member items and account states, and IAM keeps all their writes to accounts'
      // partitions (lib/grants.ts `writesUnder`): `dynamodb:LeadingKeys` like ACCOUNT#*.
      if (spec.table !== ingestTable && !('writesUnder' in spec.table))
        expect(grants.filter((grant) => /^(DeleteItem|BatchWriteItem) /.test(grant))).toEqual([]);
      expect(grants.filter((grant) => grant.includes('index/*'))).toEqual([]);
      expect(grants.some((grant) => grant.includes(`on index/${table.dueIndex.name}`))).toBe(name === 'decay');
    }
    // The liveness probe touches nothing.
    expect(tableGrantsOf('health')).toEqual([]);
    // The reads of operators write nothing.
    for (const reader of ['get-lead', 'get-account'] as const)
      expect(actionsOf(reader).filter((action) => /PutItem|UpdateItem|DeleteItem|BatchWriteItem/.test(action))).toEqual([]);
  });

  it("a compromised webhook function cannot read another provider's credentials", () => {
    const readable = (name: HandlerName) =>
      (Object.keys(secretGroups) as SecretGroup[]).filter((group) => actionsOn(name, { Ref: logicalId(stack, stack.engine.secrets[group]) }).length > 0);
    expect(readable('ingest-postmark').sort()).toEqual(['postmark', 'pseudonym']);
    expect(readable('ingest-facebook').sort()).toEqual(['facebook-app', 'facebook-verify', 'pseudonym']);
    expect(readable('health')).toEqual(['pseudonym']);
  });

  it('fetch-facebook-lead changes the visibility of its own queue and sends to its DLQ, no other DLQ', () => {
    const statements = statementsOf('fetch-facebook-lead');
    const on = (queue: Queue) => JSON.stringify({ 'Fn::GetAtt': [logicalId(stack, queue), 'Arn'] });
    const actionsOn = (queue: Queue) =>
      statements
        .filter((statement) => [statement.Resource].flat().some((target) => JSON.stringify(target) === on(queue)))
        .flatMap((statement) => [statement.Action].flat());
    expect(actionsOn(stack.engine.queues['facebook-leads'].queue)).toContain('sqs:ChangeMessageVisibility');
    expect(actionsOn(stack.engine.queues['facebook-leads'].deadLetterQueue)).toContain('sqs:SendMessage');
    expect(actionsOn(stack.engine.queues.handoff.deadLetterQueue)).toEqual([]);
    expect(actionsOf('ingest-facebook')).not.toContain('sqs:ChangeMessageVisibility');
  });

  it('uses Resource "*" only for X-Ray, which has no resource-level permissions', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
    const wildcard = policies
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .filter((statement) => [statement.Resource].flat().includes('*'));
    expect(wildcard.length).toBeGreaterThan(0);
    for (const statement of wildcard) {
      const actions = [statement.Action].flat().sort();
      // The table stream's event source: ListStreams has no resource-level permission.
      if (actions.includes('dynamodb:ListStreams')) expect(actions).toEqual(['dynamodb:ListStreams']);
      else expect(actions).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    }
  });

  it('every function has a log group with a retention', () => {
    for (const [name] of functionEntries) {
      expect(resource(logicalId(stack, stack.engine.functions[name].logGroup)).Properties.RetentionInDays).toBe(30);
    }
  });
});

describe('handoff within the CRM rate limits', () => {
  const handoffQueue = queues.find((queue) => queue.name === 'handoff')!;

  it('gathers batches of up to 100 over the batch window, with no more pollers than the reserved concurrency', () => {
    expect(handoffQueue.batchSize).toBe(100);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(stack, stack.engine.functions.handoff.function) },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: handoffQueue.batchWindowSeconds,
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    expect(functionResource('handoff').Properties.ReservedConcurrentExecutions).toBe(functions.handoff.reservedConcurrency);
    // The other functions share the account's pool.
    expect(functionResource('ingest-events').Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('turns the handoff error log lines of auth failures and exhausted quotas into metrics with alarms', () => {
    const filters = Object.values(template.findResources('AWS::Logs::MetricFilter')) as Resource[];
    const patterns = filters.map((filter) => filter.Properties.FilterPattern as string);
    expect(patterns).toEqual(expect.arrayContaining([expect.stringMatching(/\$\.kind = "auth"/), expect.stringMatching(/\$\.kind = "quota_exhausted"/)]));
    for (const filter of filters) expect(filter.Properties.LogGroupName).toEqual({ Ref: logicalId(stack, stack.engine.functions.handoff.logGroup) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'HandoffAuthFailures', Namespace: 'mql-engine', Threshold: 1 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'HandoffQuotaExhausted', Namespace: 'mql-engine', Threshold: 1 });
  });

  it('passes the CRM settings (not its secrets) to the handoff function only', () => {
    const env = {
      CRM_ADAPTER: 'salesforce',
      SALESFORCE_INSTANCE_URL: 'https://acme.my.salesforce.com',
      SALESFORCE_CLIENT_ID: 'client-id',
      SALESFORCE_EXTERNAL_ID_FIELD: 'MQL_External_Id__c',
      SALESFORCE_CLIENT_SECRET: 'never-in-env',
    };
    const settings = settingsFromContext({ tryGetContext: () => undefined }, env);
    expect(settings.crmEnv).toEqual({
      SALESFORCE_INSTANCE_URL: 'https://acme.my.salesforce.com',
      SALESFORCE_CLIENT_ID: 'client-id',
      SALESFORCE_EXTERNAL_ID_FIELD: 'MQL_External_Id__c',
    });
    const built = synth({ engine: settings });
    const variablesOf = (name: HandlerName) =>
      (built.template.toJSON().Resources[logicalId(built.stack, built.stack.engine.functions[name].function)] as Resource).Properties.Environment.Variables;
    expect(variablesOf('handoff')).toMatchObject({
      CRM_ADAPTER: 'salesforce',
      SALESFORCE_CLIENT_ID: 'client-id',
      SALESFORCE_EXTERNAL_ID_FIELD: 'MQL_External_Id__c',
    });
    expect(variablesOf('handoff').SALESFORCE_CLIENT_SECRET).toBeUndefined();
    expect(variablesOf('ingest-events').SALESFORCE_CLIENT_ID).toBeUndefined();
  });

  it('refuses CRM settings that would fail in the deployed function', () => {
    expect(() => buildStack({ engine: { crmAdapter: 'salesforce' } })).toThrow(/SALESFORCE_INSTANCE_URL, SALESFORCE_CLIENT_ID, SALESFORCE_EXTERNAL_ID_FIELD/);
    expect(() => buildStack({ engine: { crmEnv: { SALESFORCE_CLIENT_SECRET: 'x' } } })).toThrow(/is a secret/);
    expect(() => buildStack({ engine: { crmEnv: { SALESFORCE_INSTANCE_URL: 'http://acme.my.salesforce.com' } } })).toThrow(/https/);
    expect(() => buildStack({ engine: { crmEnv: { OTHER_THING: 'x' } } })).toThrow(/not a CRM setting/);
    expect(() => settingsFromContext({ tryGetContext: (key) => (key === 'crmEnv' ? '{not json' : undefined) }, {})).toThrow(SettingsError);
  });
});

describe('HTTP API', () => {
  it('has exactly the topology routes, IAM-authorized where the topology says iam', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Route', routes.length);
    for (const route of routes) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: `${route.method} ${route.path}`,
        AuthorizationType: route.auth === 'iam' ? 'AWS_IAM' : 'NONE',
      });
    }
    // The operators' reads of leads and accounts (docs/operator-contract.md): signed AWS requests only.
    for (const path of ['/leads/{email}', '/accounts/{domain}'])
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: `GET ${path}`, AuthorizationType: 'AWS_IAM' });
  });

  it('integrates each route with its handler by Lambda proxy, payload format 2.0', () => {
    for (const route of routes) {
      const routeResource = (Object.values(template.findResources('AWS::ApiGatewayV2::Route')) as Resource[]).find(
        (r) => r.Properties.RouteKey === `${route.method} ${route.path}`,
      );
      const integrationId = JSON.stringify(routeResource?.Properties.Target).match(/"Ref":"([^"]+)"/)?.[1];
      expect(integrationId).toBeDefined();
      expect(resource(integrationId as string).Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
        IntegrationUri: { 'Fn::GetAtt': [logicalId(stack, stack.engine.functions[route.handler].function), 'Arn'] },
      });
    }
  });

  it('has a throttled $default stage with JSON access logs', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingBurstLimit: 200, ThrottlingRateLimit: 100 },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.serializedJson(Match.objectLike({ requestId: '$context.requestId', status: '$context.status' })),
      },
    });
  });

  it('throttles each /v1/* route (the tracking API, public in browsers) on its own, below the stage, after the route exists', () => {
    const tracking = (routes as readonly RouteSpec[]).filter((route) => route.path.startsWith('/v1/'));
    expect(tracking.map((route) => `${route.method} ${route.path}`).sort()).toEqual([
      'GET /v1/projects/{writeKey}/settings',
      'OPTIONS /v1/{call}',
      'POST /v1/{call}',
    ]);
    const [stage] = Object.entries(template.findResources('AWS::ApiGatewayV2::Stage')) as [string, Resource][];
    const settings = (stage?.[1].Properties.RouteSettings ?? {}) as Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;
    expect(Object.keys(settings).sort()).toEqual(tracking.map((route) => `${route.method} ${route.path}`).sort());
    for (const route of tracking) {
      expect(settings[`${route.method} ${route.path}`]).toEqual({
        ThrottlingRateLimit: trackingThrottle.rateLimit,
        ThrottlingBurstLimit: trackingThrottle.burstLimit,
      });
    }
    expect(trackingThrottle.rateLimit).toBeLessThan(100);
    expect(trackingThrottle.burstLimit).toBeLessThan(200);
    // CloudFormation refuses a route setting whose route it has not created yet.
    const routeIds = Object.entries(template.findResources('AWS::ApiGatewayV2::Route'))
      .filter(([, resource]) => tracking.some((route) => resource.Properties.RouteKey === `${route.method} ${route.path}`))
      .map(([id]) => id);
    expect(routeIds).toHaveLength(3);
    expect((stage?.[1] as { DependsOn?: string[] } | undefined)?.DependsOn).toEqual(expect.arrayContaining(routeIds));
  });
});

describe('schedules', () => {
  it('invokes each schedule handler through EventBridge Scheduler with {"schedule": name}', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', schedules.length);
    for (const spec of schedules) {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: `rate(${spec.everyMinutes} minutes)`,
        State: 'ENABLED',
        Target: {
          Arn: { 'Fn::GetAtt': [logicalId(stack, stack.engine.functions[spec.handler].function), 'Arn'] },
          Input: JSON.stringify({ schedule: spec.name }),
        },
      });
    }
  });
});

describe('secrets', () => {
  const secrets = Object.values(template.findResources('AWS::SecretsManager::Secret')) as Resource[];

  it('one secret per secret group (each read by the same functions), plus the retained one of earlier releases', () => {
    expect(secrets.length).toBe(Object.keys(secretGroups).length + 1);
    const legacy = resource(logicalId(stack, stack.engine.legacySecret));
    expect(legacy.DeletionPolicy).toBe('Retain');
    expect(legacy.Properties.GenerateSecretString).toMatchObject({ SecretStringTemplate: '{}', GenerateStringKey: 'createdBy' });
  });

  it("creates each from a template that no release changes, so a deploy never resets the operator's values", () => {
    for (const group of Object.keys(secretGroups) as SecretGroup[]) {
      if (group === 'pseudonym') continue;
      const secret = resource(logicalId(stack, stack.engine.secrets[group]));
      expect(secret.Properties.SecretString).toBeUndefined();
      expect(secret.Properties.GenerateSecretString).toMatchObject({ SecretStringTemplate: '{}', GenerateStringKey: 'createdBy' });
      expect(JSON.stringify(secret.Properties.GenerateSecretString)).not.toMatch(new RegExp(secretKeys.join('|')));
    }
  });

  it('generates PSEUDONYM_KEY: 64 letters and digits under its own key, in a secret every function may read', () => {
    const secret = resource(logicalId(stack, stack.engine.secrets.pseudonym));
    expect(secret.Properties.GenerateSecretString).toEqual({
      SecretStringTemplate: '{}',
      GenerateStringKey: 'PSEUDONYM_KEY',
      ExcludePunctuation: true,
      PasswordLength: 64,
    });
    expect(secret.Properties.GenerateSecretString.PasswordLength).toBeGreaterThanOrEqual(32);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
  });

  it('outputs every key with the ARN of the secret holding it (MQL_SECRET_ARNS for mql --aws)', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.parse(joined(outputs.SecretArns?.Value))).toEqual(Object.fromEntries(secretKeys.map((key) => [key, secretRef(secretGroupOf(key))])));
    expect(outputs.LegacySecretArn?.Value).toEqual({ Ref: logicalId(stack, stack.engine.legacySecret) });
  });
});

describe('alarms and dashboard', () => {
  for (const spec of queues) {
    it(`alarms when the ${spec.name} DLQ holds a message`, () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(stack, stack.engine.queues[spec.name].deadLetterQueue), 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    });
  }

  it('alarms on errors of every function within 5 minutes', () => {
    for (const [name] of functionEntries) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack, stack.engine.functions[name].function) } }],
        Period: 300,
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it("alarms on the API's 5xx rate: a handled 503 is no function error", () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    const rate = alarms.find((alarm) => JSON.stringify(alarm.Properties.Metrics ?? []).includes('100 * errors / requests'));
    expect(rate?.Properties).toMatchObject({ Threshold: 5, EvaluationPeriods: 2, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(JSON.stringify(rate?.Properties.Metrics)).toContain('5xx');
  });

  it('has a dashboard', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('every alarm, the API 5xx rate included, notifies an encrypted SSL-only topic, with or without an alarm e-mail', () => {
    for (const built of [{ stack, template }, synth({ engine: { alarmEmail: 'ops@example.com' } })]) {
      built.template.resourceCountIs('AWS::SNS::Topic', 1);
      const topicId = logicalId(built.stack, built.stack.engine.alarmTopic);
      const topic = (built.template.toJSON().Resources as Record<string, Resource>)[topicId] as Resource;
      expect(topic.Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Arn'] });
      built.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [{ Ref: topicId }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
      // CloudWatch may use the topic's key to encrypt its notifications.
      built.template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
          ]),
        },
      });
      const alarms = Object.values(built.template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
      // One per DLQ, one per function, the handoff's two log-metric alarms (auth failures, quota exhausted), the API's 5xx rate.
      expect(alarms.length).toBe(queues.length + functionEntries.length + 3);
      for (const alarm of alarms) {
        expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId }]);
      }
      expect(Object.keys(built.template.toJSON().Outputs)).toContain('AlarmTopicArn');
    }
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('subscribes alarmEmail to the topic', () => {
    const withEmail = synth({ engine: { alarmEmail: 'ops@example.com' } });
    withEmail.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: logicalId(withEmail.stack, withEmail.stack.engine.alarmTopic) },
    });
  });
});

describe('outputs', () => {
  it('has the API URL, table, queue and DLQ URLs, the secret ARNs and the alarm topic', () => {
    const outputs = Object.keys(template.toJSON().Outputs as object);
    const expected = ['ApiUrl', 'TableName', 'SecretArns', 'AlarmTopicArn', ...queues.flatMap((q) => [`${pascal(q.name)}QueueUrl`, `${pascal(q.name)}DlqUrl`])];
    expect(outputs).toEqual(expect.arrayContaining(expected));
  });

  it('is environment-agnostic (synth needs no account or region)', () => {
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
  });
});

describe('settings', () => {
  it('passes context settings to every function', () => {
    const dir = scratch;
    const { template: t } = synth({
      engine: {
        crmAdapter: 'webhook',
        crmWebhookUrl: 'https://crm.example.com/mql',
        facebookGraphUrl: 'https://graph.facebook.com/v22.0/',
        hubspotBaseUrl: 'https://api.hubapi.example',
        rawRetentionDays: 7,
        eventRetentionDays: 730,
        handoffRetentionDays: 365,
        logLevel: 'DEBUG',
        baseDir: dir,
      },
    });
    const fns = Object.values(t.findResources('AWS::Lambda::Function')) as Resource[];
    for (const fn of fns) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        CRM_ADAPTER: 'webhook',
        CRM_WEBHOOK_URL: 'https://crm.example.com/mql',
        FACEBOOK_GRAPH_URL: 'https://graph.facebook.com/v22.0',
        HUBSPOT_BASE_URL: 'https://api.hubapi.example',
        RAW_RETENTION_DAYS: '7',
        EVENT_RETENTION_DAYS: '730',
        HANDOFF_RETENTION_DAYS: '365',
        LOG_LEVEL: 'DEBUG',
      });
    }
  });

  it('never passes MQL_ALLOW_HTTP_URLS to a function, even from a deploying shell that has it (a local .env)', () => {
    const settings = settingsFromContext({ tryGetContext: () => undefined }, { MQL_ALLOW_HTTP_URLS: '1', HUBSPOT_TIME_ZONE: 'UTC' });
    const { template: t } = synth({ engine: settings });
    for (const fn of Object.values(t.findResources('AWS::Lambda::Function')) as Resource[]) {
      expect(fn.Properties.Environment.Variables.MQL_ALLOW_HTTP_URLS).toBeUndefined();
    }
    expect(JSON.stringify(t.toJSON())).not.toContain('MQL_ALLOW_HTTP_URLS');
  });

  it('reads context first, then the operator-contract environment variables', () => {
    const context: Record<string, unknown> = { crmAdapter: 'hubspot', rawRetentionDays: '14', eventRetentionDays: '400' };
    const node = { tryGetContext: (key: string) => context[key] };
    const env = {
      CRM_ADAPTER: 'webhook',
      CRM_WEBHOOK_URL: 'https://crm.example.com',
      LOG_LEVEL: 'warn',
      ALARM_EMAIL: '',
      MQL_MODEL_PATH: 'm.json',
      EVENT_RETENTION_DAYS: '90',
      HANDOFF_RETENTION_DAYS: '365',
    };
    expect(settingsFromContext(node, env)).toEqual({
      crmAdapter: 'hubspot',
      crmWebhookUrl: 'https://crm.example.com',
      rawRetentionDays: 14,
      eventRetentionDays: 400,
      handoffRetentionDays: 365,
      logLevel: 'warn',
      modelPath: 'm.json',
    });
  });

  it('reports the version of the model it deploys', () => {
    const { template: t } = synth({ engine: { modelPath: defaultModelPath } });
    expect(t.toJSON().Outputs.ModelVersion.Value).toMatch(/^[0-9a-f]{12}$/);
  });

  it('fails synth on settings that would only fail in Lambda', () => {
    expect(() => buildStack({ engine: { crmAdapter: 'webhook' } })).toThrow(SettingsError);
    expect(() => buildStack({ engine: { crmAdapter: 'pipedrive' as never } })).toThrow(/crmAdapter/);
    expect(() => buildStack({ engine: { crmAdapter: 'webhook', crmWebhookUrl: 'http://crm.example.com' } })).toThrow(/https/);
    expect(() => buildStack({ engine: { rawRetentionDays: 0 } })).toThrow(/rawRetentionDays/);
    expect(() => buildStack({ engine: { rawRetentionDays: Number('thirty') } })).toThrow(/rawRetentionDays/);
    expect(() => buildStack({ engine: { eventRetentionDays: 0 } })).toThrow(/EVENT_RETENTION_DAYS must be a whole number of days >= 1/);
    // Shorter than a handoff can wait in its queue and DLQ: a late one would not find the newer one delivered.
    expect(() => buildStack({ engine: { handoffRetentionDays: 14 } })).toThrow(/HANDOFF_RETENTION_DAYS must be a whole number of days >= 30/);
  });

  it('validates a model file at synth', () => {
    const dir = scratch;
    writeFileSync(join(dir, 'not-json.json'), '{ nope');
    writeFileSync(join(dir, 'bad-model.json'), JSON.stringify({ thresholds: 'high' }));
    expect(() => buildStack({ engine: { modelPath: join(dir, 'missing.json') } })).toThrow(/cannot read/);
    expect(() => buildStack({ engine: { modelPath: join(dir, 'not-json.json') } })).toThrow(/not JSON/);
    expect(() => buildStack({ engine: { modelPath: 'bad-model.json', baseDir: dir } })).toThrow(/not a valid scoring model/);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it("acknowledges APIG4 on each public route with that route's declared authentication, and on no IAM route", () => {
    const { stack: built } = buildStack();
    const reasons = new Map<string, string>();
    for (const construct of built.engine.api.node.findAll()) {
      for (const entry of construct.node.metadata.filter((one) => one.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)) {
        const reason = (entry.data as Record<string, string>)['Annotation::AwsSolutions-APIG4'];
        if (reason !== undefined) reasons.set(construct.node.id, reason);
      }
    }
    for (const route of routes as readonly RouteSpec[]) {
      const id = `${route.method}${route.path.replaceAll('/', '--')}`;
      if (route.auth === 'iam') expect(reasons.has(id)).toBe(false);
      else
        expect(reasons.get(id)).toBe(`${route.method} ${route.path} is public (its sender cannot sign AWS requests). Authentication: ${route.authentication}`);
    }
    // The texts that were wrong: Postmark is Basic auth, Mailchimp's secret is in the path, the Facebook GET is the
    // verify-token handshake, HubSpot's is its v3 signature.
    expect(reasons.get('POST--webhooks--postmark')).toMatch(/Basic auth/);
    expect(reasons.get('POST--webhooks--mailchimp--{secret}')).toMatch(/secret in the path/);
    expect(reasons.get('GET--webhooks--facebook')).toMatch(/hub\.verify_token/);
    expect(reasons.get('POST--webhooks--hubspot')).toMatch(/X-HubSpot-Signature-v3/);
  });

  it('reports no unacknowledged finding', () => {
    const { app } = buildStack();
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('is clean with every optional resource too (alarm topic, model file)', () => {
    const { app } = buildStack({ engine: { alarmEmail: 'ops@example.com', crmAdapter: 'hubspot', modelPath: defaultModelPath } });
    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });

  it('synthesizes with the plugin registered as in cdk/app.ts, with no AwsSolutions error annotation', () => {
    const { app, stack: s } = buildStack({ nag: true });
    expect(() => app.synth()).not.toThrow();
    expect(Annotations.fromStack(s).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });

  it('fails synth on an unacknowledged finding', () => {
    const { app, stack: s } = buildStack({ nag: true });
    // No DLQ, no SSL enforcement: AwsSolutions-SQS3 and -SQS4.
    new Queue(s, 'Careless');
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS/);
  });

  it('an acknowledgment needs the exact finding id (no blanket IAM5)', () => {
    const { app, stack: s } = buildStack();
    const careless = new Queue(s, 'Careless');
    Validations.of(careless).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'test' });
    const rules = new AwsSolutionsChecks().validateScope(app).violations.map((v) => v.ruleName);
    expect(rules).toEqual(['AwsSolutions-SQS4']);
  });
});
