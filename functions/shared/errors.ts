// Named errors. `name` is what the workflow's Retry/Catch match on (see workflow-contract.ts).
import { WorkflowErrors } from './workflow-contract.js';

/** A write fenced on generation was refused: a newer claim owns the instance. */
export class StaleGenerationError extends Error {
  override name = WorkflowErrors.StaleGeneration;
  constructor(
    readonly instanceId: string,
    readonly generation: number,
    message: string,
  ) {
    super(`${instanceId} g${generation}: ${message}`);
  }
}

/** The playbook (or the ensure-Ansible command) ran and did not succeed. */
export class PlaybookFailedError extends Error {
  override name = WorkflowErrors.PlaybookFailed;
}

/** A transient condition worth retrying (throttling, 5xx, command not yet visible). */
export class TransientError extends Error {
  override name = WorkflowErrors.Transient;
}

/** An input that can never succeed: malformed event, unknown instance. Not retried. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}

const TRANSIENT_AWS_ERRORS = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'ServiceUnavailable',
  'InternalServerError',
  'InternalFailure',
  'InvocationDoesNotExist',
]);

/** True for AWS SDK errors worth retrying (by name or by a 5xx status). */
export function isTransientAwsError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (TRANSIENT_AWS_ERRORS.has(error.name)) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}
