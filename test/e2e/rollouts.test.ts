// End to end on the local stack, simulated Ansible (issue 15, docs/adr/0015-admission-slots-for-rollouts-and-quotas.md).
// 200 provisioned web servers, then a playbook change that fails on every host:
// - the rollout starts one wave of maxConcurrent, pauses once its failures pass maxErrors (exactly the runs in
//   flight fail), the other instances keep their last good run, ONE pause notification is sent; new instances
//   are provisioned meanwhile, never held back;
// - a paused rollout starts nothing; resume admits one more wave; the global pause stops every claim; abort
//   stops the rollout;
// - reapplyEvery: `drift: report` runs the playbooks in check mode and records DRIFTED; `correct` applies them;
// - the fix is a new bundle, so a new rollout: its canaries first, then waves that never run more than
//   maxConcurrent executions at once (measured from the executions' start and stop times), until all are SUCCESS.
// Fast on purpose: one stack per bundle (the fix needs a new one), simulated Ansible, the web servers seeded as
// provisioned (SUCCESS under an earlier bundle: cloned items, as the benchmark seeds its fleet) instead of
// provisioned through 200 workflows, and the rules in a stable folder, so their assemblies are synthesized once
// per machine. EC2 events are dropped: the sweep runs rollouts (the detector leaves re-provisions to it:
// test/functions/event-detector.test.ts), and finds the new instances.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../functions/core/bundle-file.js';
import { observeSources } from '../../functions/core/reconcile.js';
import { CANARY_LANE, DEFAULT_LANE } from '../../functions/core/rollout-plan.js';
import type { InstanceRecord, Rollout } from '../../functions/shared/state-store-api.js';
import { HISTORY_SK_PREFIX } from '../../functions/shared/table-schema.js';
import { listOptedInInstances } from '../../functions/sweep/list-instances.js';
import type { SweepSummary } from '../../functions/sweep/run-sweep.js';
import { batchPut, cloneItem, partition } from '../../scripts/bench/sweep.js';
import { LOCAL_DIR } from '../../scripts/local/assembly.js';
import type { SimulatedPlaybooksOptions } from '../../scripts/local/ssm-agent.js';
import { type LocalExecution, type LocalStack, startLocalStack } from '../../scripts/local/stack.js';
import { playbooksDir } from '../helpers/paths.js';
import { APPLY_DOCUMENT, assertTools, ec2Id, optedIn, records, stateDir } from './support.js';

const WEB = 200;
const WEB_IDS = Array.from({ length: WEB }, (_, i) => ec2Id(15, i + 1));
const REPORT = [ec2Id(16, 1), ec2Id(16, 2)];
const CORRECT = [ec2Id(16, 3), ec2Id(16, 4)];
const ALL = WEB + REPORT.length + CORRECT.length;

/** Web servers get webserver.yml with `port` (http_port 0 fails); two rules re-apply every 30 minutes. */
function rules(port: string, rollout: string): string {
  return `# e2e rollouts (test/e2e/rollouts.test.ts): the simulated webserver.yml fails with http_port 0.
optIn: { tagKey: "autoprov:enabled", tagValue: "true" }
groupsTag: "autoprov:groups"
defaults:
  maxAttempts: 1
  backoffSeconds: 0
  rollout: ${rollout}
rules:
  - name: web
    match: { groups: [web] }
    playbooks: [{ file: webserver.yml, extraVars: { http_port: "${port}" } }]
  - name: report
    match: { groups: [report] }
    playbooks: [baseline.yml]
    reapplyEvery: 30m
    drift: report
  - name: correct
    match: { groups: [correct] }
    playbooks: [{ file: webserver.yml, extraVars: { http_port: "8080" } }]
    reapplyEvery: 30m
`;
}

/**
 * The two bundles, in a folder under .local whose content never changes from run to run: local mode stages a
 * rules file by the content of its folder, so each bundle is synthesized once per machine, not per run.
 */
function rulesFiles(): { bad: string; fix: string } {
  const dir = join(LOCAL_DIR, 'e2e', 'rollouts');
  mkdirSync(dir, { recursive: true });
  cpSync(playbooksDir, dir, { recursive: true });
  const files = {
    // The bad change: waves of 20 that pause past 2 failures.
    bad: rules('0', '{ maxConcurrent: 20, maxErrors: 2 }'),
    // The fix: two canaries, then waves of half the instances due.
    fix: rules('8080', '{ maxConcurrent: "50%", maxErrors: 2, canary: 2 }'),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `rules-${name}.yaml`), text);
  return { bad: join(dir, 'rules-bad.yaml'), fix: join(dir, 'rules-fix.yaml') };
}

/** The simulated AWS-ApplyAnsiblePlaybooks: http_port 0 fails (webserver.yml's assert); a check run would change a task. */
const SIMULATED: SimulatedPlaybooksOptions = {
  outcome: (context) => {
    if (/(^| )http_port=0( |$)/.test(context.parameters.ExtraVariables ?? '')) {
      return {
        exitCode: 2,
        stdout:
          'TASK [Check the port] ****\nfatal: [localhost]: FAILED! => {"msg": "http_port must be 1-65535"}\n',
      };
    }
    if (context.parameters.Check !== 'True') return { exitCode: 0 };
    const summary = {
      v: 1,
      check: true,
      recap: { localhost: { ok: 4, changed: 1 } },
      failures: [],
      changes: [{ host: 'localhost', task: 'Write the motd', action: 'ansible.builtin.template' }],
    };
    return { exitCode: 0, stdout: `AUTOPROV-RESULT ${JSON.stringify(summary)}\n` };
  },
};

const fleet = {
  instances: [
    ...WEB_IDS.map((id, i) => optedIn(id, `web-${i + 1}`, { 'autoprov:groups': 'web' })),
    ...REPORT.map((id, i) => optedIn(id, `report-${i + 1}`, { 'autoprov:groups': 'report' })),
    ...CORRECT.map((id, i) => optedIn(id, `correct-${i + 1}`, { 'autoprov:groups': 'correct' })),
  ],
};

/**
 * An execution's run: from its start to its stop, and to its RECORDED history event — written with the
 * outcome that releases its slot, before the record step returns (the emulator timestamps the state's exit
 * only after the function returned, by which time the sweep may already have reused the slot).
 */
interface Run {
  readonly name: string;
  readonly startedAt: number;
  readonly stoppedAt: number;
  readonly recordedAt: number;
}

/**
 * Every execution of the stack as a Run. The execution starts after its claim took the slot, and RECORDED is
 * written by the outcome write that releases it: each Run lies within its slot's holding time, so the most
 * Runs at once never exceeds the most slots held at once. (The functions' clock is the wall clock here: the
 * fix's stack never advances it.)
 */
async function runsOf(stack: LocalStack): Promise<Run[]> {
  const runs: Run[] = [];
  for (const e of stack.emulators.sfn.listExecutionRecords()) {
    const [instanceId, generation] = e.name.split('-g');
    const history = await stack.store.listHistory(instanceId ?? '');
    const recorded = history.find((h) => h.type === 'RECORDED' && h.generation === Number(generation));
    const stoppedAt = e.stoppedAt ?? Number.POSITIVE_INFINITY;
    runs.push({
      name: e.name,
      startedAt: e.startedAt,
      stoppedAt,
      recordedAt: recorded ? Date.parse(recorded.at) : stoppedAt,
    });
  }
  return runs;
}

/** The largest number of runs at once, each from its start to `end`. */
function maxRunning(runs: readonly Run[], end: 'stoppedAt' | 'recordedAt'): number {
  const edges = runs.flatMap((run) => [
    { at: run.startedAt, delta: 1 },
    { at: run[end], delta: -1 },
  ]);
  // A stop and a start at the same millisecond: the stop first.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let max = 0;
  for (const edge of edges) {
    running += edge.delta;
    max = Math.max(max, running);
  }
  return max;
}

const pauseMessages = (stack: LocalStack) =>
  stack.notifications().filter((m) => /^\[autoprov\] Rollout \S+ paused/.test(m.subject ?? ''));

function countStatuses(all: Map<string, InstanceRecord>, ids: readonly string[] = [...all.keys()]) {
  const counts: Record<string, number> = {};
  for (const id of ids) {
    const status = all.get(id)?.status ?? 'missing';
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}

/**
 * The web servers as provisioned under an earlier bundle: one through the store (claimed, SUCCESS with an
 * older fingerprint), the others its items cloned with their own ids and facts, as `npm run bench` seeds.
 */
async function seedWebServers(stack: LocalStack): Promise<void> {
  const sweeper = stack.spec.functions.find((f) => f.serviceName === 'sweep');
  if (!sweeper) throw new Error('The assembly has no sweep function');
  const bundle = loadBundle(join(sweeper.assetDir, 'rules.json'));
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const ec2 = new EC2Client({ endpoint: stack.endpoints.aws, region: stack.spec.region, credentials });
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: stack.endpoints.dynamoDbDirect, region: stack.spec.region, credentials }),
  );
  try {
    const listed = await listOptedInInstances(ec2, bundle.config.optIn);
    const web = observeSources(listed.instances, bundle).observations.filter((o) =>
      o.facts.groups.includes('web'),
    );
    const [template, ...others] = web;
    if (!template) throw new Error('no web server listed');
    const now = new Date(stack.clockNow());
    const id = template.facts.instanceId;
    await stack.store.upsertDetection(template.facts, { held: false, actor: 'e2e-seed', now });
    await stack.store.claim(id, { reason: 'new', leaseSeconds: 60, actor: 'e2e-seed', now });
    await stack.store.recordOutcome(id, 1, { status: 'SUCCESS', fingerprint: 'e'.repeat(64) }, now);
    const items = (await partition(doc, String(stack.spec.table.create.TableName), id)).filter(
      (item) => !String(item.sk).startsWith(HISTORY_SK_PREFIX),
    );
    const seeds = others.flatMap((o) =>
      items.map((item) => {
        const clone = cloneItem(item, id, o, 1);
        // The template's fingerprints: an earlier bundle's, which this one re-provisions.
        for (const field of ['fingerprint', 'lastSuccessFingerprint'] as const) {
          if (field in item) clone[field] = item[field];
        }
        return clone;
      }),
    );
    await batchPut(doc, String(stack.spec.table.create.TableName), seeds, () => {});
  } finally {
    ec2.destroy();
    doc.destroy();
  }
}

/** The Check parameter of each drift instance's AWS-ApplyAnsiblePlaybooks commands, in order. */
function checkOf(stack: LocalStack): Record<string, (string | undefined)[]> {
  const commands = stack.emulators.ssm.listCommands().filter((c) => c.document.name === APPLY_DOCUMENT);
  return Object.fromEntries(
    [...REPORT, ...CORRECT].map((id) => [
      id,
      commands.filter((c) => c.invocations.has(id)).map((c) => c.requestParameters.Check?.[0]),
    ]),
  );
}

describe('rollouts on 200 instances: a failing change, pause, resume, abort, drift, then the fix in waves', () => {
  const dir = stateDir('rollouts');
  const files = rulesFiles();
  let stack: LocalStack | undefined;
  const ops = () => ({ actor: 'e2e-ops', now: new Date(stack?.clockNow() ?? Date.now()) });
  /** A sweep, then everything it started runs to its end. */
  const sweep = async (s: LocalStack) => {
    const summary = (await s.sweepNow()) as SweepSummary;
    await s.waitForIdle({ timeoutMs: 180_000 });
    return summary;
  };
  const open = (rulesPath: string) =>
    startLocalStack({
      stateDir: dir,
      rules: rulesPath,
      simulatedAnsible: SIMULATED,
      sweepSchedule: false,
      agentConcurrency: 8,
      // EC2 lifecycle and tag events are dropped: the sweep finds everything. SSM status events flow.
      eventFaults: { dropIf: (event) => event.source === 'aws.ec2' || event.source === 'aws.tag' },
      fleet,
    });

  let bad: {
    first: SweepSummary;
    rollout: Rollout;
    records: Map<string, InstanceRecord>;
    pauses: { subject?: string; message: string }[];
    afterPause: SweepSummary;
    resumed: { sweep: SweepSummary; rollout: Rollout; pauses: number };
    globallyPaused: SweepSummary;
    aborted: { sweep: SweepSummary; rollout: Rollout };
    drift: {
      due: SweepSummary;
      again: SweepSummary;
      records: Map<string, InstanceRecord>;
      /** Each drift instance's AWS-ApplyAnsiblePlaybooks commands: their Check parameter, in order. */
      check: Record<string, (string | undefined)[]>;
    };
  };
  let fix: {
    sweeps: SweepSummary[];
    rollout: Rollout;
    records: Map<string, InstanceRecord>;
    executions: LocalExecution[];
    runs: Run[];
    canaryWave: string[];
  };

  beforeAll(async () => {
    assertTools({ ansible: false });
    // ---- the failing change ---------------------------------------------------------------------
    let s = await open(files.bad);
    stack = s;
    await seedWebServers(s);
    const first = await sweep(s);
    const rolloutId = first.rollout?.rolloutId ?? '';
    const rollout = (await s.store.getRollout(rolloutId)) as Rollout;
    const afterFirst = { records: await records(s), pauses: pauseMessages(s) };
    const afterPause = await sweep(s);
    await s.store.resumeRollout(rolloutId, ops());
    const resumedSweep = await sweep(s);
    const resumed = {
      sweep: resumedSweep,
      rollout: (await s.store.getRollout(rolloutId)) as Rollout,
      pauses: pauseMessages(s).length,
    };
    await s.store.setGlobalPause({ ...ops(), reason: 'e2e' });
    const globallyPaused = await sweep(s);
    await s.store.clearGlobalPause();
    await s.store.abortRollout(rolloutId, ops());
    const abortedSweep = await sweep(s);
    const aborted = { sweep: abortedSweep, rollout: (await s.store.getRollout(rolloutId)) as Rollout };
    // reapplyEvery: 31 minutes later (the functions' clock), the drift rules' instances are due.
    s.advanceClock(31 * 60);
    const drift = {
      due: await sweep(s),
      again: await sweep(s),
      records: await records(s),
      check: checkOf(s),
    };
    bad = { first, rollout, ...afterFirst, afterPause, resumed, globallyPaused, aborted, drift };
    await s.stop();
    stack = undefined;

    // ---- the fix: a new bundle --------------------------------------------------------------------
    s = await open(files.fix);
    stack = s;
    const sweeps = [await sweep(s)];
    const canaryWave = s.executions().map((e) => e.name);
    while ((sweeps.at(-1)?.started ?? 0) > 0 && sweeps.length < 12) sweeps.push(await sweep(s));
    fix = {
      sweeps,
      rollout: (await s.store.getRollout(sweeps[0]?.rollout?.rolloutId ?? '')) as Rollout,
      records: await records(s),
      executions: s.executions(),
      runs: await runsOf(s),
      canaryWave,
    };
  }, 600_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
  });

  it('the failing change starts one wave of maxConcurrent: exactly the runs in flight fail, and the rollout pauses', () => {
    // Arrange
    const lane = bad.rollout.lanes[DEFAULT_LANE];
    const failed = WEB_IDS.filter((id) => bad.records.get(id)?.status === 'FAILED');
    const held = Object.values(bad.first.admission).reduce((sum, n) => sum + (n ?? 0), 0);

    // Assert: the plan
    expect(bad.rollout).toMatchObject({ due: WEB });
    expect(lane).toMatchObject({ total: WEB, limit: 20, maxErrors: 2 });
    // Assert: at most 20 started; every one of them failed: the threshold (3) plus what was in flight
    expect(bad.first).toMatchObject({ reprovisioned: failed.length, errors: 0, rollout: { created: true } });
    expect(failed.length).toBeLessThanOrEqual(20);
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(lane).toMatchObject({
      state: 'PAUSED',
      started: failed.length,
      failed: failed.length,
      inFlight: 0,
    });
    // The others were held back: the lane was full (or, had a run failed during the sweep, paused)
    expect(held).toBe(WEB - failed.length);
    expect(bad.afterPause).toMatchObject({ started: 0, admission: { paused: WEB - failed.length } });
  });

  it('new instances are provisioned at once, never held back by the rollout', () => {
    expect(bad.first).toMatchObject({ new: 4, started: bad.first.reprovisioned + 4 });
    expect(countStatuses(bad.records, [...REPORT, ...CORRECT])).toEqual({ SUCCESS: 4 });
  });

  it('the instances not started keep their last good run', () => {
    // Arrange
    const untouched = WEB_IDS.filter((id) => bad.records.get(id)?.status !== 'FAILED');

    // Assert
    expect(untouched).toHaveLength(WEB - bad.first.reprovisioned);
    for (const id of untouched) {
      expect(bad.records.get(id)).toMatchObject({
        status: 'SUCCESS',
        generation: 1,
        lastSuccessFingerprint: 'e'.repeat(64),
      });
    }
  });

  it('sends ONE pause notification: the rollout and lane, what failed, and how to resume or abort', () => {
    // Arrange
    const [message] = bad.pauses;
    const { rolloutId } = bad.rollout;

    // Assert
    expect(bad.pauses).toHaveLength(1);
    expect(message?.subject).toMatch(
      new RegExp(`^\\[autoprov\\] Rollout ${rolloutId} paused: lane default, \\d+ failed$`),
    );
    expect(message?.message).toContain(`Rollout: ${rolloutId}, lane default: PAUSED`);
    expect(message?.message).toMatch(
      /- i-0e2e0f\w+: FAILED — webserver\.yml: task "Check the port" failed: http_port must be 1-65535/,
    );
    expect(message?.message).toContain(`autoprov rollout resume --id ${rolloutId}`);
    expect(message?.message).toContain(`autoprov rollout abort --id ${rolloutId}`);
  });

  it('resume admits one more wave, which pauses again and is told again', () => {
    // Arrange
    const lane = bad.resumed.rollout.lanes[DEFAULT_LANE];
    const firstWave = bad.first.reprovisioned;

    // Assert
    expect(bad.resumed.sweep.started).toBeGreaterThan(0);
    expect(bad.resumed.sweep.started).toBeLessThanOrEqual(20);
    expect(lane).toMatchObject({
      state: 'PAUSED',
      started: firstWave + bad.resumed.sweep.started,
      maxErrors: firstWave + 2,
    });
    expect(lane?.failed).toBe(lane?.started);
    expect(bad.resumed.pauses).toBe(2);
  });

  it('the global pause stops every claim, and the sweep says so', () => {
    expect(bad.globallyPaused).toMatchObject({ paused: true, started: 0 });
  });

  it('abort: nothing more starts in the rollout', () => {
    expect(bad.aborted.rollout.lanes[DEFAULT_LANE]?.state).toBe('ABORTED');
    const started = bad.aborted.rollout.lanes[DEFAULT_LANE]?.started ?? 0;
    expect(bad.aborted.sweep).toMatchObject({ started: 0, admission: { aborted: WEB - started } });
  });

  it("reapplyEvery re-runs the rules' instances once per window: report in check mode (DRIFTED), correct applied", () => {
    // Assert: 4 due, once
    expect(bad.drift.due).toMatchObject({ reapplied: 4, started: 4, errors: 0 });
    expect(bad.drift.again).toMatchObject({ reapplied: 0, started: 0 });
    for (const id of REPORT) {
      const record = bad.drift.records.get(id);
      expect(record).toMatchObject({ status: 'DRIFTED', generation: 2, checkRun: true });
      expect(record?.reason).toContain('baseline.yml: task "Write the motd" would change on localhost');
    }
    for (const id of CORRECT) {
      expect(bad.drift.records.get(id)).toMatchObject({ status: 'SUCCESS', generation: 2 });
      expect(bad.drift.records.get(id)?.checkRun).toBeUndefined();
    }
  });

  it('drift: report sent its re-check with Check=True, correct its re-apply with Check=False', () => {
    for (const id of REPORT) {
      expect(bad.drift.check[id]).toEqual(['False', 'True']);
      expect(bad.drift.records.get(id)?.playbooks?.map((p) => [p.file, p.check])).toEqual([
        ['baseline.yml', true],
      ]);
    }
    for (const id of CORRECT) expect(bad.drift.check[id]).toEqual(['False', 'False']);
  });

  it('the fix is a new rollout that supersedes the aborted one; its two canaries go first, alone', () => {
    // Arrange
    const [first] = fix.sweeps;

    // Assert
    expect(first).toMatchObject({
      started: 2,
      rollout: { created: true },
      admission: { 'canary-pending': ALL - 2 },
    });
    expect(fix.rollout).toMatchObject({ previousRolloutId: bad.rollout.rolloutId, due: ALL });
    expect(fix.rollout.change.summary).toContain('rules changed: web');
    expect(fix.canaryWave.map((name) => name.replace(/-g\d+$/, '')).sort()).toEqual(
      [...(fix.rollout.canaries ?? [])].sort(),
    );
    expect(fix.rollout.canaries).toHaveLength(2);
    expect(fix.rollout.lanes[CANARY_LANE]).toMatchObject({ state: 'DONE', succeeded: 2 });
  });

  it('every other instance follows in waves that never run more than maxConcurrent at once (start to recorded outcome)', () => {
    // Arrange: a run holds its slot from its claim to its recorded outcome; the notification step after it
    // is not counted (a slot freed during a sweep is taken again at once, while its run still notifies).
    const lane = fix.rollout.lanes[DEFAULT_LANE];
    const waves = fix.runs.filter((run) => !fix.canaryWave.includes(run.name));
    const holding = maxRunning(waves, 'recordedAt');
    const executing = maxRunning(waves, 'stoppedAt');
    console.log(
      `[rollouts] the fix: ${fix.sweeps.length} sweeps; at most ${holding} runs at once until their outcome, ` +
        `${executing} executions until they stopped (maxConcurrent ${lane?.limit})`,
    );

    // Assert
    expect(lane).toMatchObject({ state: 'DONE', total: ALL - 2, limit: (ALL - 2) / 2, succeeded: ALL - 2 });
    expect(holding).toBeLessThanOrEqual(lane?.limit ?? 0);
    expect(holding).toBeGreaterThan(1);
    expect(fix.sweeps.filter((sweep) => sweep.started > 0).length).toBeGreaterThanOrEqual(3);
    expect(fix.sweeps.reduce((sum, sweep) => sum + sweep.started, 0)).toBe(ALL);
  });

  it('all end SUCCESS with the fixed playbook, each started once in the fix', () => {
    expect(countStatuses(fix.records)).toEqual({ SUCCESS: ALL });
    expect(fix.executions).toHaveLength(ALL);
    expect(fix.executions.every((e) => e.status === 'SUCCEEDED')).toBe(true);
    const commands = stack?.commands().filter((c) => c.documentName === APPLY_DOCUMENT) ?? [];
    expect(new Set(commands.map((c) => c.instanceId)).size).toBe(ALL);
  });
});
