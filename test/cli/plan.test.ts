import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLocalBundle } from '../../cli/bundle.js';
import { type HostPlan, instancesFromFleetFile, planHosts } from '../../cli/commands/plan.js';
import { observeSources } from '../../functions/core/reconcile.js';
import type { FleetEntry } from '../../functions/shared/state-store-api.js';
import { createTestTable, type TestTable } from '../helpers/ddb.js';
import { samplePlaybooksDir } from '../helpers/sample-inventory.js';
import { type LocalAws, runInProcess, runSubprocess, seedRecord, startLocalAws, useEnv } from './harness.js';

const FLEET = `
instances:
  - name: web
    count: 2
    instanceType: t3.small
    tags: { "autoprov:enabled": "true", "autoprov:groups": "webservers", Environment: production }
  - name: db-1
    instanceId: i-0a0000000000000d1
    tags: { "autoprov:enabled": "true" }
  - name: big-web
    instanceId: i-0a0000000000000b1
    instanceType: m5.large
    tags: { "autoprov:enabled": "true", "autoprov:groups": "webservers", Environment: production }
  - name: not-opted-in
    tags: { Environment: production }
  - instanceId: mi-0a0000000000000c1
    tags: { "autoprov:enabled": "true" }
`;

interface PlanDocument {
  readonly source: string;
  readonly stateRead: boolean;
  readonly stateNote?: string;
  readonly counts: { ec2: number; inventory: number; notOptedIn: number };
  readonly hosts: HostPlan[];
}

const files = (hosts: readonly HostPlan[], name: string) =>
  hosts.find((host) => host.name === name)?.playbooks.map((playbook) => playbook.file);

/** The shipped rules with the sample inventory enabled (its three hybrid nodes), as local mode's demo runs them. */
const RULES = join(samplePlaybooksDir(), 'rules.yaml');

describe('plan from a fleet file with the shipped rules and the sample inventory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'autoprov-plan-'));
  const fleetFile = join(dir, 'fleet.yaml');
  writeFileSync(fleetFile, FLEET);
  const bundle = loadLocalBundle(RULES);

  it('launches the file like local mode: counts expanded, hybrid nodes left to the inventories', () => {
    const instances = instancesFromFleetFile(FLEET, 'fleet.yaml');

    expect(instances.map((instance) => instance.Tags?.find((tag) => tag.Key === 'Name')?.Value)).toEqual([
      'web-1',
      'web-2',
      'db-1',
      'big-web',
      'not-opted-in',
    ]);
    expect(instances[2]).toMatchObject({
      InstanceId: 'i-0a0000000000000d1',
      State: { Name: 'running' },
      PlatformDetails: 'Linux/UNIX',
    });
    expect(instances[0]?.InstanceType).toBe('t3.small');
  });

  it('matches each host and explains every rule (JSON through the bin, --offline)', async () => {
    const run = await runSubprocess(['plan', '--rules', RULES, '--fleet', fleetFile, '--offline', '--json'], {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    });

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as PlanDocument;
    expect(document).toMatchObject({
      stateRead: false,
      stateNote: 'state table not read (--offline)',
      counts: { ec2: 4, inventory: 3, notOptedIn: 1 },
    });
    expect(files(document.hosts, 'web-1')).toEqual(['baseline.yml', 'webserver.yml']);
    expect(files(document.hosts, 'db-1')).toEqual(['baseline.yml']);
    // m5.large does not match the web rule's `t3.*`.
    expect(files(document.hosts, 'big-web')).toEqual(['baseline.yml']);
    const bigWeb = document.hosts.find((host) => host.name === 'big-web');
    expect(bigWeb?.rules.find((rule) => rule.rule === 'web')).toEqual({
      rule: 'web',
      matched: false,
      reasons: ['ec2_instance_type=m5.large does not match t3.*'],
    });
    // The inventory's web servers get webserver.yml in check mode with the inventory rule's vars.
    const onprem = document.hosts.find((host) => host.instanceId === 'mi-0123456789abcdef0');
    expect(onprem?.source).toBe('inventory');
    expect(onprem?.playbooks[1]).toMatchObject({
      file: 'webserver.yml',
      check: true,
      extraVars: { http_port: '8080' },
      rule: 'onprem-web',
    });
    expect(document.hosts.some((host) => host.name === 'not-opted-in')).toBe(false);
    expect(document.hosts.every((host) => host.changed === false && host.record === undefined)).toBe(true);
  });

  it('prints a readable plan with ✔/✖ per rule and the playbooks', async () => {
    const run = await runInProcess(['plan', '--rules', RULES, '--fleet', fleetFile, '--offline'], {
      env: { ...process.env },
    });

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^Plan for 7 hosts \(4 from fleet file .*fleet\.yaml, 3 from inventories; rules \S+\/rules\.yaml, bundle [0-9a-f]{12}\)$/m,
    );
    expect(run.stdout).toContain('1 instance without autoprov:enabled=true left out.');
    const block = run.stdout.split('\n\n').find((part) => part.startsWith('i-0a0000000000000b1'));
    expect(block?.split('\n')).toEqual([
      'i-0a0000000000000b1  big-web  (ec2)',
      '  ✔  baseline         ec2_platform=linux matches linux',
      '  ✖  onprem-baseline  missing group onprem',
      '  ✖  web              ec2_instance_type=m5.large does not match t3.*',
      '  ✖  onprem-web       missing group onprem; site is not set (expected dc1)',
      '  → baseline.yml',
    ]);
    expect(run.stdout).toContain('  → baseline.yml, webserver.yml (http_port=80, site_title=Storefront)');
    expect(run.stderr).toContain('state table not read (--offline)');
  });

  it('flags "changed" against the records: same fingerprint → no, different → yes', () => {
    const { observations } = observeSources(instancesFromFleetFile(FLEET, 'fleet.yaml'), bundle);
    const current = observations.find((o) => o.facts.instanceId === 'i-0a0000000000000d1')?.fingerprint ?? '';
    const entry = (instanceId: string, lastSuccessFingerprint?: string): FleetEntry => ({
      instanceId,
      status: 'SUCCESS',
      source: 'ec2',
      generation: 1,
      factsHash: 'h',
      held: false,
      ...(lastSuccessFingerprint ? { lastSuccessFingerprint } : {}),
    });
    const known = new Map([
      ['i-0a0000000000000d1', entry('i-0a0000000000000d1', current)],
      ['i-0a0000000000000b1', entry('i-0a0000000000000b1', '0'.repeat(64))],
      ['mi-0fedcba9876543210', entry('mi-0fedcba9876543210')],
    ]);

    const hosts = planHosts(bundle, observations, known);

    const byId = new Map(hosts.map((host) => [host.instanceId, host]));
    expect(byId.get('i-0a0000000000000d1')).toMatchObject({
      changed: false,
      record: { status: 'SUCCESS', generation: 1 },
    });
    expect(byId.get('i-0a0000000000000b1')?.changed).toBe(true);
    expect(byId.get('mi-0fedcba9876543210')?.changed).toBe(false);
    expect(byId.get('mi-0123456789abcdef0')?.record).toBeUndefined();
  });

  it('reports a broken fleet file (exit 1) and conflicting sources (exit 2)', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'instances:\n  - instanceId: web-1\n');
    const bad = await runInProcess(['plan', '--fleet', broken, '--offline']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('instances.0.instanceId: an EC2 (i-…) or hybrid (mi-…) id');

    const both = await runInProcess(['plan', '--fleet', fleetFile, '--from-ec2']);
    expect(both.code).toBe(2);
  });
});

describe('plan against EC2 and the state table (local endpoints)', () => {
  let aws: LocalAws;
  let table: TestTable;
  let env: Record<string, string>;

  beforeAll(async () => {
    aws = await startLocalAws();
    table = await createTestTable();
    env = aws.env({ AUTOPROV_TABLE: table.tableName });
    useEnv(env);
    aws.fleet.launch({
      instanceId: 'i-0e00000000000000a',
      name: 'web-a',
      instanceType: 't3.micro',
      tags: { 'autoprov:enabled': 'true', 'autoprov:groups': 'webservers', Environment: 'staging' },
    });
    aws.fleet.launch({
      instanceId: 'i-0e00000000000000b',
      name: 'web-b',
      tags: { 'autoprov:enabled': 'true' },
    });
    aws.fleet.launch({
      instanceId: 'i-0e00000000000000c',
      name: 'web-c',
      tags: { 'autoprov:enabled': 'false' },
    });
  });
  afterAll(async () => {
    await aws.stop();
  });

  it('lists opted-in instances with the opt-in filter and flags the one whose rules changed since its success', async () => {
    // Prepare: web-a succeeded with today's fingerprint, web-b with an older one.
    const offline = JSON.parse(
      (await runInProcess(['plan', '--rules', RULES, '--from-ec2', '--offline', '--json'], { env })).stdout,
    ) as PlanDocument;
    const fingerprintOf = (id: string) => offline.hosts.find((host) => host.instanceId === id)?.fingerprint;
    await seedRecord(table.store, {
      instanceId: 'i-0e00000000000000a',
      name: 'web-a',
      status: 'SUCCESS',
      fingerprint: fingerprintOf('i-0e00000000000000a') ?? '',
    });
    await seedRecord(table.store, {
      instanceId: 'i-0e00000000000000b',
      name: 'web-b',
      status: 'SUCCESS',
      fingerprint: '1'.repeat(64),
    });

    const run = await runInProcess(['plan', '--rules', RULES, '--json'], { env });

    expect(run.code).toBe(0);
    const document = JSON.parse(run.stdout) as PlanDocument;
    expect(document).toMatchObject({ source: 'EC2', stateRead: true, counts: { ec2: 2, inventory: 3 } });
    expect(document.hosts.map((host) => [host.instanceId, host.changed])).toEqual([
      ['i-0e00000000000000a', false],
      ['i-0e00000000000000b', true],
      ['mi-0123456789abcdef0', false],
      ['mi-0abcdef1234567890', false],
      ['mi-0fedcba9876543210', false],
    ]);
    expect(files(document.hosts, 'web-a')).toEqual(['baseline.yml', 'webserver.yml']);
    expect(aws.server.counters()['EC2.DescribeInstances']?.calls).toBe(2);

    const text = await runInProcess(['plan', '--rules', RULES], { env });
    expect(text.stdout).toMatch(
      /^i-0e00000000000000b {2}web-b {2}\(ec2\) {2}SUCCESS g1, changed since last success$/m,
    );
    expect(text.stdout).toMatch(/^mi-0123456789abcdef0 {2}\(inventory\) {2}new \(no record yet\)$/m);
  });
});
