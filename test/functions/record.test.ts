import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../../functions/core/types.js';
import { recordOutcome } from '../../functions/record/record-outcome.js';
import type { DebugLogger } from '../../functions/shared/logger.js';
import type { PlaybookRecord } from '../../functions/shared/state-store-api.js';
import { FakeStateStore } from '../helpers/fake-store.js';

const INSTANCE = 'i-0aaaaaaaaaaaaaaa1';
const NOW = new Date('2025-01-02T03:04:05.000Z');
const FINGERPRINT = 'f'.repeat(64);
const quiet: DebugLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const facts: HostFacts = {
  instanceId: INSTANCE,
  source: 'ec2',
  name: 'db-01',
  tags: {},
  groups: ['all'],
  vars: {},
};

const ok = (file: string): PlaybookRecord => ({
  file,
  status: 'Success',
  attempts: 1,
  commandId: `c-${file}`,
});
const pending = (file: string): PlaybookRecord => ({ file, status: 'Pending', attempts: 0 });

function seed(store: FakeStateStore, playbooks: PlaybookRecord[], generation = 7) {
  store.seed({
    instanceId: INSTANCE,
    facts,
    status: 'RUNNING',
    generation,
    leaseExpiresAt: '2025-01-02T04:00:00.000Z',
    fingerprint: FINGERPRINT,
    playbooks,
  });
}

const deps = (store: FakeStateStore) => ({ store, now: () => NOW, logger: quiet });

describe('recordOutcome', () => {
  it('records SUCCESS with the fingerprint as the last success, and asks to notify', async () => {
    // Prepare
    const store = new FakeStateStore();
    seed(store, [ok('a.yml'), ok('b.yml')]);

    // Act
    const output = await recordOutcome({ instanceId: INSTANCE, generation: 7 }, deps(store));

    // Assess
    expect(output).toEqual({ instanceId: INSTANCE, generation: 7, status: 'SUCCESS', notify: true });
    const record = store.peek(INSTANCE);
    expect(record).toMatchObject({
      status: 'SUCCESS',
      lastSuccessFingerprint: FINGERPRINT,
      lastRunAt: NOW.toISOString(),
    });
    expect(record?.leaseExpiresAt).toBeUndefined();
    expect(store.history).toEqual([
      {
        instanceId: INSTANCE,
        type: 'RECORDED',
        at: NOW.toISOString(),
        actor: `workflow:${INSTANCE}-g7`,
        generation: 7,
        details: {
          status: 'SUCCESS',
          playbooks: [
            { file: 'a.yml', status: 'Success', attempts: 1 },
            { file: 'b.yml', status: 'Success', attempts: 1 },
          ],
        },
      },
    ]);
  });

  it('records PARTIAL when a later playbook failed for good, naming it in the reason', async () => {
    const store = new FakeStateStore();
    seed(store, [
      ok('a.yml'),
      { file: 'b.yml', status: 'Failed', attempts: 3, exitCode: 2 },
      pending('c.yml'),
    ]);

    const output = await recordOutcome({ instanceId: INSTANCE, generation: 7 }, deps(store));

    expect(output.status).toBe('PARTIAL');
    expect(store.peek(INSTANCE)).toMatchObject({
      status: 'PARTIAL',
      reason: 'b.yml ended Failed after 3 attempts',
    });
    expect(store.peek(INSTANCE)?.lastSuccessFingerprint).toBeUndefined();
  });

  it('records FAILED when the first playbook failed', async () => {
    const store = new FakeStateStore();
    seed(store, [{ file: 'a.yml', status: 'TimedOut', attempts: 1 }, pending('b.yml')]);

    const output = await recordOutcome({ instanceId: INSTANCE, generation: 7 }, deps(store));

    expect(output).toMatchObject({ status: 'FAILED', notify: true });
    expect(store.peek(INSTANCE)?.reason).toBe('a.yml ended TimedOut after 1 attempt');
  });

  it('records an interrupted run as FAILED with the workflow reason and the truncated cause', async () => {
    const store = new FakeStateStore();
    seed(store, [ok('a.yml'), pending('b.yml')]);
    const cause = `Traceback ${'x'.repeat(5000)}`;

    const output = await recordOutcome(
      {
        instanceId: INSTANCE,
        generation: 7,
        status: 'FAILED',
        reason: 'SSM agent not Online within 600 s',
        error: { Error: 'AgentNotOnline', Cause: cause },
      },
      deps(store),
    );

    expect(output.status).toBe('FAILED');
    const reason = store.peek(INSTANCE)?.reason ?? '';
    expect(reason.startsWith('SSM agent not Online within 600 s (AgentNotOnline: Traceback xxx')).toBe(true);
    expect(reason.length).toBeLessThan(1100);
    expect(store.history[0]).toMatchObject({
      type: 'RECORDED',
      reason,
      details: { status: 'FAILED', error: 'AgentNotOnline' },
    });
  });

  it('records FAILED, not SKIPPED, when a caught error ended the run before anything was planned', async () => {
    const store = new FakeStateStore();
    store.seed({ instanceId: INSTANCE, facts, status: 'RUNNING', generation: 7 });

    const output = await recordOutcome(
      { instanceId: INSTANCE, generation: 7, error: { Error: 'Lambda.Unknown', Cause: 'match crashed' } },
      deps(store),
    );

    expect(output).toEqual({ instanceId: INSTANCE, generation: 7, status: 'FAILED', notify: true });
    expect(store.peek(INSTANCE)).toMatchObject({ status: 'FAILED', reason: 'Lambda.Unknown: match crashed' });
  });

  it('records PARTIAL with the caught error when the failure path is taken after a playbook failed for good', async () => {
    const store = new FakeStateStore();
    seed(store, [
      ok('a.yml'),
      {
        file: 'b.yml',
        status: 'Failed',
        attempts: 2,
        outputTail:
          'Running Ansible in /x\nTASK [Install nginx] ****\nfatal: [localhost]: FAILED! => {"changed": false, "msg": "No package matching \'ngnix\' is available"}\n',
      },
    ]);

    const output = await recordOutcome(
      {
        instanceId: INSTANCE,
        generation: 7,
        error: {
          Error: 'PlaybookFailed',
          Cause: '{"commandId":"c-1","status":"Failed","outputTail":"Running Ansible in /x"}',
        },
      },
      deps(store),
    );

    expect(output.status).toBe('PARTIAL');
    // The failed task and its message, not the cause's JSON (issue 12).
    expect(store.peek(INSTANCE)?.reason).toBe(
      `b.yml: task "Install nginx" failed: No package matching 'ngnix' is available; b.yml ended Failed after 2 attempts`,
    );
  });

  it('records SKIPPED without asking to notify', async () => {
    const store = new FakeStateStore();
    seed(store, []);

    const output = await recordOutcome(
      { instanceId: INSTANCE, generation: 7, status: 'SKIPPED' },
      deps(store),
    );

    expect(output).toEqual({ instanceId: INSTANCE, generation: 7, status: 'SKIPPED', notify: false });
    expect(store.peek(INSTANCE)?.status).toBe('SKIPPED');
  });

  it('refuses a stale generation and leaves the newer run untouched', async () => {
    const store = new FakeStateStore();
    seed(store, [ok('a.yml')], 8);

    await expect(recordOutcome({ instanceId: INSTANCE, generation: 7 }, deps(store))).rejects.toMatchObject({
      name: 'StaleGeneration',
    });
    expect(store.peek(INSTANCE)).toMatchObject({ status: 'RUNNING', generation: 8 });
    expect(store.history.map((event) => event.type)).toEqual(['FENCE_REJECTED']);
  });

  it('is idempotent: a retried invocation after the write landed returns the same output', async () => {
    const store = new FakeStateStore();
    seed(store, [ok('a.yml')]);

    const first = await recordOutcome({ instanceId: INSTANCE, generation: 7 }, deps(store));
    const again = await recordOutcome({ instanceId: INSTANCE, generation: 7 }, deps(store));

    expect(again).toEqual(first);
    expect(store.history.filter((event) => event.type === 'RECORDED')).toHaveLength(1);
  });

  it('fails with InvalidInputError for an unknown instance', async () => {
    await expect(
      recordOutcome({ instanceId: INSTANCE, generation: 1 }, deps(new FakeStateStore())),
    ).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
  });
});
