// Confirmation of a destructive operator action (`rollout abort`): a y/N question on stderr (stdout stays the
// command's result, --json included) answered on a terminal. Without a terminal nobody can answer, so the
// action is refused unless the command line already says yes (`--yes`): a script never blocks on a prompt.
import { createInterface } from 'node:readline';
import { CliError } from './args.js';
import type { CommandContext } from './context.js';

/** The part of a readable stream a prompt uses (process.stdin, or a stream in tests). */
export interface InputStream extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
}

/**
 * True when the operator answers `y` or `yes` to `question`; any other answer, or the end of input, is no.
 * `refused` names the action in the error when stdin is not a terminal (`refusing to abort rollout r-1`).
 */
export async function confirm(
  context: Pick<CommandContext, 'stdin' | 'out'>,
  question: string,
  refused: string,
): Promise<boolean> {
  const { stdin } = context;
  if (stdin?.isTTY !== true) {
    throw new CliError(`${refused} without confirmation: stdin is not a terminal; add --yes to confirm`);
  }
  context.out.ask(`${question} [y/N] `);
  return /^y(es)?$/i.test((await readLine(stdin)).trim());
}

/** One line of input; empty at the end of input. */
function readLine(input: InputStream): Promise<string> {
  const lines = createInterface({ input, terminal: false });
  return new Promise((resolve) => {
    let answer = '';
    lines.once('line', (line) => {
      answer = line;
      lines.close();
    });
    lines.once('close', () => resolve(answer));
  });
}
