// Match rules for one claimed instance: decides its playbooks from the facts snapshot on its record,
// records the match (fenced on the generation) and plans the workflow's loop. A drift check (a rule's
// reapplyEvery with `drift: report`, InstanceRecord.checkRun) plans every playbook in check mode; its
// fingerprint stays the applied plan's, so a check run never makes the instance look changed.
import { fingerprint } from '../core/fingerprint.js';
import { matchRules } from '../core/matcher.js';
import { agentChecks, planSteps } from '../core/plan.js';
import type { MatchResult, RulesBundle } from '../core/types.js';
import { InvalidInputError, StaleGenerationError } from '../shared/errors.js';
import type { DebugLogger } from '../shared/logger.js';
import type { StateStoreApi } from '../shared/state-store-api.js';
import { type ExecutionInput, executionNameOf, type MatchOutput } from '../shared/workflow-contract.js';

export interface MatchSettings {
  readonly agentCheckIntervalSeconds: number;
  readonly taskTimeoutMarginSeconds: number;
}

export async function matchInstance(
  input: ExecutionInput,
  deps: {
    store: Pick<StateStoreApi, 'getInstance' | 'recordMatch' | 'appendHistory'>;
    bundle: RulesBundle;
    settings: MatchSettings;
    now: () => Date;
    logger: DebugLogger;
  },
): Promise<MatchOutput> {
  const { instanceId, generation } = input;
  const record = await deps.store.getInstance(instanceId);
  if (!record) {
    throw new InvalidInputError(
      `match: instance ${instanceId} has no state record; executions are started only by a claim, ` +
        'so this one was started by hand or its record was deleted.',
    );
  }
  const applied = matchRules(deps.bundle.config, record.facts);
  const matchFingerprint = fingerprint(applied, deps.bundle.bundleHash);
  const match = record.checkRun ? inCheckMode(applied) : applied;
  // Plan before writing: a rule that cannot be scheduled fails here, not after the record says MATCHED.
  const playbooks = planSteps(match, { taskTimeoutMarginSeconds: deps.settings.taskTimeoutMarginSeconds });
  const agentChecksLeft = agentChecks(
    deps.bundle.config.defaults.agentWaitSeconds,
    deps.settings.agentCheckIntervalSeconds,
  );

  const now = deps.now();
  const written = await deps.store.recordMatch(
    instanceId,
    generation,
    { playbooks: match.playbooks, matchedRules: match.matchedRules, fingerprint: matchFingerprint },
    now,
  );
  if (!written.ok)
    throw new StaleGenerationError(instanceId, generation, `match refused: ${written.message}`);

  await deps.store.appendHistory({
    instanceId,
    type: 'MATCHED',
    at: now.toISOString(),
    actor: `workflow:${executionNameOf(instanceId, generation)}`,
    generation,
    ...(match.playbooks.length === 0 ? { reason: 'no rule selects a playbook for this host' } : {}),
    details: {
      rules: match.matchedRules,
      playbooks: match.playbooks.map((playbook) => playbook.file),
      fingerprint: matchFingerprint,
      ...(record.checkRun ? { check: true } : {}),
    },
  });
  deps.logger.info('Matched rules', {
    instanceId,
    generation,
    rules: match.matchedRules,
    playbooks: playbooks.map((step) => step.file),
  });
  return { instanceId, generation, matched: playbooks.length > 0, playbooks, agentChecksLeft };
}

/** Every playbook of `match` in check mode (`--check`): what a drift check runs. */
export function inCheckMode(match: MatchResult): MatchResult {
  return { ...match, playbooks: match.playbooks.map((playbook) => ({ ...playbook, check: true })) };
}
