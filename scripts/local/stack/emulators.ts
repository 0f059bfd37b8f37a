// The AWS services the stack talks to, as local stand-ins configured from the synthesized template: the
// simulated fleet and its event bus, S3 with the playbook bundle, SNS topics with their access policies, the
// alarms, Secrets Manager, Step Functions, IAM with the fleet's instance profiles, CloudFormation's outputs,
// the dead-letter queues, and SSM Run Command with the local agent that runs the commands.
import { join } from 'node:path';
import { SSM_ONLY_INSTANCE_PROFILE } from '../../../cli/fleet-file.js';
import { type BusEvent, EventBus } from '../event-bus.js';
import { Fleet, type FleetFile, FleetFileError, LOCAL_INSTANCE_PROFILE } from '../fleet.js';
import { functionAccessKeyId } from '../function-host.js';
import { accessKeyIdOf } from '../protocol.js';
import { CloudFormationEmulator } from '../services/cloudformation.js';
import { CloudWatchAlarms } from '../services/cloudwatch.js';
import { IamEmulator, SSM_CORE_POLICY_ARN } from '../services/iam.js';
import { S3Store } from '../services/s3.js';
import { SecretsManagerEmulator } from '../services/secrets-manager.js';
import { SfnEmulator } from '../services/sfn.js';
import { SnsEmulator } from '../services/sns.js';
import { SqsEmulator } from '../services/sqs.js';
import { SsmEmulator } from '../services/ssm.js';
import { LocalSsmAgent } from '../ssm-agent.js';
import { bundleZip, type LocalStackSpec } from '../template.js';
import { localDocuments } from './documents.js';
import type { Cleanups, LocalStackOptions, StackDirs } from './options.js';

export interface LocalEmulators {
  readonly bus: EventBus;
  readonly fleet: Fleet;
  readonly s3: S3Store;
  readonly sns: SnsEmulator;
  readonly cloudwatch: CloudWatchAlarms;
  readonly secrets: SecretsManagerEmulator;
  readonly sfn: SfnEmulator;
  readonly iam: IamEmulator;
  readonly cloudFormation: CloudFormationEmulator;
  readonly sqs: SqsEmulator;
  readonly agent: LocalSsmAgent;
  readonly ssm: SsmEmulator;
  /** What the dead-letter queues' depth counts: set once the async invoker exists. */
  readonly deadLetters: { count: () => number };
}

/** Creates the stand-ins; fails (FleetFileError) when the fleet file names an instance profile local IAM lacks. */
export function createEmulators(
  spec: LocalStackSpec,
  fleetFile: FleetFile,
  options: LocalStackOptions & { readonly seed: number },
  dirs: StackDirs,
  progress: (message: string) => void,
  cleanups: Cleanups,
): LocalEmulators {
  const { seed } = options;
  const { stateDir, logDir, sandboxRoot } = dirs;
  const bus = new EventBus({ faults: options.eventFaults, seed: seed + 2 });
  const fleet = new Fleet({
    ...options.fleetOptions,
    emit: (event: BusEvent) => bus.put(event),
    seed: seed + 3,
    account: spec.account,
    region: spec.region,
  });
  cleanups.push(() => fleet.dispose());
  const s3 = new S3Store();
  for (const bucket of spec.buckets) s3.createBucket(bucket);
  for (const bundle of spec.bundles) {
    s3.createBucket(bundle.bucket);
    s3.put(bundle.bucket, bundle.key, bundleZip(bundle.assetPath), { contentType: 'application/zip' });
  }
  const sns = new SnsEmulator({ account: spec.account, region: spec.region });
  for (const topic of spec.topics) sns.createTopic(topic);
  for (const policy of spec.topicPolicies) {
    for (const topic of policy.topics) sns.setTopicPolicy(topic, policy.document);
  }
  const cloudwatch = new CloudWatchAlarms({
    alarms: spec.alarms,
    account: spec.account,
    region: spec.region,
    publish: (publisher, topic, message, subject) => sns.publishAsService(publisher, topic, message, subject),
  });
  const secrets = new SecretsManagerEmulator({ account: spec.account, region: spec.region });
  const sfn = new SfnEmulator({ account: spec.account, region: spec.region });
  const iam = localIam(spec);
  assertInstanceProfiles(fleetFile, iam);
  const cloudFormation = new CloudFormationEmulator({
    name: spec.stackName,
    region: spec.region,
    account: spec.account,
    outputs: spec.outputs,
  });
  // The dead-letter queue's depth is local mode's dead letters (failed async invocations).
  const deadLetters = { count: () => 0 };
  const sqs = new SqsEmulator();
  for (const url of spec.queues) sqs.addQueue(url, () => deadLetters.count());

  const runCommandEnv = spec.functions.find((f) => f.environment.ANSIBLE_INSTALL_DOCUMENT)?.environment ?? {};
  const documents = localDocuments(
    spec,
    options.simulatedAnsible,
    runCommandEnv.ANSIBLE_INSTALL_DOCUMENT,
    progress,
  );
  const agent = new LocalSsmAgent({
    workRoot: join(stateDir, 'work'),
    sandboxRoot,
    logDir: join(logDir, 'commands'),
    s3,
    emit: (event) => bus.put(event),
    concurrency: options.agentConcurrency ?? 2,
    account: spec.account,
    region: spec.region,
    // An EC2 instance reads the bundle with its instance profile's role; hybrid nodes with their
    // activation's role, which local mode does not model (allowed).
    readDenied: (instanceId, bucket, key) => {
      const instance = fleet.get(instanceId);
      if (!instance || instance.kind === 'hybrid') return undefined;
      if (!instance.instanceProfile) return 'the instance has no instance profile';
      return iam.denial(instance.instanceProfile, 's3:GetObject', `arn:aws:s3:::${bucket}/${key}`);
    },
    // Command output is uploaded with the same credentials (PutObject with an ACL: PutObjectAcl too).
    writeDenied: (instanceId, bucket, key, action) => {
      const instance = fleet.get(instanceId);
      if (!instance || instance.kind === 'hybrid') return undefined;
      if (!instance.instanceProfile) return 'the instance has no instance profile';
      return iam.denial(instance.instanceProfile, action, `arn:aws:s3:::${bucket}/${key}`);
    },
  });
  // SendCommand is authorized with the calling function's role, as IAM would: the run-command role's
  // opt-in tag condition and its list of inventory hosts decide which hosts a command may reach.
  for (const f of spec.functions) {
    if (f.role) iam.addPrincipal(functionAccessKeyId(f.name), f.role.name, f.role.statements);
  }
  const ssm = new SsmEmulator({
    nodes: fleet,
    documents,
    runner: agent,
    region: spec.region,
    account: spec.account,
    authorize: (request, action, resources) => iam.authorize(accessKeyIdOf(request), action, resources),
    tagsOf: (instanceId) => fleet.get(instanceId)?.tags ?? {},
  });
  return { bus, fleet, s3, sns, cloudwatch, secrets, sfn, iam, cloudFormation, sqs, agent, ssm, deadLetters };
}

/**
 * The local IAM: the stack's managed policies, and two instance profiles for the simulated fleet —
 * LOCAL_INSTANCE_PROFILE (SSM core + the stack's InstancePolicyArn output, as the README's deploy steps
 * say) and SSM_ONLY_INSTANCE_PROFILE (the usual mistake).
 */
function localIam(spec: LocalStackSpec): IamEmulator {
  const iam = new IamEmulator(spec.account);
  for (const policy of spec.managedPolicies) iam.addManagedPolicy(policy.arn, policy.document);
  const instancePolicy = spec.outputs.find((o) => o.key === 'InstancePolicyArn')?.value;
  iam.addInstanceProfile(LOCAL_INSTANCE_PROFILE, [
    SSM_CORE_POLICY_ARN,
    ...(instancePolicy !== undefined ? [instancePolicy] : []),
  ]);
  iam.addInstanceProfile(SSM_ONLY_INSTANCE_PROFILE, [SSM_CORE_POLICY_ARN]);
  return iam;
}

/** Every instance profile a fleet file names must exist in the local IAM. */
function assertInstanceProfiles(file: FleetFile, iam: IamEmulator): void {
  const named = [file.defaults?.instanceProfile, ...file.instances.map((i) => i.instanceProfile)];
  for (const name of named) {
    if (typeof name === 'string' && !iam.hasInstanceProfile(name)) {
      throw new FleetFileError(
        `instanceProfile "${name}" does not exist in local mode; use one of ${iam
          .instanceProfileNames()
          .map((n) => `"${n}"`)
          .join(', ')}, or null for none`,
      );
    }
  }
}
