// What a host's playbooks are given, as `autoprov plan` and `validate` show it: each var as the text
// `{{ var }}` gives in the playbook (docs/adr/0014-inventories-read-as-ansible-reads-them.md), and every
// var not sent as written, exactly as the run records it in VARS_ADJUSTED (run-command/command-request.ts):
// tag keys that collide (facts.ts) and what ssm-parameters.ts encodes or drops. The same functions build
// the SendCommand, so what is shown is what is sent.
import { tagCollisionAdjustments } from './facts.js';
import { encodeExtraVariables, mergeExtraVars, type VarAdjustment, whyReserved } from './ssm-parameters.js';
import type { HostFacts } from './types.js';

export interface PlaybookVars {
  /**
   * Every var a playbook gets, by the name written (an encoded var arrives as `<key>_b64`, decoded by the
   * playbook with b64decode to this value). Dropped vars are absent: `adjustments` says why.
   */
  readonly vars: Readonly<Record<string, string>>;
  /** What VARS_ADJUSTED records for a run: colliding tags first, then encoded/dropped vars by key. */
  readonly adjustments: readonly VarAdjustment[];
}

/** The vars one run of a playbook with `extraVars` gets on the host described by `facts`. */
export function playbookVars(
  facts: Pick<HostFacts, 'instanceId' | 'name' | 'tags' | 'vars'>,
  extraVars: Readonly<Record<string, string>> = {},
): PlaybookVars {
  const merged = mergeExtraVars(facts.vars, extraVars, {
    instanceId: facts.instanceId,
    ...(facts.name === undefined ? {} : { name: facts.name }),
  });
  const { adjustments } = encodeExtraVariables(merged);
  const dropped = new Set(adjustments.filter((a) => a.action === 'dropped').map((a) => a.key));
  const vars = [...merged]
    .filter(([key]) => !dropped.has(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    vars: Object.fromEntries(vars),
    adjustments: [...tagCollisionAdjustments(facts.tags), ...adjustments],
  };
}

/** An adjustment as `plan` and `validate` print it after the var's name. */
export function describeAdjustment(adjustment: VarAdjustment): string {
  return adjustment.action === 'encoded'
    ? `sent as ${adjustment.sentAs} (base64): ${adjustment.reason}`
    : `never sent to playbooks: ${adjustment.reason}`;
}

/** How to fix what an adjustment reports, as `validate` suggests it. */
export function fixFor(adjustment: VarAdjustment): string {
  if (adjustment.action === 'encoded') {
    return `read it in the playbook with "{{ ${adjustment.sentAs} | b64decode }}", or use only letters, digits and _ . , / @ % + = -`;
  }
  if (whyReserved(adjustment.key) !== undefined) {
    return 'nothing to do if it only served SSH/connection settings; otherwise give the value another name';
  }
  if (isTagCollision(adjustment)) return 'rename the tags so that each becomes a different var';
  return 'rename the var or shorten/simplify its value';
}

/** An adjustment made because several tag keys sanitise to one var name (facts.ts tagCollisionAdjustments). */
export function isTagCollision(adjustment: VarAdjustment): boolean {
  return (
    adjustment.action === 'dropped' &&
    adjustment.key.startsWith('tag_') &&
    adjustment.reason.startsWith('tags ')
  );
}
