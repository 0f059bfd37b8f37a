// Issue 12, "done when": a playbook fails on REAL ansible-playbook and the operator sees the failed task and
// its message — in `autoprov status --json`, in `autoprov history`, in the SNS message body and in
// `npm start`'s summary — and `autoprov logs` prints the full output from the local stack. The failure:
// the shipped webserver.yml refuses http_port 70000 (task "Refuse a port nginx cannot listen on").
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../scripts/local/stack.js';
import { startLocalStack } from '../../scripts/local/stack.js';
import { runInProcess, useEnv } from '../cli/harness.js';
import { playbooksDir } from '../helpers/paths.js';
import { runScript } from '../helpers/run-process.js';
import { assertTools, ec2Id, notificationsOf, optedIn, stateDir } from './support.js';

const ID = ec2Id(12, 1);
const TASK = 'Refuse a port nginx cannot listen on';
const MESSAGE = 'http_port must be 1-65535, got 70000';
const HEADLINE = `webserver.yml: task "${TASK}" failed: ${MESSAGE}`;
const dir = mkdtempSync(join(tmpdir(), 'autoprov-e2e-failure-'));
// `--rules` is a rules file whose folder is the playbooks folder: a copy of the shipped playbooks.
cpSync(playbooksDir, join(dir, 'playbooks'), { recursive: true });
const rules = join(dir, 'playbooks', 'rules.yaml');
writeFileSync(
  rules,
  [
    'optIn: { tagKey: "autoprov:enabled", tagValue: "true" }',
    'groupsTag: "autoprov:groups"',
    'rules:',
    '  - name: web',
    '    match: { groups: [webservers] }',
    '    playbooks: [{ file: webserver.yml, extraVars: { http_port: "70000" } }]',
    '    maxAttempts: 1',
    '',
  ].join('\n'),
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a failed playbook, as the operator sees it', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    assertTools({ ansible: true });
    stack = await startLocalStack({
      stateDir: stateDir('failure'),
      sweepSchedule: false,
      rules,
      fleet: {
        instances: [
          { ...optedIn(ID, 'web-bad', { 'autoprov:groups': 'webservers' }), instanceType: 't3.small' },
        ],
      },
    });
    await stack.waitForIdle({ timeoutMs: 180_000 });
    useEnv(stack.cliEnv());
  }, 400_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('status --json names the failed task, module, host and message, then the last lines', async () => {
    const run = await runInProcess(['status', '--json'], { env: { ...process.env } });
    expect(run.code, run.stderr).toBe(0);
    const row = (JSON.parse(run.stdout) as { instances: Record<string, unknown>[] }).instances.find(
      (i) => i.instanceId === ID,
    );
    expect(row).toMatchObject({
      status: 'FAILED',
      failure: {
        headline: HEADLINE,
        file: 'webserver.yml',
        task: TASK,
        module: 'ansible.builtin.assert',
        message: MESSAGE,
      },
    });
    const failure = row?.failure as { lastLines: string };
    // The END of the output: the fatal line and the recap, not the unzip listing that starts it.
    expect(failure.lastLines).toContain(`fatal: [localhost]: FAILED!`);
    expect(failure.lastLines).toMatch(
      /PLAY RECAP[\s\S]*localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1\s+skipped=\d+\s+rescued=0\s+ignored=0$/,
    );
    expect(failure.lastLines).not.toContain('Running Ansible in');
    expect(JSON.stringify(row)).not.toContain('{\\"commandId');
  });

  it('history shows the failed task and its message', async () => {
    const run = await runInProcess(['history', ID], { env: { ...process.env } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Why: ${HEADLINE}`);
    expect(run.stdout).not.toContain('{"commandId"');
  });

  it('the SNS message body names the failed task and its message', () => {
    const [message] = notificationsOf(stack, ID);
    expect(message?.message).toContain(`Failure: ${HEADLINE}`);
    expect(message?.message).not.toContain('{"commandId"');
  });

  it('autoprov logs prints the full output of the run from the local stack', async () => {
    const run = await runInProcess(['logs', ID], { env: { ...process.env } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/=== webserver\.yml attempt 1 \(g1, command /);
    expect(run.stdout).toContain('Running Ansible in');
    expect(run.stdout).toContain(`fatal: [localhost]: FAILED!`);
    expect(run.stdout).toContain('PLAY RECAP');
    const other = await runInProcess(['logs', ID, '--playbook', 'baseline.yml'], { env: { ...process.env } });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('has no playbook command of baseline.yml in generation 1');
  });

  it('autoprov logs says clearly when the output is gone (retention)', async () => {
    const run = await runInProcess(['logs', ID, '--log-group', 'expired-group'], { env: { ...process.env } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(
      /is not in log group expired-group: CloudWatch Logs keeps it for the stack's autoprov:logRetentionDays/,
    );
  });
});

describe('npm start with a failing playbook', () => {
  it('prints the failed task and its message in the summary', async () => {
    const fleet = join(dir, 'fleet.yaml');
    writeFileSync(
      fleet,
      [
        'title: failing fleet',
        `rules: ${rules}`,
        'instances:',
        `  - { name: web-bad, instanceId: ${ID}, tags: { "autoprov:enabled": "true", "autoprov:groups": webservers } }`,
        'expect:',
        '  web-bad: { status: FAILED }',
        '',
      ].join('\n'),
    );
    const run = await runScript('scripts/start.ts', ['--fleet', fleet]);
    expect(run.stdout).toContain('Why:');
    expect(run.stdout).toContain(`${ID} (web-bad) FAILED: ${HEADLINE}`);
  }, 600_000);
});
