// The one alert text for every channel (docs/architecture.md "Notifications"): who, what, why, where to look. Pure.
import {
  describeChanges,
  failedPlaybookOf,
  lastLines,
  playbookFailureHeadline,
  readableReason,
} from '../core/failure-text.js';
import type { Status } from '../core/types.js';
import type { InstanceRecord, PlaybookRecord } from '../shared/state-store-api.js';
import { executionNameOf } from '../shared/workflow-contract.js';

/** SNS subjects must be ASCII without line breaks and under 100 characters. */
export const MAX_SUBJECT_CHARS = 99;

export interface AlertInput {
  readonly instanceId: string;
  readonly generation: number;
  readonly status: Status;
  /** A reason the caller knows (e.g. a detector's "terminated"); the record's reason is used otherwise. */
  readonly reason?: string;
}

export interface Alert {
  readonly subject: string;
  readonly text: string;
}

/** Console link to the execution of a run: the state machine ARN with `:execution:` and the execution name. */
export function executionConsoleUrl(stateMachineArn: string, executionName: string): string | undefined {
  const parts = stateMachineArn.split(':');
  const region = parts[3];
  if (parts.length !== 7 || parts[5] !== 'stateMachine' || !region) return undefined;
  const executionArn = [...parts.slice(0, 5), 'execution', parts[6], executionName].join(':');
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

export function asciiSubject(text: string): string {
  // Non-ASCII (a Name tag in any script) and control characters become `?`: SNS rejects them in a subject.
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= MAX_SUBJECT_CHARS ? ascii : `${ascii.slice(0, MAX_SUBJECT_CHARS - 3)}...`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function failedPlaybook(playbooks: readonly PlaybookRecord[]): PlaybookRecord | undefined {
  return failedPlaybookOf(playbooks);
}

export function buildAlert(
  input: AlertInput,
  record: InstanceRecord | undefined,
  stateMachineArn: string,
): Alert {
  const name = record?.facts.name;
  const who = name ? `${input.instanceId} (${name})` : input.instanceId;
  const playbooks = record?.playbooks ?? [];
  const failed = failedPlaybook(playbooks);
  const reason = readableReason(input.reason ?? record?.reason);
  const executionUrl =
    input.generation > 0
      ? executionConsoleUrl(stateMachineArn, executionNameOf(input.instanceId, input.generation))
      : undefined;
  const logUrl = failed?.logUrl ?? [...playbooks].reverse().find((playbook) => playbook.logUrl)?.logUrl;

  const lines = [`Instance: ${who}`, `Status: ${input.status} (generation ${input.generation})`];
  // The failed task and its message first (core/failure-text.ts); the reason when it says more.
  const headline = failed ? playbookFailureHeadline(failed) : undefined;
  if (headline) lines.push(`Failure: ${headline}`);
  if (reason && !reason.startsWith(headline ?? '\u0000')) lines.push(`Reason: ${reason}`);
  if (failed) {
    const exit = failed.exitCode !== undefined ? `, exit code ${failed.exitCode}` : '';
    lines.push(
      `Failed playbook: ${failed.file} (${failed.status}${exit}, ${plural(failed.attempts, 'attempt')})`,
    );
  }
  if (input.status === 'DRIFTED') {
    // A check run of a reapplyEvery with `drift: report`: what the playbooks would change.
    const changes = playbooks.flatMap((playbook) => describeChanges(playbook));
    if (changes.length > 0) lines.push('Would change:', ...changes.map((change) => `  - ${change}`));
  }
  if (playbooks.length > 0) {
    lines.push('Playbooks:');
    for (const playbook of playbooks) {
      lines.push(`  - ${playbook.file}: ${playbook.status} (${plural(playbook.attempts, 'attempt')})`);
    }
  }
  if (executionUrl) lines.push(`Execution: ${executionUrl}`);
  if (logUrl) lines.push(`Log: ${logUrl}`);
  const tail = lastLines(failed?.outputTail);
  if (failed && tail) lines.push('', `Output (last lines of ${failed.file}):`, tail);

  return { subject: asciiSubject(`[autoprov] ${input.status}: ${who}`), text: lines.join('\n') };
}
