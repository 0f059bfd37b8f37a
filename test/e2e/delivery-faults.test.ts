// End to end under delivery faults (issue 5, scenarios 3, 4 and 6), with simulated Ansible (the playbook
// runs add nothing here; everything else is the deployable code on the local emulators):
// - every event delivered 1–3 times, shuffled → one execution and one SendCommand per playbook;
// - every event about an instance lost (EC2 and SSM status events alike) → the sweep and the workflow's
//   own timeout + "ask SSM" path still provision it;
// - 20% of SSM, Step Functions and DynamoDB calls throttled → nothing lost, nothing duplicated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '../../functions/core/status.js';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import type { BusEvent } from '../../scripts/local/event-bus.js';
import type { InstanceSpec } from '../../scripts/local/fleet.js';
import { type LocalStack, startLocalStack } from '../../scripts/local/stack.js';
import {
  APPLY_DOCUMENT,
  assertTools,
  countBy,
  ec2Id,
  executionsOf,
  FIXED_RULES,
  historyOf,
  notificationsOf,
  ofType,
  optedIn,
  records,
  rulesFile,
  stateDir,
} from './support.js';

/** Odd instances are web servers (baseline.yml + webserver.yml), even ones get baseline.yml only. */
function burst(scenario: number, count: number, webGroup: Record<string, string>): InstanceSpec[] {
  return Array.from({ length: count }, (_, i) =>
    optedIn(ec2Id(scenario, i + 1), `s${scenario}-${i + 1}`, i % 2 === 0 ? webGroup : {}),
  );
}

/** Playbooks the rules select for an instance of `burst`. */
const expectedPlaybooks = (i: number) => (i % 2 === 0 ? ['baseline.yml', 'webserver.yml'] : ['baseline.yml']);

describe('scenario 3: every event delivered 1–3 times, in random order', () => {
  const COUNT = 15;
  // The shipped rules: web servers in production on t3.* get webserver.yml too.
  const fleet = burst(3, COUNT, { 'autoprov:groups': 'webservers', Environment: 'production' }).map((s) => ({
    ...s,
    instanceType: 't3.micro',
  }));
  const ids = fleet.map((s) => s.instanceId as string);
  let stack: LocalStack;

  beforeAll(async () => {
    assertTools({ ansible: false });
    stack = await startLocalStack({
      stateDir: stateDir('duplicates'),
      simulatedAnsible: true,
      // Events only (the inventory's hybrid nodes are not swept in).
      sweepSchedule: false,
      seed: 3,
      eventFaults: { duplicates: [1, 3], shuffle: true, delayMs: [0, 25] },
      fleet: { instances: fleet },
    });
    await stack.waitForIdle({ timeoutMs: 180_000 });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
  });

  it('provisions every instance once: SUCCESS in generation 1, nothing lost', async () => {
    // Act
    const all = await records(stack);

    // Assess: the faults happened
    expect(stack.bus.stats.duplicated).toBeGreaterThan(COUNT);
    // Assess
    for (const [i, id] of ids.entries()) {
      const record = all.get(id);
      expect(record?.status, id).toBe('SUCCESS');
      expect(record?.generation, id).toBe(1);
      expect(record?.playbooks?.map((p) => [p.file, p.status, p.attempts])).toEqual(
        expectedPlaybooks(i).map((file) => [file, 'Success', 1]),
      );
    }
    expect(all.size).toBe(COUNT);
  });

  it('started exactly one execution per instance and sent one SendCommand per playbook', () => {
    // Act
    const executions = stack.executions();
    const commands = countBy(
      stack.commands(),
      (c) => `${c.instanceId} ${c.documentName} ${c.playbook ?? ''}`,
    );
    const webServers = ids.filter((_, i) => i % 2 === 0).length;

    // Assess
    expect(executions.map((e) => [e.name, e.status]).sort()).toEqual(
      ids.map((id) => [`${id}-g1`, 'SUCCEEDED']).sort(),
    );
    expect([...new Set(commands.values())]).toEqual([1]);
    expect(commands.size).toBe(COUNT * 2 + webServers);
    for (const [i, id] of ids.entries()) {
      expect(commands.get(`${id} ${APPLY_DOCUMENT} baseline.yml`)).toBe(1);
      expect(commands.get(`${id} ${APPLY_DOCUMENT} webserver.yml`)).toBe(i % 2 === 0 ? 1 : undefined);
    }
    expect(stack.counters()['SSM.SendCommand']?.calls).toBe(COUNT * 2 + webServers);
  });

  it('recorded one claim, one result per command and one notification per instance, despite repeated status events', async () => {
    for (const id of ids) {
      // Act
      const history = await historyOf(stack, id);
      const sent = stack.commands().filter((c) => c.instanceId === id);

      // Assess: one result per command id (a repeated status event must not record it again)
      expect(ofType(history, 'CLAIMED'), id).toHaveLength(1);
      expect(ofType(history, 'COMMAND_SENT'), id).toHaveLength(sent.length);
      expect(
        countBy(ofType(history, 'PLAYBOOK_SUCCEEDED'), (e) => String(e.details?.commandId)),
        id,
      ).toEqual(new Map(sent.map((c) => [c.commandId, 1])));
      expect(ofType(history, 'NOTIFIED'), id).toHaveLength(1);
      expect(notificationsOf(stack, id), id).toHaveLength(1);
    }
    expect(stack.notifications()).toHaveLength(COUNT);
    expect(stack.deadLetters()).toEqual([]);
  });
});

describe('scenario 4: an instance whose events are all lost', () => {
  const SEEN = ec2Id(4, 1);
  const LOST = ec2Id(4, 2);
  /** Every event that names the lost instance: its EC2 state and tag events, and its SSM command status events. */
  const aboutLost = (event: BusEvent) => JSON.stringify(event).includes(LOST);
  let stack: LocalStack;
  let before: {
    lost: InstanceRecord | undefined;
    seen: InstanceRecord | undefined;
    dropped: number;
    lostExecutions: number;
  };
  let sweep: Record<string, unknown>;

  beforeAll(async () => {
    assertTools({ ansible: false });
    const dir = stateDir('lost');
    stack = await startLocalStack({
      stateDir: dir,
      rules: rulesFile(dir, 'sweep', FIXED_RULES),
      simulatedAnsible: true,
      sweepSchedule: false,
      // Real task timeouts (35 min for a playbook): the test times out the lost instance's waits itself.
      eventFaults: { dropIf: aboutLost },
      fleet: { instances: [optedIn(SEEN, 'seen-1'), optedIn(LOST, 'lost-1')] },
    });
    await stack.waitForIdle({ timeoutMs: 120_000 });
    before = {
      lost: await stack.store.getInstance(LOST),
      seen: await stack.store.getInstance(SEEN),
      dropped: stack.bus.stats.dropped,
      lostExecutions: executionsOf(stack, LOST).length,
    };
    sweep = (await stack.sweepNow()) as Record<string, unknown>;
    // What the callback wait's TimeoutSeconds does in AWS, decided by the test instead of a scaled timer:
    // once the lost instance's commands have ended and nothing else can happen (its status events will
    // never come), its waiting task times out (waitForIdle's timeOutParkedTasks).
    await stack.waitForIdle({ timeoutMs: 120_000, timeOutParkedTasks: true });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
  });

  it('knows nothing of the instance until the sweep: its launch events never arrived', () => {
    // Assess
    expect(before.dropped).toBeGreaterThanOrEqual(3);
    expect(before.lost).toBeUndefined();
    expect(before.seen?.status).toBe('SUCCESS');
    expect(before.lostExecutions).toBe(0);
  });

  it('is detected, claimed and provisioned by the sweep', async () => {
    // Act
    const record = await stack.store.getInstance(LOST);
    const history = await historyOf(stack, LOST);

    // Assess
    expect(sweep).toMatchObject({ new: 1, started: 1, errors: 0 });
    expect(record?.status).toBe('SUCCESS');
    expect(record?.generation).toBe(1);
    expect(record?.playbooks?.map((p) => [p.file, p.status])).toEqual([['baseline.yml', 'Success']]);
    expect(ofType(history, 'DETECTED').map((e) => e.actor)).toEqual(['sweep']);
    expect(ofType(history, 'CLAIMED').map((e) => [e.actor, e.reason])).toEqual([['sweep', 'new']]);
    expect(notificationsOf(stack, LOST)).toHaveLength(1);
  });

  it('finished its commands without any status event: the workflow asked SSM after its wait timed out', () => {
    // Act
    const [lost] = executionsOf(stack, LOST);
    const [seen] = executionsOf(stack, SEEN);
    const commands = stack.commands().filter((c) => c.instanceId === LOST);

    // Assess
    expect(executionsOf(stack, LOST)).toHaveLength(1);
    expect({ status: lost?.status, error: lost?.error, cause: lost?.cause }).toEqual({
      status: 'SUCCEEDED',
      error: undefined,
      cause: undefined,
    });
    expect(lost?.byState['Ask SSM whether Ansible is installed']).toBe(1);
    expect(lost?.byState['Ask SSM for the result']).toBe(1);
    expect(commands.map((c) => [c.playbook ?? 'ensure-ansible', c.status])).toEqual([
      ['ensure-ansible', 'Success'],
      ['baseline.yml', 'Success'],
    ]);
    // The instance whose events arrived was woken by them.
    expect(seen?.byState['Ask SSM for the result']).toBeUndefined();
  });
});

describe('scenario 6: 20% of SSM, Step Functions and DynamoDB calls throttled', () => {
  const COUNT = 8;
  const fleet = burst(6, COUNT, { 'autoprov:groups': 'webservers' });
  const ids = fleet.map((s) => s.instanceId as string);
  let stack: LocalStack;

  /**
   * Idle, then a sweep for anything not finished once its lease expired (a StartExecution lost to
   * throttling is recovered that way, as in AWS), until every instance has a terminal record.
   */
  async function settle(): Promise<void> {
    for (let round = 0; round < 8; round++) {
      // A task whose callback can never come times out when nothing else can happen (see below).
      await stack.waitForIdle({ timeoutMs: 180_000, timeOutParkedTasks: true });
      const all = await records(stack);
      const open = ids.map((id) => all.get(id)).filter((r) => !r || !isTerminal(r.status));
      if (open.length === 0) return;
      // Leases run out on the functions' clock, moved by the test (no waiting).
      const lease = Math.max(0, ...open.map((r) => Date.parse(r?.leaseExpiresAt ?? '') || 0));
      stack.advanceClock(Math.max(0, Math.ceil((lease - stack.clockNow()) / 1000)) + 1);
      await stack.sweepNow().catch(() => {
        // The sweep's own calls are throttled too; the next round sweeps again.
      });
    }
  }

  beforeAll(async () => {
    assertTools({ ansible: false });
    const dir = stateDir('throttled');
    stack = await startLocalStack({
      stateDir: dir,
      rules: rulesFile(dir, 'sweep', FIXED_RULES),
      simulatedAnsible: true,
      sweepSchedule: false,
      seed: 6,
      throttle: { SSM: 0.2, SFN: 0.2, DynamoDB: 0.2 },
      // A status event can beat the throttled write of its command id and exhaust the callback's async
      // retries (seconds at this time scale, minutes on AWS): the workflow's designed recovery is the task
      // timeout, then "Ask SSM for the result". The test times such a task out as soon as nothing else
      // can complete it (waitForIdle's timeOutParkedTasks), instead of a scaled 2,100 s timer.
      fleet: { instances: fleet },
    });
    await settle();
  }, 400_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
  });

  it('throttled calls to each service really happened', () => {
    // Act
    const throttled = (service: string) =>
      Object.entries(stack.counters())
        .filter(([key]) => key.startsWith(`${service}.`))
        .reduce((sum, [, c]) => sum + c.throttled, 0);

    // Assess
    expect(throttled('SSM')).toBeGreaterThan(0);
    expect(throttled('SFN')).toBeGreaterThan(0);
    expect(throttled('DynamoDB')).toBeGreaterThan(0);
    expect(stack.counters()['SSM.SendCommand']?.throttled).toBeGreaterThan(0);
  });

  it('loses nothing: every instance ends SUCCESS with every playbook run', async () => {
    // Act
    const all = await records(stack);

    // Assess
    for (const [i, id] of ids.entries()) {
      expect(all.get(id)?.status, id).toBe('SUCCESS');
      expect(
        all.get(id)?.playbooks?.map((p) => [p.file, p.status, p.attempts]),
        id,
      ).toEqual(expectedPlaybooks(i).map((file) => [file, 'Success', 1]));
    }
  });

  it('duplicates nothing: one execution per generation, one SendCommand per playbook of it, one notification', async () => {
    const all = await records(stack);
    for (const [i, id] of ids.entries()) {
      // Act
      const generation = all.get(id)?.generation ?? 0;
      const executions = executionsOf(stack, id);
      const sent = stack.commands().filter((c) => c.instanceId === id);
      const byComment = countBy(sent, (c) => c.comment ?? '');
      const final = sent.filter((c) => c.comment?.startsWith(`${id}-g${generation}/`));

      // Assess
      expect(
        executions.filter((e) => e.name === `${id}-g${generation}`).map((e) => e.status),
        id,
      ).toEqual(['SUCCEEDED']);
      expect(executions.every((e) => Number(e.name.split('-g').at(-1)) <= generation)).toBe(true);
      expect([...new Set(byComment.values())], id).toEqual([1]);
      expect(
        final.map((c) => c.playbook ?? 'ensure-ansible'),
        id,
      ).toEqual(['ensure-ansible', ...expectedPlaybooks(i)]);
      expect(notificationsOf(stack, id), id).toHaveLength(1);
    }
  });
});
