import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTable, type TestTable } from '../helpers/ddb.js';
import { type LocalAws, runInProcess, runSubprocess, seedRecord, startLocalAws, useEnv } from './harness.js';

describe('autoprov retry', () => {
  let aws: LocalAws;
  let table: TestTable;
  let env: Record<string, string>;

  beforeAll(async () => {
    aws = await startLocalAws();
    table = await createTestTable();
    env = aws.env({
      AUTOPROV_TABLE: table.tableName,
      AUTOPROV_STATE_MACHINE_ARN: aws.stateMachineArn,
      USER: 'alice',
    });
    useEnv(env);
    // Prepare: one record per situation a retry must handle.
    await seedRecord(table.store, {
      instanceId: 'i-0aaaaaaaaaaaaaaa1',
      name: 'web-1',
      status: 'FAILED',
      reason: 'webserver.yml failed',
      playbooks: [{ file: 'webserver.yml', status: 'Failed', attempts: 3 }],
    });
    await seedRecord(table.store, { instanceId: 'i-0aaaaaaaaaaaaaaa2', name: 'web-2', status: 'RUNNING' });
    await seedRecord(table.store, { instanceId: 'i-0aaaaaaaaaaaaaaa3', name: 'web-3', status: 'SUCCESS' });
    await seedRecord(table.store, {
      instanceId: 'i-0aaaaaaaaaaaaaaa4',
      name: 'web-4',
      status: 'PARTIAL',
      playbooks: [
        { file: 'baseline.yml', status: 'Success', attempts: 1 },
        { file: 'webserver.yml', status: 'Failed', attempts: 2 },
      ],
    });
    await seedRecord(table.store, {
      instanceId: 'i-0aaaaaaaaaaaaaaa5',
      name: 'held-1',
      status: 'SUCCESS',
      held: true,
    });
  });
  afterAll(async () => {
    await aws.stop();
  });

  const executionNames = () => aws.sfn.listExecutionRecords().map((execution) => execution.name);

  it('claims a FAILED record (generation +1) and starts its execution in Step Functions', async () => {
    // Act
    const run = await runInProcess(['retry', 'i-0aaaaaaaaaaaaaaa1'], { env });

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'i-0aaaaaaaaaaaaaaa1: claimed generation 2, execution i-0aaaaaaaaaaaaaaa1-g2',
    );
    const record = await table.store.getInstance('i-0aaaaaaaaaaaaaaa1');
    expect(record).toMatchObject({
      status: 'RUNNING',
      generation: 2,
      executionName: 'i-0aaaaaaaaaaaaaaa1-g2',
    });
    const execution = aws.sfn
      .listExecutionRecords()
      .find((candidate) => candidate.name === 'i-0aaaaaaaaaaaaaaa1-g2');
    expect(execution?.stateMachineArn).toBe(aws.stateMachineArn);
    expect(JSON.parse(execution?.input ?? '{}')).toEqual({
      instanceId: 'i-0aaaaaaaaaaaaaaa1',
      generation: 2,
    });
    const history = await table.store.listHistory('i-0aaaaaaaaaaaaaaa1');
    expect(history.at(-1)).toMatchObject({
      type: 'CLAIMED',
      generation: 2,
      reason: 'operator-retry',
      actor: 'cli:alice',
    });
  });

  it('refuses a RUNNING record whose lease is live: no claim, no execution, exit 1', async () => {
    const before = executionNames().length;

    const run = await runInProcess(['retry', 'i-0aaaaaaaaaaaaaaa2'], { env });

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/i-0aaaaaaaaaaaaaaa2: not retried: .*already claimed by g1/);
    expect(executionNames()).toHaveLength(before);
    expect(await table.store.getInstance('i-0aaaaaaaaaaaaaaa2')).toMatchObject({
      status: 'RUNNING',
      generation: 1,
    });
  });

  it('re-provisions a held record by Name (an operator retry lifts the hold for one run)', async () => {
    const run = await runInProcess(['retry', 'held-1', '--json'], { env });

    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as {
      retried: number;
      results: { instanceId: string; won: boolean; generation: number }[];
    };
    expect(document.retried).toBe(1);
    expect(document.results[0]).toMatchObject({
      instanceId: 'i-0aaaaaaaaaaaaaaa5',
      won: true,
      generation: 2,
    });
    expect(executionNames()).toContain('i-0aaaaaaaaaaaaaaa5-g2');
  });

  it('says what to do for an instance without a record (exit 1)', async () => {
    const run = await runInProcess(['retry', 'i-0bbbbbbbbbbbbbbb9'], { env });

    expect(run.code).toBe(1);
    expect(run.stdout).toContain('i-0bbbbbbbbbbbbbbb9: not retried: i-0bbbbbbbbbbbbbbb9 has no record');
    expect(run.stdout).toContain('autoprov doctor i-0bbbbbbbbbbbbbbb9');
  });

  it('--failed retries every FAILED and PARTIAL record, through the bin as a subprocess', async () => {
    // web-1 was retried above (now RUNNING); only web-4 (PARTIAL) is left failed.
    const run = await runSubprocess(['retry', '--failed', '--json'], env);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as {
      retried: number;
      refused: number;
      results: { instanceId: string; executionName: string }[];
    };
    expect(document).toMatchObject({ retried: 1, refused: 0 });
    expect(document.results.map((result) => result.executionName)).toEqual(['i-0aaaaaaaaaaaaaaa4-g2']);
    expect(executionNames()).toContain('i-0aaaaaaaaaaaaaaa4-g2');
    expect(await table.store.getInstance('i-0aaaaaaaaaaaaaaa4')).toMatchObject({
      status: 'RUNNING',
      generation: 2,
    });
  });

  it('is a usage error without an instance or with both an instance and --failed', async () => {
    expect((await runInProcess(['retry'], { env })).code).toBe(2);
    const both = await runInProcess(['retry', 'i-0aaaaaaaaaaaaaaa3', '--failed'], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give instance ids or --failed, not both');
  });

  it('fails with instructions when the state machine is unknown', async () => {
    const run = await runInProcess(['retry', 'i-0aaaaaaaaaaaaaaa3'], {
      env: { ...env, AUTOPROV_STATE_MACHINE_ARN: undefined },
    });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no state machine given: pass --state-machine <arn>');
    expect(await table.store.getInstance('i-0aaaaaaaaaaaaaaa3')).toMatchObject({
      status: 'SUCCESS',
      generation: 1,
    });
  });
  it('releases the lease when StartExecution fails after a won claim, so the sweep can reclaim at once', async () => {
    const missingMachine = aws.stateMachineArn.replace(/:[^:]+$/, ':NoSuchWorkflow');

    const run = await runInProcess(['retry', 'i-0aaaaaaaaaaaaaaa3', '--state-machine', missingMachine], {
      env,
    });

    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'i-0aaaaaaaaaaaaaaa3: not retried: claimed, but StartExecution failed (StateMachineDoesNotExist',
    );
    const record = await table.store.getInstance('i-0aaaaaaaaaaaaaaa3');
    expect(record).toMatchObject({ status: 'RUNNING', generation: 2 });
    expect(Date.parse(record?.leaseExpiresAt ?? '')).toBeLessThanOrEqual(Date.now());
  });

  it('is refused while provisioning is paused (autoprov pause), and claims again after autoprov resume', async () => {
    await seedRecord(table.store, { instanceId: 'i-0aaaaaaaaaaaaaaa6', name: 'web-6', status: 'FAILED' });
    expect((await runInProcess(['pause', '--reason', 'maintenance'], { env })).code).toBe(0);

    const paused = await runInProcess(['retry', 'i-0aaaaaaaaaaaaaaa6'], { env });

    expect(paused).toMatchObject({ code: 1, stdout: '' });
    expect(paused.stderr).toMatch(
      /error: not retried: provisioning is paused \(since .* by cli:alice: maintenance\), and no claim of any kind is made while it is; `autoprov resume` lifts it/,
    );
    expect(await table.store.getInstance('i-0aaaaaaaaaaaaaaa6')).toMatchObject({
      status: 'FAILED',
      generation: 1,
    });

    expect((await runInProcess(['resume'], { env })).code).toBe(0);
    const resumed = await runInProcess(['retry', 'i-0aaaaaaaaaaaaaaa6'], { env });
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('i-0aaaaaaaaaaaaaaa6: claimed generation 2');
  });
});
