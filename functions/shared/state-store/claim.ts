// The claim (docs/adr/0001-claims-and-fencing.md): ONE conditional UpdateItem on the generation the
// caller saw and on eligibility, compiled here from core/eligibility.ts (the one place that decides);
// a loser gets the record as it was (ALL_OLD) back as a typed loss. A claim under admission (a rollout slot,
// the global pause) is the same update inside a transaction: rollouts.ts.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  CLAIMABLE_FROM,
  type ClaimReason,
  HOLD_OVERRIDE_REASONS,
  leaseExpired,
  REPROVISION_REASONS,
} from '../../core/eligibility.js';
import { STATUSES } from '../../core/types.js';
import type { ClaimResult } from '../state-store-api.js';
import { executionNameOf } from '../workflow-contract.js';
import { bestEffortHistory } from './history.js';
import { type StoreContext, send } from './io.js';
import { type Item, stateKey } from './items.js';
import { type OldState, readOld } from './old-state.js';

/** What a claim is asked for (StateStoreApi.claim's options, without admission). */
export interface ClaimOptions {
  readonly reason: ClaimReason;
  readonly leaseSeconds: number;
  readonly actor: string;
  readonly now: Date;
  readonly expectedGeneration?: number;
}

export async function claim(
  ctx: StoreContext,
  instanceId: string,
  options: ClaimOptions,
): Promise<ClaimResult> {
  let expected = options.expectedGeneration;
  if (expected === undefined) {
    // The execution name embeds the new generation, so the write must know it: read it first.
    const seen = await readClaimTarget(ctx, instanceId);
    if (!seen) return missing(instanceId);
    expected = seen.generation;
  }
  const write = claimWrite(ctx, instanceId, options, expected);
  try {
    // The RUN item is left as it is: it belongs to the previous generation and is no longer shown.
    await send(ctx, new UpdateCommand(write.update));
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return claimLoss(instanceId, readOld(error.Item), {
        reason: options.reason,
        expected,
        now: options.now,
      });
    }
    throw error;
  }
  return claimed(ctx, instanceId, options, write);
}

/** The record as a claim (or an outcome) reads it first: its generation, and the rollout slot it holds, if any. */
export async function readClaimTarget(
  ctx: StoreContext,
  instanceId: string,
): Promise<{ generation: number; rolloutId?: string; lane?: string } | undefined> {
  const { Item } = await ctx.doc.send(
    new GetCommand({
      TableName: ctx.tableName,
      Key: stateKey(instanceId),
      ConsistentRead: true,
      ProjectionExpression: 'generation, rolloutId, #lane',
      ExpressionAttributeNames: { '#lane': 'lane' },
    }),
  );
  if (!Item) return undefined;
  return {
    generation: Number(Item.generation),
    ...(typeof Item.rolloutId === 'string' ? { rolloutId: Item.rolloutId } : {}),
    ...(typeof Item.lane === 'string' ? { lane: Item.lane } : {}),
  };
}

export function missing(instanceId: string): ClaimResult {
  return { won: false, reason: 'missing', message: `${instanceId} has no record to claim` };
}

/** A claim's conditional update of the state item, and what it will make the record. */
export interface ClaimWrite {
  /** Fits both an UpdateCommand and a transaction's Update. */
  readonly update: {
    readonly TableName: string;
    readonly Key: Item;
    readonly UpdateExpression: string;
    readonly ConditionExpression: string;
    readonly ExpressionAttributeNames: Record<string, string>;
    readonly ExpressionAttributeValues: Item;
    readonly ReturnValuesOnConditionCheckFailure: 'ALL_OLD';
  };
  readonly expected: number;
  readonly generation: number;
  readonly executionName: string;
  readonly leaseExpiresAt: string;
}

/**
 * The claim's update: conditioned on the generation the caller saw and on eligibility. `slot` adds to it
 * (a rollout claim): a condition on the slot the record was read with, and the attributes that take one.
 */
export function claimWrite(
  ctx: StoreContext,
  instanceId: string,
  options: ClaimOptions,
  expected: number,
  slot?: { condition: string; set?: string; values: Item; names?: Record<string, string> },
): ClaimWrite {
  const { reason, now } = options;
  const generation = expected + 1;
  const executionName = executionNameOf(instanceId, generation);
  const leaseExpiresAt = new Date(now.getTime() + options.leaseSeconds * 1000).toISOString();
  const eligibility = claimEligibility(REPROVISION_REASONS.has(reason));
  const heldClause = HOLD_OVERRIDE_REASONS.has(reason) ? '' : ' AND held = :false';
  // A drift check (reapplyEvery with `drift: report`) runs this generation in check mode.
  const check = reason === 'drift-check';
  const update = {
    TableName: ctx.tableName,
    Key: stateKey(instanceId),
    UpdateExpression:
      'SET #status = :running, generation = :next, leaseExpiresAt = :lease, dueAt = :lease, ' +
      `executionName = :name, updatedAt = :now${check ? ', checkRun = :check' : ''}${slot?.set ? `, ${slot.set}` : ''} ` +
      `REMOVE activeCommand, #reason${check ? '' : ', checkRun'}`,
    ConditionExpression: `attribute_exists(pk) AND generation = :expected${heldClause} AND (${eligibility.expression})${slot ? ` AND ${slot.condition}` : ''}`,
    ExpressionAttributeNames: { '#status': 'status', '#reason': 'reason', ...slot?.names },
    ExpressionAttributeValues: {
      ...eligibility.values,
      ':running': 'RUNNING',
      ':next': generation,
      ':expected': expected,
      ':lease': leaseExpiresAt,
      ':name': executionName,
      ':now': now.toISOString(),
      ...(heldClause ? { ':false': false } : {}),
      ...(check ? { ':check': true } : {}),
      ...slot?.values,
    },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
  return { update, expected, generation, executionName, leaseExpiresAt };
}

/** A won claim: its CLAIMED history item (with the rollout slot, if any) and the result. */
export async function claimed(
  ctx: StoreContext,
  instanceId: string,
  options: ClaimOptions,
  write: ClaimWrite,
  slot?: { rolloutId: string; lane: string; acquired: boolean },
): Promise<ClaimResult> {
  const { generation, executionName, leaseExpiresAt } = write;
  await bestEffortHistory(ctx, {
    instanceId,
    type: 'CLAIMED',
    at: options.now.toISOString(),
    actor: options.actor,
    generation,
    reason: options.reason,
    details: { executionName, leaseExpiresAt, ...slot },
  });
  return { won: true, generation, executionName, leaseExpiresAt, ...(slot ? { slot } : {}) };
}

/** The claim's eligibility clause, compiled from core/eligibility.ts CLAIMABLE_FROM (the one place that decides). */
function claimEligibility(reprovision: boolean): { expression: string; values: Item } {
  const clauses: string[] = [];
  const values: Item = {};
  for (const status of STATUSES) {
    const condition = CLAIMABLE_FROM[status];
    if (condition === undefined || (condition === 'reprovision' && !reprovision)) continue;
    values[`:c_${status}`] = status;
    if (condition === 'lease-expired') {
      clauses.push(
        `(#status = :c_${status} AND (attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt <= :now))`,
      );
    } else clauses.push(`#status = :c_${status}`);
  }
  return { expression: clauses.join(' OR '), values };
}

/** The typed loss of a claim, explained from the record as it was (exported for the in-memory test store). */
export function claimLoss(
  instanceId: string,
  old: OldState,
  attempt: { reason: ClaimReason; expected: number; now: Date },
): ClaimResult {
  if (old.status === undefined || old.generation === undefined) return missing(instanceId);
  const lost = (reason: 'not-eligible' | 'held' | 'orphaned', message: string): ClaimResult => ({
    won: false,
    reason,
    currentStatus: old.status,
    currentGeneration: old.generation,
    message: `${instanceId}: ${message}`,
  });
  if (old.status === 'ORPHANED')
    return lost('orphaned', `is ORPHANED at g${old.generation}; it must be re-detected first`);
  if (old.held && !HOLD_OVERRIDE_REASONS.has(attempt.reason))
    return lost(
      'held',
      `is held (hold tag present); only ${[...HOLD_OVERRIDE_REASONS].join(', ')} claims it`,
    );
  if (
    old.status === 'RUNNING' &&
    (old.generation !== attempt.expected || !leaseExpired(old.leaseExpiresAt, attempt.now))
  ) {
    return lost(
      'not-eligible',
      `already claimed by g${old.generation} (lease until ${old.leaseExpiresAt ?? 'unset'})`,
    );
  }
  if (old.generation !== attempt.expected) {
    return lost(
      'not-eligible',
      `expected g${attempt.expected} but the record is at g${old.generation} (${old.status})`,
    );
  }
  return lost(
    'not-eligible',
    `${old.status} g${old.generation} is not claimable for reason '${attempt.reason}'`,
  );
}
