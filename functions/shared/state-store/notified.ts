// The notification guard on the record (docs/adr/0008-notifications-at-most-once.md): one conditional
// write of `<generation>#<status>` before anything is sent, true only the first time.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Status } from '../../core/types.js';
import { type StoreContext, send } from './io.js';
import { stateKey } from './items.js';

export async function markNotified(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  status: Status,
  now: Date,
): Promise<boolean> {
  try {
    await send(
      ctx,
      new UpdateCommand({
        TableName: ctx.tableName,
        Key: stateKey(instanceId),
        UpdateExpression: 'SET notifiedKey = :key, updatedAt = :now',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(notifiedKey) OR notifiedKey <> :key)',
        ExpressionAttributeValues: { ':key': `${generation}#${status}`, ':now': now.toISOString() },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
