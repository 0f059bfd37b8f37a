// Shared by the end-to-end suites (test/e2e/*.test.ts): rules files for the scenarios, instance ids, and
// small helpers that read outcomes from the local stack (records, history, the SSM emulator's commands).
import { cpSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryEvent, InstanceRecord } from '../../functions/shared/state-store-api.js';
import { assertJava } from '../../scripts/local/dynamodb-local.js';
import type { InstanceSpec } from '../../scripts/local/fleet.js';
import type { CommandRecord, InvocationRecord } from '../../scripts/local/services/ssm.js';
import { assertAnsible } from '../../scripts/local/ssm-agent.js';
import type { LocalStack } from '../../scripts/local/stack.js';
import { playbooksDir } from '../helpers/paths.js';

export const OPT_IN = { 'autoprov:enabled': 'true' } as const;

/** The stack's functions by role (POWERTOOLS_SERVICE_NAME), sorted. */
export const FUNCTION_ROLES = [
  'callback',
  'check-command',
  'event-detector',
  'match',
  'notifier',
  'record',
  'run-command',
  'sweep',
] as const;
export const APPLY_DOCUMENT = 'AWS-ApplyAnsiblePlaybooks';

/**
 * Rules laid over the shipped playbooks/ for the retry scenario: webserver.yml refuses http_port 0 (its
 * assert task), so with these rules it fails for good. Hosts in group `webfirst` run it BEFORE baseline.yml
 * (FAILED: nothing succeeded), hosts in `webservers` after it (PARTIAL). No inventory: only EC2 instances.
 */
export const FAILING_RULES = `# e2e rules: webserver.yml asserts 0 < http_port < 65536.
optIn: { tagKey: "autoprov:enabled", tagValue: "true" }
groupsTag: "autoprov:groups"
# Every re-provision in one wave: rollout waves are test/e2e/rollouts.test.ts's.
defaults: { maxAttempts: 3, backoffSeconds: 60, rollout: { maxConcurrent: "100%", maxErrors: "100%" } }
rules:
  - name: web-first
    match: { groups: [webfirst] }
    playbooks: [{ file: webserver.yml, extraVars: { http_port: "0" } }]
  - name: baseline
    match: { vars: { ec2_platform: linux } }
    playbooks: [baseline.yml]
  - name: web
    match: { groups: [webservers] }
    playbooks: [{ file: webserver.yml, extraVars: { http_port: "0" } }]
`;

/** The same rules fixed (http_port 8080): a new fingerprint. Also the rules of the sweep scenarios (no inventory). */
export const FIXED_RULES = FAILING_RULES.replaceAll('http_port: "0"', 'http_port: "8080"');

/**
 * Writes a rules file into `dir` (a state dir the suite removes). Local mode stages it over playbooks/ under a
 * content hash, so the same text reuses the same synthesized assembly run after run.
 */
/**
 * A rules file in `dir`, beside a copy of the shipped playbooks (a rules file's folder is its playbooks
 * folder, as for `--rules` everywhere).
 */
export function rulesFile(dir: string, name: string, text: string): string {
  if (!existsSync(join(dir, 'baseline.yml'))) cpSync(playbooksDir, dir, { recursive: true });
  const path = join(dir, `rules-${name}.yaml`);
  writeFileSync(path, text);
  return path;
}

export function stateDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `autoprov-e2e-${label}-`));
}

/** Fails loudly (never skips) when a tool is missing: the messages say how to install it. */
export function assertTools({ ansible }: { ansible: boolean }): void {
  assertJava();
  if (ansible) assertAnsible();
}

/** `i-0e2e<scenario><n>`: 17 hex digits, unique per scenario, recognisable in logs. */
export function ec2Id(scenario: number, n: number): string {
  return `i-0e2e${scenario.toString(16).padStart(2, '0')}${n.toString(16).padStart(11, '0')}`;
}

/** An opted-in instance spec. */
export function optedIn(instanceId: string, name: string, tags: Record<string, string> = {}): InstanceSpec {
  return { instanceId, name, tags: { ...OPT_IN, ...tags } };
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** Every invocation the SSM emulator received for an instance, in SendCommand order. */
export function invocationsOf(stack: LocalStack, instanceId: string): InvocationRecord[] {
  return stack.emulators.ssm
    .listCommands()
    .map((command) => command.invocations.get(instanceId))
    .filter((invocation): invocation is InvocationRecord => invocation !== undefined);
}

/** `document playbook` of each command sent to an instance, in order (the ensure step has no playbook). */
export function commandLabels(stack: LocalStack, instanceId: string): string[] {
  return stack
    .commands()
    .filter((c) => c.instanceId === instanceId)
    .map((c) => (c.documentName === APPLY_DOCUMENT ? `${c.playbook}` : 'ensure-ansible'));
}

/** The ExtraVariables text of a command as it was sent. */
export function extraVariables(command: CommandRecord): string {
  return command.requestParameters.ExtraVariables?.[0] ?? '';
}

/** Parses `k=v k=v` (what the product sends: no value ever holds a space). */
export function parseExtraVariables(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const pair of text.split(' ').filter(Boolean)) {
    const at = pair.indexOf('=');
    vars.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return vars;
}

export async function records(stack: LocalStack): Promise<Map<string, InstanceRecord>> {
  return new Map((await stack.store.listAll()).map((r) => [r.instanceId, r]));
}

export async function historyOf(stack: LocalStack, instanceId: string): Promise<HistoryEvent[]> {
  return stack.store.listHistory(instanceId);
}

export function ofType(history: readonly HistoryEvent[], type: HistoryEvent['type']): HistoryEvent[] {
  return history.filter((e) => e.type === type);
}

/** SNS messages about an instance. */
export function notificationsOf(stack: LocalStack, instanceId: string) {
  return stack.notifications().filter((m) => m.message.includes(`Instance: ${instanceId}`));
}

export function executionsOf(stack: LocalStack, instanceId: string) {
  return stack.executions().filter((e) => e.name.startsWith(`${instanceId}-g`));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns a value (not undefined), or fails saying what never happened. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export { sleep };
