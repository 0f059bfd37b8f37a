// Event path: an SSM invocation status event wakes the workflow task that waits on the command.
// Events are at-least-once and unordered; the record's active command says which one matters.
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { TransientError } from '../shared/errors.js';
import { WorkflowErrors } from '../shared/workflow-contract.js';
import {
  answerWorkflow,
  type CallbackDeps,
  type CommandEnd,
  commandEndOf,
  commandResultOf,
  failureCauseOf,
  logUrlOf,
  readInvocation,
  recordCommandEnd,
} from './command-end.js';
import { isTerminalInvocationStatus, runStatusOf } from './command-status.js';

export interface InvocationStatusChange {
  readonly commandId: string;
  readonly instanceId: string;
  readonly status: string;
}

export type CallbackOutcome = 'not-terminal' | 'not-active' | 'answered' | 'workflow-gone' | 'superseded';

export async function reportInvocationStatus(
  change: InvocationStatusChange,
  deps: CallbackDeps,
): Promise<CallbackOutcome> {
  const { commandId, instanceId, status } = change;
  if (!isTerminalInvocationStatus(status)) return 'not-terminal';

  const record = await deps.store.getInstance(instanceId);
  const active = record?.activeCommand;
  if (!record || !active) {
    deps.logger.info('No command is active on this instance: an old or duplicate event', {
      commandId,
      status,
    });
    return 'not-active';
  }
  if (active.commandId === undefined) {
    // The token is stored but SendCommand has not returned yet: this may be its (fast) command.
    throw new TransientError(
      `callback: ${instanceId} waits on a command whose id is not recorded yet; retrying event for ${commandId}.`,
    );
  }
  if (active.commandId !== commandId) {
    deps.logger.info('Event for a command the workflow no longer waits on', {
      commandId,
      active: active.commandId,
    });
    return 'not-active';
  }

  // Success needs no GetCommandInvocation (one API call less per playbook); failures need the output,
  // and so does a check-mode run (the tasks that would change).
  const planned = active.kind === 'playbook' ? record.playbooks?.[active.playbookIndex ?? -1] : undefined;
  const end: CommandEnd =
    runStatusOf(status) === 'Success' && !planned?.check
      ? { commandId, ssmStatus: status, status: 'Success', exitCode: 0 }
      : commandEndOf(commandId, await readFailedInvocation(deps, commandId, instanceId, status, active.kind));
  const file = planned?.file;

  const recorded = await recordCommandEnd(record, active, end, deps);
  if (!recorded.ok && recorded.alreadyRecorded) {
    // Another copy of this event (or an earlier try of this one) recorded the result: record nothing
    // again, but answer again — a used token is refused harmlessly, and a first answer that failed
    // (throttled SendTaskSuccess) must not leave the workflow waiting for its timeout.
    deps.logger.info('Duplicate status event: already recorded; answering the workflow again', { commandId });
    const logUrl = logUrlOf(deps.settings, commandId, instanceId);
    const again = await answerWorkflow(deps, answerOf(active.taskToken, end, logUrl, file));
    return again ? 'answered' : 'workflow-gone';
  }
  if (!recorded.ok) {
    // A newer claim owns the instance: release this stale execution instead of letting it time out.
    deps.logger.warn('Result refused by the generation fence', { commandId, message: recorded.message });
    const released = await answerWorkflow(
      deps,
      new SendTaskFailureCommand({
        taskToken: active.taskToken,
        error: WorkflowErrors.StaleGeneration,
        cause: `${instanceId} g${record.generation}: ${recorded.message}`,
      }),
    );
    return released ? 'superseded' : 'workflow-gone';
  }
  const answered = await answerWorkflow(deps, answerOf(active.taskToken, end, recorded.logUrl, file));
  deps.logger.info('Command ended', { commandId, status: end.status, kind: active.kind, answered });
  return answered ? 'answered' : 'workflow-gone';
}

/** The workflow's answer for a finished command: task success with the result, or PlaybookFailed. */
function answerOf(taskToken: string, end: CommandEnd, logUrl: string, file: string | undefined) {
  return end.status === 'Success'
    ? new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(commandResultOf(end, logUrl)) })
    : new SendTaskFailureCommand({
        taskToken,
        error: WorkflowErrors.PlaybookFailed,
        cause: failureCauseOf(end, logUrl, file),
      });
}

/** The failed invocation's output; if SSM will not say (not transiently), the event's status alone. */
async function readFailedInvocation(
  deps: CallbackDeps,
  commandId: string,
  instanceId: string,
  status: string,
  kind: 'ensure-ansible' | 'playbook',
) {
  try {
    return await readInvocation(deps.ssm, commandId, instanceId, kind, deps.s3);
  } catch (error) {
    if (error instanceof TransientError) throw error;
    deps.logger.warn('Could not read the failed invocation; reporting without its output', {
      commandId,
      error,
    });
    return { status, outputTail: '' };
  }
}
