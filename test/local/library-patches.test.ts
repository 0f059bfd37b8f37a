// aws-local-stepfunctions 3.0.0 run UNPATCHED on minimal cases: each test shows that an upstream behaviour the
// local runner works around (scripts/local/sfn-library-patches.ts lists them, with the upstream source) is
// still there. A test here failing means the library changed: drop or revisit the workaround its title names.
// This file must not import scripts/local/sfn-runner.ts, which installs the patches into the library; vitest
// runs each test file in its own worker (pool: forks), and the first test checks the library is as shipped.
// Only the Promise.withResolvers polyfill is installed (outside its own test): Node 20 lacks that Node 22 API,
// and without it no Task runs at all.
import { ExecutionAbortedError, ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { installPromiseWithResolvers, MAP_FIX } from '../../scripts/local/sfn-library-patches.js';

const RESOURCE = 'arn:aws:lambda:us-east-1:123456789012:function:local';

/** The library's StateMachine, without its definition validation (ajv: slow, and beside the point here). */
function machineOf(definition: ConstructorParameters<typeof StateMachine>[0]): StateMachine {
  return new StateMachine(definition, { validationOptions: { noValidate: true } });
}

/** Lets pending promise reactions run (the library's transitions are promise chains), until `done` or 50 turns. */
async function settle(done: () => boolean = () => false): Promise<void> {
  for (let turn = 0; turn < 50 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** What an execution's result rejected with (undefined if it succeeded). */
async function failure(result: Promise<unknown>): Promise<unknown> {
  return result.then(
    () => undefined,
    (error: unknown) => error,
  );
}

beforeAll(() => installPromiseWithResolvers());

describe('aws-local-stepfunctions 3.0.0 as shipped (each test fails once upstream fixes what it shows)', () => {
  it('runs here without the runner’s patches installed', () => {
    expect((StateMachine.prototype as unknown as Record<symbol, unknown>)[MAP_FIX]).toBeUndefined();
  });

  it('calls Promise.withResolvers (Node >= 22) in every Task: keep installPromiseWithResolvers while the tools run on Node 20', async () => {
    const ctor = Promise as unknown as { withResolvers?: unknown };
    const installed = ctor.withResolvers;
    delete ctor.withResolvers;
    try {
      const machine = machineOf({
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: RESOURCE, End: true } },
      });
      const run = machine.run({}, { overrides: { taskResourceLocalHandlers: { T: async () => 'done' } } });
      const error = await failure(run.result);
      expect(error).toBeInstanceOf(ExecutionError);
      expect(String((error as ExecutionError).cause)).toMatch(/withResolvers is not a function/);
    } finally {
      ctor.withResolvers = installed;
    }
  });

  it('starts the Map iterations still queued after one failed: keep installMapIterationFix', async () => {
    const started: unknown[] = [];
    const machine = machineOf({
      StartAt: 'Each',
      States: {
        Each: {
          Type: 'Map',
          MaxConcurrency: 1,
          ItemsPath: '$.items',
          ItemProcessor: {
            StartAt: 'Run',
            States: { Run: { Type: 'Task', Resource: RESOURCE, End: true } },
          },
          End: true,
        },
      },
    });
    const run = machine.run(
      { items: [1, 2, 3] },
      {
        overrides: {
          taskResourceLocalHandlers: {
            Run: async (item) => {
              started.push(item);
              if (item === 1) throw Object.assign(new Error('the first playbook failed'), { name: 'Failed' });
              return item;
            },
          },
        },
      },
    );
    expect(await failure(run.result)).toBeInstanceOf(ExecutionError);
    await settle(() => started.length === 3);
    // Step Functions starts no iteration once the Map state failed: it would have run [1] only.
    expect(started).toEqual([1, 2, 3]);
  });

  it('has no $$.Task.Token: Parameters reading it fail with States.Runtime — keep the runner’s Task.Token getter', async () => {
    let calls = 0;
    const machine = machineOf({
      StartAt: 'T',
      States: {
        T: { Type: 'Task', Resource: RESOURCE, Parameters: { 'token.$': '$$.Task.Token' }, End: true },
      },
    });
    const run = machine.run(
      {},
      {
        overrides: {
          taskResourceLocalHandlers: {
            T: async () => {
              calls++;
              return null;
            },
          },
        },
      },
    );
    const error = await failure(run.result);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as ExecutionError).cause).toMatchObject({
      name: 'States.Runtime',
      message: expect.stringContaining("'$$.Task.Token' does not point to a value"),
    });
    expect(calls).toBe(0);
  });

  it('runs a retry of a Task after its execution was aborted: keep the runner’s `closed` guard', async () => {
    const attempts: ((error: Error) => void)[] = [];
    const machine = machineOf({
      StartAt: 'T',
      States: {
        T: {
          Type: 'Task',
          Resource: RESOURCE,
          Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 3600, MaxAttempts: 1 }],
          End: true,
        },
      },
    });
    const run = machine.run(
      {},
      {
        overrides: {
          taskResourceLocalHandlers: {
            T: () => new Promise((_, reject) => attempts.push(reject)),
          },
        },
      },
    );
    await settle(() => attempts.length === 1);
    expect(attempts).toHaveLength(1);
    run.abort();
    expect(await failure(run.result)).toBeInstanceOf(ExecutionAbortedError);
    attempts[0]?.(new Error('interrupted by the stop'));
    await settle(() => attempts.length === 2);
    // Step Functions runs nothing more once an execution is stopped; the library runs the Task again at once
    // (the abort cuts the hour-long retry interval short).
    expect(attempts).toHaveLength(2);
    attempts[1]?.(new Error('the last attempt ends too')); // no attempt is left pending after the test
  });

  it('keeps a Task’s timeout timer armed after its execution was aborted: keep TaskTokenBroker.closeExecution', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let started = false;
      const machine = machineOf({
        StartAt: 'T',
        States: { T: { Type: 'Task', Resource: RESOURCE, TimeoutSeconds: 3600, End: true } },
      });
      const run = machine.run(
        {},
        {
          overrides: {
            taskResourceLocalHandlers: {
              T: () => {
                started = true;
                return new Promise(() => {});
              },
            },
          },
        },
      );
      await settle(() => started);
      expect(vi.getTimerCount()).toBe(1); // the Task's TimeoutSeconds
      run.abort();
      expect(await failure(run.result)).toBeInstanceOf(ExecutionAbortedError);
      await settle();
      // Still armed an hour ahead: a process running this execution could not exit before it fires.
      expect(vi.getTimerCount()).toBe(1);
    } finally {
      vi.clearAllTimers();
      vi.useRealTimers();
    }
  });

  it('waits a fixed override whatever SecondsPath reads from the input: keep the runner’s scaled Wait rewrite', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const machine = machineOf({
        StartAt: 'W',
        States: { W: { Type: 'Wait', SecondsPath: '$.delay', End: true } },
      });
      const ended: number[] = [];
      for (const delay of [1, 3600]) {
        const run = machine.run({ delay }, { overrides: { waitTimeOverrides: { W: 500 } } });
        void run.result.then(() => ended.push(delay));
      }
      await settle();
      await vi.advanceTimersByTimeAsync(500);
      await settle(() => ended.length === 2);
      // A scale applied to the input (what the rewrite does) would keep the hour-long wait 3600 times longer.
      expect(ended.sort((a, b) => a - b)).toEqual([1, 3600]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads TimeoutSecondsPath from the Parameters output, not the state input: keep asl.ts forLocalRunner', async () => {
    const machine = machineOf({
      StartAt: 'T',
      States: {
        T: {
          Type: 'Task',
          Resource: RESOURCE,
          TimeoutSecondsPath: '$.timeout',
          Parameters: { 'Payload.$': '$' },
          End: true,
        },
      },
    });
    const run = machine.run(
      { timeout: 30 },
      { overrides: { taskResourceLocalHandlers: { T: async () => 'done' } } },
    );
    // Step Functions reads $.timeout from the state input (30 s) and the Task succeeds.
    const error = await failure(run.result);
    expect(error).toBeInstanceOf(ExecutionError);
    expect((error as ExecutionError).cause).toMatchObject({
      name: 'States.Runtime',
      message: expect.stringContaining("'$.timeout' does not point to a value"),
    });
  });
});
