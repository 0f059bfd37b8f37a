// Step Functions emulator (JSON 1.0, X-Amz-Target AWSStepFunctions.*) for Standard workflows. Executions
// run the registered ASL with sfn-runner.ts. Semantics kept from AWS: execution names are unique per
// state machine (StartExecution with the same name and input as a RUNNING execution returns it again;
// otherwise ExecutionAlreadyExists), task tokens answer InvalidToken / TaskTimedOut like the service, and
// every execution's state transitions are counted for the benchmark. Name reuse as "StartExecution" (AWS Step
// Functions API Reference, https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html)
// describes it: same name and input while open is a success; a different input, or a closed execution, fails.
import { randomUUID } from 'node:crypto';
import {
  type AwsRequest,
  type AwsResponse,
  decodePageToken,
  encodePageToken,
  epochSeconds,
  jsonResponse,
  parseJsonBody,
  type ServiceEmulator,
  ServiceError,
} from '../protocol.js';
import {
  type ExecutionOutcome,
  type ExecutionStats,
  type HistoryEvent,
  type RunningExecution,
  type StateMachineRunner,
  TaskTokenBroker,
  TaskTokenError,
} from '../sfn-runner.js';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionRecord {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly input: string;
  readonly startedAt: number;
  status: ExecutionStatus;
  stoppedAt?: number;
  output?: string;
  error?: string;
  cause?: string;
  readonly stats: ExecutionStats;
  readonly history: HistoryEvent[];
  /** Resolves when the execution has ended. */
  readonly done: Promise<ExecutionRecord>;
}

interface Registered {
  readonly arn: string;
  readonly name: string;
  readonly runner: StateMachineRunner;
  readonly createdAt: number;
  readonly roleArn: string;
}

const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;

/** Control characters (U+0000–U+001F, U+007F–U+009F) are not allowed in names either. */
const hasControlCharacter = (name: string): boolean =>
  [...name].some((c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });

export class SfnEmulator implements ServiceEmulator {
  readonly service = 'SFN' as const;
  readonly broker: TaskTokenBroker;
  private readonly machines = new Map<string, Registered>();
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly running = new Map<string, RunningExecution>();
  private readonly account: string;
  private readonly region: string;
  private readonly listeners: ((execution: ExecutionRecord) => void)[] = [];

  constructor(options: { account?: string; region?: string; broker?: TaskTokenBroker } = {}) {
    this.account = options.account ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
    this.broker = options.broker ?? new TaskTokenBroker();
  }

  /**
   * Registers a state machine; its runner must share this emulator's token broker so SendTask* reach it.
   * Returns the state machine ARN.
   */
  registerStateMachine(name: string, runner: StateMachineRunner, arn?: string): string {
    if (runner.broker !== this.broker) {
      throw new Error(
        'The runner must be built with { broker: sfn.broker } so SendTaskSuccess can reach its tasks',
      );
    }
    const stateMachineArn = arn ?? `arn:aws:states:${this.region}:${this.account}:stateMachine:${name}`;
    this.machines.set(stateMachineArn, {
      arn: stateMachineArn,
      name: stateMachineArn.split(':').at(-1) ?? name,
      runner,
      createdAt: Date.now(),
      roleArn: `arn:aws:iam::${this.account}:role/${name}-role`,
    });
    return stateMachineArn;
  }

  /** Called whenever an execution ends. */
  onExecutionEnd(listener: (execution: ExecutionRecord) => void): void {
    this.listeners.push(listener);
  }

  listExecutionRecords(): ExecutionRecord[] {
    return [...this.executions.values()];
  }

  getExecution(executionArn: string): ExecutionRecord | undefined {
    return this.executions.get(executionArn);
  }

  /** Resolves when no execution is running. */
  async drain(): Promise<void> {
    while (this.running.size > 0) {
      await Promise.allSettled([...this.running.keys()].map((arn) => this.executions.get(arn)?.done));
    }
  }

  /** Aborts everything still running (shutdown). */
  stopAll(): void {
    for (const [arn, run] of this.running) {
      run.abort();
      this.running.delete(arn);
    }
  }

  handle(operation: string, request: AwsRequest): AwsResponse {
    const input = parseJsonBody(request);
    const respond = (body: unknown) => jsonResponse(body, '1.0');
    switch (operation) {
      case 'StartExecution':
        return respond(this.startExecution(input));
      case 'DescribeExecution':
        return respond(this.describeExecution(input));
      case 'ListExecutions':
        return respond(this.listExecutions(input));
      case 'StopExecution':
        return respond(this.stopExecution(input));
      case 'GetExecutionHistory':
        return respond(this.getExecutionHistory(input));
      case 'DescribeStateMachine':
        return respond(this.describeStateMachine(input));
      case 'SendTaskSuccess':
        return respond(
          this.tokenCall(input, (token) => this.broker.succeed(token, requireString(input, 'output'))),
        );
      case 'SendTaskFailure':
        return respond(
          this.tokenCall(input, (token) =>
            this.broker.fail(token, optionalString(input, 'error'), optionalString(input, 'cause')),
          ),
        );
      case 'SendTaskHeartbeat':
        return respond(this.tokenCall(input, (token) => this.broker.heartbeat(token)));
      default:
        throw new ServiceError(
          'UnknownOperationException',
          `The local Step Functions does not implement ${operation}`,
        );
    }
  }

  private machine(arn: unknown): Registered {
    if (typeof arn !== 'string' || !arn.startsWith('arn:'))
      throw new ServiceError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
    const machine = this.machines.get(arn);
    if (!machine)
      throw new ServiceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return machine;
  }

  private startExecution(input: Record<string, unknown>): Record<string, unknown> {
    const machine = this.machine(input.stateMachineArn);
    const name = typeof input.name === 'string' ? input.name : randomUUID();
    if (name.length < 1 || name.length > 80 || NAME_FORBIDDEN.test(name) || hasControlCharacter(name)) {
      throw new ServiceError('InvalidName', `Invalid Name: '${name}'`);
    }
    const rawInput = typeof input.input === 'string' ? input.input : '{}';
    if (Buffer.byteLength(rawInput) > 256 * 1024) {
      throw new ServiceError('InvalidExecutionInput', 'Input exceeds the 256 KiB limit');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawInput);
    } catch {
      throw new ServiceError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${rawInput}'`);
    }
    const executionArn = `arn:aws:states:${this.region}:${this.account}:execution:${machine.name}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      // Idempotent only for a RUNNING execution with the same input; names are never reused otherwise.
      if (existing.status === 'RUNNING' && existing.input === rawInput) {
        return { executionArn, startDate: epochSeconds(existing.startedAt) };
      }
      throw new ServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const run = machine.runner.start(parsed as never, { executionArn, name, stateMachineArn: machine.arn });
    let resolveDone!: (record: ExecutionRecord) => void;
    const record: ExecutionRecord = {
      executionArn,
      stateMachineArn: machine.arn,
      name,
      input: rawInput,
      startedAt: Date.now(),
      status: 'RUNNING',
      stats: run.stats,
      history: run.history,
      done: new Promise((resolve) => {
        resolveDone = resolve;
      }),
    };
    this.executions.set(executionArn, record);
    this.running.set(executionArn, run);
    void run.outcome.then((outcome) => this.complete(record, outcome, resolveDone));
    return { executionArn, startDate: epochSeconds(record.startedAt) };
  }

  private complete(
    record: ExecutionRecord,
    outcome: ExecutionOutcome,
    resolve: (r: ExecutionRecord) => void,
  ): void {
    this.running.delete(record.executionArn);
    if (record.status === 'RUNNING') {
      record.status = outcome.status;
      record.stoppedAt = Date.now();
      if (outcome.status === 'SUCCEEDED') record.output = JSON.stringify(outcome.output);
      if (outcome.status === 'FAILED' || outcome.status === 'TIMED_OUT') {
        record.error = outcome.error;
        record.cause = outcome.cause;
      }
    }
    for (const listener of this.listeners) listener(record);
    resolve(record);
  }

  private execution(arn: unknown): ExecutionRecord {
    if (typeof arn !== 'string' || !arn.startsWith('arn:'))
      throw new ServiceError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
    const record = this.executions.get(arn);
    if (!record) throw new ServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return record;
  }

  private describeExecution(input: Record<string, unknown>): Record<string, unknown> {
    const e = this.execution(input.executionArn);
    return {
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: epochSeconds(e.startedAt),
      ...(e.stoppedAt !== undefined ? { stopDate: epochSeconds(e.stoppedAt) } : {}),
      input: e.input,
      inputDetails: { included: true },
      ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.cause !== undefined ? { cause: e.cause } : {}),
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
    };
  }

  private listExecutions(input: Record<string, unknown>): Record<string, unknown> {
    const machine = this.machine(input.stateMachineArn);
    const statusFilter = optionalString(input, 'statusFilter');
    const maxResults = typeof input.maxResults === 'number' && input.maxResults > 0 ? input.maxResults : 100;
    const all = [...this.executions.values()]
      .filter(
        (e) => e.stateMachineArn === machine.arn && (statusFilter === undefined || e.status === statusFilter),
      )
      // Newest first; reversing before the stable sort keeps same-millisecond starts newest first too.
      .reverse()
      .sort((a, b) => b.startedAt - a.startedAt);
    const scope = `${machine.arn}|${statusFilter}|${maxResults}`;
    const start = decodePageToken(optionalString(input, 'nextToken'), scope, 'InvalidToken');
    const page = all.slice(start, start + maxResults);
    const next = start + page.length < all.length ? encodePageToken(start + page.length, scope) : undefined;
    return {
      executions: page.map((e) => ({
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: epochSeconds(e.startedAt),
        ...(e.stoppedAt !== undefined ? { stopDate: epochSeconds(e.stoppedAt) } : {}),
      })),
      ...(next ? { nextToken: next } : {}),
    };
  }

  private stopExecution(input: Record<string, unknown>): Record<string, unknown> {
    const e = this.execution(input.executionArn);
    if (e.status === 'RUNNING') {
      e.status = 'ABORTED';
      e.stoppedAt = Date.now();
      e.error = optionalString(input, 'error');
      e.cause = optionalString(input, 'cause');
      this.running.get(e.executionArn)?.abort();
    }
    return { stopDate: epochSeconds(e.stoppedAt ?? Date.now()) };
  }

  private getExecutionHistory(input: Record<string, unknown>): Record<string, unknown> {
    const e = this.execution(input.executionArn);
    const maxResults = typeof input.maxResults === 'number' && input.maxResults > 0 ? input.maxResults : 100;
    const includeData = input.includeExecutionData !== false;
    const events = e.history.map((h, i) => historyEvent(h, i + 1, includeData));
    if (input.reverseOrder === true) events.reverse();
    const scope = `${e.executionArn}|${String(input.reverseOrder)}|${maxResults}`;
    const start = decodePageToken(optionalString(input, 'nextToken'), scope, 'InvalidToken');
    const page = events.slice(start, start + maxResults);
    const next =
      start + page.length < events.length ? encodePageToken(start + page.length, scope) : undefined;
    return { events: page, ...(next ? { nextToken: next } : {}) };
  }

  private describeStateMachine(input: Record<string, unknown>): Record<string, unknown> {
    const m = this.machine(input.stateMachineArn);
    return {
      stateMachineArn: m.arn,
      name: m.name,
      status: 'ACTIVE',
      definition: JSON.stringify(m.runner.definition),
      roleArn: m.roleArn,
      type: 'STANDARD',
      creationDate: epochSeconds(m.createdAt),
    };
  }

  private tokenCall(input: Record<string, unknown>, action: (token: string) => void): Record<string, never> {
    const token = requireString(input, 'taskToken');
    if (token.length < 1 || token.length > 2048) throw new ServiceError('InvalidToken', 'Invalid token');
    try {
      action(token);
    } catch (error) {
      if (error instanceof TaskTokenError) {
        throw new ServiceError(
          error.code === 'TaskDoesNotExist' ? 'TaskDoesNotExist' : error.code,
          error.message,
        );
      }
      throw error;
    }
    return {};
  }
}

function requireString(input: Record<string, unknown>, key: string): string {
  const value = input[key];
  if (typeof value !== 'string') {
    throw new ServiceError(
      'ValidationException',
      `1 validation error detected: Value null at '${key}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

function optionalString(input: Record<string, unknown>, key: string): string | undefined {
  const value = input[key];
  return typeof value === 'string' ? value : undefined;
}

const HISTORY_TYPES: Readonly<Record<string, string>> = {
  ExecutionStarted: 'ExecutionStarted',
  ExecutionSucceeded: 'ExecutionSucceeded',
  ExecutionFailed: 'ExecutionFailed',
  ExecutionAborted: 'ExecutionAborted',
  ExecutionTimeout: 'ExecutionTimedOut',
  MapIterationStarted: 'MapIterationStarted',
  MapIterationSucceeded: 'MapIterationSucceeded',
  MapIterationFailed: 'MapIterationFailed',
  ParallelBranchStarted: 'ParallelStateStarted',
  ParallelBranchSucceeded: 'ParallelStateSucceeded',
  ParallelBranchFailed: 'ParallelStateFailed',
};

/** The library's event log in GetExecutionHistory's shape (types as close to AWS's as it allows). */
function historyEvent(h: HistoryEvent, id: number, includeData: boolean): Record<string, unknown> {
  const base = { id, previousEventId: id - 1, timestamp: epochSeconds(h.timestamp) };
  const data = (value: unknown) => (includeData && value !== undefined ? JSON.stringify(value) : undefined);
  if (h.type === 'StateEntered') {
    return {
      ...base,
      type: `${h.stateType}StateEntered`,
      stateEnteredEventDetails: { name: h.stateName, input: data(h.input) },
    };
  }
  if (h.type === 'StateExited') {
    return {
      ...base,
      type: `${h.stateType}StateExited`,
      stateExitedEventDetails: { name: h.stateName, output: data(h.output) },
    };
  }
  if (h.type === 'StateFailed' || h.type === 'StateRetried' || h.type === 'StateCaught') {
    return {
      ...base,
      type: h.stateType === 'Task' ? 'TaskFailed' : `${h.stateType}StateFailed`,
      taskFailedEventDetails: {
        resourceType: 'local',
        resource: h.stateName,
        error: h.error,
        cause: data(h.cause),
      },
    };
  }
  if (h.type === 'ExecutionStarted') {
    return { ...base, type: 'ExecutionStarted', executionStartedEventDetails: { input: data(h.input) } };
  }
  if (h.type === 'ExecutionSucceeded') {
    return {
      ...base,
      type: 'ExecutionSucceeded',
      executionSucceededEventDetails: { output: data(h.output) },
    };
  }
  if (h.type === 'ExecutionFailed') {
    return {
      ...base,
      type: 'ExecutionFailed',
      executionFailedEventDetails: {
        error: h.error,
        cause: typeof h.cause === 'string' ? h.cause : data(h.cause),
      },
    };
  }
  return { ...base, type: HISTORY_TYPES[h.type] ?? h.type };
}
