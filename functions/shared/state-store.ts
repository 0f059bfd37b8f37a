// The DynamoDB state store (docs/architecture.md "State model"): per instance, a state item (`sk = STATE`), two sibling items that
// keep it small — the facts snapshot (`sk = FACTS`) and the current run's plan and results (`sk = RUN`) —
// and its audit history (`sk = EVT#<iso>#<seq>`, TTL). Every move that matters is a single conditional
// write, so concurrency is DynamoDB's problem, not ours:
// - claim: ONE UpdateItem conditioned on the generation the caller saw and on eligibility
//   (core/eligibility.ts, compiled into the condition in state-store/claim.ts); a loser gets the winner's state back (ALL_OLD) as a typed loss.
// - fenced writes: conditioned on `generation = :g AND status = RUNNING`: a stale execution can never
//   overwrite a newer one. The two that also write the RUN item (recordMatch, recordPlaybookResult) do it
//   in one TransactWriteItems with the fenced state update, so the fence covers both items.
// Why the split: the state item carries only what claims, fences, notifications and the two indexes
// need (~350 bytes). The sweep reads the whole fleet through the fleet index every few minutes, and
// DynamoDB Local (the local mode and the benchmark) counts the FULL item against a Query's 1 MB page, not
// the projected entry: with facts and per-playbook results inline (~1.9 KB) 10,000 instances took 18
// pages instead of 4. It also makes every state write cheaper (write units are per KB of the whole item,
// and the status index projects ALL). sha256 hashes are stored as 32 raw bytes for the same reason.
// Reads stay one call: getInstance is one Query (`sk BETWEEN FACTS AND STATE`, history sorts before).
// History is written with a separate PutItem AFTER the state write, not in a transaction: the claim
// must stay one plain conditional UpdateItem (a transaction would double its cost and, under
// contention, can cancel every contender with TransactionConflict, so nobody wins). The state item is
// the truth; history is the audit trail and a lost history item loses no state.
// The store writes history for the moves it decides itself: DETECTED (created/changed/re-detected),
// CLAIMED, ORPHANED, FENCE_REJECTED. Callers write the rest (MATCHED, COMMAND_SENT, RECORDED, …).
// This file is the entry point every caller imports: StateStore, each method one call into the module of
// functions/shared/state-store/ that owns its decision: detection.ts (record or refresh a detection),
// claim.ts (the claim and its typed loss), rollouts.ts (rollouts, their slot pools and the global pause:
// the claim under admission and the outcome that releases a slot are transactions), fencing.ts (the fence), execution-writes.ts (the fenced writes
// of an execution), orphaned.ts and notified.ts (the two unfenced marks), history.ts (the audit trail),
// queries.ts (reads), io.ts (DynamoDB calls: conflict retries, paging), items.ts (the item layout) and
// old-state.ts (what a refused write returned).

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Pool } from '../core/admission.js';
import type { ClaimReason } from '../core/eligibility.js';
import type { HostFacts, PlannedPlaybook, Status } from '../core/types.js';
import { type DebugLogger, logger as defaultLogger } from './logger.js';
import { claim } from './state-store/claim.js';
import { upsertDetection } from './state-store/detection.js';
import {
  clearActiveCommand,
  extendLease,
  recordMatch,
  recordOutcome,
  recordPlaybookResult,
  setActiveCommand,
  setActiveCommandId,
} from './state-store/execution-writes.js';
import { appendHistory, listHistory } from './state-store/history.js';
import type { StoreContext } from './state-store/io.js';
import { markNotified } from './state-store/notified.js';
import { markOrphaned } from './state-store/orphaned.js';
import { getInstance, listAll, listByStatus, listFleet } from './state-store/queries.js';
import {
  claimAdmitted,
  clearGlobalPause,
  controlRollout,
  createRollout,
  currentRollout,
  getGlobalPause,
  getRollout,
  listRolloutFailures,
  markPauseNotified,
  setGlobalPause,
} from './state-store/rollouts.js';
import type {
  ActiveCommand,
  ClaimAdmission,
  ClaimResult,
  CreateRolloutResult,
  FencedResult,
  FleetEntry,
  GlobalPause,
  HistoryEvent,
  InstanceRecord,
  NewRollout,
  OutcomeResult,
  PlaybookRecord,
  Rollout,
  RolloutControl,
  RolloutFailure,
  StateStoreApi,
} from './state-store-api.js';

export { claimLoss } from './state-store/claim.js';
export type { OldState } from './state-store/old-state.js';
export {
  type AdmissionLossInput,
  admissionLoss,
  countedAs,
  newRollout,
} from './state-store/rollouts.js';

export interface StateStoreOptions {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  /** History items expire this many days after they were written (TTL). Default 90. */
  readonly historyDays?: number;
  /** Stamped on new records (docs/architecture.md "What comes next": many accounts and regions). */
  readonly accountId?: string;
  readonly region?: string;
  /** Where a failed best-effort history write is reported. Default: the shared logger. */
  readonly logger?: DebugLogger;
}

export class StateStore implements StateStoreApi {
  private readonly ctx: StoreContext;

  constructor(options: StateStoreOptions) {
    this.ctx = {
      doc: options.doc,
      tableName: options.tableName,
      historySeconds: Math.round((options.historyDays ?? 90) * 86_400),
      accountId: options.accountId,
      region: options.region,
      logger: options.logger ?? defaultLogger,
    };
  }

  getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    return getInstance(this.ctx, instanceId);
  }

  upsertDetection(
    facts: HostFacts,
    options: { held: boolean; actor: string; now: Date },
  ): Promise<{ record: InstanceRecord; written: boolean; created: boolean }> {
    return upsertDetection(this.ctx, facts, options);
  }

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
  ): Promise<ClaimResult> {
    const { admission, ...plain } = options;
    return admission
      ? claimAdmitted(this.ctx, instanceId, plain, admission)
      : claim(this.ctx, instanceId, plain);
  }

  extendLease(
    instanceId: string,
    generation: number,
    leaseSeconds: number,
    now: Date,
  ): Promise<FencedResult> {
    return extendLease(this.ctx, instanceId, generation, leaseSeconds, now);
  }

  recordMatch(
    instanceId: string,
    generation: number,
    match: { playbooks: readonly PlannedPlaybook[]; matchedRules: readonly string[]; fingerprint: string },
    now: Date,
  ): Promise<FencedResult> {
    return recordMatch(this.ctx, instanceId, generation, match, now);
  }

  setActiveCommand(
    instanceId: string,
    generation: number,
    command: ActiveCommand,
    now: Date,
  ): Promise<FencedResult> {
    return setActiveCommand(this.ctx, instanceId, generation, command, now);
  }

  clearActiveCommand(
    instanceId: string,
    generation: number,
    commandId: string,
    now: Date,
  ): Promise<FencedResult> {
    return clearActiveCommand(this.ctx, instanceId, generation, commandId, now);
  }

  setActiveCommandId(
    instanceId: string,
    generation: number,
    taskToken: string,
    commandId: string,
    now: Date,
  ): Promise<FencedResult> {
    return setActiveCommandId(this.ctx, instanceId, generation, taskToken, commandId, now);
  }

  recordPlaybookResult(
    instanceId: string,
    generation: number,
    index: number,
    result: PlaybookRecord,
    now: Date,
    options: { activeCommandId?: string } = {},
  ): Promise<FencedResult> {
    return recordPlaybookResult(this.ctx, instanceId, generation, index, result, now, options);
  }

  recordOutcome(
    instanceId: string,
    generation: number,
    outcome: { status: Status; reason?: string; fingerprint?: string },
    now: Date,
  ): Promise<OutcomeResult> {
    return recordOutcome(this.ctx, instanceId, generation, outcome, now);
  }

  markOrphaned(
    instanceId: string,
    reason: string,
    actor: string,
    now: Date,
  ): Promise<{ changed: boolean; generation?: number }> {
    return markOrphaned(this.ctx, instanceId, reason, actor, now);
  }

  markNotified(instanceId: string, generation: number, status: Status, now: Date): Promise<boolean> {
    return markNotified(this.ctx, instanceId, generation, status, now);
  }

  appendHistory(event: HistoryEvent): Promise<void> {
    return appendHistory(this.ctx, event);
  }

  /**
   * The instance's events, oldest first. With `limit`, the first `limit` events — or, with `newest`, the
   * last `limit` (read newest first, returned oldest first).
   */
  listHistory(
    instanceId: string,
    options: { limit?: number; newest?: boolean } = {},
  ): Promise<HistoryEvent[]> {
    return listHistory(this.ctx, instanceId, options);
  }

  listByStatus(status: Status, options: { dueBefore?: Date } = {}): Promise<InstanceRecord[]> {
    return listByStatus(this.ctx, status, options);
  }

  listFleet(): Promise<FleetEntry[]> {
    return listFleet(this.ctx);
  }

  listAll(): Promise<InstanceRecord[]> {
    return listAll(this.ctx);
  }

  createRollout(input: NewRollout): Promise<CreateRolloutResult> {
    return createRollout(this.ctx, input);
  }

  getRollout(rolloutId: string): Promise<Rollout | undefined> {
    return getRollout(this.ctx, rolloutId);
  }

  currentRollout(): Promise<Rollout | undefined> {
    return currentRollout(this.ctx);
  }

  pauseRollout(
    rolloutId: string,
    options: { actor: string; now: Date },
  ): Promise<RolloutControl | undefined> {
    return controlRollout(this.ctx, rolloutId, 'paused', options);
  }

  resumeRollout(
    rolloutId: string,
    options: { actor: string; now: Date },
  ): Promise<RolloutControl | undefined> {
    return controlRollout(this.ctx, rolloutId, 'resumed', options);
  }

  abortRollout(
    rolloutId: string,
    options: { actor: string; now: Date },
  ): Promise<RolloutControl | undefined> {
    return controlRollout(this.ctx, rolloutId, 'aborted', options);
  }

  setGlobalPause(options: {
    actor: string;
    now: Date;
    reason?: string;
  }): Promise<{ changed: boolean; pause: GlobalPause }> {
    return setGlobalPause(this.ctx, options);
  }

  clearGlobalPause(): Promise<{ changed: boolean; pause?: GlobalPause }> {
    return clearGlobalPause(this.ctx);
  }

  getGlobalPause(): Promise<GlobalPause | undefined> {
    return getGlobalPause(this.ctx);
  }

  listRolloutFailures(rolloutId: string, lane?: string): Promise<RolloutFailure[]> {
    return listRolloutFailures(this.ctx, rolloutId, lane);
  }

  markPauseNotified(rolloutId: string, lane: string, pool: Pool, now: Date): Promise<boolean> {
    return markPauseNotified(this.ctx, rolloutId, lane, pool, now);
  }
}
