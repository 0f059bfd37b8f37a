// The provisioning workflow, locally: the synthesized ASL in aws-local-stepfunctions (sfn-runner.ts), every
// Task on the bundled functions or the local endpoint. Static waits and Retry intervals follow the time
// scale; the callback tasks' timeouts are scaled only when a fault-injection run asks for it.
import type { SfnEmulator } from '../services/sfn.js';
import {
  type GenericTaskDeps,
  genericTaskImplementation,
  StateMachineRunner,
  type TaskImplementation,
  taskStates,
} from '../sfn-runner.js';
import type { LocalStackSpec } from '../template.js';
import type { LocalFunctions } from './functions.js';
import type { LocalStackOptions } from './options.js';

/** Registers the state machine with the Step Functions emulator, its Tasks on the functions and the endpoint. */
export function registerWorkflow(
  spec: LocalStackSpec,
  sfn: SfnEmulator,
  { functions, server }: LocalFunctions,
  options: Pick<LocalStackOptions, 'taskTimeoutScale' | 'dynamicWaitMs'> & { readonly timeScale: number },
): void {
  const { timeScale } = options;
  const generic: GenericTaskDeps = {
    invokeFunction: (ref: string, payload: unknown) => functions.invoke(ref, payload),
    awsEndpoint: server.endpoint,
    region: spec.region,
  };
  const runner = workflowRunner(spec, sfn, generic, {
    timeScale,
    taskTimeoutScale: options.taskTimeoutScale ?? 1,
    ...(options.dynamicWaitMs !== undefined ? { dynamicWaitMs: options.dynamicWaitMs } : {}),
  });
  sfn.registerStateMachine(spec.stateMachine.name, runner, spec.stateMachine.arn);
}

/**
 * The state machine's ASL in aws-local-stepfunctions with every Task on the bundled functions or the local
 * endpoint (the runner refuses any Task without one). Static waits and Retry intervals are scaled; callback
 * tasks get scaled timeouts only when asked (a lost status event is then noticed quickly).
 */
function workflowRunner(
  spec: LocalStackSpec,
  sfn: SfnEmulator,
  generic: GenericTaskDeps,
  timing: { timeScale: number; taskTimeoutScale: number; dynamicWaitMs?: number },
): StateMachineRunner {
  const taskHandlers: Record<string, TaskImplementation> = {};
  if (timing.taskTimeoutScale !== 1) {
    for (const task of taskStates(spec.stateMachine.definition)) {
      if (!task.resource.endsWith('.waitForTaskToken')) continue;
      const implementation = genericTaskImplementation(task, generic);
      if (!implementation) continue;
      taskHandlers[task.name] = (input, call) =>
        implementation(input, { ...call, timeoutMs: Math.max(50, call.timeoutMs * timing.taskTimeoutScale) });
    }
  }
  return new StateMachineRunner(spec.stateMachine.definition, {
    broker: sfn.broker,
    generic,
    taskHandlers,
    timeScale: timing.timeScale,
    ...(timing.dynamicWaitMs !== undefined ? { dynamicWaitMs: timing.dynamicWaitMs } : {}),
  });
}
