// `autoprov resume`: lifts the global pause (`autoprov pause`). Idempotent: without a pause it changes
// nothing, and says so, pointing at `rollout resume` when what is paused is the rollout.
import { EXIT, UsageError } from '../args.js';
import type { Command } from '../context.js';
import { formatTime } from '../output.js';
import { pauseView, rolloutState } from '../rollout-view.js';
import { resolveStack } from '../stack.js';
import { openStore } from '../store.js';

export const resumeCommand: Command = {
  name: 'resume',
  usage: 'autoprov resume [--json]',
  description: `Lifts the global pause of autoprov pause: claims are allowed again, and the next sweep starts what
is due. A rollout paused by its error threshold stays paused: that is autoprov rollout resume.`,
  options: {},
  examples: ['autoprov resume'],
  async run(context) {
    const { out, args } = context;
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, { table: true });
    const store = openStore(context, stack.tableName ?? '');
    const { changed, pause } = await store.clearGlobalPause();
    const rollout = await store.currentRollout();
    const rolloutPaused = rollout !== undefined && rolloutState(rollout) === 'PAUSED';
    if (context.json) {
      out.json({ paused: false, changed, cleared: pause ? pauseView(pause) : null });
      return EXIT.ok;
    }
    const { paint } = out;
    if (changed && pause) {
      const reason = pause.reason ? `: ${pause.reason}` : '';
      out.print(
        `${paint.green('✔')} Resumed: claims are allowed again (paused since ${formatTime(pause.since)} by ${pause.actor}${reason}). The next sweep starts what is due.`,
      );
    } else {
      out.print('Not paused: nothing to resume.');
    }
    if (rollout && rolloutPaused) {
      out.print(`Rollout ${rollout.rolloutId} is still PAUSED: \`autoprov rollout resume\` resumes it.`);
    }
    return EXIT.ok;
  },
};
