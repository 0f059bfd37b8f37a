// One sweep (docs/architecture.md "Sweep"): read both sources and the fleet index once, let core/reconcile.ts decide,
// then carry out only what it asked for. A steady fleet therefore costs the listing calls and writes
// nothing. New hosts are claimed before anything else; work runs with bounded concurrency, and one
// instance's failure is counted and logged while the rest carry on.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { isOptedIn } from '../core/eligibility.js';
import { ec2Tags } from '../core/facts.js';
import {
  type InstancePlan,
  type KnownInstance,
  ORPHAN_REASONS,
  observeSources,
  reconcile,
} from '../core/reconcile.js';
import type { Ec2InstanceShape, RulesBundle } from '../core/types.js';
import { type OrphanDeps, orphanAndNotify } from '../shared/notify-invoke.js';
import { claimAndStart, resolveExpiredLease, type StartDeps } from '../shared/start-execution.js';
import type { StateStoreApi } from '../shared/state-store-api.js';
import { describeByIds, listOptedInInstances } from './list-instances.js';

export interface SweepDeps extends StartDeps, OrphanDeps {
  readonly store: Pick<
    StateStoreApi,
    'listFleet' | 'upsertDetection' | 'claim' | 'extendLease' | 'markOrphaned'
  >;
  readonly ec2: Pick<EC2Client, 'send'>;
  readonly bundle: RulesBundle;
  /** Instances worked on at once (claims + StartExecution). Default 10. */
  readonly concurrency?: number;
}

export interface SweepSummary {
  readonly found: { readonly ec2: number; readonly inventory: number; readonly known: number };
  /** Records created for unseen instances. */
  new: number;
  /** PENDING (or revived) records claimed. */
  due: number;
  /** RUNNING records whose execution was gone, claimed again. */
  reclaimed: number;
  /** Terminal records re-run because the fingerprint changed. */
  reprovisioned: number;
  /** RUNNING records whose lease expired while their execution still runs: lease extended. */
  leaseExtended: number;
  /** ORPHANED instances seen again, back to PENDING. */
  revived: number;
  orphaned: number;
  /** Observed instances carrying the hold tag (never claimed). */
  readonly held: number;
  /** Facts refreshed on existing records. */
  updated: number;
  /** Executions started (won claims, every reason). */
  started: number;
  claimsLost: number;
  errors: number;
  /** The first few failures, for the log line. */
  readonly failures: { instanceId: string; error: string }[];
  readonly apiPages: { readonly describeInstances: number };
  durationMs: number;
}

const MAX_REPORTED_FAILURES = 20;

export async function runSweep(deps: SweepDeps): Promise<SweepSummary> {
  const started = Date.now();
  const now = deps.now();
  const [ec2, fleet] = await Promise.all([
    listOptedInInstances(deps.ec2, deps.bundle.config.optIn),
    deps.store.listFleet(),
  ]);
  const sources = observeSources(ec2.instances, deps.bundle);
  const plan = reconcile(sources.observations, fleet, {
    now,
    reapplyOnChange: deps.bundle.config.defaults.reapplyOnChange,
  });
  const plans = await explainVanished(plan.plans, fleet, deps);
  const summary: SweepSummary = {
    found: { ec2: sources.ec2, inventory: sources.inventory, known: fleet.length },
    new: 0,
    due: 0,
    reclaimed: 0,
    reprovisioned: 0,
    leaseExtended: 0,
    revived: 0,
    orphaned: 0,
    held: plan.counts.held,
    updated: 0,
    started: 0,
    claimsLost: 0,
    errors: 0,
    failures: [],
    apiPages: { describeInstances: ec2.pages },
    durationMs: 0,
  };

  const run = async (item: InstancePlan): Promise<void> => {
    try {
      await execute(item, deps, summary);
    } catch (error) {
      summary.errors += 1;
      if (summary.failures.length < MAX_REPORTED_FAILURES) {
        summary.failures.push({ instanceId: item.instanceId, error: describeError(error) });
      }
      deps.logger.error('Sweep step failed; continuing with the other instances', {
        instanceId: item.instanceId,
        category: item.category,
        error,
      });
    }
  };
  // Two phases so that every first run is under way before any re-provision competes with it.
  const concurrency = deps.concurrency ?? 10;
  await forEachLimited(
    plans.filter((item) => item.category === 'new'),
    concurrency,
    run,
  );
  await forEachLimited(
    plans.filter((item) => item.category !== 'new'),
    concurrency,
    run,
  );
  summary.durationMs = Date.now() - started;
  return summary;
}

async function execute(item: InstancePlan, deps: SweepDeps, summary: SweepSummary): Promise<void> {
  const { instanceId, action } = item;
  if (item.upsert) {
    const upserted = await deps.store.upsertDetection(item.upsert.facts, {
      held: item.upsert.held,
      actor: deps.actor,
      now: deps.now(),
    });
    if (upserted.created) summary.new += 1;
    else if (item.category === 'revived' && upserted.record.status === 'PENDING') summary.revived += 1;
    else if (upserted.written) summary.updated += 1;
    // A terminated orphan still listed by an inventory stays ORPHANED (the store will not revive it).
    if (upserted.record.status === 'ORPHANED') return;
  }
  switch (action.kind) {
    case 'claim': {
      const claim = await claimAndStart(deps, instanceId, action);
      if (claim.won) summary.started += 1;
      if (!claim.won) summary.claimsLost += 1;
      else if (action.reason === 'fingerprint-changed') summary.reprovisioned += 1;
      else if (action.reason === 'lease-expired') summary.reclaimed += 1;
      else if (action.reason === 'pending') summary.due += 1;
      return;
    }
    case 'check-execution': {
      const result = await resolveExpiredLease(deps, instanceId, action);
      if (result.kind === 'extended') summary.leaseExtended += result.ok ? 1 : 0;
      else if (result.claim.won) {
        summary.reclaimed += 1;
        summary.started += 1;
      } else summary.claimsLost += 1;
      return;
    }
    case 'orphan': {
      const result = await orphanAndNotify(deps, instanceId, action.reason);
      if (result.changed) summary.orphaned += 1;
      return;
    }
    default:
      return;
  }
}

/**
 * An EC2 record that no source lists any more is asked about once (only those: the steady state makes no
 * call): gone or terminated → `terminated`, still there without the opt-in tag → `opted-out` (the events
 * that would have said so were lost). Anything else, and inventory hosts, stay `vanished`. If EC2 cannot
 * be asked, `vanished` is still right, only less precise.
 */
async function explainVanished(
  plans: readonly InstancePlan[],
  fleet: readonly KnownInstance[],
  deps: SweepDeps,
): Promise<InstancePlan[]> {
  const sources = new Map(fleet.map((entry) => [entry.instanceId, entry.source]));
  const ids = new Set(
    plans
      .filter((item) => item.category === 'vanished' && sources.get(item.instanceId) === 'ec2')
      .map((item) => item.instanceId),
  );
  if (ids.size === 0) return [...plans];
  let found: Map<string, Ec2InstanceShape>;
  try {
    found = await describeByIds(deps.ec2, [...ids]);
  } catch (error) {
    deps.logger.warn('Could not ask EC2 why instances vanished; recording them as vanished', { error });
    return [...plans];
  }
  const reasonOf = (instanceId: string): (typeof ORPHAN_REASONS)[keyof typeof ORPHAN_REASONS] => {
    const instance = found.get(instanceId);
    const state = instance?.State?.Name;
    if (!instance || state === 'terminated' || state === 'shutting-down') return ORPHAN_REASONS.terminated;
    return isOptedIn(ec2Tags(instance), deps.bundle.config)
      ? ORPHAN_REASONS.vanished
      : ORPHAN_REASONS.optedOut;
  };
  return plans.map((item) =>
    ids.has(item.instanceId) && item.action.kind === 'orphan'
      ? { ...item, action: { ...item.action, reason: reasonOf(item.instanceId) } }
      : item,
  );
}

/** Runs `fn` over `items` with at most `limit` in flight, in order of start. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`.slice(0, 300)
    : String(error).slice(0, 300);
}
