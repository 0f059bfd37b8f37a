// The whole stack on one machine (docs/architecture.md "How local mode proves fidelity"): the synthesized, bundled assembly in cdk.out run against local
// AWS emulators. DynamoDB Local holds the table the template defines; one loopback server speaks EC2, SSM,
// Step Functions, SNS, S3, Lambda and Secrets Manager; a real local SSM agent runs the playbooks with
// ansible-playbook; the state machine's ASL runs in aws-local-stepfunctions with every Task mapped to the
// bundled functions; EventBridge rules and the sweep schedule come from the template. Used by `npm start`,
// the end-to-end tests and the benchmark through the handle `startLocalStack` returns.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SSM_ONLY_INSTANCE_PROFILE } from '../../cli/fleet-file.js';
import type { Status } from '../../functions/core/types.js';
import { StateStore } from '../../functions/shared/state-store.js';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import { type Assembly, ensureAssembly, LOCAL_DIR } from './assembly.js';
import { type AwsServer, type CallCounter, startAwsServer, type ThrottleConfig } from './aws-server.js';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local.js';
import { type DynamoDbProxy, startDynamoDbProxy } from './dynamodb-proxy.js';
import { type BusEvent, type BusFaults, EventBus } from './event-bus.js';
import {
  expandInstances,
  Fleet,
  type FleetFile,
  FleetFileError,
  type FleetOptions,
  LOCAL_INSTANCE_PROFILE,
  loadFleetFile,
  playFleetFile,
  type ScenarioRun,
} from './fleet.js';
import { FunctionHost, type FunctionStats, functionAccessKeyId } from './function-host.js';
import { accessKeyIdOf, type ServiceName } from './protocol.js';
import { CloudFormationEmulator } from './services/cloudformation.js';
import { CloudWatchAlarms } from './services/cloudwatch.js';
import { Ec2Emulator } from './services/ec2.js';
import { IamEmulator, SSM_CORE_POLICY_ARN } from './services/iam.js';
import { LambdaEmulator } from './services/lambda.js';
import { LogsEmulator } from './services/logs.js';
import { S3Emulator, S3Store } from './services/s3.js';
import { SecretsManagerEmulator } from './services/secrets-manager.js';
import { type ExecutionStatus, SfnEmulator } from './services/sfn.js';
import { type PublishedMessage, SnsEmulator } from './services/sns.js';
import { SqsEmulator } from './services/sqs.js';
import { type InvocationStatus, SsmEmulator, TERMINAL_STATUSES } from './services/ssm.js';
import {
  type GenericTaskDeps,
  genericTaskImplementation,
  StateMachineRunner,
  type TaskImplementation,
  taskStates,
} from './sfn-runner.js';
import {
  applyAnsiblePlaybooksDocument,
  assertAnsible,
  describeDocumentContent,
  ensureAnsibleDocument,
  LocalSsmAgent,
  type SimulatedPlaybooksOptions,
  simulatedApplyAnsiblePlaybooksDocument,
} from './ssm-agent.js';
import { type DocumentDefinition, SsmDocuments } from './ssm-documents.js';
import { bundleZip, type LocalStackSpec, readLocalStack } from './template.js';

export interface LocalStackOptions {
  /** Fleet file (path, or already parsed): its instances launch at start and its scenario plays. */
  readonly fleet?: string | FleetFile;
  /**
   * Play the fleet file's scenario (timed actions).
   * @default true
   */
  readonly playScenario?: boolean;
  /**
   * Scenario times are multiplied by this.
   * @default 1 (wall-clock: ansible-playbook takes real seconds whatever the time scale)
   */
  readonly scenarioTimeScale?: number;
  /** A playbooks folder, or a rules file whose folder is the playbooks folder: a different bundle, synthesized for real. */
  readonly rules?: string;
  /** Check mode: the rules' `defaults.check` is set to true (synthesized as a separate bundle). */
  readonly check?: boolean;
  /** Replaces the rules' `inventories` (synthesized as a separate bundle): the demo's sample inventory. */
  readonly inventories?: readonly string[];
  /**
   * Multiplies the stack's AWS durations: static Wait states, Retry intervals, the sweep rate, Lambda's
   * async retry delays. 0.01 turns the 5-minute sweep into 3 s and a 15 s agent check into 150 ms.
   * @default 0.01
   */
  readonly timeScale?: number;
  /**
   * A fixed duration for Wait states that read their time from the input (the playbook retry backoff).
   * @default the time the state reads × timeScale (a backoff of 60 s then 120 s waits 0.6 s then 1.2 s at 0.01)
   */
  readonly dynamicWaitMs?: number;
  /**
   * Multiplies the timeouts of the callback (`.waitForTaskToken`) tasks, so a lost status event is noticed
   * quickly in a fault-injection run. Keep 1 with real Ansible: a queued command may legitimately wait.
   * @default 1
   */
  readonly taskTimeoutScale?: number;
  /** Fraction of SSM and SFN calls answered with the service's throttling error, or a per-key config. */
  readonly throttle?: number | ThrottleConfig;
  /** EventBridge faults: duplicates, shuffling, drops, delays. */
  readonly eventFaults?: BusFaults;
  /** Seeds every random choice (fleet ids, faults, throttling). @default 42 */
  readonly seed?: number;
  /**
   * Where DynamoDB Local's file, sandboxes, work dirs and logs go.
   * @default .local/run-<timestamp>-<pid>
   */
  readonly stateDir?: string;
  /** Run AWS-ApplyAnsiblePlaybooks without Ansible (benchmarks with large fleets). */
  readonly simulatedAnsible?: boolean | SimulatedPlaybooksOptions;
  /** Parallel commands on the local agent. @default 2 */
  readonly agentConcurrency?: number;
  /** Execution environments per function. @default 2 */
  readonly functionConcurrency?: number;
  /** Run the template's sweep schedule (scaled). Off: only `sweepNow()` sweeps. @default true */
  readonly sweepSchedule?: boolean;
  /** Fleet settings (boot delay, defaults…). */
  readonly fleetOptions?: Omit<FleetOptions, 'emit' | 'seed' | 'account' | 'region'>;
  /**
   * Environment overrides for every function, on top of the template's. A deviation from the deployable
   * configuration: meant for fault-injection runs (e.g. a short LEASE_SECONDS), never for the demo.
   */
  readonly functionEnv?: Readonly<Record<string, string>>;
  /** Progress lines while starting ("Synthesizing the stack…", "Starting DynamoDB Local…"). */
  readonly onProgress?: (message: string) => void;
  /** Every line a function logs. */
  readonly onFunctionLog?: (functionName: string, line: string) => void;
  /** Subscribed before the fleet launches, so no change is missed (same as `handle.onChange`). */
  readonly onChange?: (change: InstanceChange) => void;
}

/** A change of an instance record, seen right after the write that made it. */
export interface InstanceChange {
  readonly at: Date;
  readonly instanceId: string;
  /** Name tag (fleet), if any. */
  readonly name?: string;
  /** `status`: the record's status changed; `playbook`: one playbook's result or attempt count changed. */
  readonly kind: 'status' | 'playbook';
  readonly from?: Status;
  readonly to: Status;
  /** For kind = playbook. */
  readonly playbook?: {
    readonly index: number;
    readonly file: string;
    readonly status: string;
    readonly attempts: number;
  };
  readonly detail: string;
  readonly record: InstanceRecord;
}

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

/** An asynchronous invocation that failed for good (Lambda's on-failure destination / a DLQ). */
export interface DeadLetter {
  readonly source: string;
  readonly functionName: string;
  readonly payload: unknown;
  readonly error: unknown;
  readonly attempts: number;
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
  /** Resolves when nothing runs: no execution, no event, command, async invoke or sweep in flight, scenario done. */
  waitForIdle(options?: { timeoutMs?: number; includeScenario?: boolean }): Promise<void>;
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Lambda's waits between asynchronous retries, ~1 then ~2 minutes (Lambda Developer Guide, "Configuring
 * error handling for asynchronous invocation"). How many retries: the function's spec (the template).
 */
const ASYNC_RETRY_DELAYS_SECONDS = [60, 120];

function throttleConfig(value: number | ThrottleConfig | undefined): ThrottleConfig {
  if (value === undefined) return {};
  if (typeof value === 'number') return { SSM: value, SFN: value };
  return value;
}

/** A profile with only AmazonSSMManagedInstanceCore: the instance registers but cannot read the bundle. */
export { SSM_ONLY_INSTANCE_PROFILE };

/**
 * The local IAM: the stack's managed policies, and two instance profiles for the simulated fleet —
 * LOCAL_INSTANCE_PROFILE (SSM core + the stack's InstancePolicyArn output, as the README's deploy steps
 * say) and SSM_ONLY_INSTANCE_PROFILE (the usual mistake).
 */
function localIam(spec: LocalStackSpec): IamEmulator {
  const iam = new IamEmulator(spec.account);
  for (const policy of spec.managedPolicies) iam.addManagedPolicy(policy.arn, policy.document);
  const instancePolicy = spec.outputs.find((o) => o.key === 'InstancePolicyArn')?.value;
  iam.addInstanceProfile(LOCAL_INSTANCE_PROFILE, [
    SSM_CORE_POLICY_ARN,
    ...(instancePolicy !== undefined ? [instancePolicy] : []),
  ]);
  iam.addInstanceProfile(SSM_ONLY_INSTANCE_PROFILE, [SSM_CORE_POLICY_ARN]);
  return iam;
}

/** Every instance profile a fleet file names must exist in the local IAM. */
function assertInstanceProfiles(file: FleetFile, iam: IamEmulator): void {
  const named = [file.defaults?.instanceProfile, ...file.instances.map((i) => i.instanceProfile)];
  for (const name of named) {
    if (typeof name === 'string' && !iam.hasInstanceProfile(name)) {
      throw new FleetFileError(
        `instanceProfile "${name}" does not exist in local mode; use one of ${iam
          .instanceProfileNames()
          .map((n) => `"${n}"`)
          .join(', ')}, or null for none`,
      );
    }
  }
}

function runStamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Starts the whole stack. Always `stop()` the handle (also on failure paths) to end child processes. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const progress = options.onProgress ?? (() => {});
  const timeScale = options.timeScale ?? 0.01;
  const seed = options.seed ?? 42;
  if (!options.simulatedAnsible) assertAnsible();
  const assembly = await ensureAssembly({
    rules: options.rules,
    check: options.check,
    ...(options.inventories ? { inventories: options.inventories } : {}),
    onProgress: progress,
  });
  const spec = readLocalStack(assembly.dir);
  const fleetFile =
    typeof options.fleet === 'string' ? loadFleetFile(options.fleet) : (options.fleet ?? { instances: [] });

  const stateDir = options.stateDir ?? join(LOCAL_DIR, `run-${runStamp()}-${process.pid}`);
  const logDir = join(stateDir, 'logs');
  const sandboxRoot = join(stateDir, 'sandbox');
  for (const dir of [stateDir, logDir, sandboxRoot, join(stateDir, 'dynamodb')])
    mkdirSync(dir, { recursive: true });

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // best effort: keep shutting the rest down
      }
    }
  };

  try {
    progress('Starting DynamoDB Local…');
    const ddb: DynamoDbLocal = await startDynamoDbLocal({ dbPath: join(stateDir, 'dynamodb') });
    cleanups.push(() => ddb.stop());
    const changes = new ChangeFeed();
    const proxy: DynamoDbProxy = await startDynamoDbProxy({
      target: ddb.endpoint,
      throttle: throttleConfig(options.throttle),
      seed: seed + 1,
      onWrite: (table, keys) => {
        if (table === spec.table.create.TableName) for (const key of keys) changes.touched(key);
      },
    });
    cleanups.push(() => proxy.stop());
    const direct = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: ddb.endpoint,
        region: spec.region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
      { marshallOptions: { removeUndefinedValues: true } },
    );
    cleanups.push(() => direct.destroy());
    await createTable(direct, spec);
    const runCommandEnv =
      spec.functions.find((f) => f.environment.ANSIBLE_INSTALL_DOCUMENT)?.environment ?? {};
    const historyDays = Number(spec.functions[0]?.environment.HISTORY_DAYS ?? 90);
    const store = new StateStore({
      doc: direct,
      tableName: String(spec.table.create.TableName),
      historyDays,
      accountId: spec.account,
      region: spec.region,
    });

    // ---- emulators ------------------------------------------------------------------------------
    const bus = new EventBus({ faults: options.eventFaults, seed: seed + 2 });
    const fleet = new Fleet({
      ...options.fleetOptions,
      emit: (event: BusEvent) => bus.put(event),
      seed: seed + 3,
      account: spec.account,
      region: spec.region,
    });
    cleanups.push(() => fleet.dispose());
    const s3 = new S3Store();
    for (const bucket of spec.buckets) s3.createBucket(bucket);
    for (const bundle of spec.bundles) {
      s3.createBucket(bundle.bucket);
      s3.put(bundle.bucket, bundle.key, bundleZip(bundle.assetPath), { contentType: 'application/zip' });
    }
    const sns = new SnsEmulator({ account: spec.account, region: spec.region });
    for (const topic of spec.topics) sns.createTopic(topic);
    for (const policy of spec.topicPolicies) {
      for (const topic of policy.topics) sns.setTopicPolicy(topic, policy.document);
    }
    const cloudwatch = new CloudWatchAlarms({
      alarms: spec.alarms,
      account: spec.account,
      region: spec.region,
      publish: (publisher, topic, message, subject) =>
        sns.publishAsService(publisher, topic, message, subject),
    });
    const secrets = new SecretsManagerEmulator({ account: spec.account, region: spec.region });
    const sfn = new SfnEmulator({ account: spec.account, region: spec.region });
    const iam = localIam(spec);
    assertInstanceProfiles(fleetFile, iam);
    const cloudFormation = new CloudFormationEmulator({
      name: spec.stackName,
      region: spec.region,
      account: spec.account,
      outputs: spec.outputs,
    });
    // The dead-letter queue's depth is local mode's dead letters (failed async invocations).
    let deadLetterCount = () => 0;
    const sqs = new SqsEmulator();
    for (const url of spec.queues) sqs.addQueue(url, () => deadLetterCount());

    const documents = localDocuments(
      spec,
      options.simulatedAnsible,
      runCommandEnv.ANSIBLE_INSTALL_DOCUMENT,
      progress,
    );
    const agent = new LocalSsmAgent({
      workRoot: join(stateDir, 'work'),
      sandboxRoot,
      logDir: join(logDir, 'commands'),
      s3,
      emit: (event) => bus.put(event),
      concurrency: options.agentConcurrency ?? 2,
      account: spec.account,
      region: spec.region,
      // An EC2 instance reads the bundle with its instance profile's role; hybrid nodes with their
      // activation's role, which local mode does not model (allowed).
      readDenied: (instanceId, bucket, key) => {
        const instance = fleet.get(instanceId);
        if (!instance || instance.kind === 'hybrid') return undefined;
        if (!instance.instanceProfile) return 'the instance has no instance profile';
        return iam.denial(instance.instanceProfile, 's3:GetObject', `arn:aws:s3:::${bucket}/${key}`);
      },
      // Command output is uploaded with the same credentials (PutObject with an ACL: PutObjectAcl too).
      writeDenied: (instanceId, bucket, key, action) => {
        const instance = fleet.get(instanceId);
        if (!instance || instance.kind === 'hybrid') return undefined;
        if (!instance.instanceProfile) return 'the instance has no instance profile';
        return iam.denial(instance.instanceProfile, action, `arn:aws:s3:::${bucket}/${key}`);
      },
    });
    // SendCommand is authorized with the calling function's role, as IAM would: the run-command role's
    // opt-in tag condition and its list of inventory hosts decide which hosts a command may reach.
    for (const f of spec.functions) {
      if (f.role) iam.addPrincipal(functionAccessKeyId(f.name), f.role.name, f.role.statements);
    }
    const ssm = new SsmEmulator({
      nodes: fleet,
      documents,
      runner: agent,
      region: spec.region,
      account: spec.account,
      authorize: (request, action, resources) => iam.authorize(accessKeyIdOf(request), action, resources),
      tagsOf: (instanceId) => fleet.get(instanceId)?.tags ?? {},
    });

    let host: FunctionHost | undefined;
    let clockOffsetMs = 0;
    const invoker = {
      has: (name: string) => host?.has(name) ?? false,
      invoke: (name: string, payload: unknown) => {
        if (!host) return Promise.reject(new Error('The function host is not started'));
        return host.invoke(name, payload);
      },
    };
    // Event invocations get Lambda's asynchronous retries (as the template configures them, then a dead
    // letter), like EventBridge targets.
    const asyncRetriesOf = (name: string): number =>
      spec.functions.find((f) => f.name === name || f.logicalId === name)?.asyncRetryAttempts ?? 2;
    let asyncInvoker: AsyncInvoker | undefined;
    const lambda = new LambdaEmulator(invoker, {
      invokeAsync: async (name, payload) => {
        if (!asyncInvoker) throw new Error('The function host is not started');
        await asyncInvoker.invoke('lambda Event invoke', name, payload, asyncRetriesOf(name));
      },
    });

    progress('Starting the local AWS endpoint…');
    const server: AwsServer = await startAwsServer({
      emulators: [
        new Ec2Emulator(fleet),
        ssm,
        sfn,
        sns,
        new S3Emulator(s3),
        lambda,
        secrets,
        iam,
        cloudFormation,
        sqs,
        new LogsEmulator(join(logDir, 'commands')),
      ],
      throttle: throttleConfig(options.throttle),
      seed: seed + 4,
    });
    cleanups.push(() => server.stop());

    // Chat channels, if the deployment configures them, post to the local webhook stand-in, never the internet.
    const channelEnv: Record<string, string> = {};
    for (const f of spec.functions) {
      const slack = f.environment.SLACK_SECRET_ARN;
      if (slack) secrets.put(slack, `${server.endpoint}/_local/webhooks/slack`);
      const telegram = f.environment.TELEGRAM_SECRET_ARN;
      if (telegram) {
        secrets.put(telegram, JSON.stringify({ botToken: 'local', chatId: 'local' }));
        channelEnv.TELEGRAM_API_BASE = `${server.endpoint}/_local/webhooks/telegram`;
      }
    }

    progress(`Starting ${spec.functions.length} functions from ${assembly.dir}…`);
    host = new FunctionHost({
      clockOffsetMs: () => clockOffsetMs,
      functions: spec.functions.map((f) => ({
        name: f.name,
        assetDir: f.assetDir,
        handler: f.handler,
        environment: {
          ...f.environment,
          ...(f.environment.TELEGRAM_SECRET_ARN ? channelEnv : {}),
          ...options.functionEnv,
        },
        timeoutSeconds: f.timeoutSeconds,
        memoryMb: f.memoryMb,
      })),
      endpointEnv: server.endpointEnv(proxy.endpoint),
      region: spec.region,
      account: spec.account,
      defaultConcurrency: options.functionConcurrency ?? 2,
      logDir: join(logDir, 'functions'),
      onLog: options.onFunctionLog,
    });
    const functions = host;
    cleanups.push(() => functions.stop());
    // Reverse order on the way down: executions first, then the commands they wait on, then the functions.
    cleanups.push(() => agent.stop());
    cleanups.push(() => sfn.stopAll());

    // ---- async invocation (EventBridge targets, the schedule): Lambda's retries, then a dead letter -----
    const asyncRuns = new AsyncInvoker(functions, timeScale, progress);
    asyncInvoker = asyncRuns;
    deadLetterCount = () => asyncRuns.deadLetters.length + lambda.asyncFailures.length;
    cleanups.push(() => asyncRuns.stop());
    const invokeAsync = asyncRuns.invoke.bind(asyncRuns);
    for (const rule of spec.rules) {
      for (const target of rule.targets) {
        bus.addRule({
          name: `${rule.logicalId}→${target}`,
          eventPattern: rule.eventPattern,
          target: (event) => invokeAsync(`rule ${rule.logicalId}`, target, event, asyncRetriesOf(target)),
        });
      }
    }

    // ---- the workflow ----------------------------------------------------------------------------
    const generic: GenericTaskDeps = {
      invokeFunction: (ref: string, payload: unknown) => functions.invoke(ref, payload),
      awsEndpoint: server.endpoint,
      region: spec.region,
    };
    const runner = workflowRunner(spec, sfn, generic, {
      timeScale,
      taskTimeoutScale: options.taskTimeoutScale ?? 1,
      ...(options.dynamicWaitMs !== undefined ? { dynamicWaitMs: options.dynamicWaitMs } : {}),
    });
    sfn.registerStateMachine(spec.stateMachine.name, runner, spec.stateMachine.arn);

    // ---- the sweep schedule ----------------------------------------------------------------------
    const sweeper = spec.schedules.find((s) => functions.has(s.target));
    let sweeping = 0;
    if (sweeper && options.sweepSchedule !== false) {
      const periodMs = Math.max(100, sweeper.rateSeconds * 1000 * timeScale);
      const timer = setInterval(() => {
        // EventBridge Scheduler would start another one; locally an overlapping sweep only adds noise.
        if (asyncRuns.stopped || sweeping > 0) return;
        sweeping++;
        void invokeAsync(
          `schedule ${sweeper.logicalId}`,
          sweeper.target,
          sweeper.input,
          sweeper.maximumRetryAttempts,
        ).finally(() => {
          sweeping--;
        });
      }, periodMs);
      cleanups.push(() => clearInterval(timer));
    }

    // ---- live changes -----------------------------------------------------------------------------
    changes.attach(store, (id) => fleet.get(id)?.tags.Name);
    if (options.onChange) changes.subscribe(options.onChange);

    // ---- the fleet ----------------------------------------------------------------------------------
    const scenario =
      options.playScenario === false
        ? (() => {
            for (const { spec: instance, launchNow } of expandInstances(fleetFile)) {
              if (launchNow) fleet.launch(instance);
            }
            return undefined;
          })()
        : playFleetFile(fleet, fleetFile, {
            timeScale: options.scenarioTimeScale ?? 1,
            onFailure: (failure) => progress(`Scenario step failed: ${failure}`),
          });
    let scenarioDone = scenario === undefined;
    if (scenario) {
      cleanups.push(() => scenario.cancel());
      void scenario.done.then(() => {
        scenarioDone = true;
      });
    }

    const counters = (): Record<string, CallCounter> => ({ ...server.counters(), ...proxy.counters() });
    const activity = () =>
      server.totalCalls() +
      Object.values(proxy.counters()).reduce((sum, c) => sum + c.calls, 0) +
      bus.stats.published +
      Object.values(functions.stats()).reduce((sum, s) => sum + s.invocations, 0);
    const busy = (includeScenario: boolean): string[] => {
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
      if (includeScenario && !scenarioDone) reasons.push('scenario still playing');
      return reasons;
    };

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
      waitForIdle: async ({ timeoutMs = 120_000, includeScenario = true } = {}) => {
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
          const before = activity();
          await bounded(sfn.drain());
          await bounded(agent.idle());
          await bounded(lambda.drain());
          await bounded(bus.drain());
          await bounded(changes.drain());
          await sleep(50);
          const reasons = busy(includeScenario);
          if (reasons.length === 0 && activity() === before) return;
          if (Date.now() > deadline) {
            throw new Error(
              `The local stack did not become idle within ${timeoutMs} ms: ${reasons.join('; ') || 'still active'}.`,
            );
          }
          if (reasons.length > 0) await sleep(100);
        }
      },
      advanceClock: (seconds: number) => {
        if (!(seconds >= 0)) throw new Error(`advanceClock: seconds must be ≥ 0, got ${seconds}`);
        clockOffsetMs += seconds * 1000;
      },
      clockNow: () => Date.now() + clockOffsetMs,
      sweepNow: async () => {
        if (!sweeper) throw new Error('The template has no sweep schedule: nothing to invoke.');
        sweeping++;
        try {
          const outcome = await functions.invoke(sweeper.target, sweeper.input);
          if (outcome.functionError) throw new Error(`The sweep failed: ${describeError(outcome.payload)}`);
          return outcome.payload;
        } finally {
          sweeping--;
        }
      },
      stop: async ({ removeStateDir = false } = {}) => {
        asyncRuns.stop();
        changes.close();
        await cleanup();
        if (removeStateDir) rmSync(stateDir, { recursive: true, force: true });
      },
    };
    return handle;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * The state machine's ASL in aws-local-stepfunctions with every Task on the bundled functions or the local
 * endpoint (the runner refuses any Task without one). Static waits and Retry intervals are scaled; callback
 * tasks get scaled timeouts only when asked (a lost status event is then noticed quickly).
 */
function workflowRunner(
  spec: LocalStackSpec,
  sfn: SfnEmulator,
  generic: GenericTaskDeps,
  timing: { timeScale: number; taskTimeoutScale: number; dynamicWaitMs?: number },
): StateMachineRunner {
  const taskHandlers: Record<string, TaskImplementation> = {};
  if (timing.taskTimeoutScale !== 1) {
    for (const task of taskStates(spec.stateMachine.definition)) {
      if (!task.resource.endsWith('.waitForTaskToken')) continue;
      const implementation = genericTaskImplementation(task, generic);
      if (!implementation) continue;
      taskHandlers[task.name] = (input, call) =>
        implementation(input, { ...call, timeoutMs: Math.max(50, call.timeoutMs * timing.taskTimeoutScale) });
    }
  }
  return new StateMachineRunner(spec.stateMachine.definition, {
    broker: sfn.broker,
    generic,
    taskHandlers,
    timeScale: timing.timeScale,
    ...(timing.dynamicWaitMs !== undefined ? { dynamicWaitMs: timing.dynamicWaitMs } : {}),
  });
}

/**
 * Asynchronous invocation as Lambda does it for EventBridge targets and schedules: on a function error,
 * two retries (after ~1 and ~2 minutes, scaled), then the event is kept as a dead letter — never dropped.
 */
class AsyncInvoker {
  readonly deadLetters: DeadLetter[] = [];
  inFlight = 0;
  stopped = false;

  constructor(
    private readonly functions: FunctionHost,
    private readonly timeScale: number,
    private readonly progress: (message: string) => void,
  ) {}

  async invoke(source: string, functionName: string, payload: unknown, retries: number): Promise<void> {
    this.inFlight++;
    try {
      for (let attempt = 1; ; attempt++) {
        const error = await this.attempt(functionName, payload);
        if (error === undefined || this.stopped) return;
        if (attempt > retries) {
          this.deadLetters.push({ source, functionName, payload, error, attempts: attempt });
          this.progress(
            `Dead-lettered: ${source} → ${functionName} failed ${attempt} times: ${describeError(error)}`,
          );
          return;
        }
        const delaySeconds = ASYNC_RETRY_DELAYS_SECONDS[attempt - 1] ?? 120;
        await sleep(Math.max(10, delaySeconds * 1000 * this.timeScale));
        if (this.stopped) return;
      }
    } finally {
      this.inFlight--;
    }
  }

  /** After stop, failures of invocations cut short by the shutdown are neither retried nor dead-lettered. */
  stop(): void {
    this.stopped = true;
  }

  /** The error of one attempt, or undefined when it succeeded. */
  private async attempt(functionName: string, payload: unknown): Promise<unknown> {
    try {
      const outcome = await this.functions.invoke(functionName, payload);
      return outcome.functionError ? outcome.payload : undefined;
    } catch (thrown) {
      return thrown instanceof Error ? { errorType: thrown.name, errorMessage: thrown.message } : thrown;
    }
  }
}

/**
 * The SSM documents local mode runs: AWS-ApplyAnsiblePlaybooks (real or simulated) and the stack's
 * ensure-Ansible document. Any other document of the template is skipped: local mode never runs an unknown
 * document's script on the developer's machine.
 */
function localDocuments(
  spec: LocalStackSpec,
  simulated: LocalStackOptions['simulatedAnsible'],
  ensureDocumentName: string | undefined,
  progress: (message: string) => void,
): SsmDocuments {
  const documents = new SsmDocuments();
  documents.register(
    simulated
      ? simulatedApplyAnsiblePlaybooksDocument(typeof simulated === 'object' ? simulated : {})
      : applyAnsiblePlaybooksDocument(),
  );
  for (const doc of spec.documents) {
    if (doc.documentType !== 'Command') continue;
    if (doc.name !== ensureDocumentName) {
      progress(`Skipping SSM document ${doc.name}: local mode only knows the ensure-Ansible document.`);
      continue;
    }
    const { parameters, steps } = describeDocumentContent(doc.content);
    documents.register(
      simulated
        ? simulatedEnsureDocument(doc.name, steps[0] ?? 'runShellScript')
        : ensureAnsibleDocument({ name: doc.name, parameters, step: steps[0] }),
    );
  }
  return documents;
}

async function createTable(doc: DynamoDBDocumentClient, spec: LocalStackSpec): Promise<void> {
  try {
    await doc.send(new CreateTableCommand(spec.table.create));
  } catch (error) {
    // A kept state directory already has the table (DynamoDB Local -dbPath).
    if (error instanceof ResourceInUseException) return;
    throw error;
  }
  if (spec.table.ttlAttribute) {
    await doc.send(
      new UpdateTimeToLiveCommand({
        TableName: spec.table.create.TableName,
        TimeToLiveSpecification: { AttributeName: spec.table.ttlAttribute, Enabled: true },
      }),
    );
  }
}

/** The ensure-Ansible document without a process (simulated Ansible: the host is assumed to have it). */
function simulatedEnsureDocument(name: string, step: string): DocumentDefinition {
  return {
    name,
    parameters: {},
    steps: [step],
    run: async () => {
      const at = Date.now();
      return [
        {
          name: step,
          status: 'Success',
          exitCode: 0,
          stdout: 'SIMULATION: ansible-playbook is assumed to be installed.',
          stderr: '',
          startedAt: at,
          endedAt: at,
        },
      ];
    },
  };
}

export function describeError(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { errorType?: unknown; errorMessage?: unknown };
    if (typeof e.errorType === 'string')
      return `${e.errorType}: ${String(e.errorMessage ?? '')}`.slice(0, 300);
  }
  return String(error).slice(0, 300);
}

interface Snapshot {
  readonly status: Status;
  readonly playbooks: readonly string[];
}

/**
 * Turns the proxy's "this instance was written" signals into InstanceChange events: one read of the record
 * per write (serialized per instance, straight to DynamoDB Local), compared with the last one seen. Only
 * active while someone listens, so a benchmark without listeners pays nothing.
 */
class ChangeFeed {
  private readonly listeners = new Set<(change: InstanceChange) => void>();
  private readonly last = new Map<string, Snapshot>();
  private readonly chains = new Map<string, Promise<void>>();
  private store?: StateStore;
  private nameOf: (id: string) => string | undefined = () => undefined;
  private closed = false;

  attach(store: StateStore, nameOf: (id: string) => string | undefined): void {
    this.store = store;
    this.nameOf = nameOf;
  }

  subscribe(listener: (change: InstanceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  touched(instanceId: string): void {
    if (this.closed || this.listeners.size === 0 || !this.store) return;
    const previous = this.chains.get(instanceId) ?? Promise.resolve();
    const next = previous.then(() => this.read(instanceId)).catch(() => {});
    this.chains.set(instanceId, next);
    void next.finally(() => {
      if (this.chains.get(instanceId) === next) this.chains.delete(instanceId);
    });
  }

  async drain(): Promise<void> {
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  close(): void {
    this.closed = true;
  }

  private async read(instanceId: string): Promise<void> {
    if (this.closed || !this.store) return;
    const record = await this.store.getInstance(instanceId);
    if (!record || this.closed) return;
    const before = this.last.get(instanceId);
    const playbooks = (record.playbooks ?? []).map((p) => `${p.file}|${p.status}|${p.attempts}`);
    this.last.set(instanceId, { status: record.status, playbooks });
    const at = new Date();
    const name = this.nameOf(instanceId);
    const base = { at, instanceId, ...(name ? { name } : {}), record, to: record.status };
    const emit = (change: InstanceChange) => {
      for (const listener of this.listeners) listener(change);
    };
    for (const [index, p] of (record.playbooks ?? []).entries()) {
      const key = playbooks[index];
      if (p.status === 'Pending' || before?.playbooks[index] === key) continue;
      // A new match (new generation) resets the list to Pending: only real results are reported.
      emit({
        ...base,
        kind: 'playbook',
        ...(before ? { from: before.status } : {}),
        playbook: { index, file: p.file, status: p.status, attempts: p.attempts },
        detail: `${p.file} ${p.status}${p.attempts > 1 ? ` (attempt ${p.attempts})` : ''}${p.exitCode !== undefined && p.status !== 'Success' ? `, exit ${p.exitCode}` : ''}`,
      });
    }
    if (before?.status !== record.status) {
      emit({
        ...base,
        kind: 'status',
        ...(before ? { from: before.status } : {}),
        detail: statusDetail(record),
      });
    }
  }
}

/** One line of context for a status. */
export function statusDetail(record: InstanceRecord): string {
  const results = (record.playbooks ?? [])
    .map((p) => `${p.file} ${p.status}${p.attempts > 1 ? ` ×${p.attempts}` : ''}`)
    .join(', ');
  switch (record.status) {
    case 'PENDING':
      return `detected (${record.source})${record.held ? ', held' : ''}`;
    case 'RUNNING':
      return `claimed, generation ${record.generation}, execution ${record.executionName ?? '?'}`;
    case 'SUCCESS':
      return results;
    case 'PARTIAL':
    case 'FAILED':
      return [results, record.reason].filter(Boolean).join(' — ');
    case 'SKIPPED':
      return record.reason ?? 'no rule selects a playbook for this host';
    default:
      return record.reason ?? '';
  }
}
