// The one message that says a rollout lane paused (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md):
// which rollout and lane, what changed, what failed (instance and failed playbook), and how to resume or abort.
// Pure: the notifier reads the rollout and its failures and sends this text on every channel.
import { describePool } from '../core/admission.js';
import { CANARY_LANE } from '../core/rollout-plan.js';
import type { Rollout, RolloutFailure } from '../shared/state-store-api.js';
import type { Alert } from './message.js';
import { asciiSubject } from './message.js';

/** Failures listed by name; more are counted. */
export const MAX_LISTED_FAILURES = 20;

export function buildPauseAlert(rollout: Rollout, lane: string, failures: readonly RolloutFailure[]): Alert {
  const { rolloutId } = rollout;
  const pool = rollout.lanes[lane];
  const what = rollout.kind === 'drift' ? 'Re-apply window' : 'Rollout';
  const failed = pool?.failed ?? failures.length;
  const lines = [
    `${what}: ${rolloutId}, lane ${lane}: PAUSED`,
    ...(pool ? [`Lane: ${describePool(pool)}`] : []),
    `Change: ${rollout.change.summary}`,
  ];
  if (lane === CANARY_LANE) {
    lines.push('A canary failed: the other lanes start only once every canary succeeded.');
  }
  lines.push(`Failures (${failed}):`);
  for (const failure of failures.slice(0, MAX_LISTED_FAILURES)) {
    lines.push(
      `  - ${failure.instanceId}: ${failure.outcome}${failure.reason ? ` — ${failure.reason}` : ''}`,
    );
  }
  if (failures.length > MAX_LISTED_FAILURES) {
    lines.push(`  … and ${failures.length - MAX_LISTED_FAILURES} more (autoprov status --status FAILED)`);
  }
  lines.push(
    '',
    'Instances not started yet keep their last good run; runs in flight finish.',
    `Resume: autoprov rollout resume --id ${rolloutId}   (the failures so far stay counted; the threshold allows as many new ones again)`,
    `Abort:  autoprov rollout abort --id ${rolloutId}    (nothing more starts in it; a fixed rules.yaml or playbook is a new rollout)`,
  );
  return {
    subject: asciiSubject(`[autoprov] ${what} ${rolloutId} paused: lane ${lane}, ${failed} failed`),
    text: lines.join('\n'),
  };
}
