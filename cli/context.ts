// What a command runs with: its parsed arguments, where to print, the environment, AWS clients for
// this run and the stack request. Built once by autoprov.ts; tests build it with their own streams.
import { userInfo } from 'node:os';
import type { DebugLogger } from '../functions/shared/logger.js';
import type { OptionSpecs, ParsedArgs } from './args.js';
import type { AwsClients } from './aws.js';
import type { Output } from './output.js';
import type { InputStream } from './prompt.js';
import type { StackRequest } from './stack.js';

export interface CommandContext {
  readonly args: ParsedArgs;
  readonly out: Output;
  readonly json: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly clients: AwsClients;
  readonly stack: StackRequest;
  readonly now: () => Date;
  /** Where a confirmation is read from (process.stdin); absent or not a terminal: nobody can answer. */
  readonly stdin?: InputStream;
}

export interface Command {
  /** As listed in cli/autoprov.ts COMMANDS, with its one-line summary for `autoprov --help`. */
  readonly name: string;
  readonly usage: string;
  readonly description: string;
  readonly options: OptionSpecs;
  readonly examples?: readonly string[];
  /** Returns the exit code. */
  run(context: CommandContext): Promise<number>;
}

/** The history actor of an operator action: `cli:<user>`. */
export function cliActor(env: Readonly<Record<string, string | undefined>>): string {
  let user = env.USER ?? env.USERNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `cli:${user}`;
}

/**
 * Logger for shared helpers (state store, start-execution) inside the CLI: their debug/info chatter
 * is not for an operator's terminal, warnings and errors go to stderr (never stdout: --json).
 */
export function cliLogger(out: Output): DebugLogger {
  const text = (message: unknown): string =>
    typeof message === 'string' ? message : String((message as { message?: unknown }).message ?? message);
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (message) => out.note(text(message)),
    error: (message) => out.error(text(message)),
  };
}
