// The state store against DynamoDB Local: conditional writes, GSIs and TTL are DynamoDB's semantics,
// so they are tested on AWS's own emulator, never on a mock.
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
import type { ClaimResult, FencedResult } from '../../functions/shared/state-store-api.js';
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
  it('creates a PENDING record at generation 0 with the fleet key, and a DETECTED event', async () => {
    // Act
    const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });

    // Assess
    expect(result).toMatchObject({ written: true, created: true });
    expect(result.record).toMatchObject({
      instanceId: 'i-1',
      status: 'PENDING',
      source: 'ec2',
      generation: 0,
      held: false,
      accountId: '123456789012',
      region: 'us-east-1',
      createdAt: T0.toISOString(),
    });
    expect(await store.getInstance('i-1')).toEqual(result.record);
    const raw = await rawState('i-1');
    expect(raw?.fleetPk).toBe('FLEET');
    expect(raw?.dueAt).toBe(T0.toISOString());
    const history = await store.listHistory('i-1');
    expect(history.map((e) => [e.type, e.reason])).toEqual([['DETECTED', 'new']]);
  });

  it('writes nothing when facts, held flag and source are unchanged', async () => {
    await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
    const counter = countCommands(table.doc);

    const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: at(60) });

    expect(result).toMatchObject({ written: false, created: false });
    expect(result.record.updatedAt).toBe(T0.toISOString());
    expect(counter.writes()).toBe(0);
    // One read: the state item and its FACTS and RUN siblings come back from one Query.
    expect(counter.commands).toEqual(['QueryCommand']);
  });

  it('refreshes changed facts or held flag without touching status or generation', async () => {
    const generation = await runningAt('i-1', 2);
    const changed = facts('i-1', { vars: { ec2_instance_type: 't3.large' } });

    const first = await store.upsertDetection(changed, { held: false, actor: ACTOR, now: at(600) });
    const second = await store.upsertDetection(changed, { held: true, actor: ACTOR, now: at(700) });

    expect(first).toMatchObject({ written: true, created: false });
    expect(second).toMatchObject({ written: true, created: false });
    expect(second.record).toMatchObject({ status: 'RUNNING', generation, held: true, facts: changed });
    expect(second.record.executionName).toBe(`i-1-g${generation}`);
    const reasons = (await store.listHistory('i-1'))
      .filter((e) => e.type === 'DETECTED')
      .map((e) => e.reason);
    expect(reasons).toEqual(['new', 'facts-changed', 'held-changed']);
  });

  it('revives an orphan that is detected again as PENDING, keeping its generation', async () => {
    const generation = await runningAt('i-1', 1);
    await store.markOrphaned('i-1', 'opted-out', ACTOR, at(300));

    const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: at(400) });

    expect(result.written).toBe(true);
    expect(result.record).toMatchObject({ status: 'PENDING', generation });
    expect(result.record.reason).toBeUndefined();
    const claim = await store.claim('i-1', {
      reason: 'pending',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(500),
      expectedGeneration: generation,
    });
    expect(won(claim).generation).toBe(generation + 1);
  });

  it('never revives a terminated instance', async () => {
    await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
    await store.markOrphaned('i-1', 'terminated', ACTOR, at(10));

    const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: at(20) });

    expect(result).toMatchObject({ written: false });
    expect(result.record.status).toBe('ORPHANED');
  });

  it('concurrent first detections create one record', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 }),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const detected = (await store.listHistory('i-1')).filter((e) => e.type === 'DETECTED');
    expect(detected).toHaveLength(1);
  });
});

describe('claim', () => {
  beforeEach(async () => {
    await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
  });

  it('moves PENDING to RUNNING with generation 1, a lease and the execution name, in one UpdateItem', async () => {
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

    expect(result).toEqual({
      won: true,
      generation: 1,
      executionName: 'i-1-g1',
      leaseExpiresAt: '2024-05-01T12:00:00.000Z',
    });
    // The claim itself, then its CLAIMED history item.
    expect(counter.commands).toEqual(['UpdateItemCommand', 'PutItemCommand']);
    const record = await store.getInstance('i-1');
    expect(record).toMatchObject({
      status: 'RUNNING',
      generation: 1,
      executionName: 'i-1-g1',
      leaseExpiresAt: result.leaseExpiresAt,
    });
    expect((await rawState('i-1'))?.dueAt).toBe(result.leaseExpiresAt);
    const claimed = (await store.listHistory('i-1')).filter((e) => e.type === 'CLAIMED');
    expect(claimed).toMatchObject([
      { actor: 'detector', generation: 1, reason: 'new', details: { executionName: 'i-1-g1' } },
    ]);
  });

  it('reads the generation first when the caller does not know it', async () => {
    const counter = countCommands(table.doc);
    const result = won(
      await store.claim('i-1', { reason: 'pending', leaseSeconds: 60, actor: ACTOR, now: T0 }),
    );
    expect(result.generation).toBe(1);
    expect(counter.commands.slice(0, 2)).toEqual(['GetItemCommand', 'UpdateItemCommand']);
  });

  it('a second claim while the lease runs loses with who holds it', async () => {
    won(
      await store.claim('i-1', {
        reason: 'new',
        leaseSeconds: 60,
        actor: ACTOR,
        now: T0,
        expectedGeneration: 0,
      }),
    );

    const stale = await store.claim('i-1', {
      reason: 'new',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(1),
      expectedGeneration: 0,
    });
    const fresh = await store.claim('i-1', {
      reason: 'lease-expired',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(30),
      expectedGeneration: 1,
    });

    for (const loss of [stale, fresh]) {
      expect(loss).toMatchObject({
        won: false,
        reason: 'not-eligible',
        currentStatus: 'RUNNING',
        currentGeneration: 1,
      });
      expect(loss.won === false && loss.message).toContain('already claimed by g1');
    }
  });

  it('reclaims a RUNNING record once its lease expired', async () => {
    won(
      await store.claim('i-1', {
        reason: 'new',
        leaseSeconds: 60,
        actor: ACTOR,
        now: T0,
        expectedGeneration: 0,
      }),
    );
    await store.setActiveCommand(
      'i-1',
      1,
      { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: 't1' },
      at(10),
    );

    const result = won(
      await store.claim('i-1', {
        reason: 'lease-expired',
        leaseSeconds: 60,
        actor: 'sweep',
        now: at(60),
        expectedGeneration: 1,
      }),
    );

    expect(result).toMatchObject({ generation: 2, executionName: 'i-1-g2' });
    // A new generation waits on nothing of the previous one.
    expect((await store.getInstance('i-1'))?.activeCommand).toBeUndefined();
  });

  it('a terminal record is claimable only for a re-provision reason', async () => {
    won(
      await store.claim('i-1', {
        reason: 'new',
        leaseSeconds: 60,
        actor: ACTOR,
        now: T0,
        expectedGeneration: 0,
      }),
    );
    expect(await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp1' }, at(10))).toEqual({
      ok: true,
    });

    const plain = await store.claim('i-1', {
      reason: 'new',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(20),
      expectedGeneration: 1,
    });
    const lease = await store.claim('i-1', {
      reason: 'lease-expired',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(20),
      expectedGeneration: 1,
    });
    const reprovision = await store.claim('i-1', {
      reason: 'fingerprint-changed',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(20),
      expectedGeneration: 1,
    });

    expect(plain).toMatchObject({
      won: false,
      reason: 'not-eligible',
      currentStatus: 'SUCCESS',
      currentGeneration: 1,
    });
    expect(plain.won === false && plain.message).toContain("SUCCESS g1 is not claimable for reason 'new'");
    expect(lease).toMatchObject({ won: false, reason: 'not-eligible' });
    expect(won(reprovision).generation).toBe(2);
  });

  it('a stale expected generation loses even when the record is claimable', async () => {
    won(
      await store.claim('i-1', {
        reason: 'new',
        leaseSeconds: 60,
        actor: ACTOR,
        now: T0,
        expectedGeneration: 0,
      }),
    );
    await store.recordOutcome('i-1', 1, { status: 'FAILED', reason: 'boom' }, at(10));

    const loss = await store.claim('i-1', {
      reason: 'operator-retry',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(20),
      expectedGeneration: 0,
    });

    expect(loss).toMatchObject({
      won: false,
      reason: 'not-eligible',
      currentStatus: 'FAILED',
      currentGeneration: 1,
    });
    expect(loss.won === false && loss.message).toContain('expected g0 but the record is at g1');
  });

  it('a held record is claimed only by an operator retry', async () => {
    await store.upsertDetection(facts('i-1'), { held: true, actor: ACTOR, now: at(1) });

    const loss = await store.claim('i-1', {
      reason: 'pending',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(2),
      expectedGeneration: 0,
    });
    const retry = await store.claim('i-1', {
      reason: 'operator-retry',
      leaseSeconds: 60,
      actor: 'cli:ops',
      now: at(3),
      expectedGeneration: 0,
    });

    expect(loss).toMatchObject({
      won: false,
      reason: 'held',
      currentStatus: 'PENDING',
      currentGeneration: 0,
    });
    expect(won(retry).generation).toBe(1);
  });

  it('an ORPHANED or missing record is never claimed', async () => {
    await store.markOrphaned('i-1', 'vanished', ACTOR, at(1));

    const orphan = await store.claim('i-1', {
      reason: 'operator-retry',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(2),
      expectedGeneration: 0,
    });
    const missing = await store.claim('i-404', {
      reason: 'new',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(2),
      expectedGeneration: 0,
    });
    const missingUnread = await store.claim('i-404', {
      reason: 'new',
      leaseSeconds: 60,
      actor: ACTOR,
      now: at(2),
    });

    expect(orphan).toMatchObject({ won: false, reason: 'orphaned', currentStatus: 'ORPHANED' });
    expect(missing).toMatchObject({ won: false, reason: 'missing' });
    expect(missingUnread).toMatchObject({ won: false, reason: 'missing' });
  });

  it('200 concurrent claims on one instance: exactly one winner, 199 typed losses', async () => {
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.claim('i-1', {
          reason: 'new',
          leaseSeconds: 7200,
          actor: `claimer-${i}`,
          now: T0,
          expectedGeneration: 0,
        }),
      ),
    );
    const elapsedMs = Date.now() - started;

    const winners = results.filter((r) => r.won);
    const losses = results.filter((r): r is Extract<ClaimResult, { won: false }> => !r.won);
    const lossKinds = losses.reduce<Record<string, number>>((acc, r) => {
      acc[r.reason] = (acc[r.reason] ?? 0) + 1;
      return acc;
    }, {});
    console.log(
      `[contention] 200 concurrent claims on one instance (DynamoDB Local): winners=${winners.length} ` +
        `losses=${losses.length} ${JSON.stringify(lossKinds)} in ${elapsedMs} ms`,
    );
    expect(winners).toHaveLength(1);
    expect(losses).toHaveLength(199);
    expect(lossKinds).toEqual({ 'not-eligible': 199 });
    for (const loss of losses) {
      expect(loss).toMatchObject({ currentStatus: 'RUNNING', currentGeneration: 1 });
      expect(loss.message).toContain('already claimed by g1');
    }
    expect(await store.getInstance('i-1')).toMatchObject({
      status: 'RUNNING',
      generation: 1,
      executionName: 'i-1-g1',
    });
    expect((await store.listHistory('i-1')).filter((e) => e.type === 'CLAIMED')).toHaveLength(1);
  });
});

describe('fenced writes', () => {
  const fencedOps: Record<string, (s: StateStore, generation: number) => Promise<FencedResult>> = {
    extendLease: (s, g) => s.extendLease('i-1', g, 600, at(1000)),
    recordMatch: (s, g) =>
      s.recordMatch(
        'i-1',
        g,
        { playbooks: [PLAYBOOK], matchedRules: ['baseline'], fingerprint: 'stale' },
        at(1000),
      ),
    setActiveCommand: (s, g) =>
      s.setActiveCommand(
        'i-1',
        g,
        { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: 'stale' },
        at(1000),
      ),
    setActiveCommandId: (s, g) => s.setActiveCommandId('i-1', g, 'tok-g1', 'cmd-stale', at(1000)),
    recordPlaybookResult: (s, g) =>
      s.recordPlaybookResult('i-1', g, 0, { file: 'baseline.yml', status: 'Failed', attempts: 1 }, at(1000)),
    recordOutcome: (s, g) => s.recordOutcome('i-1', g, { status: 'FAILED', reason: 'stale' }, at(1000)),
  };

  it.each(Object.keys(fencedOps))('%s on an old generation is rejected after a newer claim', async (name) => {
    // Prepare: g1 ran far enough to have a plan and an active command, then its lease expired and g2 took over.
    await runningAt('i-1', 1);
    expect(
      await store.recordMatch(
        'i-1',
        1,
        { playbooks: [PLAYBOOK], matchedRules: ['baseline'], fingerprint: 'fp' },
        at(5),
      ),
    ).toEqual({ ok: true });
    expect(
      await store.setActiveCommand(
        'i-1',
        1,
        { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: 'tok-g1' },
        at(6),
      ),
    ).toEqual({ ok: true });
    won(
      await store.claim('i-1', {
        reason: 'lease-expired',
        leaseSeconds: 7200,
        actor: 'sweep',
        now: at(120),
        expectedGeneration: 1,
      }),
    );
    const before = await rawState('i-1');
    const op = fencedOps[name];
    if (!op) throw new Error(`no op ${name}`);

    // Act
    const result = await op(store, 1);

    // Assess
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ currentGeneration: 2 });
    expect(!result.ok && result.message).toContain('fenced on g1 but the record is at g2');
    expect(await rawState('i-1')).toEqual(before);
    const rejected = (await store.listHistory('i-1')).filter((e) => e.type === 'FENCE_REJECTED');
    expect(rejected).toMatchObject([
      { generation: 1, actor: 'workflow:i-1-g1', details: { method: name, currentGeneration: 2 } },
    ]);
  });

  it.each(Object.keys(fencedOps))(
    '%s on the current generation of an ORPHANED record is rejected',
    async (name) => {
      await runningAt('i-1', 1);
      await store.recordMatch(
        'i-1',
        1,
        { playbooks: [PLAYBOOK], matchedRules: ['baseline'], fingerprint: 'fp' },
        at(5),
      );
      await store.setActiveCommand(
        'i-1',
        1,
        { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: 'tok-g1' },
        at(6),
      );
      await store.markOrphaned('i-1', 'terminated', 'detector', at(7));
      const op = fencedOps[name];
      if (!op) throw new Error(`no op ${name}`);

      const result = await op(store, 1);

      expect(result).toMatchObject({ ok: false, currentGeneration: 1 });
      expect(!result.ok && result.message).toContain('status is ORPHANED, not RUNNING');
      expect((await store.getInstance('i-1'))?.status).toBe('ORPHANED');
      expect((await store.listHistory('i-1')).filter((e) => e.type === 'FENCE_REJECTED')).toEqual([]);
    },
  );

  it('a fenced write on a missing record is rejected without history', async () => {
    const result = await store.extendLease('i-404', 1, 60, T0);
    expect(result).toEqual({ ok: false, message: 'extendLease: i-404 has no record' });
    expect(await store.listHistory('i-404')).toEqual([]);
  });

  it('runs a whole generation: match, command, command id, result, outcome', async () => {
    await runningAt('i-1', 1);
    const token = 'token-1';

    expect(await store.extendLease('i-1', 1, 3600, at(10))).toEqual({ ok: true });
    expect(
      await store.recordMatch(
        'i-1',
        1,
        {
          playbooks: [PLAYBOOK, { ...PLAYBOOK, file: 'web.yml' }],
          matchedRules: ['baseline', 'web'],
          fingerprint: 'fp-1',
        },
        at(20),
      ),
    ).toEqual({ ok: true });
    expect(
      await store.setActiveCommand(
        'i-1',
        1,
        { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: token },
        at(30),
      ),
    ).toEqual({ ok: true });
    const wrongToken = await store.setActiveCommandId('i-1', 1, 'another-token', 'cmd-x', at(31));
    expect(wrongToken).toMatchObject({ ok: false, currentGeneration: 1 });
    expect(!wrongToken.ok && wrongToken.message).toContain('another task token');
    expect(await store.setActiveCommandId('i-1', 1, token, 'cmd-1', at(32))).toEqual({ ok: true });
    const midRun = await store.getInstance('i-1');
    expect(midRun?.leaseExpiresAt).toBe(at(3610).toISOString());
    expect(midRun?.activeCommand).toEqual({
      kind: 'playbook',
      playbookIndex: 0,
      attempt: 1,
      taskToken: token,
      commandId: 'cmd-1',
      sentAt: at(32).toISOString(),
    });
    expect(midRun?.playbooks).toEqual([
      { file: 'baseline.yml', status: 'Pending', attempts: 0 },
      { file: 'web.yml', status: 'Pending', attempts: 0 },
    ]);

    const outOfRange = await store.recordPlaybookResult(
      'i-1',
      1,
      2,
      { file: 'x.yml', status: 'Success', attempts: 1 },
      at(40),
    );
    expect(outOfRange).toMatchObject({ ok: false });
    expect(!outOfRange.ok && outOfRange.message).toContain('no planned playbook at index 2 (the plan has 2)');
    await expect(
      store.recordPlaybookResult('i-1', 1, -1, { file: 'x.yml', status: 'Success', attempts: 1 }, at(40)),
    ).rejects.toThrow(InvalidInputError);
    const result = {
      file: 'baseline.yml',
      status: 'Success' as const,
      attempts: 1,
      commandId: 'cmd-1',
      exitCode: 0,
      outputTail: 'ok=3',
    };
    // Two copies of the command's status event race: only the first records, while its command is active.
    const [first, duplicate] = await Promise.all([
      store.recordPlaybookResult('i-1', 1, 0, result, at(50), { activeCommandId: 'cmd-1' }),
      store.recordPlaybookResult('i-1', 1, 0, { ...result, outputTail: 'dup' }, at(51), {
        activeCommandId: 'cmd-1',
      }),
    ]);
    expect([first, duplicate].filter((r) => r.ok)).toHaveLength(1);
    const refused = [first, duplicate].find((r) => !r.ok);
    expect(refused).toMatchObject({ ok: false, currentGeneration: 1 });
    expect(!refused?.ok && refused?.message).toContain('cmd-1 is no longer the active command');
    const afterResult = await store.getInstance('i-1');
    expect(afterResult?.playbooks?.[0]).toMatchObject({ ...result, outputTail: expect.any(String) });
    expect(afterResult?.activeCommand).toBeUndefined();

    expect(await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp-1' }, at(60))).toEqual({
      ok: true,
    });
    const done = await store.getInstance('i-1');
    expect(done).toMatchObject({
      status: 'SUCCESS',
      generation: 1,
      lastSuccessFingerprint: 'fp-1',
      fingerprint: 'fp-1',
      lastRunAt: at(60).toISOString(),
    });
    expect(done?.leaseExpiresAt).toBeUndefined();
    // The generation's run is over: a second outcome for it is refused.
    const again = await store.recordOutcome('i-1', 1, { status: 'FAILED' }, at(70));
    expect(!again.ok && again.message).toContain('status is SUCCESS, not RUNNING');
  });

  it('a FAILED outcome keeps the last success fingerprint and stores the reason', async () => {
    await runningAt('i-1', 1);
    await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp-1' }, at(10));
    won(
      await store.claim('i-1', {
        reason: 'fingerprint-changed',
        leaseSeconds: 60,
        actor: ACTOR,
        now: at(20),
        expectedGeneration: 1,
      }),
    );

    await store.recordOutcome(
      'i-1',
      2,
      { status: 'FAILED', reason: 'nginx.yml failed', fingerprint: 'fp-2' },
      at(30),
    );

    expect(await store.getInstance('i-1')).toMatchObject({
      status: 'FAILED',
      reason: 'nginx.yml failed',
      lastSuccessFingerprint: 'fp-1',
      fingerprint: 'fp-2',
    });
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

describe('markOrphaned and markNotified', () => {
  it('orphans any status once, returning the generation; duplicates change nothing', async () => {
    const generation = await runningAt('i-1', 3);

    const first = await store.markOrphaned('i-1', 'terminated', 'detector', at(1000));
    const second = await store.markOrphaned('i-1', 'vanished', 'sweep', at(1001));
    const missing = await store.markOrphaned('i-404', 'terminated', 'detector', at(1000));

    expect(first).toEqual({ changed: true, generation });
    expect(second).toEqual({ changed: false });
    expect(missing).toEqual({ changed: false });
    const record = await store.getInstance('i-1');
    expect(record).toMatchObject({ status: 'ORPHANED', reason: 'terminated', generation });
    expect(record?.leaseExpiresAt).toBeUndefined();
    const orphaned = (await store.listHistory('i-1')).filter((e) => e.type === 'ORPHANED');
    expect(orphaned).toMatchObject([{ actor: 'detector', reason: 'terminated', generation }]);
  });

  it('markNotified is true once per (generation, status)', async () => {
    await runningAt('i-1', 1);

    const results = await Promise.all(
      Array.from({ length: 10 }, () => store.markNotified('i-1', 1, 'FAILED', at(10))),
    );
    const otherStatus = await store.markNotified('i-1', 1, 'ORPHANED', at(11));
    const missing = await store.markNotified('i-404', 1, 'FAILED', at(11));

    expect(results.filter(Boolean)).toHaveLength(1);
    expect(otherStatus).toBe(true);
    expect(missing).toBe(false);
    expect((await store.getInstance('i-1'))?.notifiedKey).toBe('1#ORPHANED');
  });
});

describe('history', () => {
  it('keeps events oldest first with a TTL of historyDays', async () => {
    const events = [3, 1, 2].map((minute) => ({
      instanceId: 'i-1',
      type: 'COMMAND_SENT' as const,
      at: at(minute * 60).toISOString(),
      actor: 'workflow:i-1-g1',
      generation: 1,
      details: { commandId: `cmd-${minute}` },
    }));
    for (const event of events) await store.appendHistory(event);
    // Same millisecond twice: both kept (the sequence suffix keeps keys unique).
    await store.appendHistory({ ...events[0], details: { commandId: 'cmd-3b' } } as (typeof events)[number]);

    const history = await store.listHistory('i-1');
    const firstTwo = await store.listHistory('i-1', { limit: 2 });

    expect(history.map((e) => e.details?.commandId)).toEqual(['cmd-1', 'cmd-2', 'cmd-3', 'cmd-3b']);
    expect(history[0]).toEqual(events[1]);
    expect(firstTwo.map((e) => e.details?.commandId)).toEqual(['cmd-1', 'cmd-2']);
  });

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
  it('listByStatus reads the status index, RUNNING by lease expiry', async () => {
    await runningAt('i-a', 1); // lease until T0+60
    await store.upsertDetection(facts('i-b'), { held: false, actor: ACTOR, now: T0 });
    won(
      await store.claim('i-b', {
        reason: 'new',
        leaseSeconds: 3600,
        actor: ACTOR,
        now: T0,
        expectedGeneration: 0,
      }),
    );
    await store.upsertDetection(facts('i-c'), { held: false, actor: ACTOR, now: T0 });
    await runningAt('i-d', 1);
    await store.recordOutcome('i-d', 1, { status: 'FAILED', reason: 'x' }, at(30));
    const counter = countCommands(table.doc);

    const running = await store.listByStatus('RUNNING');
    const expired = await store.listByStatus('RUNNING', { dueBefore: at(61) });
    const pending = await store.listByStatus('PENDING');
    const failed = await store.listByStatus('FAILED');

    expect(running.map((r) => r.instanceId)).toEqual(['i-a', 'i-b']);
    expect(expired.map((r) => r.instanceId)).toEqual(['i-a']);
    expect(pending.map((r) => r.instanceId)).toEqual(['i-c']);
    expect(failed).toMatchObject([{ instanceId: 'i-d', status: 'FAILED', reason: 'x', facts: facts('i-d') }]);
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
