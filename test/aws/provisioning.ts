// The real-account test (`npm run test:aws`, docs/adr/0010-real-account-test-kit.md): the stack with the
// demo instance, plus assertions from CDK's integ-tests library (custom resources in a second stack that
// query AWS itself). test/aws/run.ts deploys both with the project's CDK CLI, reads the assertion results
// and destroys everything.
//
// Asserted, in order:
//   1. the demo instance's record (state table, `pk = <instance id>, sk = STATE`) reaches SUCCESS;
//   2. the execution the record names is SUCCEEDED (Step Functions DescribeExecution);
//   3. the SUCCESS notification was published: an SQS queue subscribed to the topic (raw delivery)
//      received it;
//   4. an alarm reaches the topic: SetAlarmState(ALARM) on one of the stack's alarms, and its CloudWatch
//      message arrives on the same queue (CloudWatch publishes as cloudwatch.amazonaws.com, through the
//      topic policy and the topic key's policy).
//
// The stack is the deployable one (infra/stack.ts, cdk.json context) with only what a throwaway copy
// needs: its own stack name, the demo instance, no table deletion protection, everything DESTROY (buckets
// emptied first), and the test's queue. npm test never deploys it: test/infra/integ-snapshot.test.ts
// compares its synthesis with the checked-in snapshot (test/aws/snapshot/), offline.
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import {
  Annotations,
  App,
  type AppProps,
  ArnFormat,
  Duration,
  Mixins,
  RemovalPolicies,
  Stack,
} from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { BucketAutoDeleteObjects } from 'aws-cdk-lib/aws-s3/mixins';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { STATE_SK } from '../../functions/shared/table-schema.js';
import { readSettings } from '../../infra/settings.js';
import { AutoProvisionerStack } from '../../infra/stack.js';
import { projectContext } from '../../infra/synth.js';

/** The context of this test's deployment, over cdk.json's (keys as in the README's settings table). */
export const INTEG_CONTEXT = {
  // Its own name: the state machine and its log group are named after the stack, so the test can run in
  // an account that also holds a real deployment.
  'autoprov:stackName': 'AutoprovInteg',
  'autoprov:tableDeletionProtection': false,
  demo: true,
} as const;

const WAIT = { interval: Duration.seconds(30), backoffRate: 1 } as const;

export interface IntegApp {
  readonly app: App;
  /** The stack under test. */
  readonly stack: AutoProvisionerStack;
  readonly integ: IntegTest;
}

/**
 * The test's app. Context: cdk.json's, then `props.context`, then the CDK CLI's, then INTEG_CONTEXT. Not
 * synthesized: the caller does (test/aws/app.ts for the CLI, the snapshot test in-process).
 */
export function buildIntegApp(props: AppProps = {}): IntegApp {
  const app = new App({
    ...props,
    context: { ...projectContext(), ...props.context },
    postCliContext: INTEG_CONTEXT,
  });
  const settings = readSettings(app.node);
  const stack = new AutoProvisionerStack(app, settings.stackName, {
    demo: settings.demo,
    provisioner: settings.provisioner,
  });
  const { provisioner } = stack;
  const demo = stack.demoInstance;
  if (!demo) throw new Error('The real-account test needs the demo instance (context demo=true).');

  // ---- Throwaway: destroy everything with the stack ----------------------------------------------------
  RemovalPolicies.of(stack).destroy();
  Mixins.of(stack).apply(new BucketAutoDeleteObjects());
  const key = provisioner.notifications.key.node.defaultChild as kms.CfnKey;
  key.pendingWindowInDays = 7;

  // ---- The test's ear on the topic ----------------------------------------------------------------------
  const inbox = new sqs.Queue(stack, 'IntegTopicInbox', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.hours(2),
  });
  const subscription = provisioner.notifications.topic.addSubscription(
    new subscriptions.SqsSubscription(inbox, { rawMessageDelivery: true }),
  );
  // The instance starts provisioning as soon as it runs: the subscription must exist before it does.
  demo.instance.node.addDependency(subscription);

  // ---- Assertions -----------------------------------------------------------------------------------------
  const integ = new IntegTest(app, 'Provisioning', {
    testCases: [stack],
    // Deploy the current code only (no deployment of the previous snapshot first).
    stackUpdateWorkflow: false,
  });
  const assert = integ.assertions;
  const instanceId = demo.instance.instanceId;
  const stateKey = { pk: { S: instanceId }, sk: { S: STATE_SK } };
  const table = provisioner.stateTable.table.tableName;

  // 1. Launch, agent registration, Ansible install and the playbooks: minutes, not seconds.
  const recordSucceeded = assert
    .awsApiCall('DynamoDB', 'getItem', { TableName: table, Key: stateKey, ConsistentRead: true })
    .expect(ExpectedResult.objectLike({ Item: { status: { S: 'SUCCESS' } } }))
    .waitForAssertions({ ...WAIT, totalTimeout: Duration.minutes(30) });

  // 2. The execution the record names (`<instance id>-g<generation>`).
  const record = assert.awsApiCall('DynamoDB', 'getItem', {
    TableName: table,
    Key: stateKey,
    ConsistentRead: true,
  });
  const executionArn = Stack.of(stack).formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${provisioner.stateMachine.stateMachineName}:${record.getAttString('Item.executionName.S')}`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  const executionSucceeded = assert
    .awsApiCall('SFN', 'describeExecution', { executionArn })
    .expect(ExpectedResult.objectLike({ status: 'SUCCEEDED' }))
    .waitForAssertions({ ...WAIT, totalTimeout: Duration.minutes(5) });

  /** Reads the inbox without consuming it (VisibilityTimeout 0), until a message body matches. */
  const inboxHas = (bodyPattern: string) =>
    assert
      .awsApiCall('SQS', 'receiveMessage', {
        QueueUrl: inbox.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 10,
        VisibilityTimeout: 0,
      })
      .expect(
        ExpectedResult.objectLike({
          Messages: Match.arrayWith([Match.objectLike({ Body: Match.stringLikeRegexp(bodyPattern) })]),
        }),
      )
      .waitForAssertions({ ...WAIT, totalTimeout: Duration.minutes(10) });

  // 3. The notifier's text (functions/notifier/message.ts): "Instance: <id> (<Name>)\nStatus: SUCCESS (…".
  const notified = inboxHas(`Instance: ${instanceId} [^\\n]*\\nStatus: SUCCESS \\(generation [0-9]+\\)`);

  // 4. A deliberately failing alarm: CloudWatch's own message, JSON with AlarmName and NewStateValue.
  const alarm = provisioner.monitoring.alarms.executionsAborted;
  if (!alarm) throw new Error('The stack no longer has the executionsAborted alarm this test sets.');
  const alarmRaised = assert.awsApiCall('CloudWatch', 'setAlarmState', {
    AlarmName: alarm.alarmName,
    StateValue: 'ALARM',
    StateReason: 'Set by the autoprov real-account test (npm run test:aws): the alarm must reach the topic.',
  });
  const alarmDelivered = inboxHas(`"AlarmName":"${alarm.alarmName}".*"NewStateValue":"ALARM"`);

  // The assertions import the test stack's outputs: strong references are what a throwaway pair needs
  // (`cdk destroy --all` deletes the importing stack first).
  Annotations.of(integ.node.findChild('DefaultTest').node.findChild('DeployAssert')).acknowledgeWarning(
    '@aws-cdk/core:crossStackReferencesDefaultStrong',
    'Both stacks are deployed and destroyed together by test/aws/run.ts.',
  );
  recordSucceeded.next(record).next(executionSucceeded).next(notified).next(alarmRaised).next(alarmDelivered);
  return { app, stack, integ };
}
