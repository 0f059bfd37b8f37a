// The audit history of an instance (`sk = EVT#<iso>#<seq>`, expiring after historyDays): appending an
// event, the best-effort write the store makes after its own state writes, and reading the events back.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { HistoryEvent } from '../state-store-api.js';
import { HISTORY_SK_PREFIX, TTL_ATTRIBUTE } from '../table-schema.js';
import { queryAll, type StoreContext } from './io.js';
import { plain, toHistoryEvent } from './items.js';

let historySeq = 0;

export async function appendHistory(ctx: StoreContext, event: HistoryEvent): Promise<void> {
  const seq = `${String(historySeq++ % 10_000).padStart(4, '0')}${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
  await ctx.doc.send(
    new PutCommand({
      TableName: ctx.tableName,
      Item: {
        ...plain(event),
        pk: event.instanceId,
        sk: `${HISTORY_SK_PREFIX}${event.at}#${seq}`,
        [TTL_ATTRIBUTE]: Math.floor(Date.parse(event.at) / 1000) + ctx.historySeconds,
      },
    }),
  );
}

/** Best-effort history: the state write already happened and is the truth, so a failure here is logged, not thrown. */
export async function bestEffortHistory(ctx: StoreContext, event: HistoryEvent): Promise<void> {
  try {
    await appendHistory(ctx, event);
  } catch (error) {
    ctx.logger.warn('History write failed; the state item is unaffected', { event, error });
  }
}

/**
 * The instance's events, oldest first. With `limit`, the first `limit` events — or, with `newest`, the
 * last `limit` (read newest first, returned oldest first).
 */
export async function listHistory(
  ctx: StoreContext,
  instanceId: string,
  options: { limit?: number; newest?: boolean } = {},
): Promise<HistoryEvent[]> {
  const newest = options.newest === true;
  const items = await queryAll(
    ctx,
    {
      TableName: ctx.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': instanceId, ':prefix': HISTORY_SK_PREFIX },
      ScanIndexForward: !newest,
    },
    options.limit,
  );
  const events = items.map(toHistoryEvent);
  return newest ? events.reverse() : events;
}
