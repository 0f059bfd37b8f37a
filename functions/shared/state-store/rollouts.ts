// Rollouts in the table (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): a rollout item, one slot
// pool per lane, one marker per instance started in it, the pointer to the current rollout and the global
// pause. core/admission.ts decides (admit, acquire, release, resume, openPool); this module compiles those
// decisions into the conditions of DynamoDB writes, as claim.ts does for core/eligibility.ts:
// - acquire is part of the claim: ONE TransactWriteItems of the claim's own update, a ConditionCheck that
//   `CONTROL/PAUSE` is absent, the instance's marker (attribute_not_exists: never started twice in one
//   rollout), the pool's update (conditioned on admit's clauses) and, for a lane other than the canary
//   lane, a ConditionCheck that every canary succeeded. A cancelled transaction is decoded, item by item,
//   into the typed loss that says which condition failed (admissionLoss, shared with the in-memory store).
// - release is part of the outcome: the fenced outcome write, the pool's counters and the marker in one
//   transaction; then one conditional write moves the pool from ROLLING to what core's release decided
//   (PAUSED past the error threshold, DONE when all ended). Only the writer whose write succeeds is told
//   `pauses`, so exactly one notification is sent.
// - a record that holds a slot (`rolloutId`) keeps it when it is claimed again: a reclaim takes no second one.
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  admit,
  describePool,
  type Pool,
  type PoolState,
  release,
  resume as resumePool,
} from '../../core/admission.js';
import { isClaimable } from '../../core/eligibility.js';
import { CANARY_LANE } from '../../core/rollout-plan.js';
import type { Status } from '../../core/types.js';
import { InvalidInputError, TransientError } from '../errors.js';
import type {
  AdmissionRefusal,
  ClaimAdmission,
  ClaimResult,
  CreateRolloutResult,
  GlobalPause,
  NewRollout,
  OutcomeResult,
  Rollout,
  RolloutControl,
  RolloutFailure,
  SlotRelease,
} from '../state-store-api.js';
import {
  CONTROL_PK,
  CURRENT_ROLLOUT_SK,
  LANE_SK_PREFIX,
  MARKER_SK_PREFIX,
  PAUSE_SK,
  ROLLOUT_PK_PREFIX,
  ROLLOUT_SK,
} from '../table-schema.js';
import {
  type ClaimOptions,
  claim,
  claimed,
  claimLoss,
  claimWrite,
  missing,
  readClaimTarget,
} from './claim.js';
import { fenced } from './fencing.js';
import { applied, cancellation, conditionFailed, queryAll, type StoreContext, send } from './io.js';
import { type Item, plain, scalars, stateKey } from './items.js';
import { readOld } from './old-state.js';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Attempts at an optimistic write of the pools (a rollout's creation, an operator's control) that keeps meeting another. */
const OPTIMISTIC_ATTEMPTS = 4;
/** A rollout's creation is one transaction (at most 100 items): its lanes + the previous rollout's lanes + 3. */
const MAX_LANES = 40;

const rolloutPk = (rolloutId: string): string => `${ROLLOUT_PK_PREFIX}${rolloutId}`;
const rolloutKey = (rolloutId: string): Item => ({ pk: rolloutPk(rolloutId), sk: ROLLOUT_SK });
const poolKey = (rolloutId: string, lane: string): Item => ({
  pk: rolloutPk(rolloutId),
  sk: `${LANE_SK_PREFIX}${lane}`,
});
const markerKey = (rolloutId: string, instanceId: string): Item => ({
  pk: rolloutPk(rolloutId),
  sk: `${MARKER_SK_PREFIX}${instanceId}`,
});
const POINTER_KEY: Item = { pk: CONTROL_PK, sk: CURRENT_ROLLOUT_SK };
const PAUSE_KEY: Item = { pk: CONTROL_PK, sk: PAUSE_SK };

/** The Pool fields a pool item stores. */
const POOL_FIELDS = [
  'state',
  'total',
  'limit',
  'maxErrors',
  'inFlight',
  'started',
  'succeeded',
  'failed',
] as const satisfies readonly (keyof Pool)[];

/**
 * The expression names of `expressions` (`#state` → `state`): pool attributes are always named through
 * them (`state`, `limit` and `total` are reserved words), and DynamoDB refuses a name no expression uses.
 */
function namesIn(...expressions: string[]): Record<string, string> {
  const names = expressions.flatMap((expression) => [...expression.matchAll(/#(\w+)/g)]);
  return Object.fromEntries(names.map(([name, attribute]) => [name, attribute as string]));
}

/**
 * core/admission.ts `admit`, without the global pause and the canary gate (their own items), as a condition
 * on the pool item: ROLLING (not PAUSED, ABORTED or DONE), not every instance started, not past the error
 * threshold, a free slot. `acquire` is the update that goes with it.
 */
const ADMIT_CONDITION =
  '#state = :rolling AND #started < #total AND #failed <= #maxErrors AND #inFlight < #limit';
const ACQUIRE_UPDATE = 'ADD #inFlight :one, #started :one';
/** The canary gate of admit: every canary succeeded (or the rollout has no canary lane). */
const CANARY_CONDITION = 'attribute_not_exists(pk) OR #succeeded >= #total';

/**
 * How a run's outcome counts in its pool: SUCCESS, SKIPPED (nothing to apply) and DRIFTED (a check run that
 * ran and found drift) succeed; FAILED, PARTIAL and an orphaned run fail.
 */
export function countedAs(status: Status): 'succeeded' | 'failed' {
  return status === 'SUCCESS' || status === 'SKIPPED' || status === 'DRIFTED' ? 'succeeded' : 'failed';
}

function poolOf(item: Item): Pool {
  const pool: Record<string, unknown> = {};
  for (const field of POOL_FIELDS) pool[field] = field === 'state' ? item[field] : Number(item[field] ?? 0);
  return pool as unknown as Pool;
}

// ---------------------------------------------------------------------------------------------------------
// Why a claim was refused: one message per condition, shared with the in-memory store so both say the same.

export type AdmissionLossInput =
  | { readonly kind: 'globally-paused'; readonly pause: GlobalPause }
  | {
      readonly kind: 'already-started';
      readonly rolloutId: string;
      readonly lane: string;
      readonly generation?: number;
      readonly startedAt?: string;
    }
  | { readonly kind: 'no-rollout'; readonly rolloutId: string; readonly lane: string }
  | {
      readonly kind: 'pool';
      readonly rolloutId: string;
      readonly lane: string;
      /** The lane's pool as the refused claim saw it, when its own condition failed. */
      readonly pool?: Pool;
      /** The canary pool as it was, when the canary gate failed. */
      readonly canary?: Pool;
      /** Set on the pools of a superseded rollout. */
      readonly supersededBy?: string;
      /** This refusal's conditional write paused the pool (see ClaimResult): it is reported PAUSED. */
      readonly pauses?: boolean;
    };

/** The typed loss of a claim that admission refused (exported for the in-memory test store). */
export function admissionLoss(instanceId: string, refusal: AdmissionLossInput): ClaimResult {
  const lost = (reason: AdmissionRefusal, message: string, extra: Item = {}): ClaimResult => ({
    won: false,
    reason,
    ...extra,
    message: `${instanceId}: ${message}`,
  });
  switch (refusal.kind) {
    case 'globally-paused': {
      const { since, actor, reason } = refusal.pause;
      return lost(
        'globally-paused',
        `no claims while paused (autoprov pause by ${actor} since ${since}${reason ? `: ${reason}` : ''}); autoprov resume lifts it`,
      );
    }
    case 'already-started': {
      const { rolloutId, lane, generation, startedAt } = refusal;
      const when = generation === undefined ? '' : ` (g${generation}${startedAt ? ` at ${startedAt}` : ''})`;
      return lost(
        'already-started',
        `was already started in rollout ${rolloutId}${when}; an instance runs at most once per rollout`,
        { rolloutId, lane },
      );
    }
    case 'no-rollout':
      return lost('no-rollout', `rollout ${refusal.rolloutId} has no lane ${refusal.lane}`, {
        rolloutId: refusal.rolloutId,
        lane: refusal.lane,
      });
    case 'pool':
      return poolLoss(refusal, lost);
  }
}

function poolLoss(
  refusal: Extract<AdmissionLossInput, { kind: 'pool' }>,
  lost: (reason: AdmissionRefusal, message: string, extra: Item) => ClaimResult,
): ClaimResult {
  const { rolloutId, lane, pool, canary, supersededBy, pauses } = refusal;
  const decision = pool ? admit(pool, canary ? { canary } : {}) : undefined;
  const reason: AdmissionRefusal =
    pool && supersededBy
      ? 'superseded'
      : decision && !decision.admit
        ? decision.reason
        : canary
          ? 'canary-pending'
          : 'full';
  const what: Record<AdmissionRefusal, string> = {
    'globally-paused': 'is paused globally',
    paused: `is paused; autoprov rollout resume ${rolloutId} (or abort)`,
    aborted: 'was aborted',
    superseded: `was superseded by rollout ${supersededBy}`,
    done: 'has admitted all its instances',
    'error-threshold': 'is past its error threshold',
    'canary-pending': `waits until every canary succeeded (lane ${CANARY_LANE}: ${canary ? describePool(canary) : 'unknown'})`,
    full: 'is full',
    'already-started': 'already started this instance',
    'no-rollout': 'does not exist',
  };
  const reported = pool && pauses ? { ...pool, state: 'PAUSED' as const } : pool;
  const described = reason === 'canary-pending' || !reported ? '' : `: ${describePool(reported)}`;
  return lost(reason, `rollout ${rolloutId} lane ${lane} ${what[reason]}${described}`, {
    rolloutId,
    lane,
    ...(reported ? { pool: reported } : {}),
    ...(pauses ? { pauses: true } : {}),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Acquire: the claim under admission.

/**
 * A claim under `admission`. Without a rollout, only the global pause applies: it is read first (a claim
 * racing the pause is one made just before it, and the claim stays the single UpdateItem of ADR 0001).
 * With a rollout, the claim's update, the pause check and the acquire are one transaction.
 */
export async function claimAdmitted(
  ctx: StoreContext,
  instanceId: string,
  options: ClaimOptions,
  admission: ClaimAdmission,
): Promise<ClaimResult> {
  const wanted = admission.rollout;
  if (!wanted) {
    const pause = await getGlobalPause(ctx);
    return pause
      ? admissionLoss(instanceId, { kind: 'globally-paused', pause })
      : claim(ctx, instanceId, options);
  }
  const seen = await readClaimTarget(ctx, instanceId);
  if (!seen) return missing(instanceId);
  const expected = options.expectedGeneration ?? seen.generation;
  const held =
    seen.rolloutId === undefined ? undefined : { rolloutId: seen.rolloutId, lane: seen.lane ?? '' };
  const write = claimWrite(
    ctx,
    instanceId,
    options,
    expected,
    held
      ? // A reclaim keeps its slot: conditioned on still holding it.
        { condition: 'rolloutId = :heldRollout', values: { ':heldRollout': held.rolloutId } }
      : {
          condition: 'attribute_not_exists(rolloutId)',
          set: 'rolloutId = :rolloutId, #lane = :lane',
          values: { ':rolloutId': wanted.rolloutId, ':lane': wanted.lane },
          names: { '#lane': 'lane' },
        },
  );
  const roles: Role[] = ['claim', 'pause'];
  const actions: TransactItem[] = [{ Update: write.update }, pauseCheck(ctx)];
  if (!held) {
    roles.push('marker', 'pool');
    actions.push(
      markerPut(ctx, wanted.rolloutId, instanceId, {
        lane: wanted.lane,
        generation: write.generation,
        now: options.now,
        actor: options.actor,
      }),
      poolAcquire(ctx, wanted.rolloutId, wanted.lane),
    );
    if (wanted.lane !== CANARY_LANE) {
      roles.push('canary');
      actions.push(canaryCheck(ctx, wanted.rolloutId));
    }
  }
  try {
    await send(ctx, new TransactWriteCommand({ TransactItems: actions }));
  } catch (error) {
    const failed = failedConditions(error, roles);
    if (!failed) throw error;
    return decodeClaimCancellation(ctx, instanceId, failed, { options, expected, wanted });
  }
  return claimed(ctx, instanceId, options, write, { ...(held ?? wanted), acquired: !held });
}

type Role = 'claim' | 'pause' | 'marker' | 'pool' | 'canary';
/** An item as DynamoDB returns it in an error (ALL_OLD): not unmarshalled. */
type Raw = Record<string, unknown>;

/**
 * The items of a cancelled transaction whose condition failed, by role, each with what it held (ALL_OLD,
 * in the wire format). DynamoDB (and DynamoDB Local) reports a reason for every item, in the order
 * of the transaction: `ConditionalCheckFailed` for each failed condition, `None` for the others.
 * Undefined when nothing failed a condition (the caller rethrows).
 */
function failedConditions(error: unknown, roles: readonly Role[]): Map<Role, Raw | undefined> | undefined {
  if (!(error instanceof TransactionCanceledException)) return undefined;
  const failed = new Map<Role, Raw | undefined>();
  roles.forEach((role, index) => {
    const reason = cancellation(error, index);
    if (reason?.Code === 'ConditionalCheckFailed') failed.set(role, reason.Item);
  });
  return failed.size > 0 ? failed : undefined;
}

/**
 * Which condition refused the claim, in core/admission.ts's order: the global pause first, then the
 * record itself (not eligible, held, …: claim.ts's explanation), then the marker (already started), then
 * the pool and the canary gate, which admit() orders between them.
 */
async function decodeClaimCancellation(
  ctx: StoreContext,
  instanceId: string,
  failed: Map<Role, Raw | undefined>,
  attempt: { options: ClaimOptions; expected: number; wanted: { rolloutId: string; lane: string } },
): Promise<ClaimResult> {
  const { rolloutId, lane } = attempt.wanted;
  const item = (role: Role): Item | undefined => scalars(failed.get(role));
  if (failed.has('pause')) {
    return admissionLoss(instanceId, { kind: 'globally-paused', pause: pauseOf(item('pause')) });
  }
  if (failed.has('claim')) return claimRefusal(instanceId, failed.get('claim'), attempt);
  if (failed.has('marker')) {
    const marker = item('marker') ?? {};
    return admissionLoss(instanceId, {
      kind: 'already-started',
      rolloutId,
      lane,
      ...(marker.generation === undefined ? {} : { generation: Number(marker.generation) }),
      ...(typeof marker.startedAt === 'string' ? { startedAt: marker.startedAt } : {}),
    });
  }
  const poolItem = item('pool');
  if (failed.has('pool') && !poolItem)
    return admissionLoss(instanceId, { kind: 'no-rollout', rolloutId, lane });
  const canaryItem = item('canary');
  const pool = poolItem ? poolOf(poolItem) : undefined;
  // Past the threshold, but the release that crossed it has not written the pause (it died, or is about
  // to): this refusal writes it, and whoever's write succeeds notifies.
  const pauses =
    pool?.state === 'ROLLING' &&
    pool.failed > pool.maxErrors &&
    (await movePool(ctx, rolloutId, lane, pool, { ...pool, state: 'PAUSED' }, ['state']));
  return admissionLoss(instanceId, {
    kind: 'pool',
    rolloutId,
    lane,
    ...(pool ? { pool } : {}),
    ...(canaryItem ? { canary: poolOf(canaryItem) } : {}),
    ...(typeof poolItem?.supersededBy === 'string' ? { supersededBy: poolItem.supersededBy } : {}),
    ...(pauses ? { pauses } : {}),
  });
}

/** The claim's own update failed: claim.ts's explanation, unless the record was claimable and only its slot changed. */
function claimRefusal(
  instanceId: string,
  raw: Raw | undefined,
  attempt: { options: ClaimOptions; expected: number },
): ClaimResult {
  const { reason, now } = attempt.options;
  const old = readOld(raw);
  const { status, generation } = old;
  if (
    status !== undefined &&
    generation !== undefined &&
    isClaimable(
      {
        status,
        generation,
        held: old.held === true,
        ...(old.leaseExpiresAt === undefined ? {} : { leaseExpiresAt: old.leaseExpiresAt }),
      },
      { reason, expectedGeneration: attempt.expected, now },
    )
  ) {
    return {
      won: false,
      reason: 'not-eligible',
      currentStatus: status,
      currentGeneration: generation,
      message: `${instanceId}: its rollout slot changed while the claim was made (a concurrent claim or outcome); claim again`,
    };
  }
  return claimLoss(instanceId, old, { reason, expected: attempt.expected, now });
}

function pauseCheck(ctx: StoreContext): TransactItem {
  return {
    ConditionCheck: {
      TableName: ctx.tableName,
      Key: PAUSE_KEY,
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

function markerPut(
  ctx: StoreContext,
  rolloutId: string,
  instanceId: string,
  start: { lane: string; generation: number; now: Date; actor: string },
): TransactItem {
  return {
    Put: {
      TableName: ctx.tableName,
      Item: {
        ...markerKey(rolloutId, instanceId),
        instanceId,
        lane: start.lane,
        generation: start.generation,
        startedAt: start.now.toISOString(),
        actor: start.actor,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

function poolAcquire(ctx: StoreContext, rolloutId: string, lane: string): TransactItem {
  return {
    Update: {
      TableName: ctx.tableName,
      Key: poolKey(rolloutId, lane),
      UpdateExpression: ACQUIRE_UPDATE,
      ConditionExpression: ADMIT_CONDITION,
      ExpressionAttributeNames: namesIn(ACQUIRE_UPDATE, ADMIT_CONDITION),
      ExpressionAttributeValues: { ':rolling': 'ROLLING', ':one': 1 },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

function canaryCheck(ctx: StoreContext, rolloutId: string): TransactItem {
  return {
    ConditionCheck: {
      TableName: ctx.tableName,
      Key: poolKey(rolloutId, CANARY_LANE),
      ConditionExpression: CANARY_CONDITION,
      ExpressionAttributeNames: namesIn(CANARY_CONDITION),
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Release: the outcome write of a run that holds a slot.

/**
 * The fenced outcome write (`write`, built by execution-writes.ts, which also removes the slot attributes)
 * with the release of the slot `held`, in one transaction; then the pool's state move core's release
 * decided. A refused write is explained by fencing.ts, exactly as for a run without a slot.
 */
export async function recordOutcomeReleasing(
  ctx: StoreContext,
  instanceId: string,
  generation: number,
  now: Date,
  write: { update: string; values: Item; names: Record<string, string> },
  held: { rolloutId: string; lane: string },
  outcome: { status: Status; reason?: string },
): Promise<OutcomeResult> {
  const counted = countedAs(outcome.status);
  const slotWrite = {
    ...write,
    values: { ...write.values, ':heldRollout': held.rolloutId },
    condition: 'rolloutId = :heldRollout',
    explain: () => 'the run no longer holds the rollout slot it was read with; record the outcome again',
  };
  const actions: TransactItem[] = [
    {
      Update: {
        TableName: ctx.tableName,
        Key: stateKey(instanceId),
        UpdateExpression: write.update,
        // fencing.ts's fence, and the slot the record was read with.
        ConditionExpression: `attribute_exists(pk) AND generation = :g AND #status = :running AND ${slotWrite.condition}`,
        ExpressionAttributeNames: { '#status': 'status', ...write.names },
        ExpressionAttributeValues: {
          ...slotWrite.values,
          ':g': generation,
          ':running': 'RUNNING',
          ':now': now.toISOString(),
        },
      },
    },
    ...releaseItems(ctx, instanceId, held, outcome, now),
  ];
  try {
    await send(ctx, new TransactWriteCommand({ TransactItems: actions }));
  } catch (error) {
    const refused = error instanceof TransactionCanceledException;
    if (refused && cancellation(error, 0)?.Code === 'ConditionalCheckFailed') {
      // The fence (or the slot) refused: the same write alone is refused the same way, and fencing.ts
      // explains it (and audits a stale writer) as for any fenced write.
      return fenced(ctx, 'recordOutcome', instanceId, generation, now, slotWrite);
    }
    if (refused && cancellation(error, 1)?.Code === 'ConditionalCheckFailed') {
      // The pool item is gone: the outcome is the truth and is recorded; nothing is left to release into.
      ctx.logger.warn('Rollout pool missing; outcome recorded without releasing its slot', {
        instanceId,
        held,
      });
      return fenced(ctx, 'recordOutcome', instanceId, generation, now, slotWrite);
    }
    throw error;
  }
  return { ok: true, release: await settleRelease(ctx, held, counted, { instanceId, generation }) };
}

/**
 * The release of `instanceId`'s slot `held`, as transaction items to write with the state write that gives
 * it up (the outcome; an orphaning should too): the pool's inFlight − 1 and succeeded or failed + 1
 * (conditioned on the pool existing), and the marker's outcome. settleRelease follows the transaction.
 */
export function releaseItems(
  ctx: StoreContext,
  instanceId: string,
  held: { rolloutId: string; lane: string },
  outcome: { status: Status; reason?: string },
  now: Date,
): TransactItem[] {
  const counted = countedAs(outcome.status);
  const reason: Record<string, string> = outcome.reason === undefined ? {} : { '#reason': 'reason' };
  return [
    {
      Update: {
        TableName: ctx.tableName,
        Key: poolKey(held.rolloutId, held.lane),
        UpdateExpression: `ADD #inFlight :minusOne, #${counted} :one`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: namesIn(`#inFlight #${counted}`),
        ExpressionAttributeValues: { ':minusOne': -1, ':one': 1 },
      },
    },
    {
      Update: {
        TableName: ctx.tableName,
        Key: markerKey(held.rolloutId, instanceId),
        UpdateExpression: `SET #counted = :counted, outcome = :outcome, endedAt = :now${outcome.reason === undefined ? '' : ', #reason = :reason'}`,
        ExpressionAttributeNames: { '#counted': 'counted', ...reason },
        ExpressionAttributeValues: {
          ':counted': counted,
          ':outcome': outcome.status,
          ':now': now.toISOString(),
          ...(outcome.reason === undefined ? {} : { ':reason': outcome.reason }),
        },
      },
    },
  ];
}

/**
 * After a release: core's release() applied to the pool as the release left it decides whether it pauses
 * (failures past the threshold) or is done; the move is written only if the pool is still ROLLING, so of
 * concurrent releases exactly one is told `pauses`. A pause also stamps `pausedRollout` on the releasing
 * instance (`by`), in the same transaction: that run's notification says the rollout paused, even when the
 * caller dies before it returns.
 */
export async function settleRelease(
  ctx: StoreContext,
  held: { rolloutId: string; lane: string },
  counted: 'succeeded' | 'failed',
  by?: { instanceId: string; generation: number },
): Promise<SlotRelease> {
  const { rolloutId, lane } = held;
  const after = (await readPool(ctx, rolloutId, lane)) as Pool;
  // The pool before this release (others' releases included), so that release() recomputes `after`.
  const before: Pool = { ...after, inFlight: after.inFlight + 1, [counted]: after[counted] - 1 };
  const decided = release(before, counted);
  let pool = after;
  let pauses = false;
  if (decided.pool.state !== after.state) {
    const stamp = decided.pauses && by ? { ...by, rolloutId, lane } : undefined;
    if (await movePool(ctx, rolloutId, lane, after, decided.pool, ['state'], stamp)) {
      pool = decided.pool;
      pauses = decided.pauses;
    } else pool = (await readPool(ctx, rolloutId, lane)) ?? after;
  }
  return { rolloutId, lane, counted, pool, pauses };
}

/**
 * One conditional write of a pool from `seen` to `next` (its state and maxErrors), applied only while the
 * `guard` fields are still as seen. False when they are not. With `stamp`, the instance whose release paused
 * the pool gets `pausedRollout` in the same transaction (settleRelease).
 */
async function movePool(
  ctx: StoreContext,
  rolloutId: string,
  lane: string,
  seen: Pool,
  next: Pool,
  guard: readonly ('state' | 'failed' | 'maxErrors')[],
  stamp?: { instanceId: string; generation: number; rolloutId: string; lane: string },
): Promise<boolean> {
  const condition = guard.map((field) => `#${field} = :seen_${field}`).join(' AND ');
  const update = 'SET #state = :nextState, #maxErrors = :nextMaxErrors';
  const move = {
    TableName: ctx.tableName,
    Key: poolKey(rolloutId, lane),
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: namesIn(update, condition),
    ExpressionAttributeValues: {
      ':nextState': next.state,
      ':nextMaxErrors': next.maxErrors,
      ...Object.fromEntries(guard.map((field) => [`:seen_${field}`, seen[field]])),
    },
  };
  if (!stamp) return applied(ctx, new UpdateCommand(move));
  const { instanceId, ...paused } = stamp;
  try {
    await send(
      ctx,
      new TransactWriteCommand({
        TransactItems: [
          { Update: move },
          {
            Update: {
              TableName: ctx.tableName,
              Key: stateKey(instanceId),
              UpdateExpression: 'SET pausedRollout = :paused',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':paused': paused },
            },
          },
        ],
      }),
    );
    return true;
  } catch (error) {
    if (conditionFailed(error, 0)) return false;
    // The instance's record is gone: the pause is written all the same (its notification then comes from
    // the next claim the pool refuses, ClaimResult.pauses).
    if (conditionFailed(error, 1)) return movePool(ctx, rolloutId, lane, seen, next, guard);
    throw error;
  }
}

async function readPool(ctx: StoreContext, rolloutId: string, lane: string): Promise<Pool | undefined> {
  const { Item } = await ctx.doc.send(
    new GetCommand({ TableName: ctx.tableName, Key: poolKey(rolloutId, lane), ConsistentRead: true }),
  );
  return Item ? poolOf(Item) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Rollouts: creation (and supersession), reads, operator control.

export async function createRollout(ctx: StoreContext, input: NewRollout): Promise<CreateRolloutResult> {
  const { rolloutId } = input.plan;
  newRollout(input, undefined); // Refuses a plan it cannot write before anything is read.
  if (input.kind === 'drift') return createDriftWindow(ctx, input);
  const at = input.now.toISOString();
  for (let attempt = 1; ; attempt++) {
    const current = await readPointer(ctx);
    const previous = current === undefined ? undefined : await getRollout(ctx, current);
    const existing = current === rolloutId ? previous : undefined;
    if (existing) return { created: false, rollout: existing, current: true };
    const rollout = newRollout(input, previous?.rolloutId);
    const actions: TransactItem[] = [
      ...rolloutPuts(ctx, rollout),
      {
        Put: {
          TableName: ctx.tableName,
          Item: { ...POINTER_KEY, rolloutId: rollout.rolloutId, since: at, actor: input.actor },
          // Optimistic: the pointer is still the one read (two new bundles at once: the later write wins).
          ConditionExpression: current === undefined ? 'attribute_not_exists(pk)' : 'rolloutId = :current',
          ...(current === undefined ? {} : { ExpressionAttributeValues: { ':current': current } }),
        },
      },
      ...(previous ? supersede(ctx, previous, rollout.rolloutId, at) : []),
    ];
    try {
      await send(ctx, new TransactWriteCommand({ TransactItems: actions }));
      return { created: true, rollout, ...(previous ? { superseded: previous.rolloutId } : {}) };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      if (cancellation(error, 0)?.Code === 'ConditionalCheckFailed') {
        // It exists: another sweep created it, or it is an earlier rollout of the same bundle.
        const found = await getRollout(ctx, rolloutId);
        if (found)
          return { created: false, rollout: found, current: (await readPointer(ctx)) === found.rolloutId };
      }
      // The pointer or the previous rollout's pools moved meanwhile: read them again.
      if (attempt >= OPTIMISTIC_ATTEMPTS) {
        throw new TransientError(
          `createRollout(${rolloutId}): the current rollout kept changing (${attempt} attempts); retry later`,
          { cause: error },
        );
      }
    }
  }
}

/**
 * A rule's reapplyEvery window: its item and pools (attribute_not_exists), beside the current rollout — no
 * pointer, nothing superseded. A window another sweep created first is returned as it is.
 */
async function createDriftWindow(ctx: StoreContext, input: NewRollout): Promise<CreateRolloutResult> {
  const rollout = newRollout(input, undefined);
  try {
    await send(ctx, new TransactWriteCommand({ TransactItems: rolloutPuts(ctx, rollout) }));
    return { created: true, rollout };
  } catch (error) {
    if (!conditionFailed(error, 0)) throw error;
    const found = await getRollout(ctx, rollout.rolloutId);
    if (!found) throw new TransientError(`createRollout(${rollout.rolloutId}): created meanwhile; retry`);
    return { created: false, rollout: found, current: false };
  }
}

/** The rollout item (attribute_not_exists) and one item per pool. */
function rolloutPuts(ctx: StoreContext, rollout: Rollout): TransactItem[] {
  const { lanes, ...attributes } = rollout;
  return [
    {
      Put: {
        TableName: ctx.tableName,
        Item: { ...rolloutKey(rollout.rolloutId), ...plain(attributes) },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    ...Object.entries(lanes).map(
      ([lane, pool]): TransactItem => ({
        Put: {
          TableName: ctx.tableName,
          Item: { ...poolKey(rollout.rolloutId, lane), rolloutId: rollout.rolloutId, lane, ...pool },
        },
      }),
    ),
  ];
}

/**
 * The rollout `input` describes: the plan's pools as core/rollout-plan.ts opened them (limits resolved once,
 * against each lane's due count), what the bundle holds and what it changed. Refuses a plan with more
 * lanes than one transaction can create (or with an unnamed lane). Exported for the in-memory store.
 */
export function newRollout(input: NewRollout, previousRolloutId: string | undefined): Rollout {
  const { plan } = input;
  const names = Object.keys(plan.lanes);
  if (names.length > MAX_LANES || names.includes('')) {
    throw new InvalidInputError(
      `createRollout(${plan.rolloutId}): ${names.length > MAX_LANES ? `${names.length} lanes; at most ${MAX_LANES}` : 'a lane has no name'}`,
    );
  }
  return {
    rolloutId: plan.rolloutId,
    bundleHash: plan.bundleHash,
    due: plan.due,
    notes: [...plan.notes],
    contents: input.contents,
    change: input.change,
    createdAt: input.now.toISOString(),
    createdBy: input.actor,
    ...(previousRolloutId === undefined ? {} : { previousRolloutId }),
    ...(input.canaries && input.canaries.length > 0 ? { canaries: [...input.canaries] } : {}),
    ...(input.kind === 'drift' ? { kind: 'drift' as const } : {}),
    lanes: Object.fromEntries(Object.entries(plan.lanes).map(([name, lane]) => [name, { ...lane.pool }])),
  };
}

/** The writes that supersede `previous`: its item names its successor, its unfinished pools are ABORTED. */
function supersede(ctx: StoreContext, previous: Rollout, by: string, at: string): TransactItem[] {
  const unfinished = Object.entries(previous.lanes).filter(
    ([, pool]) => pool.state === 'ROLLING' || pool.state === 'PAUSED',
  );
  return [
    {
      Update: {
        TableName: ctx.tableName,
        Key: rolloutKey(previous.rolloutId),
        UpdateExpression: 'SET supersededBy = :by, supersededAt = :at',
        ExpressionAttributeValues: { ':by': by, ':at': at },
      },
    },
    ...unfinished.map(
      ([lane, pool]): TransactItem => ({
        Update: {
          TableName: ctx.tableName,
          Key: poolKey(previous.rolloutId, lane),
          UpdateExpression: 'SET #state = :aborted, supersededBy = :by',
          ConditionExpression: '#state = :seen',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':aborted': 'ABORTED' satisfies PoolState,
            ':by': by,
            ':seen': pool.state,
          },
        },
      }),
    ),
  ];
}

async function readPointer(ctx: StoreContext): Promise<string | undefined> {
  const { Item } = await ctx.doc.send(
    new GetCommand({ TableName: ctx.tableName, Key: POINTER_KEY, ConsistentRead: true }),
  );
  return typeof Item?.rolloutId === 'string' ? Item.rolloutId : undefined;
}

/** The rollout and its pools, in one Query (`sk BETWEEN LANE# AND ROLLOUT`: the markers sort before). */
export async function getRollout(ctx: StoreContext, rolloutId: string): Promise<Rollout | undefined> {
  const items = await queryAll(ctx, {
    TableName: ctx.tableName,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :first AND :last',
    ExpressionAttributeValues: { ':pk': rolloutPk(rolloutId), ':first': LANE_SK_PREFIX, ':last': ROLLOUT_SK },
    ConsistentRead: true,
  });
  const head = items.find((item) => item.sk === ROLLOUT_SK);
  if (!head) return undefined;
  const { pk: _pk, sk: _sk, ...attributes } = head;
  const lanes = items
    .filter((item) => String(item.sk).startsWith(LANE_SK_PREFIX))
    .map((item) => [String(item.lane), poolOf(item)] as const);
  return { ...(attributes as unknown as Omit<Rollout, 'lanes'>), lanes: Object.fromEntries(lanes) };
}

export async function currentRollout(ctx: StoreContext): Promise<Rollout | undefined> {
  const current = await readPointer(ctx);
  return current === undefined ? undefined : getRollout(ctx, current);
}

/** An operator's move of every pool of a rollout: what each pool becomes (undefined: left as it is). */
const CONTROLS = {
  paused: (pool: Pool): Pool | undefined =>
    pool.state === 'ROLLING' ? { ...pool, state: 'PAUSED' } : undefined,
  resumed: (pool: Pool): Pool | undefined => (pool.state === 'PAUSED' ? resumePool(pool) : undefined),
  aborted: (pool: Pool): Pool | undefined =>
    pool.state === 'ROLLING' || pool.state === 'PAUSED' ? { ...pool, state: 'ABORTED' } : undefined,
} as const;

/**
 * `rollout pause|resume|abort`: every pool moved as CONTROLS says, each with one write conditioned on the
 * pool as it was read (state, failures, threshold), read again when a release changed it meanwhile. The
 * rollout item records who did it and when.
 */
export async function controlRollout(
  ctx: StoreContext,
  rolloutId: string,
  action: keyof typeof CONTROLS,
  options: { actor: string; now: Date },
): Promise<RolloutControl | undefined> {
  const rollout = await getRollout(ctx, rolloutId);
  if (!rollout) return undefined;
  const changed: string[] = [];
  for (const [lane, first] of Object.entries(rollout.lanes)) {
    let seen: Pool | undefined = first;
    for (let attempt = 1; seen; attempt++) {
      const next = CONTROLS[action](seen);
      if (!next) break;
      if (await movePool(ctx, rolloutId, lane, seen, next, ['state', 'failed', 'maxErrors'])) {
        changed.push(lane);
        break;
      }
      if (attempt >= OPTIMISTIC_ATTEMPTS) {
        throw new TransientError(
          `rollout ${action.replace(/d$/, '')} ${rolloutId}: lane ${lane} kept changing (${attempt} attempts); retry`,
        );
      }
      seen = await readPool(ctx, rolloutId, lane);
    }
  }
  if (changed.length === 0) return { rollout, changed };
  await ctx.doc.send(
    new UpdateCommand({
      TableName: ctx.tableName,
      Key: rolloutKey(rolloutId),
      UpdateExpression: `SET ${action}At = :at, ${action}By = :by`,
      ExpressionAttributeValues: { ':at': options.now.toISOString(), ':by': options.actor },
    }),
  );
  return { rollout: (await getRollout(ctx, rolloutId)) as Rollout, changed };
}

/** The markers of `rolloutId` whose run counted as failed (in `lane`, when given), oldest first. */
export async function listRolloutFailures(
  ctx: StoreContext,
  rolloutId: string,
  lane?: string,
): Promise<RolloutFailure[]> {
  const items = await queryAll(ctx, {
    TableName: ctx.tableName,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :marker)',
    FilterExpression: `#counted = :failed${lane === undefined ? '' : ' AND #lane = :lane'}`,
    ExpressionAttributeNames: { '#counted': 'counted', ...(lane === undefined ? {} : { '#lane': 'lane' }) },
    ExpressionAttributeValues: {
      ':pk': rolloutPk(rolloutId),
      ':marker': MARKER_SK_PREFIX,
      ':failed': 'failed',
      ...(lane === undefined ? {} : { ':lane': lane }),
    },
    ConsistentRead: true,
  });
  return items
    .map(
      (item): RolloutFailure => ({
        instanceId: String(item.instanceId),
        lane: String(item.lane),
        outcome: String(item.outcome),
        ...(typeof item.reason === 'string' ? { reason: item.reason } : {}),
        ...(typeof item.endedAt === 'string' ? { endedAt: item.endedAt } : {}),
      }),
    )
    .sort((a, b) => (a.endedAt ?? '').localeCompare(b.endedAt ?? ''));
}

/** The pause notification's once-only mark, on the pool item: one per pause (told apart by `maxErrors`). */
export async function markPauseNotified(
  ctx: StoreContext,
  rolloutId: string,
  lane: string,
  pool: Pool,
  now: Date,
): Promise<boolean> {
  return applied(
    ctx,
    new UpdateCommand({
      TableName: ctx.tableName,
      Key: poolKey(rolloutId, lane),
      UpdateExpression: 'SET pauseNotified = :key, pauseNotifiedAt = :now',
      ConditionExpression:
        'attribute_exists(pk) AND (attribute_not_exists(pauseNotified) OR pauseNotified <> :key)',
      ExpressionAttributeValues: { ':key': pool.maxErrors, ':now': now.toISOString() },
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------
// The global pause: `CONTROL/PAUSE`.

function pauseOf(item: Item | undefined): GlobalPause {
  return {
    since: String(item?.since ?? ''),
    actor: String(item?.actor ?? ''),
    ...(typeof item?.reason === 'string' ? { reason: item.reason } : {}),
  };
}

export async function getGlobalPause(ctx: StoreContext): Promise<GlobalPause | undefined> {
  const { Item } = await ctx.doc.send(
    new GetCommand({ TableName: ctx.tableName, Key: PAUSE_KEY, ConsistentRead: true }),
  );
  return Item ? pauseOf(Item) : undefined;
}

/** Sets the pause unless it is set (the first pause, who and why, is kept). */
export async function setGlobalPause(
  ctx: StoreContext,
  options: { actor: string; now: Date; reason?: string },
): Promise<{ changed: boolean; pause: GlobalPause }> {
  const pause: GlobalPause = {
    since: options.now.toISOString(),
    actor: options.actor,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
  };
  try {
    await send(
      ctx,
      new PutCommand({
        TableName: ctx.tableName,
        Item: { ...PAUSE_KEY, ...pause },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { changed: true, pause };
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return { changed: false, pause: pauseOf(scalars(error.Item)) };
    }
    throw error;
  }
}

export async function clearGlobalPause(
  ctx: StoreContext,
): Promise<{ changed: boolean; pause?: GlobalPause }> {
  const { Attributes } = await send(
    ctx,
    new DeleteCommand({ TableName: ctx.tableName, Key: PAUSE_KEY, ReturnValues: 'ALL_OLD' }),
  );
  return Attributes ? { changed: true, pause: pauseOf(Attributes) } : { changed: false };
}
