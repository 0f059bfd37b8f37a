// The contract of StateStoreApi, run over both implementations: the DynamoDB store on a fresh table in
// DynamoDB Local (AWS's own emulator: conditional writes, transactions, GSIs) and the in-memory
// FakeStateStore the handler unit tests use. Everything a handler can observe through the API is here:
// claims and their typed losses, the generation fence on every fenced write, leases, the active
// command's conditions, outcomes, orphaning, the once-only notification mark, history order and the
// queries, and rollouts: slot pools, their admission, release, threshold pause, canary gate, operator
// control, supersession and the global pause (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md).
// A fake that drifts from the store fails here, not silently in a handler test.
// DynamoDB-only concerns (item layout, call counts, TTL, index pagination, conflict retries) stay in
// state-store.test.ts.
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { openPool, type Pool, type RolloutSettings } from '../../functions/core/admission.js';
import { factsHash } from '../../functions/core/fingerprint.js';
import {
  type BundleChange,
  type BundleContents,
  bundleContents,
  CANARY_LANE,
  describeChange,
  type LanePlan,
  planRollout,
} from '../../functions/core/rollout-plan.js';
import type { HostFacts, PlannedPlaybook, Status } from '../../functions/core/types.js';
import { InvalidInputError } from '../../functions/shared/errors.js';
import type {
  ActiveCommand,
  ClaimReason,
  ClaimResult,
  FencedResult,
  HistoryEvent,
  OutcomeResult,
  SlotRelease,
  StateStoreApi,
} from '../../functions/shared/state-store-api.js';
import { LANE_SK_PREFIX, ROLLOUT_PK_PREFIX } from '../../functions/shared/table-schema.js';
import { createTestTable } from '../helpers/ddb.js';
import { FakeStateStore } from '../helpers/fake-store.js';

const T0 = new Date('2024-05-01T10:00:00.000Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
const ACTOR = 'test';
/** What createTestTable's store stamps on new records; the fake is given the same. */
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/**
 * A store, and a way to set a pool's fields as they are: the state a crash between a release and its pause
 * write leaves, which no sequence of API calls can produce.
 */
interface Harness {
  readonly store: StateStoreApi;
  readonly setPool: (rolloutId: string, lane: string, fields: Partial<Pool>) => Promise<void>;
}

const IMPLEMENTATIONS: readonly { name: string; create: () => Promise<Harness> }[] = [
  {
    name: 'StateStore on DynamoDB Local',
    create: async () => {
      const { store, doc, tableName } = await createTestTable({ historyDays: 30 });
      const setPool = async (rolloutId: string, lane: string, fields: Partial<Pool>) => {
        const entries = Object.entries(fields);
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: `${ROLLOUT_PK_PREFIX}${rolloutId}`, sk: `${LANE_SK_PREFIX}${lane}` },
            UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: Object.fromEntries(entries.map(([name], i) => [`#f${i}`, name])),
            ExpressionAttributeValues: Object.fromEntries(entries.map(([, value], i) => [`:v${i}`, value])),
          }),
        );
      };
      return { store, setPool };
    },
  },
  {
    name: 'FakeStateStore',
    create: async () => {
      const store = new FakeStateStore({ accountId: ACCOUNT, region: REGION });
      return { store, setPool: async (rolloutId, lane, fields) => store.setPool(rolloutId, lane, fields) };
    },
  },
];

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
const MATCH = { playbooks: [PLAYBOOK], matchedRules: ['baseline'], fingerprint: 'fp' };
const COMMAND: ActiveCommand = { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: 'tok-g1' };

function won(result: ClaimResult): Extract<ClaimResult, { won: true }> {
  if (!result.won) throw new Error(`expected a won claim, got: ${result.message}`);
  return result;
}

function lost(result: ClaimResult): Extract<ClaimResult, { won: false }> {
  if (result.won) throw new Error(`expected a lost claim, got g${result.generation}`);
  return result;
}

function refused(result: FencedResult): Extract<FencedResult, { ok: false }> {
  if (result.ok) throw new Error('expected a refused write, got ok');
  return result;
}

function released(result: OutcomeResult): SlotRelease {
  if (!result.ok) throw new Error(`expected a recorded outcome, got: ${result.message}`);
  if (!result.release) throw new Error('expected the outcome to release a rollout slot');
  return result.release;
}

/** A lane of a plan: `due` instances, limits as counts, its pool opened by core/admission.ts. */
function lane(due: number, maxConcurrent: number, maxErrors = 0): Pick<LanePlan, 'pool'> {
  const settings: RolloutSettings = {
    maxConcurrent: { kind: 'count', value: maxConcurrent },
    maxErrors: { kind: 'count', value: maxErrors },
  };
  return { pool: openPool(settings, due) };
}

/** What a bundle holds, and what it changed (the first rollout's change), as the sweep computes them. */
function bundle(bundleHash: string): { contents: BundleContents; change: BundleChange } {
  const contents = bundleContents({ defaults: {}, rules: [{ name: 'web' }] }, bundleHash, {
    'web.yml': `${bundleHash}-web`,
  });
  return { contents, change: describeChange(undefined, contents) };
}

/** A pool as openPool makes it, with `fields` changed. */
function pool(total: number, limit: number, maxErrors: number, fields: Partial<Pool> = {}): Pool {
  return {
    state: 'ROLLING',
    total,
    limit,
    maxErrors,
    inFlight: 0,
    started: 0,
    succeeded: 0,
    failed: 0,
    ...fields,
  };
}

describe.each(IMPLEMENTATIONS)('StateStoreApi contract: $name', ({ create }) => {
  let store: StateStoreApi;
  let setPool: Harness['setPool'];

  beforeEach(async () => {
    ({ store, setPool } = await create());
  });

  const claim = (
    instanceId: string,
    reason: ClaimReason,
    now: Date,
    expectedGeneration?: number,
    leaseSeconds = 60,
  ): Promise<ClaimResult> =>
    store.claim(instanceId, {
      reason,
      leaseSeconds,
      actor: ACTOR,
      now,
      ...(expectedGeneration === undefined ? {} : { expectedGeneration }),
    });

  /** A record at RUNNING generation `claims` (claimed that many times, leases expired in between). */
  async function runningAt(instanceId: string, claims: number): Promise<number> {
    await store.upsertDetection(facts(instanceId), { held: false, actor: ACTOR, now: T0 });
    let generation = 0;
    for (let i = 0; i < claims; i++) {
      generation = won(await claim(instanceId, 'new', at(i * 120), generation)).generation;
    }
    return generation;
  }

  const historyOf = async (instanceId: string, type?: HistoryEvent['type']) =>
    (await store.listHistory(instanceId)).filter((event) => type === undefined || event.type === type);

  describe('upsertDetection', () => {
    it('creates a PENDING record at generation 0, and a DETECTED event', async () => {
      const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });

      expect(result).toMatchObject({ written: true, created: true });
      expect(result.record).toEqual({
        instanceId: 'i-1',
        status: 'PENDING',
        source: 'ec2',
        facts: facts('i-1'),
        factsHash: factsHash(facts('i-1')),
        generation: 0,
        held: false,
        accountId: ACCOUNT,
        region: REGION,
        createdAt: T0.toISOString(),
        updatedAt: T0.toISOString(),
      });
      expect(await store.getInstance('i-1')).toEqual(result.record);
      expect(await store.listHistory('i-1')).toEqual([
        {
          instanceId: 'i-1',
          type: 'DETECTED',
          at: T0.toISOString(),
          actor: ACTOR,
          generation: 0,
          reason: 'new',
          details: { source: 'ec2', held: false },
        },
      ]);
    });

    it('writes nothing when facts, held flag and source are unchanged', async () => {
      const first = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });

      const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: at(60) });

      expect(result).toEqual({ record: first.record, written: false, created: false });
      expect(await store.getInstance('i-1')).toEqual(first.record);
      expect(await historyOf('i-1')).toHaveLength(1);
    });

    it('refreshes changed facts or held flag without touching status or generation', async () => {
      const generation = await runningAt('i-1', 2);
      const changed = facts('i-1', { vars: { ec2_instance_type: 't3.large' } });

      const first = await store.upsertDetection(changed, { held: false, actor: ACTOR, now: at(600) });
      const second = await store.upsertDetection(changed, { held: true, actor: ACTOR, now: at(700) });

      expect(first).toMatchObject({ written: true, created: false });
      expect(first.record).toMatchObject({ facts: changed, factsHash: factsHash(changed), held: false });
      expect(second).toMatchObject({ written: true, created: false });
      expect(second.record).toMatchObject({
        status: 'RUNNING',
        generation,
        held: true,
        facts: changed,
        executionName: `i-1-g${generation}`,
        createdAt: T0.toISOString(),
        updatedAt: at(700).toISOString(),
      });
      expect(await store.getInstance('i-1')).toEqual(second.record);
      const detected = await historyOf('i-1', 'DETECTED');
      expect(detected.map((e) => [e.reason, e.generation])).toEqual([
        ['new', 0],
        ['facts-changed', generation],
        ['held-changed', generation],
      ]);
    });

    it('revives an orphan that is detected again as PENDING, keeping its generation', async () => {
      const generation = await runningAt('i-1', 1);
      await store.markOrphaned('i-1', 'opted-out', ACTOR, at(300));

      const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: at(400) });

      expect(result.written).toBe(true);
      expect(result.record).toMatchObject({ status: 'PENDING', generation });
      expect(result.record.reason).toBeUndefined();
      expect(result.record.leaseExpiresAt).toBeUndefined();
      expect(await historyOf('i-1', 'DETECTED')).toContainEqual({
        instanceId: 'i-1',
        type: 'DETECTED',
        at: at(400).toISOString(),
        actor: ACTOR,
        generation,
        reason: 're-detected',
        details: { previousReason: 'opted-out' },
      });
      expect(won(await claim('i-1', 'pending', at(500), generation)).generation).toBe(generation + 1);
    });

    it('never revives a terminated instance', async () => {
      await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
      await store.markOrphaned('i-1', 'terminated', ACTOR, at(10));

      const result = await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: at(20) });

      expect(result).toMatchObject({ written: false, created: false });
      expect(result.record).toMatchObject({ status: 'ORPHANED', reason: 'terminated' });
    });

    it('concurrent first detections create one record', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 }),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await historyOf('i-1', 'DETECTED')).toHaveLength(1);
    });
  });

  describe('claim', () => {
    beforeEach(async () => {
      await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
    });

    it('moves PENDING to RUNNING with generation 1, a lease and the execution name', async () => {
      const result = await store.claim('i-1', {
        reason: 'new',
        leaseSeconds: 7200,
        actor: 'detector',
        now: at(5),
        expectedGeneration: 0,
      });

      expect(result).toEqual({
        won: true,
        generation: 1,
        executionName: 'i-1-g1',
        leaseExpiresAt: '2024-05-01T12:00:05.000Z',
      });
      expect(await store.getInstance('i-1')).toMatchObject({
        status: 'RUNNING',
        generation: 1,
        executionName: 'i-1-g1',
        leaseExpiresAt: '2024-05-01T12:00:05.000Z',
        updatedAt: at(5).toISOString(),
      });
      expect(await historyOf('i-1', 'CLAIMED')).toEqual([
        {
          instanceId: 'i-1',
          type: 'CLAIMED',
          at: at(5).toISOString(),
          actor: 'detector',
          generation: 1,
          reason: 'new',
          details: { executionName: 'i-1-g1', leaseExpiresAt: '2024-05-01T12:00:05.000Z' },
        },
      ]);
    });

    it('without an expected generation, claims from the generation it reads', async () => {
      const first = await claim('i-1', 'pending', T0);
      const second = await claim('i-1', 'pending', at(1));

      expect(won(first).generation).toBe(1);
      expect(lost(second)).toMatchObject({
        reason: 'not-eligible',
        currentStatus: 'RUNNING',
        currentGeneration: 1,
      });
      expect(lost(second).message).toContain('already claimed by g1');
    });

    it('a second claim while the lease runs loses with who holds it', async () => {
      won(await claim('i-1', 'new', T0, 0));

      const stale = await claim('i-1', 'new', at(1), 0);
      const fresh = await claim('i-1', 'lease-expired', at(59), 1);

      for (const loss of [stale, fresh]) {
        expect(loss).toMatchObject({
          won: false,
          reason: 'not-eligible',
          currentStatus: 'RUNNING',
          currentGeneration: 1,
        });
        expect(lost(loss).message).toBe(`i-1: already claimed by g1 (lease until ${at(60).toISOString()})`);
      }
      expect(await historyOf('i-1', 'CLAIMED')).toHaveLength(1);
    });

    it('reclaims a RUNNING record once its lease expired, from a clean slate', async () => {
      won(await claim('i-1', 'new', T0, 0));
      expect(await store.recordMatch('i-1', 1, MATCH, at(5))).toEqual({ ok: true });
      expect(await store.setActiveCommand('i-1', 1, COMMAND, at(10))).toEqual({ ok: true });

      // The lease ends at T0+60: at that instant it has expired.
      const result = won(await claim('i-1', 'lease-expired', at(60), 1));

      expect(result).toMatchObject({ generation: 2, executionName: 'i-1-g2' });
      const record = await store.getInstance('i-1');
      expect(record).toMatchObject({ status: 'RUNNING', generation: 2, fingerprint: 'fp' });
      // A new generation waits on nothing of the previous one, and shows none of its plan.
      expect(record?.activeCommand).toBeUndefined();
      expect(record?.playbooks).toBeUndefined();
      expect(record?.matchedRules).toBeUndefined();
    });

    it('a terminal record is claimable only for a re-provision reason', async () => {
      won(await claim('i-1', 'new', T0, 0));
      expect(await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp1' }, at(10))).toEqual({
        ok: true,
      });

      const plain = await claim('i-1', 'new', at(20), 1);
      const pending = await claim('i-1', 'pending', at(20), 1);
      const lease = await claim('i-1', 'lease-expired', at(20), 1);
      const reprovision = await claim('i-1', 'fingerprint-changed', at(20), 1);

      expect(plain).toEqual({
        won: false,
        reason: 'not-eligible',
        currentStatus: 'SUCCESS',
        currentGeneration: 1,
        message: "i-1: SUCCESS g1 is not claimable for reason 'new'",
      });
      expect(pending).toMatchObject({ won: false, reason: 'not-eligible' });
      expect(lease).toMatchObject({ won: false, reason: 'not-eligible' });
      expect(won(reprovision).generation).toBe(2);
    });

    it.each(['FAILED', 'PARTIAL', 'SKIPPED'] as const)(
      'an operator retry re-runs a %s record',
      async (status) => {
        won(await claim('i-1', 'new', T0, 0));
        await store.recordOutcome('i-1', 1, { status, reason: 'why' }, at(10));

        expect(lost(await claim('i-1', 'pending', at(20), 1)).reason).toBe('not-eligible');
        const retry = won(await claim('i-1', 'operator-retry', at(20), 1));

        expect(retry.generation).toBe(2);
        const record = await store.getInstance('i-1');
        expect(record).toMatchObject({ status: 'RUNNING', generation: 2 });
        expect(record?.reason).toBeUndefined();
      },
    );

    it('a stale expected generation loses even when the record is claimable', async () => {
      won(await claim('i-1', 'new', T0, 0));
      await store.recordOutcome('i-1', 1, { status: 'FAILED', reason: 'boom' }, at(10));

      const loss = await claim('i-1', 'operator-retry', at(20), 0);

      expect(loss).toEqual({
        won: false,
        reason: 'not-eligible',
        currentStatus: 'FAILED',
        currentGeneration: 1,
        message: 'i-1: expected g0 but the record is at g1 (FAILED)',
      });
    });

    it('a held record is claimed only by an operator retry', async () => {
      await store.upsertDetection(facts('i-1'), { held: true, actor: ACTOR, now: at(1) });

      const loss = await claim('i-1', 'pending', at(2), 0);
      const retry = await claim('i-1', 'operator-retry', at(3), 0);

      expect(loss).toEqual({
        won: false,
        reason: 'held',
        currentStatus: 'PENDING',
        currentGeneration: 0,
        message: 'i-1: is held (hold tag present); only operator-retry claims it',
      });
      expect(won(retry).generation).toBe(1);
    });

    it('an ORPHANED or missing record is never claimed', async () => {
      await store.markOrphaned('i-1', 'vanished', ACTOR, at(1));

      const orphan = await claim('i-1', 'operator-retry', at(2), 0);
      const missing = await claim('i-404', 'new', at(2), 0);
      const missingUnread = await claim('i-404', 'new', at(2));

      expect(orphan).toEqual({
        won: false,
        reason: 'orphaned',
        currentStatus: 'ORPHANED',
        currentGeneration: 0,
        message: 'i-1: is ORPHANED at g0; it must be re-detected first',
      });
      for (const loss of [missing, missingUnread]) {
        expect(loss).toEqual({ won: false, reason: 'missing', message: 'i-404 has no record to claim' });
      }
      expect(await store.getInstance('i-404')).toBeUndefined();
    });

    it('200 concurrent claims on one instance: exactly one winner, 199 typed losses', async () => {
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

      const losses = results.filter((r): r is Extract<ClaimResult, { won: false }> => !r.won);
      expect(results.filter((r) => r.won)).toHaveLength(1);
      expect(losses).toHaveLength(199);
      for (const loss of losses) {
        expect(loss).toMatchObject({
          reason: 'not-eligible',
          currentStatus: 'RUNNING',
          currentGeneration: 1,
        });
        expect(loss.message).toContain('already claimed by g1');
      }
      expect(await store.getInstance('i-1')).toMatchObject({ status: 'RUNNING', generation: 1 });
      expect(await historyOf('i-1', 'CLAIMED')).toHaveLength(1);
    });
  });

  describe('fenced writes', () => {
    const fencedOps: Record<string, (id: string, generation: number) => Promise<FencedResult>> = {
      extendLease: (id, g) => store.extendLease(id, g, 600, at(1000)),
      recordMatch: (id, g) =>
        store.recordMatch(id, g, { ...MATCH, matchedRules: ['stale'], fingerprint: 'stale' }, at(1000)),
      setActiveCommand: (id, g) =>
        store.setActiveCommand(id, g, { ...COMMAND, taskToken: 'stale' }, at(1000)),
      setActiveCommandId: (id, g) => store.setActiveCommandId(id, g, 'tok-g1', 'cmd-stale', at(1000)),
      clearActiveCommand: (id, g) => store.clearActiveCommand(id, g, 'cmd-g1', at(1000)),
      recordPlaybookResult: (id, g) =>
        store.recordPlaybookResult(
          id,
          g,
          0,
          { file: 'baseline.yml', status: 'Failed', attempts: 1 },
          at(1000),
          { activeCommandId: 'cmd-g1' },
        ),
      recordOutcome: (id, g) => store.recordOutcome(id, g, { status: 'FAILED', reason: 'stale' }, at(1000)),
    };
    const opNames = Object.keys(fencedOps);
    const op = (name: string) => {
      const fn = fencedOps[name];
      if (!fn) throw new Error(`no op ${name}`);
      return fn;
    };

    /** g1 ran far enough to have a plan and a sent command (every op's own condition holds at g1). */
    async function midRun(): Promise<void> {
      await runningAt('i-1', 1);
      expect(await store.recordMatch('i-1', 1, MATCH, at(5))).toEqual({ ok: true });
      expect(await store.setActiveCommand('i-1', 1, COMMAND, at(6))).toEqual({ ok: true });
      expect(await store.setActiveCommandId('i-1', 1, 'tok-g1', 'cmd-g1', at(7))).toEqual({ ok: true });
    }

    it.each(opNames)('%s on the current generation is applied', async (name) => {
      await midRun();

      expect(await op(name)('i-1', 1)).toEqual({ ok: true });
      expect((await store.getInstance('i-1'))?.updatedAt).toBe(at(1000).toISOString());
    });

    it.each(opNames)('%s on an old generation is rejected after a newer claim', async (name) => {
      await midRun();
      won(
        await store.claim('i-1', {
          reason: 'lease-expired',
          leaseSeconds: 7200,
          actor: 'sweep',
          now: at(120),
          expectedGeneration: 1,
        }),
      );
      const before = await store.getInstance('i-1');

      const result = refused(await op(name)('i-1', 1));

      expect(result).toEqual({
        ok: false,
        currentGeneration: 2,
        message: `${name}: fenced on g1 but the record is at g2 (RUNNING)`,
      });
      expect(await store.getInstance('i-1')).toEqual(before);
      expect(await historyOf('i-1', 'FENCE_REJECTED')).toEqual([
        {
          instanceId: 'i-1',
          type: 'FENCE_REJECTED',
          at: at(1000).toISOString(),
          actor: 'workflow:i-1-g1',
          generation: 1,
          reason: 'fenced on g1 but the record is at g2 (RUNNING)',
          details: { method: name, currentGeneration: 2 },
        },
      ]);
    });

    it.each(opNames)('%s on a generation the record has not reached is rejected', async (name) => {
      await midRun();
      const before = await store.getInstance('i-1');

      const result = refused(await op(name)('i-1', 2));

      expect(result).toEqual({
        ok: false,
        currentGeneration: 1,
        message: `${name}: fenced on g2 but the record is at g1 (RUNNING)`,
      });
      expect(await store.getInstance('i-1')).toEqual(before);
      expect(await historyOf('i-1', 'FENCE_REJECTED')).toMatchObject([
        { generation: 2, actor: 'workflow:i-1-g2', details: { method: name, currentGeneration: 1 } },
      ]);
    });

    it.each(opNames)('%s on the current generation of an ORPHANED record is rejected', async (name) => {
      await midRun();
      await store.markOrphaned('i-1', 'terminated', 'detector', at(8));
      const before = await store.getInstance('i-1');

      const result = refused(await op(name)('i-1', 1));

      expect(result).toEqual({
        ok: false,
        currentGeneration: 1,
        message: `${name}: status is ORPHANED, not RUNNING`,
      });
      expect(await store.getInstance('i-1')).toEqual(before);
      expect(await historyOf('i-1', 'FENCE_REJECTED')).toEqual([]);
    });

    it.each(opNames)('%s on a missing record is rejected without history', async (name) => {
      const result = await op(name)('i-404', 1);

      expect(result).toEqual({ ok: false, message: `${name}: i-404 has no record` });
      expect(await store.getInstance('i-404')).toBeUndefined();
      expect(await store.listHistory('i-404')).toEqual([]);
    });

    it('runs a whole generation: lease, match, command, command id, result, outcome', async () => {
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
      expect(await store.setActiveCommand('i-1', 1, { ...COMMAND, taskToken: token }, at(30))).toEqual({
        ok: true,
      });
      expect(await store.setActiveCommandId('i-1', 1, 'another-token', 'cmd-x', at(31))).toEqual({
        ok: false,
        currentGeneration: 1,
        message:
          'setActiveCommandId: the active command has another task token (a newer attempt replaced it)',
      });
      expect(await store.setActiveCommandId('i-1', 1, token, 'cmd-1', at(32))).toEqual({ ok: true });
      const midRunRecord = await store.getInstance('i-1');
      expect(midRunRecord).toMatchObject({
        leaseExpiresAt: at(3610).toISOString(),
        matchedRules: ['baseline', 'web'],
        fingerprint: 'fp-1',
        activeCommand: { ...COMMAND, taskToken: token, commandId: 'cmd-1', sentAt: at(32).toISOString() },
        playbooks: [
          { file: 'baseline.yml', status: 'Pending', attempts: 0 },
          { file: 'web.yml', status: 'Pending', attempts: 0 },
        ],
      });

      expect(
        await store.recordPlaybookResult(
          'i-1',
          1,
          2,
          { file: 'x.yml', status: 'Success', attempts: 1 },
          at(40),
        ),
      ).toEqual({
        ok: false,
        currentGeneration: 1,
        message: 'recordPlaybookResult: no planned playbook at index 2 (the plan has 2)',
      });
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
      expect([first, duplicate].find((r) => !r.ok)).toEqual({
        ok: false,
        currentGeneration: 1,
        message: 'recordPlaybookResult: command cmd-1 is no longer the active command (already recorded)',
      });
      const afterResult = await store.getInstance('i-1');
      expect(afterResult?.playbooks).toEqual([
        { ...result, outputTail: first.ok ? 'ok=3' : 'dup' },
        { file: 'web.yml', status: 'Pending', attempts: 0 },
      ]);
      expect(afterResult?.activeCommand).toBeUndefined();

      expect(await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp-1' }, at(60))).toEqual(
        {
          ok: true,
        },
      );
      const done = await store.getInstance('i-1');
      expect(done).toMatchObject({
        status: 'SUCCESS',
        generation: 1,
        lastSuccessFingerprint: 'fp-1',
        fingerprint: 'fp-1',
        lastRunAt: at(60).toISOString(),
        updatedAt: at(60).toISOString(),
      });
      expect(done?.leaseExpiresAt).toBeUndefined();
      expect(done?.reason).toBeUndefined();
      // The generation's run is over: a second outcome for it is refused.
      expect(await store.recordOutcome('i-1', 1, { status: 'FAILED' }, at(70))).toEqual({
        ok: false,
        currentGeneration: 1,
        message: 'recordOutcome: status is SUCCESS, not RUNNING',
      });
    });

    it('setActiveCommandId needs a stored command with its task token', async () => {
      await runningAt('i-1', 1);

      const result = await store.setActiveCommandId('i-1', 1, 'tok', 'cmd-1', at(10));

      expect(result).toEqual({
        ok: false,
        currentGeneration: 1,
        message: 'setActiveCommandId: no active command is stored (it was recorded or never set)',
      });
      expect((await store.getInstance('i-1'))?.activeCommand).toBeUndefined();
    });

    it('setActiveCommand replaces the command a previous attempt was waiting on', async () => {
      await midRun();
      const retry: ActiveCommand = { ...COMMAND, attempt: 2, taskToken: 'tok-2' };

      expect(await store.setActiveCommand('i-1', 1, retry, at(20))).toEqual({ ok: true });

      expect((await store.getInstance('i-1'))?.activeCommand).toEqual(retry);
      // The first attempt's late SendCommand answer cannot attach itself to the retry.
      expect(refused(await store.setActiveCommandId('i-1', 1, 'tok-g1', 'cmd-g1', at(21))).message).toContain(
        'another task token',
      );
    });

    it('clearActiveCommand clears only the command that is active, once', async () => {
      await midRun();

      const unsent = await store.clearActiveCommand('i-1', 1, 'cmd-other', at(10));
      const first = await store.clearActiveCommand('i-1', 1, 'cmd-g1', at(11));
      const duplicate = await store.clearActiveCommand('i-1', 1, 'cmd-g1', at(12));

      expect(unsent).toEqual({
        ok: false,
        currentGeneration: 1,
        message: 'clearActiveCommand: command cmd-other is no longer the active command (already recorded)',
      });
      expect(first).toEqual({ ok: true });
      expect(duplicate).toEqual({
        ok: false,
        currentGeneration: 1,
        message: 'clearActiveCommand: command cmd-g1 is no longer the active command (already recorded)',
      });
      expect(await store.getInstance('i-1')).toMatchObject({
        status: 'RUNNING',
        updatedAt: at(11).toISOString(),
      });
      expect((await store.getInstance('i-1'))?.activeCommand).toBeUndefined();
    });

    it('clearActiveCommand refuses a command whose id is not stored yet', async () => {
      await runningAt('i-1', 1);
      await store.setActiveCommand('i-1', 1, COMMAND, at(5));

      expect(refused(await store.clearActiveCommand('i-1', 1, 'cmd-1', at(6))).message).toContain(
        'cmd-1 is no longer the active command',
      );
      expect((await store.getInstance('i-1'))?.activeCommand).toEqual(COMMAND);
    });

    it("recordPlaybookResult with the command's id refuses once another command is active", async () => {
      await midRun();
      await store.setActiveCommand('i-1', 1, { ...COMMAND, attempt: 2, taskToken: 'tok-2' }, at(20));
      await store.setActiveCommandId('i-1', 1, 'tok-2', 'cmd-2', at(21));
      const before = await store.getInstance('i-1');

      const late = await store.recordPlaybookResult(
        'i-1',
        1,
        0,
        { file: 'baseline.yml', status: 'Failed', attempts: 1, commandId: 'cmd-g1' },
        at(30),
        { activeCommandId: 'cmd-g1' },
      );

      expect(late).toEqual({
        ok: false,
        currentGeneration: 1,
        message: 'recordPlaybookResult: command cmd-g1 is no longer the active command (already recorded)',
      });
      expect(await store.getInstance('i-1')).toEqual(before);
    });

    it('recordPlaybookResult without a command id records and clears whatever command is active', async () => {
      await midRun();

      const result = await store.recordPlaybookResult(
        'i-1',
        1,
        0,
        { file: 'baseline.yml', status: 'TimedOut', attempts: 3 },
        at(30),
      );

      expect(result).toEqual({ ok: true });
      const record = await store.getInstance('i-1');
      expect(record?.playbooks).toEqual([{ file: 'baseline.yml', status: 'TimedOut', attempts: 3 }]);
      expect(record?.activeCommand).toBeUndefined();
    });

    it("a new generation records nothing against the previous generation's plan", async () => {
      await runningAt('i-1', 1);
      await store.recordMatch('i-1', 1, MATCH, at(5));
      await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp' }, at(6));
      won(await claim('i-1', 'fingerprint-changed', at(100), 1));

      const early = await store.recordPlaybookResult(
        'i-1',
        2,
        0,
        { file: 'baseline.yml', status: 'Success', attempts: 1 },
        at(101),
      );
      await store.recordMatch('i-1', 2, { ...MATCH, fingerprint: 'fp-2' }, at(102));

      expect(early).toEqual({
        ok: false,
        currentGeneration: 2,
        message: 'recordPlaybookResult: no planned playbook at index 0 (the plan has 0)',
      });
      expect(await store.getInstance('i-1')).toMatchObject({
        generation: 2,
        playbooks: [{ file: 'baseline.yml', status: 'Pending', attempts: 0 }],
        matchedRules: ['baseline'],
        fingerprint: 'fp-2',
        lastSuccessFingerprint: 'fp',
      });
    });

    it('a FAILED outcome keeps the last success fingerprint and stores the reason', async () => {
      await runningAt('i-1', 1);
      await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp-1' }, at(10));
      won(await claim('i-1', 'fingerprint-changed', at(20), 1));

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

    it('recordOutcome refuses a status that is not a run outcome, changing nothing', async () => {
      await runningAt('i-1', 1);
      const before = await store.getInstance('i-1');

      for (const status of ['PENDING', 'RUNNING', 'ORPHANED'] as Status[]) {
        await expect(store.recordOutcome('i-1', 1, { status }, at(10))).rejects.toThrow(
          new InvalidInputError(
            `recordOutcome(i-1 g1): ${status} is not a run outcome; use one of SUCCESS, PARTIAL, FAILED, SKIPPED.`,
          ),
        );
      }
      expect(await store.getInstance('i-1')).toEqual(before);
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
      expect(record).toMatchObject({
        status: 'ORPHANED',
        reason: 'terminated',
        generation,
        updatedAt: at(1000).toISOString(),
      });
      expect(record?.leaseExpiresAt).toBeUndefined();
      expect(await historyOf('i-1', 'ORPHANED')).toEqual([
        {
          instanceId: 'i-1',
          type: 'ORPHANED',
          at: at(1000).toISOString(),
          actor: 'detector',
          generation,
          reason: 'terminated',
        },
      ]);
      expect(await store.getInstance('i-404')).toBeUndefined();
    });

    it.each(['PENDING', 'SUCCESS'] as const)('orphans a %s record', async (status) => {
      await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
      if (status === 'SUCCESS') {
        won(await claim('i-1', 'new', T0, 0));
        await store.recordOutcome('i-1', 1, { status: 'SUCCESS' }, at(1));
      }

      expect(await store.markOrphaned('i-1', 'opted-out', ACTOR, at(2))).toEqual({
        changed: true,
        generation: status === 'SUCCESS' ? 1 : 0,
      });
      expect((await store.getInstance('i-1'))?.status).toBe('ORPHANED');
    });

    it('markNotified is true once per (generation, status)', async () => {
      await runningAt('i-1', 1);

      const results = await Promise.all(
        Array.from({ length: 10 }, () => store.markNotified('i-1', 1, 'FAILED', at(10))),
      );
      const otherStatus = await store.markNotified('i-1', 1, 'ORPHANED', at(11));
      const otherGeneration = await store.markNotified('i-1', 2, 'ORPHANED', at(12));
      const missing = await store.markNotified('i-404', 1, 'FAILED', at(13));

      expect(results.filter(Boolean)).toHaveLength(1);
      expect(otherStatus).toBe(true);
      expect(otherGeneration).toBe(true);
      expect(missing).toBe(false);
      expect(await store.getInstance('i-1')).toMatchObject({
        notifiedKey: '2#ORPHANED',
        updatedAt: at(12).toISOString(),
      });
      expect(await store.getInstance('i-404')).toBeUndefined();
    });
  });

  describe('history', () => {
    it('keeps events oldest first, per instance', async () => {
      const events = [3, 1, 2].map((minute) => ({
        instanceId: 'i-1',
        type: 'COMMAND_SENT' as const,
        at: at(minute * 60).toISOString(),
        actor: 'workflow:i-1-g1',
        generation: 1,
        details: { commandId: `cmd-${minute}` },
      }));
      for (const event of events) await store.appendHistory(event);
      // Same millisecond twice: both kept, in the order written.
      await store.appendHistory({
        ...events[0],
        details: { commandId: 'cmd-3b' },
      } as (typeof events)[number]);
      await store.appendHistory({ ...events[0], instanceId: 'i-2' } as (typeof events)[number]);

      const history = await store.listHistory('i-1');
      const firstTwo = await store.listHistory('i-1', { limit: 2 });
      const lastTwo = await store.listHistory('i-1', { limit: 2, newest: true });

      expect(history.map((e) => e.details?.commandId)).toEqual(['cmd-1', 'cmd-2', 'cmd-3', 'cmd-3b']);
      expect(history[0]).toEqual(events[1]);
      expect(firstTwo.map((e) => e.details?.commandId)).toEqual(['cmd-1', 'cmd-2']);
      expect(lastTwo.map((e) => e.details?.commandId)).toEqual(['cmd-3', 'cmd-3b']);
      expect(await store.listHistory('i-2')).toHaveLength(1);
      expect(await store.listHistory('i-3')).toEqual([]);
    });

    it('audits exactly the moves the store decides: detection, claims, fence rejections', async () => {
      // Every refusal below is either a lost claim or a same-generation refusal (no history), except
      // the two writes fenced on a generation the record is not at.
      await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
      won(await claim('i-1', 'new', at(1)));
      lost(await claim('i-1', 'new', at(2)));
      expect(await store.recordMatch('i-1', 1, MATCH, at(3))).toEqual({ ok: true });
      refused(await store.recordMatch('i-1', 2, MATCH, at(4)));
      expect(await store.setActiveCommand('i-1', 1, COMMAND, at(5))).toEqual({ ok: true });
      refused(await store.setActiveCommandId('i-1', 1, 'other-token', 'c1', at(6)));
      expect(await store.setActiveCommandId('i-1', 1, 'tok-g1', 'c1', at(7))).toEqual({ ok: true });
      refused(
        await store.recordPlaybookResult(
          'i-1',
          1,
          1,
          { file: 'b.yml', status: 'Success', attempts: 1 },
          at(8),
        ),
      );
      expect(
        await store.recordPlaybookResult(
          'i-1',
          1,
          0,
          { file: 'baseline.yml', status: 'Success', attempts: 1 },
          at(9),
          { activeCommandId: 'c1' },
        ),
      ).toEqual({ ok: true });
      expect(await store.recordOutcome('i-1', 1, { status: 'SUCCESS', fingerprint: 'fp' }, at(10))).toEqual({
        ok: true,
      });
      refused(await store.recordOutcome('i-1', 1, { status: 'FAILED' }, at(11)));
      expect(await store.markNotified('i-1', 1, 'SUCCESS', at(12))).toBe(true);
      expect(await store.markNotified('i-1', 1, 'SUCCESS', at(13))).toBe(false);
      lost(await claim('i-1', 'new', at(14)));
      expect(won(await claim('i-1', 'fingerprint-changed', at(15))).generation).toBe(2);
      refused(await store.recordOutcome('i-1', 1, { status: 'FAILED' }, at(16)));

      expect((await store.listHistory('i-1')).map((e) => [e.type, e.generation, e.at])).toEqual([
        ['DETECTED', 0, T0.toISOString()],
        ['CLAIMED', 1, at(1).toISOString()],
        ['FENCE_REJECTED', 2, at(4).toISOString()],
        ['CLAIMED', 2, at(15).toISOString()],
        ['FENCE_REJECTED', 1, at(16).toISOString()],
      ]);
      const record = await store.getInstance('i-1');
      expect(record).toMatchObject({
        status: 'RUNNING',
        generation: 2,
        fingerprint: 'fp',
        lastSuccessFingerprint: 'fp',
        notifiedKey: '1#SUCCESS',
      });
      expect(record?.playbooks).toBeUndefined();
      expect(record?.activeCommand).toBeUndefined();
    });
  });

  describe('queries', () => {
    it('listByStatus returns full records of one status, by due time (RUNNING: lease expiry)', async () => {
      await store.upsertDetection(facts('i-b'), { held: false, actor: ACTOR, now: T0 });
      won(await claim('i-b', 'new', T0, 0, 3600)); // lease until T0+3600
      await runningAt('i-a', 1); // lease until T0+60
      await store.upsertDetection(facts('i-c'), { held: false, actor: ACTOR, now: at(5) });
      await store.upsertDetection(facts('i-e'), { held: false, actor: ACTOR, now: at(1) });
      await runningAt('i-d', 1);
      await store.recordMatch('i-d', 1, MATCH, at(20));
      await store.recordOutcome('i-d', 1, { status: 'FAILED', reason: 'x' }, at(30));
      await store.upsertDetection(facts('i-f'), { held: false, actor: ACTOR, now: T0 });
      await store.markOrphaned('i-f', 'vanished', ACTOR, at(40));

      const running = await store.listByStatus('RUNNING');
      const expired = await store.listByStatus('RUNNING', { dueBefore: at(60) });
      const pending = await store.listByStatus('PENDING');
      const pendingEarly = await store.listByStatus('PENDING', { dueBefore: at(2) });
      const failed = await store.listByStatus('FAILED');
      const orphaned = await store.listByStatus('ORPHANED');
      const succeeded = await store.listByStatus('SUCCESS');

      expect(running.map((r) => r.instanceId)).toEqual(['i-a', 'i-b']);
      expect(expired.map((r) => r.instanceId)).toEqual(['i-a']);
      expect(pending.map((r) => r.instanceId)).toEqual(['i-e', 'i-c']);
      expect(pendingEarly.map((r) => r.instanceId)).toEqual(['i-e']);
      expect(failed).toEqual([await store.getInstance('i-d')]);
      expect(failed[0]).toMatchObject({
        status: 'FAILED',
        reason: 'x',
        facts: facts('i-d'),
        playbooks: [{ file: 'baseline.yml', status: 'Pending', attempts: 0 }],
      });
      expect(orphaned.map((r) => r.instanceId)).toEqual(['i-f']);
      expect(succeeded).toEqual([]);
    });

    it('listByStatus follows an extended lease', async () => {
      await runningAt('i-1', 1); // lease until T0+60

      await store.extendLease('i-1', 1, 600, at(30)); // until T0+630

      expect(await store.listByStatus('RUNNING', { dueBefore: at(629) })).toEqual([]);
      expect((await store.listByStatus('RUNNING', { dueBefore: at(630) })).map((r) => r.instanceId)).toEqual([
        'i-1',
      ]);
    });

    it('listFleet returns compact entries by instance id; listAll the full records', async () => {
      for (const id of ['i-c', 'i-a', 'i-b']) {
        await store.upsertDetection(facts(id), { held: id === 'i-c', actor: ACTOR, now: T0 });
      }
      won(await claim('i-a', 'new', T0, 0));
      await store.recordMatch('i-a', 1, MATCH, at(1));
      await store.recordOutcome('i-a', 1, { status: 'SUCCESS', fingerprint: 'fp' }, at(2));
      won(await claim('i-b', 'new', T0, 0, 7200));

      const fleet = await store.listFleet();
      const all = await store.listAll();

      expect(fleet).toEqual([
        {
          instanceId: 'i-a',
          status: 'SUCCESS',
          source: 'ec2',
          generation: 1,
          factsHash: factsHash(facts('i-a')),
          held: false,
          executionName: 'i-a-g1',
          lastSuccessFingerprint: 'fp',
          fingerprint: 'fp',
        },
        {
          instanceId: 'i-b',
          status: 'RUNNING',
          source: 'ec2',
          generation: 1,
          factsHash: factsHash(facts('i-b')),
          held: false,
          leaseExpiresAt: at(7200).toISOString(),
          executionName: 'i-b-g1',
        },
        {
          instanceId: 'i-c',
          status: 'PENDING',
          source: 'ec2',
          generation: 0,
          factsHash: factsHash(facts('i-c')),
          held: true,
        },
      ]);
      expect(all).toEqual(
        await Promise.all(['i-a', 'i-b', 'i-c'].map(async (id) => await store.getInstance(id))),
      );
      expect(all[0]).toMatchObject({ facts: facts('i-a'), matchedRules: ['baseline'] });
    });

    it('an empty store lists nothing', async () => {
      expect(await store.listFleet()).toEqual([]);
      expect(await store.listAll()).toEqual([]);
      expect(await store.listByStatus('PENDING')).toEqual([]);
      expect(await store.getInstance('i-1')).toBeUndefined();
    });
  });

  describe('rollouts and admission', () => {
    const createRollout = (
      rolloutId: string,
      lanes: Readonly<Record<string, Pick<LanePlan, 'pool'>>>,
      now = T0,
    ) => {
      const due = Object.values(lanes).reduce((sum, { pool }) => sum + pool.total, 0);
      const plan = { rolloutId, bundleHash: `hash-${rolloutId}`, due, notes: [], lanes };
      return store.createRollout({ plan, ...bundle(plan.bundleHash), actor: ACTOR, now });
    };
    const rolloutClaim = (
      instanceId: string,
      rolloutId: string,
      laneName: string,
      now = at(10),
      reason: ClaimReason = 'fingerprint-changed',
    ): Promise<ClaimResult> =>
      store.claim(instanceId, {
        reason,
        leaseSeconds: 60,
        actor: ACTOR,
        now,
        admission: { rollout: { rolloutId, lane: laneName } },
      });
    const lanesOf = async (rolloutId: string) => (await store.getRollout(rolloutId))?.lanes;
    /** A release into lane `default` of rollout `r1` that did not pause it. */
    const releaseOf = (counted: SlotRelease['counted'], after: Pool): SlotRelease => ({
      rolloutId: 'r1',
      lane: 'default',
      counted,
      pool: after,
      pauses: false,
    });
    /** A claim admission refused in lane `default` of rollout `r1`, without its message. */
    const refusal = (reason: string) => ({ won: false, reason, rolloutId: 'r1', lane: 'default' });

    /** Instances whose first run succeeded (g1): a rollout re-provisions them ('fingerprint-changed'). */
    async function provisioned(...instanceIds: string[]): Promise<void> {
      for (const instanceId of instanceIds) {
        await store.upsertDetection(facts(instanceId), { held: false, actor: ACTOR, now: T0 });
        won(await claim(instanceId, 'new', T0, 0));
        expect(
          await store.recordOutcome(instanceId, 1, { status: 'SUCCESS', fingerprint: 'fp-0' }, at(1)),
        ).toEqual({ ok: true });
      }
    }

    it('createRollout writes the rollout and a pool per lane, and makes it current; the same id is returned as is', async () => {
      expect(await store.currentRollout()).toBeUndefined();

      const plan = planRollout({
        bundleHash: 'a'.repeat(64),
        due: Array.from({ length: 10 }, (_, i) => ({
          instanceId: `i-${i}`,
          groups: ['all'],
          rules: ['web'],
        })),
        rules: {
          defaults: {
            rollout: {
              maxConcurrent: { kind: 'count', value: 2 },
              maxErrors: { kind: 'percent', value: 10 },
              canary: { count: 2 },
            },
          },
          rules: [{ name: 'web' }],
        },
      });
      const created = await store.createRollout({
        plan,
        ...bundle(plan.bundleHash),
        actor: ACTOR,
        now: T0,
      });
      const again = await createRollout(plan.rolloutId, { default: lane(99, 9) }, at(50));

      const rollout = {
        rolloutId: 'r-aaaaaaaaaaaa',
        bundleHash: 'a'.repeat(64),
        due: 10,
        notes: [],
        ...bundle(plan.bundleHash),
        createdAt: T0.toISOString(),
        createdBy: ACTOR,
        // Canaries first, at the concurrency they had in their lane and no error allowed; the rest after.
        lanes: { [CANARY_LANE]: pool(2, 2, 0), default: pool(8, 2, 0) },
      };
      expect(created).toEqual({ created: true, rollout });
      expect(again).toEqual({ created: false, rollout, current: true });
      expect(await store.getRollout(plan.rolloutId)).toEqual(rollout);
      expect(await store.currentRollout()).toEqual(rollout);
      expect(await store.getRollout('r404')).toBeUndefined();
      // A lane with nothing due is done from the start; a plan without lanes still records its bundle.
      expect((await createRollout('r2', { default: lane(0, 1) })).rollout.lanes.default?.state).toBe('DONE');
      expect((await createRollout('r3', {})).rollout).toMatchObject({
        due: 0,
        lanes: {},
        previousRolloutId: 'r2',
      });
    });

    it('createRollout refuses a plan with more lanes than one transaction can create, writing nothing', async () => {
      const lanes = Object.fromEntries(Array.from({ length: 41 }, (_, i) => [`rule:${i}`, lane(1, 1)]));

      await expect(createRollout('r1', lanes)).rejects.toThrow(
        new InvalidInputError('createRollout(r1): 41 lanes; at most 40'),
      );
      expect(await store.getRollout('r1')).toBeUndefined();
      expect(await store.currentRollout()).toBeUndefined();
    });

    it('acquires slots up to the limit, then refuses with the pool that is full, leaving the record as it was', async () => {
      await provisioned('i-1', 'i-2', 'i-3');
      await createRollout('r1', { default: lane(5, 2) });

      const first = won(await rolloutClaim('i-1', 'r1', 'default'));
      won(await rolloutClaim('i-2', 'r1', 'default'));
      const before = await store.getInstance('i-3');
      const full = await rolloutClaim('i-3', 'r1', 'default');

      expect(first).toMatchObject({
        generation: 2,
        slot: { rolloutId: 'r1', lane: 'default', acquired: true },
      });
      const poolNow = pool(5, 2, 0, { inFlight: 2, started: 2 });
      expect(full).toEqual({
        ...refusal('full'),
        pool: poolNow,
        message:
          'i-3: rollout r1 lane default is full: 2/5 started, 2 running, 0 succeeded, 0 failed (pauses after 0), at most 2 at once — ROLLING',
      });
      expect(await store.getInstance('i-3')).toEqual(before);
      expect(await store.getInstance('i-1')).toMatchObject({
        status: 'RUNNING',
        rolloutId: 'r1',
        lane: 'default',
      });
      expect(await lanesOf('r1')).toEqual({ default: poolNow });
      expect((await historyOf('i-1', 'CLAIMED')).at(-1)?.details).toEqual({
        executionName: 'i-1-g2',
        leaseExpiresAt: at(70).toISOString(),
        rolloutId: 'r1',
        lane: 'default',
        acquired: true,
      });
    });

    it('concurrent claims never take more slots than the limit', async () => {
      const ids = Array.from({ length: 8 }, (_, i) => `i-${i + 1}`);
      await provisioned(...ids);
      await createRollout('r1', { default: lane(8, 3) });

      const results = await Promise.all(ids.map((id) => rolloutClaim(id, 'r1', 'default')));

      expect(results.filter((r) => r.won)).toHaveLength(3);
      expect(results.filter((r) => !r.won).map((r) => !r.won && r.reason)).toEqual(Array(5).fill('full'));
      expect((await lanesOf('r1'))?.default).toEqual(pool(8, 3, 0, { inFlight: 3, started: 3 }));
    });

    it('an instance is started at most once per rollout: its marker refuses a second start', async () => {
      await provisioned('i-1');
      await createRollout('r1', { default: lane(3, 3) });
      won(await rolloutClaim('i-1', 'r1', 'default'));
      released(await store.recordOutcome('i-1', 2, { status: 'SUCCESS', fingerprint: 'fp-1' }, at(20)));

      const again = await rolloutClaim('i-1', 'r1', 'default', at(30));

      expect(again).toEqual({
        ...refusal('already-started'),
        message: `i-1: was already started in rollout r1 (g2 at ${at(10).toISOString()}); an instance runs at most once per rollout`,
      });
      expect(await store.getInstance('i-1')).toMatchObject({ status: 'SUCCESS', generation: 2 });
      expect((await lanesOf('r1'))?.default).toMatchObject({ started: 1, inFlight: 0, succeeded: 1 });
    });

    it('an outcome releases the slot: counted as succeeded or failed, given back by the record; the last ends the pool DONE', async () => {
      await provisioned('i-1', 'i-2', 'i-3');
      await createRollout('r1', { default: lane(3, 3, 1) });
      for (const id of ['i-1', 'i-2', 'i-3']) won(await rolloutClaim(id, 'r1', 'default'));

      const success = released(
        await store.recordOutcome('i-1', 2, { status: 'SUCCESS', fingerprint: 'fp-1' }, at(20)),
      );
      const skipped = released(await store.recordOutcome('i-2', 2, { status: 'SKIPPED' }, at(21)));
      const partial = released(
        await store.recordOutcome('i-3', 2, { status: 'PARTIAL', reason: 'b.yml failed' }, at(22)),
      );

      expect(success).toEqual(
        releaseOf('succeeded', pool(3, 3, 1, { inFlight: 2, started: 3, succeeded: 1 })),
      );
      expect(skipped).toMatchObject({ counted: 'succeeded', pool: { inFlight: 1, succeeded: 2 } });
      expect(partial).toEqual(
        releaseOf('failed', pool(3, 3, 1, { state: 'DONE', started: 3, succeeded: 2, failed: 1 })),
      );
      const record = await store.getInstance('i-3');
      expect(record).toMatchObject({ status: 'PARTIAL', reason: 'b.yml failed' });
      expect(record?.rolloutId).toBeUndefined();
      expect(record?.lane).toBeUndefined();
      expect((await lanesOf('r1'))?.default).toEqual(partial.pool);
      // A run without a slot records its outcome as before, and releases nothing.
      won(await claim('i-3', 'operator-retry', at(30), 2));
      expect(await store.recordOutcome('i-3', 3, { status: 'SUCCESS' }, at(31))).toEqual({ ok: true });
      expect((await lanesOf('r1'))?.default).toEqual(partial.pool);
    });

    it('crossing the error threshold pauses the pool once: of two concurrent releases exactly one pauses', async () => {
      await provisioned('i-1', 'i-2', 'i-3', 'i-4');
      await createRollout('r1', { default: lane(4, 3) });
      for (const id of ['i-1', 'i-2', 'i-3']) won(await rolloutClaim(id, 'r1', 'default'));

      const releases = (
        await Promise.all(
          ['i-1', 'i-2'].map((id) =>
            store.recordOutcome(id, 2, { status: 'FAILED', reason: 'boom' }, at(20)),
          ),
        )
      ).map(released);
      const next = await rolloutClaim('i-4', 'r1', 'default', at(30));
      const last = released(await store.recordOutcome('i-3', 2, { status: 'FAILED' }, at(40)));

      expect(releases.filter((r) => r.pauses)).toHaveLength(1);
      expect(releases.find((r) => r.pauses)?.pool).toMatchObject({ state: 'PAUSED', started: 3 });
      expect(lost(next)).toMatchObject({ reason: 'paused', rolloutId: 'r1', lane: 'default' });
      expect(lost(next).pauses).toBeUndefined();
      expect(lost(next).message).toContain(
        'i-4: rollout r1 lane default is paused; autoprov rollout resume r1 (or abort)',
      );
      expect(last).toEqual(releaseOf('failed', pool(4, 3, 0, { state: 'PAUSED', started: 3, failed: 3 })));
      expect(await store.getInstance('i-4')).toMatchObject({ status: 'SUCCESS', generation: 1 });
    });

    it('admits nothing once failures pass the threshold, even before the pause is written; that refusal writes it', async () => {
      await provisioned('i-1', 'i-2', 'i-3');
      await createRollout('r1', { default: lane(3, 2) });
      won(await rolloutClaim('i-1', 'r1', 'default'));
      expect(released(await store.recordOutcome('i-1', 2, { status: 'FAILED' }, at(20))).pauses).toBe(true);
      // As if the release that crossed the threshold died before its pause write.
      await setPool('r1', 'default', { state: 'ROLLING' });

      const refusal = lost(await rolloutClaim('i-2', 'r1', 'default', at(30)));
      const after = lost(await rolloutClaim('i-3', 'r1', 'default', at(31)));

      expect(refusal).toMatchObject({
        reason: 'error-threshold',
        pauses: true,
        pool: pool(3, 2, 0, { state: 'PAUSED', started: 1, failed: 1 }),
      });
      expect(refusal.message).toBe(
        'i-2: rollout r1 lane default is past its error threshold: 1/3 started, 0 running, 0 succeeded, 1 failed (pauses after 0), at most 2 at once — PAUSED',
      );
      expect(after).toMatchObject({ reason: 'paused' });
      expect(after.pauses).toBeUndefined();
      expect((await lanesOf('r1'))?.default).toMatchObject({ state: 'PAUSED', started: 1 });
    });

    it('other lanes wait until every canary succeeded', async () => {
      await provisioned('i-c', 'i-1');
      await createRollout('r1', { [CANARY_LANE]: lane(1, 1), default: lane(1, 1) });

      const waiting = await rolloutClaim('i-1', 'r1', 'default');
      won(await rolloutClaim('i-c', 'r1', CANARY_LANE));
      const stillWaiting = await rolloutClaim('i-1', 'r1', 'default', at(11));
      released(await store.recordOutcome('i-c', 2, { status: 'SUCCESS' }, at(20)));
      const admitted = await rolloutClaim('i-1', 'r1', 'default', at(30));

      expect(waiting).toEqual({
        ...refusal('canary-pending'),
        message:
          'i-1: rollout r1 lane default waits until every canary succeeded (lane canary: 0/1 started, 0 running, 0 succeeded, 0 failed (pauses after 0), at most 1 at once — ROLLING)',
      });
      expect(lost(stillWaiting).reason).toBe('canary-pending');
      expect(won(admitted).slot).toEqual({ rolloutId: 'r1', lane: 'default', acquired: true });
      expect(await lanesOf('r1')).toEqual({
        [CANARY_LANE]: pool(1, 1, 0, { state: 'DONE', started: 1, succeeded: 1 }),
        default: pool(1, 1, 0, { inFlight: 1, started: 1 }),
      });
    });

    it('a failed canary keeps the other lanes waiting; a full lane behind the canary gate says canary-pending', async () => {
      await provisioned('i-c', 'i-1');
      await createRollout('r1', { [CANARY_LANE]: lane(1, 1), default: lane(1, 1) });
      won(await rolloutClaim('i-c', 'r1', CANARY_LANE));
      expect(released(await store.recordOutcome('i-c', 2, { status: 'FAILED' }, at(20))).pauses).toBe(true);
      await setPool('r1', 'default', { inFlight: 1 });

      const waiting = lost(await rolloutClaim('i-1', 'r1', 'default', at(30)));

      // core/admission.ts admit(): the canary gate comes before a full pool.
      expect(waiting).toMatchObject({ reason: 'canary-pending', pool: pool(1, 1, 0, { inFlight: 1 }) });
    });

    it('the global pause refuses every claim under admission, first provisioning included, and says why', async () => {
      await provisioned('i-1');
      await store.upsertDetection(facts('i-new'), { held: false, actor: ACTOR, now: T0 });
      await createRollout('r1', { default: lane(1, 1) });
      expect(await store.getGlobalPause()).toBeUndefined();

      const paused = await store.setGlobalPause({ actor: 'ops', now: at(5), reason: 'incident 42' });
      const pausedAgain = await store.setGlobalPause({ actor: 'other', now: at(6) });
      const first = await store.claim('i-new', {
        reason: 'new',
        leaseSeconds: 60,
        actor: ACTOR,
        now: at(10),
        admission: {},
      });
      const reprovision = await rolloutClaim('i-1', 'r1', 'default');

      const pause = { since: at(5).toISOString(), actor: 'ops', reason: 'incident 42' };
      expect(paused).toEqual({ changed: true, pause });
      expect(pausedAgain).toEqual({ changed: false, pause });
      expect(await store.getGlobalPause()).toEqual(pause);
      const message = `no claims while paused (autoprov pause by ops since ${at(5).toISOString()}: incident 42); autoprov resume lifts it`;
      expect(first).toEqual({ won: false, reason: 'globally-paused', message: `i-new: ${message}` });
      expect(reprovision).toEqual({ won: false, reason: 'globally-paused', message: `i-1: ${message}` });
      expect(await store.getInstance('i-new')).toMatchObject({ status: 'PENDING', generation: 0 });
      expect((await lanesOf('r1'))?.default).toEqual(pool(1, 1, 0));

      expect(await store.clearGlobalPause()).toEqual({ changed: true, pause });
      expect(await store.clearGlobalPause()).toEqual({ changed: false });
      expect(await store.getGlobalPause()).toBeUndefined();
      const firstAfter = won(
        await store.claim('i-new', {
          reason: 'new',
          leaseSeconds: 60,
          actor: ACTOR,
          now: at(20),
          admission: {},
        }),
      );
      expect(firstAfter.slot).toBeUndefined();
      expect(won(await rolloutClaim('i-1', 'r1', 'default', at(20))).slot?.acquired).toBe(true);
    });

    it('a claim without admission is the plain claim: no pause, no slot', async () => {
      await store.upsertDetection(facts('i-1'), { held: false, actor: ACTOR, now: T0 });
      await store.setGlobalPause({ actor: 'ops', now: T0 });

      expect(await claim('i-1', 'new', at(1), 0)).toEqual({
        won: true,
        generation: 1,
        executionName: 'i-1-g1',
        leaseExpiresAt: at(61).toISOString(),
      });
    });

    it('a reclaim after the lease expired keeps the slot the instance holds, in the same rollout or plain', async () => {
      await provisioned('i-1', 'i-2');
      await createRollout('r1', { default: lane(2, 1) });
      won(await rolloutClaim('i-1', 'r1', 'default', at(10))); // g2, lease until at(70)

      const reclaim = won(await rolloutClaim('i-1', 'r1', 'default', at(70), 'lease-expired'));
      const other = await rolloutClaim('i-2', 'r1', 'default', at(71));
      const plainReclaim = won(await claim('i-1', 'lease-expired', at(200), 3));
      const stale = await store.recordOutcome('i-1', 2, { status: 'FAILED' }, at(201));
      const outcome = released(await store.recordOutcome('i-1', 4, { status: 'SUCCESS' }, at(202)));

      expect(reclaim).toMatchObject({
        generation: 3,
        slot: { rolloutId: 'r1', lane: 'default', acquired: false },
      });
      expect(lost(other).reason).toBe('full');
      expect(plainReclaim.generation).toBe(4);
      expect(plainReclaim.slot).toBeUndefined();
      expect(stale).toEqual({
        ok: false,
        currentGeneration: 4,
        message: 'recordOutcome: fenced on g2 but the record is at g4 (RUNNING)',
      });
      expect(outcome.pool).toEqual(pool(2, 1, 0, { started: 1, succeeded: 1 }));
    });

    it('resume rolls a paused pool again, its threshold raised to failed + maxErrors', async () => {
      await provisioned('i-1', 'i-2', 'i-3');
      await createRollout('r1', { default: lane(5, 2, 1) });
      won(await rolloutClaim('i-1', 'r1', 'default'));
      won(await rolloutClaim('i-2', 'r1', 'default'));
      released(await store.recordOutcome('i-1', 2, { status: 'FAILED' }, at(20)));
      expect(released(await store.recordOutcome('i-2', 2, { status: 'FAILED' }, at(21))).pauses).toBe(true);

      const resumed = await store.resumeRollout('r1', { actor: 'ops', now: at(30) });
      const again = await store.resumeRollout('r1', { actor: 'ops', now: at(31) });

      expect(resumed?.changed).toEqual(['default']);
      expect(resumed?.rollout).toMatchObject({ resumedAt: at(30).toISOString(), resumedBy: 'ops' });
      expect(resumed?.rollout.lanes.default).toEqual(pool(5, 2, 3, { started: 2, failed: 2 }));
      expect(again?.changed).toEqual([]);
      expect(await store.resumeRollout('r404', { actor: 'ops', now: at(31) })).toBeUndefined();
      expect(won(await rolloutClaim('i-3', 'r1', 'default', at(40))).slot?.acquired).toBe(true);
    });

    it('pause and abort stop admission; runs in flight still release', async () => {
      await provisioned('i-1', 'i-2');
      await createRollout('r1', { default: lane(4, 2, 5) });
      won(await rolloutClaim('i-1', 'r1', 'default'));

      const paused = await store.pauseRollout('r1', { actor: 'ops', now: at(20) });
      const whilePaused = await rolloutClaim('i-2', 'r1', 'default', at(21));
      const aborted = await store.abortRollout('r1', { actor: 'ops', now: at(22) });
      const whileAborted = await rolloutClaim('i-2', 'r1', 'default', at(23));
      const outcome = released(await store.recordOutcome('i-1', 2, { status: 'SUCCESS' }, at(24)));
      const resumed = await store.resumeRollout('r1', { actor: 'ops', now: at(25) });

      expect(paused?.changed).toEqual(['default']);
      expect(paused?.rollout).toMatchObject({ pausedAt: at(20).toISOString(), pausedBy: 'ops' });
      expect(lost(whilePaused).reason).toBe('paused');
      expect(aborted?.changed).toEqual(['default']);
      expect(aborted?.rollout).toMatchObject({ abortedAt: at(22).toISOString(), abortedBy: 'ops' });
      expect(lost(whileAborted)).toMatchObject({ reason: 'aborted', pool: { state: 'ABORTED' } });
      expect(outcome).toEqual(
        releaseOf('succeeded', pool(4, 2, 5, { state: 'ABORTED', started: 1, succeeded: 1 })),
      );
      expect(resumed?.changed).toEqual([]);
      expect(await store.getInstance('i-2')).toMatchObject({ status: 'SUCCESS', generation: 1 });
    });

    it('a newer rollout supersedes an unfinished one: its pools stop admitting, its runs still release into it', async () => {
      await provisioned('i-1', 'i-2');
      await createRollout('r1', { default: lane(2, 1), [CANARY_LANE]: lane(0, 1) });
      won(await rolloutClaim('i-1', 'r1', 'default'));

      const created = await createRollout('r2', { default: lane(2, 2) }, at(20));
      const old = await rolloutClaim('i-2', 'r1', 'default', at(21));
      const unknownLane = await rolloutClaim('i-2', 'r2', 'web', at(21));
      const current = won(await rolloutClaim('i-2', 'r2', 'default', at(22)));
      const outcome = released(await store.recordOutcome('i-1', 2, { status: 'SUCCESS' }, at(23)));
      const recreated = await createRollout('r1', { default: lane(2, 1) }, at(24));

      expect(created).toMatchObject({
        created: true,
        superseded: 'r1',
        rollout: { previousRolloutId: 'r1' },
      });
      expect((await store.currentRollout())?.rolloutId).toBe('r2');
      const r1 = await store.getRollout('r1');
      expect(r1).toMatchObject({ supersededBy: 'r2', supersededAt: at(20).toISOString() });
      expect(r1?.lanes).toEqual({
        [CANARY_LANE]: pool(0, 1, 0, { state: 'DONE' }),
        default: pool(2, 1, 0, { state: 'ABORTED', started: 1, succeeded: 1 }),
      });
      expect(lost(old)).toMatchObject({ reason: 'superseded', rolloutId: 'r1', lane: 'default' });
      expect(lost(old).message).toContain('i-2: rollout r1 lane default was superseded by rollout r2');
      expect(unknownLane).toEqual({
        won: false,
        reason: 'no-rollout',
        rolloutId: 'r2',
        lane: 'web',
        message: 'i-2: rollout r2 has no lane web',
      });
      expect(current.slot).toEqual({ rolloutId: 'r2', lane: 'default', acquired: true });
      expect(outcome).toMatchObject({
        rolloutId: 'r1',
        pool: { state: 'ABORTED', inFlight: 0, succeeded: 1 },
      });
      expect(recreated).toMatchObject({
        created: false,
        current: false,
        rollout: { rolloutId: 'r1', supersededBy: 'r2' },
      });
    });

    it('the release that pauses a pool stamps pausedRollout on its instance; the failures are listed with their reasons', async () => {
      await provisioned('i-1', 'i-2', 'i-3');
      await createRollout('r1', { default: lane(3, 3, 1) });
      for (const id of ['i-1', 'i-2', 'i-3']) won(await rolloutClaim(id, 'r1', 'default'));

      const first = released(
        await store.recordOutcome('i-1', 2, { status: 'FAILED', reason: 'web.yml ended Failed' }, at(20)),
      );
      const second = released(
        await store.recordOutcome('i-2', 2, { status: 'PARTIAL', reason: 'b.yml ended TimedOut' }, at(21)),
      );
      const third = released(await store.recordOutcome('i-3', 2, { status: 'SUCCESS' }, at(22)));

      expect([first.pauses, second.pauses, third.pauses]).toEqual([false, true, false]);
      expect((await store.getInstance('i-1'))?.pausedRollout).toBeUndefined();
      expect((await store.getInstance('i-2'))?.pausedRollout).toEqual({
        rolloutId: 'r1',
        lane: 'default',
        generation: 2,
      });
      expect(await store.listRolloutFailures('r1', 'default')).toEqual([
        {
          instanceId: 'i-1',
          lane: 'default',
          outcome: 'FAILED',
          reason: 'web.yml ended Failed',
          endedAt: at(20).toISOString(),
        },
        {
          instanceId: 'i-2',
          lane: 'default',
          outcome: 'PARTIAL',
          reason: 'b.yml ended TimedOut',
          endedAt: at(21).toISOString(),
        },
      ]);
      expect(await store.listRolloutFailures('r1', 'web')).toEqual([]);
    });

    it('markPauseNotified is true once per pause: a resume raises maxErrors, so the next pause is told again', async () => {
      await provisioned('i-1');
      await createRollout('r1', { default: lane(2, 2, 0) });
      const seen = (await lanesOf('r1'))?.default as Pool;

      const firstMark = await store.markPauseNotified('r1', 'default', seen, at(10));
      const again = await store.markPauseNotified('r1', 'default', seen, at(11));
      const nextPause = await store.markPauseNotified('r1', 'default', { ...seen, maxErrors: 1 }, at(12));
      const noLane = await store.markPauseNotified('r1', 'web', seen, at(13));

      expect([firstMark, again, nextPause, noLane]).toEqual([true, false, true, false]);
    });

    it('orphaning a run that holds a slot releases it as failed, and can pause its pool', async () => {
      await provisioned('i-1', 'i-2');
      await createRollout('r1', { default: lane(2, 2, 0) });
      won(await rolloutClaim('i-1', 'r1', 'default'));

      const orphaned = await store.markOrphaned('i-1', 'terminated', ACTOR, at(20));
      const plain = await store.markOrphaned('i-2', 'vanished', ACTOR, at(21));
      const duplicate = await store.markOrphaned('i-1', 'terminated', ACTOR, at(22));

      expect(orphaned).toEqual({ changed: true, generation: 2 });
      expect(plain).toEqual({ changed: true, generation: 1 });
      expect(duplicate).toEqual({ changed: false });
      const record = await store.getInstance('i-1');
      expect(record).toMatchObject({ status: 'ORPHANED', reason: 'terminated' });
      expect(record?.rolloutId).toBeUndefined();
      expect(record?.pausedRollout).toEqual({ rolloutId: 'r1', lane: 'default', generation: 2 });
      expect((await lanesOf('r1'))?.default).toEqual(
        pool(2, 2, 0, { state: 'PAUSED', started: 1, failed: 1 }),
      );
      expect(await store.listRolloutFailures('r1')).toEqual([
        expect.objectContaining({ instanceId: 'i-1', outcome: 'ORPHANED', reason: 'orphaned: terminated' }),
      ]);
    });

    it('a drift window is created beside the current rollout: no pointer moved, nothing superseded', async () => {
      await provisioned('i-1');
      await createRollout('r1', { default: lane(2, 1) });
      const plan = {
        rolloutId: 'd-1',
        bundleHash: 'hash-r1',
        due: 1,
        notes: ['window'],
        lanes: { 'rule:web': lane(1, 1) },
      };

      const created = await store.createRollout({
        plan,
        ...bundle('hash-r1'),
        kind: 'drift',
        actor: ACTOR,
        now: at(5),
      });
      const again = await store.createRollout({
        plan,
        ...bundle('hash-r1'),
        kind: 'drift',
        actor: ACTOR,
        now: at(6),
      });
      const reapplied = won(await rolloutClaim('i-1', 'd-1', 'rule:web', at(7), 'reapply'));

      expect(created).toMatchObject({ created: true, rollout: { rolloutId: 'd-1', kind: 'drift' } });
      expect(again).toMatchObject({ created: false, current: false, rollout: { rolloutId: 'd-1' } });
      expect((await store.currentRollout())?.rolloutId).toBe('r1');
      expect((await store.getRollout('r1'))?.supersededBy).toBeUndefined();
      expect(reapplied.slot).toEqual({ rolloutId: 'd-1', lane: 'rule:web', acquired: true });
    });

    it('a drift-check claim marks the run checkRun; the next claim clears it; canaries are kept with the rollout', async () => {
      await provisioned('i-1');
      const plan = {
        rolloutId: 'r1',
        bundleHash: 'hash-r1',
        due: 1,
        notes: [],
        lanes: { default: lane(1, 1) },
      };
      const created = await store.createRollout({
        plan,
        ...bundle('hash-r1'),
        canaries: ['i-9'],
        actor: ACTOR,
        now: T0,
      });

      won(await claim('i-1', 'drift-check', at(10), 1));
      const checking = await store.getInstance('i-1');
      await store.recordOutcome('i-1', 2, { status: 'DRIFTED', reason: 'would change' }, at(11));
      won(await claim('i-1', 'reapply', at(12), 2));

      expect(created.rollout.canaries).toEqual(['i-9']);
      expect((await store.getRollout('r1'))?.canaries).toEqual(['i-9']);
      expect(checking?.checkRun).toBe(true);
      expect((await store.getInstance('i-1'))?.checkRun).toBeUndefined();
    });
  });
});
