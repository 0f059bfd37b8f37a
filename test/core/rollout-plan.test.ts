import { describe, expect, it } from 'vitest';
import { admit, DEFAULT_ROLLOUT, type RolloutSettings, release } from '../../functions/core/admission.js';
import {
  bundleContents,
  CANARY_LANE,
  DEFAULT_LANE,
  type DueInstance,
  describeChange,
  driftDue,
  laneOf,
  planRollout,
  RolloutPlanError,
  type RolloutRules,
  rolloutId,
  ruleLane,
} from '../../functions/core/rollout-plan.js';
import { parseRules } from '../../functions/core/rules.js';
import { playbooksDir } from '../helpers/paths.js';

const HASH = 'ABCDEF0123456789'.toLowerCase().repeat(4);

const count = (value: number) => ({ kind: 'count', value }) as const;
const percent = (value: number) => ({ kind: 'percent', value }) as const;

/** `n` due instances i-000…, matching `rules`, in `groups`. */
function fleet(n: number, rules: string[] = ['base'], groups: string[] = ['all'], from = 0): DueInstance[] {
  return Array.from({ length: n }, (_, k) => ({
    instanceId: `i-${String(from + k).padStart(17, '0')}`,
    groups,
    rules,
  }));
}

const rulesOf = (defaults?: RolloutSettings, ...rules: { name: string; rollout?: RolloutSettings }[]) =>
  ({ defaults: defaults ? { rollout: defaults } : {}, rules }) satisfies RolloutRules;

describe('rolloutId', () => {
  it('is r- and the first 12 hex digits of the bundle hash, the same for the same bundle', () => {
    expect(rolloutId(HASH)).toBe('r-abcdef012345');
    expect(rolloutId(HASH.toUpperCase())).toBe('r-abcdef012345');
    expect(rolloutId('0123456789ab')).toBe('r-0123456789ab');
  });

  it.each(['', 'abc', '0123456789a', 'xyz0123456789ab', ' 0123456789ab'])('refuses %j', (hash) => {
    expect(() => rolloutId(hash)).toThrow(RolloutPlanError);
    expect(() => rolloutId(hash)).toThrow(/is not a content hash \(at least 12 hex digits/);
  });
});

describe('laneOf', () => {
  const rules = rulesOf(
    undefined,
    { name: 'base' },
    { name: 'db', rollout: DEFAULT_ROLLOUT },
    { name: 'web', rollout: DEFAULT_ROLLOUT },
    { name: 'default', rollout: DEFAULT_ROLLOUT },
  );

  it('is the lane of the first rule, in rule order, that matched and sets rollout', () => {
    expect(laneOf(['base', 'web', 'db'], rules)).toBe('rule:db');
    expect(laneOf(['web', 'base'], rules)).toBe('rule:web');
  });

  it('is the default lane when no matched rule sets rollout, or nothing matched', () => {
    expect(laneOf(['base'], rules)).toBe(DEFAULT_LANE);
    expect(laneOf([], rules)).toBe(DEFAULT_LANE);
    expect(laneOf(['gone'], rules)).toBe(DEFAULT_LANE);
  });

  it('keeps a rule named default apart from the default lane', () => {
    expect(laneOf(['default'], rules)).toBe('rule:default');
    expect(ruleLane('canary')).not.toBe(CANARY_LANE);
  });
});

describe('planRollout', () => {
  it('plans nothing for 0 due instances', () => {
    expect(planRollout({ bundleHash: HASH, due: [], rules: rulesOf() })).toEqual({
      rolloutId: 'r-abcdef012345',
      bundleHash: HASH,
      due: 0,
      lanes: {},
      assignments: {},
      notes: [],
    });
  });

  it('puts every instance in the default lane under DEFAULT_ROLLOUT: a tenth at a time, first failure pauses', () => {
    const due = fleet(200).reverse();
    const plan = planRollout({ bundleHash: HASH, due, rules: rulesOf() });

    expect(Object.keys(plan.lanes)).toEqual([DEFAULT_LANE]);
    const lane = plan.lanes[DEFAULT_LANE];
    expect(lane?.settings).toEqual(DEFAULT_ROLLOUT);
    expect(lane?.pool).toMatchObject({ state: 'ROLLING', total: 200, limit: 20, maxErrors: 0, started: 0 });
    expect(lane?.instanceIds).toEqual(due.map((i) => i.instanceId).sort());
    expect(lane?.waitsForCanary).toBe(false);
    expect(Object.values(plan.assignments)).toEqual(Array(200).fill(DEFAULT_LANE));
    expect(plan.due).toBe(200);
  });

  it.each([
    // maxConcurrent, maxErrors, due → limit, maxErrors
    [percent(25), percent(15), 10, 2, 1],
    [percent(33), percent(33), 3, 1, 0],
    [percent(10), percent(0), 1, 1, 0],
    [percent(100), percent(100), 7, 7, 7],
    [percent(12.5), percent(2.5), 1000, 125, 25],
    [count(50), count(3), 5, 50, 3],
  ])(
    'resolves %j / %j of %i due to %i at once and %i errors',
    (maxConcurrent, maxErrors, n, limit, errors) => {
      const plan = planRollout({
        bundleHash: HASH,
        due: fleet(n),
        rules: rulesOf({ maxConcurrent, maxErrors }),
      });

      expect(plan.lanes[DEFAULT_LANE]?.pool).toMatchObject({ total: n, limit, maxErrors: errors });
    },
  );

  it('gives each rule lane its own pool, percentages of its own instances', () => {
    const rules = rulesOf(
      { maxConcurrent: percent(50), maxErrors: count(1) },
      { name: 'base' },
      { name: 'web', rollout: { maxConcurrent: count(2), maxErrors: percent(10) } },
    );
    const due = [...fleet(4, ['base']), ...fleet(30, ['base', 'web'], ['all', 'webservers'], 100)];
    const plan = planRollout({ bundleHash: HASH, due, rules });

    expect(Object.keys(plan.lanes)).toEqual(['rule:web', DEFAULT_LANE]);
    expect(plan.lanes['rule:web']?.pool).toMatchObject({ total: 30, limit: 2, maxErrors: 3 });
    expect(plan.lanes[DEFAULT_LANE]?.pool).toMatchObject({ total: 4, limit: 2, maxErrors: 1 });
    expect(plan.assignments[due[0]?.instanceId ?? '']).toBe(DEFAULT_LANE);
    expect(plan.assignments[due[4]?.instanceId ?? '']).toBe('rule:web');
  });

  it('makes the first `count` due instances by instance id canaries, which every other lane waits for', () => {
    const settings = { maxConcurrent: percent(40), maxErrors: count(2), canary: { count: 2 } };
    const due = fleet(5).reverse();
    const plan = planRollout({ bundleHash: HASH, due, rules: rulesOf(settings) });
    const ids = due.map((i) => i.instanceId).sort();

    expect(Object.keys(plan.lanes)).toEqual([CANARY_LANE, DEFAULT_LANE]);
    expect(plan.lanes[CANARY_LANE]).toEqual({
      // 40% of the default lane's 5 due instances: 2 at once; the first failed canary pauses.
      settings: { maxConcurrent: count(2), maxErrors: count(0) },
      pool: expect.objectContaining({ state: 'ROLLING', total: 2, limit: 2, maxErrors: 0 }),
      instanceIds: ids.slice(0, 2),
      waitsForCanary: false,
      from: [DEFAULT_LANE],
    });
    expect(plan.lanes[DEFAULT_LANE]).toMatchObject({
      settings,
      instanceIds: ids.slice(2),
      waitsForCanary: true,
      pool: { total: 3, limit: 1, maxErrors: 2 },
    });
    expect(plan.assignments[ids[0] ?? '']).toBe(CANARY_LANE);
    expect(plan.assignments[ids[4] ?? '']).toBe(DEFAULT_LANE);
  });

  it('admits the other lanes only once every canary succeeded, and a failed canary pauses its lane', () => {
    const plan = planRollout({
      bundleHash: HASH,
      due: fleet(10),
      rules: rulesOf({ ...DEFAULT_ROLLOUT, canary: { count: 1 } }),
    });
    const canary = plan.lanes[CANARY_LANE]?.pool;
    const rest = plan.lanes[DEFAULT_LANE]?.pool;
    if (!canary || !rest) throw new Error('expected a canary and a default lane');

    expect(admit(rest, { canary })).toEqual({ admit: false, reason: 'canary-pending' });
    expect(admit(canary)).toEqual({ admit: true });
    expect(release({ ...canary, inFlight: 1, started: 1 }, 'failed')).toMatchObject({ pauses: true });
    const done = release({ ...canary, inFlight: 1, started: 1 }, 'succeeded').pool;
    expect(admit(rest, { canary: done })).toEqual({ admit: true });
  });

  it('makes every due instance a canary when the count is larger than the lane, and says so', () => {
    const plan = planRollout({
      bundleHash: HASH,
      due: fleet(3),
      rules: rulesOf({ ...DEFAULT_ROLLOUT, canary: { count: 10 } }),
    });

    expect(Object.keys(plan.lanes)).toEqual([CANARY_LANE]);
    expect(plan.lanes[CANARY_LANE]?.pool).toMatchObject({ total: 3, limit: 1 });
    expect(plan.notes).toEqual(['lane default: every due instance (3) is a canary']);
  });

  it('takes the due instances in the canary groups, and starts without a canary when none is due', () => {
    const settings = { ...DEFAULT_ROLLOUT, canary: { groups: ['canary', 'pilot'] } };
    const due = [
      ...fleet(4),
      ...fleet(1, ['base'], ['all', 'pilot'], 50),
      ...fleet(1, ['base'], ['canary'], 60),
    ];
    const plan = planRollout({ bundleHash: HASH, due, rules: rulesOf(settings) });

    expect(plan.lanes[CANARY_LANE]?.instanceIds).toEqual([due[4]?.instanceId, due[5]?.instanceId]);
    expect(plan.lanes[DEFAULT_LANE]?.instanceIds).toHaveLength(4);

    const none = planRollout({ bundleHash: HASH, due: fleet(4), rules: rulesOf(settings) });
    expect(Object.keys(none.lanes)).toEqual([DEFAULT_LANE]);
    expect(none.lanes[DEFAULT_LANE]?.waitsForCanary).toBe(false);
    expect(none.notes).toEqual([
      'lane default: none of its 4 due instances is in the canary groups (canary, pilot): it starts without a canary',
    ]);
  });

  it('picks canaries per lane into one canary lane, at the smallest concurrency of the lanes they come from', () => {
    const rules = rulesOf(
      { maxConcurrent: count(10), maxErrors: count(0), canary: { count: 1 } },
      { name: 'base' },
      { name: 'web', rollout: { maxConcurrent: percent(10), maxErrors: count(0), canary: { count: 2 } } },
      { name: 'db', rollout: { maxConcurrent: count(1), maxErrors: count(0) } },
    );
    const due = [
      ...fleet(20, ['base']),
      ...fleet(40, ['base', 'web'], ['all'], 100),
      ...fleet(5, ['db'], ['all'], 200),
    ];
    const plan = planRollout({ bundleHash: HASH, due, rules });

    expect(Object.keys(plan.lanes)).toEqual([CANARY_LANE, 'rule:web', 'rule:db', DEFAULT_LANE]);
    // web: 10% of 40 = 4 at once; default: 10. The canary lane runs 4 at once.
    expect(plan.lanes[CANARY_LANE]).toMatchObject({
      settings: { maxConcurrent: count(4), maxErrors: count(0) },
      instanceIds: [due[20]?.instanceId, due[21]?.instanceId, due[0]?.instanceId].sort(),
      from: ['rule:web', DEFAULT_LANE],
    });
    expect(plan.lanes['rule:db']).toMatchObject({ waitsForCanary: true, pool: { total: 5, limit: 1 } });
    expect(plan.lanes['rule:web']?.pool.total).toBe(38);
    expect(plan.lanes[DEFAULT_LANE]?.pool.total).toBe(19);
    expect(Object.keys(plan.assignments)).toHaveLength(65);
  });

  it('plans from rules.yaml as parsed: `canary: 0` turns an inherited canary off for that lane', () => {
    const config = parseRules(
      [
        'defaults: { rollout: { maxConcurrent: 3, canary: 1 } }',
        'rules:',
        '  - { name: base, playbooks: [baseline.yml] }',
        '  - { name: web, playbooks: [webserver.yml], rollout: { canary: 0, maxErrors: "50%" } }',
        '',
      ].join('\n'),
      { file: 'rules.yaml', playbooksDir },
    );
    const due = [...fleet(3, ['base']), ...fleet(4, ['base', 'web'], ['all'], 10)];
    const plan = planRollout({ bundleHash: HASH, due, rules: config });

    expect(plan.lanes[CANARY_LANE]).toMatchObject({
      instanceIds: [due[0]?.instanceId],
      from: [DEFAULT_LANE],
    });
    expect(plan.lanes['rule:web']).toMatchObject({ pool: { total: 4, limit: 3, maxErrors: 2 } });
    expect(plan.lanes[DEFAULT_LANE]?.pool.total).toBe(2);
  });

  it('refuses an instance due twice', () => {
    const due = [...fleet(2), ...fleet(1)];
    expect(() => planRollout({ bundleHash: HASH, due, rules: rulesOf() })).toThrow(
      'i-00000000000000000 is due twice in rollout r-abcdef012345: an instance is started at most once per rollout',
    );
  });

  it('plans 10,000 due instances with a count canary quickly', () => {
    const started = Date.now();
    const plan = planRollout({
      bundleHash: HASH,
      due: fleet(10_000).reverse(),
      rules: rulesOf({ ...DEFAULT_ROLLOUT, canary: { count: 5 } }),
    });

    expect(plan.lanes[CANARY_LANE]?.instanceIds).toEqual(fleet(5).map((i) => i.instanceId));
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('describeChange', () => {
  const config = (web: Record<string, unknown>, extra: { name: string }[] = []) => ({
    defaults: { maxAttempts: 3 },
    rules: [{ name: 'base', playbooks: [{ file: 'baseline.yml' }] }, { name: 'web', ...web }, ...extra],
  });
  const files = { 'rules.yaml': 'h1', 'baseline.yml': 'h2', 'webserver.yml': 'h3' };
  const before = bundleContents(config({ playbooks: ['webserver.yml'], check: false }), 'b1', files);

  it('describes the first rollout by what it holds', () => {
    expect(describeChange(undefined, before)).toEqual({
      rules: { added: ['base', 'web'], removed: [], changed: [] },
      defaultsChanged: false,
      files: { added: ['baseline.yml', 'rules.yaml', 'webserver.yml'], removed: [], changed: [] },
      summary: 'first rollout: 2 rules, 3 files',
    });
  });

  it('names the rules, defaults and files that changed, were added or removed', () => {
    const after = bundleContents(
      {
        defaults: { maxAttempts: 4 },
        rules: [{ name: 'web', playbooks: ['webserver.yml'], check: true }, { name: 'db' }],
      },
      'b2',
      { 'rules.yaml': 'h9', 'webserver.yml': 'h8', 'roles/db/tasks/main.yml': 'h7' },
    );

    expect(describeChange(before, after)).toEqual({
      rules: { added: ['db'], removed: ['base'], changed: ['web'] },
      defaultsChanged: true,
      files: {
        added: ['roles/db/tasks/main.yml'],
        removed: ['baseline.yml'],
        changed: ['rules.yaml', 'webserver.yml'],
      },
      summary:
        'rules changed: web; rules added: db; rules removed: base; defaults changed; files changed: rules.yaml, webserver.yml; files added: roles/db/tasks/main.yml; files removed: baseline.yml',
    });
  });

  it('hashes a rule by its content, not its key order', () => {
    const reordered = bundleContents(config({ check: false, playbooks: ['webserver.yml'] }), 'b1', files);

    expect(reordered).toEqual(before);
    expect(describeChange(before, reordered).summary).toBe('nothing changed (same bundle)');
    expect(describeChange(before, { ...reordered, bundleHash: 'b3' }).summary).toBe(
      'only the bundle hash changed',
    );
  });

  it('lists five names, then how many more', () => {
    const many = Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`p${k}.yml`, 'x']));
    const after = bundleContents(config({}), 'b2', { ...files, ...many });

    expect(describeChange(before, after).summary).toBe(
      'rules changed: web; files added: p0.yml, p1.yml, p2.yml, p3.yml, p4.yml and 3 more',
    );
  });
});

describe('driftDue', () => {
  const now = new Date('2025-06-01T12:00:00.000Z');
  const daily = { reapplyEverySeconds: 86_400, drift: 'correct' } as const;

  it('is due once the last successful run is a period old, applying for correct and checking for report', () => {
    expect(driftDue({ status: 'SUCCESS', lastRunAt: '2025-05-31T12:00:00.000Z' }, daily, now)).toEqual({
      due: true,
      mode: 'apply',
      dueAt: '2025-06-01T12:00:00.000Z',
    });
    expect(
      driftDue({ status: 'SUCCESS', lastRunAt: '2025-05-20T00:00:00Z' }, { ...daily, drift: 'report' }, now),
    ).toEqual({ due: true, mode: 'check', dueAt: '2025-05-21T00:00:00.000Z' });
    expect(
      driftDue({ status: 'DRIFTED', lastRunAt: '2025-05-01T00:00:00Z' }, { reapplyEverySeconds: 1800 }, now),
    ).toMatchObject({ due: true, mode: 'apply' });
  });

  it('is not due a millisecond early, and says when it will be', () => {
    expect(driftDue({ status: 'SUCCESS', lastRunAt: '2025-05-31T12:00:00.001Z' }, daily, now)).toEqual({
      due: false,
      reason: 'not-yet',
      dueAt: '2025-06-01T12:00:00.001Z',
    });
  });

  it('is never due without reapplyEvery, nor for a run that did not succeed', () => {
    const old = '2020-01-01T00:00:00Z';
    expect(driftDue({ status: 'SUCCESS', lastRunAt: old }, {}, now)).toEqual({
      due: false,
      reason: 'no-schedule',
    });
    for (const status of ['FAILED', 'PARTIAL', 'PENDING', 'RUNNING', 'SKIPPED', 'ORPHANED']) {
      expect(driftDue({ status, lastRunAt: old }, daily, now)).toEqual({
        due: false,
        reason: 'not-succeeded',
      });
    }
  });

  it('is due now for a successful record whose last run time is missing or unreadable', () => {
    for (const lastRunAt of [undefined, 'yesterday']) {
      expect(driftDue({ status: 'SUCCESS', lastRunAt }, daily, now)).toEqual({
        due: true,
        mode: 'apply',
        dueAt: now.toISOString(),
      });
    }
  });
});
