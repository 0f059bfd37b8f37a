import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsServer, startAwsServer } from '../../scripts/local/aws-server.js';
import type { InvokeOutcome } from '../../scripts/local/services/lambda.js';
import { SecretsManagerEmulator } from '../../scripts/local/services/secrets-manager.js';
import { type ExecutionRecord, SfnEmulator } from '../../scripts/local/services/sfn.js';
import {
  StateMachineRunner,
  sdkIntegrationErrorName,
  TaskTokenBroker,
  UnmappedTaskError,
} from '../../scripts/local/sfn-runner.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const fn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

/** Match → Choice → Wait → Map(waitForTaskToken) → Pass, like the provisioning workflow's skeleton. */
const PROVISION_ASL = {
  Comment: 'test workflow',
  StartAt: 'Match rules',
  States: {
    'Match rules': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: fn('match'), 'Payload.$': '$' },
      ResultSelector: { 'matched.$': '$.Payload.matched', 'playbooks.$': '$.Payload.playbooks' },
      ResultPath: '$.match',
      Retry: [{ ErrorEquals: ['TransientError'], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2 }],
      Next: 'Anything matched?',
    },
    'Anything matched?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.match.matched', BooleanEquals: true, Next: 'Wait for the agent' }],
      Default: 'Nothing to do',
    },
    'Nothing to do': { Type: 'Succeed' },
    'Wait for the agent': { Type: 'Wait', Seconds: 30, Next: 'Run playbooks' },
    'Run playbooks': {
      Type: 'Map',
      ItemsPath: '$.match.playbooks',
      MaxConcurrency: 1,
      ItemSelector: { 'file.$': '$$.Map.Item.Value', 'instanceId.$': '$.instanceId' },
      ItemProcessor: {
        StartAt: 'Run playbook',
        States: {
          'Run playbook': {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
            Parameters: {
              FunctionName: fn('run'),
              Payload: { 'input.$': '$', 'taskToken.$': '$$.Task.Token' },
            },
            TimeoutSeconds: 10,
            Catch: [{ ErrorEquals: ['PlaybookFailed'], ResultPath: '$.failure', Next: 'Playbook failed' }],
            End: true,
          },
          'Playbook failed': { Type: 'Pass', End: true },
        },
      },
      ResultPath: '$.results',
      Next: 'Record',
    },
    Record: {
      Type: 'Pass',
      Parameters: { 'instanceId.$': '$.instanceId', 'results.$': '$.results' },
      End: true,
    },
  },
};

const TIMEOUT_ASL = {
  StartAt: 'Wait for callback',
  States: {
    'Wait for callback': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: fn('run'), Payload: { 'token.$': '$$.Task.Token' } },
      TimeoutSeconds: 1,
      Catch: [
        { ErrorEquals: ['States.TaskFailed'], Next: 'Task failed' },
        { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'Ask SSM directly' },
      ],
      End: true,
    },
    'Task failed': { Type: 'Fail', Error: 'Wrong', Cause: 'States.TaskFailed must not catch States.Timeout' },
    'Ask SSM directly': {
      Type: 'Task',
      Resource: 'arn:aws:states:::aws-sdk:secretsmanager:getSecretValue',
      Parameters: { 'SecretId.$': '$.secret' },
      ResultSelector: { 'value.$': '$.SecretString' },
      ResultPath: '$.secret',
      Catch: [
        {
          ErrorEquals: ['SecretsManager.ResourceNotFoundException'],
          ResultPath: '$.lookup',
          Next: 'Not found',
        },
      ],
      End: true,
    },
    'Not found': { Type: 'Pass', End: true },
  },
};

describe('Step Functions: runner and emulator', () => {
  let server: AwsServer;
  let sfnClient: SFNClient;
  const secrets = new SecretsManagerEmulator();
  const sfn = new SfnEmulator();
  const tokens: { token: string; input: unknown }[] = [];
  let matchFailuresLeft = 0;
  let provisionArn = '';
  let timeoutArn = '';

  const invokeFunction = async (ref: string, payload: unknown): Promise<InvokeOutcome> => {
    const name = ref.split(':').at(-1);
    if (name === 'match') {
      if (matchFailuresLeft > 0) {
        matchFailuresLeft--;
        return {
          functionError: 'Unhandled',
          payload: { errorType: 'TransientError', errorMessage: 'throttled', trace: [] },
        };
      }
      const { playbooks } = payload as { playbooks: string[] };
      return { payload: { matched: playbooks.length > 0, playbooks } };
    }
    if (name === 'run') {
      const { taskToken, token, input } = payload as { taskToken?: string; token?: string; input?: unknown };
      tokens.push({ token: taskToken ?? token ?? '', input });
      return { payload: null };
    }
    throw new Error(`no function ${ref}`);
  };

  const nextToken = async (count: number) => {
    for (let i = 0; i < 200 && tokens.length < count; i++) await new Promise((r) => setTimeout(r, 10));
    const entry = tokens[count - 1];
    if (!entry) throw new Error(`token ${count} never arrived`);
    return entry;
  };

  const finished = async (executionArn: string): Promise<ExecutionRecord> => {
    const record = sfn.getExecution(executionArn);
    if (!record) throw new Error(`no execution ${executionArn}`);
    return record.done;
  };

  beforeAll(async () => {
    server = await startAwsServer({ emulators: [sfn, secrets], seed: 3 });
    const generic = { invokeFunction, awsEndpoint: server.endpoint };
    provisionArn = sfn.registerStateMachine(
      'Provision',
      new StateMachineRunner(PROVISION_ASL, { broker: sfn.broker, generic, timeScale: 0.01 }),
    );
    timeoutArn = sfn.registerStateMachine(
      'Timeouts',
      new StateMachineRunner(TIMEOUT_ASL, { broker: sfn.broker, generic }),
    );
    sfnClient = new SFNClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    sfn.stopAll();
    await server.stop();
  });

  it('runs Map + Choice + Wait with waitForTaskToken tasks completed by SendTaskSuccess / SendTaskFailure', async () => {
    // Prepare
    tokens.length = 0;
    // Act
    const { executionArn } = await sfnClient.send(
      new StartExecutionCommand({
        stateMachineArn: provisionArn,
        name: 'i-0abc-g1',
        input: JSON.stringify({ instanceId: 'i-0abc', playbooks: ['base.yml', 'web.yml'] }),
      }),
    );
    const first = await nextToken(1);
    expect(first.input).toEqual({ file: 'base.yml', instanceId: 'i-0abc' });
    expect(first.token.length).toBeGreaterThan(100);
    await sfnClient.send(
      new SendTaskSuccessCommand({ taskToken: first.token, output: JSON.stringify({ status: 'Success' }) }),
    );
    const second = await nextToken(2);
    expect(second.token).not.toBe(first.token);
    await sfnClient.send(
      new SendTaskFailureCommand({ taskToken: second.token, error: 'PlaybookFailed', cause: 'exit 2' }),
    );
    const record = await finished(executionArn ?? '');
    // Assess
    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(record.output ?? '')).toEqual({
      instanceId: 'i-0abc',
      results: [
        { status: 'Success' },
        { file: 'web.yml', instanceId: 'i-0abc', failure: { Error: 'PlaybookFailed', Cause: 'exit 2' } },
      ],
    });
    // The 30 s Wait ran at timeScale 0.01: judged on the Wait state's own entry and exit (a timer, nothing
    // else), with a bound far from both 0.3 s and 30 s, so a busy machine cannot decide the outcome.
    const waitEvents = record.history.filter((e) => e.stateName === 'Wait for the agent');
    const entered = waitEvents.find((e) => e.type === 'StateEntered')?.timestamp ?? Number.NaN;
    const exited = waitEvents.find((e) => e.type === 'StateExited')?.timestamp ?? Number.NaN;
    expect(exited - entered).toBeGreaterThanOrEqual(300 - 5);
    expect(exited - entered).toBeLessThan(15_000);
    expect(record.stats.byState).toEqual({
      'Match rules': 1,
      'Anything matched?': 1,
      'Wait for the agent': 1,
      'Run playbooks': 1,
      'Run playbook': 2,
      'Playbook failed': 1,
      Record: 1,
    });
    expect(record.stats.transitions).toBe(8);
    const described = await sfnClient.send(new DescribeExecutionCommand({ executionArn }));
    expect(described).toMatchObject({
      status: 'SUCCEEDED',
      name: 'i-0abc-g1',
      stateMachineArn: provisionArn,
    });
    expect(described.stopDate).toBeInstanceOf(Date);
    // A completed task's token is gone, as in AWS.
    await expect(
      sfnClient.send(new SendTaskSuccessCommand({ taskToken: first.token, output: '{}' })),
    ).rejects.toMatchObject({ name: 'TaskTimedOut' });
    await expect(
      sfnClient.send(new SendTaskSuccessCommand({ taskToken: 'AQCnope', output: '{}' })),
    ).rejects.toMatchObject({
      name: 'InvalidToken',
    });
    const history = await sfnClient.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(history.events?.[0]?.type).toBe('ExecutionStarted');
    expect(history.events?.map((e) => e.type)).toContain('MapIterationStarted');
    expect(history.events?.at(-1)?.type).toBe('ExecutionSucceeded');
  });

  it('takes the Choice default and retries a transient Lambda error (counted as a transition)', async () => {
    matchFailuresLeft = 1;
    const { executionArn } = await sfnClient.send(
      new StartExecutionCommand({
        stateMachineArn: provisionArn,
        name: 'i-0def-g1',
        input: JSON.stringify({ instanceId: 'i-0def', playbooks: [] }),
      }),
    );
    const record = await finished(executionArn ?? '');
    expect(record.status).toBe('SUCCEEDED');
    expect(record.stats).toMatchObject({ statesEntered: 3, retries: 1, transitions: 4 });
    expect(record.stats.byState['Nothing to do']).toBe(1);
  });

  it('fails the execution with the function error name when retries are exhausted', async () => {
    matchFailuresLeft = 10;
    const { executionArn } = await sfnClient.send(
      new StartExecutionCommand({
        stateMachineArn: provisionArn,
        input: JSON.stringify({ instanceId: 'i-1', playbooks: [] }),
      }),
    );
    const record = await finished(executionArn ?? '');
    matchFailuresLeft = 0;
    expect(record).toMatchObject({ status: 'FAILED', error: 'TransientError' });
    expect(JSON.parse(record.cause ?? '')).toMatchObject({
      errorType: 'TransientError',
      errorMessage: 'throttled',
    });
    expect(record.stats.retries).toBe(3);
  });

  it('times out a callback task (States.Timeout, not States.TaskFailed); a late SendTaskSuccess gets TaskTimedOut', async () => {
    tokens.length = 0;
    secrets.put('known', 'v');
    const { executionArn } = await sfnClient.send(
      new StartExecutionCommand({
        stateMachineArn: timeoutArn,
        input: JSON.stringify({ secret: 'unknown-secret' }),
      }),
    );
    const { token } = await nextToken(1);
    const record = await finished(executionArn ?? '');
    expect(record.status).toBe('SUCCEEDED');
    const output = JSON.parse(record.output ?? '') as Record<string, { Error?: string }>;
    expect(output.error?.Error).toBe('States.Timeout');
    // The aws-sdk task ran against the local Secrets Manager and failed with Step Functions' error name.
    expect(output.lookup?.Error).toBe('SecretsManager.ResourceNotFoundException');
    await expect(
      sfnClient.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
    ).rejects.toMatchObject({
      name: 'TaskTimedOut',
    });
  });

  it('StartExecution is idempotent for a RUNNING execution with the same name and input, else ExecutionAlreadyExists', async () => {
    tokens.length = 0;
    const input = JSON.stringify({ instanceId: 'i-0aaa', playbooks: ['base.yml'] });
    const start = (body: string) =>
      sfnClient.send(
        new StartExecutionCommand({ stateMachineArn: provisionArn, name: 'i-0aaa-g7', input: body }),
      );
    const a = await start(input);
    const b = await start(input);
    expect(b.executionArn).toBe(a.executionArn);
    expect(b.startDate).toEqual(a.startDate);
    await expect(start(JSON.stringify({ instanceId: 'i-0aaa', playbooks: [] }))).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
    const { token } = await nextToken(1);
    await sfnClient.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await finished(a.executionArn ?? '');
    await expect(start(input)).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    await expect(
      sfnClient.send(new StartExecutionCommand({ stateMachineArn: provisionArn, name: 'bad name', input })),
    ).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(
      sfnClient.send(new StartExecutionCommand({ stateMachineArn: `${provisionArn}x`, input })),
    ).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
    await expect(
      sfnClient.send(new StartExecutionCommand({ stateMachineArn: provisionArn, input: '{nope' })),
    ).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
  });

  it('StopExecution aborts, invalidates its tokens, and ListExecutions filters by status', async () => {
    tokens.length = 0;
    const { executionArn } = await sfnClient.send(
      new StartExecutionCommand({
        stateMachineArn: provisionArn,
        name: 'to-stop',
        input: JSON.stringify({ instanceId: 'i-2', playbooks: ['x.yml'] }),
      }),
    );
    const { token } = await nextToken(1);
    await sfnClient.send(
      new StopExecutionCommand({ executionArn, error: 'Superseded', cause: 'newer generation' }),
    );
    const record = await finished(executionArn ?? '');
    expect(record).toMatchObject({ status: 'ABORTED', error: 'Superseded' });
    await expect(
      sfnClient.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
    ).rejects.toMatchObject({
      name: 'TaskTimedOut',
    });
    const aborted = await sfnClient.send(
      new ListExecutionsCommand({ stateMachineArn: provisionArn, statusFilter: 'ABORTED' }),
    );
    expect(aborted.executions?.map((e) => e.name)).toEqual(['to-stop']);
    const page = await sfnClient.send(
      new ListExecutionsCommand({ stateMachineArn: provisionArn, maxResults: 2 }),
    );
    expect(page.executions).toHaveLength(2);
    expect(page.nextToken).toBeDefined();
    await expect(
      sfnClient.send(new DescribeExecutionCommand({ executionArn: `${executionArn}-x` })),
    ).rejects.toMatchObject({
      name: 'ExecutionDoesNotExist',
    });
  });

  it('throttles SendTaskSuccess like Step Functions; the SDK retries it', async () => {
    tokens.length = 0;
    const seen: string[] = [];
    const retrying = new SFNClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials,
      retryStrategy: {
        acquireInitialRetryToken: async () => ({ getRetryCount: () => 0, getRetryDelay: () => 1 }),
        refreshRetryTokenForRetry: async (t: { getRetryCount(): number }, info: { errorType: string }) => {
          seen.push(info.errorType);
          return { getRetryCount: () => t.getRetryCount() + 1, getRetryDelay: () => 1 };
        },
        recordSuccess: () => {},
      } as never,
    });
    const { executionArn } = await sfnClient.send(
      new StartExecutionCommand({
        stateMachineArn: provisionArn,
        input: JSON.stringify({ instanceId: 'i-3', playbooks: ['a.yml', 'b.yml', 'c.yml'] }),
      }),
    );
    server.resetCounters();
    server.setThrottle({ 'SFN.SendTaskSuccess': 0.6 });
    for (let n = 1; n <= 3; n++) {
      const { token } = await nextToken(n);
      await retrying.send(new SendTaskSuccessCommand({ taskToken: token, output: `{"n":${n}}` }));
    }
    server.setThrottle({});
    const record = await finished(executionArn ?? '');
    expect(JSON.parse(record.output ?? '').results).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const counter = server.counters()['SFN.SendTaskSuccess'];
    expect(counter?.throttled).toBeGreaterThan(0);
    expect(counter?.calls).toBe(3 + (counter?.throttled ?? 0));
    expect(new Set(seen)).toEqual(new Set(['THROTTLING']));
  });
});

describe('StateMachineRunner refusals', () => {
  it('refuses to run when a Task state has no local implementation (it would call real AWS)', () => {
    const asl = {
      StartAt: 'Outer',
      States: {
        Outer: {
          Type: 'Map',
          ItemProcessor: {
            StartAt: 'Inner',
            States: { Inner: { Type: 'Task', Resource: 'arn:aws:states:::ecs:runTask.sync', End: true } },
          },
          End: true,
        },
      },
    };
    expect(() => new StateMachineRunner(asl, { generic: {} })).toThrow(UnmappedTaskError);
    expect(() => new StateMachineRunner(asl, { generic: {} })).toThrow(
      /"Inner" \(arn:aws:states:::ecs:runTask.sync\)/,
    );
    expect(() => new StateMachineRunner(PROVISION_ASL)).toThrow(/"Match rules".*"Run playbook"/);
  });

  it('accepts explicit handlers by state name, and rejects handlers naming unknown states', async () => {
    const asl = { StartAt: 'Only', States: { Only: { Type: 'Task', Resource: fn('x'), End: true } } };
    expect(
      () => new StateMachineRunner(asl, { taskHandlers: { Only: async () => 1, Typo: async () => 2 } }),
    ).toThrow(/Typo/);
    const runner = new StateMachineRunner(asl, { taskHandlers: { Only: async (input) => ({ got: input }) } });
    const run = runner.start(
      { a: 1 },
      {
        executionArn: 'arn:aws:states:us-east-1:1:execution:m:e',
        name: 'e',
        stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:m',
      },
    );
    expect(await run.outcome).toEqual({ status: 'SUCCEEDED', output: { got: { a: 1 } } });
  });

  it('routes a success that arrives before the callback Lambda returned', async () => {
    const broker = new TaskTokenBroker();
    const asl = {
      StartAt: 'Callback',
      States: {
        Callback: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: { FunctionName: fn('fast'), Payload: { 'token.$': '$$.Task.Token' } },
          End: true,
        },
      },
    };
    const runner = new StateMachineRunner(asl, {
      broker,
      generic: {
        // The command finished (and its callback fired) before the invoking function returned.
        invokeFunction: async (_ref, payload) => {
          broker.succeed((payload as { token: string }).token, '"early"');
          return { payload: null };
        },
      },
    });
    const run = runner.start(
      {},
      {
        executionArn: 'arn:aws:states:us-east-1:1:execution:m:f',
        name: 'f',
        stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:m',
      },
    );
    expect(await run.outcome).toEqual({ status: 'SUCCEEDED', output: 'early' });
  });
});

describe('SDK integration error names (as Step Functions reports them)', () => {
  it('names modeled errors <Service>.<Name>Exception, and IAM/signature errors by the catch-all <Service>.<Service>Exception', () => {
    expect(sdkIntegrationErrorName('ssm', 'InvalidInstanceId')).toBe('Ssm.InvalidInstanceIdException');
    expect(sdkIntegrationErrorName('ssm', 'ThrottlingException')).toBe('Ssm.ThrottlingException');
    expect(sdkIntegrationErrorName('ssm', 'InternalServerError')).toBe('Ssm.InternalServerErrorException');
    expect(sdkIntegrationErrorName('ssm', 'AccessDeniedException')).toBe('Ssm.SsmException');
    expect(sdkIntegrationErrorName('s3', 'AccessDenied')).toBe('S3.S3Exception');
    expect(sdkIntegrationErrorName('secretsmanager', 'ResourceNotFoundException')).toBe(
      'SecretsManager.ResourceNotFoundException',
    );
  });
});
