// One benchmark workload on the local stack (docs/architecture.md "Budgets"): N opted-in Linux t3 web servers launched at once,
// with or without the "Burst" faults (every event delivered 1–3 times in a seeded random order, 20% of SSM
// and Step Functions calls throttled). Ansible is simulated (the document's steps run, no process), agents
// are Online at once and the sweep schedule is off, so every counted call comes from the event path and
// the workflow. Figures are read from the stack's own records: executions (transition counts), SendCommand
// invocations, SNS messages, the AWS/DynamoDB call counters and the final state records.
import type { BusFaults } from '../local/event-bus.js';
import { type LocalCommand, type LocalStack, startLocalStack } from '../local/stack.js';

/** What every benchmark instance carries: opted in, group webservers, Environment production → 2 playbooks. */
export const BENCH_TAGS: Readonly<Record<string, string>> = {
  'autoprov:enabled': 'true',
  'autoprov:groups': 'webservers',
  Environment: 'production',
};
export const BENCH_INSTANCE_TYPE = 't3.small';
/** The shipped rules select these for a BENCH_TAGS instance, in this order. */
export const EXPECTED_PLAYBOOKS = ['baseline.yml', 'webserver.yml'] as const;

export const BURST_FAULTS: BusFaults = { duplicates: [1, 3], shuffle: true, delayMs: [0, 100] };
export const BURST_THROTTLE = 0.2;

const APPLY_DOCUMENT = 'AWS-ApplyAnsiblePlaybooks';
/** Key used for the ensure-Ansible document in sendCommandsPerPlaybook. */
export const ENSURE_KEY = '(ensure Ansible)';
const DYNAMODB_WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

export interface ApiCallCount {
  readonly calls: number;
  readonly throttled: number;
  readonly errors: number;
}

export interface SendCommandFigure {
  readonly commands: number;
  /** Generations (executions) that ran this step. */
  readonly generations: number;
  readonly perGeneration: number;
  /** Most commands one generation sent for it. */
  readonly max: number;
}

export interface WorkloadFigures {
  readonly kind: 'happyPath' | 'burst';
  readonly instances: number;
  readonly faults: { readonly events?: BusFaults; readonly throttle?: number };
  readonly wallSeconds: number;
  readonly startupSeconds: number;
  readonly transitionsPerInstance: number;
  readonly transitionsPerExecutionMax: number;
  readonly retriesPerInstance: number;
  readonly apiCalls: Readonly<Record<string, ApiCallCount>>;
  readonly apiCallsPerInstance: {
    readonly excludingDynamoDb: number;
    readonly includingDynamoDb: number;
    /** Non-throttled calls only (what a throttled call costs is the retry that follows it). */
    readonly excludingDynamoDbNotThrottled: number;
    readonly byOperation: Readonly<Record<string, number>>;
  };
  readonly ddbWritesPerInstance: number;
  readonly executionsPerInstance: number;
  readonly sendCommandsPerPlaybook: Readonly<Record<string, SendCommandFigure>>;
  readonly notificationsPerInstance: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly duplicates: {
    readonly executions: number;
    readonly sendCommands: number;
    readonly notifications: number;
    readonly total: number;
  };
  /** Instances that did not end SUCCESS with the expected playbooks (ids, first 20). */
  readonly lost: number;
  readonly lostInstances: readonly string[];
  readonly deadLetters: number;
  readonly eventBus: { readonly published: number; readonly duplicated: number; readonly dropped: number };
}

export interface WorkloadOptions {
  readonly kind: 'happyPath' | 'burst';
  readonly instances: number;
  readonly seed: number;
  readonly stateDir?: string;
  readonly idleTimeoutMs: number;
  readonly agentConcurrency?: number;
  readonly functionConcurrency?: number;
  /** Progress and start-up lines (stderr). */
  readonly log: (line: string) => void;
}

export async function runWorkload(options: WorkloadOptions): Promise<WorkloadFigures> {
  const burst = options.kind === 'burst';
  const startedAt = Date.now();
  const stack = await startLocalStack({
    simulatedAnsible: true,
    sweepSchedule: false,
    seed: options.seed,
    ...(burst ? { throttle: BURST_THROTTLE, eventFaults: BURST_FAULTS } : {}),
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    ...(options.agentConcurrency ? { agentConcurrency: options.agentConcurrency } : {}),
    ...(options.functionConcurrency ? { functionConcurrency: options.functionConcurrency } : {}),
    onProgress: (message) => options.log(`  ${message}`),
    fleet: {
      instances: [
        {
          name: 'bench',
          count: options.instances,
          instanceType: BENCH_INSTANCE_TYPE,
          platform: 'linux',
          tags: { ...BENCH_TAGS },
        },
      ],
    },
  });
  const launchedAt = Date.now();
  const ticker = setInterval(
    () => options.log(`  ${options.kind}: ${progressLine(stack, options.instances)}`),
    5_000,
  );
  let settled = false;
  try {
    await stack.waitForIdle({ timeoutMs: options.idleTimeoutMs });
    const wallSeconds = (Date.now() - launchedAt) / 1000;
    options.log(
      `  ${options.kind}: ${progressLine(stack, options.instances)} — idle after ${wallSeconds.toFixed(1)} s`,
    );
    const figures = await collect(stack, options, {
      wallSeconds,
      startupSeconds: (launchedAt - startedAt) / 1000,
    });
    settled = true;
    return figures;
  } finally {
    clearInterval(ticker);
    // A run that failed keeps its logs and table for a look.
    await stack.stop({ removeStateDir: settled && !options.stateDir });
    if (!settled) options.log(`  ${options.kind}: state kept in ${stack.stateDir}`);
  }
}

function progressLine(stack: LocalStack, total: number): string {
  const executions = stack.executions();
  const finished = new Set(executions.filter((e) => e.status === 'SUCCEEDED').map((e) => instanceOf(e.name)));
  const running = executions.filter((e) => e.status === 'RUNNING').length;
  return `${finished.size}/${total} instances provisioned, ${running} executions running, ${stack.commands().length} commands sent`;
}

/** `<instanceId>-g<generation>` → instanceId. */
export function instanceOf(executionName: string): string {
  return /^(.*)-g\d+$/.exec(executionName)?.[1] ?? executionName;
}

async function collect(
  stack: LocalStack,
  options: WorkloadOptions,
  timing: { wallSeconds: number; startupSeconds: number },
): Promise<WorkloadFigures> {
  const n = options.instances;
  const ids = stack.fleet
    .list()
    .filter((i) => i.kind === 'ec2')
    .map((i) => i.instanceId);
  const executions = stack.executions();
  const commands = stack.commands();
  const counters = stack.counters();
  const records = new Map((await stack.store.listAll()).map((r) => [r.instanceId, r]));
  const notifications = stack.notifications();

  const apiCalls = Object.fromEntries(
    Object.entries(counters)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, c]) => [key, { calls: c.calls, throttled: c.throttled, errors: c.errors }]),
  );
  const sum = (filter: (key: string) => boolean, pick: (c: ApiCallCount) => number = (c) => c.calls) =>
    Object.entries(apiCalls).reduce((total, [key, c]) => (filter(key) ? total + pick(c) : total), 0);
  const isDynamo = (key: string) => key.startsWith('DynamoDB.');

  const executionsByInstance = countBy(executions.map((e) => instanceOf(e.name)));
  const duplicateExecutions = [...executionsByInstance.values()].reduce((s, c) => s + Math.max(0, c - 1), 0);

  const sendCommands = sendCommandFigures(commands);
  const notificationsByInstance = new Map<string, number>();
  for (const message of notifications) {
    const id = ids.find(
      (candidate) => message.message.includes(candidate) || message.subject?.includes(candidate),
    );
    if (id) notificationsByInstance.set(id, (notificationsByInstance.get(id) ?? 0) + 1);
  }
  const duplicateNotifications = [...notificationsByInstance.values()].reduce(
    (s, c) => s + Math.max(0, c - 1),
    0,
  );

  const lostInstances = ids.filter((id) => {
    const record = records.get(id);
    const playbooks = (record?.playbooks ?? []).map((p) => `${p.file}:${p.status}`).join(',');
    return (
      record?.status !== 'SUCCESS' || playbooks !== EXPECTED_PLAYBOOKS.map((p) => `${p}:Success`).join(',')
    );
  });
  const statuses: Record<string, number> = {};
  for (const id of ids) {
    const status = records.get(id)?.status ?? 'NO RECORD';
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  const transitions = executions.reduce((s, e) => s + e.transitions, 0);
  const round = (value: number) => Math.round(value * 100) / 100;

  return {
    kind: options.kind,
    instances: n,
    faults: options.kind === 'burst' ? { events: BURST_FAULTS, throttle: BURST_THROTTLE } : {},
    wallSeconds: round(timing.wallSeconds),
    startupSeconds: round(timing.startupSeconds),
    transitionsPerInstance: round(transitions / n),
    transitionsPerExecutionMax: Math.max(0, ...executions.map((e) => e.transitions)),
    retriesPerInstance: round(executions.reduce((s, e) => s + e.retries, 0) / n),
    apiCalls,
    apiCallsPerInstance: {
      excludingDynamoDb: round(sum((k) => !isDynamo(k)) / n),
      includingDynamoDb: round(sum(() => true) / n),
      excludingDynamoDbNotThrottled: round(
        sum(
          (k) => !isDynamo(k),
          (c) => c.calls - c.throttled,
        ) / n,
      ),
      byOperation: Object.fromEntries(Object.entries(apiCalls).map(([key, c]) => [key, round(c.calls / n)])),
    },
    ddbWritesPerInstance: round(
      sum((k) => isDynamo(k) && DYNAMODB_WRITES.has(k.slice('DynamoDB.'.length))) / n,
    ),
    executionsPerInstance: round(executions.length / n),
    sendCommandsPerPlaybook: sendCommands.figures,
    notificationsPerInstance: round(notifications.length / n),
    statuses,
    duplicates: {
      executions: duplicateExecutions,
      sendCommands: sendCommands.duplicates,
      notifications: duplicateNotifications,
      total: duplicateExecutions + sendCommands.duplicates + duplicateNotifications,
    },
    lost: lostInstances.length,
    lostInstances: lostInstances.slice(0, 20),
    deadLetters: stack.deadLetters().length,
    eventBus: {
      published: stack.bus.stats.published,
      duplicated: stack.bus.stats.duplicated,
      dropped: stack.bus.stats.dropped,
    },
  };
}

/**
 * SendCommands per playbook per generation. A command's generation is the execution name at the start of
 * its Comment (`<instanceId>-g<N> <playbook> attempt <k>`). Every command beyond the first for one
 * (generation, playbook) is a duplicate: in this workload no playbook fails, so there is no legitimate retry.
 */
function sendCommandFigures(commands: readonly LocalCommand[]): {
  figures: Record<string, SendCommandFigure>;
  duplicates: number;
} {
  const perStep = new Map<string, Map<string, number>>();
  for (const command of commands) {
    const step = command.documentName === APPLY_DOCUMENT ? (command.playbook ?? '?') : ENSURE_KEY;
    // The Comment opens with `<execution>/<kind>/<index>/<attempt>`: the execution names the generation.
    const generation = command.comment?.split('/')[0] ?? `${command.instanceId}-g?`;
    const counts = perStep.get(step) ?? new Map<string, number>();
    counts.set(generation, (counts.get(generation) ?? 0) + 1);
    perStep.set(step, counts);
  }
  let duplicates = 0;
  const figures: Record<string, SendCommandFigure> = {};
  for (const [step, counts] of [...perStep].sort(([a], [b]) => a.localeCompare(b))) {
    const total = [...counts.values()].reduce((s, c) => s + c, 0);
    duplicates += [...counts.values()].reduce((s, c) => s + Math.max(0, c - 1), 0);
    figures[step] = {
      commands: total,
      generations: counts.size,
      perGeneration: Math.round((total / Math.max(1, counts.size)) * 100) / 100,
      max: Math.max(...counts.values()),
    };
  }
  return { figures, duplicates };
}

function countBy(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}
