// The patches the local Step Functions runner applies to aws-local-stepfunctions 3.0.0 itself (sfn-runner.ts
// installs them when it is loaded): each names the upstream behaviour it works around, and
// test/local/library-patches.test.ts runs the unpatched library on a minimal case to show that behaviour is
// still there — that test fails the day the library is fixed, telling us to drop the patch.
//
// The runner also compensates, without patching the library, for behaviours documented where it does so:
//   - no `$$.Task.Token` in the Context Object (sfn-runner.ts, StateMachineRunner.start: the Token getter);
//   - a retry of a Task still runs after the execution was aborted (sfn-runner.ts, start: `closed`);
//   - a Task's timeout timer outlives an abort (sfn-task-tokens.ts, TaskTokenBroker.closeExecution);
//   - Wait overrides are fixed numbers per state name (sfn-runner.ts, scaleDynamicWaits);
//   - TimeoutSecondsPath read from the Parameters output, not the state input (asl.ts, forLocalRunner).
// Line numbers below are those of the installed build, node_modules/aws-local-stepfunctions/build/main.node.esm.js.
// No upstream issue reports any of these (searched the project's issues and pull requests, December 2026).
import { StateMachine } from 'aws-local-stepfunctions';

// ----- Node 20 polyfill ------------------------------------------------------------------------

// aws-local-stepfunctions 3.0.0 declares `engines: node >= 22` and calls `Promise.withResolvers` (ES2024, Node
// 22) in every Task state: src/stateMachine/stateActions/TaskStateAction.ts `execute`, main.node.esm.js:2417.
// On Node 20, the tools' Node (docs/adr/0013-one-node-version-story.md), every Task would fail with
// "Promise.withResolvers is not a function". Drop this when the tools require Node >= 22, or when the library
// stops calling it (test/local/library-patches.test.ts then fails).

interface WithResolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

export function installPromiseWithResolvers(): void {
  const ctor = Promise as unknown as { withResolvers?: <T>() => WithResolvers<T> };
  if (typeof ctor.withResolvers === 'function') return;
  ctor.withResolvers = <T>(): WithResolvers<T> => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

// ----- Map fix (aws-local-stepfunctions 3.0.0) ----------------------------------------------------

type RunFn = (this: object, input: unknown, options?: { _rootAbortSignal?: AbortSignal }) => LibraryExecution;
interface LibraryExecution {
  abort: () => void;
  result: Promise<unknown>;
  eventLogs: AsyncGenerator<unknown>;
}

const failedIterators = new WeakSet<object>();
export const MAP_FIX = Symbol.for('autoprov.local.mapIterationFix');

/**
 * The library runs Map iterations through a p-limit queue it never clears: when an iteration fails, the
 * Map fails (and aborts the iterations running), but every iteration still queued starts afterwards and
 * runs its Tasks. AWS starts no iteration once the Map has failed — with MaxConcurrency 1 "stop at the
 * first playbook that fails for good" would otherwise still send the next playbook's command. The library
 * builds one iterator StateMachine per Map visit and runs each iteration as a nested run (it passes
 * `_rootAbortSignal`): once one nested run of an iterator failed, later runs of it fail at once, without
 * entering a state (no events, no Tasks).
 *
 * Upstream (3.0.0): src/stateMachine/stateActions/MapStateAction.ts `execute`, main.node.esm.js:2215-2226 —
 * every item is queued on `pLimit(MaxConcurrency)` at once, and the `catch` after `Promise.all` only aborts
 * the executions already started (`executionAbortFuncs`); the queue is never cleared. AWS: in Inline mode a
 * failed iteration fails the Map state, and when the Map state fails all iterations stop (Step Functions
 * Developer Guide, "Using Map state in Inline mode in Step Functions workflows", ProcessorConfig,
 * https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html).
 * Tested unpatched in test/local/library-patches.test.ts.
 */
export function installMapIterationFix(): void {
  const proto = StateMachine.prototype as unknown as { run: RunFn; [MAP_FIX]?: true };
  if (proto[MAP_FIX]) return;
  const original = proto.run;
  proto.run = function run(this: object, input, options) {
    const nested = options?._rootAbortSignal !== undefined;
    if (nested && failedIterators.has(this)) {
      const result = Promise.reject(new Error('The Map state already failed: no further iteration starts.'));
      result.catch(() => {});
      return { abort: () => {}, result, eventLogs: (async function* () {})() };
    }
    const execution = original.call(this, input, options);
    // Registered before the Map's own handlers, so the mark is set before the queue starts the next item.
    if (nested) execution.result.catch(() => failedIterators.add(this));
    return execution;
  };
  proto[MAP_FIX] = true;
}
