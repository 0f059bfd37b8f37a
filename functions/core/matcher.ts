/**
 * Rule matching: which playbooks a host gets, in which order, with which settings (docs/architecture.md "Configuration and host facts").
 *
 * Semantics
 * - A rule matches a host when ALL of its conditions hold:
 *   - `match.groups`: every listed group is in `facts.groups` (all-of). Empty list = no group condition.
 *   - `match.vars`: for every key, the fact var must exist (an absent var never matches, not even `*`)
 *     and its value must satisfy the condition:
 *     - a string without `*` or `?` → exact, case-sensitive equality;
 *     - a string with `*` or `?` → a glob: `*` = any sequence (also empty), `?` = exactly one character
 *       (one Unicode code point), anchored at both ends, case-sensitive; every other character is literal;
 *     - a list → any-of: the value satisfies at least one item (items may be globs). An empty list
 *       matches nothing.
 *   - `match: { groups: [], vars: {} }` matches every host.
 * - Every matching rule contributes its playbooks, in rule order and, within a rule, in listed order.
 *   A playbook file appears once: its first occurrence wins, with the settings of the rule it came from
 *   (`PlannedPlaybook.rule` names that rule). Later duplicates are ignored, not merged.
 * - Settings: `timeoutSeconds` = playbook > rule > defaults; `maxAttempts`, `backoffSeconds`, `check`
 *   = rule > defaults. `extraVars` are the playbook's own (host vars are overlaid when the SSM
 *   parameters are built, see ssm-parameters.ts).
 * - No matching rule (or only rules without playbooks) → no playbooks: the caller records SKIPPED.
 * - Pure and deterministic: the same config and facts always give the same result.
 */
import type { HostFacts, MatchResult, PlannedPlaybook, Rule, RulesConfig, VarCondition } from './types.js';

/** Why one rule did or did not match a host, for `autoprov plan`. */
export interface RuleExplanation {
  readonly rule: string;
  readonly matched: boolean;
  /** When matched: every condition that held. When not: every condition that failed. */
  readonly reasons: readonly string[];
}

// Globs come from a small, fixed config but are evaluated for every host of a sweep: compile once.
const GLOB_CACHE_LIMIT = 1000;
const globCache = new Map<string, RegExp>();

/** True when the string is a glob (contains `*` or `?`), false when it is an exact value. */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/**
 * Compile a glob to an anchored, case-sensitive RegExp: `*` = any sequence, `?` = one code point,
 * every other character literal (regex metacharacters are escaped).
 */
export function globToRegExp(glob: string): RegExp {
  const cached = globCache.get(glob);
  if (cached) return cached;
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '[\\s\\S]*';
    else if (char === '?') source += '[\\s\\S]';
    else source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  // `u`: `?` consumes a whole code point and literal astral characters compare as one unit.
  const regExp = new RegExp(`^${source}$`, 'u');
  if (globCache.size >= GLOB_CACHE_LIMIT) globCache.clear();
  globCache.set(glob, regExp);
  return regExp;
}

function patternMatches(pattern: string, value: string): boolean {
  return isGlob(pattern) ? globToRegExp(pattern).test(value) : pattern === value;
}

/** True when `value` satisfies the condition (exact, glob, or any-of list). */
export function conditionHolds(condition: VarCondition, value: string): boolean {
  if (typeof condition === 'string') return patternMatches(condition, value);
  return condition.some((pattern) => patternMatches(pattern, value));
}

function describeCondition(condition: VarCondition): string {
  return typeof condition === 'string' ? condition : `[${condition.join(', ')}]`;
}

/** The one evaluation both `matchRules` and `explainMatch` use, so they can never disagree. */
function evaluateRule(rule: Rule, facts: HostFacts): RuleExplanation {
  const held: string[] = [];
  const failed: string[] = [];
  const hostGroups = new Set(facts.groups);
  for (const group of rule.match.groups) {
    if (hostGroups.has(group)) held.push(`in group ${group}`);
    else failed.push(`missing group ${group}`);
  }
  // Sorted so explanations read the same whatever order the YAML listed the keys in.
  for (const key of Object.keys(rule.match.vars).sort()) {
    const condition = rule.match.vars[key] as VarCondition;
    const expected = describeCondition(condition);
    if (!Object.hasOwn(facts.vars, key)) {
      failed.push(`${key} is not set (expected ${expected})`);
      continue;
    }
    const value = facts.vars[key] as string;
    if (conditionHolds(condition, value)) held.push(`${key}=${value} matches ${expected}`);
    else failed.push(`${key}=${value} does not match ${expected}`);
  }
  if (failed.length > 0) return { rule: rule.name, matched: false, reasons: failed };
  return { rule: rule.name, matched: true, reasons: held.length > 0 ? held : ['empty match: every host'] };
}

/** Per rule, in rule order: whether it matched and why. Agrees with `matchRules` by construction. */
export function explainMatch(config: RulesConfig, facts: HostFacts): RuleExplanation[] {
  return config.rules.map((rule) => evaluateRule(rule, facts));
}

/** The ordered, de-duplicated playbooks every matching rule contributes, settings resolved. */
export function matchRules(config: RulesConfig, facts: HostFacts): MatchResult {
  const { defaults } = config;
  const playbooks: PlannedPlaybook[] = [];
  const matchedRules: string[] = [];
  const seenFiles = new Set<string>();
  for (const rule of config.rules) {
    if (!evaluateRule(rule, facts).matched) continue;
    matchedRules.push(rule.name);
    for (const spec of rule.playbooks) {
      if (seenFiles.has(spec.file)) continue;
      seenFiles.add(spec.file);
      playbooks.push({
        file: spec.file,
        extraVars: { ...spec.extraVars },
        timeoutSeconds: spec.timeoutSeconds ?? rule.timeoutSeconds ?? defaults.timeoutSeconds,
        maxAttempts: rule.maxAttempts ?? defaults.maxAttempts,
        backoffSeconds: rule.backoffSeconds ?? defaults.backoffSeconds,
        check: rule.check ?? defaults.check,
        rule: rule.name,
      });
    }
  }
  return { playbooks, matchedRules };
}
