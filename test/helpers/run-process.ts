// Runs a child process to its end and collects what it printed (e2e tests of npm start / npm run bench).
import { type ChildProcess, spawn } from 'node:child_process';
import { repoRoot } from './paths.js';

export interface ProcessRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `command args…` in the repository root. `onStdout` sees everything printed so far after each chunk
 * (and the child, to signal it).
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; onStdout?: (all: string, child: ChildProcess) => void } = {},
): Promise<ProcessRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: repoRoot, env: options.env ?? { ...process.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A TypeScript script of this repository in its own node process (no npm/tsx wrapper in between). */
export function runScript(
  script: string,
  args: readonly string[],
  options: Parameters<typeof runProcess>[2] = {},
): Promise<ProcessRun> {
  return runProcess(process.execPath, ['--import', 'tsx', script, ...args], options);
}
