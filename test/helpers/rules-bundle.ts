// One builder for the compiled rules bundle the handler and core suites need: the product's own defaults
// (functions/core/rules.ts) with only what a test cares about spelled out, instead of a 30-line literal in
// every suite.
import {
  DEFAULT_GROUPS_TAG,
  DEFAULT_HOLD,
  DEFAULT_OPT_IN,
  DEFAULT_RULE_DEFAULTS,
} from '../../functions/core/rules.js';
import type {
  InventoryHost,
  PlaybookSpec,
  Rule,
  RuleDefaults,
  RulesBundle,
  RulesConfig,
  VarCondition,
} from '../../functions/core/types.js';

/** A rule: `rule('web', ['nginx.yml'], { groups: ['webservers'] }, { maxAttempts: 5 })`. */
export function rule(
  name: string,
  playbooks: readonly (string | (Partial<PlaybookSpec> & { file: string }))[],
  match: { groups?: readonly string[]; vars?: Readonly<Record<string, VarCondition>> } = {},
  options: Omit<Rule, 'name' | 'match' | 'playbooks'> = {},
): Rule {
  return {
    name,
    match: { groups: match.groups ?? [], vars: match.vars ?? {} },
    playbooks: playbooks.map((p) =>
      typeof p === 'string' ? { file: p, extraVars: {} } : { extraVars: {}, ...p },
    ),
    ...options,
  };
}

export interface BundleOptions extends Partial<Omit<RulesConfig, 'defaults'>> {
  readonly defaults?: Partial<RuleDefaults>;
  readonly inventoryHosts?: readonly InventoryHost[];
  readonly bundleHash?: string;
}

/** A bundle with the shipped defaults; by default one `baseline` rule for every instance. */
export function rulesBundle(options: BundleOptions = {}): RulesBundle {
  const { defaults, inventoryHosts, bundleHash, ...config } = options;
  return {
    config: {
      optIn: DEFAULT_OPT_IN,
      hold: DEFAULT_HOLD,
      groupsTag: DEFAULT_GROUPS_TAG,
      inventories: [],
      rules: [rule('baseline', ['baseline.yml'])],
      ...config,
      defaults: { ...DEFAULT_RULE_DEFAULTS, ...defaults },
    },
    inventoryHosts: inventoryHosts ?? [],
    bundleHash: bundleHash ?? 'a'.repeat(64),
  };
}
