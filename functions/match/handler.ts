// Match rules λ (workflow step 1): ExecutionInput → MatchOutput. Which playbooks does this host get?
// zod/mini: tree-shakeable, ~20 KB in the bundle where the classic API costs ~450 KB.
import * as z from 'zod/mini';
import { loadBundle } from '../core/bundle-file.js';
import { instanceIdInput } from '../core/instance-id.js';
import { getNumberFromEnv } from '../shared/config.js';
import { InvalidInputError, isTransientAwsError, TransientError } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { stateStoreFromEnv } from '../shared/store-from-env.js';
import type { ExecutionInput, MatchOutput } from '../shared/workflow-contract.js';
import { matchInstance } from './match-instance.js';

// Cold start: configuration errors fail here, loudly, before any execution is touched.
const store = stateStoreFromEnv();
const bundle = loadBundle();
const settings = {
  agentCheckIntervalSeconds: getNumberFromEnv('AGENT_CHECK_INTERVAL_SECONDS'),
  taskTimeoutMarginSeconds: getNumberFromEnv('TASK_TIMEOUT_MARGIN_SECONDS'),
};

const inputSchema = z.object({
  instanceId: instanceIdInput,
  generation: z.int().check(z.positive()),
}) satisfies z.ZodMiniType<ExecutionInput>;

export const handler = async (event: unknown): Promise<MatchOutput> => {
  const parsed = inputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(
      `match: invalid input {instanceId, generation}: ${z.prettifyError(parsed.error)}`,
    );
  }
  logger.appendKeys({ instanceId: parsed.data.instanceId, generation: parsed.data.generation });
  try {
    return await matchInstance(parsed.data, { store, bundle, settings, now: () => new Date(), logger });
  } catch (error) {
    logger.error('Match failed', { error });
    if (isTransientAwsError(error)) {
      throw new TransientError(`match: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  } finally {
    logger.removeKeys(['instanceId', 'generation']);
  }
};
