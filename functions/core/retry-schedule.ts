// The playbook retry schedule: how long the workflow waits before each further attempt of a failed
// playbook (docs/architecture.md "Retries and timeouts"). Computed here, not in the state machine, so the
// ASL only indexes a list (workflow-contract.ts PlaybookStep.retryDelays) and an operator sees the exact
// delays in the console. Pure.

/**
 * Longest wait between two attempts of one playbook. Exponential backoff grows fast (60 s doubles to
 * over an hour by the 7th retry); past an hour, waiting longer only delays the notification.
 */
export const MAX_RETRY_DELAY_SECONDS = 3600;

/** A plan input that would give the workflow an impossible schedule. */
export class InvalidPlanError extends Error {
  override name = 'InvalidPlanError';
}

/** Throws InvalidPlanError unless `value` is a whole number ≥ `min`. */
export function requireInteger(value: number, min: number, what: string): void {
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
