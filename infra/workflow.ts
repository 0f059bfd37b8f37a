// The provisioning workflow (docs/architecture.md "Workflow"): one Standard execution per instance and generation, written in
// JSONPath so the synthesized ASL runs unchanged in aws-local-stepfunctions (docs/adr/0003). It reads like
// the runbook an operator would follow: match → wait for the agent → ensure Ansible → run each playbook with
// its own retry budget → record (fenced) → notify once. States are declared first, then wired in one block.
//
// Happy path, 2 playbooks, agent already Online, ansibleInstall=autoprov — states entered (budget ≤ 16):
//   Match rules → Any playbook matched? → Is the SSM agent online? → Agent online? → Ensure Ansible is
//   installed → Run playbooks in order → Run playbook (×2) → Record the outcome → Send one notification →
//   Provisioning finished  = 11 (10 without the ensure step).
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { TASK_TIMEOUT_MARGIN_SECONDS } from '../functions/core/command-timing.js';
import { WorkflowErrors } from '../functions/shared/workflow-contract.js';
import { acknowledge, nagArn } from './nag.js';
import {
  AGENT_CHECK_INTERVAL_SECONDS,
  AGENT_CHECK_TASK_TIMEOUT,
  ENSURE_ANSIBLE_TASK_TIMEOUT_SECONDS,
  LAMBDA_TASK_TIMEOUT,
  TRANSIENT_RETRY,
} from './retries.js';

/** Seconds between two agent checks (infra/retries.ts); the match λ sizes agentChecksLeft with it. */
/**
 * Margin added to a command's own timeout for the callback wait: SendCommand's delivery timeout plus a
 * download allowance, from the module the run-command λ takes its delivery timeout from.
 */
export { AGENT_CHECK_INTERVAL_SECONDS, TASK_TIMEOUT_MARGIN_SECONDS };

/** Errors worth retrying on a Lambda task: the service's own transient failures and our TransientError. */
const TRANSIENT_LAMBDA_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
  WorkflowErrors.Transient,
];

/**
 * Errors of the DescribeInstanceInformation SDK integration worth retrying: throttling and SSM's own
 * server error, by their own names. Not `Ssm.SsmException`: Step Functions reports every error SSM's model
 * does not name that way — AccessDenied, signature and validation errors — and those never heal by
 * retrying; they fail the run at once with their message (scripts/local/sfn-task-implementations.ts names them alike).
 */
const TRANSIENT_SSM_ERRORS = ['Ssm.ThrottlingException', 'Ssm.InternalServerErrorException'];

/**
 * DescribeInstanceInformation's answer for a node whose agent has not registered yet, as an error: it is
 * "not Online yet", like an empty InstanceInformationList, not a failure.
 */
const AGENT_NOT_REGISTERED_ERRORS = ['Ssm.InvalidInstanceIdException'];

const $ = sfn.JsonPath;
/** What every step is given: the instance and the generation its writes are fenced on. */
const ids = { instanceId: $.stringAt('$.instanceId'), generation: $.numberAt('$.generation') };

export interface ProvisioningWorkflowProps {
  readonly match: lambda.IFunction;
  readonly runCommand: lambda.IFunction;
  /** The callback entry's `checkHandler`: asks SSM for a command's result after a lost status event. */
  readonly checkCommand: lambda.IFunction;
  readonly record: lambda.IFunction;
  readonly notifier: lambda.IFunction;
  /** Run the ensure-Ansible step before the first playbook (ansibleInstall = 'autoprov'). */
  readonly ensureAnsible: boolean;
  readonly logRetention: logs.RetentionDays;
  /**
   * Fixed name, so functions can be given the ARN without a dependency cycle (the notifier links to
   * executions; the workflow invokes the notifier).
   */
  readonly stateMachineName: string;
}

export class ProvisioningWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ProvisioningWorkflowProps) {
    super(scope, id);
    // ---- States -------------------------------------------------------------------------------------
    const states: WorkflowStates = {
      ...matchStates(this, props),
      ...agentStates(this, props),
      ...ensureAnsibleStates(this, props),
      ...playbookStates(this, props),
      ...outcomeStates(this, props),
    };
    // ---- Wiring ---------------------------------------------------------------------------------------
    wireStates(states, props.ensureAnsible);

    // ---- State machine --------------------------------------------------------------------------------
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      comment:
        'Ansible AutoProvisioner: provisions one instance (execution name <instanceId>-g<generation>).',
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(states.matchRules),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    acknowledgeRolePolicy(this.stateMachine, props);
  }
}

/** A synchronous Lambda step: its payload, its result (or `resultPath`), transient errors retried. */
function invoke(
  scope: Construct,
  name: string,
  fn: lambda.IFunction,
  payload: Record<string, unknown>,
  comment: string,
  resultPath?: string,
) {
  return new tasks.LambdaInvoke(scope, name, {
    comment,
    ...(resultPath ? { resultPath } : {}),
    lambdaFunction: fn,
    payload: sfn.TaskInput.fromObject(payload),
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    taskTimeout: sfn.Timeout.duration(LAMBDA_TASK_TIMEOUT),
  }).addRetry({ errors: TRANSIENT_LAMBDA_ERRORS, ...TRANSIENT_RETRY });
}

/** A step that sends an SSM command through the run-command λ and waits for its callback (task token). */
function waitForCommand(
  scope: Construct,
  runCommand: lambda.IFunction,
  name: string,
  payload: Record<string, unknown>,
  timeout: sfn.Timeout,
  comment: string,
) {
  return new tasks.LambdaInvoke(scope, name, {
    comment,
    lambdaFunction: runCommand,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({ taskToken: $.taskToken, ...ids, ...payload }),
    retryOnServiceExceptions: false,
    taskTimeout: timeout,
    // The command's result is on the instance record; keep the state small.
    resultPath: $.DISCARD,
  }).addRetry({ errors: TRANSIENT_LAMBDA_ERRORS, ...TRANSIENT_RETRY });
}

type WorkflowStates = ReturnType<typeof matchStates> &
  ReturnType<typeof agentStates> &
  ReturnType<typeof ensureAnsibleStates> &
  ReturnType<typeof playbookStates> &
  ReturnType<typeof outcomeStates>;

/** Which playbooks the instance gets; none matched is recorded SKIPPED. */
function matchStates(scope: Construct, props: ProvisioningWorkflowProps) {
  const matchRules = invoke(
    scope,
    'Match rules',
    props.match,
    ids,
    'Which playbooks does this instance get? Reads its facts from the record, writes the plan (fenced).',
  );
  const anyMatched = new sfn.Choice(scope, 'Any playbook matched?');
  const recordSkipped = invoke(
    scope,
    'Record skipped',
    props.record,
    { ...ids, status: 'SKIPPED' },
    'No rule matched: record SKIPPED. Nothing to notify.',
  );
  return { matchRules, anyMatched, recordSkipped };
}

/** The wait for an Online SSM agent: check, wait, count down the checks the match step allowed. */
function agentStates(scope: Construct, props: ProvisioningWorkflowProps) {
  const isAgentOnline = new tasks.CallAwsService(scope, 'Is the SSM agent online?', {
    comment:
      'Asks SSM for the instance ping status. The run commands need an Online agent; an agent not registered yet (empty list or InvalidInstanceId) is checked again.',
    service: 'ssm',
    action: 'describeInstanceInformation',
    iamAction: 'ssm:DescribeInstanceInformation',
    // DescribeInstanceInformation has no resource-level permissions.
    iamResources: ['*'],
    parameters: { Filters: [{ Key: 'InstanceIds', Values: $.array($.stringAt('$.instanceId')) }] },
    resultSelector: { 'instances.$': '$.InstanceInformationList' },
    resultPath: '$.agent',
    taskTimeout: sfn.Timeout.duration(AGENT_CHECK_TASK_TIMEOUT),
  }).addRetry({ errors: TRANSIENT_SSM_ERRORS, ...TRANSIENT_RETRY });
  const agentOnline = new sfn.Choice(scope, 'Agent online?');
  const agentChecksLeft = new sfn.Choice(scope, 'Agent checks left?');
  const waitForAgent = new sfn.Wait(scope, 'Wait for the agent', {
    comment: `Checks again in ${AGENT_CHECK_INTERVAL_SECONDS} s; the match step sized the number of checks from agentWaitSeconds.`,
    time: sfn.WaitTime.duration(Duration.seconds(AGENT_CHECK_INTERVAL_SECONDS)),
  });
  const countAgentCheck = new sfn.Pass(scope, 'Count the agent check', {
    parameters: {
      ...ids,
      playbooks: $.listAt('$.playbooks'),
      agentChecksLeft: $.mathAdd($.numberAt('$.agentChecksLeft'), -1),
    },
  });
  const recordAgentNotOnline = invoke(
    scope,
    'Record agent not online',
    props.record,
    {
      ...ids,
      status: 'FAILED',
      reason: `${WorkflowErrors.AgentNotOnline}: the SSM agent did not report Online within agentWaitSeconds. Check the instance profile (AmazonSSMManagedInstanceCore) and its route to the SSM endpoints.`,
    },
    'Record FAILED: the agent never came Online.',
  );
  return { isAgentOnline, agentOnline, agentChecksLeft, waitForAgent, countAgentCheck, recordAgentNotOnline };
}

/** Our ensure-Ansible command (ansibleInstall = 'autoprov'), and the direct check when its event is lost. */
function ensureAnsibleStates(scope: Construct, props: ProvisioningWorkflowProps) {
  const ensureAnsible = waitForCommand(
    scope,
    props.runCommand,
    'Ensure Ansible is installed',
    { kind: 'ensure-ansible', attempt: 1 },
    sfn.Timeout.duration(Duration.seconds(ENSURE_ANSIBLE_TASK_TIMEOUT_SECONDS)),
    'Sends our ensure-Ansible document and waits for its status event (task token).',
  );
  const askSsmAboutAnsible = invoke(
    scope,
    'Ask SSM whether Ansible is installed',
    props.checkCommand,
    { ...ids, kind: 'ensure-ansible' },
    'The status event did not arrive in time: read the command result from SSM directly.',
    // Keep the state (the playbooks to run next): only success or failure of this step matters.
    $.DISCARD,
  );
  return { ensureAnsible, askSsmAboutAnsible };
}

/** Each playbook in rule order, with its own attempts and backoff; the Map stops at one failed for good. */
function playbookStates(scope: Construct, props: ProvisioningWorkflowProps) {
  const runPlaybooks = new sfn.Map(scope, 'Run playbooks in order', {
    comment: 'One playbook at a time, in rule order; stops at the first that fails for good.',
    itemsPath: '$.playbooks',
    maxConcurrency: 1,
    itemSelector: {
      ...ids,
      step: $.stringAt('$$.Map.Item.Value'),
      attempt: 1,
      retryIndex: 0,
      retries: $.arrayLength($.listAt('$$.Map.Item.Value.retryDelays')),
    },
    resultPath: $.DISCARD,
  });
  const runPlaybook = waitForCommand(
    scope,
    props.runCommand,
    'Run playbook',
    {
      kind: 'playbook',
      playbookIndex: $.numberAt('$.step.index'),
      attempt: $.numberAt('$.attempt'),
    },
    sfn.Timeout.at('$.step.taskTimeoutSeconds'),
    'SendCommand AWS-ApplyAnsiblePlaybooks, then wait for the callback (task token): no polling.',
  );
  const askSsmForResult = invoke(
    scope,
    'Ask SSM for the result',
    props.checkCommand,
    { ...ids, kind: 'playbook', playbookIndex: $.numberAt('$.step.index') },
    'The status event did not arrive in time: read the command result from SSM directly.',
  );
  const attemptsLeft = new sfn.Choice(scope, 'Attempts left?');
  const countAttempt = new sfn.Pass(scope, 'Count the attempt', {
    comment: 'Next attempt, and its delay from the rule budget the match step computed (retryDelays).',
    parameters: {
      ...ids,
      step: $.objectAt('$.step'),
      retries: $.numberAt('$.retries'),
      attempt: $.mathAdd($.numberAt('$.attempt'), 1),
      retryIndex: $.mathAdd($.numberAt('$.retryIndex'), 1),
      delay: $.arrayGetItem($.listAt('$.step.retryDelays'), $.numberAt('$.retryIndex')),
    },
  });
  const waitBeforeRetrying = new sfn.Wait(scope, 'Wait before retrying', {
    time: sfn.WaitTime.secondsPath('$.delay'),
  });
  const failedForGood = new sfn.Fail(scope, 'Playbook failed for good', {
    comment: 'Every attempt failed: the Map stops here and the run is recorded as FAILED or PARTIAL.',
    error: WorkflowErrors.PlaybookFailed,
    causePath: '$.error.Cause',
  });
  return {
    runPlaybooks,
    runPlaybook,
    askSsmForResult,
    attemptsLeft,
    countAttempt,
    waitBeforeRetrying,
    failedForGood,
  };
}

/** Record the outcome (or the failure a Catch captured), fenced; notify once; or stop for a newer run. */
function outcomeStates(scope: Construct, props: ProvisioningWorkflowProps) {
  const recordOutcome = invoke(
    scope,
    'Record the outcome',
    props.record,
    ids,
    'SUCCESS / PARTIAL / FAILED from the per-playbook results on the record; the write is fenced on generation.',
  );
  const recordFailure = invoke(
    scope,
    'Record the failure',
    props.record,
    { ...ids, error: $.objectAt('$.error') },
    'The one failure path: records FAILED (or PARTIAL) with the error a Catch captured; fenced on generation.',
  );
  const notify = new tasks.LambdaInvoke(scope, 'Send one notification', {
    comment:
      'At most one message per instance, generation and status (SNS, and Slack/Telegram if configured).',
    lambdaFunction: props.notifier,
    // The record step's RecordOutput, field by field (the contract the notifier parses).
    payload: sfn.TaskInput.fromObject({
      ...ids,
      status: $.stringAt('$.status'),
      notify: $.stringAt('$.notify'),
    }),
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    taskTimeout: sfn.Timeout.duration(LAMBDA_TASK_TIMEOUT),
    // The execution's output: the recorded outcome plus which channels were told.
    resultPath: '$.notification',
  }).addRetry({ errors: TRANSIENT_LAMBDA_ERRORS, ...TRANSIENT_RETRY });
  const finished = new sfn.Succeed(scope, 'Provisioning finished');
  const staleRun = new sfn.Succeed(scope, 'Stop: a newer run owns this instance', {
    comment:
      'A fenced write was refused: a later claim (higher generation) took over. Not an error of this run.',
  });
  return { recordOutcome, recordFailure, notify, finished, staleRun };
}

/** The transitions, catches and retry loops between the states, in the order a run takes them. */
function wireStates(s: WorkflowStates, ensureAnsible: boolean): void {
  const stale = { errors: [WorkflowErrors.StaleGeneration], resultPath: '$.error' };
  const failure = { errors: [sfn.Errors.ALL], resultPath: '$.error' };
  const afterAgent = ensureAnsible ? s.ensureAnsible : s.runPlaybooks;

  s.matchRules.addCatch(s.staleRun, stale).addCatch(s.recordFailure, failure).next(s.anyMatched);
  s.anyMatched
    .when(sfn.Condition.booleanEquals('$.matched', true), s.isAgentOnline, {
      comment: 'At least one rule selected a playbook.',
    })
    .otherwise(s.recordSkipped);
  s.recordSkipped.addCatch(s.staleRun, stale);

  s.isAgentOnline
    .addCatch(s.agentChecksLeft, { errors: AGENT_NOT_REGISTERED_ERRORS, resultPath: '$.agent' })
    .addCatch(s.recordFailure, failure)
    .next(s.agentOnline);
  s.agentOnline
    .when(
      sfn.Condition.and(
        sfn.Condition.isPresent('$.agent.instances[0].PingStatus'),
        sfn.Condition.stringEquals('$.agent.instances[0].PingStatus', 'Online'),
      ),
      afterAgent,
    )
    .otherwise(s.agentChecksLeft);
  s.agentChecksLeft
    .when(sfn.Condition.numberGreaterThan('$.agentChecksLeft', 0), s.waitForAgent)
    .otherwise(s.recordAgentNotOnline);
  s.waitForAgent.next(s.countAgentCheck);
  s.countAgentCheck.next(s.isAgentOnline);
  s.recordAgentNotOnline.addCatch(s.staleRun, stale).next(s.notify);

  if (ensureAnsible) {
    s.ensureAnsible
      .addCatch(s.staleRun, stale)
      .addCatch(s.askSsmAboutAnsible, { errors: [sfn.Errors.TIMEOUT], resultPath: '$.error' })
      .addCatch(s.recordFailure, failure)
      .next(s.runPlaybooks);
    s.askSsmAboutAnsible.addCatch(s.staleRun, stale).addCatch(s.recordFailure, failure).next(s.runPlaybooks);
  }

  s.runPlaybook
    .addCatch(s.attemptsLeft, { errors: [WorkflowErrors.PlaybookFailed], resultPath: '$.error' })
    .addCatch(s.askSsmForResult, { errors: [sfn.Errors.TIMEOUT], resultPath: '$.error' });
  s.askSsmForResult.addCatch(s.attemptsLeft, {
    errors: [WorkflowErrors.PlaybookFailed],
    resultPath: '$.error',
  });
  s.attemptsLeft
    .when(sfn.Condition.numberLessThanJsonPath('$.retryIndex', '$.retries'), s.countAttempt)
    .otherwise(s.failedForGood);
  s.countAttempt.next(s.waitBeforeRetrying);
  s.waitBeforeRetrying.next(s.runPlaybook);
  s.runPlaybooks.itemProcessor(s.runPlaybook);
  s.runPlaybooks.addCatch(s.staleRun, stale).addCatch(s.recordFailure, failure).next(s.recordOutcome);

  s.recordOutcome.addCatch(s.staleRun, stale).next(s.notify);
  s.recordFailure.addCatch(s.staleRun, stale).next(s.notify);
  s.notify.next(s.finished);
}

/**
 * cdk-nag acknowledgments on the state machine role's policy: the actions without resource-level
 * permissions, and the Lambda integration's grant on each of the workflow's own functions and versions.
 */
function acknowledgeRolePolicy(stateMachine: sfn.StateMachine, props: ProvisioningWorkflowProps): void {
  const policy = stateMachine.role.node.findChild('DefaultPolicy');
  acknowledge(
    policy,
    'AwsSolutions-IAM5[Resource::*]',
    'Only actions without resource-level permissions use "*": ssm:DescribeInstanceInformation (the agent check), X-Ray tracing, and the CloudWatch Logs delivery actions of execution logging.',
  );
  for (const fn of new Set([
    props.match,
    props.runCommand,
    props.checkCommand,
    props.record,
    props.notifier,
  ])) {
    acknowledge(
      policy,
      `AwsSolutions-IAM5[Resource::${nagArn(fn)}:*]`,
      "The Lambda task integration grants the function and its versions/aliases (`:*`); it is one of the workflow's own functions.",
    );
  }
}
