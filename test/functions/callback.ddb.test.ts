// The callback handler on a real table in DynamoDB Local (integration tier); its logic with the in-memory
// store is tested in callback.test.ts (unit tier).
import { readFileSync } from 'node:fs';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import type { CallbackDeps } from '../../functions/callback/command-end.js';
import { reportInvocationStatus } from '../../functions/callback/report-status.js';
import type { HostFacts } from '../../functions/core/types.js';
import type { DebugLogger } from '../../functions/shared/logger.js';
import { createTestTable } from '../helpers/ddb.js';
import { FakeStateStore } from '../helpers/fake-store.js';
import { fixture as fixturePath } from '../helpers/paths.js';

const fixture = JSON.parse(
  readFileSync(fixturePath('events', 'ssm-command-invocation-status.json'), 'utf8'),
) as {
  detail: { 'command-id': string; 'instance-id': string; status: string };
};
const INSTANCE = fixture.detail['instance-id'];
const COMMAND_ID = fixture.detail['command-id'];
const TOKEN = 'task-token-xyz';
const NOW = new Date('2025-01-02T03:04:05.000Z');
const LOG_GROUP = '/autoprov/commands';
const quiet: DebugLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const facts: HostFacts = {
  instanceId: INSTANCE,
  source: 'ec2',
  name: 'web-01',
  tags: {},
  groups: ['all'],
  vars: {},
};

const ssmMock = mockClient(SSMClient);
const sfnMock = mockClient(SFNClient);

beforeEach(() => {
  ssmMock.reset();
  sfnMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
});

function deps(store: FakeStateStore): CallbackDeps {
  return {
    store,
    ssm: new SSMClient({}),
    sfn: new SFNClient({}),
    settings: { region: 'us-east-1', outputLogGroup: LOG_GROUP },
    now: () => NOW,
    logger: quiet,
  };
}

const change = (status: string) => ({ commandId: COMMAND_ID, instanceId: INSTANCE, status });

describe('callback handlers (DynamoDB Local)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('wakes the workflow once for the fixture event, records the result, and ignores the duplicate', async () => {
    // Prepare: a claimed, matched instance waiting on the fixture's command.
    const { tableName, store } = await createTestTable();
    vi.stubEnv('TABLE_NAME', tableName);
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoDbEndpoint'));
    vi.stubEnv('OUTPUT_LOG_GROUP', LOG_GROUP);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const { handler, checkHandler } = await import('../../functions/callback/handler.js');
    await store.upsertDetection(facts, { held: false, actor: 'test', now: NOW });
    await store.claim(INSTANCE, { reason: 'new', leaseSeconds: 600, actor: 'test', now: NOW });
    const plan = {
      extraVars: {},
      timeoutSeconds: 60,
      maxAttempts: 1,
      backoffSeconds: 1,
      check: false,
      rule: 'r',
    };
    await store.recordMatch(
      INSTANCE,
      1,
      { playbooks: [{ ...plan, file: 'site.yml' }], matchedRules: ['r'], fingerprint: 'f' },
      NOW,
    );
    await store.setActiveCommand(
      INSTANCE,
      1,
      { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: TOKEN },
      NOW,
    );
    await store.setActiveCommandId(INSTANCE, 1, TOKEN, COMMAND_ID, NOW);

    // Act
    const first = await handler(fixture);
    const duplicate = await handler(fixture);

    // Assess
    expect([first, duplicate]).toEqual(['answered', 'not-active']);
    expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    const record = await store.getInstance(INSTANCE);
    expect(record?.activeCommand).toBeUndefined();
    expect(record?.playbooks?.[0]).toMatchObject({
      file: 'site.yml',
      status: 'Success',
      commandId: COMMAND_ID,
      attempts: 1,
    });
    expect((await store.listHistory(INSTANCE)).map((event) => event.type)).toContain('PLAYBOOK_SUCCEEDED');

    // The check path answers from the record; a superseded generation is refused by the fence.
    expect(
      await checkHandler({ instanceId: INSTANCE, generation: 1, kind: 'playbook', playbookIndex: 0 }),
    ).toMatchObject({
      commandId: COMMAND_ID,
      status: 'Success',
    });
    await store.claim(INSTANCE, {
      reason: 'lease-expired',
      leaseSeconds: 600,
      actor: 'test',
      now: new Date(NOW.getTime() + 3600_000),
    });
    await expect(
      checkHandler({ instanceId: INSTANCE, generation: 1, kind: 'playbook', playbookIndex: 0 }),
    ).rejects.toMatchObject({
      name: 'StaleGeneration',
    });
    await expect(handler({ ...fixture, detail: { status: 'Success' } })).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
  });

  it('refuses to record a result on the real table once a newer generation owns the instance', async () => {
    const { store } = await createTestTable();
    await store.upsertDetection(facts, { held: false, actor: 'test', now: NOW });
    await store.claim(INSTANCE, { reason: 'new', leaseSeconds: 60, actor: 'test', now: NOW });
    const plan = {
      extraVars: {},
      timeoutSeconds: 60,
      maxAttempts: 1,
      backoffSeconds: 1,
      check: false,
      rule: 'r',
    };
    await store.recordMatch(
      INSTANCE,
      1,
      { playbooks: [{ ...plan, file: 'site.yml' }], matchedRules: ['r'], fingerprint: 'f' },
      NOW,
    );
    await store.setActiveCommand(
      INSTANCE,
      1,
      { kind: 'playbook', playbookIndex: 0, attempt: 1, taskToken: TOKEN },
      NOW,
    );
    await store.setActiveCommandId(INSTANCE, 1, TOKEN, COMMAND_ID, NOW);
    ssmMock.on(GetCommandInvocationCommand).callsFake(async () => {
      await store.claim(INSTANCE, {
        reason: 'lease-expired',
        leaseSeconds: 60,
        actor: 'sweep',
        now: new Date(NOW.getTime() + 120_000),
      });
      return { Status: 'Failed', ResponseCode: 1 };
    });
    const realDeps: CallbackDeps = { ...deps(new FakeStateStore()), store };

    expect(await reportInvocationStatus(change('Failed'), realDeps)).toBe('superseded');

    expect(sfnMock).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: TOKEN,
      error: 'StaleGeneration',
    });
    const record = await store.getInstance(INSTANCE);
    expect(record?.generation).toBe(2);
    expect(record?.playbooks).toBeUndefined();
    expect((await store.listHistory(INSTANCE)).map((event) => event.type)).toContain('FENCE_REJECTED');
  });
});
