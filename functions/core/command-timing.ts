// How long the workflow waits for one SSM command, derived in one place: the run-command λ sends
// SendCommand with DELIVERY_TIMEOUT_SECONDS, and infra (the ensure-Ansible task timeout, and the match
// λ's TASK_TIMEOUT_MARGIN_SECONDS that sizes each playbook's callback wait) adds the same margin.
//
// A command's life before its own execution timeout starts counting:
//   1. delivery: SSM may hold it up to SendCommand's TimeoutSeconds until the agent picks it up
//      ("TimeoutSeconds: If this time is reached and the command hasn't already started running, it
//      won't run." — SendCommand, AWS Systems Manager API Reference,
//      https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html);
//   2. download: AWS-ApplyAnsiblePlaybooks' downloadContent step fetches and unzips the bundle (its own
//      step, outside the playbook's TimeoutSeconds), and the status event travels back to the callback.
// The callback wait must outlast both plus the execution timeout, or a healthy slow command is cut off
// by the workflow before SSM itself would end it.

/**
 * SendCommand's TimeoutSeconds, the *delivery* timeout (how long SSM waits for the agent to pick the
 * command up). The agent was just seen Online: a command not started within 5 minutes will not start,
 * and failing then (status Delivery Timed Out) lets the retry budget act. The run time limit is the
 * document's own TimeoutSeconds parameter.
 */
export const DELIVERY_TIMEOUT_SECONDS = 300;

/** Bundle download and unzip on a slow link, plus the status event's trip back to the callback λ. */
export const DOWNLOAD_ALLOWANCE_SECONDS = 300;

/** Added to a command's execution timeout for the callback wait ("Run playbook" / "Ensure Ansible"). */
export const TASK_TIMEOUT_MARGIN_SECONDS = DELIVERY_TIMEOUT_SECONDS + DOWNLOAD_ALLOWANCE_SECONDS;

/** The callback wait for a command that may execute for `executionTimeoutSeconds`. */
export function callbackWaitSeconds(executionTimeoutSeconds: number): number {
  return executionTimeoutSeconds + TASK_TIMEOUT_MARGIN_SECONDS;
}
