// The checks behind `autoprov doctor`, one function each, taking only the collaborators they need.
// Each returns ✔/✖/! lines with a one-line fix; an AWS error while checking is a "!" (could not
// check, and why), never a crash, so one missing permission does not hide the other answers.

import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import {
  GetInstanceProfileCommand,
  type IAMClient,
  ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ListExecutionsCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  DescribeInstanceInformationCommand,
  type InstanceInformation,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { failureReport, formatFailureReport } from '../../functions/core/failure-text.js';
import { ORPHAN_REASONS } from '../../functions/core/reconcile.js';
import type { InventoryHost, RulesConfig } from '../../functions/core/types.js';
import { executionArnOf } from '../../functions/shared/start-execution.js';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import { describeAwsError } from '../aws.js';
import { type CheckLine, formatTime, truncate } from '../output.js';

type Send<T extends { send: unknown }> = Pick<T, 'send'>;

export interface Check extends CheckLine {
  readonly section: 'instance' | 'stack';
}

const check = (
  section: Check['section'],
  status: Check['status'],
  title: string,
  detail: string,
  fix?: string,
): Check => ({
  section,
  status,
  title,
  detail,
  ...(fix ? { fix } : {}),
});

const couldNotCheck = (section: Check['section'], title: string, error: unknown, permission: string): Check =>
  check(
    section,
    'warn',
    title,
    `could not check: ${describeAwsError(error)}`,
    `the CLI's credentials need ${permission}`,
  );

/** What the state record says, and what to do about it. */
export function checkRecord(
  instanceId: string,
  record: InstanceRecord | undefined,
  config: RulesConfig,
  now: Date,
): Check[] {
  const { optIn, hold } = config;
  const title = 'State record';
  if (!record) {
    return [
      check(
        'instance',
        'fail',
        title,
        'no record: the instance was never detected as opted in',
        `tag it ${optIn.tagKey}=${optIn.tagValue} while it is running; the event detector records it at once, the next sweep within minutes`,
      ),
    ];
  }
  const checks: Check[] = [];
  if (record.held) {
    checks.push(
      check(
        'instance',
        'fail',
        'Hold',
        `held (${hold.tagKey}=${hold.tagValue} was present at the last detection): never provisioned automatically`,
        `remove the tag ${hold.tagKey}, or run autoprov retry ${instanceId} for one run`,
      ),
    );
  }
  const g = `g${record.generation}`;
  switch (record.status) {
    case 'SUCCESS':
      checks.push(
        check('instance', 'ok', title, `SUCCESS at ${g}, last run ${formatTime(record.lastRunAt)}`),
      );
      break;
    case 'PENDING':
      checks.push(
        check(
          'instance',
          'warn',
          title,
          `PENDING since ${formatTime(record.updatedAt)}: detected, waiting for a claim`,
          `the next sweep claims it; autoprov retry ${instanceId} starts it now`,
        ),
      );
      break;
    case 'RUNNING': {
      const expired = record.leaseExpiresAt === undefined || record.leaseExpiresAt <= now.toISOString();
      checks.push(
        expired
          ? check(
              'instance',
              'fail',
              title,
              `RUNNING at ${g} but its lease expired at ${formatTime(record.leaseExpiresAt)}: the execution died or hangs`,
              `the next sweep checks the execution and reclaims it; see "Last execution" below`,
            )
          : check(
              'instance',
              'warn',
              title,
              `RUNNING at ${g} (lease until ${formatTime(record.leaseExpiresAt)}): a run is in progress`,
            ),
      );
      break;
    }
    case 'FAILED':
    case 'PARTIAL': {
      // The failed task and its message, then the last lines (core/failure-text.ts).
      const report = failureReport(record);
      checks.push(
        check(
          'instance',
          'fail',
          title,
          `${record.status} at ${g}${report ? `: ${formatFailureReport({ ...report, lastLines: report.lastLines.split('\n').slice(-6).join('\n') }, '    ')}` : ''}`,
          `autoprov history ${instanceId} links the full log; fix the cause, then autoprov retry ${instanceId}`,
        ),
      );
      break;
    }
    case 'SKIPPED':
      checks.push(
        check(
          'instance',
          'warn',
          title,
          `SKIPPED at ${g}: no rule selected any playbook for it`,
          'autoprov plan shows why each rule did not match; fix its groups tag or the rules, then autoprov retry',
        ),
      );
      break;
    case 'ORPHANED': {
      const fix =
        record.reason === ORPHAN_REASONS.terminated
          ? 'nothing to do: a terminated instance is never provisioned again'
          : `opt it in again (${optIn.tagKey}=${optIn.tagValue}) and keep it running; it is re-detected and provisioned`;
      checks.push(
        check('instance', 'fail', title, `ORPHANED (${record.reason ?? 'no reason recorded'})`, fix),
      );
      break;
    }
  }
  return checks;
}

/** Opt-in, hold and state, from EC2 itself (the record may be older than the tags). */
export function checkEc2Instance(
  instanceId: string,
  instance: Instance | undefined,
  config: RulesConfig,
): Check[] {
  if (!instance) {
    return [
      check(
        'instance',
        'fail',
        'EC2 instance',
        `${instanceId} does not exist in this account and region`,
        'check the id, --region and the credentials account; a terminated instance disappears after about an hour',
      ),
    ];
  }
  const tags = new Map((instance.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  const { optIn, hold } = config;
  const checks: Check[] = [];
  const state = instance.State?.Name ?? 'unknown';
  checks.push(ec2StateCheck(instanceId, state));
  // A terminated instance is gone for good: its tags no longer matter, and no fix applies to it.
  if (isGone(state)) return checks;
  const value = tags.get(optIn.tagKey);
  const createTag = `aws ec2 create-tags --resources ${instanceId} --tags 'Key=${optIn.tagKey},Value=${optIn.tagValue}'`;
  if (value === optIn.tagValue)
    checks.push(check('instance', 'ok', 'Opt-in tag', `${optIn.tagKey}=${value}`));
  else if (value === undefined) {
    checks.push(
      check(
        'instance',
        'fail',
        'Opt-in tag',
        `${optIn.tagKey} is missing: the instance is not opted in`,
        createTag,
      ),
    );
  } else {
    checks.push(
      check(
        'instance',
        'fail',
        'Opt-in tag',
        `${optIn.tagKey}=${value}, but opting in needs the value "${optIn.tagValue}"`,
        createTag,
      ),
    );
  }
  if (tags.get(hold.tagKey) === hold.tagValue) {
    checks.push(
      check(
        'instance',
        'fail',
        'Hold tag',
        `${hold.tagKey}=${hold.tagValue}: recorded but never provisioned automatically`,
        `aws ec2 delete-tags --resources ${instanceId} --tags Key=${hold.tagKey}`,
      ),
    );
  } else checks.push(check('instance', 'ok', 'Hold tag', `${hold.tagKey} not set`));
  return checks;
}

/** EC2 states from which the instance never runs again. */
export const isGone = (state: string | undefined): boolean =>
  state === 'terminated' || state === 'shutting-down';

/** The instance's EC2 state, with the fix that state allows (a terminated instance cannot be started). */
function ec2StateCheck(instanceId: string, state: string): Check {
  const title = 'EC2 state';
  switch (state) {
    case 'running':
      return check('instance', 'ok', title, 'running');
    case 'pending':
      return check('instance', 'warn', title, 'pending: starting up; it is provisioned once it runs');
    case 'terminated':
    case 'shutting-down':
      return check(
        'instance',
        'fail',
        title,
        `${state}: the instance is gone for good and is never provisioned again`,
        'nothing to fix on it: launch a new instance with the opt-in tag (its record stays ORPHANED for the audit trail)',
      );
    case 'stopping':
      return check(
        'instance',
        'fail',
        title,
        'stopping: playbooks run only on a running instance',
        `once it has stopped, start it: aws ec2 start-instances --instance-ids ${instanceId}`,
      );
    default:
      return check(
        'instance',
        'fail',
        title,
        `${state}: playbooks run only on a running instance`,
        `start it: aws ec2 start-instances --instance-ids ${instanceId}`,
      );
  }
}

/** A hybrid node (or inventory-listed instance) is opted in by being in a static inventory. */
export function checkInventory(
  instanceId: string,
  host: InventoryHost | undefined,
  config: RulesConfig,
): Check {
  if (host) return check('instance', 'ok', 'Static inventory', `listed in ${host.inventory} as ${host.name}`);
  return check(
    'instance',
    'fail',
    'Static inventory',
    `${instanceId} is not in any inventory of rules.yaml (${config.inventories.join(', ') || 'none configured'})`,
    'add it (by id, or as a host with ssm_instance_id=<id>) to an inventory listed under inventories:, then deploy',
  );
}

export async function describeEc2Instance(
  ec2: Send<EC2Client>,
  instanceId: string,
): Promise<Instance | undefined> {
  try {
    const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return Reservations?.flatMap((reservation) => reservation.Instances ?? [])[0];
  } catch (error) {
    if (error instanceof Error && error.name.startsWith('InvalidInstanceID')) return undefined;
    throw error;
  }
}

export function agentCheck(info: InstanceInformation | undefined, hybrid: boolean, ec2State?: string): Check {
  const title = 'SSM agent';
  if (isGone(ec2State)) {
    return check(
      'instance',
      'warn',
      title,
      `${info?.PingStatus ?? 'not registered'}: irrelevant, the instance is ${ec2State}`,
    );
  }
  if (!info) {
    return check(
      'instance',
      'fail',
      title,
      'not registered with Systems Manager: Run Command cannot reach it',
      hybrid
        ? 'register the node with an SSM hybrid activation (amazon-ssm-agent -register) and start the agent'
        : 'the SSM agent must run on the instance and its instance profile needs AmazonSSMManagedInstanceCore; check outbound HTTPS to ssm/ssmmessages/ec2messages',
    );
  }
  if (info.PingStatus === 'Online') {
    return check(
      'instance',
      'ok',
      title,
      `Online (agent ${info.AgentVersion ?? '?'}, ${info.PlatformName ?? info.PlatformType ?? 'unknown platform'})`,
    );
  }
  const last = info.LastPingDateTime ? ` since ${formatTime(info.LastPingDateTime.toISOString())}` : '';
  return check(
    'instance',
    'fail',
    title,
    `${info.PingStatus ?? 'unknown'}${last}: commands cannot be delivered`,
    hybrid
      ? 'make sure the node is up and its agent runs (sudo systemctl status amazon-ssm-agent) with network access to SSM; if its activation expired or was deleted, register it again'
      : ec2State === 'stopped' || ec2State === 'stopping'
        ? `start the instance (aws ec2 start-instances --instance-ids ${info.InstanceId ?? '<id>'}); the agent reconnects when it runs`
        : 'make sure the instance is running and the agent is up (sudo systemctl status amazon-ssm-agent) with network access to SSM',
  );
}

export async function checkAgent(
  ssm: Send<SSMClient>,
  instanceId: string,
  hybrid: boolean,
  ec2State?: string,
): Promise<Check> {
  try {
    const { InstanceInformationList } = await ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'InstanceIds', Values: [instanceId] }],
        MaxResults: 5,
      }),
    );
    return agentCheck(InstanceInformationList?.[0], hybrid, ec2State);
  } catch (error) {
    return couldNotCheck('instance', 'SSM agent', error, 'ssm:DescribeInstanceInformation');
  }
}

/** `arn:aws:iam::123:instance-profile/path/name` → `name`. */
export function instanceProfileName(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

/** The instance profile's role must carry the stack's bundle-read managed policy (InstancePolicyArn). */
export async function checkBundlePolicy(
  iam: Send<IAMClient>,
  instance: Instance,
  policyArn: string | undefined,
): Promise<Check> {
  const title = 'Bundle read policy';
  const fix = (role: string) =>
    policyArn
      ? `aws iam attach-role-policy --role-name ${role} --policy-arn ${policyArn}`
      : "attach the stack's InstancePolicyArn output to the role";
  const profileArn = instance.IamInstanceProfile?.Arn;
  if (!profileArn) {
    return check(
      'instance',
      'fail',
      title,
      'no instance profile attached: the instance can neither register with SSM nor download the playbook bundle',
      `attach an instance profile whose role has AmazonSSMManagedInstanceCore and ${policyArn ?? "the stack's InstancePolicyArn"}`,
    );
  }
  try {
    const { InstanceProfile } = await iam.send(
      new GetInstanceProfileCommand({ InstanceProfileName: instanceProfileName(profileArn) }),
    );
    const roles = InstanceProfile?.Roles ?? [];
    const role = roles[0]?.RoleName;
    if (!role) {
      return check(
        'instance',
        'fail',
        title,
        `instance profile ${instanceProfileName(profileArn)} has no role`,
        'add a role to the instance profile',
      );
    }
    const attached: string[] = [];
    let Marker: string | undefined;
    do {
      const page = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role, Marker }));
      attached.push(...(page.AttachedPolicies ?? []).map((policy) => policy.PolicyArn ?? ''));
      Marker = page.IsTruncated ? page.Marker : undefined;
    } while (Marker);
    if (!policyArn) {
      return check(
        'instance',
        'warn',
        title,
        `role ${role} has ${attached.length} managed polic${attached.length === 1 ? 'y' : 'ies'}, but the stack's InstancePolicyArn is unknown (outputs not read), so bundle read access was not verified`,
        'pass --stack <name> so doctor can read the outputs',
      );
    }
    if (attached.includes(policyArn)) return check('instance', 'ok', title, `role ${role} has ${policyArn}`);
    return check(
      'instance',
      'fail',
      title,
      `role ${role} lacks ${policyArn}: the playbook bundle download fails (403)`,
      fix(role),
    );
  } catch (error) {
    return couldNotCheck('instance', title, error, 'iam:GetInstanceProfile and iam:ListAttachedRolePolicies');
  }
}

export function hybridPolicyNote(policyArn: string | undefined): Check {
  return check(
    'instance',
    'warn',
    'Bundle read policy',
    'skipped: a hybrid node has no instance profile',
    `make sure the IAM service role of its SSM activation has ${policyArn ?? "the stack's InstancePolicyArn"}`,
  );
}

/**
 * What the host needs besides the SSM agent, by the stack's ansibleInstall mode (output AnsibleInstall).
 * AWS-ApplyAnsiblePlaybooks unzips the playbook bundle with `unzip` whatever InstallDependencies says, so a
 * `preinstalled` image needs unzip as well as ansible-playbook. doctor cannot look inside the host: for
 * that mode it says what to check there.
 */
export function checkAnsibleInstall(mode: string | undefined): Check {
  const title = 'Ansible on the host';
  switch (mode) {
    case 'autoprov':
      return check(
        'instance',
        'ok',
        title,
        'ansibleInstall=autoprov: the ensure-Ansible step installs ansible-core and unzip before the first playbook',
      );
    case 'document':
      return check(
        'instance',
        'ok',
        title,
        'ansibleInstall=document: AWS-ApplyAnsiblePlaybooks installs its dependencies itself (InstallDependencies=True)',
      );
    case 'preinstalled':
      return check(
        'instance',
        'warn',
        title,
        'ansibleInstall=preinstalled: the image must have ansible-playbook AND unzip (AWS-ApplyAnsiblePlaybooks unzips the bundle whatever InstallDependencies says); doctor cannot look inside the host',
        'on the host: command -v ansible-playbook unzip (both must print a path); or bake both into the image, or deploy with -c autoprov:ansibleInstall=autoprov, which installs them',
      );
    default:
      return check(
        'instance',
        'warn',
        title,
        mode === undefined
          ? "not checked: the stack's AnsibleInstall output is unknown"
          : `not checked: unknown ansibleInstall mode "${mode}"`,
        'pass --stack <name>; with ansibleInstall=preinstalled the image needs ansible-playbook and unzip',
      );
  }
}

/** The execution of the record's current generation. */
export async function checkLastExecution(
  sfn: Send<SFNClient>,
  stateMachineArn: string | undefined,
  instanceId: string,
  record: InstanceRecord | undefined,
): Promise<Check> {
  const title = 'Last execution';
  if (!record || record.generation === 0 || !record.executionName) {
    return check('instance', 'warn', title, 'none: the instance has never been claimed');
  }
  if (!stateMachineArn) {
    return check(
      'instance',
      'warn',
      title,
      `${record.executionName} not checked: the state machine is unknown`,
      'pass --state-machine <arn> or --stack <name>',
    );
  }
  try {
    const execution = await sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn, record.executionName) }),
    );
    const name = record.executionName;
    switch (execution.status) {
      case 'SUCCEEDED':
        // The workflow records a failed playbook (FAILED/PARTIAL) and notifies, then ends SUCCEEDED: the
        // execution's status alone says the workflow worked, not that the host was provisioned.
        if (record.status === 'FAILED' || record.status === 'PARTIAL') {
          return check(
            'instance',
            'fail',
            title,
            `${name} ended without a workflow error, but its run was recorded ${record.status}${record.reason ? `: ${truncate(record.reason.replace(/\s+/g, ' '), 300)}` : ''}`,
            `autoprov history ${instanceId} shows each attempt and links the log; fix the cause, then autoprov retry ${instanceId}`,
          );
        }
        return check('instance', 'ok', title, `${name} SUCCEEDED`);
      case 'RUNNING':
        return check(
          'instance',
          'warn',
          title,
          `${name} RUNNING since ${formatTime(execution.startDate?.toISOString())}`,
        );
      default: {
        const error = [
          execution.error,
          execution.cause ? truncate(execution.cause.replace(/\s+/g, ' '), 300) : undefined,
        ]
          .filter(Boolean)
          .join(': ');
        return check(
          'instance',
          'fail',
          title,
          `${name} ${execution.status ?? 'UNKNOWN'}${error ? ` — ${error}` : ''}`,
          `open it in the console (autoprov history ${instanceId}); fix the cause, then autoprov retry ${instanceId}`,
        );
      }
    }
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist || (error as Error).name === 'ExecutionDoesNotExist') {
      return check(
        'instance',
        'fail',
        title,
        `${record.executionName} was claimed but never started (StartExecution failed)`,
        `the sweep reclaims it when the lease expires; or autoprov retry ${instanceId}`,
      );
    }
    return couldNotCheck('instance', title, error, 'states:DescribeExecution');
  }
}

/** Messages waiting in the dead-letter queues: events or invocations that failed every retry. */
export async function checkQueues(sqs: Send<SQSClient>, urls: readonly string[]): Promise<Check[]> {
  if (urls.length === 0) {
    return [
      check(
        'stack',
        'warn',
        'Dead-letter queues',
        'not checked: no queue URL known',
        'pass --stack <name> (reads the outputs) or --dlq <url>',
      ),
    ];
  }
  return Promise.all(
    urls.map(async (url) => {
      const title = `Dead-letter queue ${url.slice(url.lastIndexOf('/') + 1)}`;
      try {
        const { Attributes } = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        const depth =
          Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
          Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
        if (depth === 0) return check('stack', 'ok', title, 'empty');
        return check(
          'stack',
          'fail',
          title,
          `${depth} message${depth === 1 ? '' : 's'}: events or invocations that failed every retry`,
          `read them (aws sqs receive-message --queue-url ${url} --max-number-of-messages 10), fix the cause, then purge the queue`,
        );
      } catch (error) {
        return couldNotCheck('stack', title, error, 'sqs:GetQueueAttributes');
      }
    }),
  );
}

/**
 * Failed runs of the last `hours`: executions that ended FAILED (a workflow error) and runs whose recorded
 * outcome is FAILED or PARTIAL. A failed playbook does not fail its execution — the workflow records the
 * outcome, notifies and ends SUCCEEDED — so the executions alone miss every failed playbook.
 * `failedRecords` are the records with status FAILED or PARTIAL (undefined: the table is unknown).
 */
export async function checkRecentFailures(
  sfn: Send<SFNClient>,
  stateMachineArn: string | undefined,
  now: Date,
  hours = 24,
  failedRecords?: readonly InstanceRecord[],
): Promise<Check> {
  const title = 'Recent failed executions';
  const since = now.getTime() - hours * 3_600_000;
  const failed = new Map<string, string>(); // execution (or instance) → what failed
  for (const record of failedRecords ?? []) {
    const at = record.lastRunAt ?? record.updatedAt;
    if (Date.parse(at) < since) continue;
    failed.set(record.executionName ?? record.instanceId, `${record.status}`);
  }
  let executionsError: unknown;
  if (stateMachineArn) {
    try {
      const { executions } = await sfn.send(
        new ListExecutionsCommand({ stateMachineArn, statusFilter: 'FAILED', maxResults: 100 }),
      );
      for (const execution of executions ?? []) {
        if ((execution.stopDate ?? execution.startDate ?? now).getTime() < since) continue;
        const name = execution.name ?? '?';
        failed.set(name, failed.has(name) ? `${failed.get(name)}, execution FAILED` : 'execution FAILED');
      }
    } catch (error) {
      executionsError = error;
    }
  }
  const unchecked = [
    ...(stateMachineArn
      ? []
      : ['the state machine is unknown (pass --state-machine <arn> or --stack <name>)']),
    ...(failedRecords ? [] : ['the table is unknown (pass --table <name> or --stack <name>)']),
  ];
  if (failed.size === 0) {
    if (executionsError) return couldNotCheck('stack', title, executionsError, 'states:ListExecutions');
    if (!stateMachineArn && !failedRecords) {
      return check(
        'stack',
        'warn',
        title,
        'not checked: the state machine and the table are unknown',
        'pass --state-machine <arn> and --table <name>, or --stack <name>',
      );
    }
    if (unchecked.length > 0) return check('stack', 'warn', title, `none found, but ${unchecked.join('; ')}`);
    return check('stack', 'ok', title, `none in the last ${hours} h`);
  }
  const entries = [...failed.entries()];
  const shown = entries.slice(0, 5).map(([name, what]) => `${name} (${what})`);
  return check(
    'stack',
    'warn',
    title,
    `${failed.size} in the last ${hours} h: ${shown.join(', ')}${failed.size > shown.length ? ', …' : ''}`,
    'autoprov status --status FAILED lists the instances; autoprov doctor <instance> explains one; autoprov retry --failed re-runs them',
  );
}
