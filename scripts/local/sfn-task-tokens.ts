// Task tokens for the local Step Functions runner: the broker that mints `$$.Task.Token` values and routes
// SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat to the Task waiting on them, with AWS's token errors;
// and TaskError, the error a Task state fails with (its name is what Retry/Catch match).
// Token errors as in the API reference
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html).
import { randomBytes } from 'node:crypto';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

// ----- errors ----------------------------------------------------------------------------------

/** An error a Task state fails with: `name` is what Retry/Catch `ErrorEquals` match, message the Cause. */
export class TaskError extends Error {
  constructor(errorName: string, cause: string) {
    super(cause);
    this.name = errorName;
  }
}

export type TokenErrorCode = 'InvalidToken' | 'TaskTimedOut' | 'TaskDoesNotExist' | 'InvalidOutput';

export class TaskTokenError extends Error {
  override name = 'TaskTokenError';
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ----- task tokens ------------------------------------------------------------------------------

interface PendingToken {
  readonly executionArn: string;
  stateName?: string;
  state: 'minted' | 'waiting' | 'closed';
  settle?: { resolve: (value: Json) => void; reject: (error: Error) => void };
  /** A result that arrived before the waiter (SendTaskSuccess racing the Lambda invoke). */
  early?: { ok: true; value: Json } | { ok: false; error: Error };
  timer?: NodeJS.Timeout;
}

/** Issues task tokens and routes SendTaskSuccess/Failure/Heartbeat to the waiting task. */
export class TaskTokenBroker {
  private readonly tokens = new Map<string, PendingToken>();

  mint(executionArn: string): string {
    // Opaque and long like real tokens, so code that stores or logs them is exercised realistically.
    const token = `AQC${randomBytes(96).toString('base64url')}`;
    this.tokens.set(token, { executionArn, state: 'minted' });
    return token;
  }

  /** Waits for the outcome of `token`; after `timeoutMs` the token is closed (late calls get TaskTimedOut). */
  wait(token: string, stateName: string, timeoutMs: number): Promise<Json> {
    const pending = this.tokens.get(token);
    if (!pending)
      return Promise.reject(new TaskError('States.Runtime', `Unknown task token for state ${stateName}`));
    pending.stateName = stateName;
    return new Promise<Json>((resolve, reject) => {
      if (pending.early) {
        pending.state = 'closed';
        if (pending.early.ok) resolve(pending.early.value);
        else reject(pending.early.error);
        return;
      }
      pending.state = 'waiting';
      pending.settle = { resolve, reject };
      pending.timer = setTimeout(() => {
        pending.state = 'closed';
        reject(new TaskError('States.Timeout', `Task ${stateName} timed out waiting for its task token`));
      }, timeoutMs);
    });
  }

  succeed(token: string, output: string): void {
    let value: Json;
    try {
      value = JSON.parse(output) as Json;
    } catch {
      throw new TaskTokenError('InvalidOutput', 'Invalid JSON in output');
    }
    this.settle(token, { ok: true, value });
  }

  fail(token: string, error: string | undefined, cause: string | undefined): void {
    this.settle(token, { ok: false, error: new TaskError(error ?? 'States.TaskFailed', cause ?? '') });
  }

  heartbeat(token: string): void {
    this.open(token);
  }

  /**
   * Times out now every task waiting on a token that `which` selects, exactly as its TimeoutSeconds would
   * (States.Timeout; a late SendTaskSuccess then gets TaskTimedOut): a test decides when a lost callback is
   * noticed instead of racing a scaled timeout against the machine's speed. Returns how many it timed out.
   */
  expireWaiting(which: (task: { executionArn: string; stateName: string }) => boolean): number {
    let expired = 0;
    for (const pending of this.tokens.values()) {
      if (
        pending.state !== 'waiting' ||
        !which({ executionArn: pending.executionArn, stateName: pending.stateName ?? '' })
      )
        continue;
      pending.state = 'closed';
      if (pending.timer) clearTimeout(pending.timer);
      pending.settle?.reject(
        new TaskError('States.Timeout', `Task ${pending.stateName} timed out waiting for its task token`),
      );
      expired++;
    }
    return expired;
  }

  /**
   * StopExecution (or the end of the execution): every token of the execution stops being valid, and a
   * task still waiting on one is released with an error, so its timers end with it (the library's own task
   * timeout would otherwise keep the process alive for up to the task's TimeoutSeconds).
   *
   * Upstream (aws-local-stepfunctions 3.0.0): src/stateMachine/stateActions/TaskStateAction.ts `execute`,
   * main.node.esm.js:2416-2424 — the Task's timeout timer is cleared only when the race between the task and
   * the timeout settles; an abort neither reaches the task override (it gets the input only) nor clears the
   * timer. Tested unpatched in test/local/library-patches.test.ts.
   */
  closeExecution(executionArn: string): void {
    for (const pending of this.tokens.values()) {
      if (pending.executionArn !== executionArn || pending.state === 'closed') continue;
      const waiting = pending.state === 'waiting';
      pending.state = 'closed';
      if (pending.timer) clearTimeout(pending.timer);
      if (waiting) {
        pending.settle?.reject(
          new TaskError(
            'States.Runtime',
            `The execution ended while ${pending.stateName} waited for its token`,
          ),
        );
      }
    }
  }

  /** Tokens currently waiting (for assertions and the console). */
  waiting(): { token: string; executionArn: string; stateName?: string }[] {
    return [...this.tokens]
      .filter(([, p]) => p.state === 'waiting')
      .map(([token, p]) => ({ token, executionArn: p.executionArn, stateName: p.stateName }));
  }

  private open(token: string): PendingToken {
    const pending = this.tokens.get(token);
    if (!pending) throw new TaskTokenError('InvalidToken', 'Invalid token');
    // AWS answers TaskTimedOut for a task that already completed, timed out or was stopped.
    if (pending.state === 'closed' || pending.early) {
      throw new TaskTokenError('TaskTimedOut', "Task Timed Out: 'Provided task does not exist anymore'");
    }
    return pending;
  }

  private settle(token: string, result: NonNullable<PendingToken['early']>): void {
    const pending = this.open(token);
    if (pending.state === 'minted') {
      pending.early = result;
      return;
    }
    pending.state = 'closed';
    if (pending.timer) clearTimeout(pending.timer);
    if (result.ok) pending.settle?.resolve(result.value);
    else pending.settle?.reject(result.error);
  }
}
