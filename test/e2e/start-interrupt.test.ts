// `npm start` (scripts/start.ts) at its edges: Ctrl-C mid-demo stops every child process and says where
// the state was left; a missing Java runtime is reported with the command that installs it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertJava } from '../../scripts/local/dynamodb-local.js';
import { assertAnsible } from '../../scripts/local/ssm-agent.js';
import { runScript } from '../helpers/run-process.js';

const startDemo = (args: readonly string[], options: Parameters<typeof runScript>[2] = {}) =>
  runScript('scripts/start.ts', args, options);

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

describe('npm start: Ctrl-C', () => {
  it('stops the stack mid-demo, exits 130, leaves no child process and says where the state is', async () => {
    // Arrange
    assertJava();
    assertAnsible();
    let signalled = false;

    // Act: interrupt once the first instance has changed status (the stack is busy: workflow, agent, DB)
    const run = await startDemo(['--time-scale', '0.05'], {
      onStdout: (all, child) => {
        if (!signalled && /RUNNING|→ PENDING/.test(all)) {
          signalled = true;
          child.kill('SIGINT');
        }
      },
    });

    // Assess
    expect(signalled, run.stdout + run.stderr).toBe(true);
    expect(run.code, run.stderr.slice(-2000)).toBe(130);
    expect(run.stdout).toContain('Ctrl-C: stopping the local stack');
    const stateDir = /Stopped\. State left in (\S+)/.exec(run.stdout)?.[1];
    expect(stateDir, run.stdout.slice(-2000)).toBeDefined();
    if (!stateDir) return;
    expect(existsSync(stateDir)).toBe(true);
    expect(readdirSync(stateDir).length).toBeGreaterThan(0);
    // DynamoDB Local (java) and every other child ran with the state directory in its arguments.
    expect(processesMentioning(stateDir), 'processes still running with the state directory').toEqual([]);
    rmSync(stateDir, { recursive: true, force: true });
  }, 300_000);
});

describe('npm start: missing prerequisites', () => {
  it('refuses to start without Java and prints how to install it, exit 1', async () => {
    // Arrange: a PATH with node and nothing else
    const bin = mkdtempSync(join(tmpdir(), 'autoprov-nojava-'));
    symlinkSync(process.execPath, join(bin, 'node'));

    // Act
    const run = await startDemo([], { env: { ...process.env, PATH: bin } });

    // Assess
    rmSync(bin, { recursive: true, force: true });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stderr).toContain('Local mode cannot start');
    expect(run.stderr).toContain('`java` was not found on PATH');
    expect(run.stderr).toContain('apt-get install -y openjdk-17-jre-headless');
    expect(run.stdout).toBe('');
  }, 60_000);

  it('assertJava rejects a Java older than 17 with its version', () => {
    // Arrange: a fake `java` that reports version 11 the way the JDK does (on stderr)
    const bin = mkdtempSync(join(tmpdir(), 'autoprov-java11-'));
    const fake = join(bin, 'java');
    spawnSync('bash', [
      '-c',
      `printf '#!/bin/sh\\necho "openjdk version \\\\"11.0.22\\\\" 2024-01-16" >&2\\n' > ${fake} && chmod +x ${fake}`,
    ]);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${dirname(process.execPath)}`;

    // Act / Assess
    try {
      expect(() => assertJava()).toThrow(/needs Java >= 17; found version 11/);
    } finally {
      process.env.PATH = saved;
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('assertAnsible names the PATH it searched and the install command', () => {
    // Act / Assess
    expect(() => assertAnsible('/nonexistent-autoprov')).toThrow(
      /ansible-playbook` was not found on PATH \(\/nonexistent-autoprov\)\. Install it: sudo apt-get install -y ansible-core/,
    );
    expect(assertAnsible()).toMatch(/\/ansible-playbook$/);
  });
});
