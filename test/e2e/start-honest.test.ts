// `npm start` is honest: a run that did not go as its fleet file says exits non-zero and says what
// differed; a custom fleet gets only its own hosts; the notifications are visible; and however the run
// ends — a signal, or stdout closed under it (`npm start | head -3`) — no child process outlives it.
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_DIR } from '../../scripts/local/assembly.js';
import { assertJava } from '../../scripts/local/dynamodb-local.js';
import { assertAnsible } from '../../scripts/local/ssm-agent.js';
import { repoRoot } from '../helpers/paths.js';
import { runScript } from '../helpers/run-process.js';

const dir = mkdtempSync(join(tmpdir(), 'autoprov-e2e-start-honest-'));

/** Command lines of running processes that contain `text` (read from /proc: no procps needed). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (commandLine.includes(text)) found.push(`${pid}: ${commandLine.slice(0, 200)}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** A one-instance fleet that needs no playbook run (not opted in): quick to settle. */
function writeFleet(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, [...lines, ''].join('\n'));
  return path;
}

describe('npm start: honest outcomes', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 1 and names the failed scenario step; a custom fleet gets no inventory hosts; notifications are in a named file', async () => {
    assertJava();
    assertAnsible();
    const fleet = writeFleet('failing-step.yaml', [
      'instances:',
      '  - { name: gone-1, instanceId: i-0e2e0b00000000001, tags: { "autoprov:enabled": "true" } }',
      'scenario:',
      '  - { at: 0ms, action: terminate, target: gone-1 }',
      // Tagging a terminated instance fails, as in EC2: the step cannot run.
      '  - { at: 300ms, action: tag, target: gone-1, tags: { Owner: ops } }',
    ]);

    const run = await runScript('scripts/start.ts', ['--fleet', fleet]);

    expect(run.code, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(1);
    expect(run.stdout).not.toContain('✔ Demo finished as expected');
    expect(run.stdout).toContain('✖ Demo did NOT reach its expected end states');
    expect(run.stdout).toMatch(
      /✖ Scenario step scenario\.1 \(at 300ms: tag gone-1\) failed: Instance i-0e2e0b00000000001 is terminated/,
    );
    // Only the fleet's own instance: the shipped rules' inventories bring in nothing.
    expect(run.stdout).not.toMatch(/\bmi-[0-9a-f]{17}\b/);
    const file = /Notifications \(\d+\), full messages in (\S+):/.exec(run.stdout)?.[1];
    expect(file, run.stdout.slice(-2000)).toBeDefined();
    if (!file) return;
    expect(existsSync(file)).toBe(true);
    rmSync(file, { force: true });
    const stateDir = /State directory: (\S+)/.exec(run.stdout)?.[1];
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  }, 600_000);

  it('reports a fleet-file mistake with its path before starting anything (exit 1)', async () => {
    const fleet = writeFleet('typo.yaml', [
      'instances:',
      '  - { name: web-1 }',
      'scenario:',
      '  - { at: 1s, action: stop, target: web-2 }',
    ]);

    const run = await runScript('scripts/start.ts', ['--fleet', fleet]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'scenario.0.target: "web-2" is neither the name nor the id of an instance of the file',
    );
    expect(run.stdout).not.toContain('Starting DynamoDB Local');
  });

  it('stops every child process when stdout closes under it (npm start | head -3), exit 141', async () => {
    assertJava();
    assertAnsible();
    const fleet = writeFleet('pipe.yaml', [
      'instances:',
      '  - { name: pipe-1, instanceId: i-0e2e0b00000000002, tags: { "autoprov:enabled": "true" } }',
    ]);
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--fleet', fleet], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    let stderr = '';
    // Like `head -3`: read three lines, then close the reading end of the pipe.
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.split('\n').length > 3) child.stdout.destroy();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect(code, stderr.slice(-2000)).toBe(141);
    expect(stderr).toContain('stdout was closed: stopping the local stack');
    // Every child of the run (DynamoDB Local: -dbPath <state dir>/dynamodb) has its state dir in its arguments.
    expect(processesMentioning(`-${child.pid}/`)).toEqual([]);
    for (const name of readdirSync(LOCAL_DIR).filter((n) => n.endsWith(`-${child.pid}`)))
      rmSync(join(LOCAL_DIR, name), { recursive: true, force: true });
  }, 600_000);

  it('stops every child process on SIGTERM, exit 143', async () => {
    assertJava();
    assertAnsible();
    const fleet = writeFleet('term.yaml', [
      'instances:',
      '  - { name: term-1, instanceId: i-0e2e0b00000000003, tags: { "autoprov:enabled": "true" } }',
    ]);
    let signalled = false;

    const run = await runScript('scripts/start.ts', ['--fleet', fleet], {
      onStdout: (all, child) => {
        if (!signalled && /Starting DynamoDB Local/.test(all)) {
          signalled = true;
          child.kill('SIGTERM');
        }
      },
    });

    expect(signalled, run.stdout + run.stderr).toBe(true);
    expect(run.code, run.stderr.slice(-2000)).toBe(143);
    expect(run.stdout).toContain('SIGTERM: stopping the local stack');
    const stateDir = /Stopped\. State left in (\S+)/.exec(run.stdout)?.[1];
    expect(stateDir, run.stdout.slice(-2000)).toBeDefined();
    if (!stateDir) return;
    expect(processesMentioning(stateDir)).toEqual([]);
    rmSync(stateDir, { recursive: true, force: true });
  }, 600_000);

  it('--clean removes the state directories of earlier runs and keeps a running one', async () => {
    mkdirSync(LOCAL_DIR, { recursive: true });
    // pid 1 is always alive; a pid above the kernel's maximum never is.
    const old = join(LOCAL_DIR, 'run-20200101-000000-4194399');
    const live = join(LOCAL_DIR, 'run-20200101-000000-1');
    mkdirSync(join(old, 'dynamodb'), { recursive: true });
    writeFileSync(`${old}.notifications.txt`, 'x');
    mkdirSync(live, { recursive: true });
    try {
      const run = await runScript('scripts/start.ts', ['--clean']);

      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(old);
      expect(existsSync(old)).toBe(false);
      expect(existsSync(`${old}.notifications.txt`)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      rmSync(live, { recursive: true, force: true });
    }
  });
});
