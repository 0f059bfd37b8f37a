// Record outcome λ (last workflow step before notify): RecordInput → RecordOutput.
// zod/mini: tree-shakeable, ~20 KB in the bundle where the classic API costs ~450 KB.
import * as z from 'zod/mini';
import { instanceIdInput } from '../core/instance-id.js';
import { InvalidInputError, isTransientAwsError, TransientError } from '../shared/errors.js';
import { logger } from '../shared/logger.js';
import { stateStoreFromEnv } from '../shared/store-from-env.js';
import type { RecordInput, RecordOutput } from '../shared/workflow-contract.js';
import { recordOutcome } from './record-outcome.js';

const store = stateStoreFromEnv();

const inputSchema = z.object({
  instanceId: instanceIdInput,
  generation: z.int().check(z.positive()),
  status: z.optional(z.enum(['SKIPPED', 'FAILED'])),
  reason: z.optional(z.string()),
  // A Catch's `{Error, Cause}`; the Cause may be long (a stack trace) and is truncated when recorded.
  error: z.optional(z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) })),
}) satisfies z.ZodMiniType<RecordInput>;

export const handler = async (event: unknown): Promise<RecordOutput> => {
  const parsed = inputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidInputError(`record: invalid input: ${z.prettifyError(parsed.error)}`);
  }
  logger.appendKeys({ instanceId: parsed.data.instanceId, generation: parsed.data.generation });
  try {
    return await recordOutcome(parsed.data, { store, now: () => new Date(), logger });
  } catch (error) {
    logger.error('Record failed', { error });
    if (isTransientAwsError(error)) {
      throw new TransientError(`record: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  } finally {
    logger.removeKeys(['instanceId', 'generation']);
  }
};
