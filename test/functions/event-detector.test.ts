// The event detector λ as deployed (handler.ts with its environment), against DynamoDB Local; EC2,
// Step Functions and Lambda are mocked with a small "world" so DescribeInstances answers what the
// instance really is at delivery time, and StartExecution refuses a name twice like Standard workflows.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { writeBundle } from '../../functions/core/bundle.js';
import type { RulesBundle } from '../../functions/core/types.js';
import type { DetectionOutcome } from '../../functions/event-detector/detect.js';
import { logger } from '../../functions/shared/logger.js';
import type { StateStore } from '../../functions/shared/state-store.js';
import { type CommandCounter, countCommands, createTestTable } from '../helpers/ddb.js';
import { fixture as fixturePath } from '../helpers/paths.js';
import { rulesBundle } from '../helpers/rules-bundle.js';

const OPT_IN = 'autoprov:enabled';
const HOLD = 'autoprov:hold';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:autoprov-provisioning';
const NOTIFIER = 'autoprov-notifier';
const INVENTORY_ONLY = 'i-0eeeeeeeeeeeeeee1';
/** The hybrid node of the managed-instance tag-change fixture, listed in the inventory. */
const HYBRID = 'mi-0123456789abcdef0';

const bundle: RulesBundle = rulesBundle({
  inventories: ['inventory/onprem.ini'],
  inventoryHosts: [
    {
      name: 'legacy',
      instanceId: INVENTORY_ONLY,
      groups: ['all', 'legacy'],
      vars: { env: 'prod' },
      inventory: 'inventory/onprem.ini',
    },
    {
      name: 'onprem-web-1',
      instanceId: HYBRID,
      groups: ['all', 'onprem'],
      vars: { site: 'dc1' },
      inventory: 'inventory/onprem.ini',
    },
  ],
  bundleHash: 'b'.repeat(64),
});

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(fixturePath('events', name), 'utf8')) as Record<string, unknown>;
}
const RUNNING_FIXTURE = fixture('ec2-state-running.json');
const TERMINATED_FIXTURE = fixture('ec2-state-terminated.json');
const TAG_FIXTURE = fixture('tag-change-ec2-instance.json');
const MANAGED_TAG_FIXTURE = fixture('tag-change-ssm-managed-instance.json');

/** The fixture events, retargeted at another instance id (each test works on its own instances). */
function stateEvent(instanceId: string, state: string): Record<string, unknown> {
  const base = state === 'terminated' ? TERMINATED_FIXTURE : RUNNING_FIXTURE;
  return {
    ...base,
    resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, state },
  };
}
function tagEvent(
  instanceId: string,
  changed: string[],
  tags: Record<string, string>,
): Record<string, unknown> {
  const detail = TAG_FIXTURE.detail as Record<string, unknown>;
  return {
    ...TAG_FIXTURE,
    resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`],
    detail: { ...detail, 'changed-tag-keys': changed, tags },
  };
}

let nextId = 0x100;
function newInstanceId(): string {
  nextId += 1;
  return `i-${nextId.toString(16).padStart(17, '0')}`;
}

// ---- the mocked world -------------------------------------------------------------------------
interface WorldInstance {
  state: string;
  tags: Record<string, string>;
}
const world = new Map<string, WorldInstance>();
const executions = new Map<string, { input: unknown; status: string }>();
const ec2Mock = mockClient(EC2Client);
const sfnMock = mockClient(SFNClient);
const lambdaMock = mockClient(LambdaClient);

function mockWorld(): void {
  ec2Mock.reset();
  sfnMock.reset();
  lambdaMock.reset();
  ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: { InstanceIds?: string[] }) => {
    const id = input.InstanceIds?.[0] ?? '';
    const instance = world.get(id);
    if (!instance)
      throw Object.assign(new Error(`The instance ID '${id}' does not exist`), {
        name: 'InvalidInstanceID.NotFound',
      });
    return {
      Reservations: [
        {
          Instances: [
            {
              InstanceId: id,
              InstanceType: 't3.micro',
              ImageId: 'ami-0123456789abcdef0',
              Placement: { AvailabilityZone: 'us-east-1a' },
              State: { Name: instance.state },
              Tags: Object.entries(instance.tags).map(([Key, Value]) => ({ Key, Value })),
            },
          ],
        },
      ],
    };
  });
  sfnMock.on(StartExecutionCommand).callsFake(async (input: { name: string; input: string }) => {
    if (executions.has(input.name))
      throw new ExecutionAlreadyExists({ message: `Execution ${input.name} already exists`, $metadata: {} });
    executions.set(input.name, { input: JSON.parse(input.input), status: 'RUNNING' });
    return {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:autoprov-provisioning:${input.name}`,
      startDate: new Date(),
    };
  });
  sfnMock.on(DescribeExecutionCommand).callsFake(async (input: { executionArn: string }) => {
    const name = input.executionArn.split(':').pop() ?? '';
    const execution = executions.get(name);
    if (!execution)
      throw new ExecutionDoesNotExist({ message: `Execution ${name} does not exist`, $metadata: {} });
    return { executionArn: input.executionArn, status: execution.status };
  });
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
}

function startsFor(instanceId: string): { name: string; input: unknown }[] {
  return sfnMock
    .commandCalls(StartExecutionCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.name?.startsWith(`${instanceId}-g`))
    .map((input) => ({ name: input.name ?? '', input: JSON.parse(input.input ?? '{}') }));
}
function notificationsFor(instanceId: string): unknown[] {
  return lambdaMock
    .commandCalls(InvokeCommand)
    .map((call) => JSON.parse(new TextDecoder().decode(call.args[0].input.Payload as Uint8Array)))
    .filter((payload: { instanceId: string }) => payload.instanceId === instanceId);
}

// ---- the function under test ------------------------------------------------------------------
let handler: (event: unknown) => Promise<DetectionOutcome>;
let store: StateStore;
let writes: CommandCounter;

beforeAll(async () => {
  const table = await createTestTable();
  store = table.store;
  const dir = mkdtempSync(join(tmpdir(), 'autoprov-detector-'));
  writeBundle(bundle, join(dir, 'rules.json'));
  vi.stubEnv('TABLE_NAME', table.tableName);
  vi.stubEnv('STATE_MACHINE_ARN', STATE_MACHINE_ARN);
  vi.stubEnv('NOTIFIER_FUNCTION_NAME', NOTIFIER);
  vi.stubEnv('RULES_BUNDLE_PATH', join(dir, 'rules.json'));
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoDbEndpoint'));
  // Claims, losses and orphans are logged at INFO; keep the test output to warnings.
  logger.setLogLevel('WARN');
  ({ handler } = await import('../../functions/event-detector/handler.js'));
  const { clients } = await import('../../functions/shared/clients.js');
  // The handler's own document client: every command it sends to DynamoDB is counted.
  writes = countCommands(clients.dynamo());
});

beforeEach(() => {
  mockWorld();
  writes.reset();
});

describe('running and opt-in', () => {
  it('the fixture running event: records, claims g1 and starts exactly one execution', async () => {
    // Prepare
    const id = (RUNNING_FIXTURE.detail as { 'instance-id': string })['instance-id'];
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true', Name: 'web-1' } });

    // Act
    const outcome = await handler(RUNNING_FIXTURE);

    // Assess
    expect(outcome).toEqual({ instanceId: id, action: 'claimed', generation: 1, detail: 'new' });
    expect(startsFor(id)).toEqual([{ name: `${id}-g1`, input: { instanceId: id, generation: 1 } }]);
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, { stateMachineArn: STATE_MACHINE_ARN });
    expect(await store.getInstance(id)).toMatchObject({
      status: 'RUNNING',
      generation: 1,
      executionName: `${id}-g1`,
      source: 'ec2',
      accountId: '123456789012',
      region: 'us-east-1',
      facts: { name: 'web-1', state: 'running', vars: { ec2_instance_type: 't3.micro', tag_Name: 'web-1' } },
    });
    expect((await store.listHistory(id)).map((e) => [e.type, e.actor])).toEqual([
      ['DETECTED', 'event-detector'],
      ['CLAIMED', 'event-detector'],
    ]);
  });

  it('a state-change event without the envelope fields the detector never reads (version, id, account, region) is still handled', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    const {
      version: _v,
      id: _i,
      account: _a,
      region: _r,
      ...rest
    } = RUNNING_FIXTURE as Record<string, unknown>;
    const event = { ...rest, detail: { ...(RUNNING_FIXTURE.detail as object), 'instance-id': id } };

    const outcome = await handler(event);

    expect(outcome).toMatchObject({ instanceId: id, action: 'claimed', generation: 1 });
    expect(startsFor(id)).toHaveLength(1);
  });

  it('duplicate running events write nothing and start nothing more', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    await handler(stateEvent(id, 'running'));
    writes.reset();

    const again = await handler(stateEvent(id, 'running'));
    const tagged = await handler(tagEvent(id, ['Name'], { [OPT_IN]: 'true', Name: 'renamed-later' }));

    expect(again).toMatchObject({ action: 'ignored', detail: 'RUNNING, nothing due' });
    expect(tagged).toMatchObject({ action: 'ignored' });
    expect(writes.writes()).toBe(0);
    expect(startsFor(id)).toHaveLength(1);
  });

  it('concurrent duplicates: one claim, one execution', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });

    const outcomes = await Promise.all(Array.from({ length: 6 }, () => handler(stateEvent(id, 'running'))));

    expect(outcomes.filter((o) => o.action === 'claimed')).toHaveLength(1);
    expect(startsFor(id)).toEqual([{ name: `${id}-g1`, input: { instanceId: id, generation: 1 } }]);
    expect((await store.getInstance(id))?.generation).toBe(1);
  });

  it('the fixture tag change (opt-in added) claims the instance', async () => {
    const id = 'i-0000000aaaaaaaaaa';
    world.set(id, { state: 'running', tags: (TAG_FIXTURE.detail as { tags: Record<string, string> }).tags });

    expect(await handler(TAG_FIXTURE)).toMatchObject({ instanceId: id, action: 'claimed', generation: 1 });
    expect(startsFor(id)).toHaveLength(1);
    expect((await store.getInstance(id))?.facts.vars).toMatchObject({ tag_environment: 'production' });
  });

  it('an instance that is not opted in is ignored without touching the table', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { Name: 'other-team' } });

    expect(await handler(stateEvent(id, 'running'))).toMatchObject({
      action: 'ignored',
      detail: 'not opted in',
    });
    expect(await handler(tagEvent(id, ['Name'], { Name: 'other-team' }))).toMatchObject({
      action: 'ignored',
    });
    expect(writes.commands).toEqual([]);
    // The tag change of a non-opted-in instance is not even described.
    expect(ec2Mock.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
  });

  it('a stopped instance that is opted in is recorded but not claimed', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'stopped', tags: { [OPT_IN]: 'true' } });

    expect(await handler(tagEvent(id, [OPT_IN], { [OPT_IN]: 'true' }))).toMatchObject({ action: 'recorded' });
    expect(await store.getInstance(id)).toMatchObject({ status: 'PENDING', generation: 0 });
    expect(startsFor(id)).toEqual([]);
  });

  it('an untagged instance listed in the inventory is managed as the inventory host', async () => {
    world.set(INVENTORY_ONLY, { state: 'running', tags: {} });

    expect(await handler(stateEvent(INVENTORY_ONLY, 'running'))).toMatchObject({
      action: 'claimed',
      generation: 1,
    });
    expect(await store.getInstance(INVENTORY_ONLY)).toMatchObject({
      source: 'inventory',
      facts: { name: 'legacy', vars: { env: 'prod' } },
    });
  });

  it('ExecutionAlreadyExists counts as started', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    executions.set(`${id}-g1`, { input: {}, status: 'RUNNING' });

    expect(await handler(stateEvent(id, 'running'))).toMatchObject({ action: 'claimed', generation: 1 });
    expect(startsFor(id)).toHaveLength(1);
  });

  it('a failed StartExecution releases the lease; the retried event reclaims and starts g2', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    sfnMock
      .on(StartExecutionCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await expect(handler(stateEvent(id, 'running'))).rejects.toMatchObject({ name: 'ThrottlingException' });
    const released = await store.getInstance(id);
    expect(released).toMatchObject({ status: 'RUNNING', generation: 1 });
    expect(Date.parse(released?.leaseExpiresAt ?? '')).toBeLessThanOrEqual(Date.now());

    mockWorld();
    const retry = await handler(stateEvent(id, 'running'));

    expect(retry).toMatchObject({ action: 'claimed', generation: 2, detail: 'lease-expired (MISSING)' });
    expect(startsFor(id)).toEqual([{ name: `${id}-g2`, input: { instanceId: id, generation: 2 } }]);
  });
});

describe('admission (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md)', () => {
  it('a provisioned instance whose fingerprint changed is recorded; its re-provision is left to the sweep', async () => {
    // Prepare: provisioned under an earlier bundle (another fingerprint)
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    await handler(stateEvent(id, 'running'));
    await store.recordOutcome(id, 1, { status: 'SUCCESS', fingerprint: 'f'.repeat(64) }, new Date());

    // Act
    const outcome = await handler(stateEvent(id, 'running'));

    // Assess
    expect(outcome).toMatchObject({ action: 'ignored', generation: 1 });
    expect(outcome.detail).toContain(
      "fingerprint changed: the sweep re-provisions it in the rollout's waves",
    );
    expect(startsFor(id)).toHaveLength(1);
    expect(await store.getInstance(id)).toMatchObject({ status: 'SUCCESS', generation: 1 });
  });

  it('while the global pause is set a new instance is recorded, not claimed', async () => {
    // Prepare
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    await store.setGlobalPause({ actor: 'ops', now: new Date(), reason: 'maintenance' });

    // Act
    let outcome: DetectionOutcome;
    try {
      outcome = await handler(stateEvent(id, 'running'));
    } finally {
      await store.clearGlobalPause();
    }

    // Assess
    expect(outcome).toMatchObject({ action: 'claim-lost' });
    expect(outcome.detail).toContain('no claims while paused');
    expect(startsFor(id)).toEqual([]);
    expect(await store.getInstance(id)).toMatchObject({ status: 'PENDING', generation: 0 });
  });
});

describe('hold', () => {
  it('a held instance is recorded with a HELD event, never claimed; removing the hold claims it', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true', [HOLD]: 'true' } });

    expect(await handler(stateEvent(id, 'running'))).toMatchObject({ action: 'held', generation: 0 });
    writes.reset();
    expect(await handler(stateEvent(id, 'running'))).toMatchObject({ action: 'held' });
    expect(writes.writes()).toBe(0);
    expect(startsFor(id)).toEqual([]);

    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    expect(await handler(tagEvent(id, [HOLD], { [OPT_IN]: 'true' }))).toMatchObject({
      action: 'claimed',
      generation: 1,
      detail: 'pending',
    });

    expect((await store.listHistory(id)).map((e) => e.type)).toEqual([
      'DETECTED',
      'HELD',
      'DETECTED',
      'CLAIMED',
    ]);
    expect(startsFor(id)).toHaveLength(1);
  });
});

describe('termination, opt-out, stop', () => {
  it('the fixture terminated event orphans the record and notifies once; duplicates do nothing', async () => {
    const id = (TERMINATED_FIXTURE.detail as { 'instance-id': string })['instance-id'];
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true', Name: 'web-1' } });
    // Claims g1, or is a duplicate when the running fixture test already did.
    await handler(RUNNING_FIXTURE);
    expect((await store.getInstance(id))?.generation).toBe(1);
    world.set(id, { state: 'terminated', tags: { [OPT_IN]: 'true', Name: 'web-1' } });

    const first = await handler(TERMINATED_FIXTURE);
    const second = await handler(TERMINATED_FIXTURE);

    expect(first).toEqual({ instanceId: id, action: 'orphaned', detail: 'terminated', generation: 1 });
    expect(second).toMatchObject({ action: 'ignored' });
    expect(notificationsFor(id)).toEqual([
      { instanceId: id, generation: 1, status: 'ORPHANED', notify: true, reason: 'terminated' },
    ]);
    expect(lambdaMock).toHaveReceivedCommandWith(InvokeCommand, {
      FunctionName: NOTIFIER,
      InvocationType: 'Event',
    });
    expect(await store.getInstance(id)).toMatchObject({ status: 'ORPHANED', reason: 'terminated' });
  });

  it('terminated for an unknown instance: nothing recorded, nobody notified', async () => {
    const id = newInstanceId();
    expect(await handler(stateEvent(id, 'shutting-down'))).toMatchObject({ action: 'ignored' });
    expect(await store.getInstance(id)).toBeUndefined();
    expect(notificationsFor(id)).toEqual([]);
  });

  it('opt-in tag removed → ORPHANED opted-out (confirmed by DescribeInstances) + notification; re-added → revived and claimed', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    await handler(stateEvent(id, 'running'));

    world.set(id, { state: 'running', tags: {} });
    expect(await handler(tagEvent(id, [OPT_IN], {}))).toMatchObject({
      action: 'orphaned',
      detail: 'opted-out',
      generation: 1,
    });
    expect(notificationsFor(id)).toHaveLength(1);

    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    expect(await handler(tagEvent(id, [OPT_IN], { [OPT_IN]: 'true' }))).toMatchObject({
      action: 'claimed',
      generation: 2,
    });
    expect(startsFor(id).map((s) => s.name)).toEqual([`${id}-g1`, `${id}-g2`]);
  });

  it('a stale opt-out event (tag re-added since) orphans nothing', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    await handler(stateEvent(id, 'running'));

    const stale = await handler(tagEvent(id, [OPT_IN], {}));

    expect(stale).toMatchObject({ action: 'ignored' });
    expect((await store.getInstance(id))?.status).toBe('RUNNING');
    expect(notificationsFor(id)).toEqual([]);
  });

  it('stopped / stopping add a STOPPED event to a known record only', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    await handler(stateEvent(id, 'running'));

    expect(await handler(stateEvent(id, 'stopping'))).toMatchObject({ action: 'stopped', generation: 1 });
    expect(await handler(stateEvent(newInstanceId(), 'stopped'))).toMatchObject({ action: 'ignored' });
    expect(await handler(stateEvent(id, 'pending'))).toMatchObject({ action: 'ignored' });

    const history = await store.listHistory(id);
    expect(history.map((e) => e.type)).toEqual(['DETECTED', 'CLAIMED', 'STOPPED']);
    expect((await store.getInstance(id))?.status).toBe('RUNNING');
  });
});

describe('order and duplicates', () => {
  /** Every distinct ordering of a multiset. */
  function permutations<T>(items: readonly T[]): T[][] {
    if (items.length <= 1) return [[...items]];
    const result: T[][] = [];
    const seen = new Set<T>();
    items.forEach((item, index) => {
      if (seen.has(item)) return;
      seen.add(item);
      const rest = [...items.slice(0, index), ...items.slice(index + 1)];
      for (const tail of permutations(rest)) result.push([item, ...tail]);
    });
    return result;
  }

  // R = running, T = terminated, G = tag change adding the opt-in tag. The instance runs until the
  // first T is delivered (a termination event cannot arrive before the termination), then is gone.
  const orderings = permutations(['R', 'R', 'T', 'T', 'G']);

  it(`every ordering of running ×2, terminated ×2, opt-in tag (${orderings.length} orderings) ends consistently`, async () => {
    expect(orderings).toHaveLength(30);
    for (const ordering of orderings) {
      const id = newInstanceId();
      world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
      for (const step of ordering) {
        if (step === 'T') world.set(id, { state: 'terminated', tags: { [OPT_IN]: 'true' } });
        const event =
          step === 'R'
            ? stateEvent(id, 'running')
            : step === 'T'
              ? stateEvent(id, 'terminated')
              : tagEvent(id, [OPT_IN], { [OPT_IN]: 'true' });
        await handler(event);
      }
      const detectedWhileRunning =
        ordering.indexOf('T') > Math.min(ordering.indexOf('R'), ordering.indexOf('G'));
      const record = await store.getInstance(id);
      const starts = startsFor(id);
      if (detectedWhileRunning) {
        expect(record, ordering.join('')).toMatchObject({
          status: 'ORPHANED',
          reason: 'terminated',
          generation: 1,
        });
        expect(starts, ordering.join('')).toEqual([
          { name: `${id}-g1`, input: { instanceId: id, generation: 1 } },
        ]);
        expect(notificationsFor(id), ordering.join('')).toHaveLength(1);
      } else {
        // Only learnt of after it was gone: never recorded, never run, nobody told.
        expect(record, ordering.join('')).toBeUndefined();
        expect(starts, ordering.join('')).toEqual([]);
        expect(notificationsFor(id), ordering.join('')).toEqual([]);
      }
    }
  });

  it('a late running event for a terminated (ORPHANED) instance changes nothing', async () => {
    const id = newInstanceId();
    world.set(id, { state: 'running', tags: { [OPT_IN]: 'true' } });
    await handler(stateEvent(id, 'running'));
    world.set(id, { state: 'terminated', tags: { [OPT_IN]: 'true' } });
    await handler(stateEvent(id, 'terminated'));
    writes.reset();

    expect(await handler(stateEvent(id, 'running'))).toMatchObject({ action: 'ignored' });

    expect(await store.getInstance(id)).toMatchObject({ status: 'ORPHANED', generation: 1 });
    expect(startsFor(id)).toHaveLength(1);
    expect(notificationsFor(id)).toHaveLength(1);
    // The conditional orphan write is refused by DynamoDB, nothing lands.
    expect(writes.commands).toEqual(['UpdateItemCommand']);
  });
});

describe('hybrid nodes: tag changes on SSM managed nodes (mi-…)', () => {
  it('the fixture tag change on a listed managed node claims it as its inventory host, without asking EC2', async () => {
    // Act
    const outcome = await handler(MANAGED_TAG_FIXTURE);

    // Assess
    expect(outcome).toMatchObject({ instanceId: HYBRID, action: 'claimed', generation: 1 });
    expect(startsFor(HYBRID)).toEqual([
      { name: `${HYBRID}-g1`, input: { instanceId: HYBRID, generation: 1 } },
    ]);
    expect(await store.getInstance(HYBRID)).toMatchObject({
      source: 'inventory',
      facts: { name: 'onprem-web-1', vars: { site: 'dc1' } },
    });
    expect(ec2Mock.calls()).toHaveLength(0);
    // A duplicate finds the claim and starts nothing more.
    expect(await handler(MANAGED_TAG_FIXTURE)).toMatchObject({ instanceId: HYBRID, action: 'ignored' });
    expect(startsFor(HYBRID)).toHaveLength(1);
  });

  it('a managed node no inventory lists is ignored without touching the table', async () => {
    const unlisted = 'mi-0aaaaaaaaaaaaaaa1';
    const event = {
      ...MANAGED_TAG_FIXTURE,
      resources: [`arn:aws:ssm:us-east-1:123456789012:managed-instance/${unlisted}`],
    };

    expect(await handler(event)).toMatchObject({ instanceId: unlisted, action: 'ignored' });
    expect(writes.commands).toEqual([]);
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('malformed events', () => {
  const cases: [string, unknown, string][] = [
    ['not an object', 'hello', 'expected object, received string'],
    ['an SSM command fixture', fixture('ssm-command-status.json'), 'detail-type'],
    ['an SSM invocation fixture', fixture('ssm-command-invocation-status.json'), 'detail-type'],
    ['no detail', { ...RUNNING_FIXTURE, detail: undefined }, 'detail'],
    [
      'a bad instance id',
      { ...RUNNING_FIXTURE, detail: { 'instance-id': 'i-$(reboot)', state: 'running' } },
      'instance-id',
    ],
    [
      'an unknown state',
      { ...RUNNING_FIXTURE, detail: { 'instance-id': 'i-1234567890abcdef0', state: 'exploded' } },
      'state',
    ],
    [
      'a tag change on a volume',
      { ...TAG_FIXTURE, detail: { ...(TAG_FIXTURE.detail as object), 'resource-type': 'volume' } },
      'resource-type',
    ],
    [
      'a tag change without an instance ARN',
      { ...TAG_FIXTURE, resources: ['arn:aws:ec2:us-east-1:123456789012:volume/vol-1'] },
      'instance ARN',
    ],
    [
      'an ssm managed-instance tag change naming an EC2 instance ARN',
      {
        ...MANAGED_TAG_FIXTURE,
        resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-0000000aaaaaaaaaa'],
      },
      'managed node ARN',
    ],
    [
      'a tag change whose service does not own its resource type',
      { ...MANAGED_TAG_FIXTURE, detail: { ...(MANAGED_TAG_FIXTURE.detail as object), service: 'ec2' } },
      'service ssm with resource-type managed-instance',
    ],
  ];

  it.each(cases)('%s → InvalidInputError before any call', async (_name, event, where) => {
    await expect(handler(event)).rejects.toMatchObject({
      name: 'InvalidInputError',
      message: expect.stringContaining(where),
    });
    expect(writes.commands).toEqual([]);
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
    expect(lambdaMock.calls()).toHaveLength(0);
  });
});
