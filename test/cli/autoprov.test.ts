import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandArgs, UsageError } from '../../cli/args.js';
import { COMMANDS } from '../../cli/autoprov.js';
import { repoRoot } from '../helpers/paths.js';
import { runInProcess, runSubprocess } from './harness.js';

describe('autoprov entry point', () => {
  it('prints the command list for --help (exit 0) and for no command (exit 2)', async () => {
    const help = await runSubprocess(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: autoprov <command> [options]');
    for (const command of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^ {2}${command.name} +\\S`, 'm'));
    expect(help.stdout).toContain('Exit codes: 0 ok, 1 findings or failure, 2 usage error.');

    const bare = await runInProcess([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toContain('Commands:');
  });

  it("prints each command's own help with its options and the common ones", async () => {
    for (const entry of COMMANDS) {
      const command = await entry.load();
      const run = await runInProcess([command.name, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout.startsWith(`Usage: ${command.usage}\n`)).toBe(true);
      for (const option of Object.keys(command.options)) expect(run.stdout).toContain(`--${option}`);
      expect(run.stdout).toContain('--state-machine <arn>');
    }
    expect((await runInProcess(['help', 'doctor'])).stdout).toContain('Usage: autoprov doctor');
  });

  it('exits 2 with a pointer to help on an unknown command or option', async () => {
    const unknown = await runInProcess(['deploy']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'unknown command "deploy". Commands: validate, plan, status, history, logs, retry, rollout, pause, resume, doctor.',
    );

    const option = await runInProcess(['status', '--colour']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--colour'");
    expect(option.stderr).toContain("Run 'autoprov status --help' for usage.");

    const missing = await runInProcess(['status', '--status']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('argument missing');
  });

  it('runs as the package bin through its shebang (npx tsx)', () => {
    const run = spawnSync(join(repoRoot, 'cli', 'autoprov.ts'), ['status', '--help'], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        npm_config_yes: 'false',
      },
      // A safety net only (a hung bin must not hang CI): never what the outcome depends on.
      timeout: 280_000,
    });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage: autoprov status');
  }, 300_000);

  it('parses repeated options into lists', () => {
    const args = parseCommandArgs(['--dlq', 'a', '--dlq', 'b', 'i-1'], {
      dlq: { type: 'string', multiple: true, description: '' },
    });
    expect(args.values.dlq).toEqual(['a', 'b']);
    expect(args.positionals).toEqual(['i-1']);
    expect(() => parseCommandArgs(['--nope'], {})).toThrow(UsageError);
  });
});
