// The sweep's waves (functions/sweep/rollout-wave.ts) on the in-memory store: the rollout planned once from
// what is due, lanes tried until they answer, canaries first and kept in their lane, instances outside the
// plan, the pause a refused claim writes, the global pause, and reapplyEvery's windows.
import { beforeEach, describe, expect, it } from 'vitest';
import type { RolloutSettings } from '../../functions/core/admission.js';
import { CANARY_LANE, DEFAULT_LANE } from '../../functions/core/rollout-plan.js';
import type { HostFacts, RulesBundle } from '../../functions/core/types.js';
import type { DebugLogger } from '../../functions/shared/logger.js';
import type { AdmissionRefusal } from '../../functions/shared/state-store-api.js';
import {
  claimWave,
  type DriftCandidate,
  driftClaims,
  emptyCounts,
  rolloutClaims,
  rolloutFor,
  type WaveCandidate,
  type WaveClaim,
  type WaveCounts,
  type WaveDeps,
} from '../../functions/sweep/rollout-wave.js';
import { FakeStateStore } from '../helpers/fake-store.js';
import { rule, rulesBundle } from '../helpers/rules-bundle.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:autoprov-provisioning';
const quiet: DebugLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const id = (n: number) => `i-0${n.toString(16).padStart(16, '0')}`;

function facts(instanceId: string, groups: string[] = []): HostFacts {
  return { instanceId, source: 'ec2', tags: {}, groups: ['all', ...groups], vars: {} };
}

const count = (value: number) => ({ kind: 'count', value }) as const;

function bundleWith(rollout: RolloutSettings, options: Partial<RulesBundle> = {}): RulesBundle {
  return { ...rulesBundle({ defaults: { rollout }, bundleHash: 'b'.repeat(64) }), ...options };
}

describe('rollout waves', () => {
  let store: FakeStateStore;
  let started: string[];
  let notified: unknown[];
  let clock: Date;

  beforeEach(() => {
    store = new FakeStateStore();
    started = [];
    notified = [];
    clock = T0;
  });

  function deps(bundle: RulesBundle): WaveDeps {
    return {
      store,
      sfn: {
        send: async (command: { input: { name?: string } }) => {
          started.push(command.input.name ?? '');
          return { executionArn: `arn:execution:${command.input.name}` };
        },
      } as unknown as WaveDeps['sfn'],
      lambda: {
        send: async (command: { input: { Payload?: Uint8Array } }) => {
          notified.push(JSON.parse(new TextDecoder().decode(command.input.Payload)));
          return { StatusCode: 202 };
        },
      } as unknown as WaveDeps['lambda'],
      notifierFunctionName: 'autoprov-notifier',
      stateMachineArn: STATE_MACHINE,
      leaseSeconds: 3600,
      actor: 'sweep',
      now: () => clock,
      logger: quiet,
      bundle,
    };
  }

  /** Instances whose last run succeeded (g1): due because the bundle changed. */
  function provisioned(ns: number[], groups: (n: number) => string[] = () => []): WaveCandidate[] {
    return ns.map((n) => {
      const instanceId = id(n);
      store.seed({
        instanceId,
        facts: facts(instanceId, groups(n)),
        status: 'SUCCESS',
        generation: 1,
        lastRunAt: T0.toISOString(),
        updatedAt: T0.toISOString(),
      });
      return { instanceId, expectedGeneration: 1, facts: facts(instanceId, groups(n)) };
    });
  }

  async function wave(d: WaveDeps, claims: readonly WaveClaim[]): Promise<WaveCounts> {
    const counts = emptyCounts();
    const closed = new Map<string, AdmissionRefusal>();
    for (const claim of claims) await claimWave(d, claim, closed, counts);
    return counts;
  }

  /** Records each RUNNING instance's outcome. */
  async function finish(ids: readonly string[], status: 'SUCCESS' | 'FAILED') {
    for (const instanceId of ids) {
      const record = store.peek(instanceId);
      if (record?.status !== 'RUNNING') continue;
      await store.recordOutcome(instanceId, record.generation, { status, reason: `${status} run` }, clock);
    }
  }

  it('plans the rollout once from what is due; a second sweep uses it as it is', async () => {
    // Arrange
    const d = deps(bundleWith({ maxConcurrent: count(3), maxErrors: count(1) }));
    const due = provisioned([1, 2, 3, 4, 5]);

    // Act
    const first = await rolloutFor(d, due);
    const second = await rolloutFor(d, due.slice(2));

    // Assert
    expect(first).toMatchObject({
      usable: true,
      created: true,
      rollout: { rolloutId: 'r-bbbbbbbbbbbb', due: 5 },
    });
    expect(first.rollout.lanes[DEFAULT_LANE]).toMatchObject({ total: 5, limit: 3, maxErrors: 1 });
    expect(first.rollout.change.summary).toBe('first rollout: 1 rule, 0 files');
    expect(second).toMatchObject({ usable: true, created: false, rollout: { rolloutId: 'r-bbbbbbbbbbbb' } });
    expect(store.calls.filter((call) => call === 'createRollout')).toHaveLength(1);
  });

  it('starts maxConcurrent, then stops trying the lane once it answers full', async () => {
    // Arrange
    const d = deps(bundleWith({ maxConcurrent: count(3), maxErrors: count(1) }));
    const due = provisioned([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const { rollout } = await rolloutFor(d, due);

    // Act
    const counts = await wave(d, rolloutClaims(rollout, due, d.bundle));

    // Assert: 3 won, 1 refused as full, the 6 others not even tried
    expect(counts).toEqual({ started: 3, outside: 0, lost: 0, held: { full: 7 } });
    expect(store.calls.filter((call) => call === 'claim')).toHaveLength(4);
    expect(started).toEqual([`${id(1)}-g2`, `${id(2)}-g2`, `${id(3)}-g2`]);
    expect(store.peek(id(4))).toMatchObject({ status: 'SUCCESS', generation: 1 });
  });

  it('the next wave starts as slots are released, and never starts an instance twice in the rollout', async () => {
    // Arrange
    const d = deps(bundleWith({ maxConcurrent: count(2), maxErrors: count(0) }));
    const due = provisioned([1, 2, 3, 4]);
    const { rollout } = await rolloutFor(d, due);
    await wave(d, rolloutClaims(rollout, due, d.bundle));
    await finish([id(1), id(2)], 'SUCCESS');

    // Act: the next sweep finds 3 and 4 still due
    const next = await wave(d, rolloutClaims(rollout, due.slice(2), d.bundle));
    const again = await wave(d, rolloutClaims(rollout, due.slice(0, 1), d.bundle));

    // Assert
    expect(next).toMatchObject({ started: 2, held: {} });
    expect(again).toMatchObject({ started: 0, lost: 1 });
    expect((await store.getRollout(rollout.rolloutId))?.lanes[DEFAULT_LANE]).toMatchObject({
      started: 4,
      inFlight: 2,
      succeeded: 2,
    });
  });

  it('canaries go first, in the canary lane; the other lanes wait until every canary succeeded', async () => {
    // Arrange
    const d = deps(bundleWith({ maxConcurrent: count(10), maxErrors: count(0), canary: { count: 2 } }));
    const due = provisioned([1, 2, 3, 4, 5]);
    const { rollout } = await rolloutFor(d, due);

    // Act
    const first = await wave(d, rolloutClaims(rollout, due, d.bundle));
    // The canaries are RUNNING, so no longer due: the lanes of the rest must not change.
    const waiting = await wave(d, rolloutClaims(rollout, due.slice(2), d.bundle));
    await finish([id(1), id(2)], 'SUCCESS');
    const after = await wave(d, rolloutClaims(rollout, due.slice(2), d.bundle));

    // Assert
    expect(rollout.canaries).toEqual([id(1), id(2)]);
    expect(first).toEqual({ started: 2, outside: 0, lost: 0, held: { 'canary-pending': 3 } });
    expect(waiting.held).toEqual({ 'canary-pending': 3 });
    expect(after).toMatchObject({ started: 3, held: {} });
    expect(store.history.filter((e) => e.type === 'CLAIMED').map((e) => e.details?.lane)).toEqual([
      CANARY_LANE,
      CANARY_LANE,
      DEFAULT_LANE,
      DEFAULT_LANE,
      DEFAULT_LANE,
    ]);
  });

  it('a lane that crosses its threshold pauses: the rest are held, and are started after a resume', async () => {
    // Arrange
    const d = deps(bundleWith({ maxConcurrent: count(2), maxErrors: count(0) }));
    const due = provisioned([1, 2, 3, 4]);
    const { rollout } = await rolloutFor(d, due);
    await wave(d, rolloutClaims(rollout, due, d.bundle));
    await finish([id(1), id(2)], 'FAILED');

    // Act
    const paused = await wave(d, rolloutClaims(rollout, due.slice(2), d.bundle));
    await store.resumeRollout(rollout.rolloutId, { actor: 'ops', now: clock });
    const resumed = await wave(d, rolloutClaims(rollout, due.slice(2), d.bundle));

    // Assert
    expect(paused).toEqual({ started: 0, outside: 0, lost: 0, held: { paused: 2 } });
    expect(resumed).toMatchObject({ started: 2, held: {} });
  });

  it('a claim that finds the lane past its threshold writes the pause and has the notifier told, once', async () => {
    // Arrange: the release that crossed the threshold died before its pause write
    const d = deps(bundleWith({ maxConcurrent: count(5), maxErrors: count(0) }));
    const due = provisioned([1, 2, 3]);
    const { rollout } = await rolloutFor(d, due);
    store.setPool(rollout.rolloutId, DEFAULT_LANE, { failed: 1 });

    // Act
    const counts = await wave(d, rolloutClaims(rollout, due, d.bundle));

    // Assert
    expect(counts.held).toEqual({ 'error-threshold': 3 });
    expect(notified).toEqual([{ kind: 'rollout-paused', rolloutId: rollout.rolloutId, lane: DEFAULT_LANE }]);
    expect((await store.getRollout(rollout.rolloutId))?.lanes[DEFAULT_LANE]?.state).toBe('PAUSED');
  });

  it('an instance due after the rollout was planned is claimed outside it, like a new instance', async () => {
    // Arrange
    const d = deps(bundleWith({ maxConcurrent: count(5), maxErrors: count(0) }));
    const planned = provisioned([1]);
    const { rollout } = await rolloutFor(d, planned);
    await wave(d, rolloutClaims(rollout, planned, d.bundle));
    const late = provisioned([2]);

    // Act
    const counts = await wave(d, rolloutClaims(rollout, late, d.bundle));

    // Assert
    expect(counts).toEqual({ started: 1, outside: 1, lost: 0, held: {} });
    expect(store.peek(id(2))).toMatchObject({ status: 'RUNNING', generation: 2 });
    expect(store.peek(id(2))?.rolloutId).toBeUndefined();
  });

  it('while the global pause is set nothing starts, and the wave stops at the first refusal', async () => {
    // Arrange
    const d = deps(bundleWith({ maxConcurrent: count(5), maxErrors: count(0) }));
    const due = provisioned([1, 2, 3]);
    const { rollout } = await rolloutFor(d, due);
    await store.setGlobalPause({ actor: 'ops', now: clock });

    // Act
    const counts = await wave(d, rolloutClaims(rollout, due, d.bundle));

    // Assert
    expect(counts).toEqual({ started: 0, outside: 0, lost: 0, held: { 'globally-paused': 3 } });
    expect(store.calls.filter((call) => call === 'claim')).toHaveLength(1);
  });

  it('a sweep with a stale bundle (its rollout superseded) starts nothing', async () => {
    // Arrange
    const old = deps(bundleWith({ maxConcurrent: count(5), maxErrors: count(0) }));
    const due = provisioned([1]);
    await rolloutFor(old, due);
    const newer = deps({ ...old.bundle, bundleHash: 'c'.repeat(64) });
    await rolloutFor(newer, due);

    // Act
    const stale = await rolloutFor(old, due);

    // Assert
    expect(stale).toMatchObject({
      usable: false,
      rollout: { rolloutId: 'r-bbbbbbbbbbbb', supersededBy: 'r-cccccccccccc' },
    });
  });
});

describe('reapplyEvery waves', () => {
  const HOUR = 3600;
  let store: FakeStateStore;

  beforeEach(() => {
    store = new FakeStateStore();
  });

  function bundle(drift: 'report' | 'correct'): RulesBundle {
    return rulesBundle({
      defaults: { rollout: { maxConcurrent: count(1), maxErrors: count(0) } },
      rules: [
        rule('baseline', ['baseline.yml']),
        rule('web', ['web.yml'], { groups: ['web'] }, { reapplyEverySeconds: 24 * HOUR, drift }),
      ],
    });
  }

  function settled(
    n: number,
    groups: string[],
    lastRunAt: Date,
    status: 'SUCCESS' | 'DRIFTED' = 'SUCCESS',
  ): DriftCandidate {
    const instanceId = id(n);
    store.seed({
      instanceId,
      facts: facts(instanceId, groups),
      status,
      generation: 1,
      lastRunAt: lastRunAt.toISOString(),
      updatedAt: lastRunAt.toISOString(),
    });
    return { instanceId, expectedGeneration: 1, facts: facts(instanceId, groups), status };
  }

  const depsAt = (b: RulesBundle, now: Date): WaveDeps =>
    ({
      store,
      bundle: b,
      actor: 'sweep',
      now: () => now,
      logger: quiet,
    }) as unknown as WaveDeps;

  it("finds the re-applies due (drift: report → drift-check) in the rule window's pool, beside the rollout", async () => {
    // Arrange
    const now = new Date(T0.getTime() + 30 * HOUR * 1000);
    const candidates = [
      settled(1, ['web'], T0),
      settled(2, ['web'], T0, 'DRIFTED'),
      settled(3, ['web'], new Date(now.getTime() - HOUR * 1000)),
      settled(4, [], T0),
    ];

    // Act
    const claims = await driftClaims(depsAt(bundle('report'), now), candidates);

    // Assert: 1 and 2 are due (24 h passed), 3 ran an hour ago, 4 has no reapplyEvery
    expect(claims.map((claim) => [claim.instanceId, claim.reason, claim.slot.lane])).toEqual([
      [id(1), 'drift-check', 'rule:web'],
      [id(2), 'drift-check', 'rule:web'],
    ]);
    const window = await store.getRollout(claims[0]?.slot.rolloutId ?? '');
    expect(window).toMatchObject({ kind: 'drift', due: 3, lanes: { 'rule:web': { total: 3, limit: 1 } } });
    expect(window?.rolloutId).toMatch(/^d-[0-9a-f]{12}$/);
    expect(await store.currentRollout()).toBeUndefined();
  });

  it('drift: correct re-applies; the same window is found again by a later sweep in it, a new one the next period', async () => {
    // Arrange
    const now = new Date(T0.getTime() + 30 * HOUR * 1000);
    const candidates = [settled(1, ['web'], T0)];

    // Act
    const first = await driftClaims(depsAt(bundle('correct'), now), candidates);
    const later = await driftClaims(depsAt(bundle('correct'), new Date(now.getTime() + 60_000)), candidates);
    const nextPeriod = await driftClaims(
      depsAt(bundle('correct'), new Date(now.getTime() + 24 * HOUR * 1000)),
      candidates,
    );

    // Assert
    expect(first.map((claim) => claim.reason)).toEqual(['reapply']);
    expect(later[0]?.slot).toEqual(first[0]?.slot);
    expect(nextPeriod[0]?.slot.rolloutId).not.toBe(first[0]?.slot.rolloutId);
  });

  it('reads nothing when no settled instance matches a rule with reapplyEvery', async () => {
    // Act
    const claims = await driftClaims(depsAt(bundle('correct'), T0), [settled(4, [], T0)]);

    // Assert
    expect(claims).toEqual([]);
    expect(store.calls).toEqual([]);
  });
});
