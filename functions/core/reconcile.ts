// What a detection means for one instance, and what a sweep must do for the whole fleet (docs/architecture.md "Sweep").
// Pure: the sources (EC2, the bundle's inventory) and the state (the fleet index) come in as data,
// a plan comes out; the sweep and the event detector execute it. Both build their observations with
// `observeEc2` / `observeInventoryHost` so a detection and a sweep of the same unchanged instance
// always agree on its facts hash (otherwise they would overwrite each other on every run).
import { isHeld, isOptedIn } from './eligibility.js';
import { ec2Tags, factsFromEc2, factsFromInventoryHost, mergeFacts } from './facts.js';
import { factsHash, fingerprint } from './fingerprint.js';
import { matchRules } from './matcher.js';
import { isTerminal } from './status.js';
import type { Ec2InstanceShape, HostFacts, InventoryHost, RulesBundle, Source, Status } from './types.js';

/** Why a record became ORPHANED. A `terminated` orphan is never revived (EC2 never reuses ids). */
export const ORPHAN_REASONS = {
  terminated: 'terminated',
  optedOut: 'opted-out',
  vanished: 'vanished',
} as const;

/** EC2 states in which an instance still exists (the sweep lists these; stopped is not vanished). */
export const LIVE_EC2_STATES = ['pending', 'running', 'stopping', 'stopped'] as const;

/** What the state says about an instance: the fleet index entry (FleetEntry satisfies this). */
export interface KnownInstance {
  readonly instanceId: string;
  readonly status: Status;
  readonly source: Source;
  readonly generation: number;
  readonly factsHash: string;
  readonly held: boolean;
  readonly leaseExpiresAt?: string;
  readonly executionName?: string;
  readonly lastSuccessFingerprint?: string;
  readonly fingerprint?: string;
}

/** What a source says about an instance now. */
export interface Observation {
  readonly facts: HostFacts;
  readonly factsHash: string;
  readonly held: boolean;
  /** Fingerprint of what the rules select for these facts with the current bundle. */
  readonly fingerprint: string;
  /** True when the rules select at least one playbook. */
  readonly hasPlaybooks: boolean;
  /**
   * False for an EC2 instance that is not `running` (pending, stopping, stopped): recorded but not
   * claimed, since its SSM agent cannot answer; its `running` event or a later sweep claims it.
   */
  readonly runnable: boolean;
}

export interface ReconcilePolicy {
  readonly now: Date;
  /** defaults.reapplyOnChange: re-provision when the fingerprint changed since the last run. */
  readonly reapplyOnChange: boolean;
}

export type PlannedClaimReason = 'new' | 'pending' | 'lease-expired' | 'fingerprint-changed';

export type Action =
  | { readonly kind: 'none' }
  | { readonly kind: 'claim'; readonly reason: PlannedClaimReason; readonly expectedGeneration: number }
  /** Lease expired: ask Step Functions whether the execution still runs (extend) or died (reclaim). */
  | { readonly kind: 'check-execution'; readonly generation: number; readonly executionName: string }
  | {
      readonly kind: 'orphan';
      /** `vanished` from reconcile; the sweep may refine it by asking EC2 (terminated / opted-out). */
      readonly reason: (typeof ORPHAN_REASONS)[keyof typeof ORPHAN_REASONS];
    };

/**
 * - new: unseen → create + claim; due: PENDING → claim; revived: an ORPHANED instance seen again →
 *   re-detect (→ PENDING) + claim; lease-expired: RUNNING past its lease → check the execution;
 *   reprovision: terminal with a changed fingerprint → claim; vanished: in state, in no source → orphan;
 *   held: hold tag present, never claimed; changed: facts refresh only; steady: nothing to do.
 */
export type Category =
  | 'new'
  | 'due'
  | 'revived'
  | 'lease-expired'
  | 'reprovision'
  | 'vanished'
  | 'held'
  | 'changed'
  | 'steady';

export interface InstancePlan {
  readonly instanceId: string;
  readonly category: Category;
  /** Write this observation first (create, refresh or revive). Absent when the state already agrees. */
  readonly upsert?: Observation;
  readonly action: Action;
}

export interface SweepPlan {
  /** Only instances with something to do, most urgent first: new, due, revived, lease-expired, reprovision, vanished, changed, held. */
  readonly plans: readonly InstancePlan[];
  /** Every instance counted once, steady ones included. */
  readonly counts: Readonly<Record<Category, number>>;
}

const NONE: Action = { kind: 'none' };

/** Order in which a sweep executes its plans: first runs for new hosts before re-provisions. */
export const CATEGORY_ORDER: readonly Category[] = [
  'new',
  'due',
  'revived',
  'lease-expired',
  'reprovision',
  'vanished',
  'changed',
  'held',
  'steady',
];

/** An opted-in EC2 instance, merged with its inventory host when an inventory lists it too. */
export function observeEc2(
  instance: Ec2InstanceShape,
  bundle: RulesBundle,
  host?: InventoryHost,
): Observation {
  const facts = factsFromEc2(instance, bundle.config);
  return observe(host ? mergeFacts(facts, host) : facts, bundle);
}

/** A host of the static inventory that no opted-in EC2 instance covers. */
export function observeInventoryHost(host: InventoryHost, bundle: RulesBundle): Observation {
  return observe(factsFromInventoryHost(host), bundle);
}

/**
 * Every instance the sources know: the opted-in EC2 instances (merged with their inventory host)
 * plus the inventory hosts no such instance covers. One observation per instance id.
 */
export function observeSources(
  instances: readonly Ec2InstanceShape[],
  bundle: RulesBundle,
): { observations: Observation[]; ec2: number; inventory: number } {
  const hosts = new Map(bundle.inventoryHosts.map((host) => [host.instanceId, host]));
  const byId = new Map<string, Observation>();
  for (const instance of instances) {
    const id = instance.InstanceId;
    // Same test as the event detector: a sweep must not adopt what a detection would ignore.
    if (!id || byId.has(id) || !isOptedIn(ec2Tags(instance), bundle.config)) continue;
    byId.set(id, observeEc2(instance, bundle, hosts.get(id)));
  }
  const ec2 = byId.size;
  for (const host of bundle.inventoryHosts) {
    if (!byId.has(host.instanceId)) byId.set(host.instanceId, observeInventoryHost(host, bundle));
  }
  return { observations: [...byId.values()], ec2, inventory: byId.size - ec2 };
}

function observe(facts: HostFacts, bundle: RulesBundle): Observation {
  const match = matchRules(bundle.config, facts);
  return {
    facts,
    factsHash: factsHash(facts),
    held: isHeld(facts.tags, bundle.config),
    fingerprint: fingerprint(match, bundle.bundleHash),
    hasPlaybooks: match.playbooks.length > 0,
    runnable: facts.state === undefined || facts.state === 'running',
  };
}

/** The decision for one instance; `observed` and/or `known` is present. */
export function decideInstance(
  observed: Observation | undefined,
  known: KnownInstance | undefined,
  policy: ReconcilePolicy,
): InstancePlan {
  if (!observed) {
    if (!known) throw new TypeError('decideInstance needs an observation or a known instance');
    if (known.status === 'ORPHANED')
      return { instanceId: known.instanceId, category: 'steady', action: NONE };
    return {
      instanceId: known.instanceId,
      category: 'vanished',
      action: { kind: 'orphan', reason: 'vanished' },
    };
  }
  const instanceId = observed.facts.instanceId;
  const mayClaim = !observed.held && observed.runnable;
  if (!known) {
    return {
      instanceId,
      category: observed.held ? 'held' : 'new',
      upsert: observed,
      action: mayClaim ? { kind: 'claim', reason: 'new', expectedGeneration: 0 } : NONE,
    };
  }
  const changed =
    known.factsHash !== observed.factsHash ||
    known.held !== observed.held ||
    known.source !== observed.facts.source;
  const base = { instanceId, ...(changed ? { upsert: observed } : {}) };
  const quiet = (): InstancePlan => ({
    ...base,
    category: observed.held ? 'held' : changed ? 'changed' : 'steady',
    action: NONE,
  });

  if (known.status === 'ORPHANED') {
    // Seen again (re-opted-in, back in an inventory): re-detection revives it as PENDING. The store
    // refuses to revive a terminated instance, and the claim is then skipped.
    return {
      instanceId,
      category: observed.held ? 'held' : 'revived',
      upsert: observed,
      action: mayClaim ? { kind: 'claim', reason: 'pending', expectedGeneration: known.generation } : NONE,
    };
  }
  if (!mayClaim) return quiet();
  if (known.status === 'PENDING') {
    return {
      ...base,
      category: 'due',
      action: { kind: 'claim', reason: 'pending', expectedGeneration: known.generation },
    };
  }
  if (known.status === 'RUNNING') {
    const expired =
      known.leaseExpiresAt === undefined || Date.parse(known.leaseExpiresAt) <= policy.now.getTime();
    if (!expired) return quiet();
    return {
      ...base,
      category: 'lease-expired',
      action: known.executionName
        ? { kind: 'check-execution', generation: known.generation, executionName: known.executionName }
        : { kind: 'claim', reason: 'lease-expired', expectedGeneration: known.generation },
    };
  }
  if (isTerminal(known.status) && policy.reapplyOnChange && fingerprintChanged(known, observed)) {
    return {
      ...base,
      category: 'reprovision',
      action: { kind: 'claim', reason: 'fingerprint-changed', expectedGeneration: known.generation },
    };
  }
  return quiet();
}

/**
 * Has what the rules select changed since the run that produced this terminal status?
 * - SUCCESS (and DRIFTED, a check run of it): against the fingerprint of that success.
 * - FAILED / PARTIAL: against the fingerprint of the failed run, never against the last success: a
 *   playbook that keeps failing is not re-run every sweep, but a fix to the rules or playbooks (which
 *   changes the fingerprint) re-provisions it. Unknown fingerprint (failed before matching): no.
 * - SKIPPED: only when the rules now select playbooks (a re-run would otherwise be SKIPPED again).
 */
export function fingerprintChanged(known: KnownInstance, observed: Observation): boolean {
  switch (known.status) {
    case 'SUCCESS':
    case 'DRIFTED': {
      // A DRIFTED record's check run planned what its last success applied: the same baseline.
      const baseline = known.lastSuccessFingerprint ?? known.fingerprint;
      return baseline !== undefined && baseline !== observed.fingerprint;
    }
    case 'FAILED':
    case 'PARTIAL':
      return known.fingerprint !== undefined && known.fingerprint !== observed.fingerprint;
    case 'SKIPPED':
      return observed.hasPlaybooks && known.fingerprint !== observed.fingerprint;
    default:
      return false;
  }
}

/** One decision per instance of the sources and of the state, ordered for execution. */
export function reconcile(
  observations: readonly Observation[],
  fleet: readonly KnownInstance[],
  policy: ReconcilePolicy,
): SweepPlan {
  const known = new Map(fleet.map((entry) => [entry.instanceId, entry]));
  const decisions: InstancePlan[] = [];
  const seen = new Set<string>();
  for (const observed of observations) {
    const id = observed.facts.instanceId;
    if (seen.has(id)) continue;
    seen.add(id);
    decisions.push(decideInstance(observed, known.get(id), policy));
  }
  for (const entry of fleet)
    if (!seen.has(entry.instanceId)) decisions.push(decideInstance(undefined, entry, policy));

  const counts = Object.fromEntries(CATEGORY_ORDER.map((category) => [category, 0])) as Record<
    Category,
    number
  >;
  for (const decision of decisions) counts[decision.category] += 1;
  const rank = (plan: InstancePlan): number => CATEGORY_ORDER.indexOf(plan.category);
  const plans = decisions
    .filter((plan) => plan.upsert !== undefined || plan.action.kind !== 'none')
    // Stable sort: within a category, the sources' order (EC2 first, then inventory).
    .sort((a, b) => rank(a) - rank(b));
  return { plans, counts };
}
