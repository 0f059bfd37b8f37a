// The local SSM agent: runs the invocations the SSM emulator hands it, for real. For
// AWS-ApplyAnsiblePlaybooks it does what the document does on an instance — download the bundle from
// (local) S3 into the command's working directory, unzip every zip, exit 2 if PlaybookFile is missing,
// then `ansible-playbook -i "localhost," [--check] -c local -e "<ExtraVariables>" <Verbose> <PlaybookFile>`
// through bash, with ExtraVariables pasted inside double quotes exactly as the document's script does
// (that is the shell-injection surface the product must never feed raw values into). Simulation only:
// `-e autoprov_root=<sandbox>` is appended as a separate argv element — the per-instance sandbox stands
// in for the instance's filesystem root, so playbooks write under "{{ autoprov_root }}/…".
// It reports status like SSM (InProgress, then Success / Failed / TimedOut / Cancelled), writes the full
// output to a per-command log file (the "CloudWatch log"), optionally to S3, and emits the
// "EC2 Command (Invocation) Status-change Notification" events. Statuses as in "Understanding command
// statuses" (https://docs.aws.amazon.com/systems-manager/latest/userguide/monitor-commands.html).
// The documents' local implementations are in ssm-agent-documents.ts and the host's Ansible lookup in
// local-ansible.ts; this module re-exports their public API.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BusEvent } from './event-bus.js';
import { AGENT_PATH } from './local-ansible.js';
import type { S3Store } from './services/s3.js';
import { OUTPUT_UPLOAD_ACL, putObjectActions } from './services/s3.js';
import type { CommandRunner, InvocationRecord, InvocationStatus, PluginRecord } from './services/ssm.js';
import type { DocumentRunContext, StepOutcome } from './ssm-documents.js';

export { AGENT_PATH, AnsibleMissingError, assertAnsible } from './local-ansible.js';
export {
  applyAnsiblePlaybooksDocument,
  type CommandDocumentSpec,
  describeDocumentContent,
  ensureAnsibleDocument,
  type SimulatedPlaybooksOptions,
  shellScriptDocument,
  simulatedApplyAnsiblePlaybooksDocument,
} from './ssm-agent-documents.js';

export interface SsmAgentOptions {
  /** Per instance and command working directories (`<workRoot>/<instanceId>/<commandId>`). */
  readonly workRoot: string;
  /** Per instance simulated filesystem roots (`<sandboxRoot>/<instanceId>`), passed as autoprov_root. */
  readonly sandboxRoot: string;
  /** Full command output, `<logDir>/<log group>/<commandId>/<instanceId>/<step>/{stdout,stderr}`. */
  readonly logDir: string;
  /** Local S3: bundle downloads and OutputS3BucketName uploads. */
  readonly s3: S3Store;
  /** Receives the status-change events (normally the event bus). */
  readonly emit: (event: BusEvent) => void;
  /** Parallel runs across the fleet (2 cores). Default 2. */
  readonly concurrency?: number;
  readonly account?: string;
  readonly region?: string;
  readonly now?: () => number;
  /** Extra environment for every script (e.g. ANSIBLE_* settings). */
  readonly env?: Readonly<Record<string, string>>;
  /** Delay between SendCommand and InProgress (delivery), ms. Default 0. */
  readonly deliveryDelayMs?: number;
  /** Called when an invocation reaches a terminal status (for logs). */
  readonly onFinished?: (invocation: InvocationRecord) => void;
  /**
   * Whether the instance's credentials may read an S3 object: undefined = allowed, else the reason it is
   * denied (the stack asks the local IAM about the instance profile). Default: everything is readable.
   */
  readonly readDenied?: (instanceId: string, bucket: string, key: string) => string | undefined;
  /**
   * Whether the instance's credentials may perform `action` on an S3 object (the output upload's PutObject
   * and, for its ACL, PutObjectAcl): undefined = allowed, else why not. Default: everything is writable.
   */
  readonly writeDenied?: (
    instanceId: string,
    bucket: string,
    key: string,
    action: string,
  ) => string | undefined;
}

interface Job {
  readonly invocation: InvocationRecord;
  readonly abort: AbortController;
  children: Set<ChildProcess>;
}

export class LocalSsmAgent implements CommandRunner {
  /** Output uploads IAM refused (what the real agent writes to its own log), oldest first. */
  readonly uploadFailures: { instanceId: string; bucket: string; key: string; reason: string }[] = [];
  private readonly queue: Job[] = [];
  private readonly jobs = new Map<InvocationRecord, Job>();
  private running = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly now: () => number;
  private readonly account: string;
  private readonly region: string;
  private stopped = false;

  constructor(private readonly options: SsmAgentOptions) {
    this.now = options.now ?? Date.now;
    this.account = options.account ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
  }

  submit(invocation: InvocationRecord): void {
    if (this.stopped) throw new Error('The local SSM agent is stopped');
    const job: Job = { invocation, abort: new AbortController(), children: new Set() };
    this.jobs.set(invocation, job);
    const enqueue = () => {
      this.queue.push(job);
      this.pump();
    };
    const delay = this.options.deliveryDelayMs ?? 0;
    if (delay > 0) setTimeout(enqueue, delay);
    else queueMicrotask(enqueue);
  }

  cancel(invocation: InvocationRecord): void {
    const job = this.jobs.get(invocation);
    if (!job) return;
    job.abort.abort();
    if (invocation.status === 'Pending') {
      // Never started: it just ends Cancelled.
      this.finish(job, 'Cancelled', 'Cancelled', -1);
    }
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.jobs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancels everything and kills running processes. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of [...this.jobs.values()]) this.cancel(job.invocation);
    await this.idle();
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 2;
    while (this.running < limit && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      if (job.invocation.status !== 'Pending') continue;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(job: Job): Promise<void> {
    const { invocation } = job;
    const { command } = invocation;
    invocation.status = 'InProgress';
    invocation.statusDetails = 'InProgress';
    invocation.startedAt = this.now();
    this.emitStatus(invocation);
    const workDir = join(this.options.workRoot, invocation.instanceId, command.commandId);
    const sandboxDir = join(this.options.sandboxRoot, invocation.instanceId);
    const homeDir = join(this.options.workRoot, invocation.instanceId, 'home');
    for (const dir of [workDir, sandboxDir, homeDir]) mkdirSync(dir, { recursive: true });
    const context: DocumentRunContext = {
      commandId: command.commandId,
      instanceId: invocation.instanceId,
      parameters: command.parameters,
      workDir,
      sandboxDir,
      signal: job.abort.signal,
      getObject: (bucket, key) => this.options.s3.get(bucket, key)?.body,
      readDenied: (bucket, key) => this.options.readDenied?.(invocation.instanceId, bucket, key),
      runShell: (step, script, opts) =>
        this.runShell(job, step, script, { workDir, sandboxDir, homeDir, ...opts }),
    };
    let outcomes: readonly StepOutcome[];
    try {
      outcomes = await command.document.run(context);
    } catch (error) {
      const at = this.now();
      outcomes = [
        {
          name: command.document.steps.at(-1) ?? 'runShellScript',
          status: 'Failed',
          exitCode: 1,
          stdout: '',
          stderr: `Local agent error: ${error instanceof Error ? error.message : String(error)}`,
          startedAt: at,
          endedAt: at,
        },
      ];
    }
    for (const outcome of outcomes) this.recordStep(invocation, outcome);
    const statuses = outcomes.map((o) => o.status);
    const status: InvocationStatus = job.abort.signal.aborted
      ? 'Cancelled'
      : statuses.includes('TimedOut')
        ? 'TimedOut'
        : statuses.includes('Failed')
          ? 'Failed'
          : 'Success';
    const decisive = outcomes.find((o) => o.status !== 'Success') ?? outcomes.at(-1);
    this.finish(job, status, status === 'TimedOut' ? 'ExecutionTimedOut' : status, decisive?.exitCode ?? 0);
  }

  private recordStep(invocation: InvocationRecord, outcome: StepOutcome): void {
    const plugin = invocation.plugins.find((p) => p.name === outcome.name);
    if (!plugin) return;
    const { command } = invocation;
    plugin.status = outcome.status;
    plugin.statusDetails = outcome.status === 'TimedOut' ? 'ExecutionTimedOut' : outcome.status;
    plugin.responseCode = outcome.exitCode;
    plugin.startedAt = outcome.startedAt;
    plugin.endedAt = outcome.endedAt;
    plugin.stdout = outcome.stdout;
    plugin.stderr = outcome.stderr;
    const group = command.cloudWatch?.logGroupName ?? `/aws/ssm/${command.document.name}`;
    const dir = join(
      this.options.logDir,
      group.replace(/^\/+/, '').replace(/[^\w.-]+/g, '_'),
      command.commandId,
      invocation.instanceId,
      outcome.name,
    );
    mkdirSync(dir, { recursive: true });
    plugin.stdoutLogFile = join(dir, 'stdout');
    plugin.stderrLogFile = join(dir, 'stderr');
    writeFileSync(plugin.stdoutLogFile, outcome.stdout);
    writeFileSync(plugin.stderrLogFile, outcome.stderr);
    const bucket = command.outputS3BucketName;
    if (bucket && this.options.s3.hasBucket(bucket)) {
      const prefix = command.outputS3KeyPrefix ? `${command.outputS3KeyPrefix.replace(/\/+$/, '')}/` : '';
      const base = `${prefix}${command.commandId}/${invocation.instanceId}/awsrunShellScript/${outcome.name}`;
      // As the agent uploads (s3util.S3Upload): text/plain with the bucket-owner-full-control canned ACL,
      // authorized with the instance's credentials. A refused upload is only logged by the real agent
      // (fileS3.go: "Failed to upload the output to s3"); the command's status does not change.
      for (const [key, body] of [
        [`${base}/stdout`, outcome.stdout],
        [`${base}/stderr`, outcome.stderr],
      ] as const) {
        const denied = putObjectActions(OUTPUT_UPLOAD_ACL)
          .map((action) => this.options.writeDenied?.(invocation.instanceId, bucket, key, action))
          .find((reason) => reason !== undefined);
        if (denied !== undefined) {
          this.uploadFailures.push({ instanceId: invocation.instanceId, bucket, key, reason: denied });
          continue;
        }
        this.options.s3.put(bucket, key, body, { contentType: 'text/plain', acl: OUTPUT_UPLOAD_ACL });
      }
      plugin.stdoutUrl = `https://s3.${this.region}.amazonaws.com/${bucket}/${base}/stdout`;
      plugin.stderrUrl = `https://s3.${this.region}.amazonaws.com/${bucket}/${base}/stderr`;
    }
  }

  private finish(job: Job, status: InvocationStatus, details: string, responseCode: number): void {
    const { invocation } = job;
    if (!this.jobs.has(invocation)) return;
    this.jobs.delete(invocation);
    invocation.status = status;
    invocation.statusDetails = details;
    invocation.responseCode = responseCode;
    invocation.endedAt = this.now();
    for (const plugin of invocation.plugins) {
      if (plugin.status === 'Pending' || plugin.status === 'InProgress') {
        plugin.status = status === 'Cancelled' ? 'Cancelled' : 'Failed';
        plugin.statusDetails = plugin.status;
      }
    }
    this.emitStatus(invocation);
    this.options.onFinished?.(invocation);
    if (this.jobs.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private runShell(
    job: Job,
    step: string,
    script: string,
    opts: {
      workDir: string;
      sandboxDir: string;
      homeDir: string;
      args?: readonly string[];
      timeoutSeconds?: number;
    },
  ): Promise<StepOutcome> {
    const { invocation } = job;
    const plugin = invocation.plugins.find((p: PluginRecord) => p.name === step);
    const startedAt = this.now();
    if (plugin) {
      plugin.status = 'InProgress';
      plugin.statusDetails = 'InProgress';
      plugin.startedAt = startedAt;
    }
    const env: Record<string, string> = {
      PATH: AGENT_PATH,
      HOME: opts.homeDir,
      LANG: 'C.UTF-8',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_RETRY_FILES_ENABLED: '0',
      AWS_SSM_INSTANCE_ID: invocation.instanceId,
      AWS_SSM_REGION_NAME: this.region,
      AUTOPROV_ROOT: opts.sandboxDir,
      ...this.options.env,
    };
    // interpolationType ENV_VAR: the agent also exposes each parameter as SSM_<name>.
    for (const [name, value] of Object.entries(invocation.command.parameters)) env[`SSM_${name}`] = value;
    return new Promise((resolve) => {
      const child = spawn('bash', ['-c', script, 'bash', ...(opts.args ?? [])], {
        cwd: opts.workDir,
        env,
        detached: true, // own process group: a timeout or cancel kills ansible's children too
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      job.children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      let ending: 'TimedOut' | 'Cancelled' | undefined;
      const kill = (why: 'TimedOut' | 'Cancelled') => {
        ending ??= why;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const timer =
        opts.timeoutSeconds !== undefined && opts.timeoutSeconds > 0
          ? setTimeout(() => kill('TimedOut'), opts.timeoutSeconds * 1000)
          : undefined;
      const onAbort = () => kill('Cancelled');
      job.abort.signal.addEventListener('abort', onAbort, { once: true });
      child.on('error', (error) => {
        stderr += `\nfailed to start bash: ${error.message}`;
      });
      child.on('close', (code) => {
        if (timer) clearTimeout(timer);
        job.abort.signal.removeEventListener('abort', onAbort);
        job.children.delete(child);
        const exitCode = ending ? -1 : (code ?? 1);
        if (ending === 'TimedOut') stderr += '\nfailed to run commands: exit status: execution timed out';
        resolve({
          name: step,
          status: ending ?? (exitCode === 0 ? 'Success' : 'Failed'),
          exitCode,
          stdout,
          stderr,
          startedAt,
          endedAt: this.now(),
        });
      });
    });
  }

  private emitStatus(invocation: InvocationRecord): void {
    const { command } = invocation;
    const time = `${new Date(this.now()).toISOString().slice(0, 19)}Z`;
    const resources = [`arn:aws:ec2:${this.region}:${this.account}:instance/${invocation.instanceId}`];
    const base = {
      version: '0',
      source: 'aws.ssm',
      account: this.account,
      time,
      region: this.region,
      resources,
    };
    const requested = new Date(command.requestedAt).toISOString();
    this.options.emit({
      ...base,
      id: randomUUID(),
      'detail-type': 'EC2 Command Invocation Status-change Notification',
      detail: {
        'command-id': command.commandId,
        'document-name': command.document.name,
        'instance-id': invocation.instanceId,
        'requested-date-time': requested,
        status: invocation.status,
      },
    });
    // With one instance per command (how the workflow sends), the command status follows the invocation.
    const statuses = [...command.invocations.values()].map((i) => i.status);
    const commandStatus = statuses.every((s) => s === statuses[0]) ? invocation.status : 'InProgress';
    this.options.emit({
      ...base,
      id: randomUUID(),
      'detail-type': 'EC2 Command Status-change Notification',
      detail: {
        'command-id': command.commandId,
        'document-name': command.document.name,
        'expire-after': new Date(command.requestedAt + command.deliveryTimeoutSeconds * 1000).toISOString(),
        parameters: command.requestParameters,
        'requested-date-time': requested,
        status: commandStatus,
      },
    });
  }
}
