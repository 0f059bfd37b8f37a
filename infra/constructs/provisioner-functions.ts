// The eight functions of the provisioner, by role: each one's handler entry, description, timeout and the
// environment it runs with (the names and ARNs of the parts it talks to). Which permissions each gets is
// decided where the parts are wired, in auto-provisioner.ts.
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { AnsibleInstallMode } from '../../functions/core/types.js';
import { AGENT_CHECK_INTERVAL_SECONDS, EVENT_DETECTOR_TIMEOUT, SWEEP_TIMEOUT } from '../retries.js';
import { TASK_TIMEOUT_MARGIN_SECONDS } from '../workflow.js';
import type { CommandOutput } from './command-output.js';
import { APPLY_DOCUMENT_NAME, type EnsureAnsibleDocument } from './ensure-ansible-document.js';
import type { PlaybookBundle } from './playbook-bundle.js';
import { ProvisionerFunction, type ProvisionerFunctionProps } from './provisioner-function.js';

/** The functions of the provisioner, by role. */
export interface ProvisionerFunctions {
  readonly eventDetector: ProvisionerFunction;
  readonly sweep: ProvisionerFunction;
  readonly match: ProvisionerFunction;
  readonly runCommand: ProvisionerFunction;
  readonly callback: ProvisionerFunction;
  readonly checkCommand: ProvisionerFunction;
  readonly record: ProvisionerFunction;
  readonly notifier: ProvisionerFunction;
}

/** CloudWatch namespace of the functions' Powertools metrics. */
export const METRICS_NAMESPACE = 'AnsibleAutoProvisioner';

type FunctionSpec = Omit<ProvisionerFunctionProps, 'logRetention' | 'serviceName' | 'environment'> & {
  readonly environment?: Readonly<Record<string, string>>;
};

/** What the functions are configured with: the parts they talk to and the settings they read. */
export interface ProvisionerFunctionsProps {
  readonly table: dynamodb.ITable;
  readonly topic: sns.ITopic;
  readonly playbookBundle: PlaybookBundle;
  readonly commandOutput: CommandOutput;
  readonly ensureAnsibleDocument: EnsureAnsibleDocument;
  readonly failedEventsQueue: sqs.IQueue;
  readonly ansibleInstall: AnsibleInstallMode;
  readonly stateMachineArn: string;
  /** The compiled rules, copied into the bundles of the functions that match or read settings. */
  readonly rulesFile: string;
  readonly logRetention: logs.RetentionDays;
  readonly historyDays: number;
  /** @default 7200 */
  readonly leaseSeconds?: number;
  readonly slackSecretArn?: string;
  readonly telegramSecretArn?: string;
}

/** Creates the functions in `scope` (their construct ids are part of the template's logical ids). */
export function createProvisionerFunctions(
  scope: Construct,
  props: ProvisionerFunctionsProps,
): ProvisionerFunctions {
  const { logRetention, rulesFile, stateMachineArn } = props;
  const common = {
    TABLE_NAME: props.table.tableName,
    HISTORY_DAYS: String(props.historyDays),
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  };
  const fn = (name: string, serviceName: string, spec: FunctionSpec) =>
    new ProvisionerFunction(scope, name, {
      ...spec,
      serviceName,
      logRetention,
      environment: { ...common, ...(spec.environment ?? {}) },
    });

  const notifierEnv: Record<string, string> = {
    TOPIC_ARN: props.topic.topicArn,
    STATE_MACHINE_ARN: stateMachineArn,
  };
  if (props.slackSecretArn) notifierEnv.SLACK_SECRET_ARN = props.slackSecretArn;
  if (props.telegramSecretArn) notifierEnv.TELEGRAM_SECRET_ARN = props.telegramSecretArn;
  const notifier = fn('Notifier', 'notifier', {
    entry: 'functions/notifier/handler.ts',
    description: 'Sends at most one notification per instance, generation and status (SNS, Slack, Telegram).',
    environment: notifierEnv,
    onFailureQueue: props.failedEventsQueue,
  });
  const detectorEnv = {
    STATE_MACHINE_ARN: stateMachineArn,
    NOTIFIER_FUNCTION_NAME: notifier.function.functionName,
    LEASE_SECONDS: String(props.leaseSeconds ?? 7200),
  };
  const eventDetector = fn('EventDetector', 'event-detector', {
    entry: 'functions/event-detector/handler.ts',
    description:
      'EC2 state and tag-change events: records opted-in instances, claims them and starts the workflow.',
    environment: detectorEnv,
    timeout: EVENT_DETECTOR_TIMEOUT,
    rulesFile,
    onFailureQueue: props.failedEventsQueue,
  });
  const sweep = fn('Sweep', 'sweep', {
    entry: 'functions/sweep/handler.ts',
    description: 'Scheduled reconciliation of the fleet and the static inventories with the state table.',
    environment: detectorEnv,
    timeout: SWEEP_TIMEOUT,
    memorySize: 1024,
    rulesFile,
    onFailureQueue: props.failedEventsQueue,
  });
  const match = fn('Match', 'match', {
    entry: 'functions/match/handler.ts',
    description: 'Workflow step: which playbooks does this instance get?',
    environment: {
      AGENT_CHECK_INTERVAL_SECONDS: String(AGENT_CHECK_INTERVAL_SECONDS),
      TASK_TIMEOUT_MARGIN_SECONDS: String(TASK_TIMEOUT_MARGIN_SECONDS),
    },
    rulesFile,
  });
  const runCommand = fn('RunCommand', 'run-command', {
    entry: 'functions/run-command/handler.ts',
    description:
      'Workflow step: stores the task token and sends the SSM command (ensure Ansible, or a playbook).',
    environment: {
      BUNDLE_URL: props.playbookBundle.bundleUrl,
      APPLY_DOCUMENT: APPLY_DOCUMENT_NAME,
      ANSIBLE_INSTALL_DOCUMENT: props.ensureAnsibleDocument.documentName,
      INSTALL_DEPENDENCIES: props.ansibleInstall === 'document' ? 'True' : 'False',
      OUTPUT_LOG_GROUP: props.commandOutput.logGroup.logGroupName,
      OUTPUT_BUCKET: props.playbookBundle.bucket.bucketName,
    },
    rulesFile,
  });
  const outputEnv = { OUTPUT_LOG_GROUP: props.commandOutput.logGroup.logGroupName };
  const callback = fn('Callback', 'callback', {
    entry: 'functions/callback/handler.ts',
    description: 'SSM command status events: reports the end of a command to the waiting workflow task.',
    environment: outputEnv,
    onFailureQueue: props.failedEventsQueue,
  });
  const checkCommand = fn('CheckCommand', 'check-command', {
    entry: 'functions/callback/handler.ts',
    handler: 'checkHandler',
    description: 'Workflow step after a lost status event: asks SSM for the command result.',
    environment: outputEnv,
  });
  const record = fn('Record', 'record', {
    entry: 'functions/record/handler.ts',
    description:
      'Workflow step: records the outcome (SUCCESS, PARTIAL, FAILED, SKIPPED), fenced on generation.',
  });
  return { eventDetector, sweep, match, runCommand, callback, checkCommand, record, notifier };
}
