// Key and index names of the state table, shared by the store (functions) and the table construct (infra).

export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk' } as const;

/** Sort key of the one state item per instance; history items use `EVT#<iso time>#<seq>`. */
export const STATE_SK = 'STATE';
export const HISTORY_SK_PREFIX = 'EVT#';
/**
 * Sibling items of the state item that keep it small (the fleet index reads state items only): the facts
 * snapshot (+ account, region, creation time) and the current run's plan and per-playbook results.
 * Sort order EVT#… < FACTS < RUN < STATE lets one Query (`sk BETWEEN FACTS AND STATE`) read all three.
 */
export const FACTS_SK = 'FACTS';
export const RUN_SK = 'RUN';

/** TTL attribute (epoch seconds) — set on history items only. */
export const TTL_ATTRIBUTE = 'expiresAt';

/** GSI for due work without a scan: partition = status, sort = dueAt (lease expiry / next due time, ISO). */
export const STATUS_INDEX = { name: 'status-due', partitionKey: 'status', sortKey: 'dueAt' } as const;

/**
 * Sparse GSI over state items only (history items lack `fleetPk`): one constant partition, projected
 * to the compact fields in FleetEntry, so the sweep reads the whole fleet in a couple of Query pages.
 */
export const FLEET_INDEX = {
  name: 'fleet',
  partitionKey: 'fleetPk',
  sortKey: 'pk',
  partitionValue: 'FLEET',
  projectedAttributes: [
    'status',
    'source',
    'generation',
    'factsHash',
    'held',
    'leaseExpiresAt',
    'executionName',
    'lastSuccessFingerprint',
    // The last run's fingerprint: a FAILED/PARTIAL/SKIPPED record is re-provisioned only when the
    // current fingerprint differs from the run that ended that way (else a failing playbook would loop).
    'fingerprint',
  ],
} as const;

/**
 * Rollouts (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md) share the table under their own
 * partitions, beside the instances (whose keys are `i-…`/`mi-…`): `pk = ROLLOUT#<id>` holds the rollout
 * item (`sk = ROLLOUT`), one slot pool per lane (`sk = LANE#<lane>`) and one marker per instance started in
 * it (`sk = INSTANCE#<instanceId>`). Sort order INSTANCE#… < LANE#… < ROLLOUT lets one Query
 * (`sk BETWEEN LANE# AND ROLLOUT`) read the rollout and its pools without the markers. `pk = CONTROL` holds
 * the pointer to the current rollout (`sk = ROLLOUT`) and the global pause (`sk = PAUSE`). None of these
 * items has `fleetPk` or `status`, so neither index sees them.
 */
export const ROLLOUT_PK_PREFIX = 'ROLLOUT#';
export const ROLLOUT_SK = 'ROLLOUT';
export const LANE_SK_PREFIX = 'LANE#';
export const MARKER_SK_PREFIX = 'INSTANCE#';
export const CONTROL_PK = 'CONTROL';
export const CURRENT_ROLLOUT_SK = 'ROLLOUT';
export const PAUSE_SK = 'PAUSE';
