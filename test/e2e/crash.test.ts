// End to end (issue 5, scenario 5): an execution stopped while its playbook runs (a crashed run) holds the
// instance until its lease expires; then the sweep reclaims it (generation 2) and provisions it. The old
// run's late writes — its command's completion, a late Record or Run-command step — are refused by the
// generation fence. Simulated Ansible; the test decides when the aborted run's command ends (a hold) and
// when its lease expires (the functions' clock), so nothing depends on how fast the machine is.
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEvent, InstanceRecord } from '../../functions/shared/state-store-api.js';
import type { InvokeOutcome } from '../../scripts/local/services/lambda.js';
import type { InvocationRecord } from '../../scripts/local/services/ssm.js';
import { type LocalStack, startLocalStack } from '../../scripts/local/stack.js';
import {
  APPLY_DOCUMENT,
  assertTools,
  ec2Id,
  executionsOf,
  FIXED_RULES,
  historyOf,
  invocationsOf,
  notificationsOf,
  ofType,
  optedIn,
  rulesFile,
  stateDir,
  waitFor,
} from './support.js';

const CRASH = ec2Id(5, 1);

describe('scenario 5: a run aborted mid-playbook is reclaimed after its lease; its late writes are fenced off', () => {
  let stack: LocalStack;
  let oldCommand: InvocationRecord;
  let early: Record<string, unknown>;
  let reclaim: Record<string, unknown>;
  let reclaimedAt = 0;
  let lateRecord: InvokeOutcome;
  let lateRunCommand: InvokeOutcome;
  let sendCommandsBeforeLateWrites = 0;
  let record: InstanceRecord | undefined;
  let history: HistoryEvent[] = [];

  const functionName = (role: string) => {
    const fn = stack.spec.functions.find((f) => f.serviceName === role);
    if (!fn) throw new Error(`The assembly has no ${role} function`);
    return fn.name;
  };

  beforeAll(async () => {
    assertTools({ ansible: false });
    const dir = stateDir('crash');
    // The first playbook run (generation 1's baseline.yml) is held until the test lets it end.
    let releaseOldCommand = () => {};
    const oldCommandHeld = new Promise<void>((resolve) => {
      releaseOldCommand = resolve;
    });
    let holding = false;
    stack = await startLocalStack({
      stateDir: dir,
      rules: rulesFile(dir, 'sweep', FIXED_RULES),
      simulatedAnsible: {
        hold: () => {
          if (holding) return undefined;
          holding = true;
          return oldCommandHeld;
        },
      },
      sweepSchedule: false,
      fleet: { instances: [optedIn(CRASH, 'crash-1')] },
    });
    // The crash: StopExecution while baseline.yml runs on the host.
    oldCommand = await waitFor('baseline.yml to be running', () =>
      invocationsOf(stack, CRASH).find(
        (i) => i.command.document.name === APPLY_DOCUMENT && i.status === 'InProgress',
      ),
    );
    const [execution] = executionsOf(stack, CRASH);
    const sfn = new SFNClient({
      endpoint: stack.endpoints.aws,
      region: stack.spec.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await sfn.send(new StopExecutionCommand({ executionArn: execution?.executionArn, cause: 'e2e: crash' }));
    sfn.destroy();
    // Within the lease the sweep leaves the instance alone, dead execution or not.
    early = (await stack.sweepNow()) as Record<string, unknown>;
    // The lease runs out: the functions' clock moves past it (no waiting).
    const lease = Date.parse((await stack.store.getInstance(CRASH))?.leaseExpiresAt ?? '');
    stack.advanceClock(Math.ceil((lease - Date.now()) / 1000) + 1);
    reclaim = (await stack.sweepNow()) as Record<string, unknown>;
    reclaimedAt = Date.now();
    await waitFor('generation 2 to succeed', async () => {
      const current = await stack.store.getInstance(CRASH);
      return current?.generation === 2 && current.status === 'SUCCESS' ? current : undefined;
    });
    // Only now does the aborted run's command end: after the reclaim, whatever the machine's speed.
    releaseOldCommand();
    await waitFor("the aborted run's command to end", () =>
      oldCommand.status === 'InProgress' ? undefined : oldCommand.status,
    );
    await stack.waitForIdle({ timeoutMs: 120_000 });
    // The aborted run's own steps, arriving late: its Record step, and a retry that would send a command.
    sendCommandsBeforeLateWrites = stack.commands().length;
    lateRecord = await stack.emulators.functions.invoke(functionName('record'), {
      instanceId: CRASH,
      generation: 1,
    });
    lateRunCommand = await stack.emulators.functions.invoke(functionName('run-command'), {
      instanceId: CRASH,
      generation: 1,
      taskToken: 'AQCe2e-late-token-of-the-aborted-run',
      kind: 'playbook',
      playbookIndex: 0,
      attempt: 2,
    });
    await stack.waitForIdle({ timeoutMs: 60_000 });
    record = await stack.store.getInstance(CRASH);
    history = await historyOf(stack, CRASH);
  }, 300_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
  });

  it('leaves the instance alone while the lease holds, then reclaims it as generation 2', () => {
    // Assess
    expect(early).toMatchObject({ started: 0, reclaimed: 0, errors: 0 });
    expect(reclaim).toMatchObject({ started: 1, reclaimed: 1, errors: 0 });
    expect(ofType(history, 'CLAIMED').map((e) => [e.generation, e.actor, e.reason])).toEqual([
      [1, 'event-detector', expect.stringMatching(/^(new|pending)$/)],
      [2, 'sweep', 'lease-expired'],
    ]);
    expect(executionsOf(stack, CRASH).map((e) => [e.name, e.status])).toEqual([
      [`${CRASH}-g1`, 'ABORTED'],
      [`${CRASH}-g2`, 'SUCCEEDED'],
    ]);
  });

  it('provisions it in generation 2 with its own command, and notifies once', () => {
    // Act
    const baseline = record?.playbooks?.[0];
    const newCommands = invocationsOf(stack, CRASH).filter((i) =>
      i.command.comment?.startsWith(`${CRASH}-g2/`),
    );

    // Assess
    expect(record?.status).toBe('SUCCESS');
    expect(record?.generation).toBe(2);
    expect(record?.playbooks?.map((p) => [p.file, p.status, p.attempts])).toEqual([
      ['baseline.yml', 'Success', 1],
    ]);
    expect(newCommands.map((i) => [i.command.parameters.PlaybookFile ?? 'ensure-ansible', i.status])).toEqual(
      [
        ['ensure-ansible', 'Success'],
        ['baseline.yml', 'Success'],
      ],
    );
    expect(baseline?.commandId).toBe(newCommands[1]?.command.commandId);
    expect(notificationsOf(stack, CRASH).map((m) => m.subject)).toEqual([
      `[autoprov] SUCCESS: ${CRASH} (crash-1)`,
    ]);
  });

  it("ignores the aborted run's command when it completes after the reclaim", () => {
    // Assess: the premise — the old command really ended after generation 2 took over
    expect(oldCommand.command.comment).toBe(`${CRASH}-g1/playbook/0/1 baseline.yml`);
    expect(oldCommand.status).toBe('Success');
    expect(oldCommand.endedAt ?? 0).toBeGreaterThan(reclaimedAt);
    // Assess: its completion left no trace on the record or in the audit trail
    expect(record?.playbooks?.[0]?.commandId).not.toBe(oldCommand.command.commandId);
    expect(
      history.filter((e) => e.details?.commandId === oldCommand.command.commandId).map((e) => e.type),
    ).toEqual(['COMMAND_SENT']);
  });

  it("refuses the aborted run's late Record and Run-command steps (StaleGeneration, FENCE_REJECTED)", () => {
    // Act
    const rejected = ofType(history, 'FENCE_REJECTED');

    // Assess: both fail with StaleGeneration, and nothing was sent or changed
    expect(lateRecord.functionError).toBe('Unhandled');
    expect(lateRecord.payload).toMatchObject({ errorType: 'StaleGeneration' });
    expect(lateRunCommand.functionError).toBe('Unhandled');
    expect(lateRunCommand.payload).toMatchObject({ errorType: 'StaleGeneration' });
    expect(stack.commands()).toHaveLength(sendCommandsBeforeLateWrites);
    expect(record).toMatchObject({ status: 'SUCCESS', generation: 2 });
    expect(record?.activeCommand).toBeUndefined();
    // Assess: the fence wrote why, for the stale generation
    expect(
      rejected.map((e) => [e.generation, e.actor, e.details?.method, e.details?.currentGeneration]),
    ).toEqual([
      [1, `workflow:${CRASH}-g1`, 'recordOutcome', 2],
      [1, `workflow:${CRASH}-g1`, 'setActiveCommand', 2],
    ]);
  });
});
