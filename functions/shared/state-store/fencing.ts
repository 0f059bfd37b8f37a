// Fencing (docs/adr/0001-claims-and-fencing.md): every write an execution makes is conditioned on
// `generation = :g AND status = RUNNING`, so a stale execution can never overwrite a newer one. A refusal
// is returned, explained from the record as it was, and audited as FENCE_REJECTED when the fence held a
// stale writer off. A write that also touches the RUN item does it in one transaction with the fence.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type TransactWriteCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { FencedResult } from '../state-store-api.js';
import { RUN_SK } from '../table-schema.js';
import { executionNameOf } from '../workflow-contract.js';
import { bestEffortHistory } from './history.js';
import { cancellation, conditionFailed, type StoreContext, send } from './io.js';
import { type Item, stateKey } from './items.js';
import { type OldState, readOld } from './old-state.js';

/** The RUN item's half of a fenced transaction. */
export type RunWrite =
  | { readonly put: Item }
  | {
      readonly update: string;
      readonly values: Item;
      readonly condition: string;
      /** Why the RUN condition failed, from the RUN item as it was (generation, playbook count). */
      readonly explain: (old: OldState) => string;
    };

/**
 * A write fenced on the generation: applied only while the record is RUNNING at `generation`.
 * A refusal is returned (never thrown) and explained from the record's state.
 */
export async function fenced(
  ctx: StoreContext,
  method: string,
  instanceId: string,
  generation: number,
  now: Date,
  write: {
    update: string;
    values: Item;
    names?: Record<string, string>;
    condition?: string;
    explain?: (old: OldState) => string;
  },
  run?: RunWrite,
): Promise<FencedResult> {
  const stateUpdate = {
    TableName: ctx.tableName,
    Key: stateKey(instanceId),
    UpdateExpression: write.update,
    ConditionExpression: `attribute_exists(pk) AND generation = :g AND #status = :running${write.condition ? ` AND ${write.condition}` : ''}`,
    ExpressionAttributeNames: { '#status': 'status', ...write.names },
    ExpressionAttributeValues: {
      ...write.values,
      ':g': generation,
      ':running': 'RUNNING',
      ':now': now.toISOString(),
    },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
  try {
    if (!run) await send(ctx, new UpdateCommand(stateUpdate));
    else {
      await send(
        ctx,
        new TransactWriteCommand({
          TransactItems: [{ Update: stateUpdate }, runAction(ctx, instanceId, run)],
        }),
      );
    }
    return { ok: true };
  } catch (error) {
    const refuse = (item: Record<string, unknown> | undefined) =>
      refused(ctx, method, instanceId, generation, now, readOld(item), write.explain);
    if (error instanceof ConditionalCheckFailedException) return refuse(error.Item);
    if (run && conditionFailed(error, 0)) return refuse(cancellation(error, 0)?.Item);
    if (run && 'update' in run && conditionFailed(error, 1)) {
      // The fence held; the RUN item has no such planned playbook for this generation.
      return {
        ok: false,
        currentGeneration: generation,
        message: `${method}: ${run.explain(readOld(cancellation(error, 1)?.Item))}`,
      };
    }
    throw error;
  }
}

/** A fenced write the state item refused, explained from the item as it was (ALL_OLD). */
async function refused(
  ctx: StoreContext,
  method: string,
  instanceId: string,
  generation: number,
  now: Date,
  old: OldState,
  explain?: (old: OldState) => string,
): Promise<FencedResult> {
  let message: string;
  if (old.generation === undefined) message = `${instanceId} has no record`;
  else if (old.generation !== generation)
    message = `fenced on g${generation} but the record is at g${old.generation} (${old.status})`;
  else if (old.status !== 'RUNNING') message = `status is ${old.status}, not RUNNING`;
  else message = explain?.(old) ?? 'condition failed';
  // Audited only when the fence itself held a stale writer off; a same-generation refusal is a
  // retry of a write that landed, or an orphaned record (whose ORPHANED event already says why).
  if (old.generation !== undefined && old.generation !== generation) {
    await bestEffortHistory(ctx, {
      instanceId,
      type: 'FENCE_REJECTED',
      at: now.toISOString(),
      actor: `workflow:${executionNameOf(instanceId, generation)}`,
      generation,
      reason: message,
      details: { method, currentGeneration: old.generation },
    });
  }
  return {
    ok: false,
    ...(old.generation === undefined ? {} : { currentGeneration: old.generation }),
    message: `${method}: ${message}`,
  };
}

/** The RUN item's action in a fenced transaction (its own condition, explained on failure). */
function runAction(
  ctx: StoreContext,
  instanceId: string,
  run: RunWrite,
): NonNullable<TransactWriteCommandInput['TransactItems']>[number] {
  if ('put' in run) return { Put: { TableName: ctx.tableName, Item: run.put } };
  return {
    Update: {
      TableName: ctx.tableName,
      Key: { pk: instanceId, sk: RUN_SK },
      UpdateExpression: run.update,
      ConditionExpression: run.condition,
      ExpressionAttributeValues: run.values,
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}
