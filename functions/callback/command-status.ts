// How an SSM command invocation's status reads for the workflow, and the compact failure
// description the workflow and the notification carry. Pure.
import type { PlaybookRunStatus } from '../core/types.js';

/** Invocation statuses after which more events follow: the workflow keeps waiting. */
const NON_TERMINAL = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);

/** Longest output tail kept on the record and sent to the workflow (and the notification). */
export const OUTPUT_TAIL_CHARS = 2000;
/** Step Functions caps SendTaskFailure's cause at 32,768 characters. */
export const MAX_CAUSE_CHARS = 32_768;

export function isTerminalInvocationStatus(status: string): boolean {
  return !NON_TERMINAL.has(status);
}

/**
 * The run status of a terminal invocation. `details` is GetCommandInvocation's StatusDetails,
 * finer than Status ("Delivery Timed Out", "Undeliverable", "Terminated", "Access Denied"…).
 * Anything unknown counts as Failed: a status we do not understand is not a success.
 */
export function runStatusOf(status: string, details?: string): PlaybookRunStatus {
  const text = `${status} ${details ?? ''}`;
  if (status === 'Success') return 'Success';
  if (/Timed ?Out/i.test(text)) return 'TimedOut';
  if (/Undeliverable|Invalid Platform|Access Denied/i.test(text)) return 'Undeliverable';
  if (/Cancel|Terminated/i.test(text)) return 'Cancelled';
  return 'Failed';
}

/** The last `max` characters of the command's output (stderr after stdout), marked when cut. */
export function outputTail(
  stdout: string | undefined,
  stderr: string | undefined,
  max = OUTPUT_TAIL_CHARS,
): string {
  const parts = [stdout?.trimEnd() ?? ''];
  if (stderr?.trim()) parts.push(`--- stderr ---\n${stderr.trimEnd()}`);
  const text = parts.filter((part) => part !== '').join('\n');
  if (text.length <= max) return text;
  const marker = '…';
  return marker + text.slice(text.length - (max - marker.length));
}

export interface FailureDescription {
  /** The readable reason (core/failure-text.ts), first so the console shows it first. */
  readonly reason?: string;
  readonly commandId: string;
  /** The SSM status as reported (`Failed`, `TimedOut`, …). */
  readonly status: string;
  readonly exitCode?: number;
  readonly outputTail?: string;
  readonly logUrl?: string;
}

/** Compact JSON for SendTaskFailure's cause (and PlaybookFailedError's message), always within the cap. */
export function failureCause(failure: FailureDescription, maxChars = MAX_CAUSE_CHARS): string {
  let description = failure;
  let json = JSON.stringify(description);
  // Escaped control characters can make JSON longer than its input: trim the tail until it fits.
  while (json.length > maxChars && description.outputTail) {
    const excess = json.length - maxChars;
    const tail = description.outputTail;
    description = { ...description, outputTail: tail.slice(Math.min(tail.length, Math.max(excess, 16))) };
    json = JSON.stringify(description);
  }
  return json.length > maxChars ? json.slice(0, maxChars) : json;
}
