// The provisioning workflow, locally: the synthesized ASL in aws-local-stepfunctions (sfn-runner.ts), every
// Task on the bundled functions or the local endpoint. Static waits and Retry intervals follow the time
// scale; the callback tasks keep their TimeoutSeconds (tests time a stranded one out: waitForIdle).
import type { SfnEmulator } from '../services/sfn.js';
import { type GenericTaskDeps, StateMachineRunner } from '../sfn-runner.js';
import type { LocalStackSpec } from '../template.js';
import type { LocalFunctions } from './functions.js';
import type { LocalStackOptions } from './options.js';

/** Registers the state machine with the Step Functions emulator, its Tasks on the functions and the endpoint. */
export function registerWorkflow(
  spec: LocalStackSpec,
  sfn: SfnEmulator,
  { functions, server }: LocalFunctions,
  options: Pick<LocalStackOptions, 'dynamicWaitMs'> & { readonly timeScale: number },
): void {
  const { timeScale } = options;
  const generic: GenericTaskDeps = {
    invokeFunction: (ref: string, payload: unknown) => functions.invoke(ref, payload),
    awsEndpoint: server.endpoint,
    region: spec.region,
  };
  const runner = workflowRunner(spec, sfn, generic, {
    timeScale,
    ...(options.dynamicWaitMs !== undefined ? { dynamicWaitMs: options.dynamicWaitMs } : {}),
  });
  sfn.registerStateMachine(spec.stateMachine.name, runner, spec.stateMachine.arn);
}

/**
 * The state machine's ASL in aws-local-stepfunctions with every Task on the bundled functions or the local
 * endpoint (the runner refuses any Task without one). Static waits and Retry intervals are scaled; callback
 * tasks keep their TimeoutSeconds (a test that needs one to fire says when: waitForIdle's timeOutParkedTasks).
 */
function workflowRunner(
  spec: LocalStackSpec,
  sfn: SfnEmulator,
  generic: GenericTaskDeps,
  timing: { timeScale: number; dynamicWaitMs?: number },
): StateMachineRunner {
  return new StateMachineRunner(spec.stateMachine.definition, {
    broker: sfn.broker,
    generic,
    timeScale: timing.timeScale,
    ...(timing.dynamicWaitMs !== undefined ? { dynamicWaitMs: timing.dynamicWaitMs } : {}),
  });
}
