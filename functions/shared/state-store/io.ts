// The store's context and its calls to DynamoDB: writes retried while they meet a concurrent
// transaction on the same item (CONFLICT_ATTEMPTS; a claim's ConditionCheck on `CONTROL/PAUSE` is one for
// the pause's own writes), the transaction cancellation reasons, paged queries,
// batched reads, and reading one instance's items in one Query.
import {
  type CancellationReason,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  type DeleteCommandOutput,
  type DynamoDBDocumentClient,
  PutCommand,
  type PutCommandOutput,
  QueryCommand,
  type QueryCommandInput,
  type TransactWriteCommand,
  type TransactWriteCommandOutput,
  UpdateCommand,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { TransientError } from '../errors.js';
import type { DebugLogger } from '../logger.js';
import { FACTS_SK, STATE_SK } from '../table-schema.js';
import { assemble, type Item, type Parts } from './items.js';

/** What every part of the store works with: the table, the client, and the store's options. */
export interface StoreContext {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** History items expire this many seconds after they were written (TTL). */
  readonly historySeconds: number;
  readonly accountId: string | undefined;
  readonly region: string | undefined;
  readonly logger: DebugLogger;
}

/** Attempts at a write that keeps meeting a concurrent transaction on the same item (real DynamoDB). */
const CONFLICT_ATTEMPTS = 4;

/**
 * A write, retried when it met a concurrent transaction on the same item (real DynamoDB answers
 * TransactionConflictException, or cancels a transaction with reason TransactionConflict). The SDK does
 * not retry either; after a few attempts it is a TransientError for the caller's own retry policy.
 */
export function send(ctx: StoreContext, command: UpdateCommand): Promise<UpdateCommandOutput>;
export function send(ctx: StoreContext, command: TransactWriteCommand): Promise<TransactWriteCommandOutput>;
export function send(ctx: StoreContext, command: PutCommand): Promise<PutCommandOutput>;
export function send(ctx: StoreContext, command: DeleteCommand): Promise<DeleteCommandOutput>;
export async function send(
  ctx: StoreContext,
  command: UpdateCommand | TransactWriteCommand | PutCommand | DeleteCommand,
): Promise<UpdateCommandOutput | TransactWriteCommandOutput | PutCommandOutput | DeleteCommandOutput> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (command instanceof UpdateCommand) return await ctx.doc.send(command);
      if (command instanceof PutCommand) return await ctx.doc.send(command);
      if (command instanceof DeleteCommand) return await ctx.doc.send(command);
      return await ctx.doc.send(command);
    } catch (error) {
      if (!isTransactionConflict(error)) throw error;
      if (attempt >= CONFLICT_ATTEMPTS) {
        throw new TransientError(
          `${command.constructor.name} on ${ctx.tableName} kept conflicting with concurrent transactions on the same item (${attempt} attempts); retry later`,
          { cause: error },
        );
      }
      await sleep(Math.random() * 25 * 2 ** attempt);
    }
  }
}

/** A conditional update: true when it was applied, false when its condition failed. */
export async function applied(ctx: StoreContext, command: UpdateCommand): Promise<boolean> {
  try {
    await send(ctx, command);
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** The cancellation reason of action `index` of a cancelled TransactWriteItems, if that is what `error` is. */
export function cancellation(error: unknown, index: number): CancellationReason | undefined {
  return error instanceof TransactionCanceledException ? error.CancellationReasons?.[index] : undefined;
}

/** True when action `index` of a cancelled transaction failed its condition. */
export function conditionFailed(error: unknown, index: number): boolean {
  return cancellation(error, index)?.Code === 'ConditionalCheckFailed';
}

/** A write that met a concurrent transaction: worth another attempt. */
function isTransactionConflict(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TransactionConflictException') return true;
  const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
  // Only when nothing else failed: a failed condition is an answer, not a conflict.
  return (
    reasons.some((r) => r.Code === 'TransactionConflict') &&
    reasons.every((r) => r.Code === 'TransactionConflict' || r.Code === 'None' || r.Code === undefined)
  );
}

/** Every page of a query (or the first `limit` items). */
export async function queryAll(ctx: StoreContext, input: QueryCommandInput, limit?: number): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const remaining = limit === undefined ? undefined : limit - items.length;
    const page = await ctx.doc.send(
      new QueryCommand({
        ...input,
        ExclusiveStartKey: startKey,
        ...(remaining === undefined ? {} : { Limit: remaining }),
      }),
    );
    items.push(...((page.Items ?? []) as Item[]));
    startKey = page.LastEvaluatedKey as Item | undefined;
  } while (startKey && (limit === undefined || items.length < limit));
  return items;
}

/** BatchGetItem in requests of 100 keys, retrying unprocessed keys with backoff. Order is not kept. */
export async function batchGet(ctx: StoreContext, allKeys: readonly Item[]): Promise<Item[]> {
  const items: Item[] = [];
  for (let start = 0; start < allKeys.length; start += 100) {
    let keys: Item[] = allKeys.slice(start, start + 100);
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
      const result = await ctx.doc.send(
        new BatchGetCommand({ RequestItems: { [ctx.tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      items.push(...((result.Responses?.[ctx.tableName] ?? []) as Item[]));
      keys = (result.UnprocessedKeys?.[ctx.tableName]?.Keys ?? []) as Item[];
    }
  }
  return items;
}

/** The state item and its FACTS and RUN siblings, in one Query (history sorts before FACTS). */
export async function readParts(ctx: StoreContext, instanceId: string): Promise<Parts | undefined> {
  const items = await queryAll(ctx, {
    TableName: ctx.tableName,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :first AND :last',
    ExpressionAttributeValues: { ':pk': instanceId, ':first': FACTS_SK, ':last': STATE_SK },
    ConsistentRead: true,
  });
  return assemble(items)[0];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
