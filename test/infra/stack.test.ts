// The synthesized stack (bundling off): the properties that make it correct and least-privileged,
// asserted on resolved values, not on logical ids or resource counts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Annotations, Template as CdkTemplate, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileBundle } from '../../functions/core/bundle.js';
import { FLEET_INDEX, STATUS_INDEX, TTL_ATTRIBUTE } from '../../functions/shared/table-schema.js';
import { MAX_LISTED_INVENTORY_HOSTS } from '../../infra/constructs/auto-provisioner.js';
import { ENSURE_ANSIBLE_SCRIPT_FILE } from '../../infra/constructs/ensure-ansible-document.js';
import { PLAYBOOKS_DIR } from '../../infra/paths.js';
import { SettingsError } from '../../infra/settings.js';
import { synthApp, synthTemplate } from '../../infra/synth.js';
import { extractAsl } from '../../scripts/local/asl.js';
import { SAMPLE_NODES, samplePlaybooksDir } from '../helpers/sample-inventory.js';
import {
  envOf,
  functionOf,
  resolved,
  resources,
  roleOf,
  type Statement,
  statements,
  statementsOfRole,
  type Template,
} from './template-helpers.js';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const OPT_IN = compileBundle(PLAYBOOKS_DIR).config.optIn;

/** Actions that have no resource-level permissions in IAM, so `Resource: *` is the only option. */
const ALLOWED_ON_ANY_RESOURCE = new Set([
  'ssm:DescribeInstanceInformation', // agent check (state machine)
  'ec2:DescribeInstances', // detectors
  'ssm:GetCommandInvocation', // callback / check
  'ssm:CancelCommand', // run-command / check: cancel a superseded command
  'ssm:ListCommands', // run-command: find the command a retried step already sent (docs/adr/0009)
  'xray:PutTraceSegments', // tracing
  'xray:PutTelemetryRecords',
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
  // Step Functions execution logging (vended log delivery)
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
]);

/**
 * The stack with the sample inventory enabled (as local mode's demo runs it): the shipped rules.yaml lists
 * no inventory host, and the hybrid-node statements are only there with one.
 */
let template: Template;
let cdk: CdkTemplate;
beforeAll(() => {
  template = synthTemplate({ provisioner: { playbooksDir: samplePlaybooksDir() } }) as Template;
  cdk = CdkTemplate.fromJSON(template);
});

const single = <T>(list: T[], what: string): T => {
  expect(list, what).toHaveLength(1);
  return list[0] as T;
};
const stateMachine = () => single(resources(template, 'AWS::StepFunctions::StateMachine'), 'state machine');
const stateMachineArn = () =>
  `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${String(stateMachine()[1].StateMachineName)}`;
const tableArn = () => {
  const [id] = single(resources(template, 'AWS::DynamoDB::Table'), 'table');
  return `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}`;
};
const fnArn = (service: string) =>
  `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionOf(template, service)[0]}`;
const grants = (service: string) => statementsOfRole(template, roleOf(functionOf(template, service)[1]));
const withAction = (list: Statement[], action: string) => list.filter((s) => s.Action.includes(action));

describe('state table', () => {
  it('has the shared keys, on-demand billing, PITR, TTL and deletion protection, and is retained', () => {
    cdk.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        DeletionProtectionEnabled: true,
      }),
    });
  });

  it('has the status GSI and the sparse fleet GSI projecting exactly the FleetEntry attributes', () => {
    const [, table] = single(resources(template, 'AWS::DynamoDB::Table'), 'table');
    const gsis = table.GlobalSecondaryIndexes as Record<string, unknown>[];
    expect(gsis).toContainEqual({
      IndexName: STATUS_INDEX.name,
      KeySchema: [
        { AttributeName: STATUS_INDEX.partitionKey, KeyType: 'HASH' },
        { AttributeName: STATUS_INDEX.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    });
    expect(gsis).toContainEqual({
      IndexName: FLEET_INDEX.name,
      KeySchema: [
        { AttributeName: FLEET_INDEX.partitionKey, KeyType: 'HASH' },
        { AttributeName: FLEET_INDEX.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...FLEET_INDEX.projectedAttributes] },
    });
  });

  it('can turn deletion protection off through context', () => {
    const t = CdkTemplate.fromJSON(
      synthTemplate({ context: { 'autoprov:tableDeletionProtection': 'false' } }),
    );
    t.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
  });
});

describe('playbook bundle and buckets', () => {
  it('hardens every bucket: public access blocked, versioned, encrypted, TLS-only policy', () => {
    const buckets = resources(template, 'AWS::S3::Bucket');
    expect(buckets.length).toBeGreaterThanOrEqual(2);
    for (const [id, b] of buckets) {
      expect(b.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(b.VersioningConfiguration, id).toEqual({ Status: 'Enabled' });
      expect(b.BucketEncryption, id).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      const policies = resources(template, 'AWS::S3::BucketPolicy').filter(
        ([, p]) => (p.Bucket as { Ref?: string }).Ref === id,
      );
      const [, policy] = single(policies, `policy of ${id}`);
      const denies = (policy.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement.filter(
        (s) => s.Effect === 'Deny',
      );
      expect(denies, id).toContainEqual(
        expect.objectContaining({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('sends the artifacts bucket access logs to the logs bucket', () => {
    const logged = resources(template, 'AWS::S3::Bucket').filter(([, b]) => b.LoggingConfiguration);
    const [, artifacts] = single(logged, 'bucket with access logging');
    const target = (artifacts.LoggingConfiguration as { DestinationBucketName: { Ref: string } })
      .DestinationBucketName.Ref;
    expect(template.Resources[target]?.Type).toBe('AWS::S3::Bucket');
  });

  it('uploads playbooks/ as one zip object under bundle/ and gives run-command its https URL', () => {
    cdk.hasResourceProperties('Custom::CDKBucketDeployment', {
      Extract: false,
      Prune: false,
      DestinationBucketKeyPrefix: 'bundle/',
    });
    const url = String(resolved(template, envOf(functionOf(template, 'run-command')[1]).BUNDLE_URL));
    expect(url).toMatch(/^https:\/\/s3\.us-east-1\.amazonaws\.com\/[a-z0-9]+\/bundle\//);
  });

  it("offers a managed policy: read the bundle, write command output (with the agent's ACL), nothing else", () => {
    const [id] = single(resources(template, 'AWS::IAM::ManagedPolicy'), 'managed policy');
    const granted = statements(template).filter((s) => s.policy === id);
    const flat = granted.flatMap((s) => s.Action.map((a) => `${a} ${s.Resource.join(',')}`));
    expect(flat).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^s3:GetObject arn:aws:s3:::[a-z0-9]+\/bundle\/\*$/),
        expect.stringMatching(/^s3:PutObject arn:aws:s3:::[a-z0-9]+\/commands\/\*$/),
        // The agent uploads with the bucket-owner-full-control ACL: PutObjectAcl, on the same prefix only.
        expect.stringMatching(/^s3:PutObjectAcl arn:aws:s3:::[a-z0-9]+\/commands\/\*$/),
        expect.stringMatching(/^logs:PutLogEvents arn:aws:logs:/),
      ]),
    );
    expect(granted.flatMap((s) => s.Action).sort()).toEqual(
      [
        'logs:CreateLogStream',
        'logs:DescribeLogGroups',
        'logs:DescribeLogStreams',
        'logs:PutLogEvents',
        's3:GetEncryptionConfiguration',
        's3:GetObject',
        's3:PutObject',
        's3:PutObjectAcl',
      ].sort(),
    );
  });
});

describe('least privilege', () => {
  it('lets only run-command SendCommand: our two documents, opted-in hosts by tag condition, inventory hosts by id, output to our bucket', () => {
    const sends = withAction(statements(template), 'ssm:SendCommand');
    const runCommandRole = roleOf(functionOf(template, 'run-command')[1]);
    for (const s of sends) expect(s.roles).toEqual([runCommandRole]);
    const [docId] = single(resources(template, 'AWS::SSM::Document'), 'ensure-Ansible document');
    expect(sends).toHaveLength(4);
    const documents = sends.find((s) => !s.Condition && s.Resource.some((r) => r.includes(':document/')));
    const hosts = sends.find((s) => s.Condition);
    // SendCommand authorizes the OutputS3BucketName bucket too: exactly the artifacts bucket it writes to.
    const outputBucket = String(
      resolved(template, envOf(functionOf(template, 'run-command')[1]).OUTPUT_BUCKET),
    );
    const buckets = sends.filter((s) => s.Resource.some((r) => r.startsWith('arn:aws:s3:')));
    expect(buckets.map((s) => [s.Resource, s.Condition])).toEqual([
      [[`arn:aws:s3:::${outputBucket}`], undefined],
    ]);
    // The sample inventory (playbooks/inventory/onprem.example.ini) lists three SSM managed nodes, untagged:
    // being listed is their opt-in, so the policy names exactly them — no wildcard, no condition.
    const inventory = sends.find((s) => !s.Condition && s !== documents && !buckets.includes(s));
    expect(inventory?.Resource.sort()).toEqual(
      [...SAMPLE_NODES].map((id) => `arn:aws:ssm:${REGION}:${ACCOUNT}:managed-instance/${id}`),
    );
    expect(documents?.Action).toEqual(['ssm:SendCommand']);
    expect(documents?.Resource.sort()).toEqual(
      [
        `arn:aws:ssm:${REGION}::document/AWS-ApplyAnsiblePlaybooks`,
        `arn:aws:ssm:${REGION}:${ACCOUNT}:document/${docId}`,
      ].sort(),
    );
    expect(hosts?.Action).toEqual(['ssm:SendCommand']);
    expect(hosts?.Resource.sort()).toEqual(
      [
        `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/*`,
        `arn:aws:ssm:${REGION}:${ACCOUNT}:managed-instance/*`,
      ].sort(),
    );
    expect(hosts?.Condition).toEqual({
      StringEquals: { [`ssm:resourceTag/${OPT_IN.tagKey}`]: OPT_IN.tagValue },
    });
  });

  it('a plain deploy (the shipped rules.yaml) lets SendCommand reach no managed node by id', () => {
    const shipped = synthTemplate() as Template;
    const sends = withAction(statements(shipped), 'ssm:SendCommand');
    expect(sends.flatMap((s) => s.Resource).filter((r) => /managed-instance\/mi-/.test(r))).toEqual([]);
    // Our documents, tagged hosts, the output bucket: no statement naming hosts.
    expect(sends).toHaveLength(3);
  });

  it('names at most 100 inventory hosts in the policy; beyond that the synth warns to tag them instead', () => {
    // Arrange: the rules with an inventory of 101 managed nodes
    const shipped = compileBundle(samplePlaybooksDir());
    const host = shipped.inventoryHosts[0];
    if (!host) throw new Error('the sample inventory has no host');
    const many = Array.from({ length: MAX_LISTED_INVENTORY_HOSTS + 1 }, (_, i) => ({
      ...host,
      name: `node-${i}`,
      instanceId: `mi-${i.toString(16).padStart(17, '0')}`,
    }));

    // Act
    const { template: big, stack } = synthApp({
      provisioner: { rulesBundle: { ...shipped, inventoryHosts: many } },
    });

    // Assess
    const sends = withAction(statements(big as Template), 'ssm:SendCommand');
    expect(sends.flatMap((s) => s.Resource).filter((r) => /managed-instance\/mi-/.test(r))).toEqual([]);
    expect(sends).toHaveLength(3);
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('101 hosts'));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.entry.data)).toContain('add-tags-to-resource');
  });

  it('has no Action "*" or service-wide wildcard, and "*" resources only for actions without resource-level permissions', () => {
    const all = statements(template);
    expect(all.length).toBeGreaterThan(20);
    for (const s of all) {
      for (const action of s.Action) {
        expect(action, `${s.policy}`).not.toBe('*');
        expect(action, `${s.policy}`).not.toMatch(/^[a-z0-9-]+:\*$/);
      }
      if (s.Resource.includes('*')) {
        for (const action of s.Action)
          expect(ALLOWED_ON_ANY_RESOURCE, `${action} on * in ${s.policy}`).toContain(action);
      }
    }
  });

  it('grants ssm:DescribeInstanceInformation to the state machine only', () => {
    const smRole = (stateMachine()[1].RoleArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const holders = withAction(statements(template), 'ssm:DescribeInstanceInformation').flatMap(
      (s) => s.roles,
    );
    expect(holders).toEqual([smRole]);
  });

  it('scopes every DynamoDB action to the state table and its indexes', () => {
    const dynamo = statements(template).filter((s) => s.Action.some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.length).toBeGreaterThanOrEqual(8);
    for (const s of dynamo) {
      expect(s.Resource.sort()).toEqual([tableArn(), `${tableArn()}/index/*`].sort());
      expect(s.Action.every((a) => a.startsWith('dynamodb:'))).toBe(true);
      expect(s.Action).not.toContain('dynamodb:DeleteTable');
      expect(s.Action).not.toContain('dynamodb:Scan');
    }
  });

  it('scopes states:StartExecution and the task callbacks to the state machine', () => {
    for (const action of ['states:StartExecution', 'states:SendTaskSuccess', 'states:SendTaskFailure']) {
      const found = withAction(statements(template), action);
      expect(found.length, action).toBeGreaterThan(0);
      for (const s of found) expect(s.Resource, action).toEqual([stateMachineArn()]);
    }
    const starters = withAction(statements(template), 'states:StartExecution')
      .flatMap((s) => s.roles)
      .sort();
    expect(starters).toEqual(
      [roleOf(functionOf(template, 'event-detector')[1]), roleOf(functionOf(template, 'sweep')[1])].sort(),
    );
    const reporters = withAction(statements(template), 'states:SendTaskSuccess').flatMap((s) => s.roles);
    expect(reporters).toEqual([roleOf(functionOf(template, 'callback')[1])]);
  });

  it('lets only the callback and check-command read command output, GetObject on commands/ only (issue 12)', () => {
    const readers = statements(template).filter(
      (s) => s.Action.includes('s3:GetObject') && s.Resource.some((r) => r.includes('/commands/')),
    );
    expect(readers.flatMap((s) => s.roles).sort()).toEqual(
      [roleOf(functionOf(template, 'callback')[1]), roleOf(functionOf(template, 'check-command')[1])].sort(),
    );
    for (const s of readers) {
      expect(s.Action).toEqual(['s3:GetObject']);
      expect(s.Resource).toEqual([expect.stringMatching(/^arn:aws:s3:::[a-z0-9]+\/commands\/\*$/)]);
    }
  });

  it('lets only the detectors and the workflow invoke the notifier', () => {
    const smRole = (stateMachine()[1].RoleArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const notifier = fnArn('notifier');
    const invokers = withAction(statements(template), 'lambda:InvokeFunction')
      .filter((s) => s.Resource.some((r) => r === notifier || r.startsWith(`${notifier}:`)))
      .flatMap((s) => s.roles)
      .sort();
    expect([...new Set(invokers)]).toEqual(
      [
        roleOf(functionOf(template, 'event-detector')[1]),
        roleOf(functionOf(template, 'sweep')[1]),
        smRole,
      ].sort(),
    );
  });

  it('gives the notifier Publish on the topic and no secret access unless configured', () => {
    const [topicId] = single(resources(template, 'AWS::SNS::Topic'), 'topic');
    const publish = withAction(grants('notifier'), 'sns:Publish');
    expect(publish.flatMap((s) => s.Resource)).toEqual([`arn:aws:sns:${REGION}:${ACCOUNT}:${topicId}`]);
    expect(withAction(statements(template), 'secretsmanager:GetSecretValue')).toEqual([]);
    // No secrets key configured: kms:Decrypt only on the topic's own key, never through Secrets Manager.
    const [keyId] = single(resources(template, 'AWS::KMS::Key'), 'KMS key');
    expect(withAction(statements(template), 'kms:Decrypt').flatMap((s) => s.Resource)).toEqual([
      resolved(template, { 'Fn::GetAtt': [keyId, 'Arn'] }),
    ]);
    expect(envOf(functionOf(template, 'notifier')[1])).not.toHaveProperty('SLACK_SECRET_ARN');
  });
});

describe('chat secrets under a customer managed key', () => {
  it('gives the notifier kms:Decrypt on exactly the configured key, through Secrets Manager only', () => {
    const key = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
    const t = synthTemplate({
      context: {
        'autoprov:slackSecretArn': `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:autoprov/slack-AbCdEf`,
        'autoprov:secretsKmsKeyArn': key,
      },
    }) as Template;
    const decrypts = withAction(statements(t), 'kms:Decrypt').filter((s) => s.Resource.includes(key));
    expect(
      decrypts.map((s) => ({
        Action: s.Action,
        Resource: s.Resource,
        Condition: s.Condition,
        roles: s.roles,
      })),
    ).toEqual([
      {
        Action: ['kms:Decrypt'],
        Resource: [key],
        Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } },
        roles: [roleOf(functionOf(t, 'notifier')[1])],
      },
    ]);
  });
});

describe('functions', () => {
  const services = [
    'event-detector',
    'sweep',
    'match',
    'run-command',
    'callback',
    'check-command',
    'record',
    'notifier',
  ];

  it('run Node 22 on ARM64 with tracing, their own log group with retention, and the common env', () => {
    for (const service of services) {
      const [, fn] = functionOf(template, service);
      expect(fn.Runtime, service).toBe('nodejs22.x');
      expect(fn.Architectures, service).toEqual(['arm64']);
      expect(fn.TracingConfig, service).toEqual({ Mode: 'Active' });
      const logGroupRef = (fn.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(template.Resources[logGroupRef]?.Properties?.RetentionInDays, service).toBe(30);
      const env = envOf(fn);
      expect(env.TABLE_NAME, service).toEqual({
        Ref: single(resources(template, 'AWS::DynamoDB::Table'), 't')[0],
      });
      expect(env.HISTORY_DAYS, service).toBe('90');
      expect(env.POWERTOOLS_SERVICE_NAME, service).toBe(service);
    }
  });

  it('set the environment each handler reads', () => {
    const keys = (service: string) => Object.keys(envOf(functionOf(template, service)[1]));
    expect(keys('event-detector')).toEqual(
      expect.arrayContaining(['STATE_MACHINE_ARN', 'NOTIFIER_FUNCTION_NAME', 'LEASE_SECONDS']),
    );
    expect(keys('sweep')).toEqual(
      expect.arrayContaining(['STATE_MACHINE_ARN', 'NOTIFIER_FUNCTION_NAME', 'LEASE_SECONDS']),
    );
    expect(keys('match')).toEqual(
      expect.arrayContaining(['AGENT_CHECK_INTERVAL_SECONDS', 'TASK_TIMEOUT_MARGIN_SECONDS']),
    );
    expect(keys('run-command')).toEqual(
      expect.arrayContaining([
        'BUNDLE_URL',
        'APPLY_DOCUMENT',
        'ANSIBLE_INSTALL_DOCUMENT',
        'INSTALL_DEPENDENCIES',
        'OUTPUT_LOG_GROUP',
        'OUTPUT_BUCKET',
      ]),
    );
    expect(keys('callback')).toContain('OUTPUT_LOG_GROUP');
    expect(keys('notifier')).toEqual(expect.arrayContaining(['TOPIC_ARN', 'STATE_MACHINE_ARN']));
    const detectorEnv = envOf(functionOf(template, 'event-detector')[1]);
    expect(resolved(template, detectorEnv.STATE_MACHINE_ARN)).toBe(stateMachineArn());
    expect(resolved(template, envOf(functionOf(template, 'notifier')[1]).STATE_MACHINE_ARN)).toBe(
      stateMachineArn(),
    );
    expect(envOf(functionOf(template, 'run-command')[1]).APPLY_DOCUMENT).toBe('AWS-ApplyAnsiblePlaybooks');
  });

  it('builds check-command from the callback entry with its checkHandler export', () => {
    expect(functionOf(template, 'check-command')[1].Handler).toBe('index.checkHandler');
    expect(functionOf(template, 'callback')[1].Handler).toBe('index.handler');
  });

  it('sends failed asynchronous invocations of event-driven functions to the failed-events queue', () => {
    const [queueId] = single(resources(template, 'AWS::SQS::Queue'), 'queue');
    const configs = resources(template, 'AWS::Lambda::EventInvokeConfig');
    const covered = configs.map(([, c]) => {
      expect(c.DestinationConfig).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } });
      return String((c.FunctionName as { Ref: string }).Ref);
    });
    for (const service of ['event-detector', 'sweep', 'callback', 'notifier']) {
      expect(covered, service).toContain(functionOf(template, service)[0]);
    }
  });
});

describe('events, schedule and notifications', () => {
  it('gives every EventBridge target a retry policy and the dead-letter queue', () => {
    const [queueId] = single(resources(template, 'AWS::SQS::Queue'), 'queue');
    const rules = resources(template, 'AWS::Events::Rule');
    expect(rules).toHaveLength(4);
    for (const [id, rule] of rules) {
      for (const target of rule.Targets as Record<string, unknown>[]) {
        expect(target.DeadLetterConfig, id).toEqual({ Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } });
        expect(target.RetryPolicy, id).toEqual(expect.objectContaining({ MaximumRetryAttempts: 8 }));
      }
    }
  });

  it('enforces TLS on the dead-letter queue and the topic', () => {
    cdk.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    cdk.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('runs the sweep on a schedule whose role may invoke only the sweep, with a dead-letter queue', () => {
    const [, schedule] = single(resources(template, 'AWS::Scheduler::Schedule'), 'schedule');
    expect(schedule.ScheduleExpression).toBe('rate(5 minutes)');
    const target = resolved(template, schedule.Target) as Record<string, unknown>;
    expect(target.Arn).toBe(fnArn('sweep'));
    expect(target.DeadLetterConfig).toEqual({ Arn: expect.stringMatching(/^arn:aws:sqs:/) });
    const roleId = (schedule.Target as { RoleArn: { 'Fn::GetAtt': [string] } }).RoleArn['Fn::GetAtt'][0];
    const invokes = withAction(statementsOfRole(template, roleId), 'lambda:InvokeFunction');
    expect(invokes.flatMap((s) => s.Resource)).toEqual([fnArn('sweep')]);
  });

  it('subscribes the configured e-mail addresses and passes configured secrets to the notifier only', () => {
    const slack = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:autoprov/slack-AbCdEf`;
    const t = synthTemplate({
      context: {
        'autoprov:notificationEmails': 'ops@example.com, oncall@example.com',
        'autoprov:slackSecretArn': slack,
      },
    }) as Template;
    const subs = resources(t, 'AWS::SNS::Subscription').map(([, s]) => [s.Protocol, s.Endpoint]);
    expect(subs.sort()).toEqual([
      ['email', 'oncall@example.com'],
      ['email', 'ops@example.com'],
    ]);
    expect(envOf(functionOf(t, 'notifier')[1]).SLACK_SECRET_ARN).toBe(slack);
    const reads = withAction(statements(t), 'secretsmanager:GetSecretValue');
    expect(reads.flatMap((s) => s.Resource)).toEqual([slack]);
    expect(reads.flatMap((s) => s.roles)).toEqual([roleOf(functionOf(t, 'notifier')[1])]);
  });
});

describe('alarms and outputs', () => {
  /** Conditions that admit CloudWatch only on behalf of the stack's own alarms, named one by one. */
  const stackAlarmsOnly = () => {
    const names = resources(template, 'AWS::CloudWatch::Alarm').map(([, a]) => String(a.AlarmName));
    expect(names).toHaveLength(5);
    for (const name of names) expect(name).toMatch(/^AnsibleAutoProvisioner-[A-Za-z]+$/);
    return {
      StringEquals: { 'aws:SourceAccount': ACCOUNT },
      ArnEquals: { 'aws:SourceArn': names.map((n) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${n}`) },
    };
  };

  it('alarms to the topic on failed, throttled, aborted and timed-out executions and on the dead-letter queue', () => {
    const [topicId] = single(resources(template, 'AWS::SNS::Topic'), 'topic');
    const alarms = resources(template, 'AWS::CloudWatch::Alarm');
    const watched = alarms.map(([, a]) => {
      expect(a.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(a.Threshold).toBe(1);
      expect(a.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
      return `${String(a.Namespace)}/${String(a.MetricName)}`;
    });
    expect(watched.sort()).toEqual(
      [
        'AWS/States/ExecutionsFailed',
        // Step Functions names this one in the singular.
        'AWS/States/ExecutionThrottled',
        'AWS/States/ExecutionsAborted',
        'AWS/States/ExecutionsTimedOut',
        'AWS/SQS/ApproximateNumberOfMessagesVisible',
      ].sort(),
    );
  });

  it("encrypts the topic with a rotated customer managed key that only this account's alarms and the notifier use", () => {
    const [keyId, key] = single(resources(template, 'AWS::KMS::Key'), 'KMS key');
    const [topicId, topic] = single(resources(template, 'AWS::SNS::Topic'), 'topic');
    expect(key.EnableKeyRotation).toBe(true);
    expect(resolved(template, topic.KmsMasterKeyId)).toBe(
      resolved(template, { 'Fn::GetAtt': [keyId, 'Arn'] }),
    );
    const keyPolicy = resolved(template, key.KeyPolicy) as {
      Statement: { Principal?: { Service?: string }; Action: string[]; Condition?: unknown }[];
    };
    const alarms = keyPolicy.Statement.find((st) => st.Principal?.Service === 'cloudwatch.amazonaws.com');
    expect(alarms?.Action.sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(alarms?.Condition).toEqual(stackAlarmsOnly());
    // The notifier: Publish on this topic, the two key actions SNS needs on this key, nothing wider.
    const notifierRole = roleOf(functionOf(template, 'notifier')[1]);
    const granted = statements(template)
      .filter((st) => st.roles.includes(notifierRole))
      .flatMap((st) =>
        st.Action.filter((a) => /^(sns|kms):/.test(a)).map((a) => `${a} ${st.Resource.join(',')}`),
      );
    expect(granted.sort()).toEqual(
      [
        `kms:Decrypt ${resolved(template, { 'Fn::GetAtt': [keyId, 'Arn'] })}`,
        `kms:GenerateDataKey ${resolved(template, { 'Fn::GetAtt': [keyId, 'Arn'] })}`,
        `sns:Publish ${resolved(template, { Ref: topicId })}`,
      ].sort(),
    );
  });

  it("lets exactly the stack's alarms publish to the topic: the topic policy enforceSSL created replaced SNS's default one", () => {
    const [topicId] = single(resources(template, 'AWS::SNS::Topic'), 'topic');
    const [, policy] = single(resources(template, 'AWS::SNS::TopicPolicy'), 'topic policy');
    const document = resolved(template, policy.PolicyDocument) as {
      Statement: {
        Effect: string;
        Principal?: unknown;
        Action: unknown;
        Resource: unknown;
        Condition?: unknown;
      }[];
    };
    const allows = document.Statement.filter((st) => st.Effect === 'Allow');
    expect(allows).toEqual([
      {
        Sid: 'StackAlarmsPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: `arn:aws:sns:${REGION}:${ACCOUNT}:${topicId}`,
        Condition: stackAlarmsOnly(),
      },
    ]);
  });

  it('has a dashboard: outcomes per hour, runs, aborted/timed out/throttled, DLQ depth, function errors, alarms', () => {
    const [, dashboard] = single(resources(template, 'AWS::CloudWatch::Dashboard'), 'dashboard');
    const body = JSON.parse(String(resolved(template, dashboard.DashboardBody))) as {
      widgets: {
        type: string;
        properties: { title?: string; query?: string; metrics?: string[][]; alarms?: string[] };
      }[];
    };
    const metricNames = body.widgets.flatMap((w) =>
      (w.properties.metrics ?? []).map((m) => `${m[0]} ${m[1]}`),
    );
    expect(body.widgets.find((w) => w.type === 'log')?.properties.query).toMatch(
      /filter type = "TaskStateExited" and details\.name like \/\^Record\/[\s\S]*stats count\(\*\) by outcome, bin\(1h\)/,
    );
    for (const metric of [
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'ExecutionsStarted',
      'ExecutionsAborted',
      'ExecutionsTimedOut',
      'ExecutionThrottled',
    ]) {
      expect(metricNames).toContain(`AWS/States ${metric}`);
    }
    expect(metricNames).toContain('AWS/SQS ApproximateNumberOfMessagesVisible');
    expect(metricNames.filter((m) => m === 'AWS/Lambda Errors')).toHaveLength(8);
    const alarms = body.widgets.find((w) => w.type === 'alarm')?.properties.alarms ?? [];
    expect(alarms).toHaveLength(resources(template, 'AWS::CloudWatch::Alarm').length);
  });

  it('turns on CloudFormation validation against the default rules (cdk.json)', () => {
    const context = (
      JSON.parse(fs.readFileSync(path.join(PLAYBOOKS_DIR, '..', 'cdk.json'), 'utf8')) as {
        context: Record<string, unknown>;
      }
    ).context;
    expect(context['@aws-cdk/core:validateAgainstDefaultRules']).toBe(true);
  });

  it('outputs what an operator needs, pointing at the right resources', () => {
    const outputs = (template as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs;
    const value = (key: string) => String(resolved(template, outputs[key]?.Value));
    const [tableId] = single(resources(template, 'AWS::DynamoDB::Table'), 'table');
    const [topicId] = single(resources(template, 'AWS::SNS::Topic'), 'topic');
    const [policyId] = single(resources(template, 'AWS::IAM::ManagedPolicy'), 'policy');
    expect(value('TableName')).toBe(tableId);
    expect(value('StateMachineArn')).toBe(stateMachineArn());
    expect(value('StateMachineConsoleUrl')).toBe(
      `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/statemachines/view/${stateMachineArn()}`,
    );
    expect(value('TopicArn')).toBe(`arn:aws:sns:${REGION}:${ACCOUNT}:${topicId}`);
    expect(value('BundleLocation')).toMatch(/^s3:\/\/[a-z0-9]+\/bundle\//);
    expect(value('InstancePolicyArn')).toBe(`arn:aws:iam::${ACCOUNT}:policy/${policyId}`);
    // The CLI's doctor finds the dead-letter queue through this output.
    const queueRef = outputs.FailedEventsQueueUrl?.Value as { Ref?: string } | undefined;
    const queues = resources(template, 'AWS::SQS::Queue').map(([id]) => id);
    expect(queues).toContain(queueRef?.Ref);
    // doctor says what the image needs from this one (preinstalled: ansible-playbook and unzip).
    expect(value('AnsibleInstall')).toBe('autoprov');
    const preinstalled = synthTemplate({
      context: { 'autoprov:ansibleInstall': 'preinstalled' },
    }) as unknown as {
      Outputs: Record<string, { Value: unknown }>;
    };
    expect(preinstalled.Outputs.AnsibleInstall?.Value).toBe('preinstalled');
  });
});

describe('ansibleInstall modes', () => {
  const setup = (mode: string) => {
    const t = synthTemplate({ context: { 'autoprov:ansibleInstall': mode } }) as Template;
    const states = Object.keys((extractAsl(t) as { States: Record<string, unknown> }).States);
    const env = envOf(functionOf(t, 'run-command')[1]);
    const docs = withAction(statements(t), 'ssm:SendCommand')
      .flatMap((s) => s.Resource)
      .filter((r) => r.includes(':document/'));
    return { states, env, docs };
  };

  it('autoprov: ensure step in the workflow, InstallDependencies=False, our document allowed', () => {
    const { states, env, docs } = setup('autoprov');
    expect(states).toContain('Ensure Ansible is installed');
    expect(env.INSTALL_DEPENDENCIES).toBe('False');
    expect(docs).toHaveLength(2);
  });

  it('document: no ensure step, InstallDependencies=True, only AWS-ApplyAnsiblePlaybooks', () => {
    const { states, env, docs } = setup('document');
    expect(states).not.toContain('Ensure Ansible is installed');
    expect(env.INSTALL_DEPENDENCIES).toBe('True');
    expect(docs).toEqual([`arn:aws:ssm:${REGION}::document/AWS-ApplyAnsiblePlaybooks`]);
  });

  it('preinstalled: no ensure step, InstallDependencies=False', () => {
    const { states, env, docs } = setup('preinstalled');
    expect(states).not.toContain('Ensure Ansible is installed');
    expect(env.INSTALL_DEPENDENCIES).toBe('False');
    expect(docs).toHaveLength(1);
  });
});

describe('ensure-Ansible document', () => {
  it('is a schema 2.2 shell document: no-op when ansible-playbook exists, dnf / apt-get / yum otherwise', () => {
    const [, doc] = single(resources(template, 'AWS::SSM::Document'), 'document');
    expect(doc.DocumentType).toBe('Command');
    const content = doc.Content as {
      schemaVersion: string;
      mainSteps: { action: string; inputs: { runCommand: string[] } }[];
    };
    expect(content.schemaVersion).toBe('2.2');
    const [step] = content.mainSteps;
    expect(step?.action).toBe('aws:runShellScript');
    const script = step?.inputs.runCommand.join('\n') ?? '';
    expect(script).toMatch(/command -v ansible-playbook[^\n]*\n[^\n]*\n\s*exit 0/);
    expect(script).toContain('dnf install -y ansible-core');
    expect(script).toContain('apt-get');
    expect(script).toContain('yum install');
  });

  it('really is a no-op on a host that already has ansible-playbook and unzip', () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'autoprov-fake-bin-'));
    for (const tool of ['ansible-playbook', 'unzip', 'dnf', 'yum', 'apt-get', 'amazon-linux-extras']) {
      const body =
        tool === 'ansible-playbook'
          ? 'echo "ansible-playbook [core 2.14.18]"'
          : `echo ${tool} >> "${bin}/calls"`;
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    }
    const result = spawnSync('sh', [ENSURE_ANSIBLE_SCRIPT_FILE], {
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Ansible is already installed: ansible-playbook [core 2.14.18]');
    expect(fs.existsSync(path.join(bin, 'calls'))).toBe(false);
  });
});

describe('the ensure-Ansible script on each distribution (package managers replaced by recording shims)', () => {
  /**
   * Runs the script with only shims on PATH: each package manager records its arguments, and an install
   * that names ansible (ansible-core, ansible, ansible2) creates ansible-playbook — unless `installs` is false.
   */
  const play = (osRelease: string, options: { installs?: boolean; withDnf?: boolean } = {}) => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'autoprov-ensure-'));
    const log = path.join(bin, 'calls');
    const release = path.join(bin, 'os-release');
    fs.writeFileSync(release, osRelease);
    const creates =
      options.installs === false
        ? ''
        : `case "$*" in *ansible*) printf '#!/bin/sh\\necho "ansible-playbook [core 2.15.3]"\\n' > "${bin}/ansible-playbook"; chmod +x "${bin}/ansible-playbook";; esac`;
    const managers = ['yum', 'apt-get', 'amazon-linux-extras', ...(options.withDnf === false ? [] : ['dnf'])];
    for (const tool of managers) {
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> "${log}"\n${creates}\n`, {
        mode: 0o755,
      });
    }
    for (const tool of ['head', 'chmod']) fs.symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool));
    const result = spawnSync('/bin/sh', [ENSURE_ANSIBLE_SCRIPT_FILE], {
      encoding: 'utf8',
      env: { PATH: bin, AUTOPROV_OS_RELEASE: release },
    });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
    fs.rmSync(bin, { recursive: true, force: true });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
  };

  it('Amazon Linux 2023: dnf install ansible-core unzip', () => {
    const run = play('ID="amzn"\nVERSION_ID="2023"\n');
    expect(run.calls).toEqual(['dnf install -y ansible-core unzip']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Installing Ansible on amzn 2023');
    expect(run.stdout).toContain('Installed: ansible-playbook [core 2.15.3]');
  });

  it('Amazon Linux 2: amazon-linux-extras ansible2, then yum unzip', () => {
    const run = play('ID="amzn"\nVERSION_ID="2"\n');
    expect(run.calls).toEqual(['amazon-linux-extras install -y ansible2', 'yum install -y unzip']);
    expect(run.status).toBe(0);
  });

  it('Ubuntu 24.04: apt-get (waiting for the dpkg lock), ansible-core from the distribution, not pip', () => {
    const run = play('ID=ubuntu\nVERSION_ID="24.04"\nID_LIKE=debian\n');
    expect(run.calls).toEqual([
      'apt-get -o DPkg::Lock::Timeout=600 update -q',
      'apt-get -o DPkg::Lock::Timeout=600 install -y -q ansible-core unzip',
    ]);
    expect(run.status).toBe(0);
  });

  it('RHEL family: dnf when present, else EPEL and yum', () => {
    expect(play('ID="rocky"\nVERSION_ID="9.3"\n').calls).toEqual(['dnf install -y ansible-core unzip']);
    expect(play('ID="centos"\nVERSION_ID="7"\n', { withDnf: false }).calls).toEqual([
      'yum install -y epel-release',
      'yum install -y ansible unzip',
    ]);
  });

  it('a derivative is recognised by ID_LIKE', () => {
    const run = play('ID=linuxmint\nVERSION_ID="21"\nID_LIKE="ubuntu debian"\n');
    expect(run.calls).toEqual(['apt-get update -q', 'apt-get install -y -q ansible-core unzip']);
    expect(run.status).toBe(0);
  });

  it('fails with what to do on an unsupported distribution, and when the install left no ansible-playbook', () => {
    const alpine = play('ID=alpine\nVERSION_ID=3.19\n');
    expect(alpine.status).toBe(1);
    expect(alpine.calls).toEqual([]);
    expect(alpine.stderr).toContain(
      'Unsupported distribution alpine: install ansible-core yourself, or set ansibleInstall',
    );
    const broken = play('ID="amzn"\nVERSION_ID="2023"\n', { installs: false });
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('ansible-playbook is still missing after the install');
  });
});

describe('settings and validation at synth', () => {
  it('fails with the rules file error when rules.yaml is invalid', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'autoprov-bad-rules-'));
    fs.writeFileSync(path.join(dir, 'rules.yaml'), 'optIn: 42\nrules: "not a list"\n');
    let expected = '';
    try {
      compileBundle(dir);
    } catch (error) {
      expected = (error as Error).message;
    }
    expect(expected).not.toBe('');
    expect(() => synthTemplate({ provisioner: { playbooksDir: dir } })).toThrow(expected);
  });

  it('refuses an opt-in tag in context that differs from rules.yaml', () => {
    expect(() => synthTemplate({ context: { 'autoprov:optInTagKey': 'something-else' } })).toThrow(
      /Opt-in tag mismatch/,
    );
  });

  it('refuses a secrets key that is not a KMS key ARN, saying how to get one', () => {
    for (const bad of ['alias/autoprov', 'arn:aws:kms:us-east-1:123456789012:alias/autoprov', '1234abcd']) {
      expect(() => synthTemplate({ context: { 'autoprov:secretsKmsKeyArn': bad } })).toThrow(SettingsError);
    }
    expect(() => synthTemplate({ context: { 'autoprov:secretsKmsKeyArn': 'alias/autoprov' } })).toThrow(
      'Context autoprov:secretsKmsKeyArn must be the ARN of a KMS key, arn:aws:kms:<region>:<account>:key/<key id>, got "alias/autoprov".',
    );
  });

  it('rejects unknown ansibleInstall modes and log retentions CloudWatch does not offer', () => {
    expect(() => synthTemplate({ context: { 'autoprov:ansibleInstall': 'pip' } })).toThrow(SettingsError);
    expect(() => synthTemplate({ context: { 'autoprov:logRetentionDays': 31 } })).toThrow(/logRetentionDays/);
    expect(() => synthTemplate({ context: { 'autoprov:sweepRateMinutes': 0 } })).toThrow(
      /autoprov:sweepRateMinutes must be a whole number/,
    );
  });
});

describe('demo instance (context demo=true)', () => {
  it('launches an opted-in AL2023 instance with the SSM core policy, the bundle policy and IMDSv2', () => {
    const t = synthTemplate({ context: { demo: 'true' } }) as Template;
    const [, instance] = single(resources(t, 'AWS::EC2::Instance'), 'instance');
    expect(instance.Tags).toEqual(expect.arrayContaining([{ Key: OPT_IN.tagKey, Value: OPT_IN.tagValue }]));
    expect(JSON.stringify(resources(t, 'AWS::EC2::LaunchTemplate'))).toContain('"HttpTokens":"required"');
    expect(instance.BlockDeviceMappings).toEqual([
      expect.objectContaining({ Ebs: expect.objectContaining({ Encrypted: true }) }),
    ]);
    const roles = resources(t, 'AWS::IAM::Role').filter(([, r]) =>
      JSON.stringify(r.AssumeRolePolicyDocument).includes('ec2.amazonaws.com'),
    );
    const [, role] = single(roles, 'instance role');
    const managed = JSON.stringify(role.ManagedPolicyArns);
    expect(managed).toContain('AmazonSSMManagedInstanceCore');
    const [policyId] = single(resources(t, 'AWS::IAM::ManagedPolicy'), 'bundle policy');
    expect(managed).toContain(policyId);
    expect(resources(template, 'AWS::EC2::Instance')).toEqual([]);
  });
});
