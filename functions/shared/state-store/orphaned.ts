// Orphaning: any status but ORPHANED → ORPHANED with a reason (terminated, opted-out, vanished), the
// legal moves taken from core/status.ts. One conditional write: a duplicate or stale event changes nothing.
// A run orphaned while it holds a rollout slot gives it back as failed, in the same transaction
// (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): the pool never waits on a host that is gone.
// The write first assumes no slot (most records hold none): a duplicate event still costs one refused write.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { canTransition } from '../../core/status.js';
import { STATUSES } from '../../core/types.js';
import { readClaimTarget } from './claim.js';
import { bestEffortHistory } from './history.js';
import { conditionFailed, type StoreContext, send } from './io.js';
import { type Item, scalars, stateKey } from './items.js';
import { releaseItems, settleRelease } from './rollouts.js';

/** Writes tried when the record's slot changes under them (a claim or an outcome meanwhile). */
const ATTEMPTS = 3;

type Held = { rolloutId: string; lane: string };
/**
 * What the orphaning write did: the generation it orphaned, or why nothing changed (`held`: the record's slot
 * is not the one the write assumed; write again with this one, or with none).
 */
type Written = { generation: number } | { refused: true } | { held: Held | undefined };

export async function markOrphaned(
  ctx: StoreContext,
  instanceId: string,
  reason: string,
  actor: string,
  now: Date,
): Promise<{ changed: boolean; generation?: number }> {
  let held: Held | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const result = held
      ? await orphanReleasing(ctx, instanceId, reason, now, held)
      : await orphanWrite(ctx, instanceId, reason, now);
    if ('refused' in result) return { changed: false };
    if ('held' in result) {
      held = result.held;
      continue;
    }
    const { generation } = result;
    if (held) await settleRelease(ctx, held, 'failed', { instanceId, generation });
    await bestEffortHistory(ctx, {
      instanceId,
      type: 'ORPHANED',
      at: now.toISOString(),
      actor,
      generation,
      reason,
      ...(held ? { details: { released: held } } : {}),
    });
    return { changed: true, generation };
  }
  return { changed: false };
}

/**
 * The state item's update: conditioned on a status that may become ORPHANED and on the slot the record was
 * read with (`held`), or on none.
 */
function orphanUpdate(ctx: StoreContext, instanceId: string, reason: string, now: Date, held?: Held) {
  const from = STATUSES.filter((status) => canTransition(status, 'ORPHANED'));
  const values: Item = Object.fromEntries(from.map((status) => [`:from_${status}`, status]));
  const legal = `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`;
  return {
    TableName: ctx.tableName,
    Key: stateKey(instanceId),
    UpdateExpression: `SET #status = :orphaned, #reason = :reason, dueAt = :now, updatedAt = :now REMOVE leaseExpiresAt${held ? ', rolloutId, #lane' : ''}`,
    ConditionExpression: `${legal} AND ${held ? 'rolloutId = :heldRollout' : 'attribute_not_exists(rolloutId)'}`,
    ExpressionAttributeNames: {
      '#status': 'status',
      '#reason': 'reason',
      ...(held ? { '#lane': 'lane' } : {}),
    },
    ExpressionAttributeValues: {
      ...values,
      ':orphaned': 'ORPHANED',
      ':reason': reason,
      ':now': now.toISOString(),
      ...(held ? { ':heldRollout': held.rolloutId } : {}),
    },
  };
}

/** Orphaning a record that holds no slot; refused with the slot it holds, when it holds one. */
async function orphanWrite(
  ctx: StoreContext,
  instanceId: string,
  reason: string,
  now: Date,
): Promise<Written> {
  try {
    const { Attributes } = await send(
      ctx,
      new UpdateCommand({
        ...orphanUpdate(ctx, instanceId, reason, now),
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { generation: Number(Attributes?.generation ?? 0) };
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    // No record, or already ORPHANED (a duplicate/stale event): nothing changes, nobody is notified.
    const old = scalars(error.Item);
    const legal = typeof old?.status === 'string' && canTransition(old.status as never, 'ORPHANED');
    if (!legal || typeof old?.rolloutId !== 'string') return { refused: true };
    return { held: { rolloutId: old.rolloutId, lane: typeof old.lane === 'string' ? old.lane : '' } };
  }
}

/** Orphaning a record that holds the slot `held`, released as failed in the same transaction. */
async function orphanReleasing(
  ctx: StoreContext,
  instanceId: string,
  reason: string,
  now: Date,
  held: Held,
): Promise<Written> {
  const update = orphanUpdate(ctx, instanceId, reason, now, held);
  const released = releaseItems(
    ctx,
    instanceId,
    held,
    { status: 'ORPHANED', reason: `orphaned: ${reason}` },
    now,
  );
  try {
    await send(ctx, new TransactWriteCommand({ TransactItems: [{ Update: update }, ...released] }));
  } catch (error) {
    if (conditionFailed(error, 0)) {
      // Its slot changed meanwhile (or it is no longer a legal move): read it again.
      const current = await readClaimTarget(ctx, instanceId);
      if (!current) return { refused: true };
      return {
        held:
          current.rolloutId === undefined
            ? undefined
            : { rolloutId: current.rolloutId, lane: current.lane ?? '' },
      };
    }
    if (!conditionFailed(error, 1)) throw error;
    // The pool item is gone: nothing is left to release into; the orphaning is written alone.
    try {
      await send(ctx, new UpdateCommand(update));
    } catch (alone) {
      if (alone instanceof ConditionalCheckFailedException) return { refused: true };
      throw alone;
    }
  }
  const after = await readClaimTarget(ctx, instanceId);
  return { generation: after?.generation ?? 0 };
}
