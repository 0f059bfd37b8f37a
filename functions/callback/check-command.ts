// Timeout path: the workflow's callback wait timed out (a lost status event, or a command still
// running). Ask SSM directly, record what it says, and answer synchronously.
import { CancelCommandCommand } from '@aws-sdk/client-ssm';
import { playbookFailureHeadline } from '../core/failure-text.js';
import {
  InvalidInputError,
  isTransientAwsError,
  PlaybookFailedError,
  StaleGenerationError,
} from '../shared/errors.js';
import type { ActiveCommand, InstanceRecord } from '../shared/state-store-api.js';
import type { CheckCommandInput, CommandResult } from '../shared/workflow-contract.js';
import {
  type CallbackDeps,
  type CommandEnd,
  commandEndOf,
  commandResultOf,
  failureCauseOf,
  readInvocation,
  recordCommandEnd,
} from './command-end.js';
import { failureCause, isTerminalInvocationStatus } from './command-status.js';

function isWaitedCommand(
  active: ActiveCommand | undefined,
  input: CheckCommandInput,
): active is ActiveCommand {
  return (
    active?.kind === input.kind && (input.kind !== 'playbook' || active.playbookIndex === input.playbookIndex)
  );
}

export async function checkCommand(input: CheckCommandInput, deps: CallbackDeps): Promise<CommandResult> {
  const { instanceId, generation } = input;
  const record = await deps.store.getInstance(instanceId);
  if (!record) throw new InvalidInputError(`check-command: instance ${instanceId} has no state record.`);
  if (record.generation !== generation) {
    throw new StaleGenerationError(instanceId, generation, `the record is at g${record.generation}`);
  }
  const active = record.activeCommand;
  if (!isWaitedCommand(active, input)) return alreadyRecorded(record, input);
  if (!active.commandId) {
    throw new PlaybookFailedError(
      `${instanceId}: no command id was recorded for ${input.kind} attempt ${active.attempt}: SendCommand never returned.`,
    );
  }

  const invocation = await readInvocation(deps.ssm, active.commandId, instanceId, active.kind, deps.s3);
  const file = active.kind === 'playbook' ? record.playbooks?.[active.playbookIndex ?? -1]?.file : undefined;
  let end: CommandEnd = commandEndOf(active.commandId, invocation);
  const stillRunning = !isTerminalInvocationStatus(invocation.status);
  if (stillRunning) {
    // Past the task timeout the workflow moves on; a command left running would race the next attempt.
    await cancel(deps, active.commandId, instanceId);
    end = { ...end, ssmStatus: `${invocation.status} (cancelled: timed out waiting)`, status: 'TimedOut' };
  }
  const recorded = await recordCommandEnd(record, active, end, deps);
  if (!recorded.ok && recorded.alreadyRecorded) {
    // The status event arrived meanwhile and recorded the result: answer from the record.
    const now = await deps.store.getInstance(instanceId);
    if (now) return alreadyRecorded(now, input);
  }
  if (!recorded.ok) throw new StaleGenerationError(instanceId, generation, recorded.message);
  if (end.status === 'Success') return commandResultOf(end, recorded.logUrl);
  if (stillRunning) {
    throw new PlaybookFailedError(
      `timed out waiting for command ${active.commandId} on ${instanceId} (${invocation.status}); cancelled it. ` +
        failureCauseOf(end, recorded.logUrl, file),
    );
  }
  throw new PlaybookFailedError(failureCauseOf(end, recorded.logUrl, file));
}

/**
 * No active command for this step: the callback already recorded its end but could not answer the
 * workflow (its async retries ran out). The recorded result is the answer.
 */
function alreadyRecorded(record: InstanceRecord, input: CheckCommandInput): CommandResult {
  const result = input.kind === 'playbook' ? record.playbooks?.[input.playbookIndex ?? -1] : undefined;
  if (!result?.commandId || result.status === 'Pending' || result.status === 'InProgress') {
    throw new PlaybookFailedError(
      `${record.instanceId}: no ${input.kind} command is active or recorded for this step; nothing was run.`,
    );
  }
  const logUrl = result.logUrl;
  if (result.status === 'Success') {
    return {
      commandId: result.commandId,
      status: 'Success',
      exitCode: result.exitCode ?? 0,
      ...(logUrl ? { logUrl } : {}),
    };
  }
  throw new PlaybookFailedError(
    failureCause({
      reason: playbookFailureHeadline(result),
      commandId: result.commandId,
      status: result.status,
      ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
      ...(result.outputTail ? { outputTail: result.outputTail } : {}),
      ...(logUrl ? { logUrl } : {}),
    }),
  );
}

async function cancel(deps: CallbackDeps, commandId: string, instanceId: string): Promise<void> {
  try {
    await deps.ssm.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] }));
  } catch (error) {
    // Best effort: the command's own TimeoutSeconds still ends it on the host.
    deps.logger.warn('Could not cancel the command', {
      commandId,
      transient: isTransientAwsError(error),
      error,
    });
  }
}
