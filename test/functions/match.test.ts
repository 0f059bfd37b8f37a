import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../functions/core/fingerprint.js';
import type { RulesBundle } from '../../functions/core/types.js';
import { matchInstance } from '../../functions/match/match-instance.js';
import { logger } from '../../functions/shared/logger.js';
import { FakeStateStore } from '../helpers/fake-store.js';
import { matchBundle as bundle, INSTANCE, NOW, webFacts } from './handler-fixtures.js';

// Only the `db` rule, which this web host does not match.
const noRules: RulesBundle = {
  ...bundle,
  config: { ...bundle.config, rules: bundle.config.rules.filter((rule) => rule.name === 'db') },
};

const settings = { agentCheckIntervalSeconds: 15, taskTimeoutMarginSeconds: 120 };

function deps(store: FakeStateStore, rules: RulesBundle = bundle) {
  return { store, bundle: rules, settings, now: () => NOW, logger };
}

describe('matchInstance', () => {
  it('plans every matched playbook in rule order, records the match and its fingerprint', async () => {
    // Prepare
    const store = new FakeStateStore();
    store.seed({ instanceId: INSTANCE, facts: webFacts, status: 'RUNNING', generation: 2 });

    // Act
    const output = await matchInstance({ instanceId: INSTANCE, generation: 2 }, deps(store));

    // Assess
    expect(output).toEqual({
      instanceId: INSTANCE,
      generation: 2,
      matched: true,
      playbooks: [
        { index: 0, file: 'baseline.yml', taskTimeoutSeconds: 1920, retryDelays: [60, 120] },
        { index: 1, file: 'nginx.yml', taskTimeoutSeconds: 1020, retryDelays: [60, 120, 240, 480] },
      ],
      agentChecksLeft: 40,
    });
    const record = store.peek(INSTANCE);
    expect(record?.playbooks).toEqual([
      { file: 'baseline.yml', status: 'Pending', attempts: 0 },
      { file: 'nginx.yml', status: 'Pending', attempts: 0 },
    ]);
    expect(record?.matchedRules).toEqual(['baseline', 'web']);
    const expected = fingerprint(
      {
        matchedRules: ['baseline', 'web'],
        playbooks: [
          {
            file: 'baseline.yml',
            extraVars: {},
            timeoutSeconds: 1800,
            maxAttempts: 3,
            backoffSeconds: 60,
            check: false,
            rule: 'baseline',
          },
          {
            file: 'nginx.yml',
            extraVars: { http_port: '8080' },
            timeoutSeconds: 900,
            maxAttempts: 5,
            backoffSeconds: 60,
            check: false,
            rule: 'web',
          },
        ],
      },
      bundle.bundleHash,
    );
    expect(record?.fingerprint).toBe(expected);
    expect(store.history).toEqual([
      {
        instanceId: INSTANCE,
        type: 'MATCHED',
        at: NOW.toISOString(),
        actor: `workflow:${INSTANCE}-g2`,
        generation: 2,
        details: {
          rules: ['baseline', 'web'],
          playbooks: ['baseline.yml', 'nginx.yml'],
          fingerprint: expected,
        },
      },
    ]);
  });

  it('reports matched=false with no playbooks when no rule selects the host, and still records it', async () => {
    const store = new FakeStateStore();
    store.seed({ instanceId: INSTANCE, facts: webFacts, status: 'RUNNING', generation: 1 });

    const output = await matchInstance({ instanceId: INSTANCE, generation: 1 }, deps(store, noRules));

    expect(output).toMatchObject({ matched: false, playbooks: [] });
    expect(store.peek(INSTANCE)?.playbooks).toEqual([]);
    expect(store.history[0]).toMatchObject({
      type: 'MATCHED',
      reason: 'no rule selects a playbook for this host',
      details: { rules: [], playbooks: [] },
    });
  });

  it('refuses a stale generation with StaleGeneration and records nothing', async () => {
    const store = new FakeStateStore();
    store.seed({ instanceId: INSTANCE, facts: webFacts, status: 'RUNNING', generation: 3 });

    const attempt = matchInstance({ instanceId: INSTANCE, generation: 2 }, deps(store));

    await expect(attempt).rejects.toMatchObject({ name: 'StaleGeneration' });
    expect(store.peek(INSTANCE)?.playbooks).toBeUndefined();
    expect(store.history.map((event) => event.type)).toEqual(['FENCE_REJECTED']);
  });

  it('fails with InvalidInputError when the instance has no record', async () => {
    const store = new FakeStateStore();
    await expect(matchInstance({ instanceId: INSTANCE, generation: 1 }, deps(store))).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringContaining('has no state record'),
    });
  });
});
