// What one SendCommand looks like for a workflow step: which document, which parameters, where
// the output goes. Pure: the playbook is re-derived from the record's facts and the deployed
// bundle, so no var value ever travels through the workflow (and the console).
import type { SendCommandCommandInput } from '@aws-sdk/client-ssm';
import { DELIVERY_TIMEOUT_SECONDS } from '../core/command-timing.js';
import { tagCollisionAdjustments } from '../core/facts.js';
import { matchRules } from '../core/matcher.js';
import { buildApplyPlaybooksParameters, type VarAdjustment } from '../core/ssm-parameters.js';
import type { PlannedPlaybook, RulesBundle } from '../core/types.js';
import { InvalidInputError } from '../shared/errors.js';
import type { InstanceRecord } from '../shared/state-store-api.js';
import { executionNameOf, type RunCommandInput } from '../shared/workflow-contract.js';

export interface RunCommandSettings {
  /** https URL of the playbooks bundle zip. */
  readonly bundleUrl: string;
  readonly applyDocument: string;
  readonly ansibleInstallDocument: string;
  readonly installDependencies: boolean;
  readonly outputLogGroup: string;
  readonly outputBucket: string;
}

/** SendCommand's own TimeoutSeconds is the delivery timeout; the callback wait adds it (core/command-timing). */
export { DELIVERY_TIMEOUT_SECONDS };
/** SendCommand's Comment is limited to 100 characters (SendCommand, AWS Systems Manager API Reference). */
export const MAX_COMMENT_LENGTH = 100;

export interface CommandRequest {
  readonly command: SendCommandCommandInput;
  /** The playbook file, or `ensure-ansible`: what the history and the comment name. */
  readonly label: string;
  readonly adjustments: readonly VarAdjustment[];
}

/** The playbook planned at `index`, recomputed from the record's facts, checked against the recorded plan. */
export function plannedPlaybookAt(
  record: InstanceRecord,
  bundle: RulesBundle,
  index: number,
): PlannedPlaybook {
  const recorded = record.playbooks?.[index];
  if (!recorded) {
    throw new InvalidInputError(
      `run-command: ${record.instanceId} has no planned playbook at index ${index} ` +
        `(the record lists ${record.playbooks?.length ?? 0}); the workflow input does not match the match step's plan.`,
    );
  }
  const planned = matchRules(bundle.config, record.facts).playbooks[index];
  if (planned?.file !== recorded.file) {
    throw new InvalidInputError(
      `run-command: ${record.instanceId} playbook ${index} is ${recorded.file} in the record but ` +
        `${planned?.file ?? 'absent'} in the deployed rules bundle: the rules or the host's facts changed ` +
        'during this execution. The next sweep re-provisions the instance with the new plan.',
    );
  }
  return planned;
}

/**
 * The key a command is found again by: `<executionName>/<kind>/<playbookIndex>/<attempt>` (≤ 50 characters
 * for an `mi-` id and a 10-digit generation). It opens the Comment, so a retried run step can list the
 * instance's commands and adopt the one already sent (docs/adr/0009-one-command-per-attempt.md).
 */
export function commandKey(input: RunCommandInput): string {
  const index = input.kind === 'playbook' ? (input.playbookIndex ?? -1) : 0;
  return `${executionNameOf(input.instanceId, input.generation)}/${input.kind}/${index}/${input.attempt}`;
}

/** Whether a SendCommand Comment is the one `commandKey` wrote for this step. */
export function isCommentOf(comment: string | undefined, key: string): boolean {
  return comment === key || (comment?.startsWith(`${key} `) ?? false);
}

/** Key first, then the playbook for a human reader; cut to SendCommand's 100-character limit. */
function comment(key: string, label: string): string {
  return `${key} ${label}`.slice(0, MAX_COMMENT_LENGTH);
}

export function buildCommandRequest(
  input: RunCommandInput,
  record: InstanceRecord | undefined,
  bundle: RulesBundle,
  settings: RunCommandSettings,
): CommandRequest {
  const executionName = executionNameOf(input.instanceId, input.generation);
  const common = {
    InstanceIds: [input.instanceId],
    TimeoutSeconds: DELIVERY_TIMEOUT_SECONDS,
    CloudWatchOutputConfig: {
      CloudWatchOutputEnabled: true,
      CloudWatchLogGroupName: settings.outputLogGroup,
    },
    OutputS3BucketName: settings.outputBucket,
    OutputS3KeyPrefix: `commands/${executionName}`,
  };
  if (input.kind === 'ensure-ansible') {
    const label = 'ensure-ansible';
    return {
      command: {
        ...common,
        DocumentName: settings.ansibleInstallDocument,
        Comment: comment(commandKey(input), label),
      },
      label,
      adjustments: [],
    };
  }
  if (!record) {
    throw new InvalidInputError(
      `run-command: ${input.instanceId} has no state record to take its facts from.`,
    );
  }
  const planned = plannedPlaybookAt(record, bundle, input.playbookIndex ?? -1);
  // A drift check (reapplyEvery with `drift: report`) runs every playbook in check mode.
  const playbook = record.checkRun ? { ...planned, check: true } : planned;
  const { parameters, adjustments } = buildApplyPlaybooksParameters({
    bundleUrl: settings.bundleUrl,
    playbook,
    hostVars: record.facts.vars,
    installDependencies: settings.installDependencies,
    identity: {
      instanceId: record.facts.instanceId,
      ...(record.facts.name === undefined ? {} : { name: record.facts.name }),
    },
  });
  return {
    command: {
      ...common,
      DocumentName: settings.applyDocument,
      Parameters: parameters,
      Comment: comment(commandKey(input), playbook.file),
    },
    label: playbook.file,
    adjustments: [...tagCollisionAdjustments(record.facts.tags), ...adjustments],
  };
}
