// Runs a state machine's ASL (the one extracted from the synthesized template) with aws-local-stepfunctions
// 3.0.0, with every Task state overridden by a local implementation chosen by state name. The runner
// refuses to start if any Task — including those inside Map/Parallel — has no local implementation:
// an unmapped Task would make the library call real AWS Lambda. This module owns the execution: the Context
// Object, Wait and Retry scaling, stats and history. Task tokens are in sfn-task-tokens.ts, the generic Task
// implementations in sfn-task-implementations.ts, and the library patches, installed here, in
// sfn-library-patches.ts; this module re-exports their public API.
//
// Library facts this relies on (3.0.0): the task override gets the input after Parameters only; the
// Context Object is `{...runOptions.context, Execution: {...}}`, so `Task.Token` is a getter on a nested
// object (minting a token when Parameters read `$$.Task.Token`, claimed synchronously by the override
// that runs right after); Task timeouts default to 60 s when TimeoutSeconds(Path) is absent and
// TimeoutSecondsPath is read from the Parameters output (asl.ts forLocalRunner adapts the definition);
// HeartbeatSeconds is ignored; on Node 20 it needs Promise.withResolvers (polyfilled, sfn-library-patches.ts).
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
} from 'aws-local-stepfunctions';
import { installMapIterationFix, installPromiseWithResolvers } from './sfn-library-patches.js';
import {
  type AslStates,
  allStates,
  type GenericTaskDeps,
  genericTaskImplementation,
  type TaskCall,
  type TaskImplementation,
  taskStates,
} from './sfn-task-implementations.js';
import { type Json, type JsonObject, TaskError, TaskTokenBroker } from './sfn-task-tokens.js';

export { installMapIterationFix, installPromiseWithResolvers } from './sfn-library-patches.js';
export {
  allStates,
  classifyResource,
  type GenericTaskDeps,
  genericTaskImplementation,
  sdkIntegrationErrorName,
  type TaskCall,
  type TaskImplementation,
  type TaskResourceKind,
  type TaskStateInfo,
  taskStates,
} from './sfn-task-implementations.js';
export { TaskError, TaskTokenBroker, TaskTokenError, type TokenErrorCode } from './sfn-task-tokens.js';

installPromiseWithResolvers();
installMapIterationFix();

export class UnmappedTaskError extends Error {
  override name = 'UnmappedTaskError';
}

// ----- the runner ---------------------------------------------------------------------------------

export interface RunnerOptions {
  /** Local implementations by state name; they win over the generic ones. */
  readonly taskHandlers?: Readonly<Record<string, TaskImplementation>>;
  /** Enables the generic implementations (sfn-task-implementations.ts) for Tasks without an explicit handler. */
  readonly generic?: GenericTaskDeps;
  readonly broker?: TaskTokenBroker;
  /** Wait durations in ms by state name (wins over timeScale). */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
  /**
   * Scales `Wait` states with a static `Seconds`, and Retry intervals (each retrier's IntervalSeconds;
   * backoff and jitter are then not applied). E.g. 0.01 turns a 30 s wait into 300 ms.
   */
  readonly timeScale?: number;
  /**
   * With timeScale: a fixed duration for Waits using SecondsPath/Timestamp/TimestampPath. Without it, a
   * SecondsPath/TimestampPath Wait lasts the time it reads × timeScale (a growing backoff stays visible);
   * a static Timestamp is waited for in real time.
   */
  readonly dynamicWaitMs?: number;
  /** aws-local-stepfunctions validation options (e.g. checkArn: false for placeholder ARNs). */
  readonly validation?: {
    readonly checkPaths?: boolean;
    readonly checkArn?: boolean;
    readonly noValidate?: boolean;
  };
}

export interface ExecutionStats {
  /** States entered, including those inside Map iterations and Parallel branches. */
  statesEntered: number;
  /** Retries of a failed state (each re-runs the state: a transition in AWS's billing). */
  retries: number;
  /** statesEntered + retries: what the benchmark reports as state transitions. */
  transitions: number;
  byState: Record<string, number>;
}

export interface HistoryEvent {
  readonly timestamp: number;
  readonly type: string;
  readonly stateName?: string;
  readonly stateType?: string;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: unknown;
  readonly index?: number;
}

export type ExecutionOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: Json }
  | { readonly status: 'FAILED'; readonly error: string; readonly cause: string }
  | { readonly status: 'TIMED_OUT'; readonly error: string; readonly cause: string }
  | { readonly status: 'ABORTED' };

export interface RunningExecution {
  /** Settles (never rejects) when the execution ends and its event log has been read. */
  readonly outcome: Promise<ExecutionOutcome>;
  readonly stats: ExecutionStats;
  readonly history: HistoryEvent[];
  abort(): void;
}

/** Resource of the local Task that stands in for a Wait whose duration comes from its input (see below). */
const SCALED_WAIT_RESOURCE = 'arn:aws:states:::local:scaledWait';
/** The library's Task timeout must outlast any scaled wait; below setTimeout's 2^31 ms limit. */
const SCALED_WAIT_TIMEOUT_SECONDS = 2_000_000;

export class StateMachineRunner {
  readonly broker: TaskTokenBroker;
  private readonly machine: StateMachine;
  private readonly implementations = new Map<string, TaskImplementation>();
  private readonly waitOverrides: Record<string, number> = {};
  private readonly retryOverrides: Record<string, number[]> = {};
  /** Waits run as scaled local Tasks (SecondsPath/TimestampPath with a time scale): state name → path. */
  private readonly scaledWaits = new Map<string, { secondsPath?: string; timestampPath?: string }>();
  /** Scaled waits in progress, per execution: ended early when the execution stops. */
  private readonly sleepers = new Map<string, Set<() => void>>();

  constructor(
    readonly definition: unknown,
    private readonly options: RunnerOptions = {},
  ) {
    this.broker = options.broker ?? new TaskTokenBroker();
    const unmapped: string[] = [];
    for (const task of taskStates(definition)) {
      const implementation =
        options.taskHandlers?.[task.name] ??
        (options.generic ? genericTaskImplementation(task, options.generic) : undefined);
      if (implementation) this.implementations.set(task.name, implementation);
      else unmapped.push(`"${task.name}" (${task.resource})`);
    }
    const extra = Object.keys(options.taskHandlers ?? {}).filter((n) => !this.implementations.has(n));
    if (unmapped.length > 0) {
      throw new UnmappedTaskError(
        `Refusing to run: Task state(s) ${unmapped.join(', ')} have no local implementation, so ` +
          'aws-local-stepfunctions would call real AWS. Map them in taskHandlers or enable generic implementations.',
      );
    }
    if (extra.length > 0)
      throw new UnmappedTaskError(`taskHandlers name unknown Task state(s): ${extra.join(', ')}`);
    this.computeTimeOverrides();
    const runnable = this.scaleDynamicWaits(definition);
    this.machine = new StateMachine(runnable as ConstructorParameters<typeof StateMachine>[0], {
      validationOptions: { checkArn: true, checkPaths: true, ...options.validation },
    });
  }

  /**
   * The library can only replace a Wait's duration with a fixed number (waitTimeOverrides, looked up by
   * state name without the input), so a retry backoff read with SecondsPath would not grow. With a time
   * scale (and no fixed dynamicWaitMs), each Wait with SecondsPath/TimestampPath runs instead as a local
   * Task that reads the same path from the same input and sleeps that long × timeScale; its result is its
   * input, like a Wait. Only the definition the library runs changes: `definition` (DescribeStateMachine)
   * keeps the real Wait, and the history and the stats report it as a Wait.
   *
   * Upstream (aws-local-stepfunctions 3.0.0): src/stateMachine/stateActions/WaitStateAction.ts `execute`,
   * main.node.esm.js:2435-2438 — `waitTimeOverrides[stateName]` (typed `number`) replaces the Wait's duration
   * whatever SecondsPath/TimestampPath read from the input, and no option scales a Wait by its input.
   * Tested unpatched in test/local/library-patches.test.ts.
   */
  private scaleDynamicWaits(definition: unknown): unknown {
    const scale = this.options.timeScale;
    if (scale === undefined || this.options.dynamicWaitMs !== undefined) return definition;
    const copy = JSON.parse(JSON.stringify(definition)) as AslStates;
    const visit = (machine: AslStates | undefined) => {
      for (const [name, state] of Object.entries(machine?.States ?? {})) {
        if (state.Type === 'Map') visit((state.ItemProcessor ?? state.Iterator) as AslStates);
        if (state.Type === 'Parallel' && Array.isArray(state.Branches))
          for (const branch of state.Branches) visit(branch as AslStates);
        if (state.Type !== 'Wait' || this.options.waitTimeOverrides?.[name] !== undefined) continue;
        const { SecondsPath, TimestampPath } = state;
        if (typeof SecondsPath !== 'string' && typeof TimestampPath !== 'string') continue;
        this.scaledWaits.set(name, {
          ...(typeof SecondsPath === 'string' ? { secondsPath: SecondsPath } : {}),
          ...(typeof TimestampPath === 'string' ? { timestampPath: TimestampPath } : {}),
        });
        delete this.waitOverrides[name];
        const task: JsonObject = {
          Type: 'Task',
          Resource: SCALED_WAIT_RESOURCE,
          TimeoutSeconds: SCALED_WAIT_TIMEOUT_SECONDS,
        };
        for (const key of ['Comment', 'InputPath', 'OutputPath', 'Next', 'End'] as const) {
          const value = state[key];
          if (value !== undefined) task[key] = value;
        }
        (machine as { States: Record<string, JsonObject> }).States[name] = task;
        this.implementations.set(name, (input, call) => this.scaledWait(name, input, call, scale));
      }
    };
    visit(copy);
    return copy;
  }

  private scaledWait(name: string, input: Json, call: TaskCall, scale: number): Promise<Json> {
    const paths = this.scaledWaits.get(name) ?? {};
    let ms: number;
    if (paths.secondsPath !== undefined) {
      const seconds = readPath(input, paths.secondsPath);
      if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
        throw new TaskError(
          'States.Runtime',
          `Wait ${name}: SecondsPath ${paths.secondsPath} must point to a non-negative integer, got ${JSON.stringify(seconds)}`,
        );
      }
      ms = seconds * 1000;
    } else {
      const at = readPath(input, paths.timestampPath ?? '$');
      const time = typeof at === 'string' ? Date.parse(at) : Number.NaN;
      if (Number.isNaN(time)) {
        throw new TaskError(
          'States.Runtime',
          `Wait ${name}: TimestampPath ${paths.timestampPath} must point to an ISO-8601 timestamp, got ${JSON.stringify(at)}`,
        );
      }
      ms = Math.max(0, time - Date.now());
    }
    const sleepers = this.sleepers.get(call.executionArn) ?? new Set<() => void>();
    this.sleepers.set(call.executionArn, sleepers);
    return new Promise<Json>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve(input);
      };
      const timer = setTimeout(done, Math.round(ms * scale));
      sleepers.add(done);
    });
  }

  /** Ends the execution's scaled waits (it stopped or ended). */
  private wakeSleepers(executionArn: string): void {
    for (const wake of [...(this.sleepers.get(executionArn) ?? [])]) wake();
    this.sleepers.delete(executionArn);
  }

  start(
    input: Json,
    context: { executionArn: string; name: string; stateMachineArn: string },
  ): RunningExecution {
    // The library has no task tokens: its Context Object is `{...runOptions.context, Execution}` and nothing
    // sets `Task` (3.0.0: src/stateMachine/StateMachine.ts `execute`, main.node.esm.js:3086-3093), so Parameters
    // reading `$$.Task.Token` fail with States.Runtime. `Task.Token` is therefore a getter that mints one.
    // Tested unpatched in test/local/library-patches.test.ts.
    const slot: { open?: string } = {};
    const task: Record<string, unknown> = {};
    Object.defineProperty(task, 'Token', {
      enumerable: true,
      // Evaluated while Parameters are processed; the override for that same state claims it right after.
      get: () => {
        slot.open ??= this.broker.mint(context.executionArn);
        return slot.open;
      },
    });
    // Set once the execution stopped or ended: a state the library still enters afterwards (a retry of
    // the task that was interrupted) must not run its Task again. Upstream (3.0.0):
    // src/stateMachine/StateExecutor.ts `execute`, main.node.esm.js:2525-2546 — a failed state's retry sleeps
    // with the abort signal (an aborted sleep resolves at once, main.node.esm.js:66-82) and then runs the
    // state again; the abort is only checked between states. Tested unpatched in
    // test/local/library-patches.test.ts.
    let closed = false;
    const handlers: Record<string, (input: Json) => Promise<Json>> = {};
    for (const [name, implementation] of this.implementations) {
      const state = allStates(this.definition).find((s) => s.name === name)?.definition ?? {};
      handlers[name] = (taskInput: Json) => {
        const taskToken = slot.open;
        slot.open = undefined;
        if (closed) {
          return Promise.reject(
            new TaskError('States.Runtime', `The execution has ended: ${name} does not run again`),
          );
        }
        return implementation(taskInput, {
          executionArn: context.executionArn,
          stateName: name,
          state,
          taskToken,
          broker: this.broker,
          timeoutMs: taskTimeoutMs(state, taskInput),
        });
      };
    }
    const execution = this.machine.run(input, {
      overrides: {
        taskResourceLocalHandlers: handlers,
        waitTimeOverrides: this.waitOverrides,
        retryIntervalOverrides: this.retryOverrides,
      },
      context: {
        Execution: { Id: context.executionArn, Name: context.name },
        StateMachine: { Id: context.stateMachineArn, Name: context.stateMachineArn.split(':').at(-1) },
        Task: task,
      },
    });
    const stats: ExecutionStats = { statesEntered: 0, retries: 0, transitions: 0, byState: {} };
    const history: HistoryEvent[] = [];
    const logRead = (async () => {
      for await (const event of execution.eventLogs) {
        const e = event as unknown as Record<string, unknown> & {
          type: string;
          timestamp: number;
          state?: { name: string; type: string; input?: unknown; output?: unknown };
        };
        if (e.type === 'StateEntered' && e.state) {
          stats.statesEntered++;
          stats.byState[e.state.name] = (stats.byState[e.state.name] ?? 0) + 1;
        }
        if (e.type === 'StateRetried') stats.retries++;
        stats.transitions = stats.statesEntered + stats.retries;
        // A scaled Wait runs as a local Task (scaleDynamicWaits): report it as the Wait it is.
        const stateType =
          e.state && this.scaledWaits.has(e.state.name) && e.state.type === 'Task' ? 'Wait' : e.state?.type;
        history.push({
          timestamp: e.timestamp,
          type: e.type,
          stateName: e.state?.name,
          stateType,
          input: e.state?.input ?? e.input,
          output: e.state?.output ?? e.output,
          error: typeof e.Error === 'string' ? e.Error : undefined,
          cause: e.Cause,
          index: typeof e.index === 'number' ? e.index : undefined,
        });
      }
    })();
    const outcome = execution.result.then(
      (output): ExecutionOutcome => ({ status: 'SUCCEEDED', output: output as Json }),
      (error: unknown): ExecutionOutcome => {
        if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
        if (error instanceof ExecutionTimeoutError) {
          return {
            status: 'TIMED_OUT',
            error: 'States.Timeout',
            cause: 'The execution timed out (TimeoutSeconds).',
          };
        }
        const cause = error instanceof ExecutionError ? (error.cause as Error | undefined) : (error as Error);
        return { status: 'FAILED', error: cause?.name ?? 'Error', cause: cause?.message ?? String(error) };
      },
    );
    return {
      outcome: outcome.then(async (o) => {
        closed = true;
        this.broker.closeExecution(context.executionArn);
        this.wakeSleepers(context.executionArn);
        await logRead;
        return o;
      }),
      stats,
      history,
      abort: () => {
        // Abort first: a task released by closing its token must find the execution already stopped.
        closed = true;
        execution.abort();
        this.broker.closeExecution(context.executionArn);
        this.wakeSleepers(context.executionArn);
      },
    };
  }

  private computeTimeOverrides(): void {
    const scale = this.options.timeScale;
    for (const { name, definition } of allStates(this.definition)) {
      const explicit = this.options.waitTimeOverrides?.[name];
      if (definition.Type === 'Wait') {
        if (explicit !== undefined) this.waitOverrides[name] = explicit;
        else if (scale !== undefined && typeof definition.Seconds === 'number') {
          this.waitOverrides[name] = Math.round(definition.Seconds * 1000 * scale);
        } else if (scale !== undefined && this.options.dynamicWaitMs !== undefined) {
          this.waitOverrides[name] = this.options.dynamicWaitMs;
        }
      }
      if (scale !== undefined && Array.isArray(definition.Retry)) {
        this.retryOverrides[name] = definition.Retry.map((r) => {
          const interval = (r as JsonObject).IntervalSeconds;
          return Math.round((typeof interval === 'number' ? interval : 1) * 1000 * scale);
        });
      }
    }
  }
}

/** The library's rule: TimeoutSeconds, else TimeoutSecondsPath on the Parameters output, else 60 s. */
function taskTimeoutMs(state: JsonObject, input: Json): number {
  if (typeof state.TimeoutSeconds === 'number') return state.TimeoutSeconds * 1000;
  if (typeof state.TimeoutSecondsPath === 'string') {
    const value = readPath(input, state.TimeoutSecondsPath);
    if (typeof value === 'number') return value * 1000;
  }
  return 60_000;
}

/** Minimal `$.a.b[0]` reader, enough for TimeoutSecondsPath. */
function readPath(input: Json, path: string): Json | undefined {
  let current: Json | undefined = input;
  for (const part of path
    .replace(/^\$\.?/, '')
    .split(/\.|\[(\d+)\]/)
    .filter((p) => p !== undefined && p !== '')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Array.isArray(current) ? current[Number(part)] : current[part];
  }
  return current;
}
