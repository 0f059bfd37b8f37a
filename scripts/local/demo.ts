// The local-mode demo (`npm start`): a demo file (scripts/local/fleets/demo.yaml) is a fleet file
// (fleet.ts: instances + timed scenario) plus a few keys of its own — the rules to synthesize, the time
// scale, triggers that act when an instance reaches a state ("terminate app-1 once its baseline is done"),
// the end state each instance is expected to reach, and whose audit history to show. `runDemo` plays it on
// the local stack, waits until everything settled (ending with a sweep that finds nothing left to do) and
// returns a report; start.ts prints it.
import { dirname, resolve } from 'node:path';
import {
  type DemoExpectation,
  type DemoTrigger,
  FleetFileError,
  readFleetDocument,
} from '../../cli/fleet-file.js';
import { type FailureReport, failureReport, readableReason } from '../../functions/core/failure-text.js';
import type { Status } from '../../functions/core/types.js';
import type { HistoryEvent, InstanceRecord } from '../../functions/shared/state-store-api.js';
import { applyAction, durationMs, expandInstances, type FleetFile, type ScenarioAction } from './fleet.js';
import {
  type InstanceChange,
  type LocalExecution,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from './stack.js';

export class DemoFileError extends Error {
  override name = 'DemoFileError';
}

export type { DemoExpectation, DemoTrigger };

export interface DemoFile {
  readonly path: string;
  readonly title?: string;
  readonly rules?: string;
  readonly inventories?: readonly string[];
  readonly timeScale?: number;
  readonly triggers: readonly DemoTrigger[];
  readonly expect: Readonly<Record<string, DemoExpectation>>;
  readonly history?: string;
  readonly fleet: FleetFile;
}

/**
 * Reads a demo file (or a plain fleet file: then there are no triggers and no expectations). The file is
 * checked as a whole (cli/fleet-file.ts) before anything starts: every problem with its path.
 */
export function loadDemoFile(path: string): DemoFile {
  let parsed: ReturnType<typeof readFleetDocument>;
  try {
    parsed = readFleetDocument(path);
  } catch (error) {
    if (error instanceof FleetFileError) throw new DemoFileError(error.message);
    throw error;
  }
  const { demo, fleet } = parsed;
  const base = dirname(path);
  return {
    path,
    ...(demo.title ? { title: demo.title } : {}),
    ...(demo.rules ? { rules: resolve(base, demo.rules) } : {}),
    ...(demo.inventories ? { inventories: demo.inventories } : {}),
    ...(demo.timeScale ? { timeScale: demo.timeScale } : {}),
    triggers: demo.triggers ?? [],
    expect: demo.expect ?? {},
    ...(demo.history ? { history: demo.history } : {}),
    fleet,
  };
}

export interface DemoOptions {
  readonly demo: DemoFile;
  /** Overrides the demo's rules (then its expectations are not checked: they were written for its rules). */
  readonly rules?: string;
  readonly check?: boolean;
  readonly timeScale?: number;
  readonly stateDir?: string;
  /**
   * Gives up after this long (ms) without settling and reports what was still running.
   * @default defaultTimeoutMs(the fleet): 5 min, plus 20 s per instance beyond 10
   */
  readonly timeoutMs?: number;
  readonly onProgress?: (message: string) => void;
  readonly onChange?: (change: InstanceChange) => void;
  /** Called once the stack runs (e.g. to stop it on Ctrl-C). */
  readonly onStarted?: (stack: LocalStack) => void;
  readonly stackOptions?: Partial<LocalStackOptions>;
}

export interface InstanceSummary {
  readonly instanceId: string;
  readonly name?: string;
  readonly status: Status | 'UNKNOWN';
  readonly generation: number;
  readonly playbooks: readonly { file: string; status: string; attempts: number }[];
  /** Command attempts over all playbooks. */
  readonly attempts: number;
  readonly executions: number;
  readonly notifications: number;
  /** Carries the hold tag: recorded, never provisioned automatically. */
  readonly held: boolean;
  readonly reason?: string;
  /** FAILED / PARTIAL: the failed task and its message, and the output's last lines (core/failure-text.ts). */
  readonly failure?: FailureReport;
}

export interface ExpectationResult {
  readonly instance: string;
  readonly expected: DemoExpectation;
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export interface DemoReport {
  readonly ok: boolean;
  readonly title?: string;
  /** From the first instance launch to the settled end. */
  readonly wallMs: number;
  readonly startupMs: number;
  readonly synthesized: boolean;
  readonly rules: string;
  readonly check: boolean;
  readonly stateDir: string;
  readonly logDir: string;
  readonly instances: readonly InstanceSummary[];
  /** Null when the demo's expectations do not apply (rules overridden) or it has none. */
  readonly expectations: readonly ExpectationResult[] | null;
  readonly problems: readonly string[];
  readonly history?: {
    readonly instanceId: string;
    readonly name?: string;
    readonly events: readonly HistoryEvent[];
  };
  readonly executions: readonly LocalExecution[];
  readonly notifications: number;
  /** Every message published to the notification topic (subject and body), in order. */
  readonly notificationMessages: readonly { readonly subject?: string; readonly message: string }[];
  readonly deadLetters: number;
  readonly apiCalls: Readonly<Record<string, number>>;
  /** The last sweep: it found nothing left to do, and wrote nothing. */
  readonly finalSweep?: { readonly summary: unknown; readonly dynamoDbWrites: number };
  readonly sandboxes: Readonly<Record<string, string>>;
}

const WRITE_OPERATIONS = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems'];

function dynamoWrites(stack: LocalStack): number {
  const counters = stack.counters();
  return WRITE_OPERATIONS.reduce((sum, op) => sum + (counters[`DynamoDB.${op}`]?.calls ?? 0), 0);
}

/**
 * Runs the demo on a fresh local stack and returns the report with the stack still up (to look around);
 * the caller stops it. On an error after start-up the stack is stopped here.
 */
export async function runDemo(options: DemoOptions): Promise<{ report: DemoReport; stack: LocalStack }> {
  const { demo } = options;
  const startedAt = Date.now();
  const rules = options.rules ?? demo.rules;
  const problems: string[] = [];
  let finalSweep: DemoReport['finalSweep'];
  const armed = new Set(demo.triggers.map((_, i) => i));
  let running: LocalStack | undefined;
  const act = (trigger: DemoTrigger, i: number) => {
    try {
      if (!running) throw new Error('the stack is not running');
      const action: ScenarioAction = {
        at: 0,
        action: trigger.action,
        target: trigger.target,
        ...(trigger.tags ? { tags: trigger.tags } : {}),
        ...(trigger.keys ? { keys: trigger.keys } : {}),
      };
      applyAction(running.fleet, action);
      options.onProgress?.(`Scenario: ${trigger.action} ${[trigger.target].flat().join(', ')}`);
    } catch (error) {
      problems.push(`Trigger ${i + 1} (${trigger.action}) failed: ${(error as Error).message}`);
    }
  };
  // Subscribed before the fleet launches, so the live log and the triggers miss nothing.
  const onChange = (change: InstanceChange) => {
    options.onChange?.(change);
    for (const [i, trigger] of demo.triggers.entries()) {
      if (!armed.has(i) || !triggerHolds(trigger, change)) continue;
      armed.delete(i);
      const delay = trigger.delay === undefined ? 0 : durationMs(trigger.delay);
      setTimeout(() => act(trigger, i), delay);
    }
  };
  const stack = await startLocalStack({
    fleet: demo.fleet,
    rules,
    // The demo's inventories belong to its own rules: another rules selection keeps its own.
    ...(options.rules === undefined && demo.inventories ? { inventories: demo.inventories } : {}),
    check: options.check,
    timeScale: options.timeScale ?? demo.timeScale ?? 0.01,
    stateDir: options.stateDir,
    onProgress: options.onProgress,
    onChange,
    ...options.stackOptions,
  });
  running = stack;
  const launchedAt = Date.now();
  options.onStarted?.(stack);
  try {
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs(demo.fleet);
    const deadline = launchedAt + timeoutMs;
    // Settled = idle, and then a sweep that finds nothing to start: the safety net agrees nothing is left.
    for (let round = 1; ; round++) {
      await stack.waitForIdle({ timeoutMs: Math.max(1_000, deadline - Date.now()) });
      const writesBefore = dynamoWrites(stack);
      const summary = (await stack.sweepNow()) as { started?: number; orphaned?: number; new?: number };
      await stack.waitForIdle({ timeoutMs: Math.max(1_000, deadline - Date.now()) });
      const quiet = (summary.started ?? 0) + (summary.orphaned ?? 0) + (summary.new ?? 0) === 0;
      if (quiet) {
        finalSweep = { summary, dynamoDbWrites: dynamoWrites(stack) - writesBefore };
        break;
      }
      if (round >= 5) {
        problems.push('The sweep still found work after 5 rounds.');
        break;
      }
    }
    for (const [i] of demo.triggers.entries()) {
      if (armed.has(i)) problems.push(`Trigger ${i + 1} never fired (its condition never held).`);
    }
  } catch (error) {
    problems.push(
      `${(error as Error).message} Waited ${Math.round((options.timeoutMs ?? defaultTimeoutMs(demo.fleet)) / 1000)} s in all: npm start -- --timeout <seconds> waits longer.`,
    );
  }
  for (const failure of stack.scenario?.failures ?? []) problems.push(`Scenario step ${failure}`);
  const wallMs = Date.now() - launchedAt;
  let report: DemoReport;
  try {
    report = await buildReport(stack, demo, {
      rules: rules ?? 'playbooks',
      check: options.check ?? false,
      expectationsApply: options.rules === undefined,
      problems,
      wallMs,
      startupMs: launchedAt - startedAt,
      ...(finalSweep ? { finalSweep } : {}),
    });
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return { report, stack };
}

/**
 * How long a demo may take to settle: 5 minutes, plus 20 s for each instance beyond 10 (a larger fleet
 * runs more commands on the same 2 cores). `npm start -- --timeout <seconds>` overrides it.
 */
export function defaultTimeoutMs(fleet: FleetFile): number {
  const instances = expandInstances(fleet).length;
  return 300_000 + Math.max(0, instances - 10) * 20_000;
}

function triggerHolds(trigger: DemoTrigger, change: InstanceChange): boolean {
  const who = trigger.when.instance;
  if (who !== change.instanceId && who !== change.name) return false;
  if (trigger.when.status && (change.kind !== 'status' || change.to !== trigger.when.status)) return false;
  if (trigger.when.playbook) {
    if (change.kind !== 'playbook' || change.playbook?.file !== trigger.when.playbook) return false;
    if (trigger.when.result && change.playbook.status !== trigger.when.result) return false;
  }
  return true;
}

async function buildReport(
  stack: LocalStack,
  demo: DemoFile,
  context: {
    rules: string;
    check: boolean;
    expectationsApply: boolean;
    problems: string[];
    wallMs: number;
    startupMs: number;
    finalSweep?: DemoReport['finalSweep'];
  },
): Promise<DemoReport> {
  const records = new Map((await stack.store.listAll()).map((r) => [r.instanceId, r]));
  const executions = stack.executions();
  const notifications = stack.notifications();
  const ids = new Set<string>([...stack.fleet.list().map((i) => i.instanceId), ...records.keys()]);
  const instances: InstanceSummary[] = [...ids].map((instanceId) =>
    summarize(
      instanceId,
      stack.fleet.get(instanceId)?.tags.Name,
      records.get(instanceId),
      executions,
      notifications,
    ),
  );

  const byRef = (ref: string) => instances.find((i) => i.instanceId === ref || i.name === ref);
  let expectations: ExpectationResult[] | null = null;
  if (context.expectationsApply && Object.keys(demo.expect).length > 0) {
    expectations = Object.entries(demo.expect).map(([ref, expected]) =>
      checkExpectation(ref, expected, byRef(ref)),
    );
  }
  const problems = [...context.problems];
  // Hosts the rules' inventories brought in that the fleet file does not list: never silently.
  const notInFleet = [...records.values()]
    .filter((record) => !stack.fleet.get(record.instanceId))
    .map((record) => record.facts.name ?? record.instanceId);
  if (notInFleet.length > 0) {
    problems.push(
      `${notInFleet.length} host(s) came from the rules' inventories but are not in the fleet file, so no simulated agent answers for them: ${notInFleet.join(', ')}. Add them to the fleet file (instanceId: mi-…), or use rules without those inventories.`,
    );
  }
  const dead = stack.deadLetters();
  if (dead.length > 0) problems.push(`${dead.length} event(s) or invocation(s) dead-lettered.`);
  const unsettled = instances.filter((i) => i.status === 'RUNNING' || (i.status === 'PENDING' && !i.held));
  if (!expectations && unsettled.length > 0) {
    problems.push(
      `Not settled: ${unsettled.map((i) => `${i.name ?? i.instanceId} ${i.status}`).join(', ')}.`,
    );
  }
  const ok = problems.length === 0 && (expectations ?? []).every((e) => e.ok);

  let history: DemoReport['history'];
  const historyRef = demo.history ? byRef(demo.history) : undefined;
  if (historyRef) {
    history = {
      instanceId: historyRef.instanceId,
      ...(historyRef.name ? { name: historyRef.name } : {}),
      events: await stack.store.listHistory(historyRef.instanceId),
    };
  }
  const apiCalls = Object.fromEntries(Object.entries(stack.counters()).map(([k, c]) => [k, c.calls]));
  return {
    ok,
    ...(demo.title ? { title: demo.title } : {}),
    wallMs: context.wallMs,
    startupMs: context.startupMs,
    synthesized: stack.assembly.synthesized,
    rules: context.rules,
    check: context.check,
    stateDir: stack.stateDir,
    logDir: stack.logDir,
    instances,
    expectations,
    problems,
    ...(history ? { history } : {}),
    executions,
    notifications: notifications.length,
    notificationMessages: notifications.map((n) => ({
      ...(n.subject ? { subject: n.subject } : {}),
      message: n.message,
    })),
    deadLetters: dead.length,
    apiCalls,
    ...(context.finalSweep ? { finalSweep: context.finalSweep } : {}),
    sandboxes: Object.fromEntries(instances.map((i) => [i.instanceId, stack.sandboxDir(i.instanceId)])),
  };
}

function summarize(
  instanceId: string,
  name: string | undefined,
  record: InstanceRecord | undefined,
  executions: readonly LocalExecution[],
  notifications: readonly { subject?: string; message: string }[],
): InstanceSummary {
  const failure =
    record && (record.status === 'FAILED' || record.status === 'PARTIAL') ? failureReport(record) : undefined;
  const playbooks = (record?.playbooks ?? []).map((p) => ({
    file: p.file,
    status: p.status,
    attempts: p.attempts,
  }));
  return {
    instanceId,
    ...(name ? { name } : {}),
    status: record?.status ?? 'UNKNOWN',
    generation: record?.generation ?? 0,
    playbooks,
    attempts: playbooks.reduce((sum, p) => sum + p.attempts, 0),
    executions: executions.filter((e) => e.name.startsWith(`${instanceId}-g`)).length,
    held: record?.held ?? false,
    notifications: notifications.filter(
      (n) => n.message.includes(instanceId) || n.subject?.includes(instanceId),
    ).length,
    ...(record?.reason ? { reason: readableReason(record.reason) } : {}),
    ...(failure ? { failure } : {}),
  };
}

function checkExpectation(
  ref: string,
  expected: DemoExpectation,
  actual: InstanceSummary | undefined,
): ExpectationResult {
  const problems: string[] = [];
  if (!actual) {
    problems.push('no such instance in the fleet or the state table');
  } else {
    if (actual.status !== expected.status)
      problems.push(`status ${actual.status}, expected ${expected.status}`);
    if (expected.playbooks) {
      const want = Object.entries(expected.playbooks);
      const got = actual.playbooks.map((p) => `${p.file} ${p.status} ×${p.attempts}`);
      const wanted = want.map(([file, attempts]) => `${file} Success ×${attempts}`);
      if (got.join(', ') !== wanted.join(', ')) {
        problems.push(`playbooks [${got.join(', ')}], expected [${wanted.join(', ')}]`);
      }
    }
    if (expected.notifications !== undefined && actual.notifications !== expected.notifications) {
      problems.push(`${actual.notifications} notification(s), expected ${expected.notifications}`);
    }
  }
  return { instance: ref, expected, ok: problems.length === 0, problems };
}
