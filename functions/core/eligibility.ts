// Who may be provisioned, and when: the one module that decides eligibility (docs/architecture.md
// "Claims and fencing"). Pure. The state store (functions/shared/state-store/claim.ts) compiles these rules
// into the claim's DynamoDB condition expression and explains a lost claim with them; the in-memory test
// store (test/helpers/fake-store.ts) applies the same rules in memory. Nothing else decides.
//
// - opt-in: the instance carries the opt-in tag with exactly the configured value;
// - hold: the hold tag pauses it — recorded, never claimed automatically (an operator retry still may);
// - claimable statuses: which statuses a claim (→ RUNNING, generation + 1) may start from, and when;
// - re-provision reasons: which claim reasons may re-run an instance whose last run is over.
import type { RulesConfig, Status, TagSelector } from './types.js';

/** Does this instance opt in? Exact key and value (case-sensitive, no trimming), as the IAM condition. */
export function isOptedIn(tags: Readonly<Record<string, string>>, config: RulesConfig): boolean {
  return hasTag(tags, config.optIn);
}

/** Is this instance held (hold tag present with its value)? A held instance is never claimed automatically. */
export function isHeld(tags: Readonly<Record<string, string>>, config: RulesConfig): boolean {
  return hasTag(tags, config.hold);
}

function hasTag(tags: Readonly<Record<string, string>>, selector: TagSelector): boolean {
  return Object.hasOwn(tags, selector.tagKey) && tags[selector.tagKey] === selector.tagValue;
}

/**
 * Why a claim was requested; recorded in history. `reapply` and `drift-check` are a rule's `reapplyEvery`
 * (`drift: correct` applies the playbooks again, `drift: report` runs them in check mode).
 */
export type ClaimReason =
  | 'new'
  | 'lease-expired'
  | 'fingerprint-changed'
  | 'operator-retry'
  | 'pending'
  | 'reapply'
  | 'drift-check';

/** Claim reasons that may re-run an instance whose last run is over (CLAIMABLE_FROM `reprovision`). */
export const REPROVISION_REASONS: ReadonlySet<ClaimReason> = new Set([
  'fingerprint-changed',
  'operator-retry',
  'reapply',
  'drift-check',
]);

/** Claim reasons that claim a held instance anyway: only an operator's explicit retry. */
export const HOLD_OVERRIDE_REASONS: ReadonlySet<ClaimReason> = new Set(['operator-retry']);

/**
 * When a claim (→ RUNNING, generation + 1) may start from each status:
 * - `always`: PENDING — detected and waiting for its first run.
 * - `lease-expired`: RUNNING — only once the current lease has expired (its execution died or hung);
 *   a live lease means another execution owns the instance.
 * - `reprovision`: SUCCESS / PARTIAL / FAILED / SKIPPED / DRIFTED — only for a re-provision reason
 *   (fingerprint changed, operator retry, a reapplyEvery), never for a plain re-detection of a host that
 *   already ran.
 * ORPHANED is absent: an orphan must be re-detected (→ PENDING) first.
 */
export type ClaimCondition = 'always' | 'lease-expired' | 'reprovision';

export const CLAIMABLE_FROM: Readonly<Partial<Record<Status, ClaimCondition>>> = {
  PENDING: 'always',
  RUNNING: 'lease-expired',
  SUCCESS: 'reprovision',
  PARTIAL: 'reprovision',
  FAILED: 'reprovision',
  SKIPPED: 'reprovision',
  DRIFTED: 'reprovision',
};

/** `CLAIMABLE_FROM` applied: may a claim start from `status` in this situation? */
export function canClaim(
  status: Status,
  situation: { leaseExpired: boolean; reprovision: boolean },
): boolean {
  switch (CLAIMABLE_FROM[status]) {
    case 'always':
      return true;
    case 'lease-expired':
      return situation.leaseExpired;
    case 'reprovision':
      return situation.reprovision;
    default:
      return false;
  }
}

/** The record as a claim sees it. Leases are ISO-8601 strings, compared as strings (as DynamoDB does). */
export interface ClaimTarget {
  readonly status: Status;
  readonly generation: number;
  readonly held: boolean;
  readonly leaseExpiresAt?: string;
}

/** Has the lease run out at `now`? No lease counts as expired. */
export function leaseExpired(leaseExpiresAt: string | undefined, now: Date): boolean {
  return leaseExpiresAt === undefined || leaseExpiresAt <= now.toISOString();
}

/**
 * The whole claim rule: the record is still at the generation the caller saw, it is not held (unless
 * the reason overrides a hold), and its status is claimable in this situation.
 */
export function isClaimable(
  record: ClaimTarget,
  attempt: { reason: ClaimReason; expectedGeneration: number; now: Date },
): boolean {
  return (
    record.generation === attempt.expectedGeneration &&
    (!record.held || HOLD_OVERRIDE_REASONS.has(attempt.reason)) &&
    canClaim(record.status, {
      leaseExpired: leaseExpired(record.leaseExpiresAt, attempt.now),
      reprovision: REPROVISION_REASONS.has(attempt.reason),
    })
  );
}
