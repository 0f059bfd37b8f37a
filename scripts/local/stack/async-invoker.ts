// Asynchronous invocation as Lambda does it for EventBridge targets, the sweep schedule and Event invokes:
// on a function error, the retries the template configures (waits scaled by the time scale), then a dead
// letter that is kept, never dropped. The local dead-letter queue's depth counts these.
import type { FunctionHost } from '../function-host.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Lambda's waits between asynchronous retries, ~1 then ~2 minutes (Lambda Developer Guide, "Configuring
 * error handling for asynchronous invocation",
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html). How many retries:
 * the function's spec (the template).
 */
const ASYNC_RETRY_DELAYS_SECONDS = [60, 120];

/** An asynchronous invocation that failed for good (Lambda's on-failure destination / a DLQ). */
export interface DeadLetter {
  readonly source: string;
  readonly functionName: string;
  readonly payload: unknown;
  readonly error: unknown;
  readonly attempts: number;
}

/**
 * Asynchronous invocation as Lambda does it for EventBridge targets and schedules: on a function error,
 * two retries (after ~1 and ~2 minutes, scaled), then the event is kept as a dead letter — never dropped.
 */
export class AsyncInvoker {
  readonly deadLetters: DeadLetter[] = [];
  inFlight = 0;
  stopped = false;

  constructor(
    private readonly functions: FunctionHost,
    private readonly timeScale: number,
    private readonly progress: (message: string) => void,
  ) {}

  async invoke(source: string, functionName: string, payload: unknown, retries: number): Promise<void> {
    this.inFlight++;
    try {
      for (let attempt = 1; ; attempt++) {
        const error = await this.attempt(functionName, payload);
        if (error === undefined || this.stopped) return;
        if (attempt > retries) {
          this.deadLetters.push({ source, functionName, payload, error, attempts: attempt });
          this.progress(
            `Dead-lettered: ${source} → ${functionName} failed ${attempt} times: ${describeError(error)}`,
          );
          return;
        }
        const delaySeconds = ASYNC_RETRY_DELAYS_SECONDS[attempt - 1] ?? 120;
        await sleep(Math.max(10, delaySeconds * 1000 * this.timeScale));
        if (this.stopped) return;
      }
    } finally {
      this.inFlight--;
    }
  }

  /** After stop, failures of invocations cut short by the shutdown are neither retried nor dead-lettered. */
  stop(): void {
    this.stopped = true;
  }

  /** The error of one attempt, or undefined when it succeeded. */
  private async attempt(functionName: string, payload: unknown): Promise<unknown> {
    try {
      const outcome = await this.functions.invoke(functionName, payload);
      return outcome.functionError ? outcome.payload : undefined;
    } catch (thrown) {
      return thrown instanceof Error ? { errorType: thrown.name, errorMessage: thrown.message } : thrown;
    }
  }
}

/** One line for an invocation's error (Lambda's `{ errorType, errorMessage }`, or anything thrown), ≤ 300 characters. */
export function describeError(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { errorType?: unknown; errorMessage?: unknown };
    if (typeof e.errorType === 'string')
      return `${e.errorType}: ${String(e.errorMessage ?? '')}`.slice(0, 300);
  }
  return String(error).slice(0, 300);
}
