// The local-mode fleet file (and the demo file, which is a fleet file with a few keys of its own): one
// parser, one set of checks and one way to derive instance ids, shared by `autoprov plan --fleet` and
// `npm start` (scripts/local imports this module; cli/ never imports scripts/).
//
// A fleet file lists instances (`instanceId`, `name`, `tags`, `count`, `launch`, EC2 attributes) and a
// timed scenario (`launch`, `tag`, `untag`, `stop`, `start`, `terminate`). Every mistake that can be seen
// in the file — `count` with `instanceId`, duplicate ids or names, an unknown instance profile, a scenario
// or trigger target that names no instance — is reported here, with the entry's path, before anything runs.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { STATUSES } from '../functions/core/types.js';

export class FleetFileError extends Error {
  override name = 'FleetFileError';
}

/** The profile a local EC2 instance gets unless its spec says otherwise: SSM core + the stack's InstancePolicy. */
export const LOCAL_INSTANCE_PROFILE = 'AutoProvisionerInstance';
/** The usual mistake: AmazonSSMManagedInstanceCore only, so the agent registers but the bundle download is denied. */
export const SSM_ONLY_INSTANCE_PROFILE = 'SsmCoreOnly';
/** The instance profiles local mode defines (scripts/local/stack/emulators.ts gives them their policies). */
export const LOCAL_INSTANCE_PROFILES: readonly string[] = [LOCAL_INSTANCE_PROFILE, SSM_ONLY_INSTANCE_PROFILE];

/** What an instance gets for an attribute neither its entry nor the file's defaults give. */
export const INSTANCE_DEFAULTS = {
  instanceType: 't3.micro',
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  subnetId: 'subnet-0a1b2c3d4e5f60718',
  imageId: 'ami-0abcdef1234567890',
  platform: 'linux',
} as const;

/** The n-th private IP local mode hands out (n counts every launch without a privateIp, from 0). */
export function privateIpFor(n: number): string {
  const k = n + 10;
  return `10.0.${Math.floor(k / 250)}.${(k % 250) + 4}`;
}

const DURATION_PATTERN = /^\d+(\.\d+)?(ms|s|m)$/;
const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(DURATION_PATTERN, 'a duration like 500ms, 5s or 2m'),
]);

const instanceFields = {
  instanceType: z.string().optional(),
  az: z.string().optional(),
  vpcId: z.string().optional(),
  subnetId: z.string().optional(),
  imageId: z.string().optional(),
  platform: z.enum(['linux', 'windows']).optional(),
  agentOnlineAfterMs: z.number().nonnegative().nullable().optional(),
  /** IAM instance profile: one of LOCAL_INSTANCE_PROFILES, or null for none. */
  instanceProfile: z.string().min(1).nullable().optional(),
};

const instanceEntry = z.strictObject({
  instanceId: z
    .string()
    .regex(/^(i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$/, 'an EC2 (i-…) or hybrid (mi-…) id')
    .optional(),
  name: z.string().min(1).optional(),
  /** Launch N copies named `<name>-1` … `<name>-N`. */
  count: z.number().int().positive().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  privateIp: z.string().optional(),
  /** false: declared here, launched by a scenario `launch` action. Default true. */
  launch: z.boolean().optional(),
  ...instanceFields,
});

const scenarioAction = z.strictObject({
  at: duration,
  action: z.enum(['launch', 'tag', 'untag', 'stop', 'start', 'terminate']),
  /** Instance id or Name tag (for launch: the name of a declared instance). */
  target: z.union([z.string(), z.array(z.string()).nonempty()]),
  tags: z.record(z.string(), z.string()).optional(),
  keys: z.array(z.string()).optional(),
});

const fleetKeys = {
  defaults: z.strictObject(instanceFields).optional(),
  instances: z.array(instanceEntry),
  scenario: z.array(scenarioAction).optional(),
};
export const fleetFileSchema = z.strictObject(fleetKeys);

const triggerSchema = z.strictObject({
  /** When an instance (Name tag or id) reaches a status, or one of its playbooks a result. */
  when: z.strictObject({
    instance: z.string().min(1),
    status: z.enum(STATUSES).optional(),
    playbook: z.string().optional(),
    result: z.string().optional(),
  }),
  /** Extra wait after the condition holds. */
  delay: duration.optional(),
  action: z.enum(['tag', 'untag', 'stop', 'start', 'terminate']),
  target: z.union([z.string(), z.array(z.string()).nonempty()]),
  tags: z.record(z.string(), z.string()).optional(),
  keys: z.array(z.string()).optional(),
});

const expectationSchema = z.strictObject({
  status: z.enum(STATUSES),
  /** Playbook file → attempts, in run order; each must have succeeded. */
  playbooks: z.record(z.string(), z.number().int().positive()).optional(),
  /** SNS messages about this instance. */
  notifications: z.number().int().nonnegative().optional(),
});

/** The demo file's own keys (scripts/local/demo.ts gives them their meaning). */
const demoKeys = {
  title: z.string().optional(),
  /** A rules file (its folder is the playbooks folder) or a playbooks folder, relative to the demo file. */
  rules: z.string().optional(),
  /** Inventories (relative to the playbooks folder) that replace the rules' own. */
  inventories: z.array(z.string().min(1)).optional(),
  timeScale: z.number().positive().max(1).optional(),
  triggers: z.array(triggerSchema).optional(),
  expect: z.record(z.string(), expectationSchema).optional(),
  /** Instance (Name or id) whose audit history the demo prints. */
  history: z.string().optional(),
};
const fleetDocumentSchema = z.strictObject({ ...fleetKeys, ...demoKeys });

export type FleetFile = z.infer<typeof fleetFileSchema>;
export type ScenarioAction = z.infer<typeof scenarioAction>;
export type DemoTrigger = z.infer<typeof triggerSchema>;
export type DemoExpectation = z.infer<typeof expectationSchema>;
type FleetDocument = z.infer<typeof fleetDocumentSchema>;
export type DemoKeys = Omit<FleetDocument, keyof typeof fleetKeys>;

export interface InstanceSpec {
  readonly instanceId?: string;
  readonly name?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly instanceType?: string;
  readonly az?: string;
  readonly vpcId?: string;
  readonly subnetId?: string;
  readonly imageId?: string;
  readonly platform?: 'linux' | 'windows';
  readonly privateIp?: string;
  readonly agentOnlineAfterMs?: number | null;
  /** IAM instance profile name; null = none. Default LOCAL_INSTANCE_PROFILE (EC2 instances only). */
  readonly instanceProfile?: string | null;
}

/** An instance of the file, `count` expanded, with its id fixed. */
export interface ExpandedInstance {
  readonly spec: InstanceSpec & { readonly instanceId: string };
  readonly launchNow: boolean;
  /** Where it comes from in the file: `instances.3` (`instances.3[2]` for the 2nd copy of a count). */
  readonly path: string;
}

/**
 * The id of an entry without `instanceId`: derived from its name (or its path), so `npm start` and
 * `autoprov plan --fleet` give the same instance the same id, whatever else the file or the run does.
 */
export function derivedInstanceId(key: string): string {
  return `i-0${createHash('sha256').update(`autoprov-fleet:${key}`).digest('hex').slice(0, 16)}`;
}

/** Expands `count` into individual specs and fixes every id; keeps `launch: false` entries for the scenario. */
export function expandInstances(file: FleetFile): ExpandedInstance[] {
  const out: ExpandedInstance[] = [];
  for (const [index, entry] of file.instances.entries()) {
    const { count, launch, ...rest } = entry;
    const spec: InstanceSpec = { ...file.defaults, ...rest };
    const path = `instances.${index}`;
    if (count === undefined) {
      const instanceId = entry.instanceId ?? derivedInstanceId(entry.name ?? path);
      out.push({ spec: { ...spec, instanceId }, launchNow: launch ?? true, path });
      continue;
    }
    if (entry.instanceId) throw new FleetFileError(`${path}: count cannot be combined with instanceId`);
    for (let i = 1; i <= count; i++) {
      const name = `${entry.name ?? 'instance'}-${i}`;
      out.push({
        spec: { ...spec, name, instanceId: derivedInstanceId(name) },
        launchNow: launch ?? true,
        path: `${path}[${i}]`,
      });
    }
  }
  return out;
}

export function durationMs(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
  if (!match) throw new FleetFileError(`Bad duration "${value}"`);
  const n = Number(match[1]);
  return match[2] === 'ms' ? n : match[2] === 's' ? n * 1000 : n * 60_000;
}

/** Every mistake visible in the file itself, each with the path of the entry it is about. */
function problemsOf(document: FleetDocument, instanceProfiles: readonly string[]): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>(); // id or name → path
  const declared = new Set<string>();
  const launchable = new Set<string>(); // names (and ids) of launch: false entries
  for (const [index, entry] of document.instances.entries()) {
    if (entry.count !== undefined && entry.instanceId !== undefined) {
      problems.push(
        `instances.${index}: count cannot be combined with instanceId (each copy needs its own id; drop instanceId, or list the copies one by one)`,
      );
    }
  }
  if (problems.length > 0) return problems; // the expansion below needs a well-formed file
  for (const { spec, launchNow, path } of expandInstances(document)) {
    for (const key of [spec.instanceId, spec.name]) {
      if (key === undefined) continue;
      const first = seen.get(key);
      if (first !== undefined && first !== path)
        problems.push(`${path}: "${key}" is already used by ${first}: ids and names must be unique`);
      else seen.set(key, path);
      declared.add(key);
      if (!launchNow) launchable.add(key);
    }
  }
  const profiles = [
    ['defaults', document.defaults?.instanceProfile] as const,
    ...document.instances.map((entry, index) => [`instances.${index}`, entry.instanceProfile] as const),
  ];
  for (const [path, name] of profiles) {
    if (typeof name === 'string' && !instanceProfiles.includes(name)) {
      problems.push(
        `${path}.instanceProfile: "${name}" does not exist in local mode; use one of ${instanceProfiles.map((n) => `"${n}"`).join(', ')}, or null for none`,
      );
    }
  }
  const checkTargets = (path: string, action: string, target: string | readonly string[]) => {
    for (const ref of [target].flat()) {
      if (action === 'launch' && !launchable.has(ref)) {
        problems.push(
          `${path}.target: launch "${ref}": no instance declared with that name and launch: false`,
        );
      } else if (!declared.has(ref)) {
        problems.push(`${path}.target: "${ref}" is neither the name nor the id of an instance of the file`);
      }
    }
  };
  for (const [i, action] of (document.scenario ?? []).entries()) {
    if (action.action === 'tag' && !action.tags) problems.push(`scenario.${i}: tag needs tags`);
    if (action.action === 'untag' && !action.keys) problems.push(`scenario.${i}: untag needs keys`);
    checkTargets(`scenario.${i}`, action.action, action.target);
  }
  for (const [i, trigger] of (document.triggers ?? []).entries()) {
    if (trigger.action === 'tag' && !trigger.tags) problems.push(`triggers.${i}: tag needs tags`);
    if (trigger.action === 'untag' && !trigger.keys) problems.push(`triggers.${i}: untag needs keys`);
    if (!declared.has(trigger.when.instance))
      problems.push(`triggers.${i}.when.instance: "${trigger.when.instance}" is not an instance of the file`);
    checkTargets(`triggers.${i}`, trigger.action, trigger.target);
  }
  for (const ref of Object.keys(document.expect ?? {})) {
    if (!declared.has(ref)) problems.push(`expect.${ref}: "${ref}" is not an instance of the file`);
  }
  if (document.history !== undefined && !declared.has(document.history))
    problems.push(`history: "${document.history}" is not an instance of the file`);
  return problems;
}

export interface ParsedFleetDocument {
  readonly fleet: FleetFile;
  readonly demo: DemoKeys;
}

/**
 * Parses a fleet or demo file (YAML or JSON — YAML is a superset) and checks it; every problem is
 * reported at once, each with its path. `instanceProfiles`: the profiles the file may name.
 */
export function parseFleetDocument(
  text: string,
  source = 'fleet file',
  instanceProfiles: readonly string[] = LOCAL_INSTANCE_PROFILES,
): ParsedFleetDocument {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new FleetFileError(`${source}: not valid YAML/JSON: ${(error as Error).message}`);
  }
  const result = fleetDocumentSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new FleetFileError(`${source} is invalid:\n  ${problems.join('\n  ')}`);
  }
  const problems = problemsOf(result.data, instanceProfiles);
  if (problems.length > 0) throw new FleetFileError(`${source} is invalid:\n  ${problems.join('\n  ')}`);
  const { defaults, instances, scenario, ...demo } = result.data;
  return {
    fleet: { ...(defaults ? { defaults } : {}), instances, ...(scenario ? { scenario } : {}) },
    demo,
  };
}

/** The fleet part of a fleet or demo file, checked (see parseFleetDocument). */
export function parseFleetFile(text: string, source = 'fleet file'): FleetFile {
  return parseFleetDocument(text, source).fleet;
}

export function readFleetDocument(path: string, shownAs = path): ParsedFleetDocument {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FleetFileError(`cannot read fleet file ${shownAs}: ${(error as Error).message}`);
  }
  return parseFleetDocument(text, shownAs);
}

export function loadFleetFile(path: string): FleetFile {
  return readFleetDocument(path).fleet;
}
