// What both callback paths (status event, timed-out wait) share: reading a finished invocation,
// recording its result on the instance (fenced) with its history event, and answering the workflow.

import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetCommandInvocationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { type AnsibleResult, parseAnsibleOutput, withoutResultLine } from '../core/ansible-result.js';
import { playbookFailureHeadline } from '../core/failure-text.js';
import type { PlaybookRunStatus } from '../core/types.js';
import { isTransientAwsError, TransientError } from '../shared/errors.js';
import type { DebugLogger } from '../shared/logger.js';
import type { ActiveCommand, InstanceRecord, StateStoreApi } from '../shared/state-store-api.js';
import { type CommandResult, executionNameOf } from '../shared/workflow-contract.js';
import { failureCause, outputTail, runStatusOf } from './command-status.js';
import { commandLogUrl } from './log-url.js';

export interface CallbackSettings {
  readonly region: string;
  readonly outputLogGroup: string;
}

export interface CallbackDeps {
  readonly store: Pick<
    StateStoreApi,
    'getInstance' | 'recordPlaybookResult' | 'clearActiveCommand' | 'appendHistory'
  >;
  readonly ssm: Pick<SSMClient, 'send'>;
  readonly sfn: Pick<SFNClient, 'send'>;
  /** Reads the end of an output the API cut (StandardOutputUrl); without it the API's content is used. */
  readonly s3?: Pick<S3Client, 'send'>;
  readonly settings: CallbackSettings;
  readonly now: () => Date;
  readonly logger: DebugLogger;
}

/** How one command invocation ended. */
export interface CommandEnd {
  readonly commandId: string;
  /** SSM's own status text, as reported. */
  readonly ssmStatus: string;
  readonly status: PlaybookRunStatus;
  readonly exitCode?: number;
  readonly outputTail?: string;
  /** What Ansible reported (playbook commands whose output was read). */
  readonly ansible?: AnsibleResult;
}

export interface Invocation {
  readonly status: string;
  readonly statusDetails?: string;
  readonly exitCode?: number;
  readonly outputTail: string;
  readonly ansible?: AnsibleResult;
}

/** GetCommandInvocation returns the first 24,000 characters of stdout (StandardOutputContent). */
export const API_STDOUT_LIMIT = 24_000;
/** Bytes read from the end of a cut output in S3: the summary line (≤ ~20 KB) and the last lines. */
export const OUTPUT_TAIL_BYTES = 64 * 1024;

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}

/**
 * The document step whose result we read. SSM requires PluginName when a document has more than one
 * step, and AWS-ApplyAnsiblePlaybooks has two (downloadContent, runShellScript): the playbook runs in
 * the second. Our ensure-Ansible document has the single step `ensureAnsible` (infra/constructs).
 */
export const PLUGIN_OF: Readonly<Record<'ensure-ansible' | 'playbook', string>> = {
  playbook: 'runShellScript',
  'ensure-ansible': 'ensureAnsible',
};

/**
 * GetCommandInvocation, transient errors (including "not visible yet") mapped to TransientError.
 * When a playbook run did not succeed, the bundle download step is read too (one more call, failures
 * only): if it failed — typically AccessDenied because the instance profile lacks the stack's
 * InstancePolicyArn — the shell step only says "The specified Playbook file doesn't exist", and the
 * real cause must be in the output tail.
 */
export async function readInvocation(
  ssm: Pick<SSMClient, 'send'>,
  commandId: string,
  instanceId: string,
  kind: 'ensure-ansible' | 'playbook',
  s3?: Pick<S3Client, 'send'>,
): Promise<Invocation> {
  const invocation = await readPlugin(
    ssm,
    commandId,
    instanceId,
    PLUGIN_OF[kind],
    kind === 'playbook' ? s3 : undefined,
  );
  if (kind !== 'playbook' || invocation.status === 'Success' || invocation.status === 'InProgress') {
    return invocation;
  }
  const download = await readPlugin(ssm, commandId, instanceId, DOWNLOAD_PLUGIN).catch(() => undefined);
  if (download?.status !== 'Failed') return invocation;
  return {
    ...invocation,
    // Last, so that cutting the tail to size keeps it.
    outputTail: outputTail(
      `${invocation.outputTail}\n--- ${DOWNLOAD_PLUGIN} failed: the bundle was not downloaded ---\n${download.outputTail}`,
      undefined,
    ),
  };
}

/** The bundle download step of AWS-ApplyAnsiblePlaybooks. */
export const DOWNLOAD_PLUGIN = 'downloadContent';

/**
 * The end of an output object (S3 ranged GET `bytes=-N`) from the URL GetCommandInvocation gives
 * (`https://s3.<region>.amazonaws.com/<bucket>/<key>`). Undefined when it cannot be read: the caller
 * keeps the API's content. "GetObject — Range" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
 */
export async function readOutputEnd(
  s3: Pick<S3Client, 'send'>,
  url: string,
  bytes = OUTPUT_TAIL_BYTES,
): Promise<string | undefined> {
  const match = /^https:\/\/s3[.-][^/]*\/([^/]+)\/(.+)$/.exec(url);
  if (!match?.[1] || !match[2]) return undefined;
  try {
    const object = await s3.send(
      new GetObjectCommand({ Bucket: match[1], Key: decodeURIComponent(match[2]), Range: `bytes=-${bytes}` }),
    );
    const text = (await object.Body?.transformToString('utf8')) ?? '';
    // A range can start inside a line (or a character): drop the partial first line.
    const firstBreak = text.indexOf('\n');
    return firstBreak >= 0 && text.length >= bytes ? text.slice(firstBreak + 1) : text;
  } catch {
    return undefined;
  }
}

async function readPlugin(
  ssm: Pick<SSMClient, 'send'>,
  commandId: string,
  instanceId: string,
  pluginName: string,
  s3?: Pick<S3Client, 'send'>,
): Promise<Invocation> {
  try {
    const output = await ssm.send(
      new GetCommandInvocationCommand({
        CommandId: commandId,
        InstanceId: instanceId,
        PluginName: pluginName,
      }),
    );
    let stdout = output.StandardOutputContent ?? '';
    const stderr = output.StandardErrorContent;
    // The API keeps the START of a long output; its end (the failure, our summary line) is in S3.
    if (s3 && stdout.length >= API_STDOUT_LIMIT && output.StandardOutputUrl) {
      stdout = (await readOutputEnd(s3, output.StandardOutputUrl)) ?? stdout;
    }
    const ansible = pluginName === PLUGIN_OF.playbook ? parseAnsibleOutput(stdout, stderr) : undefined;
    return {
      status: output.Status ?? 'Failed',
      ...(output.StatusDetails ? { statusDetails: output.StatusDetails } : {}),
      // -1 means the document never ran a step: no exit code to report.
      ...(output.ResponseCode !== undefined && output.ResponseCode >= 0
        ? { exitCode: output.ResponseCode }
        : {}),
      outputTail: outputTail(withoutResultLine(stdout), stderr),
      ...(ansible ? { ansible } : {}),
    };
  } catch (error) {
    if (isTransientAwsError(error)) {
      throw new TransientError(
        `GetCommandInvocation ${commandId} on ${instanceId} failed transiently (${errorName(error)}); retry.`,
        { cause: error },
      );
    }
    throw error;
  }
}

export function commandEndOf(commandId: string, invocation: Invocation): CommandEnd {
  return {
    commandId,
    ssmStatus: invocation.status,
    status: runStatusOf(invocation.status, invocation.statusDetails),
    ...(invocation.exitCode !== undefined ? { exitCode: invocation.exitCode } : {}),
    ...(invocation.outputTail ? { outputTail: invocation.outputTail } : {}),
    ...(invocation.ansible ? { ansible: invocation.ansible } : {}),
  };
}

export function logUrlOf(settings: CallbackSettings, commandId: string, instanceId: string): string {
  return commandLogUrl({ region: settings.region, logGroup: settings.outputLogGroup, commandId, instanceId });
}

export function commandResultOf(end: CommandEnd, logUrl: string): CommandResult {
  return { commandId: end.commandId, status: 'Success', exitCode: end.exitCode ?? 0, logUrl };
}

export function failureCauseOf(end: CommandEnd, logUrl: string, file?: string): string {
  return failureCause({
    ...(file
      ? {
          reason: playbookFailureHeadline({
            file,
            status: end.status,
            ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
            ...(end.outputTail ? { outputTail: end.outputTail } : {}),
            ...(end.ansible ? { ansible: end.ansible } : {}),
          }),
        }
      : {}),
    commandId: end.commandId,
    status: end.ssmStatus,
    ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
    ...(end.outputTail ? { outputTail: end.outputTail } : {}),
    logUrl,
  });
}

/**
 * Records the end of the active command: the playbook's result (fenced on the record's generation,
 * which also clears the active command) and a PLAYBOOK_SUCCEEDED/FAILED history event. The
 * ensure-Ansible step has no playbook slot: only its history event is written.
 */
/** A refused write: refused at the same generation = another copy of this status event recorded it first. */
function refusal(
  refused: { message: string; currentGeneration?: number },
  generation: number,
): { ok: false; message: string; alreadyRecorded: boolean } {
  return { ok: false, message: refused.message, alreadyRecorded: refused.currentGeneration === generation };
}

export async function recordCommandEnd(
  record: InstanceRecord,
  active: ActiveCommand,
  end: CommandEnd,
  deps: Pick<CallbackDeps, 'store' | 'settings' | 'now'>,
): Promise<{ ok: true; logUrl: string } | { ok: false; message: string; alreadyRecorded: boolean }> {
  const { instanceId, generation } = record;
  const now = deps.now();
  const logUrl = logUrlOf(deps.settings, end.commandId, instanceId);
  const index = active.playbookIndex ?? -1;
  const label =
    active.kind === 'playbook' ? (record.playbooks?.[index]?.file ?? `playbook #${index}`) : active.kind;
  if (active.kind === 'playbook') {
    const written = await deps.store.recordPlaybookResult(
      instanceId,
      generation,
      index,
      {
        file: label,
        status: end.status,
        attempts: active.attempt,
        commandId: end.commandId,
        ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
        ...(active.sentAt ? { startedAt: active.sentAt } : {}),
        endedAt: now.toISOString(),
        ...(end.outputTail ? { outputTail: end.outputTail } : {}),
        logUrl,
        ...(record.playbooks?.[index]?.check ? { check: true } : {}),
        ...(end.ansible ? { ansible: end.ansible } : {}),
      },
      now,
      { activeCommandId: end.commandId },
    );
    if (!written.ok) return refusal(written, generation);
  } else {
    const cleared = await deps.store.clearActiveCommand(instanceId, generation, end.commandId, now);
    if (!cleared.ok) return refusal(cleared, generation);
  }
  const succeeded = end.status === 'Success';
  await deps.store.appendHistory({
    instanceId,
    type: succeeded ? 'PLAYBOOK_SUCCEEDED' : 'PLAYBOOK_FAILED',
    at: now.toISOString(),
    actor: `workflow:${record.executionName ?? executionNameOf(instanceId, generation)}`,
    generation,
    ...(succeeded
      ? {}
      : {
          reason:
            active.kind === 'playbook'
              ? playbookFailureHeadline({
                  file: label,
                  status: end.ssmStatus,
                  ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
                  ...(end.outputTail ? { outputTail: end.outputTail } : {}),
                  ...(end.ansible ? { ansible: end.ansible } : {}),
                })
              : `${end.ssmStatus}${end.exitCode !== undefined ? ` (exit code ${end.exitCode})` : ''}`,
        }),
    details: {
      kind: active.kind,
      playbook: label,
      attempt: active.attempt,
      commandId: end.commandId,
      status: end.status,
      ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
    },
  });
  return { ok: true, logUrl };
}

const WORKFLOW_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/**
 * SendTaskSuccess/Failure. False when the workflow no longer waits on this token (its wait timed
 * out, it was stopped or retried): nothing to do then. Transient errors become TransientError.
 */
export async function answerWorkflow(
  deps: Pick<CallbackDeps, 'sfn' | 'logger'>,
  command: SendTaskSuccessCommand | SendTaskFailureCommand,
): Promise<boolean> {
  try {
    // Two sends, not one: the SDK's overloads cannot take a union of commands.
    if (command instanceof SendTaskSuccessCommand) await deps.sfn.send(command);
    else await deps.sfn.send(command);
    return true;
  } catch (error) {
    const name = errorName(error);
    if (WORKFLOW_GONE.has(name)) {
      deps.logger.info('The workflow no longer waits on this task token', { error: name });
      return false;
    }
    if (isTransientAwsError(error)) {
      throw new TransientError(`callback: answering the workflow failed transiently (${name}).`, {
        cause: error,
      });
    }
    throw error;
  }
}
