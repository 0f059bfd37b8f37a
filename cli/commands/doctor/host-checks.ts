// The host as AWS sees it: the EC2 instance's state and its opt-in and hold tags, a hybrid node's place
// in a static inventory, the instance profile's bundle-read policy, and what the host needs to run
// Ansible under the stack's ansibleInstall mode.
import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import {
  GetInstanceProfileCommand,
  type IAMClient,
  ListAttachedRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import type { InventoryHost, RulesConfig } from '../../../functions/core/types.js';
import { type Check, check, couldNotCheck, type Send } from './check.js';

/** Opt-in, hold and state, from EC2 itself (the record may be older than the tags). */
export function checkEc2Instance(
  instanceId: string,
  instance: Instance | undefined,
  config: RulesConfig,
): Check[] {
  if (!instance) {
    return [
      check(
        'instance',
        'fail',
        'EC2 instance',
        `${instanceId} does not exist in this account and region`,
        'check the id, --region and the credentials account; a terminated instance disappears after about an hour',
      ),
    ];
  }
  const tags = new Map((instance.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  const { optIn, hold } = config;
  const checks: Check[] = [];
  const state = instance.State?.Name ?? 'unknown';
  checks.push(ec2StateCheck(instanceId, state));
  // A terminated instance is gone for good: its tags no longer matter, and no fix applies to it.
  if (isGone(state)) return checks;
  const value = tags.get(optIn.tagKey);
  const createTag = `aws ec2 create-tags --resources ${instanceId} --tags 'Key=${optIn.tagKey},Value=${optIn.tagValue}'`;
  if (value === optIn.tagValue)
    checks.push(check('instance', 'ok', 'Opt-in tag', `${optIn.tagKey}=${value}`));
  else if (value === undefined) {
    checks.push(
      check(
        'instance',
        'fail',
        'Opt-in tag',
        `${optIn.tagKey} is missing: the instance is not opted in`,
        createTag,
      ),
    );
  } else {
    checks.push(
      check(
        'instance',
        'fail',
        'Opt-in tag',
        `${optIn.tagKey}=${value}, but opting in needs the value "${optIn.tagValue}"`,
        createTag,
      ),
    );
  }
  if (tags.get(hold.tagKey) === hold.tagValue) {
    checks.push(
      check(
        'instance',
        'fail',
        'Hold tag',
        `${hold.tagKey}=${hold.tagValue}: recorded but never provisioned automatically`,
        `aws ec2 delete-tags --resources ${instanceId} --tags Key=${hold.tagKey}`,
      ),
    );
  } else checks.push(check('instance', 'ok', 'Hold tag', `${hold.tagKey} not set`));
  return checks;
}

/** EC2 states from which the instance never runs again. */
export const isGone = (state: string | undefined): boolean =>
  state === 'terminated' || state === 'shutting-down';

/** The instance's EC2 state, with the fix that state allows (a terminated instance cannot be started). */
function ec2StateCheck(instanceId: string, state: string): Check {
  const title = 'EC2 state';
  switch (state) {
    case 'running':
      return check('instance', 'ok', title, 'running');
    case 'pending':
      return check('instance', 'warn', title, 'pending: starting up; it is provisioned once it runs');
    case 'terminated':
    case 'shutting-down':
      return check(
        'instance',
        'fail',
        title,
        `${state}: the instance is gone for good and is never provisioned again`,
        'nothing to fix on it: launch a new instance with the opt-in tag (its record stays ORPHANED for the audit trail)',
      );
    case 'stopping':
      return check(
        'instance',
        'fail',
        title,
        'stopping: playbooks run only on a running instance',
        `once it has stopped, start it: aws ec2 start-instances --instance-ids ${instanceId}`,
      );
    default:
      return check(
        'instance',
        'fail',
        title,
        `${state}: playbooks run only on a running instance`,
        `start it: aws ec2 start-instances --instance-ids ${instanceId}`,
      );
  }
}

/** A hybrid node (or inventory-listed instance) is opted in by being in a static inventory. */
export function checkInventory(
  instanceId: string,
  host: InventoryHost | undefined,
  config: RulesConfig,
): Check {
  if (host) return check('instance', 'ok', 'Static inventory', `listed in ${host.inventory} as ${host.name}`);
  return check(
    'instance',
    'fail',
    'Static inventory',
    `${instanceId} is not in any inventory of rules.yaml (${config.inventories.join(', ') || 'none configured'})`,
    'add it (by id, or as a host with ssm_instance_id=<id>) to an inventory listed under inventories:, then deploy',
  );
}

export async function describeEc2Instance(
  ec2: Send<EC2Client>,
  instanceId: string,
): Promise<Instance | undefined> {
  try {
    const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return Reservations?.flatMap((reservation) => reservation.Instances ?? [])[0];
  } catch (error) {
    if (error instanceof Error && error.name.startsWith('InvalidInstanceID')) return undefined;
    throw error;
  }
}

/** `arn:aws:iam::123:instance-profile/path/name` → `name`. */
export function instanceProfileName(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

/** The instance profile's role must carry the stack's bundle-read managed policy (InstancePolicyArn). */
export async function checkBundlePolicy(
  iam: Send<IAMClient>,
  instance: Instance,
  policyArn: string | undefined,
): Promise<Check> {
  const title = 'Bundle read policy';
  const fix = (role: string) =>
    policyArn
      ? `aws iam attach-role-policy --role-name ${role} --policy-arn ${policyArn}`
      : "attach the stack's InstancePolicyArn output to the role";
  const profileArn = instance.IamInstanceProfile?.Arn;
  if (!profileArn) {
    return check(
      'instance',
      'fail',
      title,
      'no instance profile attached: the instance can neither register with SSM nor download the playbook bundle',
      `attach an instance profile whose role has AmazonSSMManagedInstanceCore and ${policyArn ?? "the stack's InstancePolicyArn"}`,
    );
  }
  try {
    const { InstanceProfile } = await iam.send(
      new GetInstanceProfileCommand({ InstanceProfileName: instanceProfileName(profileArn) }),
    );
    const roles = InstanceProfile?.Roles ?? [];
    const role = roles[0]?.RoleName;
    if (!role) {
      return check(
        'instance',
        'fail',
        title,
        `instance profile ${instanceProfileName(profileArn)} has no role`,
        'add a role to the instance profile',
      );
    }
    const attached: string[] = [];
    let Marker: string | undefined;
    do {
      const page = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role, Marker }));
      attached.push(...(page.AttachedPolicies ?? []).map((policy) => policy.PolicyArn ?? ''));
      Marker = page.IsTruncated ? page.Marker : undefined;
    } while (Marker);
    if (!policyArn) {
      return check(
        'instance',
        'warn',
        title,
        `role ${role} has ${attached.length} managed polic${attached.length === 1 ? 'y' : 'ies'}, but the stack's InstancePolicyArn is unknown (outputs not read), so bundle read access was not verified`,
        'pass --stack <name> so doctor can read the outputs',
      );
    }
    if (attached.includes(policyArn)) return check('instance', 'ok', title, `role ${role} has ${policyArn}`);
    return check(
      'instance',
      'fail',
      title,
      `role ${role} lacks ${policyArn}: the playbook bundle download fails (403)`,
      fix(role),
    );
  } catch (error) {
    return couldNotCheck('instance', title, error, 'iam:GetInstanceProfile and iam:ListAttachedRolePolicies');
  }
}

export function hybridPolicyNote(policyArn: string | undefined): Check {
  return check(
    'instance',
    'warn',
    'Bundle read policy',
    'skipped: a hybrid node has no instance profile',
    `make sure the IAM service role of its SSM activation has ${policyArn ?? "the stack's InstancePolicyArn"}`,
  );
}

/**
 * What the host needs besides the SSM agent, by the stack's ansibleInstall mode (output AnsibleInstall).
 * AWS-ApplyAnsiblePlaybooks unzips the playbook bundle with `unzip` whatever InstallDependencies says, so a
 * `preinstalled` image needs unzip as well as ansible-playbook. doctor cannot look inside the host: for
 * that mode it says what to check there.
 */
export function checkAnsibleInstall(mode: string | undefined): Check {
  const title = 'Ansible on the host';
  switch (mode) {
    case 'autoprov':
      return check(
        'instance',
        'ok',
        title,
        'ansibleInstall=autoprov: the ensure-Ansible step installs ansible-core and unzip before the first playbook',
      );
    case 'document':
      return check(
        'instance',
        'ok',
        title,
        'ansibleInstall=document: AWS-ApplyAnsiblePlaybooks installs its dependencies itself (InstallDependencies=True)',
      );
    case 'preinstalled':
      return check(
        'instance',
        'warn',
        title,
        'ansibleInstall=preinstalled: the image must have ansible-playbook AND unzip (AWS-ApplyAnsiblePlaybooks unzips the bundle whatever InstallDependencies says); doctor cannot look inside the host',
        'on the host: command -v ansible-playbook unzip (both must print a path); or bake both into the image, or deploy with -c autoprov:ansibleInstall=autoprov, which installs them',
      );
    default:
      return check(
        'instance',
        'warn',
        title,
        mode === undefined
          ? "not checked: the stack's AnsibleInstall output is unknown"
          : `not checked: unknown ansibleInstall mode "${mode}"`,
        'pass --stack <name>; with ansibleInstall=preinstalled the image needs ansible-playbook and unzip',
      );
  }
}
