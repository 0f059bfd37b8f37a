// A scratch copy of the checkout for tests that run the README's commands (`npm run synth`, `npx cdk synth
// -c …`) exactly as written: they write cdk.out in the working directory, and the repository's own
// cdk.out is read by the local-mode suites running at the same time. The copy has the sources, cdk.json
// and the lock file, and links node_modules (npx and npm run find the same binaries).
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** Never copied: installed packages (linked instead), build output and local mode's working area. */
const SKIP = new Set(['node_modules', 'cdk.out', '.local', '.git', 'coverage']);

export interface Checkout {
  readonly dir: string;
  /** Environment for commands in it: offline CDK CLI (see `offlineCdkEnv`). */
  readonly env: NodeJS.ProcessEnv;
  remove(): void;
}

/**
 * The CDK CLI without network: no version check, no telemetry, and no notices (a user-level ~/.cdk.json
 * with `"notices": false` in a HOME of its own, so the project's cdk.json and the command stay as shipped),
 * and no Node.js warnings.
 */
export function offlineCdkEnv(home: string): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, '.cdk.json'), '{ "notices": false }\n');
  return {
    ...process.env,
    HOME: home,
    npm_config_cache: join(home, '.npm'),
    npm_config_update_notifier: 'false',
    CDK_DISABLE_VERSION_CHECK: '1',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    // The CLI's AWS SDK warns on Node 20 that its 2027 releases need Node 22: not about this app.
    NODE_NO_WARNINGS: '1',
    FORCE_COLOR: '0',
    NO_COLOR: '1',
  };
}

export function makeCheckout(): Checkout {
  const root = mkdtempSync(join(tmpdir(), 'autoprov-checkout-'));
  const dir = join(root, 'repo');
  cpSync(repoRoot, dir, {
    recursive: true,
    filter: (source) => !SKIP.has(source.slice(repoRoot.length + 1).split('/')[0] ?? ''),
  });
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    dir,
    env: offlineCdkEnv(join(root, 'home')),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface ShellRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One command line, exactly as written, through bash in `cwd`. */
export function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ShellRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
