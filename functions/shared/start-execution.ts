// Starting (and checking on) the provisioning execution of a claim. Two idempotency layers
// (docs/architecture.md "Claim"): only a claim winner gets here, and the execution is named `<instanceId>-g<generation>`,
// which Step Functions Standard refuses to start twice — so ExecutionAlreadyExists means "already
// started", a success.
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  type ExecutionStatus,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ConfigError } from './config.js';
import type { DebugLogger } from './logger.js';
import type { ClaimAdmission, ClaimReason, ClaimResult, StateStoreApi } from './state-store-api.js';
import type { ExecutionInput } from './workflow-contract.js';

export interface StartDeps {
  readonly store: Pick<StateStoreApi, 'claim' | 'extendLease'>;
  readonly sfn: Pick<SFNClient, 'send'>;
  readonly stateMachineArn: string;
  readonly leaseSeconds: number;
  /** History actor: `event-detector`, `sweep`, … */
  readonly actor: string;
  readonly now: () => Date;
  readonly logger: DebugLogger;
}

export type ClaimLoss = Extract<ClaimResult, { won: false }>;

export type ClaimAndStartResult =
  | {
      readonly won: true;
      readonly generation: number;
      readonly executionName: string;
      readonly executionArn: string;
      /** True when Step Functions already had this execution (a retried start). */
      readonly alreadyExisted: boolean;
    }
  | ClaimLoss;

/** `arn:aws:states:<r>:<a>:stateMachine:<name>` + execution name → `arn:aws:states:<r>:<a>:execution:<name>:<exec>`. */
export function executionArnOf(stateMachineArn: string, executionName: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length !== 7 || parts[5] !== 'stateMachine') {
    throw new ConfigError(
      `STATE_MACHINE_ARN "${stateMachineArn}" is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>); check the function's configuration.`,
    );
  }
  parts[5] = 'execution';
  return `${parts.join(':')}:${executionName}`;
}

/** StartExecution for a won claim; ExecutionAlreadyExists counts as started. */
export async function startClaimedExecution(
  sfn: Pick<SFNClient, 'send'>,
  stateMachineArn: string,
  claim: ExecutionInput & { readonly executionName: string },
): Promise<{ executionArn: string; alreadyExisted: boolean }> {
  const input: ExecutionInput = { instanceId: claim.instanceId, generation: claim.generation };
  try {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: claim.executionName, input: JSON.stringify(input) }),
    );
    return {
      executionArn: executionArn ?? executionArnOf(stateMachineArn, claim.executionName),
      alreadyExisted: false,
    };
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists || (error as Error).name === 'ExecutionAlreadyExists') {
      return { executionArn: executionArnOf(stateMachineArn, claim.executionName), alreadyExisted: true };
    }
    throw error;
  }
}

/** The execution's status, or `MISSING` when it was never started (a claim whose start failed). */
export async function executionStatusOf(
  sfn: Pick<SFNClient, 'send'>,
  stateMachineArn: string,
  executionName: string,
): Promise<ExecutionStatus | 'MISSING'> {
  try {
    const { status } = await sfn.send(
      new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn, executionName) }),
    );
    return status ?? 'MISSING';
  } catch (error) {
    if (error instanceof ExecutionDoesNotExist || (error as Error).name === 'ExecutionDoesNotExist')
      return 'MISSING';
    throw error;
  }
}

/**
 * Claim, and if won, start the execution. If the start fails, the lease is released (expires now)
 * before the error is rethrown, so the next sweep — or this event's retry — reclaims the instance
 * at once instead of after a whole lease.
 *
 * Every claim is made under admission (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): the
 * global pause refuses it, and `admission.rollout` (a rollout re-provision, a drift re-apply) takes a slot
 * in that pool. Default `{}`: first provisioning and reclaims (a reclaim keeps the slot it holds).
 */
export async function claimAndStart(
  deps: StartDeps,
  instanceId: string,
  options: { reason: ClaimReason; expectedGeneration: number; admission?: ClaimAdmission },
): Promise<ClaimAndStartResult> {
  const now = deps.now();
  const claim = await deps.store.claim(instanceId, {
    reason: options.reason,
    leaseSeconds: deps.leaseSeconds,
    actor: deps.actor,
    now,
    expectedGeneration: options.expectedGeneration,
    admission: options.admission ?? {},
  });
  if (!claim.won) {
    // Losing is normal (duplicate events, a concurrent sweep): quiet, no write.
    deps.logger.debug('Claim lost', {
      instanceId,
      reason: options.reason,
      loss: claim.reason,
      message: claim.message,
    });
    return claim;
  }
  try {
    const started = await startClaimedExecution(deps.sfn, deps.stateMachineArn, {
      instanceId,
      generation: claim.generation,
      executionName: claim.executionName,
    });
    deps.logger.info('Execution started', {
      instanceId,
      generation: claim.generation,
      reason: options.reason,
      executionName: claim.executionName,
      alreadyExisted: started.alreadyExisted,
    });
    return { won: true, generation: claim.generation, executionName: claim.executionName, ...started };
  } catch (error) {
    const released = await deps.store
      .extendLease(instanceId, claim.generation, 0, deps.now())
      .catch((releaseError: unknown) => ({ ok: false, message: String(releaseError) }));
    deps.logger.error('StartExecution failed after a won claim; lease released for an early reclaim', {
      instanceId,
      generation: claim.generation,
      executionName: claim.executionName,
      leaseReleased: released.ok,
      error,
    });
    throw error;
  }
}

export type ExpiredLeaseResult =
  | { readonly kind: 'extended'; readonly ok: boolean }
  | {
      readonly kind: 'reclaimed';
      readonly executionStatus: ExecutionStatus | 'MISSING';
      readonly claim: ClaimAndStartResult;
    };

/**
 * A RUNNING record whose lease expired: if its execution still runs (a long playbook), extend the
 * lease; otherwise (failed, aborted, timed out, never started) reclaim it under a new generation.
 */
export async function resolveExpiredLease(
  deps: StartDeps,
  instanceId: string,
  lease: { generation: number; executionName: string },
): Promise<ExpiredLeaseResult> {
  const status = await executionStatusOf(deps.sfn, deps.stateMachineArn, lease.executionName);
  if (status === 'RUNNING') {
    const extended = await deps.store.extendLease(
      instanceId,
      lease.generation,
      deps.leaseSeconds,
      deps.now(),
    );
    return { kind: 'extended', ok: extended.ok };
  }
  const claim = await claimAndStart(deps, instanceId, {
    reason: 'lease-expired',
    expectedGeneration: lease.generation,
  });
  return { kind: 'reclaimed', executionStatus: status, claim };
}
