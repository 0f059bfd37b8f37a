import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDetails, logLinks, runLinks } from '../../cli/commands/history.js';
import { commandLogUrl } from '../../functions/callback/log-url.js';
import type { HistoryEvent } from '../../functions/shared/state-store-api.js';
import { createTestTable, type TestTable } from '../helpers/ddb.js';
import { type LocalAws, runInProcess, runSubprocess, seedRecord, startLocalAws, useEnv } from './harness.js';

const ID = 'i-0ddddddddddddddd1';
const LOG =
  'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/x';

describe('autoprov history (DynamoDB Local)', () => {
  let aws: LocalAws;
  let table: TestTable;
  let env: Record<string, string>;

  beforeAll(async () => {
    aws = await startLocalAws();
    table = await createTestTable();
    env = aws.env({ AUTOPROV_TABLE: table.tableName, AUTOPROV_STATE_MACHINE_ARN: aws.stateMachineArn });
    useEnv(env);
    await seedRecord(table.store, {
      instanceId: ID,
      name: 'web-1',
      status: 'FAILED',
      reason: 'webserver.yml failed for good',
      playbooks: [{ file: 'webserver.yml', status: 'Failed', attempts: 3, logUrl: LOG }],
      now: new Date('2025-11-20T10:00:00.000Z'),
    });
    await table.store.appendHistory({
      instanceId: ID,
      type: 'PLAYBOOK_FAILED',
      at: '2025-11-20T10:05:00.000Z',
      actor: `workflow:${ID}-g1`,
      generation: 1,
      reason: 'exit code 2',
      details: { playbook: 'webserver.yml', commandId: 'c0ffee00-0000-4000-8000-000000000001', logUrl: LOG },
    });
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('prints the audit trail oldest first, the run console link and the log link', async () => {
    const run = await runInProcess(['history', ID], { env });

    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`${ID} (web-1): FAILED at g1 — webserver.yml failed for good`);
    expect(lines[2]).toMatch(/^TIME\s+EVENT\s+GEN\s+ACTOR\s+REASON \/ DETAILS$/);
    const events = lines.slice(3, lines.indexOf('', 3)).map((line) => line.split(/\s{2,}/)[1]);
    expect(events).toEqual(['DETECTED', 'CLAIMED', 'PLAYBOOK_FAILED']);
    expect(run.stdout).toMatch(
      /2025-11-20 10:05:00Z\s+PLAYBOOK_FAILED\s+1\s+workflow:i-0ddddddddddddddd1-g1\s+exit code 2 — commandId=c0ffee00-0000-4000-8000-000000000001 playbook=webserver.yml$/m,
    );
    expect(run.stdout).toContain(
      `g1  ${ID}-g1  https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:123456789012:execution:AutoProvisionerWorkflow:${ID}-g1`,
    );
    expect(run.stdout).toContain(`g1 webserver.yml  ${LOG}`);
  });

  it('finds the instance by its Name tag and prints JSON; --limit keeps the newest events', async () => {
    const run = await runInProcess(['history', 'web-1', '--json', '--limit', '2'], { env });

    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as {
      instanceId: string;
      events: HistoryEvent[];
      runs: { executionName: string }[];
    };
    expect(document.instanceId).toBe(ID);
    expect(document.events.map((event) => event.type)).toEqual(['CLAIMED', 'PLAYBOOK_FAILED']);
    expect(document.runs.map((r) => r.executionName)).toEqual([`${ID}-g1`]);
  });

  it('in local mode (AUTOPROV_LOCAL_LOGS) links the local log folder, not an AWS console', async () => {
    const id = 'i-0ddddddddddddddd2';
    const commandId = 'c0ffee00-0000-4000-8000-000000000002';
    const url = commandLogUrl({
      region: 'us-east-1',
      logGroup: '/autoprov/commands',
      commandId,
      instanceId: id,
    });
    await seedRecord(table.store, {
      instanceId: id,
      name: 'web-2',
      status: 'FAILED',
      playbooks: [{ file: 'webserver.yml', status: 'Failed', attempts: 1, logUrl: url }],
    });

    const run = await runInProcess(['history', id], {
      env: { ...env, AUTOPROV_LOCAL_LOGS: '/work/.local/run-1/logs/commands' },
    });

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`/work/.local/run-1/logs/commands/autoprov_commands/${commandId}/${id}`);
    expect(run.stdout).not.toContain('console.aws.amazon.com');
  });

  it('says what to do for an unknown instance (exit 1) and for a missing argument (exit 2)', async () => {
    const unknown = await runSubprocess(['history', 'i-0eeeeeeeeeeeeeee0'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no record and no history for i-0eeeeeeeeeeeeeee0');
    expect(unknown.stderr).toContain('autoprov status lists known instances');

    const missing = await runInProcess(['history'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('which instance?');

    const badName = await runInProcess(['history', 'no-such-name'], { env });
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('no instance record is named "no-such-name"');
  });
});

describe('history helpers', () => {
  const event = (
    type: HistoryEvent['type'],
    generation: number,
    details?: Record<string, unknown>,
  ): HistoryEvent => ({
    instanceId: 'i-1',
    type,
    at: '2025-01-01T00:00:00.000Z',
    actor: 'sweep',
    generation,
    ...(details ? { details } : {}),
  });

  it('links one execution per claimed generation, without console links when the state machine is unknown', () => {
    const events = [event('CLAIMED', 1), event('CLAIMED', 3), event('RECORDED', 3)];
    expect(runLinks('i-1', events, undefined, undefined)).toEqual([
      { generation: 1, executionName: 'i-1-g1' },
      { generation: 3, executionName: 'i-1-g3' },
    ]);
    const [first] = runLinks(
      'i-1',
      events,
      undefined,
      'arn:aws:states:eu-west-1:111122223333:stateMachine:Wf',
    );
    expect(first?.consoleUrl).toBe(
      'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:111122223333:execution:Wf:i-1-g1',
    );
  });

  it('collects each log link once', () => {
    const links = logLinks(
      [
        event('PLAYBOOK_FAILED', 2, { logUrl: 'u1', playbook: 'a.yml' }),
        event('PLAYBOOK_FAILED', 2, { logUrl: 'u1' }),
      ],
      undefined,
    );
    expect(links).toEqual([{ url: 'u1', generation: 2, playbook: 'a.yml' }]);
  });

  it('formats details as key=value pairs', () => {
    expect(formatDetails({ n: 2, a: 'x', list: ['p', 'q'], logUrl: 'u' })).toBe('a=x list=["p","q"] n=2');
    expect(formatDetails(undefined)).toBe('');
  });
});
