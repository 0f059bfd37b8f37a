// End to end (issue 5, scenario 8): instances that leave the fleet become ORPHANED with the reason, and
// are notified once — terminated (EC2 event), opted out (the opt-in tag removed), and vanished (an
// inventory host no longer listed: found by the sweep after a restart with rules that list no inventory).
// Events are duplicated and shuffled throughout. Simulated Ansible.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEvent, InstanceRecord } from '../../functions/shared/state-store-api.js';
import type { InstanceSpec } from '../../scripts/local/fleet.js';
import type { PublishedMessage } from '../../scripts/local/services/sns.js';
import { type LocalStack, startLocalStack } from '../../scripts/local/stack.js';
import { SAMPLE_INVENTORY } from '../helpers/sample-inventory.js';
import {
  assertTools,
  ec2Id,
  FIXED_RULES,
  historyOf,
  ofType,
  optedIn,
  records,
  rulesFile,
  stateDir,
} from './support.js';

const TERMINATED = ec2Id(8, 1);
const OPTED_OUT = ec2Id(8, 2);
/** The hosts of the sample playbooks/inventory/onprem.example.ini, as registered hybrid nodes. */
const HYBRID: readonly InstanceSpec[] = [
  { instanceId: 'mi-0123456789abcdef0', name: 'onprem-web-1' },
  { instanceId: 'mi-0abcdef1234567890', name: 'web-dc2-01' },
  { instanceId: 'mi-0fedcba9876543210', name: 'onprem-db-1' },
];
const HYBRID_IDS = HYBRID.map((h) => h.instanceId as string);
const eventFaults = { duplicates: [1, 3], shuffle: true } as const;

const about = (messages: readonly PublishedMessage[], id: string) =>
  messages.filter((m) => m.message.includes(`Instance: ${id}`));

describe('scenario 8: terminated, opted-out and vanished instances', () => {
  const dir = stateDir('orphans');
  let first: LocalStack | undefined;
  let second: LocalStack | undefined;
  let provisioned: Map<string, InstanceRecord>;
  let orphaned: Map<string, InstanceRecord>;
  let firstMessages: PublishedMessage[] = [];
  let quietSweep: Record<string, unknown>;
  let quietMessages = 0;
  let vanishSweep: Record<string, unknown>;
  let secondMessages: PublishedMessage[] = [];
  let repeatSweep: Record<string, unknown>;
  let repeatMessages = 0;
  let final: Map<string, InstanceRecord>;
  const histories = new Map<string, HistoryEvent[]>();

  beforeAll(async () => {
    assertTools({ ansible: false });
    // The shipped rules with the sample inventory (as the demo runs them): EC2 instances from events,
    // hybrid nodes from the sweep.
    first = await startLocalStack({
      stateDir: dir,
      inventories: [SAMPLE_INVENTORY],
      simulatedAnsible: true,
      sweepSchedule: false,
      seed: 8,
      eventFaults,
      fleet: {
        instances: [optedIn(TERMINATED, 'term-1'), optedIn(OPTED_OUT, 'optout-1'), ...HYBRID],
      },
    });
    await first.waitForIdle({ timeoutMs: 120_000 });
    await first.sweepNow();
    await first.waitForIdle({ timeoutMs: 120_000 });
    provisioned = await records(first);
    first.fleet.terminate(TERMINATED);
    first.fleet.untag(OPTED_OUT, ['autoprov:enabled']);
    await first.waitForIdle({ timeoutMs: 60_000 });
    orphaned = await records(first);
    firstMessages = first.notifications();
    quietSweep = (await first.sweepNow()) as Record<string, unknown>;
    await first.waitForIdle({ timeoutMs: 60_000 });
    quietMessages = first.notifications().length;
    await first.stop();
    first = undefined;

    // Same table; the hybrid nodes are still registered with SSM, but the rules list no inventory now.
    second = await startLocalStack({
      stateDir: dir,
      rules: rulesFile(dir, 'no-inventory', FIXED_RULES),
      simulatedAnsible: true,
      sweepSchedule: false,
      seed: 9,
      eventFaults,
      fleet: { instances: [...HYBRID] },
    });
    await second.waitForIdle({ timeoutMs: 60_000 });
    vanishSweep = (await second.sweepNow()) as Record<string, unknown>;
    await second.waitForIdle({ timeoutMs: 60_000 });
    secondMessages = second.notifications();
    repeatSweep = (await second.sweepNow()) as Record<string, unknown>;
    await second.waitForIdle({ timeoutMs: 60_000 });
    repeatMessages = second.notifications().length;
    final = await records(second);
    for (const id of [TERMINATED, OPTED_OUT, ...HYBRID_IDS]) histories.set(id, await historyOf(second, id));
  }, 400_000);

  afterAll(async () => {
    await first?.stop({ removeStateDir: true });
    await second?.stop({ removeStateDir: true });
  });

  it('had provisioned all five first (EC2 instances from their events, hybrid nodes from the sweep)', () => {
    for (const id of [TERMINATED, OPTED_OUT, ...HYBRID_IDS]) {
      expect(provisioned.get(id)?.status, id).toBe('SUCCESS');
    }
    expect(provisioned.get(HYBRID_IDS[0] as string)?.source).toBe('inventory');
  });

  it('marks a terminated instance ORPHANED (terminated) and notifies once', () => {
    // Act
    const messages = about(firstMessages, TERMINATED);

    // Assess
    expect(orphaned.get(TERMINATED)).toMatchObject({ status: 'ORPHANED', reason: 'terminated' });
    expect(ofType(histories.get(TERMINATED) ?? [], 'ORPHANED').map((e) => e.reason)).toEqual(['terminated']);
    expect(messages.map((m) => m.subject)).toEqual([
      `[autoprov] SUCCESS: ${TERMINATED} (term-1)`,
      `[autoprov] ORPHANED: ${TERMINATED} (term-1)`,
    ]);
    expect(messages[1]?.message).toContain('Reason: terminated');
  });

  it('marks an instance whose opt-in tag was removed ORPHANED (opted-out) and notifies once', () => {
    // Act
    const messages = about(firstMessages, OPTED_OUT);

    // Assess
    expect(orphaned.get(OPTED_OUT)).toMatchObject({ status: 'ORPHANED', reason: 'opted-out' });
    expect(ofType(histories.get(OPTED_OUT) ?? [], 'ORPHANED').map((e) => e.reason)).toEqual(['opted-out']);
    expect(messages.map((m) => m.subject)).toEqual([
      `[autoprov] SUCCESS: ${OPTED_OUT} (optout-1)`,
      `[autoprov] ORPHANED: ${OPTED_OUT} (optout-1)`,
    ]);
    expect(messages[1]?.message).toContain('Reason: opted-out');
  });

  it('leaves orphans alone on the next sweep: nothing revived, nobody notified again', () => {
    // Assess
    expect(quietSweep).toMatchObject({ orphaned: 0, revived: 0, started: 0, errors: 0 });
    expect(quietMessages).toBe(firstMessages.length);
    expect(firstMessages).toHaveLength(7);
  });

  it('marks the inventory hosts ORPHANED (vanished) on the first sweep after they left the inventory, notifying each once', () => {
    // Assess
    expect(vanishSweep).toMatchObject({ orphaned: 3, started: 0, errors: 0 });
    for (const id of HYBRID_IDS) {
      expect(final.get(id), id).toMatchObject({ status: 'ORPHANED', reason: 'vanished' });
      expect(
        ofType(histories.get(id) ?? [], 'ORPHANED').map((e) => [e.actor, e.reason]),
        id,
      ).toEqual([['sweep', 'vanished']]);
      expect(
        about(secondMessages, id).map((m) => m.subject),
        id,
      ).toEqual([expect.stringMatching(new RegExp(`^\\[autoprov\\] ORPHANED: ${id} `))]);
    }
    expect(secondMessages).toHaveLength(3);
  });

  it('keeps each orphan reason, and a further sweep changes nothing', () => {
    // Assess
    expect(final.get(TERMINATED)?.reason).toBe('terminated');
    expect(final.get(OPTED_OUT)?.reason).toBe('opted-out');
    expect(repeatSweep).toMatchObject({ orphaned: 0, revived: 0, started: 0, errors: 0 });
    expect(repeatMessages).toBe(3);
  });
});
