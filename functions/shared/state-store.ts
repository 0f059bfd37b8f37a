// The DynamoDB state store (docs/architecture.md "State model"): per instance, a state item (`sk = STATE`), two sibling items that
// keep it small — the facts snapshot (`sk = FACTS`) and the current run's plan and results (`sk = RUN`) —
// and its audit history (`sk = EVT#<iso>#<seq>`, TTL). Every move that matters is a single conditional
// write, so concurrency is DynamoDB's problem, not ours:
// - claim: ONE UpdateItem conditioned on the generation the caller saw and on eligibility
//   (core/eligibility.ts, compiled into the condition here); a loser gets the winner's state back (ALL_OLD) as a typed loss.
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
import {
  type CancellationReason,
  ConditionalCheckFailedException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  type TransactWriteCommandOutput,
  UpdateCommand,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import {
  CLAIMABLE_FROM,
  type ClaimReason,
  HOLD_OVERRIDE_REASONS,
  leaseExpired,
  REPROVISION_REASONS,
} from '../core/eligibility.js';
import { factsHash } from '../core/fingerprint.js';
import { ORPHAN_REASONS } from '../core/reconcile.js';
import { assertTransition, canTransition, isTerminal } from '../core/status.js';
import { type HostFacts, type PlannedPlaybook, STATUSES, type Status } from '../core/types.js';
import { InvalidInputError, TransientError } from './errors.js';
import { type DebugLogger, logger as defaultLogger } from './logger.js';
import type {
  ActiveCommand,
  ClaimResult,
  FencedResult,
  FleetEntry,
  HistoryEvent,
  InstanceRecord,
  PlaybookRecord,
  StateStoreApi,
} from './state-store-api.js';
import {
  FACTS_SK,
  FLEET_INDEX,
  HISTORY_SK_PREFIX,
  RUN_SK,
  STATE_SK,
  STATUS_INDEX,
  TTL_ATTRIBUTE,
} from './table-schema.js';
import { executionNameOf } from './workflow-contract.js';

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

/** Attributes on the state item that are storage plumbing, not part of InstanceRecord. */
const PLUMBING = new Set(['pk', 'sk', FLEET_INDEX.partitionKey, STATUS_INDEX.sortKey]);
/** InstanceRecord fields kept on the FACTS item (written at creation and when the facts change). */
const FACTS_FIELDS = ['facts', 'accountId', 'region', 'createdAt'] as const;
/** InstanceRecord fields kept on the RUN item; shown only while it belongs to the record's generation. */
const RUN_FIELDS = ['matchedRules', 'playbooks'] as const;
/** sha256 hex values stored as 32 raw bytes (any other value is stored as given). */
const HASH_FIELDS = ['factsHash', 'fingerprint', 'lastSuccessFingerprint'] as const;
/** Attempts at a write that keeps meeting a concurrent transaction on the same item (real DynamoDB). */
const CONFLICT_ATTEMPTS = 4;

type Item = Record<string, unknown>;

/** The items of one instance, as stored. */
interface Parts {
  readonly state: Item;
  readonly facts?: Item;
  readonly run?: Item;
}

/** The RUN item's half of a fenced transaction. */
type RunWrite =
  | { readonly put: Item }
  | {
      readonly update: string;
      readonly values: Item;
      readonly condition: string;
      /** Why the RUN condition failed, from the RUN item as it was (generation, playbook count). */
      readonly explain: (old: OldState) => string;
    };

/** What a failed conditional write returned (ALL_OLD), read straight from the wire format. */
export interface OldState {
  readonly status?: Status;
  readonly generation?: number;
  readonly held?: boolean;
  readonly leaseExpiresAt?: string;
  readonly taskToken?: string;
  readonly playbookCount?: number;
}

let historySeq = 0;

export class StateStore implements StateStoreApi {
  private readonly doc: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly historySeconds: number;
  private readonly accountId: string | undefined;
  private readonly region: string | undefined;
  private readonly logger: DebugLogger;

  constructor(options: StateStoreOptions) {
    this.doc = options.doc;
    this.tableName = options.tableName;
    this.historySeconds = Math.round((options.historyDays ?? 90) * 86_400);
    this.accountId = options.accountId;
    this.region = options.region;
    this.logger = options.logger ?? defaultLogger;
  }

  async getInstance(instanceId: string): Promise<InstanceRecord | undefined> {
    const parts = await this.readParts(instanceId);
    return parts ? toRecord(parts) : undefined;
  }

  async upsertDetection(
    facts: HostFacts,
    options: { held: boolean; actor: string; now: Date },
  ): Promise<{ record: InstanceRecord; written: boolean; created: boolean }> {
    return this.upsert(facts, options, 1);
  }

  private async upsert(
    facts: HostFacts,
    options: { held: boolean; actor: string; now: Date },
    attempt: number,
  ): Promise<{ record: InstanceRecord; written: boolean; created: boolean }> {
    // Each retry follows a write that lost a race; three in a row means something else rewrites the item.
    if (attempt > 3) {
      throw new TransientError(
        `upsertDetection(${facts.instanceId}): the record kept changing under 3 attempts; retry later`,
      );
    }
    const hash = factsHash(facts);
    const now = options.now.toISOString();
    const parts = await this.readParts(facts.instanceId);
    const existing = parts ? toRecord(parts) : undefined;
    if (!parts || !existing) {
      const created = await this.create(facts, hash, options.held, now);
      if (created) {
        await this.history({
          instanceId: facts.instanceId,
          type: 'DETECTED',
          at: now,
          actor: options.actor,
          generation: 0,
          reason: 'new',
          details: { source: facts.source, held: options.held },
        });
        return { record: created, written: true, created: true };
      }
      // Another detector created it between our read and our write: treat theirs as the existing record.
      return this.upsert(facts, options, attempt + 1);
    }
    // status.ts: an orphan comes back only through detection, as PENDING. A terminated instance never
    // comes back (EC2 never reuses ids), so a stale detection of one must not revive it.
    const revive =
      existing.status === 'ORPHANED' &&
      existing.reason !== ORPHAN_REASONS.terminated &&
      canTransition('ORPHANED', 'PENDING');
    const changes = [
      existing.factsHash !== hash ? 'facts' : undefined,
      existing.held !== options.held ? 'held' : undefined,
      existing.source !== facts.source ? 'source' : undefined,
    ].filter((change): change is string => change !== undefined);
    if (!revive && changes.length === 0) return { record: existing, written: false, created: false };

    const values: Item = {
      ':hash': packHash(hash),
      ':held': options.held,
      ':source': facts.source,
      ':now': now,
    };
    let update = 'SET factsHash = :hash, held = :held, #source = :source, updatedAt = :now';
    let condition = 'attribute_exists(pk)';
    if (revive) {
      update += ', #status = :pending, dueAt = :now REMOVE #reason, leaseExpiresAt';
      condition += ' AND #status = :orphaned';
      values[':pending'] = 'PENDING';
      values[':orphaned'] = 'ORPHANED';
    }
    const stateUpdate = {
      TableName: this.tableName,
      Key: stateKey(facts.instanceId),
      UpdateExpression: update,
      ConditionExpression: condition,
      ExpressionAttributeNames: {
        '#source': 'source',
        ...(revive ? { '#status': 'status', '#reason': 'reason' } : {}),
      },
      ExpressionAttributeValues: values,
    };
    try {
      let record: InstanceRecord;
      if (changes.includes('facts')) {
        // The snapshot and its hash change together, or not at all.
        await this.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: stateUpdate },
              {
                Update: {
                  TableName: this.tableName,
                  Key: { pk: facts.instanceId, sk: FACTS_SK },
                  UpdateExpression: 'SET facts = :facts',
                  ExpressionAttributeValues: { ':facts': plain(facts) },
                },
              },
            ],
          }),
        );
        const after = await this.readParts(facts.instanceId);
        record = after ? toRecord(after) : { ...existing, facts, factsHash: hash };
      } else {
        const { Attributes } = await this.send(
          new UpdateCommand({ ...stateUpdate, ReturnValues: 'ALL_NEW' }),
        );
        record = toRecord({ ...parts, state: Attributes ?? parts.state });
      }
      await this.history({
        instanceId: facts.instanceId,
        type: 'DETECTED',
        at: now,
        actor: options.actor,
        generation: record.generation,
        reason: revive ? 're-detected' : `${changes.join('+')}-changed`,
        ...(revive ? { details: { previousReason: existing.reason } } : {}),
      });
      return { record, written: true, created: false };
    } catch (error) {
      // The record moved under us (deleted, or the orphan already revived): start again from a fresh read.
      if (error instanceof ConditionalCheckFailedException || conditionFailed(error, 0)) {
        return this.upsert(facts, options, attempt + 1);
      }
      throw error;
    }
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
    const { reason, now } = options;
    let expected = options.expectedGeneration;
    if (expected === undefined) {
      // The execution name embeds the new generation, so the write must know it: read it first.
      const { Item } = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: stateKey(instanceId),
          ConsistentRead: true,
          ProjectionExpression: 'generation',
        }),
      );
      if (!Item) return { won: false, reason: 'missing', message: `${instanceId} has no record to claim` };
      expected = Number(Item.generation);
    }
    const generation = expected + 1;
    const executionName = executionNameOf(instanceId, generation);
    const leaseExpiresAt = new Date(now.getTime() + options.leaseSeconds * 1000).toISOString();
    const reprovision = REPROVISION_REASONS.has(reason);
    const eligibility = claimEligibility(reprovision);
    const heldClause = HOLD_OVERRIDE_REASONS.has(reason) ? '' : ' AND held = :false';
    try {
      // The RUN item is left as it is: it belongs to the previous generation and is no longer shown.
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: stateKey(instanceId),
          UpdateExpression:
            'SET #status = :running, generation = :next, leaseExpiresAt = :lease, dueAt = :lease, ' +
            'executionName = :name, updatedAt = :now REMOVE activeCommand, #reason',
          ConditionExpression: `attribute_exists(pk) AND generation = :expected${heldClause} AND (${eligibility.expression})`,
          ExpressionAttributeNames: { '#status': 'status', '#reason': 'reason' },
          ExpressionAttributeValues: {
            ...eligibility.values,
            ':running': 'RUNNING',
            ':next': generation,
            ':expected': expected,
            ':lease': leaseExpiresAt,
            ':name': executionName,
            ':now': now.toISOString(),
            ...(heldClause ? { ':false': false } : {}),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return claimLoss(instanceId, readOld(error.Item), { reason, expected, now });
      }
      throw error;
    }
    await this.history({
      instanceId,
      type: 'CLAIMED',
      at: now.toISOString(),
      actor: options.actor,
      generation,
      reason,
      details: { executionName, leaseExpiresAt },
    });
    return { won: true, generation, executionName, leaseExpiresAt };
  }

  async extendLease(
    instanceId: string,
    generation: number,
    leaseSeconds: number,
    now: Date,
  ): Promise<FencedResult> {
    const lease = new Date(now.getTime() + leaseSeconds * 1000).toISOString();
    return this.fenced('extendLease', instanceId, generation, now, {
      update: 'SET leaseExpiresAt = :lease, dueAt = :lease, updatedAt = :now',
      values: { ':lease': lease },
    });
  }

  async recordMatch(
    instanceId: string,
    generation: number,
    match: { playbooks: readonly PlannedPlaybook[]; matchedRules: readonly string[]; fingerprint: string },
    now: Date,
  ): Promise<FencedResult> {
    const playbooks: PlaybookRecord[] = match.playbooks.map((p) => ({
      file: p.file,
      status: 'Pending',
      attempts: 0,
      ...(p.check ? { check: true } : {}),
    }));
    return this.fenced(
      'recordMatch',
      instanceId,
      generation,
      now,
      {
        update: 'SET fingerprint = :fingerprint, updatedAt = :now',
        values: { ':fingerprint': packHash(match.fingerprint) },
      },
      {
        put: {
          pk: instanceId,
          sk: RUN_SK,
          generation,
          matchedRules: [...match.matchedRules],
          playbooks,
        },
      },
    );
  }

  async setActiveCommand(
    instanceId: string,
    generation: number,
    command: ActiveCommand,
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced('setActiveCommand', instanceId, generation, now, {
      update: 'SET activeCommand = :command, updatedAt = :now',
      values: { ':command': plain(command) },
    });
  }

  async clearActiveCommand(
    instanceId: string,
    generation: number,
    commandId: string,
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced('clearActiveCommand', instanceId, generation, now, {
      update: 'SET updatedAt = :now REMOVE activeCommand',
      values: { ':cid': commandId },
      condition: 'activeCommand.commandId = :cid',
      explain: () => `command ${commandId} is no longer the active command (already recorded)`,
    });
  }

  async setActiveCommandId(
    instanceId: string,
    generation: number,
    taskToken: string,
    commandId: string,
    now: Date,
  ): Promise<FencedResult> {
    return this.fenced('setActiveCommandId', instanceId, generation, now, {
      update: 'SET activeCommand.commandId = :commandId, activeCommand.sentAt = :now, updatedAt = :now',
      values: { ':commandId': commandId, ':token': taskToken },
      condition: 'activeCommand.taskToken = :token',
      explain: (old) =>
        old.taskToken === undefined
          ? 'no active command is stored (it was recorded or never set)'
          : 'the active command has another task token (a newer attempt replaced it)',
    });
  }

  async recordPlaybookResult(
    instanceId: string,
    generation: number,
    index: number,
    result: PlaybookRecord,
    now: Date,
    options: { activeCommandId?: string } = {},
  ): Promise<FencedResult> {
    // The index goes into the expression text (DynamoDB has no placeholder for list indexes).
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
      // Only the copy of the status event that finds its own command active records it: a duplicate
      // event must neither record twice nor clear the next command the workflow is waiting on.
      options.activeCommandId === undefined
        ? { update: 'SET updatedAt = :now REMOVE activeCommand', values: {} }
        : {
            update: 'SET updatedAt = :now REMOVE activeCommand',
            values: { ':cid': options.activeCommandId },
            condition: 'activeCommand.commandId = :cid',
            explain: () =>
              `command ${options.activeCommandId} is no longer the active command (already recorded)`,
          },
      {
        update: `SET playbooks[${index}] = :result`,
        values: { ':result': plain(result), ':g': generation },
        condition: `generation = :g AND attribute_exists(playbooks[${index}])`,
        explain: (old) =>
          `no planned playbook at index ${index} (the plan has ${old.generation === generation ? (old.playbookCount ?? 0) : 0})`,
      },
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
        `recordOutcome(${instanceId} g${generation}): ${outcome.status} is not a run outcome; use one of SUCCESS, PARTIAL, FAILED, SKIPPED.`,
      );
    }
    // Fenced writes only ever apply to a RUNNING record; status.ts says whether the move is legal.
    assertTransition('RUNNING', outcome.status);
    const sets = ['#status = :outcome', 'lastRunAt = :now', 'dueAt = :now', 'updatedAt = :now'];
    const removes = ['leaseExpiresAt', 'activeCommand'];
    const values: Item = { ':outcome': outcome.status };
    if (outcome.reason === undefined) removes.push('#reason');
    else {
      sets.push('#reason = :reason');
      values[':reason'] = outcome.reason;
    }
    if (outcome.fingerprint !== undefined) {
      sets.push('fingerprint = :fingerprint');
      values[':fingerprint'] = packHash(outcome.fingerprint);
      if (outcome.status === 'SUCCESS') sets.push('lastSuccessFingerprint = :fingerprint');
    }
    return this.fenced('recordOutcome', instanceId, generation, now, {
      update: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      values,
      names: { '#reason': 'reason' },
    });
  }

  async markOrphaned(
    instanceId: string,
    reason: string,
    actor: string,
    now: Date,
  ): Promise<{ changed: boolean; generation?: number }> {
    const from = STATUSES.filter((status) => canTransition(status, 'ORPHANED'));
    const values: Item = Object.fromEntries(from.map((status) => [`:from_${status}`, status]));
    try {
      const { Attributes } = await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: stateKey(instanceId),
          UpdateExpression:
            'SET #status = :orphaned, #reason = :reason, dueAt = :now, updatedAt = :now REMOVE leaseExpiresAt',
          ConditionExpression: `attribute_exists(pk) AND #status IN (${Object.keys(values).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status', '#reason': 'reason' },
          ExpressionAttributeValues: {
            ...values,
            ':orphaned': 'ORPHANED',
            ':reason': reason,
            ':now': now.toISOString(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const generation = Number(Attributes?.generation ?? 0);
      await this.history({ instanceId, type: 'ORPHANED', at: now.toISOString(), actor, generation, reason });
      return { changed: true, generation };
    } catch (error) {
      // No record, or already ORPHANED: a duplicate/stale event changes nothing and notifies nobody.
      if (error instanceof ConditionalCheckFailedException) return { changed: false };
      throw error;
    }
  }

  async markNotified(instanceId: string, generation: number, status: Status, now: Date): Promise<boolean> {
    try {
      await this.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: stateKey(instanceId),
          UpdateExpression: 'SET notifiedKey = :key, updatedAt = :now',
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(notifiedKey) OR notifiedKey <> :key)',
          ExpressionAttributeValues: { ':key': `${generation}#${status}`, ':now': now.toISOString() },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async appendHistory(event: HistoryEvent): Promise<void> {
    const seq = `${String(historySeq++ % 10_000).padStart(4, '0')}${Math.floor(Math.random() * 0x10000)
      .toString(16)
      .padStart(4, '0')}`;
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...plain(event),
          pk: event.instanceId,
          sk: `${HISTORY_SK_PREFIX}${event.at}#${seq}`,
          [TTL_ATTRIBUTE]: Math.floor(Date.parse(event.at) / 1000) + this.historySeconds,
        },
      }),
    );
  }

  /**
   * The instance's events, oldest first. With `limit`, the first `limit` events — or, with `newest`, the
   * last `limit` (read newest first, returned oldest first).
   */
  async listHistory(
    instanceId: string,
    options: { limit?: number; newest?: boolean } = {},
  ): Promise<HistoryEvent[]> {
    const newest = options.newest === true;
    const items = await this.queryAll(
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': instanceId, ':prefix': HISTORY_SK_PREFIX },
        ScanIndexForward: !newest,
      },
      options.limit,
    );
    const events = items.map(toHistoryEvent);
    return newest ? events.reverse() : events;
  }

  async listByStatus(status: Status, options: { dueBefore?: Date } = {}): Promise<InstanceRecord[]> {
    const due = options.dueBefore === undefined ? '' : ' AND dueAt <= :due';
    const items = await this.queryAll({
      TableName: this.tableName,
      IndexName: STATUS_INDEX.name,
      KeyConditionExpression: `#status = :status${due}`,
      ExpressionAttributeNames: { '#status': STATUS_INDEX.partitionKey },
      ExpressionAttributeValues: {
        ':status': status,
        ...(options.dueBefore === undefined ? {} : { ':due': options.dueBefore.toISOString() }),
      },
    });
    return this.withDetails(items);
  }

  async listFleet(): Promise<FleetEntry[]> {
    const items = await this.queryAll({
      TableName: this.tableName,
      IndexName: FLEET_INDEX.name,
      KeyConditionExpression: '#fleet = :fleet',
      ExpressionAttributeNames: { '#fleet': FLEET_INDEX.partitionKey },
      ExpressionAttributeValues: { ':fleet': FLEET_INDEX.partitionValue },
    });
    return items.map(toFleetEntry);
  }

  async listAll(): Promise<InstanceRecord[]> {
    const ids = (await this.listFleet()).map((entry) => entry.instanceId);
    const items = await this.batchGet(
      ids.flatMap((id) => [STATE_SK, FACTS_SK, RUN_SK].map((sk) => ({ pk: id, sk }))),
    );
    const records = assemble(items).map(toRecord);
    return records.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  }

  // -------------------------------------------------------------------------------------------

  private async create(
    facts: HostFacts,
    hash: string,
    held: boolean,
    now: string,
  ): Promise<InstanceRecord | undefined> {
    const record: InstanceRecord = {
      instanceId: facts.instanceId,
      status: 'PENDING',
      source: facts.source,
      facts,
      factsHash: hash,
      generation: 0,
      held,
      ...(this.accountId ? { accountId: this.accountId } : {}),
      ...(this.region ? { region: this.region } : {}),
      createdAt: now,
      updatedAt: now,
    };
    const state: Item = {
      ...stateKey(facts.instanceId),
      [FLEET_INDEX.partitionKey]: FLEET_INDEX.partitionValue,
      status: record.status,
      source: record.source,
      factsHash: packHash(hash),
      generation: 0,
      held,
      dueAt: now,
      updatedAt: now,
    };
    const factsItem: Item = { pk: facts.instanceId, sk: FACTS_SK };
    for (const field of FACTS_FIELDS)
      if (record[field] !== undefined) factsItem[field] = plain(record[field]);
    try {
      await this.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: state,
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            { Put: { TableName: this.tableName, Item: factsItem } },
          ],
        }),
      );
      return record;
    } catch (error) {
      if (conditionFailed(error, 0)) return undefined;
      throw error;
    }
  }

  /**
   * A write fenced on the generation: applied only while the record is RUNNING at `generation`.
   * A refusal is returned (never thrown) and explained from the record's state.
   */
  private async fenced(
    method: string,
    instanceId: string,
    generation: number,
    now: Date,
    write: {
      update: string;
      values: Item;
      names?: Record<string, string>;
      condition?: string;
      explain?: (old: OldState) => string;
    },
    run?: RunWrite,
  ): Promise<FencedResult> {
    const stateUpdate = {
      TableName: this.tableName,
      Key: stateKey(instanceId),
      UpdateExpression: write.update,
      ConditionExpression: `attribute_exists(pk) AND generation = :g AND #status = :running${write.condition ? ` AND ${write.condition}` : ''}`,
      ExpressionAttributeNames: { '#status': 'status', ...write.names },
      ExpressionAttributeValues: {
        ...write.values,
        ':g': generation,
        ':running': 'RUNNING',
        ':now': now.toISOString(),
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
    try {
      if (!run) await this.send(new UpdateCommand(stateUpdate));
      else {
        await this.send(
          new TransactWriteCommand({
            TransactItems: [{ Update: stateUpdate }, this.runAction(instanceId, run)],
          }),
        );
      }
      return { ok: true };
    } catch (error) {
      const refuse = (item: Record<string, unknown> | undefined) =>
        this.refused(method, instanceId, generation, now, readOld(item), write.explain);
      if (error instanceof ConditionalCheckFailedException) return refuse(error.Item);
      if (run && conditionFailed(error, 0)) return refuse(cancellation(error, 0)?.Item);
      if (run && 'update' in run && conditionFailed(error, 1)) {
        // The fence held; the RUN item has no such planned playbook for this generation.
        return {
          ok: false,
          currentGeneration: generation,
          message: `${method}: ${run.explain(readOld(cancellation(error, 1)?.Item))}`,
        };
      }
      throw error;
    }
  }

  /** A fenced write the state item refused, explained from the item as it was (ALL_OLD). */
  private async refused(
    method: string,
    instanceId: string,
    generation: number,
    now: Date,
    old: OldState,
    explain?: (old: OldState) => string,
  ): Promise<FencedResult> {
    let message: string;
    if (old.generation === undefined) message = `${instanceId} has no record`;
    else if (old.generation !== generation)
      message = `fenced on g${generation} but the record is at g${old.generation} (${old.status})`;
    else if (old.status !== 'RUNNING') message = `status is ${old.status}, not RUNNING`;
    else message = explain?.(old) ?? 'condition failed';
    // Audited only when the fence itself held a stale writer off; a same-generation refusal is a
    // retry of a write that landed, or an orphaned record (whose ORPHANED event already says why).
    if (old.generation !== undefined && old.generation !== generation) {
      await this.history({
        instanceId,
        type: 'FENCE_REJECTED',
        at: now.toISOString(),
        actor: `workflow:${executionNameOf(instanceId, generation)}`,
        generation,
        reason: message,
        details: { method, currentGeneration: old.generation },
      });
    }
    return {
      ok: false,
      ...(old.generation === undefined ? {} : { currentGeneration: old.generation }),
      message: `${method}: ${message}`,
    };
  }

  /** The RUN item's action in a fenced transaction (its own condition, explained on failure). */
  private runAction(
    instanceId: string,
    run: RunWrite,
  ): NonNullable<TransactWriteCommandInput['TransactItems']>[number] {
    if ('put' in run) return { Put: { TableName: this.tableName, Item: run.put } };
    return {
      Update: {
        TableName: this.tableName,
        Key: { pk: instanceId, sk: RUN_SK },
        UpdateExpression: run.update,
        ConditionExpression: run.condition,
        ExpressionAttributeValues: run.values,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    };
  }

  /** The state item and its FACTS and RUN siblings, in one Query (history sorts before FACTS). */
  private async readParts(instanceId: string): Promise<Parts | undefined> {
    const items = await this.queryAll({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :first AND :last',
      ExpressionAttributeValues: { ':pk': instanceId, ':first': FACTS_SK, ':last': STATE_SK },
      ConsistentRead: true,
    });
    return assemble(items)[0];
  }

  /** Full records for state items read from an index: their FACTS and RUN items, batched. */
  private async withDetails(states: readonly Item[]): Promise<InstanceRecord[]> {
    const details = await this.batchGet(
      states.flatMap((state) => [FACTS_SK, RUN_SK].map((sk) => ({ pk: state.pk, sk }))),
    );
    return assemble([...states, ...details]).map(toRecord);
  }

  /** BatchGetItem in requests of 100 keys, retrying unprocessed keys with backoff. Order is not kept. */
  private async batchGet(allKeys: readonly Item[]): Promise<Item[]> {
    const items: Item[] = [];
    for (let start = 0; start < allKeys.length; start += 100) {
      let keys: Item[] = allKeys.slice(start, start + 100);
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
        const result = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        );
        items.push(...((result.Responses?.[this.tableName] ?? []) as Item[]));
        keys = (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Item[];
      }
    }
    return items;
  }

  /**
   * A write, retried when it met a concurrent transaction on the same item (real DynamoDB answers
   * TransactionConflictException, or cancels a transaction with reason TransactionConflict). The SDK does
   * not retry either; after a few attempts it is a TransientError for the caller's own retry policy.
   */
  private send(command: UpdateCommand): Promise<UpdateCommandOutput>;
  private send(command: TransactWriteCommand): Promise<TransactWriteCommandOutput>;
  private async send(
    command: UpdateCommand | TransactWriteCommand,
  ): Promise<UpdateCommandOutput | TransactWriteCommandOutput> {
    for (let attempt = 1; ; attempt++) {
      try {
        return command instanceof UpdateCommand ? await this.doc.send(command) : await this.doc.send(command);
      } catch (error) {
        if (!isTransactionConflict(error)) throw error;
        if (attempt >= CONFLICT_ATTEMPTS) {
          throw new TransientError(
            `${command.constructor.name} on ${this.tableName} kept conflicting with concurrent transactions on the same item (${attempt} attempts); retry later`,
            { cause: error },
          );
        }
        await sleep(Math.random() * 25 * 2 ** attempt);
      }
    }
  }

  /** Best-effort history: the state write already happened and is the truth, so a failure here is logged, not thrown. */
  private async history(event: HistoryEvent): Promise<void> {
    try {
      await this.appendHistory(event);
    } catch (error) {
      this.logger.warn('History write failed; the state item is unaffected', { event, error });
    }
  }

  /** Every page of a query (or the first `limit` items). */
  private async queryAll(input: QueryCommandInput, limit?: number): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const remaining = limit === undefined ? undefined : limit - items.length;
      const page = await this.doc.send(
        new QueryCommand({
          ...input,
          ExclusiveStartKey: startKey,
          ...(remaining === undefined ? {} : { Limit: remaining }),
        }),
      );
      items.push(...((page.Items ?? []) as Item[]));
      startKey = page.LastEvaluatedKey as Item | undefined;
    } while (startKey && (limit === undefined || items.length < limit));
    return items;
  }
}

function stateKey(instanceId: string): Item {
  return { pk: instanceId, sk: STATE_SK };
}

/** The cancellation reason of action `index` of a cancelled TransactWriteItems, if that is what `error` is. */
function cancellation(error: unknown, index: number): CancellationReason | undefined {
  return error instanceof TransactionCanceledException ? error.CancellationReasons?.[index] : undefined;
}

/** True when action `index` of a cancelled transaction failed its condition. */
function conditionFailed(error: unknown, index: number): boolean {
  return cancellation(error, index)?.Code === 'ConditionalCheckFailed';
}

/** A write that met a concurrent transaction: worth another attempt. */
function isTransactionConflict(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TransactionConflictException') return true;
  const reasons = error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []) : [];
  // Only when nothing else failed: a failed condition is an answer, not a conflict.
  return (
    reasons.some((r) => r.Code === 'TransactionConflict') &&
    reasons.every((r) => r.Code === 'TransactionConflict' || r.Code === 'None' || r.Code === undefined)
  );
}

/** Groups items by instance into Parts; instances without a state item are left out. */
function assemble(items: readonly Item[]): Parts[] {
  const byId = new Map<string, { state?: Item; facts?: Item; run?: Item }>();
  for (const item of items) {
    const id = String(item.pk);
    const parts = byId.get(id) ?? {};
    if (item.sk === STATE_SK) parts.state = item;
    else if (item.sk === FACTS_SK) parts.facts = item;
    else if (item.sk === RUN_SK) parts.run = item;
    byId.set(id, parts);
  }
  const out: Parts[] = [];
  for (const { state, facts, run } of byId.values()) {
    if (state) out.push({ state, ...(facts ? { facts } : {}), ...(run ? { run } : {}) });
  }
  return out;
}

/** 64 hex digits (a sha256) → its 32 bytes; anything else unchanged. */
function packHash(value: string): string | Uint8Array {
  return /^[0-9a-f]{64}$/.test(value) ? new Uint8Array(Buffer.from(value, 'hex')) : value;
}

function unpackHash(value: unknown): unknown {
  return value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value;
}

/** The claim's eligibility clause, compiled from core/eligibility.ts CLAIMABLE_FROM (the one place that decides). */
function claimEligibility(reprovision: boolean): { expression: string; values: Item } {
  const clauses: string[] = [];
  const values: Item = {};
  for (const status of STATUSES) {
    const condition = CLAIMABLE_FROM[status];
    if (condition === undefined || (condition === 'reprovision' && !reprovision)) continue;
    values[`:c_${status}`] = status;
    if (condition === 'lease-expired') {
      clauses.push(
        `(#status = :c_${status} AND (attribute_not_exists(leaseExpiresAt) OR leaseExpiresAt <= :now))`,
      );
    } else clauses.push(`#status = :c_${status}`);
  }
  return { expression: clauses.join(' OR '), values };
}

/** The typed loss of a claim, explained from the record as it was (exported for the in-memory test store). */
export function claimLoss(
  instanceId: string,
  old: OldState,
  attempt: { reason: ClaimReason; expected: number; now: Date },
): ClaimResult {
  if (old.status === undefined || old.generation === undefined) {
    return { won: false, reason: 'missing', message: `${instanceId} has no record to claim` };
  }
  const lost = (reason: 'not-eligible' | 'held' | 'orphaned', message: string): ClaimResult => ({
    won: false,
    reason,
    currentStatus: old.status,
    currentGeneration: old.generation,
    message: `${instanceId}: ${message}`,
  });
  if (old.status === 'ORPHANED')
    return lost('orphaned', `is ORPHANED at g${old.generation}; it must be re-detected first`);
  if (old.held && !HOLD_OVERRIDE_REASONS.has(attempt.reason))
    return lost(
      'held',
      `is held (hold tag present); only ${[...HOLD_OVERRIDE_REASONS].join(', ')} claims it`,
    );
  if (
    old.status === 'RUNNING' &&
    (old.generation !== attempt.expected || !leaseExpired(old.leaseExpiresAt, attempt.now))
  ) {
    return lost(
      'not-eligible',
      `already claimed by g${old.generation} (lease until ${old.leaseExpiresAt ?? 'unset'})`,
    );
  }
  if (old.generation !== attempt.expected) {
    return lost(
      'not-eligible',
      `expected g${attempt.expected} but the record is at g${old.generation} (${old.status})`,
    );
  }
  return lost(
    'not-eligible',
    `${old.status} g${old.generation} is not claimable for reason '${attempt.reason}'`,
  );
}

/** The few scalar fields a loss is explained with, read from the raw (marshalled) ALL_OLD item. */
function readOld(item: Record<string, unknown> | undefined): OldState {
  if (!item) return {};
  const s = (name: string): string | undefined => {
    const value = item[name] as { S?: string } | undefined;
    return value?.S;
  };
  const n = (value: unknown): number | undefined => {
    const raw = (value as { N?: string } | undefined)?.N;
    return raw === undefined ? undefined : Number(raw);
  };
  const command = (item.activeCommand as { M?: Record<string, { S?: string }> } | undefined)?.M;
  const playbooks = (item.playbooks as { L?: unknown[] } | undefined)?.L;
  const status = s('status');
  return {
    ...(status !== undefined && (STATUSES as readonly string[]).includes(status)
      ? { status: status as Status }
      : {}),
    ...(n(item.generation) === undefined ? {} : { generation: n(item.generation) }),
    held: (item.held as { BOOL?: boolean } | undefined)?.BOOL === true,
    ...(s('leaseExpiresAt') === undefined ? {} : { leaseExpiresAt: s('leaseExpiresAt') }),
    ...(command?.taskToken?.S === undefined ? {} : { taskToken: command.taskToken.S }),
    ...(playbooks === undefined ? {} : { playbookCount: playbooks.length }),
  };
}

/**
 * The InstanceRecord of an instance's items: the state item's fields, the facts snapshot, and the RUN
 * item's plan and results when they belong to the current generation (a claim starts a new one).
 */
function toRecord(parts: Parts): InstanceRecord {
  const { state, facts, run } = parts;
  const record: Item = { instanceId: state.pk };
  for (const field of FACTS_FIELDS) if (facts?.[field] !== undefined) record[field] = facts[field];
  if (run && run.generation === state.generation) {
    for (const field of RUN_FIELDS) if (run[field] !== undefined) record[field] = run[field];
  }
  for (const [key, value] of Object.entries(state)) if (!PLUMBING.has(key)) record[key] = value;
  for (const field of HASH_FIELDS) if (record[field] !== undefined) record[field] = unpackHash(record[field]);
  return record as unknown as InstanceRecord;
}

function toFleetEntry(item: Item): FleetEntry {
  const entry: Item = { instanceId: item.pk };
  for (const name of FLEET_INDEX.projectedAttributes) if (item[name] !== undefined) entry[name] = item[name];
  for (const field of HASH_FIELDS) if (entry[field] !== undefined) entry[field] = unpackHash(entry[field]);
  return entry as unknown as FleetEntry;
}

function toHistoryEvent(item: Item): HistoryEvent {
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...event } = item;
  return event as unknown as HistoryEvent;
}

/** Plain data without `undefined` members (the marshaller refuses them unless told otherwise). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
