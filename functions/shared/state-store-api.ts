// The contract of the DynamoDB state store (docs/architecture.md "State model"). Implemented by `state-store.ts`;
// handlers depend on this interface so tests can pass either the real store (DynamoDB Local) or a fake.

import type { AnsibleResult } from '../core/ansible-result.js';
import type { ClaimReason } from '../core/eligibility.js';
import type { KnownInstance } from '../core/reconcile.js';
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
}

/** Why a claim was requested; recorded in history. Decided with the rest of eligibility in core. */
export type { ClaimReason } from '../core/eligibility.js';

export type ClaimResult =
  | {
      readonly won: true;
      readonly generation: number;
      readonly executionName: string;
      readonly leaseExpiresAt: string;
    }
  | {
      readonly won: false;
      /** Current state of the record when the claim lost, e.g. "already claimed by g7". */
      readonly reason: 'not-eligible' | 'held' | 'missing' | 'orphaned';
      readonly currentStatus?: Status;
      readonly currentGeneration?: number;
      readonly message: string;
    };

/** Result of a write fenced on `generation`. */
export type FencedResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly currentGeneration?: number; readonly message: string };

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
  /** Fenced: terminal status of this generation (RUNNING → SUCCESS/PARTIAL/FAILED/SKIPPED), lease cleared. */
  recordOutcome(
    instanceId: string,
    generation: number,
    outcome: { status: Status; reason?: string; fingerprint?: string },
    now: Date,
  ): Promise<FencedResult>;
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
}

/** A compact fleet-index entry: exactly what the sweep's pure reconcile needs to know about a record. */
export type FleetEntry = KnownInstance;
