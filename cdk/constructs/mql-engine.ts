import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, type HttpStage, LogGroupLogDestination, type ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IWidget,
  MathExpression,
  Stats,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, type CfnTable, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  dlqUrlEnv,
  type FunctionSpec,
  functions as functionSpecs,
  type HandlerName,
  type QueueName,
  type QueueSpec,
  queues as queueSpecs,
  queueUrlEnv,
  type RouteSpec,
  routes as routeSpecs,
  type ScheduleSpec,
  schedules as scheduleSpecs,
  sourceHandlerModule,
  tableNameEnv,
  table as tableSpec,
} from '../../lib/topology.ts';
import { type MqlEngineSettings, type ResolvedSettings, resolveSettings } from '../config.ts';
import { MqlFunction } from './mql-function.ts';

/** The repository this file belongs to: where `lambdas/`, `lib/` and `package-lock.json` are. */
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Properties of {@link MqlEngine}: the deployment settings plus where the code is. */
export interface MqlEngineProps extends MqlEngineSettings {
  /**
   * Root of the mql-engine checkout: `lambdas/<entry>.ts`, `lib/`, `package.json` and
   * `package-lock.json` are read from here.
   * @default the checkout this construct is loaded from
   */
  readonly projectRoot?: string;
  /** Directory a relative `modelPath` is resolved against. @default process.cwd() */
  readonly baseDir?: string;
  /** Default-stage throttling of the HTTP API. @default { burstLimit: 200, rateLimit: 100 } */
  readonly throttle?: ThrottleSettings;
  /** Retention of function and API access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/** A topology queue with its dead-letter queue. */
export interface QueuePair {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
}

/**
 * The whole mql-engine pipeline in one construct, built from lib/topology.ts: the table, every
 * queue with its DLQ, every function, the HTTP API routes, the schedules, the secret, alarms
 * and a dashboard. Drop it into any stack; {@link MqlEngineStack} is a thin wrapper that adds
 * outputs.
 */
export class MqlEngine extends Construct {
  readonly settings: ResolvedSettings;
  readonly table: Table;
  readonly queues: Record<QueueName, QueuePair>;
  readonly functions: Record<HandlerName, MqlFunction>;
  readonly api: HttpApi;
  /** The `$default` stage, the one that serves every route. */
  readonly stage: HttpStage;
  /** ONE secret holding every key of the operator contract's secrets (topology `secretKeys`). */
  readonly secret: Secret;
  readonly alarms: Alarm[] = [];
  /** Where alarms notify, when an `alarmEmail` was given. */
  readonly alarmTopic: Topic | undefined;
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MqlEngineProps = {}) {
    super(scope, id);
    const settings = resolveSettings(props, props.baseDir);
    this.settings = settings;
    const projectRoot = props.projectRoot ?? repositoryRoot;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    checkTopology();

    this.table = this.createTable();
    this.queues = this.createQueues();
    this.secret = this.createSecret();
    this.functions = this.createFunctions(projectRoot, logRetention);
    for (const spec of queueSpecs) this.connectConsumer(spec);
    ({ api: this.api, stage: this.stage } = this.createApi(props.throttle, logRetention));
    for (const spec of scheduleSpecs) this.createSchedule(spec);
    this.alarmTopic = this.createAlarms();
    this.dashboard = this.createDashboard();
  }

  /** The API's base URL (ends with `/`), e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/`. */
  get apiUrl(): string {
    return this.stage.url;
  }

  private createTable(): Table {
    const table = new Table(this, 'Table', {
      partitionKey: { name: tableSpec.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableSpec.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: tableSpec.ttlAttribute,
      encryption: TableEncryption.AWS_MANAGED,
      // The leads, their events and the sales outcomes are the product's memory: a stack
      // deletion or a mistaken replacement must never take them along.
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: tableSpec.dueIndex.name,
      partitionKey: { name: tableSpec.dueIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableSpec.dueIndex.sortKey, type: AttributeType.STRING },
      // The decay job recomputes each due lead from the index item alone, without a second read.
      projectionType: ProjectionType.ALL,
    });
    return table;
  }

  private createQueues(): Record<QueueName, QueuePair> {
    const pairs: Partial<Record<QueueName, QueuePair>> = {};
    for (const spec of queueSpecs) {
      const name = pascal(spec.name);
      const deadLetterQueue = new Queue(this, `${name}Dlq`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(spec.dlqRetentionDays),
      });
      const queue = new Queue(this, `${name}Queue`, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
        deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: spec.maxReceiveCount },
      });
      pairs[spec.name] = { queue, deadLetterQueue };
    }
    return pairs as Record<QueueName, QueuePair>;
  }

  private createSecret(): Secret {
    const secret = new Secret(this, 'Secret', {
      description:
        'mql-engine provider and CRM secrets, one JSON key each (docs/operator-contract.md in the mql-engine repository). ' +
        'Set the values after deploy; a key left empty keeps its webhook route answering 404.',
      // A JSON object created once from a template that never changes: CloudFormation rewrites a
      // secret's value whenever its template value changes, so listing the keys here would wipe the
      // operator's values on the first release that adds a key. The key names are in docs/operator-contract.md.
      generateSecretString: { secretStringTemplate: '{}', generateStringKey: 'createdBy', excludePunctuation: true, passwordLength: 16 },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        "Every value is issued by a third party (Facebook app secret and tokens, e-mail providers' webhook signing keys, HubSpot token, CRM webhook secret): " +
        "a new one can only be minted in that provider's console, so there is nothing a rotation Lambda could do. Operators rotate at the provider and update the secret; functions re-read it within 5 minutes.",
    });
    return secret;
  }

  private createFunctions(projectRoot: string, logRetention: RetentionDays): Record<HandlerName, MqlFunction> {
    const { settings } = this;
    // Banner rather than esbuild `define`: define rewrites only the literal expression
    // `process.env.MQL_MODEL_JSON`, and lib/runtime/model-config.ts reads it through an `env` parameter.
    const modelBanner = settings.modelJson === undefined ? undefined : `process.env.MQL_MODEL_JSON=${JSON.stringify(settings.modelJson)};`;
    const tableLogicalId = Stack.of(this).getLogicalId(this.table.node.defaultChild as CfnTable);
    const created: Partial<Record<HandlerName, MqlFunction>> = {};
    for (const [name, spec] of Object.entries(functionSpecs) as [HandlerName, FunctionSpec][]) {
      const environment: Record<string, string> = {
        [tableNameEnv]: this.table.tableName,
        CRM_ADAPTER: settings.crmAdapter,
        CRM_WEBHOOK_URL: settings.crmWebhookUrl,
        FACEBOOK_GRAPH_URL: settings.facebookGraphUrl,
        HUBSPOT_BASE_URL: settings.hubspotBaseUrl,
        RAW_RETENTION_DAYS: String(settings.rawRetentionDays),
        ...(settings.eventRetentionDays === undefined ? {} : { EVENT_RETENTION_DAYS: String(settings.eventRetentionDays) }),
        ...(settings.handoffRetentionDays === undefined ? {} : { HANDOFF_RETENTION_DAYS: String(settings.handoffRetentionDays) }),
        LOG_LEVEL: settings.logLevel,
      };
      for (const queueName of spec.sendsTo) environment[queueUrlEnv(queueName)] = this.queues[queueName].queue.queueUrl;
      // A consumer that settles its own messages: visibility changes on its queue, unfixable ones to the DLQ.
      for (const queueName of spec.deadLettersTo ?? []) {
        environment[queueUrlEnv(queueName)] = this.queues[queueName].queue.queueUrl;
        environment[dlqUrlEnv(queueName)] = this.queues[queueName].deadLetterQueue.queueUrl;
      }
      // Only a function allowed to read the secret learns where it is: without the ARN,
      // lib/runtime/config.ts reports every secret as unset instead of failing on AccessDenied.
      if (spec.secrets.length > 0) environment.MQL_SECRET_ARN = this.secret.secretArn;
      // The CRM adapter's own settings (Salesforce instance, client id, fields; HubSpot lead statuses) for the function that
      // delivers, and for HubSpot's webhook (HUBSPOT_OUTCOME_MAP, HUBSPOT_WEBHOOK_URL; the lead statuses tell it its own writes).
      if (name === 'handoff' || name === 'ingest-hubspot') Object.assign(environment, settings.crmEnv);

      const fn = new MqlFunction(this, pascal(name), {
        entry: handlerEntry(projectRoot, name, spec),
        projectRoot,
        depsLockFilePath: join(projectRoot, 'package-lock.json'),
        description: `mql-engine ${name}: ${spec.description}`.slice(0, 256),
        timeout: Duration.seconds(spec.timeoutSeconds),
        memorySize: spec.memoryMb,
        environment,
        logRetention,
        ...(spec.reservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: spec.reservedConcurrency }),
        ...(modelBanner === undefined ? {} : { extraBanner: modelBanner }),
      });

      if (spec.writesTable) this.table.grantReadWriteData(fn.function);
      else this.table.grantReadData(fn.function);
      for (const queueName of spec.sendsTo) this.queues[queueName].queue.grantSendMessages(fn.function);
      // ChangeMessageVisibility on the queue itself comes with the event source's consume grant.
      for (const queueName of spec.deadLettersTo ?? []) this.queues[queueName].deadLetterQueue.grantSendMessages(fn.function);
      if (spec.secrets.length > 0) this.secret.grantRead(fn.function);

      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`,
        reason: `The table grant extends to the table's indexes ("<table arn>/index/*"); its only index is "${tableSpec.dueIndex.name}", the sparse index the decay job queries.`,
      });
      created[name] = fn;
    }
    return created as Record<HandlerName, MqlFunction>;
  }

  private connectConsumer(spec: QueueSpec): void {
    const consumer = functionSpecs[spec.consumer as HandlerName] as FunctionSpec;
    this.functions[spec.consumer as HandlerName].function.addEventSource(
      new SqsEventSource(this.queues[spec.name].queue, {
        batchSize: spec.batchSize,
        ...(spec.batchWindowSeconds === undefined ? {} : { maxBatchingWindow: Duration.seconds(spec.batchWindowSeconds) }),
        // No more pollers than the function may run: a throttled invoke returns its messages to the queue
        // and counts as a receive, which would dead-letter handoffs during a burst.
        ...(consumer.reservedConcurrency === undefined ? {} : { maxConcurrency: Math.max(2, consumer.reservedConcurrency) }),
        // One failed record is retried alone; the rest of the batch is not redelivered.
        reportBatchItemFailures: true,
      }),
    );
  }

  private createApi(throttle: ThrottleSettings | undefined, logRetention: RetentionDays): { api: HttpApi; stage: HttpStage } {
    const api = new HttpApi(this, 'Api', {
      description: 'mql-engine: provider webhooks, lead lookups, health',
      // The default stage is created below, where throttling and access logs can be set on it.
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention });
    const stage = api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      // Webhook senders retry on 429, so shedding a burst loses nothing.
      throttle: throttle ?? { burstLimit: 200, rateLimit: 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // No query string and no body: Mailchimp's secret is in the path, but never in a field logged here.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            sourceIp: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            caller: '$context.identity.caller',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationLatency: '$context.integrationLatency',
            errorMessage: '$context.error.message',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const integrations = new Map<HandlerName, HttpLambdaIntegration>();
    const iam = new HttpIamAuthorizer();
    for (const route of routeSpecs as readonly RouteSpec[]) {
      let integration = integrations.get(route.handler);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${pascal(route.handler)}Integration`, this.functions[route.handler].function);
        integrations.set(route.handler, integration);
      }
      const [created] = api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
        ...(route.auth === 'iam' ? { authorizer: iam } : {}),
      });
      const reason = route.auth === 'none' ? publicRouteReason(route) : undefined;
      if (created && reason) Validations.of(created).acknowledge({ id: 'AwsSolutions-APIG4', reason });
    }
    return { api, stage };
  }

  private createSchedule(spec: ScheduleSpec): void {
    const name = pascal(spec.name);
    const target = this.functions[spec.handler].function;
    const stack = Stack.of(this);
    // A role per schedule (not the stack-wide one LambdaInvoke would make) so the acknowledgment
    // below covers exactly one function.
    const role = new Role(this, `${name}ScheduleRole`, {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `EventBridge Scheduler: invoke mql-engine ${spec.handler} every ${spec.everyMinutes} minutes`,
    });
    new Schedule(this, `${name}Schedule`, {
      description: `mql-engine: ${spec.name} every ${spec.everyMinutes} minutes`,
      schedule: ScheduleExpression.rate(Duration.minutes(spec.everyMinutes)),
      target: new LambdaInvoke(target, {
        role,
        input: ScheduleTargetInput.fromObject({ schedule: spec.name }),
        retryAttempts: 2,
        // A run older than one period is superseded by the next one.
        maxEventAge: Duration.minutes(spec.everyMinutes),
      }),
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(target.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason: `lambda:InvokeFunction on the ${spec.handler} function's versions and aliases ("<function arn>:*"), as Function.grantInvoke grants it; no other function.`,
    });
  }

  private createAlarms(): Topic | undefined {
    for (const spec of queueSpecs) {
      const { deadLetterQueue } = this.queues[spec.name];
      this.alarms.push(
        new Alarm(this, `${pascal(spec.name)}DlqNotEmpty`, {
          alarmDescription:
            `mql-engine: messages in the ${spec.name} dead-letter queue (${spec.consumer} failed ${spec.maxReceiveCount} times` +
            `${(functionSpecs[spec.consumer] as FunctionSpec).deadLettersTo?.includes(spec.name) ? ', or found an error no retry fixes, e.g. an invalid token: see its error log' : ''}); inspect, then \`mql redrive\``,
          metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            period: Duration.minutes(5),
            statistic: Stats.MAXIMUM,
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    // From the handoff's error log lines (Powertools JSON): the CRM refuses our credentials, or its daily quota is spent.
    const handoffLogs = this.functions.handoff.logGroup;
    for (const [id, message, kind, description] of [
      [
        'HandoffAuthFailures',
        'handoff moved to the dead-letter queue',
        'auth',
        'the CRM refused the credentials (401/403): fix the token or scopes named in the handoff error log, then `mql redrive --queue handoff`',
      ],
      [
        'HandoffQuotaExhausted',
        'CRM quota exhausted: handoffs wait for it to reset',
        'quota_exhausted',
        "the CRM's daily API quota is used up: handoffs wait for the reset",
      ],
    ] as const) {
      const metric = new MetricFilter(this, id, {
        logGroup: handoffLogs,
        filterPattern: FilterPattern.all(FilterPattern.stringValue('$.message', '=', message), FilterPattern.stringValue('$.kind', '=', kind)),
        metricNamespace: 'mql-engine',
        metricName: id,
        metricValue: '1',
        defaultValue: 0,
      }).metric({ period: Duration.minutes(5), statistic: Stats.SUM });
      this.alarms.push(
        new Alarm(this, `${id}Alarm`, {
          alarmDescription: `mql-engine: ${description}`,
          metric,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    for (const name of Object.keys(functionSpecs) as HandlerName[]) {
      this.alarms.push(
        new Alarm(this, `${pascal(name)}Errors`, {
          alarmDescription: `mql-engine: the ${name} function failed (errors in 5 minutes)`,
          metric: this.functions[name].function.metricErrors({ period: Duration.minutes(5), statistic: Stats.SUM }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    // A handled 503 (our own failure, the sender retries) is no function error: the API's 5xx share is
    // watched on its own. At least 20 requests in 5 minutes, and 5 % of them 5xx, for two periods.
    const period = Duration.minutes(5);
    this.alarms.push(
      new Alarm(this, 'Api5xxRate', {
        alarmDescription: 'mql-engine: 5 % or more of the webhook requests answered 5xx (senders are retrying; nothing they sent is lost)',
        metric: new MathExpression({
          expression: 'IF(requests >= 20, 100 * errors / requests, 0)',
          usingMetrics: {
            requests: this.api.metricCount({ period, statistic: Stats.SUM }),
            errors: this.api.metricServerError({ period, statistic: Stats.SUM }),
          },
          period,
          label: 'API 5xx %',
        }),
        threshold: 5,
        evaluationPeriods: 2,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    const email = this.settings.alarmEmail;
    if (!email) return undefined;
    const topic = new Topic(this, 'AlarmTopic', { displayName: 'mql-engine alarms', enforceSSL: true });
    topic.addSubscription(new EmailSubscription(email));
    const action = new SnsAction(topic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    return topic;
  }

  private createDashboard(): Dashboard {
    const fns = Object.entries(this.functions) as [HandlerName, MqlFunction][];
    const period = Duration.minutes(5);
    const widgets: IWidget[][] = [
      [
        new TextWidget({
          markdown: `# mql-engine\nModel version \`${this.settings.modelVersion}\`, CRM adapter \`${this.settings.crmAdapter}\`.`,
          width: 24,
          height: 2,
        }),
      ],
      [
        new GraphWidget({
          title: 'API requests and errors',
          left: [this.api.metricCount({ period })],
          right: [this.api.metricClientError({ period }), this.api.metricServerError({ period })],
          width: 12,
        }),
        new GraphWidget({
          title: 'API latency p99 (ms)',
          left: [this.api.metricLatency({ period, statistic: 'p99' }), this.api.metricIntegrationLatency({ period, statistic: 'p99' })],
          width: 12,
        }),
      ],
      [
        new GraphWidget({
          title: 'Function errors',
          left: fns.map(([name, fn]) => fn.function.metricErrors({ period, label: name })),
          width: 8,
        }),
        new GraphWidget({
          title: 'Function duration p99 (ms)',
          left: fns.map(([name, fn]) => fn.function.metricDuration({ period, statistic: 'p99', label: name })),
          width: 8,
        }),
        new GraphWidget({
          title: 'Function throttles',
          left: fns.map(([name, fn]) => fn.function.metricThrottles({ period, label: name })),
          width: 8,
        }),
      ],
      [
        new GraphWidget({
          title: 'Queue depth',
          left: queueSpecs.map((spec) =>
            this.queues[spec.name].queue.metricApproximateNumberOfMessagesVisible({ period, statistic: Stats.MAXIMUM, label: spec.name }),
          ),
          right: queueSpecs.map((spec) =>
            this.queues[spec.name].queue.metricApproximateAgeOfOldestMessage({ period, statistic: Stats.MAXIMUM, label: `${spec.name} oldest (s)` }),
          ),
          width: 12,
        }),
        new GraphWidget({
          title: 'Dead-letter queue depth',
          left: queueSpecs.map((spec) =>
            this.queues[spec.name].deadLetterQueue.metricApproximateNumberOfMessagesVisible({
              period,
              statistic: Stats.MAXIMUM,
              label: `${spec.name} DLQ`,
            }),
          ),
          width: 12,
        }),
      ],
    ];
    return new Dashboard(this, 'Dashboard', { widgets });
  }
}

/**
 * Why a route without API-level authorization is acceptable, or undefined when it is not: then
 * cdk-nag's APIG4 finding stays and synth fails. A public route must either be the liveness
 * probe (it reads nothing) or belong to a function that holds a secret to verify its sender.
 */
function publicRouteReason(route: RouteSpec): string | undefined {
  const spec: FunctionSpec = functionSpecs[route.handler];
  if (route.handler === 'health') {
    return `${route.method} ${route.path} is the liveness probe: it reads no data and touches no dependency.`;
  }
  if (spec.secrets.length === 0) return undefined;
  return (
    `${route.method} ${route.path} is called by a third party that cannot sign AWS requests; ` +
    `the ${route.handler} handler authenticates each request with ${spec.secrets.join(', ')} over the raw body, ` +
    'before parsing, and answers 404 while that secret is unset.'
  );
}

/** Topology invariants the AWS stack relies on, checked at synth rather than discovered in production. */
function checkTopology(): void {
  for (const spec of queueSpecs as readonly QueueSpec[]) {
    const consumer: FunctionSpec = functionSpecs[spec.consumer];
    // AWS: a visibility timeout under 6x the function timeout redelivers messages still in flight.
    if (spec.visibilityTimeoutSeconds < 6 * consumer.timeoutSeconds) {
      throw new Error(
        `topology: queue ${spec.name} has visibility ${spec.visibilityTimeoutSeconds}s, below 6x its consumer's timeout (${consumer.timeoutSeconds}s)`,
      );
    }
    if (spec.dlqRetentionDays > 14) throw new Error(`topology: queue ${spec.name}: SQS keeps messages at most 14 days`);
  }
  for (const [name, spec] of Object.entries(functionSpecs) as [HandlerName, FunctionSpec][]) {
    for (const queueName of spec.deadLettersTo ?? []) {
      // Only the consumer holds receipt handles, and only it gets ChangeMessageVisibility through the event source.
      const consumer = (queueSpecs as readonly QueueSpec[]).find((queue) => queue.name === queueName)?.consumer;
      if (consumer !== name) throw new Error(`topology: ${name} dead-letters ${queueName}, whose consumer is ${consumer ?? 'nobody'}`);
    }
  }
}

/**
 * The file esbuild bundles for a function: its file under lambdas/, or for a source the handler module the
 * topology generates, written under cdk.out/handlers/ (esbuild needs a file; the text is the same the local
 * stack imports).
 */
function handlerEntry(projectRoot: string, name: string, spec: FunctionSpec): string {
  const file = join(projectRoot, 'cdk.out', 'handlers', `${name}.mjs`);
  const generated = sourceHandlerModule(spec, (libPath) => relative(dirname(file), join(projectRoot, 'lib', libPath)));
  if (generated === undefined) {
    if (!spec.entry) throw new Error(`topology: function ${name} names neither an entry under lambdas/ nor a source`);
    return join(projectRoot, 'lambdas', `${spec.entry}.ts`);
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, generated);
  return file;
}

/** `ingest-events` -> `IngestEvents`, for construct ids and output names. */
export function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');
}
