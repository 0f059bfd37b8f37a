import { readFileSync } from 'node:fs';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  InvocationDoesNotExist,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkCommand } from '../../functions/callback/check-command.js';
import type { CallbackDeps } from '../../functions/callback/command-end.js';
import { recordCommandEnd } from '../../functions/callback/command-end.js';
import { failureCause, outputTail, runStatusOf } from '../../functions/callback/command-status.js';
import { commandLogUrl } from '../../functions/callback/log-url.js';
import { reportInvocationStatus } from '../../functions/callback/report-status.js';
import type { HostFacts } from '../../functions/core/types.js';
import type { DebugLogger } from '../../functions/shared/logger.js';
import type { ActiveCommand } from '../../functions/shared/state-store-api.js';
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
const SENT_AT = '2025-01-02T03:00:00.000Z';
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

const expectedLogUrl =
  'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/' +
  `$252Fautoprov$252Fcommands$3FlogStreamNameFilter$3D${COMMAND_ID}$252F${INSTANCE}`;

const ssmMock = mockClient(SSMClient);
const sfnMock = mockClient(SFNClient);

beforeEach(() => {
  ssmMock.reset();
  sfnMock.reset();
  sfnMock.on(SendTaskSuccessCommand).resolves({});
  sfnMock.on(SendTaskFailureCommand).resolves({});
});

function activePlaybook(overrides: Partial<ActiveCommand> = {}): ActiveCommand {
  return {
    kind: 'playbook',
    playbookIndex: 1,
    attempt: 2,
    taskToken: TOKEN,
    commandId: COMMAND_ID,
    sentAt: SENT_AT,
    ...overrides,
  };
}

function seed(
  store: FakeStateStore,
  activeCommand: ActiveCommand | undefined = activePlaybook(),
  generation = 3,
) {
  store.seed({
    instanceId: INSTANCE,
    facts,
    status: 'RUNNING',
    generation,
    executionName: `${INSTANCE}-g${generation}`,
    leaseExpiresAt: '2025-01-02T02:00:00.000Z',
    playbooks: [
      { file: 'baseline.yml', status: 'Success', attempts: 1, commandId: 'c-0' },
      { file: 'nginx.yml', status: 'Pending', attempts: 0 },
    ],
    ...(activeCommand ? { activeCommand } : {}),
  });
}

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

describe('pure helpers', () => {
  it('builds the CloudWatch Logs console link filtered on the command and instance', () => {
    expect(
      commandLogUrl({
        region: 'us-east-1',
        logGroup: LOG_GROUP,
        commandId: COMMAND_ID,
        instanceId: INSTANCE,
      }),
    ).toBe(expectedLogUrl);
  });

  it('keeps the last 2,000 characters of stdout then stderr, marked when cut', () => {
    expect(outputTail('ok\n', '')).toBe('ok');
    expect(outputTail('out', 'err')).toBe('out\n--- stderr ---\nerr');
    const tail = outputTail('x'.repeat(5000), 'fatal: the end');
    expect(tail).toHaveLength(2000);
    expect(tail.startsWith('…x')).toBe(true);
    expect(tail.endsWith('--- stderr ---\nfatal: the end')).toBe(true);
  });

  it('maps SSM statuses to run statuses, unknown ones to Failed', () => {
    expect(runStatusOf('Success')).toBe('Success');
    expect(runStatusOf('Failed')).toBe('Failed');
    expect(runStatusOf('TimedOut', 'Delivery Timed Out')).toBe('TimedOut');
    expect(runStatusOf('Failed', 'Undeliverable')).toBe('Undeliverable');
    expect(runStatusOf('Cancelled')).toBe('Cancelled');
    expect(runStatusOf('Something new')).toBe('Failed');
  });

  it('keeps the failure cause within the Step Functions limit even for escape-heavy output', () => {
    const cause = failureCause({ commandId: 'c', status: 'Failed', outputTail: '\u0001'.repeat(2000) }, 4000);
    expect(cause.length).toBeLessThanOrEqual(4000);
    expect(JSON.parse(cause)).toMatchObject({ commandId: 'c', status: 'Failed' });
  });
});

describe('reportInvocationStatus (status events)', () => {
  it('on Success records the result and sends SendTaskSuccess without reading the invocation', async () => {
    // Prepare
    const store = new FakeStateStore();
    seed(store);
    // The record must be written before the workflow is woken (which starts the next command).
    let statusWhenWoken: string | undefined;
    sfnMock.on(SendTaskSuccessCommand).callsFake(() => {
      statusWhenWoken = store.peek(INSTANCE)?.playbooks?.[1]?.status;
      return {};
    });

    // Act
    const outcome = await reportInvocationStatus(change(fixture.detail.status), deps(store));

    // Assess
    expect(outcome).toBe('answered');
    expect(ssmMock).not.toHaveReceivedCommand(GetCommandInvocationCommand);
    expect(sfnMock).toHaveReceivedCommandExactlyOnceWith(SendTaskSuccessCommand, {
      taskToken: TOKEN,
      output: JSON.stringify({
        commandId: COMMAND_ID,
        status: 'Success',
        exitCode: 0,
        logUrl: expectedLogUrl,
      }),
    });
    const record = store.peek(INSTANCE);
    expect(record?.activeCommand).toBeUndefined();
    expect(record?.playbooks?.[1]).toEqual({
      file: 'nginx.yml',
      status: 'Success',
      attempts: 2,
      commandId: COMMAND_ID,
      exitCode: 0,
      startedAt: SENT_AT,
      endedAt: NOW.toISOString(),
      logUrl: expectedLogUrl,
    });
    expect(store.history).toEqual([
      {
        instanceId: INSTANCE,
        type: 'PLAYBOOK_SUCCEEDED',
        at: NOW.toISOString(),
        actor: `workflow:${INSTANCE}-g3`,
        generation: 3,
        details: {
          kind: 'playbook',
          playbook: 'nginx.yml',
          attempt: 2,
          commandId: COMMAND_ID,
          status: 'Success',
          exitCode: 0,
        },
      },
    ]);
    expect(statusWhenWoken).toBe('Success');
    expect(store.calls).toEqual(['recordPlaybookResult', 'appendHistory']);
  });

  it.each(['Pending', 'InProgress', 'Delayed'])('ignores the non-terminal status %s', async (status) => {
    const store = new FakeStateStore();
    seed(store);

    expect(await reportInvocationStatus(change(status), deps(store))).toBe('not-terminal');

    expect(sfnMock).not.toHaveReceivedAnyCommand();
    expect(store.calls).toEqual([]);
  });

  it('on Failed reads the output and sends SendTaskFailure(PlaybookFailed) with a compact cause', async () => {
    const store = new FakeStateStore();
    seed(store);
    ssmMock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 2,
      StandardOutputContent: `${'TASK [ok] '.repeat(400)}\nfatal: [localhost]: FAILED! => nginx: unknown directive`,
      StandardErrorContent: 'ERROR! playbook failed',
    });

    const outcome = await reportInvocationStatus(change('Failed'), deps(store));

    expect(outcome).toBe('answered');
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: COMMAND_ID,
      InstanceId: INSTANCE,
      PluginName: 'runShellScript',
    });
    const call = sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input;
    expect(call?.taskToken).toBe(TOKEN);
    expect(call?.error).toBe('PlaybookFailed');
    const cause = JSON.parse(call?.cause ?? '{}') as Record<string, unknown>;
    expect(cause).toMatchObject({
      commandId: COMMAND_ID,
      status: 'Failed',
      exitCode: 2,
      logUrl: expectedLogUrl,
    });
    expect(String(cause.outputTail).length).toBeLessThanOrEqual(2000);
    expect(String(cause.outputTail)).toMatch(/unknown directive\n--- stderr ---\nERROR! playbook failed$/);
    expect(call?.cause?.length).toBeLessThanOrEqual(32_768);
    expect(sfnMock).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(store.peek(INSTANCE)?.playbooks?.[1]).toMatchObject({
      status: 'Failed',
      exitCode: 2,
      attempts: 2,
    });
    // The readable reason (core/failure-text.ts), from the log's last fatal line: no summary line here.
    expect(store.history[0]).toMatchObject({
      type: 'PLAYBOOK_FAILED',
      reason: expect.stringMatching(/: a task failed: nginx: unknown directive$/),
      details: { attempt: 2, status: 'Failed' },
    });
    expect(cause.reason).toBe(store.history[0]?.reason);
  });

  it('records a delivery timeout as TimedOut', async () => {
    const store = new FakeStateStore();
    seed(store);
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'TimedOut', StatusDetails: 'Delivery Timed Out', ResponseCode: -1 });

    await reportInvocationStatus(change('TimedOut'), deps(store));

    const record = store.peek(INSTANCE)?.playbooks?.[1];
    expect(record?.status).toBe('TimedOut');
    expect(record?.exitCode).toBeUndefined();
    expect(sfnMock).toHaveReceivedCommandWith(SendTaskFailureCommand, { error: 'PlaybookFailed' });
  });

  it('throws TransientError while the command id is not stored yet, so the event is retried', async () => {
    const store = new FakeStateStore();
    seed(store, activePlaybook({ commandId: undefined, sentAt: undefined }));

    await expect(reportInvocationStatus(change('Success'), deps(store))).rejects.toMatchObject({
      name: 'TransientError',
    });
    expect(sfnMock).not.toHaveReceivedAnyCommand();
  });

  it('ignores an event for an older command, and a duplicate after the result was recorded', async () => {
    const store = new FakeStateStore();
    seed(store, activePlaybook({ commandId: 'another-command' }));
    expect(await reportInvocationStatus(change('Success'), deps(store))).toBe('not-active');

    const fresh = new FakeStateStore();
    seed(fresh);
    expect(await reportInvocationStatus(change('Success'), deps(fresh))).toBe('answered');
    expect(await reportInvocationStatus(change('Success'), deps(fresh))).toBe('not-active');

    expect(sfnMock).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
  });

  it('succeeds quietly when the workflow no longer waits (TaskTimedOut)', async () => {
    const store = new FakeStateStore();
    seed(store);
    sfnMock
      .on(SendTaskSuccessCommand)
      .rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));

    expect(await reportInvocationStatus(change('Success'), deps(store))).toBe('workflow-gone');
    expect(store.peek(INSTANCE)?.playbooks?.[1]?.status).toBe('Success');
  });

  it('releases a superseded execution with StaleGeneration when the fence refuses the result', async () => {
    const store = new FakeStateStore();
    seed(store);
    // A newer claim lands while the failed invocation is being read.
    ssmMock.on(GetCommandInvocationCommand).callsFake(async () => {
      await store.claim(INSTANCE, { reason: 'lease-expired', leaseSeconds: 60, actor: 'sweep', now: NOW });
      return { Status: 'Failed', ResponseCode: 1 };
    });

    expect(await reportInvocationStatus(change('Failed'), deps(store))).toBe('superseded');

    expect(sfnMock).toHaveReceivedCommandWith(SendTaskFailureCommand, {
      taskToken: TOKEN,
      error: 'StaleGeneration',
    });
    expect(store.peek(INSTANCE)?.playbooks).toBeUndefined();
  });

  it('a duplicate ensure-Ansible status event records and answers nothing the second time', async () => {
    const store = new FakeStateStore();
    seed(store, {
      kind: 'ensure-ansible',
      attempt: 1,
      taskToken: TOKEN,
      commandId: COMMAND_ID,
      sentAt: SENT_AT,
    });
    const record = await store.getInstance(INSTANCE);
    const active = record?.activeCommand;
    if (!record || !active) throw new Error('seed failed');
    const end = {
      commandId: COMMAND_ID,
      ssmStatus: 'Success',
      status: 'Success' as const,
      exitCode: 0,
      outputTail: '',
    };

    const first = await recordCommandEnd(record, active, end, deps(store));
    const second = await recordCommandEnd(record, active, end, deps(store));

    expect(first).toMatchObject({ ok: true });
    expect(second).toMatchObject({ ok: false, alreadyRecorded: true });
    expect(store.history.filter((e) => e.type === 'PLAYBOOK_SUCCEEDED')).toHaveLength(1);
  });

  it('reports an ensure-Ansible failure without touching the playbook results', async () => {
    const store = new FakeStateStore();
    seed(store, {
      kind: 'ensure-ansible',
      attempt: 1,
      taskToken: TOKEN,
      commandId: COMMAND_ID,
      sentAt: SENT_AT,
    });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Failed', ResponseCode: 100, StandardErrorContent: 'no dnf' });

    await reportInvocationStatus(change('Failed'), deps(store));

    // The active command is cleared (fenced on its id); no playbook result is written.
    expect(store.calls).toEqual(['clearActiveCommand', 'appendHistory']);
    expect(store.history[0]).toMatchObject({
      type: 'PLAYBOOK_FAILED',
      details: { kind: 'ensure-ansible', exitCode: 100 },
    });
    expect(sfnMock).toHaveReceivedCommandWith(SendTaskFailureCommand, { error: 'PlaybookFailed' });
  });
});

describe('checkCommand (callback wait timed out)', () => {
  const input = { instanceId: INSTANCE, generation: 3, kind: 'playbook' as const, playbookIndex: 1 };

  it('returns the CommandResult when SSM says the command succeeded', async () => {
    const store = new FakeStateStore();
    seed(store);
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ Status: 'Success', ResponseCode: 0, StandardOutputContent: 'ok' });

    expect(await checkCommand(input, deps(store))).toEqual({
      commandId: COMMAND_ID,
      status: 'Success',
      exitCode: 0,
      logUrl: expectedLogUrl,
    });
    expect(store.peek(INSTANCE)?.playbooks?.[1]).toMatchObject({ status: 'Success', outputTail: 'ok' });
  });

  it('throws TransientError while the invocation is not visible yet', async () => {
    const store = new FakeStateStore();
    seed(store);
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejects(new InvocationDoesNotExist({ message: 'nope', $metadata: {} }));

    await expect(checkCommand(input, deps(store))).rejects.toMatchObject({ name: 'TransientError' });
    expect(store.calls).toEqual([]);
  });

  it('records a failure and throws PlaybookFailed with the cause', async () => {
    const store = new FakeStateStore();
    seed(store);
    ssmMock
      .on(GetCommandInvocationCommand, { PluginName: 'runShellScript' })
      .resolves({ Status: 'Failed', ResponseCode: 4, StandardOutputContent: 'boom' })
      .on(GetCommandInvocationCommand, { PluginName: 'downloadContent' })
      .resolves({ Status: 'Success', ResponseCode: 0 });

    const error = await checkCommand(input, deps(store)).catch((e: unknown) => e as Error);

    expect(error).toMatchObject({ name: 'PlaybookFailed' });
    expect(JSON.parse(error instanceof Error ? error.message : '')).toMatchObject({
      status: 'Failed',
      exitCode: 4,
      outputTail: 'boom',
    });
    expect(store.peek(INSTANCE)?.playbooks?.[1]).toMatchObject({ status: 'Failed', exitCode: 4 });
    // The download step is read only because the run failed; it succeeded, so nothing is added.
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
  });

  it('puts a failed bundle download in the output tail: the shell step alone names the wrong cause', async () => {
    const store = new FakeStateStore();
    seed(store);
    const denied =
      'Failed to download s3://bucket/bundle/x.zip: AccessDenied: Access Denied (status code: 403)';
    ssmMock
      .on(GetCommandInvocationCommand, { PluginName: 'runShellScript' })
      .resolves({
        Status: 'Failed',
        ResponseCode: 2,
        StandardErrorContent: "The specified Playbook file doesn't exist in the downloaded bundle.",
      })
      .on(GetCommandInvocationCommand, { PluginName: 'downloadContent' })
      .resolves({ Status: 'Failed', ResponseCode: 1, StandardErrorContent: denied });

    const error = await checkCommand(input, deps(store)).catch((e: unknown) => e as Error);

    const tail = store.peek(INSTANCE)?.playbooks?.[1]?.outputTail ?? '';
    expect(error).toMatchObject({ name: 'PlaybookFailed' });
    expect(tail).toContain("doesn't exist in the downloaded bundle");
    expect(tail).toContain('--- downloadContent failed: the bundle was not downloaded ---');
    expect(tail.endsWith(denied)).toBe(true);
  });

  it('reads only the shell step when the run succeeded', async () => {
    const store = new FakeStateStore();
    seed(store);
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'Success', ResponseCode: 0 });

    await checkCommand(input, deps(store));

    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, { PluginName: 'runShellScript' });
  });

  it('cancels a command still running, records TimedOut and throws PlaybookFailed', async () => {
    const store = new FakeStateStore();
    seed(store);
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress', ResponseCode: -1 });
    ssmMock.on(CancelCommandCommand).resolves({});

    await expect(checkCommand(input, deps(store))).rejects.toMatchObject({
      name: 'PlaybookFailed',
      message: expect.stringContaining('timed out waiting'),
    });
    expect(ssmMock).toHaveReceivedCommandWith(CancelCommandCommand, {
      CommandId: COMMAND_ID,
      InstanceIds: [INSTANCE],
    });
    expect(store.peek(INSTANCE)?.playbooks?.[1]?.status).toBe('TimedOut');
  });

  it('answers from the recorded result when the callback recorded it but could not wake the workflow', async () => {
    const store = new FakeStateStore();
    seed(store);
    sfnMock
      .on(SendTaskSuccessCommand)
      .rejects(Object.assign(new Error('down'), { name: 'ServiceUnavailable', $metadata: {} }));
    await expect(reportInvocationStatus(change('Success'), deps(store))).rejects.toMatchObject({
      name: 'TransientError',
    });

    expect(await checkCommand(input, deps(store))).toEqual({
      commandId: COMMAND_ID,
      status: 'Success',
      exitCode: 0,
      logUrl: expectedLogUrl,
    });
    expect(ssmMock).not.toHaveReceivedCommand(GetCommandInvocationCommand);
  });

  it('refuses a stale generation', async () => {
    const store = new FakeStateStore();
    seed(store, activePlaybook(), 4);
    await expect(checkCommand(input, deps(store))).rejects.toMatchObject({ name: 'StaleGeneration' });
  });
});
