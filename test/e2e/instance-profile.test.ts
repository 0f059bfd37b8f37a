// End to end: the instance profile decides whether an instance can read the playbook bundle, as in AWS.
// The local IAM evaluates the stack's own InstancePolicy document (from the synthesized template), so this
// also proves that the policy users are told to attach really grants the bundle location. `autoprov`
// then finds the stack by name (DescribeStacks outputs) and `doctor` explains each instance with its fix.
// Simulated Ansible (the download step is the same as with real runs).
import { rmSync } from 'node:fs';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import { resolveIntrinsics } from '../../scripts/local/asl.js';
import { LOCAL_INSTANCE_PROFILE } from '../../scripts/local/fleet.js';
import { functionAccessKeyId } from '../../scripts/local/function-host.js';
import { type LocalStack, SSM_ONLY_INSTANCE_PROFILE, startLocalStack } from '../../scripts/local/stack.js';
import { runSubprocess } from '../cli/harness.js';
import { SAMPLE_INVENTORY } from '../helpers/sample-inventory.js';
import { assertTools, ec2Id, invocationsOf, OPT_IN, records, stateDir } from './support.js';

const GOOD = ec2Id(9, 1);
const SSM_ONLY = ec2Id(9, 2);
const NO_PROFILE = ec2Id(9, 3);
const WEB = { ...OPT_IN, 'autoprov:groups': 'webservers', Environment: 'production' };

describe('scenario 9: instance profiles, the bundle policy and autoprov doctor', () => {
  let stack: LocalStack;
  let final: Map<string, InstanceRecord>;
  let env: Record<string, string>;
  let policyArn: string;

  beforeAll(async () => {
    assertTools({ ansible: false });
    stack = await startLocalStack({
      stateDir: stateDir('profiles'),
      // The sample inventory's hybrid nodes (the shipped rules.yaml enables none): SendCommand by id.
      inventories: [SAMPLE_INVENTORY],
      simulatedAnsible: true,
      sweepSchedule: false,
      seed: 9,
      fleet: {
        instances: [
          { instanceId: GOOD, name: 'good', instanceType: 't3.small', tags: WEB },
          {
            instanceId: SSM_ONLY,
            name: 'ssm-only',
            instanceType: 't3.small',
            tags: WEB,
            instanceProfile: SSM_ONLY_INSTANCE_PROFILE,
          },
          { instanceId: NO_PROFILE, name: 'no-profile', tags: WEB, instanceProfile: null },
        ],
      },
    });
    await stack.waitForIdle({ timeoutMs: 240_000 });
    final = await records(stack);
    policyArn = stack.spec.outputs.find((o) => o.key === 'InstancePolicyArn')?.value ?? '';
    env = stack.cliEnv();
  }, 400_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
  });

  it('provisions the instance whose profile carries the InstancePolicy; the others fail with the AWS reason', () => {
    // Assess
    expect(policyArn).toMatch(/^arn:aws:iam::123456789012:policy\//);
    expect(final.get(GOOD)?.status).toBe('SUCCESS');

    const ssmOnly = final.get(SSM_ONLY);
    expect(ssmOnly?.status).toBe('FAILED');
    const baseline = ssmOnly?.playbooks?.[0];
    expect(baseline?.file).toBe('baseline.yml');
    expect(baseline?.status).toBe('Failed');
    // The shipped rules' default: 3 runs of a failing playbook; every download was refused.
    expect(baseline?.attempts).toBe(3);
    expect(baseline?.outputTail).toContain('AccessDenied');
    expect(baseline?.outputTail).toContain('s3:GetObject');
    const downloads = invocationsOf(stack, SSM_ONLY).filter((i) =>
      i.plugins.some((p) => p.name === 'downloadContent'),
    );
    expect(downloads.length).toBe(3);

    // No profile: the agent has no credentials, never registers, and the wait for it gives up.
    const noProfile = final.get(NO_PROFILE);
    expect(noProfile?.status).toBe('FAILED');
    expect(noProfile?.reason).toMatch(/agent/i);
    expect(invocationsOf(stack, NO_PROFILE)).toEqual([]);
  });

  it("uploads command output with the agent's ACL only where the profile allows PutObject and PutObjectAcl", () => {
    // Arrange
    const bucket = stack.emulators.ssm.listCommands()[0]?.outputS3BucketName ?? '';
    const keys = (instanceId: string) =>
      stack.emulators.s3.keys(bucket, 'commands/').filter((k) => k.includes(`/${instanceId}/`));

    // Act / Assess: the provisioned instance's output is there, as the agent writes it
    expect(keys(GOOD).length).toBeGreaterThan(0);
    for (const key of keys(GOOD))
      expect(stack.emulators.s3.get(bucket, key)?.acl).toBe('bucket-owner-full-control');
    // SsmCoreOnly may not write there: every upload was refused (the agent only logs it)
    expect(keys(SSM_ONLY)).toEqual([]);
    const refused = stack.emulators.agent.uploadFailures.filter((f) => f.instanceId === SSM_ONLY);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.reason).toMatch(/not authorized to perform: s3:PutObject on resource: arn:aws:s3:::/);
  });

  it('doctor finds the stack by name and passes every check for the provisioned instance', async () => {
    // Act
    const run = await runSubprocess(['doctor', GOOD], env);

    // Assess
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`✔ Bundle read policy: role ${LOCAL_INSTANCE_PROFILE} has ${policyArn}`);
    expect(run.stdout).toContain('✔ SSM agent: Online');
    expect(run.stdout).toContain(`✔ Last execution: ${GOOD}-g1 SUCCEEDED`);
    expect(run.stdout).toMatch(/✔ Dead-letter queue \S*FailedEvents\S*: empty/);
    expect(run.stdout).not.toContain('✖');
  });

  it('doctor names the missing policy on the role and prints the command that attaches it', async () => {
    // Act
    const run = await runSubprocess(['doctor', SSM_ONLY], env);

    // Assess
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(
      `✖ Bundle read policy: role ${SSM_ONLY_INSTANCE_PROFILE} lacks ${policyArn}`,
    );
    expect(run.stdout).toContain(
      `fix: aws iam attach-role-policy --role-name ${SSM_ONLY_INSTANCE_PROFILE} --policy-arn ${policyArn}`,
    );
    expect(run.stdout).toContain(`Last execution: ${SSM_ONLY}-g1`);
  });

  it('doctor says an instance without a profile can neither register nor download', async () => {
    // Act
    const run = await runSubprocess(['doctor', NO_PROFILE, '--json'], env);

    // Assess
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as { checks: { title: string; status: string; detail: string }[] };
    const byTitle = new Map(report.checks.map((c) => [c.title, c]));
    expect(byTitle.get('Bundle read policy')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no instance profile attached'),
    });
    expect(byTitle.get('SSM agent')?.status).toBe('fail');
  });

  it('status reads the table from the stack outputs', async () => {
    // Act
    const run = await runSubprocess(['status', '--json'], env);

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const status = JSON.parse(run.stdout) as { counts: Record<string, number> };
    expect(status.counts).toMatchObject({ SUCCESS: 1, FAILED: 2 });
  });

  it('authorizes SendCommand with the run-command role: opted-in tag or listed in the inventory, nothing else', async () => {
    // Arrange: SDK calls signed as the run-command function (the key id local functions sign with)
    const runCommand = stack.spec.functions.find((f) => f.serviceName === 'run-command');
    if (!runCommand?.role) throw new Error('run-command has no role in the template');
    const ssm = new SSMClient({
      endpoint: stack.endpoints.aws,
      region: stack.spec.region,
      credentials: { accessKeyId: functionAccessKeyId(runCommand.name), secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    const ensureDocument = stack.spec.documents[0]?.name ?? '';
    const send = (instanceId: string) =>
      ssm.send(new SendCommandCommand({ DocumentName: ensureDocument, InstanceIds: [instanceId] })).then(
        (out) => `sent ${out.Command?.CommandId ? 'ok' : '?'}`,
        (error: Error) => `${error.name}: ${error.message}`,
      );
    const untagged = ec2Id(9, 5);
    stack.fleet.launch({ instanceId: untagged, name: 'untagged' });
    // A managed node the sample inventory lists (untagged: being listed is its opt-in), and one it does not.
    stack.fleet.launch({ instanceId: 'mi-0fedcba9876543210', name: 'onprem-db-1' });
    stack.fleet.launch({ instanceId: 'mi-0e2e0000000000009', name: 'not-listed' });

    // Act
    const results = {
      optedIn: await send(GOOD),
      untagged: await send(untagged),
      listed: await send('mi-0fedcba9876543210'),
      notListed: await send('mi-0e2e0000000000009'),
    };
    await stack.waitForIdle({ timeoutMs: 60_000 });

    // Assess
    expect(results.optedIn).toBe('sent ok');
    expect(results.listed).toBe('sent ok');
    expect(results.untagged).toBe(
      `AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/${runCommand.role.name}/${functionAccessKeyId(runCommand.name)} ` +
        `is not authorized to perform: ssm:SendCommand on resource: arn:aws:ec2:us-east-1:123456789012:instance/${untagged} ` +
        'because no identity-based policy allows the ssm:SendCommand action',
    );
    expect(results.notListed).toMatch(
      /^AccessDeniedException: .* on resource: arn:aws:ssm:us-east-1:123456789012:managed-instance\/mi-0e2e0000000000009 /,
    );
  });

  it("the dashboard's outcomes query finds each run's recorded status in the workflow's own state output", () => {
    // Arrange: the Logs Insights query as synthesized, and each execution's events as Step Functions logs
    // them with level ALL and execution data ({ type, details: { name, output } })
    const [, dashboard] =
      Object.entries(stack.spec.template.Resources).find(
        ([, r]) => r.Type === 'AWS::CloudWatch::Dashboard',
      ) ?? [];
    const body = JSON.parse(
      String(
        resolveIntrinsics(dashboard?.Properties?.DashboardBody, stack.spec.template, {
          stackName: stack.spec.stackName,
        }),
      ),
    ) as { widgets: { type: string; properties: { query?: string } }[] };
    const query = body.widgets.find((w) => w.type === 'log')?.properties.query ?? '';
    const type = /filter type = "(\w+)"/.exec(query)?.[1];
    const name = new RegExp(/details\.name like \/(.+?)\//.exec(query)?.[1] ?? '$^');
    const parse = new RegExp(/parse details\.output \/(.+)\/\n/.exec(query)?.[1] ?? '$^');
    const outcomesOf = (instanceId: string) =>
      stack.emulators.sfn
        .listExecutionRecords()
        .filter((e) => e.name.startsWith(`${instanceId}-g`))
        .flatMap((e) => e.history)
        .filter((h) => h.type === 'StateExited' && h.stateType === 'Task')
        .map((h) => ({
          type: 'TaskStateExited',
          details: { name: h.stateName ?? '', output: JSON.stringify(h.output) },
        }))
        .filter((event) => event.type === type && name.test(event.details.name))
        .map((event) => parse.exec(event.details.output)?.groups?.outcome);

    // Act / Assess: one outcome per run, the status the record step wrote
    expect(type).toBe('TaskStateExited');
    expect(outcomesOf(GOOD)).toEqual(['SUCCESS']);
    expect(outcomesOf(SSM_ONLY)).toEqual(['FAILED']);
    expect(outcomesOf(NO_PROFILE)).toEqual(['FAILED']);
  });

  it('an alarm of the synthesized stack that fires reaches the topic, published as cloudwatch.amazonaws.com', () => {
    // Arrange
    const { cloudwatch } = stack.emulators;
    const name = cloudwatch.names().find((n) => n.endsWith('-FailedEvents')) ?? '';
    const topicArn = stack.spec.outputs.find((o) => o.key === 'TopicArn')?.value;
    const before = stack.notifications().length;

    // Act
    cloudwatch.setAlarmState(name, 'ALARM', 'Threshold Crossed: 1 datapoint [1.0] >= 1.0');

    // Assess
    const published = stack.notifications().slice(before);
    expect(published.map((m) => [m.topicArn, JSON.parse(m.message).AlarmName])).toEqual([[topicArn, name]]);
    expect(cloudwatch.history.at(-1)?.summary).toBe(`Successfully executed action ${topicArn}`);
  });

  it('refuses a fleet file that names an instance profile local mode does not have', async () => {
    // Arrange
    const dir = stateDir('profiles-bad');

    // Act / Assess
    await expect(
      startLocalStack({
        stateDir: dir,
        // The assembly of this suite's stack (already synthesized above).
        inventories: [SAMPLE_INVENTORY],
        simulatedAnsible: true,
        sweepSchedule: false,
        fleet: { instances: [{ instanceId: ec2Id(9, 4), tags: OPT_IN, instanceProfile: 'WebRole' }] },
      }),
    ).rejects.toThrow(
      `instanceProfile "WebRole" does not exist in local mode; use one of "${LOCAL_INSTANCE_PROFILE}", "${SSM_ONLY_INSTANCE_PROFILE}", or null for none`,
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
