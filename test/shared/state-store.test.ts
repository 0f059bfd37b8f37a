// The state store against DynamoDB Local: conditional writes, GSIs and TTL are DynamoDB's semantics,
// so they are tested on AWS's own emulator, never on a mock. What a caller can observe through
// StateStoreApi (claims, fences, active command, history order, queries) is the contract in
// state-store.contract.test.ts, run over this store and the in-memory fake alike; this file keeps what
// only the DynamoDB store has: the item layout, the calls each operation makes, TTL, index pagination
// and retries of writes that meet a concurrent transaction.
import {
  DynamoDBClient,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { HostFacts, PlannedPlaybook, Status } from '../../functions/core/types.js';
import { InvalidInputError, TransientError } from '../../functions/shared/errors.js';
import { StateStore } from '../../functions/shared/state-store.js';
import type { ClaimResult } from '../../functions/shared/state-store-api.js';
import { countCommands, createTestTable, type TestTable } from '../helpers/ddb.js';

const T0 = new Date('2024-05-01T10:00:00.000Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
const ACTOR = 'test';

function facts(instanceId: string, overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    instanceId,
    source: 'ec2',
    name: `${instanceId}-name`,
    state: 'running',
    tags: { 'autoprov:enabled': 'true', Name: `${instanceId}-name` },
    groups: ['all'],
    vars: { ec2_instance_type: 't3.micro' },
    ...overrides,
  };
}

const PLAYBOOK: PlannedPlaybook = {
  file: 'baseline.yml',
  extraVars: {},
  timeoutSeconds: 600,
  maxAttempts: 3,
  backoffSeconds: 60,
  check: false,
  rule: 'baseline',
};

function won(result: ClaimResult): Extract<ClaimResult, { won: true }> {
  if (!result.won) throw new Error(`expected a won claim, got: ${result.message}`);
  return result;
}

let table: TestTable;
let store: StateStore;

beforeEach(async () => {
  table = await createTestTable({ historyDays: 30 });
  store = table.store;
});

async function rawState(instanceId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await table.doc.send(
    new GetCommand({
      TableName: table.tableName,
      Key: { pk: instanceId, sk: 'STATE' },
      ConsistentRead: true,
    }),
  );
  return Item;
}

/** A record at RUNNING generation `claims` (claimed that many times, leases expired in between). */
async function runningAt(instanceId: string, claims: number): Promise<number> {
  await store.upsertDetection(facts(instanceId), { held: false, actor: ACTOR, now: T0 });
  let generation = 0;
  for (let i = 0; i < claims; i++) {
    const result = won(
      await store.claim(instanceId, {
        reason: 'new',
        leaseSeconds: 60,
        actor: ACTOR,
        now: at(i * 120),
        expectedGeneration: generation,
      }),
    );
    generation = result.generation;
  }
  return generation;
}

describe('upsertDetection', () => {
  it('creates the state item with the fleet key and its due time', async () => {
    await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });

    const raw = await rawState('i-1');
    expect(raw?.fleetPk).toBe('FLEET');
    expect(raw?.dueAt).toBe(T0.toISOString());
  });

  it('writes nothing when facts, held flag and source are unchanged', async () => {
    await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
    const counter = countCommands(table.doc);

    const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: at(60) });

    expect(result).toMatchObject({ written: false, created: false });
    expect(counter.writes()).toBe(0);
    // One read: the state item and its FACTS and RUN siblings come back from one Query.
    expect(counter.commands).toEqual(['QueryCommand']);
  });
});

describe('claim', () => {
  beforeEach(async () => {
    await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
  });

  it('is one UpdateItem (then its history item), and the lease becomes the due time', async () => {
    const counter = countCommands(table.doc);

    const result = won(
      await store.claim('i-1', {
        reason: 'new',
        leaseSeconds: 7200,
        actor: 'detector',
        now: T0,
        expectedGeneration: 0,
      }),
    );

    // The claim itself, then its CLAIMED history item.
    expect(counter.commands).toEqual(['UpdateItemCommand', 'PutItemCommand']);
    expect((await rawState('i-1'))?.dueAt).toBe(result.leaseExpiresAt);
  });

  it('reads the generation first when the caller does not know it', async () => {
    const counter = countCommands(table.doc);
    const result = won(
      await store.claim('i-1', { reason: 'pending', leaseSeconds: 60, actor: ACTOR, now: T0 }),
    );
    expect(result.generation).toBe(1);
    expect(counter.commands.slice(0, 2)).toEqual(['GetItemCommand', 'UpdateItemCommand']);
  });
});

describe('fenced writes', () => {
  it('a write refused by the fence leaves the state item exactly as it was', async () => {
    const generation = await runningAt('i-1', 2);
    const before = await rawState('i-1');

    const result = await store.extendLease('i-1', generation - 1, 600, at(1000));

    expect(result.ok).toBe(false);
    expect(await rawState('i-1')).toEqual(before);
  });

  it('recordOutcome refuses a status that is not a run outcome before writing', async () => {
    await runningAt('i-1', 1);
    const counter = countCommands(table.doc);
    for (const status of ['PENDING', 'RUNNING', 'ORPHANED'] as Status[]) {
      await expect(store.recordOutcome('i-1', 1, { status }, at(10))).rejects.toThrow(InvalidInputError);
    }
    expect(counter.commands).toEqual([]);
  });
});

describe('history', () => {
  it('sets expiresAt (epoch seconds) on history items only', async () => {
    await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
    const { Items } = await table.doc.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'i-1' },
      }),
    );
    const state = Items?.find((item) => item.sk === 'STATE');
    const event = Items?.find((item) => String(item.sk).startsWith('EVT#'));
    expect(state?.expiresAt).toBeUndefined();
    expect(event?.expiresAt).toBe(T0.getTime() / 1000 + 30 * 86_400);
    expect(event?.sk).toMatch(/^EVT#2024-05-01T10:00:00\.000Z#[0-9a-f]{8}$/);
    // History items stay out of both indexes.
    expect(event?.status).toBeUndefined();
    expect(event?.fleetPk).toBeUndefined();
  });
});

describe('queries', () => {
  it('listByStatus reads the status index and its details in a batch, never a scan', async () => {
    await runningAt('i-a', 1);
    await store.upsertDetection(facts('i-c'), { held: false, actor: ACTOR, now: T0 });
    const counter = countCommands(table.doc);

    const running = await store.listByStatus('RUNNING');
    const pending = await store.listByStatus('PENDING', { dueBefore: at(61) });

    expect(running.map((r) => r.instanceId)).toEqual(['i-a']);
    expect(pending.map((r) => r.instanceId)).toEqual(['i-c']);
    // The index holds state items; their facts snapshots come with one batched read, never a scan.
    expect(new Set(counter.commands)).toEqual(new Set(['QueryCommand', 'BatchGetItemCommand']));
  });

  it('listFleet returns compact entries for state items only; listAll returns full records', async () => {
    const ids = Array.from({ length: 230 }, (_, i) => `i-${String(i).padStart(17, '0')}`);
    for (let i = 0; i < ids.length; i += 25) {
      await Promise.all(
        ids
          .slice(i, i + 25)
          .map((id) => store.upsertDetection(facts(id), { held: false, actor: ACTOR, now: T0 })),
      );
    }
    const first = ids[0] as string;
    won(
      await store.claim(first, {
        reason: 'new',
        leaseSeconds: 60,
        actor: ACTOR,
        now: T0,
        expectedGeneration: 0,
      }),
    );
    await store.recordMatch(
      first,
      1,
      { playbooks: [PLAYBOOK], matchedRules: ['baseline'], fingerprint: 'fp' },
      at(1),
    );
    await store.recordOutcome(first, 1, { status: 'SUCCESS', fingerprint: 'fp' }, at(2));
    // An item that is not a state item must not show up (no fleetPk).
    await table.doc.send(
      new PutCommand({ TableName: table.tableName, Item: { pk: 'i-x', sk: 'EVT#x', status: 'PENDING' } }),
    );

    const fleet = await store.listFleet();
    const all = await store.listAll();

    expect(fleet.map((e) => e.instanceId)).toEqual(ids);
    expect(fleet[0]).toEqual({
      instanceId: first,
      status: 'SUCCESS',
      source: 'ec2',
      generation: 1,
      factsHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      held: false,
      executionName: `${first}-g1`,
      lastSuccessFingerprint: 'fp',
      fingerprint: 'fp',
    });
    expect(fleet[1]).not.toHaveProperty('facts');
    expect(all).toHaveLength(230);
    expect(all[1]).toEqual(await store.getInstance(ids[1] as string));
  });
});

/** DynamoDB's size of a stored item: names + values (strings/binary by bytes, numbers ≈ digits/2 + 1). */
function storedSize(item: Record<string, unknown>): number {
  const value = (v: unknown): number => {
    if (v === null || typeof v === 'boolean') return 1;
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (v instanceof Uint8Array) return v.length;
    if (typeof v === 'number') return Math.ceil(String(Math.abs(v)).replace(/[.-]/g, '').length / 2) + 1;
    if (Array.isArray(v)) return 3 + v.reduce((sum: number, e) => sum + 1 + value(e), 0);
    if (typeof v === 'object' && v)
      return 3 + Object.entries(v).reduce((sum, [k, e]) => sum + 1 + Buffer.byteLength(k) + value(e), 0);
    return 0;
  };
  return Object.entries(item).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + value(v), 0);
}

async function partitionItems(instanceId: string): Promise<Record<string, unknown>[]> {
  const { Items } = await table.doc.send(
    new QueryCommand({
      TableName: table.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': instanceId },
      ConsistentRead: true,
    }),
  );
  return Items ?? [];
}

describe('item layout', () => {
  const HASH = 'a'.repeat(64);
  const LOG_URL =
    'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/Output$3FlogStreamNameFilter$3Dcmd';

  /** A whole successful generation with two playbooks, results as the callback records them. */
  async function provisioned(instanceId: string, fingerprint: string): Promise<void> {
    await runningAt(instanceId, 1);
    await store.recordMatch(
      instanceId,
      1,
      {
        playbooks: [PLAYBOOK, { ...PLAYBOOK, file: 'web.yml' }],
        matchedRules: ['baseline', 'web'],
        fingerprint,
      },
      at(10),
    );
    for (const [index, file] of ['baseline.yml', 'web.yml'].entries()) {
      const result = await store.recordPlaybookResult(
        instanceId,
        1,
        index,
        {
          file,
          status: 'Success',
          attempts: 1,
          commandId: `cmd-${index}-0000-0000-0000-000000000000`,
          exitCode: 0,
          startedAt: at(20).toISOString(),
          endedAt: at(30).toISOString(),
          outputTail: 'PLAY RECAP ok=12 changed=3 '.repeat(70),
          logUrl: `${LOG_URL}-${index}`,
        },
        at(30),
      );
      expect(result).toEqual({ ok: true });
    }
    await store.recordOutcome(instanceId, 1, { status: 'SUCCESS', fingerprint }, at(40));
    await store.markNotified(instanceId, 1, 'SUCCESS', at(41));
  }

  it('keeps the state item small: facts and the run live in their own items, hashes as raw bytes', async () => {
    // Prepare
    await provisioned('i-1', HASH);

    // Act
    const items = await partitionItems('i-1');
    const record = await store.getInstance('i-1');

    // Assess: three items beside the history, the state item without the bulky parts
    const bySk = new Map(items.map((item) => [String(item.sk), item]));
    expect([...bySk.keys()].filter((sk) => !sk.startsWith('EVT#'))).toEqual(['FACTS', 'RUN', 'STATE']);
    const state = bySk.get('STATE') ?? {};
    for (const bulky of ['facts', 'playbooks', 'matchedRules', 'instanceId'])
      expect(state).not.toHaveProperty(bulky);
    expect(state.fingerprint).toBeInstanceOf(Uint8Array);
    expect((state.fingerprint as Uint8Array).length).toBe(32);
    // What the fleet index reads per instance (DynamoDB Local counts the whole item against a page).
    expect(storedSize(state)).toBeLessThan(450);
    expect(bySk.get('FACTS')).toMatchObject({ facts: facts('i-1'), accountId: '123456789012' });
    expect(bySk.get('RUN')).toMatchObject({ generation: 1, matchedRules: ['baseline', 'web'] });
    // …and the record reads as one, hashes in hex.
    expect(record).toMatchObject({
      instanceId: 'i-1',
      status: 'SUCCESS',
      facts: facts('i-1'),
      matchedRules: ['baseline', 'web'],
      fingerprint: HASH,
      lastSuccessFingerprint: HASH,
      factsHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      createdAt: T0.toISOString(),
      notifiedKey: '1#SUCCESS',
    });
    expect(record?.playbooks?.map((p) => [p.file, p.status, p.logUrl])).toEqual([
      ['baseline.yml', 'Success', `${LOG_URL}-0`],
      ['web.yml', 'Success', `${LOG_URL}-1`],
    ]);
    expect((await store.listFleet())[0]).toMatchObject({ fingerprint: HASH, lastSuccessFingerprint: HASH });
  });

  it('reads a record in one Query that leaves the history out', async () => {
    await provisioned('i-1', HASH);
    expect((await store.listHistory('i-1')).map((e) => e.type)).toEqual(['DETECTED', 'CLAIMED']);
    const counter = countCommands(table.doc);

    const record = await store.getInstance('i-1');

    expect(counter.commands).toEqual(['QueryCommand']);
    expect(record).not.toHaveProperty('type');
    expect(record?.playbooks).toHaveLength(2);
  });

  it("a claim hides the previous run's plan and results until the new generation records its match", async () => {
    // Prepare
    await provisioned('i-1', HASH);
    won(
      await store.claim('i-1', {
        reason: 'fingerprint-changed',
        leaseSeconds: 60,
        actor: ACTOR,
        now: at(100),
        expectedGeneration: 1,
      }),
    );

    // Act
    const claimed = await store.getInstance('i-1');
    const early = await store.recordPlaybookResult(
      'i-1',
      2,
      0,
      { file: 'baseline.yml', status: 'Success', attempts: 1 },
      at(101),
    );
    await store.recordMatch(
      'i-1',
      2,
      { playbooks: [PLAYBOOK], matchedRules: ['baseline'], fingerprint: 'b'.repeat(64) },
      at(102),
    );
    const matched = await store.getInstance('i-1');

    // Assess
    expect(claimed).toMatchObject({ status: 'RUNNING', generation: 2, facts: facts('i-1') });
    expect(claimed?.playbooks).toBeUndefined();
    expect(claimed?.matchedRules).toBeUndefined();
    expect(early).toEqual({
      ok: false,
      currentGeneration: 2,
      message: 'recordPlaybookResult: no planned playbook at index 0 (the plan has 0)',
    });
    expect(matched?.playbooks).toEqual([{ file: 'baseline.yml', status: 'Pending', attempts: 0 }]);
    expect(matched?.matchedRules).toEqual(['baseline']);
    expect(matched?.lastSuccessFingerprint).toBe(HASH);
  });

  it('a facts change rewrites the snapshot and its hash together', async () => {
    await runningAt('i-1', 1);
    const changed = facts('i-1', { tags: { 'autoprov:enabled': 'true', Name: 'renamed' }, name: 'renamed' });
    const counter = countCommands(table.doc);

    const result = await store.upsertDetection(changed, { held: false, actor: ACTOR, now: at(50) });

    expect(counter.commands.slice(0, 2)).toEqual(['QueryCommand', 'TransactWriteItemsCommand']);
    expect(result.record).toMatchObject({ facts: changed, status: 'RUNNING', generation: 1 });
    expect(await store.getInstance('i-1')).toEqual(result.record);
    expect((await store.getInstance('i-1'))?.createdAt).toBe(T0.toISOString());
  });
});

describe('writes that meet a concurrent transaction', () => {
  function conflict(): TransactionConflictException {
    return new TransactionConflictException({
      message: 'Transaction is ongoing for the item',
      $metadata: {},
    });
  }

  function mockedStore() {
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }),
    );
    const mock = mockClient(doc);
    return { mock, store: new StateStore({ doc, tableName: 'state' }) };
  }

  it('retries a plain write that met a transaction on the same item (the SDK does not)', async () => {
    const { mock, store: mocked } = mockedStore();
    mock.on(UpdateCommand).rejectsOnce(conflict()).rejectsOnce(conflict()).resolves({});

    const notified = await mocked.markNotified('i-1', 1, 'SUCCESS', T0);

    expect(notified).toBe(true);
    expect(mock.commandCalls(UpdateCommand)).toHaveLength(3);
  });

  it('retries a fenced transaction cancelled only by a conflict, not one whose condition failed', async () => {
    const { mock, store: mocked } = mockedStore();
    const cancelled = (codes: string[]) =>
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: codes.map((Code) => ({ Code })),
      });
    mock
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled(['None', 'TransactionConflict']))
      .resolves({});

    const match = { playbooks: [PLAYBOOK], matchedRules: ['baseline'], fingerprint: 'fp' };
    expect(await mocked.recordMatch('i-1', 1, match, T0)).toEqual({ ok: true });
    expect(mock.commandCalls(TransactWriteCommand)).toHaveLength(2);

    mock.reset();
    mock.on(TransactWriteCommand).rejects(cancelled(['ConditionalCheckFailed', 'None']));
    const refused = await mocked.recordMatch('i-1', 1, match, T0);
    expect(refused).toMatchObject({ ok: false, message: 'recordMatch: i-1 has no record' });
    expect(mock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('gives up after 4 conflicting attempts with a TransientError the caller retries', async () => {
    const { mock, store: mocked } = mockedStore();
    mock.on(UpdateCommand).rejects(conflict());

    await expect(mocked.markNotified('i-1', 1, 'SUCCESS', T0)).rejects.toThrow(TransientError);
    expect(mock.commandCalls(UpdateCommand)).toHaveLength(4);
  });
});
