// The data that flows through the provisioning state machine (infra/workflow.ts) and the payloads
// of each Lambda task. Nothing secret and no tag values travel here: handlers read facts and
// extra vars from the instance record, so the console shows only ids, files and statuses.

/** Execution input, built by a claim winner. Execution name = `<instanceId>-g<generation>`. */
export interface ExecutionInput {
  readonly instanceId: string;
  readonly generation: number;
}

/** The execution name of a claim's run: `<instanceId>-g<generation>` (also the history actor `workflow:<name>`). */
export function executionNameOf(instanceId: string, generation: number): string {
  return `${instanceId}-g${generation}`;
}

/** One playbook step as the workflow loops over it (Map item). */
export interface PlaybookStep {
  readonly index: number;
  readonly file: string;
  /** Task timeout for the callback wait: playbook timeout + margin. */
  readonly taskTimeoutSeconds: number;
  /**
   * Delay before attempt n+2 is `retryDelays[n]`; length = maxAttempts - 1. Exponential from the
   * rule's backoffSeconds, computed by the match λ so the ASL loop only indexes it (visible in the console).
   */
  readonly retryDelays: readonly number[];
}

/** Match rules λ: input ExecutionInput → output. */
export interface MatchOutput extends ExecutionInput {
  readonly matched: boolean;
  readonly playbooks: readonly PlaybookStep[];
  /** Bounded loop on DescribeInstanceInformation: checks × interval ≈ agentWaitSeconds. */
  readonly agentChecksLeft: number;
}

/** Run command λ (`.waitForTaskToken`): stores the token (fenced), then SendCommand. Returns nothing useful. */
export interface RunCommandInput extends ExecutionInput {
  readonly taskToken: string;
  readonly kind: 'ensure-ansible' | 'playbook';
  /** For kind=playbook. */
  readonly playbookIndex?: number;
  /** 1-based. */
  readonly attempt: number;
}

/** What the callback λ sends with SendTaskSuccess (compact: the console shows it). */
export interface CommandResult {
  readonly commandId: string;
  readonly status: 'Success';
  readonly exitCode?: number;
  readonly logUrl?: string;
}

/** Error names the workflow's Retry/Catch match on (docs/architecture.md "Layout and import direction"). */
export const WorkflowErrors = {
  /** The playbook ran and failed (non-zero exit, timeout on the host, cancelled, undeliverable). Counts against maxAttempts. */
  PlaybookFailed: 'PlaybookFailed',
  /** A write fenced on generation was refused: a newer claim owns the instance. Never retried. */
  StaleGeneration: 'StaleGeneration',
  /** The SSM agent never reported Online within agentWaitSeconds. */
  AgentNotOnline: 'AgentNotOnline',
  /** Transient AWS error surfaced by a λ (throttling, 5xx, InvocationDoesNotExist right after SendCommand). Retried. */
  Transient: 'TransientError',
} as const;

/**
 * Check command result λ: used after a callback wait timed out (a lost status event). Asks SSM
 * directly (GetCommandInvocation) and either returns a CommandResult or throws PlaybookFailed.
 */
export interface CheckCommandInput extends ExecutionInput {
  readonly kind: 'ensure-ansible' | 'playbook';
  readonly playbookIndex?: number;
}

/** Record outcome λ: computes SUCCESS / PARTIAL / FAILED from the record's per-playbook results. */
export interface RecordInput extends ExecutionInput {
  /** Set when the workflow already knows: SKIPPED (no match) or FAILED with a reason (agent not online, error). */
  readonly status?: 'SKIPPED' | 'FAILED';
  readonly reason?: string;
  /** The `{Error, Cause}` a Catch captured, if any (Cause truncated by the λ). */
  readonly error?: { readonly Error?: string; readonly Cause?: string };
}

export interface RecordOutput extends ExecutionInput {
  /** DRIFTED: a check run of a reapplyEvery with `drift: report` found tasks that would change. */
  readonly status: 'SUCCESS' | 'PARTIAL' | 'FAILED' | 'SKIPPED' | 'DRIFTED';
  /** False for SKIPPED: nothing to tell anyone. */
  readonly notify: boolean;
}

/** Notifier λ: input RecordOutput → sends at most one message per (instance, generation, status). */
export interface NotifyOutput {
  readonly sent: boolean;
  readonly channels: readonly string[];
  /** Channels tried that failed (a Slack or Telegram outage never blocks SNS). */
  readonly failed?: readonly string[];
  /** This run's outcome paused its rollout lane: the channels the pause notification went to. */
  readonly rolloutPaused?: readonly string[];
}
