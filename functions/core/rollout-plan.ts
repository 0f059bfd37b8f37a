// What a rollout is made of, decided once when the sweep creates it (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md):
// its id, which lane each due instance is in, each lane's pool, what changed since the previous bundle, and
// whether a rule's `reapplyEvery` makes an instance due. Pure. How a pool admits and releases is admission.ts's.
//
// - Lanes: an instance is in the lane of the first rule (in rule order) that matches it and sets `rollout`,
//   else in the `default` lane. Each lane is its own pool; percentages are of the lane's instances.
// - Canary: each lane's `canary` picks canaries among that lane's due instances (a count: its first N by
//   instance id; groups: its instances in them). They all go to the one `canary` lane, which every other lane
//   waits for. The canary lane runs at the concurrency its instances had in their own lane (the smallest, when
//   they come from several), resolved against that lane's due count, and pauses on its first failure: a failed
//   canary must stop the rollout with a notification, never leave the other lanes waiting in silence.
import {
  DEFAULT_ROLLOUT,
  isCanary,
  openPool,
  type Pool,
  type RolloutSettings,
  resolveLimit,
} from './admission.js';
import { canonicalJson, sha256Hex } from './fingerprint.js';

export class RolloutPlanError extends Error {
  override name = 'RolloutPlanError';
}

export const DEFAULT_LANE = 'default';
export const CANARY_LANE = 'canary';

/** The lane of a rule that sets `rollout`. Prefixed, so a rule named `default` or `canary` has a lane of its own. */
export function ruleLane(ruleName: string): string {
  return `rule:${ruleName}`;
}

/** What planning reads from the rules: `defaults.rollout` and which rules set their own (rules.ts resolves both). */
export interface RolloutRules {
  readonly defaults: { readonly rollout?: RolloutSettings };
  readonly rules: readonly { readonly name: string; readonly rollout?: RolloutSettings }[];
}

/** `r-` and the first 12 hex digits of the bundle's content hash: the same bundle is always the same rollout. */
export function rolloutId(bundleHash: string): string {
  if (!/^[0-9a-f]{12,}$/i.test(bundleHash)) {
    throw new RolloutPlanError(
      `bundle hash ${JSON.stringify(bundleHash)} is not a content hash (at least 12 hex digits, e.g. the sha256 compileBundle writes as bundleHash)`,
    );
  }
  return `r-${bundleHash.slice(0, 12).toLowerCase()}`;
}

/** The lane of an instance whose match held for `matchedRules`: the first rule, in rule order, that sets `rollout`. */
export function laneOf(matchedRules: readonly string[], rules: RolloutRules): string {
  const own = rules.rules.find((rule) => rule.rollout !== undefined && matchedRules.includes(rule.name));
  return own ? ruleLane(own.name) : DEFAULT_LANE;
}

/** The settings of a lane that is not the canary lane. */
function laneSettings(lane: string, rules: RolloutRules): RolloutSettings {
  if (lane === DEFAULT_LANE) return rules.defaults.rollout ?? DEFAULT_ROLLOUT;
  const rule = rules.rules.find((r) => ruleLane(r.name) === lane);
  if (!rule?.rollout) throw new RolloutPlanError(`lane ${lane} has no rule with rollout settings`);
  return rule.rollout;
}

// ---------------------------------------------------------------------------------------------
// Planning a rollout.

/** An instance the new bundle makes due (fingerprint changed), with the groups and rules it matched. */
export interface DueInstance {
  readonly instanceId: string;
  readonly groups: readonly string[];
  /** Names of the rules whose match held (MatchResult.matchedRules). */
  readonly rules: readonly string[];
}

export interface LanePlan {
  /** For the canary lane: maxConcurrent as a count (see the file comment), maxErrors 0, no canary. */
  readonly settings: RolloutSettings;
  readonly pool: Pool;
  /** Sorted. */
  readonly instanceIds: readonly string[];
  /** Admitted only once every canary succeeded (every lane but the canary lane, when there is one). */
  readonly waitsForCanary: boolean;
  /** For the canary lane: the lanes its instances come from. */
  readonly from?: readonly string[];
}

export interface RolloutPlan {
  readonly rolloutId: string;
  readonly bundleHash: string;
  /** Every due instance, whatever its lane. */
  readonly due: number;
  /** Lanes that have instances: `canary` first, then rule lanes in rule order, then `default`. */
  readonly lanes: Readonly<Record<string, LanePlan>>;
  /** Instance id → lane. */
  readonly assignments: Readonly<Record<string, string>>;
  /** What an operator should know about the plan, e.g. canary groups with no due member. */
  readonly notes: readonly string[];
}

export function planRollout(input: {
  readonly bundleHash: string;
  readonly due: readonly DueInstance[];
  readonly rules: RolloutRules;
}): RolloutPlan {
  const { bundleHash, due, rules } = input;
  const id = rolloutId(bundleHash);
  const byLane = new Map<string, DueInstance[]>();
  const seen = new Set<string>();
  for (const instance of due) {
    if (seen.has(instance.instanceId)) {
      throw new RolloutPlanError(
        `${instance.instanceId} is due twice in rollout ${id}: an instance is started at most once per rollout`,
      );
    }
    seen.add(instance.instanceId);
    const lane = laneOf(instance.rules, rules);
    const inLane = byLane.get(lane);
    if (inLane) inLane.push(instance);
    else byLane.set(lane, [instance]);
  }

  const notes: string[] = [];
  const canaries: string[] = [];
  const canarySources: { lane: string; limit: number }[] = [];
  const remaining: { lane: string; settings: RolloutSettings; instanceIds: string[] }[] = [];
  const laneOrder = [...rules.rules.map((rule) => ruleLane(rule.name)), DEFAULT_LANE];
  for (const lane of laneOrder) {
    const instances = byLane.get(lane);
    if (!instances) continue;
    const settings = laneSettings(lane, rules);
    const ids = instances.map((i) => i.instanceId).sort();
    // isCanary sorts the ids it is given: a count lane hands it only its first `count`, not all of them.
    const candidates =
      settings.canary && 'count' in settings.canary ? ids.slice(0, settings.canary.count) : ids;
    const picked = new Set(
      instances.filter((i) => isCanary(settings.canary, i, candidates)).map((i) => i.instanceId),
    );
    if (settings.canary && 'groups' in settings.canary && picked.size === 0) {
      notes.push(
        `lane ${lane}: none of its ${ids.length} due instances is in the canary groups (${settings.canary.groups.join(', ')}): it starts without a canary`,
      );
    }
    if (picked.size > 0) {
      for (const instanceId of picked) canaries.push(instanceId);
      canarySources.push({ lane, limit: resolveLimit(settings.maxConcurrent, ids.length, 'concurrency') });
      if (picked.size === ids.length)
        notes.push(`lane ${lane}: every due instance (${ids.length}) is a canary`);
    }
    const instanceIds = ids.filter((instanceId) => !picked.has(instanceId));
    if (instanceIds.length > 0) remaining.push({ lane, settings, instanceIds });
  }

  const lanes: Record<string, LanePlan> = {};
  const assignments: Record<string, string> = {};
  const hasCanary = canaries.length > 0;
  if (hasCanary) {
    const settings: RolloutSettings = {
      maxConcurrent: { kind: 'count', value: Math.min(...canarySources.map((source) => source.limit)) },
      maxErrors: { kind: 'count', value: 0 },
    };
    const instanceIds = canaries.sort();
    lanes[CANARY_LANE] = {
      settings,
      pool: openPool(settings, instanceIds.length),
      instanceIds,
      waitsForCanary: false,
      from: canarySources.map((source) => source.lane),
    };
    for (const instanceId of instanceIds) assignments[instanceId] = CANARY_LANE;
  }
  for (const { lane, settings, instanceIds } of remaining) {
    lanes[lane] = {
      settings,
      pool: openPool(settings, instanceIds.length),
      instanceIds,
      waitsForCanary: hasCanary,
    };
    for (const instanceId of instanceIds) assignments[instanceId] = lane;
  }
  return { rolloutId: id, bundleHash, due: due.length, lanes, assignments, notes };
}

// ---------------------------------------------------------------------------------------------
// What changed between two bundles.

/** What a rollout record keeps of its bundle, to say what the next one changed. */
export interface BundleContents {
  readonly bundleHash: string;
  /** Hash of `defaults` (every rule inherits them). */
  readonly defaults: string;
  /** Rule name → hash of the rule as parsed. */
  readonly rules: Readonly<Record<string, string>>;
  /** Path in the playbooks folder (playbooks, roles, templates, inventories, rules.yaml) → content hash. */
  readonly files: Readonly<Record<string, string>>;
}

/** The contents of a bundle: its rules and defaults hashed here, its files' hashes as the caller read them. */
export function bundleContents<Rule extends { readonly name: string }>(
  config: { readonly defaults: unknown; readonly rules: readonly Rule[] },
  bundleHash: string,
  files: Readonly<Record<string, string>>,
): BundleContents {
  const hash = (value: unknown) => sha256Hex(canonicalJson(value));
  return {
    bundleHash,
    defaults: hash(config.defaults),
    rules: Object.fromEntries(config.rules.map((rule) => [rule.name, hash(rule)])),
    files: { ...files },
  };
}

export interface NamesChanged {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export interface BundleChange {
  readonly rules: NamesChanged;
  readonly defaultsChanged: boolean;
  readonly files: NamesChanged;
  /** One line for the rollout record and its notification. */
  readonly summary: string;
}

function compare(
  previous: Readonly<Record<string, string>>,
  current: Readonly<Record<string, string>>,
): NamesChanged {
  const sorted = (names: string[]) => names.sort();
  return {
    added: sorted(Object.keys(current).filter((name) => !Object.hasOwn(previous, name))),
    removed: sorted(Object.keys(previous).filter((name) => !Object.hasOwn(current, name))),
    changed: sorted(
      Object.keys(current).filter(
        (name) => Object.hasOwn(previous, name) && previous[name] !== current[name],
      ),
    ),
  };
}

/** At most five names, then how many more. */
function list(names: readonly string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}

/** Which rules, defaults and files `current` changed since `previous` (none: the first rollout). */
export function describeChange(previous: BundleContents | undefined, current: BundleContents): BundleChange {
  if (!previous) {
    const rules = { added: Object.keys(current.rules).sort(), removed: [], changed: [] };
    const files = { added: Object.keys(current.files).sort(), removed: [], changed: [] };
    const summary = `first rollout: ${rules.added.length} rule${rules.added.length === 1 ? '' : 's'}, ${files.added.length} file${files.added.length === 1 ? '' : 's'}`;
    return { rules, defaultsChanged: false, files, summary };
  }
  const rules = compare(previous.rules, current.rules);
  const files = compare(previous.files, current.files);
  const defaultsChanged = previous.defaults !== current.defaults;
  const parts: string[] = [];
  for (const [what, names] of [
    ['rules', rules],
    ['files', files],
  ] as const) {
    if (names.changed.length > 0) parts.push(`${what} changed: ${list(names.changed)}`);
    if (names.added.length > 0) parts.push(`${what} added: ${list(names.added)}`);
    if (names.removed.length > 0) parts.push(`${what} removed: ${list(names.removed)}`);
    if (what === 'rules' && defaultsChanged) parts.push('defaults changed');
  }
  const summary =
    parts.length > 0
      ? parts.join('; ')
      : previous.bundleHash === current.bundleHash
        ? 'nothing changed (same bundle)'
        : 'only the bundle hash changed';
  return { rules, defaultsChanged, files, summary };
}

// ---------------------------------------------------------------------------------------------
// Drift: a rule's `reapplyEvery`.

/** What driftDue reads of an instance record. */
export interface DriftRecord {
  readonly status: string;
  /** ISO-8601 time of the last outcome (for a SUCCESS or DRIFTED record: of that run). */
  readonly lastRunAt?: string;
}

/** What driftDue reads of a rule (rules.ts ResolvedRule). */
export interface DriftRule {
  readonly reapplyEverySeconds?: number;
  readonly drift?: 'report' | 'correct';
}

export type DriftDecision =
  | {
      readonly due: true;
      /** `report` → check mode (`--check`, the host is recorded DRIFTED if anything would change); `correct` → apply. */
      readonly mode: 'check' | 'apply';
      readonly dueAt: string;
    }
  | {
      readonly due: false;
      /**
       * `no-schedule`: the rule has no reapplyEvery. `not-succeeded`: the last run did not succeed (its own
       * retries and rollouts deal with it). `not-yet`: due at `dueAt`.
       */
      readonly reason: 'no-schedule' | 'not-succeeded' | 'not-yet';
      readonly dueAt?: string;
    };

/** Statuses whose last run completed: a re-apply measures its period from them. */
const SETTLED = new Set(['SUCCESS', 'DRIFTED']);

/**
 * Does `rule`'s reapplyEvery make this instance due at `now`: its last successful (or drift-checked) run plus
 * the period is not after `now`. A settled record without a readable lastRunAt is due now: when it last ran
 * is unknown, and "at least every period" is what the rule asks for.
 */
export function driftDue(record: DriftRecord, rule: DriftRule, now: Date): DriftDecision {
  if (rule.reapplyEverySeconds === undefined) return { due: false, reason: 'no-schedule' };
  if (!SETTLED.has(record.status)) return { due: false, reason: 'not-succeeded' };
  const mode = rule.drift === 'report' ? 'check' : 'apply';
  const last = record.lastRunAt === undefined ? Number.NaN : Date.parse(record.lastRunAt);
  if (Number.isNaN(last)) return { due: true, mode, dueAt: now.toISOString() };
  const dueAt = last + rule.reapplyEverySeconds * 1000;
  const at = new Date(dueAt).toISOString();
  return dueAt <= now.getTime()
    ? { due: true, mode, dueAt: at }
    : { due: false, reason: 'not-yet', dueAt: at };
}

/**
 * The window of a rule's `reapplyEvery` that `now` falls in: one pool per rule and window
 * (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md), so re-applies run in waves like a rollout and an
 * instance is re-applied at most once per window (its marker). Windows are `reapplyEvery` long and aligned on
 * the epoch: every sweep in a window finds the same id, whatever bundle it runs. The pool's settings are the
 * rule's lane (or `defaults.rollout`), without a canary: a re-apply changes nothing the last run did not.
 */
export interface DriftWindow {
  /** `d-` and 12 hex digits of a hash of the rule's name, its period and the window's index. */
  readonly rolloutId: string;
  /** The rule's lane (`rule:<name>`). */
  readonly lane: string;
  readonly startsAt: string;
  readonly endsAt: string;
  readonly settings: RolloutSettings;
}

export function driftWindow(
  rule: { readonly name: string; readonly reapplyEverySeconds: number; readonly rollout?: RolloutSettings },
  defaults: { readonly rollout?: RolloutSettings },
  now: Date,
): DriftWindow {
  const periodMs = rule.reapplyEverySeconds * 1000;
  const index = Math.floor(now.getTime() / periodMs);
  const id = sha256Hex(canonicalJson({ rule: rule.name, every: rule.reapplyEverySeconds, window: index }));
  const { canary: _canary, ...settings } = rule.rollout ?? defaults.rollout ?? DEFAULT_ROLLOUT;
  return {
    rolloutId: `d-${id.slice(0, 12)}`,
    lane: ruleLane(rule.name),
    startsAt: new Date(index * periodMs).toISOString(),
    endsAt: new Date((index + 1) * periodMs).toISOString(),
    settings,
  };
}
