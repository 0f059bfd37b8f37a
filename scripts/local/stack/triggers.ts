// What invokes the functions besides the workflow, as the template declares it: the EventBridge rules
// (pattern → target, delivered through the local bus, invoked asynchronously with Lambda's retries) and the
// sweep schedule (its rate scaled by the time scale), plus the sweep on demand that tests and the demo use.
import type { EventBus } from '../event-bus.js';
import type { LocalStackSpec } from '../template.js';
import { describeError } from './async-invoker.js';
import type { LocalFunctions } from './functions.js';
import type { Cleanups } from './options.js';

/** Subscribes the rules' targets and starts the sweep schedule (unless off); returns the sweep on demand. */
export function wireTriggers(
  spec: LocalStackSpec,
  bus: EventBus,
  { functions, asyncRuns, asyncRetriesOf }: LocalFunctions,
  timing: { readonly timeScale: number; readonly sweepSchedule: boolean },
  cleanups: Cleanups,
): { sweepNow: () => Promise<unknown> } {
  const { timeScale } = timing;
  const invokeAsync = asyncRuns.invoke.bind(asyncRuns);
  for (const rule of spec.rules) {
    for (const target of rule.targets) {
      bus.addRule({
        name: `${rule.logicalId}→${target}`,
        eventPattern: rule.eventPattern,
        target: (event) => invokeAsync(`rule ${rule.logicalId}`, target, event, asyncRetriesOf(target)),
      });
    }
  }

  // ---- the sweep schedule ----------------------------------------------------------------------
  const sweeper = spec.schedules.find((s) => functions.has(s.target));
  let sweeping = 0;
  if (sweeper && timing.sweepSchedule) {
    const periodMs = Math.max(100, sweeper.rateSeconds * 1000 * timeScale);
    const timer = setInterval(() => {
      // EventBridge Scheduler would start another one; locally an overlapping sweep only adds noise.
      if (asyncRuns.stopped || sweeping > 0) return;
      sweeping++;
      void invokeAsync(
        `schedule ${sweeper.logicalId}`,
        sweeper.target,
        sweeper.input,
        sweeper.maximumRetryAttempts,
      ).finally(() => {
        sweeping--;
      });
    }, periodMs);
    cleanups.push(() => clearInterval(timer));
  }

  const sweepNow = async (): Promise<unknown> => {
    if (!sweeper) throw new Error('The template has no sweep schedule: nothing to invoke.');
    sweeping++;
    try {
      const outcome = await functions.invoke(sweeper.target, sweeper.input);
      if (outcome.functionError) throw new Error(`The sweep failed: ${describeError(outcome.payload)}`);
      return outcome.payload;
    } finally {
      sweeping--;
    }
  };
  return { sweepNow };
}
