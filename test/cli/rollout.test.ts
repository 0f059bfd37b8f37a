// `autoprov rollout …`, `pause` and `resume` on DynamoDB Local: the store's real conditional writes behind the
// commands (test/cli/rollout-commands.test.ts covers every message on the in-memory store).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTable, type TestTable } from '../helpers/ddb.js';
import { type LocalAws, runInProcess, runSubprocess, seedRecord, startLocalAws, useEnv } from './harness.js';
import { createRollouts } from './rollout-fixture.js';

describe('autoprov rollout, pause and resume (DynamoDB Local)', () => {
  let aws: LocalAws;
  let table: TestTable;
  let env: Record<string, string>;
  const now = new Date('2025-11-20T10:00:00.000Z');
  const run = (args: string[]) => runInProcess(args, { env, now: () => now });
  const laneStates = async (id: string) =>
    Object.fromEntries(
      Object.entries((await table.store.getRollout(id))?.lanes ?? {}).map(([lane, pool]) => [
        lane,
        pool.state,
      ]),
    );

  beforeAll(async () => {
    aws = await startLocalAws();
    table = await createTestTable();
    env = aws.env({ AUTOPROV_TABLE: table.tableName, USER: 'alice' });
    useEnv(env);
    await seedRecord(table.store, {
      instanceId: 'i-0ddddddddddddddd1',
      name: 'web-1',
      status: 'SUCCESS',
      now,
    });
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('before any rollout: status says none, a control says there is nothing to control', async () => {
    expect((await run(['rollout', 'status'])).stdout).toBe(
      `No rollout: table ${table.tableName} has none yet.\n`,
    );
    const resume = await run(['rollout', 'resume']);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain(`no rollout: table ${table.tableName} has none yet`);
  });

  it('shows the current rollout, pauses and resumes it through the pools in the table', async () => {
    const id = await createRollouts(table.store, now);

    const status = JSON.parse((await run(['rollout', 'status', '--json'])).stdout);
    expect(status.rollout).toMatchObject({
      rolloutId: id,
      state: 'ROLLING',
      due: 7,
      previousRolloutId: 'r-aaaaaaaaaaaa',
      change: { summary: 'files changed: webserver.yml' },
    });
    expect(status.rollout.lanes.map((lane: { lane: string }) => lane.lane)).toEqual([
      'canary',
      'rule:web',
      'default',
    ]);

    expect((await run(['rollout', 'pause'])).code).toBe(0);
    expect(await laneStates(id)).toEqual({ canary: 'PAUSED', default: 'PAUSED', 'rule:web': 'PAUSED' });

    const resume = await run(['rollout', 'resume', '--json']);
    expect(resume.code).toBe(0);
    expect(JSON.parse(resume.stdout)).toMatchObject({
      action: 'resume',
      changed: ['canary', 'rule:web', 'default'],
      rollout: { state: 'ROLLING', resumed: { by: 'cli:alice' }, paused: { by: 'cli:alice' } },
    });
    expect(await laneStates(id)).toEqual({ canary: 'ROLLING', default: 'ROLLING', 'rule:web': 'ROLLING' });
  });

  it('abort is refused without a terminal or --yes; the bin with --yes aborts it, once', async () => {
    const id = (await table.store.currentRollout())?.rolloutId ?? '';

    const refused = await runSubprocess(['rollout', 'abort'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`refusing to abort rollout ${id} without confirmation`);
    expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await laneStates(id)).toEqual({ canary: 'ROLLING', default: 'ROLLING', 'rule:web': 'ROLLING' });

    const aborted = await runSubprocess(['rollout', 'abort', '--yes'], env);
    expect(aborted).toMatchObject({ code: 0, stderr: '' });
    expect(aborted.stdout).toContain(`✔ Aborted rollout ${id}:`);
    expect(await laneStates(id)).toEqual({ canary: 'ABORTED', default: 'ABORTED', 'rule:web': 'ABORTED' });

    const again = await run(['rollout', 'abort', '--yes']);
    expect(again.code).toBe(1);
    // The bin ran at the wall clock's time.
    expect(again.stderr).toMatch(
      new RegExp(`rollout ${id} is already aborted \\(by cli:alice at \\d{4}-.*Z\\)`),
    );
  });

  it('pause and resume write and delete the global pause; status shows it meanwhile', async () => {
    expect((await run(['pause', '--reason', 'maintenance'])).code).toBe(0);
    expect(await table.store.getGlobalPause()).toEqual({
      since: now.toISOString(),
      actor: 'cli:alice',
      reason: 'maintenance',
    });
    expect((await run(['pause'])).stdout).toContain('Already paused');

    const status = await run(['status']);
    expect(status.stdout.split('\n').slice(0, 3)).toEqual([
      '1 instance: SUCCESS 1',
      'Paused since 2025-11-20 10:00:00Z by cli:alice: maintenance. No new claims of any kind; `autoprov resume` lifts it.',
      'Rollout r-3f9a0c41d2e7: ABORTED (7 due; files changed: webserver.yml)',
    ]);

    expect((await run(['resume'])).stdout).toContain('✔ Resumed: claims are allowed again');
    expect(await table.store.getGlobalPause()).toBeUndefined();
    expect((await run(['resume'])).stdout).toBe('Not paused: nothing to resume.\n');
  });
});
