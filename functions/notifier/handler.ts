// Notifier λ: the workflow's last step (RecordOutput), and invoked asynchronously by the detectors
// for ORPHANED. Sends at most one alert per (instance, generation, status).
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
import { type NotifyInput, notify } from './notify.js';

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

export const handler = async (event: unknown): Promise<NotifyOutput> => {
  const parsed = inputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`notifier: invalid input: ${z.prettifyError(parsed.error)}`);
  }
  logger.appendKeys({ instanceId: parsed.data.instanceId, generation: parsed.data.generation });
  try {
    return await notify(parsed.data, {
      store,
      sns: clients.sns(),
      topicArn,
      stateMachineArn,
      channels,
      now: () => new Date(),
      logger,
    });
  } catch (error) {
    logger.error('Notification failed', { error });
    // Only a store error can be transient here (before the once-only mark): a retry is then safe.
    if (isTransientAwsError(error)) {
      throw new TransientError(`notifier: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  } finally {
    logger.removeKeys(['instanceId', 'generation']);
  }
};
