#!/usr/bin/env -S npx tsx
// `autoprov`: the operator's CLI for a deployed stack or the local one. Works out the command, parses
// its arguments, runs it and maps the outcome to an exit code: 0 ok, 1 findings or failure, 2 usage.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT, flag, formatHelp, parseCommandArgs, UsageError } from './args.js';
import type { Command, CommandContext } from './context.js';
import { Output, type TextStream } from './output.js';
import type { InputStream } from './prompt.js';

/** A command as `autoprov --help` lists it; its module (and the AWS SDK it needs) loads only when it runs. */
export interface CommandEntry {
  readonly name: string;
  /** One line for `autoprov --help`. */
  readonly summary: string;
  load(): Promise<Command>;
}

/** The commands in help order. */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'validate',
    summary: 'check rules.yaml, its inventories and playbooks (and ansible-playbook --syntax-check)',
    load: async () => (await import('./commands/validate.js')).validateCommand,
  },
  {
    name: 'plan',
    summary: 'which playbooks each opted-in instance would get right now, and why',
    load: async () => (await import('./commands/plan.js')).planCommand,
  },
  {
    name: 'status',
    summary: 'counts by status, the global pause and the current rollout, and a table of instance records',
    load: async () => (await import('./commands/status.js')).statusCommand,
  },
  {
    name: 'history',
    summary: "an instance's audit trail, with execution and log links",
    load: async () => (await import('./commands/history.js')).historyCommand,
  },
  {
    name: 'logs',
    summary: "full output of an instance's playbook runs (CloudWatch Logs; local files in local mode)",
    load: async () => (await import('./commands/logs.js')).logsCommand,
  },
  {
    name: 'retry',
    summary: 're-provision an instance (or every failed one) through the normal claim',
    load: async () => (await import('./commands/retry.js')).retryCommand,
  },
  {
    name: 'rollout',
    summary: 'the current rollout and its lanes; resume it after an error threshold paused it, or abort it',
    load: async () => (await import('./commands/rollout.js')).rolloutCommand,
  },
  {
    name: 'pause',
    summary: 'stop all new provisioning (no claims of any kind); running executions finish',
    load: async () => (await import('./commands/pause.js')).pauseCommand,
  },
  {
    name: 'resume',
    summary: 'lift the global pause: claims are allowed again',
    load: async () => (await import('./commands/resume.js')).resumeCommand,
  },
  {
    name: 'doctor',
    summary: 'why is this instance not provisioned? (and the stack health)',
    load: async () => (await import('./commands/doctor.js')).doctorCommand,
  },
];

export interface CliIo {
  readonly stdout: TextStream;
  readonly stderr: TextStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly now?: () => Date;
  /** Answers to confirmation prompts (`rollout abort`): only a terminal can give one. */
  readonly stdin?: InputStream;
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    'Usage: autoprov <command> [options]',
    '',
    'Operate Ansible AutoProvisioner: check rules, see what would run, inspect and retry instances, steer',
    'rollouts and pause all provisioning.',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Where the stack is: --stack <name> (default AnsibleAutoProvisioner) reads the CloudFormation outputs;',
    'or give --table / --state-machine (AUTOPROV_TABLE / AUTOPROV_STATE_MACHINE_ARN). Region: --region or',
    'AWS_REGION. Endpoints follow AWS_ENDPOINT_URL_<SERVICE> (that is how it talks to local mode).',
    '',
    'Exit codes: 0 ok, 1 findings or failure, 2 usage error.',
    "Run 'autoprov <command> --help' for a command's options.",
    '',
  ].join('\n');
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const out = new Output(io.stdout, io.stderr, io.env);
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((command) => command.name === rest[0]) : undefined;
    io.stdout.write(topic ? formatHelp(await topic.load()) : mainHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const entry = COMMANDS.find((candidate) => candidate.name === name);
  if (!entry) {
    out.error(
      `unknown command "${name}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}. Run autoprov --help.`,
    );
    return EXIT.usage;
  }
  // Only now the command's own module and the SDK clients: the other commands' code is never loaded.
  const [command, { createClients, describeAwsError }, { stackRequestFrom }] = await Promise.all([
    entry.load(),
    import('./aws.js'),
    import('./stack.js'),
  ]);
  try {
    const args = parseCommandArgs(rest, command.options);
    if (flag(args, 'help')) {
      io.stdout.write(formatHelp(command));
      return EXIT.ok;
    }
    const stack = stackRequestFrom(args, io.env);
    const context: CommandContext = {
      args,
      out,
      json: flag(args, 'json'),
      env: io.env,
      cwd: io.cwd,
      clients: createClients(stack.region),
      stack,
      now: io.now ?? (() => new Date()),
      ...(io.stdin ? { stdin: io.stdin } : {}),
    };
    return await command.run(context);
  } catch (error) {
    if (error instanceof UsageError) {
      out.error(`${error.message}\nRun 'autoprov ${command.name} --help' for usage.`);
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      out.error(error.message);
      return EXIT.findings;
    }
    // An AWS error nobody handled: say which call failed and how, not a stack trace.
    out.error(`${command.name} failed: ${describeAwsError(error)}`);
    if (io.env.AUTOPROV_DEBUG) io.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    return EXIT.findings;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // The CLI runs on Node 20 or later (docs/adr/0013-one-node-version-story.md); the SDK's "Node 22 from
  // 2027" notice would otherwise open every command's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
  });
  // Exit explicitly: SDK clients keep sockets alive, which would otherwise hold the process open.
  process.exitCode = code;
  process.stdout.write('', () => process.exit(code));
}
