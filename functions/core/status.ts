// The one place that says which status moves are legal (docs/architecture.md "State model"), and how a
// run's playbook results become its outcome. The state store turns these into DynamoDB condition
// expressions; nothing else decides. When a claim may start is decided in core/eligibility.ts.
//
//   PENDING ──claim──▶ RUNNING ──record──▶ SUCCESS | PARTIAL | FAILED | SKIPPED | DRIFTED
//                       ▲   │ reclaim (lease expired)                      │
//                       │   └──▶ RUNNING                                    │
//                       └──────── re-provision, re-apply ◀─────────────────┘
//   any status except ORPHANED ──▶ ORPHANED ──re-detected──▶ PENDING
import type { PlaybookOutcome, Status } from './types.js';

/** A run's own outcome statuses: the workflow records one of these and the run is over. */
export const TERMINAL_STATUSES = ['SUCCESS', 'PARTIAL', 'FAILED', 'SKIPPED', 'DRIFTED'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

/** Outcomes of a run that executed playbooks (SKIPPED is decided before any playbook runs). */
export type RunOutcome = 'SUCCESS' | 'PARTIAL' | 'FAILED';

const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  PENDING: ['RUNNING', 'ORPHANED'],
  // RUNNING → RUNNING is a reclaim: a new generation takes over after the lease expired.
  RUNNING: ['RUNNING', 'SUCCESS', 'PARTIAL', 'FAILED', 'SKIPPED', 'DRIFTED', 'ORPHANED'],
  // Terminal → RUNNING is a re-provision (rules or bundle changed, operator retry).
  SUCCESS: ['RUNNING', 'ORPHANED'],
  PARTIAL: ['RUNNING', 'ORPHANED'],
  FAILED: ['RUNNING', 'ORPHANED'],
  SKIPPED: ['RUNNING', 'ORPHANED'],
  // DRIFTED (a check run of a reapplyEvery with `drift: report` found changes) is settled like SUCCESS:
  // re-applied, re-checked or re-provisioned by a claim.
  DRIFTED: ['RUNNING', 'ORPHANED'],
  // ORPHANED → ORPHANED is not a move: a duplicate `terminated` event must change nothing (and
  // notify nobody). An orphan comes back only through detection, as PENDING, never straight to RUNNING.
  ORPHANED: ['PENDING'],
};

export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(
    readonly from: Status,
    readonly to: Status,
  ) {
    super(
      `Illegal status transition ${from} → ${to}; from ${from} only ${TRANSITIONS[from].join(', ')} ` +
        `${TRANSITIONS[from].length === 1 ? 'is' : 'are'} allowed (functions/core/status.ts).`,
    );
  }
}

export function canTransition(from: Status, to: Status): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(from: Status, to: Status): void {
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
}

/** Every status reachable from `from` in one move. */
export function allowedTransitions(from: Status): readonly Status[] {
  return TRANSITIONS[from];
}

export function isTerminal(status: Status): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly Status[]).includes(status);
}

/** Playbook results that cannot come from one run: a result after a failure, too many, bad count. */
export class InconsistentResultsError extends Error {
  override name = 'InconsistentResultsError';
}

export interface OutcomeSummary {
  readonly status: RunOutcome;
  /** How many playbooks succeeded (always a prefix of the plan). */
  readonly succeeded: number;
  /** The playbook that failed for good, if one did. */
  readonly failed?: PlaybookOutcome;
  /** True when the run stopped before every planned playbook had a result, without a failure. */
  readonly incomplete: boolean;
}

/**
 * The outcome of a run from its per-playbook results, in plan order. Playbooks run in order and
 * the first that fails for good stops the run, so:
 * - every planned playbook succeeded → SUCCESS;
 * - at least one succeeded, then one failed for good → PARTIAL;
 * - the first one failed → FAILED;
 * - fewer results than planned and no failure → FAILED (`incomplete`). The run was interrupted
 *   (agent never Online, ensure-Ansible failed, an error caught by the workflow): the host did not
 *   get its configuration, and PARTIAL is kept for "playbook N failed", which is what an operator
 *   acts on. The record carries the interruption's reason.
 * Throws InconsistentResultsError on a result after a failure, more results than planned, or a
 * plan of fewer than one playbook (a run with nothing to do is SKIPPED, decided before this).
 */
export function summarizeOutcome(plannedCount: number, results: readonly PlaybookOutcome[]): OutcomeSummary {
  if (!Number.isInteger(plannedCount) || plannedCount < 1) {
    throw new InconsistentResultsError(
      `plannedCount must be an integer ≥ 1, got ${plannedCount}; a run with no playbooks is recorded as SKIPPED.`,
    );
  }
  if (results.length > plannedCount) {
    throw new InconsistentResultsError(`${results.length} playbook results for a plan of ${plannedCount}.`);
  }
  const failedAt = results.findIndex((result) => result.status !== 'Success');
  if (failedAt === -1) {
    const complete = results.length === plannedCount;
    return { status: complete ? 'SUCCESS' : 'FAILED', succeeded: results.length, incomplete: !complete };
  }
  if (failedAt < results.length - 1) {
    const next = results[failedAt + 1] as PlaybookOutcome;
    throw new InconsistentResultsError(
      `${next.file} has a result after ${results[failedAt]?.file} failed (${results[failedAt]?.status}); ` +
        'the first failure stops the run.',
    );
  }
  return {
    status: failedAt === 0 ? 'FAILED' : 'PARTIAL',
    succeeded: failedAt,
    failed: results[failedAt] as PlaybookOutcome,
    incomplete: false,
  };
}

export function outcomeOf(plannedCount: number, results: readonly PlaybookOutcome[]): RunOutcome {
  return summarizeOutcome(plannedCount, results).status;
}
