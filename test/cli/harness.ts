// Shared set-up of the CLI suites: the local AWS endpoint (EC2 over a simulated fleet, SSM agent
// registration, a Step Functions emulator running a small state machine), seeded instance records in
// DynamoDB Local, and two ways to run the CLI — in process (main() with captured streams) and as a
// real subprocess of cli/autoprov.ts.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { inject } from 'vitest';
import { type CliIo, main } from '../../cli/autoprov.js';
import { factsFromEc2 } from '../../functions/core/facts.js';
import {
  DEFAULT_GROUPS_TAG,
  DEFAULT_HOLD,
  DEFAULT_OPT_IN,
  DEFAULT_RULE_DEFAULTS,
} from '../../functions/core/rules.js';
import type { HostFacts, PlannedPlaybook, RulesConfig, Status } from '../../functions/core/types.js';
import type { StateStore } from '../../functions/shared/state-store.js';
import type { PlaybookRecord } from '../../functions/shared/state-store-api.js';
import { type AwsServer, startAwsServer } from '../../scripts/local/aws-server.js';
import { Fleet } from '../../scripts/local/fleet.js';
import { Ec2Emulator } from '../../scripts/local/services/ec2.js';
import { SfnEmulator } from '../../scripts/local/services/sfn.js';
import { SsmEmulator } from '../../scripts/local/services/ssm.js';
import { StateMachineRunner } from '../../scripts/local/sfn-runner.js';
import { SsmDocuments } from '../../scripts/local/ssm-documents.js';
import { repoRoot } from '../helpers/paths.js';

// Nothing in these suites may reach AWS: any client not pointed at a local endpoint fails fast here.
process.env.AWS_ENDPOINT_URL ??= 'http://127.0.0.1:9';

export const CONFIG: RulesConfig = {
  optIn: DEFAULT_OPT_IN,
  hold: DEFAULT_HOLD,
  groupsTag: DEFAULT_GROUPS_TAG,
  inventories: [],
  defaults: DEFAULT_RULE_DEFAULTS,
  rules: [],
};

/**
 * The workflow stand-in: an execution whose input has `fail` ends FAILED with the error a playbook
 * failure gives; every other one (what claimAndStart starts) succeeds.
 */
export const TEST_STATE_MACHINE = {
  Comment: 'CLI test workflow',
  StartAt: 'Should it fail?',
  States: {
    'Should it fail?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.fail', IsPresent: true, Next: 'Playbook failed' }],
      Default: 'Provisioned',
    },
    'Playbook failed': {
      Type: 'Fail',
      Error: 'PlaybookFailed',
      Cause: 'webserver.yml failed after 3 attempts',
    },
    Provisioned: { Type: 'Succeed' },
  },
};

export interface LocalAws {
  readonly server: AwsServer;
  readonly fleet: Fleet;
  readonly sfn: SfnEmulator;
  readonly stateMachineArn: string;
  /** Environment pointing every SDK client at the local endpoint and DynamoDB Local. */
  env(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

export async function startLocalAws(): Promise<LocalAws> {
  const fleet = new Fleet({ emit: () => undefined });
  const sfn = new SfnEmulator();
  const stateMachineArn = sfn.registerStateMachine(
    'AutoProvisionerWorkflow',
    new StateMachineRunner(TEST_STATE_MACHINE, { broker: sfn.broker }),
  );
  const ssm = new SsmEmulator({
    nodes: fleet,
    documents: new SsmDocuments(),
    runner: { submit: () => undefined, cancel: () => undefined },
  });
  const server = await startAwsServer({ emulators: [new Ec2Emulator(fleet), ssm, sfn] });
  const dynamoDbEndpoint = inject('dynamoDbEndpoint');
  return {
    server,
    fleet,
    sfn,
    stateMachineArn,
    env: (extra = {}) => ({
      ...server.endpointEnv(dynamoDbEndpoint),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...extra,
    }),
    stop: async () => {
      sfn.stopAll();
      fleet.dispose();
      await server.stop();
    },
  };
}

/** The SDK reads AWS_ENDPOINT_URL_* from process.env: in-process runs need them there. */
export function useEnv(env: Record<string, string>): void {
  for (const [key, value] of Object.entries(env)) process.env[key] = value;
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * main() in this process with captured, non-TTY streams. `answer` is what the operator types at a prompt
 * (stdin is then a terminal); without it stdin is not one.
 */
export async function runInProcess(
  args: readonly string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd?: string;
    now?: () => Date;
    tty?: boolean;
    answer?: string;
  } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk), isTTY: options.tty ?? false },
    stderr: { write: (chunk: string) => (stderr += chunk), isTTY: options.tty ?? false },
    env: options.env ?? { ...process.env },
    cwd: options.cwd ?? repoRoot,
    ...(options.now ? { now: options.now } : {}),
    ...(options.answer === undefined ? {} : { stdin: terminalInput(options.answer) }),
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** A terminal on which `answer` and Enter are typed. */
function terminalInput(answer: string): PassThrough & { isTTY: true } {
  const input = Object.assign(new PassThrough(), { isTTY: true as const });
  input.end(`${answer}\n`);
  return input;
}

/** The real entry point, `node --import tsx cli/autoprov.ts …`, as a child process. */
export function runSubprocess(
  args: readonly string[],
  env: Record<string, string>,
  cwd = repoRoot,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'cli', 'autoprov.ts'), ...args],
      {
        cwd,
        // Only what the CLI needs: no inherited AWS settings can send it anywhere but the local endpoint.
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/tmp',
          NO_COLOR: '1',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** EC2-shaped facts for a record, as the detector would store them. */
export function ec2Facts(instanceId: string, name: string, groups: string[] = []): HostFacts {
  return factsFromEc2(
    {
      InstanceId: instanceId,
      InstanceType: 't3.micro',
      State: { Name: 'running' },
      Placement: { AvailabilityZone: 'us-east-1a' },
      Tags: [
        { Key: 'Name', Value: name },
        { Key: DEFAULT_OPT_IN.tagKey, Value: DEFAULT_OPT_IN.tagValue },
        ...(groups.length > 0 ? [{ Key: DEFAULT_GROUPS_TAG, Value: groups.join(',') }] : []),
      ],
    },
    CONFIG,
  );
}

function planned(file: string): PlannedPlaybook {
  return {
    file,
    extraVars: {},
    timeoutSeconds: 600,
    maxAttempts: 3,
    backoffSeconds: 30,
    check: false,
    rule: 'baseline',
  };
}

export interface SeedSpec {
  readonly instanceId: string;
  readonly name: string;
  readonly groups?: string[];
  /** PENDING: detected only; RUNNING: claimed; a terminal status: one full run ending so. */
  readonly status: Exclude<Status, 'ORPHANED'>;
  readonly held?: boolean;
  readonly fingerprint?: string;
  readonly playbooks?: readonly PlaybookRecord[];
  readonly reason?: string;
  readonly now?: Date;
}

/** Drives a record through the real store API (detect → claim → match → results → outcome). */
export async function seedRecord(store: StateStore, spec: SeedSpec): Promise<void> {
  const now = spec.now ?? new Date();
  const id = spec.instanceId;
  const facts = ec2Facts(id, spec.name, spec.groups);
  // A held record is never claimed automatically: run it first, then let a detection see the hold tag.
  const hold = async () => {
    if (spec.held) await store.upsertDetection(facts, { held: true, actor: 'test', now });
  };
  await store.upsertDetection(facts, { held: false, actor: 'test', now });
  if (spec.status === 'PENDING') return hold();
  const claim = await store.claim(id, { reason: 'new', leaseSeconds: 3600, actor: 'sweep', now });
  if (!claim.won) throw new Error(`seed claim lost: ${claim.message}`);
  const playbooks = spec.playbooks ?? [{ file: 'baseline.yml', status: 'Success', attempts: 1 }];
  const fingerprint = spec.fingerprint ?? 'f'.repeat(64);
  await store.recordMatch(
    id,
    claim.generation,
    { playbooks: playbooks.map((p) => planned(p.file)), matchedRules: ['baseline'], fingerprint },
    now,
  );
  if (spec.status === 'RUNNING') return hold();
  for (const [index, result] of playbooks.entries()) {
    const written = await store.recordPlaybookResult(id, claim.generation, index, result, now);
    if (!written.ok) throw new Error(written.message);
  }
  const outcome = await store.recordOutcome(
    id,
    claim.generation,
    { status: spec.status, fingerprint, ...(spec.reason ? { reason: spec.reason } : {}) },
    now,
  );
  if (!outcome.ok) throw new Error(outcome.message);
  await hold();
}
