import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { factsHash } from '../../functions/core/fingerprint.js';
import {
  CATEGORY_ORDER,
  decideInstance,
  fingerprintChanged,
  type KnownInstance,
  type Observation,
  observeEc2,
  observeSources,
  reconcile,
} from '../../functions/core/reconcile.js';
import {
  type Ec2InstanceShape,
  type HostFacts,
  type RulesBundle,
  STATUSES,
  type Status,
} from '../../functions/core/types.js';
import { rule, rulesBundle } from '../helpers/rules-bundle.js';

const NOW = new Date('2024-05-01T10:00:00.000Z');
const POLICY = { now: NOW, reapplyOnChange: true };
const BEFORE = '2024-05-01T09:59:59.999Z';
const AFTER = '2024-05-01T10:00:00.001Z';

const BUNDLE: RulesBundle = rulesBundle({
  inventories: ['inventory/onprem.ini'],
  rules: [rule('web', ['nginx.yml'], { groups: ['web'] })],
  inventoryHosts: [
    {
      name: 'legacy-1',
      instanceId: 'mi-0123456789abcdef0',
      groups: ['all', 'web'],
      vars: { env: 'prod' },
      inventory: 'inventory/onprem.ini',
    },
    {
      name: 'both-1',
      instanceId: 'i-00000000000000002',
      groups: ['all', 'db'],
      vars: { env: 'prod' },
      inventory: 'inventory/onprem.ini',
    },
  ],
});

function ec2(id: string, options: { tags?: Record<string, string>; state?: string } = {}): Ec2InstanceShape {
  const tags = options.tags ?? { 'autoprov:enabled': 'true' };
  return {
    InstanceId: id,
    InstanceType: 't3.micro',
    State: { Name: options.state ?? 'running' },
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

function observation(id: string, overrides: Partial<Observation> = {}): Observation {
  const facts: HostFacts = {
    instanceId: id,
    source: 'ec2',
    state: 'running',
    tags: {},
    groups: ['all'],
    vars: {},
  };
  return {
    facts,
    factsHash: factsHash(facts),
    held: false,
    fingerprint: 'fp-now',
    hasPlaybooks: true,
    runnable: true,
    ...overrides,
  };
}

function known(observed: Observation, overrides: Partial<KnownInstance> = {}): KnownInstance {
  return {
    instanceId: observed.facts.instanceId,
    status: 'SUCCESS',
    source: observed.facts.source,
    generation: 4,
    factsHash: observed.factsHash,
    held: observed.held,
    executionName: `${observed.facts.instanceId}-g4`,
    lastSuccessFingerprint: observed.fingerprint,
    fingerprint: observed.fingerprint,
    ...overrides,
  };
}

describe('decideInstance', () => {
  const o = observation('i-1');

  it('unseen → create and claim "new" at generation 0', () => {
    expect(decideInstance(o, undefined, POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'new',
      upsert: o,
      action: { kind: 'claim', reason: 'new', expectedGeneration: 0 },
    });
  });

  it('unseen but held → create only', () => {
    const held = observation('i-1', { held: true });
    expect(decideInstance(held, undefined, POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'held',
      upsert: held,
      action: { kind: 'none' },
    });
  });

  it('unseen but not running (stopped) → create only', () => {
    const stopped = observation('i-1', { runnable: false });
    expect(decideInstance(stopped, undefined, POLICY)).toMatchObject({
      category: 'new',
      upsert: stopped,
      action: { kind: 'none' },
    });
  });

  it('PENDING → claim "pending" at its generation, no write when facts agree', () => {
    expect(decideInstance(o, known(o, { status: 'PENDING', generation: 2 }), POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'due',
      action: { kind: 'claim', reason: 'pending', expectedGeneration: 2 },
    });
  });

  it('PENDING with changed facts → refresh and claim', () => {
    const plan = decideInstance(o, known(o, { status: 'PENDING', factsHash: 'old' }), POLICY);
    expect(plan).toMatchObject({ category: 'due', upsert: o, action: { kind: 'claim', reason: 'pending' } });
  });

  it('RUNNING with a live lease → nothing', () => {
    expect(decideInstance(o, known(o, { status: 'RUNNING', leaseExpiresAt: AFTER }), POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'steady',
      action: { kind: 'none' },
    });
  });

  it('RUNNING with an expired lease (boundary: expiry = now is expired) → check the execution', () => {
    for (const leaseExpiresAt of [BEFORE, NOW.toISOString()]) {
      expect(decideInstance(o, known(o, { status: 'RUNNING', leaseExpiresAt }), POLICY)).toEqual({
        instanceId: 'i-1',
        category: 'lease-expired',
        action: { kind: 'check-execution', generation: 4, executionName: 'i-1-g4' },
      });
    }
  });

  it('RUNNING without lease or execution name → reclaim directly', () => {
    const k = known(o, { status: 'RUNNING' });
    const { executionName: _drop, ...noName } = k;
    expect(decideInstance(o, noName, POLICY).action).toEqual({
      kind: 'claim',
      reason: 'lease-expired',
      expectedGeneration: 4,
    });
  });

  it('SUCCESS with the same fingerprint → steady; with a changed one → re-provision', () => {
    expect(decideInstance(o, known(o), POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'steady',
      action: { kind: 'none' },
    });
    expect(decideInstance(o, known(o, { lastSuccessFingerprint: 'fp-old' }), POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'reprovision',
      action: { kind: 'claim', reason: 'fingerprint-changed', expectedGeneration: 4 },
    });
  });

  it('a changed fingerprint is ignored when reapplyOnChange is off', () => {
    const plan = decideInstance(o, known(o, { lastSuccessFingerprint: 'fp-old' }), {
      now: NOW,
      reapplyOnChange: false,
    });
    expect(plan).toEqual({ instanceId: 'i-1', category: 'steady', action: { kind: 'none' } });
  });

  it('facts changed but fingerprint not → refresh only', () => {
    expect(decideInstance(o, known(o, { factsHash: 'old' }), POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'changed',
      upsert: o,
      action: { kind: 'none' },
    });
  });

  it('held flag or source change alone is a change', () => {
    expect(decideInstance(o, known(o, { held: true }), POLICY)).toMatchObject({
      category: 'changed',
      upsert: o,
    });
    expect(decideInstance(o, known(o, { source: 'inventory' }), POLICY)).toMatchObject({
      category: 'changed',
      upsert: o,
    });
  });

  it('held → never claimed, whatever the status', () => {
    const held = observation('i-1', { held: true });
    for (const status of STATUSES) {
      const plan = decideInstance(
        held,
        known(held, { status, lastSuccessFingerprint: 'fp-old', fingerprint: 'fp-old' }),
        POLICY,
      );
      expect(plan.category).toBe('held');
      expect(plan.action).toEqual({ kind: 'none' });
    }
  });

  it('not runnable (stopped) → never claimed, facts still refreshed', () => {
    const stopped = observation('i-1', { runnable: false });
    for (const status of ['PENDING', 'RUNNING', 'SUCCESS', 'FAILED'] as Status[]) {
      const plan = decideInstance(
        stopped,
        known(stopped, { status, factsHash: 'old', lastSuccessFingerprint: 'x' }),
        POLICY,
      );
      expect(plan).toMatchObject({ category: 'changed', upsert: stopped, action: { kind: 'none' } });
    }
  });

  it('ORPHANED and seen again → re-detect (revive) and claim "pending"', () => {
    expect(decideInstance(o, known(o, { status: 'ORPHANED', generation: 7 }), POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'revived',
      upsert: o,
      action: { kind: 'claim', reason: 'pending', expectedGeneration: 7 },
    });
  });

  it('in state but in no source → orphan "vanished"; already ORPHANED → nothing', () => {
    for (const status of STATUSES.filter((s) => s !== 'ORPHANED')) {
      expect(decideInstance(undefined, known(o, { status }), POLICY)).toEqual({
        instanceId: 'i-1',
        category: 'vanished',
        action: { kind: 'orphan', reason: 'vanished' },
      });
    }
    expect(decideInstance(undefined, known(o, { status: 'ORPHANED' }), POLICY)).toEqual({
      instanceId: 'i-1',
      category: 'steady',
      action: { kind: 'none' },
    });
  });

  it('refuses to decide about nothing', () => {
    expect(() => decideInstance(undefined, undefined, POLICY)).toThrow(TypeError);
  });
});

describe('fingerprintChanged', () => {
  const o = observation('i-1', { fingerprint: 'now' });
  const cases: [string, Partial<KnownInstance>, Partial<Observation>, boolean][] = [
    ['SUCCESS, same', { status: 'SUCCESS', lastSuccessFingerprint: 'now', fingerprint: 'now' }, {}, false],
    ['SUCCESS, changed', { status: 'SUCCESS', lastSuccessFingerprint: 'old', fingerprint: 'old' }, {}, true],
    [
      'SUCCESS, only run fingerprint known',
      { status: 'SUCCESS', lastSuccessFingerprint: undefined, fingerprint: 'old' },
      {},
      true,
    ],
    [
      'SUCCESS, nothing known',
      { status: 'SUCCESS', lastSuccessFingerprint: undefined, fingerprint: undefined },
      {},
      false,
    ],
    // A failing playbook is not re-run every sweep: the failed run's fingerprint is the baseline...
    [
      'FAILED, same as the failed run',
      { status: 'FAILED', lastSuccessFingerprint: 'older', fingerprint: 'now' },
      {},
      false,
    ],
    // ...but a fix to the rules or playbooks re-provisions it.
    [
      'FAILED, changed since the failed run',
      { status: 'FAILED', lastSuccessFingerprint: 'now', fingerprint: 'old' },
      {},
      true,
    ],
    [
      'FAILED before matching',
      { status: 'FAILED', lastSuccessFingerprint: undefined, fingerprint: undefined },
      {},
      false,
    ],
    ['PARTIAL, same', { status: 'PARTIAL', fingerprint: 'now' }, {}, false],
    ['PARTIAL, changed', { status: 'PARTIAL', fingerprint: 'old' }, {}, true],
    [
      'SKIPPED, still nothing to run',
      { status: 'SKIPPED', fingerprint: 'old' },
      { hasPlaybooks: false },
      false,
    ],
    [
      'SKIPPED, rules now select playbooks',
      { status: 'SKIPPED', fingerprint: 'old' },
      { hasPlaybooks: true },
      true,
    ],
    [
      'SKIPPED before matching, rules now select playbooks',
      { status: 'SKIPPED', fingerprint: undefined },
      { hasPlaybooks: true },
      true,
    ],
    ['PENDING', { status: 'PENDING', fingerprint: 'old' }, {}, false],
    ['RUNNING', { status: 'RUNNING', fingerprint: 'old' }, {}, false],
    ['ORPHANED', { status: 'ORPHANED', fingerprint: 'old' }, {}, false],
  ];
  it.each(cases)('%s', (_name, k, obs, expected) => {
    const observed = { ...o, ...obs };
    expect(fingerprintChanged(known(observed, k), observed)).toBe(expected);
  });
});

describe('observeSources', () => {
  it('takes opted-in EC2 instances (merged with their inventory host) plus the inventory-only hosts', () => {
    const instances = [
      ec2('i-00000000000000001', { tags: { 'autoprov:enabled': 'true', 'autoprov:groups': 'web' } }),
      ec2('i-00000000000000002'),
      ec2('i-00000000000000003', { tags: { 'autoprov:enabled': 'false' } }),
      ec2('i-00000000000000004', {
        tags: { 'autoprov:enabled': 'true', 'autoprov:hold': 'true' },
        state: 'stopped',
      }),
      ec2('i-00000000000000001'),
    ];

    const { observations, ec2: fromEc2, inventory } = observeSources(instances, BUNDLE);

    expect(fromEc2).toBe(3);
    expect(inventory).toBe(1);
    const byId = new Map(observations.map((o) => [o.facts.instanceId, o]));
    expect([...byId.keys()]).toEqual([
      'i-00000000000000001',
      'i-00000000000000002',
      'i-00000000000000004',
      'mi-0123456789abcdef0',
    ]);
    expect(byId.get('i-00000000000000001')).toMatchObject({
      hasPlaybooks: true,
      held: false,
      runnable: true,
      facts: { source: 'ec2' },
    });
    // Merged: EC2 facts plus the inventory's groups and vars.
    expect(byId.get('i-00000000000000002')?.facts).toMatchObject({
      source: 'ec2',
      groups: ['all', 'db'],
      vars: { env: 'prod' },
    });
    expect(byId.get('i-00000000000000002')?.hasPlaybooks).toBe(false);
    expect(byId.get('i-00000000000000004')).toMatchObject({ held: true, runnable: false });
    expect(byId.get('mi-0123456789abcdef0')).toMatchObject({
      hasPlaybooks: true,
      runnable: true,
      facts: { source: 'inventory', name: 'legacy-1' },
    });
  });

  it('an inventory host whose EC2 instance is not opted in is observed from the inventory alone', () => {
    const { observations } = observeSources([ec2('i-00000000000000002', { tags: {} })], BUNDLE);
    expect(observations.find((o) => o.facts.instanceId === 'i-00000000000000002')?.facts.source).toBe(
      'inventory',
    );
  });

  it('is what a detection of the same instance observes (same facts hash, same fingerprint)', () => {
    const instance = ec2('i-00000000000000002', { tags: { 'autoprov:enabled': 'true', Name: 'x' } });
    const swept = observeSources([instance], BUNDLE).observations[0];
    expect(observeEc2(instance, BUNDLE, BUNDLE.inventoryHosts[1])).toEqual(swept);
  });
});

describe('reconcile', () => {
  const a = observation('i-a');
  const b = observation('i-b');
  const c = observation('i-c');

  it('a steady fleet plans nothing', () => {
    const plan = reconcile(
      [a, b],
      [known(a), known(b, { status: 'RUNNING', leaseExpiresAt: AFTER })],
      POLICY,
    );
    expect(plan.plans).toEqual([]);
    expect(plan.counts.steady).toBe(2);
  });

  it('orders new before due, re-provisions and orphans, and counts every instance once', () => {
    const plan = reconcile(
      [a, b, c, observation('i-new')],
      [
        known(a, { lastSuccessFingerprint: 'old' }),
        known(b, { status: 'PENDING' }),
        known(c, { status: 'RUNNING', leaseExpiresAt: BEFORE }),
        known(observation('i-gone')),
        known(observation('i-dead'), { status: 'ORPHANED' }),
      ],
      POLICY,
    );
    expect(plan.plans.map((p) => [p.instanceId, p.category])).toEqual([
      ['i-new', 'new'],
      ['i-b', 'due'],
      ['i-c', 'lease-expired'],
      ['i-a', 'reprovision'],
      ['i-gone', 'vanished'],
    ]);
    expect(plan.counts).toEqual({
      new: 1,
      due: 1,
      revived: 0,
      'lease-expired': 1,
      reprovision: 1,
      vanished: 1,
      changed: 0,
      held: 0,
      steady: 1,
    });
  });

  it('a duplicate observation is decided once', () => {
    expect(reconcile([a, a], [], POLICY).plans).toHaveLength(1);
  });

  // Properties over random fleets: the invariants the sweep's correctness rests on.
  const statusArb = fc.constantFrom(...STATUSES);
  const entryArb = fc.record({
    id: fc.integer({ min: 0, max: 30 }),
    observed: fc.boolean(),
    known: fc.boolean(),
    status: statusArb,
    held: fc.boolean(),
    runnable: fc.boolean(),
    factsChanged: fc.boolean(),
    fingerprintChanged: fc.boolean(),
    leaseExpired: fc.boolean(),
  });

  it('invariants: held or stopped never claimed, orphans only for vanished, each instance once, ordered', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 40 }), fc.boolean(), (entries, reapplyOnChange) => {
        const observations: Observation[] = [];
        const fleet: KnownInstance[] = [];
        const seen = new Set<number>();
        for (const e of entries) {
          if (seen.has(e.id) || (!e.observed && !e.known)) continue;
          seen.add(e.id);
          const o = observation(`i-${e.id}`, { held: e.held, runnable: e.runnable });
          if (e.observed) observations.push(o);
          if (e.known) {
            fleet.push(
              known(o, {
                status: e.status,
                factsHash: e.factsChanged ? 'old' : o.factsHash,
                lastSuccessFingerprint: e.fingerprintChanged ? 'old' : o.fingerprint,
                fingerprint: e.fingerprintChanged ? 'old' : o.fingerprint,
                leaseExpiresAt: e.leaseExpired ? BEFORE : AFTER,
              }),
            );
          }
        }
        const plan = reconcile(observations, fleet, { now: NOW, reapplyOnChange });
        const observedById = new Map(observations.map((o) => [o.facts.instanceId, o]));
        const knownById = new Map(fleet.map((k) => [k.instanceId, k]));

        expect(Object.values(plan.counts).reduce((x, y) => x + y, 0)).toBe(seen.size);
        expect(new Set(plan.plans.map((p) => p.instanceId)).size).toBe(plan.plans.length);
        const ranks = plan.plans.map((p) => CATEGORY_ORDER.indexOf(p.category));
        expect(ranks).toEqual([...ranks].sort((x, y) => x - y));
        for (const p of plan.plans) {
          const o = observedById.get(p.instanceId);
          const k = knownById.get(p.instanceId);
          if (p.action.kind === 'claim' || p.action.kind === 'check-execution') {
            expect(o?.held).toBe(false);
            expect(o?.runnable).toBe(true);
          }
          if (p.action.kind === 'orphan') {
            expect(o).toBeUndefined();
            expect(k?.status).not.toBe('ORPHANED');
          }
          if (p.action.kind === 'claim' && p.action.reason === 'fingerprint-changed') {
            expect(reapplyOnChange).toBe(true);
            expect(['SUCCESS', 'PARTIAL', 'FAILED', 'SKIPPED', 'DRIFTED']).toContain(k?.status);
          }
          if (p.action.kind === 'claim') expect(p.action.expectedGeneration).toBe(k?.generation ?? 0);
          // Writes only where the state disagrees with the source.
          if (p.upsert)
            expect(k === undefined || k.status === 'ORPHANED' || k.factsHash !== o?.factsHash).toBe(true);
        }
        // Zero work exactly when everything agrees.
        for (const o of observations) {
          const k = knownById.get(o.facts.instanceId);
          const settled =
            k !== undefined &&
            k.factsHash === o.factsHash &&
            k.status !== 'ORPHANED' &&
            (o.held ||
              !o.runnable ||
              (k.status === 'RUNNING' && k.leaseExpiresAt === AFTER) ||
              (['SUCCESS', 'PARTIAL', 'FAILED', 'DRIFTED'].includes(k.status) &&
                (!reapplyOnChange || k.fingerprint === o.fingerprint)) ||
              (k.status === 'SKIPPED' && (!reapplyOnChange || k.fingerprint === o.fingerprint)));
          if (settled) expect(plan.plans.find((p) => p.instanceId === o.facts.instanceId)).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });
});
