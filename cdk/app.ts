/**
 * The CDK app (`cdk.json` runs `node cdk/app.ts`). Settings come from context or the
 * environment (see cdk/config.ts), e.g.
 *
 *   npx cdk deploy -c crmAdapter=webhook -c crmWebhookUrl=https://crm.example.com/mql -c alarmEmail=ops@example.com
 *
 * cdk-nag's AwsSolutions pack runs as a policy-validation plugin: any finding that is neither
 * fixed nor acknowledged with a reason fails `cdk synth` and `cdk deploy`.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SettingsError, settingsFromContext } from './config.ts';
import { MqlEngineStack } from './stack.ts';

const app = new App();
const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'MqlEngine';
try {
  // No `env`: the stack stays environment-agnostic, so synth needs no credentials or network.
  new MqlEngineStack(app, stackName, { engine: settingsFromContext(app.node) });
} catch (error) {
  // An operator's setting mistake: the message says what to set; a stack trace would bury it.
  if (!(error instanceof SettingsError)) throw error;
  console.error(`mql-engine: ${error.message}`);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
