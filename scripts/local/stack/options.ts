// The options startLocalStack takes and their defaults, and the run's layout on disk: the state directory
// with DynamoDB Local's file, the function and command logs and one sandbox per instance. The list of
// shutdown steps each part of the stack registers as it starts lives here too (run in reverse by stop()).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL_DIR } from '../assembly.js';
import type { ThrottleConfig } from '../aws-server.js';
import type { BusFaults } from '../event-bus.js';
import type { FleetFile, FleetOptions } from '../fleet.js';
import type { SimulatedPlaybooksOptions } from '../ssm-agent.js';
import type { InstanceChange } from './change-feed.js';

export interface LocalStackOptions {
  /** Fleet file (path, or already parsed): its instances launch at start and its scenario plays. */
  readonly fleet?: string | FleetFile;
  /**
   * Play the fleet file's scenario (timed actions).
   * @default true
   */
  readonly playScenario?: boolean;
  /**
   * Scenario times are multiplied by this.
   * @default 1 (wall-clock: ansible-playbook takes real seconds whatever the time scale)
   */
  readonly scenarioTimeScale?: number;
  /** A playbooks folder, or a rules file whose folder is the playbooks folder: a different bundle, synthesized for real. */
  readonly rules?: string;
  /** Check mode: the rules' `defaults.check` is set to true (synthesized as a separate bundle). */
  readonly check?: boolean;
  /** Replaces the rules' `inventories` (synthesized as a separate bundle): the demo's sample inventory. */
  readonly inventories?: readonly string[];
  /**
   * Multiplies the stack's AWS durations: static Wait states, Retry intervals, the sweep rate, Lambda's
   * async retry delays. 0.01 turns the 5-minute sweep into 3 s and a 15 s agent check into 150 ms.
   * @default 0.01
   */
  readonly timeScale?: number;
  /**
   * A fixed duration for Wait states that read their time from the input (the playbook retry backoff).
   * @default the time the state reads × timeScale (a backoff of 60 s then 120 s waits 0.6 s then 1.2 s at 0.01)
   */
  readonly dynamicWaitMs?: number;
  /** Fraction of SSM and SFN calls answered with the service's throttling error, or a per-key config. */
  readonly throttle?: number | ThrottleConfig;
  /** EventBridge faults: duplicates, shuffling, drops, delays. */
  readonly eventFaults?: BusFaults;
  /** Seeds every random choice (fleet ids, faults, throttling). @default 42 */
  readonly seed?: number;
  /**
   * Where DynamoDB Local's file, sandboxes, work dirs and logs go.
   * @default .local/run-<timestamp>-<pid>
   */
  readonly stateDir?: string;
  /** Run AWS-ApplyAnsiblePlaybooks without Ansible (benchmarks with large fleets). */
  readonly simulatedAnsible?: boolean | SimulatedPlaybooksOptions;
  /** Parallel commands on the local agent. @default 2 */
  readonly agentConcurrency?: number;
  /** Execution environments per function. @default 2 */
  readonly functionConcurrency?: number;
  /** Run the template's sweep schedule (scaled). Off: only `sweepNow()` sweeps. @default true */
  readonly sweepSchedule?: boolean;
  /** Fleet settings (boot delay, defaults…). */
  readonly fleetOptions?: Omit<FleetOptions, 'emit' | 'seed' | 'account' | 'region'>;
  /**
   * Environment overrides for every function, on top of the template's. A deviation from the deployable
   * configuration: meant for fault-injection runs (e.g. a short LEASE_SECONDS), never for the demo.
   */
  readonly functionEnv?: Readonly<Record<string, string>>;
  /** Progress lines while starting ("Synthesizing the stack…", "Starting DynamoDB Local…"). */
  readonly onProgress?: (message: string) => void;
  /** Every line a function logs. */
  readonly onFunctionLog?: (functionName: string, line: string) => void;
  /** Subscribed before the fleet launches, so no change is missed (same as `handle.onChange`). */
  readonly onChange?: (change: InstanceChange) => void;
}

/** Shutdown steps, registered as each part starts; stop() (or a failed start) runs them in reverse. */
export type Cleanups = (() => Promise<void> | void)[];

/** The `throttle` option as a per-service config: a number throttles SSM and SFN calls. */
export function throttleConfig(value: number | ThrottleConfig | undefined): ThrottleConfig {
  if (value === undefined) return {};
  if (typeof value === 'number') return { SSM: value, SFN: value };
  return value;
}

function runStamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Where a run keeps its files: DynamoDB Local's, the logs, and one sandbox per instance. */
export interface StackDirs {
  readonly stateDir: string;
  readonly logDir: string;
  readonly sandboxRoot: string;
}

/** Creates the run's directories (default `.local/run-<timestamp>-<pid>`). */
export function stackDirs(stateDirOption: string | undefined): StackDirs {
  const stateDir = stateDirOption ?? join(LOCAL_DIR, `run-${runStamp()}-${process.pid}`);
  const logDir = join(stateDir, 'logs');
  const sandboxRoot = join(stateDir, 'sandbox');
  for (const dir of [stateDir, logDir, sandboxRoot, join(stateDir, 'dynamodb')])
    mkdirSync(dir, { recursive: true });
  return { stateDir, logDir, sandboxRoot };
}
