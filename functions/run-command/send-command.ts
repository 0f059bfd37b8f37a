// Starts one workflow step on the host: stores the task token (fenced) BEFORE SendCommand, so the
// callback λ can always find whom to wake up; then records the command id and the audit trail. A retried
// step adopts the command it already sent instead of sending another (docs/adr/0009).
import {
  CancelCommandCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { RulesBundle } from '../core/types.js';
import {
  InvalidInputError,
  isTransientAwsError,
  PlaybookFailedError,
  StaleGenerationError,
  TransientError,
} from '../shared/errors.js';
import type { DebugLogger } from '../shared/logger.js';
import type { ActiveCommand, HistoryEvent, StateStoreApi } from '../shared/state-store-api.js';
import { executionNameOf, type RunCommandInput } from '../shared/workflow-contract.js';
import { buildCommandRequest, commandKey, isCommentOf, type RunCommandSettings } from './command-request.js';

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
      // A hybrid node (mi-…) has no instance profile: its activation's service role stands in for one.
      const why = input.instanceId.startsWith('mi-')
        ? 'its SSM agent is not registered or not Online (the node is down, or its hybrid activation expired), ' +
          "or its activation's IAM service role does not allow Systems Manager"
        : 'its SSM agent is not registered or not Online, the instance is not running, or its instance ' +
          'profile does not allow Systems Manager';
      throw new PlaybookFailedError(
        `SSM cannot run commands on ${input.instanceId} (InvalidInstanceId): ${why}. Check the node in ` +
          'Fleet Manager and that it carries the opt-in tag.',
        { cause: error },
      );
    }
    throw error;
  }
}

/** SSM's clock and ours differ: list commands from a little before the token was stored. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** The command this step already sent (found by the key its Comment opens with), if any. */
async function findSentCommand(
  deps: RunCommandDeps,
  input: RunCommandInput,
  active: ActiveCommand,
): Promise<string | undefined> {
  if (active.commandId) return active.commandId;
  const key = commandKey(input);
  const since = active.requestedAt ? Date.parse(active.requestedAt) - CLOCK_SKEW_MS : undefined;
  let NextToken: string | undefined;
  try {
    do {
      const page = await deps.ssm.send(
        new ListCommandsCommand({
          InstanceId: input.instanceId,
          ...(since !== undefined && !Number.isNaN(since)
            ? { Filters: [{ key: 'InvokedAfter', value: new Date(since).toISOString() }] }
            : {}),
          MaxResults: 50,
          NextToken,
        }),
      );
      const found = page.Commands?.find((c) => isCommentOf(c.Comment, key));
      if (found?.CommandId) return found.CommandId;
      NextToken = page.NextToken;
    } while (NextToken);
  } catch (error) {
    if (isTransientAwsError(error)) {
      throw new TransientError(
        `run-command: ListCommands for ${input.instanceId} failed transiently (${errorName(error)}); the workflow retries it.`,
        { cause: error },
      );
    }
    throw error;
  }
  return undefined;
}

/** The same step of the same run (generation, kind, playbook, attempt) under another task token: a retry. */
function isRetryOfThisStep(
  active: ActiveCommand | undefined,
  input: RunCommandInput,
): active is ActiveCommand {
  return (
    active !== undefined &&
    active.taskToken !== input.taskToken &&
    active.kind === input.kind &&
    active.attempt === input.attempt &&
    (input.kind !== 'playbook' || active.playbookIndex === input.playbookIndex)
  );
}

export async function runCommand(
  input: RunCommandInput,
  deps: RunCommandDeps,
): Promise<{ commandId: string; adopted?: true }> {
  const { instanceId, generation, taskToken } = input;
  const actor = `workflow:${executionNameOf(instanceId, generation)}`;
  const record = await deps.store.getInstance(instanceId);
  if (input.kind === 'playbook' && !record) {
    throw new InvalidInputError(`run-command: instance ${instanceId} has no state record.`);
  }
  const active = record?.generation === generation ? record.activeCommand : undefined;
  if (active?.taskToken === taskToken && active.commandId) {
    // A re-delivered invocation of the same task: the command is already running, never send twice.
    deps.logger.warn('Command already sent for this task token', { commandId: active.commandId });
    return { commandId: active.commandId };
  }
  if (isRetryOfThisStep(active, input)) {
    // The workflow retried this step (a transient error after SendCommand, e.g. a throttled write): the
    // command may be running already. Adopt it under the new token instead of sending a second one.
    const sent = await findSentCommand(deps, input, active);
    if (sent) return adopt(deps, input, active, sent, actor);
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
      requestedAt: deps.now().toISOString(),
    },
    deps.now(),
  );
  if (!stored.ok)
    throw new StaleGenerationError(instanceId, generation, `command not sent: ${stored.message}`);

  const commandId = await sendCommand(deps, input, new SendCommandCommand(request.command));
  const sentAt = deps.now();
  // A transient failure here is retried by the workflow, which then finds this command by its Comment.
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

  // From here the command runs and the workflow waits on its token: nothing may fail the step any more
  // (a retry would look for a command the callback may already have recorded). History is best effort.
  const at = sentAt.toISOString();
  const history: HistoryEvent[] = request.adjustments.map((adjustment) => ({
    instanceId,
    type: 'VARS_ADJUSTED',
    at,
    actor,
    generation,
    // The variable first: a reader (history, npm start's summary) sees which one even when the line is cut.
    reason: `${adjustment.key} ${adjustment.action}${adjustment.sentAs ? ` as ${adjustment.sentAs}` : ''}: ${adjustment.reason}`,
    // Keys and reasons only: the value may be the very secret or payload that could not be sent raw.
    details: {
      playbook: request.label,
      commandId,
      key: adjustment.key,
      action: adjustment.action,
      ...(adjustment.sentAs ? { sentAs: adjustment.sentAs } : {}),
    },
  }));
  history.push({
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
  await appendBestEffort(deps, history);
  deps.logger.info('Command sent', {
    commandId,
    kind: input.kind,
    playbook: request.label,
    attempt: input.attempt,
  });
  return { commandId };
}

/**
 * Takes over the command this step already sent: stores the new task token with its id (fenced), so the
 * callback wakes this try. A status event that came while the id was not stored yet was refused as
 * transient by the callback and is retried; one that finds the old token answers a task that no longer
 * waits, and the task timeout's "ask SSM" path reads the recorded result (docs/adr/0009).
 */
async function adopt(
  deps: RunCommandDeps,
  input: RunCommandInput,
  active: ActiveCommand,
  commandId: string,
  actor: string,
): Promise<{ commandId: string; adopted: true }> {
  const { instanceId, generation, taskToken } = input;
  const now = deps.now();
  const stored = await deps.store.setActiveCommand(
    instanceId,
    generation,
    { ...active, taskToken, commandId, sentAt: active.sentAt ?? now.toISOString() },
    now,
  );
  if (!stored.ok) {
    throw new StaleGenerationError(
      instanceId,
      generation,
      `command ${commandId} not adopted: ${stored.message}`,
    );
  }
  await appendBestEffort(deps, [
    {
      instanceId,
      type: 'COMMAND_SENT',
      at: now.toISOString(),
      actor,
      generation,
      reason: 'adopted by a retried step: the command was already sent',
      details: { commandId, kind: input.kind, attempt: input.attempt, adopted: true },
    },
  ]);
  deps.logger.info('Command already sent for this step: adopted under the new task token', {
    commandId,
    kind: input.kind,
    attempt: input.attempt,
  });
  return { commandId, adopted: true };
}

async function appendBestEffort(deps: RunCommandDeps, events: readonly HistoryEvent[]): Promise<void> {
  for (const event of events) {
    try {
      await deps.store.appendHistory(event);
    } catch (error) {
      deps.logger.warn('Could not write a history event; the command runs regardless', {
        type: event.type,
        error,
      });
    }
  }
}
