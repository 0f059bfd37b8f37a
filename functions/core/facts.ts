// Host facts: the one record rules are matched against and the snapshot stored on the instance
// (docs/architecture.md "Configuration and host facts"). Output is deterministic (sorted groups and var keys) so that two reads of
// an unchanged instance produce equal snapshots and the sweep writes nothing.
import type { VarAdjustment } from './ssm-parameters.js';
import type { Ec2InstanceShape, HostFacts, InventoryHost, RulesConfig } from './types.js';

/** A describe result without an instance id cannot be tracked; the caller should drop it and log. */
export class MissingInstanceIdError extends Error {
  override name = 'MissingInstanceIdError';
}

/** `Name` → `tag_Name`, `aws:autoscaling:groupName` → `tag_aws_autoscaling_groupName`. */
export function tagVarName(key: string): string {
  return `tag_${key.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * Tag keys that sanitise to the same var (`cost-center`, `cost_center`, `cost:center` → tag_cost_center).
 * None of them is set: whichever came first would win, and tag order means nothing. Sorted, so the
 * result never depends on the order EC2 lists the tags in.
 */
export function tagVarCollisions(
  tags: Readonly<Record<string, string>>,
): { readonly varName: string; readonly keys: readonly string[] }[] {
  const byVar = new Map<string, string[]>();
  for (const key of Object.keys(tags))
    byVar.set(tagVarName(key), [...(byVar.get(tagVarName(key)) ?? []), key]);
  return [...byVar]
    .filter(([, keys]) => keys.length > 1)
    .map(([varName, keys]) => ({ varName, keys: [...keys].sort() }))
    .sort((a, b) => (a.varName < b.varName ? -1 : 1));
}

/** The audit entries (VARS_ADJUSTED) for tagVarCollisions: each var not sent, and why. */
export function tagCollisionAdjustments(tags: Readonly<Record<string, string>>): VarAdjustment[] {
  return tagVarCollisions(tags).map(({ varName, keys }) => ({
    key: varName,
    action: 'dropped',
    reason: `tags ${keys.map((k) => JSON.stringify(k)).join(', ')} all become ${varName}; none is sent (rename the tags so they differ in letters, digits or _)`,
  }));
}

/**
 * Group names from the groups tag. Ansible group names are identifiers, so any character outside
 * [A-Za-z0-9_] becomes `_` (`web-servers` → `web_servers`): a rule's `match.groups` must use the
 * sanitised form. Empty entries (`a,,b`, trailing comma) are ignored.
 */
export function parseGroupsTag(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '')
    .map((g) => g.replace(/[^A-Za-z0-9_]/g, '_'));
}

/**
 * An EC2 instance's tags as a record. fromEntries defines own properties, so even a tag named
 * `__proto__` is just a tag (an assignment loop would set the prototype instead).
 */
export function ec2Tags(instance: Pick<Ec2InstanceShape, 'Tags'>): Record<string, string> {
  return Object.fromEntries(
    (instance.Tags ?? []).flatMap((tag) => (tag.Key === undefined ? [] : [[tag.Key, tag.Value ?? '']])),
  );
}

export function factsFromEc2(instance: Ec2InstanceShape, config: RulesConfig): HostFacts {
  const instanceId = instance.InstanceId;
  if (!instanceId) {
    throw new MissingInstanceIdError(
      'EC2 instance description has no InstanceId; pass the Instance objects from DescribeInstances Reservations[].Instances[]',
    );
  }
  const tags = ec2Tags(instance);
  const vars: Record<string, string> = {};
  const colliding = new Set(tagVarCollisions(tags).map((c) => c.varName));
  for (const [key, value] of Object.entries(tags)) {
    if (!colliding.has(tagVarName(key))) vars[tagVarName(key)] = value;
  }
  const ec2: Record<string, string | undefined> = {
    ec2_instance_type: instance.InstanceType,
    ec2_az: instance.Placement?.AvailabilityZone,
    ec2_vpc_id: instance.VpcId,
    ec2_image_id: instance.ImageId,
    ec2_platform: platformOf(instance),
    ec2_private_ip: instance.PrivateIpAddress,
    ec2_name: tags.Name,
  };
  // Set after the tags: a tag can never shadow an ec2_* fact (its var name always starts with tag_).
  for (const [key, value] of Object.entries(ec2)) if (value !== undefined) vars[key] = value;

  const name = tags.Name;
  const state = instance.State?.Name;
  return {
    instanceId,
    source: 'ec2',
    ...(name === undefined ? {} : { name }),
    ...(state === undefined ? {} : { state }),
    tags: sortKeys(tags),
    groups: sortedGroups(['all', ...parseGroupsTag(tags[config.groupsTag])]),
    vars: sortKeys(vars),
  };
}

export function factsFromInventoryHost(host: InventoryHost): HostFacts {
  return {
    instanceId: host.instanceId,
    source: 'inventory',
    name: host.name,
    tags: {},
    groups: sortedGroups(['all', ...host.groups]),
    vars: sortKeys(host.vars),
  };
}

/** An EC2 instance also listed in an inventory: one record, EC2 facts winning over inventory vars. */
export function mergeFacts(ec2: HostFacts, host: InventoryHost): HostFacts {
  return {
    ...ec2,
    groups: sortedGroups([...ec2.groups, ...host.groups]),
    vars: sortKeys({ ...host.vars, ...ec2.vars }),
  };
}

/**
 * DescribeInstances sets `Platform` only for Windows (`windows`); `PlatformDetails` names the billing
 * product (`Linux/UNIX`, `Red Hat Enterprise Linux`, `Windows`, …). Lowercased, with the generic
 * `Linux/UNIX` (and an absent value) as plain `linux`.
 */
export function platformOf(instance: Pick<Ec2InstanceShape, 'Platform' | 'PlatformDetails'>): string {
  const platform = (instance.Platform || instance.PlatformDetails || 'linux').toLowerCase();
  return platform === 'linux/unix' ? 'linux' : platform;
}

function sortedGroups(groups: readonly string[]): string[] {
  return [...new Set(groups)].sort();
}

function sortKeys(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
