// Argument parsing for every command (node:util parseArgs, no dependency), the options all commands
// share, and the two error kinds that decide the exit code: a usage error (2) and a failure (1).
import { parseArgs } from 'node:util';

export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

/** The command line is wrong: exit 2 with the message and a pointer to `--help`. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command could not do its job (stack not found, record missing…): exit 1. The message says what to do. */
export class CliError extends Error {
  override name = 'CliError';
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Shown in help, e.g. `<status>`. */
  readonly value?: string;
  readonly description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** Options every command accepts: where the stack is and how to print. */
export const COMMON_OPTIONS: OptionSpecs = {
  stack: {
    type: 'string',
    value: '<name>',
    description:
      'CloudFormation stack to read outputs from (default AnsibleAutoProvisioner, or AUTOPROV_STACK)',
  },
  table: { type: 'string', value: '<name>', description: 'state table name (or AUTOPROV_TABLE)' },
  'state-machine': {
    type: 'string',
    value: '<arn>',
    description: 'provisioning state machine ARN (or AUTOPROV_STATE_MACHINE_ARN)',
  },
  region: { type: 'string', value: '<region>', description: 'AWS region (default AWS_REGION)' },
  json: { type: 'boolean', description: 'print one JSON document to stdout instead of text' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

export type OptionValue = string | boolean | (string | boolean)[] | undefined;

export interface ParsedArgs {
  readonly values: Readonly<Record<string, OptionValue>>;
  readonly positionals: readonly string[];
}

/** Parses with the command's options plus the common ones; unknown options are usage errors. */
export function parseCommandArgs(argv: readonly string[], options: OptionSpecs): ParsedArgs {
  const config = Object.fromEntries(
    Object.entries({ ...COMMON_OPTIONS, ...options }).map(([name, spec]) => [
      name,
      {
        type: spec.type,
        ...(spec.short ? { short: spec.short } : {}),
        ...(spec.multiple ? { multiple: true } : {}),
      },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: config,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Record<string, OptionValue>, positionals };
  } catch (error) {
    // parseArgs' messages are precise ("Unknown option '--foo'", "Option '--status <value>' argument missing").
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (Array.isArray(value)) return value.length > 0 ? String(value[value.length - 1]) : undefined;
  return typeof value === 'string' ? value : undefined;
}

export function listOption(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  if (value === undefined || typeof value === 'boolean') return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Help text: usage, description, then the command's options and the common ones, aligned. */
export function formatHelp(command: {
  readonly usage: string;
  readonly description: string;
  readonly options: OptionSpecs;
  readonly examples?: readonly string[];
}): string {
  const describe = (specs: OptionSpecs): string[] => {
    const entries = Object.entries(specs).map(([name, spec]) => {
      const short = spec.short ? `-${spec.short}, ` : '';
      return [`  ${short}--${name}${spec.value ? ` ${spec.value}` : ''}`, spec.description] as const;
    });
    const width = Math.max(0, ...entries.map(([left]) => left.length));
    return entries.map(([left, right]) => `${left.padEnd(width)}  ${right}`);
  };
  const own = describe(command.options);
  const lines = [`Usage: ${command.usage}`, '', command.description.trimEnd(), ''];
  if (own.length > 0) lines.push('Options:', ...own, '');
  lines.push('Common options:', ...describe(COMMON_OPTIONS), '');
  if (command.examples && command.examples.length > 0) {
    lines.push('Examples:', ...command.examples.map((example) => `  ${example}`), '');
  }
  return lines.join('\n');
}
