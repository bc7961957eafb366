import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { functions as functionSpecs, type HandlerName, type QueueName, secretGroupOf, secretKeys } from '../lib/topology.ts';
import { MqlEngine, type MqlEngineProps, pascal } from './constructs/mql-engine.ts';

/** Properties of {@link MqlEngineStack}. */
export interface MqlEngineStackProps extends StackProps {
  /** Settings and code location handed to {@link MqlEngine}. */
  readonly engine?: MqlEngineProps;
}

/**
 * The deployable stack: one {@link MqlEngine} plus the outputs an operator (and `mql --aws`)
 * needs. Environment-agnostic unless `env` is given, so `cdk synth` needs no AWS account.
 */
export class MqlEngineStack extends Stack {
  readonly engine: MqlEngine;

  constructor(scope: Construct, id: string, props: MqlEngineStackProps = {}) {
    super(scope, id, {
      description: 'mql-engine: webhooks in, explained MQLs to the CRM in seconds, with half-life decay',
      ...props,
    });
    const engine = new MqlEngine(this, 'Engine', props.engine);
    this.engine = engine;

    new CfnOutput(this, 'ApiUrl', {
      value: engine.apiUrl,
      description: 'Base URL of the HTTP API; webhook URLs are this plus the route path',
    });
    new CfnOutput(this, 'TableName', { value: engine.table.tableName, description: 'The single DynamoDB table' });
    for (const [name, pair] of Object.entries(engine.queues) as [QueueName, (typeof engine.queues)[QueueName]][]) {
      new CfnOutput(this, `${pascal(name)}QueueUrl`, { value: pair.queue.queueUrl, description: `The ${name} queue` });
      new CfnOutput(this, `${pascal(name)}DlqUrl`, {
        value: pair.deadLetterQueue.queueUrl,
        description: `Dead-letter queue of ${name} (\`mql redrive\` moves its messages back)`,
      });
    }
    for (const name of Object.keys(functionSpecs) as HandlerName[]) {
      new CfnOutput(this, `${pascal(name)}FunctionName`, { value: engine.functions[name].function.functionName });
    }
    new CfnOutput(this, 'SecretArns', {
      value: this.toJsonString(Object.fromEntries(secretKeys.map((key) => [key, engine.secrets[secretGroupOf(key)].secretArn]))),
      description: 'MQL_SECRET_ARNS for `mql --aws`: each secret key with the ARN of the secret holding it (`mql secrets set KEY=VALUE --aws`)',
    });
    new CfnOutput(this, 'LegacySecretArn', {
      value: engine.legacySecret.secretArn,
      description: 'The single secret of earlier releases, read by no function: `mql secrets migrate --aws` copies its values, then delete it',
    });
    new CfnOutput(this, 'ModelVersion', { value: engine.settings.modelVersion, description: 'Version of the deployed scoring model' });
    new CfnOutput(this, 'DashboardName', { value: engine.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: engine.alarmTopic.topicArn,
      description: 'Every alarm notifies this SNS topic (alarmEmail subscribes an address; add your own subscriptions)',
    });
  }
}
