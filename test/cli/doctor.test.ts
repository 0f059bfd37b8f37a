import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, IAMClient, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkAnsibleInstall,
  checkBundlePolicy,
  checkEc2Instance,
  checkQueues,
  checkRecord,
  instanceProfileName,
} from '../../cli/commands/doctor-checks.js';
import { createTestTable, type TestTable } from '../helpers/ddb.js';
import { SAMPLE_INVENTORY, samplePlaybooksDir } from '../helpers/sample-inventory.js';
import {
  CONFIG,
  type LocalAws,
  runInProcess,
  runSubprocess,
  seedRecord,
  startLocalAws,
  useEnv,
} from './harness.js';

const POLICY = 'arn:aws:iam::123456789012:policy/AutoProvisionerBundleRead';
const DLQ = 'https://sqs.us-east-1.amazonaws.com/123456789012/AnsibleAutoProvisioner-FailedEvents';
const OPT_IN = { 'autoprov:enabled': 'true' };

// Created in beforeAll, restored in afterAll: a mock installed at collection time would leak into other suites.
const mockCfn = () => mockClient(CloudFormationClient);
const mockIam = () => mockClient(IAMClient);
const mockSqs = () => mockClient(SQSClient);

/** The check line for `title` in doctor's text output (mark + title). */
const lineOf = (stdout: string, title: string) =>
  stdout.split('\n').find((line) => line.includes(` ${title}: `)) ?? '';

describe('autoprov doctor against the local endpoints', () => {
  let aws: LocalAws;
  let table: TestTable;
  let env: Record<string, string>;
  let sfn: SFNClient;

  beforeAll(async () => {
    aws = await startLocalAws();
    table = await createTestTable();
    env = aws.env({ AUTOPROV_TABLE: table.tableName, AUTOPROV_STATE_MACHINE_ARN: aws.stateMachineArn });
    useEnv(env);
    sfn = new SFNClient({
      endpoint: aws.server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
    });
    aws.fleet.launch({ instanceId: 'i-0f000000000000001', name: 'untagged', tags: {} });
    aws.fleet.launch({
      instanceId: 'i-0f000000000000002',
      name: 'no-agent',
      tags: OPT_IN,
      agentOnlineAfterMs: null,
    });
    aws.fleet.launch({ instanceId: 'i-0f000000000000003', name: 'stopped', tags: OPT_IN });
    aws.fleet.managedNode('i-0f000000000000003'); // the agent registers while it runs…
    aws.fleet.stop('i-0f000000000000003'); // …then loses its connection
    aws.fleet.launch({ instanceId: 'i-0f000000000000004', name: 'failing', tags: OPT_IN });
    await seedRecord(table.store, {
      instanceId: 'i-0f000000000000004',
      name: 'failing',
      status: 'FAILED',
      reason: 'webserver.yml failed for good',
      playbooks: [{ file: 'webserver.yml', status: 'Failed', attempts: 3 }],
    });
    // Its run's execution, failed the way a broken workflow task fails.
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: aws.stateMachineArn,
        name: 'i-0f000000000000004-g1',
        input: JSON.stringify({ instanceId: 'i-0f000000000000004', generation: 1, fail: true }),
      }),
    );
    await aws.sfn.drain();
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('finds the missing opt-in tag and the missing record (bin as a subprocess, exit 1)', async () => {
    const run = await runSubprocess(['doctor', 'i-0f000000000000001'], env);

    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Instance i-0f000000000000001 (untagged)');
    expect(lineOf(run.stdout, 'State record')).toContain('✖ State record: no record');
    expect(lineOf(run.stdout, 'Opt-in tag')).toBe(
      '  ✖ Opt-in tag: autoprov:enabled is missing: the instance is not opted in',
    );
    expect(run.stdout).toContain(
      "fix: aws ec2 create-tags --resources i-0f000000000000001 --tags 'Key=autoprov:enabled,Value=true'",
    );
    expect(lineOf(run.stdout, 'SSM agent')).toMatch(/✔ SSM agent: Online/);
    expect(lineOf(run.stdout, 'EC2 state')).toBe('  ✔ EC2 state: running');
    expect(run.stdout).toMatch(/\d+ problems?, \d+ warnings?, \d+ ok/);
  });

  it('finds an agent that never registered', async () => {
    const run = await runInProcess(['doctor', 'i-0f000000000000002', '--json'], { env });

    expect(run.code).toBe(1);
    const document = JSON.parse(run.stdout) as {
      checks: { title: string; status: string; detail: string; fix?: string }[];
    };
    const agent = document.checks.find((c) => c.title === 'SSM agent');
    expect(agent).toMatchObject({
      status: 'fail',
      detail: 'not registered with Systems Manager: Run Command cannot reach it',
    });
    expect(agent?.fix).toContain('AmazonSSMManagedInstanceCore');
    expect(document.checks.find((c) => c.title === 'Opt-in tag')?.status).toBe('ok');
  });

  it('finds an agent that lost its connection on a stopped instance', async () => {
    const run = await runInProcess(['doctor', 'i-0f000000000000003'], { env });

    expect(run.code).toBe(1);
    expect(lineOf(run.stdout, 'SSM agent')).toMatch(
      /✖ SSM agent: ConnectionLost since .*: commands cannot be delivered/,
    );
    expect(lineOf(run.stdout, 'EC2 state')).toBe(
      '  ✖ EC2 state: stopped: playbooks run only on a running instance',
    );
  });

  it('reports the failed status, the failed execution and its error, and the stack health', async () => {
    const run = await runInProcess(['doctor', 'failing'], { env });

    expect(run.code).toBe(1);
    expect(lineOf(run.stdout, 'State record')).toBe(
      '  ✖ State record: FAILED at g1: webserver.yml failed for good; webserver.yml ended Failed after 3 attempts',
    );
    expect(lineOf(run.stdout, 'Last execution')).toBe(
      '  ✖ Last execution: i-0f000000000000004-g1 FAILED — PlaybookFailed: webserver.yml failed after 3 attempts',
    );
    expect(run.stdout).toContain(
      'fix: autoprov history i-0f000000000000004 links the full log; fix the cause, then autoprov retry i-0f000000000000004',
    );
    expect(lineOf(run.stdout, 'Recent failed executions')).toBe(
      '  ! Recent failed executions: 1 in the last 24 h: i-0f000000000000004-g1 (FAILED, execution FAILED)',
    );
    expect(lineOf(run.stdout, 'Dead-letter queues')).toContain(
      '! Dead-letter queues: not checked: no queue URL known',
    );
  });

  it('is never green on a failed host: a FAILED record whose execution SUCCEEDED (as the workflow ends) fails the execution check and counts as a recent failure', async () => {
    // The real workflow records a failed playbook, notifies, and ends SUCCEEDED.
    aws.fleet.launch({ instanceId: 'i-0f000000000000006', name: 'failed-playbook', tags: OPT_IN });
    await seedRecord(table.store, {
      instanceId: 'i-0f000000000000006',
      name: 'failed-playbook',
      status: 'FAILED',
      reason: 'webserver.yml: task "Install nginx" failed',
      playbooks: [{ file: 'webserver.yml', status: 'Failed', attempts: 3 }],
    });
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: aws.stateMachineArn,
        name: 'i-0f000000000000006-g1',
        input: JSON.stringify({ instanceId: 'i-0f000000000000006', generation: 1 }),
      }),
    );
    await aws.sfn.drain();

    const run = await runInProcess(['doctor', 'failed-playbook'], { env });

    expect(run.code).toBe(1);
    expect(run.stdout).not.toMatch(/✔ (Last execution|Recent failed executions)/);
    expect(lineOf(run.stdout, 'Last execution')).toBe(
      '  ✖ Last execution: i-0f000000000000006-g1 ended without a workflow error, but its run was recorded FAILED: webserver.yml: task "Install nginx" failed',
    );
    expect(lineOf(run.stdout, 'Recent failed executions')).toBe(
      '  ! Recent failed executions: 2 in the last 24 h: i-0f000000000000004-g1 (FAILED, execution FAILED), i-0f000000000000006-g1 (FAILED)',
    );
  });

  it('does not tell a terminated instance to start, nor check its profile and agent', async () => {
    aws.fleet.launch({ instanceId: 'i-0f000000000000007', name: 'gone', tags: OPT_IN });
    aws.fleet.managedNode('i-0f000000000000007');
    aws.fleet.terminate('i-0f000000000000007');

    const run = await runInProcess(['doctor', 'i-0f000000000000007', '--json'], { env });

    const document = JSON.parse(run.stdout) as {
      checks: { title: string; status: string; detail: string; fix?: string }[];
    };
    const text = JSON.stringify(document.checks);
    expect(text).not.toContain('start-instances');
    expect(text).not.toContain('make sure the instance is running');
    expect(document.checks.find((c) => c.title === 'EC2 state')).toMatchObject({
      status: 'fail',
      detail: 'terminated: the instance is gone for good and is never provisioned again',
    });
    expect(document.checks.find((c) => c.title === 'SSM agent')?.status).toBe('warn');
    expect(document.checks.map((c) => c.title)).not.toContain('Bundle read policy');
    expect(document.checks.map((c) => c.title)).not.toContain('Opt-in tag');
  });

  it('tells a hybrid node whose agent lost its connection about the node and its activation, not instance profiles', async () => {
    aws.fleet.launch({ instanceId: 'mi-0fedcba9876543210' });
    aws.fleet.managedNode('mi-0fedcba9876543210');
    aws.fleet.stop('mi-0fedcba9876543210');

    const run = await runInProcess(['doctor', 'mi-0fedcba9876543210', '--json'], { env });

    const document = JSON.parse(run.stdout) as {
      checks: { title: string; status: string; detail: string; fix?: string }[];
    };
    const agent = document.checks.find((c) => c.title === 'SSM agent');
    expect(agent?.status).toBe('fail');
    expect(agent?.fix).toContain('activation');
    const fixes = document.checks.map((c) => c.fix ?? '').join('\n');
    expect(fixes).not.toMatch(/instance profile|start-instances|instance is running/);
  });

  it('checks a hybrid node against the static inventory and skips the instance-profile check with a note', async () => {
    aws.fleet.launch({ instanceId: 'mi-0abcdef1234567890' });
    await seedRecord(table.store, {
      instanceId: 'mi-0abcdef1234567890',
      name: 'web-dc2-01',
      status: 'SUCCESS',
    });

    // The sample inventory lists it (the shipped rules.yaml enables no inventory).
    const rules = join(samplePlaybooksDir(), 'rules.yaml');
    const run = await runInProcess(['doctor', 'mi-0abcdef1234567890', '--rules', rules], { env });

    expect(lineOf(run.stdout, 'Static inventory')).toBe(
      `  ✔ Static inventory: listed in ${SAMPLE_INVENTORY} as web-dc2-01`,
    );
    expect(lineOf(run.stdout, 'Bundle read policy')).toBe(
      '  ! Bundle read policy: skipped: a hybrid node has no instance profile',
    );
    expect(lineOf(run.stdout, 'SSM agent')).toMatch(/✔ SSM agent: Online/);
    expect(run.stdout).not.toContain('Opt-in tag');
  });

  it('without an instance checks only the stack health', async () => {
    const run = await runInProcess(['doctor', '--json'], { env });

    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as {
      instanceId?: string;
      checks: { section: string; title: string }[];
    };
    expect(document.instanceId).toBeUndefined();
    expect(document.checks.map((c) => [c.section, c.title])).toEqual([
      ['stack', 'Dead-letter queues'],
      ['stack', 'Recent failed executions'],
    ]);
  });

  describe('with the stack outputs, IAM and SQS (mocked: no local emulator for them)', () => {
    let cfn: ReturnType<typeof mockCfn>;
    let iam: ReturnType<typeof mockIam>;
    let sqs: ReturnType<typeof mockSqs>;
    beforeAll(() => {
      cfn = mockCfn();
      iam = mockIam();
      sqs = mockSqs();
    });
    afterEach(() => {
      cfn.reset();
      iam.reset();
      sqs.reset();
    });
    afterAll(() => {
      cfn.restore();
      iam.restore();
      sqs.restore();
    });

    const stackOutputs = (ansibleInstall = 'autoprov') =>
      cfn.on(DescribeStacksCommand, { StackName: 'MyStack' }).resolves({
        Stacks: [
          {
            StackName: 'MyStack',
            CreationTime: new Date(),
            StackStatus: 'CREATE_COMPLETE',
            Outputs: [
              { OutputKey: 'TableName', OutputValue: table.tableName },
              { OutputKey: 'StateMachineArn', OutputValue: aws.stateMachineArn },
              { OutputKey: 'InstancePolicyArn', OutputValue: POLICY },
              { OutputKey: 'FailedEventsQueueUrl', OutputValue: DLQ },
              { OutputKey: 'AnsibleInstall', OutputValue: ansibleInstall },
            ],
          },
        ],
      });

    it('reads the DLQ and the instance policy from the outputs of --stack and reports a non-empty DLQ', async () => {
      stackOutputs();
      sqs.on(GetQueueAttributesCommand, { QueueUrl: DLQ }).resolves({
        Attributes: { ApproximateNumberOfMessages: '2', ApproximateNumberOfMessagesNotVisible: '1' },
      });
      const { AUTOPROV_TABLE: _t, AUTOPROV_STATE_MACHINE_ARN: _s, ...noNames } = env;

      const run = await runInProcess(['doctor', '--stack', 'MyStack'], { env: noNames });

      expect(run.code).toBe(1);
      expect(run.stdout).toContain('Stack health (stack MyStack)');
      expect(lineOf(run.stdout, 'Dead-letter queue AnsibleAutoProvisioner-FailedEvents')).toBe(
        '  ✖ Dead-letter queue AnsibleAutoProvisioner-FailedEvents: 3 messages: events or invocations that failed every retry',
      );
      expect(run.stdout).toContain(`aws sqs receive-message --queue-url ${DLQ}`);
      expect(lineOf(run.stdout, 'Recent failed executions')).toContain('2 in the last 24 h');
    });

    it('with ansibleInstall=preinstalled (stack output), says the image needs unzip and how to check it', async () => {
      stackOutputs('preinstalled');
      sqs.on(GetQueueAttributesCommand).resolves({
        Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' },
      });

      const run = await runInProcess(['doctor', 'i-0f000000000000003', '--stack', 'MyStack', '--json'], {
        env,
      });

      const document = JSON.parse(run.stdout) as {
        checks: { title: string; status: string; detail: string; fix?: string }[];
      };
      expect(document.checks.find((c) => c.title === 'Ansible on the host')).toEqual({
        section: 'instance',
        status: 'warn',
        title: 'Ansible on the host',
        detail:
          'ansibleInstall=preinstalled: the image must have ansible-playbook AND unzip (AWS-ApplyAnsiblePlaybooks unzips the bundle whatever InstallDependencies says); doctor cannot look inside the host',
        fix: 'on the host: command -v ansible-playbook unzip (both must print a path); or bake both into the image, or deploy with -c autoprov:ansibleInstall=autoprov, which installs them',
      });
    });

    it('passes every check for a provisioned instance whose role has the bundle policy (exit 0)', async () => {
      // Prepare: a healthy instance; EC2 is mocked for this test only because the local EC2 has no instance profiles.
      aws.fleet.launch({ instanceId: 'i-0f000000000000005', name: 'healthy', tags: OPT_IN });
      await seedRecord(table.store, {
        instanceId: 'i-0f000000000000005',
        name: 'healthy',
        status: 'SUCCESS',
      });
      await sfn.send(
        new StartExecutionCommand({
          stateMachineArn: aws.stateMachineArn,
          name: 'i-0f000000000000005-g1',
          input: JSON.stringify({ instanceId: 'i-0f000000000000005', generation: 1 }),
        }),
      );
      await aws.sfn.drain();
      const ec2 = mockClient(EC2Client);
      const instance: Instance = {
        InstanceId: 'i-0f000000000000005',
        State: { Name: 'running' },
        Tags: [
          { Key: 'Name', Value: 'healthy' },
          { Key: 'autoprov:enabled', Value: 'true' },
        ],
        IamInstanceProfile: { Arn: 'arn:aws:iam::123456789012:instance-profile/app/web-profile' },
      };
      ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance] }] });
      iam.on(GetInstanceProfileCommand, { InstanceProfileName: 'web-profile' }).resolves({
        InstanceProfile: {
          InstanceProfileName: 'web-profile',
          InstanceProfileId: 'AIPA',
          Path: '/app/',
          Arn: 'arn:aws:iam::123456789012:instance-profile/app/web-profile',
          CreateDate: new Date(),
          Roles: [
            {
              RoleName: 'web-role',
              RoleId: 'AROA',
              Path: '/',
              Arn: 'arn:aws:iam::123456789012:role/web-role',
              CreateDate: new Date(),
            },
          ],
        },
      });
      iam.on(ListAttachedRolePoliciesCommand, { RoleName: 'web-role' }).resolves({
        AttachedPolicies: [
          { PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' },
          { PolicyArn: POLICY },
        ],
      });
      sqs.on(GetQueueAttributesCommand).resolves({
        Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' },
      });

      stackOutputs();

      try {
        // Act: names from the environment, the rest (policy, DLQ) from the outputs of the explicit --stack.
        const run = await runInProcess(['doctor', 'i-0f000000000000005', '--stack', 'MyStack'], { env });

        expect(run.stdout).not.toContain('✖');
        expect(run.code).toBe(0);
        expect(lineOf(run.stdout, 'State record')).toMatch(/✔ State record: SUCCESS at g1/);
        expect(lineOf(run.stdout, 'Bundle read policy')).toBe(
          `  ✔ Bundle read policy: role web-role has ${POLICY}`,
        );
        expect(lineOf(run.stdout, 'Last execution')).toBe(
          '  ✔ Last execution: i-0f000000000000005-g1 SUCCEEDED',
        );
        expect(lineOf(run.stdout, 'Dead-letter queue AnsibleAutoProvisioner-FailedEvents')).toContain('✔');
        expect(lineOf(run.stdout, 'Ansible on the host')).toBe(
          '  ✔ Ansible on the host: ansibleInstall=autoprov: the ensure-Ansible step installs ansible-core and unzip before the first playbook',
        );
        expect(run.stdout).toContain('no problems');
      } finally {
        ec2.restore();
      }
    });
  });
});

describe('doctor checks', () => {
  let iam: ReturnType<typeof mockIam>;
  let sqs: ReturnType<typeof mockSqs>;
  beforeAll(() => {
    iam = mockIam();
    sqs = mockSqs();
  });
  afterEach(() => {
    iam.reset();
    sqs.reset();
  });
  afterAll(() => {
    iam.restore();
    sqs.restore();
  });
  const instance: Instance = {
    InstanceId: 'i-1',
    IamInstanceProfile: { Arn: 'arn:aws:iam::1:instance-profile/p' },
  };

  it('says what the host needs for each ansibleInstall mode, and that it could not check without the output', () => {
    expect(checkAnsibleInstall('autoprov')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('unzip'),
    });
    expect(checkAnsibleInstall('document')).toMatchObject({ status: 'ok' });
    const preinstalled = checkAnsibleInstall('preinstalled');
    expect(preinstalled.status).toBe('warn');
    expect(preinstalled.detail).toContain('ansible-playbook AND unzip');
    expect(preinstalled.fix).toContain('command -v ansible-playbook unzip');
    expect(checkAnsibleInstall(undefined)).toMatchObject({
      status: 'warn',
      detail: "not checked: the stack's AnsibleInstall output is unknown",
    });
  });

  it('names the instance profile from its ARN', () => {
    expect(instanceProfileName('arn:aws:iam::123456789012:instance-profile/path/to/prof')).toBe('prof');
  });

  it('fails a role without the bundle policy, with the attach command as the fix', async () => {
    iam.on(GetInstanceProfileCommand).resolves({ InstanceProfile: { Roles: [{ RoleName: 'r' }] } as never });
    iam
      .on(ListAttachedRolePoliciesCommand)
      .resolves({ AttachedPolicies: [{ PolicyArn: 'arn:aws:iam::aws:policy/Other' }] });

    const result = await checkBundlePolicy(new IAMClient({}), instance, POLICY);

    expect(result).toMatchObject({
      status: 'fail',
      fix: `aws iam attach-role-policy --role-name r --policy-arn ${POLICY}`,
    });
  });

  it('follows ListAttachedRolePolicies pages', async () => {
    iam.on(GetInstanceProfileCommand).resolves({ InstanceProfile: { Roles: [{ RoleName: 'r' }] } as never });
    iam
      .on(ListAttachedRolePoliciesCommand)
      .resolvesOnce({ AttachedPolicies: [{ PolicyArn: 'a' }], IsTruncated: true, Marker: 'm1' })
      .resolvesOnce({ AttachedPolicies: [{ PolicyArn: POLICY }] });

    expect((await checkBundlePolicy(new IAMClient({}), instance, POLICY)).status).toBe('ok');
    expect(iam).toHaveReceivedCommandWith(ListAttachedRolePoliciesCommand, { RoleName: 'r', Marker: 'm1' });
  });

  it('fails an instance without a profile and warns when the policy ARN is unknown or IAM refuses', async () => {
    expect((await checkBundlePolicy(new IAMClient({}), { InstanceId: 'i-1' }, POLICY)).status).toBe('fail');

    iam.on(GetInstanceProfileCommand).resolves({ InstanceProfile: { Roles: [{ RoleName: 'r' }] } as never });
    iam.on(ListAttachedRolePoliciesCommand).resolves({ AttachedPolicies: [] });
    expect(await checkBundlePolicy(new IAMClient({}), instance, undefined)).toMatchObject({
      status: 'warn',
      fix: 'pass --stack <name> so doctor can read the outputs',
    });

    iam
      .on(GetInstanceProfileCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDenied' }));
    expect(await checkBundlePolicy(new IAMClient({}), instance, POLICY)).toMatchObject({
      status: 'warn',
      detail: 'could not check: AccessDenied: not authorized',
    });
  });

  it('reports an empty queue as ok and a queue error as could-not-check', async () => {
    sqs
      .on(GetQueueAttributesCommand, { QueueUrl: DLQ })
      .resolves({ Attributes: { ApproximateNumberOfMessages: '0' } });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: `${DLQ}-2` }).rejects(new Error('boom'));

    const checks = await checkQueues(new SQSClient({}), [DLQ, `${DLQ}-2`]);

    expect(checks.map((c) => c.status)).toEqual(['ok', 'warn']);
  });

  it('explains each record status with its fix', () => {
    const now = new Date('2025-01-01T00:00:00.000Z');
    const record = {
      instanceId: 'i-1',
      source: 'ec2',
      facts: { instanceId: 'i-1', source: 'ec2', tags: {}, groups: [], vars: {} },
      factsHash: 'h',
      generation: 2,
      held: false,
      createdAt: 'x',
      updatedAt: '2024-12-31T00:00:00.000Z',
    } as const;
    expect(checkRecord('i-1', { ...record, status: 'SKIPPED' }, CONFIG, now)[0]).toMatchObject({
      status: 'warn',
    });
    expect(
      checkRecord('i-1', { ...record, status: 'ORPHANED', reason: 'terminated' }, CONFIG, now)[0]?.fix,
    ).toBe('nothing to do: a terminated instance is never provisioned again');
    expect(
      checkRecord(
        'i-1',
        { ...record, status: 'RUNNING', leaseExpiresAt: '2024-12-31T23:00:00.000Z' },
        CONFIG,
        now,
      )[0]?.status,
    ).toBe('fail');
    expect(
      checkRecord(
        'i-1',
        { ...record, status: 'RUNNING', leaseExpiresAt: '2025-01-01T01:00:00.000Z' },
        CONFIG,
        now,
      )[0]?.status,
    ).toBe('warn');
    const held = checkRecord('i-1', { ...record, status: 'SUCCESS', held: true }, CONFIG, now);
    expect(held.map((c) => [c.title, c.status])).toEqual([
      ['Hold', 'fail'],
      ['State record', 'ok'],
    ]);
  });

  it('flags a wrong opt-in value and a hold tag on the EC2 instance', () => {
    const checks = checkEc2Instance(
      'i-1',
      {
        State: { Name: 'running' },
        Tags: [
          { Key: 'autoprov:enabled', Value: 'yes' },
          { Key: 'autoprov:hold', Value: 'true' },
        ],
      },
      CONFIG,
    );
    expect(checks.map((c) => [c.title, c.status])).toEqual([
      ['EC2 state', 'ok'],
      ['Opt-in tag', 'fail'],
      ['Hold tag', 'fail'],
    ]);
    expect(checks[1]?.detail).toBe('autoprov:enabled=yes, but opting in needs the value "true"');
  });
});
