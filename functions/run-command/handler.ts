// Run command λ (`.waitForTaskToken`): stores the task token, sends the SSM command, returns. The
// workflow wakes up when the callback λ reports the command's end (or its wait times out).
// zod/mini: tree-shakeable, ~20 KB in the bundle where the classic API costs ~450 KB.
import * as z from 'zod/mini';
import { loadBundle } from '../core/bundle-file.js';
import { instanceIdInput } from '../core/instance-id.js';
import { clients } from '../shared/clients.js';
import { ConfigError, getStringFromEnv } from '../shared/config.js';
import { InvalidInputError, isTransientAwsError, TransientError } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { stateStoreFromEnv } from '../shared/store-from-env.js';
import type { RunCommandInput } from '../shared/workflow-contract.js';
import type { RunCommandSettings } from './command-request.js';
import { runCommand } from './send-command.js';

function installDependencies(): boolean {
  const value = getStringFromEnv('INSTALL_DEPENDENCIES', 'False');
  if (value !== 'True' && value !== 'False') {
    throw new ConfigError(
      `INSTALL_DEPENDENCIES must be "True" or "False" (the document's values), got "${value}".`,
    );
  }
  return value === 'True';
}

const store = stateStoreFromEnv();
const ssm = clients.ssm();
const bundle = loadBundle();
const settings: RunCommandSettings = {
  bundleUrl: getStringFromEnv('BUNDLE_URL'),
  applyDocument: getStringFromEnv('APPLY_DOCUMENT'),
  ansibleInstallDocument: getStringFromEnv('ANSIBLE_INSTALL_DOCUMENT'),
  installDependencies: installDependencies(),
  outputLogGroup: getStringFromEnv('OUTPUT_LOG_GROUP'),
  outputBucket: getStringFromEnv('OUTPUT_BUCKET'),
};

const inputSchema = z
  .object({
    instanceId: instanceIdInput,
    generation: z.int().check(z.positive()),
    taskToken: z.string().check(z.minLength(1)),
    kind: z.enum(['ensure-ansible', 'playbook']),
    playbookIndex: z.optional(z.int().check(z.nonnegative())),
    attempt: z.int().check(z.positive()),
  })
  .check(
    z.refine((input) => input.kind !== 'playbook' || input.playbookIndex !== undefined, {
      message: 'playbookIndex is required when kind is "playbook"',
      path: ['playbookIndex'],
    }),
  ) satisfies z.ZodMiniType<RunCommandInput>;

export const handler = async (event: unknown): Promise<void> => {
  const parsed = inputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`run-command: invalid input: ${z.prettifyError(parsed.error)}`);
  }
  const input = parsed.data;
  logger.appendKeys({ instanceId: input.instanceId, generation: input.generation });
  try {
    await runCommand(input, { store, ssm, bundle, settings, now: () => new Date(), logger });
  } catch (error) {
    logger.error('Run command failed', { error, kind: input.kind, playbookIndex: input.playbookIndex });
    // A throttled DynamoDB write is as transient as a throttled SendCommand: let the workflow retry it.
    if (isTransientAwsError(error)) {
      throw new TransientError(`run-command: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  } finally {
    logger.removeKeys(['instanceId', 'generation']);
  }
};
