// The one way a failed run reads, everywhere (CLI status/history/doctor, notifications, `npm start`):
//   webserver.yml: task "Install nginx" failed: No package matching 'ngnix' is available
// followed by the LAST lines of the output. Never a JSON blob, never the first lines. Records written
// before the structured result existed (a reason holding `PlaybookFailed: {"commandId":…}`) read the
// same way. Pure. docs/adr/0012-ansible-result-line.md.
import { type AnsibleResult, parseAnsibleOutput, withoutResultLine } from './ansible-result.js';

/** What the formatter needs of a recorded playbook result (a subset of the record's PlaybookRecord). */
export interface PlaybookResultView {
  readonly file: string;
  readonly status: string;
  readonly attempts?: number;
  readonly exitCode?: number;
  readonly outputTail?: string;
  readonly ansible?: AnsibleResult;
}

/** Lines of output shown under a failure. */
export const LAST_LINES = 12;
const LAST_LINES_MAX_CHARS = 1500;

const NOT_FAILED = new Set(['Pending', 'InProgress', 'Success']);

/** The playbook whose failure ended the run (the first one that ran and did not succeed). */
export function failedPlaybookOf<T extends PlaybookResultView>(
  playbooks: readonly T[] | undefined,
): T | undefined {
  return (playbooks ?? []).find((playbook) => !NOT_FAILED.has(playbook.status));
}

function quoteTask(task: string): string {
  return task ? `task "${task}"` : 'a task';
}

/** The structured result of a playbook: recorded, else recovered from its output tail (older records). */
export function ansibleResultOf(playbook: PlaybookResultView): AnsibleResult | undefined {
  return playbook.ansible ?? parseAnsibleOutput(playbook.outputTail);
}

/** One line: which playbook, which task, what Ansible said. */
export function playbookFailureHeadline(playbook: PlaybookResultView): string {
  const result = ansibleResultOf(playbook);
  const failure = result?.failures[0];
  if (failure) {
    const more = (result?.failures.length ?? 1) - 1 + (result?.omitted?.failures ?? 0);
    const others = more > 0 ? ` (+${more} more failure${more === 1 ? '' : 's'})` : '';
    if (failure.unreachable) {
      return `${playbook.file}: host ${failure.host} unreachable at ${quoteTask(failure.task)}: ${failure.message}${others}`;
    }
    return `${playbook.file}: ${quoteTask(failure.task)} failed: ${failure.message}${others}`;
  }
  if (result?.error) return `${playbook.file}: Ansible error: ${result.error}`;
  const exit = playbook.exitCode !== undefined ? ` (exit code ${playbook.exitCode})` : '';
  const attempts =
    playbook.attempts !== undefined && playbook.attempts > 0
      ? ` after ${playbook.attempts} attempt${playbook.attempts === 1 ? '' : 's'}`
      : '';
  const lastLine = lastLines(playbook.outputTail, 1);
  return `${playbook.file} ended ${playbook.status}${attempts}${exit}${lastLine ? `: ${lastLine}` : ''}`;
}

/** The last `count` non-empty lines of an output, without our summary line, at most ~1,500 characters. */
export function lastLines(text: string | undefined, count = LAST_LINES): string {
  if (!text) return '';
  const lines = withoutResultLine(text)
    .split(/\r?\n/)
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '' && !/^\*+$/.test(line.trim()));
  const kept = lines.slice(-count).join('\n');
  return kept.length <= LAST_LINES_MAX_CHARS
    ? kept
    : `…${kept.slice(kept.length - LAST_LINES_MAX_CHARS + 1)}`;
}

/** `Error: {"commandId":…}` as older versions stored it (possibly cut mid-JSON). */
const LEGACY_CAUSE = /^(\w+): (\{"(?:commandId|reason)".*)$/s;

function legacyField(json: string, name: string): string | undefined {
  const match = new RegExp(`"${name}":("(?:[^"\\\\]|\\\\.)*"|-?\\d+)`).exec(json);
  if (!match?.[1]) return undefined;
  try {
    return String(JSON.parse(match[1]));
  } catch {
    return undefined;
  }
}

/**
 * A stored reason as people read it. Reasons of older records that embed the callback's JSON cause
 * become `PlaybookFailed: command … Failed (exit code 2)`; `; `-joined parts are kept.
 */
export function readableReason(reason: string | undefined): string | undefined {
  if (!reason) return reason;
  return reason
    .split('; ')
    .map((part) => {
      const inParens = /^(.*?) \((\w+: \{"(?:commandId|reason)".*)\)$/s.exec(part);
      const [prefix, cause] = inParens ? [`${inParens[1]} `, inParens[2] ?? ''] : ['', part];
      const legacy = LEGACY_CAUSE.exec(cause);
      if (!legacy) return part;
      const json = legacy[2] ?? '';
      const given = legacyField(json, 'reason');
      if (given) return inParens ? `${prefix}(${given})` : given;
      const status = legacyField(json, 'status') ?? 'failed';
      const exit = legacyField(json, 'exitCode');
      const commandId = legacyField(json, 'commandId');
      const text = `${legacy[1]}: command ${commandId ?? '?'} ${status}${exit !== undefined ? ` (exit code ${exit})` : ''}`;
      return inParens ? `${prefix}(${text})` : text;
    })
    .join('; ');
}

export interface FailureReport {
  /** One line: the failed task and its message, or the record's reason. */
  readonly headline: string;
  /** The last lines of the failed playbook's output ('' when none). */
  readonly lastLines: string;
  /** The failed playbook, if one failed. */
  readonly file?: string;
  /** The first failed task, when Ansible's result names one. */
  readonly task?: string;
  /** Its module, e.g. `ansible.builtin.package`. */
  readonly module?: string;
  readonly host?: string;
  /** What Ansible said about it. */
  readonly message?: string;
  readonly unreachable?: boolean;
}

/**
 * What to say about a run that did not succeed: the failed playbook's headline when a playbook failed,
 * else the record's reason (agent not online, orphaned…). Undefined when there is nothing to say.
 */
export function failureReport(record: {
  readonly reason?: string;
  readonly playbooks?: readonly PlaybookResultView[];
}): FailureReport | undefined {
  const failed = failedPlaybookOf(record.playbooks);
  if (failed) {
    const result = ansibleResultOf(failed);
    const first = result?.failures[0];
    const headline = playbookFailureHeadline(failed);
    // Without Ansible's own words, the recorded reason may say more (e.g. an error the workflow caught).
    const reason = first || result?.error ? undefined : readableReason(record.reason);
    return {
      headline: reason && !reason.includes(headline) ? `${reason}; ${headline}` : (reason ?? headline),
      lastLines: lastLines(failed.outputTail),
      file: failed.file,
      ...(first
        ? {
            task: first.task,
            ...(first.action ? { module: first.action } : {}),
            host: first.host,
            message: first.message,
            ...(first.unreachable ? { unreachable: true } : {}),
          }
        : {}),
    };
  }
  const reason = readableReason(record.reason);
  return reason ? { headline: reason, lastLines: '' } : undefined;
}

/** The headline then the indented last lines: the text block the CLI and `npm start` print. */
export function formatFailureReport(report: FailureReport, indent = '  '): string {
  if (!report.lastLines) return report.headline;
  const lines = report.lastLines.split('\n').map((line) => `${indent}${line}`);
  return [report.headline, `${indent}last lines of ${report.file ?? 'the output'}:`, ...lines].join('\n');
}

/** Tasks that changed (or, in check mode, would change), one line each: for a check-mode run's report. */
export function describeChanges(playbook: PlaybookResultView): string[] {
  const result = ansibleResultOf(playbook);
  if (!result) return [];
  const verb = result.check ? 'would change' : 'changed';
  const lines = result.changes.map(
    (change) => `${playbook.file}: ${quoteTask(change.task)} ${verb} on ${change.host}`,
  );
  const omitted = result.omitted?.changes ?? 0;
  if (omitted > 0) lines.push(`${playbook.file}: … and ${omitted} more`);
  return lines;
}
