// Turns a match into the steps the provisioning workflow loops over (workflow-contract.ts). The
// retry schedule is computed here, not in the state machine, so the ASL only indexes a list and an
// operator sees the exact delays in the console.
import type { PlaybookStep } from '../shared/workflow-contract.js';
import type { MatchResult } from './types.js';

/**
 * Longest wait between two attempts of one playbook. Exponential backoff grows fast (60 s doubles to
 * over an hour by the 7th retry); past an hour, waiting longer only delays the notification.
 */
export const MAX_RETRY_DELAY_SECONDS = 3600;

/** A plan input that would give the workflow an impossible schedule. */
export class InvalidPlanError extends Error {
  override name = 'InvalidPlanError';
}

function requireInteger(value: number, min: number, what: string): void {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidPlanError(`${what} must be a whole number ≥ ${min}, got ${value}.`);
  }
}

/**
 * Delays before attempts 2..maxAttempts: backoffSeconds × 2^n for n = 0..maxAttempts-2, each capped
 * at MAX_RETRY_DELAY_SECONDS. Whole seconds, since a Step Functions Wait takes whole seconds.
 */
export function retryDelays(backoffSeconds: number, maxAttempts: number): number[] {
  requireInteger(backoffSeconds, 0, 'backoffSeconds');
  requireInteger(maxAttempts, 1, 'maxAttempts');
  const delays: number[] = [];
  let delay = Math.min(backoffSeconds, MAX_RETRY_DELAY_SECONDS);
  for (let n = 0; n < maxAttempts - 1; n++) {
    delays.push(delay);
    // Doubling the capped value keeps it finite however many attempts a rule allows.
    delay = Math.min(delay * 2, MAX_RETRY_DELAY_SECONDS);
  }
  return delays;
}

/** One step per matched playbook, in order (index 0-based), with its task timeout and retry delays. */
export function planSteps(match: MatchResult, options: { taskTimeoutMarginSeconds: number }): PlaybookStep[] {
  requireInteger(options.taskTimeoutMarginSeconds, 0, 'taskTimeoutMarginSeconds');
  return match.playbooks.map((playbook, index) => {
    requireInteger(playbook.timeoutSeconds, 1, `timeoutSeconds of ${playbook.file} (rule ${playbook.rule})`);
    return {
      index,
      file: playbook.file,
      // The margin covers SSM delivery, the bundle download and the status event's trip back
      // (core/command-timing.ts), so the callback wait does not end before the command's own timeout.
      taskTimeoutSeconds: playbook.timeoutSeconds + options.taskTimeoutMarginSeconds,
      retryDelays: retryDelays(playbook.backoffSeconds, playbook.maxAttempts),
    };
  });
}

/** How many agent-status checks fit in agentWaitSeconds at one check per intervalSeconds (at least 1). */
export function agentChecks(agentWaitSeconds: number, intervalSeconds: number): number {
  if (!Number.isFinite(agentWaitSeconds) || agentWaitSeconds < 0) {
    throw new InvalidPlanError(`agentWaitSeconds must be a finite number ≥ 0, got ${agentWaitSeconds}.`);
  }
  if (!Number.isFinite(intervalSeconds) || intervalSeconds <= 0) {
    throw new InvalidPlanError(`intervalSeconds must be a finite number > 0, got ${intervalSeconds}.`);
  }
  return Math.max(1, Math.ceil(agentWaitSeconds / intervalSeconds));
}
