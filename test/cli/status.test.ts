import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countByStatus, failedPlaybook, parseStatus, statusRow } from '../../cli/commands/status.js';
import type { InstanceRecord } from '../../functions/shared/state-store-api.js';
import { createTestTable, type TestTable } from '../helpers/ddb.js';
import { type LocalAws, runInProcess, runSubprocess, seedRecord, startLocalAws, useEnv } from './harness.js';

describe('autoprov status (DynamoDB Local)', () => {
  let aws: LocalAws;
  let table: TestTable;
  let env: Record<string, string>;

  beforeAll(async () => {
    aws = await startLocalAws();
    table = await createTestTable();
    env = aws.env({ AUTOPROV_TABLE: table.tableName });
    useEnv(env);
    const now = new Date('2025-11-20T10:00:00.000Z');
    await seedRecord(table.store, {
      instanceId: 'i-0ccccccccccccccc1',
      name: 'web-1',
      groups: ['webservers'],
      status: 'SUCCESS',
      now,
    });
    await seedRecord(table.store, {
      instanceId: 'i-0ccccccccccccccc2',
      name: 'web-2',
      groups: ['webservers'],
      status: 'FAILED',
      playbooks: [{ file: 'webserver.yml', status: 'Failed', attempts: 3 }],
      now,
    });
    await seedRecord(table.store, {
      instanceId: 'i-0ccccccccccccccc3',
      name: 'db-1',
      groups: ['db'],
      status: 'PENDING',
      now,
    });
    await seedRecord(table.store, {
      instanceId: 'i-0ccccccccccccccc4',
      name: 'db-2',
      groups: ['db'],
      status: 'SUCCESS',
      held: true,
      now,
    });
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('prints counts by status and an aligned table of every record', async () => {
    const run = await runInProcess(['status'], { env });

    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('4 instances: PENDING 1 · SUCCESS 2 · FAILED 1');
    expect(lines[2]).toMatch(/^INSTANCE\s+NAME\s+STATUS\s+GEN\s+LAST RUN\s+WHY$/);
    expect(lines.slice(3)).toEqual([
      expect.stringMatching(/^i-0ccccccccccccccc1\s+web-1\s+SUCCESS\s+1\s+2025-11-20 10:00:00Z\s+-$/),
      expect.stringMatching(
        /^i-0ccccccccccccccc2\s+web-2\s+FAILED\s+1\s+2025-11-20 10:00:00Z\s+webserver\.yml ended Failed after 3 attempts$/,
      ),
      expect.stringMatching(/^i-0ccccccccccccccc3\s+db-1\s+PENDING\s+0\s+-\s+-$/),
      expect.stringMatching(/^i-0ccccccccccccccc4\s+db-2\s+SUCCESS \(held\)\s+1\s+2025-11-20 10:00:00Z\s+-$/),
    ]);
    // Aligned: every column starts at the same offset on every line.
    const statusColumn = lines[2]?.indexOf('STATUS');
    expect(lines.slice(3).map((line) => line.search(/(SUCCESS|FAILED|PENDING)/))).toEqual(
      Array(4).fill(statusColumn),
    );
  });

  it('filters by status (through the status index) and by group', async () => {
    const failed = await runInProcess(['status', '--status', 'failed'], { env });
    expect(failed.code).toBe(0);
    expect(failed.stdout).toContain('1 instance (status FAILED): FAILED 1');
    expect(failed.stdout).toContain('i-0ccccccccccccccc2');
    expect(failed.stdout).not.toContain('i-0ccccccccccccccc1');

    const db = await runInProcess(['status', '--group', 'db', '--json'], { env });
    const document = JSON.parse(db.stdout) as {
      total: number;
      counts: Record<string, number>;
      instances: { instanceId: string; held: boolean }[];
    };
    expect(document.total).toBe(2);
    expect(document.counts).toMatchObject({ PENDING: 1, SUCCESS: 1, FAILED: 0 });
    expect(document.instances.map((row) => [row.instanceId, row.held])).toEqual([
      ['i-0ccccccccccccccc3', false],
      ['i-0ccccccccccccccc4', true],
    ]);
  });

  it('rejects an unknown status as a usage error (exit 2)', async () => {
    const run = await runInProcess(['status', '--status', 'BROKEN'], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'unknown status "BROKEN": use one of PENDING, RUNNING, SUCCESS, PARTIAL, FAILED, SKIPPED, DRIFTED, ORPHANED',
    );
  });

  it('works end to end through the bin, with the table given as --table', async () => {
    const { AUTOPROV_TABLE: _table, ...withoutTable } = env;
    const run = await runSubprocess(['status', '--table', table.tableName, '--json'], withoutTable);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as { table: string; total: number };
    expect(document).toMatchObject({ table: table.tableName, total: 4 });
  });

  it('explains how to point it at a table when none can be found (exit 1)', async () => {
    const { AUTOPROV_TABLE: _table, ...withoutTable } = env;
    // No explicit names: it asks CloudFormation (the local endpoint, which has no stack).
    const run = await runInProcess(['status'], { env: withoutTable });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'cannot find the table: the outputs of stack AnsibleAutoProvisioner could not be read',
    );
    expect(run.stderr).toContain('pass --table <name> (or AUTOPROV_TABLE)');
  });
});

describe('status rows', () => {
  const base = {
    instanceId: 'i-1',
    status: 'PARTIAL',
    source: 'ec2',
    facts: { instanceId: 'i-1', source: 'ec2', name: 'n', tags: {}, groups: ['all'], vars: {} },
    factsHash: 'h',
    generation: 3,
    held: false,
    createdAt: 't',
    updatedAt: 't',
  } satisfies InstanceRecord;

  it('names the first playbook that ran and did not succeed', () => {
    const record: InstanceRecord = {
      ...base,
      playbooks: [
        { file: 'a.yml', status: 'Success', attempts: 1 },
        { file: 'b.yml', status: 'TimedOut', attempts: 1 },
        { file: 'c.yml', status: 'Pending', attempts: 0 },
      ],
    };
    expect(failedPlaybook(record)?.file).toBe('b.yml');
    expect(statusRow(record).failedPlaybook).toBe('b.yml (TimedOut, 1 attempt)');
    expect(
      failedPlaybook({ playbooks: [{ file: 'a.yml', status: 'InProgress', attempts: 1 }] }),
    ).toBeUndefined();
  });

  it('counts every status, zero included', () => {
    expect(countByStatus([{ status: 'FAILED' }, { status: 'FAILED' }, { status: 'SKIPPED' }])).toEqual({
      PENDING: 0,
      RUNNING: 0,
      SUCCESS: 0,
      PARTIAL: 0,
      FAILED: 2,
      SKIPPED: 1,
      DRIFTED: 0,
      ORPHANED: 0,
    });
  });

  it('parses statuses case-insensitively', () => {
    expect(parseStatus('orphaned')).toBe('ORPHANED');
    expect(parseStatus(undefined)).toBeUndefined();
    expect(() => parseStatus('DONE')).toThrow(/unknown status "DONE"/);
  });
});
