// Orphaning: any status but ORPHANED → ORPHANED with a reason (terminated, opted-out, vanished), the
// legal moves taken from core/status.ts. One conditional write: a duplicate or stale event changes nothing.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { canTransition } from '../../core/status.js';
import { STATUSES } from '../../core/types.js';
import { bestEffortHistory } from './history.js';
import { type StoreContext, send } from './io.js';
import { type Item, stateKey } from './items.js';

export async function markOrphaned(
  ctx: StoreContext,
  instanceId: string,
  reason: string,
  actor: string,
  now: Date,
): Promise<{ changed: boolean; generation?: number }> {
  const from = STATUSES.filter((status) => canTransition(status, 'ORPHANED'));
  const values: Item = Object.fromEntries(from.map((status) => [`:from_${status}`, status]));
  try {
    const { Attributes } = await send(
      ctx,
      new UpdateCommand({
        TableName: ctx.tableName,
        Key: stateKey(instanceId),
        UpdateExpression:
          'SET #status = :orphaned, #reason = :reason, dueAt = :now, updatedAt = :now REMOVE leaseExpiresAt',
        ConditionExpression: `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`,
        ExpressionAttributeNames: { '#status': 'status', '#reason': 'reason' },
        ExpressionAttributeValues: {
          ...values,
          ':orphaned': 'ORPHANED',
          ':reason': reason,
          ':now': now.toISOString(),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const generation = Number(Attributes?.generation ?? 0);
    await bestEffortHistory(ctx, {
      instanceId,
      type: 'ORPHANED',
      at: now.toISOString(),
      actor,
      generation,
      reason,
    });
    return { changed: true, generation };
  } catch (error) {
    // No record, or already ORPHANED: a duplicate/stale event changes nothing and notifies nobody.
    if (error instanceof ConditionalCheckFailedException) return { changed: false };
    throw error;
  }
}
