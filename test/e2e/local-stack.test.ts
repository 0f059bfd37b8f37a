// End to end on the deployable artifacts: the bundled functions and the ASL of the assembly in cdk.out, run
// by local mode against DynamoDB Local, the local AWS endpoint and the real local SSM agent (ansible-playbook).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertJava } from '../../scripts/local/dynamodb-local.js';
import { assertAnsible } from '../../scripts/local/ssm-agent.js';
import { type LocalStack, startLocalStack } from '../../scripts/local/stack.js';
import { repoRoot } from '../helpers/paths.js';
import { runProcess } from '../helpers/run-process.js';
import { FUNCTION_ROLES } from './support.js';

const WEB = 'i-0e2e00000000000b1';

describe('local stack from cdk.out', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    // Fail loudly (never skip) when a tool is missing: the messages say how to install it.
    assertJava();
    assertAnsible();
    stack = await startLocalStack({
      stateDir: mkdtempSync(join(tmpdir(), 'autoprov-e2e-')),
      // Only this instance: without the schedule the inventory's hybrid nodes are never swept in.
      sweepSchedule: false,
      fleet: {
        instances: [
          {
            instanceId: WEB,
            name: 'shop-1',
            instanceType: 't3.small',
            tags: { 'autoprov:enabled': 'true', 'autoprov:groups': 'webservers', Environment: 'production' },
          },
        ],
      },
    });
    await stack.waitForIdle({ timeoutMs: 180_000 });
  }, 400_000);

  afterAll(async () => {
    await stack?.stop({ removeStateDir: true });
  });

  it('runs the bundled functions and the workflow of the synthesized assembly in cdk.out', () => {
    // Assess
    expect(stack.assembly.dir).toBe(join(repoRoot, 'cdk.out'));
    const roles = stack.spec.functions.map((f) => f.serviceName).sort();
    expect(roles).toEqual([...FUNCTION_ROLES]);
    for (const f of stack.spec.functions) {
      expect(relative(stack.assembly.dir, f.assetDir).startsWith('asset.')).toBe(true);
    }
    expect(stack.spec.stateMachine.arn).toBe(
      'arn:aws:states:us-east-1:123456789012:stateMachine:AnsibleAutoProvisioner-Provisioning',
    );
  });

  it('provisions an instance opted in at launch with baseline then webserver, written by Ansible in its sandbox', async () => {
    // Act
    const record = await stack.store.getInstance(WEB);
    const sandbox = stack.sandboxDir(WEB);

    // Assess: the record
    expect(record?.status).toBe('SUCCESS');
    expect(record?.generation).toBe(1);
    expect(record?.playbooks?.map((p) => [p.file, p.status, p.attempts, p.exitCode])).toEqual([
      ['baseline.yml', 'Success', 1, 0],
      ['webserver.yml', 'Success', 1, 0],
    ]);
    const [baseline, web] = record?.playbooks ?? [];
    expect(Date.parse(baseline?.endedAt ?? '')).toBeLessThanOrEqual(Date.parse(web?.startedAt ?? ''));

    // Assess: what Ansible wrote under autoprov_root
    expect(readFileSync(join(sandbox, 'etc/motd'), 'utf8')).toContain('shop-1');
    expect(readFileSync(join(sandbox, 'etc/autoprov/baseline.conf'), 'utf8')).toContain(
      'instance_type = t3.small',
    );
    const baselineRun = JSON.parse(readFileSync(join(sandbox, 'var/lib/autoprov/last-run.json'), 'utf8'));
    expect(baselineRun).toMatchObject({ playbook: 'baseline.yml', host: 'shop-1', check_mode: false });
    expect(readFileSync(join(sandbox, 'var/www/autoprov/index.html'), 'utf8')).toContain('Storefront');
    const webRun = JSON.parse(
      readFileSync(join(sandbox, 'var/lib/autoprov/webserver-last-run.json'), 'utf8'),
    );
    expect(webRun).toMatchObject({ playbook: 'webserver.yml', host: 'shop-1', http_port: '80' });
    expect(existsSync(join(sandbox, 'var/lib/autoprov/drill-failed-once'))).toBe(false);
  });

  it('ran one execution, one SendCommand per playbook plus the ensure step, and sent exactly one notification', async () => {
    // Act
    const executions = stack.executions().filter((e) => e.name.startsWith(`${WEB}-g`));
    const commands = stack.commands().filter((c) => c.instanceId === WEB);
    const ensureDocument = stack.spec.functions.find((f) => f.serviceName === 'run-command')?.environment
      .ANSIBLE_INSTALL_DOCUMENT;
    const messages = stack.notifications().filter((m) => m.message.includes(WEB));
    const history = await stack.store.listHistory(WEB);

    // Assess
    expect(executions.map((e) => [e.name, e.status])).toEqual([[`${WEB}-g1`, 'SUCCEEDED']]);
    expect(executions[0]?.transitions).toBeLessThanOrEqual(16);
    expect(executions[0]?.byState['Run playbook']).toBe(2);
    expect(commands.map((c) => [c.documentName, c.playbook ?? null, c.status])).toEqual([
      [ensureDocument, null, 'Success'],
      ['AWS-ApplyAnsiblePlaybooks', 'baseline.yml', 'Success'],
      ['AWS-ApplyAnsiblePlaybooks', 'webserver.yml', 'Success'],
    ]);
    expect(stack.counters()['SSM.SendCommand']?.calls).toBe(3);
    expect(stack.counters()['DynamoDB.UpdateItem']?.calls).toBeGreaterThan(0);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.subject).toContain('SUCCESS');
    expect(stack.notifications()).toHaveLength(1);
    expect(stack.deadLetters()).toEqual([]);
    const types = history.map((e) => e.type);
    expect(types.filter((t) => t === 'CLAIMED')).toHaveLength(1);
    expect(types.filter((t) => t === 'NOTIFIED')).toHaveLength(1);
    expect(types.indexOf('MATCHED')).toBeGreaterThan(types.indexOf('CLAIMED'));
    expect(types.at(-1)).toBe('NOTIFIED');
  });

  it('shuts everything down on stop', async () => {
    // Prepare
    const { aws, dynamoDbDirect } = stack.endpoints;
    const stateDir = stack.stateDir;

    // Act
    await stack.stop({ removeStateDir: true });

    // Assess: neither the local AWS endpoint nor DynamoDB Local answers any more
    await expect(fetch(aws, { method: 'POST' })).rejects.toThrow();
    await expect(fetch(dynamoDbDirect, { method: 'POST' })).rejects.toThrow();
    expect(existsSync(stateDir)).toBe(false);
  });
});

describe('npm start --json', () => {
  it('plays the demo to its expected end states and exits 0', async () => {
    // Act
    const run = await runProcess('npm', ['start', '--json']);

    // Assess
    expect(run.code, run.stderr.slice(-3000)).toBe(0);
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as {
      ok: boolean;
      instances: { name?: string; status: string; playbooks: { file: string; attempts: number }[] }[];
      expectations: { instance: string; ok: boolean }[];
      deadLetters: number;
      stateDir: string;
      stateKept: boolean;
      finalSweep?: { dynamoDbWrites: number };
    };
    expect(report.ok).toBe(true);
    const byName = new Map(report.instances.map((i) => [i.name, i]));
    expect(byName.get('web-1')?.status).toBe('SUCCESS');
    expect(byName.get('web-2')?.status).toBe('SUCCESS');
    expect(byName.get('web-2')?.playbooks.map((p) => [p.file, p.attempts])).toEqual([
      ['baseline.yml', 1],
      ['webserver.yml', 2],
    ]);
    expect(byName.get('app-1')?.status).toBe('ORPHANED');
    expect(byName.get('win-1')?.status).toBe('SKIPPED');
    expect(byName.get('batch-1')?.status).toBe('SUCCESS');
    expect(byName.get('onprem-db-1')?.status).toBe('SUCCESS');
    expect(report.expectations.length).toBeGreaterThanOrEqual(8);
    expect(report.expectations.every((e) => e.ok)).toBe(true);
    expect(report.deadLetters).toBe(0);
    expect(report.finalSweep?.dynamoDbWrites).toBe(0);
    expect(report.stateKept).toBe(false);
    expect(existsSync(report.stateDir)).toBe(false);
  }, 600_000);
});
