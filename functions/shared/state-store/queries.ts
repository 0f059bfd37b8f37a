// Reading records: one instance (one Query over its items), by status through the status index, the
// compact fleet through the sparse fleet index, and every record in full (for the CLI).
import type { Status } from '../../core/types.js';
import type { FleetEntry, InstanceRecord } from '../state-store-api.js';
import { FACTS_SK, FLEET_INDEX, RUN_SK, STATE_SK, STATUS_INDEX } from '../table-schema.js';
import { batchGet, queryAll, readParts, type StoreContext } from './io.js';
import { assemble, type Item, toFleetEntry, toRecord } from './items.js';

export async function getInstance(
  ctx: StoreContext,
  instanceId: string,
): Promise<InstanceRecord | undefined> {
  const parts = await readParts(ctx, instanceId);
  return parts ? toRecord(parts) : undefined;
}

export async function listByStatus(
  ctx: StoreContext,
  status: Status,
  options: { dueBefore?: Date } = {},
): Promise<InstanceRecord[]> {
  const due = options.dueBefore === undefined ? '' : ' AND dueAt <= :due';
  const items = await queryAll(ctx, {
    TableName: ctx.tableName,
    IndexName: STATUS_INDEX.name,
    KeyConditionExpression: `#status = :status${due}`,
    ExpressionAttributeNames: { '#status': STATUS_INDEX.partitionKey },
    ExpressionAttributeValues: {
      ':status': status,
      ...(options.dueBefore === undefined ? {} : { ':due': options.dueBefore.toISOString() }),
    },
  });
  return withDetails(ctx, items);
}

export async function listFleet(ctx: StoreContext): Promise<FleetEntry[]> {
  const items = await queryAll(ctx, {
    TableName: ctx.tableName,
    IndexName: FLEET_INDEX.name,
    KeyConditionExpression: '#fleet = :fleet',
    ExpressionAttributeNames: { '#fleet': FLEET_INDEX.partitionKey },
    ExpressionAttributeValues: { ':fleet': FLEET_INDEX.partitionValue },
  });
  return items.map(toFleetEntry);
}

export async function listAll(ctx: StoreContext): Promise<InstanceRecord[]> {
  const ids = (await listFleet(ctx)).map((entry) => entry.instanceId);
  const items = await batchGet(
    ctx,
    ids.flatMap((id) => [STATE_SK, FACTS_SK, RUN_SK].map((sk) => ({ pk: id, sk }))),
  );
  const records = assemble(items).map(toRecord);
  return records.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
}

/** Full records for state items read from an index: their FACTS and RUN items, batched. */
async function withDetails(ctx: StoreContext, states: readonly Item[]): Promise<InstanceRecord[]> {
  const details = await batchGet(
    ctx,
    states.flatMap((state) => [FACTS_SK, RUN_SK].map((sk) => ({ pk: state.pk, sk }))),
  );
  return assemble([...states, ...details]).map(toRecord);
}
