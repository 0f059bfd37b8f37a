// Exactly one alert per (instance, generation, status): a conditional write claims the right to
// send, then every channel gets the same text. SNS is the channel of record; a chat channel that
// fails is reported, never allowed to stop the others.
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Status } from '../core/types.js';
import type { DebugLogger } from '../shared/logger.js';
import type { StateStoreApi } from '../shared/state-store-api.js';
import type { NotifyOutput } from '../shared/workflow-contract.js';
import { type Channel, ChannelError } from './channels.js';
import { buildAlert } from './message.js';

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

export interface NotifyDeps {
  readonly store: Pick<StateStoreApi, 'getInstance' | 'markNotified' | 'appendHistory'>;
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
  const failed = failures.map((failure) => failure.channel);

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

  if (failed.includes('sns')) {
    // Not retried: the once-only mark is taken, a retry would send nothing. Failing makes it visible.
    throw new NotificationFailedError(
      `notifier: SNS Publish to ${deps.topicArn} failed for ${instanceId} ${status} (sent: ${sent.join(', ') || 'none'}): ` +
        `${failures.find((failure) => failure.channel === 'sns')?.error}`,
    );
  }
  return { sent: true, channels: sent, failed };
}
