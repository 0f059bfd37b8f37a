// The simulated fleet for local mode: in-memory EC2 instances (and SSM hybrid nodes, `mi-…`) whose
// lifecycle operations emit the same EventBridge events AWS does (EC2 state-change, "Tag Change on
// Resource"), plus a fleet file format (YAML or JSON) with a timed scenario. The EC2 emulator reads
// instances from here; the SSM emulator asks it which nodes have an Online agent.
import {
  durationMs,
  expandInstances,
  type FleetFile,
  FleetFileError,
  INSTANCE_DEFAULTS,
  type InstanceSpec,
  LOCAL_INSTANCE_PROFILE,
  privateIpFor,
  type ScenarioAction,
} from '../../cli/fleet-file.js';
import type { BusEvent } from './event-bus.js';
import { createRng, type Rng } from './rng.js';

export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
export type Platform = 'linux' | 'windows';

export const INSTANCE_STATE_CODES: Readonly<Record<InstanceState, number>> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface SimInstance {
  readonly instanceId: string;
  /** `ec2` instances appear in DescribeInstances and emit EC2 events; `hybrid` (mi-…) only exist in SSM. */
  readonly kind: 'ec2' | 'hybrid';
  tags: Record<string, string>;
  readonly instanceType: string;
  readonly az: string;
  readonly vpcId: string;
  readonly subnetId: string;
  readonly imageId: string;
  readonly platform: Platform;
  readonly privateIp: string;
  state: InstanceState;
  /** SSM agent reports Online this long after the instance (re)enters `running`; null = never. */
  readonly agentOnlineAfterMs: number | null;
  /**
   * Name of the IAM instance profile (EC2 only; the local IAM says what its role may do). Undefined: none,
   * and then, as in AWS, the agent cannot register with SSM.
   */
  readonly instanceProfile?: string;
  readonly launchedAt: number;
  /** When the instance last entered `running`. */
  runningSince?: number;
  /** Per-resource tag version, as in the "Tag Change on Resource" event. */
  tagVersion: number;
  /** Set once the agent has been Online: afterwards a stopped node shows ConnectionLost, like SSM. */
  agentRegistered: boolean;
}

export type { InstanceSpec };

export interface ManagedNode {
  readonly instanceId: string;
  readonly pingStatus: 'Online' | 'ConnectionLost';
  readonly lastPingAt: number;
  readonly platformType: 'Linux' | 'Windows';
  readonly platformName: string;
  readonly ipAddress: string;
  readonly computerName: string;
  readonly resourceType: 'EC2Instance' | 'ManagedInstance';
  readonly registeredAt: number;
}

export interface FleetOptions {
  /** Receives every event the fleet emits (normally `bus.put`). */
  readonly emit: (event: BusEvent) => void;
  readonly account?: string;
  readonly region?: string;
  readonly seed?: number;
  readonly now?: () => number;
  /** Delay between `pending` and `running` on launch/start (ms). Default 0. */
  readonly bootMs?: number;
  /** Emit a "Tag Change on Resource" event for the tags given at launch, as AWS does. Default true. */
  readonly tagEventOnLaunch?: boolean;
  readonly defaults?: Omit<InstanceSpec, 'instanceId' | 'name' | 'tags' | 'privateIp'>;
}

export class UnknownInstanceError extends Error {
  override name = 'UnknownInstanceError';
}

export class Fleet {
  readonly account: string;
  readonly region: string;
  private readonly instances = new Map<string, SimInstance>();
  private readonly rng: Rng;
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextIp = 0;

  constructor(private readonly options: FleetOptions) {
    this.account = options.account ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
    this.rng = createRng(options.seed ?? 7);
    this.now = options.now ?? Date.now;
  }

  get(instanceId: string): SimInstance | undefined {
    return this.instances.get(instanceId);
  }

  /** Every instance, in launch order (EC2 and hybrid). */
  list(): SimInstance[] {
    return [...this.instances.values()];
  }

  /** Look up by id or by Name tag. */
  resolve(ref: string): SimInstance {
    const byId = this.instances.get(ref);
    if (byId) return byId;
    const byName = this.list().filter((i) => i.tags.Name === ref);
    if (byName.length === 1 && byName[0]) return byName[0];
    throw new UnknownInstanceError(
      byName.length > 1
        ? `Several instances are named "${ref}": refer to one by instance id`
        : `No instance "${ref}" in the simulated fleet (by id or Name tag)`,
    );
  }

  launch(spec: InstanceSpec = {}): SimInstance {
    const d = this.options.defaults ?? {};
    const instanceId = spec.instanceId ?? `i-0${this.rng.hex(16)}`;
    if (this.instances.has(instanceId)) throw new Error(`Instance ${instanceId} already exists in the fleet`);
    const tags: Record<string, string> = { ...spec.tags };
    if (spec.name !== undefined) tags.Name = spec.name;
    const now = this.now();
    const kind = instanceId.startsWith('mi-') ? 'hybrid' : 'ec2';
    const profile =
      kind === 'hybrid'
        ? undefined
        : spec.instanceProfile !== undefined
          ? spec.instanceProfile
          : d.instanceProfile !== undefined
            ? d.instanceProfile
            : LOCAL_INSTANCE_PROFILE;
    const instance: SimInstance = {
      instanceId,
      kind,
      tags,
      instanceType: spec.instanceType ?? d.instanceType ?? INSTANCE_DEFAULTS.instanceType,
      az: spec.az ?? d.az ?? `${this.region}a`,
      vpcId: spec.vpcId ?? d.vpcId ?? INSTANCE_DEFAULTS.vpcId,
      subnetId: spec.subnetId ?? d.subnetId ?? INSTANCE_DEFAULTS.subnetId,
      imageId: spec.imageId ?? d.imageId ?? INSTANCE_DEFAULTS.imageId,
      platform: spec.platform ?? d.platform ?? INSTANCE_DEFAULTS.platform,
      privateIp: spec.privateIp ?? this.allocateIp(),
      state: 'pending',
      // Without an instance profile an EC2 instance's agent has no credentials: it never registers.
      agentOnlineAfterMs:
        kind === 'ec2' && profile === null
          ? null
          : spec.agentOnlineAfterMs !== undefined
            ? spec.agentOnlineAfterMs
            : (d.agentOnlineAfterMs ?? 0),
      ...(profile ? { instanceProfile: profile } : {}),
      launchedAt: now,
      tagVersion: 0,
      agentRegistered: false,
    };
    this.instances.set(instanceId, instance);
    if (instance.kind === 'hybrid') {
      // A hybrid node has no EC2 lifecycle: it simply registers with SSM.
      instance.state = 'running';
      instance.runningSince = now;
      return instance;
    }
    this.emitState(instance);
    if (Object.keys(tags).length > 0 && (this.options.tagEventOnLaunch ?? true)) {
      instance.tagVersion++;
      this.emitTagChange(instance, Object.keys(tags));
    }
    this.later(() => this.transition(instance, 'running'));
    return instance;
  }

  /** CreateTags: adds or overwrites. */
  tag(ref: string, tags: Readonly<Record<string, string>>): void {
    const instance = this.resolve(ref);
    this.assertNotTerminated(instance);
    const changed = Object.keys(tags).filter((k) => instance.tags[k] !== tags[k]);
    if (changed.length === 0) return;
    instance.tags = { ...instance.tags, ...tags };
    instance.tagVersion++;
    if (instance.kind === 'ec2') this.emitTagChange(instance, changed);
  }

  /** DeleteTags. */
  untag(ref: string, keys: readonly string[]): void {
    const instance = this.resolve(ref);
    this.assertNotTerminated(instance);
    const changed = keys.filter((k) => Object.hasOwn(instance.tags, k));
    if (changed.length === 0) return;
    const next = { ...instance.tags };
    for (const k of changed) delete next[k];
    instance.tags = next;
    instance.tagVersion++;
    if (instance.kind === 'ec2') this.emitTagChange(instance, changed);
  }

  stop(ref: string): void {
    const instance = this.resolve(ref);
    if (instance.state !== 'running' && instance.state !== 'pending') return;
    this.transition(instance, 'stopping');
    this.later(() => this.transition(instance, 'stopped'));
  }

  start(ref: string): void {
    const instance = this.resolve(ref);
    if (instance.state !== 'stopped') return;
    this.transition(instance, 'pending');
    this.later(() => this.transition(instance, 'running'));
  }

  terminate(ref: string): void {
    const instance = this.resolve(ref);
    if (instance.state === 'terminated' || instance.state === 'shutting-down') return;
    this.transition(instance, 'shutting-down');
    this.later(() => this.transition(instance, 'terminated'));
  }

  /** What SSM knows about a node right now: undefined = not registered (SSM answers InvalidInstanceId). */
  managedNode(instanceId: string): ManagedNode | undefined {
    const instance = this.instances.get(instanceId);
    if (!instance || instance.state === 'terminated') return undefined;
    const now = this.now();
    const onlineAt =
      instance.agentOnlineAfterMs === null || instance.runningSince === undefined
        ? undefined
        : instance.runningSince + instance.agentOnlineAfterMs;
    const online = instance.state === 'running' && onlineAt !== undefined && onlineAt <= now;
    if (online) instance.agentRegistered = true;
    if (!online && !instance.agentRegistered) return undefined;
    return {
      instanceId,
      pingStatus: online ? 'Online' : 'ConnectionLost',
      lastPingAt: online ? now : (instance.runningSince ?? instance.launchedAt),
      platformType: instance.platform === 'windows' ? 'Windows' : 'Linux',
      platformName:
        instance.platform === 'windows' ? 'Microsoft Windows Server 2022 Datacenter' : 'Amazon Linux',
      ipAddress: instance.privateIp,
      computerName: `ip-${instance.privateIp.replaceAll('.', '-')}.ec2.internal`,
      resourceType: instance.kind === 'hybrid' ? 'ManagedInstance' : 'EC2Instance',
      registeredAt: instance.launchedAt,
    };
  }

  managedNodes(): ManagedNode[] {
    return this.list()
      .map((i) => this.managedNode(i.instanceId))
      .filter((n): n is ManagedNode => n !== undefined);
  }

  /** Cancels pending lifecycle timers (call on shutdown). */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private transition(instance: SimInstance, state: InstanceState): void {
    if (instance.state === 'terminated') return;
    instance.state = state;
    if (state === 'running') instance.runningSince = this.now();
    this.emitState(instance);
  }

  private later(fn: () => void): void {
    const bootMs = this.options.bootMs ?? 0;
    if (bootMs <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, bootMs);
    this.timers.add(timer);
  }

  private assertNotTerminated(instance: SimInstance): void {
    if (instance.state === 'terminated') {
      throw new Error(`Instance ${instance.instanceId} is terminated: it cannot be tagged`);
    }
  }

  private allocateIp(): string {
    return privateIpFor(this.nextIp++);
  }

  private envelope(
    detailType: string,
    source: string,
    instance: SimInstance,
    detail: Record<string, unknown>,
  ) {
    return {
      version: '0',
      id: this.uuid(),
      'detail-type': detailType,
      source,
      account: this.account,
      time: isoSeconds(this.now()),
      region: this.region,
      resources: [`arn:aws:ec2:${this.region}:${this.account}:instance/${instance.instanceId}`],
      detail,
    } satisfies BusEvent;
  }

  private emitState(instance: SimInstance): void {
    this.options.emit(
      this.envelope('EC2 Instance State-change Notification', 'aws.ec2', instance, {
        'instance-id': instance.instanceId,
        state: instance.state,
      }),
    );
  }

  private emitTagChange(instance: SimInstance, changedKeys: readonly string[]): void {
    this.options.emit(
      this.envelope('Tag Change on Resource', 'aws.tag', instance, {
        'changed-tag-keys': [...changedKeys],
        tags: { ...instance.tags },
        service: 'ec2',
        'resource-type': 'instance',
        version: instance.tagVersion,
      }),
    );
  }

  private uuid(): string {
    const h = this.rng.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

/** EventBridge's `time` has second precision. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

// ---------------------------------------------------------------------------------------------
// Fleet file (parsed and checked by cli/fleet-file.ts, shared with `autoprov plan --fleet`) + scenario

export {
  durationMs,
  expandInstances,
  type FleetFile,
  FleetFileError,
  fleetFileSchema,
  LOCAL_INSTANCE_PROFILE,
  loadFleetFile,
  parseFleetFile,
  type ScenarioAction,
} from '../../cli/fleet-file.js';

export interface ScenarioRun {
  /** Resolves after the last action ran (whether or not each succeeded: see `failures`). */
  readonly done: Promise<void>;
  /** The actions that failed so far, each with its path in the file and the reason. */
  readonly failures: readonly string[];
  cancel(): void;
}

/**
 * Launches the file's initial instances now and plays its scenario: each action at `at` × timeScale
 * after the call. `launch` actions launch a declared `launch: false` instance by name. An action that
 * fails (say, tagging a terminated instance) is recorded in `failures` and the scenario goes on.
 */
export function playFleetFile(
  fleet: Fleet,
  file: FleetFile,
  options: { timeScale?: number; onFailure?: (failure: string) => void } = {},
): ScenarioRun {
  const declared = new Map<string, InstanceSpec>();
  for (const { spec, launchNow } of expandInstances(file)) {
    if (launchNow) fleet.launch(spec);
    else declared.set(spec.name ?? spec.instanceId, spec);
  }
  const scale = options.timeScale ?? 1;
  const timers: NodeJS.Timeout[] = [];
  const failures: string[] = [];
  const actions = [...(file.scenario ?? []).entries()].sort(
    ([, a], [, b]) => durationMs(a.at) - durationMs(b.at),
  );
  const done = new Promise<void>((resolve) => {
    if (actions.length === 0) return resolve();
    let remaining = actions.length;
    for (const [index, action] of actions) {
      const timer = setTimeout(() => {
        try {
          applyAction(fleet, action, declared);
        } catch (error) {
          const failure = `scenario.${index} (at ${action.at}: ${action.action} ${[action.target].flat().join(', ')}) failed: ${(error as Error).message}`;
          failures.push(failure);
          options.onFailure?.(failure);
        }
        if (--remaining === 0) resolve();
      }, durationMs(action.at) * scale);
      timers.push(timer);
    }
  });
  return { done, failures, cancel: () => timers.forEach(clearTimeout) };
}

export function applyAction(
  fleet: Fleet,
  action: ScenarioAction,
  declared = new Map<string, InstanceSpec>(),
): void {
  const targets = Array.isArray(action.target) ? action.target : [action.target];
  for (const target of targets) {
    switch (action.action) {
      case 'launch': {
        const spec = declared.get(target);
        if (!spec)
          throw new FleetFileError(`launch ${target}: no instance declared with that name (launch: false)`);
        fleet.launch(spec);
        break;
      }
      case 'tag':
        fleet.tag(target, action.tags ?? {});
        break;
      case 'untag':
        fleet.untag(target, action.keys ?? []);
        break;
      case 'stop':
        fleet.stop(target);
        break;
      case 'start':
        fleet.start(target);
        break;
      case 'terminate':
        fleet.terminate(target);
        break;
    }
  }
}
