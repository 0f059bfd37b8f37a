// The contract of the DynamoDB state store (docs/architecture.md "State model"). Implemented by `state-store.ts`;
// handlers depend on this interface so tests can pass either the real store (DynamoDB Local) or a fake.

import type { Pool, RefusalReason } from '../core/admission.js';
import type { AnsibleResult } from '../core/ansible-result.js';
import type { ClaimReason } from '../core/eligibility.js';
import type { KnownInstance } from '../core/reconcile.js';
import type { BundleChange, BundleContents, LanePlan, RolloutPlan } from '../core/rollout-plan.js';
import type { HostFacts, PlannedPlaybook, PlaybookRunStatus, Source, Status } from '../core/types.js';

/**
 * Kinds of audit events kept as history items (`sk = EVT#<iso time>#<seq>`). Each one is written
 * somewhere (test/architecture/history-events.test.ts): a lost claim race, a lease, a retry wait and the
 * start of an execution are not audited — the claim, the Step Functions execution and its Wait states
 * already say them.
 */
export const HISTORY_EVENT_TYPES = [
  'DETECTED',
  'HELD',
  'CLAIMED',
  'MATCHED',
  'COMMAND_SENT',
  'PLAYBOOK_SUCCEEDED',
  'PLAYBOOK_FAILED',
  'VARS_ADJUSTED',
  'RECORDED',
  'NOTIFIED',
  'ORPHANED',
  'STOPPED',
  'FENCE_REJECTED',
] as const;
export type HistoryEventType = (typeof HISTORY_EVENT_TYPES)[number];

export interface HistoryEvent {
  readonly instanceId: string;
  readonly type: HistoryEventType;
  /** ISO-8601. */
  readonly at: string;
  /** Who wrote it: `event-detector`, `sweep`, `workflow:<execution name>`, `cli:<user>`, … */
  readonly actor: string;
  readonly generation?: number;
  readonly reason?: string;
  /** Small structured details (command id, playbook, adjusted vars…). Never secrets. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Result of one playbook run as recorded on the instance (per-playbook results). */
export interface PlaybookRecord {
  readonly file: string;
  readonly status: PlaybookRunStatus | 'Pending' | 'InProgress';
  readonly attempts: number;
  readonly commandId?: string;
  readonly exitCode?: number;
  readonly startedAt?: string;
  readonly endedAt?: string;
  /** Last ≤ 2,000 characters of the output. */
  readonly outputTail?: string;
  /** CloudWatch Logs console URL (or local path) of the full output. */
  readonly logUrl?: string;
  /** Planned in check mode (`--check`): the result lists the tasks that would change. */
  readonly check?: boolean;
  /**
   * What Ansible reported (recap, failed tasks, changed tasks), bounded (core/ansible-result.ts). Absent
   * on records written before it existed and when the output said nothing about Ansible.
   */
  readonly ansible?: AnsibleResult;
}

/** The command the workflow is waiting on right now (at most one per instance). */
export interface ActiveCommand {
  readonly kind: 'ensure-ansible' | 'playbook';
  /** Index into `playbooks` for kind=playbook. */
  readonly playbookIndex?: number;
  readonly attempt: number;
  readonly taskToken: string;
  /** Absent between storing the token and SendCommand returning. */
  readonly commandId?: string;
  readonly sentAt?: string;
  /** When the token was stored, just before SendCommand: a retried step lists commands sent since. */
  readonly requestedAt?: string;
}

export interface InstanceRecord {
  readonly instanceId: string;
  readonly status: Status;
  readonly source: Source;
  readonly facts: HostFacts;
  /** sha256 of the canonical facts: the sweep compares it to decide whether a detection changed anything. */
  readonly factsHash: string;
  /** Fencing token: incremented by every claim. 0 = never claimed. */
  readonly generation: number;
  readonly leaseExpiresAt?: string;
  readonly executionName?: string;
  /** True when the hold tag is present: never claimed automatically. */
  readonly held: boolean;
  readonly matchedRules?: readonly string[];
  readonly playbooks?: readonly PlaybookRecord[];
  /** Fingerprint of the current run's match; `lastSuccessFingerprint` of the last SUCCESS. */
  readonly fingerprint?: string;
  readonly lastSuccessFingerprint?: string;
  readonly activeCommand?: ActiveCommand;
  readonly reason?: string;
  /** `<generation>#<status>` of the last notification sent. */
  readonly notifiedKey?: string;
  readonly accountId?: string;
  readonly region?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastRunAt?: string;
  /**
   * The rollout slot this instance's run holds (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md):
   * set by the claim that acquired it, kept by reclaims, removed by the outcome write that releases it.
   */
  readonly rolloutId?: string;
  readonly lane?: string;
  /**
   * Set by a `drift-check` claim (a rule's `reapplyEvery` with `drift: report`): this generation runs its
   * playbooks in check mode, and the record step records DRIFTED when they would change something.
   */
  readonly checkRun?: boolean;
  /**
   * Set in the same transaction as the conditional write that paused a rollout pool, on the instance whose
   * release (its outcome, or its orphaning) crossed the error threshold: that run's notification also says
   * the rollout paused (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md).
   */
  readonly pausedRollout?: { readonly rolloutId: string; readonly lane: string; readonly generation: number };
}

/** Why a claim was requested; recorded in history. Decided with the rest of eligibility in core. */
export type { ClaimReason } from '../core/eligibility.js';

/**
 * What a claim is admitted under (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md). A claim given
 * `admission` is refused while the global pause is set; with `rollout` it also takes a slot in that
 * rollout's lane (a rollout re-provision), in the same transaction as the claim, and marks the instance as
 * started in that rollout. A record that already holds a slot (a reclaim) keeps it and takes no other.
 * Without `admission` the claim is the plain conditional UpdateItem of ADR 0001: no pause, no slot.
 */
export interface ClaimAdmission {
  readonly rollout?: { readonly rolloutId: string; readonly lane: string };
}

/** Why admission refused a claim: core/admission.ts's reasons, and the store's own. */
export type AdmissionRefusal =
  | RefusalReason
  /** The instance was already started in this rollout (its marker exists). */
  | 'already-started'
  /** A newer rollout superseded this one: its pools admit nothing more. */
  | 'superseded'
  /** No such rollout, or no such lane in it. */
  | 'no-rollout';

export type ClaimResult =
  | {
      readonly won: true;
      readonly generation: number;
      readonly executionName: string;
      readonly leaseExpiresAt: string;
      /** The rollout slot the run holds: `acquired` by this claim, or kept from the generation it replaces. */
      readonly slot?: { readonly rolloutId: string; readonly lane: string; readonly acquired: boolean };
    }
  | {
      readonly won: false;
      /** Why: the record (not eligible, held, missing, orphaned), or admission (an AdmissionRefusal). */
      readonly reason: 'not-eligible' | 'held' | 'missing' | 'orphaned' | AdmissionRefusal;
      /** Current state of the record when the claim lost, e.g. "already claimed by g7". */
      readonly currentStatus?: Status;
      readonly currentGeneration?: number;
      /** The pool that refused (admission refusals of a rollout claim), as it was. */
      readonly rolloutId?: string;
      readonly lane?: string;
      readonly pool?: Pool;
      /**
       * True for the one refusal whose conditional write paused the pool (its failures were past the
       * threshold but the pause was not written yet): that caller sends the pause notification.
       */
      readonly pauses?: boolean;
      readonly message: string;
    };

/** Result of a write fenced on `generation`. */
export type FencedResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly currentGeneration?: number; readonly message: string };

/** A rollout slot given back by an outcome write, and the pool after it. */
export interface SlotRelease {
  readonly rolloutId: string;
  readonly lane: string;
  /** How the run counts in its pool: SUCCESS and SKIPPED succeed, FAILED and PARTIAL fail. */
  readonly counted: 'succeeded' | 'failed';
  readonly pool: Pool;
  /** True for exactly one release: the one whose conditional write paused the pool. It notifies. */
  readonly pauses: boolean;
}

/** Result of recordOutcome: a fenced write that also releases the run's rollout slot, if it holds one. */
export type OutcomeResult =
  | { readonly ok: true; readonly release?: SlotRelease }
  | Extract<FencedResult, { ok: false }>;

/**
 * What createRollout is given: the plan core/rollout-plan.ts made (its id, bundle hash, due count, notes and
 * each lane's opened pool; the per-instance assignments are not stored), what the bundle holds, and what it
 * changed since the previous rollout (describeChange of the previous rollout's `contents`).
 */
export interface NewRollout {
  readonly plan: Pick<RolloutPlan, 'rolloutId' | 'bundleHash' | 'due' | 'notes'> & {
    readonly lanes: Readonly<Record<string, Pick<LanePlan, 'pool'>>>;
  };
  readonly contents: BundleContents;
  readonly change: BundleChange;
  /**
   * The instances of the canary lane (the plan's `canary` lane): stored, so a later sweep puts each due
   * instance in the same lane as the sweep that planned it (count canaries depend on what was due then).
   */
  readonly canaries?: readonly string[];
  /**
   * `drift`: the pools of one rule's `reapplyEvery` window. Created beside the current rollout: it does not
   * move `CONTROL/ROLLOUT` and supersedes nothing. Default: a bundle's rollout.
   */
  readonly kind?: 'rollout' | 'drift';
  readonly actor: string;
  readonly now: Date;
}

/** A rollout and its pools (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md). */
export interface Rollout {
  readonly rolloutId: string;
  readonly bundleHash: string;
  /** Instances due when it was created, all lanes. */
  readonly due: number;
  /** The plan's notes (e.g. canary groups with no due member). */
  readonly notes: readonly string[];
  /** What the bundle holds: the next rollout says what it changed against this. */
  readonly contents: BundleContents;
  /** What it changed since the previous rollout. */
  readonly change: BundleChange;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly previousRolloutId?: string;
  /** Set when a newer rollout superseded this one (its unfinished pools were ABORTED then). */
  readonly supersededBy?: string;
  readonly supersededAt?: string;
  /** The last operator pause, resume and abort of the rollout (`rollout pause|resume|abort`). */
  readonly pausedAt?: string;
  readonly pausedBy?: string;
  readonly resumedAt?: string;
  readonly resumedBy?: string;
  readonly abortedAt?: string;
  readonly abortedBy?: string;
  /** The canary lane's instances (NewRollout.canaries). */
  readonly canaries?: readonly string[];
  /** `drift` for a rule's reapplyEvery window (NewRollout.kind); absent for a bundle's rollout. */
  readonly kind?: 'drift';
  /** Its slot pools, by lane. */
  readonly lanes: Readonly<Record<string, Pool>>;
}

/** An instance whose run in a rollout counted as failed (its marker), for the pause notification. */
export interface RolloutFailure {
  readonly instanceId: string;
  readonly lane: string;
  /** The status its run ended with (FAILED, PARTIAL, ORPHANED). */
  readonly outcome: string;
  /** The outcome's reason: the failed playbook and how it failed. */
  readonly reason?: string;
  readonly endedAt?: string;
}

export type CreateRolloutResult =
  | { readonly created: true; readonly rollout: Rollout; readonly superseded?: string }
  /** It already existed (another sweep created it, or an earlier bundle had the same id); `current` says if it still is. */
  | { readonly created: false; readonly rollout: Rollout; readonly current: boolean };

/** An operator's pause, resume or abort: the rollout after it and the lanes it changed. */
export interface RolloutControl {
  readonly rollout: Rollout;
  readonly changed: readonly string[];
}

/** `autoprov pause`: no claim of any kind while it is set; running executions finish. */
export interface GlobalPause {
  readonly since: string;
  readonly actor: string;
  readonly reason?: string;
}

export interface StateStoreApi {
  getInstance(instanceId: string): Promise<InstanceRecord | undefined>;
  /**
   * Create or refresh the record from a detection (facts snapshot, source, held flag). Writes only
   * if something changed (steady state writes nothing) and never changes status/generation.
   * Returns the record as it is after the call and whether it was written.
   */
  upsertDetection(
    facts: HostFacts,
    options: { held: boolean; actor: string; now: Date },
  ): Promise<{ record: InstanceRecord; written: boolean; created: boolean }>;
  /**
   * One conditional UpdateItem: eligible = PENDING, or RUNNING with lease expired, or a terminal
   * status (SUCCESS/PARTIAL/FAILED/SKIPPED) when `reason` is a re-provision reason. Never when held
   * (unless reason is operator-retry) or ORPHANED. Increments generation, sets lease and execution name.
   */
  claim(
    instanceId: string,
    options: {
      reason: ClaimReason;
      leaseSeconds: number;
      actor: string;
      now: Date;
      expectedGeneration?: number;
      admission?: ClaimAdmission;
    },
  ): Promise<ClaimResult>;
  extendLease(instanceId: string, generation: number, leaseSeconds: number, now: Date): Promise<FencedResult>;
  /** Fenced: records the match (playbooks all Pending, fingerprint, matched rules). */
  recordMatch(
    instanceId: string,
    generation: number,
    match: { playbooks: readonly PlannedPlaybook[]; matchedRules: readonly string[]; fingerprint: string },
    now: Date,
  ): Promise<FencedResult>;
  /** Fenced: stores the active command's task token (before SendCommand). */
  setActiveCommand(
    instanceId: string,
    generation: number,
    command: ActiveCommand,
    now: Date,
  ): Promise<FencedResult>;
  /** Fenced and conditioned on the same task token: adds the command id after SendCommand returned. */
  setActiveCommandId(
    instanceId: string,
    generation: number,
    taskToken: string,
    commandId: string,
    now: Date,
  ): Promise<FencedResult>;
  /**
   * Fenced: stores one playbook's result at `index` and clears the active command. With
   * `activeCommandId`, only while that command is the active one (a duplicate status event is refused
   * with the same generation: already recorded).
   */
  recordPlaybookResult(
    instanceId: string,
    generation: number,
    index: number,
    result: PlaybookRecord,
    now: Date,
    options?: { activeCommandId?: string },
  ): Promise<FencedResult>;
  /**
   * Fenced, and only while `commandId` is the active command: clears it (the ensure-Ansible step, which
   * has no playbook slot). A duplicate status event is refused with the same generation.
   */
  clearActiveCommand(
    instanceId: string,
    generation: number,
    commandId: string,
    now: Date,
  ): Promise<FencedResult>;
  /**
   * Fenced: terminal status of this generation (RUNNING → SUCCESS/PARTIAL/FAILED/SKIPPED), lease cleared.
   * A run that holds a rollout slot releases it in the same transaction (inFlight − 1, succeeded or failed
   * + 1); then, if the pool's failures passed its threshold, one conditional write pauses it (`pauses`).
   */
  recordOutcome(
    instanceId: string,
    generation: number,
    outcome: { status: Status; reason?: string; fingerprint?: string },
    now: Date,
  ): Promise<OutcomeResult>;
  /**
   * Any status → ORPHANED with a reason (terminated, opted-out, vanished). Idempotent. `generation`
   * (the record's, when changed) is what the ORPHANED notification is keyed on.
   */
  markOrphaned(
    instanceId: string,
    reason: string,
    actor: string,
    now: Date,
  ): Promise<{ changed: boolean; generation?: number }>;
  /** Conditional: true the first time for (generation, status); false afterwards. */
  markNotified(instanceId: string, generation: number, status: Status, now: Date): Promise<boolean>;
  appendHistory(event: HistoryEvent): Promise<void>;
  /** Oldest first. */
  listHistory(instanceId: string, options?: { limit?: number; newest?: boolean }): Promise<HistoryEvent[]>;
  /** Through the status GSI (no scan). */
  listByStatus(status: Status, options?: { dueBefore?: Date }): Promise<InstanceRecord[]>;
  /**
   * Every known instance, compact, through the sparse fleet GSI (constant partition key, INCLUDE
   * projection of the fields below): ~150 B an item, so 10,000 instances are 2 Query pages. The sweep
   * reconciles against this, which is how a steady-state sweep stays within its API-call budget.
   */
  listFleet(): Promise<FleetEntry[]>;
  /** Every instance record in full (paginated) — for the CLI. */
  listAll(): Promise<InstanceRecord[]>;
  /**
   * A new rollout (attribute_not_exists): its item, one pool per lane of the plan, and `CONTROL/ROLLOUT`
   * pointing to it, in one transaction. An unfinished current rollout is superseded in
   * the same transaction: its ROLLING and PAUSED pools become ABORTED. An existing id is returned as is.
   */
  createRollout(input: NewRollout): Promise<CreateRolloutResult>;
  getRollout(rolloutId: string): Promise<Rollout | undefined>;
  /** The rollout `CONTROL/ROLLOUT` points to. */
  currentRollout(): Promise<Rollout | undefined>;
  /** ROLLING pools → PAUSED. Undefined when there is no such rollout. */
  pauseRollout(rolloutId: string, options: { actor: string; now: Date }): Promise<RolloutControl | undefined>;
  /** PAUSED pools → ROLLING, `maxErrors` raised to `failed + maxErrors` (core/admission.ts resume). */
  resumeRollout(
    rolloutId: string,
    options: { actor: string; now: Date },
  ): Promise<RolloutControl | undefined>;
  /** ROLLING and PAUSED pools → ABORTED: nothing more is admitted; runs in flight still release. */
  abortRollout(rolloutId: string, options: { actor: string; now: Date }): Promise<RolloutControl | undefined>;
  /** Writes `CONTROL/PAUSE`; `changed` is false when it was already set (the first pause is kept). */
  setGlobalPause(options: {
    actor: string;
    now: Date;
    reason?: string;
  }): Promise<{ changed: boolean; pause: GlobalPause }>;
  /** Deletes `CONTROL/PAUSE`; returns the pause it cleared. */
  clearGlobalPause(): Promise<{ changed: boolean; pause?: GlobalPause }>;
  getGlobalPause(): Promise<GlobalPause | undefined>;
  /** The instances whose run in `rolloutId` counted as failed (in `lane`, when given), oldest first. */
  listRolloutFailures(rolloutId: string, lane?: string): Promise<RolloutFailure[]>;
  /**
   * Conditional: true the first time for this pause of the pool (a pause is told apart from the next one
   * by the pool's `maxErrors`, which a resume raises); false afterwards. The pause notification's once-only
   * mark (docs/adr/0008-notifications-at-most-once.md).
   */
  markPauseNotified(rolloutId: string, lane: string, pool: Pool, now: Date): Promise<boolean>;
}

/** A compact fleet-index entry: exactly what the sweep's pure reconcile needs to know about a record. */
export type FleetEntry = KnownInstance;
