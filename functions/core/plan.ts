// Turns a match into the steps the provisioning workflow loops over (workflow-contract.ts): per playbook,
// its task timeout and its retry delays (decided in core/retry-schedule.ts).
import type { PlaybookStep } from '../shared/workflow-contract.js';
import { InvalidPlanError, requireInteger, retryDelays } from './retry-schedule.js';
import type { MatchResult } from './types.js';

export { InvalidPlanError };

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
