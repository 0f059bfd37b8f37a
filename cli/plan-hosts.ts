// What `autoprov plan` computes for each host, without the AWS SDK: `validate` plans the same hosts to show
// their vars (and `autoprov` loads a command's module only when that command runs, so validate must not
// load plan's EC2 client).
import { explainMatch, matchRules, type RuleExplanation } from '../functions/core/matcher.js';
import { playbookVars } from '../functions/core/playbook-vars.js';
import type { Observation } from '../functions/core/reconcile.js';
import type { VarAdjustment } from '../functions/core/ssm-parameters.js';
import type { Ec2InstanceShape, PlannedPlaybook, RulesBundle, Status } from '../functions/core/types.js';
import type { FleetEntry } from '../functions/shared/state-store-api.js';
import { expandInstances, INSTANCE_DEFAULTS, parseFleetFile, privateIpFor } from './fleet-file.js';

export interface HostPlan {
  readonly instanceId: string;
  readonly name?: string;
  readonly source: 'ec2' | 'inventory';
  readonly playbooks: readonly PlannedPlaybook[];
  readonly rules: readonly RuleExplanation[];
  readonly fingerprint: string;
  /**
   * The host's vars as its playbooks get them (each the text `{{ var }}` gives; an encoded var is shown
   * decoded), with autoprov_instance_id and autoprov_host_label; each playbook's extraVars come on top.
   */
  readonly vars: Readonly<Record<string, string>>;
  /** What a run would record as VARS_ADJUSTED (colliding tags, encoded or dropped vars), in any of its playbooks. */
  readonly varsAdjusted: readonly VarAdjustment[];
  /** The state record, when the table was consulted and has one. */
  readonly record?: {
    readonly status: Status;
    readonly generation: number;
    readonly lastSuccessFingerprint?: string;
  };
  /** The record's last success applied a different fingerprint: rules or playbooks changed since. */
  readonly changed: boolean;
}

/**
 * The fleet file's initial instances as DescribeInstances would describe them in local mode: the same
 * parser, ids, defaults and IP allocation (cli/fleet-file.ts) as `npm start`. A demo file is a fleet file.
 * Hybrid nodes (mi-…) are not EC2 instances: the inventories cover them.
 */
export function instancesFromFleetFile(
  text: string,
  source: string,
  region = process.env.AWS_REGION ?? 'us-east-1',
): Ec2InstanceShape[] {
  const file = parseFleetFile(text, source);
  const shapes: Ec2InstanceShape[] = [];
  let launched = 0;
  for (const { spec, launchNow } of expandInstances(file)) {
    if (!launchNow) continue;
    const privateIp = spec.privateIp ?? privateIpFor(launched);
    if (spec.privateIp === undefined) launched++;
    if (spec.instanceId.startsWith('mi-')) continue;
    const platform = spec.platform ?? INSTANCE_DEFAULTS.platform;
    const tags = { ...spec.tags, ...(spec.name !== undefined ? { Name: spec.name } : {}) };
    shapes.push({
      InstanceId: spec.instanceId,
      InstanceType: spec.instanceType ?? INSTANCE_DEFAULTS.instanceType,
      ImageId: spec.imageId ?? INSTANCE_DEFAULTS.imageId,
      VpcId: spec.vpcId ?? INSTANCE_DEFAULTS.vpcId,
      PrivateIpAddress: privateIp,
      ...(platform === 'windows'
        ? { Platform: 'windows', PlatformDetails: 'Windows' }
        : { PlatformDetails: 'Linux/UNIX' }),
      Placement: { AvailabilityZone: spec.az ?? `${region}a` },
      State: { Name: 'running' },
      Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    });
  }
  return shapes;
}

/** Plans for the observed hosts; `known` (the fleet index) adds each record's status and the changed flag. */
export function planHosts(
  bundle: RulesBundle,
  observations: readonly Observation[],
  known: ReadonlyMap<string, FleetEntry> | undefined,
): HostPlan[] {
  return observations.map((observation) => {
    const { facts } = observation;
    const rules = explainMatch(bundle.config, facts);
    const entry = known?.get(facts.instanceId);
    // The match λ's own function: the same playbooks, order and settings a run would get.
    const { playbooks } = matchRules(bundle.config, facts);
    const { vars, adjustments } = playbookVars(facts);
    // Per playbook as the run builds it (its extraVars may replace a host var), each var once.
    const adjusted = new Map<string, VarAdjustment>();
    for (const playbook of playbooks)
      for (const a of playbookVars(facts, playbook.extraVars).adjustments)
        if (!adjusted.has(a.key)) adjusted.set(a.key, a);
    return {
      instanceId: facts.instanceId,
      ...(facts.name === undefined ? {} : { name: facts.name }),
      source: facts.source,
      playbooks,
      rules,
      fingerprint: observation.fingerprint,
      vars,
      varsAdjusted: playbooks.length > 0 ? [...adjusted.values()] : adjustments,
      ...(entry
        ? {
            record: {
              status: entry.status,
              generation: entry.generation,
              ...(entry.lastSuccessFingerprint
                ? { lastSuccessFingerprint: entry.lastSuccessFingerprint }
                : {}),
            },
          }
        : {}),
      changed:
        entry?.lastSuccessFingerprint !== undefined &&
        entry.lastSuccessFingerprint !== observation.fingerprint,
    };
  });
}
