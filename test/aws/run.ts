// The real-account test kit (docs/adr/0010-real-account-test-kit.md).
//   npm run test:aws          deploy the test's stacks with the project's CDK CLI, report the assertions,
//                             destroy both stacks (also after a failure or Ctrl-C). `-- --keep` keeps them.
//   npm run test:aws:update   record the snapshot test/infra/integ-snapshot.test.ts compares with (offline).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// snapshot.ts (and with it aws-cdk-lib) is imported only to record: `deploy` leaves synthesis to the CDK CLI,
// and loading the CDK library here would only slow every run down.

export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
/** The cloud assembly the deployment uses, kept for the destroy (ignored by git: `cdk.out/`). */
export const ASSEMBLY_DIR = path.join('test', 'aws', 'cdk.out');
// The project's CDK CLI (AUTOPROV_INTEG_CDK_BIN: a stand-in for the runner's own tests).
const CDK_BIN = process.env.AUTOPROV_INTEG_CDK_BIN || path.join(REPO_ROOT, 'node_modules', '.bin', 'cdk');
const CDK_ENV = { CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' };

/** `cdk deploy` of both stacks: the stack under test first, then the assertions (they reference it). */
export function deployArgs(outputsFile: string): string[] {
  return [
    'deploy',
    '--app',
    'npx tsx test/aws/app.ts',
    '--output',
    ASSEMBLY_DIR,
    '--all',
    '--require-approval',
    'never',
    // Keep a failed assertion stack as it is: its events say which assertion failed and why.
    '--no-rollback',
    '--outputs-file',
    outputsFile,
    '--no-notices',
  ];
}

/** `cdk destroy` of everything deployed, from the same assembly (no second synthesis). */
export function destroyArgs(): string[] {
  return ['destroy', '--app', ASSEMBLY_DIR, '--all', '--force', '--no-notices'];
}

export interface AssertionResult {
  readonly stack: string;
  readonly id: string;
  readonly status: string;
  readonly message?: string;
}

/**
 * The integ-tests results among the stack outputs (`AssertionResults…` outputs, JSON
 * `{"status": "success" | "fail", "message": …}`), as integ-runner reads them.
 */
export function assertionResults(outputs: Record<string, Record<string, string>>): AssertionResult[] {
  const results: AssertionResult[] = [];
  for (const [stack, values] of Object.entries(outputs)) {
    for (const [id, value] of Object.entries(values)) {
      if (!id.startsWith('AssertionResults')) continue;
      try {
        const parsed = JSON.parse(value.replace(/\n/g, '\\n')) as { status?: string; message?: string };
        results.push({ stack, id, status: parsed.status ?? 'unknown', message: parsed.message });
      } catch {
        results.push({ stack, id, status: 'fail', message: `unreadable result: ${value}` });
      }
    }
  }
  return results;
}

function cdk(args: readonly string[]): number {
  console.log(`\n$ npx cdk ${args.join(' ')}`);
  const result = spawnSync(CDK_BIN, args, {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...CDK_ENV },
  });
  if (result.error) {
    console.error(`Could not run the CDK CLI (${CDK_BIN}): ${result.error.message}. Run npm ci first.`);
    return 1;
  }
  return result.status ?? 1;
}

function deploy(keep: boolean): number {
  const outputsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'autoprov-integ-')), 'outputs.json');
  // Ctrl-C stops the CLI (same process group); this process carries on to the destroy.
  let interrupted = false;
  process.on('SIGINT', () => {
    interrupted = true;
  });
  let failed: string[] = [];
  try {
    const deployed = cdk(deployArgs(outputsFile));
    const outputs = fs.existsSync(outputsFile)
      ? (JSON.parse(fs.readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>)
      : {};
    const results = assertionResults(outputs);
    for (const r of results) {
      console.log(`${r.status === 'success' ? 'PASS' : 'FAIL'}  ${r.id}${r.message ? `: ${r.message}` : ''}`);
    }
    failed = results.filter((r) => r.status !== 'success').map((r) => r.id);
    if (interrupted) failed.push('interrupted (Ctrl-C)');
    else if (deployed !== 0) {
      failed.push(
        'the deployment failed: see the CloudFormation error above (an assertion that kept failing until its timeout fails the assertion stack)',
      );
    } else if (results.length === 0) failed.push('no assertion result in the stack outputs');
  } finally {
    if (keep) {
      console.log(`\nStacks kept (--keep). Destroy them with: npx cdk ${destroyArgs().join(' ')}`);
    } else if (cdk(destroyArgs()) !== 0) {
      failed.push(
        `the destroy failed: finish it with \`npx cdk ${destroyArgs().join(' ')}\` (or delete the stacks in the CloudFormation console)`,
      );
    }
  }
  if (failed.length > 0) {
    console.error(`\nReal-account test FAILED:\n${failed.map((f) => `  - ${f}`).join('\n')}`);
    return 1;
  }
  console.log(
    '\nReal-account test passed: provisioned, recorded, notified, alarm delivered; stacks destroyed.',
  );
  return 0;
}

async function record(): Promise<number> {
  const { SNAPSHOT_DIR, synthIntegTemplates, writeSnapshot } = await import('./snapshot.js');
  // Another directory (tests): the check records into a temporary one and compares it with the checked-in one.
  const dir = process.env.AUTOPROV_INTEG_SNAPSHOT_DIR || SNAPSHOT_DIR;
  writeSnapshot(synthIntegTemplates(), dir);
  console.log(`Snapshot written to ${path.relative(REPO_ROOT, dir)}/ (review and commit it).`);
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const [mode, ...options] = argv;
  const unknown = options.filter((o) => o !== '--keep');
  if (
    (mode !== 'deploy' && mode !== 'record') ||
    unknown.length > 0 ||
    (mode === 'record' && options.length > 0)
  ) {
    console.error(
      `Usage: npm run test:aws [-- --keep] | npm run test:aws:update; got "${argv.join(' ')}". --keep leaves the deployed stacks for inspection.`,
    );
    return 2;
  }
  return mode === 'deploy' ? deploy(options.includes('--keep')) : record();
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    },
  );
}
