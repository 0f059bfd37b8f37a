// Callback λ. `handler`: EventBridge "EC2 Command Invocation Status-change Notification" → wakes the
// workflow task waiting on that command. `checkHandler`: the workflow's own question after its wait
// timed out ("did the command finish?"), answered from GetCommandInvocation.
// zod/mini: tree-shakeable, ~20 KB in the bundle where the classic API costs ~450 KB.
import * as z from 'zod/mini';
import { instanceIdInput } from '../core/instance-id.js';
import { clients } from '../shared/clients.js';
import { getStringFromEnv } from '../shared/config.js';
import { InvalidInputError, isTransientAwsError, TransientError } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { stateStoreFromEnv } from '../shared/store-from-env.js';
import type { CheckCommandInput, CommandResult } from '../shared/workflow-contract.js';
import { checkCommand } from './check-command.js';
import type { CallbackDeps } from './command-end.js';
import { type CallbackOutcome, reportInvocationStatus } from './report-status.js';

const deps: CallbackDeps = {
  store: stateStoreFromEnv(),
  ssm: clients.ssm(),
  s3: clients.s3(),
  sfn: clients.sfn(),
  settings: { region: getStringFromEnv('AWS_REGION'), outputLogGroup: getStringFromEnv('OUTPUT_LOG_GROUP') },
  now: () => new Date(),
  logger,
};

const instanceId = instanceIdInput;

const eventSchema = z.object({
  'detail-type': z.literal('EC2 Command Invocation Status-change Notification'),
  detail: z.object({
    'command-id': z.string().check(z.minLength(1)),
    'instance-id': instanceId,
    status: z.string().check(z.minLength(1)),
  }),
});

const checkSchema = z
  .object({
    instanceId,
    generation: z.int().check(z.positive()),
    kind: z.enum(['ensure-ansible', 'playbook']),
    playbookIndex: z.optional(z.int().check(z.nonnegative())),
  })
  .check(
    z.refine((input) => input.kind !== 'playbook' || input.playbookIndex !== undefined, {
      message: 'playbookIndex is required when kind is "playbook"',
      path: ['playbookIndex'],
    }),
  ) satisfies z.ZodMiniType<CheckCommandInput>;

/** Transient AWS errors (DynamoDB included) become TransientError: retried by Lambda's async retries / the workflow. */
function mapError(where: string, error: unknown): unknown {
  logger.error(`${where} failed`, { error });
  if (isTransientAwsError(error))
    return new TransientError(`${where}: ${(error as Error).message}`, { cause: error });
  return error;
}

export const handler = async (event: unknown): Promise<CallbackOutcome> => {
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      `callback: not an SSM command invocation status event: ${z.prettifyError(parsed.error)}`,
    );
  }
  const { 'command-id': commandId, 'instance-id': id, status } = parsed.data.detail;
  logger.appendKeys({ instanceId: id, commandId });
  try {
    const outcome = await reportInvocationStatus({ commandId, instanceId: id, status }, deps);
    logger.debug('Status event handled', { status, outcome });
    return outcome;
  } catch (error) {
    throw mapError('callback', error);
  } finally {
    logger.removeKeys(['instanceId', 'commandId']);
  }
};

export const checkHandler = async (event: unknown): Promise<CommandResult> => {
  const parsed = checkSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`check-command: invalid input: ${z.prettifyError(parsed.error)}`);
  }
  logger.appendKeys({ instanceId: parsed.data.instanceId, generation: parsed.data.generation });
  try {
    return await checkCommand(parsed.data, deps);
  } catch (error) {
    throw mapError('check-command', error);
  } finally {
    logger.removeKeys(['instanceId', 'generation']);
  }
};
