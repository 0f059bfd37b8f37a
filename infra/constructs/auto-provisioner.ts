// The whole provisioner as one reusable construct: state table, playbook bundle, command output, the
// functions, the workflow, event routing, the sweep schedule, notifications and monitoring. Every other
// construct in this folder is one concern; this one only wires them and grants least privilege (docs/architecture.md "Security model").
import * as path from 'node:path';
import { Annotations, ArnFormat, Stack, Stage } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { compileBundle, writeBundle } from '../../functions/core/bundle.js';
import type { AnsibleInstallMode, RulesBundle } from '../../functions/core/types.js';
import { acknowledge, nagArn } from '../nag.js';
import { PLAYBOOKS_DIR } from '../paths.js';
import { STATE_MACHINE_SUFFIX } from '../settings.js';
import { ProvisioningWorkflow } from '../workflow.js';
import { CommandOutput } from './command-output.js';
import { APPLY_DOCUMENT_NAME, EnsureAnsibleDocument } from './ensure-ansible-document.js';
import { EventRouting } from './event-routing.js';
import { FailedEventsQueue } from './failed-events-queue.js';
import { Monitoring } from './monitoring.js';
import { Notifications } from './notifications.js';
import { COMMAND_OUTPUT_PREFIX, PlaybookBundle } from './playbook-bundle.js';
import type { ProvisionerFunction } from './provisioner-function.js';
import { createProvisionerFunctions, type ProvisionerFunctions } from './provisioner-functions.js';
import { StateTable } from './state-table.js';
import { SweepSchedule } from './sweep-schedule.js';

export interface AutoProvisionerProps {
  /**
   * Folder holding rules.yaml, the inventories and the playbooks. It is validated at synth (a bad
   * rules.yaml fails the synth) and shipped as one zip.
   * @default the repository's playbooks/ folder
   */
  readonly playbooksDir?: string;
  /**
   * Already compiled rules (tests, tooling).
   * @default compileBundle(playbooksDir)
   */
  readonly rulesBundle?: RulesBundle;
  /**
   * The opt-in tag key the deployment expects. rules.yaml's `optIn.tagKey` is the source of truth; when
   * set, the two must agree or the synth fails (so a stale cdk.json cannot silently widen SendCommand).
   * @default rules.yaml's optIn.tagKey
   */
  readonly optInTagKey?: string;
  /**
   * Minutes between two sweeps.
   * @default 5
   */
  readonly sweepRateMinutes?: number;
  /**
   * E-mail addresses subscribed to outcome and alarm notifications.
   * @default - no subscription
   */
  readonly notificationEmails?: readonly string[];
  /**
   * How Ansible gets onto hosts: `autoprov` (our ensure step, then InstallDependencies=False),
   * `document` (AWS-ApplyAnsiblePlaybooks' own pip install), `preinstalled` (the image has it).
   * @default 'autoprov'
   */
  readonly ansibleInstall?: AnsibleInstallMode;
  /**
   * Retention of every log group (functions, workflow, command output).
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Days history items (audit events) are kept before DynamoDB TTL removes them; also the retention of
   * command output objects.
   * @default 90
   */
  readonly historyDays?: number;
  /**
   * Seconds a claim holds an instance before the sweep may check and reclaim it.
   * @default 7200
   */
  readonly leaseSeconds?: number;
  /**
   * Complete ARN of a Secrets Manager secret with the Slack incoming-webhook URL.
   * @default - no Slack notifications
   */
  readonly slackSecretArn?: string;
  /**
   * Complete ARN of a Secrets Manager secret with the Telegram bot token and chat id.
   * @default - no Telegram notifications
   */
  readonly telegramSecretArn?: string;
  /**
   * ARN of the customer managed KMS key the Slack/Telegram secrets are encrypted with. The notifier gets
   * kms:Decrypt on exactly this key, and only through Secrets Manager.
   * @default - the secrets use the AWS managed key aws/secretsmanager (no grant needed)
   */
  readonly secretsKmsKeyArn?: string;
  /**
   * CloudFormation deletion protection on the state table.
   * @default true
   */
  readonly tableDeletionProtection?: boolean;
  /**
   * Name of the state machine.
   * @default `<stack name>-Provisioning`
   */
  readonly stateMachineName?: string;
}

export { METRICS_NAMESPACE, type ProvisionerFunctions } from './provisioner-functions.js';

const DATA_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
];

export class AutoProvisioner extends Construct {
  public readonly rulesBundle: RulesBundle;
  public readonly ansibleInstall: AnsibleInstallMode;
  public readonly stateTable: StateTable;
  public readonly playbookBundle: PlaybookBundle;
  public readonly commandOutput: CommandOutput;
  /** Attach to instance profiles: read the bundle, write command output. */
  public readonly instancePolicy: iam.ManagedPolicy;
  public readonly ensureAnsibleDocument: EnsureAnsibleDocument;
  public readonly failedEvents: FailedEventsQueue;
  public readonly notifications: Notifications;
  public readonly functions: ProvisionerFunctions;
  public readonly workflow: ProvisioningWorkflow;
  public readonly stateMachine: sfn.StateMachine;
  public readonly eventRouting: EventRouting;
  public readonly sweepSchedule: SweepSchedule;
  public readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: AutoProvisionerProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    const playbooksDir = props.playbooksDir ?? PLAYBOOKS_DIR;
    const rules = props.rulesBundle ?? compileBundle(playbooksDir);
    this.rulesBundle = rules;
    const optIn = rules.config.optIn;
    if (props.optInTagKey !== undefined && props.optInTagKey !== optIn.tagKey) {
      throw new Error(
        `Opt-in tag mismatch: the deployment expects "${props.optInTagKey}" (context autoprov:optInTagKey) but ${path.join(playbooksDir, 'rules.yaml')} says optIn.tagKey "${optIn.tagKey}". Make them the same.`,
      );
    }
    this.ansibleInstall = props.ansibleInstall ?? 'autoprov';
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const historyDays = props.historyDays ?? 90;
    const stateMachineName = props.stateMachineName ?? `${stack.stackName}${STATE_MACHINE_SUFFIX}`;
    const stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // ---- Storage, bundle, output -------------------------------------------------------------------
    this.stateTable = new StateTable(this, 'State', {
      deletionProtection: props.tableDeletionProtection ?? true,
    });
    const table = this.stateTable.table;
    this.playbookBundle = new PlaybookBundle(this, 'Playbooks', { playbooksDir, retentionDays: historyDays });
    this.commandOutput = new CommandOutput(this, 'CommandOutput', {
      bucket: this.playbookBundle.bucket,
      retention: logRetention,
    });
    this.instancePolicy = this.commandOutput.instancePolicy;
    this.ensureAnsibleDocument = new EnsureAnsibleDocument(this, 'EnsureAnsible');
    this.failedEvents = new FailedEventsQueue(this, 'FailedEvents');
    this.notifications = new Notifications(this, 'Notifications', { emails: props.notificationEmails ?? [] });
    const topic = this.notifications.topic;

    // The compiled rules ride inside the bundles of the functions that match or read settings.
    const rulesFile = path.join(Stage.of(this)?.outdir ?? '.', `${stack.artifactId}.rules.json`);
    writeBundle(rules, rulesFile);

    // ---- Functions --------------------------------------------------------------------------------
    this.functions = createProvisionerFunctions(this, {
      table,
      topic,
      playbookBundle: this.playbookBundle,
      commandOutput: this.commandOutput,
      ensureAnsibleDocument: this.ensureAnsibleDocument,
      failedEventsQueue: this.failedEvents.queue,
      ansibleInstall: this.ansibleInstall,
      stateMachineArn,
      rulesFile,
      logRetention,
      historyDays,
      leaseSeconds: props.leaseSeconds,
      slackSecretArn: props.slackSecretArn,
      telegramSecretArn: props.telegramSecretArn,
    });
    const { eventDetector, sweep, match, runCommand, callback, checkCommand, record, notifier } =
      this.functions;

    // ---- Workflow -----------------------------------------------------------------------------------
    this.workflow = new ProvisioningWorkflow(this, 'Workflow', {
      match: match.function,
      runCommand: runCommand.function,
      checkCommand: checkCommand.function,
      record: record.function,
      notifier: notifier.function,
      ensureAnsible: this.ansibleInstall === 'autoprov',
      logRetention,
      stateMachineName,
    });
    this.stateMachine = this.workflow.stateMachine;

    // ---- Least privilege ------------------------------------------------------------------------------
    this.grantStateTable();
    this.grantDetectors(stateMachineArn, stateMachineName);
    this.grantSendCommand(runCommand, optIn.tagKey, optIn.tagValue, rules.inventoryHosts);
    this.grantCommandFunctions(stateMachineArn);
    this.grantNotifier(props);

    // ---- Events, schedule, monitoring -----------------------------------------------------------------
    this.eventRouting = new EventRouting(this, 'Events', {
      eventDetector: eventDetector.function,
      callback: callback.function,
      tagKeys: [...new Set([optIn.tagKey, rules.config.hold.tagKey])],
      documentNames: [APPLY_DOCUMENT_NAME, this.ensureAnsibleDocument.documentName],
      deadLetterQueue: this.failedEvents.queue,
    });
    this.sweepSchedule = new SweepSchedule(this, 'SweepSchedule', {
      sweep: sweep.function,
      rateMinutes: props.sweepRateMinutes ?? 5,
      deadLetterQueue: this.failedEvents.queue,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      stateMachine: this.stateMachine,
      stateMachineLogGroup: this.workflow.logGroup,
      failedEvents: this.failedEvents.queue,
      topic,
      functions: Object.fromEntries(Object.entries(this.functions).map(([k, v]) => [k, v.function])),
    });
    this.notifications.allowAlarms(this.monitoring.alarmArns);
  }

  /** Every function reads and writes the state table and its two indexes, and no other table. */
  private grantStateTable(): void {
    const table = this.stateTable.table;
    for (const f of Object.values(this.functions)) {
      f.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'StateTable',
          actions: DATA_ACTIONS,
          resources: [table.tableArn, `${table.tableArn}/index/*`],
        }),
      );
      acknowledge(
        f.role.node.findChild('DefaultPolicy'),
        `AwsSolutions-IAM5[Resource::${nagArn(table)}/index/*]`,
        'Queries the two GSIs (status-due, fleet) of the state table, and no other table.',
      );
    }
  }

  /**
   * The event detector and the sweep find instances, start this state machine's executions and notify
   * about orphans; the sweep also checks whether a lease holder's execution still runs.
   */
  private grantDetectors(stateMachineArn: string, stateMachineName: string): void {
    const { eventDetector, sweep, notifier } = this.functions;
    for (const detector of [eventDetector, sweep]) {
      detector.allowOnAnyResource(
        ['ec2:DescribeInstances'],
        'ec2:DescribeInstances has no resource-level permissions',
      );
      detector.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'StartProvisioning',
          actions: ['states:StartExecution'],
          resources: [stateMachineArn],
        }),
      );
      // The function itself, not its versions (`:*`): detectors notify about ORPHANED instances.
      detector.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'NotifyOrphans',
          actions: ['lambda:InvokeFunction'],
          resources: [notifier.function.functionArn],
        }),
      );
    }
    const executionsArn = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    sweep.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CheckExecutions',
        actions: ['states:DescribeExecution'],
        resources: [executionsArn],
      }),
    );
    acknowledge(
      sweep.role.node.findChild('DefaultPolicy'),
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stateMachineName}:*]`,
      'The sweep checks whether a lease holder execution still runs: any execution of this one state machine.',
    );
  }

  /**
   * The command functions besides SendCommand's targets (grantSendCommand): run-command writes output to
   * our bucket and cancels or finds commands; callback and check-command read a command's result and its
   * output's end, and callback reports it to the waiting workflow task.
   */
  private grantCommandFunctions(stateMachineArn: string): void {
    const { runCommand, callback, checkCommand } = this.functions;
    // SendCommand also authorizes the bucket OutputS3BucketName names (IAM's resource types for
    // ssm:SendCommand are bucket, document, instance and managed-instance: "Actions, resources, and condition
    // keys for AWS Systems Manager", https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html).
    runCommand.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SendWithOutputToOurBucket',
        actions: ['ssm:SendCommand'],
        resources: [this.playbookBundle.bucket.bucketArn],
      }),
    );
    runCommand.allowOnAnyResource(
      ['ssm:CancelCommand', 'ssm:ListCommands'],
      'ssm:CancelCommand and ssm:ListCommands have no resource-level permissions (cancel a command a newer claim superseded; find the command a retried step already sent, docs/adr/0009)',
    );
    callback.allowOnAnyResource(
      ['ssm:GetCommandInvocation'],
      'ssm:GetCommandInvocation has no resource-level permissions',
    );
    callback.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReportToWorkflow',
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        resources: [stateMachineArn],
      }),
    );
    checkCommand.allowOnAnyResource(
      ['ssm:GetCommandInvocation', 'ssm:CancelCommand'],
      'ssm:GetCommandInvocation and ssm:CancelCommand have no resource-level permissions',
    );
    // GetCommandInvocation returns only the first 24,000 characters of stdout: the end of a longer output
    // (the failed task, the AUTOPROV-RESULT line) is read from the output object SSM uploaded. Read-only,
    // command output only (docs/adr/0012-ansible-result-line.md).
    const outputObjects = this.playbookBundle.bucket.arnForObjects(`${COMMAND_OUTPUT_PREFIX}*`);
    for (const reader of [callback, checkCommand]) {
      reader.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ReadCommandOutputEnd',
          actions: ['s3:GetObject'],
          resources: [outputObjects],
        }),
      );
      acknowledge(
        reader.role.node.findChild('DefaultPolicy'),
        `AwsSolutions-IAM5[Resource::${nagArn(this.playbookBundle.bucket)}/${COMMAND_OUTPUT_PREFIX}*]`,
        'Read-only on the command-output prefix: SSM chooses the object keys (execution, command id, instance id, step).',
      );
    }
  }

  /** The notifier publishes to the topic (through its key) and reads the Slack/Telegram secrets. */
  private grantNotifier(props: AutoProvisionerProps): void {
    const { notifier } = this.functions;
    // Publish, and the two key actions SNS needs to encrypt with the topic's key (named, not GenerateDataKey*).
    notifier.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PublishOutcomes',
        actions: ['sns:Publish'],
        resources: [this.notifications.topic.topicArn],
      }),
    );
    this.notifications.key.grant(notifier.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    for (const [name, arn] of [
      ['SlackSecret', props.slackSecretArn],
      ['TelegramSecret', props.telegramSecretArn],
    ] as const) {
      if (arn) secretsmanager.Secret.fromSecretCompleteArn(this, name, arn).grantRead(notifier.role);
    }
    // Secrets under a customer managed key need kms:Decrypt on it; only via Secrets Manager in this region.
    if (props.secretsKmsKeyArn) {
      notifier.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'DecryptChatSecrets',
          actions: ['kms:Decrypt'],
          resources: [props.secretsKmsKeyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
    }
  }

  /**
   * SendCommand only with our two documents, and only on hosts that opted in: instances / managed nodes
   * that carry the opt-in tag, and the hosts the static inventories list by id (being listed is their
   * opt-in, and they need no tag) — named one by one, known at synth time from the rules bundle. A bug or
   * a forged input can never run a playbook on any other host.
   */
  private grantSendCommand(
    runCommand: ProvisionerFunction,
    tagKey: string,
    tagValue: string,
    inventoryHosts: RulesBundle['inventoryHosts'],
  ): void {
    const stack = Stack.of(this);
    const documents = [
      stack.formatArn({
        service: 'ssm',
        account: '',
        resource: 'document',
        resourceName: APPLY_DOCUMENT_NAME,
      }),
    ];
    if (this.ansibleInstall === 'autoprov') {
      documents.push(
        stack.formatArn({
          service: 'ssm',
          resource: 'document',
          resourceName: this.ensureAnsibleDocument.documentName,
        }),
      );
    }
    runCommand.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SendOurDocuments',
        actions: ['ssm:SendCommand'],
        resources: documents,
      }),
    );
    const targets = [
      stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' }),
      stack.formatArn({ service: 'ssm', resource: 'managed-instance', resourceName: '*' }),
    ];
    runCommand.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SendToOptedInHostsOnly',
        actions: ['ssm:SendCommand'],
        resources: targets,
        conditions: { StringEquals: { [`ssm:resourceTag/${tagKey}`]: tagValue } },
      }),
    );
    const listed = inventoryHostArns(stack, inventoryHosts);
    if (listed.length > MAX_LISTED_INVENTORY_HOSTS) {
      Annotations.of(this).addWarningV2(
        'autoprov:inventory-hosts-not-listed',
        `The inventories list ${listed.length} hosts, more than the ${MAX_LISTED_INVENTORY_HOSTS} the run-command policy names one by one (IAM policy size). ` +
          `Tag those managed nodes / instances with ${tagKey}=${tagValue} (aws ssm add-tags-to-resource --resource-type ManagedInstance …), or SendCommand to them is denied.`,
      );
    } else if (listed.length > 0) {
      runCommand.role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'SendToInventoryHosts',
          actions: ['ssm:SendCommand'],
          resources: listed,
        }),
      );
    }
    const policy = runCommand.role.node.findChild('DefaultPolicy');
    for (const target of [
      'ec2:<AWS::Region>:<AWS::AccountId>:instance/*',
      'ssm:<AWS::Region>:<AWS::AccountId>:managed-instance/*',
    ]) {
      acknowledge(
        policy,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:${target}]`,
        `Any host, but only if it carries the opt-in tag: the statement's ssm:resourceTag/${tagKey} = ${tagValue} condition narrows it.`,
      );
    }
  }
}

/** Inventory hosts named in the run-command policy; beyond this the policy would outgrow IAM's size limit. */
export const MAX_LISTED_INVENTORY_HOSTS = 100;

/** The ARN SendCommand checks for each inventory host: an EC2 instance or an SSM managed node. */
export function inventoryHostArns(stack: Stack, hosts: RulesBundle['inventoryHosts']): string[] {
  const ids = [...new Set(hosts.map((host) => host.instanceId))].sort();
  return ids.map((id) =>
    id.startsWith('mi-')
      ? stack.formatArn({ service: 'ssm', resource: 'managed-instance', resourceName: id })
      : stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: id }),
  );
}
