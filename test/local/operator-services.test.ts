// The local endpoint's operator-side services (what the autoprov CLI calls on a deployed stack), through
// the real SDK clients: CloudFormation DescribeStacks, SQS GetQueueAttributes, IAM GetInstanceProfile /
// ListAttachedRolePolicies, and the IAM policy evaluation the local SSM agent relies on.
import {
  CloudFormationClient,
  type CloudFormationServiceException,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, IAMClient, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { GetQueueAttributesCommand, QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileBundle } from '../../functions/core/bundle.js';
import { PLAYBOOKS_DIR } from '../../infra/paths.js';
import { synthTemplate } from '../../infra/synth.js';
import { type AwsServer, startAwsServer } from '../../scripts/local/aws-server.js';
import { Fleet, LOCAL_INSTANCE_PROFILE } from '../../scripts/local/fleet.js';
import { accessKeyIdOf } from '../../scripts/local/protocol.js';
import { CloudFormationEmulator } from '../../scripts/local/services/cloudformation.js';
import { Ec2Emulator } from '../../scripts/local/services/ec2.js';
import {
  IamEmulator,
  type PolicyDocument,
  type PolicyStatement,
  SSM_CORE_POLICY_ARN,
} from '../../scripts/local/services/iam.js';
import { OUTPUT_UPLOAD_ACL, putObjectActions } from '../../scripts/local/services/s3.js';
import { SqsEmulator } from '../../scripts/local/services/sqs.js';
import { SsmEmulator } from '../../scripts/local/services/ssm.js';
import { SsmDocuments } from '../../scripts/local/ssm-documents.js';
import {
  envOf,
  functionOf,
  resolved,
  resources,
  roleOf,
  statementsOfRole,
  type Template,
} from '../infra/template-helpers.js';

const ACCOUNT = '123456789012';
const POLICY = `arn:aws:iam::${ACCOUNT}:policy/BundleRead`;
const BUCKET = 'artifacts-bucket';
const QUEUE = `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/FailedEvents`;

describe('local operator services', () => {
  let server: AwsServer;
  let depth = 0;
  const iam = new IamEmulator(ACCOUNT);
  const fleet = new Fleet({ emit: () => {}, seed: 3 });
  const clientConfig = () => ({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });

  beforeAll(async () => {
    iam.addManagedPolicy(POLICY, {
      Statement: [
        { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${BUCKET}/bundle/*` },
        { Effect: 'Deny', Action: 's3:*', Resource: `arn:aws:s3:::${BUCKET}/bundle/secret.zip` },
      ],
    });
    iam.addInstanceProfile(LOCAL_INSTANCE_PROFILE, [SSM_CORE_POLICY_ARN, POLICY]);
    iam.addInstanceProfile('SsmCoreOnly', [SSM_CORE_POLICY_ARN]);
    const sqs = new SqsEmulator();
    sqs.addQueue(QUEUE, () => depth);
    fleet.launch({ instanceId: 'i-0aaaaaaaaaaaaaaa1', name: 'with-profile' });
    fleet.launch({ instanceId: 'i-0aaaaaaaaaaaaaaa2', name: 'without', instanceProfile: null });
    server = await startAwsServer({
      emulators: [
        new Ec2Emulator(fleet),
        iam,
        sqs,
        new CloudFormationEmulator({
          name: 'AnsibleAutoProvisioner',
          region: 'us-east-1',
          account: ACCOUNT,
          outputs: [
            { key: 'TableName', value: 'StateTable', description: 'the table' },
            { key: 'FailedEventsQueueUrl', value: QUEUE },
          ],
        }),
      ],
    });
  });

  afterAll(async () => {
    fleet.dispose();
    await server?.stop();
  });

  it('DescribeStacks returns the outputs, and ValidationError for another stack', async () => {
    // Arrange
    const cfn = new CloudFormationClient(clientConfig());

    // Act
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: 'AnsibleAutoProvisioner' }));
    const missing = await cfn
      .send(new DescribeStacksCommand({ StackName: 'Other' }))
      .catch((e: unknown) => e as CloudFormationServiceException);

    // Assess
    expect(Stacks?.[0]?.StackStatus).toBe('CREATE_COMPLETE');
    expect(Stacks?.[0]?.Outputs).toEqual([
      { OutputKey: 'TableName', OutputValue: 'StateTable', Description: 'the table' },
      { OutputKey: 'FailedEventsQueueUrl', OutputValue: QUEUE },
    ]);
    expect(missing).toMatchObject({ name: 'ValidationError', message: 'Stack with id Other does not exist' });
  });

  it('GetQueueAttributes reports the depth it is given, and QueueDoesNotExist for another URL', async () => {
    // Arrange
    const sqs = new SQSClient({ ...clientConfig(), useQueueUrlAsEndpoint: false });
    depth = 3;

    // Act
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: QUEUE, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    const missing = await sqs
      .send(new GetQueueAttributesCommand({ QueueUrl: `${QUEUE}-nope`, AttributeNames: ['All'] }))
      .catch((e: unknown) => e);

    // Assess
    expect(Attributes).toEqual({ ApproximateNumberOfMessages: '3' });
    expect(missing).toBeInstanceOf(QueueDoesNotExist);
  });

  it('an instance shows its profile in DescribeInstances, and IAM resolves its role and policies', async () => {
    // Arrange
    const ec2 = new EC2Client(clientConfig());
    const client = new IAMClient(clientConfig());

    // Act
    const { Reservations } = await ec2.send(new DescribeInstancesCommand({}));
    const instances = (Reservations ?? []).flatMap((r) => r.Instances ?? []);
    const profileArn = instances.find((i) => i.InstanceId === 'i-0aaaaaaaaaaaaaaa1')?.IamInstanceProfile?.Arn;
    const { InstanceProfile } = await client.send(
      new GetInstanceProfileCommand({ InstanceProfileName: LOCAL_INSTANCE_PROFILE }),
    );
    const { AttachedPolicies } = await client.send(
      new ListAttachedRolePoliciesCommand({ RoleName: InstanceProfile?.Roles?.[0]?.RoleName }),
    );
    const missing = await client
      .send(new GetInstanceProfileCommand({ InstanceProfileName: 'Nope' }))
      .catch((e: unknown) => e);

    // Assess
    expect(profileArn).toBe(`arn:aws:iam::${ACCOUNT}:instance-profile/${LOCAL_INSTANCE_PROFILE}`);
    expect(instances.find((i) => i.InstanceId === 'i-0aaaaaaaaaaaaaaa2')?.IamInstanceProfile).toBeUndefined();
    expect(AttachedPolicies?.map((p) => p.PolicyArn)).toEqual([SSM_CORE_POLICY_ARN, POLICY]);
    expect(missing).toMatchObject({ name: 'NoSuchEntityException' });
  });

  it('evaluates identity policies: Allow by resource pattern, explicit Deny wins, nothing else allowed', () => {
    // Act / Assess
    const object = (key: string) => `arn:aws:s3:::${BUCKET}/${key}`;
    expect(iam.denial(LOCAL_INSTANCE_PROFILE, 's3:GetObject', object('bundle/abc.zip'))).toBeUndefined();
    expect(iam.denial(LOCAL_INSTANCE_PROFILE, 'S3:getobject', object('bundle/abc.zip'))).toBeUndefined();
    expect(iam.denial(LOCAL_INSTANCE_PROFILE, 's3:GetObject', object('bundle/secret.zip'))).toMatch(
      /explicit deny/,
    );
    expect(iam.denial(LOCAL_INSTANCE_PROFILE, 's3:GetObject', object('commands/out'))).toMatch(
      /no identity-based policy allows the s3:GetObject action/,
    );
    expect(iam.denial(LOCAL_INSTANCE_PROFILE, 's3:PutObject', object('bundle/abc.zip'))).toBeDefined();
    expect(iam.denial('SsmCoreOnly', 's3:GetObject', object('bundle/abc.zip'))).toMatch(/not authorized/);
    expect(iam.denial('Nope', 's3:GetObject', object('bundle/abc.zip'))).toBe('no instance profile Nope');
  });

  it('authorizes a known principal per resource, with ssm:resourceTag conditions; others are not checked', () => {
    // Arrange: the shape of the run-command role's SendCommand statements
    const documentArn = 'arn:aws:ssm:us-east-1::document/AWS-ApplyAnsiblePlaybooks';
    const instance = (id: string) => `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/${id}`;
    iam.addPrincipal('LOCALrunCommand', 'RunCommandRole', [
      { Effect: 'Allow', Action: 'ssm:SendCommand', Resource: documentArn },
      {
        Effect: 'Allow',
        Action: 'ssm:SendCommand',
        Resource: [`arn:aws:ec2:us-east-1:${ACCOUNT}:instance/*`],
        Condition: { StringEquals: { 'ssm:resourceTag/autoprov:enabled': 'true' } },
      },
      { Effect: 'Allow', Action: 'ssm:SendCommand', Resource: instance('i-0listed000000000') },
      {
        Effect: 'Allow',
        Action: 'ssm:SendCommand',
        Resource: '*',
        Condition: { NumericLessThan: { 'ssm:resourceTag/tier': '3' } },
      },
    ]);
    const send = (arn: string, tags: Record<string, string> = {}) =>
      iam.authorize('LOCALrunCommand', 'ssm:SendCommand', [
        { arn: documentArn, tags: {} },
        { arn, tags },
      ]);

    // Act / Assess
    expect(send(instance('i-0aaaaaaaaaaaaaaa1'), { 'autoprov:enabled': 'true' })).toBeUndefined();
    expect(send(instance('i-0listed000000000'))).toBeUndefined();
    expect(send(instance('i-0aaaaaaaaaaaaaaa1'), { 'autoprov:enabled': 'false' })).toMatch(
      /assumed-role\/RunCommandRole\/LOCALrunCommand is not authorized to perform: ssm:SendCommand on resource: arn:aws:ec2:.*i-0aaaaaaaaaaaaaaa1 because no identity-based policy allows/,
    );
    // An unsupported condition operator never makes an Allow apply (fail closed).
    expect(send(instance('i-0bbbbbbbbbbbbbbb2'), { tier: '1' })).toMatch(/not authorized/);
    expect(
      iam.authorize('LOCALrunCommand', 'ssm:SendCommand', [
        { arn: 'arn:aws:ssm:us-east-1::document/Other', tags: {} },
      ]),
    ).toMatch(/document\/Other/);
    expect(
      iam.authorize('operator', 'ssm:SendCommand', [{ arn: instance('i-0x'), tags: {} }]),
    ).toBeUndefined();
    expect(
      iam.authorize(undefined, 'ssm:SendCommand', [{ arn: instance('i-0x'), tags: {} }]),
    ).toBeUndefined();
  });

  it('authorizes SendCommand on the output bucket the request names too, with the run-command role as synthesized', async () => {
    // Arrange: local SSM whose IAM is the synthesized run-command role; an opted-in instance
    const template = synthTemplate() as Template;
    const [, runCommand] = functionOf(template, 'run-command');
    const outputBucket = String(resolved(template, envOf(runCommand).OUTPUT_BUCKET));
    const roleIam = new IamEmulator(ACCOUNT);
    roleIam.addPrincipal(
      'LOCALrunCommand',
      'RunCommandRole',
      statementsOfRole(template, roleOf(runCommand)) as unknown as PolicyStatement[],
    );
    const { tagKey, tagValue } = compileBundle(PLAYBOOKS_DIR).config.optIn;
    fleet.launch({ instanceId: 'i-0aaaaaaaaaaaaaaa3', name: 'opted-in', tags: { [tagKey]: tagValue } });
    const ssmServer = await startAwsServer({
      emulators: [
        new SsmEmulator({
          nodes: fleet,
          documents: new SsmDocuments(),
          runner: { submit: () => {}, cancel: () => {} },
          account: ACCOUNT,
          authorize: (request, action, resources) =>
            roleIam.authorize(accessKeyIdOf(request), action, resources),
          tagsOf: (id) => fleet.get(id)?.tags ?? {},
        }),
      ],
    });
    const ssm = new SSMClient({
      ...clientConfig(),
      endpoint: ssmServer.endpoint,
      credentials: { accessKeyId: 'LOCALrunCommand', secretAccessKey: 'local' },
    });
    const send = (bucket: string) =>
      ssm
        .send(
          new SendCommandCommand({
            DocumentName: 'AWS-ApplyAnsiblePlaybooks',
            InstanceIds: ['i-0aaaaaaaaaaaaaaa3'],
            OutputS3BucketName: bucket,
          }),
        )
        .then(
          () => 'sent',
          (error: Error) => `${error.name}: ${error.message}`,
        );

    // Act
    const ours = await send(outputBucket);
    const foreign = await send('someone-elses-bucket');
    await ssmServer.stop();

    // Assess: our bucket passes IAM (the emulator then looks for the document, which this one lacks)
    expect(ours).toMatch(/^InvalidDocument: /);
    expect(foreign).toBe(
      `AccessDeniedException: User: arn:aws:sts::${ACCOUNT}:assumed-role/RunCommandRole/LOCALrunCommand is not authorized to perform: ssm:SendCommand on resource: arn:aws:s3:::someone-elses-bucket because no identity-based policy allows the ssm:SendCommand action`,
    );
  });

  it('lets an instance with the synthesized InstancePolicy upload command output as the agent does (PutObject with its ACL), under commands/ only', () => {
    // Arrange: the stack's InstancePolicy, resolved, on a profile next to the SSM core policy
    const template = synthTemplate() as Template;
    const [policyId, policy] = resources(template, 'AWS::IAM::ManagedPolicy')[0] ?? [];
    const [, runCommand] = functionOf(template, 'run-command');
    const bucket = String(resolved(template, envOf(runCommand).OUTPUT_BUCKET));
    const local = new IamEmulator(ACCOUNT);
    local.addManagedPolicy(String(policyId), resolved(template, policy?.PolicyDocument) as PolicyDocument);
    local.addInstanceProfile('Provisioned', [SSM_CORE_POLICY_ARN, String(policyId)]);
    const upload = (key: string) =>
      putObjectActions(OUTPUT_UPLOAD_ACL).map((action) =>
        local.denial('Provisioned', action, `arn:aws:s3:::${bucket}/${key}`),
      );

    // Act / Assess
    expect(putObjectActions(OUTPUT_UPLOAD_ACL)).toEqual(['s3:PutObject', 's3:PutObjectAcl']);
    expect(upload('commands/i-0x-g1/cmd/i-0x/awsrunShellScript/runShellScript/stdout')).toEqual([
      undefined,
      undefined,
    ]);
    expect(upload('bundle/playbooks.zip')).toEqual([
      expect.stringMatching(/not authorized to perform: s3:PutObject /),
      expect.stringMatching(/not authorized to perform: s3:PutObjectAcl /),
    ]);
  });

  it('an EC2 instance without a profile never registers with SSM', () => {
    // Act / Assess
    expect(fleet.get('i-0aaaaaaaaaaaaaaa2')?.agentOnlineAfterMs).toBeNull();
    expect(fleet.managedNode('i-0aaaaaaaaaaaaaaa2')).toBeUndefined();
    expect(fleet.managedNode('i-0aaaaaaaaaaaaaaa1')?.pingStatus).toBe('Online');
  });
});
