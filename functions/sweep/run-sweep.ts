// One sweep (docs/architecture.md "Sweep"): read both sources and the fleet index once, let core/reconcile.ts decide,
// then carry out only what it asked for. A steady fleet therefore costs the listing calls and writes
// nothing. New hosts are claimed before anything else; work runs with bounded concurrency, and one
// instance's failure is counted and logged while the rest carry on.
// Admission (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): while the global pause is set the sweep
// claims nothing (it still records detections and orphans) and says `paused`. Re-provisions (a changed
// fingerprint) are admitted through the current bundle's rollout, in waves (rollout-wave.ts), after every
// other claim; then the re-applies a rule's reapplyEvery makes due, through their rule window's pool.
import type { EC2Client } from '@aws-sdk/client-ec2';
import { isOptedIn } from '../core/eligibility.js';
import { ec2Tags } from '../core/facts.js';
import {
  type InstancePlan,
  type KnownInstance,
  type Observation,
  ORPHAN_REASONS,
  observeSources,
  reconcile,
} from '../core/reconcile.js';
import type { Ec2InstanceShape, RulesBundle } from '../core/types.js';
import { type OrphanDeps, orphanAndNotify } from '../shared/notify-invoke.js';
import {
  type ClaimLoss,
  claimAndStart,
  resolveExpiredLease,
  type StartDeps,
} from '../shared/start-execution.js';
import type { AdmissionRefusal, StateStoreApi } from '../shared/state-store-api.js';
import { describeByIds, listOptedInInstances } from './list-instances.js';
import {
  claimWave,
  type DriftCandidate,
  driftClaims,
  emptyCounts,
  isRecordLoss,
  rolloutClaims,
  rolloutFor,
  type WaveClaim,
  type WaveCounts,
} from './rollout-wave.js';

export interface SweepDeps extends StartDeps, OrphanDeps {
  readonly store: Pick<
    StateStoreApi,
    | 'listFleet'
    | 'upsertDetection'
    | 'claim'
    | 'extendLease'
    | 'markOrphaned'
    | 'getGlobalPause'
    | 'currentRollout'
    | 'createRollout'
    | 'listByStatus'
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
  /** Terminal records re-run because the fingerprint changed (in the current rollout's waves). */
  reprovisioned: number;
  /** Settled records re-run because their rule's reapplyEvery passed (in its window's waves). */
  reapplied: number;
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
  /** The global pause (`autoprov pause`) was set: this sweep claimed nothing. */
  paused: boolean;
  /** The rollout this sweep admitted re-provisions in; `created` when this sweep planned it. */
  rollout?: { readonly rolloutId: string; readonly created: boolean; readonly superseded?: string };
  /** Due instances not started because admission refused them (or their lane already had), by reason. */
  readonly admission: Partial<Record<AdmissionRefusal, number>>;
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
    reapplied: 0,
    leaseExtended: 0,
    revived: 0,
    orphaned: 0,
    held: plan.counts.held,
    updated: 0,
    started: 0,
    claimsLost: 0,
    paused: false,
    admission: {},
    errors: 0,
    failures: [],
    apiPages: { describeInstances: ec2.pages },
    durationMs: 0,
  };

  const run = (item: InstancePlan): Promise<void> =>
    step(deps, summary, item.instanceId, item.category, () => execute(item, deps, summary));
  // Phases, so that every first run is under way before any re-provision competes with it: new hosts, then
  // the rest but re-provisions, then the rollout's waves, then re-applies. While paused, nothing is claimed.
  const concurrency = deps.concurrency ?? 10;
  // The pause is read only when there is something to claim: a steady sweep stays at its listing calls.
  summary.paused =
    plans.some((item) => item.action.kind === 'claim') && (await deps.store.getGlobalPause()) !== undefined;
  const admitted = summary.paused ? plans.map((item) => withoutClaim(item, summary)) : plans;
  const reprovision = (item: InstancePlan) =>
    item.action.kind === 'claim' && item.action.reason === 'fingerprint-changed';
  await forEachLimited(
    admitted.filter((item) => item.category === 'new'),
    concurrency,
    run,
  );
  await forEachLimited(
    admitted.filter((item) => item.category !== 'new' && !reprovision(item)),
    concurrency,
    run,
  );
  if (summary.paused) {
    summary.durationMs = Date.now() - started;
    return summary;
  }
  const observed = new Map(sources.observations.map((o) => [o.facts.instanceId, o]));
  const waves = { deps, summary, concurrency, observed };
  await rolloutWave(admitted.filter(reprovision), waves, run);
  await driftWave(fleet, admitted, waves);
  summary.durationMs = Date.now() - started;
  return summary;
}

/** While the global pause is set: the plan's facts refresh and orphaning, without its claim. */
function withoutClaim(item: InstancePlan, summary: SweepSummary): InstancePlan {
  if (item.action.kind !== 'claim') return item;
  summary.admission['globally-paused'] = (summary.admission['globally-paused'] ?? 0) + 1;
  return { ...item, action: { kind: 'none' } };
}

interface WaveContext {
  readonly deps: SweepDeps;
  readonly summary: SweepSummary;
  readonly concurrency: number;
  readonly observed: ReadonlyMap<string, Observation>;
}

/**
 * The re-provisions: their facts refreshed first (the plan's upsert), then claimed in the rollout of the
 * deployed bundle (planned and created by the first sweep that finds them due), lane by lane.
 */
async function rolloutWave(
  items: readonly InstancePlan[],
  { deps, summary, concurrency, observed }: WaveContext,
  run: (item: InstancePlan) => Promise<void>,
): Promise<void> {
  if (items.length === 0) return;
  await forEachLimited(
    items.filter((item) => item.upsert),
    concurrency,
    (item) => run({ ...item, action: { kind: 'none' } }),
  );
  const due = items.flatMap((item) => {
    const facts = observed.get(item.instanceId)?.facts;
    const expectedGeneration = item.action.kind === 'claim' ? item.action.expectedGeneration : 0;
    return facts ? [{ instanceId: item.instanceId, expectedGeneration, facts }] : [];
  });
  const found = await rolloutFor(deps, due);
  if (!found.usable) {
    deps.logger.warn("This bundle's rollout was superseded by a newer one: no re-provision started", {
      rolloutId: found.rollout.rolloutId,
      supersededBy: found.rollout.supersededBy,
    });
    summary.admission.superseded = (summary.admission.superseded ?? 0) + due.length;
    return;
  }
  const { rollout, created } = found;
  summary.rollout = {
    rolloutId: rollout.rolloutId,
    created,
    ...(found.superseded ? { superseded: found.superseded } : {}),
  };
  const counts = await claimAll(rolloutClaims(rollout, due, deps.bundle), deps, summary, concurrency);
  summary.reprovisioned += counts.started;
}

/** The re-applies due (a rule's reapplyEvery): settled instances the sweep has nothing else to do for. */
async function driftWave(
  fleet: readonly KnownInstance[],
  plans: readonly InstancePlan[],
  { deps, summary, concurrency, observed }: WaveContext,
): Promise<void> {
  if (!deps.bundle.config.rules.some((rule) => rule.reapplyEverySeconds !== undefined)) return;
  const busy = new Set(plans.filter((item) => item.action.kind !== 'none').map((item) => item.instanceId));
  const settled: DriftCandidate[] = fleet.flatMap((entry) => {
    const observation = observed.get(entry.instanceId);
    const settledStatus = entry.status === 'SUCCESS' || entry.status === 'DRIFTED';
    if (!settledStatus || busy.has(entry.instanceId) || !observation || entry.held) return [];
    if (observation.held || !observation.runnable) return [];
    return [
      {
        instanceId: entry.instanceId,
        expectedGeneration: entry.generation,
        facts: observation.facts,
        status: entry.status,
      },
    ];
  });
  let claims: WaveClaim[];
  try {
    claims = await driftClaims(deps, settled);
    if (claims.length > 0 && (await deps.store.getGlobalPause()) !== undefined) {
      summary.paused = true;
      summary.admission['globally-paused'] = (summary.admission['globally-paused'] ?? 0) + claims.length;
      return;
    }
  } catch (error) {
    recordFailure(summary, '(re-applies)', error);
    deps.logger.error('Could not plan the re-applies due; the next sweep tries again', { error });
    return;
  }
  const counts = await claimAll(claims, deps, summary, concurrency);
  summary.reapplied += counts.started;
}

/** Every claim of a wave, `concurrency` at a time, into the summary; returns the wave's own counts. */
async function claimAll(
  claims: readonly WaveClaim[],
  deps: SweepDeps,
  summary: SweepSummary,
  concurrency: number,
): Promise<WaveCounts> {
  const counts = emptyCounts();
  const closed = new Map<string, AdmissionRefusal>();
  await forEachLimited(claims, concurrency, (claim) =>
    step(deps, summary, claim.instanceId, claim.reason, () => claimWave(deps, claim, closed, counts)),
  );
  summary.started += counts.started;
  summary.claimsLost += counts.lost;
  for (const [reason, count] of Object.entries(counts.held) as [AdmissionRefusal, number][]) {
    summary.admission[reason] = (summary.admission[reason] ?? 0) + count;
  }
  return counts;
}

/** One instance's step: a failure is counted and logged, and the sweep carries on with the others. */
async function step(
  deps: SweepDeps,
  summary: SweepSummary,
  instanceId: string,
  category: string,
  fn: () => Promise<void>,
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    recordFailure(summary, instanceId, error);
    deps.logger.error('Sweep step failed; continuing with the other instances', {
      instanceId,
      category,
      error,
    });
  }
}

function recordFailure(summary: SweepSummary, instanceId: string, error: unknown): void {
  summary.errors += 1;
  if (summary.failures.length < MAX_REPORTED_FAILURES) {
    summary.failures.push({ instanceId, error: describeError(error) });
  }
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
      // First provisioning and reclaims: under the global pause only, never held back by a rollout.
      const claim = await claimAndStart(deps, instanceId, action);
      if (claim.won) summary.started += 1;
      if (!claim.won) lost(summary, claim.reason);
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
      } else lost(summary, result.claim.reason);
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

/** A lost claim: the record's own condition (claimsLost), or admission (by reason). */
function lost(summary: SweepSummary, reason: ClaimLoss['reason']): void {
  if (isRecordLoss(reason)) summary.claimsLost += 1;
  else summary.admission[reason] = (summary.admission[reason] ?? 0) + 1;
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
