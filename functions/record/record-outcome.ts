// Record the run's outcome on the instance, fenced on its generation: a stale execution can never
// overwrite what a newer one decided (docs/architecture.md "Claims and fencing").
import {
  ansibleResultOf,
  describeChanges,
  failedPlaybookOf,
  playbookFailureHeadline,
  readableReason,
} from '../core/failure-text.js';
import { summarizeOutcome } from '../core/status.js';
import type { PlaybookOutcome, PlaybookRunStatus } from '../core/types.js';
import { InvalidInputError, StaleGenerationError } from '../shared/errors.js';
import type { DebugLogger } from '../shared/logger.js';
import type {
  InstanceRecord,
  PlaybookRecord,
  SlotRelease,
  StateStoreApi,
} from '../shared/state-store-api.js';
import {
  executionNameOf,
  type RecordInput,
  type RecordOutput,
  WorkflowErrors,
} from '../shared/workflow-contract.js';

/** The Cause a Catch captured can be a whole stack trace: keep enough to act on. */
export const MAX_CAUSE_CHARS = 1000;

const RUN_STATUSES: ReadonlySet<string> = new Set<PlaybookRunStatus>([
  'Success',
  'Failed',
  'TimedOut',
  'Cancelled',
  'Undeliverable',
]);

function isFinished(playbook: PlaybookRecord): playbook is PlaybookRecord & { status: PlaybookRunStatus } {
  return RUN_STATUSES.has(playbook.status);
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Outcome and reason from the record's per-playbook results (the playbooks that ran are a prefix of the plan). */
export function decideOutcome(record: InstanceRecord): { status: RecordOutput['status']; reason?: string } {
  const playbooks = record.playbooks ?? [];
  if (playbooks.length === 0)
    return { status: 'SKIPPED', reason: 'no rule selects a playbook for this host' };
  const results: PlaybookOutcome[] = [];
  for (const playbook of playbooks) {
    if (!isFinished(playbook)) break;
    results.push({ file: playbook.file, status: playbook.status, attempts: playbook.attempts });
  }
  const summary = summarizeOutcome(playbooks.length, results);
  if (summary.failed) {
    const { file, status, attempts } = summary.failed;
    return {
      status: summary.status,
      reason: `${file} ended ${status} after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
    };
  }
  if (summary.incomplete) {
    return {
      status: summary.status,
      reason: `run stopped after ${summary.succeeded} of ${playbooks.length} playbooks`,
    };
  }
  return { status: summary.status };
}

/** Changes listed in a drift reason; more are counted. */
const MAX_DRIFT_LINES = 5;

/**
 * A drift check (InstanceRecord.checkRun) whose playbooks all ran: DRIFTED with the tasks that would change
 * when any would, else what the run decided (SUCCESS: the host is as its playbooks say).
 */
export function driftOutcome(
  record: InstanceRecord,
  decided: { status: RecordOutput['status']; reason?: string },
): { status: RecordOutput['status']; reason?: string } {
  if (!record.checkRun || decided.status !== 'SUCCESS') return decided;
  const playbooks = record.playbooks ?? [];
  const changes = playbooks.flatMap((playbook) => describeChanges(playbook));
  const changed = playbooks.reduce((sum, playbook) => {
    const recap = ansibleResultOf(playbook)?.recap ?? {};
    return sum + Object.values(recap).reduce((n, host) => n + host.changed, 0);
  }, 0);
  if (changes.length === 0 && changed === 0) return decided;
  const listed = changes.slice(0, MAX_DRIFT_LINES).join('; ');
  const more = changes.length > MAX_DRIFT_LINES ? `; … and ${changes.length - MAX_DRIFT_LINES} more` : '';
  return {
    status: 'DRIFTED',
    reason: `check mode: ${listed ? `${listed}${more}` : `${changed} task${changed === 1 ? '' : 's'} would change`}`,
  };
}

function reasonOf(input: RecordInput, record: InstanceRecord): string | undefined {
  // A failed playbook reads as its failed task and message (core/failure-text.ts), not as the cause's JSON.
  const failed =
    input.error?.Error === WorkflowErrors.PlaybookFailed ? failedPlaybookOf(record.playbooks) : undefined;
  const error = failed
    ? playbookFailureHeadline(failed)
    : input.error
      ? truncate(
          readableReason(`${input.error.Error ?? 'Error'}: ${input.error.Cause ?? ''}`.trim()) ?? '',
          MAX_CAUSE_CHARS,
        )
      : undefined;
  if (input.reason && error) return `${input.reason} (${error})`;
  return input.reason ?? error;
}

export async function recordOutcome(
  input: RecordInput,
  deps: {
    store: Pick<StateStoreApi, 'getInstance' | 'recordOutcome' | 'appendHistory'>;
    now: () => Date;
    logger: DebugLogger;
  },
): Promise<RecordOutput> {
  const { instanceId, generation } = input;
  const record = await deps.store.getInstance(instanceId);
  if (!record) throw new InvalidInputError(`record: instance ${instanceId} has no state record.`);
  const given = reasonOf(input, record);
  // A failure caught before anything was planned (e.g. the match step itself failed) is FAILED, not SKIPPED.
  const failedBeforePlan = input.error !== undefined && (record.playbooks ?? []).length === 0;
  const decided = input.status
    ? { status: input.status }
    : failedBeforePlan
      ? { status: 'FAILED' as const }
      : driftOutcome(record, decideOutcome(record));
  const reason =
    [given, 'reason' in decided ? decided.reason : undefined].filter(Boolean).join('; ') || undefined;
  const status = decided.status;

  const now = deps.now();
  const written = await deps.store.recordOutcome(
    instanceId,
    generation,
    {
      status,
      ...(reason ? { reason } : {}),
      ...(record.fingerprint ? { fingerprint: record.fingerprint } : {}),
    },
    now,
  );
  if (!written.ok) {
    // A retried invocation after a write that did land must not turn a recorded outcome into an error.
    const current = await deps.store.getInstance(instanceId);
    if (current?.generation !== generation || current.status !== status) {
      throw new StaleGenerationError(instanceId, generation, `outcome ${status} refused: ${written.message}`);
    }
    deps.logger.warn('Outcome already recorded', { status });
    return { instanceId, generation, status, notify: status !== 'SKIPPED' };
  }
  await deps.store.appendHistory({
    instanceId,
    type: 'RECORDED',
    at: now.toISOString(),
    actor: `workflow:${executionNameOf(instanceId, generation)}`,
    generation,
    ...(reason ? { reason } : {}),
    details: {
      status,
      playbooks: (record.playbooks ?? []).map(({ file, status: result, attempts }) => ({
        file,
        status: result,
        attempts,
      })),
      ...(input.error?.Error ? { error: input.error.Error } : {}),
      ...(written.release ? { rollout: releaseDetails(written.release) } : {}),
    },
  });
  deps.logger.info('Outcome recorded', { status, reason });
  if (written.release?.pauses) {
    // The store stamped the record with the pause: the notify step tells it, once (notifier/notify.ts).
    deps.logger.warn('This outcome paused its rollout lane', releaseDetails(written.release));
  }
  return { instanceId, generation, status, notify: status !== 'SKIPPED' };
}

/** The rollout slot an outcome gave back, for the history and the log. */
function releaseDetails(release: SlotRelease): Record<string, unknown> {
  const { rolloutId, lane, counted, pauses, pool } = release;
  return { rolloutId, lane, counted, ...(pauses ? { pauses } : {}), state: pool.state };
}
