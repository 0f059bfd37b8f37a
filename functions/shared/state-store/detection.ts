// Recording a detection: creates the record (state and FACTS items, PENDING at g0) or refreshes its facts
// snapshot, source and held flag, writing only when something changed (a steady fleet writes nothing);
// revives an orphan as PENDING (core/status.ts) unless it was terminated. Never claims.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { factsHash } from '../../core/fingerprint.js';
import { ORPHAN_REASONS } from '../../core/reconcile.js';
import { canTransition } from '../../core/status.js';
import type { HostFacts } from '../../core/types.js';
import { TransientError } from '../errors.js';
import type { InstanceRecord } from '../state-store-api.js';
import { FACTS_SK, FLEET_INDEX } from '../table-schema.js';
import { bestEffortHistory } from './history.js';
import { conditionFailed, readParts, type StoreContext, send } from './io.js';
import { FACTS_FIELDS, type Item, packHash, plain, stateKey, toRecord } from './items.js';

export function upsertDetection(
  ctx: StoreContext,
  facts: HostFacts,
  options: { held: boolean; actor: string; now: Date },
): Promise<{ record: InstanceRecord; written: boolean; created: boolean }> {
  return upsert(ctx, facts, options, 1);
}

async function upsert(
  ctx: StoreContext,
  facts: HostFacts,
  options: { held: boolean; actor: string; now: Date },
  attempt: number,
): Promise<{ record: InstanceRecord; written: boolean; created: boolean }> {
  // Each retry follows a write that lost a race; three in a row means something else rewrites the item.
  if (attempt > 3) {
    throw new TransientError(
      `upsertDetection(${facts.instanceId}): the record kept changing under 3 attempts; retry later`,
    );
  }
  const hash = factsHash(facts);
  const now = options.now.toISOString();
  const parts = await readParts(ctx, facts.instanceId);
  const existing = parts ? toRecord(parts) : undefined;
  if (!parts || !existing) {
    const created = await create(ctx, facts, hash, options.held, now);
    if (created) {
      await bestEffortHistory(ctx, {
        instanceId: facts.instanceId,
        type: 'DETECTED',
        at: now,
        actor: options.actor,
        generation: 0,
        reason: 'new',
        details: { source: facts.source, held: options.held },
      });
      return { record: created, written: true, created: true };
    }
    // Another detector created it between our read and our write: treat theirs as the existing record.
    return upsert(ctx, facts, options, attempt + 1);
  }
  // status.ts: an orphan comes back only through detection, as PENDING. A terminated instance never
  // comes back (EC2 never reuses ids), so a stale detection of one must not revive it.
  const revive =
    existing.status === 'ORPHANED' &&
    existing.reason !== ORPHAN_REASONS.terminated &&
    canTransition('ORPHANED', 'PENDING');
  const changes = [
    existing.factsHash !== hash ? 'facts' : undefined,
    existing.held !== options.held ? 'held' : undefined,
    existing.source !== facts.source ? 'source' : undefined,
  ].filter((change): change is string => change !== undefined);
  if (!revive && changes.length === 0) return { record: existing, written: false, created: false };

  const values: Item = {
    ':hash': packHash(hash),
    ':held': options.held,
    ':source': facts.source,
    ':now': now,
  };
  let update = 'SET factsHash = :hash, held = :held, #source = :source, updatedAt = :now';
  let condition = 'attribute_exists(pk)';
  if (revive) {
    update += ', #status = :pending, dueAt = :now REMOVE #reason, leaseExpiresAt';
    condition += ' AND #status = :orphaned';
    values[':pending'] = 'PENDING';
    values[':orphaned'] = 'ORPHANED';
  }
  const stateUpdate = {
    TableName: ctx.tableName,
    Key: stateKey(facts.instanceId),
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: {
      '#source': 'source',
      ...(revive ? { '#status': 'status', '#reason': 'reason' } : {}),
    },
    ExpressionAttributeValues: values,
  };
  try {
    let record: InstanceRecord;
    if (changes.includes('facts')) {
      // The snapshot and its hash change together, or not at all.
      await send(
        ctx,
        new TransactWriteCommand({
          TransactItems: [
            { Update: stateUpdate },
            {
              Update: {
                TableName: ctx.tableName,
                Key: { pk: facts.instanceId, sk: FACTS_SK },
                UpdateExpression: 'SET facts = :facts',
                ExpressionAttributeValues: { ':facts': plain(facts) },
              },
            },
          ],
        }),
      );
      const after = await readParts(ctx, facts.instanceId);
      record = after ? toRecord(after) : { ...existing, facts, factsHash: hash };
    } else {
      const { Attributes } = await send(ctx, new UpdateCommand({ ...stateUpdate, ReturnValues: 'ALL_NEW' }));
      record = toRecord({ ...parts, state: Attributes ?? parts.state });
    }
    await bestEffortHistory(ctx, {
      instanceId: facts.instanceId,
      type: 'DETECTED',
      at: now,
      actor: options.actor,
      generation: record.generation,
      reason: revive ? 're-detected' : `${changes.join('+')}-changed`,
      ...(revive ? { details: { previousReason: existing.reason } } : {}),
    });
    return { record, written: true, created: false };
  } catch (error) {
    // The record moved under us (deleted, or the orphan already revived): start again from a fresh read.
    if (error instanceof ConditionalCheckFailedException || conditionFailed(error, 0)) {
      return upsert(ctx, facts, options, attempt + 1);
    }
    throw error;
  }
}

async function create(
  ctx: StoreContext,
  facts: HostFacts,
  hash: string,
  held: boolean,
  now: string,
): Promise<InstanceRecord | undefined> {
  const record: InstanceRecord = {
    instanceId: facts.instanceId,
    status: 'PENDING',
    source: facts.source,
    facts,
    factsHash: hash,
    generation: 0,
    held,
    ...(ctx.accountId ? { accountId: ctx.accountId } : {}),
    ...(ctx.region ? { region: ctx.region } : {}),
    createdAt: now,
    updatedAt: now,
  };
  const state: Item = {
    ...stateKey(facts.instanceId),
    [FLEET_INDEX.partitionKey]: FLEET_INDEX.partitionValue,
    status: record.status,
    source: record.source,
    factsHash: packHash(hash),
    generation: 0,
    held,
    dueAt: now,
    updatedAt: now,
  };
  const factsItem: Item = { pk: facts.instanceId, sk: FACTS_SK };
  for (const field of FACTS_FIELDS) if (record[field] !== undefined) factsItem[field] = plain(record[field]);
  try {
    await send(
      ctx,
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: ctx.tableName,
              Item: state,
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          { Put: { TableName: ctx.tableName, Item: factsItem } },
        ],
      }),
    );
    return record;
  } catch (error) {
    if (conditionFailed(error, 0)) return undefined;
    throw error;
  }
}
