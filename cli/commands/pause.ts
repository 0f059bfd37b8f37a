// `autoprov pause`: the global pause (`CONTROL/PAUSE`, docs/adr/0015-admission-slots-for-rollouts-and-quotas.md).
// While it is set every claim is refused — sweeps, events, retries, rollouts — and the sweep reports
// "paused"; running executions finish. Idempotent: a second pause keeps the first one's who, when and why.
import { EXIT, stringOption, UsageError } from '../args.js';
import { type Command, cliActor } from '../context.js';
import { pauseLine, pauseView } from '../rollout-view.js';
import { resolveStack } from '../stack.js';
import { openStore } from '../store.js';

export const pauseCommand: Command = {
  name: 'pause',
  usage: 'autoprov pause [--reason <text>] [--json]',
  description: `Stops all new provisioning: while paused, no instance is claimed (first provisioning, rollouts,
re-applies and autoprov retry alike), and the sweep reports "paused". Executions already running finish and
record their outcome. autoprov resume lifts it. Pausing again changes nothing (the first pause is kept).`,
  options: {
    reason: { type: 'string', value: '<text>', description: 'why, shown by status and in refused claims' },
  },
  examples: ['autoprov pause --reason "bad baseline.yml, investigating"', 'autoprov resume'],
  async run(context) {
    const { out, args } = context;
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const reason = stringOption(args, 'reason')?.trim();
    if (reason === '') throw new UsageError('--reason needs a text (or leave it out)');
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, { table: true });
    const store = openStore(context, stack.tableName ?? '');
    const { changed, pause } = await store.setGlobalPause({
      actor: cliActor(context.env),
      now: context.now(),
      ...(reason === undefined ? {} : { reason }),
    });
    const view = pauseView(pause);
    if (context.json) {
      out.json({ paused: true, changed, pause: view });
      return EXIT.ok;
    }
    const { paint } = out;
    out.print(
      changed
        ? `${paint.green('✔')} Paused: no new claims of any kind until \`autoprov resume\`; running executions finish.`
        : 'Already paused: nothing changed (the first pause is kept).',
      pauseLine(view, paint),
    );
    return EXIT.ok;
  },
};
