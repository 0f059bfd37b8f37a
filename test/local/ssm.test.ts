import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsServer, startAwsServer } from '../../scripts/local/aws-server.js';
import { type BusEvent, EventBus } from '../../scripts/local/event-bus.js';
import { Fleet } from '../../scripts/local/fleet.js';
import { S3Emulator, S3Store } from '../../scripts/local/services/s3.js';
import { SsmEmulator } from '../../scripts/local/services/ssm.js';
import {
  applyAnsiblePlaybooksDocument,
  assertAnsible,
  ensureAnsibleDocument,
  LocalSsmAgent,
  shellScriptDocument,
  simulatedApplyAnsiblePlaybooksDocument,
} from '../../scripts/local/ssm-agent.js';
import { SsmDocuments } from '../../scripts/local/ssm-documents.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
// Detail keys of test/fixtures/events/ssm-command-invocation-status.json.
const INVOCATION_DETAIL_KEYS = [
  'command-id',
  'document-name',
  'instance-id',
  'requested-date-time',
  'status',
];

const PLAYBOOK = `- hosts: localhost
  gather_facts: false
  tasks:
    - name: Create /etc in the instance's filesystem
      ansible.builtin.file:
        path: "{{ autoprov_root }}/etc"
        state: directory
    - name: Write the greeting into the instance's filesystem
      ansible.builtin.copy:
        dest: "{{ autoprov_root }}/etc/motd"
        content: "{{ greeting }} from {{ inventory_hostname }}\\n"
`;

describe('SSM Run Command with the local agent', () => {
  let server: AwsServer;
  let root: string;
  let ssm: SSMClient;
  let agent: LocalSsmAgent;
  let emulator: SsmEmulator;
  const events: BusEvent[] = [];
  const bus = new EventBus();
  const fleet = new Fleet({ emit: (e) => bus.put(e), seed: 21 });
  const store = new S3Store();
  const bundleUrl = 'https://bundle-bucket.s3.us-east-1.amazonaws.com/assets/playbooks.zip';

  const web = () => fleet.resolve('web-1').instanceId;

  const waitForStatus = async (commandId: string, statuses: string[], timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await bus.drain();
      const hit = events.find(
        (e) => e.detail['command-id'] === commandId && statuses.includes(String(e.detail.status)),
      );
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`command ${commandId} never reached ${statuses.join('/')}`);
  };

  /** GetCommandInvocation, retried through the eventual-consistency window like a real caller must. */
  const getInvocation = async (input: { CommandId: string; InstanceId: string; PluginName?: string }) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await ssm.send(new GetCommandInvocationCommand(input));
      } catch (error) {
        if ((error as Error).name !== 'InvocationDoesNotExist' || attempt > 20) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  const send = (input: Partial<ConstructorParameters<typeof SendCommandCommand>[0]>) =>
    ssm.send(
      new SendCommandCommand({ DocumentName: 'AWS-ApplyAnsiblePlaybooks', InstanceIds: [web()], ...input }),
    );

  const playbookParameters = (overrides: Record<string, string[]> = {}) => ({
    SourceType: ['S3'],
    SourceInfo: [JSON.stringify({ path: bundleUrl })],
    InstallDependencies: ['False'],
    PlaybookFile: ['site.yml'],
    ExtraVariables: ['greeting=hello'],
    Check: ['False'],
    Verbose: ['-v'],
    TimeoutSeconds: ['120'],
    ...overrides,
  });

  beforeAll(async () => {
    assertAnsible(); // fails loudly with the apt-get command if ansible-core is missing
    root = mkdtempSync(join(tmpdir(), 'autoprov-ssm-'));
    bus.addRule({
      name: 'ssm-events',
      eventPattern: {
        source: ['aws.ssm'],
        'detail-type': ['EC2 Command Invocation Status-change Notification'],
      },
      target: (e) => events.push(e),
    });
    store.createBucket('bundle-bucket');
    store.createBucket('output-bucket');
    store.put(
      'bundle-bucket',
      'assets/playbooks.zip',
      zipSync({ 'site.yml': strToU8(PLAYBOOK), 'roles/readme.txt': strToU8('roles go here') }),
    );
    fleet.launch({ name: 'web-1', tags: { 'autoprov:enabled': 'true' } });
    fleet.launch({ name: 'slow-agent', agentOnlineAfterMs: 60_000 });
    for (let i = 0; i < 6; i++) fleet.launch({ name: `extra-${i}` });
    fleet.launch({ instanceId: 'mi-0123456789abcdef0' });
    const documents = new SsmDocuments();
    documents.register(applyAnsiblePlaybooksDocument());
    documents.register(ensureAnsibleDocument({ name: 'Autoprov-EnsureAnsible' }));
    documents.register(
      shellScriptDocument({
        name: 'Local-Shell',
        parameters: {
          commands: { type: 'String' },
          executionTimeout: { type: 'String', default: '60', allowedPattern: '^\\d+$' },
        },
        runCommand: ['{{ commands }}'],
        timeoutParameter: 'executionTimeout',
      }),
    );
    agent = new LocalSsmAgent({
      workRoot: join(root, 'work'),
      sandboxRoot: join(root, 'sandbox'),
      logDir: join(root, 'logs'),
      s3: store,
      emit: (e) => bus.put(e),
      concurrency: 2,
    });
    emulator = new SsmEmulator({ nodes: fleet, documents, runner: agent, invocationVisibilityDelayMs: 300 });
    server = await startAwsServer({ emulators: [emulator, new S3Emulator(store)], seed: 4 });
    ssm = new SSMClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  describe('DescribeInstanceInformation', () => {
    it('lists only nodes whose agent is Online, with filters and pagination', async () => {
      const all: string[] = [];
      let NextToken: string | undefined;
      do {
        const page = await ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 5, NextToken }));
        all.push(...(page.InstanceInformationList ?? []).map((i) => i.InstanceId ?? ''));
        NextToken = page.NextToken;
      } while (NextToken);
      expect(all).toHaveLength(8); // not slow-agent
      expect(all).not.toContain(fleet.resolve('slow-agent').instanceId);
      const one = await ssm.send(
        new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [web()] }] }),
      );
      expect(one.InstanceInformationList).toEqual([
        expect.objectContaining({
          InstanceId: web(),
          PingStatus: 'Online',
          PlatformType: 'Linux',
          ResourceType: 'EC2Instance',
        }),
      ]);
      expect(one.InstanceInformationList?.[0]?.LastPingDateTime).toBeInstanceOf(Date);
      const hybrid = await ssm.send(
        new DescribeInstanceInformationCommand({
          InstanceInformationFilterList: [{ key: 'ResourceType', valueSet: ['ManagedInstance'] }],
        }),
      );
      expect(hybrid.InstanceInformationList?.map((i) => i.InstanceId)).toEqual(['mi-0123456789abcdef0']);
      await expect(ssm.send(new DescribeInstanceInformationCommand({ MaxResults: 2 }))).rejects.toMatchObject(
        {
          name: 'ValidationException',
        },
      );
    });

    it('is throttled like SSM and retried by the SDK', async () => {
      server.resetCounters();
      server.setThrottle({ SSM: 0.5 });
      const seen: string[] = [];
      const client = new SSMClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        retryStrategy: {
          acquireInitialRetryToken: async () => ({ getRetryCount: () => 0, getRetryDelay: () => 1 }),
          refreshRetryTokenForRetry: async (t: { getRetryCount(): number }, info: { errorType: string }) => {
            seen.push(info.errorType);
            return { getRetryCount: () => t.getRetryCount() + 1, getRetryDelay: () => 1 };
          },
          recordSuccess: () => {},
        } as never,
      });
      for (let i = 0; i < 8; i++) await client.send(new DescribeInstanceInformationCommand({}));
      server.setThrottle({});
      const counter = server.counters()['SSM.DescribeInstanceInformation'];
      expect(counter?.throttled).toBeGreaterThan(0);
      expect(counter?.calls).toBe(8 + (counter?.throttled ?? 0));
      expect(new Set(seen)).toEqual(new Set(['THROTTLING']));
    });
  });

  describe('ListCommands', () => {
    it("lists an instance's commands newest first with their Comment, filtered by InvokedAfter", async () => {
      const before = new Date(Date.now() - 1000);
      const first = await send({
        DocumentName: 'Local-Shell',
        Parameters: { commands: ['true'] },
        Comment: 'k/1 one',
      });
      const second = await send({
        DocumentName: 'Local-Shell',
        Parameters: { commands: ['true'] },
        Comment: 'k/2 two',
      });
      const listed = await ssm.send(
        new ListCommandsCommand({
          InstanceId: web(),
          Filters: [{ key: 'InvokedAfter', value: before.toISOString() }],
        }),
      );
      const ids = (listed.Commands ?? []).map((c) => [c.CommandId, c.Comment]);
      expect(ids.slice(0, 2)).toEqual([
        [second.Command?.CommandId, 'k/2 two'],
        [first.Command?.CommandId, 'k/1 one'],
      ]);
      const none = await ssm.send(
        new ListCommandsCommand({
          InstanceId: web(),
          Filters: [{ key: 'InvokedAfter', value: new Date(Date.now() + 60_000).toISOString() }],
        }),
      );
      expect(none.Commands).toEqual([]);
      await expect(ssm.send(new ListCommandsCommand({ MaxResults: 51 }))).rejects.toMatchObject({
        name: 'ValidationException',
      });
    });
  });

  describe('SendCommand validation', () => {
    it('rejects a hostile ExtraVariables value with InvalidParameters, as SSM does', async () => {
      await expect(
        send({
          Parameters: playbookParameters({ ExtraVariables: [`greeting=$(touch ${join(root, 'pwned')})`] }),
        }),
      ).rejects.toMatchObject({
        name: 'InvalidParameters',
        message: expect.stringMatching(/ExtraVariables.*allowedPattern/),
      });
      await expect(
        send({ Parameters: playbookParameters({ ExtraVariables: ['a=1; reboot'] }) }),
      ).rejects.toMatchObject({
        name: 'InvalidParameters',
      });
      expect(existsSync(join(root, 'pwned'))).toBe(false);
    });

    it('rejects values outside allowedValues / allowedPattern, unknown and missing parameters', async () => {
      const invalid = { name: 'InvalidParameters' };
      await expect(send({ Parameters: playbookParameters({ Check: ['yes'] }) })).rejects.toMatchObject(
        invalid,
      );
      await expect(
        send({ Parameters: playbookParameters({ PlaybookFile: ['site.json'] }) }),
      ).rejects.toMatchObject(invalid);
      await expect(send({ Parameters: playbookParameters({ TimeoutSeconds: ['0'] }) })).rejects.toMatchObject(
        invalid,
      );
      await expect(send({ Parameters: playbookParameters({ Bogus: ['1'] }) })).rejects.toMatchObject(invalid);
      const { SourceType: _omitted, ...withoutSourceType } = playbookParameters();
      await expect(send({ Parameters: withoutSourceType })).rejects.toMatchObject(invalid);
      await expect(
        send({ Parameters: playbookParameters({ SourceInfo: ['not json'] }) }),
      ).rejects.toMatchObject(invalid);
    });

    it('rejects unknown documents and instances that are unknown or not Online', async () => {
      await expect(send({ DocumentName: 'AWS-RunShellScript' })).rejects.toMatchObject({
        name: 'InvalidDocument',
      });
      await expect(
        send({ InstanceIds: ['i-0fffffffffffffff0'], Parameters: playbookParameters() }),
      ).rejects.toMatchObject({ name: 'InvalidInstanceId' });
      await expect(
        send({ InstanceIds: [fleet.resolve('slow-agent').instanceId], Parameters: playbookParameters() }),
      ).rejects.toMatchObject({ name: 'InvalidInstanceId' });
    });
  });

  describe('AWS-ApplyAnsiblePlaybooks, run for real', () => {
    it('downloads the bundle, runs the playbook into the sandbox and reports Success', async () => {
      // Act
      const { Command } = await send({
        Parameters: playbookParameters(),
        CloudWatchOutputConfig: {
          CloudWatchOutputEnabled: true,
          CloudWatchLogGroupName: '/autoprov/commands',
        },
      });
      const commandId = Command?.CommandId ?? '';
      // Assess: eventually consistent right after SendCommand
      expect(Command?.Status).toBe('Pending');
      await expect(
        ssm.send(
          new GetCommandInvocationCommand({
            CommandId: commandId,
            InstanceId: web(),
            PluginName: 'runShellScript',
          }),
        ),
      ).rejects.toMatchObject({ name: 'InvocationDoesNotExist' });
      const terminal = await waitForStatus(commandId, ['Success', 'Failed', 'TimedOut']);
      const invocation = await getInvocation({
        CommandId: commandId,
        InstanceId: web(),
        PluginName: 'runShellScript',
      });
      expect(invocation.StandardErrorContent).toBe('');
      expect(terminal.detail.status).toBe('Success');
      expect(invocation).toMatchObject({
        Status: 'Success',
        StatusDetails: 'Success',
        ResponseCode: 0,
        DocumentName: 'AWS-ApplyAnsiblePlaybooks',
      });
      expect(invocation.StandardOutputContent).toContain('PLAY RECAP');
      expect(invocation.StandardOutputContent).toMatch(/ok=2\s+changed=2/);
      expect(invocation.ExecutionElapsedTime).toMatch(/^PT\d+\.\d{3}S$/);
      expect(invocation.CloudWatchOutputConfig).toEqual({
        CloudWatchLogGroupName: '/autoprov/commands',
        CloudWatchOutputEnabled: true,
      });
      const motd = join(root, 'sandbox', web(), 'etc', 'motd');
      expect(readFileSync(motd, 'utf8')).toBe('hello from localhost\n');
      // The multi-step document needs PluginName, as documented for GetCommandInvocation.
      await expect(
        ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: web() })),
      ).rejects.toMatchObject({ name: 'InvalidPluginName' });
      const download = await getInvocation({
        CommandId: commandId,
        InstanceId: web(),
        PluginName: 'downloadContent',
      });
      expect(download.Status).toBe('Success');
      // Events: InProgress then Success, shaped like the fixture.
      const mine = events.filter((e) => e.detail['command-id'] === commandId);
      expect(mine.map((e) => e.detail.status)).toEqual(['InProgress', 'Success']);
      expect(Object.keys(mine[0]?.detail ?? {}).sort()).toEqual(INVOCATION_DETAIL_KEYS);
      expect(mine[0]?.resources).toEqual([`arn:aws:ec2:us-east-1:123456789012:instance/${web()}`]);
      // Full output in the per-command log file (the "CloudWatch log").
      const record = emulator.listCommands().find((c) => c.commandId === commandId);
      const plugin = record?.invocations.get(web())?.plugins.find((p) => p.name === 'runShellScript');
      expect(plugin?.stdoutLogFile).toContain(
        join('logs', 'autoprov_commands', commandId, web(), 'runShellScript'),
      );
      expect(readFileSync(plugin?.stdoutLogFile ?? '', 'utf8')).toBe(invocation.StandardOutputContent);
    });

    it('fails with exit code 2 when the playbook is not in the bundle', async () => {
      const { Command } = await send({ Parameters: playbookParameters({ PlaybookFile: ['missing.yml'] }) });
      const commandId = Command?.CommandId ?? '';
      await waitForStatus(commandId, ['Failed', 'Success']);
      const invocation = await getInvocation({
        CommandId: commandId,
        InstanceId: web(),
        PluginName: 'runShellScript',
      });
      expect(invocation).toMatchObject({ Status: 'Failed', ResponseCode: 2 });
      expect(invocation.StandardErrorContent).toContain(
        "The specified Playbook file doesn't exist in the downloaded bundle",
      );
    });

    it('reproduces the document shell-injection surface: a backtick value SSM accepts is executed by bash', async () => {
      // This value passes SSM's allowedPattern (quoted form allows spaces and backticks) — which is why
      // the product must never send raw values (docs/architecture.md "SSM execution and extra vars"). The emulator must be just as vulnerable.
      const marker = join(root, 'sandbox', 'injected');
      const { Command } = await send({
        Parameters: playbookParameters({ ExtraVariables: [`greeting='\`touch ${marker}\`'`] }),
      });
      await waitForStatus(Command?.CommandId ?? '', ['Success', 'Failed']);
      expect(existsSync(marker)).toBe(true);
    });
  });

  describe('other documents and command control', () => {
    const shell = async (commands: string, extra: Record<string, string[]> = {}) => {
      const { Command } = await ssm.send(
        new SendCommandCommand({
          DocumentName: 'Local-Shell',
          InstanceIds: [web()],
          Parameters: { commands: [commands], ...extra },
          OutputS3BucketName: 'output-bucket',
          OutputS3KeyPrefix: 'runs',
        }),
      );
      return Command?.CommandId ?? '';
    };

    it('runs the ensure-Ansible document as a check that Ansible is there', async () => {
      const { Command } = await ssm.send(
        new SendCommandCommand({ DocumentName: 'Autoprov-EnsureAnsible', InstanceIds: [web()] }),
      );
      const commandId = Command?.CommandId ?? '';
      await waitForStatus(commandId, ['Success', 'Failed']);
      const invocation = await getInvocation({ CommandId: commandId, InstanceId: web() });
      expect(invocation.Status).toBe('Success');
      expect(invocation.StandardOutputContent).toMatch(
        /Ansible is already installed: ansible-playbook \[core/,
      );
    });

    it('truncates StandardOutputContent to 24,000 characters but keeps the full log and the S3 copy', async () => {
      const commandId = await shell('head -c 30000 /dev/zero | tr "\\0" "a"; echo oops >&2; exit 3');
      await waitForStatus(commandId, ['Failed', 'Success']);
      const invocation = await getInvocation({ CommandId: commandId, InstanceId: web() });
      expect(invocation).toMatchObject({ Status: 'Failed', ResponseCode: 3, StandardErrorContent: 'oops\n' });
      expect(invocation.StandardOutputContent).toHaveLength(24_000);
      const key = `runs/${commandId}/${web()}/awsrunShellScript/runShellScript/stdout`;
      expect(store.get('output-bucket', key)?.body.length).toBe(30_000);
      expect(invocation.StandardOutputUrl).toBe(`https://s3.us-east-1.amazonaws.com/output-bucket/${key}`);
      const listed = await ssm.send(
        new ListCommandInvocationsCommand({ CommandId: commandId, Details: true }),
      );
      const plugin = listed.CommandInvocations?.[0]?.CommandPlugins?.[0];
      expect(plugin).toMatchObject({ Name: 'runShellScript', Status: 'Failed', ResponseCode: 3 });
      expect(plugin?.Output).toHaveLength(2_500);
    });

    it('times out a command that runs past its execution timeout', async () => {
      const commandId = await shell('sleep 20', { executionTimeout: ['1'] });
      await waitForStatus(commandId, ['TimedOut', 'Success', 'Failed'], 10_000);
      const invocation = await getInvocation({ CommandId: commandId, InstanceId: web() });
      expect(invocation).toMatchObject({
        Status: 'TimedOut',
        StatusDetails: 'ExecutionTimedOut',
        ResponseCode: -1,
      });
    });

    it('cancels a running command', async () => {
      const commandId = await shell('sleep 20');
      await waitForStatus(commandId, ['InProgress']);
      await ssm.send(new CancelCommandCommand({ CommandId: commandId }));
      const terminal = await waitForStatus(commandId, ['Cancelled', 'Success', 'Failed'], 10_000);
      expect(terminal.detail.status).toBe('Cancelled');
    });

    it('runs at most `concurrency` commands at once', async () => {
      const ids = [await shell('sleep 0.4'), await shell('sleep 0.4'), await shell('sleep 0.4')];
      await Promise.all(ids.map((id) => waitForStatus(id, ['Success'])));
      const spans = ids.map((id) => {
        const inv = emulator
          .listCommands()
          .find((c) => c.commandId === id)
          ?.invocations.get(web());
        return [inv?.startedAt ?? 0, inv?.endedAt ?? 0] as const;
      });
      const overlapping = (t: number) => spans.filter(([s, e]) => s <= t && t < e).length;
      expect(Math.max(...spans.map(([s]) => overlapping(s)))).toBe(2);
    });
  });
});

describe('simulated AWS-ApplyAnsiblePlaybooks (benchmark scale)', () => {
  it('downloads and opens the bundle, exits 2 on a missing playbook, flags shell expansion, and never spawns Ansible', async () => {
    // Prepare
    const root = mkdtempSync(join(tmpdir(), 'autoprov-sim-'));
    const bus = new EventBus();
    const statuses: string[] = [];
    bus.addRule({
      name: 'ssm',
      eventPattern: { 'detail-type': ['EC2 Command Invocation Status-change Notification'] },
      target: (e) => {
        statuses.push(String(e.detail.status));
      },
    });
    const fleet = new Fleet({ emit: () => {} });
    const instance = fleet.launch({ name: 'sim-1' });
    const store = new S3Store();
    store.createBucket('b');
    store.put('b', 'bundle.zip', zipSync({ 'site.yml': strToU8('- hosts: all\n') }));
    const documents = new SsmDocuments();
    documents.register(
      simulatedApplyAnsiblePlaybooksDocument({
        outcome: (context) => ({ exitCode: context.parameters.ExtraVariables === 'fail=yes' ? 4 : 0 }),
      }),
    );
    const agent = new LocalSsmAgent({
      workRoot: join(root, 'work'),
      sandboxRoot: join(root, 'sandbox'),
      logDir: join(root, 'logs'),
      s3: store,
      emit: (e) => bus.put(e),
      concurrency: 10,
    });
    const emulator = new SsmEmulator({
      nodes: fleet,
      documents,
      runner: agent,
      invocationVisibilityDelayMs: 0,
    });
    const server = await startAwsServer({ emulators: [emulator] });
    const client = new SSMClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
    });
    const run = async (PlaybookFile: string, ExtraVariables: string) => {
      const { Command } = await client.send(
        new SendCommandCommand({
          DocumentName: 'AWS-ApplyAnsiblePlaybooks',
          InstanceIds: [instance.instanceId],
          Parameters: {
            SourceType: ['S3'],
            SourceInfo: [JSON.stringify({ path: 'https://s3.amazonaws.com/b/bundle.zip' })],
            InstallDependencies: ['False'],
            PlaybookFile: [PlaybookFile],
            ExtraVariables: [ExtraVariables],
          },
        }),
      );
      await agent.idle();
      return client.send(
        new GetCommandInvocationCommand({
          CommandId: Command?.CommandId ?? '',
          InstanceId: instance.instanceId,
          PluginName: 'runShellScript',
        }),
      );
    };
    try {
      // Act / Assess
      expect(await run('site.yml', 'SSM=True')).toMatchObject({ Status: 'Success', ResponseCode: 0 });
      expect(await run('other.yml', 'SSM=True')).toMatchObject({ Status: 'Failed', ResponseCode: 2 });
      expect(await run('site.yml', 'fail=yes')).toMatchObject({ Status: 'Failed', ResponseCode: 4 });
      const injected = await run('site.yml', "a='`id`'");
      expect(injected).toMatchObject({ Status: 'Failed', ResponseCode: 1 });
      expect(injected.StandardErrorContent).toContain('bash would execute it');
      await bus.drain();
      expect(statuses).toEqual([
        'InProgress',
        'Success',
        'InProgress',
        'Failed',
        'InProgress',
        'Failed',
        'InProgress',
        'Failed',
      ]);
    } finally {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('DescribeInstanceInformation for a node whose agent has not registered', () => {
  const nodes = { managedNode: () => undefined, managedNodes: () => [] };
  const runner = { submit: () => {}, cancel: () => {} };
  const ask = async (emulator: SsmEmulator) => {
    const server = await startAwsServer({ emulators: [emulator] });
    try {
      const client = new SSMClient({
        endpoint: server.endpoint,
        region: 'us-east-1',
        credentials,
        maxAttempts: 1,
      });
      return await client.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: ['i-0aaaaaaaaaaaaaaa1'] }],
        }),
      );
    } finally {
      await server.stop();
    }
  };

  it('answers an empty list by default, or InvalidInstanceId when configured (per stack or per instance)', async () => {
    const documents = new SsmDocuments();
    expect((await ask(new SsmEmulator({ nodes, documents, runner }))).InstanceInformationList).toEqual([]);
    await expect(
      ask(new SsmEmulator({ nodes, documents, runner, unregisteredInstances: 'InvalidInstanceId' })),
    ).rejects.toMatchObject({ name: 'InvalidInstanceId', $metadata: { httpStatusCode: 400 } });
    await expect(
      ask(new SsmEmulator({ nodes, documents, runner, unregisteredInstances: () => 'InvalidInstanceId' })),
    ).rejects.toMatchObject({ name: 'InvalidInstanceId' });
  });
});
