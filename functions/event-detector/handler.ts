// Event detector λ (EventBridge): EC2 state changes and instance tag changes → record, claim, start.
// Validates the event first (a malformed one throws InvalidInputError before any read or write and
// goes to the DLQ), then hands it to detect.ts. Configuration and clients are read once per cold start.
import { loadBundle } from '../core/bundle-file.js';
import { clients } from '../shared/clients.js';
import { getNumberFromEnv, getStringFromEnv } from '../shared/config.js';
import { logger } from '../shared/logger.js';
import { stateStoreFromEnv } from '../shared/store-from-env.js';
import { type DetectionOutcome, type DetectorDeps, handleDetectorEvent } from './detect.js';
import { parseDetectorEvent } from './events.js';

const stateMachineArn = getStringFromEnv('STATE_MACHINE_ARN');
const notifierFunctionName = getStringFromEnv('NOTIFIER_FUNCTION_NAME');
const leaseSeconds = getNumberFromEnv('LEASE_SECONDS', 7200);
const bundle = loadBundle();

const store = stateStoreFromEnv();

const deps: DetectorDeps = {
  store,
  ec2: clients.ec2(),
  sfn: clients.sfn(),
  lambda: clients.lambda(),
  bundle,
  stateMachineArn,
  notifierFunctionName,
  leaseSeconds,
  actor: 'event-detector',
  now: () => new Date(),
  logger,
};

export const handler = async (event: unknown): Promise<DetectionOutcome> => {
  const parsed = parseDetectorEvent(event);
  logger.appendKeys({ instanceId: parsed.instanceId, event: parsed.kind });
  try {
    const outcome = await handleDetectorEvent(parsed, deps);
    logger.info('Event handled', {
      ...outcome,
      ...(parsed.kind === 'state-change' ? { state: parsed.state } : {}),
    });
    return outcome;
  } catch (error) {
    // Rethrown: Lambda's async retries (and then the DLQ) take it; every write above is idempotent.
    logger.error('Event failed', { error });
    throw error;
  } finally {
    logger.removeKeys(['instanceId', 'event']);
  }
};
