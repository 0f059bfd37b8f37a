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
    const $ = sfn.JsonPath;
    const ids = { instanceId: $.stringAt('$.instanceId'), generation: $.numberAt('$.generation') };

    const invoke = (
      name: string,
      fn: lambda.IFunction,
      payload: Record<string, unknown>,
      comment: string,
      resultPath?: string,
    ) =>
      new tasks.LambdaInvoke(this, name, {
        comment,
        ...(resultPath ? { resultPath } : {}),
        lambdaFunction: fn,
        payload: sfn.TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        taskTimeout: sfn.Timeout.duration(LAMBDA_TASK_TIMEOUT),
      }).addRetry({ errors: TRANSIENT_LAMBDA_ERRORS, ...TRANSIENT_RETRY });

    const waitForCommand = (
      name: string,
      payload: Record<string, unknown>,
      timeout: sfn.Timeout,
      comment: string,
    ) =>
      new tasks.LambdaInvoke(this, name, {
        comment,
        lambdaFunction: props.runCommand,
        integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload: sfn.TaskInput.fromObject({ taskToken: $.taskToken, ...ids, ...payload }),
        retryOnServiceExceptions: false,
        taskTimeout: timeout,
        // The command's result is on the instance record; keep the state small.
        resultPath: $.DISCARD,
      }).addRetry({ errors: TRANSIENT_LAMBDA_ERRORS, ...TRANSIENT_RETRY });

    // ---- States -------------------------------------------------------------------------------------
    const matchRules = invoke(
      'Match rules',
      props.match,
      ids,
      'Which playbooks does this instance get? Reads its facts from the record, writes the plan (fenced).',
    );
    const anyMatched = new sfn.Choice(this, 'Any playbook matched?');
    const recordSkipped = invoke(
      'Record skipped',
      props.record,
      { ...ids, status: 'SKIPPED' },
      'No rule matched: record SKIPPED. Nothing to notify.',
    );

    const isAgentOnline = new tasks.CallAwsService(this, 'Is the SSM agent online?', {
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
    const agentOnline = new sfn.Choice(this, 'Agent online?');
    const agentChecksLeft = new sfn.Choice(this, 'Agent checks left?');
    const waitForAgent = new sfn.Wait(this, 'Wait for the agent', {
      comment: `Checks again in ${AGENT_CHECK_INTERVAL_SECONDS} s; the match step sized the number of checks from agentWaitSeconds.`,
      time: sfn.WaitTime.duration(Duration.seconds(AGENT_CHECK_INTERVAL_SECONDS)),
    });
    const countAgentCheck = new sfn.Pass(this, 'Count the agent check', {
      parameters: {
        ...ids,
        playbooks: $.listAt('$.playbooks'),
        agentChecksLeft: $.mathAdd($.numberAt('$.agentChecksLeft'), -1),
      },
    });
    const recordAgentNotOnline = invoke(
      'Record agent not online',
      props.record,
      {
        ...ids,
        status: 'FAILED',
        reason: `${WorkflowErrors.AgentNotOnline}: the SSM agent did not report Online within agentWaitSeconds. Check the instance profile (AmazonSSMManagedInstanceCore) and its route to the SSM endpoints.`,
      },
      'Record FAILED: the agent never came Online.',
    );

    const ensureAnsible = waitForCommand(
      'Ensure Ansible is installed',
      { kind: 'ensure-ansible', attempt: 1 },
      sfn.Timeout.duration(Duration.seconds(ENSURE_ANSIBLE_TASK_TIMEOUT_SECONDS)),
      'Sends our ensure-Ansible document and waits for its status event (task token).',
    );
    const askSsmAboutAnsible = invoke(
      'Ask SSM whether Ansible is installed',
      props.checkCommand,
      { ...ids, kind: 'ensure-ansible' },
      'The status event did not arrive in time: read the command result from SSM directly.',
      // Keep the state (the playbooks to run next): only success or failure of this step matters.
      $.DISCARD,
    );

    const runPlaybooks = new sfn.Map(this, 'Run playbooks in order', {
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
      'Ask SSM for the result',
      props.checkCommand,
      { ...ids, kind: 'playbook', playbookIndex: $.numberAt('$.step.index') },
      'The status event did not arrive in time: read the command result from SSM directly.',
    );
    const attemptsLeft = new sfn.Choice(this, 'Attempts left?');
    const countAttempt = new sfn.Pass(this, 'Count the attempt', {
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
    const waitBeforeRetrying = new sfn.Wait(this, 'Wait before retrying', {
      time: sfn.WaitTime.secondsPath('$.delay'),
    });
    const failedForGood = new sfn.Fail(this, 'Playbook failed for good', {
      comment: 'Every attempt failed: the Map stops here and the run is recorded as FAILED or PARTIAL.',
      error: WorkflowErrors.PlaybookFailed,
      causePath: '$.error.Cause',
    });

    const recordOutcome = invoke(
      'Record the outcome',
      props.record,
      ids,
      'SUCCESS / PARTIAL / FAILED from the per-playbook results on the record; the write is fenced on generation.',
    );
    const recordFailure = invoke(
      'Record the failure',
      props.record,
      { ...ids, error: $.objectAt('$.error') },
      'The one failure path: records FAILED (or PARTIAL) with the error a Catch captured; fenced on generation.',
    );
    const notify = new tasks.LambdaInvoke(this, 'Send one notification', {
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
    const finished = new sfn.Succeed(this, 'Provisioning finished');
    const staleRun = new sfn.Succeed(this, 'Stop: a newer run owns this instance', {
      comment:
        'A fenced write was refused: a later claim (higher generation) took over. Not an error of this run.',
    });

    // ---- Wiring ---------------------------------------------------------------------------------------
    const stale = { errors: [WorkflowErrors.StaleGeneration], resultPath: '$.error' };
    const failure = { errors: [sfn.Errors.ALL], resultPath: '$.error' };
    const afterAgent = props.ensureAnsible ? ensureAnsible : runPlaybooks;

    matchRules.addCatch(staleRun, stale).addCatch(recordFailure, failure).next(anyMatched);
    anyMatched
      .when(sfn.Condition.booleanEquals('$.matched', true), isAgentOnline, {
        comment: 'At least one rule selected a playbook.',
      })
      .otherwise(recordSkipped);
    recordSkipped.addCatch(staleRun, stale);

    isAgentOnline
      .addCatch(agentChecksLeft, { errors: AGENT_NOT_REGISTERED_ERRORS, resultPath: '$.agent' })
      .addCatch(recordFailure, failure)
      .next(agentOnline);
    agentOnline
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent('$.agent.instances[0].PingStatus'),
          sfn.Condition.stringEquals('$.agent.instances[0].PingStatus', 'Online'),
        ),
        afterAgent,
      )
      .otherwise(agentChecksLeft);
    agentChecksLeft
      .when(sfn.Condition.numberGreaterThan('$.agentChecksLeft', 0), waitForAgent)
      .otherwise(recordAgentNotOnline);
    waitForAgent.next(countAgentCheck);
    countAgentCheck.next(isAgentOnline);
    recordAgentNotOnline.addCatch(staleRun, stale).next(notify);

    if (props.ensureAnsible) {
      ensureAnsible
        .addCatch(staleRun, stale)
        .addCatch(askSsmAboutAnsible, { errors: [sfn.Errors.TIMEOUT], resultPath: '$.error' })
        .addCatch(recordFailure, failure)
        .next(runPlaybooks);
      askSsmAboutAnsible.addCatch(staleRun, stale).addCatch(recordFailure, failure).next(runPlaybooks);
    }

    runPlaybook
      .addCatch(attemptsLeft, { errors: [WorkflowErrors.PlaybookFailed], resultPath: '$.error' })
      .addCatch(askSsmForResult, { errors: [sfn.Errors.TIMEOUT], resultPath: '$.error' });
    askSsmForResult.addCatch(attemptsLeft, {
      errors: [WorkflowErrors.PlaybookFailed],
      resultPath: '$.error',
    });
    attemptsLeft
      .when(sfn.Condition.numberLessThanJsonPath('$.retryIndex', '$.retries'), countAttempt)
      .otherwise(failedForGood);
    countAttempt.next(waitBeforeRetrying);
    waitBeforeRetrying.next(runPlaybook);
    runPlaybooks.itemProcessor(runPlaybook);
    runPlaybooks.addCatch(staleRun, stale).addCatch(recordFailure, failure).next(recordOutcome);

    recordOutcome.addCatch(staleRun, stale).next(notify);
    recordFailure.addCatch(staleRun, stale).next(notify);
    notify.next(finished);

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
      definitionBody: sfn.DefinitionBody.fromChainable(matchRules),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });

    const policy = this.stateMachine.role.node.findChild('DefaultPolicy');
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
}
