// Rollouts as a sweep would create them, for the CLI suites (the in-memory store and DynamoDB Local alike):
// planned by core/rollout-plan.ts from a small fleet, with what the bundle changed.
import type { RolloutSettings } from '../../functions/core/admission.js';
import {
  type BundleContents,
  bundleContents,
  describeChange,
  planRollout,
} from '../../functions/core/rollout-plan.js';
import type { StateStoreApi } from '../../functions/shared/state-store-api.js';

const count = (value: number) => ({ kind: 'count', value }) as const;

/** Two at a time in `default`, one failure allowed, one canary first; rule `web` three at a time, none allowed. */
const RULES = {
  defaults: {
    rollout: { maxConcurrent: count(2), maxErrors: count(1), canary: { count: 1 } } satisfies RolloutSettings,
  },
  rules: [
    { name: 'web', rollout: { maxConcurrent: count(3), maxErrors: count(0) } satisfies RolloutSettings },
    { name: 'baseline' },
  ],
};

/** i-0…1 and i-0…2 are web servers (lane rule:web), i-0…3 to i-0…7 only get the baseline (i-0…3 is the canary). */
const DUE = Array.from({ length: 7 }, (_, index) => ({
  instanceId: `i-0fff00000000000${index + 1}`,
  groups: ['all'],
  rules: index < 2 ? ['web', 'baseline'] : ['baseline'],
}));

function contents(bundleHash: string, webserver: string): BundleContents {
  return bundleContents({ defaults: RULES.defaults, rules: RULES.rules }, bundleHash, {
    'baseline.yml': 'b1',
    'webserver.yml': webserver,
  });
}

export const FIRST_BUNDLE = 'a'.repeat(64);
export const SECOND_BUNDLE = '3f9a0c41d2e7'.padEnd(64, '0');

/**
 * Two rollouts, as two bundle changes make them: `r-aaaaaaaaaaaa` (the first), then `r-3f9a0c41d2e7` (webserver.yml
 * changed), which supersedes it. Returns the second's id. Lanes: canary (1), rule:web (2), default (4).
 */
export async function createRollouts(
  store: Pick<StateStoreApi, 'createRollout'>,
  now: Date,
): Promise<string> {
  const first = contents(FIRST_BUNDLE, 'w1');
  const second = contents(SECOND_BUNDLE, 'w2');
  let id = '';
  for (const [bundle, previous] of [
    [first, undefined],
    [second, first],
  ] as const) {
    const plan = planRollout({ bundleHash: bundle.bundleHash, due: DUE, rules: RULES });
    const created = await store.createRollout({
      plan,
      contents: bundle,
      change: describeChange(previous, bundle),
      actor: 'sweep',
      now,
    });
    id = created.rollout.rolloutId;
  }
  return id;
}
