// Exactly one alert per (instance, generation, status): a conditional write claims the right to
// send, then every channel gets the same text. SNS is the channel of record; a chat channel that
// fails is reported, never allowed to stop the others.
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Status } from '../core/types.js';
import type { DebugLogger } from '../shared/logger.js';
import type { StateStoreApi } from '../shared/state-store-api.js';
import type { NotifyOutput } from '../shared/workflow-contract.js';
import { type Channel, ChannelError } from './channels.js';
import { type Alert, buildAlert } from './message.js';
import { buildPauseAlert } from './rollout-message.js';

export interface NotifyInput {
  readonly instanceId: string;
  readonly generation: number;
  readonly status: Status;
  /** False (from the record step, for SKIPPED) → nothing to tell anyone. */
  readonly notify?: boolean;
  readonly reason?: string;
}

/** SNS did not take the alert: the run itself is unaffected, but nobody was told by email. */
export class NotificationFailedError extends Error {
  override name = 'NotificationFailedError';
}

/** A rollout lane that paused, to tell once (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md). */
export interface RolloutPausedInput {
  readonly kind: 'rollout-paused';
  readonly rolloutId: string;
  readonly lane: string;
}

export interface NotifyDeps {
  readonly store: Pick<
    StateStoreApi,
    | 'getInstance'
    | 'markNotified'
    | 'appendHistory'
    | 'getRollout'
    | 'listRolloutFailures'
    | 'markPauseNotified'
  >;
  readonly sns: Pick<SNSClient, 'send'>;
  readonly topicArn: string;
  readonly stateMachineArn: string;
  /** Slack / Telegram, as configured. */
  readonly channels: readonly Channel[];
  readonly now: () => Date;
  readonly logger: DebugLogger;
}

function safeFailure(channel: string, error: unknown): string {
  if (error instanceof ChannelError) return error.message;
  // SDK errors (reading the secret) are reported by name only.
  return `${channel}: ${error instanceof Error ? error.name : 'unknown error'}`;
}

export async function notify(input: NotifyInput, deps: NotifyDeps): Promise<NotifyOutput> {
  const { instanceId, generation, status } = input;
  if (input.notify === false) return { sent: false, channels: [] };
  const now = deps.now();
  if (!(await deps.store.markNotified(instanceId, generation, status, now))) {
    deps.logger.info('Already notified for this generation and status', { status });
    return { sent: false, channels: [] };
  }
  const record = await deps.store.getInstance(instanceId);
  const alert = buildAlert(input, record, deps.stateMachineArn);
  const { sent, failures, failed } = await sendEverywhere(alert, deps);

  await deps.store.appendHistory({
    instanceId,
    type: 'NOTIFIED',
    at: now.toISOString(),
    actor: 'notifier',
    generation,
    ...(failures.length > 0 ? { reason: failures.map((failure) => failure.error).join('; ') } : {}),
    details: { status, channels: sent, failed },
  });
  if (failures.length > 0) deps.logger.warn('Some channels failed', { failures, sent });
  else deps.logger.info('Notified', { status, channels: sent });

  // This run's release paused its rollout lane (the store stamped it with the pause): say so, once.
  const paused = record?.pausedRollout;
  const pause =
    paused && paused.generation === generation
      ? await notifyRolloutPaused({ kind: 'rollout-paused', ...paused }, deps)
      : undefined;
  if (failed.includes('sns')) {
    // Not retried: the once-only mark is taken, a retry would send nothing. Failing makes it visible.
    throw new NotificationFailedError(
      `notifier: SNS Publish to ${deps.topicArn} failed for ${instanceId} ${status} (sent: ${sent.join(', ') || 'none'}): ` +
        `${failures.find((failure) => failure.channel === 'sns')?.error}`,
    );
  }
  return { sent: true, channels: sent, failed, ...(pause?.sent ? { rolloutPaused: pause.channels } : {}) };
}

/** The alert on SNS and every chat channel: who took it, and who failed (a chat failure never stops SNS). */
async function sendEverywhere(
  alert: Alert,
  deps: Pick<NotifyDeps, 'sns' | 'topicArn' | 'channels'>,
): Promise<{ sent: string[]; failures: { channel: string; error: string }[]; failed: string[] }> {
  const all: Channel[] = [
    {
      name: 'sns',
      send: async () => {
        await deps.sns.send(
          new PublishCommand({ TopicArn: deps.topicArn, Subject: alert.subject, Message: alert.text }),
        );
      },
    },
    ...deps.channels,
  ];
  const results = await Promise.allSettled(all.map((channel) => channel.send(alert.text)));
  const sent: string[] = [];
  const failures: { channel: string; error: string }[] = [];
  results.forEach((result, i) => {
    const channel = (all[i] as Channel).name;
    if (result.status === 'fulfilled') sent.push(channel);
    else failures.push({ channel, error: safeFailure(channel, result.reason) });
  });
  return { sent, failures, failed: failures.map((failure) => failure.channel) };
}

/**
 * One message for a rollout lane that paused: which rollout and lane, its failures (instance and failed
 * playbook) and how to resume or abort. At most once per pause: a conditional mark on the pool
 * (markPauseNotified) is taken before anything is sent, as markNotified is for an instance (ADR 0008).
 */
export async function notifyRolloutPaused(
  input: RolloutPausedInput,
  deps: NotifyDeps,
): Promise<NotifyOutput> {
  const { rolloutId, lane } = input;
  const rollout = await deps.store.getRollout(rolloutId);
  const pool = rollout?.lanes[lane];
  if (!rollout || !pool) {
    deps.logger.warn('Paused rollout lane not found; nothing to tell', { rolloutId, lane });
    return { sent: false, channels: [] };
  }
  if (!(await deps.store.markPauseNotified(rolloutId, lane, pool, deps.now()))) {
    deps.logger.info('This pause was already told', { rolloutId, lane });
    return { sent: false, channels: [] };
  }
  const failures = await deps.store.listRolloutFailures(rolloutId, lane);
  const alert = buildPauseAlert(rollout, lane, failures);
  const { sent, failures: failedChannels, failed } = await sendEverywhere(alert, deps);
  if (failedChannels.length > 0) deps.logger.warn('Some channels failed', { failures: failedChannels, sent });
  else deps.logger.info('Rollout pause notified', { rolloutId, lane, channels: sent });
  if (failed.includes('sns')) {
    throw new NotificationFailedError(
      `notifier: SNS Publish to ${deps.topicArn} failed for the pause of rollout ${rolloutId} lane ${lane} (sent: ${sent.join(', ') || 'none'}): ` +
        `${failedChannels.find((failure) => failure.channel === 'sns')?.error}`,
    );
  }
  return { sent: true, channels: sent, failed };
}
