// An in-memory StateStoreApi for unit tests. It honours the same fences and conditions as the
// DynamoDB store (generation, task token, active command, RUNNING-only outcome, once-only
// notification, claim eligibility from core/eligibility.ts), so a helper tested against it behaves the same
// against the real table. test/shared/state-store.contract.test.ts holds both to one contract, and
// the rules they share are imported, not copied: eligibility (opt-in, hold, claimable statuses,
// re-provision reasons) from core/eligibility.ts, admission, thresholds and canary gating from
// core/admission.ts, the explanations of a lost or refused claim from the store.
// Records are deep-copied in and out: a test cannot mutate the store by accident.

import { acquire, admit, type Pool, release, resume } from '../../functions/core/admission.js';
import { isClaimable } from '../../functions/core/eligibility.js';
import { factsHash } from '../../functions/core/fingerprint.js';
import { ORPHAN_REASONS } from '../../functions/core/reconcile.js';
import { CANARY_LANE } from '../../functions/core/rollout-plan.js';
import { assertTransition, canTransition, isTerminal } from '../../functions/core/status.js';
import type { HostFacts, PlannedPlaybook, Status } from '../../functions/core/types.js';
import { InvalidInputError } from '../../functions/shared/errors.js';
import { admissionLoss, claimLoss, countedAs, newRollout } from '../../functions/shared/state-store.js';
import type {
  ActiveCommand,
  ClaimAdmission,
  ClaimReason,
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
  SlotRelease,
  StateStoreApi,
} from '../../functions/shared/state-store-api.js';
import { FLEET_INDEX } from '../../functions/shared/table-schema.js';
import { executionNameOf } from '../../functions/shared/workflow-contract.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function copy<T>(value: T): T {
  return structuredClone(value);
}

export class FakeStateStore implements StateStoreApi {
  private readonly records = new Map<string, Mutable<InstanceRecord>>();
  /** The status index's sort key (lease expiry or last change), kept beside the record like the store's `dueAt`. */
  private readonly dueAt = new Map<string, string>();
  private readonly accountId: string | undefined;
  private readonly region: string | undefined;
  /** Every event in the order it was appended (listHistory returns them oldest first, like the store). */
  readonly history: HistoryEvent[] = [];
  /** Every write method called, in order: lets a test assert what was (not) written. */
  readonly calls: string[] = [];
  /** Rollouts (without their pools), their pools by `<rolloutId>/<lane>`, and the instances started in each. */
  private readonly rollouts = new Map<string, Mutable<Omit<Rollout, 'lanes'>>>();
  private readonly pools = new Map<string, { pool: Pool; supersededBy?: string }>();
  private readonly markers = new Map<
    string,
    {
      lane: string;
      generation: number;
      startedAt: string;
      counted?: 'succeeded' | 'failed';
      outcome?: Status;
      reason?: string;
      endedAt?: string;
    }
  >();
  /** The pause notification's marks, by `<rolloutId>/<lane>`: the pool's maxErrors when it was told. */
  private readonly pauseNotified = new Map<string, number>();
  private currentRolloutId: string | undefined;
  private pause: GlobalPause | undefined;

  /** `accountId` and `region` are stamped on records created by upsertDetection, like StateStoreOptions. */
  constructor(options: { accountId?: string; region?: string } = {}) {
    this.accountId = options.accountId;
    this.region = options.region;
  }

  /** Put a record as is (test setup). Missing timestamps default to the epoch. */
  seed(record: Partial<InstanceRecord> & Pick<InstanceRecord, 'instanceId' | 'facts'>): InstanceRecord {
    const full: Mutable<InstanceRecord> = {
      status: 'PENDING',
      source: record.facts.source,
      factsHash: factsHash(record.facts),
      generation: 0,
      held: false,
      createdAt: '1970-01-01T00:00:00.000Z',
      updatedAt: '1970-01-01T00:00:00.000Z',
      ...copy(record),
    };
    this.records.set(full.instanceId, full);
    this.dueAt.set(full.instanceId, full.leaseExpiresAt ?? full.updatedAt);
    return copy(full);
  }

  /** Synchronous peek for assertions. */
  peek(instanceId: string): InstanceRecord | undefined {
    const record = this.records.get(instanceId);
    return record ? copy(record) : undefined;
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    return this.peek(instanceId);
  }

  async upsertDetection(
    facts: HostFacts,
    options: { held: boolean; actor: string; now: Date },
  ): Promise<{ record: InstanceRecord; written: boolean; created: boolean }> {
    this.calls.push('upsertDetection');
    const hash = factsHash(facts);
    const existing = this.records.get(facts.instanceId);
    const now = options.now.toISOString();
    const detected = (reason: string, generation: number, details: Record<string, unknown>) =>
      this.history.push({
        instanceId: facts.instanceId,
        type: 'DETECTED',
        at: now,
        actor: options.actor,
        generation,
        reason,
        ...(Object.keys(details).length > 0 ? { details } : {}),
      });
    if (!existing) {
      const record = this.seed({
        instanceId: facts.instanceId,
        facts,
        held: options.held,
        ...(this.accountId ? { accountId: this.accountId } : {}),
        ...(this.region ? { region: this.region } : {}),
        createdAt: now,
        updatedAt: now,
      });
      detected('new', 0, { source: facts.source, held: options.held });
      return { record, written: true, created: true };
    }
    // Like the store: an orphan comes back as PENDING on re-detection, unless it was terminated.
    const revive =
      existing.status === 'ORPHANED' &&
      existing.reason !== ORPHAN_REASONS.terminated &&
      canTransition('ORPHANED', 'PENDING');
    const previousReason = existing.reason;
    const changes = [
      existing.factsHash !== hash ? 'facts' : undefined,
      existing.held !== options.held ? 'held' : undefined,
      existing.source !== facts.source ? 'source' : undefined,
    ].filter((change): change is string => change !== undefined);
    if (!revive && changes.length === 0) return { record: copy(existing), written: false, created: false };
    Object.assign(existing, {
      facts: copy(facts),
      factsHash: hash,
      held: options.held,
      source: facts.source,
      updatedAt: now,
    });
    if (revive) {
      existing.status = 'PENDING';
      delete existing.reason;
      delete existing.leaseExpiresAt;
      this.dueAt.set(facts.instanceId, now);
    }
    detected(
      revive ? 're-detected' : `${changes.join('+')}-changed`,
      existing.generation,
      revive && previousReason !== undefined ? { previousReason } : {},
    );
    return { record: copy(existing), written: true, created: false };
  }

  async claim(
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
    this.calls.push('claim');
    const { admission } = options;
    // Like the store: a claim without a rollout reads the pause before anything; one with a rollout reads
    // the record first, then its transaction refuses on the pause before the record's own condition.
    if (admission && !admission.rollout && this.pause) {
      return admissionLoss(instanceId, { kind: 'globally-paused', pause: copy(this.pause) });
    }
    const record = this.records.get(instanceId);
    const expected = options.expectedGeneration ?? record?.generation ?? 0;
    const attempt = { reason: options.reason, expected, now: options.now };
    if (!record) return claimLoss(instanceId, {}, attempt);
    if (admission?.rollout && this.pause) {
      return admissionLoss(instanceId, { kind: 'globally-paused', pause: copy(this.pause) });
    }
    // The store's condition, from core/eligibility.ts: the generation the caller saw, not held (unless
    // the reason overrides a hold), a claimable status (leases compared as ISO strings, as DynamoDB does).
    const eligible = isClaimable(record, {
      reason: options.reason,
      expectedGeneration: expected,
      now: options.now,
    });
    if (!eligible) {
      const { status, generation, held, leaseExpiresAt } = record;
      return claimLoss(
        instanceId,
        { status, generation, held, ...(leaseExpiresAt ? { leaseExpiresAt } : {}) },
        attempt,
      );
    }
    const generation = record.generation + 1;
    // A record that holds a slot keeps it (a reclaim); else a rollout claim acquires one.
    let slot: { rolloutId: string; lane: string; acquired: boolean } | undefined;
    if (record.rolloutId !== undefined) {
      if (admission?.rollout)
        slot = { rolloutId: record.rolloutId, lane: record.lane ?? '', acquired: false };
    } else if (admission?.rollout) {
      const refused = this.acquire(instanceId, admission.rollout, generation, options.now);
      if (refused) return refused;
      slot = { ...admission.rollout, acquired: true };
      record.rolloutId = admission.rollout.rolloutId;
      record.lane = admission.rollout.lane;
    }
    const executionName = executionNameOf(instanceId, generation);
    const leaseExpiresAt = new Date(options.now.getTime() + options.leaseSeconds * 1000).toISOString();
    Object.assign(record, {
      status: 'RUNNING',
      generation,
      executionName,
      leaseExpiresAt,
      updatedAt: options.now.toISOString(),
    });
    this.dueAt.set(instanceId, leaseExpiresAt);
    // A new generation starts from a clean slate: nothing of the previous run is waited on or shown
    // (the store keeps the previous RUN item but hides it until this generation records its match).
    delete record.activeCommand;
    delete record.playbooks;
    delete record.matchedRules;
    delete record.reason;
    // Like the store: a drift check runs this generation in check mode.
    if (options.reason === 'drift-check') record.checkRun = true;
    else delete record.checkRun;
    this.history.push({
      instanceId,
      type: 'CLAIMED',
      at: options.now.toISOString(),
      actor: options.actor,
      generation,
      reason: options.reason,
      details: { executionName, leaseExpiresAt, ...slot },
    });
    return { won: true, generation, executionName, leaseExpiresAt, ...(slot ? { slot } : {}) };
  }

  /**
   * The store's acquire: the marker (never twice in one rollout), then the pool's own condition (core's
   * admit without the canary gate) and the canary gate, decided together by admit as the store decodes
   * them. Undefined when admitted (the slot is taken); else the refusal.
   */
  private acquire(
    instanceId: string,
    wanted: { rolloutId: string; lane: string },
    generation: number,
    now: Date,
  ): ClaimResult | undefined {
    const { rolloutId, lane } = wanted;
    const marker = this.markers.get(`${rolloutId}/${instanceId}`);
    if (marker) {
      return admissionLoss(instanceId, {
        kind: 'already-started',
        rolloutId,
        lane,
        generation: marker.generation,
        startedAt: marker.startedAt,
      });
    }
    const entry = this.pools.get(`${rolloutId}/${lane}`);
    if (!entry) return admissionLoss(instanceId, { kind: 'no-rollout', rolloutId, lane });
    const canary = lane === CANARY_LANE ? undefined : this.pools.get(`${rolloutId}/${CANARY_LANE}`)?.pool;
    const canaryRefuses = canary !== undefined && canary.succeeded < canary.total;
    const poolRefuses = !admit(entry.pool).admit;
    if (poolRefuses || canaryRefuses) {
      const seen = copy(entry.pool);
      // Past the threshold but not yet paused (the release that crossed it died): this refusal pauses it.
      const pauses = poolRefuses && seen.state === 'ROLLING' && seen.failed > seen.maxErrors;
      if (pauses) entry.pool = { ...entry.pool, state: 'PAUSED' };
      return admissionLoss(instanceId, {
        kind: 'pool',
        rolloutId,
        lane,
        ...(poolRefuses ? { pool: seen } : {}),
        ...(canaryRefuses ? { canary: copy(canary) } : {}),
        ...(poolRefuses && entry.supersededBy ? { supersededBy: entry.supersededBy } : {}),
        ...(pauses ? { pauses } : {}),
      });
    }
    entry.pool = acquire(entry.pool);
    this.markers.set(`${rolloutId}/${instanceId}`, { lane, generation, startedAt: now.toISOString() });
    return undefined;
  }

  /**
   * Applies `write` when the record exists, is at `generation` and RUNNING (and `extra` holds); else
   * refuses like the store: a FencedResult naming the method, and a FENCE_REJECTED history event
   * when the refusal is the generation fence itself.
   */
  private fenced(
    method: string,
    instanceId: string,
    generation: number,
    now: Date,
    write: (record: Mutable<InstanceRecord>) => void,
    extra?: (record: InstanceRecord) => string | undefined,
  ): FencedResult {
    this.calls.push(method);
    const record = this.records.get(instanceId);
    if (!record) return { ok: false, message: `${method}: ${instanceId} has no record` };
    let refusal: string | undefined;
    if (record.generation !== generation) {
      refusal = `fenced on g${generation} but the record is at g${record.generation} (${record.status})`;
    } else if (record.status !== 'RUNNING') {
      refusal = `status is ${record.status}, not RUNNING`;
    } else {
      refusal = extra?.(record);
    }
    if (refusal !== undefined) {
      // Like the store: audited only when the fence held a stale writer off (another generation).
      if (record.generation !== generation)
        this.history.push({
          instanceId,
          type: 'FENCE_REJECTED',
          at: now.toISOString(),
          actor: `workflow:${executionNameOf(instanceId, generation)}`,
          generation,
          reason: refusal,
          details: { method, currentGeneration: record.generation },
        });
      return { ok: false, currentGeneration: record.generation, message: `${method}: ${refusal}` };
    }
    write(record);
    record.updatedAt = now.toISOString();
    return { ok: true };
  }

  async extendLease(
    instanceId: string,
    generation: number,
    leaseSeconds: number,
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced('extendLease', instanceId, generation, now, (record) => {
      record.leaseExpiresAt = new Date(now.getTime() + leaseSeconds * 1000).toISOString();
      this.dueAt.set(instanceId, record.leaseExpiresAt);
    });
  }

  async recordMatch(
    instanceId: string,
    generation: number,
    match: { playbooks: readonly PlannedPlaybook[]; matchedRules: readonly string[]; fingerprint: string },
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced('recordMatch', instanceId, generation, now, (record) => {
      record.playbooks = match.playbooks.map((p) => ({
        file: p.file,
        status: 'Pending',
        attempts: 0,
        ...(p.check ? { check: true } : {}),
      }));
      record.matchedRules = [...match.matchedRules];
      record.fingerprint = match.fingerprint;
    });
  }

  async setActiveCommand(
    instanceId: string,
    generation: number,
    command: ActiveCommand,
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced('setActiveCommand', instanceId, generation, now, (record) => {
      record.activeCommand = copy(command);
    });
  }

  async setActiveCommandId(
    instanceId: string,
    generation: number,
    taskToken: string,
    commandId: string,
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced(
      'setActiveCommandId',
      instanceId,
      generation,
      now,
      (record) => {
        record.activeCommand = {
          ...(record.activeCommand as ActiveCommand),
          commandId,
          sentAt: now.toISOString(),
        };
      },
      (record) => {
        if (record.activeCommand?.taskToken === taskToken) return undefined;
        return record.activeCommand === undefined
          ? 'no active command is stored (it was recorded or never set)'
          : 'the active command has another task token (a newer attempt replaced it)';
      },
    );
  }

  async clearActiveCommand(
    instanceId: string,
    generation: number,
    commandId: string,
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced(
      'clearActiveCommand',
      instanceId,
      generation,
      now,
      (record) => {
        delete record.activeCommand;
      },
      (record) =>
        record.activeCommand?.commandId === commandId
          ? undefined
          : `command ${commandId} is no longer the active command (already recorded)`,
    );
  }

  async recordPlaybookResult(
    instanceId: string,
    generation: number,
    index: number,
    result: PlaybookRecord,
    now: Date,
    options: { activeCommandId?: string } = {},
  ): Promise<FencedResult> {
    if (!Number.isInteger(index) || index < 0) {
      throw new InvalidInputError(
        `recordPlaybookResult(${instanceId}): index must be an integer ≥ 0, got ${index}`,
      );
    }
    return this.fenced(
      'recordPlaybookResult',
      instanceId,
      generation,
      now,
      (record) => {
        const playbooks = [...(record.playbooks ?? [])];
        playbooks[index] = copy(result);
        record.playbooks = playbooks;
        delete record.activeCommand;
      },
      (record) => {
        // Like the store: only the copy of the status event that finds its own command active records it.
        const { activeCommandId } = options;
        if (activeCommandId !== undefined && record.activeCommand?.commandId !== activeCommandId) {
          return `command ${activeCommandId} is no longer the active command (already recorded)`;
        }
        return index < (record.playbooks?.length ?? 0)
          ? undefined
          : `no planned playbook at index ${index} (the plan has ${record.playbooks?.length ?? 0})`;
      },
    );
  }

  async recordOutcome(
    instanceId: string,
    generation: number,
    outcome: { status: Status; reason?: string; fingerprint?: string },
    now: Date,
  ): Promise<OutcomeResult> {
    if (!isTerminal(outcome.status)) {
      throw new InvalidInputError(
        `recordOutcome(${instanceId} g${generation}): ${outcome.status} is not a run outcome; use one of SUCCESS, PARTIAL, FAILED, SKIPPED.`,
      );
    }
    assertTransition('RUNNING', outcome.status);
    let released: SlotRelease | undefined;
    const result = this.fenced('recordOutcome', instanceId, generation, now, (record) => {
      record.status = outcome.status;
      if (outcome.reason === undefined) delete record.reason;
      else record.reason = outcome.reason;
      if (outcome.fingerprint !== undefined) {
        record.fingerprint = outcome.fingerprint;
        if (outcome.status === 'SUCCESS') record.lastSuccessFingerprint = outcome.fingerprint;
      }
      delete record.leaseExpiresAt;
      delete record.activeCommand;
      record.lastRunAt = now.toISOString();
      this.dueAt.set(instanceId, record.lastRunAt);
      released = this.release(record, outcome, now);
    });
    return result.ok && released ? { ok: true, release: released } : result;
  }

  /**
   * The store's release of the slot `record` holds, if any: core's release() of the pool and the marker's
   * outcome, in the same write as the outcome (or the orphaning); the release that pauses the pool stamps
   * `pausedRollout` on the record. The record gives up its slot.
   */
  private release(
    record: Mutable<InstanceRecord>,
    outcome: { status: Status; reason?: string },
    now: Date,
  ): SlotRelease | undefined {
    const { rolloutId, lane = '' } = record;
    delete record.rolloutId;
    delete record.lane;
    if (rolloutId === undefined) return undefined;
    const entry = this.pools.get(`${rolloutId}/${lane}`);
    if (!entry) return undefined; // Like the store: the outcome is recorded, nothing is left to release into.
    const counted = countedAs(outcome.status);
    const { pool, pauses } = release(entry.pool, counted);
    entry.pool = pool;
    const marker = this.markers.get(`${rolloutId}/${record.instanceId}`);
    if (marker) {
      Object.assign(marker, { counted, outcome: outcome.status, endedAt: now.toISOString() });
      if (outcome.reason !== undefined) marker.reason = outcome.reason;
    }
    if (pauses) record.pausedRollout = { rolloutId, lane, generation: record.generation };
    return { rolloutId, lane, counted, pool: copy(pool), pauses };
  }

  async markOrphaned(
    instanceId: string,
    reason: string,
    actor: string,
    now: Date,
  ): Promise<{ changed: boolean; generation?: number }> {
    this.calls.push('markOrphaned');
    const record = this.records.get(instanceId);
    if (!record || !canTransition(record.status, 'ORPHANED')) return { changed: false };
    // Like the store: a run orphaned while it holds a rollout slot releases it as failed.
    this.release(record, { status: 'ORPHANED', reason: `orphaned: ${reason}` }, now);
    Object.assign(record, { status: 'ORPHANED', reason, updatedAt: now.toISOString() });
    delete record.leaseExpiresAt;
    this.dueAt.set(instanceId, now.toISOString());
    const at = now.toISOString();
    this.history.push({ instanceId, type: 'ORPHANED', at, actor, generation: record.generation, reason });
    return { changed: true, generation: record.generation };
  }

  async markNotified(instanceId: string, generation: number, status: Status, now: Date): Promise<boolean> {
    this.calls.push('markNotified');
    const record = this.records.get(instanceId);
    const key = `${generation}#${status}`;
    if (!record || record.notifiedKey === key) return false;
    record.notifiedKey = key;
    record.updatedAt = now.toISOString();
    return true;
  }

  async appendHistory(event: HistoryEvent): Promise<void> {
    this.calls.push('appendHistory');
    this.history.push(copy(event));
  }

  async listHistory(
    instanceId: string,
    options?: { limit?: number; newest?: boolean },
  ): Promise<HistoryEvent[]> {
    // The store's sort key is `EVT#<at>#<seq>`: by time, then in the order written (a stable sort).
    const events = this.history
      .filter((event) => event.instanceId === instanceId)
      .sort((a, b) => byKey(a.at, b.at));
    if (options?.limit === undefined) return copy(events);
    return copy(options.newest ? events.slice(-options.limit) : events.slice(0, options.limit));
  }

  /** Like the status index: one status, by `dueAt` (lease expiry while RUNNING, else the last move). */
  async listByStatus(status: Status, options?: { dueBefore?: Date }): Promise<InstanceRecord[]> {
    const dueBefore = options?.dueBefore?.toISOString();
    const due = (record: InstanceRecord) => this.dueAt.get(record.instanceId) ?? '';
    return [...this.records.values()]
      .filter((record) => record.status === status)
      .filter((record) => dueBefore === undefined || due(record) <= dueBefore)
      .sort((a, b) => byKey(due(a), due(b)) || byKey(a.instanceId, b.instanceId))
      .map(copy);
  }

  /** Like the fleet index: every record, by instance id, projected to FLEET_INDEX's attributes. */
  async listFleet(): Promise<FleetEntry[]> {
    return [...this.records.values()]
      .sort((a, b) => byKey(a.instanceId, b.instanceId))
      .map((record) => {
        const entry: Record<string, unknown> = { instanceId: record.instanceId };
        for (const name of FLEET_INDEX.projectedAttributes) {
          if (record[name] !== undefined) entry[name] = record[name];
        }
        return entry as unknown as FleetEntry;
      });
  }

  async listAll(): Promise<InstanceRecord[]> {
    return [...this.records.values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId)).map(copy);
  }

  async createRollout(input: NewRollout): Promise<CreateRolloutResult> {
    this.calls.push('createRollout');
    const { rolloutId } = input.plan;
    newRollout(input, undefined); // Like the store: a plan it cannot write is refused first.
    const existing = this.rolloutOf(rolloutId);
    if (existing) return { created: false, rollout: existing, current: this.currentRolloutId === rolloutId };
    if (input.kind === 'drift') {
      // Like the store: a reapplyEvery window is created beside the current rollout, superseding nothing.
      const { lanes, ...head } = newRollout(input, undefined);
      this.rollouts.set(rolloutId, head);
      for (const [lane, pool] of Object.entries(lanes)) this.pools.set(`${rolloutId}/${lane}`, { pool });
      return { created: true, rollout: this.rolloutOf(rolloutId) as Rollout };
    }
    const at = input.now.toISOString();
    const previous = this.currentRolloutId;
    if (previous !== undefined) {
      // Like the store: the previous rollout names its successor, and its unfinished pools stop admitting.
      Object.assign(this.rollouts.get(previous) ?? {}, { supersededBy: rolloutId, supersededAt: at });
      for (const [key, entry] of this.pools) {
        const unfinished = entry.pool.state === 'ROLLING' || entry.pool.state === 'PAUSED';
        if (key.startsWith(`${previous}/`) && unfinished) {
          entry.pool = { ...entry.pool, state: 'ABORTED' };
          entry.supersededBy = rolloutId;
        }
      }
    }
    const rollout = newRollout(input, previous);
    const { lanes, ...head } = rollout;
    this.rollouts.set(rolloutId, head);
    for (const [lane, pool] of Object.entries(lanes)) this.pools.set(`${rolloutId}/${lane}`, { pool });
    this.currentRolloutId = rolloutId;
    return {
      created: true,
      rollout: copy(rollout),
      ...(previous === undefined ? {} : { superseded: previous }),
    };
  }

  async getRollout(rolloutId: string): Promise<Rollout | undefined> {
    return this.rolloutOf(rolloutId);
  }

  async currentRollout(): Promise<Rollout | undefined> {
    return this.currentRolloutId === undefined ? undefined : this.rolloutOf(this.currentRolloutId);
  }

  async pauseRollout(
    rolloutId: string,
    options: { actor: string; now: Date },
  ): Promise<RolloutControl | undefined> {
    return this.control(rolloutId, 'paused', options, (pool) =>
      pool.state === 'ROLLING' ? { ...pool, state: 'PAUSED' } : undefined,
    );
  }

  async resumeRollout(
    rolloutId: string,
    options: { actor: string; now: Date },
  ): Promise<RolloutControl | undefined> {
    return this.control(rolloutId, 'resumed', options, (pool) =>
      pool.state === 'PAUSED' ? resume(pool) : undefined,
    );
  }

  async abortRollout(
    rolloutId: string,
    options: { actor: string; now: Date },
  ): Promise<RolloutControl | undefined> {
    return this.control(rolloutId, 'aborted', options, (pool) =>
      pool.state === 'ROLLING' || pool.state === 'PAUSED' ? { ...pool, state: 'ABORTED' } : undefined,
    );
  }

  async setGlobalPause(options: {
    actor: string;
    now: Date;
    reason?: string;
  }): Promise<{ changed: boolean; pause: GlobalPause }> {
    this.calls.push('setGlobalPause');
    if (this.pause) return { changed: false, pause: copy(this.pause) };
    this.pause = {
      since: options.now.toISOString(),
      actor: options.actor,
      ...(options.reason === undefined ? {} : { reason: options.reason }),
    };
    return { changed: true, pause: copy(this.pause) };
  }

  async clearGlobalPause(): Promise<{ changed: boolean; pause?: GlobalPause }> {
    this.calls.push('clearGlobalPause');
    const pause = this.pause;
    this.pause = undefined;
    return pause ? { changed: true, pause } : { changed: false };
  }

  async getGlobalPause(): Promise<GlobalPause | undefined> {
    return this.pause ? copy(this.pause) : undefined;
  }

  async listRolloutFailures(rolloutId: string, lane?: string): Promise<RolloutFailure[]> {
    return [...this.markers]
      .filter(([key, marker]) => key.startsWith(`${rolloutId}/`) && marker.counted === 'failed')
      .filter(([, marker]) => lane === undefined || marker.lane === lane)
      .map(([key, marker]) => ({
        instanceId: key.slice(rolloutId.length + 1),
        lane: marker.lane,
        outcome: String(marker.outcome),
        ...(marker.reason === undefined ? {} : { reason: marker.reason }),
        ...(marker.endedAt === undefined ? {} : { endedAt: marker.endedAt }),
      }))
      .sort((a, b) => byKey(a.endedAt ?? '', b.endedAt ?? ''));
  }

  async markPauseNotified(rolloutId: string, lane: string, pool: Pool, _now: Date): Promise<boolean> {
    this.calls.push('markPauseNotified');
    const key = `${rolloutId}/${lane}`;
    if (!this.pools.has(key) || this.pauseNotified.get(key) === pool.maxErrors) return false;
    this.pauseNotified.set(key, pool.maxErrors);
    return true;
  }

  /**
   * Test setup: overwrite a pool's fields as they are, e.g. a pool past its threshold whose pause was never
   * written (the release that crossed it died between its two writes).
   */
  setPool(rolloutId: string, lane: string, fields: Partial<Pool>): void {
    const entry = this.pools.get(`${rolloutId}/${lane}`);
    if (!entry) throw new Error(`no pool ${rolloutId}/${lane}`);
    entry.pool = { ...entry.pool, ...fields };
  }

  private rolloutOf(rolloutId: string): Rollout | undefined {
    const rollout = this.rollouts.get(rolloutId);
    if (!rollout) return undefined;
    const lanes = [...this.pools]
      .filter(([key]) => key.startsWith(`${rolloutId}/`))
      .map(([key, entry]) => [key.slice(rolloutId.length + 1), entry.pool] as const)
      .sort(([a], [b]) => byKey(a, b));
    return copy({ ...rollout, lanes: Object.fromEntries(lanes) });
  }

  /** Like the store's operator controls: every pool moved as `next` says, and who did it recorded. */
  private control(
    rolloutId: string,
    action: 'paused' | 'resumed' | 'aborted',
    options: { actor: string; now: Date },
    next: (pool: Pool) => Pool | undefined,
  ): RolloutControl | undefined {
    this.calls.push(`${action}Rollout`);
    const rollout = this.rollouts.get(rolloutId);
    if (!rollout) return undefined;
    const changed: string[] = [];
    for (const [lane, pool] of Object.entries((this.rolloutOf(rolloutId) as Rollout).lanes)) {
      const moved = next(pool);
      if (!moved) continue;
      (this.pools.get(`${rolloutId}/${lane}`) as { pool: Pool }).pool = moved;
      changed.push(lane);
    }
    if (changed.length > 0) {
      Object.assign(rollout, { [`${action}At`]: options.now.toISOString(), [`${action}By`]: options.actor });
    }
    return { rollout: this.rolloutOf(rolloutId) as Rollout, changed };
  }
}

/** DynamoDB's order of string keys (code units, not the locale's collation). */
function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
