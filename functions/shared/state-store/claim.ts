// The claim (docs/adr/0001-claims-and-fencing.md): ONE conditional UpdateItem on the generation the
// caller saw and on eligibility, compiled here from core/eligibility.ts (the one place that decides);
// a loser gets the record as it was (ALL_OLD) back as a typed loss.
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

export async function claim(
  ctx: StoreContext,
  instanceId: string,
  options: {
    reason: ClaimReason;
    leaseSeconds: number;
    actor: string;
    now: Date;
    expectedGeneration?: number;
  },
): Promise<ClaimResult> {
  const { reason, now } = options;
  let expected = options.expectedGeneration;
  if (expected === undefined) {
    // The execution name embeds the new generation, so the write must know it: read it first.
    const { Item } = await ctx.doc.send(
      new GetCommand({
        TableName: ctx.tableName,
        Key: stateKey(instanceId),
        ConsistentRead: true,
        ProjectionExpression: 'generation',
      }),
    );
    if (!Item) return { won: false, reason: 'missing', message: `${instanceId} has no record to claim` };
    expected = Number(Item.generation);
  }
  const generation = expected + 1;
  const executionName = executionNameOf(instanceId, generation);
  const leaseExpiresAt = new Date(now.getTime() + options.leaseSeconds * 1000).toISOString();
  const reprovision = REPROVISION_REASONS.has(reason);
  const eligibility = claimEligibility(reprovision);
  const heldClause = HOLD_OVERRIDE_REASONS.has(reason) ? '' : ' AND held = :false';
  try {
    // The RUN item is left as it is: it belongs to the previous generation and is no longer shown.
    await send(
      ctx,
      new UpdateCommand({
        TableName: ctx.tableName,
        Key: stateKey(instanceId),
        UpdateExpression:
          'SET #status = :running, generation = :next, leaseExpiresAt = :lease, dueAt = :lease, ' +
          'executionName = :name, updatedAt = :now REMOVE activeCommand, #reason',
        ConditionExpression: `attribute_exists(pk) AND generation = :expected${heldClause} AND (${eligibility.expression})`,
        ExpressionAttributeNames: { '#status': 'status', '#reason': 'reason' },
        ExpressionAttributeValues: {
          ...eligibility.values,
          ':running': 'RUNNING',
          ':next': generation,
          ':expected': expected,
          ':lease': leaseExpiresAt,
          ':name': executionName,
          ':now': now.toISOString(),
          ...(heldClause ? { ':false': false } : {}),
        },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return claimLoss(instanceId, readOld(error.Item), { reason, expected, now });
    }
    throw error;
  }
  await bestEffortHistory(ctx, {
    instanceId,
    type: 'CLAIMED',
    at: now.toISOString(),
    actor: options.actor,
    generation,
    reason,
    details: { executionName, leaseExpiresAt },
  });
  return { won: true, generation, executionName, leaseExpiresAt };
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
  if (old.status === undefined || old.generation === undefined) {
    return { won: false, reason: 'missing', message: `${instanceId} has no record to claim` };
  }
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
