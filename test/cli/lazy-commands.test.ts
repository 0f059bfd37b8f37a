// `autoprov` loads a command's module, and the AWS SDK clients, only when that command runs or shows its
// own help: `autoprov --help` loads none of them, and one command never loads the others' code. Each
// module below is the real one, wrapped to record when it is loaded.
import { describe, expect, it, vi } from 'vitest';
import { COMMANDS, main } from '../../cli/autoprov.js';

const loaded = vi.hoisted(() => [] as string[]);

vi.mock('../../cli/commands/validate.js', async (original) => {
  loaded.push('validate');
  return original();
});
vi.mock('../../cli/commands/plan.js', async (original) => {
  loaded.push('plan');
  return original();
});
vi.mock('../../cli/commands/status.js', async (original) => {
  loaded.push('status');
  return original();
});
vi.mock('../../cli/commands/history.js', async (original) => {
  loaded.push('history');
  return original();
});
vi.mock('../../cli/commands/logs.js', async (original) => {
  loaded.push('logs');
  return original();
});
vi.mock('../../cli/commands/retry.js', async (original) => {
  loaded.push('retry');
  return original();
});
vi.mock('../../cli/commands/rollout.js', async (original) => {
  loaded.push('rollout');
  return original();
});
vi.mock('../../cli/commands/pause.js', async (original) => {
  loaded.push('pause');
  return original();
});
vi.mock('../../cli/commands/resume.js', async (original) => {
  loaded.push('resume');
  return original();
});
vi.mock('../../cli/commands/doctor.js', async (original) => {
  loaded.push('doctor');
  return original();
});
vi.mock('../../cli/aws.js', async (original) => {
  loaded.push('aws');
  return original();
});

async function run(argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const code = await main(argv, {
    stdout: {
      write: (chunk: string) => {
        stdout += chunk;
      },
    },
    stderr: { write: () => true },
    env: {},
    cwd: process.cwd(),
  });
  return { code, stdout };
}

describe('autoprov loads command modules on demand', () => {
  it('lists every command for --help without loading any command module or the SDK clients', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command.name} `);
    expect(loaded).toEqual([]);
  });

  it.each(COMMANDS.map((command) => command.name))(
    "loads only the command's own module for `%s --help`, no other command's",
    async (name) => {
      // A fresh module registry: every command module counts as unloaded again.
      vi.resetModules();
      loaded.length = 0;
      const help = await run([name, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: autoprov ${name}`);
      expect(loaded.filter((module) => module !== 'aws')).toEqual([name]);
    },
  );

  it('gives each command the module of its name', async () => {
    for (const entry of COMMANDS) expect((await entry.load()).name).toBe(entry.name);
  });
});
