// Runs a state machine's ASL (the one extracted from the synthesized template) with aws-local-stepfunctions
// 3.0.0, with every Task state overridden by a local implementation chosen by state name. The runner
// refuses to start if any Task — including those inside Map/Parallel — has no local implementation:
// an unmapped Task would make the library call real AWS Lambda.
//
// Generic implementations, chosen from the Task's Resource:
//   arn:aws:states:::lambda:invoke                    → local function; result = Lambda integration shape
//                                                        {ExecutedVersion, Payload, SdkHttpMetadata, StatusCode…}
//   arn:aws:lambda:<region>:<acct>:function:<name>     → local function; result = its payload (payloadResponseOnly)
//   arn:aws:states:::lambda:invoke.waitForTaskToken   → mints a task token for $$.Task.Token, invokes the function,
//                                                        then waits for SendTaskSuccess/SendTaskFailure (or times out)
//   arn:aws:states:::aws-sdk:<service>:<action>[.waitForTaskToken] → the real SDK against the local endpoint
//   arn:aws:states:::sns:publish, arn:aws:states:::dynamodb:<getItem|putItem|updateItem|deleteItem> → likewise
// Errors follow Step Functions: a function error's name is its errorType and its cause the JSON error
// payload; SDK integrations fail with `<Service>.<ErrorName>Exception`, or the service's catch-all
// `<Service>.<Service>Exception` for IAM/signature errors (sdkIntegrationErrorName).
//
// Library facts this relies on (3.0.0): the task override gets the input after Parameters only; the
// Context Object is `{...runOptions.context, Execution: {...}}`, so `Task.Token` is a getter on a nested
// object (minting a token when Parameters read `$$.Task.Token`, claimed synchronously by the override
// that runs right after); Task timeouts default to 60 s when TimeoutSeconds(Path) is absent and
// TimeoutSecondsPath is read from the Parameters output; HeartbeatSeconds is ignored; on Node 20 it needs
// Promise.withResolvers (polyfilled here).
import { randomBytes } from 'node:crypto';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
} from 'aws-local-stepfunctions';
import type { InvokeOutcome } from './services/lambda.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

// ----- Node 20 polyfill ------------------------------------------------------------------------

interface WithResolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

export function installPromiseWithResolvers(): void {
  const ctor = Promise as unknown as { withResolvers?: <T>() => WithResolvers<T> };
  if (typeof ctor.withResolvers === 'function') return;
  ctor.withResolvers = <T>(): WithResolvers<T> => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
installPromiseWithResolvers();

// ----- Map fix (aws-local-stepfunctions 3.0.0) ----------------------------------------------------

type RunFn = (this: object, input: unknown, options?: { _rootAbortSignal?: AbortSignal }) => LibraryExecution;
interface LibraryExecution {
  abort: () => void;
  result: Promise<unknown>;
  eventLogs: AsyncGenerator<unknown>;
}

const failedIterators = new WeakSet<object>();
const MAP_FIX = Symbol.for('autoprov.local.mapIterationFix');

/**
 * The library runs Map iterations through a p-limit queue it never clears: when an iteration fails, the
 * Map fails (and aborts the iterations running), but every iteration still queued starts afterwards and
 * runs its Tasks. AWS starts no iteration once the Map has failed — with MaxConcurrency 1 "stop at the
 * first playbook that fails for good" would otherwise still send the next playbook's command. The library
 * builds one iterator StateMachine per Map visit and runs each iteration as a nested run (it passes
 * `_rootAbortSignal`): once one nested run of an iterator failed, later runs of it fail at once, without
 * entering a state (no events, no Tasks).
 */
export function installMapIterationFix(): void {
  const proto = StateMachine.prototype as unknown as { run: RunFn; [MAP_FIX]?: true };
  if (proto[MAP_FIX]) return;
  const original = proto.run;
  proto.run = function run(this: object, input, options) {
    const nested = options?._rootAbortSignal !== undefined;
    if (nested && failedIterators.has(this)) {
      const result = Promise.reject(new Error('The Map state already failed: no further iteration starts.'));
      result.catch(() => {});
      return { abort: () => {}, result, eventLogs: (async function* () {})() };
    }
    const execution = original.call(this, input, options);
    // Registered before the Map's own handlers, so the mark is set before the queue starts the next item.
    if (nested) execution.result.catch(() => failedIterators.add(this));
    return execution;
  };
  proto[MAP_FIX] = true;
}
installMapIterationFix();

// ----- errors ----------------------------------------------------------------------------------

/** An error a Task state fails with: `name` is what Retry/Catch `ErrorEquals` match, message the Cause. */
export class TaskError extends Error {
  constructor(errorName: string, cause: string) {
    super(cause);
    this.name = errorName;
  }
}

export class UnmappedTaskError extends Error {
  override name = 'UnmappedTaskError';
}

export type TokenErrorCode = 'InvalidToken' | 'TaskTimedOut' | 'TaskDoesNotExist' | 'InvalidOutput';

export class TaskTokenError extends Error {
  override name = 'TaskTokenError';
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ----- task tokens ------------------------------------------------------------------------------

interface PendingToken {
  readonly executionArn: string;
  stateName?: string;
  state: 'minted' | 'waiting' | 'closed';
  settle?: { resolve: (value: Json) => void; reject: (error: Error) => void };
  /** A result that arrived before the waiter (SendTaskSuccess racing the Lambda invoke). */
  early?: { ok: true; value: Json } | { ok: false; error: Error };
  timer?: NodeJS.Timeout;
}

/** Issues task tokens and routes SendTaskSuccess/Failure/Heartbeat to the waiting task. */
export class TaskTokenBroker {
  private readonly tokens = new Map<string, PendingToken>();

  mint(executionArn: string): string {
    // Opaque and long like real tokens, so code that stores or logs them is exercised realistically.
    const token = `AQC${randomBytes(96).toString('base64url')}`;
    this.tokens.set(token, { executionArn, state: 'minted' });
    return token;
  }

  /** Waits for the outcome of `token`; after `timeoutMs` the token is closed (late calls get TaskTimedOut). */
  wait(token: string, stateName: string, timeoutMs: number): Promise<Json> {
    const pending = this.tokens.get(token);
    if (!pending)
      return Promise.reject(new TaskError('States.Runtime', `Unknown task token for state ${stateName}`));
    pending.stateName = stateName;
    return new Promise<Json>((resolve, reject) => {
      if (pending.early) {
        pending.state = 'closed';
        if (pending.early.ok) resolve(pending.early.value);
        else reject(pending.early.error);
        return;
      }
      pending.state = 'waiting';
      pending.settle = { resolve, reject };
      pending.timer = setTimeout(() => {
        pending.state = 'closed';
        reject(new TaskError('States.Timeout', `Task ${stateName} timed out waiting for its task token`));
      }, timeoutMs);
    });
  }

  succeed(token: string, output: string): void {
    let value: Json;
    try {
      value = JSON.parse(output) as Json;
    } catch {
      throw new TaskTokenError('InvalidOutput', 'Invalid JSON in output');
    }
    this.settle(token, { ok: true, value });
  }

  fail(token: string, error: string | undefined, cause: string | undefined): void {
    this.settle(token, { ok: false, error: new TaskError(error ?? 'States.TaskFailed', cause ?? '') });
  }

  heartbeat(token: string): void {
    this.open(token);
  }

  /**
   * Times out now every task waiting on a token that `which` selects, exactly as its TimeoutSeconds would
   * (States.Timeout; a late SendTaskSuccess then gets TaskTimedOut): a test decides when a lost callback is
   * noticed instead of racing a scaled timeout against the machine's speed. Returns how many it timed out.
   */
  expireWaiting(which: (task: { executionArn: string; stateName: string }) => boolean): number {
    let expired = 0;
    for (const pending of this.tokens.values()) {
      if (
        pending.state !== 'waiting' ||
        !which({ executionArn: pending.executionArn, stateName: pending.stateName ?? '' })
      )
        continue;
      pending.state = 'closed';
      if (pending.timer) clearTimeout(pending.timer);
      pending.settle?.reject(
        new TaskError('States.Timeout', `Task ${pending.stateName} timed out waiting for its task token`),
      );
      expired++;
    }
    return expired;
  }

  /**
   * StopExecution (or the end of the execution): every token of the execution stops being valid, and a
   * task still waiting on one is released with an error, so its timers end with it (the library's own task
   * timeout would otherwise keep the process alive for up to the task's TimeoutSeconds).
   */
  closeExecution(executionArn: string): void {
    for (const pending of this.tokens.values()) {
      if (pending.executionArn !== executionArn || pending.state === 'closed') continue;
      const waiting = pending.state === 'waiting';
      pending.state = 'closed';
      if (pending.timer) clearTimeout(pending.timer);
      if (waiting) {
        pending.settle?.reject(
          new TaskError(
            'States.Runtime',
            `The execution ended while ${pending.stateName} waited for its token`,
          ),
        );
      }
    }
  }

  /** Tokens currently waiting (for assertions and the console). */
  waiting(): { token: string; executionArn: string; stateName?: string }[] {
    return [...this.tokens]
      .filter(([, p]) => p.state === 'waiting')
      .map(([token, p]) => ({ token, executionArn: p.executionArn, stateName: p.stateName }));
  }

  private open(token: string): PendingToken {
    const pending = this.tokens.get(token);
    if (!pending) throw new TaskTokenError('InvalidToken', 'Invalid token');
    // AWS answers TaskTimedOut for a task that already completed, timed out or was stopped.
    if (pending.state === 'closed' || pending.early) {
      throw new TaskTokenError('TaskTimedOut', "Task Timed Out: 'Provided task does not exist anymore'");
    }
    return pending;
  }

  private settle(token: string, result: NonNullable<PendingToken['early']>): void {
    const pending = this.open(token);
    if (pending.state === 'minted') {
      pending.early = result;
      return;
    }
    pending.state = 'closed';
    if (pending.timer) clearTimeout(pending.timer);
    if (result.ok) pending.settle?.resolve(result.value);
    else pending.settle?.reject(result.error);
  }
}

// ----- the ASL ----------------------------------------------------------------------------------

export interface TaskStateInfo {
  readonly name: string;
  readonly resource: string;
  readonly definition: JsonObject;
}

interface AslStates {
  States?: Record<string, JsonObject>;
}

/** Every state of the machine, including Map iterators/item processors and Parallel branches. */
export function allStates(definition: unknown): { name: string; definition: JsonObject }[] {
  const out: { name: string; definition: JsonObject }[] = [];
  const visit = (machine: unknown) => {
    const states = (machine as AslStates | undefined)?.States ?? {};
    for (const [name, state] of Object.entries(states)) {
      out.push({ name, definition: state });
      if (state.Type === 'Map') visit(state.ItemProcessor ?? state.Iterator);
      if (state.Type === 'Parallel' && Array.isArray(state.Branches))
        for (const b of state.Branches) visit(b);
    }
  };
  visit(definition);
  return out;
}

export function taskStates(definition: unknown): TaskStateInfo[] {
  return allStates(definition)
    .filter((s) => s.definition.Type === 'Task')
    .map((s) => ({ name: s.name, resource: String(s.definition.Resource ?? ''), definition: s.definition }));
}

export type TaskResourceKind =
  | { readonly kind: 'lambda-invoke'; readonly callback: boolean }
  | { readonly kind: 'lambda-direct'; readonly functionRef: string }
  | {
      readonly kind: 'aws-sdk';
      readonly service: string;
      readonly action: string;
      readonly callback: boolean;
    }
  | {
      readonly kind: 'optimized';
      readonly service: string;
      readonly action: string;
      readonly callback: boolean;
    }
  | { readonly kind: 'unsupported' };

export function classifyResource(resource: string): TaskResourceKind {
  if (resource === 'arn:aws:states:::lambda:invoke') return { kind: 'lambda-invoke', callback: false };
  if (resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken')
    return { kind: 'lambda-invoke', callback: true };
  if (/^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:/.test(resource))
    return { kind: 'lambda-direct', functionRef: resource };
  const sdk = /^arn:aws[\w-]*:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)(\.waitForTaskToken)?$/.exec(
    resource,
  );
  if (sdk?.[1] && sdk[2])
    return { kind: 'aws-sdk', service: sdk[1], action: sdk[2], callback: sdk[3] !== undefined };
  const optimized = /^arn:aws[\w-]*:states:::(sns|dynamodb):([A-Za-z]+)(\.waitForTaskToken)?$/.exec(resource);
  if (optimized?.[1] && optimized[2]) {
    return {
      kind: 'optimized',
      service: optimized[1],
      action: optimized[2],
      callback: optimized[3] !== undefined,
    };
  }
  return { kind: 'unsupported' };
}

// ----- task implementations ---------------------------------------------------------------------

export interface TaskCall {
  readonly executionArn: string;
  readonly stateName: string;
  readonly state: JsonObject;
  /** The token minted for `$$.Task.Token` in this state's Parameters, if any. */
  readonly taskToken?: string;
  readonly broker: TaskTokenBroker;
  /** The timeout the library applies to this Task (ms). */
  readonly timeoutMs: number;
}

/** A local implementation of one Task state: gets the input after Parameters, returns the raw result. */
export type TaskImplementation = (input: Json, call: TaskCall) => Promise<Json>;

export interface GenericTaskDeps {
  /** Invokes a local function by name or ARN (function-host.ts). */
  readonly invokeFunction?: (functionRef: string, payload: unknown) => Promise<InvokeOutcome>;
  /** Local endpoint for aws-sdk:* and optimized integrations (aws-server.ts). */
  readonly awsEndpoint?: string;
  readonly dynamoDbEndpoint?: string;
  readonly region?: string;
}

const SERVICE_ERROR_PREFIX: Readonly<Record<string, string>> = {
  ec2: 'Ec2',
  ssm: 'Ssm',
  sfn: 'Sfn',
  sns: 'Sns',
  s3: 'S3',
  secretsmanager: 'SecretsManager',
  lambda: 'Lambda',
  dynamodb: 'DynamoDb',
};

/**
 * Step Functions names an SDK integration's error `<ServiceName>.<ErrorName>`, with an `Exception` suffix
 * even where the API reference has none ("Learning to use AWS service SDK integrations in Step Functions",
 * https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html). An error the
 * service's model does not name for the operation — IAM's AccessDenied above all — surfaces as the
 * service client's catch-all exception, `Ssm.SsmException` with the message as its Cause (what executions
 * report for an unauthorized ssm: call). So `Ssm.SsmException` also carries permanent errors: it must
 * never be retried as if it were throttling.
 */
const CATCH_ALL_EXCEPTION: Readonly<Record<string, string>> = {
  ec2: 'Ec2Exception',
  ssm: 'SsmException',
  sfn: 'SfnException',
  sns: 'SnsException',
  s3: 'S3Exception',
  secretsmanager: 'SecretsManagerException',
  lambda: 'LambdaException',
  dynamodb: 'DynamoDbException',
};

/** Errors of IAM and request signing, common to every AWS API and named by no operation's error list. */
const UNMODELED_ERRORS: ReadonlySet<string> = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'NotAuthorized',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'IncompleteSignature',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
]);

/** The Error a failed aws-sdk:<service>:<action> Task reports (see CATCH_ALL_EXCEPTION). */
export function sdkIntegrationErrorName(service: string, errorName: string): string {
  const prefix = SERVICE_ERROR_PREFIX[service] ?? service;
  const catchAll = CATCH_ALL_EXCEPTION[service];
  if (catchAll && UNMODELED_ERRORS.has(errorName)) return `${prefix}.${catchAll}`;
  return `${prefix}.${errorName.endsWith('Exception') ? errorName : `${errorName}Exception`}`;
}

const SDK_MODULES: Readonly<Record<string, string>> = {
  ec2: '@aws-sdk/client-ec2',
  ssm: '@aws-sdk/client-ssm',
  sfn: '@aws-sdk/client-sfn',
  sns: '@aws-sdk/client-sns',
  s3: '@aws-sdk/client-s3',
  secretsmanager: '@aws-sdk/client-secrets-manager',
  lambda: '@aws-sdk/client-lambda',
  dynamodb: '@aws-sdk/client-dynamodb',
};

const SDK_CLIENTS: Readonly<Record<string, string>> = {
  ec2: 'EC2Client',
  ssm: 'SSMClient',
  sfn: 'SFNClient',
  sns: 'SNSClient',
  s3: 'S3Client',
  secretsmanager: 'SecretsManagerClient',
  lambda: 'LambdaClient',
  dynamodb: 'DynamoDBClient',
};

interface SdkClient {
  send(command: unknown): Promise<Record<string, unknown>>;
}

type Constructor<T> = new (input: unknown) => T;

function lambdaErrorFrom(outcome: InvokeOutcome): TaskError {
  const payload = (outcome.payload ?? {}) as { errorType?: unknown };
  const name = typeof payload.errorType === 'string' ? payload.errorType : 'Lambda.Unknown';
  return new TaskError(name, JSON.stringify(outcome.payload));
}

/** Converts an SDK result to what a Task would see: no $metadata, timestamps as ISO strings. */
function sdkResultToJson(value: unknown): Json {
  return JSON.parse(
    JSON.stringify(value, (key, v: unknown) =>
      key === '$metadata' ? undefined : v instanceof Date ? v.toISOString() : v,
    ),
  ) as Json;
}

/** Builds the generic local implementation for a Task state, or undefined if its Resource is not supported. */
export function genericTaskImplementation(
  task: TaskStateInfo,
  deps: GenericTaskDeps,
): TaskImplementation | undefined {
  const kind = classifyResource(task.resource);
  switch (kind.kind) {
    case 'lambda-invoke':
      return async (input, call) => {
        const invoke = requireInvoker(deps, task.name);
        const params = (input ?? {}) as JsonObject;
        const functionRef = String(params.FunctionName ?? '');
        const token = kind.callback ? requireToken(call) : undefined;
        const outcome = await invokeOrFail(invoke, functionRef, params.Payload ?? null);
        if (outcome.functionError) throw lambdaErrorFrom(outcome);
        if (token) return call.broker.wait(token, call.stateName, call.timeoutMs + 50);
        const asyncInvoke = params.InvocationType === 'Event';
        return {
          ExecutedVersion: '$LATEST',
          Payload: asyncInvoke ? '' : ((outcome.payload ?? null) as Json),
          SdkHttpMetadata: {
            AllHttpHeaders: { 'X-Amz-Executed-Version': ['$LATEST'], 'Content-Type': ['application/json'] },
            HttpHeaders: { 'X-Amz-Executed-Version': '$LATEST', 'Content-Type': 'application/json' },
            HttpStatusCode: asyncInvoke ? 202 : 200,
          },
          SdkResponseMetadata: { RequestId: randomBytes(16).toString('hex') },
          StatusCode: asyncInvoke ? 202 : 200,
        };
      };
    case 'lambda-direct':
      return async (input) => {
        const outcome = await invokeOrFail(requireInvoker(deps, task.name), kind.functionRef, input);
        if (outcome.functionError) throw lambdaErrorFrom(outcome);
        return (outcome.payload ?? null) as Json;
      };
    case 'aws-sdk':
    case 'optimized': {
      const { service, action, callback } = kind;
      if (!SDK_MODULES[service]) return undefined;
      let client: SdkClient | undefined;
      let commands: Record<string, unknown> | undefined;
      return async (input, call) => {
        const token = callback ? requireToken(call) : undefined;
        if (!client || !commands) {
          if (!deps.awsEndpoint)
            throw new TaskError('States.Runtime', `Task ${task.name} needs deps.awsEndpoint`);
          commands = (await import(SDK_MODULES[service] as string)) as Record<string, unknown>;
          const Client = commands[SDK_CLIENTS[service] as string] as Constructor<SdkClient>;
          client = new Client({
            endpoint: service === 'dynamodb' ? (deps.dynamoDbEndpoint ?? deps.awsEndpoint) : deps.awsEndpoint,
            region: deps.region ?? 'us-east-1',
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
            // Step Functions surfaces throttling to the state's Retry instead of retrying inside the SDK.
            maxAttempts: 1,
            ...(service === 's3' ? { forcePathStyle: true } : {}),
          });
        }
        const Command = commands[`${action.charAt(0).toUpperCase()}${action.slice(1)}Command`] as
          | Constructor<unknown>
          | undefined;
        if (!Command)
          throw new TaskError('States.Runtime', `Unknown ${service} action ${action} in ${task.name}`);
        let result: Record<string, unknown>;
        try {
          result = await client.send(new Command(input));
        } catch (error) {
          const name = (error as Error).name ?? 'Unknown';
          if (kind.kind === 'aws-sdk') {
            throw new TaskError(sdkIntegrationErrorName(service, name), (error as Error).message);
          }
          const prefix = service === 'sns' ? 'SNS' : 'DynamoDB';
          throw new TaskError(
            `${prefix}.${name.endsWith('Exception') ? name : `${name}Exception`}`,
            (error as Error).message,
          );
        }
        if (token) return call.broker.wait(token, call.stateName, call.timeoutMs + 50);
        return sdkResultToJson(result);
      };
    }
    case 'unsupported':
      return undefined;
  }
}

function requireInvoker(deps: GenericTaskDeps, stateName: string) {
  if (!deps.invokeFunction)
    throw new TaskError('States.Runtime', `Task ${stateName} needs deps.invokeFunction`);
  return deps.invokeFunction;
}

function requireToken(call: TaskCall): string {
  if (!call.taskToken) {
    throw new TaskError(
      'States.Runtime',
      `${call.stateName} uses .waitForTaskToken but its Parameters never read $$.Task.Token: nothing could ever complete it`,
    );
  }
  return call.taskToken;
}

async function invokeOrFail(
  invoke: NonNullable<GenericTaskDeps['invokeFunction']>,
  functionRef: string,
  payload: unknown,
): Promise<InvokeOutcome> {
  try {
    return await invoke(functionRef, payload);
  } catch (error) {
    // The Lambda service itself failed (unknown function, host down): Step Functions' Lambda.* errors.
    const name = (error as Error).name;
    throw new TaskError(
      name.startsWith('Lambda.') ? name : 'Lambda.ServiceException',
      `${(error as Error).message} (invoking ${functionRef})`,
    );
  }
}

// ----- the runner ---------------------------------------------------------------------------------

export interface RunnerOptions {
  /** Local implementations by state name; they win over the generic ones. */
  readonly taskHandlers?: Readonly<Record<string, TaskImplementation>>;
  /** Enables the generic implementations (see top of file) for Tasks without an explicit handler. */
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
    // the task that was interrupted) must not run its Task again.
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
