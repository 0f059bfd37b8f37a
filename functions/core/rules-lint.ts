// Rules that are valid but can never do what they say: a `match.vars` key no host can have (a typo such
// as `ec2_instance_typ`), a `match.groups` entry that the groups tag's sanitising makes unmatchable
// (`web-servers` arrives as `web_servers`), and an opt-in tag key that disagrees with the stack's
// context. `autoprov validate` prints these as warnings; none of them stops a synth.
import { tagVarName } from './facts.js';
import type { RulesBundle } from './types.js';

export interface RulesWarning {
  readonly title: string;
  readonly detail: string;
  readonly fix?: string;
}

/** The `ec2_*` facts every EC2 instance is matched on (facts.ts factsFromEc2). */
export const EC2_FACT_VARS: readonly string[] = [
  'ec2_instance_type',
  'ec2_az',
  'ec2_vpc_id',
  'ec2_image_id',
  'ec2_platform',
  'ec2_private_ip',
  'ec2_name',
];

/** Levenshtein distance (small strings only). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The closest of `candidates` to `name`, if it is close enough to be a typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || d < best.d) best = { name: candidate, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? best.name : undefined;
}

const SANITISED = /^[A-Za-z0-9_]+$/;

export function lintRules(
  bundle: RulesBundle,
  stackContext: { readonly optInTagKey?: string; readonly source?: string } = {},
): RulesWarning[] {
  const warnings: RulesWarning[] = [];
  const { config, inventoryHosts } = bundle;
  const inventoryVars = new Set(inventoryHosts.flatMap((host) => Object.keys(host.vars)));
  const inventoryGroups = new Set(inventoryHosts.flatMap((host) => host.groups));
  const known = [...EC2_FACT_VARS, ...inventoryVars];

  for (const rule of config.rules) {
    for (const key of Object.keys(rule.match.vars)) {
      if (EC2_FACT_VARS.includes(key) || inventoryVars.has(key)) continue;
      if (key.startsWith('tag_')) {
        // Any tag can appear later, but only in its sanitised spelling.
        if (SANITISED.test(key)) continue;
        const sanitised = tagVarName(key.slice('tag_'.length));
        warnings.push({
          title: `rule ${rule.name}: match.vars.${key}`,
          detail: `no host can have it: tag vars are named with characters outside A-Za-z0-9_ replaced by _, so this tag arrives as ${sanitised}`,
          fix: `write ${sanitised}`,
        });
        continue;
      }
      const suggestion = closest(key, known);
      // Without any inventory, a var such as `site` is left for the inventory the operator enables later
      // (the shipped rules do this); a near-miss of a known name, or an ec2_ prefix, is a typo either way.
      if (!suggestion && !key.startsWith('ec2_') && config.inventories.length === 0) continue;
      warnings.push({
        title: `rule ${rule.name}: match.vars.${key}`,
        detail: `no host can have it: not an ec2_* fact, not tag_<Key>, and no inventory of the rules defines it${suggestion ? ` — did you mean ${suggestion}?` : ''}`,
        fix: suggestion
          ? `write ${suggestion}`
          : `use one of ${EC2_FACT_VARS.join(', ')}, tag_<Key>, or a var an inventory sets`,
      });
    }
    for (const group of rule.match.groups) {
      if (SANITISED.test(group) || inventoryGroups.has(group)) continue;
      const sanitised = group.replace(/[^A-Za-z0-9_]/g, '_');
      warnings.push({
        title: `rule ${rule.name}: match.groups ${group}`,
        detail: `can never match: groups from the ${config.groupsTag} tag have characters outside A-Za-z0-9_ replaced by _ ("${group}" arrives as "${sanitised}"), and no inventory has a group "${group}"`,
        fix: `write ${sanitised}`,
      });
    }
  }

  const contextKey = stackContext.optInTagKey;
  if (contextKey !== undefined && contextKey !== config.optIn.tagKey) {
    warnings.push({
      title: 'optIn.tagKey',
      detail: `"${config.optIn.tagKey}" here, but the stack's context (${stackContext.source ?? 'cdk.json'}) sets autoprov:optInTagKey "${contextKey}": cdk synth refuses the pair, and the run-command role would only reach hosts tagged ${contextKey}`,
      fix: `make them equal: optIn.tagKey in the rules, or "autoprov:optInTagKey" in ${stackContext.source ?? 'cdk.json'} (or -c autoprov:optInTagKey=…)`,
    });
  }
  return warnings;
}
