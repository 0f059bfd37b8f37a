// An in-memory StateStoreApi for unit tests. It honours the same fences and conditions as the
// DynamoDB store (generation, task token, RUNNING-only outcome, once-only notification, claim
// eligibility from core/status.ts), so a helper tested against it behaves the same against the
// real table. Records are deep-copied in and out: a test cannot mutate the store by accident.
import { factsHash } from '../../functions/core/fingerprint.js';
import { canClaim, isTerminal } from '../../functions/core/status.js';
import type { HostFacts, PlannedPlaybook, Status } from '../../functions/core/types.js';
import { InvalidInputError } from '../../functions/shared/errors.js';
import type {
  ActiveCommand,
  ClaimReason,
  ClaimResult,
  FencedResult,
  FleetEntry,
  HistoryEvent,
  InstanceRecord,
  PlaybookRecord,
  StateStoreApi,
} from '../../functions/shared/state-store-api.js';
import { executionNameOf } from '../../functions/shared/workflow-contract.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const REPROVISION_REASONS: ReadonlySet<ClaimReason> = new Set(['fingerprint-changed', 'operator-retry']);

function copy<T>(value: T): T {
  return structuredClone(value);
}

export class FakeStateStore implements StateStoreApi {
  private readonly records = new Map<string, Mutable<InstanceRecord>>();
  readonly history: HistoryEvent[] = [];
  /** Every write method called, in order: lets a test assert what was (not) written. */
  readonly calls: string[] = [];

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
    const detected = (reason: string, generation: number) =>
      this.history.push({
        instanceId: facts.instanceId,
        type: 'DETECTED',
        at: now,
        actor: options.actor,
        generation,
        reason,
      });
    if (!existing) {
      const record = this.seed({
        instanceId: facts.instanceId,
        facts,
        held: options.held,
        createdAt: now,
        updatedAt: now,
      });
      detected('new', 0);
      return { record, written: true, created: true };
    }
    // Like the store: an orphan comes back as PENDING on re-detection, unless it was terminated.
    const revive = existing.status === 'ORPHANED' && existing.reason !== 'terminated';
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
    }
    detected(revive ? 're-detected' : `${changes.join('+')}-changed`, existing.generation);
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
    },
  ): Promise<ClaimResult> {
    this.calls.push('claim');
    const record = this.records.get(instanceId);
    if (!record) return { won: false, reason: 'missing', message: `${instanceId} has no record` };
    const lost = (reason: 'not-eligible' | 'held' | 'orphaned', message: string): ClaimResult => ({
      won: false,
      reason,
      currentStatus: record.status,
      currentGeneration: record.generation,
      message,
    });
    if (record.status === 'ORPHANED') return lost('orphaned', `${instanceId} is ORPHANED`);
    if (record.held && options.reason !== 'operator-retry') return lost('held', `${instanceId} is held`);
    if (options.expectedGeneration !== undefined && options.expectedGeneration !== record.generation) {
      return lost('not-eligible', `already claimed by g${record.generation}`);
    }
    const leaseExpired = !record.leaseExpiresAt || Date.parse(record.leaseExpiresAt) <= options.now.getTime();
    if (!canClaim(record.status, { leaseExpired, reprovision: REPROVISION_REASONS.has(options.reason) })) {
      return lost('not-eligible', `${instanceId} is ${record.status} g${record.generation}`);
    }
    const generation = record.generation + 1;
    const executionName = `${instanceId}-g${generation}`;
    const leaseExpiresAt = new Date(options.now.getTime() + options.leaseSeconds * 1000).toISOString();
    Object.assign(record, {
      status: 'RUNNING',
      generation,
      executionName,
      leaseExpiresAt,
      updatedAt: options.now.toISOString(),
    });
    // A new generation starts from a clean slate: nothing of the previous run is waited on.
    delete record.activeCommand;
    delete record.playbooks;
    delete record.reason;
    this.history.push({
      instanceId,
      type: 'CLAIMED',
      at: options.now.toISOString(),
      actor: options.actor,
      generation,
      reason: options.reason,
      details: { executionName, leaseExpiresAt },
    });
    return { won: true, generation, executionName, leaseExpiresAt };
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
    });
  }

  async recordMatch(
    instanceId: string,
    generation: number,
    match: { playbooks: readonly PlannedPlaybook[]; matchedRules: readonly string[]; fingerprint: string },
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced('recordMatch', instanceId, generation, now, (record) => {
      record.playbooks = match.playbooks.map((p) => ({ file: p.file, status: 'Pending', attempts: 0 }));
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
      (record) =>
        index < (record.playbooks?.length ?? 0)
          ? undefined
          : `no planned playbook at index ${index} (the plan has ${record.playbooks?.length ?? 0})`,
    );
  }

  async recordOutcome(
    instanceId: string,
    generation: number,
    outcome: { status: Status; reason?: string; fingerprint?: string },
    now: Date,
  ): Promise<FencedResult> {
    if (!isTerminal(outcome.status)) {
      throw new InvalidInputError(
        `recordOutcome(${instanceId} g${generation}): ${outcome.status} is not a run outcome`,
      );
    }
    return this.fenced('recordOutcome', instanceId, generation, now, (record) => {
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
    });
  }

  async markOrphaned(
    instanceId: string,
    reason: string,
    actor: string,
    now: Date,
  ): Promise<{ changed: boolean; generation?: number }> {
    this.calls.push('markOrphaned');
    const record = this.records.get(instanceId);
    if (!record || record.status === 'ORPHANED') return { changed: false };
    Object.assign(record, { status: 'ORPHANED', reason, updatedAt: now.toISOString() });
    delete record.leaseExpiresAt;
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

  async listHistory(instanceId: string, options?: { limit?: number }): Promise<HistoryEvent[]> {
    const events = this.history.filter((event) => event.instanceId === instanceId);
    return copy(options?.limit === undefined ? events : events.slice(0, options.limit));
  }

  async listByStatus(status: Status, options?: { dueBefore?: Date }): Promise<InstanceRecord[]> {
    const dueBefore = options?.dueBefore?.toISOString();
    return [...this.records.values()]
      .filter((record) => record.status === status)
      .filter((record) => dueBefore === undefined || (record.leaseExpiresAt ?? '') <= dueBefore)
      .map(copy);
  }

  async listFleet(): Promise<FleetEntry[]> {
    return [...this.records.values()]
      .sort((a, b) => a.instanceId.localeCompare(b.instanceId))
      .map((record) => ({
        instanceId: record.instanceId,
        status: record.status,
        source: record.source,
        generation: record.generation,
        factsHash: record.factsHash,
        held: record.held,
        leaseExpiresAt: record.leaseExpiresAt,
        executionName: record.executionName,
        lastSuccessFingerprint: record.lastSuccessFingerprint,
      }));
  }

  async listAll(): Promise<InstanceRecord[]> {
    return [...this.records.values()].sort((a, b) => a.instanceId.localeCompare(b.instanceId)).map(copy);
  }
}
