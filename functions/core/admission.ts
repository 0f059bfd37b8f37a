// Who may start now: slot pools for rollout waves (and, later, the API-quota pool). The one module that
// decides admission, error thresholds and canary gating (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md).
// Pure. The state store compiles `admit` into the conditions of the claim transaction and applies `release`
// in the outcome transaction, as it does for eligibility.ts; nothing else decides.
//
// - A limit is a count (5) or a percentage of the instances due ("10%"), resolved once, when the rollout
//   is created, like SSM Run Command's MaxConcurrency / MaxErrors.
// - A pool admits while it is ROLLING, has a free slot and has not passed its error threshold, and, for a
//   non-canary lane, once every canary succeeded.
// - A release that takes `failed` past `maxErrors` pauses the pool: exactly the threshold plus what was in
//   flight can fail.

/** A count, or a percentage of the instances due. */
export type Limit =
  | { readonly kind: 'count'; readonly value: number }
  | { readonly kind: 'percent'; readonly value: number };

/** How one lane of a rollout advances (rules.yaml `rollout`, in `defaults` or per rule). */
export interface RolloutSettings {
  readonly maxConcurrent: Limit;
  readonly maxErrors: Limit;
  /** Canaries: this many of the due instances, or those in these groups, go first and must all succeed. */
  readonly canary?: { readonly count: number } | { readonly groups: readonly string[] };
}

/** Conservative: a tenth of the due instances at a time, and the first failure pauses. */
export const DEFAULT_ROLLOUT: RolloutSettings = {
  maxConcurrent: { kind: 'percent', value: 10 },
  maxErrors: { kind: 'count', value: 0 },
};

export class LimitError extends Error {
  override name = 'LimitError';
}

/**
 * `5` or `"5"` → a count; `"10%"` → a percentage. Counts are whole numbers ≥ `min`; percentages are 0–100
 * (decimals allowed). Anything else is refused with what was given and what is accepted.
 */
export function parseLimit(value: unknown, what: string, min = 0): Limit {
  const text =
    typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  const percent = text === undefined ? null : /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (percent) {
    const share = Number(percent[1]);
    if (share <= 100 && (min === 0 || share > 0)) return { kind: 'percent', value: share };
  } else if (text !== undefined && /^\d+$/.test(text)) {
    const count = Number(text);
    if (Number.isSafeInteger(count) && count >= min) return { kind: 'count', value: count };
  }
  throw new LimitError(
    `${what}: ${JSON.stringify(value)} is not a limit. Use a whole number${min > 0 ? ` of at least ${min}` : ''} (e.g. 5) or a percentage of the instances due (e.g. "10%"${min > 0 ? ', more than 0%' : ''}).`,
  );
}

/** The limit as a number of instances out of `due`. */
export function resolveLimit(limit: Limit, due: number, purpose: 'concurrency' | 'errors'): number {
  if (limit.kind === 'count') return limit.value;
  const share = Math.floor((limit.value * due) / 100 + 1e-9);
  // A percentage of concurrency admits at least one instance, or a small rollout would never start.
  return purpose === 'concurrency' ? Math.max(1, share) : share;
}

export type PoolState = 'ROLLING' | 'PAUSED' | 'ABORTED' | 'DONE';

/** One pool: a rollout lane (or, later, the global pool). What the store keeps in its item. */
export interface Pool {
  readonly state: PoolState;
  /** Instances this pool will admit in all (the lane's due count). */
  readonly total: number;
  /** Resolved `maxConcurrent`. */
  readonly limit: number;
  /** Resolved `maxErrors`: more failures than this pause the pool. */
  readonly maxErrors: number;
  readonly inFlight: number;
  readonly started: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** A new pool for `due` instances under `settings`. */
export function openPool(settings: RolloutSettings, due: number): Pool {
  return {
    state: due === 0 ? 'DONE' : 'ROLLING',
    total: due,
    limit: resolveLimit(settings.maxConcurrent, due, 'concurrency'),
    maxErrors: resolveLimit(settings.maxErrors, due, 'errors'),
    inFlight: 0,
    started: 0,
    succeeded: 0,
    failed: 0,
  };
}

export type RefusalReason =
  | 'globally-paused'
  | 'paused'
  | 'aborted'
  | 'done'
  | 'error-threshold'
  | 'full'
  | 'canary-pending';

export type Admission = { readonly admit: true } | { readonly admit: false; readonly reason: RefusalReason };

/**
 * May one more instance start in `pool`? `canary` is the rollout's canary lane when `pool` is another
 * lane: those wait until every canary succeeded (a failed canary pauses the canary lane, so they keep waiting).
 */
export function admit(pool: Pool, context: { globallyPaused?: boolean; canary?: Pool } = {}): Admission {
  if (context.globallyPaused) return { admit: false, reason: 'globally-paused' };
  if (pool.state === 'PAUSED') return { admit: false, reason: 'paused' };
  if (pool.state === 'ABORTED') return { admit: false, reason: 'aborted' };
  if (pool.state === 'DONE' || pool.started >= pool.total) return { admit: false, reason: 'done' };
  if (pool.failed > pool.maxErrors) return { admit: false, reason: 'error-threshold' };
  if (context.canary && context.canary.succeeded < context.canary.total) {
    return { admit: false, reason: 'canary-pending' };
  }
  if (pool.inFlight >= pool.limit) return { admit: false, reason: 'full' };
  return { admit: true };
}

/** The pool after one more instance started (what the acquire's update writes). */
export function acquire(pool: Pool): Pool {
  return { ...pool, inFlight: pool.inFlight + 1, started: pool.started + 1 };
}

/**
 * The pool after an instance's run ended, and whether this release is the one that pauses it (only a
 * ROLLING pool whose failures just passed `maxErrors`: the writer whose conditional pause succeeds
 * notifies, once). The last release of a pool that never paused ends it DONE.
 */
export function release(pool: Pool, outcome: 'succeeded' | 'failed'): { pool: Pool; pauses: boolean } {
  const next: Pool = {
    ...pool,
    inFlight: Math.max(0, pool.inFlight - 1),
    succeeded: pool.succeeded + (outcome === 'succeeded' ? 1 : 0),
    failed: pool.failed + (outcome === 'failed' ? 1 : 0),
  };
  if (next.state === 'ROLLING' && next.failed > next.maxErrors) {
    return { pool: { ...next, state: 'PAUSED' }, pauses: true };
  }
  if (next.state === 'ROLLING' && next.succeeded + next.failed >= next.total) {
    return { pool: { ...next, state: 'DONE' }, pauses: false };
  }
  return { pool: next, pauses: false };
}

/**
 * `rollout resume`: a paused pool rolls again, its failures forgiven up to now (they stay counted in
 * `failed`; the threshold applies to new ones). An aborted or finished pool cannot be resumed.
 */
export function resume(pool: Pool): Pool {
  if (pool.state !== 'PAUSED') return pool;
  return { ...pool, state: 'ROLLING', maxErrors: pool.failed + pool.maxErrors };
}

/** Is this instance a canary? Count canaries are the first `count` due instances in instance-id order. */
export function isCanary(
  canary: RolloutSettings['canary'],
  instance: { readonly instanceId: string; readonly groups: readonly string[] },
  dueIds: readonly string[],
): boolean {
  if (!canary) return false;
  if ('groups' in canary) return canary.groups.some((group) => instance.groups.includes(group));
  return [...dueIds].sort().slice(0, canary.count).includes(instance.instanceId);
}

/** One line for status and notifications: "40/200 started, 10 running, 28 succeeded, 2 failed (max 2)". */
export function describePool(pool: Pool): string {
  return (
    `${pool.started}/${pool.total} started, ${pool.inFlight} running, ${pool.succeeded} succeeded, ` +
    `${pool.failed} failed (pauses after ${pool.maxErrors}), at most ${pool.limit} at once — ${pool.state}`
  );
}
