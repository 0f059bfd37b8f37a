// Starts one workflow step on the host: stores the task token (fenced) BEFORE SendCommand, so the
// callback λ can always find whom to wake up; then records the command id and the audit trail.
import { CancelCommandCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { RulesBundle } from '../core/types.js';
import {
  InvalidInputError,
  isTransientAwsError,
  PlaybookFailedError,
  StaleGenerationError,
  TransientError,
} from '../shared/errors.js';
import type { DebugLogger } from '../shared/logger.js';
import type { StateStoreApi } from '../shared/state-store-api.js';
import { executionNameOf, type RunCommandInput } from '../shared/workflow-contract.js';
import { buildCommandRequest, type RunCommandSettings } from './command-request.js';

export interface RunCommandDeps {
  readonly store: Pick<
    StateStoreApi,
    'getInstance' | 'setActiveCommand' | 'setActiveCommandId' | 'appendHistory'
  >;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly bundle: RulesBundle;
  readonly settings: RunCommandSettings;
  readonly now: () => Date;
  readonly logger: DebugLogger;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

async function sendCommand(deps: RunCommandDeps, input: RunCommandInput, request: SendCommandCommand) {
  try {
    const output = await deps.ssm.send(request);
    const commandId = output.Command?.CommandId;
    if (!commandId)
      throw new Error(`run-command: SendCommand for ${input.instanceId} returned no command id.`);
    return commandId;
  } catch (error) {
    if (isTransientAwsError(error)) {
      throw new TransientError(
        `run-command: SendCommand to ${input.instanceId} failed transiently (${errorName(error)}); the workflow retries it.`,
        { cause: error },
      );
    }
    if (errorName(error) === 'InvalidInstanceId') {
      throw new PlaybookFailedError(
        `SSM cannot run commands on ${input.instanceId} (InvalidInstanceId): its SSM agent is not registered ` +
          'or not Online, the instance is not running, or its instance profile does not allow Systems ' +
          'Manager. Check the node in Fleet Manager and that it carries the opt-in tag.',
        { cause: error },
      );
    }
    throw error;
  }
}

export async function runCommand(
  input: RunCommandInput,
  deps: RunCommandDeps,
): Promise<{ commandId: string }> {
  const { instanceId, generation, taskToken } = input;
  const actor = `workflow:${executionNameOf(instanceId, generation)}`;
  // ensure-ansible needs nothing from the record: skip the read (one API call less per run).
  const record = input.kind === 'playbook' ? await deps.store.getInstance(instanceId) : undefined;
  if (input.kind === 'playbook' && !record) {
    throw new InvalidInputError(`run-command: instance ${instanceId} has no state record.`);
  }
  const active = record?.activeCommand;
  if (active?.taskToken === taskToken && active.commandId) {
    // A re-delivered invocation of the same task: the command is already running, never send twice.
    deps.logger.warn('Command already sent for this task token', { commandId: active.commandId });
    return { commandId: active.commandId };
  }
  const request = buildCommandRequest(input, record, deps.bundle, deps.settings);

  const stored = await deps.store.setActiveCommand(
    instanceId,
    generation,
    {
      kind: input.kind,
      ...(input.kind === 'playbook' ? { playbookIndex: input.playbookIndex } : {}),
      attempt: input.attempt,
      taskToken,
    },
    deps.now(),
  );
  if (!stored.ok)
    throw new StaleGenerationError(instanceId, generation, `command not sent: ${stored.message}`);

  const commandId = await sendCommand(deps, input, new SendCommandCommand(request.command));
  const sentAt = deps.now();
  const withId = await deps.store.setActiveCommandId(instanceId, generation, taskToken, commandId, sentAt);
  if (!withId.ok) {
    // A newer claim took over while the command was being sent: it must not run under two owners.
    await deps.ssm
      .send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] }))
      .catch((error: unknown) =>
        deps.logger.warn('Could not cancel the superseded command', { commandId, error }),
      );
    throw new StaleGenerationError(
      instanceId,
      generation,
      `command ${commandId} cancelled: ${withId.message}`,
    );
  }

  const at = sentAt.toISOString();
  for (const adjustment of request.adjustments) {
    // Keys and reasons only: the value may be the very secret or payload that could not be sent raw.
    await deps.store.appendHistory({
      instanceId,
      type: 'VARS_ADJUSTED',
      at,
      actor,
      generation,
      reason: adjustment.reason,
      details: {
        playbook: request.label,
        commandId,
        key: adjustment.key,
        action: adjustment.action,
        ...(adjustment.sentAs ? { sentAs: adjustment.sentAs } : {}),
      },
    });
  }
  await deps.store.appendHistory({
    instanceId,
    type: 'COMMAND_SENT',
    at,
    actor,
    generation,
    details: {
      commandId,
      kind: input.kind,
      playbook: request.label,
      attempt: input.attempt,
      document: request.command.DocumentName,
    },
  });
  deps.logger.info('Command sent', {
    commandId,
    kind: input.kind,
    playbook: request.label,
    attempt: input.attempt,
  });
  return { commandId };
}
