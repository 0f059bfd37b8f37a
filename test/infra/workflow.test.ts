// The provisioning workflow as deployed: the ASL extracted from the synthesized template is validated,
// its permissions are checked against its tasks, and it is RUN with aws-local-stepfunctions against a
// scripted fake world (one handler per Task state; an unmapped Task fails the test instead of calling AWS).
import { createRequire } from 'node:module';
import { StateMachine } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileBundle } from '../../functions/core/bundle.js';
import { DELIVERY_TIMEOUT_SECONDS, DOWNLOAD_ALLOWANCE_SECONDS } from '../../functions/core/command-timing.js';
import { planSteps } from '../../functions/core/plan.js';
import type { MatchResult } from '../../functions/core/types.js';
import { buildCommandRequest } from '../../functions/run-command/command-request.js';
import { PlaybookFailedError, StaleGenerationError, TransientError } from '../../functions/shared/errors.js';
import type { MatchOutput, PlaybookStep } from '../../functions/shared/workflow-contract.js';
import { synthTemplate } from '../../infra/synth.js';
import { extractAsl, forLocalRunner, LOCAL_TIMEOUT_FIELD } from '../../scripts/local/asl.js';
import { startAwsServer } from '../../scripts/local/aws-server.js';
import type { ManagedNode } from '../../scripts/local/fleet.js';
import { ServiceError } from '../../scripts/local/protocol.js';
import { SsmEmulator, type UnregisteredAnswer } from '../../scripts/local/services/ssm.js';
import { StateMachineRunner } from '../../scripts/local/sfn-runner.js';
import { SsmDocuments } from '../../scripts/local/ssm-documents.js';
import { playbooksDir } from '../helpers/paths.js';
import { envOf, functionOf, resources, statementsOfRole, type Template } from './template-helpers.js';

// aws-local-stepfunctions uses Promise.withResolvers (Node >= 22); polyfilled for Node 20 (docs/architecture.md "How local mode proves fidelity").
const promiseCtor = Promise as unknown as { withResolvers?: () => unknown };
promiseCtor.withResolvers ??= () => {
  let resolve: unknown;
  let reject: unknown;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

type Asl = { StartAt: string; States: Record<string, AslState> };
type AslState = Record<string, unknown> & { Type: string };

let template: Template;
let asl: Asl;
beforeAll(() => {
  template = synthTemplate() as Template;
  asl = extractAsl(template) as Asl;
});

/** Every state, including those inside Map item processors. */
function allStates(definition: Asl): [string, AslState][] {
  return Object.entries(definition.States).flatMap(([name, state]) => {
    const processor = (state.ItemProcessor ?? state.Iterator) as Asl | undefined;
    return [[name, state] as [string, AslState], ...(processor ? allStates(processor) : [])];
  });
}

describe('the extracted ASL', () => {
  it('is pure JSON with no CloudFormation intrinsics left, and passes asl-validator', () => {
    expect(JSON.stringify(asl)).not.toMatch(/Fn::|"Ref"|\$\{Token/);
    const result = aslValidator(asl);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('is JSONPath only and never uses ResultPath "$" (which the local runner mishandles)', () => {
    expect(asl).not.toHaveProperty('QueryLanguage', 'JSONata');
    for (const [name, state] of allStates(asl)) {
      expect(state.QueryLanguage ?? 'JSONPath', name).toBe('JSONPath');
      expect(state.ResultPath, name).not.toBe('$');
      for (const c of (state.Catch as { ResultPath?: string }[] | undefined) ?? [])
        expect(c.ResultPath, name).not.toBe('$');
    }
  });

  it('gives every Task a timeout, a jittered capped retry for transient errors, and a catch unless it is a last step', () => {
    const tasks = allStates(asl).filter(([, s]) => s.Type === 'Task');
    expect(tasks.length).toBeGreaterThanOrEqual(10);
    for (const [name, state] of tasks) {
      expect(state.TimeoutSeconds ?? state.TimeoutSecondsPath, name).toBeDefined();
      const retries = state.Retry as {
        JitterStrategy?: string;
        MaxDelaySeconds?: number;
        ErrorEquals: string[];
      }[];
      expect(retries.length, name).toBeGreaterThan(0);
      for (const r of retries) {
        expect(r.JitterStrategy, name).toBe('FULL');
        expect(r.MaxDelaySeconds, name).toBeGreaterThan(0);
        // Only transient errors are retried: never a playbook failure, a stale generation or a timeout.
        expect(r.ErrorEquals, name).not.toContain('States.ALL');
        expect(r.ErrorEquals, name).not.toContain('PlaybookFailed');
        expect(r.ErrorEquals, name).not.toContain('StaleGeneration');
      }
    }
  });

  it('waits longer for the ensure-Ansible command than the command itself may run', () => {
    const [, doc] = resources(template, 'AWS::SSM::Document')[0] ?? ['', {}];
    const commandTimeout = Number(
      (doc.Content as { mainSteps: { inputs: { timeoutSeconds: string } }[] }).mainSteps[0]?.inputs
        .timeoutSeconds,
    );
    expect(commandTimeout).toBeGreaterThan(0);
    expect(asl.States['Ensure Ansible is installed']?.TimeoutSeconds).toBeGreaterThan(commandTimeout);
  });

  it('waits for every command at least its delivery timeout + download allowance + execution timeout, from one source', () => {
    // The λ side: what SendCommand really carries as its (delivery) TimeoutSeconds.
    const sent = buildCommandRequest(
      { instanceId: 'i-1', generation: 1, taskToken: 't', kind: 'ensure-ansible', attempt: 1 },
      undefined,
      compileBundle(playbooksDir),
      {
        bundleUrl: 'https://b/bundle.zip',
        applyDocument: 'AWS-ApplyAnsiblePlaybooks',
        ansibleInstallDocument: 'doc',
        installDependencies: false,
        outputLogGroup: 'g',
        outputBucket: 'b',
      },
    );
    expect(sent.command.TimeoutSeconds).toBe(DELIVERY_TIMEOUT_SECONDS);
    const before = DELIVERY_TIMEOUT_SECONDS + DOWNLOAD_ALLOWANCE_SECONDS;

    // Ensure Ansible: a fixed task timeout in the ASL, over the document's own timeoutSeconds.
    const [, doc] = resources(template, 'AWS::SSM::Document')[0] ?? ['', {}];
    const ensureTimeout = Number(
      (doc.Content as { mainSteps: { inputs: { timeoutSeconds: string } }[] }).mainSteps[0]?.inputs
        .timeoutSeconds,
    );
    expect(asl.States['Ensure Ansible is installed']?.TimeoutSeconds).toBeGreaterThanOrEqual(
      before + ensureTimeout,
    );

    // Run playbook: TimeoutSecondsPath reads the step the match λ planned with the margin the template
    // gives it — for every playbook of the shipped rules.
    const processor = asl.States['Run playbooks in order']?.ItemProcessor as Asl;
    expect(processor.States['Run playbook']?.TimeoutSecondsPath).toBe('$.step.taskTimeoutSeconds');
    const margin = Number(envOf(functionOf(template, 'match')[1]).TASK_TIMEOUT_MARGIN_SECONDS);
    const { config } = compileBundle(playbooksDir);
    const playbooks = config.rules.flatMap((rule) =>
      rule.playbooks.map((p) => ({
        rule: rule.name,
        file: p.file,
        extraVars: {},
        check: false,
        maxAttempts: 1,
        backoffSeconds: 0,
        timeoutSeconds: p.timeoutSeconds ?? rule.timeoutSeconds ?? config.defaults.timeoutSeconds,
      })),
    );
    expect(playbooks.length).toBeGreaterThan(0);
    const steps = planSteps({ playbooks, matchedRules: [] } satisfies MatchResult, {
      taskTimeoutMarginSeconds: margin,
    });
    for (const [i, planned] of steps.entries()) {
      expect(planned.taskTimeoutSeconds, planned.file).toBeGreaterThanOrEqual(
        before + (playbooks[i]?.timeoutSeconds ?? Number.NaN),
      );
    }
  });

  it('catches StaleGeneration wherever a fenced write happens and stops without failing', () => {
    const fenced = [
      'Match rules',
      'Record skipped',
      'Record agent not online',
      'Ensure Ansible is installed',
      'Run playbooks in order',
      'Record the outcome',
      'Record the failure',
    ];
    for (const name of fenced) {
      const catches = asl.States[name]?.Catch as { ErrorEquals: string[]; Next: string }[];
      const stale = catches.find((c) => c.ErrorEquals.includes('StaleGeneration'));
      expect(stale?.Next, name).toBe('Stop: a newer run owns this instance');
    }
    expect(asl.States['Stop: a newer run owns this instance']?.Type).toBe('Succeed');
  });

  it('grants the state machine role exactly the service actions its tasks use', () => {
    // What the tasks need: lambda:InvokeFunction per function, and the SDK integration's action.
    const needed = new Set<string>();
    for (const [, state] of allStates(asl).filter(([, s]) => s.Type === 'Task')) {
      const resource = String(state.Resource);
      const params = state.Parameters as { FunctionName?: string } | undefined;
      if (resource.startsWith('arn:aws:lambda:')) needed.add(`lambda:InvokeFunction ${resource}`);
      else if (resource.startsWith('arn:aws:states:::lambda:invoke'))
        needed.add(`lambda:InvokeFunction ${params?.FunctionName}`);
      else {
        const sdk = /^arn:aws:states:::aws-sdk:([a-z0-9]+):(\w+)$/.exec(resource);
        expect(sdk, `unknown task resource ${resource}`).not.toBeNull();
        const [, service, action] = sdk ?? [];
        needed.add(`${service}:${String(action).charAt(0).toUpperCase()}${String(action).slice(1)} *`);
      }
    }
    expect(needed.size).toBe(6); // match, run-command, check, record, notifier, DescribeInstanceInformation

    const machines = resources(template, 'AWS::StepFunctions::StateMachine');
    expect(machines).toHaveLength(1);
    const [[, machine] = ['', {}]] = machines;
    const roleId = (machine.RoleArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const granted = new Set<string>();
    const infrastructure: string[] = [];
    for (const s of statementsOfRole(template, roleId)) {
      for (const action of s.Action) {
        if (action.startsWith('xray:') || action.startsWith('logs:')) {
          infrastructure.push(action);
          expect(s.Resource, action).toEqual(['*']);
          continue;
        }
        for (const resource of s.Resource) {
          // CDK also grants the function's versions (`<arn>:*`): same function, nothing else.
          granted.add(`${action} ${resource.replace(/:\*$/, '')}`);
        }
      }
    }
    expect([...granted].sort()).toEqual([...needed].sort());
    // Tracing and execution logging: X-Ray segments and CloudWatch Logs delivery, nothing else.
    for (const action of infrastructure) {
      expect(action).toMatch(
        /^(xray:(PutTraceSegments|PutTelemetryRecords|GetSampling\w+)|logs:\w*(LogDelivery|LogDeliveries|ResourcePolic\w+|DescribeLogGroups))$/,
      );
    }
  });

  it('sends the run-command λ only what it reads, and adapts to the local runner outside the payload', () => {
    const local = forLocalRunner(asl);
    const runPlaybook = (a: Asl): Record<string, unknown> => {
      const processor = a.States['Run playbooks in order']?.ItemProcessor as Asl | undefined;
      return processor?.States['Run playbook'] ?? {};
    };
    const params = (a: Asl) => runPlaybook(a).Parameters as { Payload: Record<string, unknown> };
    expect(runPlaybook(asl).TimeoutSecondsPath).toBe('$.step.taskTimeoutSeconds');
    // The deployed payload: the token, the ids and which command — nothing only the local runner needs.
    expect(Object.keys(params(asl).Payload).sort()).toEqual(
      ['attempt.$', 'generation.$', 'instanceId.$', 'kind', 'playbookIndex.$', 'taskToken.$'].sort(),
    );
    expect(params(local).Payload).toEqual(params(asl).Payload);
    expect(runPlaybook(local).TimeoutSecondsPath).toBe(`$.${LOCAL_TIMEOUT_FIELD}`);
    expect(params(local)).toEqual({
      ...params(asl),
      [`${LOCAL_TIMEOUT_FIELD}.$`]: '$.step.taskTimeoutSeconds',
    });
    const { TimeoutSecondsPath: _a, Parameters: _c, ...restAws } = runPlaybook(asl);
    const { TimeoutSecondsPath: _b, Parameters: _d, ...restLocal } = runPlaybook(local);
    expect(restLocal).toEqual(restAws);
    const others = (a: Asl) =>
      JSON.stringify({ ...a, States: { ...a.States, 'Run playbooks in order': null } });
    expect(others(local)).toBe(others(asl));
  });

  it('names the states as an operator reads them', () => {
    expect(asl.StartAt).toBe('Match rules');
    const names = allStates(asl).map(([n]) => n);
    expect(names).toEqual(
      expect.arrayContaining([
        'Any playbook matched?',
        'Is the SSM agent online?',
        'Agent online?',
        'Agent checks left?',
        'Wait for the agent',
        'Ensure Ansible is installed',
        'Run playbooks in order',
        'Run playbook',
        'Attempts left?',
        'Wait before retrying',
        'Playbook failed for good',
        'Ask SSM for the result',
        'Record the outcome',
        'Send one notification',
      ]),
    );
  });
});

// ---- Running the ASL ---------------------------------------------------------------------------------

type Outcome = 'ok' | 'fail' | 'lost' | 'stale' | 'throttled-then-ok';

interface World {
  matched?: boolean;
  playbooks?: PlaybookStep[];
  agentChecksLeft?: number;
  /** PingStatus per DescribeInstanceInformation call (undefined = not registered); the last one repeats. */
  agent?: (string | undefined)[];
  /** Per playbook index: outcome of each attempt. */
  runs?: Record<number, Outcome[]>;
  /** Result of "Ask SSM for the result" per playbook index. */
  checks?: Record<number, 'ok' | 'fail'>;
  staleOnRecord?: boolean;
  /** The ensure-Ansible status event never comes: the task times out (simulated by its error name). */
  ensureLost?: boolean;
}

interface Call {
  state: string;
  payload: Record<string, unknown>;
}

const step = (index: number, retryDelays: number[] = [30, 60]): PlaybookStep => ({
  index,
  file: `playbook-${index}.yml`,
  taskTimeoutSeconds: 2,
  retryDelays,
});

async function run(world: World, definition: Asl = asl) {
  const calls: Call[] = [];
  const attempts: Record<number, number> = {};
  let agentCall = 0;
  const payloadOf = (input: Record<string, unknown>) =>
    (input.Payload as Record<string, unknown> | undefined) ?? input;
  const log = (state: string) => (input: Record<string, unknown>) => {
    calls.push({ state, payload: payloadOf(input) });
    return payloadOf(input);
  };
  const record = (state: string) => async (input: Record<string, unknown>) => {
    const p = log(state)(input);
    if (world.staleOnRecord)
      throw new StaleGenerationError(String(p.instanceId), Number(p.generation), 'newer claim');
    const status = p.status ?? (p.error ? 'FAILED' : 'SUCCESS');
    return { instanceId: p.instanceId, generation: p.generation, status, notify: status !== 'SKIPPED' };
  };
  const handlers: Record<string, (input: Record<string, unknown>) => Promise<unknown>> = {
    'Match rules': async (input) => {
      const p = log('Match rules')(input);
      const output: MatchOutput = {
        instanceId: String(p.instanceId),
        generation: Number(p.generation),
        matched: world.matched ?? true,
        playbooks: world.playbooks ?? [step(0), step(1)],
        agentChecksLeft: world.agentChecksLeft ?? 3,
      };
      return output;
    },
    'Is the SSM agent online?': async (input) => {
      log('Is the SSM agent online?')(input);
      const statuses = world.agent ?? ['Online'];
      const status = statuses[Math.min(agentCall++, statuses.length - 1)];
      return { InstanceInformationList: status ? [{ InstanceId: 'i-1', PingStatus: status }] : [] };
    },
    'Ensure Ansible is installed': async (input) => {
      const p = log('Ensure Ansible is installed')(input);
      if (world.ensureLost) {
        const timeout = new Error('the task token was never answered');
        timeout.name = 'States.Timeout';
        throw timeout;
      }
      expect(p.taskToken).toEqual(expect.any(String));
      return { commandId: 'c-ensure', status: 'Success' };
    },
    'Run playbook': async (input) => {
      const p = log('Run playbook')(input);
      expect(p.taskToken).toEqual(expect.any(String));
      const index = Number(p.playbookIndex);
      attempts[index] = (attempts[index] ?? 0) + 1;
      expect(p.attempt).toBe(attempts[index]);
      const outcome = world.runs?.[index]?.[attempts[index] - 1] ?? 'ok';
      if (outcome === 'fail') throw new PlaybookFailedError(`{"commandId":"c-${index}","status":"Failed"}`);
      if (outcome === 'stale') throw new StaleGenerationError('i-1', 7, 'newer claim');
      if (outcome === 'lost') return new Promise(() => {}); // the status event never comes
      return { commandId: `c-${index}`, status: 'Success' };
    },
    'Ask SSM for the result': async (input) => {
      const p = log('Ask SSM for the result')(input);
      if (world.checks?.[Number(p.playbookIndex)] === 'fail')
        throw new PlaybookFailedError('{"status":"TimedOut"}');
      return { commandId: 'c', status: 'Success' };
    },
    'Ask SSM whether Ansible is installed': async (input) =>
      log('Ask SSM whether Ansible is installed')(input),
    'Record skipped': record('Record skipped'),
    'Record agent not online': record('Record agent not online'),
    'Record the outcome': record('Record the outcome'),
    'Record the failure': record('Record the failure'),
    'Send one notification': async (input) => {
      log('Send one notification')(input);
      return { sent: true, channels: ['sns'] };
    },
  };
  const tasks = allStates(definition)
    .filter(([, s]) => s.Type === 'Task')
    .map(([n]) => n);
  for (const task of tasks) expect(handlers, `no local handler for Task "${task}"`).toHaveProperty([task]);

  const waits = Object.fromEntries(
    allStates(definition)
      .filter(([, s]) => s.Type === 'Wait')
      .map(([n]) => [n, 0]),
  );
  const retries = Object.fromEntries(tasks.map((n) => [n, 0]));
  const machine = new StateMachine(forLocalRunner(definition) as never, {
    validationOptions: { checkArn: false },
  });
  const execution = machine.run(
    { instanceId: 'i-1', generation: 7 },
    {
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        waitTimeOverrides: waits,
        retryIntervalOverrides: retries,
      },
      context: { Task: { Token: 'token-1' } } as never,
    },
  );
  const entered: string[] = [];
  const enteredInput: Record<string, unknown>[] = [];
  for await (const event of execution.eventLogs) {
    const e = event as { type: string; state?: { name: string; input: unknown } };
    if (e.type === 'StateEntered' && e.state) {
      entered.push(e.state.name);
      enteredInput.push(e.state.input as Record<string, unknown>);
    }
  }
  const result = await execution.result;
  const inputsOf = (state: string) => enteredInput.filter((_, i) => entered[i] === state);
  return { result, entered, calls, inputsOf, of: (state: string) => calls.filter((c) => c.state === state) };
}

describe('running the workflow locally', () => {
  it('happy path, 2 playbooks, agent Online: 11 state transitions (budget 16), one command per playbook', async () => {
    const { entered, of, result } = await run({});
    expect(entered).toEqual([
      'Match rules',
      'Any playbook matched?',
      'Is the SSM agent online?',
      'Agent online?',
      'Ensure Ansible is installed',
      'Run playbooks in order',
      'Run playbook',
      'Run playbook',
      'Record the outcome',
      'Send one notification',
      'Provisioning finished',
    ]);
    expect(entered.length).toBeLessThanOrEqual(16);
    expect(of('Run playbook').map((c) => c.payload)).toEqual([
      {
        taskToken: 'token-1',
        instanceId: 'i-1',
        generation: 7,
        kind: 'playbook',
        playbookIndex: 0,
        attempt: 1,
      },
      {
        taskToken: 'token-1',
        instanceId: 'i-1',
        generation: 7,
        kind: 'playbook',
        playbookIndex: 1,
        attempt: 1,
      },
    ]);
    expect(of('Ensure Ansible is installed')[0]?.payload).toEqual({
      taskToken: 'token-1',
      instanceId: 'i-1',
      generation: 7,
      kind: 'ensure-ansible',
      attempt: 1,
    });
    expect(of('Record the outcome')[0]?.payload).toEqual({ instanceId: 'i-1', generation: 7 });
    expect(of('Send one notification')[0]?.payload).toEqual({
      instanceId: 'i-1',
      generation: 7,
      status: 'SUCCESS',
      notify: true,
    });
    expect(result).toEqual({
      instanceId: 'i-1',
      generation: 7,
      status: 'SUCCESS',
      notify: true,
      notification: { sent: true, channels: ['sns'] },
    });
  });

  it('no rule matched: records SKIPPED and stops, without asking the agent or notifying', async () => {
    const { entered, of } = await run({ matched: false, playbooks: [] });
    expect(entered).toEqual(['Match rules', 'Any playbook matched?', 'Record skipped']);
    expect(of('Record skipped')[0]?.payload).toEqual({ instanceId: 'i-1', generation: 7, status: 'SKIPPED' });
  });

  it('waits for the agent in a bounded loop and proceeds once it is Online', async () => {
    const { entered, inputsOf } = await run({
      agent: [undefined, 'ConnectionLost', 'Online'],
      agentChecksLeft: 5,
    });
    expect(entered.filter((s) => s === 'Is the SSM agent online?')).toHaveLength(3);
    expect(entered.filter((s) => s === 'Wait for the agent')).toHaveLength(2);
    expect(inputsOf('Agent checks left?').map((i) => i.agentChecksLeft)).toEqual([5, 4]);
    expect(entered.at(-1)).toBe('Provisioning finished');
  });

  it('records FAILED with the reason when the agent never comes Online, then notifies', async () => {
    const { entered, of } = await run({ agent: [undefined], agentChecksLeft: 2 });
    expect(entered.filter((s) => s === 'Is the SSM agent online?')).toHaveLength(3);
    expect(of('Run playbook')).toEqual([]);
    const recorded = of('Record agent not online')[0]?.payload;
    expect(recorded?.status).toBe('FAILED');
    expect(String(recorded?.reason)).toMatch(/^AgentNotOnline: /);
    expect(of('Send one notification')[0]?.payload.status).toBe('FAILED');
  });

  it('retries a failed playbook after the delay the match step computed, counting attempts', async () => {
    const { entered, of, inputsOf } = await run({ runs: { 0: ['fail', 'ok'] } });
    expect(of('Run playbook').map((c) => [c.payload.playbookIndex, c.payload.attempt])).toEqual([
      [0, 1],
      [0, 2],
      [1, 1],
    ]);
    expect(inputsOf('Wait before retrying').map((i) => i.delay)).toEqual([30]);
    expect(entered.at(-1)).toBe('Provisioning finished');
    expect(of('Record the outcome')).toHaveLength(1);
  });

  it('a playbook failing twice then succeeding: three attempts with growing delays, then the next playbook', async () => {
    const { entered, of, inputsOf } = await run({ runs: { 0: ['fail', 'fail', 'ok'] } });
    expect(of('Run playbook').map((c) => [c.payload.playbookIndex, c.payload.attempt])).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 1],
    ]);
    expect(inputsOf('Wait before retrying').map((i) => i.delay)).toEqual([30, 60]);
    expect(entered).not.toContain('Playbook failed for good');
    expect(of('Record the outcome')).toHaveLength(1);
    expect(of('Send one notification').map((c) => c.payload.status)).toEqual(['SUCCESS']);
  });

  it('stops at the first playbook that fails for good and records the failure with its error', async () => {
    const { entered, of, inputsOf } = await run({ runs: { 0: ['ok'], 1: ['fail', 'fail', 'fail'] } });
    expect(of('Run playbook').map((c) => [c.payload.playbookIndex, c.payload.attempt])).toEqual([
      [0, 1],
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    expect(inputsOf('Wait before retrying').map((i) => i.delay)).toEqual([30, 60]);
    expect(entered).toContain('Playbook failed for good');
    const error = of('Record the failure')[0]?.payload.error as { Error: string; Cause: string };
    expect(error.Error).toBe('PlaybookFailed');
    expect(error.Cause).toContain('"status":"Failed"');
    expect(of('Record the outcome')).toEqual([]);
    // Exactly one notification, with the status the record step decided.
    expect(of('Send one notification').map((c) => c.payload.status)).toEqual(['FAILED']);
    expect(entered.at(-1)).toBe('Provisioning finished');
  });

  it('asks SSM directly when the status event is lost (task timeout), and continues on its answer', async () => {
    const { entered, of } = await run({ runs: { 0: ['lost'] }, checks: { 0: 'ok' } });
    expect(entered).toContain('Ask SSM for the result');
    expect(of('Ask SSM for the result')[0]?.payload).toEqual({
      instanceId: 'i-1',
      generation: 7,
      kind: 'playbook',
      playbookIndex: 0,
    });
    expect(of('Run playbook').map((c) => c.payload.playbookIndex)).toEqual([0, 1]);
    expect(entered.at(-1)).toBe('Provisioning finished');
  }, 20_000);

  it('asks SSM when the ensure-Ansible event is lost, and still runs every playbook with the state intact', async () => {
    const { entered, of, result } = await run({ ensureLost: true });
    expect(entered).toContain('Ask SSM whether Ansible is installed');
    expect(of('Ask SSM whether Ansible is installed')[0]?.payload).toEqual({
      instanceId: 'i-1',
      generation: 7,
      kind: 'ensure-ansible',
    });
    // The check's own result must not replace the workflow state (the playbooks to run next).
    expect(of('Run playbook').map((c) => c.payload.playbookIndex)).toEqual([0, 1]);
    expect(result).toMatchObject({ status: 'SUCCESS' });
  }, 20_000);

  it('treats a lost event that SSM reports as failed like any failed attempt', async () => {
    const { of } = await run({ runs: { 0: ['lost', 'ok'] }, checks: { 0: 'fail' } });
    expect(of('Run playbook').map((c) => [c.payload.playbookIndex, c.payload.attempt])).toEqual([
      [0, 1],
      [0, 2],
      [1, 1],
    ]);
  }, 20_000);

  it('stops quietly when a newer generation owns the instance', async () => {
    const inMap = await run({ runs: { 0: ['stale'] } });
    expect(inMap.entered.at(-1)).toBe('Stop: a newer run owns this instance');
    expect(inMap.of('Record the outcome')).toEqual([]);
    expect(inMap.of('Send one notification')).toEqual([]);
    const atRecord = await run({ staleOnRecord: true });
    expect(atRecord.entered.at(-1)).toBe('Stop: a newer run owns this instance');
    expect(atRecord.of('Send one notification')).toEqual([]);
  });

  it('retries transient errors of a task (TransientError) before giving up', async () => {
    let calls = 0;
    const definition = structuredClone(asl);
    const { of } = await runWith(definition, {
      'Match rules': async (input) => {
        calls += 1;
        if (calls < 3) throw new TransientError('throttled');
        return { ...input, matched: false, playbooks: [], agentChecksLeft: 0 };
      },
    });
    expect(calls).toBe(3);
    expect(of('Record skipped')).toHaveLength(1);
  });

  it('without the ensure step (ansibleInstall document/preinstalled), the happy path takes 10 transitions', async () => {
    const documentMode = extractAsl(
      synthTemplate({ context: { 'autoprov:ansibleInstall': 'document' } }),
    ) as Asl;
    const { entered } = await run({}, documentMode);
    expect(entered).not.toContain('Ensure Ansible is installed');
    expect(entered).toHaveLength(10);
  });
});

/** Runs with a few handlers replaced, the rest from a default happy world. */
async function runWith(
  definition: Asl,
  replaced: Record<string, (input: Record<string, unknown>) => Promise<unknown>>,
) {
  const calls: Call[] = [];
  const handlers: Record<string, (input: Record<string, unknown>) => Promise<unknown>> = {};
  for (const [name, state] of allStates(definition)) {
    if (state.Type !== 'Task') continue;
    handlers[name] = async (input) => {
      calls.push({ state: name, payload: input });
      const custom = replaced[name];
      if (custom) return custom(input);
      return { instanceId: 'i-1', generation: 7, status: 'SKIPPED', notify: false };
    };
  }
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } });
  const execution = machine.run(
    { instanceId: 'i-1', generation: 7 },
    {
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        retryIntervalOverrides: Object.fromEntries(Object.keys(handlers).map((n) => [n, 0])),
      },
    },
  );
  await execution.result;
  return { of: (state: string) => calls.filter((c) => c.state === state) };
}

// ---- The agent check against the local SSM ------------------------------------------------------------
// "Is the SSM agent online?" is an aws-sdk integration: here it runs through the real SDK against the local
// SSM, and fails the way Step Functions names SDK-integration errors (scripts/local/sfn-task-implementations.ts); every
// Lambda task is scripted.

interface AgentWorld {
  /** DescribeInstanceInformation calls answered before the agent registers (then Online). */
  readonly unregisteredFor?: number;
  readonly unregistered?: UnregisteredAnswer;
  /** DescribeInstanceInformation is denied by IAM with this message. */
  readonly deny?: string;
}

async function runAgentCheck(world: AgentWorld) {
  let checks = 0;
  const node: ManagedNode = {
    instanceId: 'i-1',
    pingStatus: 'Online',
    lastPingAt: 0,
    platformType: 'Linux',
    platformName: 'Amazon Linux',
    ipAddress: '10.0.0.1',
    computerName: 'ip-10-0-0-1.ec2.internal',
    resourceType: 'EC2Instance',
    registeredAt: 0,
  };
  const registered = () => checks > (world.unregisteredFor ?? 0);
  const ssm = new SsmEmulator({
    nodes: {
      managedNode: (id) => (id === 'i-1' && registered() ? node : undefined),
      managedNodes: () => (registered() ? [node] : []),
    },
    documents: new SsmDocuments(),
    runner: { submit: () => {}, cancel: () => {} },
    ...(world.unregistered ? { unregisteredInstances: world.unregistered } : {}),
  });
  const server = await startAwsServer({
    emulators: [
      {
        service: 'SSM',
        handle: (operation, request) => {
          if (operation === 'DescribeInstanceInformation') {
            checks += 1;
            // What IAM answers before the service looks at the request.
            if (world.deny) throw new ServiceError('AccessDeniedException', world.deny);
          }
          return ssm.handle(operation, request);
        },
      },
    ],
  });
  const calls: Call[] = [];
  const scripted =
    (state: string, answer: (payload: Record<string, unknown>) => unknown) =>
    async (input: unknown): Promise<never> => {
      const payload = ((input as { Payload?: unknown }).Payload ?? input) as Record<string, unknown>;
      calls.push({ state, payload });
      return answer(payload) as never;
    };
  const record = (payload: Record<string, unknown>) => {
    const status = payload.status ?? (payload.error ? 'FAILED' : 'SUCCESS');
    return { instanceId: 'i-1', generation: 7, status, notify: true };
  };
  const runner = new StateMachineRunner(forLocalRunner(asl), {
    taskHandlers: {
      'Match rules': scripted('Match rules', () => ({
        instanceId: 'i-1',
        generation: 7,
        matched: true,
        playbooks: [step(0)],
        agentChecksLeft: 5,
      })),
      'Ensure Ansible is installed': scripted('Ensure Ansible is installed', () => ({ status: 'Success' })),
      'Ask SSM whether Ansible is installed': scripted('Ask SSM whether Ansible is installed', () => ({})),
      'Run playbook': scripted('Run playbook', () => ({ commandId: 'c-0', status: 'Success' })),
      'Ask SSM for the result': scripted('Ask SSM for the result', () => ({ status: 'Success' })),
      'Record skipped': scripted('Record skipped', record),
      'Record agent not online': scripted('Record agent not online', record),
      'Record the outcome': scripted('Record the outcome', record),
      'Record the failure': scripted('Record the failure', record),
      'Send one notification': scripted('Send one notification', () => ({ sent: true, channels: ['sns'] })),
    },
    generic: { awsEndpoint: server.endpoint, region: 'us-east-1' },
    // Waits and retry intervals 1,000× shorter; the assertions count calls and states, never time.
    timeScale: 0.001,
    validation: { checkArn: false },
  });
  try {
    const execution = runner.start(
      { instanceId: 'i-1', generation: 7 },
      {
        executionArn: 'arn:aws:states:us-east-1:123456789012:execution:Provisioning:i-1-g7',
        name: 'i-1-g7',
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Provisioning',
      },
    );
    const outcome = await execution.outcome;
    const entered = execution.history.filter((e) => e.type === 'StateEntered').map((e) => e.stateName);
    return { outcome, entered, checks, of: (state: string) => calls.filter((c) => c.state === state) };
  } finally {
    await server.stop();
  }
}

describe('the agent check against the local SSM', () => {
  it.each([
    ['an empty InstanceInformationList', 'omitted'],
    ['InvalidInstanceId (Ssm.InvalidInstanceIdException)', 'InvalidInstanceId'],
  ] as const)(
    'an agent not registered for the first two checks, answered with %s, is waited for and the run succeeds',
    async (_answer, unregistered) => {
      const { outcome, entered, checks, of } = await runAgentCheck({ unregisteredFor: 2, unregistered });
      expect(checks).toBe(3);
      expect(entered.filter((s) => s === 'Wait for the agent')).toHaveLength(2);
      expect(of('Record the failure')).toEqual([]);
      expect(of('Run playbook')).toHaveLength(1);
      expect(of('Send one notification').map((c) => c.payload.status)).toEqual(['SUCCESS']);
      expect(outcome.status).toBe('SUCCEEDED');
    },
  );

  it('AccessDenied on DescribeInstanceInformation fails fast: one call, and the run records FAILED with the message', async () => {
    const denied =
      'User: arn:aws:sts::123456789012:assumed-role/Provisioning-Role/x is not authorized to perform: ssm:DescribeInstanceInformation on resource: arn:aws:ssm:us-east-1:123456789012:*';
    const { checks, of, entered } = await runAgentCheck({ deny: denied });
    expect(checks).toBe(1);
    expect(entered).not.toContain('Run playbook');
    const error = of('Record the failure')[0]?.payload.error as { Error: string; Cause: string };
    expect(error.Error).toBe('Ssm.SsmException');
    expect(error.Cause).toContain(denied);
    expect(of('Send one notification').map((c) => c.payload.status)).toEqual(['FAILED']);
  });
});
