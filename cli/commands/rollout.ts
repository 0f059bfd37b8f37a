// `autoprov rollout status|pause|resume|abort`: the current rollout (or `--id`) and the operator's controls
// over it (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md). The controls are the state store's
// conditional pool writes; this module says what they changed, or why there was nothing to change.
import type { PoolState } from '../../functions/core/admission.js';
import type { Rollout, RolloutControl, StateStoreApi } from '../../functions/shared/state-store-api.js';
import { CliError, EXIT, flag, stringOption, UsageError } from '../args.js';
import { type Command, type CommandContext, cliActor } from '../context.js';
import { formatTime } from '../output.js';
import { confirm } from '../prompt.js';
import {
  byLaneOrder,
  pauseLine,
  pauseView,
  rolloutLines,
  rolloutSummaryLines,
  rolloutView,
} from '../rollout-view.js';
import { resolveStack } from '../stack.js';
import { openStore } from '../store.js';

export const ROLLOUT_ACTIONS = ['status', 'pause', 'resume', 'abort'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];
type Control = Exclude<RolloutAction, 'status'>;

/** Which lanes each control moves (as the store's controls do), and the store method that moves them. */
const CONTROLS: Readonly<
  Record<
    Control,
    {
      readonly from: readonly PoolState[];
      readonly to: PoolState;
      readonly done: string;
      readonly write: 'pauseRollout' | 'resumeRollout' | 'abortRollout';
    }
  >
> = {
  pause: { from: ['ROLLING'], to: 'PAUSED', done: 'Paused', write: 'pauseRollout' },
  resume: { from: ['PAUSED'], to: 'ROLLING', done: 'Resumed', write: 'resumeRollout' },
  abort: { from: ['ROLLING', 'PAUSED'], to: 'ABORTED', done: 'Aborted', write: 'abortRollout' },
};

export function parseAction(positionals: readonly string[]): RolloutAction {
  const [action, extra] = positionals;
  if (action === undefined) {
    throw new UsageError(`which action? autoprov rollout ${ROLLOUT_ACTIONS.join('|')}`);
  }
  if (!(ROLLOUT_ACTIONS as readonly string[]).includes(action)) {
    throw new UsageError(`unknown action "${action}": use one of ${ROLLOUT_ACTIONS.join(', ')}`);
  }
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  return action as RolloutAction;
}

function noRollout(id: string | undefined, table: string): CliError {
  return new CliError(
    id === undefined
      ? `no rollout: table ${table} has none yet (a sweep creates one when a change to rules.yaml or the playbooks makes provisioned instances due)`
      : `no rollout ${id} in table ${table}: \`autoprov rollout status\` shows the current one`,
  );
}

/** Why `control` moves no lane of `rollout`: aborted, superseded, finished, or not in the state it moves. */
export function nothingToDo(rollout: Rollout, control: Control): string {
  const view = rolloutView(rollout);
  const lanes = view.lanes.map((lane) => `${lane.lane} ${lane.state}`).join(', ') || 'no lanes';
  const subject = `rollout ${view.rolloutId}`;
  if (view.superseded) {
    return `${subject} was superseded by ${view.superseded.by}: its lanes admit nothing more; nothing to ${control}`;
  }
  if (view.state === 'ABORTED') {
    const who = view.aborted ? ` (by ${view.aborted.by} at ${formatTime(view.aborted.at)})` : '';
    return `${subject} is already aborted${who}: nothing to ${control}`;
  }
  if (view.state === 'DONE') return `${subject} has finished (${lanes}): nothing to ${control}`;
  if (control === 'resume') {
    return `${subject} is not paused (${lanes}): nothing to resume. A global pause is lifted with \`autoprov resume\`.`;
  }
  return `${subject} is not rolling (${lanes}): nothing to pause`;
}

/** What a control did to one lane, in a line. */
function laneChange(control: Control, lane: string, before: Rollout, after: Rollout): string {
  const was = before.lanes[lane]?.state ?? CONTROLS[control].from[0];
  const pool = after.lanes[lane];
  const move = `${lane}: ${was} → ${CONTROLS[control].to}`;
  if (!pool) return move;
  const notStarted = Math.max(0, pool.total - pool.started);
  if (control === 'resume') return `${move}; pauses after ${pool.maxErrors} failures (${pool.failed} so far)`;
  if (control === 'abort') {
    return `${move}; ${notStarted} not started keep their last run, ${pool.inFlight} running finish`;
  }
  return `${move}; ${notStarted} not started wait, ${pool.inFlight} running finish`;
}

async function confirmAbort(context: CommandContext, rollout: Rollout): Promise<void> {
  const movable = Object.values(rollout.lanes).filter((pool) => CONTROLS.abort.from.includes(pool.state));
  const notStarted = movable.reduce((sum, pool) => sum + Math.max(0, pool.total - pool.started), 0);
  const running = movable.reduce((sum, pool) => sum + pool.inFlight, 0);
  const confirmed = await confirm(
    context,
    `Abort rollout ${rollout.rolloutId}? ${notStarted} due instance${notStarted === 1 ? '' : 's'} not started keep their last run; ${running} running finish.`,
    `refusing to abort rollout ${rollout.rolloutId}`,
  );
  if (!confirmed) throw new CliError(`rollout ${rollout.rolloutId} not aborted: not confirmed`);
}

export const rolloutCommand: Command = {
  name: 'rollout',
  usage: `autoprov rollout ${ROLLOUT_ACTIONS.join('|')} [--id <rolloutId>] [--yes] [--json]`,
  description: `A change to rules.yaml or the playbooks re-provisions the instances it makes due as one rollout,
in waves: each lane admits at most rollout.maxConcurrent at once, and pauses when more than rollout.maxErrors
fail (one notification). Canaries, if any, go first and must all succeed.
  status  the rollout: what changed, how many were due, and each lane's progress and limits
  pause   stop admitting: no instance of the rollout starts; running ones finish
  resume  paused lanes roll again; each may fail as many again as its threshold allows
  abort   nothing more of this rollout starts; the instances not started keep their last run
          (asks for confirmation on a terminal; --yes confirms, and is required without a terminal)
The current rollout unless --id names another. A global pause is autoprov pause / autoprov resume.`,
  options: {
    id: { type: 'string', value: '<rolloutId>', description: 'this rollout instead of the current one' },
    yes: { type: 'boolean', short: 'y', description: 'abort without asking' },
  },
  examples: [
    'autoprov rollout status',
    'autoprov rollout resume',
    'autoprov rollout abort --yes',
    'autoprov rollout status --id r-3f9a0c41d2e7 --json',
  ],
  async run(context) {
    const { out, args } = context;
    const action = parseAction(args.positionals);
    const id = stringOption(args, 'id');
    if (id === '') throw new UsageError('--id needs a rollout id (r-…)');
    const stack = await resolveStack(context.stack, context.clients.cloudFormation, { table: true });
    const table = stack.tableName ?? '';
    const store: StateStoreApi = openStore(context, table);
    out.progress('reading the rollout…');
    const [rollout, pause] = await Promise.all([
      id === undefined ? store.currentRollout() : store.getRollout(id),
      store.getGlobalPause(),
    ]);

    if (action === 'status') {
      if (id !== undefined && !rollout) throw noRollout(id, table);
      const view = rollout ? rolloutView(rollout) : null;
      if (context.json) {
        out.json({ table, rollout: view, pause: pause ? pauseView(pause) : null });
        return EXIT.ok;
      }
      if (pause) out.print(pauseLine(pauseView(pause), out.paint), '');
      if (view) out.print(...rolloutLines(view, out.paint));
      else out.print(`No rollout: table ${table} has none yet.`);
      return EXIT.ok;
    }

    if (!rollout) throw noRollout(id, table);
    const control = CONTROLS[action];
    if (!Object.values(rollout.lanes).some((pool) => control.from.includes(pool.state))) {
      throw new CliError(nothingToDo(rollout, action));
    }
    if (action === 'abort' && !flag(args, 'yes')) await confirmAbort(context, rollout);
    const result: RolloutControl | undefined = await store[control.write](rollout.rolloutId, {
      actor: cliActor(context.env),
      now: context.now(),
    });
    if (!result) throw noRollout(rollout.rolloutId, table);
    // Another operator (or a release) moved every lane between the read and the write.
    if (result.changed.length === 0) throw new CliError(nothingToDo(result.rollout, action));
    const changed = [...result.changed].sort(byLaneOrder);
    if (action === 'resume' && pause) {
      out.note('the global pause is still set: nothing starts until `autoprov resume`');
    }
    const view = rolloutView(result.rollout);
    if (context.json) {
      out.json({ action, rolloutId: view.rolloutId, changed, rollout: view });
      return EXIT.ok;
    }
    const { paint } = out;
    out.print(
      `${paint.green('✔')} ${control.done} rollout ${paint.bold(view.rolloutId)}:`,
      ...changed.map((lane) => `  ${laneChange(action, lane, rollout, result.rollout)}`),
      '',
      ...rolloutSummaryLines(view, paint),
    );
    return EXIT.ok;
  },
};
