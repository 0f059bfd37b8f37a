// ORPHANED notifications from the detectors: the notifier λ is invoked asynchronously (InvocationType
// Event) so a detector never waits on SNS/Slack/Telegram, and Lambda's own async retries and DLQ
// cover a failed send. The notifier's conditional write (markNotified) makes duplicates harmless.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { DebugLogger } from './logger.js';
import type { StateStoreApi } from './state-store-api.js';

/** The notifier's input for an orphan (the workflow sends the same shape for terminal statuses). */
export interface OrphanNotification {
  readonly instanceId: string;
  readonly generation: number;
  readonly status: 'ORPHANED';
  readonly notify: true;
  readonly reason?: string;
}

/**
 * The notifier's input for a rollout pool that paused without a run to tell it (a claim the sweep made
 * found the pool past its threshold and wrote the pause itself: ClaimResult.pauses). A run whose outcome
 * paused the pool tells it with its own notification (InstanceRecord.pausedRollout).
 */
export interface RolloutPauseNotification {
  readonly kind: 'rollout-paused';
  readonly rolloutId: string;
  readonly lane: string;
}

export type NotifierPayload = OrphanNotification | RolloutPauseNotification;

export class NotifierInvokeError extends Error {
  override name = 'NotifierInvokeError';
}

/** Queues one async invocation of the notifier. */
export async function invokeNotifier(
  lambda: Pick<LambdaClient, 'send'>,
  functionName: string,
  payload: NotifierPayload,
): Promise<void> {
  const { StatusCode } = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'Event',
      Payload: new TextEncoder().encode(JSON.stringify(payload)),
    }),
  );
  // An accepted async invocation answers 202.
  if (StatusCode !== 202) {
    throw new NotifierInvokeError(
      `Async invoke of ${functionName} for ${'instanceId' in payload ? payload.instanceId : `rollout ${payload.rolloutId} lane ${payload.lane}`} returned ${StatusCode}, expected 202; check NOTIFIER_FUNCTION_NAME and the function's lambda:InvokeFunction permission.`,
    );
  }
}

export interface OrphanDeps {
  readonly store: Pick<StateStoreApi, 'markOrphaned'>;
  readonly lambda: Pick<LambdaClient, 'send'>;
  readonly notifierFunctionName: string;
  readonly actor: string;
  readonly now: () => Date;
  readonly logger: DebugLogger;
}

/**
 * Any status → ORPHANED, then one notification. Idempotent: a duplicate (already ORPHANED, or no
 * record at all) changes nothing and notifies nobody.
 */
export async function orphanAndNotify(
  deps: OrphanDeps,
  instanceId: string,
  reason: string,
): Promise<{ changed: boolean; generation?: number }> {
  const result = await deps.store.markOrphaned(instanceId, reason, deps.actor, deps.now());
  if (!result.changed) return result;
  const generation = result.generation ?? 0;
  await invokeNotifier(deps.lambda, deps.notifierFunctionName, {
    instanceId,
    generation,
    status: 'ORPHANED',
    notify: true,
    reason,
  });
  deps.logger.info('Instance orphaned', { instanceId, generation, reason });
  return { changed: true, generation };
}
