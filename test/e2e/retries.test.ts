// End to end, real Ansible (issue 5, scenario 2): a playbook that fails for good is retried maxAttempts
// times with a growing backoff, the run ends PARTIAL (baseline done, webserver failed) or FAILED (the first
// playbook failed, nothing after it runs), one notification each; then the rules are fixed — a new
// fingerprint — and the next sweep re-provisions both to SUCCESS in generation 2, with every event lost.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEvent, InstanceRecord } from '../../functions/shared/state-store-api.js';
import type { HistoryEvent as StateEvent } from '../../scripts/local/sfn-runner.js';
import { type LocalStack, startLocalStack } from '../../scripts/local/stack.js';
import {
  assertTools,
  commandLabels,
  ec2Id,
  FAILING_RULES,
  FIXED_RULES,
  historyOf,
  notificationsOf,
  ofType,
  optedIn,
  records,
  rulesFile,
  stateDir,
} from './support.js';

const PARTIAL = ec2Id(2, 1);
const FAILED = ec2Id(2, 2);
const TIME_SCALE = 0.01;

const fleet = {
  instances: [
    optedIn(PARTIAL, 'partial-1', { 'autoprov:groups': 'webservers' }),
    optedIn(FAILED, 'failed-1', { 'autoprov:groups': 'webfirst' }),
  ],
};

interface Phase {
  readonly records: Map<string, InstanceRecord>;
  readonly commands: Record<string, string[]>;
  readonly executions: { name: string; status: string }[];
  readonly notifications: Record<string, { subject?: string; message: string }[]>;
  /** Each execution's Wait states: the seconds it read and how long it really waited (ms). */
  readonly waits: Record<string, { delay: unknown; type?: string; ms: number }[]>;
}

async function snapshot(stack: LocalStack): Promise<Phase> {
  const waits: Phase['waits'] = {};
  for (const execution of stack.emulators.sfn.listExecutionRecords()) {
    const events = execution.history.filter((e) => e.stateName === 'Wait before retrying');
    const entered = events.filter((e) => e.type === 'StateEntered');
    const exited = events.filter((e) => e.type === 'StateExited');
    waits[execution.name] = entered.map((e: StateEvent, i) => ({
      delay: (e.input as { delay?: unknown } | undefined)?.delay,
      ...(e.stateType ? { type: e.stateType } : {}),
      ms: (exited[i]?.timestamp ?? Number.NaN) - e.timestamp,
    }));
  }
  return {
    records: await records(stack),
    commands: Object.fromEntries([PARTIAL, FAILED].map((id) => [id, commandLabels(stack, id)])),
    executions: stack.executions().map((e) => ({ name: e.name, status: e.status })),
    notifications: Object.fromEntries([PARTIAL, FAILED].map((id) => [id, notificationsOf(stack, id)])),
    waits,
  };
}

describe('scenario 2: retries with backoff, PARTIAL and FAILED, then a fixed rules file', () => {
  const dir = stateDir('retries');
  let first: LocalStack | undefined;
  let second: LocalStack | undefined;
  let failing: Phase;
  let beforeSweep: Phase;
  let fixed: Phase;
  let droppedAtRestart = 0;
  let sweep: Record<string, unknown>;
  let nextSweep: Record<string, unknown>;
  const histories = new Map<string, HistoryEvent[]>();

  beforeAll(async () => {
    assertTools({ ansible: true });
    first = await startLocalStack({
      stateDir: dir,
      rules: rulesFile(dir, 'failing', FAILING_RULES),
      timeScale: TIME_SCALE,
      sweepSchedule: false,
      fleet,
    });
    await first.waitForIdle({ timeoutMs: 240_000 });
    failing = await snapshot(first);
    // The same table, sandboxes and instances with the fixed rules (a new bundle: a new fingerprint).
    await first.stop();
    first = undefined;
    second = await startLocalStack({
      stateDir: dir,
      rules: rulesFile(dir, 'fixed', FIXED_RULES),
      timeScale: TIME_SCALE,
      sweepSchedule: false,
      fleet,
      // Every event of the relaunch is lost: only the sweep can notice the new rules.
      eventFaults: { dropRate: 1 },
    });
    droppedAtRestart = second.bus.stats.dropped;
    second.bus.setFaults({});
    await second.waitForIdle({ timeoutMs: 60_000 });
    beforeSweep = await snapshot(second);
    sweep = (await second.sweepNow()) as Record<string, unknown>;
    await second.waitForIdle({ timeoutMs: 240_000 });
    fixed = await snapshot(second);
    nextSweep = (await second.sweepNow()) as Record<string, unknown>;
    for (const id of [PARTIAL, FAILED]) histories.set(id, await historyOf(second, id));
  }, 600_000);

  afterAll(async () => {
    await first?.stop({ removeStateDir: true });
    await second?.stop({ removeStateDir: true });
  });

  it('retries the failing playbook maxAttempts (3) times, waiting the rule backoff (60 s, then 120 s, × time scale)', () => {
    for (const id of [PARTIAL, FAILED]) {
      // Act
      const waits = failing.waits[`${id}-g1`] ?? [];
      const events = histories.get(id)?.filter((e) => e.generation === 1) ?? [];
      const failed = ofType(events, 'PLAYBOOK_FAILED');
      const sent = ofType(events, 'COMMAND_SENT').filter((e) => e.details?.playbook === 'webserver.yml');
      const at = (list: HistoryEvent[], i: number) => Date.parse(list[i]?.at ?? '');

      // Assess: the Wait states of the execution — the delays the rule asked for, really waited
      expect(waits.map((w) => [w.type, w.delay])).toEqual([
        ['Wait', 60],
        ['Wait', 120],
      ]);
      expect(waits[0]?.ms).toBeGreaterThanOrEqual(60_000 * TIME_SCALE - 5);
      expect(waits[1]?.ms).toBeGreaterThanOrEqual(120_000 * TIME_SCALE - 5);
      // Assess: the audit trail — three attempts, each retry sent at least the backoff after the failure
      expect(failed.map((e) => e.details?.attempt)).toEqual([1, 2, 3]);
      expect(sent.map((e) => e.details?.attempt)).toEqual([1, 2, 3]);
      expect(at(sent, 1) - at(failed, 0)).toBeGreaterThanOrEqual(60_000 * TIME_SCALE);
      expect(at(sent, 2) - at(failed, 1)).toBeGreaterThanOrEqual(120_000 * TIME_SCALE);
    }
  });

  it('ends PARTIAL when baseline succeeded and webserver failed for good', () => {
    // Act
    const record = failing.records.get(PARTIAL);

    // Assess
    expect(record?.status).toBe('PARTIAL');
    expect(record?.generation).toBe(1);
    expect(record?.playbooks?.map((p) => [p.file, p.status, p.attempts, p.exitCode])).toEqual([
      ['baseline.yml', 'Success', 1, 0],
      ['webserver.yml', 'Failed', 3, 2],
    ]);
    expect(record?.reason).toContain('webserver.yml ended Failed after 3 attempts');
    expect(failing.commands[PARTIAL]).toEqual([
      'ensure-ansible',
      'baseline.yml',
      'webserver.yml',
      'webserver.yml',
      'webserver.yml',
    ]);
  });

  it('ends FAILED when the first playbook failed for good, and runs nothing after it', () => {
    // Act
    const record = failing.records.get(FAILED);

    // Assess
    expect(record?.status).toBe('FAILED');
    expect(record?.playbooks?.map((p) => [p.file, p.status, p.attempts])).toEqual([
      ['webserver.yml', 'Failed', 3],
      ['baseline.yml', 'Pending', 0],
    ]);
    expect(failing.commands[FAILED]).toEqual([
      'ensure-ansible',
      'webserver.yml',
      'webserver.yml',
      'webserver.yml',
    ]);
    expect(failing.executions).toEqual(
      expect.arrayContaining([
        { name: `${PARTIAL}-g1`, status: 'SUCCEEDED' },
        { name: `${FAILED}-g1`, status: 'SUCCEEDED' },
      ]),
    );
    expect(failing.executions).toHaveLength(2);
  });

  it('sends exactly one notification each, naming the failed playbook and its Ansible output', () => {
    // Act
    const partial = failing.notifications[PARTIAL] ?? [];
    const failed = failing.notifications[FAILED] ?? [];
    const notified = [PARTIAL, FAILED].map(
      (id) => ofType(histories.get(id) ?? [], 'NOTIFIED').filter((e) => e.generation === 1).length,
    );

    // Assess
    expect(partial.map((m) => m.subject)).toEqual([`[autoprov] PARTIAL: ${PARTIAL} (partial-1)`]);
    expect(failed.map((m) => m.subject)).toEqual([`[autoprov] FAILED: ${FAILED} (failed-1)`]);
    for (const message of [...partial, ...failed]) {
      expect(message.message).toContain('Failed playbook: webserver.yml (Failed, exit code 2, 3 attempts)');
      expect(message.message).toContain('http_port must be 1-65535');
    }
    expect(notified).toEqual([1, 1]);
  });

  it('does nothing after a restart whose events are all lost, until the sweep runs', () => {
    // Assess
    expect(droppedAtRestart).toBeGreaterThanOrEqual(4);
    expect(beforeSweep.executions).toEqual([]);
    expect(beforeSweep.records.get(PARTIAL)?.status).toBe('PARTIAL');
    expect(beforeSweep.records.get(FAILED)?.status).toBe('FAILED');
  });

  it('re-provisions both with the fixed rules on the next sweep: SUCCESS in generation 2', () => {
    // Assess: the sweep saw the new fingerprint
    expect(sweep).toMatchObject({ reprovisioned: 2, started: 2, errors: 0 });
    for (const id of [PARTIAL, FAILED]) {
      const before = failing.records.get(id);
      const after = fixed.records.get(id);
      expect(after?.status).toBe('SUCCESS');
      expect(after?.generation).toBe(2);
      expect(after?.playbooks?.every((p) => p.status === 'Success' && p.attempts === 1)).toBe(true);
      expect(after?.lastSuccessFingerprint).toBe(after?.fingerprint);
      expect(after?.fingerprint).not.toBe(before?.fingerprint);
      expect(ofType(histories.get(id) ?? [], 'CLAIMED').map((e) => [e.generation, e.reason])).toEqual([
        [1, expect.stringMatching(/^(new|pending)$/)],
        [2, 'fingerprint-changed'],
      ]);
    }
    expect(fixed.records.get(PARTIAL)?.playbooks?.map((p) => p.file)).toEqual([
      'baseline.yml',
      'webserver.yml',
    ]);
    expect(fixed.records.get(FAILED)?.playbooks?.map((p) => p.file)).toEqual([
      'webserver.yml',
      'baseline.yml',
    ]);
    expect(fixed.executions.map((e) => [e.name, e.status]).sort()).toEqual([
      [`${PARTIAL}-g2`, 'SUCCEEDED'],
      [`${FAILED}-g2`, 'SUCCEEDED'],
    ]);
  });

  it('ran the fixed webserver.yml for real and notified each SUCCESS once; a further sweep finds nothing to do', () => {
    for (const id of [PARTIAL, FAILED]) {
      // Act
      const run = JSON.parse(
        readFileSync(join(dir, 'sandbox', id, 'var/lib/autoprov/webserver-last-run.json'), 'utf8'),
      );

      // Assess
      expect(run).toMatchObject({ playbook: 'webserver.yml', http_port: '8080' });
      expect((fixed.notifications[id] ?? []).map((m) => m.subject)).toEqual([
        expect.stringMatching(new RegExp(`^\\[autoprov\\] SUCCESS: ${id} `)),
      ]);
    }
    expect(nextSweep).toMatchObject({ started: 0, reprovisioned: 0, errors: 0 });
  });
});
