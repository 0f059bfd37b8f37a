// Runs the BUNDLED Lambda functions (the asset directories in cdk.out) locally, each in its own child
// processes so environment variables and module state are per function, as in Lambda. A function gets
// the environment its template gives it, plus Lambda's reserved variables (LAMBDA_TASK_ROOT, _HANDLER,
// AWS_LAMBDA_FUNCTION_NAME, …), fake credentials and the AWS_ENDPOINT_URL_* of the local server — never
// the developer's own AWS settings. Each child serves one invocation at a time (one "execution
// environment"); up to `concurrency` are started per function, on demand (cold starts are counted).
// A timeout kills the environment and answers Lambda's `Sandbox.Timedout` error.
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FunctionInvoker, functionNameOf, type InvokeOutcome } from './services/lambda.js';

export interface FunctionSpec {
  /** Function name (what FunctionName / the ARN's last part resolves to). */
  readonly name: string;
  /** Directory holding the bundle (index.js …), i.e. the Lambda asset in cdk.out. */
  readonly assetDir: string;
  /** `file.export`, e.g. `index.handler`, from the template's Handler. */
  readonly handler: string;
  /** The template's Environment.Variables for this function. */
  readonly environment?: Readonly<Record<string, string>>;
  /** Lambda timeout; default 3 s like Lambda. */
  readonly timeoutSeconds?: number;
  readonly memoryMb?: number;
  /** Execution environments for this function; default FunctionHostOptions.defaultConcurrency. */
  readonly concurrency?: number;
}

export interface FunctionHostOptions {
  readonly functions: readonly FunctionSpec[];
  /** AWS_ENDPOINT_URL_* for the local services (aws-server.ts `endpointEnv()`). */
  readonly endpointEnv: Readonly<Record<string, string>>;
  readonly region?: string;
  readonly account?: string;
  /** Default execution environments per function. Default 2. */
  readonly defaultConcurrency?: number;
  /** Appends each function's console output to `<logDir>/<name>.log`. */
  readonly logDir?: string;
  /** Receives each line a function logs. */
  readonly onLog?: (functionName: string, line: string) => void;
  /**
   * How far the functions' clock is ahead of the wall clock (ms), read at each invocation: a test moves
   * time forward (leases, "due" instants) instead of waiting for it. Default 0.
   */
  readonly clockOffsetMs?: () => number;
}

export interface FunctionStats {
  invocations: number;
  errors: number;
  timeouts: number;
  coldStarts: number;
}

export class UnknownFunctionError extends Error {
  override name = 'Lambda.ResourceNotFoundException';
}

interface Environment {
  readonly child: ChildProcess;
  busy?: {
    id: string;
    resolve: (outcome: InvokeOutcome) => void;
    /** The Init watchdog until the worker says `started`, then the invocation's timeout. */
    timer: NodeJS.Timeout;
    startTimer: (seconds?: number) => NodeJS.Timeout;
  };
  dead: boolean;
}

interface Waiting {
  readonly payload: unknown;
  readonly resolve: (outcome: InvokeOutcome) => void;
}

/** Lambda's limit on the Init phase (lambda-runtime-environment.html). */
const INIT_LIMIT_SECONDS = 10;

const WORKER = fileURLToPath(new URL('./function-host-worker.cjs', import.meta.url));

class FunctionPool {
  readonly stats: FunctionStats = { invocations: 0, errors: 0, timeouts: 0, coldStarts: 0 };
  private readonly environments: Environment[] = [];
  private readonly queue: Waiting[] = [];
  private closed = false;

  constructor(
    private readonly spec: FunctionSpec,
    private readonly env: Record<string, string>,
    private readonly concurrency: number,
    private readonly arn: string,
    private readonly log: (line: string) => void,
    private readonly clockOffsetMs: () => number,
  ) {}

  invoke(payload: unknown): Promise<InvokeOutcome> {
    if (this.closed) return Promise.reject(new Error(`Function ${this.spec.name} is shut down`));
    this.stats.invocations++;
    return new Promise((resolve) => {
      this.queue.push({ payload, resolve });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.environments.map(
        (e) =>
          new Promise<void>((resolve) => {
            if (e.dead || e.child.exitCode !== null) return resolve();
            e.child.once('exit', () => resolve());
            e.child.kill('SIGKILL');
          }),
      ),
    );
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let environment = this.environments.find((e) => !e.dead && !e.busy);
      if (!environment && this.environments.filter((e) => !e.dead).length < this.concurrency) {
        environment = this.spawn();
      }
      if (!environment) return;
      const next = this.queue.shift() as Waiting;
      this.run(environment, next);
    }
  }

  private spawn(): Environment {
    this.stats.coldStarts++;
    const child = fork(WORKER, [], {
      cwd: this.spec.assetDir,
      env: this.env,
      execArgv: [], // no tsx/ts loader from the parent: the bundle runs under bare node, as in Lambda
      silent: true,
      serialization: 'json',
    });
    const environment: Environment = { child, dead: false };
    this.environments.push(environment);
    const forward = (stream: NodeJS.ReadableStream | null) => {
      let buffered = '';
      stream?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          this.log(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
        }
      });
    };
    forward(child.stdout);
    forward(child.stderr);
    child.on(
      'message',
      (message: { type?: string; id?: string; ok?: boolean; payload?: unknown; error?: unknown }) => {
        if (!environment.busy || environment.busy.id !== message.id) return;
        if (message.type === 'started') {
          clearTimeout(environment.busy.timer);
          environment.busy.timer = environment.busy.startTimer();
          return;
        }
        if (message.type !== 'result') return;
        const { resolve, timer } = environment.busy;
        clearTimeout(timer);
        environment.busy = undefined;
        if (message.ok) resolve({ payload: message.payload ?? null });
        else {
          this.stats.errors++;
          resolve({ payload: message.error, functionError: 'Unhandled' });
        }
        this.dispatch();
      },
    );
    child.on('exit', (code, signal) => {
      environment.dead = true;
      const index = this.environments.indexOf(environment);
      if (index >= 0) this.environments.splice(index, 1);
      if (environment.busy) {
        const { resolve, timer, id } = environment.busy;
        clearTimeout(timer);
        environment.busy = undefined;
        this.stats.errors++;
        resolve({
          functionError: 'Unhandled',
          payload: {
            errorType: 'Runtime.ExitError',
            errorMessage: `RequestId: ${id} Error: Runtime exited with error: ${signal ? `signal: ${signal}` : `exit status ${code}`}`,
          },
        });
      }
      if (!this.closed) this.dispatch();
    });
    return environment;
  }

  private run(environment: Environment, job: Waiting): void {
    const id = randomUUID();
    const timeoutSeconds = this.spec.timeoutSeconds ?? 3;
    // The timeout counts from the start of the Invoke phase, not the environment's Init (module load):
    // "Lambda execution environment lifecycle" — Init has its own 10 s limit, then the function timeout
    // applies to the invocation (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
    // The worker says `started` once the handler is loaded; a loaded machine's slow cold start is not a timeout.
    const startTimer = (seconds = timeoutSeconds) =>
      setTimeout(() => {
        if (environment.busy?.id !== id) return;
        environment.busy = undefined;
        this.stats.timeouts++;
        this.stats.errors++;
        // Lambda resets the environment after a timeout.
        environment.dead = true;
        environment.child.kill('SIGKILL');
        job.resolve({
          functionError: 'Unhandled',
          payload: {
            errorType: 'Sandbox.Timedout',
            errorMessage: `RequestId: ${id} Error: Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
          },
        });
      }, seconds * 1000);
    // Until the handler is loaded: Init's own 10 s limit, then the invocation's timeout.
    environment.busy = {
      id,
      resolve: job.resolve,
      startTimer,
      timer: startTimer(INIT_LIMIT_SECONDS + timeoutSeconds),
    };
    environment.child.send({
      type: 'invoke',
      id,
      requestId: id,
      event: job.payload,
      timeoutMs: timeoutSeconds * 1000,
      clockOffsetMs: this.clockOffsetMs(),
      invokedFunctionArn: this.arn,
    });
  }
}

export class FunctionHost implements FunctionInvoker {
  private readonly pools = new Map<string, FunctionPool>();

  constructor(options: FunctionHostOptions) {
    const region = options.region ?? 'us-east-1';
    const account = options.account ?? '123456789012';
    if (options.logDir) mkdirSync(options.logDir, { recursive: true });
    for (const spec of options.functions) {
      if (this.pools.has(spec.name)) throw new Error(`Function ${spec.name} is defined twice`);
      if (!existsSync(spec.assetDir)) {
        throw new Error(
          `Function ${spec.name}: asset directory ${spec.assetDir} does not exist (run cdk synth first?)`,
        );
      }
      const env = lambdaEnvironment(spec, options.endpointEnv, region);
      const logFile = options.logDir ? join(options.logDir, `${spec.name}.log`) : undefined;
      const log = (line: string) => {
        if (logFile) appendFileSync(logFile, `${line}\n`);
        options.onLog?.(spec.name, line);
      };
      const arn = `arn:aws:lambda:${region}:${account}:function:${spec.name}`;
      this.pools.set(
        spec.name,
        new FunctionPool(
          spec,
          env,
          spec.concurrency ?? options.defaultConcurrency ?? 2,
          arn,
          log,
          options.clockOffsetMs ?? (() => 0),
        ),
      );
    }
  }

  has(functionRef: string): boolean {
    return this.pools.has(functionNameOf(functionRef));
  }

  /** Invokes by name or ARN and waits for the result (errors come back as Lambda error payloads). */
  invoke(functionRef: string, payload: unknown): Promise<InvokeOutcome> {
    const pool = this.pools.get(functionNameOf(functionRef));
    if (!pool) return Promise.reject(new UnknownFunctionError(`Function not found: ${functionRef}`));
    return pool.invoke(payload);
  }

  stats(): Record<string, FunctionStats> {
    return Object.fromEntries([...this.pools].map(([name, pool]) => [name, { ...pool.stats }]));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}

/** What a function's process sees: a clean, Lambda-like environment pointed at the local services. */
/** The access key id a local function signs its AWS calls with (letters and digits only: DynamoDB Local's rule). */
export function functionAccessKeyId(functionName: string): string {
  return `LOCAL${functionName.replace(/[^A-Za-z0-9]/g, '')}`;
}

export function lambdaEnvironment(
  spec: FunctionSpec,
  endpointEnv: Readonly<Record<string, string>>,
  region: string,
): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    NODE_ENV: 'production',
    ...spec.environment,
    // Reserved by Lambda: the template cannot override these.
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    AWS_LAMBDA_FUNCTION_NAME: spec.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb ?? 128),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    LAMBDA_TASK_ROOT: spec.assetDir,
    LAMBDA_RUNTIME_DIR: spec.assetDir,
    _HANDLER: spec.handler,
    // Never the developer's credentials or profile; never instance metadata. The key id names the
    // function, so the local endpoint can authorize its calls with the function's role (services/iam.ts).
    AWS_ACCESS_KEY_ID: functionAccessKeyId(spec.name),
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...endpointEnv,
  };
}
