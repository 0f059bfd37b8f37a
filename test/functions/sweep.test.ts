// The sweep against DynamoDB Local (claims, the fleet index, zero-write steady state) with EC2, Step
// Functions and Lambda mocked. The EC2 mock evaluates the request's filters and pages like the real
// API, so the tests also prove the sweep asks for the right instances.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  EC2Client,
  type Instance,
  type InstanceStateName,
} from '@aws-sdk/client-ec2';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { writeBundle } from '../../functions/core/bundle.js';
import { fingerprint } from '../../functions/core/fingerprint.js';
import { matchRules } from '../../functions/core/matcher.js';
import { observeEc2 } from '../../functions/core/reconcile.js';
import type { RulesBundle } from '../../functions/core/types.js';
import { logger } from '../../functions/shared/logger.js';
import type { StateStore } from '../../functions/shared/state-store.js';
import { FLEET_INDEX } from '../../functions/shared/table-schema.js';
import {
  forEachLimited,
  runSweep,
  type SweepDeps,
  type SweepSummary,
} from '../../functions/sweep/run-sweep.js';
import { countCommands, createTestTable, type TestTable } from '../helpers/ddb.js';
import { rule, rulesBundle } from '../helpers/rules-bundle.js';

const OPT_IN = 'autoprov:enabled';
const HOLD = 'autoprov:hold';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:autoprov-provisioning';
const NOTIFIER = 'autoprov-notifier';
const T0 = new Date('2024-05-01T10:00:00.000Z');
const LEGACY = 'mi-0123456789abcdef0';
const BOTH = 'i-0bbbbbbbbbbbbbbb1';

function makeBundle(bundleHash: string): RulesBundle {
  return rulesBundle({
    // Every re-provision in one wave: the waves themselves are test/functions/rollout-wave.test.ts's.
    defaults: {
      rollout: {
        maxConcurrent: { kind: 'percent', value: 100 },
        maxErrors: { kind: 'percent', value: 100 },
      },
    },
    inventories: ['inventory/onprem.ini'],
    rules: [rule('baseline', ['baseline.yml']), rule('db', ['postgres.yml'], { groups: ['db'] })],
    inventoryHosts: [
      {
        name: 'legacy-1',
        instanceId: LEGACY,
        groups: ['all', 'legacy'],
        vars: { env: 'prod' },
        inventory: 'inventory/onprem.ini',
      },
      {
        name: 'db-1',
        instanceId: BOTH,
        groups: ['all', 'db'],
        vars: { env: 'prod' },
        inventory: 'inventory/onprem.ini',
      },
    ],
    bundleHash,
  });
}
const BUNDLE = makeBundle('1'.repeat(64));
const NO_INVENTORY: RulesBundle = { ...BUNDLE, inventoryHosts: [] };

// ---- the mocked world -------------------------------------------------------------------------
interface WorldInstance {
  state: string;
  tags: Record<string, string>;
}
const world = new Map<string, WorldInstance>();
const executions = new Map<string, string>();
const ec2Mock = mockClient(EC2Client);
const sfnMock = mockClient(SFNClient);
const lambdaMock = mockClient(LambdaClient);

function id(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}
function addInstances(
  count: number,
  options: { from?: number; state?: string; tags?: Record<string, string> } = {},
): string[] {
  const ids: string[] = [];
  for (let n = options.from ?? 1; ids.length < count; n++) {
    const instanceId = id(n);
    world.set(instanceId, { state: options.state ?? 'running', tags: { [OPT_IN]: 'true', ...options.tags } });
    ids.push(instanceId);
  }
  return ids;
}

function describeWorld(input: DescribeInstancesCommandInput) {
  const matches = [...world.entries()].filter(([instanceId, instance]) =>
    (input.Filters ?? []).every((filter) => {
      const values = filter.Values ?? [];
      if (filter.Name === 'instance-state-name') return values.includes(instance.state);
      if (filter.Name === 'instance-id') return values.includes(instanceId);
      if (filter.Name?.startsWith('tag:')) {
        const value = instance.tags[filter.Name.slice(4)];
        return value !== undefined && values.includes(value);
      }
      throw new Error(`filter ${filter.Name} not modelled`);
    }),
  );
  const pageSize = input.MaxResults ?? 1000;
  const start = Number(input.NextToken ?? '0');
  const page = matches.slice(start, start + pageSize);
  const instances: Instance[] = page.map(([instanceId, instance]) => ({
    InstanceId: instanceId,
    InstanceType: 't3.micro',
    State: { Name: instance.state as InstanceStateName },
    Tags: Object.entries(instance.tags).map(([Key, Value]) => ({ Key, Value })),
  }));
  // Several reservations per page, like the real API.
  const reservations = [];
  for (let i = 0; i < instances.length; i += 7) reservations.push({ Instances: instances.slice(i, i + 7) });
  return {
    Reservations: reservations,
    NextToken: start + pageSize < matches.length ? String(start + pageSize) : undefined,
  };
}

function mockWorld(): void {
  ec2Mock.reset();
  sfnMock.reset();
  lambdaMock.reset();
  ec2Mock
    .on(DescribeInstancesCommand)
    .callsFake(async (input: DescribeInstancesCommandInput) => describeWorld(input));
  sfnMock.on(StartExecutionCommand).callsFake(async (input: { name: string }) => {
    if (executions.has(input.name)) throw new ExecutionAlreadyExists({ message: 'exists', $metadata: {} });
    executions.set(input.name, 'RUNNING');
    return {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:autoprov-provisioning:${input.name}`,
      startDate: new Date(),
    };
  });
  sfnMock.on(DescribeExecutionCommand).callsFake(async (input: { executionArn: string }) => {
    const status = executions.get(input.executionArn.split(':').pop() ?? '');
    if (!status) throw new ExecutionDoesNotExist({ message: 'does not exist', $metadata: {} });
    return { executionArn: input.executionArn, status };
  });
  lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
}

function startedNames(): string[] {
  return sfnMock.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name ?? '');
}
function notifications(): unknown[] {
  return lambdaMock
    .commandCalls(InvokeCommand)
    .map((call) => JSON.parse(new TextDecoder().decode(call.args[0].input.Payload as Uint8Array)));
}

// ---- the sweep under test ---------------------------------------------------------------------
let table: TestTable;
let store: StateStore;
let clock: Date;

function deps(overrides: Partial<SweepDeps> = {}): SweepDeps {
  return {
    store,
    ec2: new EC2Client({}),
    sfn: new SFNClient({}),
    lambda: new LambdaClient({}),
    bundle: BUNDLE,
    stateMachineArn: STATE_MACHINE_ARN,
    notifierFunctionName: NOTIFIER,
    leaseSeconds: 7200,
    actor: 'sweep',
    now: () => clock,
    logger,
    ...overrides,
  };
}

/** Records the outcome the workflow would: match (fingerprint as the match λ computes it) then SUCCESS/FAILED. */
async function finishRun(
  instanceId: string,
  status: 'SUCCESS' | 'FAILED',
  bundle: RulesBundle = BUNDLE,
): Promise<void> {
  const record = await store.getInstance(instanceId);
  if (!record) throw new Error(`no record for ${instanceId}`);
  const match = matchRules(bundle.config, record.facts);
  const fp = fingerprint(match, bundle.bundleHash);
  expect(
    await store.recordMatch(
      instanceId,
      record.generation,
      { playbooks: match.playbooks, matchedRules: match.matchedRules, fingerprint: fp },
      clock,
    ),
  ).toEqual({ ok: true });
  expect(
    await store.recordOutcome(
      instanceId,
      record.generation,
      { status, fingerprint: fp, ...(status === 'FAILED' ? { reason: 'x failed' } : {}) },
      clock,
    ),
  ).toMatchObject({ ok: true });
  executions.set(record.executionName ?? '', status === 'SUCCESS' ? 'SUCCEEDED' : 'FAILED');
}

beforeEach(async () => {
  logger.setLogLevel('WARN');
  world.clear();
  executions.clear();
  mockWorld();
  table = await createTestTable();
  store = table.store;
  clock = T0;
});

describe('sweep', () => {
  it('new: claims every unseen opted-in instance and inventory host, once; ignores the rest', async () => {
    // Prepare: 3 opted-in (one also in the inventory), one not opted in, one terminated.
    addInstances(2);
    world.set(BOTH, { state: 'running', tags: { [OPT_IN]: 'true' } });
    world.set(id(100), { state: 'running', tags: { [OPT_IN]: 'false' } });
    world.set(id(101), { state: 'terminated', tags: { [OPT_IN]: 'true' } });

    // Act
    const summary = await runSweep(deps());

    // Assess
    expect(summary).toMatchObject({
      found: { ec2: 3, inventory: 1, known: 0 },
      new: 4,
      started: 4,
      errors: 0,
      claimsLost: 0,
    });
    expect(startedNames().sort()).toEqual(
      [`${id(1)}-g1`, `${id(2)}-g1`, `${BOTH}-g1`, `${LEGACY}-g1`].sort(),
    );
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE_ARN,
      name: `${LEGACY}-g1`,
      input: JSON.stringify({ instanceId: LEGACY, generation: 1 }),
    });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      MaxResults: 1000,
      Filters: [
        { Name: `tag:${OPT_IN}`, Values: ['true'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    });
    expect(await store.getInstance(BOTH)).toMatchObject({
      source: 'ec2',
      facts: { groups: ['all', 'db'], vars: { env: 'prod' } },
    });
    expect(await store.getInstance(LEGACY)).toMatchObject({
      source: 'inventory',
      status: 'RUNNING',
      facts: { name: 'legacy-1' },
    });
    expect(await store.getInstance(id(100))).toBeUndefined();
    expect(await store.getInstance(id(101))).toBeUndefined();

    // A second sweep right after: everything is RUNNING under a live lease → nothing to do.
    const again = await runSweep(deps());
    expect(again).toMatchObject({ new: 0, started: 0, due: 0, updated: 0 });
    expect(startedNames()).toHaveLength(4);
  });

  it('steady state: a settled fleet costs one fleet query and the EC2 pages, and writes NOTHING', async () => {
    const ids = addInstances(5);
    world.set(id(50), { state: 'stopped', tags: { [OPT_IN]: 'true' } });
    world.set(id(51), { state: 'running', tags: { [OPT_IN]: 'true', [HOLD]: 'true' } });
    await runSweep(deps());
    // BOTH is not in EC2 here, so both inventory hosts are inventory-only records.
    for (const instanceId of [...ids.slice(0, 3), BOTH, LEGACY]) await finishRun(instanceId, 'SUCCESS');
    await finishRun(ids[3] as string, 'FAILED');
    // ids[4] stays RUNNING under its live lease.
    mockWorld();
    const counter = countCommands(table.doc);
    clock = new Date(T0.getTime() + 600_000);

    const summary = await runSweep(deps());

    expect(counter.writes()).toBe(0);
    expect(counter.commands).toEqual(['QueryCommand']);
    expect(ec2Mock.calls()).toHaveLength(1);
    expect(sfnMock.calls()).toHaveLength(0);
    expect(lambdaMock.calls()).toHaveLength(0);
    expect(summary).toMatchObject({
      found: { ec2: 7, inventory: 2, known: 9 },
      held: 1,
      new: 0,
      updated: 0,
      started: 0,
      errors: 0,
    });
  });

  it('due: a PENDING record (stopped when found) is claimed once it runs', async () => {
    world.set(id(1), { state: 'stopped', tags: { [OPT_IN]: 'true' } });
    const first = await runSweep(deps({ bundle: NO_INVENTORY }));
    expect(first).toMatchObject({ new: 1, started: 0 });
    expect(await store.getInstance(id(1))).toMatchObject({ status: 'PENDING', facts: { state: 'stopped' } });

    world.set(id(1), { state: 'running', tags: { [OPT_IN]: 'true' } });
    const second = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(second).toMatchObject({ due: 1, updated: 1, started: 1 });
    expect(startedNames()).toEqual([`${id(1)}-g1`]);
    const claimed = (await store.listHistory(id(1))).find((e) => e.type === 'CLAIMED');
    expect(claimed).toMatchObject({ actor: 'sweep', reason: 'pending' });
  });

  it('expired lease: extends it while the execution runs, reclaims when it failed', async () => {
    addInstances(2);
    await runSweep(deps({ bundle: NO_INVENTORY, leaseSeconds: 60 }));
    executions.set(`${id(2)}-g1`, 'FAILED');
    clock = new Date(T0.getTime() + 120_000);

    const summary = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(summary).toMatchObject({ leaseExtended: 1, reclaimed: 1, started: 1, errors: 0 });
    expect(await store.getInstance(id(1))).toMatchObject({
      status: 'RUNNING',
      generation: 1,
      leaseExpiresAt: new Date(clock.getTime() + 7200_000).toISOString(),
    });
    expect(await store.getInstance(id(2))).toMatchObject({
      status: 'RUNNING',
      generation: 2,
      executionName: `${id(2)}-g2`,
    });
    // The first sweep starts both claims concurrently: their order is not defined, the reclaim comes last.
    expect(startedNames().slice(0, 2).sort()).toEqual([`${id(1)}-g1`, `${id(2)}-g1`]);
    expect(startedNames()[2]).toBe(`${id(2)}-g2`);
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:autoprov-provisioning:${id(2)}-g1`,
    });
  });

  it('expired lease of a claim whose StartExecution never happened → reclaimed', async () => {
    addInstances(1);
    const observed = observeEc2(
      {
        InstanceId: id(1),
        InstanceType: 't3.micro',
        State: { Name: 'running' },
        Tags: [{ Key: OPT_IN, Value: 'true' }],
      },
      NO_INVENTORY,
    );
    await store.upsertDetection(observed.facts, { held: false, actor: 'test', now: T0 });
    await store.claim(id(1), {
      reason: 'new',
      leaseSeconds: 60,
      actor: 'crashed-detector',
      now: T0,
      expectedGeneration: 0,
    });
    clock = new Date(T0.getTime() + 120_000);

    const summary = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(summary).toMatchObject({ reclaimed: 1, started: 1 });
    expect(startedNames()).toEqual([`${id(1)}-g2`]);
  });

  it('changed fingerprint: SUCCESS and FAILED are re-provisioned after a bundle change, not before', async () => {
    addInstances(2);
    await runSweep(deps({ bundle: NO_INVENTORY }));
    await finishRun(id(1), 'SUCCESS', NO_INVENTORY);
    await finishRun(id(2), 'FAILED', NO_INVENTORY);

    const unchanged = await runSweep(deps({ bundle: NO_INVENTORY }));
    expect(unchanged).toMatchObject({ reprovisioned: 0, started: 0 });

    const changedBundle = { ...makeBundle('2'.repeat(64)), inventoryHosts: [] };
    const changed = await runSweep(deps({ bundle: changedBundle }));

    expect(changed).toMatchObject({ reprovisioned: 2, started: 2 });
    expect(startedNames().slice(2).sort()).toEqual([`${id(1)}-g2`, `${id(2)}-g2`]);
    const claimed = (await store.listHistory(id(2))).filter((e) => e.type === 'CLAIMED').map((e) => e.reason);
    expect(claimed).toEqual(['new', 'fingerprint-changed']);
  });

  it('global pause: records are kept up to date, nothing is claimed, and the summary says paused', async () => {
    addInstances(2);
    await store.setGlobalPause({ actor: 'ops', now: T0, reason: 'maintenance' });

    const paused = await runSweep(deps({ bundle: NO_INVENTORY }));
    await store.clearGlobalPause();
    const resumed = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(paused).toMatchObject({ paused: true, new: 2, started: 0, admission: { 'globally-paused': 2 } });
    expect(startedNames().sort()).toEqual([`${id(1)}-g1`, `${id(2)}-g1`]);
    expect(resumed).toMatchObject({ paused: false, due: 2, started: 2 });
  });

  it('re-provisions are one rollout, admitted in waves of maxConcurrent; the next sweep starts the next wave', async () => {
    const waves = { ...makeBundle('4'.repeat(64)), inventoryHosts: [] };
    const bundle: RulesBundle = {
      ...waves,
      config: {
        ...waves.config,
        defaults: {
          ...waves.config.defaults,
          rollout: { maxConcurrent: { kind: 'count', value: 2 }, maxErrors: { kind: 'count', value: 0 } },
        },
      },
    };
    addInstances(5);
    await runSweep(deps({ bundle: NO_INVENTORY }));
    for (let n = 1; n <= 5; n++) await finishRun(id(n), 'SUCCESS', NO_INVENTORY);

    const first = await runSweep(deps({ bundle }));
    const second = await runSweep(deps({ bundle }));
    for (const name of startedNames().filter((n) => n.endsWith('-g2')))
      await finishRun(name.replace(/-g2$/, ''), 'SUCCESS', bundle);
    const third = await runSweep(deps({ bundle }));

    const rollout = await store.currentRollout();
    expect(first).toMatchObject({ reprovisioned: 2, admission: { full: 3 }, rollout: { created: true } });
    expect(second).toMatchObject({ reprovisioned: 0, admission: { full: 3 }, rollout: { created: false } });
    expect(third).toMatchObject({ reprovisioned: 2, admission: { full: 1 } });
    expect(rollout).toMatchObject({ due: 5, lanes: { default: { total: 5, limit: 2, started: 4 } } });
  });

  it('changed facts that change the match re-provision; facts alone only refresh', async () => {
    addInstances(2);
    await runSweep(deps({ bundle: NO_INVENTORY }));
    await finishRun(id(1), 'SUCCESS', NO_INVENTORY);
    await finishRun(id(2), 'SUCCESS', NO_INVENTORY);
    world.set(id(1), { state: 'running', tags: { [OPT_IN]: 'true', 'autoprov:groups': 'db' } });
    world.set(id(2), { state: 'running', tags: { [OPT_IN]: 'true', owner: 'team-b' } });
    const counter = countCommands(table.doc);

    const summary = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(summary).toMatchObject({ reprovisioned: 1, updated: 2, started: 1 });
    expect(startedNames().at(-1)).toBe(`${id(1)}-g2`);
    expect(await store.getInstance(id(2))).toMatchObject({
      status: 'SUCCESS',
      generation: 1,
      facts: { tags: { owner: 'team-b' } },
    });
    // Refresh = GetItem + UpdateItem + history; the first re-provision of this bundle creates its rollout
    // (one transaction); the claim in it = one transaction + history.
    expect(counter.writes()).toBe(2 * 2 + 1 + 2);
  });

  it('vanished from the opted-in listing → ORPHANED with the reason EC2 gives (terminated, opted-out) + one notification; stopped instances are not vanished', async () => {
    addInstances(3);
    await runSweep(deps({ bundle: NO_INVENTORY }));
    world.delete(id(1));
    world.set(id(2), { state: 'stopped', tags: { [OPT_IN]: 'true' } });
    world.set(id(3), { state: 'running', tags: { [OPT_IN]: 'false' } });

    const summary = await runSweep(deps({ bundle: NO_INVENTORY }));
    const again = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(summary).toMatchObject({ orphaned: 2, updated: 1 });
    expect(again).toMatchObject({ orphaned: 0 });
    // Gone from EC2 → terminated; still there without the opt-in tag → opted-out (their events were lost).
    expect(await store.getInstance(id(1))).toMatchObject({
      status: 'ORPHANED',
      reason: 'terminated',
      generation: 1,
    });
    expect(await store.getInstance(id(3))).toMatchObject({ status: 'ORPHANED', reason: 'opted-out' });
    expect(await store.getInstance(id(2))).toMatchObject({ status: 'RUNNING', facts: { state: 'stopped' } });
    expect(notifications()).toEqual(
      expect.arrayContaining([
        { instanceId: id(1), generation: 1, status: 'ORPHANED', notify: true, reason: 'terminated' },
        { instanceId: id(3), generation: 1, status: 'ORPHANED', notify: true, reason: 'opted-out' },
      ]),
    );
    // Exactly one extra DescribeInstances, by id, for the two that vanished; none in the steady sweep after.
    const byId = ec2Mock
      .commandCalls(DescribeInstancesCommand)
      .filter((call) => call.args[0].input.Filters?.some((f) => f.Name === 'instance-id'));
    expect(byId.map((call) => call.args[0].input.Filters?.[0]?.Values?.sort())).toEqual([
      [id(1), id(3)].sort(),
    ]);
    expect(notifications()).toHaveLength(2);

    // Opted in again: revived as PENDING and claimed under the next generation.
    world.set(id(3), { state: 'running', tags: { [OPT_IN]: 'true' } });
    const revived = await runSweep(deps({ bundle: NO_INVENTORY }));
    expect(revived).toMatchObject({ revived: 1, due: 1, started: 1 });
    expect(startedNames().at(-1)).toBe(`${id(3)}-g2`);
  });

  it('held instances are recorded and never claimed; a steady held instance costs nothing', async () => {
    addInstances(1, { tags: { [HOLD]: 'true' } });

    const first = await runSweep(deps({ bundle: NO_INVENTORY }));
    const counter = countCommands(table.doc);
    const second = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(first).toMatchObject({ new: 1, held: 1, started: 0 });
    expect(second).toMatchObject({ held: 1, new: 0, updated: 0 });
    expect(counter.writes()).toBe(0);
    expect(await store.getInstance(id(1))).toMatchObject({ status: 'PENDING', held: true });
    expect(startedNames()).toEqual([]);
  });

  // 2,001 records written to DynamoDB Local: more than a minute on a loaded 2-core machine (the tier's
  // timeout is the safety net for that, vitest.config.ts).
  it('paginates DescribeInstances: 2,001 instances in 3 pages of at most 1,000', async () => {
    addInstances(2001, { tags: { [HOLD]: 'true' } });

    const summary = await runSweep(deps({ bundle: NO_INVENTORY, concurrency: 25 }));

    expect(summary.found.ec2).toBe(2001);
    expect(summary.apiPages.describeInstances).toBe(3);
    const tokens = ec2Mock.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input.NextToken);
    expect(tokens).toEqual([undefined, '1000', '2000']);
    expect((await store.listFleet()).length).toBe(2001);
  });

  it('vanished, and EC2 cannot be asked why: still ORPHANED, as vanished', async () => {
    addInstances(2);
    await runSweep(deps({ bundle: NO_INVENTORY }));
    world.delete(id(1));
    ec2Mock.on(DescribeInstancesCommand).callsFake(async (input: DescribeInstancesCommandInput) => {
      if (input.Filters?.some((f) => f.Name === 'instance-id'))
        throw Object.assign(new Error('Request limit exceeded.'), { name: 'RequestLimitExceeded' });
      return describeWorld(input);
    });

    const summary = await runSweep(deps({ bundle: NO_INVENTORY }));

    expect(summary).toMatchObject({ orphaned: 1, errors: 0 });
    expect(await store.getInstance(id(1))).toMatchObject({ status: 'ORPHANED', reason: 'vanished' });
  });

  it('new instances are claimed before re-provisions; a failing instance does not stop the others', async () => {
    addInstances(12);
    await runSweep(deps({ bundle: NO_INVENTORY }));
    for (let n = 1; n <= 12; n++) await finishRun(id(n), 'SUCCESS', NO_INVENTORY);
    addInstances(12, { from: 101 });
    let inFlight = 0;
    let maxInFlight = 0;
    sfnMock.on(StartExecutionCommand).callsFake(async (input: { name: string }) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      if (input.name === `${id(105)}-g1`)
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      executions.set(input.name, 'RUNNING');
      return {
        executionArn: `arn:aws:states:us-east-1:123456789012:execution:autoprov-provisioning:${input.name}`,
        startDate: new Date(),
      };
    });
    sfnMock.resetHistory();

    const summary = await runSweep(
      deps({ bundle: { ...makeBundle('3'.repeat(64)), inventoryHosts: [] }, concurrency: 4 }),
    );

    expect(summary).toMatchObject({ new: 12, reprovisioned: 12, started: 23, errors: 1 });
    // Bounded: never more than `concurrency` StartExecution calls at once (and more than one: concurrent).
    expect(maxInFlight).toBeLessThanOrEqual(4);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(summary.failures).toEqual([{ instanceId: id(105), error: 'ThrottlingException: Rate exceeded' }]);
    const names = startedNames();
    const lastNew = Math.max(...names.map((name, i) => (name.endsWith('-g1') ? i : -1)));
    const firstReprovision = names.findIndex((name) => name.endsWith('-g2'));
    expect(lastNew).toBeLessThan(firstReprovision);
    // The failed start released its lease: the next sweep reclaims it straight away.
    const retry = await runSweep(deps({ bundle: { ...makeBundle('3'.repeat(64)), inventoryHosts: [] } }));
    expect(retry).toMatchObject({ reclaimed: 1, errors: 0 });
    expect(startedNames().at(-1)).toBe(`${id(105)}-g2`);
  });

  it('API calls of a steady-state sweep over 1,200 instances: fleet pages + DescribeInstances pages only', async () => {
    // 1,200: more than one DescribeInstances page (1,000 at most). The 10,000-instance figure is `npm run bench`'s.
    const ids = addInstances(1200);
    const seeded = await runSweep(deps({ bundle: NO_INVENTORY, concurrency: 25 }));
    expect(seeded).toMatchObject({ new: 1200, started: 1200, errors: 0 });
    // Settle half of them as SUCCESS: those items carry both fingerprints (the largest fleet entries).
    for (let i = 0; i < 600; i += 25) {
      await Promise.all(
        ids.slice(i, i + 25).map((instanceId) => finishRun(instanceId, 'SUCCESS', NO_INVENTORY)),
      );
    }
    mockWorld();
    const counter = countCommands(table.doc);
    clock = new Date(T0.getTime() + 600_000);

    const summary: SweepSummary = await runSweep(deps({ bundle: NO_INVENTORY }));

    const fleetPages = counter.commands.filter((name) => name === 'QueryCommand').length;
    const ec2Pages = ec2Mock.commandCalls(DescribeInstancesCommand).length;
    const apiCalls =
      counter.commands.length + ec2Mock.calls().length + sfnMock.calls().length + lambdaMock.calls().length;
    const writes = counter.writes();
    // How many fleet entries one 1 MB page holds (half SUCCESS, half RUNNING): to extrapolate to 10,000.
    const firstPage = await table.doc.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: FLEET_INDEX.name,
        KeyConditionExpression: 'fleetPk = :f',
        ExpressionAttributeValues: { ':f': FLEET_INDEX.partitionValue },
      }),
    );
    console.log(
      `[sweep budget] steady state over 1,200 instances: ${apiCalls} AWS API calls ` +
        `(fleet Query pages=${fleetPages}, DescribeInstances pages=${ec2Pages}), DynamoDB writes=${writes}, ` +
        `${summary.durationMs} ms; first fleet page holds ${firstPage.Count} entries`,
    );
    expect(writes).toBe(0);
    expect(apiCalls).toBe(fleetPages + ec2Pages);
    expect(ec2Pages).toBe(2);
    expect(fleetPages).toBeGreaterThanOrEqual(1);
    expect(fleetPages).toBeLessThanOrEqual(2);
    expect(sfnMock.calls()).toHaveLength(0);
    expect(lambdaMock.calls()).toHaveLength(0);
    expect(summary).toMatchObject({
      found: { ec2: 1200, inventory: 0, known: 1200 },
      started: 0,
      updated: 0,
      errors: 0,
    });
  }, 180_000);
});

describe('sweep handler', () => {
  it('runs with its environment, logs one summary and emits it as EMF metrics', async () => {
    // Prepare
    addInstances(2);
    const dir = mkdtempSync(join(tmpdir(), 'autoprov-sweep-'));
    writeBundle(NO_INVENTORY, join(dir, 'rules.json'));
    vi.stubEnv('TABLE_NAME', table.tableName);
    vi.stubEnv('STATE_MACHINE_ARN', STATE_MACHINE_ARN);
    vi.stubEnv('NOTIFIER_FUNCTION_NAME', NOTIFIER);
    vi.stubEnv('RULES_BUNDLE_PATH', join(dir, 'rules.json'));
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', inject('dynamoDbEndpoint'));
    vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'AutoprovTest');
    const output: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output.push(String(chunk));
      return true;
    });
    const { handler } = await import('../../functions/sweep/handler.js');

    // Act
    let summary: SweepSummary;
    try {
      summary = await handler();
    } finally {
      spy.mockRestore();
    }

    // Assess
    expect(summary).toMatchObject({ new: 2, started: 2, errors: 0 });
    expect(await store.getInstance(id(1))).toMatchObject({
      status: 'RUNNING',
      accountId: '123456789012',
      region: 'us-east-1',
    });
    const emf = output
      .map((line) => line.trim())
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line));
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      SweepNew: 2,
      SweepStarted: 2,
      SweepErrors: 0,
      SweepFoundEc2: 2,
      service: 'sweep',
    });
    expect(emf[0]._aws.CloudWatchMetrics[0].Namespace).toBe('AutoprovTest');
  });
});

describe('forEachLimited', () => {
  it('runs every item once, starts them in order, and keeps at most `limit` in flight', async () => {
    // Arrange
    const started: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;

    // Act
    await forEachLimited([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3, async (item) => {
      started.push(item);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, (item % 3) * 3));
      inFlight -= 1;
    });

    // Assess
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(maxInFlight).toBe(3);
  });

  it('copes with no items and with a limit below 1', async () => {
    // Arrange
    const seen: string[] = [];

    // Act
    await forEachLimited([], 4, async () => {
      seen.push('never');
    });
    await forEachLimited(['a', 'b'], 0, async (item) => {
      seen.push(item);
    });

    // Assess
    expect(seen).toEqual(['a', 'b']);
  });
});
