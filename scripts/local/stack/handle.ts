// The handle startLocalStack returns: what tests, the demo and the benchmark see of a running local stack —
// the emulators, the call counters, executions, commands, notifications and dead letters, the functions'
// clock, waiting until nothing runs, and stop(). It only reads the parts the composition (compose.ts) started.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StateStore } from '../../../functions/shared/state-store.js';
import type { Assembly } from '../assembly.js';
import type { CallCounter, ThrottleConfig } from '../aws-server.js';
import type { EventBus } from '../event-bus.js';
import type { Fleet, ScenarioRun } from '../fleet.js';
import type { FunctionHost, FunctionStats } from '../function-host.js';
import type { ServiceName } from '../protocol.js';
import type { CloudWatchAlarms } from '../services/cloudwatch.js';
import type { LambdaEmulator } from '../services/lambda.js';
import type { S3Store } from '../services/s3.js';
import type { SecretsManagerEmulator } from '../services/secrets-manager.js';
import type { ExecutionStatus, SfnEmulator } from '../services/sfn.js';
import type { PublishedMessage, SnsEmulator } from '../services/sns.js';
import { type InvocationStatus, type SsmEmulator, TERMINAL_STATUSES } from '../services/ssm.js';
import type { LocalSsmAgent } from '../ssm-agent.js';
import type { LocalStackSpec } from '../template.js';
import type { DeadLetter } from './async-invoker.js';
import type { ChangeFeed, InstanceChange } from './change-feed.js';
import type { LocalEmulators } from './emulators.js';
import type { LocalFunctions, StackClock } from './functions.js';
import { type StackDirs, throttleConfig } from './options.js';
import type { LocalStorage } from './storage.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface LocalExecution {
  readonly name: string;
  readonly executionArn: string;
  readonly status: ExecutionStatus;
  readonly startedAt: number;
  readonly stoppedAt?: number;
  /** States entered + retries (the benchmark's "state transitions"). */
  readonly transitions: number;
  readonly statesEntered: number;
  readonly retries: number;
  readonly byState: Readonly<Record<string, number>>;
  readonly error?: string;
  readonly cause?: string;
}

export interface LocalCommand {
  readonly commandId: string;
  readonly documentName: string;
  readonly instanceId: string;
  /** PlaybookFile for AWS-ApplyAnsiblePlaybooks. */
  readonly playbook?: string;
  readonly status: InvocationStatus;
  readonly requestedAt: number;
  readonly comment?: string;
}

export interface LocalStack {
  readonly spec: LocalStackSpec;
  readonly assembly: Assembly;
  /** The simulated fleet: launch, tag, stop, terminate instances. */
  readonly fleet: Fleet;
  readonly bus: EventBus;
  /** State store on the local table; its calls go straight to DynamoDB Local and are NOT counted. */
  readonly store: StateStore;
  readonly stateDir: string;
  /** Function logs (`functions/<name>.log`) and command output (`commands/…`). */
  readonly logDir: string;
  readonly timeScale: number;
  readonly endpoints: { readonly aws: string; readonly dynamoDb: string; readonly dynamoDbDirect: string };
  /** The emulators, for assertions beyond the helpers below. */
  readonly emulators: {
    readonly sfn: SfnEmulator;
    readonly ssm: SsmEmulator;
    readonly sns: SnsEmulator;
    /** The stack's alarms: setAlarmState publishes to their topics as cloudwatch.amazonaws.com. */
    readonly cloudwatch: CloudWatchAlarms;
    readonly s3: S3Store;
    readonly lambda: LambdaEmulator;
    readonly secrets: SecretsManagerEmulator;
    readonly agent: LocalSsmAgent;
    readonly functions: FunctionHost;
  };
  /** The fleet file's scenario, when one is playing. */
  readonly scenario?: ScenarioRun;
  /** AWS API calls made by the stack, by `Service.Operation` (DynamoDB included); harness calls excluded. */
  counters(): Record<string, CallCounter>;
  /** Sum of calls, optionally for some services (`DynamoDB` included) and without throttled ones. */
  totalCalls(options?: {
    services?: readonly (ServiceName | 'DynamoDB')[];
    excludeThrottled?: boolean;
  }): number;
  resetCounters(): void;
  setThrottle(config: number | ThrottleConfig): void;
  /** Every execution so far, oldest first. */
  executions(): LocalExecution[];
  /** Every SNS message published. */
  notifications(): PublishedMessage[];
  /** Every SendCommand invocation, in order. */
  commands(): LocalCommand[];
  /** Async invocations (events, schedule, Lambda Event invokes) that failed after their retries. */
  deadLetters(): DeadLetter[];
  functionStats(): Record<string, FunctionStats>;
  /** The instance's simulated filesystem root (what `autoprov_root` points the playbooks at). */
  sandboxDir(instanceId: string): string;
  /**
   * The environment that points the autoprov CLI (or the AWS CLI) at this stack: local endpoints, dummy
   * credentials and AUTOPROV_STACK, so the CLI reads the stack's outputs as it does once deployed.
   */
  cliEnv(): Record<string, string>;
  /** Live changes of instance records; returns an unsubscribe function. */
  onChange(listener: (change: InstanceChange) => void): () => void;
  /**
   * Resolves when nothing runs: no execution, no event, command, async invoke or sweep in flight, scenario done.
   * `timeOutParkedTasks`: when the only thing left is executions parked on task tokens that nothing can
   * complete any more (see `timeOutStrandedTasks`), those tasks time out now, as their TimeoutSeconds would
   * in AWS: the test decides when, instead of waiting out a scaled timer.
   */
  waitForIdle(options?: WaitForIdleOptions): Promise<void>;
  /** Invokes the sweep now (synchronously) and returns its summary. */
  sweepNow(): Promise<unknown>;
  /**
   * Moves the functions' clock forward (leases expire, runs fall due) without waiting: tests control
   * time instead of depending on how fast the machine is. The emulators keep the wall clock.
   */
  advanceClock(seconds: number): void;
  /** The functions' clock now (ms since the epoch): the wall clock plus what advanceClock added. */
  clockNow(): number;
  /** Shuts everything down: executions, commands (ansible), functions, servers, DynamoDB Local. */
  stop(options?: { removeStateDir?: boolean }): Promise<void>;
}

export interface WaitForIdleOptions {
  readonly timeoutMs?: number;
  readonly includeScenario?: boolean;
  readonly timeOutParkedTasks?: boolean;
}

/** The running parts the handle reads, as the composition started them. */
export interface HandleParts {
  readonly spec: LocalStackSpec;
  readonly assembly: Assembly;
  readonly dirs: StackDirs;
  readonly timeScale: number;
  readonly storage: LocalStorage;
  readonly emulators: LocalEmulators;
  readonly fns: LocalFunctions;
  readonly changes: ChangeFeed;
  readonly clock: StackClock;
  readonly scenario?: ScenarioRun;
  readonly scenarioDone: () => boolean;
  readonly sweepNow: () => Promise<unknown>;
  /** Runs the registered shutdown steps in reverse. */
  readonly cleanup: () => Promise<void>;
}

export function createHandle(parts: HandleParts): LocalStack {
  const { spec, assembly, dirs, timeScale, storage, emulators, fns, changes, clock, scenario } = parts;
  const { stateDir, logDir, sandboxRoot } = dirs;
  const { ddb, proxy, store } = storage;
  const { bus, fleet, sfn, ssm, sns, cloudwatch, s3, secrets, agent } = emulators;
  const { server, lambda, functions, asyncRuns } = fns;
  const counters = (): Record<string, CallCounter> => ({ ...server.counters(), ...proxy.counters() });
  const handle: LocalStack = {
    spec,
    assembly,
    fleet,
    bus,
    store,
    stateDir,
    logDir,
    timeScale,
    endpoints: { aws: server.endpoint, dynamoDb: proxy.endpoint, dynamoDbDirect: ddb.endpoint },
    emulators: { sfn, ssm, sns, cloudwatch, s3, lambda, secrets, agent, functions },
    ...(scenario ? { scenario } : {}),
    counters,
    totalCalls: ({ services, excludeThrottled = false } = {}) =>
      Object.entries(counters()).reduce((sum, [key, c]) => {
        const service = key.split('.')[0] as ServiceName | 'DynamoDB';
        if (services && !services.includes(service)) return sum;
        return sum + (excludeThrottled ? c.calls - c.throttled : c.calls);
      }, 0),
    resetCounters: () => {
      server.resetCounters();
      proxy.resetCounters();
    },
    setThrottle: (config) => {
      server.setThrottle(throttleConfig(config));
      proxy.setThrottle(throttleConfig(config));
    },
    executions: () =>
      sfn
        .listExecutionRecords()
        .sort((a, b) => a.startedAt - b.startedAt)
        .map((e) => ({
          name: e.name,
          executionArn: e.executionArn,
          status: e.status,
          startedAt: e.startedAt,
          ...(e.stoppedAt !== undefined ? { stoppedAt: e.stoppedAt } : {}),
          transitions: e.stats.transitions,
          statesEntered: e.stats.statesEntered,
          retries: e.stats.retries,
          byState: { ...e.stats.byState },
          ...(e.error !== undefined ? { error: e.error } : {}),
          ...(e.cause !== undefined ? { cause: e.cause } : {}),
        })),
    notifications: () => [...sns.messages],
    commands: () =>
      ssm.listCommands().flatMap((c) =>
        [...c.invocations.values()].map((i) => ({
          commandId: c.commandId,
          documentName: c.document.name,
          instanceId: i.instanceId,
          ...(c.parameters.PlaybookFile ? { playbook: c.parameters.PlaybookFile } : {}),
          status: i.status,
          requestedAt: c.requestedAt,
          ...(c.comment ? { comment: c.comment } : {}),
        })),
      ),
    deadLetters: () => [
      ...asyncRuns.deadLetters,
      ...lambda.asyncFailures.map((f) => ({
        source: 'lambda Event invoke',
        functionName: f.functionName,
        payload: f.payload,
        error: f.error,
        attempts: 1,
      })),
    ],
    functionStats: () => functions.stats(),
    sandboxDir: (instanceId) => join(sandboxRoot, instanceId),
    cliEnv: () => ({
      AWS_REGION: spec.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL: server.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AUTOPROV_STACK: spec.stackName,
      // The CLI shows these folders instead of CloudWatch console links (cli/local-links.ts).
      AUTOPROV_LOCAL_LOGS: join(logDir, 'commands'),
    }),
    onChange: (listener) => changes.subscribe(listener),
    waitForIdle: (options) => waitForIdle(parts, options),
    advanceClock: (seconds: number) => {
      if (!(seconds >= 0)) throw new Error(`advanceClock: seconds must be ≥ 0, got ${seconds}`);
      clock.offsetMs += seconds * 1000;
    },
    clockNow: () => Date.now() + clock.offsetMs,
    sweepNow: parts.sweepNow,
    stop: async ({ removeStateDir = false } = {}) => {
      asyncRuns.stop();
      changes.close();
      await parts.cleanup();
      if (removeStateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** Stack activity: AWS calls (DynamoDB included), events published and function invocations so far. */
function activity({ storage, emulators, fns }: HandleParts): number {
  const { server, functions } = fns;
  return (
    server.totalCalls() +
    Object.values(storage.proxy.counters()).reduce((sum, c) => sum + c.calls, 0) +
    emulators.bus.stats.published +
    Object.values(functions.stats()).reduce((sum, s) => sum + s.invocations, 0)
  );
}

/** Why the stack is not idle: executions, commands, async invocations in flight, the scenario. */
function busy({ emulators, fns, scenarioDone }: HandleParts, includeScenario: boolean): string[] {
  const { sfn, ssm } = emulators;
  const { asyncRuns } = fns;
  const reasons: string[] = [];
  const running = sfn.listExecutionRecords().filter((e) => e.status === 'RUNNING');
  if (running.length > 0)
    reasons.push(`${running.length} execution(s) running (${running.map((e) => e.name).join(', ')})`);
  const commands = ssm
    .listCommands()
    .flatMap((c) => [...c.invocations.values()])
    .filter((i) => !TERMINAL_STATUSES.has(i.status));
  if (commands.length > 0) reasons.push(`${commands.length} command(s) not finished`);
  if (asyncRuns.inFlight > 0) reasons.push(`${asyncRuns.inFlight} async invocation(s) in flight`);
  if (includeScenario && !scenarioDone()) reasons.push('scenario still playing');
  return reasons;
}

/** Resolves when nothing runs (see LocalStack.waitForIdle); fails with the reasons after the timeout. */
async function waitForIdle(
  parts: HandleParts,
  { timeoutMs = 120_000, includeScenario = true, timeOutParkedTasks = false }: WaitForIdleOptions = {},
): Promise<void> {
  const { sfn, agent, bus } = parts.emulators;
  const { lambda } = parts.fns;
  const { changes } = parts;
  const deadline = Date.now() + timeoutMs;
  // Each wait is bounded: an execution parked on a task token must not outlive the deadline.
  // The deadline timer is cleared as soon as the wait ends: it must not keep the process alive.
  const bounded = async (promise: Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    });
    try {
      await Promise.race([promise, expiry]);
    } finally {
      clearTimeout(timer);
    }
  };
  for (;;) {
    const before = activity(parts);
    await bounded(timeOutParkedTasks ? untilExecutionsEndOrStrandedTimedOut(parts) : sfn.drain());
    await bounded(agent.idle());
    await bounded(lambda.drain());
    await bounded(bus.drain());
    await bounded(changes.drain());
    await sleep(50);
    const reasons = busy(parts, includeScenario);
    if (reasons.length === 0 && activity(parts) === before) return;
    if (Date.now() > deadline) {
      throw new Error(
        `The local stack did not become idle within ${timeoutMs} ms: ${reasons.join('; ') || 'still active'}.`,
      );
    }
    if (reasons.length > 0) await sleep(100);
  }
}

/**
 * Waits for the running executions to end; meanwhile, once every one of them is parked on a task token
 * that nothing can complete any more, times those tasks out (timeOutStrandedTasks) and returns.
 */
async function untilExecutionsEndOrStrandedTimedOut(parts: HandleParts): Promise<void> {
  let ended = false;
  const executions = parts.emulators.sfn.drain().finally(() => {
    ended = true;
  });
  const watch = async () => {
    let last = activity(parts);
    while (!ended) {
      await sleep(50);
      const now = activity(parts);
      if (now === last && timeOutStrandedTasks(parts) > 0) return;
      last = now;
    }
  };
  await Promise.race([executions, watch()]);
  ended = true;
}

/**
 * Times out the task tokens nothing can complete any more, and returns how many. That is when every
 * running execution is parked on a token (a callback task), and no command runs, no event waits for
 * delivery and no asynchronous invocation (or its retry) is in flight: no status event, callback or
 * SendTask* call can come, so in AWS only the task's TimeoutSeconds moves the execution on. The caller
 * also saw no activity since its last look.
 */
function timeOutStrandedTasks(parts: HandleParts): number {
  const { sfn, ssm, bus } = parts.emulators;
  const running = sfn.listExecutionRecords().filter((e) => e.status === 'RUNNING');
  if (running.length === 0) return 0;
  const parked = new Set(sfn.broker.waiting().map((task) => task.executionArn));
  if (!running.every((e) => parked.has(e.executionArn))) return 0;
  const commandsRunning = ssm
    .listCommands()
    .some((c) => [...c.invocations.values()].some((i) => !TERMINAL_STATUSES.has(i.status)));
  if (commandsRunning || bus.busy || parts.fns.asyncRuns.inFlight > 0) return 0;
  const arns = new Set(running.map((e) => e.executionArn));
  return sfn.broker.expireWaiting((task) => arns.has(task.executionArn));
}
