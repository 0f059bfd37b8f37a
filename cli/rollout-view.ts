// How the CLI shows a rollout and the global pause (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md):
// the `--json` shape `rollout status`, `status` and the rollout controls share (README "Rollouts"), and its text,
// one line per lane in core/admission.ts's describePool words.
import { describePool, type Pool, type PoolState } from '../functions/core/admission.js';
import type { NamesChanged } from '../functions/core/rollout-plan.js';
import { CANARY_LANE, DEFAULT_LANE } from '../functions/core/rollout-plan.js';
import type { GlobalPause, Rollout } from '../functions/shared/state-store-api.js';
import { formatTime, type Painter } from './output.js';

/** A rollout as a whole: PAUSED if a lane is, else ROLLING if a lane is, else ABORTED or DONE. */
export type RolloutState = PoolState | 'SUPERSEDED';

/** One lane's pool, as `--json` prints it. */
export interface LaneView extends Pool {
  readonly lane: string;
  /** Due instances not started yet (`total - started`): they keep their last run while the lane does not admit. */
  readonly notStarted: number;
  /** A ROLLING lane other than the canary lane, in a rollout with canaries that have not all succeeded. */
  readonly waitsForCanary: boolean;
}

export interface OperatorAction {
  readonly at: string;
  readonly by: string;
}

/** The stable `--json` shape of a rollout (absent facts are null, never left out). */
export interface RolloutView {
  readonly rolloutId: string;
  readonly bundleHash: string;
  readonly state: RolloutState;
  readonly createdAt: string;
  readonly createdBy: string;
  /** Instances due when it was created, all lanes. */
  readonly due: number;
  readonly change: {
    readonly summary: string;
    readonly rules: NamesChanged;
    readonly defaultsChanged: boolean;
    readonly files: NamesChanged;
  };
  readonly notes: readonly string[];
  readonly previousRolloutId: string | null;
  readonly superseded: { readonly by: string; readonly at: string | null } | null;
  /** The last operator pause, resume and abort. */
  readonly paused: OperatorAction | null;
  readonly resumed: OperatorAction | null;
  readonly aborted: OperatorAction | null;
  /** Canary lane first, then rule lanes by name, then `default`. */
  readonly lanes: readonly LaneView[];
}

export interface PauseView {
  readonly since: string;
  readonly actor: string;
  readonly reason: string | null;
}

export function rolloutState(rollout: Pick<Rollout, 'lanes' | 'supersededBy'>): RolloutState {
  if (rollout.supersededBy) return 'SUPERSEDED';
  const states = new Set(Object.values(rollout.lanes).map((pool) => pool.state));
  for (const state of ['PAUSED', 'ROLLING', 'ABORTED'] as const) if (states.has(state)) return state;
  return 'DONE';
}

/** Canary lane first (it runs first), `default` last, rule lanes between, by name. */
export function byLaneOrder(a: string, b: string): number {
  const rank = (lane: string) => (lane === CANARY_LANE ? 0 : lane === DEFAULT_LANE ? 2 : 1);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function action(at: string | undefined, by: string | undefined): OperatorAction | null {
  return at === undefined ? null : { at, by: by ?? 'unknown' };
}

export function rolloutView(rollout: Rollout): RolloutView {
  const canary = rollout.lanes[CANARY_LANE];
  const canaryPending = canary !== undefined && canary.succeeded < canary.total;
  const lanes = Object.entries(rollout.lanes)
    .sort(([a], [b]) => byLaneOrder(a, b))
    .map(
      ([lane, pool]): LaneView => ({
        lane,
        state: pool.state,
        total: pool.total,
        limit: pool.limit,
        maxErrors: pool.maxErrors,
        inFlight: pool.inFlight,
        started: pool.started,
        succeeded: pool.succeeded,
        failed: pool.failed,
        notStarted: Math.max(0, pool.total - pool.started),
        waitsForCanary: canaryPending && lane !== CANARY_LANE && pool.state === 'ROLLING',
      }),
    );
  const { change } = rollout;
  return {
    rolloutId: rollout.rolloutId,
    bundleHash: rollout.bundleHash,
    state: rolloutState(rollout),
    createdAt: rollout.createdAt,
    createdBy: rollout.createdBy,
    due: rollout.due,
    change: {
      summary: change.summary,
      rules: change.rules,
      defaultsChanged: change.defaultsChanged,
      files: change.files,
    },
    notes: [...rollout.notes],
    previousRolloutId: rollout.previousRolloutId ?? null,
    superseded: rollout.supersededBy ? { by: rollout.supersededBy, at: rollout.supersededAt ?? null } : null,
    paused: action(rollout.pausedAt, rollout.pausedBy),
    resumed: action(rollout.resumedAt, rollout.resumedBy),
    aborted: action(rollout.abortedAt, rollout.abortedBy),
    lanes,
  };
}

export function pauseView(pause: GlobalPause): PauseView {
  return { since: pause.since, actor: pause.actor, reason: pause.reason ?? null };
}

function paintState(state: RolloutState, paint: Painter): string {
  if (state === 'PAUSED') return paint.yellow(state);
  if (state === 'ABORTED' || state === 'SUPERSEDED') return paint.red(state);
  if (state === 'DONE') return paint.green(state);
  return paint.cyan(state);
}

/** One line per lane: `  default  40/200 started, 10 running, … — ROLLING`. */
export function laneLines(view: Pick<RolloutView, 'lanes'>, paint: Painter, indent = '  '): string[] {
  const width = Math.max(0, ...view.lanes.map((lane) => lane.lane.length));
  return view.lanes.map((lane) => {
    const text = describePool(lane).replace(
      /— (\w+)$/,
      (_, state: RolloutState) => `— ${paintState(state, paint)}`,
    );
    return `${indent}${lane.lane.padEnd(width)}  ${text}${lane.waitsForCanary ? ' (waits for the canaries)' : ''}`;
  });
}

/** `Rollout r-…: PAUSED` and its lanes: what `status` shows of it. */
export function rolloutSummaryLines(view: RolloutView, paint: Painter): string[] {
  return [
    `${paint.bold(`Rollout ${view.rolloutId}`)}: ${paintState(view.state, paint)} (${view.due} due; ${view.change.summary})`,
    ...laneLines(view, paint),
  ];
}

/** Everything `rollout status` says of a rollout, with what the operator can do next. */
export function rolloutLines(view: RolloutView, paint: Painter): string[] {
  const fact = (label: string, value: string) => `  ${label.padEnd(11)}${value}`;
  const by = (what: OperatorAction) => `${formatTime(what.at)} by ${what.by}`;
  const lines = [
    `${paint.bold(`Rollout ${view.rolloutId}`)}: ${paintState(view.state, paint)}`,
    fact('bundle', view.bundleHash),
    fact('created', `${formatTime(view.createdAt)} by ${view.createdBy}`),
    fact('changed', view.change.summary),
    fact('due', `${view.due} instance${view.due === 1 ? '' : 's'}`),
  ];
  if (view.previousRolloutId) lines.push(fact('previous', view.previousRolloutId));
  if (view.superseded) {
    const at = view.superseded.at ? ` at ${formatTime(view.superseded.at)}` : '';
    lines.push(fact('superseded', `by ${view.superseded.by}${at}`));
  }
  for (const [label, what] of [
    ['paused', view.paused],
    ['resumed', view.resumed],
    ['aborted', view.aborted],
  ] as const) {
    if (what) lines.push(fact(label, by(what)));
  }
  lines.push('  lanes:', ...laneLines(view, paint, '    '));
  for (const note of view.notes) lines.push(`  ${paint.dim('note:')} ${note}`);
  if (view.state === 'PAUSED') {
    lines.push(
      '',
      'Paused: no instance of a paused lane starts; the ones not started keep their last run. Fix the cause,',
      'then `autoprov rollout resume` (each lane may fail as many again), or `autoprov rollout abort`.',
    );
  }
  return lines;
}

/** The global pause in one line. */
export function pauseLine(pause: PauseView, paint: Painter): string {
  const reason = pause.reason ? `: ${pause.reason}` : '';
  return `${paint.yellow('Paused')} since ${formatTime(pause.since)} by ${pause.actor}${reason}. No new claims of any kind; \`autoprov resume\` lifts it.`;
}
