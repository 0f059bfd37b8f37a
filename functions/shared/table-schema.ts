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
