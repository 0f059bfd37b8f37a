// The real-account test kit (npm run test:aws, docs/adr/0010-real-account-test-kit.md), checked offline:
// its stacks synthesize as recorded in test/aws/snapshot (so the kit cannot rot unnoticed), they are the
// deployable stack plus only the test's additions, and the runner always destroys what it deployed. Nothing
// here deploys or calls AWS: the deployment is replaced by a stand-in CLI that only records its arguments.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthTemplate } from '../../infra/synth.js';
import { INTEG_CONTEXT } from '../aws/provisioning.js';
import { ASSEMBLY_DIR } from '../aws/run.js';
import {
  normalizeTemplate,
  readSnapshot,
  SNAPSHOT_DIR,
  snapshotDifferences,
  type Template,
  UPDATE_COMMAND,
} from '../aws/snapshot.js';
import { runProcess } from '../helpers/run-process.js';

type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string[];
  Condition?: string;
};
type Resources = Record<string, Resource>;

const INTEG_STACK = `${INTEG_CONTEXT['autoprov:stackName']}.template.json`;
/** No credentials and no instance metadata: whatever runs here cannot reach an AWS account. */
const OFFLINE_ENV = {
  ...process.env,
  AWS_ACCESS_KEY_ID: '',
  AWS_SECRET_ACCESS_KEY: '',
  AWS_SESSION_TOKEN: '',
  AWS_PROFILE: '',
  AWS_EC2_METADATA_DISABLED: 'true',
};

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'autoprov-integ-test-'));
}

let recorded: Record<string, Template>;
let synthesized: Record<string, Template>;
let recordRun: Awaited<ReturnType<typeof runProcess>>;

beforeAll(async () => {
  recorded = readSnapshot();
  // The README's command, as written; only where it writes differs (the checked-in snapshot stays as is).
  const dir = tempDir();
  recordRun = await runProcess('npm', ['run', 'test:aws:update'], {
    env: { ...OFFLINE_ENV, AUTOPROV_INTEG_SNAPSHOT_DIR: dir },
  });
  synthesized = readSnapshot(dir);
}, 240_000);

describe('real-account test snapshot (test/aws/snapshot)', () => {
  it('npm run test:aws:update synthesizes both stacks offline, exactly as recorded', () => {
    expect(recordRun.code, recordRun.stderr).toBe(0);
    expect(Object.keys(recorded).sort()).toEqual([
      INTEG_STACK,
      expect.stringMatching(/^ProvisioningDefaultTestDeployAssert[0-9A-F]+\.template\.json$/),
    ]);
    const differences = snapshotDifferences(recorded, synthesized);
    expect(
      differences,
      `The real-account test's stacks no longer match ${path.relative(process.cwd(), SNAPSHOT_DIR)}:\n  ${differences.join('\n  ')}\nIf the change is intended, run \`${UPDATE_COMMAND}\` and commit the snapshot.`,
    ).toEqual([]);
  });

  it('names each changed, added and removed resource with the property that changed', () => {
    const before = recorded[INTEG_STACK] as { Resources: Resources };
    const after = structuredClone(before);
    const [machineId] = Object.entries(after.Resources).find(
      ([, r]) => r.Type === 'AWS::StepFunctions::StateMachine',
    ) ?? [''];
    const machine = after.Resources[machineId] as Resource;
    machine.Properties = { ...machine.Properties, StateMachineName: 'Renamed' };
    const [queueId] = Object.entries(after.Resources).find(([id]) => id.startsWith('IntegTopicInbox')) ?? [
      '',
    ];
    delete after.Resources[queueId];
    after.Resources.Extra = { Type: 'AWS::SNS::Topic' };
    expect(snapshotDifferences({ [INTEG_STACK]: before }, { [INTEG_STACK]: after })).toEqual(
      [
        `${INTEG_STACK}: Resources.Extra added`,
        `${INTEG_STACK}: Resources.${queueId} removed`,
        `${INTEG_STACK}: Resources.${machineId} changed at Properties.StateMachineName`,
      ].sort(),
    );
    expect(snapshotDifferences({ [INTEG_STACK]: before }, {})).toEqual([
      `${INTEG_STACK}: in the snapshot, no longer synthesized`,
    ]);
  });

  it('ignores asset hashes (code and playbook changes) and the assertions’ per-synth salt', () => {
    const hash = (c: string) => c.repeat(64);
    const template = (h: string, salt: string) => ({
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Properties: { Code: { S3Key: `${h}.zip` } } },
        Assert: { Type: 'Custom::DeployAssert@SdkCallSQSreceiveMessage', Properties: { salt } },
      },
    });
    const a = normalizeTemplate(template(hash('a'), '1700000000000'));
    const b = normalizeTemplate(template(hash('b'), '1800000000000'));
    expect(a).toEqual(b);
    // A real change still shows.
    const c = normalizeTemplate({ Resources: { Fn: { Type: 'AWS::Lambda::Function', Properties: {} } } });
    expect(snapshotDifferences({ t: a }, { t: c })).toEqual([
      't: Resources.Assert removed',
      't: Resources.Fn changed at Properties.Code',
    ]);
  });
});

describe('what the real-account test deploys', () => {
  let production: Resources;
  let integ: Resources;
  beforeAll(() => {
    production = (
      normalizeTemplate(synthTemplate({ context: { ...INTEG_CONTEXT } })) as { Resources: Resources }
    ).Resources;
    integ = (recorded[INTEG_STACK] as { Resources: Resources }).Resources;
  }, 120_000);

  it('is the deployable stack (same resources, same properties) made disposable, plus its SQS ear', () => {
    const autoDeleteTag = { Key: 'aws-cdk:auto-delete-objects', Value: 'true' };
    const changed: string[] = [];
    for (const [id, resource] of Object.entries(production)) {
      const copy = integ[id];
      expect(copy?.Type, `${id} is missing from the test's stack`).toBe(resource.Type);
      if (!copy) continue;
      let properties = copy.Properties ?? {};
      if (resource.Type === 'AWS::KMS::Key') {
        expect(properties.PendingWindowInDays).toBe(7);
        const { PendingWindowInDays: _, ...rest } = properties;
        properties = rest;
      }
      if (resource.Type === 'AWS::S3::Bucket') {
        expect(properties.Tags).toContainEqual(autoDeleteTag);
        const tags = (properties.Tags as unknown[]).filter((t) => !isDeepStrictEqual(t, autoDeleteTag));
        const { Tags: _, ...rest } = properties;
        properties = tags.length > 0 ? { ...rest, Tags: tags } : rest;
      }
      if (resource.Type === 'AWS::S3::BucketPolicy') {
        // The auto-delete function's statement is added; the stack's own statements stay as they are.
        const statements = (p: Record<string, unknown> | undefined) =>
          (p?.PolicyDocument as { Statement?: unknown[] } | undefined)?.Statement ?? [];
        const extra = statements(properties).filter(
          (s) => !statements(resource.Properties).some((t) => isDeepStrictEqual(s, t)),
        );
        expect(JSON.stringify(extra)).toContain('CustomS3AutoDeleteObjectsCustomResourceProviderRole');
        expect(statements(properties).length - extra.length).toBe(statements(resource.Properties).length);
        continue;
      }
      if (!isDeepStrictEqual(properties, resource.Properties ?? {})) changed.push(id);
      expect(copy.DependsOn ?? []).toEqual(expect.arrayContaining(resource.DependsOn ?? []));
      expect(copy.Condition).toBe(resource.Condition);
    }
    expect(changed, 'resources whose properties differ from the deployable stack').toEqual([]);

    const added = Object.entries(integ)
      .filter(([id]) => !(id in production))
      .map(([, r]) => r.Type)
      .sort();
    expect(added).toEqual([
      'AWS::IAM::Role',
      'AWS::Lambda::Function',
      'AWS::SNS::Subscription',
      'AWS::SQS::Queue',
      'AWS::SQS::QueuePolicy',
      'Custom::S3AutoDeleteObjects',
      'Custom::S3AutoDeleteObjects',
    ]);
  });

  it('deletes every resource with the stack (the deployable stack retains its data)', () => {
    const kept = Object.entries(integ).filter(
      ([, r]) => (r as { DeletionPolicy?: string }).DeletionPolicy !== 'Delete',
    );
    expect(kept.map(([id]) => id)).toEqual([]);
    const table = Object.values(integ).find((r) => r.Type === 'AWS::DynamoDB::Table');
    expect(table?.Properties?.DeletionProtectionEnabled).toBe(false);
    // The production defaults are untouched.
    const retained = Object.values(
      (
        normalizeTemplate(synthTemplate()) as {
          Resources: Record<string, { DeletionPolicy?: string; Type: string }>;
        }
      ).Resources,
    ).filter((r) => r.DeletionPolicy === 'Retain');
    expect(retained.map((r) => r.Type)).toEqual(
      expect.arrayContaining(['AWS::DynamoDB::Table', 'AWS::S3::Bucket']),
    );
  });

  it('subscribes its queue before the demo instance starts, with raw delivery', () => {
    const [subscriptionId, subscription] =
      Object.entries(integ).find(([, r]) => r.Type === 'AWS::SNS::Subscription') ?? [];
    expect(subscription?.Properties).toMatchObject({ Protocol: 'sqs', RawMessageDelivery: true });
    const instance = Object.values(integ).find((r) => r.Type === 'AWS::EC2::Instance');
    expect(instance?.DependsOn).toContain(subscriptionId);
  });

  it('asserts record SUCCESS, execution SUCCEEDED, the notification, then an alarm on the topic, in that order', () => {
    const assertStack = Object.entries(recorded).find(([f]) => f !== INTEG_STACK)?.[1] as
      | { Resources: Resources }
      | undefined;
    const assertions = Object.entries(assertStack?.Resources ?? {}).filter(([, r]) =>
      r.Type.startsWith('Custom::DeployAssert@SdkCall'),
    );
    // Walk the chain: each call depends on the one before it.
    const byId = new Map(assertions);
    const first = assertions.filter(([, r]) => !(r.DependsOn ?? []).some((d) => byId.has(d)));
    expect(first).toHaveLength(1);
    const chain: Resource[] = [];
    let current = first[0];
    while (current) {
      chain.push(current[1]);
      const id = current[0];
      current = assertions.find(([, r]) => (r.DependsOn ?? []).includes(id));
    }
    const steps = chain.map((r) => {
      const p = r.Properties as { api: string; expected?: unknown; parameters?: unknown };
      return `${p.api} ${JSON.stringify(p.expected ?? p.parameters)}`;
    });
    expect(steps).toHaveLength(assertions.length);
    expect(steps.map((s) => s.split(' ')[0])).toEqual([
      'getItem',
      'getItem',
      'describeExecution',
      'receiveMessage',
      'setAlarmState',
      'receiveMessage',
    ]);
    expect(steps[0]).toContain('\\"status\\":{\\"S\\":\\"SUCCESS\\"}');
    expect(steps[2]).toContain('\\"status\\":\\"SUCCEEDED\\"');
    expect(steps[3]).toContain('Status: SUCCESS');
    expect(steps[4]).toContain('\\"ALARM\\"');
    expect(steps[5]).toContain('NewStateValue');
  });
});

describe('npm run test:aws (runner, with a stand-in CDK CLI)', () => {
  // Records its arguments; `deploy` writes the outputs file the real CLI would (--outputs-file).
  const fakeCdk = (dir: string) => {
    const bin = path.join(dir, 'cdk');
    fs.writeFileSync(
      bin,
      [
        '#!/bin/sh',
        'echo "$*" >> "$FAKE_CDK_LOG"',
        'if [ "$1" = deploy ]; then',
        '  prev=""; out=""',
        '  for a in "$@"; do [ "$prev" = "--outputs-file" ] && out="$a"; prev="$a"; done',
        '  [ -n "$FAKE_CDK_OUTPUTS" ] && printf "%s" "$FAKE_CDK_OUTPUTS" > "$out"',
        '  exit "$FAKE_CDK_DEPLOY_EXIT"',
        'fi',
        'exit 0',
      ].join('\n'),
      { mode: 0o755 },
    );
    return bin;
  };
  const run = async (outputs: unknown, deployExit = 0, args: string[] = []) => {
    const dir = tempDir();
    const log = path.join(dir, 'calls.log');
    const result = await runProcess('npm', ['run', 'test:aws', ...(args.length ? ['--', ...args] : [])], {
      env: {
        ...OFFLINE_ENV,
        AUTOPROV_INTEG_CDK_BIN: fakeCdk(dir),
        FAKE_CDK_LOG: log,
        FAKE_CDK_OUTPUTS: outputs === undefined ? '' : JSON.stringify(outputs),
        FAKE_CDK_DEPLOY_EXIT: String(deployExit),
      },
    });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
    return { ...result, calls };
  };
  const assertStack = (results: Record<string, unknown>) => ({
    ProvisioningDefaultTestDeployAssertC9539B7A: Object.fromEntries(
      Object.entries(results).map(([id, r]) => [`AssertionResults${id}`, JSON.stringify(r)]),
    ),
  });
  const destroy = `destroy --app ${ASSEMBLY_DIR} --all --force --no-notices`;

  it('deploys both stacks, reports the assertions, destroys and passes when every assertion passed', async () => {
    const r = await run(assertStack({ Record: { status: 'success' }, Alarm: { status: 'success' } }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.calls).toHaveLength(2);
    expect(r.calls[0]).toMatch(
      /^deploy --app npx tsx test\/aws\/app\.ts --output test\/aws\/cdk\.out --all --require-approval never --no-rollback --outputs-file \S+ --no-notices$/,
    );
    expect(r.calls[1]).toBe(destroy);
    expect(r.stdout).toContain('PASS  AssertionResultsRecord');
  });

  it('destroys everything and fails, naming the assertion, when one failed', async () => {
    const r = await run(
      assertStack({ Record: { status: 'success' }, Alarm: { status: 'fail', message: 'no ALARM message' } }),
    );
    expect(r.code).toBe(1);
    expect(r.calls[1]).toBe(destroy);
    expect(r.stdout).toContain('FAIL  AssertionResultsAlarm: no ALARM message');
    expect(r.stderr).toContain('Real-account test FAILED');
  });

  it('destroys everything and fails when the deployment itself failed (an assertion timed out)', async () => {
    const r = await run(undefined, 1);
    expect(r.code).toBe(1);
    expect(r.calls).toEqual([expect.stringMatching(/^deploy /), destroy]);
    expect(r.stderr).toContain('the deployment failed');
  });

  it('keeps the stacks with --keep and says how to destroy them; refuses unknown options', async () => {
    const kept = await run(assertStack({ Record: { status: 'success' } }), 0, ['--keep']);
    expect(kept.code).toBe(0);
    expect(kept.calls).toHaveLength(1);
    expect(kept.stdout).toContain(`npx cdk ${destroy}`);
    const bad = await run(undefined, 0, ['--regoin', 'eu-west-1']);
    expect(bad.code).toBe(2);
    expect(bad.calls).toEqual([]);
    expect(bad.stderr).toContain('Usage: npm run test:aws');
  });
});
