// Every retry and timeout number of the infrastructure, in one place
// (docs/architecture.md "Retries and timeouts"). The constructs read them from here; the local stack reads them back from the synthesized
// template, never from a copy. Numbers the functions decide at run time live beside their decision:
// the playbook retry schedule (functions/core/retry-schedule.ts), a command's callback wait
// (functions/core/command-timing.ts), the SDK clients' adaptive retries (functions/shared/clients.ts) and
// the state store's transaction-conflict attempts (functions/shared/state-store/io.ts).
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { callbackWaitSeconds } from '../functions/core/command-timing.js';

// ---- The workflow (Step Functions) ------------------------------------------------------------------

/**
 * Step Functions `Retry` for transient errors of a task (throttling, a service's 5xx, our TransientError):
 * 2 s, doubling, capped at 60 s, full jitter; 6 retries span about 2 minutes at most.
 */
export const TRANSIENT_RETRY: sfn.RetryProps = {
  interval: Duration.seconds(2),
  maxAttempts: 6,
  backoffRate: 2,
  maxDelay: Duration.seconds(60),
  jitterStrategy: sfn.JitterType.FULL,
};

/** A workflow step's Lambda call (match, record, notify, ask SSM): each answers in well under a second. */
export const LAMBDA_TASK_TIMEOUT = Duration.seconds(60);

/** The workflow's DescribeInstanceInformation call. */
export const AGENT_CHECK_TASK_TIMEOUT = Duration.seconds(30);

/** Seconds between two DescribeInstanceInformation checks; the match λ sizes agentChecksLeft with it. */
export const AGENT_CHECK_INTERVAL_SECONDS = 15;

/**
 * Seconds the ensure-Ansible command may take on the host (the document's `timeoutSeconds`): package
 * index refresh + install on a small instance.
 */
export const ENSURE_ANSIBLE_TIMEOUT_SECONDS = 900;

/** How long the workflow waits for the ensure-Ansible command before asking SSM directly (25 min). */
export const ENSURE_ANSIBLE_TASK_TIMEOUT_SECONDS = callbackWaitSeconds(ENSURE_ANSIBLE_TIMEOUT_SECONDS);

// ---- Functions ----------------------------------------------------------------------------------------

/** A function's timeout unless it says otherwise (workflow steps, callback, notifier). */
export const DEFAULT_FUNCTION_TIMEOUT = Duration.seconds(30);

/** The event detector: DescribeInstances, the upsert, the claim and StartExecution for one event. */
export const EVENT_DETECTOR_TIMEOUT = Duration.seconds(60);

/** The sweep: the whole fleet (10,000 instances: 10 DescribeInstances pages) and the fleet index. */
export const SWEEP_TIMEOUT = Duration.minutes(5);

/**
 * Lambda's own retries of a failed asynchronous invocation (events, schedule) before the event goes to the
 * failed-events queue. Lambda's default and maximum is 2.
 */
export const ASYNC_INVOKE_RETRY_ATTEMPTS = 2;

// ---- Event delivery ----------------------------------------------------------------------------------

/**
 * EventBridge's retries of a delivery to a rule's Lambda target (the delivery itself, not the function's
 * errors: those are the async retries above), and how long it keeps trying.
 */
export const EVENT_TARGET_RETRY_ATTEMPTS = 8;
export const EVENT_TARGET_MAX_EVENT_AGE = Duration.hours(2);

/** EventBridge Scheduler's retries of the sweep's delivery; a sweep older than one period is superseded. */
export const SCHEDULE_RETRY_ATTEMPTS = 2;

/** The sweep schedule's maximum event age: one sweep period, at least a minute. */
export function scheduleMaxEventAgeSeconds(rateMinutes: number): number {
  return Math.max(60, Duration.minutes(rateMinutes).toSeconds());
}
