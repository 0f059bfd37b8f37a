import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsServer, startAwsServer } from '../../scripts/local/aws-server.js';
import { FunctionHost } from '../../scripts/local/function-host.js';
import { LambdaEmulator } from '../../scripts/local/services/lambda.js';
import { SecretsManagerEmulator } from '../../scripts/local/services/secrets-manager.js';

// A tiny function bundled like NodejsFunction does (esbuild, CommonJS, SDK included).
const SOURCE = `
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

const secrets = new SecretsManagerClient({});
let calls = 0; // module state: per execution environment

class PlaybookFailed extends Error {
  name = 'PlaybookFailed';
}

export const handler = async (event: Record<string, unknown>, context: { functionName: string; getRemainingTimeInMillis(): number }) => {
  calls++;
  if (event.fail) throw new PlaybookFailed(String(event.fail));
  if (event.crash) process.exit(3);
  if (event.sleepMs) await new Promise((r) => setTimeout(r, Number(event.sleepMs)));
  if (event.holdUntil) {
    // Says it started, then holds its execution environment until the test creates the release file.
    const fs = await import('node:fs');
    fs.writeFileSync(\`\${event.holdUntil}.started.\${process.pid}.\${calls}\`, '');
    while (!fs.existsSync(String(event.holdUntil))) await new Promise((r) => setTimeout(r, 10));
  }
  const secret = event.secretId
    ? (await secrets.send(new GetSecretValueCommand({ SecretId: String(event.secretId) }))).SecretString
    : undefined;
  return {
    calls,
    pid: process.pid,
    startedAt: Date.now() - Number(event.sleepMs ?? 0),
    endedAt: Date.now(),
    functionName: context.functionName,
    remainingMs: context.getRemainingTimeInMillis(),
    env: {
      name: process.env.AWS_LAMBDA_FUNCTION_NAME,
      taskRoot: process.env.LAMBDA_TASK_ROOT,
      handler: process.env._HANDLER,
      table: process.env.TABLE_NAME,
      ssmEndpoint: process.env.AWS_ENDPOINT_URL_SSM,
      region: process.env.AWS_REGION,
      profile: process.env.AWS_PROFILE ?? null,
      accessKey: process.env.AWS_ACCESS_KEY_ID,
    },
    secret,
  };
};
`;

interface Result {
  calls: number;
  pid: number;
  startedAt: number;
  endedAt: number;
  functionName: string;
  remainingMs: number;
  env: Record<string, string | null | undefined>;
  secret?: string;
}

describe('FunctionHost', () => {
  let dir: string;
  let assetDir: string;
  let server: AwsServer;
  let host: FunctionHost;
  const secrets = new SecretsManagerEmulator();
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'autoprov-fnhost-'));
    assetDir = join(dir, 'asset.1234');
    mkdirSync(assetDir);
    await build({
      stdin: { contents: SOURCE, loader: 'ts', resolveDir: process.cwd() },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      minify: true,
      outfile: join(assetDir, 'index.js'),
      logLevel: 'error',
    });
    secrets.put('slack-webhook', '{"url":"https://hooks.example/T0"}');
    let lambda: LambdaEmulator | undefined;
    server = await startAwsServer({
      emulators: [
        secrets,
        { service: 'Lambda', handle: (op, req) => (lambda as LambdaEmulator).handle(op, req) },
      ],
    });
    process.env.AWS_PROFILE = 'developer-profile-that-must-not-leak';
    host = new FunctionHost({
      functions: [
        {
          name: 'detector',
          assetDir,
          handler: 'index.handler',
          environment: { TABLE_NAME: 'state-a' },
          timeoutSeconds: 10,
        },
        {
          name: 'notifier',
          assetDir,
          handler: 'index.handler',
          environment: { TABLE_NAME: 'state-b', AWS_REGION: 'eu-west-1' },
          timeoutSeconds: 1,
          concurrency: 2,
        },
        { name: 'pool', assetDir, handler: 'index.handler', timeoutSeconds: 600, concurrency: 2 },
        { name: 'misnamed', assetDir, handler: 'index.nope' },
      ],
      endpointEnv: server.endpointEnv(),
      onLog: (name, line) => logs.push(`${name}: ${line}`),
    });
    lambda = new LambdaEmulator(host);
  });

  afterAll(async () => {
    delete process.env.AWS_PROFILE;
    await host?.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const invoke = async (name: string, event: Record<string, unknown>) => host.invoke(name, event);

  it('runs the bundle with its template environment, Lambda variables and local endpoints — never the caller’s AWS settings', async () => {
    // Act
    const detector = (await invoke('detector', {})).payload as Result;
    const notifier = (await invoke('arn:aws:lambda:us-east-1:123456789012:function:notifier', {}))
      .payload as Result;
    // Assess
    expect(detector.env).toEqual({
      name: 'detector',
      taskRoot: assetDir,
      handler: 'index.handler',
      table: 'state-a',
      ssmEndpoint: server.endpoint,
      region: 'us-east-1', // reserved: the template cannot override it
      profile: null,
      // Its own key id (so the local endpoint can authorize it with its role), never the caller's.
      accessKey: 'LOCALdetector',
    });
    expect(notifier.env.table).toBe('state-b');
    expect(notifier.env.region).toBe('us-east-1');
    expect(detector.pid).not.toBe(notifier.pid);
    expect(detector.functionName).toBe('detector');
    expect(detector.remainingMs).toBeGreaterThan(5_000);
    expect(detector.remainingMs).toBeLessThanOrEqual(10_000);
  });

  it('keeps module state per execution environment, like a warm Lambda', async () => {
    const first = (await invoke('detector', {})).payload as Result;
    const second = (await invoke('detector', {})).payload as Result;
    expect(second.calls).toBe(first.calls + 1);
    expect(second.pid).toBe(first.pid);
  });

  it('lets the bundled SDK reach the local services through AWS_ENDPOINT_URL_*', async () => {
    const result = (await invoke('detector', { secretId: 'slack-webhook' })).payload as Result;
    expect(result.secret).toBe('{"url":"https://hooks.example/T0"}');
    expect(server.counters()['SecretsManager.GetSecretValue']?.calls).toBe(1);
  });

  it('returns a thrown error as Lambda does: Unhandled with errorType, errorMessage and trace', async () => {
    const outcome = await invoke('detector', { fail: 'nginx.yml exited 2' });
    expect(outcome.functionError).toBe('Unhandled');
    expect(outcome.payload).toMatchObject({
      errorType: 'PlaybookFailed',
      errorMessage: 'nginx.yml exited 2',
    });
    expect((outcome.payload as { trace: string[] }).trace.length).toBeGreaterThan(0);
  });

  it('times out like Lambda (Sandbox.Timedout) and starts a fresh environment afterwards', async () => {
    const before = host.stats().notifier?.coldStarts ?? 0;
    const outcome = await invoke('notifier', { sleepMs: 3_000 });
    expect(outcome).toEqual({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Sandbox.Timedout',
        errorMessage: expect.stringMatching(/Task timed out after 1\.00 seconds$/),
      },
    });
    const after = (await invoke('notifier', {})).payload as Result;
    expect(after.calls).toBe(1);
    expect(host.stats().notifier?.timeouts).toBe(1);
    expect(host.stats().notifier?.coldStarts).toBeGreaterThan(before);
  });

  it('reports a crashed runtime as Runtime.ExitError and recovers', async () => {
    const outcome = await invoke('detector', { crash: true });
    expect(outcome.payload).toMatchObject({
      errorType: 'Runtime.ExitError',
      errorMessage: expect.stringMatching(/exit status 3/),
    });
    expect(((await invoke('detector', {})).payload as Result).calls).toBe(1);
  });

  it('reports a missing handler export as Runtime.HandlerNotFound', async () => {
    const outcome = await invoke('misnamed', {});
    expect(outcome).toMatchObject({
      functionError: 'Unhandled',
      payload: { errorType: 'Runtime.HandlerNotFound' },
    });
  });

  it('runs at most `concurrency` invocations of a function at once, queueing the rest', async () => {
    // Event-driven, not timed: each invocation holds its environment until the test releases them all.
    const release = join(dir, 'release-concurrency');
    const started = () => readdirSync(dir).filter((f) => f.startsWith('release-concurrency.started.'));
    const all = Promise.all([1, 2, 3, 4].map(() => invoke('pool', { holdUntil: release })));
    while (started().length < 2) await new Promise((r) => setTimeout(r, 10));
    // Both environments are busy: the other two invocations stay queued (given time to misbehave).
    await new Promise((r) => setTimeout(r, 200));
    expect(started()).toHaveLength(2);
    writeFileSync(release, '');
    const results = (await all).map((o) => o.payload as Result);
    expect(started()).toHaveLength(4);
    expect(new Set(results.map((r) => r.pid)).size).toBe(2);
  });

  it('serves Lambda Invoke (RequestResponse and Event) from the real SDK through the local server', async () => {
    const client = new LambdaClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
    });
    const sync = await client.send(
      new InvokeCommand({ FunctionName: 'detector', Payload: JSON.stringify({ fail: 'boom' }) }),
    );
    expect(sync.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(sync.Payload ?? []).toString())).toMatchObject({
      errorType: 'PlaybookFailed',
    });
    const before = host.stats().detector?.invocations ?? 0;
    const async = await client.send(
      new InvokeCommand({ FunctionName: 'detector', InvocationType: 'Event', Payload: '{}' }),
    );
    expect(async.StatusCode).toBe(202);
    for (let i = 0; i < 100 && (host.stats().detector?.invocations ?? 0) === before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(host.stats().detector?.invocations).toBe(before + 1);
  });

  it('refuses unknown functions and missing asset directories', async () => {
    await expect(host.invoke('nope', {})).rejects.toThrow(/Function not found/);
    expect(
      () =>
        new FunctionHost({
          functions: [{ name: 'x', assetDir: join(dir, 'missing'), handler: 'index.handler' }],
          endpointEnv: {},
        }),
    ).toThrow(/does not exist/);
  });
});
