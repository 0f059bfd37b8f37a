// The bundled functions and the loopback endpoint they call: the local AWS server speaking every emulated
// service's wire protocol (and the chat-webhook stand-ins), the function host running the cdk.out assets
// with the environment the template gives them, and Lambda's asynchronous invocation in front of them.
import { join } from 'node:path';
import { type AwsServer, startAwsServer } from '../aws-server.js';
import type { DynamoDbProxy } from '../dynamodb-proxy.js';
import { FunctionHost } from '../function-host.js';
import { Ec2Emulator } from '../services/ec2.js';
import { LambdaEmulator } from '../services/lambda.js';
import { LogsEmulator } from '../services/logs.js';
import { S3Emulator } from '../services/s3.js';
import type { LocalStackSpec } from '../template.js';
import { AsyncInvoker } from './async-invoker.js';
import type { LocalEmulators } from './emulators.js';
import { type Cleanups, type LocalStackOptions, throttleConfig } from './options.js';

/** The functions' clock: the wall clock plus the offset advanceClock adds (the emulators keep the wall clock). */
export interface StackClock {
  offsetMs: number;
}

export interface LocalFunctions {
  readonly lambda: LambdaEmulator;
  readonly server: AwsServer;
  readonly functions: FunctionHost;
  readonly asyncRuns: AsyncInvoker;
  /** How many times a failed asynchronous invocation of a function is retried (the template's setting). */
  readonly asyncRetriesOf: (name: string) => number;
}

/** Starts the endpoint, then the functions pointed at it; every part is in `cleanups` as it starts. */
export async function startFunctions(
  spec: LocalStackSpec,
  emulators: LocalEmulators,
  proxy: DynamoDbProxy,
  context: {
    readonly options: LocalStackOptions;
    readonly seed: number;
    readonly timeScale: number;
    readonly logDir: string;
    /** The assembly the functions' assets are in (for the progress line). */
    readonly assemblyDir: string;
    readonly clock: StackClock;
    readonly progress: (message: string) => void;
  },
  cleanups: Cleanups,
): Promise<LocalFunctions> {
  const { options, seed, timeScale, logDir, assemblyDir, clock, progress } = context;
  const { fleet, ssm, sfn, sns, s3, secrets, iam, cloudFormation, sqs, agent } = emulators;
  let host: FunctionHost | undefined;
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

  progress(`Starting ${spec.functions.length} functions from ${assemblyDir}…`);
  host = new FunctionHost({
    clockOffsetMs: () => clock.offsetMs,
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

  // Async invocation (EventBridge targets, the schedule): Lambda's retries, then a dead letter.
  const asyncRuns = new AsyncInvoker(functions, timeScale, progress);
  asyncInvoker = asyncRuns;
  emulators.deadLetters.count = () => asyncRuns.deadLetters.length + lambda.asyncFailures.length;
  cleanups.push(() => asyncRuns.stop());
  return { lambda, server, functions, asyncRuns, asyncRetriesOf };
}
