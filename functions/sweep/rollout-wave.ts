// The sweep's waves (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md): the re-provisions a new bundle
// causes are one rollout, admitted through its lanes' slot pools; the re-applies a rule's `reapplyEvery` makes
// due go through the pool of that rule's window. The pools decide (core/admission.ts, compiled into the claim's
// transaction by the store); this module plans what is missing, puts every due instance in its lane and stops
// trying a lane once it answers that it admits nothing more now (full, paused, waiting for its canaries…).
// New instances never come here: first provisioning is not held back by a rollout.

import { openPool } from '../core/admission.js';
import type { ClaimReason } from '../core/eligibility.js';
import { matchRules } from '../core/matcher.js';
import {
  bundleContents,
  CANARY_LANE,
  type DueInstance,
  describeChange,
  driftDue,
  driftWindow,
  laneOf,
  planRollout,
} from '../core/rollout-plan.js';
import type { DriftMode, HostFacts, Rule, RulesBundle } from '../core/types.js';
import type { DebugLogger } from '../shared/logger.js';
import { invokeNotifier, type OrphanDeps } from '../shared/notify-invoke.js';
import { claimAndStart, type StartDeps } from '../shared/start-execution.js';
import type { AdmissionRefusal, InstanceRecord, Rollout, StateStoreApi } from '../shared/state-store-api.js';

export interface WaveDeps extends StartDeps, Omit<OrphanDeps, 'store'> {
  readonly store: Pick<
    StateStoreApi,
    'claim' | 'extendLease' | 'currentRollout' | 'createRollout' | 'listByStatus'
  >;
  readonly bundle: RulesBundle;
  readonly logger: DebugLogger;
}

/** An instance a wave may start: the generation the sweep saw and the facts its lane is decided from. */
export interface WaveCandidate {
  readonly instanceId: string;
  readonly expectedGeneration: number;
  readonly facts: HostFacts;
}

/** One instance's claim in a wave: which pool, and why. */
export interface WaveClaim {
  readonly instanceId: string;
  readonly expectedGeneration: number;
  readonly reason: Extract<ClaimReason, 'fingerprint-changed' | 'reapply' | 'drift-check'>;
  readonly slot: { readonly rolloutId: string; readonly lane: string };
  /** A bundle rollout's claim: refused as `done` or `no-rollout`, the instance was not in its plan. */
  readonly rollout: boolean;
}

/** What a wave did, for the sweep's summary. */
export interface WaveCounts {
  /** Executions started. */
  started: number;
  /** Of them, outside any pool: due after the rollout was planned (see claimWave). */
  outside: number;
  /** Claims the record refused (not eligible, held, …): another writer moved it. */
  lost: number;
  /** Due instances not started because admission refused them, or their lane already had: by reason. */
  readonly held: Partial<Record<AdmissionRefusal, number>>;
}

export function emptyCounts(): WaveCounts {
  return { started: 0, outside: 0, lost: 0, held: {} };
}

/** Refusals that say a pool admits nothing more for now: the lane is not tried again in this sweep. */
const CLOSES_LANE: ReadonlySet<string> = new Set<AdmissionRefusal>([
  'full',
  'paused',
  'aborted',
  'superseded',
  'error-threshold',
  'canary-pending',
]);

// ---------------------------------------------------------------------------------------------------------
// The rollout of the current bundle.

/** The rollout of the deployed bundle, as a sweep that found re-provisions due uses it. */
export type RolloutForWave =
  | {
      readonly usable: true;
      readonly rollout: Rollout;
      readonly created: boolean;
      readonly superseded?: string;
    }
  /** A newer bundle's rollout superseded this one: this sweep runs stale code and starts nothing. */
  | { readonly usable: false; readonly rollout: Rollout };

/**
 * The current rollout when it is this bundle's; else the rollout planned from `due` (every instance the new
 * bundle makes due, with its lane), created conditionally: a concurrent sweep that created it first wins, and
 * its rollout is used.
 */
export async function rolloutFor(deps: WaveDeps, due: readonly WaveCandidate[]): Promise<RolloutForWave> {
  const { bundle } = deps;
  const current = await deps.store.currentRollout();
  if (current?.bundleHash === bundle.bundleHash) return { usable: true, rollout: current, created: false };
  const plan = planRollout({
    bundleHash: bundle.bundleHash,
    due: due.map((candidate) => dueInstance(candidate, bundle)),
    rules: bundle.config,
  });
  const contents = bundleContents(bundle.config, bundle.bundleHash, bundle.files ?? {});
  const result = await deps.store.createRollout({
    plan,
    contents,
    change: describeChange(current?.contents, contents),
    canaries: plan.lanes[CANARY_LANE]?.instanceIds ?? [],
    actor: deps.actor,
    now: deps.now(),
  });
  if (result.created) {
    deps.logger.info('Rollout created', {
      rolloutId: result.rollout.rolloutId,
      due: plan.due,
      lanes: Object.fromEntries(Object.entries(plan.lanes).map(([lane, l]) => [lane, l.pool.total])),
      change: result.rollout.change.summary,
      superseded: result.superseded,
      notes: plan.notes,
    });
    return {
      usable: true,
      rollout: result.rollout,
      created: true,
      ...(result.superseded ? { superseded: result.superseded } : {}),
    };
  }
  return result.current
    ? { usable: true, rollout: result.rollout, created: false }
    : { usable: false, rollout: result.rollout };
}

function dueInstance(candidate: WaveCandidate, bundle: RulesBundle): DueInstance {
  return {
    instanceId: candidate.instanceId,
    groups: candidate.facts.groups,
    rules: matchRules(bundle.config, candidate.facts).matchedRules,
  };
}

/**
 * The lane of a due instance in `rollout`: the canary lane for the canaries the plan picked (stored with the
 * rollout: a count of canaries depends on what was due then), else the lane of its first matching rule that
 * sets `rollout`, else `default` (core/rollout-plan.ts laneOf).
 */
export function laneIn(rollout: Rollout, candidate: WaveCandidate, bundle: RulesBundle): string {
  if (rollout.canaries?.includes(candidate.instanceId)) return CANARY_LANE;
  return laneOf(matchRules(bundle.config, candidate.facts).matchedRules, bundle.config);
}

/** The claims of a rollout's due instances: the canary lane first, then by lane and instance id. */
export function rolloutClaims(
  rollout: Rollout,
  due: readonly WaveCandidate[],
  bundle: RulesBundle,
): WaveClaim[] {
  return ordered(
    due.map((candidate) => ({
      instanceId: candidate.instanceId,
      expectedGeneration: candidate.expectedGeneration,
      reason: 'fingerprint-changed' as const,
      slot: { rolloutId: rollout.rolloutId, lane: laneIn(rollout, candidate, bundle) },
      rollout: true,
    })),
  );
}

function ordered(claims: WaveClaim[]): WaveClaim[] {
  const rank = (claim: WaveClaim) => (claim.slot.lane === CANARY_LANE ? 0 : 1);
  const key = (claim: WaveClaim) => `${claim.slot.rolloutId}/${claim.slot.lane}/${claim.instanceId}`;
  return claims.sort((a, b) => rank(a) - rank(b) || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------------------
// Claiming: one claim per due instance, until its lane answers that it admits nothing more now.

/**
 * Claims one instance of a wave, unless its lane already refused in this sweep. A refusal that closes the
 * lane (full, paused, waiting for canaries…) stops the lane's later claims; `pauses` (this claim found the
 * pool past its threshold and wrote the pause) sends the pause notification. A rollout claim refused as
 * `done` or `no-rollout` is of an instance the plan did not count (its fingerprint changed after the rollout
 * was planned, through its facts): it is claimed outside the rollout, like a new instance.
 */
export async function claimWave(
  deps: WaveDeps,
  claim: WaveClaim,
  closed: Map<string, AdmissionRefusal>,
  counts: WaveCounts,
): Promise<void> {
  const key = `${claim.slot.rolloutId}/${claim.slot.lane}`;
  const closedBy = closed.get(key) ?? closed.get('*');
  if (closedBy) {
    hold(counts, closedBy);
    return;
  }
  const result = await claimAndStart(deps, claim.instanceId, {
    reason: claim.reason,
    expectedGeneration: claim.expectedGeneration,
    admission: { rollout: claim.slot },
  });
  if (result.won) {
    counts.started += 1;
    return;
  }
  const reason = result.reason;
  if (claim.rollout && (reason === 'done' || reason === 'no-rollout')) {
    const outside = await claimAndStart(deps, claim.instanceId, {
      reason: claim.reason,
      expectedGeneration: claim.expectedGeneration,
    });
    if (outside.won) {
      counts.started += 1;
      counts.outside += 1;
    } else if (isRecordLoss(outside.reason)) counts.lost += 1;
    else hold(counts, outside.reason as AdmissionRefusal);
    return;
  }
  if (isRecordLoss(reason)) {
    counts.lost += 1;
    return;
  }
  hold(counts, reason);
  if (reason === 'globally-paused') closed.set('*', reason);
  else if (CLOSES_LANE.has(reason)) closed.set(key, reason);
  if (result.pauses && result.rolloutId !== undefined && result.lane !== undefined) {
    await invokeNotifier(deps.lambda, deps.notifierFunctionName, {
      kind: 'rollout-paused',
      rolloutId: result.rolloutId,
      lane: result.lane,
    });
    deps.logger.warn('Rollout lane paused by a refused claim (its threshold was crossed)', {
      rolloutId: result.rolloutId,
      lane: result.lane,
    });
  }
}

type RecordLoss = 'not-eligible' | 'held' | 'missing' | 'orphaned';

/** A loss the record's own condition decided (claim.ts), not admission. */
export function isRecordLoss(reason: RecordLoss | AdmissionRefusal): reason is RecordLoss {
  return reason === 'not-eligible' || reason === 'held' || reason === 'missing' || reason === 'orphaned';
}

function hold(counts: WaveCounts, reason: AdmissionRefusal): void {
  counts.held[reason] = (counts.held[reason] ?? 0) + 1;
}

// ---------------------------------------------------------------------------------------------------------
// Drift: a rule's reapplyEvery.

/** A settled instance (SUCCESS or DRIFTED) the sweep has nothing else to do for. */
export interface DriftCandidate extends WaveCandidate {
  readonly status: string;
}

/** Rules with a reapplyEvery, in rule order. */
function driftRules(bundle: RulesBundle): (Rule & { reapplyEverySeconds: number })[] {
  return bundle.config.rules.filter(
    (rule): rule is Rule & { reapplyEverySeconds: number } => rule.reapplyEverySeconds !== undefined,
  );
}

/**
 * The re-applies due now, as claims in their rule window's pool (created when missing). An instance is due
 * for the first rule, in rule order, it matches whose reapplyEvery has passed since its last run
 * (core/rollout-plan.ts driftDue); `drift: report` claims it as `drift-check` (check mode), `correct` as
 * `reapply`. Reads nothing when no rule has a reapplyEvery or no settled instance matches one; otherwise
 * the settled records old enough to be due, through the status index.
 */
export async function driftClaims(deps: WaveDeps, settled: readonly DriftCandidate[]): Promise<WaveClaim[]> {
  const rules = driftRules(deps.bundle);
  if (rules.length === 0 || settled.length === 0) return [];
  const matched = new Map<string, { candidate: DriftCandidate; rules: typeof rules }>();
  const members = new Map<string, number>();
  for (const candidate of settled) {
    const names = new Set(matchRules(deps.bundle.config, candidate.facts).matchedRules);
    const own = rules.filter((rule) => names.has(rule.name));
    if (own.length === 0) continue;
    matched.set(candidate.instanceId, { candidate, rules: own });
    for (const rule of own) members.set(rule.name, (members.get(rule.name) ?? 0) + 1);
  }
  if (matched.size === 0) return [];
  const now = deps.now();
  const shortest = Math.min(...rules.map((rule) => rule.reapplyEverySeconds));
  const dueBefore = new Date(now.getTime() - shortest * 1000);
  const statuses = [...new Set([...matched.values()].map(({ candidate }) => candidate.status))];
  const records: InstanceRecord[] = [];
  for (const status of statuses) {
    records.push(...(await deps.store.listByStatus(status as InstanceRecord['status'], { dueBefore })));
  }
  const byRule = new Map<string, { rule: (typeof rules)[number]; claims: Omit<WaveClaim, 'slot'>[] }>();
  for (const record of records) {
    const entry = matched.get(record.instanceId);
    if (!entry || entry.candidate.status !== record.status) continue;
    const rule = entry.rules.find((candidate) => driftDue(record, candidate, now).due);
    if (!rule) continue;
    const group = byRule.get(rule.name) ?? { rule, claims: [] };
    group.claims.push({
      instanceId: record.instanceId,
      expectedGeneration: entry.candidate.expectedGeneration,
      reason: driftReason(rule.drift),
      rollout: false,
    });
    byRule.set(rule.name, group);
  }
  const claims: WaveClaim[] = [];
  for (const { rule, claims: due } of byRule.values()) {
    const window = await driftPool(deps, rule, members.get(rule.name) ?? due.length, now);
    for (const claim of due) claims.push({ ...claim, slot: window });
  }
  return ordered(claims);
}

function driftReason(mode: DriftMode | undefined): 'reapply' | 'drift-check' {
  return mode === 'report' ? 'drift-check' : 'reapply';
}

/** The rule's window pool, created (conditionally) for the rule's `members` settled instances when missing. */
async function driftPool(
  deps: WaveDeps,
  rule: Rule & { reapplyEverySeconds: number },
  members: number,
  now: Date,
): Promise<{ rolloutId: string; lane: string }> {
  const { bundle } = deps;
  const window = driftWindow(rule, bundle.config.defaults, now);
  const contents = bundleContents(bundle.config, bundle.bundleHash, bundle.files ?? {});
  const summary = `reapplyEvery of rule ${rule.name} (drift: ${rule.drift ?? 'correct'}), window ${window.startsAt} – ${window.endsAt}`;
  const result = await deps.store.createRollout({
    kind: 'drift',
    plan: {
      rolloutId: window.rolloutId,
      bundleHash: bundle.bundleHash,
      due: members,
      notes: [summary],
      lanes: { [window.lane]: { pool: openPool(window.settings, members) } },
    },
    contents,
    change: {
      rules: { added: [], removed: [], changed: [] },
      defaultsChanged: false,
      files: { added: [], removed: [], changed: [] },
      summary,
    },
    actor: deps.actor,
    now,
  });
  if (result.created)
    deps.logger.info('Drift window created', { rolloutId: window.rolloutId, members, summary });
  return { rolloutId: window.rolloutId, lane: window.lane };
}
