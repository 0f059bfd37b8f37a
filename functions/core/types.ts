// Domain types shared by the pure core and the handlers. No AWS imports here (docs/architecture.md "Layout and import direction").
import type { RolloutSettings } from './admission.js';

/** Lifecycle of one instance record. `status.ts` is the one place that says which moves are legal. */
export const STATUSES = [
  'PENDING',
  'RUNNING',
  'SUCCESS',
  'PARTIAL',
  'FAILED',
  'SKIPPED',
  /** A `drift: report` check run found tasks that would change: the host drifted from its playbooks. */
  'DRIFTED',
  'ORPHANED',
] as const;
export type Status = (typeof STATUSES)[number];

/** Where an instance was found. `both` never appears: an instance seen by both sources is `ec2` with merged inventory facts. */
export type Source = 'ec2' | 'inventory';

/** How Ansible gets onto the host before the first playbook (docs/architecture.md "SSM execution and extra vars"). */
export type AnsibleInstallMode = 'autoprov' | 'document' | 'preinstalled';

// ---------------------------------------------------------------------------------------------
// Rules configuration (playbooks/rules.yaml), after validation and defaulting.

export interface TagSelector {
  readonly tagKey: string;
  readonly tagValue: string;
}

export interface RuleDefaults {
  readonly maxAttempts: number;
  readonly backoffSeconds: number;
  readonly timeoutSeconds: number;
  readonly check: boolean;
  readonly reapplyOnChange: boolean;
  /** How long the workflow waits for the SSM agent to report Online before failing the run. */
  readonly agentWaitSeconds: number;
  /**
   * How a rollout advances in the `default` lane, and what a rule's `rollout` starts from
   * (docs/adr/0015-admission-slots-for-rollouts-and-quotas.md). rules.ts always sets it; absent only in a
   * bundle compiled before rollouts existed, which means core/admission.ts DEFAULT_ROLLOUT.
   */
  readonly rollout?: RolloutSettings;
}

/** `drift: report` re-runs a rule's playbooks in check mode and records what would change; `correct` applies them. */
export type DriftMode = 'report' | 'correct';

/** A var condition: exact value, any-of list, or a glob (`*`, `?`) — a string containing `*`/`?` is a glob. */
export type VarCondition = string | readonly string[];

export interface RuleMatch {
  /** All listed groups are required. Empty = no group condition. */
  readonly groups: readonly string[];
  /** Every key must hold. Empty = no var condition. */
  readonly vars: Readonly<Record<string, VarCondition>>;
}

export interface PlaybookSpec {
  /** Path relative to the playbooks/ folder, e.g. `nginx.yml`. */
  readonly file: string;
  readonly extraVars: Readonly<Record<string, string>>;
  readonly timeoutSeconds?: number;
}

export interface Rule {
  readonly name: string;
  readonly match: RuleMatch;
  readonly playbooks: readonly PlaybookSpec[];
  readonly maxAttempts?: number;
  readonly backoffSeconds?: number;
  readonly timeoutSeconds?: number;
  readonly check?: boolean;
  /**
   * This rule's own rollout lane: `defaults.rollout` with the keys the rule sets replaced (rules.ts resolves
   * it). Absent when the rule sets no `rollout` (its hosts are in the lane of an earlier matching rule, or the
   * `default` lane).
   */
  readonly rollout?: RolloutSettings;
  /** `reapplyEvery`, in seconds: re-run this rule's playbooks when its last successful run is this old. */
  readonly reapplyEverySeconds?: number;
  /** What a scheduled re-apply does. Present exactly when `reapplyEverySeconds` is (default `correct`). */
  readonly drift?: DriftMode;
}

export interface RulesConfig {
  readonly optIn: TagSelector;
  /** An instance carrying this tag is recorded but never claimed automatically. */
  readonly hold: TagSelector;
  /** Tag whose comma-separated value lists the instance's groups. */
  readonly groupsTag: string;
  /** Inventory files, relative to the playbooks/ folder. */
  readonly inventories: readonly string[];
  readonly defaults: RuleDefaults;
  readonly rules: readonly Rule[];
}

// ---------------------------------------------------------------------------------------------
// Static inventories.

export interface InventoryHost {
  /** The host name as written in the inventory (`web-legacy-01`, `mi-0a1b…`). */
  readonly name: string;
  /** EC2 instance id or SSM managed-node id: the name itself, else the `ssm_instance_id` var. */
  readonly instanceId: string;
  /** All groups the host belongs to, including parents through `children`, and `all`. Sorted. */
  readonly groups: readonly string[];
  /** Host vars merged over group vars (host wins; child group over parent), values as strings. */
  readonly vars: Readonly<Record<string, string>>;
  /** Inventory file the host came from. */
  readonly inventory: string;
}

// ---------------------------------------------------------------------------------------------
// Host facts: what rules are matched against, and the snapshot stored on the instance record.

/** The subset of EC2 DescribeInstances' `Instance` the core reads (structurally compatible with the SDK type). */
export interface Ec2InstanceShape {
  readonly InstanceId?: string;
  readonly InstanceType?: string;
  readonly ImageId?: string;
  readonly VpcId?: string;
  readonly PrivateIpAddress?: string;
  readonly PublicIpAddress?: string;
  readonly Platform?: string;
  readonly PlatformDetails?: string;
  readonly Placement?: { readonly AvailabilityZone?: string };
  readonly State?: { readonly Name?: string };
  readonly Tags?: readonly { readonly Key?: string; readonly Value?: string }[];
}

export interface HostFacts {
  readonly instanceId: string;
  readonly source: Source;
  /** Name tag (EC2) or inventory host name. */
  readonly name?: string;
  /** EC2 state name (`running`, `stopped`, …); absent for inventory hosts. */
  readonly state?: string;
  /** Raw tags (EC2) — kept for opt-in/hold decisions; empty for pure inventory hosts. */
  readonly tags: Readonly<Record<string, string>>;
  /** `all`, groups-tag groups, inventory groups. Sorted, unique. */
  readonly groups: readonly string[];
  /** `tag_<normalised key>`, `ec2_*` facts, inventory host/group vars. */
  readonly vars: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// Matching.

/** One playbook to run, with every setting resolved (playbook > rule > defaults). */
export interface PlannedPlaybook {
  readonly file: string;
  readonly extraVars: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly maxAttempts: number;
  readonly backoffSeconds: number;
  readonly check: boolean;
  /** Name of the first rule that contributed this playbook. */
  readonly rule: string;
}

export interface MatchResult {
  readonly playbooks: readonly PlannedPlaybook[];
  /** Names of every rule whose match held, in rule order. */
  readonly matchedRules: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Outcomes.

/** Final SSM status of one playbook run as the workflow sees it. */
export type PlaybookRunStatus = 'Success' | 'Failed' | 'TimedOut' | 'Cancelled' | 'Undeliverable';

export interface PlaybookOutcome {
  readonly file: string;
  readonly status: PlaybookRunStatus;
  readonly attempts: number;
}

/** The compiled rules bundle shipped inside every function that needs it (rules.json next to index.js). */
export interface RulesBundle {
  readonly config: RulesConfig;
  readonly inventoryHosts: readonly InventoryHost[];
  /** sha256 of every file under playbooks/ (path + content), hex. Part of the fingerprint. */
  readonly bundleHash: string;
  /**
   * Path under playbooks/ → sha256 of its content: what a rollout records so the next one can say which
   * files changed (core/rollout-plan.ts describeChange). Absent in bundles compiled before rollouts.
   */
  readonly files?: Readonly<Record<string, string>>;
}
