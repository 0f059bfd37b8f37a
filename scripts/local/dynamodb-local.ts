// Starts AWS's own DynamoDB Local emulator (the jar shipped in the amplify-dynamodb-simulator package)
// on a free loopback port. Used by the test suites, local mode and the benchmark.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

export interface DynamoDbLocal {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  override name = 'JavaMissingError';
}

function emulatorDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

/** Fails with an actionable message when no Java >= 17 runtime is on PATH. */
export function assertJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new JavaMissingError(
      'DynamoDB Local needs a Java runtime (>= 17) and `java` was not found on PATH. ' +
        'Install one, e.g. `sudo apt-get install -y openjdk-17-jre-headless`, then run again.',
    );
  }
  const match = /version "(\d+)/.exec(probe.stderr);
  const major = match ? Number(match[1]) : 0;
  if (major < 17) {
    throw new JavaMissingError(
      `DynamoDB Local needs Java >= 17; found version ${major}. Install openjdk-17.`,
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * How long a live DynamoDB Local may take to answer. A safety net only: an emulator that exits is reported at
 * once. It answers in 2–5 s on an idle 2-core machine, but took more than 30 s (the old limit, which failed
 * `npm run bench` and a loaded CI run) while both cores were busy.
 */
export const START_TIMEOUT_MS = 300_000;

async function waitUntilServing(endpoint: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`DynamoDB Local exited early with code ${proc.exitCode}`);
    try {
      // Any HTTP answer (even 400) means the emulator is listening.
      await fetch(endpoint, { method: 'POST' });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms`);
}

export async function startDynamoDbLocal(
  options: { port?: number; dbPath?: string } = {},
): Promise<DynamoDbLocal> {
  assertJava();
  const dir = emulatorDir();
  const port = options.port ?? (await freePort());
  const storage = options.dbPath ? ['-dbPath', options.dbPath] : ['-inMemory'];
  const proc = spawn(
    'java',
    [
      '-Xmx1g',
      // Start-up flags: a short-lived emulator serving a few thousand requests gains nothing from the C2
      // compiler or a parallel collector, and they cost most of its start-up CPU (about 7 s → 2.5 s of CPU,
      // 3x faster to first answer on a 2-core machine).
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(dir, 'DynamoDBLocal.jar'),
      ...storage,
      // One database for every caller, as in AWS (by default DynamoDB Local keeps one per access key id,
      // and local functions sign with their own key id: function-host.ts functionAccessKeyId).
      '-sharedDb',
      '-port',
      String(port),
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilServing(endpoint, proc, START_TIMEOUT_MS);
  } catch (error) {
    proc.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
