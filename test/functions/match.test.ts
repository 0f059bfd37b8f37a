import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../functions/core/fingerprint.js';
import type { HostFacts, RulesBundle } from '../../functions/core/types.js';
import { matchInstance } from '../../functions/match/match-instance.js';
import { logger } from '../../functions/shared/logger.js';
import { FakeStateStore } from '../helpers/fake-store.js';

const INSTANCE = 'i-0123456789abcdef0';
const NOW = new Date('2025-01-02T03:04:05.000Z');

const bundle: RulesBundle = {
  config: {
    optIn: { tagKey: 'autoprov:enabled', tagValue: 'true' },
    hold: { tagKey: 'autoprov:hold', tagValue: 'true' },
    groupsTag: 'autoprov:groups',
    inventories: [],
    defaults: {
      maxAttempts: 3,
      backoffSeconds: 60,
      timeoutSeconds: 1800,
      check: false,
      reapplyOnChange: true,
      agentWaitSeconds: 600,
    },
    rules: [
      {
        name: 'baseline',
        match: { groups: [], vars: {} },
        playbooks: [{ file: 'baseline.yml', extraVars: {} }],
      },
      {
        name: 'web',
        match: { groups: ['webservers'], vars: { environment: ['production', 'staging'] } },
        playbooks: [{ file: 'nginx.yml', extraVars: { http_port: '8080' }, timeoutSeconds: 900 }],
        maxAttempts: 5,
      },
      {
        name: 'db',
        match: { groups: ['databases'], vars: {} },
        playbooks: [{ file: 'postgres.yml', extraVars: {} }],
      },
    ],
  },
  inventoryHosts: [],
  bundleHash: 'a'.repeat(64),
};
// Only the `db` rule, which this web host does not match.
const noRules: RulesBundle = {
  ...bundle,
  config: { ...bundle.config, rules: bundle.config.rules.filter((rule) => rule.name === 'db') },
};

const webFacts: HostFacts = {
  instanceId: INSTANCE,
  source: 'ec2',
  name: 'web-01',
  state: 'running',
  tags: { Name: 'web-01', 'autoprov:enabled': 'true', 'autoprov:groups': 'webservers' },
  groups: ['all', 'webservers'],
  vars: { environment: 'production', ec2_instance_type: 't3.micro', tag_Name: 'web-01' },
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
