// Notifier λ: the workflow's last step (RecordOutput), and invoked asynchronously by the detectors
// for ORPHANED. Sends at most one alert per (instance, generation, status). The sweep also invokes it for
// a rollout lane that paused without a run to tell it (`kind: rollout-paused`): one alert per pause.
// zod/mini: tree-shakeable, ~20 KB in the bundle where the classic API costs ~450 KB.
import * as z from 'zod/mini';
import { instanceIdInput } from '../core/instance-id.js';
import { STATUSES } from '../core/types.js';
import { clients } from '../shared/clients.js';
import { getOptionalStringFromEnv, getStringFromEnv } from '../shared/config.js';
import { InvalidInputError, isTransientAwsError, TransientError } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { stateStoreFromEnv } from '../shared/store-from-env.js';
import type { NotifyOutput } from '../shared/workflow-contract.js';
import { type Channel, cachedSecretReader, slackChannel, telegramChannel } from './channels.js';
import {
  type NotifyDeps,
  type NotifyInput,
  notify,
  notifyRolloutPaused,
  type RolloutPausedInput,
} from './notify.js';

const store = stateStoreFromEnv();
const topicArn = getStringFromEnv('TOPIC_ARN');
const stateMachineArn = getStringFromEnv('STATE_MACHINE_ARN');

// Secrets are fetched on first use and kept for the container's life (one read per cold start).
const readSecret = cachedSecretReader(clients.secrets());
const channels: Channel[] = [];
const slackSecretArn = getOptionalStringFromEnv('SLACK_SECRET_ARN');
if (slackSecretArn) channels.push(slackChannel(slackSecretArn, readSecret));
const telegramSecretArn = getOptionalStringFromEnv('TELEGRAM_SECRET_ARN');
if (telegramSecretArn) {
  const apiBase = getStringFromEnv('TELEGRAM_API_BASE', 'https://api.telegram.org');
  channels.push(telegramChannel(telegramSecretArn, readSecret, apiBase));
}

const inputSchema = z.object({
  instanceId: instanceIdInput,
  // 0 for an instance orphaned before it was ever claimed.
  generation: z.int().check(z.nonnegative()),
  status: z.enum(STATUSES),
  notify: z.optional(z.boolean()),
  reason: z.optional(z.string().check(z.maxLength(2000))),
}) satisfies z.ZodMiniType<NotifyInput>;

const pauseSchema = z.object({
  kind: z.literal('rollout-paused'),
  rolloutId: z.string().check(z.minLength(1), z.maxLength(200)),
  lane: z.string().check(z.minLength(1), z.maxLength(300)),
}) satisfies z.ZodMiniType<RolloutPausedInput>;

function deps(): NotifyDeps {
  return { store, sns: clients.sns(), topicArn, stateMachineArn, channels, now: () => new Date(), logger };
}

/** Parses `event` with `schema`, or throws InvalidInputError saying what is wrong. */
function parse<T>(schema: z.ZodMiniType<T>, event: unknown): T {
  const parsed = schema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`notifier: invalid input: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** Only a store error can be transient here (before the once-only mark): a retry is then safe. */
async function sending(send: () => Promise<NotifyOutput>): Promise<NotifyOutput> {
  try {
    return await send();
  } catch (error) {
    logger.error('Notification failed', { error });
    if (isTransientAwsError(error)) {
      throw new TransientError(`notifier: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }
}

export const handler = async (event: unknown): Promise<NotifyOutput> => {
  if ((event as { kind?: unknown } | null)?.kind === 'rollout-paused') {
    const input = parse(pauseSchema, event);
    return sending(() => notifyRolloutPaused(input, deps()));
  }
  const input = parse(inputSchema, event);
  logger.appendKeys({ instanceId: input.instanceId, generation: input.generation });
  try {
    return await sending(() => notify(input, deps()));
  } finally {
    logger.removeKeys(['instanceId', 'generation']);
  }
};
