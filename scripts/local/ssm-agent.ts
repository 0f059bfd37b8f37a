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
// "EC2 Command (Invocation) Status-change Notification" events.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { unzipSync } from 'fflate';
import type { BusEvent } from './event-bus.js';
import type { S3Store } from './services/s3.js';
import { OUTPUT_UPLOAD_ACL, parseS3Url, putObjectActions } from './services/s3.js';
import type { CommandRunner, InvocationRecord, InvocationStatus, PluginRecord } from './services/ssm.js';
import {
  APPLY_ANSIBLE_PLAYBOOKS,
  applyAnsiblePlaybooksSchema,
  type DocumentDefinition,
  type DocumentRunContext,
  interpolate,
  type ParameterSchema,
  type StepOutcome,
} from './ssm-documents.js';

export class AnsibleMissingError extends Error {
  override name = 'AnsibleMissingError';
}

const INSTALL_HINT = 'sudo apt-get install -y ansible-core';

/** Fails with the install command when ansible-playbook is not on PATH. */
export function assertAnsible(path = AGENT_PATH): string {
  // Looked up like a shell would (first executable on PATH), without needing a shell on that PATH.
  const found = path
    .split(':')
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'ansible-playbook'))
    .find((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return statSync(candidate).isFile();
      } catch {
        return false;
      }
    });
  if (found === undefined) {
    throw new AnsibleMissingError(
      `The local SSM agent runs playbooks with Debian's ansible-core and \`ansible-playbook\` was not found on PATH (${path}). ` +
        `Install it: ${INSTALL_HINT}`,
    );
  }
  return found;
}

/** A root-like PATH: the system python (not a user's pyenv/venv) runs Ansible's modules, as on an instance. */
export const AGENT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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

// ---------------------------------------------------------------------------------------------
// Document implementations

/** The runShellScript step of AWS-ApplyAnsiblePlaybooks, minus the package installation. */
const APPLY_PLAYBOOKS_SCRIPT = `#!/bin/bash
if [[ "{{InstallDependencies}}" == True ]] ; then
  echo "InstallDependencies=True: on an instance this step installs Ansible (pip3/dnf/apt). The local agent uses the host's ansible-core." >&2
fi
echo "Running Ansible in $(pwd)"
for zip in $(find -iname '*.zip'); do
  unzip -o $zip
done
PlaybookFile="{{PlaybookFile}}"
if [ ! -f  "\${PlaybookFile}" ] ; then
  echo "The specified Playbook file doesn't exist in the downloaded bundle. Please review the relative path and file name." >&2
  exit 2
fi
if ! command -v ansible-playbook >/dev/null 2>&1 ; then
  echo "ansible-playbook not found on the local agent host. Install it: ${INSTALL_HINT}" >&2
  exit 127
fi
PYTHON_INTERPRETER=$(which python3)
if [[ "{{Check}}" == True ]] ; then
  ansible-playbook -i "localhost," --check -c local -e "ansible_python_interpreter=\${PYTHON_INTERPRETER}" -e "{{ExtraVariables}}" "{{Verbose}}" "\${PlaybookFile}" "$@"
else
  ansible-playbook -i "localhost," -c local -e "ansible_python_interpreter=\${PYTHON_INTERPRETER}" -e "{{ExtraVariables}}" "{{Verbose}}" "\${PlaybookFile}" "$@"
fi
`;

/** aws:downloadContent with SourceType S3: the object named by SourceInfo.path into the working directory. */
async function downloadContent(context: DocumentRunContext, now: () => number): Promise<StepOutcome> {
  const startedAt = now();
  const fail = (message: string): StepOutcome => ({
    name: 'downloadContent',
    status: 'Failed',
    exitCode: 1,
    stdout: '',
    stderr: message,
    startedAt,
    endedAt: now(),
  });
  if (context.parameters.SourceType !== 'S3') {
    return fail(
      `SourceType ${context.parameters.SourceType ?? '(none)'} is not supported by the local agent (S3 only).`,
    );
  }
  let path: unknown;
  try {
    path = (JSON.parse(context.parameters.SourceInfo ?? '{}') as { path?: unknown }).path;
  } catch {
    path = undefined;
  }
  const location = typeof path === 'string' ? parseS3Url(path) : undefined;
  if (!location)
    return fail(`SourceInfo must be {"path": "<S3 URL>"}; got ${context.parameters.SourceInfo ?? ''}`);
  // S3 checks the caller's permissions before it looks for the key (403, not 404, without s3:GetObject).
  const denied = context.readDenied(location.bucket, location.key);
  if (denied !== undefined) {
    return fail(
      `Failed to download ${String(path)}: AccessDenied: Access Denied (status code: 403). ${denied}. ` +
        "Attach the stack's InstancePolicyArn to the instance profile's role.",
    );
  }
  const body = context.getObject(location.bucket, location.key);
  if (!body) {
    return fail(
      `Failed to download ${String(path)}: NoSuchKey (bucket ${location.bucket}, key ${location.key})`,
    );
  }
  writeFileSync(join(context.workDir, basename(location.key)), body);
  return {
    name: 'downloadContent',
    status: 'Success',
    exitCode: 0,
    stdout: `Content downloaded to ${context.workDir}`,
    stderr: '',
    startedAt,
    endedAt: now(),
  };
}

/** AWS-ApplyAnsiblePlaybooks, performed for real with the host's ansible-core. */
export function applyAnsiblePlaybooksDocument(now: () => number = Date.now): DocumentDefinition {
  return {
    name: APPLY_ANSIBLE_PLAYBOOKS,
    parameters: applyAnsiblePlaybooksSchema(),
    steps: ['downloadContent', 'runShellScript'],
    run: async (context) => {
      // Schema 2.2 steps run in order; a failed download does not stop the next step (it then exits 2).
      const download = await downloadContent(context, now);
      const shell = await context.runShell(
        'runShellScript',
        interpolate(APPLY_PLAYBOOKS_SCRIPT, context.parameters),
        {
          args: ['-e', `autoprov_root=${context.sandboxDir}`],
          timeoutSeconds: Number(context.parameters.TimeoutSeconds ?? 3600),
        },
      );
      return [download, shell];
    },
  };
}

export interface SimulatedPlaybooksOptions {
  /** How long a simulated run takes. Default 0. */
  readonly durationMs?: number;
  /**
   * Holds a run (after its download) until the returned promise settles: a test decides when a command
   * ends instead of racing a duration against the machine's speed. Undefined: no hold.
   */
  readonly hold?: (context: DocumentRunContext) => Promise<void> | undefined;
  /** Decides the exit code (and extra output) of a run whose playbook exists; default success (0). */
  readonly outcome?: (context: DocumentRunContext) => { exitCode: number; stdout?: string; stderr?: string };
}

/**
 * AWS-ApplyAnsiblePlaybooks without Ansible, for the benchmark's large fleets: same schema and steps,
 * the bundle is really downloaded and opened (exit 2 when PlaybookFile is missing), but no process
 * runs. A value bash would expand inside `-e "…"` (backtick or `$`) fails the run loudly instead of
 * being silently accepted, so an injection is still noticed.
 */
export function simulatedApplyAnsiblePlaybooksDocument(
  options: SimulatedPlaybooksOptions = {},
  now: () => number = Date.now,
): DocumentDefinition {
  return {
    name: APPLY_ANSIBLE_PLAYBOOKS,
    parameters: applyAnsiblePlaybooksSchema(),
    steps: ['downloadContent', 'runShellScript'],
    run: async (context) => {
      const download = await downloadContent(context, now);
      const startedAt = now();
      const finish = (exitCode: number, stdout: string, stderr: string): StepOutcome => ({
        name: 'runShellScript',
        status: exitCode === 0 ? 'Success' : 'Failed',
        exitCode,
        stdout,
        stderr,
        startedAt,
        endedAt: now(),
      });
      if (options.durationMs) await new Promise((r) => setTimeout(r, options.durationMs));
      const held = options.hold?.(context);
      if (held) await held;
      const files = new Set<string>();
      for (const name of readdirSync(context.workDir).filter((f) => f.toLowerCase().endsWith('.zip'))) {
        for (const entry of Object.keys(unzipSync(readFileSync(join(context.workDir, name)))))
          files.add(entry);
      }
      const playbook = (context.parameters.PlaybookFile ?? '').replace(/^\.\//, '');
      if (!files.has(playbook)) {
        return [
          download,
          finish(
            2,
            '',
            "The specified Playbook file doesn't exist in the downloaded bundle. Please review the relative path and file name.",
          ),
        ];
      }
      if (/[`$]/.test(context.parameters.ExtraVariables ?? '')) {
        return [
          download,
          finish(1, '', 'SIMULATION: ExtraVariables holds `…` or $ — bash would execute it inside -e "…"'),
        ];
      }
      const decided = options.outcome?.(context) ?? { exitCode: 0 };
      const recap = `PLAY RECAP *********\nlocalhost : ok=1 changed=0 unreachable=0 failed=${decided.exitCode === 0 ? 0 : 1}\n`;
      return [download, finish(decided.exitCode, `${decided.stdout ?? ''}${recap}`, decided.stderr ?? '')];
    },
  };
}

export interface CommandDocumentSpec {
  readonly name: string;
  readonly parameters?: Readonly<Record<string, ParameterSchema>>;
  /** Step name (the document's single aws:runShellScript step). Default `runShellScript`. */
  readonly step?: string;
  /** Parameter holding the execution timeout in seconds, if the document has one. */
  readonly timeoutParameter?: string;
}

/**
 * The stack's "ensure Ansible" Command document, locally: only checks that ansible-playbook exists (the
 * real script is a no-op then). It never installs packages on the developer's machine.
 */
export function ensureAnsibleDocument(spec: CommandDocumentSpec): DocumentDefinition {
  const step = spec.step ?? 'runShellScript';
  return {
    name: spec.name,
    parameters: spec.parameters ?? {},
    steps: [step],
    run: async (context) => [
      await context.runShell(
        step,
        `if command -v ansible-playbook >/dev/null 2>&1; then
  echo "Ansible is already installed: $(ansible-playbook --version | head -n 1)"
  exit 0
fi
echo "ansible-playbook is missing. On an instance this document installs it; locally install it with: ${INSTALL_HINT}" >&2
exit 1
`,
        { timeoutSeconds: spec.timeoutParameter ? Number(context.parameters[spec.timeoutParameter]) : 600 },
      ),
    ],
  };
}

/** A generic aws:runShellScript Command document: `{{ Param }}` interpolated, run in the working directory. */
export function shellScriptDocument(
  spec: CommandDocumentSpec & { readonly runCommand: readonly string[] },
): DocumentDefinition {
  const step = spec.step ?? 'runShellScript';
  return {
    name: spec.name,
    parameters: spec.parameters ?? {},
    steps: [step],
    run: async (context) => [
      await context.runShell(step, interpolate(spec.runCommand.join('\n'), context.parameters), {
        timeoutSeconds: spec.timeoutParameter ? Number(context.parameters[spec.timeoutParameter]) : 3600,
      }),
    ],
  };
}

/** Parameter schemas and step names from a Command document's content (e.g. the template's AWS::SSM::Document). */
export function describeDocumentContent(content: unknown): {
  parameters: Record<string, ParameterSchema>;
  steps: string[];
} {
  const doc = content as { parameters?: Record<string, ParameterSchema>; mainSteps?: { name?: unknown }[] };
  const steps = (doc.mainSteps ?? []).map((s) => (typeof s.name === 'string' ? s.name : ''));
  if (steps.length === 0 || steps.some((s) => s === '')) {
    throw new Error('Document content must be schema 2.2 with named mainSteps');
  }
  return { parameters: doc.parameters ?? {}, steps };
}
